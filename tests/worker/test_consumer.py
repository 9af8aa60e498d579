"""The worker against real RabbitMQ, ClickHouse and PostgreSQL."""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pika
import pytest
from clickhouse_driver import Client
from prometheus_client import REGISTRY

from ga4clone.settings import Settings
from ga4clone.topology import ERROR_HEADER, ROUTING_KEY
from ga4clone.worker.consumer import Consumer
from tests.conftest import daily_metric, make_event, now_ms, stored_count, wait_for

pytestmark = pytest.mark.integration


class RunningWorker:
    """A Consumer running in a thread, stopped (as by SIGTERM) on exit."""

    def __init__(self, settings: Settings, **options: Any) -> None:
        self.consumer = Consumer(settings, **options)
        self.thread = threading.Thread(target=self.consumer.run, daemon=True)

    def __enter__(self) -> RunningWorker:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.consumer.stop()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "worker did not stop within 15 s"


def publish(
    channel: Any,
    settings: Settings,
    body: bytes,
    message_id: str,
    headers: dict[str, Any] | None = None,
) -> None:
    properties = pika.BasicProperties(
        content_type="application/json",
        delivery_mode=2,
        message_id=message_id,
        headers=headers,
    )
    channel.basic_publish(settings.rabbitmq_exchange, ROUTING_KEY, body, properties)


def ready_messages(channel: Any, settings: Settings) -> int:
    """Messages ready (not handed to a consumer) in the test's events queue."""
    frame = channel.queue_declare(settings.rabbitmq_queue, passive=True)
    return int(frame.method.message_count)


@contextlib.contextmanager
def daily_metrics_away(postgres: Any) -> Iterator[None]:
    """PostgreSQL's aggregates table missing, as during a migration."""
    with postgres.cursor() as cur:
        cur.execute("ALTER TABLE daily_metrics RENAME TO daily_metrics_away")
    try:
        yield
    finally:
        with postgres.cursor() as cur:
            cur.execute(
                "ALTER TABLE IF EXISTS daily_metrics_away RENAME TO daily_metrics"
            )


def message(project: uuid.UUID, count: int, **fields: Any) -> bytes:
    events = [
        make_event(project, eventId=str(uuid.uuid4()), **fields) for _ in range(count)
    ]
    body = {
        "receivedAt": now_ms(),
        "userAgent": "UA",
        "clientIp": "192.0.2.1",
        "events": events,
    }
    return orjson.dumps(body)


def test_batches_land_in_clickhouse_and_daily_metrics(
    fast: Settings, channel: Any, clickhouse: Client, postgres: Any
) -> None:
    project = uuid.uuid4()
    for _ in range(10):
        publish(channel, fast, message(project, 25), str(uuid.uuid4()))
    publish(channel, fast, message(project, 5, eventName="purchase"), str(uuid.uuid4()))

    with RunningWorker(fast):
        wait_for(lambda: daily_metric(postgres, project, "events") == 255)

    assert stored_count(clickhouse, project) == 255
    assert daily_metric(postgres, project, "page_views") == 250
    assert daily_metric(postgres, project, "event:purchase") == 5


def test_redelivered_message_is_counted_once(
    fast: Settings, channel: Any, clickhouse: Client, postgres: Any
) -> None:
    project = uuid.uuid4()
    body, message_id = message(project, 3), str(uuid.uuid4())

    with RunningWorker(fast):
        publish(channel, fast, body, message_id)
        wait_for(lambda: daily_metric(postgres, project, "events") == 3)
        publish(channel, fast, body, message_id)
        wait_for(
            lambda: (
                channel.queue_declare(
                    fast.rabbitmq_queue, passive=True
                ).method.message_count
                == 0
            )
        )
        # One more message proves the duplicate's batch was flushed before it.
        publish(channel, fast, message(project, 1), str(uuid.uuid4()))
        wait_for(lambda: daily_metric(postgres, project, "events") == 4)

    assert stored_count(clickhouse, project) == 4


def test_undecodable_message_is_dead_lettered_with_its_reason(
    fast: Settings, channel: Any, postgres: Any
) -> None:
    project = uuid.uuid4()
    publish(channel, fast, b"{not json", str(uuid.uuid4()))
    publish(channel, fast, message(project, 2), str(uuid.uuid4()))

    with RunningWorker(fast):
        wait_for(lambda: daily_metric(postgres, project, "events") == 2)
        _method, properties, body = wait_for(lambda: _get(channel, fast))

    assert body == b"{not json"
    assert properties.headers[ERROR_HEADER].startswith("undecodable message")
    assert (
        channel.queue_declare(fast.rabbitmq_queue, passive=True).method.message_count
        == 0
    )


def _get(channel: Any, settings: Settings) -> Any:
    method, properties, body = channel.basic_get(
        settings.rabbitmq_dead_letter_queue, auto_ack=True
    )
    return (method, properties, body) if method else None


def test_transient_database_error_is_retried_not_dead_lettered(
    fast: Settings, channel: Any, clickhouse: Client, postgres: Any
) -> None:
    # Given PostgreSQL's table is missing, as during a migration ...
    project = uuid.uuid4()
    with postgres.cursor() as cur:
        cur.execute("ALTER TABLE daily_metrics RENAME TO daily_metrics_away")
    try:
        with RunningWorker(fast):
            publish(channel, fast, message(project, 7), str(uuid.uuid4()))
            wait_for(lambda: stored_count(clickhouse, project) == 7)
            # ... the worker keeps retrying instead of dead-lettering ...
            assert _get(channel, fast) is None
            with postgres.cursor() as cur:
                cur.execute("ALTER TABLE daily_metrics_away RENAME TO daily_metrics")
            # ... and is counted once the table is back.
            wait_for(lambda: daily_metric(postgres, project, "events") == 7)
    finally:
        with postgres.cursor() as cur:
            cur.execute(
                "ALTER TABLE IF EXISTS daily_metrics_away RENAME TO daily_metrics"
            )

    assert _get(channel, fast) is None
    assert stored_count(clickhouse, project) == 7


def test_queue_depth_is_sampled_while_a_store_is_down(
    settings: Settings, channel: Any, postgres: Any
) -> None:
    # Given a prefetch of one, so that later messages stay ready in the queue,
    one = settings.model_copy(
        update={"worker_flush_interval_ms": 100, "worker_prefetch": 1}
    )
    project = uuid.uuid4()
    with postgres.cursor() as cur:
        cur.execute("ALTER TABLE daily_metrics RENAME TO daily_metrics_away")
    try:
        with RunningWorker(one):
            # ... when PostgreSQL refuses the first batch and more messages come,
            publish(channel, one, message(project, 1), str(uuid.uuid4()))
            for _ in range(3):
                publish(channel, one, message(project, 1), str(uuid.uuid4()))
            # then the gauge follows the queue while the worker retries.
            wait_for(lambda: REGISTRY.get_sample_value("ga4clone_queue_depth") == 3)
            with postgres.cursor() as cur:
                cur.execute("ALTER TABLE daily_metrics_away RENAME TO daily_metrics")
            wait_for(lambda: daily_metric(postgres, project, "events") == 4)
    finally:
        with postgres.cursor() as cur:
            cur.execute(
                "ALTER TABLE IF EXISTS daily_metrics_away RENAME TO daily_metrics"
            )


def test_refused_message_is_dead_lettered_with_its_headers(
    fast: Settings, channel: Any, postgres: Any
) -> None:
    # Given PostgreSQL refuses one event name for good (a constraint),
    project, refused_id = uuid.uuid4(), str(uuid.uuid4())
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with postgres.cursor() as cur:
        cur.execute(
            # Scoped to this test's project: other tests' rows must not
            # violate it when it is added.
            "ALTER TABLE daily_metrics ADD CONSTRAINT refuse_blocked "
            "CHECK (project_id <> %s OR metric_name <> 'event:blocked')",
            (str(project),),
        )
    try:
        # when a message of that name carrying a trace context is consumed,
        with RunningWorker(fast):
            body = message(project, 1, eventName="blocked")
            publish(channel, fast, body, refused_id, {"traceparent": traceparent})
            dead = wait_for(lambda: _get(channel, fast))
    finally:
        with postgres.cursor() as cur:
            cur.execute(
                "ALTER TABLE daily_metrics DROP CONSTRAINT IF EXISTS refuse_blocked"
            )

    # then its dead letter keeps the id and the trace context, and says why.
    _method, properties, _body = dead
    assert properties.message_id == refused_id
    assert properties.headers["traceparent"] == traceparent
    assert "PostgreSQL refused the data" in properties.headers[ERROR_HEADER]


def test_rows_the_clickhouse_server_refuses_are_dead_lettered_not_retried(
    fast: Settings, channel: Any, clickhouse: Client, postgres: Any
) -> None:
    # Given a view that makes the server refuse events named "blocked" (it
    # parses their page title as a UUID while the insert is pushed to it),
    clickhouse.execute("CREATE TABLE refused_sink (x UUID) ENGINE = Memory")
    clickhouse.execute(
        "CREATE MATERIALIZED VIEW refuse_blocked TO refused_sink AS "
        "SELECT toUUID(page_title) AS x FROM events WHERE event_name = 'blocked'"
    )
    project, refused_id = uuid.uuid4(), str(uuid.uuid4())
    try:
        # when it arrives in one batch with a good message,
        with RunningWorker(fast):
            publish(channel, fast, message(project, 2), str(uuid.uuid4()))
            blocked = message(project, 1, eventName="blocked")
            publish(channel, fast, blocked, refused_id)
            dead = wait_for(lambda: _get(channel, fast))
            wait_for(lambda: daily_metric(postgres, project, "events") == 2)
    finally:
        clickhouse.execute("DROP TABLE IF EXISTS refuse_blocked")
        clickhouse.execute("DROP TABLE IF EXISTS refused_sink")

    # then the refused message is dead-lettered with the server's reason and
    # the good one counted, instead of the batch being retried for ever.
    _method, properties, _body = dead
    assert properties.message_id == refused_id
    assert "ClickHouse refused the data" in properties.headers[ERROR_HEADER]
    assert daily_metric(postgres, project, "event:blocked") == 0


def test_stop_finishes_the_current_batch(
    settings: Settings, channel: Any, clickhouse: Client, postgres: Any
) -> None:
    # A long flush interval: only the stop can make this batch flush.
    slow = settings.model_copy(update={"worker_flush_interval_ms": 60_000})
    project = uuid.uuid4()
    publish(channel, slow, message(project, 4), str(uuid.uuid4()))

    with RunningWorker(slow):
        wait_for(
            lambda: (
                channel.queue_declare(
                    slow.rabbitmq_queue, passive=True
                ).method.message_count
                == 0
            )
        )

    assert daily_metric(postgres, project, "events") == 4
    assert stored_count(clickhouse, project) == 4


def test_batch_is_flushed_as_soon_as_it_holds_the_batch_size(
    settings: Settings, channel: Any, clickhouse: Client, postgres: Any
) -> None:
    # Given a flush interval no test waits for and a batch size of 10,
    sized = settings.model_copy(
        update={"worker_flush_interval_ms": 600_000, "worker_batch_size": 10}
    )
    project = uuid.uuid4()
    for count in (5, 5, 3):
        publish(channel, sized, message(project, count), str(uuid.uuid4()))

    with RunningWorker(sized):
        # the first 10 events are stored while the interval has not passed,
        wait_for(lambda: daily_metric(postgres, project, "events") == 10)
        # and the 3 after them wait in the next batch, unacked,
        stored_while_running = stored_count(clickhouse, project)
        assert ready_messages(channel, sized) == 0

    # until the stop flushes them.
    assert stored_while_running == 10
    assert daily_metric(postgres, project, "events") == 13


def test_stop_during_a_store_outage_requeues_the_batch_for_the_next_worker(
    fast: Settings,
    channel: Any,
    clickhouse: Client,
    postgres: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="ga4clone.worker.consumer")
    project = uuid.uuid4()
    redelivered = REGISTRY.get_sample_value("ga4clone_redeliveries_total") or 0.0
    # Given a worker retrying a batch PostgreSQL cannot take,
    with daily_metrics_away(postgres):
        with RunningWorker(fast):
            publish(channel, fast, message(project, 7), str(uuid.uuid4()))
            wait_for(lambda: stored_count(clickhouse, project) == 7)
        # when it is stopped (RunningWorker fails unless it stops in 15 s),
        # then it has handed the batch back instead of acking it,
        assert "Requeued a batch of 7 events on shutdown" in caplog.messages
        assert ready_messages(channel, fast) == 1

    # and once the table is back, the next worker counts it exactly once.
    assert daily_metric(postgres, project, "events") == 0
    with RunningWorker(fast):
        wait_for(lambda: daily_metric(postgres, project, "events") == 7)
        publish(channel, fast, message(project, 1), str(uuid.uuid4()))
        wait_for(lambda: daily_metric(postgres, project, "events") == 8)

    assert ready_messages(channel, fast) == 0
    assert stored_count(clickhouse, project) == 8
    assert REGISTRY.get_sample_value("ga4clone_redeliveries_total") == redelivered + 1
