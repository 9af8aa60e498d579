"""Inspecting and replaying the dead-letter queue against a real RabbitMQ."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import uuid
from typing import Any

import pika
import pytest
from clickhouse_driver import Client

from ga4clone import dlq
from ga4clone.settings import Settings
from ga4clone.topology import ERROR_HEADER, ROUTING_KEY, Topology, declare
from tests.conftest import ROOT, daily_metric, stored_count, wait_for
from tests.test_e2e import environment
from tests.worker.test_consumer import RunningWorker, message, publish

pytestmark = pytest.mark.integration

# One line of `ga4clone dlq inspect`: the id, the size, then the reason and
# the body's preview, both as Python literals.
_INSPECTED = re.compile(
    r"^(?P<id>\S+)\s+\d+ B  (?P<reason>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")  b"
)


def inspected_reasons(listing: str) -> dict[str, str]:
    """Message id -> reason, from the output of ``ga4clone dlq inspect``."""
    reasons = {}
    for line in listing.splitlines():
        match = _INSPECTED.match(line)
        if match:
            reasons[match["id"]] = ast.literal_eval(match["reason"])
    return reasons


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


def test_refused_message_is_stored_once_after_the_cause_is_fixed_and_replayed(
    settings: Settings, amqp: Any, clickhouse: Client, postgres: Any
) -> None:
    # Given PostgreSQL refuses one event name for good (a constraint) ...
    fast = settings.model_copy(update={"worker_flush_interval_ms": 100})
    project, blocked_id = uuid.uuid4(), str(uuid.uuid4())
    declare(amqp, Topology.from_settings(fast))
    amqp.confirm_delivery()
    with postgres.cursor() as cur:
        cur.execute(
            # Scoped to this test's project: other tests' rows must not
            # violate it when it is added.
            "ALTER TABLE daily_metrics ADD CONSTRAINT refuse_blocked "
            "CHECK (project_id <> %s OR metric_name <> 'event:blocked')",
            (str(project),),
        )
    try:
        with RunningWorker(fast):
            publish(amqp, fast, message(project, 2), str(uuid.uuid4()))
            publish(amqp, fast, message(project, 3, eventName="blocked"), blocked_id)
            # ... the good message is counted and the refused one dead-lettered.
            wait_for(lambda: len(dlq.inspect(fast)) == 1)
        [letter] = dlq.inspect(fast)
        assert letter.message_id == blocked_id
        assert "PostgreSQL refused the data" in letter.reason
        assert daily_metric(postgres, project, "events") == 2
    finally:
        with postgres.cursor() as cur:
            cur.execute(
                "ALTER TABLE daily_metrics DROP CONSTRAINT IF EXISTS refuse_blocked"
            )

    # When the cause is fixed and the dead letter replayed,
    assert dlq.replay(fast) == 1
    with RunningWorker(fast):
        wait_for(lambda: daily_metric(postgres, project, "events") == 5)

    # then it is counted exactly once, and ClickHouse, which took its rows
    # before PostgreSQL refused them (see Consumer._store), holds them once.
    assert daily_metric(postgres, project, "event:blocked") == 3
    assert stored_count(clickhouse, project) == 5
    assert dlq.inspect(fast) == []


def test_inspect_command_shows_why_the_worker_dead_lettered_a_message(
    settings: Settings, amqp: Any
) -> None:
    # Given a message whose events are not a list, dead-lettered by a worker,
    fast = settings.model_copy(update={"worker_flush_interval_ms": 100})
    declare(amqp, Topology.from_settings(fast))
    body = b'{"events": "not a list"}'
    with RunningWorker(fast):
        publish(amqp, fast, body, "poison-1")
        wait_for(lambda: len(dlq.inspect(fast)) == 1)

    # when an operator lists the dead letters,
    listing = subprocess.run(
        [sys.executable, "-m", "ga4clone", "dlq", "inspect"],
        env=environment(fast, 8080),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    # then the reason column names what is wrong, apart from the body.
    assert inspected_reasons(listing) == {
        "poison-1": "undecodable message: receivedAt: Field required; "
        "events: Input should be a valid array"
    }
    assert 'b\'{"events": "not a list"}\'' in listing
