"""The RabbitMQ objects ga4clone uses, and how to declare them.

Both the API and the worker declare the whole topology at start-up. Declaring
is idempotent as long as the arguments agree, so every argument lives here and
nowhere else: a mismatch would make RabbitMQ close the channel with
PRECONDITION_FAILED.

- ``exchange``: durable direct exchange the API publishes to.
- ``queue``: durable quorum queue bound to it; the worker consumes it. After
  ``delivery_limit`` deliveries a message is dead-lettered by RabbitMQ.
- ``dead_letter_exchange`` / ``dead_letter_queue``: where messages that can
  never be stored end up, with the reason in the ``x-ga4clone-error`` header.

The dead-letter queue is the one object declared only when it is missing: see
:meth:`Topology.dead_letter_queue_arguments` for why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pika.exceptions

from ga4clone.settings import Settings

ROUTING_KEY = "events"
ERROR_HEADER = "x-ga4clone-error"
# From 3.12 on every classic queue keeps its messages on disk, as lazy ones did;
# x-queue-mode is ignored from then on, and refused by 4.3.
LAZY_UNTIL = (3, 12)
# The reply code of a passive declare of a missing queue (AMQP 0-9-1).
NOT_FOUND = 404
_VERSION = re.compile(r"(\d+)\.(\d+)")


@dataclass(frozen=True)
class Topology:
    """Names and limits of the exchanges and queues."""

    exchange: str
    queue: str
    dead_letter_exchange: str
    dead_letter_queue: str
    delivery_limit: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Topology:
        return cls(
            exchange=settings.rabbitmq_exchange,
            queue=settings.rabbitmq_queue,
            dead_letter_exchange=settings.rabbitmq_dead_letter_exchange,
            dead_letter_queue=settings.rabbitmq_dead_letter_queue,
            delivery_limit=settings.rabbitmq_delivery_limit,
        )

    def queue_arguments(self) -> dict[str, Any]:
        return {
            "x-queue-type": "quorum",
            "x-dead-letter-exchange": self.dead_letter_exchange,
            "x-dead-letter-routing-key": ROUTING_KEY,
            "x-delivery-limit": self.delivery_limit,
        }

    def dead_letter_queue_arguments(self, broker: tuple[int, int]) -> dict[str, Any]:
        """Arguments of a new dead-letter queue on a broker of version ``broker``.

        A classic queue: dead letters are rare, read by people, and kept on
        disk rather than in memory, which before 3.12 took ``x-queue-mode``.

        RabbitMQ compares the arguments of a redeclared queue with the existing
        queue's, and the argument being absent counts as a difference: 3.10
        answers PRECONDITION_FAILED to a declare without ``x-queue-mode`` of a
        queue that has it. Dead-letter queues declared by earlier releases
        have it on every broker version, so an existing dead-letter queue is
        never redeclared (:func:`declarations`): it keeps its arguments, and
        these apply only to a new one.
        """
        return {"x-queue-mode": "lazy"} if broker < LAZY_UNTIL else {}


def broker_version(server_properties: dict[str, Any] | None) -> tuple[int, int]:
    """(major, minor) of the broker, from its connection.start properties.

    (0, 0), which counts as old, when the broker does not say.
    """
    version = (server_properties or {}).get("version", b"")
    if isinstance(version, bytes):
        version = version.decode("ascii", "replace")
    match = _VERSION.match(str(version))
    return (int(match[1]), int(match[2])) if match else (0, 0)


def declarations(
    topology: Topology,
    broker: tuple[int, int],
    *,
    dead_letter_queue_exists: bool,
) -> list[tuple[str, dict[str, Any]]]:
    """The channel calls that declare the topology, in order: (method, kwargs).

    The same calls serve pika's blocking channel (the worker) and its asyncio
    channel (the API), which takes them with a ``callback`` added. An existing
    dead-letter queue is only bound, not declared again.
    """
    dead_letter_queue = [
        (
            "queue_declare",
            {
                "queue": topology.dead_letter_queue,
                "durable": True,
                "arguments": topology.dead_letter_queue_arguments(broker),
            },
        )
    ]
    return [
        (
            "exchange_declare",
            {"exchange": topology.exchange, "exchange_type": "direct", "durable": True},
        ),
        (
            "exchange_declare",
            {
                "exchange": topology.dead_letter_exchange,
                "exchange_type": "direct",
                "durable": True,
            },
        ),
        *([] if dead_letter_queue_exists else dead_letter_queue),
        (
            "queue_bind",
            {
                "queue": topology.dead_letter_queue,
                "exchange": topology.dead_letter_exchange,
                "routing_key": ROUTING_KEY,
            },
        ),
        (
            "queue_declare",
            {
                "queue": topology.queue,
                "durable": True,
                "arguments": topology.queue_arguments(),
            },
        ),
        (
            "queue_bind",
            {
                "queue": topology.queue,
                "exchange": topology.exchange,
                "routing_key": ROUTING_KEY,
            },
        ),
    ]


def declare(channel: Any, topology: Topology) -> None:
    """Declare the topology on a blocking pika channel."""
    connection = channel.connection
    # pika keeps connection.start's properties on the connection that a
    # BlockingConnection wraps; it has no public accessor of its own.
    broker = broker_version(connection._impl.server_properties)
    exists = queue_exists(connection, topology.dead_letter_queue)
    calls = declarations(topology, broker, dead_letter_queue_exists=exists)
    for method, kwargs in calls:
        getattr(channel, method)(**kwargs)


def queue_exists(connection: Any, queue: str) -> bool:
    """Whether ``queue`` exists, asked on a channel of its own (404 closes it).

    pika logs the broker's 404 as a warning: once, before the queue is made.
    """
    probe = connection.channel()
    try:
        probe.queue_declare(queue, passive=True)
    except pika.exceptions.ChannelClosedByBroker as exc:
        if exc.reply_code == NOT_FOUND:
            return False
        raise
    probe.close()
    return True
