"""The dead-letter queue, for people: look at dead letters and replay them.

Messages the worker can never store are dead-lettered with the reason in the
``x-ga4clone-error`` header (see :mod:`ga4clone.topology`). :func:`inspect`
lists them without consuming them; :func:`replay` moves them back to the
events exchange once the cause is fixed. Each dead letter is acked only after
RabbitMQ confirmed its republished copy, so a crash mid-replay loses nothing:
at worst a message is both replayed and still dead, and the worker's
deduplication by message id counts it once.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pika
import pika.exceptions

from ga4clone.api.publisher import connection_parameters
from ga4clone.errors import BrokerUnavailable, PublishNotConfirmed
from ga4clone.settings import Settings
from ga4clone.topology import ERROR_HEADER, ROUTING_KEY, Topology, declare

log = logging.getLogger(__name__)

REPLAYS_HEADER = "x-ga4clone-replays"
_PREVIEW_BYTES = 60
# Headers RabbitMQ or the worker added on the way into the dead-letter queue.
_DEATH_HEADERS = (
    "x-death",
    "x-first-death-exchange",
    "x-first-death-queue",
    "x-first-death-reason",
    "x-last-death-exchange",
    "x-last-death-queue",
    "x-last-death-reason",
    ERROR_HEADER,
)


@dataclass(frozen=True)
class DeadLetter:
    """One dead-lettered message as an operator sees it."""

    message_id: str
    reason: str
    size_bytes: int
    preview: bytes


def inspect(settings: Settings, limit: int = 100) -> list[DeadLetter]:
    """Up to ``limit`` dead letters, oldest first; the queue is left as it was."""
    with _channel(settings) as channel:
        letters = []
        for _method, properties, body in _take(channel, settings, limit):
            letters.append(_describe(properties, body))
        # Closing the channel returns every unacked message to the queue.
        return letters


def replay(settings: Settings, limit: int | None = None) -> int:
    """Republish dead letters to the events exchange; return how many moved.

    Only the messages present when the replay starts are taken, so a message
    that dies again is not replayed in a loop.
    """
    topology = Topology.from_settings(settings)
    replayed = 0
    with _channel(settings) as channel:
        channel.confirm_delivery()
        waiting = _depth(channel, topology)
        count = waiting if limit is None else min(limit, waiting)
        for method, properties, body in _take(channel, settings, count):
            _republish(channel, topology, properties, body)
            channel.basic_ack(method.delivery_tag)
            replayed += 1
    log.info("Replayed %d dead letters", replayed)
    return replayed


def _take(channel: Any, settings: Settings, limit: int) -> Iterator[tuple[Any, ...]]:
    queue = settings.rabbitmq_dead_letter_queue
    for _ in range(limit):
        method, properties, body = channel.basic_get(queue, auto_ack=False)
        if method is None:
            return
        yield method, properties, body


def _depth(channel: Any, topology: Topology) -> int:
    frame = channel.queue_declare(topology.dead_letter_queue, passive=True)
    return int(frame.method.message_count)


def _republish(channel: Any, topology: Topology, properties: Any, body: bytes) -> None:
    headers = {
        name: value
        for name, value in (properties.headers or {}).items()
        if name not in _DEATH_HEADERS
    }
    headers[REPLAYS_HEADER] = int(headers.get(REPLAYS_HEADER, 0)) + 1
    properties.headers = headers
    properties.delivery_mode = pika.DeliveryMode.Persistent.value
    try:
        channel.basic_publish(
            topology.exchange, ROUTING_KEY, body, properties, mandatory=True
        )
    except (pika.exceptions.NackError, pika.exceptions.UnroutableError) as exc:
        raise PublishNotConfirmed(f"replay of {properties.message_id!r}") from exc


def _describe(properties: Any, body: bytes) -> DeadLetter:
    headers = properties.headers or {}
    reason = headers.get(ERROR_HEADER) or _death_reason(headers) or "unknown"
    if isinstance(reason, bytes):
        reason = reason.decode("utf-8", "replace")
    return DeadLetter(
        message_id=str(properties.message_id or ""),
        reason=str(reason),
        size_bytes=len(body),
        preview=body[:_PREVIEW_BYTES],
    )


def _death_reason(headers: dict[str, Any]) -> str | None:
    """RabbitMQ's own reason (e.g. delivery_limit) when the worker gave none."""
    reason = headers.get("x-first-death-reason")
    return str(reason) if reason else None


@contextlib.contextmanager
def _channel(settings: Settings) -> Iterator[Any]:
    """A blocking channel with the topology declared."""
    try:
        connection = pika.BlockingConnection(connection_parameters(settings))
    except pika.exceptions.AMQPError as exc:
        raise BrokerUnavailable(f"cannot connect: {exc!r}") from exc
    try:
        channel = connection.channel()
        declare(channel, Topology.from_settings(settings))
        yield channel
    finally:
        if connection.is_open:
            connection.close()
