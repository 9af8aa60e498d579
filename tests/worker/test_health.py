"""The worker's liveness probe, GET /health on WORKER_METRICS_PORT, with a real
worker: healthy while its consume loop services RabbitMQ, failing once the
loop hangs, and never failing just because a store is down."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg2
import pytest
from clickhouse_driver import Client

from ga4clone.settings import Settings
from tests.conftest import daily_metric, stored_count, wait_for
from tests.test_e2e import free_port
from tests.worker.test_consumer import (
    RunningWorker,
    daily_metrics_away,
    message,
    publish,
)

pytestmark = pytest.mark.integration

# Short enough for a test, long against the worker's ticks (a quarter of it).
TIMEOUT_S = 2.0


@pytest.fixture
def served(fast: Settings) -> Settings:
    return fast.model_copy(update={"worker_metrics_port": free_port()})


@pytest.fixture
def worker(served: Settings) -> Iterator[str]:
    """A running worker with a short liveness timeout; yields its base URL."""
    with RunningWorker(served, liveness_timeout_s=TIMEOUT_S):
        base = f"http://127.0.0.1:{served.worker_metrics_port}"
        wait_for(lambda: _status(base, "/health") == 200)
        yield base


def _status(base: str, path: str) -> int:
    try:
        return httpx.get(f"{base}{path}", timeout=2).status_code
    except httpx.HTTPError:
        return 0


def test_health_is_200_and_metrics_are_served_beside_it(worker: str) -> None:
    health = httpx.get(f"{worker}/health", timeout=2)
    metrics = httpx.get(f"{worker}/metrics", timeout=2)

    assert (health.status_code, health.text) == (200, "ok\n")
    assert metrics.status_code == 200
    assert metrics.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE ga4clone_batch_events histogram" in metrics.text


def test_health_stays_200_while_a_store_outage_is_retried(
    worker: str,
    served: Settings,
    channel: Any,
    clickhouse: Client,
    postgres: Any,
) -> None:
    project = uuid.uuid4()
    with daily_metrics_away(postgres):
        # Given a worker retrying a batch PostgreSQL cannot take,
        publish(channel, served, message(project, 3), str(uuid.uuid4()))
        wait_for(lambda: stored_count(clickhouse, project) == 3)
        # then its probe passes for three liveness timeouts in a row:
        # the retries sleep through the AMQP connection, which ticks.
        statuses = []
        deadline = time.monotonic() + 3 * TIMEOUT_S
        while time.monotonic() < deadline:
            statuses.append(_status(worker, "/health"))
            time.sleep(0.2)

    assert set(statuses) == {200}
    wait_for(lambda: daily_metric(postgres, project, "events") == 3)


def test_health_fails_while_the_loop_hangs_and_recovers_after(
    worker: str, served: Settings, channel: Any, postgres: Any
) -> None:
    # Given a transaction holding daily_metrics, so the worker's write waits
    # on the lock with no timeout: a consume loop that hangs for real,
    project = uuid.uuid4()
    holder = psycopg2.connect(served.postgres_dsn)
    try:
        with holder.cursor() as cur:
            cur.execute("LOCK TABLE daily_metrics IN ACCESS EXCLUSIVE MODE")
        publish(channel, served, message(project, 2), str(uuid.uuid4()))
        # when it has not ticked for the timeout, the probe fails and says why;
        wait_for(lambda: _status(worker, "/health") == 503, timeout_s=30)
        hung = httpx.get(f"{worker}/health", timeout=2)
    finally:
        holder.rollback()
        holder.close()

    # once the lock is gone the batch is stored and the probe passes again.
    wait_for(lambda: daily_metric(postgres, project, "events") == 2)
    wait_for(lambda: _status(worker, "/health") == 200)
    assert hung.status_code == 503
    assert "has not ticked for" in hung.text
