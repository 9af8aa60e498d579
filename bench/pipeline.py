"""Pipeline benchmark: API throughput and latency, worker drain rate, peak RSS.

Runs the real ``ga4clone api`` (one uvicorn process) and ``ga4clone worker``
(one process) against this machine's RabbitMQ, ClickHouse and PostgreSQL, in
databases and queues of its own, and drives the API from the same machine:

1. single-event requests, closed loop (wrk, 64 connections), with no worker
   running; then a worker drains what they queued into both stores;
2. the same with 25-event batches of realistic events (~570 bytes each);
3. latency at a moderate fixed rate with the worker running (open loop,
   measured from each request's scheduled start, so a stall is not hidden by
   the requests it delays).

With ``--tracing`` it then runs the single-event load twice more, with
tracing off and with every request traced and exported over OTLP/HTTP to a
local sink, to show what tracing costs.

Usage: ``.venv/bin/python bench/pipeline.py [--seconds 15] [--rate 1000]
[--tracing]``.
Needs ``wrk`` on PATH: run as root on Debian, it installs the package with
apt-get when missing; otherwise it stops and names the command. Prints a
Markdown table; the figures in the README come from it. Everything it creates
is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pika
import psutil
import psycopg2
from clickhouse_driver import Client

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from ga4clone.migrate import clickhouse_client, migrate  # noqa: E402
from ga4clone.settings import Settings  # noqa: E402

DATABASE = "ga4clone_bench"
WRK_INSTALL = "sudo apt-get update && sudo apt-get install -y wrk"
PORT = 18181
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0"


def realistic_event(project: uuid.UUID, index: int, now_ms: int) -> dict[str, Any]:
    """An event of about 500 bytes, like a browser SDK's page_view."""
    return {
        "projectId": str(project),
        "eventName": "page_view" if index % 3 else "view_item",
        "timestamp": now_ms,
        "clientId": f"{1_000_000_000 + index}.1764547200",
        "sessionId": "1764547200",
        "path": f"/products/running-shoes-{index % 50}?utm_source=newsletter",
        "referrer": "https://www.google.com/",
        "sdkName": "ga4clone-js",
        "sdkVersion": "1.4.2",
        "params": {
            "page_location": "https://shop.example.com/products/running-shoes"
            f"-{index % 50}?utm_source=newsletter&utm_medium=email",
            "page_title": "Trail running shoes - Example Shop",
            "engagement_time_msec": 1200 + index,
            "value": 59.9,
            "currency": "EUR",
            "logged_in": True,
        },
    }


def settings() -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        rabbitmq_host="127.0.0.1",
        postgres_host="127.0.0.1",
        clickhouse_host="127.0.0.1",
        postgres_db=DATABASE,
        clickhouse_database=DATABASE,
        rabbitmq_exchange="bench.events",
        rabbitmq_queue="bench.events",
        rabbitmq_dead_letter_exchange="bench.dlx",
        rabbitmq_dead_letter_queue="bench.dead",
        server_port=PORT,
        # The limiter stays in the loop (leases from PostgreSQL) but never bites.
        rate_limit_events_per_second=10_000_000,
        rate_limit_burst=10_000_000,
        server_host="127.0.0.1",
        worker_metrics_port=0,
        migrations_dir=str(ROOT / "migrations"),
        log_level="WARNING",
    )


def environment(config: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(config.environment())
    return env


class PeakRss:
    """Samples a process's resident memory every 100 ms, keeping the peak."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self._process.memory_info().rss)
            except psutil.Error:
                return
            self._stop.wait(0.1)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return self.peak


def wrk(url: str, body: str, key: str, seconds: int, connections: int = 64) -> float:
    """Requests per second of a closed-loop wrk run posting ``body``."""
    script = (
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["X-Api-Key"] = "{key}"\n'
        f'wrk.headers["User-Agent"] = "{BROWSER}"\n'
        f"wrk.body = {json.dumps(body)}\n"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        output = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", handle.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        os.unlink(handle.name)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        raise SystemExit(f"wrk saw {non_2xx.group(1)} failed requests:\n{output}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]


async def fixed_rate_latencies(
    port: int,
    body: bytes,
    key: str,
    rate: float,
    seconds: float,
    connections: int = 32,
) -> list[float]:
    """Latencies (s) of requests sent at ``rate`` per second, open loop."""
    request = (
        f"POST /events HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Api-Key: {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    interval = connections / rate
    start = time.perf_counter() + 0.1
    latencies: list[float] = []

    async def connection(offset: float) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        scheduled = start + offset
        while scheduled < start + seconds:
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"content-length: (\d+)", head.lower()).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 202"):
                raise SystemExit(f"unexpected answer: {head!r}")
            latencies.append(time.perf_counter() - scheduled)
            scheduled += interval
        writer.close()

    await asyncio.gather(*(connection(i / rate) for i in range(connections)))
    return latencies


def ensure_wrk() -> None:
    """Install wrk with apt-get if it is missing and we may; else stop."""
    if shutil.which("wrk") is not None:
        return
    if os.geteuid() == 0 and shutil.which("apt-get") is not None:
        print("wrk is missing: installing the Debian package", file=sys.stderr)
        # The package lists may be stale or absent (a fresh image): update
        # them only when the first try fails.
        if _apt_get("install", "-y", "wrk") != 0:
            _apt_get("update")
            _apt_get("install", "-y", "wrk")
    if shutil.which("wrk") is None:
        raise SystemExit(f"bench/pipeline.py needs wrk; install it: {WRK_INSTALL}")


def _apt_get(*args: str) -> int:
    # apt's progress goes to stderr: stdout is kept for the results table.
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "-q", *args]
    return subprocess.run(command, env=env, stdout=sys.stderr, check=False).returncode


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def create_project(config: Settings) -> tuple[uuid.UUID, str]:
    """Create the bench project; return its id and write key."""
    from ga4clone.projects import ProjectStore

    store = ProjectStore(config.postgres_dsn, max_connections=1)
    try:
        created = store.create("bench")
        return created.id, str(created.write_key)
    finally:
        store.close()


def queue_depth(config: Settings) -> int:
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1"))
    try:
        frame = connection.channel().queue_declare(config.rabbitmq_queue, passive=True)
        return int(frame.method.message_count)
    finally:
        connection.close()


def stored_events(config: Settings) -> int:
    conn = psycopg2.connect(config.postgres_dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT coalesce(sum(metric_value), 0) FROM daily_metrics "
                "WHERE metric_name = 'events'"
            )
            return int(cur.fetchone()[0])  # type: ignore[index]
    finally:
        conn.close()


def reset(config: Settings) -> None:
    """Drop the bench databases and queues, then migrate afresh."""
    conn = psycopg2.connect(config.postgres_dsn_for("postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    conn.close()
    client: Client = clickhouse_client(config, database="default")
    client.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
    client.disconnect()
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1"))
    channel = connection.channel()
    for queue in (config.rabbitmq_queue, config.rabbitmq_dead_letter_queue):
        channel.queue_delete(queue)
    connection.close()


def start(command: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "ga4clone", command], env=env, cwd=ROOT
    )


def wait_ready(port: int) -> None:
    import urllib.request

    for _ in range(100):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the API did not become ready")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)


class _OtlpSink(http.server.BaseHTTPRequestHandler):
    """Takes OTLP/HTTP span exports and drops them."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


def tracing_comparison(
    env: dict[str, str], single: str, key: str, seconds: int
) -> dict[str, float]:
    """Single-event requests/s of the real API with tracing off and on.

    "on" traces every request (``always_on``) and exports the spans over
    OTLP/HTTP to a local sink; a worker runs in both, so the queue does not
    grow between the runs.
    """
    sink = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _OtlpSink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{sink.server_address[1]}"
    modes = {
        "off": env,
        "on": {
            **env,
            "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_TRACES_SAMPLER": "always_on",
        },
    }
    results = {}
    try:
        for mode, mode_env in modes.items():
            api, worker = start("api", mode_env), start("worker", mode_env)
            try:
                wait_ready(PORT)
                url = f"http://127.0.0.1:{PORT}/events"
                results[mode] = wrk(url, single, key, seconds)
            finally:
                stop(api)
                stop(worker)
    finally:
        sink.shutdown()
    return results


def drain(config: Settings, env: dict[str, str]) -> tuple[int, float, int]:
    """Start a worker on the preloaded queue; (events, seconds, peak RSS).

    The clock starts when the queue first shrinks, so the worker's start-up
    (imports, connections) is not counted, and stops when the stored count
    has not moved for a second after the queue ran empty.
    """
    before = stored_events(config)
    initial = queue_depth(config)
    worker = start("worker", env)
    rss = PeakRss(worker.pid)
    try:
        while queue_depth(config) >= initial:
            time.sleep(0.02)
        started = time.perf_counter()
        while queue_depth(config) > 0:
            time.sleep(0.1)
        total, last_change = stored_events(config), time.perf_counter()
        while time.perf_counter() - last_change < 1.0:
            time.sleep(0.05)
            now_total = stored_events(config)
            if now_total != total:
                total, last_change = now_total, time.perf_counter()
    finally:
        stop(worker)
    return total - before, last_change - started, rss.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15, help="length of each run")
    parser.add_argument("--rate", type=float, default=1000, help="fixed-rate req/s")
    parser.add_argument(
        "--tracing", action="store_true", help="also compare tracing off and on"
    )
    args = parser.parse_args()
    ensure_wrk()

    config = settings()
    reset(config)
    migrate(config)
    project, key = create_project(config)
    env = environment(config)
    now_ms = int(time.time() * 1000)
    single = json.dumps(realistic_event(project, 0, now_ms))
    batch = json.dumps([realistic_event(project, i, now_ms) for i in range(25)])
    results: dict[str, Any] = {"event_bytes": len(single), "batch_bytes": len(batch)}
    base = f"http://127.0.0.1:{PORT}"

    api = start("api", env)
    try:
        wait_ready(PORT)
        api_rss = PeakRss(api.pid)
        results["single_rps"] = wrk(f"{base}/events", single, key, args.seconds)
        results["drain_single"] = drain(config, env)
        results["batch_events_per_s"] = 25 * wrk(
            f"{base}/events/batch", batch, key, args.seconds
        )
        results["drain_batch"] = drain(config, env)
        worker = start("worker", env)
        try:
            latencies = asyncio.run(
                fixed_rate_latencies(
                    PORT, single.encode(), key, args.rate, args.seconds
                )
            )
        finally:
            stop(worker)
        results["latency_rate"] = args.rate
        results["latency_p50_ms"] = 1000 * percentile(latencies, 0.50)
        results["latency_p99_ms"] = 1000 * percentile(latencies, 0.99)
        results["api_peak_rss_mb"] = api_rss.stop() / 2**20
    finally:
        stop(api)
    if args.tracing:
        results["tracing"] = tracing_comparison(env, single, key, args.seconds)
    reset(config)
    report(results, args)


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    python = platform.python_version()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {python}"
    print(f"\nga4clone pipeline benchmark ({machine}; {args.seconds} s per run)\n")
    print("| measurement | result |\n| --- | --- |")
    single_rps, batch_eps = results["single_rps"], results["batch_events_per_s"]
    print(f"| API, single-event requests/s (64 connections) | {single_rps:,.0f} |")
    print(f"| API, events/s in 25-event batches (64 connections) | {batch_eps:,.0f} |")
    print(
        f"| API latency at {results['latency_rate']:,.0f} req/s, p50 / p99 | "
        f"{results['latency_p50_ms']:.1f} ms / {results['latency_p99_ms']:.1f} ms |"
    )
    for name, label in (("drain_batch", "25-event"), ("drain_single", "1-event")):
        events, seconds, _rss = results[name]
        print(
            f"| worker drain of {label} messages, events/s into both stores | "
            f"{events / seconds:,.0f} ({events:,} events) |"
        )
    worker_rss = max(results["drain_batch"][2], results["drain_single"][2])
    print(f"| API peak RSS | {results['api_peak_rss_mb']:.0f} MB |")
    print(f"| worker peak RSS | {worker_rss / 2**20:.0f} MB |")
    if "tracing" in results:
        off, on = results["tracing"]["off"], results["tracing"]["on"]
        print(f"| API single-event requests/s, tracing off | {off:,.0f} |")
        print(f"| API single-event requests/s, tracing on (always_on) | {on:,.0f} |")
    print(
        f"\nevent ~{results['event_bytes']} bytes, batch {results['batch_bytes']} bytes"
    )


if __name__ == "__main__":
    main()
