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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ga4clone.settings import Settings

ROUTING_KEY = "events"
ERROR_HEADER = "x-ga4clone-error"


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

    def dead_letter_queue_arguments(self) -> dict[str, Any]:
        # A classic queue: dead letters are rare, read by people, and a lazy
        # classic queue keeps them on disk rather than in memory.
        return {"x-queue-mode": "lazy"}


def declarations(topology: Topology) -> list[tuple[str, dict[str, Any]]]:
    """The channel calls that declare the topology, in order: (method, kwargs).

    The same calls serve pika's blocking channel (the worker) and its asyncio
    channel (the API), which takes them with a ``callback`` added.
    """
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
        (
            "queue_declare",
            {
                "queue": topology.dead_letter_queue,
                "durable": True,
                "arguments": topology.dead_letter_queue_arguments(),
            },
        ),
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
    for method, kwargs in declarations(topology):
        getattr(channel, method)(**kwargs)
