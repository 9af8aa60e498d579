"""Fixtures for the real services: RabbitMQ, PostgreSQL and ClickHouse.

Each test session gets its own PostgreSQL and ClickHouse databases (dropped and
migrated at the start; GA4CLONE_TEST_DATABASE names them, so that two runs on
one machine can keep apart) and each test its own RabbitMQ exchange and queues,
so tests never see each other's messages. A service that is not reachable fails
the run when CI=true and skips the tests that need it elsewhere.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pika
import psycopg2
import pytest
from clickhouse_driver import Client

from ga4clone.migrate import clickhouse_client, migrate
from ga4clone.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
TEST_DATABASE = os.environ.get("GA4CLONE_TEST_DATABASE", "ga4clone_test")
SERVICES = {
    "RabbitMQ": ("127.0.0.1", 5672),
    "PostgreSQL": ("127.0.0.1", 5432),
    "ClickHouse": ("127.0.0.1", 9000),
}


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _require(name: str) -> None:
    host, port = SERVICES[name]
    if _reachable(host, port):
        return
    reason = f"{name} is not reachable at {host}:{port}"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def base_settings(**overrides: Any) -> Settings:
    """Settings pointing at this machine's services and the test databases."""
    values: dict[str, Any] = {
        "rabbitmq_host": "127.0.0.1",
        "postgres_host": "127.0.0.1",
        "clickhouse_host": "127.0.0.1",
        "postgres_db": TEST_DATABASE,
        "clickhouse_database": TEST_DATABASE,
        "migrations_dir": str(ROOT / "migrations"),
        "worker_metrics_port": 0,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def services() -> None:
    for name in SERVICES:
        _require(name)


def fresh_databases(database: str) -> Settings:
    """Settings on PostgreSQL and ClickHouse databases ``database``, recreated
    empty and migrated."""
    settings = base_settings(postgres_db=database, clickhouse_database=database)
    conn = psycopg2.connect(settings.postgres_dsn_for("postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    conn.close()
    client = clickhouse_client(settings, database="default")
    client.execute(f"DROP DATABASE IF EXISTS {database}")
    client.disconnect()
    migrate(settings)
    return settings


def own_topology(settings: Settings, prefix: str, **updates: Any) -> Settings:
    """``settings`` with RabbitMQ exchanges and queues nobody else uses."""
    name = f"{prefix}.{uuid.uuid4().hex[:8]}"
    return settings.model_copy(
        update={
            "rabbitmq_exchange": f"{name}.events",
            "rabbitmq_queue": f"{name}.events",
            "rabbitmq_dead_letter_exchange": f"{name}.dlx",
            "rabbitmq_dead_letter_queue": f"{name}.dead",
            **updates,
        }
    )


@pytest.fixture(scope="session")
def migrated(services: None) -> Settings:
    """Fresh test databases with every migration applied."""
    return fresh_databases(TEST_DATABASE)


@pytest.fixture
def settings(migrated: Settings) -> Iterator[Settings]:
    """Migrated databases and a RabbitMQ topology of this test's own."""
    test_settings = own_topology(migrated, "test")
    yield test_settings
    _delete_topology(test_settings)


def _delete_topology(settings: Settings) -> None:
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1"))
    channel = connection.channel()
    channel.queue_delete(settings.rabbitmq_queue)
    channel.queue_delete(settings.rabbitmq_dead_letter_queue)
    channel.exchange_delete(settings.rabbitmq_exchange)
    channel.exchange_delete(settings.rabbitmq_dead_letter_exchange)
    connection.close()


@pytest.fixture
def clickhouse(migrated: Settings) -> Iterator[Client]:
    client = clickhouse_client(migrated)
    yield client
    client.disconnect()


@pytest.fixture
def postgres(migrated: Settings) -> Iterator[Any]:
    conn = psycopg2.connect(migrated.postgres_dsn)
    conn.autocommit = True
    yield conn
    conn.close()


@pytest.fixture
def amqp() -> Iterator[Any]:
    """A blocking channel for tests that publish or inspect queues directly."""
    _require("RabbitMQ")
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1"))
    yield connection.channel()
    connection.close()


def now_ms() -> int:
    return int(time.time() * 1000)


def make_event(project_id: uuid.UUID | str, **fields: Any) -> dict[str, Any]:
    """A valid event body; ``fields`` override or add camelCase fields."""
    event: dict[str, Any] = {
        "projectId": str(project_id),
        "eventName": "page_view",
        "timestamp": now_ms(),
        "clientId": "1234567890.1700000000",
        "sessionId": "1700000000",
        "path": "/products/shoes",
        "params": {"page_title": "Shoes", "value": 59.9, "quantity": 2},
    }
    event.update(fields)
    return event


def wait_for(
    probe: Callable[[], Any], *, timeout_s: float = 15.0, interval_s: float = 0.1
) -> Any:
    """Call ``probe`` until it returns something truthy; fail after the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout_s} s (last: {result!r})")
        time.sleep(interval_s)


def stored_count(client: Client, project_id: uuid.UUID | str) -> int:
    """Events of a project in ClickHouse, duplicates collapsed."""
    rows = client.execute(
        "SELECT count() FROM events FINAL WHERE project_id = %(project)s",
        {"project": str(project_id)},
    )
    return int(rows[0][0])


def daily_metric(conn: Any, project_id: uuid.UUID | str, metric: str) -> int:
    """One daily_metrics value summed over days; 0 when absent."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT coalesce(sum(metric_value), 0) FROM daily_metrics "
            "WHERE project_id = %s AND metric_name = %s",
            (str(project_id), metric),
        )
        return int(cur.fetchone()[0])


def create_project(settings: Settings, *origins: str) -> Any:
    """Create a project through the store; returns ``CreatedProject``."""
    from ga4clone.projects import ProjectStore

    store = ProjectStore(settings.postgres_dsn, max_connections=1)
    try:
        return store.create(f"test {uuid.uuid4().hex[:8]}", origins)
    finally:
        store.close()


@pytest.fixture
def project(migrated: Settings) -> Any:
    """A fresh project with keys (``.id``, ``.write_key``, ``.secret_key``)."""
    return create_project(migrated)
