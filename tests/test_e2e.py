"""End to end: the real ``ga4clone api`` and ``ga4clone worker`` processes."""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import signal
import socket
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from clickhouse_driver import Client

from ga4clone import cli, migrate
from ga4clone.settings import Settings
from tests.conftest import (
    ROOT,
    create_project,
    daily_metric,
    make_event,
    stored_count,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(settings: Settings, port: int) -> dict[str, str]:
    """The process environment that makes ``ga4clone`` use ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(settings.environment())
    env["SERVER_PORT"] = str(port)
    env["SERVER_HOST"] = "127.0.0.1"
    env["WORKER_FLUSH_INTERVAL_MS"] = "200"
    return env


class Process:
    """One ``ga4clone`` subcommand running as a child process."""

    def __init__(self, command: str, env: dict[str, str]) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "ga4clone", command],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def terminate(self) -> int:
        """Send SIGTERM and return the exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            raise

    def output(self) -> str:
        return self.popen.stdout.read() if self.popen.stdout else ""


@pytest.fixture
def pipeline(settings: Settings) -> Iterator[tuple[str, Process, Process]]:
    port = free_port()
    env = environment(settings, port)
    api, worker = Process("api", env), Process("worker", env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ready(base), timeout_s=20)
        yield base, api, worker
    finally:
        for process in (api, worker):
            if process.popen.poll() is None:
                process.popen.kill()


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


BROWSER = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
)


def test_posted_events_land_in_both_stores_and_processes_stop_cleanly(
    pipeline: tuple[str, Process, Process],
    settings: Settings,
    clickhouse: Client,
    postgres: Any,
) -> None:
    base, api, worker = pipeline
    created = create_project(settings)
    project = created.id
    headers = {"X-Api-Key": created.write_key, "User-Agent": BROWSER}

    single = httpx.post(f"{base}/events", json=make_event(project), headers=headers)
    batch = httpx.post(
        f"{base}/events/batch",
        json=[make_event(project, eventName="add_to_cart") for _ in range(25)],
        headers=headers,
    )
    beacon = httpx.post(
        f"{base}/collect",
        params={"api_key": created.write_key},
        content=orjson.dumps(make_event(project)),
        headers={"Content-Type": "text/plain;charset=UTF-8", "User-Agent": BROWSER},
    )

    assert [single.status_code, batch.status_code, beacon.status_code] == [202] * 3
    wait_for(lambda: daily_metric(postgres, project, "events") == 27)
    assert stored_count(clickhouse, project) == 27
    assert daily_metric(postgres, project, "page_views") == 2
    assert daily_metric(postgres, project, "event:add_to_cart") == 25
    assert api.terminate() == 0, api.output()
    assert worker.terminate() == 0, worker.output()


def test_measurement_protocol_events_are_reported_by_the_reports_api(
    pipeline: tuple[str, Process, Process], settings: Settings, postgres: Any
) -> None:
    base, _api, _worker = pipeline
    created = create_project(settings)
    stream = _add_stream(settings, created.id)
    body = {
        "client_id": "555.666",
        "events": [
            {"name": "purchase", "params": {"value": 9.5, "session_id": "17"}},
            {"name": "level_up", "params": {"level": 3, "session_id": "17"}},
        ],
    }

    collected = httpx.post(
        f"{base}/mp/collect",
        params={
            "measurement_id": stream.measurement_id,
            "api_secret": stream.api_secret,
        },
        json=body,
    )
    assert collected.status_code == 204
    wait_for(lambda: daily_metric(postgres, created.id, "events") == 2)
    report = httpx.post(
        f"{base}/v1beta/properties/{created.id}:runReport",
        headers={"Authorization": f"Bearer {created.secret_key}"},
        json={
            "dateRanges": [{"startDate": "yesterday", "endDate": "today"}],
            "dimensions": [{"name": "eventName"}],
            "metrics": [{"name": "eventCount"}],
            "orderBys": [{"dimension": {"dimensionName": "eventName"}}],
        },
    )

    assert report.status_code == 200, report.text
    rows = [
        (row["dimensionValues"][0]["value"], row["metricValues"][0]["value"])
        for row in report.json()["rows"]
    ]
    assert rows == [("level_up", "1"), ("purchase", "1")]


def test_metrics_count_accepted_and_rejected_events(
    pipeline: tuple[str, Process, Process], settings: Settings
) -> None:
    base, _api, _worker = pipeline
    created = create_project(settings)
    headers = {"X-Api-Key": created.write_key}

    httpx.post(
        f"{base}/events/batch", json=[make_event(created.id)] * 3, headers=headers
    )
    httpx.post(f"{base}/events", json={"eventName": "x"}, headers=headers)
    httpx.post(f"{base}/events", json=make_event(created.id))

    text = httpx.get(f"{base}/metrics").text
    assert "ga4clone_events_accepted_total 3.0" in text
    assert 'ga4clone_events_rejected_total{reason="invalid"} 1.0' in text
    assert 'ga4clone_events_rejected_total{reason="unauthorized"} 1.0' in text


def test_worker_process_answers_its_liveness_probe_beside_its_metrics(
    settings: Settings,
) -> None:
    metrics_port = free_port()
    env = {
        **environment(settings, free_port()),
        "WORKER_METRICS_PORT": str(metrics_port),
    }
    worker = Process("worker", env)
    base = f"http://127.0.0.1:{metrics_port}"
    try:
        health = wait_for(lambda: _get(f"{base}/health"), timeout_s=20)
        metrics = httpx.get(f"{base}/metrics", timeout=2)
    finally:
        code = worker.terminate()

    assert (health.status_code, health.text) == (200, "ok\n")
    assert "ga4clone_queue_depth" in metrics.text
    assert code == 0, worker.output()


def _get(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=1)
    except httpx.HTTPError:
        return None


def _add_stream(settings: Settings, project_id: Any) -> Any:
    from ga4clone.projects import ProjectStore

    store = ProjectStore(settings.postgres_dsn, max_connections=1)
    try:
        return store.create_stream(project_id, f"G-{uuid.uuid4().hex[:10].upper()}")
    finally:
        store.close()


def test_help_lists_the_settings_with_defaults() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ga4clone", "worker", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )

    assert "WORKER_BATCH_SIZE" in result.stdout
    assert "CLICKHOUSE_PASSWORD" in result.stdout
    assert "[default: 5000]" in result.stdout


def _modules_the_api_imports() -> list[str]:
    """The ga4clone modules a fresh ``ga4clone api`` process imports."""
    probe = (
        "import sys, ga4clone.cli, ga4clone.api.app, ga4clone.telemetry\n"
        "print(*sorted(m for m in sys.modules if m.startswith('ga4clone')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    return result.stdout.split()


# Settings' fields, and its own properties and methods (which read fields).
_FIELDS = set(Settings.model_fields)
_DERIVED = {
    name: getattr(member, "fget", member)
    for name, member in vars(Settings).items()
    if isinstance(member, property) or inspect.isfunction(member)
}


def _read(source: str) -> set[str]:
    """The fields and derived members of Settings read as ``x.name`` in ``source``."""
    tree = ast.parse(textwrap.dedent(source))
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and node.attr in _FIELDS | set(_DERIVED)
    }


def _fields_behind(names: set[str]) -> set[str]:
    """``names`` with every derived member replaced by the fields it reads."""
    fields, todo, seen = names & _FIELDS, list(names - _FIELDS), set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            read = _read(inspect.getsource(_DERIVED[name]))
            fields |= read & _FIELDS
            todo += read - _FIELDS
    return fields


def _settings_the_api_reads() -> set[str]:
    """Every setting the API's code reads, found in its source.

    All the modules it imports, except two of which it runs one part: the
    migration runner (only clickhouse_client) and the command line (only main
    and the api command); and settings.py itself, whose members count when
    they are used.
    """
    partly = {"ga4clone.migrate", "ga4clone.cli", "ga4clone.settings"}
    sources = [
        inspect.getsource(importlib.import_module(name))
        for name in _modules_the_api_imports()
        if name not in partly
    ]
    sources += [
        inspect.getsource(function)
        for function in (migrate.clickhouse_client, cli.main, cli._run_api)
    ]
    return _fields_behind(set().union(*map(_read, sources)))


def test_api_help_says_what_each_setting_it_reads_does() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ga4clone", "api", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = result.stdout.splitlines()
    read = _settings_the_api_reads()

    assert {"server_port", "rabbitmq_password", "postgres_password"} <= read
    for name in sorted(read):
        description = Settings.model_fields[name].description
        listed = [line for line in lines if line.startswith(f"  {name.upper()} ")]
        assert listed, f"{name.upper()} is missing from api --help"
        assert description and description in listed[0], name
