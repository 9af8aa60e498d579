"""End to end: the real ``ga4clone api`` and ``ga4clone worker`` processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from clickhouse_driver import Client

from ga4clone.settings import Settings
from tests.conftest import ROOT, daily_metric, make_event, stored_count, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.e2e]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(settings: Settings, port: int) -> dict[str, str]:
    """The process environment that makes ``ga4clone`` use ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if isinstance(value, list):
            value = ",".join(str(item) for item in value)
        env[name.upper()] = str(value)
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


def test_posted_events_land_in_both_stores_and_processes_stop_cleanly(
    pipeline: tuple[str, Process, Process], clickhouse: Client, postgres: Any
) -> None:
    base, api, worker = pipeline
    project = uuid.uuid4()

    single = httpx.post(f"{base}/events", json=make_event(project))
    batch = httpx.post(
        f"{base}/events/batch",
        json=[make_event(project, eventName="add_to_cart") for _ in range(25)],
    )
    beacon = httpx.post(
        f"{base}/collect",
        content=httpx.Request("POST", "/", json=make_event(project)).content,
        headers={"Content-Type": "text/plain;charset=UTF-8"},
    )

    assert [single.status_code, batch.status_code, beacon.status_code] == [202] * 3
    wait_for(lambda: daily_metric(postgres, project, "events") == 27)
    assert stored_count(clickhouse, project) == 27
    assert daily_metric(postgres, project, "page_views") == 2
    assert daily_metric(postgres, project, "event:add_to_cart") == 25
    assert api.terminate() == 0, api.output()
    assert worker.terminate() == 0, worker.output()


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
