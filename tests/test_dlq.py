"""Inspecting and replaying the dead-letter queue against a real RabbitMQ."""

from __future__ import annotations

from typing import Any

import pika
import pytest

from ga4clone import dlq
from ga4clone.settings import Settings
from ga4clone.topology import ERROR_HEADER, ROUTING_KEY, Topology, declare

pytestmark = pytest.mark.integration


def dead_letter(amqp: Any, settings: Settings, message_id: str, reason: str) -> None:
    """Put a message into the dead-letter queue as the worker would."""
    declare(amqp, Topology.from_settings(settings))
    amqp.basic_publish(
        settings.rabbitmq_dead_letter_exchange,
        ROUTING_KEY,
        b'{"events": "not a list"}',
        pika.BasicProperties(message_id=message_id, headers={ERROR_HEADER: reason}),
    )


def test_inspect_shows_dead_letters_and_leaves_them_queued(
    settings: Settings, amqp: Any
) -> None:
    dead_letter(amqp, settings, "m-1", "events: Input should be a valid list")
    dead_letter(amqp, settings, "m-2", "ClickHouse refused the row")

    first = dlq.inspect(settings)
    second = dlq.inspect(settings)

    assert [(d.message_id, d.reason) for d in first] == [
        ("m-1", "events: Input should be a valid list"),
        ("m-2", "ClickHouse refused the row"),
    ]
    assert first[0].size_bytes == 24
    assert first[0].preview.startswith(b'{"events"')
    assert second == first


def test_replay_moves_dead_letters_back_without_their_reason(
    settings: Settings, amqp: Any
) -> None:
    dead_letter(amqp, settings, "m-1", "broken")
    dead_letter(amqp, settings, "m-2", "broken")

    replayed = dlq.replay(settings)

    assert replayed == 2
    assert dlq.inspect(settings) == []
    method, properties, body = amqp.basic_get(settings.rabbitmq_queue, auto_ack=True)
    assert method is not None
    assert properties.message_id == "m-1"
    assert ERROR_HEADER not in properties.headers
    assert properties.headers[dlq.REPLAYS_HEADER] == 1
    assert body == b'{"events": "not a list"}'
