"""Single-event throughput of the API path with tracing off, on, and sampled.

Runs the same app three times as a real uvicorn process and drives it with wrk:

- ``bare``: no telemetry middleware at all, the baseline;
- ``off``: request ids and metrics, no OTEL endpoint: the default;
- ``on``: every request traced (``always_on``), spans sent over OTLP/HTTP to a
  local sink that answers 200 and drops them;
- ``sampled``: the Helm chart's default, ``parentbased_traceidratio`` at 0.1.

The app is the ingest path without key checks: validate one event, wrap it,
publish it with confirms, with the request-id and metrics middleware and the
ASGI tracing wrapper. RabbitMQ must run on 127.0.0.1:5672; the bench uses a
topology of its own and deletes it afterwards.

    .venv/bin/python bench/tracing_overhead.py --seconds 10
"""

from __future__ import annotations

import argparse
import http.server
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from typing import Any

import orjson

_MODES: dict[str, dict[str, str]] = {
    # No request-id or metrics middleware either: what telemetry costs when off.
    "bare": {},
    "off": {},
    "on": {"OTEL_TRACES_SAMPLER": "always_on"},
    "sampled": {
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
    },
}


# --- the served app (child process) ----------------------------------------------


def _serve(port: int, *, bare: bool) -> None:
    import uvicorn

    from ga4clone.logs import configure_logging
    from ga4clone.settings import Settings
    from ga4clone.telemetry import instrument_asgi, setup_tracing

    settings = Settings()
    configure_logging("WARNING")
    setup_tracing(settings, "ga4clone-bench")
    app = instrument_asgi(_bench_app(settings, bare=bare))
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_config=None,
    )


def _bench_app(settings: Any, *, bare: bool) -> Any:
    import falcon
    import falcon.asgi
    from pydantic import TypeAdapter

    from ga4clone.api.publisher import Publisher
    from ga4clone.events import Event, EventMessage
    from ga4clone.telemetry import (
        MetricsResource,
        RequestContext,
        RequestMetrics,
        record_accepted,
    )

    publisher = Publisher(settings)
    single = TypeAdapter(Event)

    class Lifespan:
        async def process_startup(self, _scope: Any, _event: Any) -> None:
            await publisher.start()

        async def process_shutdown(self, _scope: Any, _event: Any) -> None:
            await publisher.close()

    class Ingest:
        async def on_post(self, req: Any, resp: Any) -> None:
            now_ms = int(time.time() * 1000)
            event = single.validate_json(
                await req.stream.read(), context={"now_ms": now_ms}
            )
            event.event_id = uuid.uuid4()
            message = EventMessage.model_construct(
                received_at_ms=now_ms, user_agent="", client_ip="", events=[event]
            )
            body = message.model_dump_json(by_alias=True, exclude_none=True).encode()
            await publisher.publish(body, str(event.event_id))
            if not bare:
                record_accepted(1)
            resp.status = falcon.HTTP_202

    class Health:
        async def on_get(self, _req: Any, resp: Any) -> None:
            resp.status = falcon.HTTP_200 if publisher.ready else falcon.HTTP_503

    telemetry = [] if bare else [RequestContext(), RequestMetrics()]
    app = falcon.asgi.App(middleware=[Lifespan(), *telemetry])
    app.add_route("/events", Ingest())
    app.add_route("/health", Health())
    app.add_route("/metrics", MetricsResource())
    return app


# --- the driver (parent process) -----------------------------------------------------


class _Sink(http.server.BaseHTTPRequestHandler):
    """Takes OTLP/HTTP exports and drops them."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wrk_script() -> str:
    body = orjson.dumps(
        {
            "projectId": str(uuid.uuid4()),
            "eventName": "page_view",
            "timestamp": int(time.time() * 1000),
            "clientId": "1.2",
            "sessionId": "3",
            "params": {"page_title": "Bench"},
        }
    ).decode()
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write('wrk.method = "POST"\n')
        script.write('wrk.headers["Content-Type"] = "application/json"\n')
        script.write(f"wrk.body = '{body}'\n")
    return script.name


def _wait_ready(port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"the bench API on port {port} did not get ready")


def _run_mode(mode: str, env: dict[str, str], args: argparse.Namespace) -> float:
    port = _free_port()
    child_env = {**env, **_MODES[mode]}
    command = [sys.executable, __file__, "--serve", str(port)]
    if mode in ("bare", "off"):
        child_env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    if mode == "bare":
        command.append("--bare")
    server = subprocess.Popen(command, env=child_env)
    try:
        _wait_ready(port)
        url = f"http://127.0.0.1:{port}/events"
        warm = ["wrk", "-t1", f"-c{args.connections}", "-d2s", "-s", args.script, url]
        subprocess.run(warm, check=True, capture_output=True)
        run = [*warm[:3], f"-d{args.seconds}s", *warm[4:]]
        output = subprocess.run(run, check=True, capture_output=True, text=True).stdout
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        print(f"  {mode}: {errors.group(1)} non-2xx answers", file=sys.stderr)
    return float(match.group(1)) if match else 0.0


def _delete_topology(env: dict[str, str]) -> None:
    import pika

    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1"))
    channel = connection.channel()
    for queue in (env["RABBITMQ_QUEUE"], env["RABBITMQ_DEAD_LETTER_QUEUE"]):
        channel.queue_delete(queue)
    for exchange in (env["RABBITMQ_EXCHANGE"], env["RABBITMQ_DEAD_LETTER_EXCHANGE"]):
        channel.exchange_delete(exchange)
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _serve(args.serve, bare=args.bare)
        return

    sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    suffix = uuid.uuid4().hex[:8]
    env = {
        **os.environ,
        "RABBITMQ_HOST": "127.0.0.1",
        "RABBITMQ_EXCHANGE": f"bench.{suffix}.events",
        "RABBITMQ_QUEUE": f"bench.{suffix}.events",
        "RABBITMQ_DEAD_LETTER_EXCHANGE": f"bench.{suffix}.dlx",
        "RABBITMQ_DEAD_LETTER_QUEUE": f"bench.{suffix}.dead",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink.server_port}",
        "OTEL_TRACES_EXPORTER": "",
    }
    args.script = _wrk_script()
    try:
        results = {mode: _run_mode(mode, env, args) for mode in _MODES}
    finally:
        _delete_topology(env)
        os.unlink(args.script)
        sink.shutdown()
    baseline = results["off"] or 1.0
    for mode, rate in results.items():
        change = (rate / baseline - 1) * 100
        print(f"tracing {mode:<8} {rate:9.0f} req/s  ({change:+.1f} % vs off)")


if __name__ == "__main__":
    main()
