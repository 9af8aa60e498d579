"""Helpers of the fault tests: the real processes, a steady client, outages.

Every scenario runs ``ga4clone api`` and ``ga4clone worker`` as processes,
drives a steady stream of batches at them from a thread that retries like an
SDK (same eventIds after a 503 or a broken connection), breaks something
mid-stream, and then checks that every acknowledged event is stored exactly
once and counted exactly once: daily_metrics' ``events``, ``page_views`` and
``event:<name>`` must equal what the stream's own record of its 2xx answers
says, name by name. Services a test stops are restarted by fixture
finalizers, even when the test fails.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pika
import psycopg2
import pytest
from clickhouse_driver import Client

from ga4clone.migrate import clickhouse_client
from ga4clone.settings import Settings
from tests.conftest import (
    ROOT,
    create_project,
    daily_metric,
    fresh_databases,
    make_event,
    wait_for,
)
from tests.test_e2e import environment, free_port

BATCH_EVENTS = 10
# The names the stream sends, in turn; page_view also counts as a page view.
EVENT_NAMES = ("page_view", "scroll", "add_to_cart", "purchase")
# Longer than a few flush intervals (1 s): time for a late double count.
SETTLE_S = 3.0
BROWSER = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36"
)
FAULT_DATABASE = "ga4clone_fault_test"


@pytest.fixture(scope="session")
def migrated(services: None) -> Settings:
    """Databases of the fault tests' own, so other sessions' resets miss them."""
    return fresh_databases(FAULT_DATABASE)


class Proc:
    """A ``ga4clone`` subcommand whose output goes to a file, not a pipe.

    A pipe nobody reads fills up during a long outage and stalls the child.
    """

    def __init__(self, command: str, env: dict[str, str]) -> None:
        self.command = command
        self._env = env
        # Open for the life of the child process, closed with this object.
        self._log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115
        self.popen = self._start()

    def _start(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "ga4clone", self.command],
            env=self._env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def restart(self) -> None:
        self.popen = self._start()

    def wait(self, timeout_s: float = 40) -> int:
        return self.popen.wait(timeout=timeout_s)

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read()[-4000:]

    def kill(self) -> None:
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()


@dataclass
class Pipeline:
    """The running processes and what a test needs to talk to them."""

    base: str
    api: Proc
    worker: Proc
    project: Any

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.base}/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False


@pytest.fixture
def pipeline(settings: Settings) -> Iterator[Pipeline]:
    port = free_port()
    env = environment(settings, port)
    env["WORKER_RETRY_MAX_MS"] = "2000"
    env["LOG_LEVEL"] = "WARNING"
    running = Pipeline(
        f"http://127.0.0.1:{port}",
        Proc("api", env),
        Proc("worker", env),
        create_project(settings),
    )
    try:
        wait_for(running.ready, timeout_s=20)
        yield running
    finally:
        running.api.kill()
        running.worker.kill()
        # Shown by pytest when the test failed.
        print("--- api ---", running.api.output(), sep="\n")
        print("--- worker ---", running.worker.output(), sep="\n")


@dataclass
class Stream:
    """A client thread posting batches steadily and retrying like an SDK."""

    pipeline: Pipeline
    interval_s: float = 0.05
    acked: set[str] = field(default_factory=set)
    unsure: set[str] = field(default_factory=set)
    # The eventName of every event sent, acked or not, by eventId.
    names: dict[str, str] = field(default_factory=dict)
    statuses: list[int] = field(default_factory=list)
    # Statuses a retrying SDK would not expect; asserted on by the test's own
    # thread (an assert in this one would only end the stream).
    unexpected: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Stream:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def stop(self, finish_s: float = 30) -> None:
        """Stop sending new batches; retry the one in flight for ``finish_s``."""
        self._finish_by = time.monotonic() + finish_s
        self._stop.set()
        if self._thread is not None:
            self._thread.join(finish_s + 10)

    def _run(self) -> None:
        headers = {
            "X-Api-Key": self.pipeline.project.write_key,
            # A browser's: the worker leaves bots out of daily_metrics.
            "User-Agent": BROWSER,
        }
        with httpx.Client(
            base_url=self.pipeline.base, headers=headers, timeout=10
        ) as http:
            while not self._stop.is_set():
                self._send(http, self._batch())
                time.sleep(self.interval_s)

    def _batch(self) -> list[dict[str, Any]]:
        project = self.pipeline.project.id
        batch = [
            make_event(
                project,
                eventId=str(uuid.uuid4()),
                eventName=EVENT_NAMES[(len(self.names) + i) % len(EVENT_NAMES)],
            )
            for i in range(BATCH_EVENTS)
        ]
        for event in batch:
            self.track(event)
        return batch

    def track(self, event: dict[str, Any]) -> None:
        """Remember an event sent beside the stream, which is not acked yet."""
        self.names[event["eventId"]] = event["eventName"]
        self.unsure.add(event["eventId"])

    def _send(self, http: httpx.Client, batch: list[dict[str, Any]]) -> None:
        ids = {event["eventId"] for event in batch}
        while True:
            status = self._post(http, batch)
            self.statuses.append(status)
            if status == 202:
                self.acked |= ids
                self.unsure -= ids
                return
            if status not in (0, 429, 503):
                self.unexpected.append(status)
            if self._stop.is_set() and time.monotonic() > self._finish_by:
                return
            time.sleep(0.2)

    @staticmethod
    def _post(http: httpx.Client, batch: list[dict[str, Any]]) -> int:
        try:
            return http.post("/events/batch", json=batch).status_code
        except httpx.HTTPError:
            return 0


def stored_ids(clickhouse: Client, project: Any) -> list[str]:
    rows = clickhouse.execute(
        "SELECT toString(event_id) FROM events FINAL WHERE project_id = %(p)s",
        {"p": str(project)},
    )
    return [row[0] for row in rows]


def expected_metrics(stream: Stream, stored: set[str]) -> dict[str, int]:
    """daily_metrics' exact values for the events the stream got a 2xx for.

    Plus those of its unsure events (503, a broken connection) that RabbitMQ
    took after all: a confirm that came too late. They are in ClickHouse,
    and ``assert_exactly_once`` checks that nothing else is.
    """
    landed = stream.acked | (stream.unsure & stored)
    names = Counter(stream.names[event_id] for event_id in landed)
    return {
        "events": len(landed),
        "page_views": names["page_view"],
        **{f"event:{name}": names[name] for name in EVENT_NAMES},
    }


def counted_metrics(postgres: Any, project: Any, metrics: list[str]) -> dict[str, int]:
    """The project's daily_metrics values of ``metrics``, summed over days."""
    return {metric: daily_metric(postgres, project, metric) for metric in metrics}


def assert_exactly_once(
    stream: Stream, settings: Settings, timeout_s: float = 60
) -> None:
    """Every acked event is stored once and counted once; nothing else is.

    The counts must agree once the queue is drained, and still agree after
    the worker has had time for more flushes, so that a late double count
    fails too. Fresh connections: a test may have restarted the databases.
    """
    project = stream.pipeline.project.id
    assert stream.acked, "no event was acknowledged"
    assert not stream.unexpected, f"unexpected statuses: {stream.unexpected}"
    clickhouse = clickhouse_client(settings)
    postgres = psycopg2.connect(settings.postgres_dsn)
    postgres.autocommit = True

    def differences() -> dict[str, tuple[int, int]]:
        """Metric: (counted, expected) where they differ; {} once they agree."""
        expected = expected_metrics(stream, set(stored_ids(clickhouse, project)))
        counted = counted_metrics(postgres, project, list(expected))
        return {
            metric: (counted[metric], value)
            for metric, value in expected.items()
            if counted[metric] != value
        }

    def agreed() -> bool:
        stored = set(stored_ids(clickhouse, project))
        return stream.acked <= stored and not differences()

    try:
        wait_for(agreed, timeout_s=timeout_s, interval_s=0.5)
        wait_for(lambda: _ready_messages(settings) == 0, timeout_s=timeout_s)
        time.sleep(SETTLE_S)
        assert differences() == {}, "counts differ after the worker settled"
        stored = stored_ids(clickhouse, project)
        assert stream.acked <= set(stored), "an acked event is not stored"
        # FINAL collapses redelivered copies; an id seen twice here would have
        # been stored under two sorting keys, which deduplication cannot see.
        assert len(stored) == len(set(stored)), "an event is stored twice"
        assert set(stored) - stream.acked <= stream.unsure
    finally:
        clickhouse.disconnect()
        postgres.close()


def _ready_messages(settings: Settings) -> int:
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1"))
    try:
        frame = connection.channel().queue_declare(
            settings.rabbitmq_queue, passive=True
        )
        return int(frame.method.message_count)
    finally:
        connection.close()


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@dataclass
class Service:
    """A system service a test may stop; always running again afterwards."""

    port: int
    start_command: list[str]
    stop_command: list[str]
    stopped: bool = False

    def stop(self) -> None:
        self.stopped = True
        subprocess.run(self.stop_command, check=False, capture_output=True)
        wait_for(lambda: not port_open(self.port), timeout_s=60)

    def start(self) -> None:
        subprocess.run(self.start_command, check=False, capture_output=True)
        wait_for(lambda: port_open(self.port), timeout_s=90, interval_s=0.5)
        self.stopped = False


def _service(factory: Callable[[], Service]) -> Iterator[Service]:
    service = factory()
    try:
        yield service
    finally:
        if service.stopped or not port_open(service.port):
            service.start()


@pytest.fixture
def rabbitmq() -> Iterator[Service]:
    yield from _service(
        lambda: Service(5672, ["rabbitmqctl", "start_app"], ["rabbitmqctl", "stop_app"])
    )


CLICKHOUSE_DAEMON = [
    "start-stop-daemon",
    "--start",
    "--quiet",
    "--oknodo",
    "--background",
    "--chuid",
    "clickhouse:clickhouse",
    "--exec",
    "/usr/sbin/clickhouse-server",
    "--",
    "--config=/etc/clickhouse-server/config.xml",
]


@pytest.fixture
def clickhouse_service() -> Iterator[Service]:
    yield from _service(
        lambda: Service(
            9000,
            CLICKHOUSE_DAEMON,
            ["start-stop-daemon", "--stop", "--exec", "/usr/sbin/clickhouse-server"],
        )
    )


@pytest.fixture
def postgres_service() -> Iterator[Service]:
    ctl = ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main"]
    yield from _service(lambda: Service(5432, [*ctl, "start"], [*ctl, "stop"]))
