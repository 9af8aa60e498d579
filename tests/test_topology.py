"""The RabbitMQ objects ga4clone declares, as the real broker lists them.

The broker's own view comes from ``rabbitmqctl`` on this machine; where the
broker runs elsewhere (a container in GitHub's CI) those tests skip.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pika
import pika.exceptions
import pytest

from ga4clone.api.publisher import Publisher
from ga4clone.settings import Settings
from ga4clone.topology import (
    LAZY_UNTIL,
    ROUTING_KEY,
    Topology,
    broker_version,
    declarations,
    declare,
    queue_exists,
)

pytestmark = pytest.mark.integration

LAZY = {"x-queue-mode": "lazy"}


def rabbitmqctl(*args: str) -> str:
    """Run rabbitmqctl against this machine's broker; skip when it has none."""
    if shutil.which("rabbitmqctl") is None:
        pytest.skip("rabbitmqctl is not on PATH: the broker runs elsewhere")
    return subprocess.run(
        ["rabbitmqctl", *args], capture_output=True, text=True, check=True, timeout=60
    ).stdout


def listed(kind: str, *columns: str) -> list[dict[str, Any]]:
    """``rabbitmqctl list_<kind>`` of the default virtual host, as dicts."""
    output = rabbitmqctl(f"list_{kind}", *columns, "-q", "--formatter", "json")
    rows: list[dict[str, Any]] = json.loads(output)
    return rows


def queues(settings: Settings) -> dict[str, dict[str, Any]]:
    """The test's two queues by name: type, durable and arguments (a dict)."""
    names = {settings.rabbitmq_queue, settings.rabbitmq_dead_letter_queue}
    return {
        row["name"]: {**row, "arguments": _arguments(row["arguments"])}
        for row in listed("queues", "name", "type", "durable", "arguments")
        if row["name"] in names
    }


def _arguments(raw: Any) -> dict[str, Any]:
    # 3.x lists [name, type, value] triples, 4.x an object.
    if isinstance(raw, dict):
        return raw
    return {name: value for name, _type, value in raw}


def broker(channel: Any) -> tuple[int, int]:
    """The version of the broker behind a blocking channel."""
    return broker_version(channel.connection._impl.server_properties)


@pytest.fixture
def declared(settings: Settings, amqp: Any) -> Settings:
    """The test's own topology, declared as the worker declares it."""
    declare(amqp, Topology.from_settings(settings))
    return settings


def test_events_queue_is_a_durable_quorum_queue_that_dead_letters(
    declared: Settings,
) -> None:
    events = queues(declared)[declared.rabbitmq_queue]

    assert (events["type"], events["durable"]) == ("quorum", True)
    assert events["arguments"] == {
        "x-queue-type": "quorum",
        "x-dead-letter-exchange": declared.rabbitmq_dead_letter_exchange,
        "x-dead-letter-routing-key": ROUTING_KEY,
        "x-delivery-limit": declared.rabbitmq_delivery_limit,
    }


def test_dead_letter_queue_is_durable_and_classic_and_lazy_only_before_3_12(
    declared: Settings, amqp: Any
) -> None:
    dead = queues(declared)[declared.rabbitmq_dead_letter_queue]

    assert (dead["type"], dead["durable"]) == ("classic", True)
    assert dead["arguments"] == (LAZY if broker(amqp) < LAZY_UNTIL else {})


def test_exchanges_are_durable_and_direct_and_bound_by_the_routing_key(
    declared: Settings,
) -> None:
    names = {declared.rabbitmq_exchange, declared.rabbitmq_dead_letter_exchange}
    exchanges = [
        (row["name"], row["type"], row["durable"])
        for row in listed("exchanges", "name", "type", "durable")
        if row["name"] in names
    ]
    bindings = [
        (row["source_name"], row["destination_name"], row["routing_key"])
        for row in listed("bindings", "source_name", "destination_name", "routing_key")
        if row["source_name"] in names
    ]

    assert sorted(exchanges) == sorted((name, "direct", True) for name in names)
    assert sorted(bindings) == sorted(
        [
            (declared.rabbitmq_exchange, declared.rabbitmq_queue, ROUTING_KEY),
            (
                declared.rabbitmq_dead_letter_exchange,
                declared.rabbitmq_dead_letter_queue,
                ROUTING_KEY,
            ),
        ]
    )


def test_declaring_again_changes_nothing(declared: Settings, amqp: Any) -> None:
    before = queues(declared)

    declare(amqp, Topology.from_settings(declared))

    assert queues(declared) == before


def test_x_queue_mode_is_asked_for_only_before_3_12() -> None:
    topology = Topology("e", "q", "dlx", "dlq", 20)

    assert topology.dead_letter_queue_arguments((3, 10)) == LAZY
    assert topology.dead_letter_queue_arguments((3, 11)) == LAZY
    assert topology.dead_letter_queue_arguments((3, 12)) == {}
    assert topology.dead_letter_queue_arguments((4, 3)) == {}


@pytest.mark.parametrize(
    ("properties", "version"),
    [
        ({"version": b"3.10.8"}, (3, 10)),
        ({"version": "4.3.0-rc.1"}, (4, 3)),
        ({"version": "unknown"}, (0, 0)),
        ({}, (0, 0)),
        (None, (0, 0)),
    ],
)
def test_broker_version_is_read_from_the_server_properties(
    properties: dict[str, Any] | None, version: tuple[int, int]
) -> None:
    assert broker_version(properties) == version


def test_this_broker_refuses_a_redeclare_that_leaves_x_queue_mode_out(
    settings: Settings, amqp: Any
) -> None:
    # Why an existing dead-letter queue is never declared again: its
    # x-queue-mode would have to be repeated, on a broker that may refuse it.
    if broker(amqp) >= LAZY_UNTIL:
        pytest.skip("documents brokers that still read x-queue-mode (before 3.12)")
    queue = settings.rabbitmq_dead_letter_queue
    amqp.queue_declare(queue, durable=True, arguments=LAZY)

    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as refused:
        amqp.queue_declare(queue, durable=True)

    assert refused.value.reply_code == 406
    assert "x-queue-mode" in refused.value.reply_text


def test_an_existing_lazy_dead_letter_queue_survives_a_declare_for_a_newer_broker(
    settings: Settings, amqp: Any
) -> None:
    # Given a dead-letter queue an earlier release declared with x-queue-mode,
    topology = Topology.from_settings(settings)
    amqp.queue_declare(topology.dead_letter_queue, durable=True, arguments=LAZY)
    exists = queue_exists(amqp.connection, topology.dead_letter_queue)

    # when the topology is declared as for a 4.x broker, which leaves it out,
    calls = declarations(topology, (4, 2), dead_letter_queue_exists=exists)
    for method, kwargs in calls:
        getattr(amqp, method)(**kwargs)

    # then nothing is refused and the queue keeps what it had.
    assert exists
    assert queues(settings)[topology.dead_letter_queue]["arguments"] == LAZY


def test_a_new_dead_letter_queue_on_a_newer_broker_has_no_x_queue_mode(
    settings: Settings, amqp: Any
) -> None:
    topology = Topology.from_settings(settings)
    exists = queue_exists(amqp.connection, topology.dead_letter_queue)

    for method, kwargs in declarations(
        topology, (4, 2), dead_letter_queue_exists=exists
    ):
        getattr(amqp, method)(**kwargs)

    assert not exists
    assert queues(settings)[topology.dead_letter_queue]["arguments"] == {}


@pytest.fixture
async def publisher(
    settings: Settings,
) -> AsyncIterator[Callable[[], Awaitable[Publisher]]]:
    """Start a Publisher (the API's asyncio path) and close it afterwards."""
    started: list[Publisher] = []

    async def start() -> Publisher:
        publisher = Publisher(settings)
        started.append(publisher)
        await publisher.start()
        return publisher

    yield start
    for publisher in started:
        await publisher.close()


async def test_the_api_declares_the_same_topology_and_again_when_it_exists(
    settings: Settings,
    amqp: Any,
    publisher: Callable[[], Awaitable[Publisher]],
) -> None:
    first = await publisher()
    declared_first = queues(settings)

    second = await publisher()

    assert first.ready and second.ready
    assert queues(settings) == declared_first
    assert declared_first[settings.rabbitmq_queue]["type"] == "quorum"
    dead = declared_first[settings.rabbitmq_dead_letter_queue]
    assert dead["arguments"] == (LAZY if broker(amqp) < LAZY_UNTIL else {})
