"""The built image: who it runs as, what it says about itself, and a smoke run.

The image is built by ``.ci/build-image.sh``; these tests never build it. A
missing Docker engine or image fails the run in CI (``CI=true``) and skips it
elsewhere. The smoke run starts the API and the worker from the image on the
host network, against this machine's RabbitMQ, ClickHouse and PostgreSQL.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NoReturn

import httpx
import pika
import psycopg2
import pytest
from clickhouse_driver import Client as ClickHouseClient

pytestmark = pytest.mark.image

MAX_IMAGE_BYTES = 400 * 1000 * 1000
OCI_LABELS = (
    "org.opencontainers.image.title",
    "org.opencontainers.image.description",
    "org.opencontainers.image.source",
    "org.opencontainers.image.licenses",
    "org.opencontainers.image.version",
    "org.opencontainers.image.revision",
)
IMAGE_NAME = os.environ.get("GA4CLONE_IMAGE", "ga4clone:ci")
DOCKER_TIMEOUT_S = 120


@dataclass(frozen=True)
class Image:
    """A built image and what ``docker image inspect`` says about it."""

    name: str
    inspect: dict[str, Any]

    @property
    def size_bytes(self) -> int:
        return int(self.inspect["Size"])

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.inspect["Config"])


def _docker(
    *args: str, timeout_s: float = DOCKER_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """Run the docker client and return what it did, without raising."""
    return subprocess.run(
        ["docker", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: run .ci/build-image.sh first)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def image() -> Image:
    """The image under test; skips or fails when Docker or the image is missing."""
    if shutil.which("docker") is None:
        _unavailable("no docker client on PATH")
    if _docker("info", timeout_s=20).returncode != 0:
        _unavailable("no Docker engine answers (start dockerd or .ci/build-image.sh)")

    found = _docker("image", "inspect", IMAGE_NAME)
    if found.returncode != 0:
        _unavailable(f"image {IMAGE_NAME} is not built (run .ci/build-image.sh)")
    return Image(name=IMAGE_NAME, inspect=json.loads(found.stdout)[0])


@dataclass(frozen=True)
class _Names:
    """Per-run names, so that a smoke run never meets another test's objects."""

    suffix: str
    clickhouse_database: str = "ga4clone_image_test"
    postgres_db: str = "ga4clone_image_test"

    @property
    def exchange(self) -> str:
        return f"ga4clone.image-test.{self.suffix}"

    @property
    def queue(self) -> str:
        return f"ga4clone.image-test.{self.suffix}"

    @property
    def dead_letter_exchange(self) -> str:
        return f"ga4clone.image-test.{self.suffix}.dlx"

    @property
    def dead_letter_queue(self) -> str:
        return f"ga4clone.image-test.{self.suffix}.dead"

    def container(self, role: str) -> str:
        return f"ga4clone-image-test-{self.suffix}-{role}"


@dataclass(frozen=True)
class Stack:
    """The API and worker containers of one smoke run, on the host network."""

    names: _Names
    api_url: str
    containers: tuple[str, ...]
    project_id: str = ""
    write_key: str = ""

    def logs(self) -> str:
        """The logs of every container, for a failure report."""
        parts = []
        for name in self.containers:
            result = _docker("logs", "--tail", "200", name, timeout_s=30)
            parts.append(f"--- {name} ---\n{result.stdout}{result.stderr}")
        return "\n".join(parts)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _require_host_services() -> None:
    for service, port in (
        ("RabbitMQ", 5672),
        ("PostgreSQL", 5432),
        ("ClickHouse", 9000),
    ):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except OSError:
            _unavailable(f"{service} does not answer on 127.0.0.1:{port}")


def _environment(names: _Names, server_port: int, metrics_port: int) -> list[str]:
    settings = {
        "RABBITMQ_HOST": "127.0.0.1",
        "RABBITMQ_EXCHANGE": names.exchange,
        "RABBITMQ_QUEUE": names.queue,
        "RABBITMQ_DEAD_LETTER_EXCHANGE": names.dead_letter_exchange,
        "RABBITMQ_DEAD_LETTER_QUEUE": names.dead_letter_queue,
        "CLICKHOUSE_HOST": "127.0.0.1",
        "CLICKHOUSE_DATABASE": names.clickhouse_database,
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_DB": names.postgres_db,
        "SERVER_HOST": "127.0.0.1",
        "SERVER_PORT": str(server_port),
        "WORKER_METRICS_PORT": str(metrics_port),
        "WORKER_FLUSH_INTERVAL_MS": "200",
        "LOG_LEVEL": "INFO",
    }
    flags = []
    for key, value in settings.items():
        flags += ["--env", f"{key}={value}"]
    return flags


def _run_flags(name: str) -> list[str]:
    # The chart runs the pods with a read-only root filesystem; so do we.
    return ["--name", name, "--network", "host", "--read-only", "--tmpfs", "/tmp"]


def _drop_databases(names: _Names) -> None:
    clickhouse = ClickHouseClient(host="127.0.0.1", port=9000)
    clickhouse.execute(f"DROP DATABASE IF EXISTS {names.clickhouse_database}")
    clickhouse.disconnect()

    connection = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {names.postgres_db}")
    connection.close()


def _delete_topology(names: _Names) -> None:
    parameters = pika.ConnectionParameters(host="127.0.0.1", connection_attempts=2)
    connection = pika.BlockingConnection(parameters)
    channel = connection.channel()
    for queue in (names.queue, names.dead_letter_queue):
        channel.queue_delete(queue)
    for exchange in (names.exchange, names.dead_letter_exchange):
        channel.exchange_delete(exchange)
    connection.close()


def _wait_until_ready(stack: Stack, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for name in stack.containers:
            state = _docker("inspect", "--format", "{{.State.Running}}", name)
            if state.stdout.strip() != "true":
                pytest.fail(f"container {name} stopped before /ready:\n{stack.logs()}")
        try:
            if httpx.get(f"{stack.api_url}/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"/ready did not answer 200 within {timeout_s:.0f} s:\n{stack.logs()}")


@pytest.fixture(scope="module")
def stack(image: Image) -> Iterator[Stack]:
    """Migrate, then start the API and the worker from the image on the host."""
    _require_host_services()
    names = _Names(suffix=uuid.uuid4().hex[:8])
    server_port, metrics_port = _free_port(), _free_port()
    environment = _environment(names, server_port, metrics_port)
    _drop_databases(names)

    migrate = _docker(
        "run", "--rm", *_run_flags(names.container("migrate")), *environment,
        image.name, "migrate",
    )  # fmt: skip
    assert migrate.returncode == 0, f"migrate failed:\n{migrate.stdout}{migrate.stderr}"
    created = _docker(
        "run", "--rm", *_run_flags(names.container("projects")), *environment,
        image.name, "projects", "create", "--name", "image smoke test",
    )  # fmt: skip
    assert created.returncode == 0, f"projects create failed:\n{created.stderr}"
    printed = dict(
        line.split(":", 1) for line in created.stdout.splitlines() if ":" in line
    )
    stack = Stack(
        names=names,
        api_url=f"http://127.0.0.1:{server_port}",
        containers=(names.container("api"), names.container("worker")),
        project_id=printed["project id"].strip(),
        write_key=printed["write key"].strip(),
    )

    try:
        for name, role in zip(stack.containers, ("api", "worker"), strict=True):
            started = _docker("run", "--detach", *_run_flags(name), *environment,
                             image.name, role)  # fmt: skip
            assert started.returncode == 0, f"{role} did not start: {started.stderr}"
        _wait_until_ready(stack, timeout_s=60)
        yield stack
    finally:
        # Printed always; pytest shows it only when the test failed.
        print(stack.logs())
        _docker("rm", "--force", *stack.containers, timeout_s=60)
        _delete_topology(names)
        _drop_databases(names)


def test_image_runs_as_uid_10001_not_root(image: Image) -> None:
    result = _docker("run", "--rm", "--entrypoint", "id", image.name)

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("uid=10001(") and " gid=10001(" in result.stdout
    # Numeric, so that Kubernetes' runAsNonRoot can check it without /etc/passwd.
    assert image.config["User"] == "10001:10001"


def test_help_works_on_a_read_only_root_filesystem(image: Image) -> None:
    result = _docker(
        "run", "--rm", "--read-only", "--tmpfs", "/tmp", image.name, "--help"
    )

    assert result.returncode == 0, result.stdout + result.stderr
    for subcommand in ("api", "worker", "migrate"):
        assert subcommand in result.stdout


def test_image_starts_the_api_by_default(image: Image) -> None:
    assert image.config["Entrypoint"] == ["ga4clone"]
    assert image.config["Cmd"] == ["api"]
    assert "MIGRATIONS_DIR=/app/migrations" in image.config["Env"]
    assert {"8080/tcp", "9100/tcp"} <= set(image.config["ExposedPorts"])


def test_image_ships_the_migrations(image: Image) -> None:
    result = _docker(
        "run", "--rm", "--entrypoint", "ls", image.name,
        "/app/migrations/clickhouse", "/app/migrations/postgres",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert ".sql" in result.stdout


def test_oci_labels_are_set(image: Image) -> None:
    labels = image.config["Labels"] or {}

    missing = [key for key in OCI_LABELS if not labels.get(key)]

    assert not missing, f"labels missing or empty: {missing}"


def test_image_is_smaller_than_400_mb(
    image: Image, capsys: pytest.CaptureFixture[str]
) -> None:
    size_mb = image.size_bytes / 1000 / 1000
    with capsys.disabled():
        print(f"\n{image.name} is {size_mb:.0f} MB")

    assert image.size_bytes < MAX_IMAGE_BYTES, f"{size_mb:.0f} MB"


def test_posted_event_lands_in_clickhouse(stack: Stack) -> None:
    project_id = stack.project_id
    event = {
        "projectId": project_id,
        "eventName": "page_view",
        "timestamp": int(time.time() * 1000),
        "clientId": "c1",
        "sessionId": "s1",
    }

    response = httpx.post(
        f"{stack.api_url}/events",
        json=event,
        headers={"X-Api-Key": stack.write_key},
        timeout=10,
    )

    assert response.status_code == 202, response.text
    body = response.json()
    assert body["accepted"] == 1
    event_id = body["eventIds"][0]
    assert _wait_for_event(stack, project_id, event_id, timeout_s=60) == "page_view"


def _wait_for_event(
    stack: Stack, project_id: str, event_id: str, timeout_s: float
) -> str:
    client = ClickHouseClient(host="127.0.0.1", port=9000)
    query = (
        f"SELECT event_name FROM {stack.names.clickhouse_database}.events "
        "WHERE project_id = toUUID(%(project)s) AND event_id = toUUID(%(event)s)"
    )
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            rows = client.execute(query, {"project": project_id, "event": event_id})
            if rows:
                return str(rows[0][0])
            time.sleep(0.5)
    finally:
        client.disconnect()
    pytest.fail(f"event {event_id} not in ClickHouse after {timeout_s:.0f} s")
