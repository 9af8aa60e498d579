"""The worker: consume event messages, store them in batches, then ack.

One blocking pika connection, manual acks and a prefetch window. Messages are
decoded as they arrive and collect in a :class:`Batch`, which is flushed when it
holds ``worker_batch_size`` events or its oldest message is
``worker_flush_interval_ms`` old. A flush is:

1. one columnar INSERT into ClickHouse (duplicates collapse by event id);
2. one PostgreSQL transaction recording the message ids and adding the counts
   of the messages not recorded before;
3. one ``basic.ack`` with ``multiple`` for the whole batch.

A crash anywhere before 3 means RabbitMQ redelivers; 1 and 2 are idempotent,
so nothing is lost and nothing is counted twice. Database outages are retried
with capped exponential backoff, keeping the AMQP connection serviced. A
message that cannot be decoded, or whose data a store refuses, is published to
the dead-letter exchange with the reason, then acked with its batch.

What the worker shows of itself: a flush is one CONSUMER span ("process" per
the messaging semantic conventions) linked to the PRODUCER span of each of its
messages, with the two store writes as children, redeliveries and dead letters
as span events; the ``ga4clone_*`` worker metrics (see
:mod:`ga4clone.telemetry.metrics`), including the depth of both queues, sampled
every few seconds, are served on WORKER_METRICS_PORT, with ``/health`` for the
liveness probe: 503 once the consume loop has not serviced its RabbitMQ
connection for :data:`LIVENESS_TIMEOUT_S` (see :class:`Heartbeat`).
"""

from __future__ import annotations

import functools
import logging
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import pika
import pika.exceptions
from opentelemetry import trace
from opentelemetry.trace import Link, Span, SpanKind
from pydantic import ValidationError

from ga4clone.api.publisher import connection_parameters
from ga4clone.errors import PoisonMessage, StoreUnavailable
from ga4clone.events import EventMessage
from ga4clone.settings import Settings
from ga4clone.telemetry import metrics
from ga4clone.telemetry.tracing import active_tracer, producer_link, span
from ga4clone.topology import ERROR_HEADER, ROUTING_KEY, Topology, declare
from ga4clone.worker.batch import Batch, DeadLetter, Delivery, unique_deliveries
from ga4clone.worker.stores import ClickHouseStore, PostgresStore

log = logging.getLogger(__name__)

_RETRY_MIN_S = 0.2
# The longest the consume loop waits for a message, so that a stop request and
# a due batch are seen promptly even while no message comes.
_POLL_S = 0.25
_RECONNECT_MAX_S = 10.0
_DEPTH_EVERY_S = 5.0
_UNDECODABLE = "undecodable"
_REFUSED = "refused"
# Validation errors named in a dead letter's reason; more are only counted.
_REASON_ERRORS = 3
# /health turns 503 when the consume loop has not ticked for this long. It must
# outlast the longest step that blocks the loop without servicing the AMQP
# connection: one store write attempt, which clickhouse-driver bounds by its
# 60 s send_receive_timeout (ga4clone.migrate.clickhouse_client) and psycopg2
# by its 5 s connect_timeout. Retries after a failed write sleep through the
# connection (BlockingConnection.sleep), so a long store outage keeps ticking;
# a query that never returns (a PostgreSQL lock held for ever) does not, and a
# restart is then the cure. 120 s leaves a write that times out room to spare.
LIVENESS_TIMEOUT_S = 120.0
# How often the loop ticks while it services the connection.
_TICK_S = 1.0


class _Stopping(Exception):
    """Raised inside a retry loop when SIGTERM asked the worker to stop."""


class Heartbeat:
    """When the consume loop last showed it is alive; what ``/health`` asks."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._last = time.monotonic()

    def beat(self) -> None:
        """Record that the loop is alive now."""
        # A float assignment: atomic, read by the metrics server's threads.
        self._last = time.monotonic()

    def problem(self) -> str | None:
        """None while the last beat is recent; otherwise what is wrong."""
        silent_s = time.monotonic() - self._last
        if silent_s <= self.timeout_s:
            return None
        return f"the consume loop has not ticked for {silent_s:.0f} s"


@dataclass
class _Trail:
    """What a batch's span tells beyond the batch: producer links, redeliveries."""

    links: list[Link] = field(default_factory=list)
    redelivered: int = 0


class Consumer:
    """Consumes the event queue until asked to stop; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        clickhouse: ClickHouseStore | None = None,
        postgres: PostgresStore | None = None,
        liveness_timeout_s: float = LIVENESS_TIMEOUT_S,
    ) -> None:
        self._settings = settings
        self._topology = Topology.from_settings(settings)
        self._parameters = connection_parameters(settings)
        self._clickhouse = clickhouse or ClickHouseStore(settings)
        self._postgres = postgres or PostgresStore(settings)
        self._flush_interval_s = settings.worker_flush_interval_ms / 1000
        self._retry_max_s = settings.worker_retry_max_ms / 1000
        self._connection: Any = None
        self._channel: Any = None
        self._batch = Batch()
        self._trail = _Trail()
        self._stopping = False
        self._next_depth_sample = 0.0
        self._metrics_server: Any = None
        self.heartbeat = Heartbeat(liveness_timeout_s)
        self._tick_s = min(_TICK_S, liveness_timeout_s / 4)
        self.on_flush: Callable[[int, float], None] | None = None

    def stop(self, *_args: object) -> None:
        """Ask the worker to finish its batch and return from :meth:`run`."""
        if not self._stopping:
            log.info("Stopping: finishing the current batch")
        self._stopping = True

    def install_signal_handlers(self) -> None:
        def handle(signum: int, _frame: FrameType | None) -> None:
            self.stop()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    def run(self) -> None:
        """Consume, reconnecting after broker failures, until :meth:`stop`."""
        delay_s = _RETRY_MIN_S
        port = self._settings.worker_metrics_port
        if port and self._metrics_server is None:
            self._metrics_server = metrics.start_metrics_server(
                port, self.heartbeat.problem
            )
            log.info("Serving /metrics and /health on port %d", port)
        while not self._stopping:
            # Trying to connect is progress too: a broker outage is no hang.
            self.heartbeat.beat()
            try:
                self._connect()
                delay_s = _RETRY_MIN_S
                self._consume()
            except pika.exceptions.AMQPError as exc:
                # Unacked messages go back to the queue with the connection.
                log.warning("RabbitMQ connection lost: %r; reconnecting", exc)
                self._new_batch()
                self._interruptible_sleep(delay_s)
                delay_s = min(delay_s * 2, _RECONNECT_MAX_S)
        self._close()

    # --- consuming ------------------------------------------------------------

    def _connect(self) -> None:
        self._connection = pika.BlockingConnection(self._parameters)
        self._tick(self._connection)
        channel = self._connection.channel()
        declare(channel, self._topology)
        channel.confirm_delivery()
        channel.basic_qos(prefetch_count=self._settings.worker_prefetch)
        self._channel = channel
        self._new_batch()
        log.info("Consuming %r", self._topology.queue)

    def _tick(self, connection: Any) -> None:
        """Beat, and again every tick while ``connection`` is serviced."""
        # pika runs this timer only from inside its own loop (consuming,
        # sleeping between retries), which is exactly what /health vouches for.
        self.heartbeat.beat()
        if connection is self._connection and connection.is_open:
            connection.call_later(
                self._tick_s, functools.partial(self._tick, connection)
            )

    def _consume(self) -> None:
        # Messages are taken one at a time from pika's buffer, so a batch stops
        # growing the moment it is due; a callback consumer would be handed
        # the whole prefetch window at once, decoded, however large.
        idle_s = min(_POLL_S, self._flush_interval_s)
        messages = self._channel.consume(
            self._topology.queue, auto_ack=False, inactivity_timeout=idle_s
        )
        for method, properties, body in messages:
            if method is not None:
                self._on_message(self._channel, method, properties, body)
            if self._due():
                self._flush()
            self._maybe_sample_depths()
            if self._stopping:
                break
        # Messages still in pika's buffer go back to the queue.
        self._channel.cancel()
        if not self._batch.empty:
            self._flush()

    def _new_batch(self) -> Batch:
        """Start an empty batch; return the one it replaces."""
        batch, self._batch, self._trail = self._batch, Batch(), _Trail()
        return batch

    def _maybe_sample_depths(self) -> None:
        now = time.monotonic()
        if now < self._next_depth_sample:
            return
        self._next_depth_sample = now + _DEPTH_EVERY_S
        topology = self._topology
        for queue, gauge in (
            (topology.queue, metrics.QUEUE_DEPTH),
            (topology.dead_letter_queue, metrics.DEAD_LETTER_QUEUE_DEPTH),
        ):
            frame = self._channel.queue_declare(queue, passive=True)
            gauge.set(frame.method.message_count)

    def _due(self) -> bool:
        batch = self._batch
        if batch.empty:
            return False
        # RabbitMQ hands over no more than the prefetch window until this batch
        # is acked, so a batch holding that many messages cannot grow further.
        full = (
            batch.events >= self._settings.worker_batch_size
            or batch.messages >= self._settings.worker_prefetch
        )
        return full or batch.seconds_left(self._flush_interval_s) == 0.0

    def _on_message(
        self, _channel: Any, method: Any, properties: Any, body: bytes
    ) -> None:
        tag = method.delivery_tag
        if method.redelivered:
            metrics.REDELIVERIES.inc()
            self._trail.redelivered += 1
        if active_tracer() is not None:
            self._link(properties, redelivered=method.redelivered)
        try:
            message = EventMessage.model_validate_json(body)
            message_id = uuid.UUID(properties.message_id)
        except (ValidationError, TypeError, ValueError) as exc:
            reason = f"undecodable message: {_undecodable_reason(exc)}"
            log.warning("Dead-lettering message %r: %s", properties.message_id, reason)
            self._batch.reject(tag, DeadLetter(body, properties, reason))
            return
        self._batch.add(tag, Delivery(message_id, message, properties.headers))

    def _link(self, properties: Any, *, redelivered: bool) -> None:
        # `ga4clone worker` raises the SDK's link limit to the prefetch window,
        # which bounds the messages of a batch, so no link is dropped.
        attributes = {
            "messaging.message.id": properties.message_id or "",
            "messaging.rabbitmq.redelivered": bool(redelivered),
        }
        link = producer_link(properties.headers, attributes)
        if link is not None:
            self._trail.links.append(link)

    # --- flushing ---------------------------------------------------------------

    def _flush(self) -> None:
        trail = self._trail
        batch = self._new_batch()
        attributes = {
            "messaging.system": "rabbitmq",
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.destination.name": self._topology.queue,
            "messaging.batch.message_count": len(batch.deliveries)
            + len(batch.dead_letters),
        }
        with span(
            f"process {self._topology.queue}",
            SpanKind.CONSUMER,
            attributes,
            trail.links,
        ) as current:
            if current is not None and trail.redelivered:
                current.add_event("redelivered", {"messages": trail.redelivered})
            self._flush_batch(batch)

    def _flush_batch(self, batch: Batch) -> None:
        started = time.perf_counter()
        try:
            stored = self._store(
                unique_deliveries(batch.deliveries), batch.dead_letters
            )
        except _Stopping:
            self._channel.basic_nack(batch.last_tag, multiple=True, requeue=True)
            log.info("Requeued a batch of %d events on shutdown", batch.events)
            return
        for dead_letter in batch.dead_letters:
            self._dead_letter(dead_letter)
        self._channel.basic_ack(batch.last_tag, multiple=True)
        elapsed_s = time.perf_counter() - started
        metrics.BATCH_EVENTS.observe(batch.events)
        metrics.FLUSH_SECONDS.observe(elapsed_s)
        log.debug("Flushed %d events in %.1f ms", stored, elapsed_s * 1000)
        if self.on_flush is not None:
            self.on_flush(stored, elapsed_s)

    def _store(self, deliveries: list[Delivery], dead: list[DeadLetter]) -> int:
        """Store deliveries, moving any the stores refuse into ``dead``."""
        # TODO: a message PostgreSQL refuses was inserted into ClickHouse
        # first, so until it is replayed reports count its events and the
        # daily aggregates do not. Deleting its rows by message_id (a
        # mutation) before dead-lettering would keep the two stores agreed.
        if not deliveries:
            return 0
        try:
            return self._with_retry(lambda: self._write(deliveries))
        except PoisonMessage as exc:
            if len(deliveries) == 1:
                dead.append(_refused(deliveries[0], str(exc)))
                return 0
        # Some message in the batch is refused: store them one by one to find it.
        return sum(self._store([delivery], dead) for delivery in deliveries)

    def _write(self, deliveries: list[Delivery]) -> int:
        inserted = self._clickhouse.insert(deliveries)
        # TODO: when PostgreSQL fails and the batch is retried, its events are
        # observed again; observing after the whole write would fix the lag's
        # double count but move its meaning away from the insert itself.
        _observe_inserted(deliveries, inserted)
        self._postgres.record(deliveries)
        return sum(len(delivery.message.events) for delivery in deliveries)

    def _with_retry(self, write: Callable[[], int]) -> int:
        delay_s = _RETRY_MIN_S
        while True:
            try:
                return write()
            except StoreUnavailable as exc:
                if self._stopping:
                    raise _Stopping from exc
                log.warning("%s; retrying in %.1f s", exc, delay_s)
                # The queue grows most while a store is down: keep showing it.
                self._maybe_sample_depths()
                self._serviced_sleep(delay_s)
                delay_s = min(delay_s * 2, self._retry_max_s)

    def _serviced_sleep(self, seconds: float) -> None:
        """Sleep while servicing the connection; wake early when asked to stop."""
        deadline = time.monotonic() + seconds
        while not self._stopping:
            left_s = deadline - time.monotonic()
            if left_s <= 0:
                return
            self._connection.sleep(min(left_s, _POLL_S))

    def _dead_letter(self, dead_letter: DeadLetter) -> None:
        reason = (
            _UNDECODABLE if dead_letter.reason.startswith("undecodable") else _REFUSED
        )
        metrics.record_dead_letter(reason)
        _add_event(
            "dead-lettered",
            {
                "messaging.message.id": dead_letter.properties.message_id or "",
                "reason": reason,
            },
        )
        original = dead_letter.properties
        headers = dict(original.headers or {})
        headers[ERROR_HEADER] = dead_letter.reason[:1000]
        properties = pika.BasicProperties(
            content_type=original.content_type,
            delivery_mode=pika.DeliveryMode.Persistent,
            message_id=original.message_id,
            timestamp=original.timestamp,
            headers=headers,
        )
        self._channel.basic_publish(
            self._topology.dead_letter_exchange,
            ROUTING_KEY,
            dead_letter.body,
            properties,
            mandatory=True,
        )

    # --- shutdown -------------------------------------------------------------------

    def _interruptible_sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stopping and time.monotonic() < deadline:
            self.heartbeat.beat()
            time.sleep(min(0.1, deadline - time.monotonic()))

    def _close(self) -> None:
        if self._connection is not None and self._connection.is_open:
            try:
                self._connection.close()
            except pika.exceptions.AMQPError:
                log.debug("Closing the RabbitMQ connection failed", exc_info=True)
        self._clickhouse.close()
        self._postgres.close()
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
            self._metrics_server = None
        log.info("Worker stopped")


def _observe_inserted(deliveries: list[Delivery], inserted: int) -> None:
    """Count inserted events and record each one's age, at insert time."""
    metrics.EVENTS_STORED.inc(inserted)
    now_s = time.time()
    for delivery in deliveries:
        message = delivery.message
        metrics.observe_ingestion_lag(
            message.received_at_ms, len(message.events), now_s
        )


def _add_event(name: str, attributes: dict[str, Any]) -> None:
    """Add an event to the current span, when tracing is on."""
    if active_tracer() is None:
        return
    current: Span = trace.get_current_span()
    current.add_event(name, attributes)


def _refused(delivery: Delivery, reason: str) -> DeadLetter:
    # The body is encoded again from the decoded message (the original bytes
    # are not kept per delivery); the headers keep the trace context.
    body = delivery.message.model_dump_json(by_alias=True, exclude_none=True)
    properties = pika.BasicProperties(
        content_type="application/json",
        message_id=str(delivery.message_id),
        headers=delivery.headers,
    )
    return DeadLetter(body.encode(), properties, reason)


def _undecodable_reason(exc: Exception) -> str:
    """What is wrong with a message, without its content.

    A validation error names the fields and what each should be
    (``events: Input should be a valid array``); never the input values,
    which are payload.
    """
    if not isinstance(exc, ValidationError):
        return _first_line(exc)
    errors = exc.errors(include_url=False, include_input=False)
    named = [
        f"{'.'.join(str(part) for part in error['loc']) or 'message'}: {error['msg']}"
        for error in errors[:_REASON_ERRORS]
    ]
    more = len(errors) - len(named)
    if more:
        named.append(f"{more} more")
    return "; ".join(named)[:500]


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:500]
