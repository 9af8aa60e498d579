"""The ingest API against a real RabbitMQ: status codes, bodies, published messages."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import falcon.testing
import orjson
import pika
import psutil
import pytest

from ga4clone.api.app import create_app
from ga4clone.settings import Settings
from ga4clone.topology import ROUTING_KEY, Topology, declare
from tests.conftest import make_event
from tests.test_topology import rabbitmqctl

pytestmark = pytest.mark.integration


@pytest.fixture
def key(project: Any) -> dict[str, str]:
    """The headers carrying the test project's write key."""
    return {"X-Api-Key": project.write_key}


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[falcon.testing.ASGIConductor]:
    async with falcon.testing.ASGIConductor(create_app(settings)) as conductor:
        yield conductor


def queued(amqp: Any, settings: Settings) -> list[tuple[Any, dict[str, Any]]]:
    """Every message waiting in the test's queue, as (properties, body)."""
    messages = []
    while True:
        method, properties, body = amqp.basic_get(
            settings.rabbitmq_queue, auto_ack=True
        )
        if method is None:
            return messages
        messages.append((properties, orjson.loads(body)))


async def test_single_event_is_confirmed_and_queued_with_server_fields(
    client: falcon.testing.ASGIConductor,
    amqp: Any,
    settings: Settings,
    project: Any,
    key: dict[str, str],
) -> None:
    result = await client.simulate_post(
        "/events",
        json=make_event(project.id),
        headers={**key, "User-Agent": "Mozilla/5.0 test"},
    )

    assert result.status_code == 202
    assert result.json["accepted"] == 1
    [(properties, body)] = queued(amqp, settings)
    assert properties.delivery_mode == 2
    assert properties.content_type == "application/json"
    assert properties.message_id
    assert body["userAgent"] == "Mozilla/5.0 test"
    assert body["events"][0]["eventId"] == result.json["eventIds"][0]
    assert body["receivedAt"] > 0


async def test_batch_travels_as_one_message_and_keeps_given_event_ids(
    client: falcon.testing.ASGIConductor,
    amqp: Any,
    settings: Settings,
    project: Any,
    key: dict[str, str],
) -> None:
    given = str(uuid.uuid4())
    events = [make_event(project.id, eventId=given), make_event(project.id)]

    result = await client.simulate_post("/events/batch", json=events, headers=key)

    assert result.status_code == 202
    assert result.json["accepted"] == 2
    assert result.json["eventIds"][0] == given
    [(_properties, body)] = queued(amqp, settings)
    assert [e["eventId"] for e in body["events"]] == result.json["eventIds"]


@pytest.mark.parametrize("route", ["/collect", "/collect/batch"])
async def test_collect_routes_are_aliases(
    client: falcon.testing.ASGIConductor, route: str, project: Any, key: dict[str, str]
) -> None:
    body: Any = make_event(project.id)
    if route.endswith("batch"):
        body = [body]

    result = await client.simulate_post(route, json=body, headers=key)

    assert result.status_code == 202


async def test_text_plain_bodies_are_read_as_json(
    client: falcon.testing.ASGIConductor, project: Any, key: dict[str, str]
) -> None:
    result = await client.simulate_post(
        "/events",
        body=json.dumps(make_event(project.id)),
        headers={**key, "Content-Type": "text/plain;charset=UTF-8"},
    )

    assert result.status_code == 202


async def test_invalid_batch_lists_every_problem_and_queues_nothing(
    client: falcon.testing.ASGIConductor,
    amqp: Any,
    settings: Settings,
    project: Any,
    key: dict[str, str],
) -> None:
    events = [make_event(project.id) for _ in range(4)]
    events[3]["params"] = {"price": [1]}
    events[1]["eventName"] = "bad name"

    result = await client.simulate_post("/events/batch", json=events, headers=key)

    assert result.status_code == 400
    assert [p["path"] for p in result.json["errors"]] == [
        "[1].eventName",
        "[3].params.price",
    ]
    assert queued(amqp, settings) == []


async def test_repeated_event_id_in_a_batch_is_refused(
    client: falcon.testing.ASGIConductor, project: Any, key: dict[str, str]
) -> None:
    same = str(uuid.uuid4())
    events = [
        make_event(project.id, eventId=same),
        make_event(project.id, eventId=same),
    ]

    result = await client.simulate_post("/events/batch", json=events, headers=key)

    assert result.status_code == 400
    assert result.json["errors"] == [
        {"path": "[1].eventId", "message": "eventId repeats in batch"}
    ]


@pytest.mark.parametrize(
    ("body", "path"),
    [(b"{not json", ""), (b"\xff\xfe", ""), (b"[]", ""), (b"{}", "")],
)
async def test_malformed_batches_get_400(
    client: falcon.testing.ASGIConductor,
    body: bytes,
    path: str,
    project: Any,
    key: dict[str, str],
) -> None:
    result = await client.simulate_post(
        "/events/batch", body=body, headers={**key, "Content-Type": "application/json"}
    )

    assert result.status_code == 400
    assert result.json["errors"][0]["path"] == path


async def test_batch_larger_than_the_limit_is_refused(
    settings: Settings, project: Any, key: dict[str, str]
) -> None:
    small = settings.model_copy(update={"max_batch_events": 2})
    async with falcon.testing.ASGIConductor(create_app(small)) as client:
        result = await client.simulate_post(
            "/events/batch",
            json=[make_event(project.id) for _ in range(3)],
            headers=key,
        )

    assert result.status_code == 400
    assert result.json["errors"][0]["path"] == ""


async def test_body_over_the_limit_gets_413(
    settings: Settings, project: Any, key: dict[str, str]
) -> None:
    small = settings.model_copy(update={"max_body_bytes": 1024})
    padded = make_event(project.id, padding="x" * 2000)
    async with falcon.testing.ASGIConductor(create_app(small)) as client:
        result = await client.simulate_post("/events", json=padded, headers=key)

    assert result.status_code == 413


async def test_other_content_types_get_415(
    client: falcon.testing.ASGIConductor, project: Any, key: dict[str, str]
) -> None:
    result = await client.simulate_post(
        "/events",
        body="a=b",
        headers={**key, "Content-Type": "application/x-www-form-urlencoded"},
    )

    assert result.status_code == 415


async def test_health_and_ready_answer_200_with_a_broker(
    client: falcon.testing.ASGIConductor, project: Any, key: dict[str, str]
) -> None:
    assert (await client.simulate_get("/health")).status_code == 200
    assert (await client.simulate_get("/ready")).status_code == 200


async def test_unreachable_broker_gives_503_with_retry_after(
    settings: Settings, project: Any, key: dict[str, str]
) -> None:
    nowhere = settings.model_copy(update={"rabbitmq_port": 1})
    app = create_app(nowhere)
    async with falcon.testing.ASGIConductor(app) as client:
        event = await client.simulate_post(
            "/events", json=make_event(project.id), headers=key
        )
        ready = await client.simulate_get("/ready")
        health = await client.simulate_get("/health")

    assert event.status_code == 503
    assert event.headers["Retry-After"] == str(settings.retry_after_seconds)
    assert ready.status_code == 503
    assert health.status_code == 200


async def test_unroutable_message_is_not_acknowledged(
    settings: Settings, amqp: Any, project: Any, key: dict[str, str]
) -> None:
    # Given a queue that lost its binding, the broker returns the message.
    async with falcon.testing.ASGIConductor(create_app(settings)) as client:
        amqp.queue_unbind(settings.rabbitmq_queue, settings.rabbitmq_exchange, "events")
        result = await client.simulate_post(
            "/events", json=make_event(project.id), headers=key
        )

    assert result.status_code == 503


async def test_forwarded_for_is_believed_only_from_trusted_proxies(
    settings: Settings, amqp: Any, project: Any, key: dict[str, str]
) -> None:
    trusting = settings.model_copy(
        update={
            "trusted_proxies": Settings(trusted_proxies="127.0.0.0/8").trusted_proxies,
            "client_ip_mode": "keep",
        }
    )
    headers = {**key, "X-Forwarded-For": "203.0.113.9"}
    async with falcon.testing.ASGIConductor(create_app(trusting)) as client:
        await client.simulate_post(
            "/events",
            json=make_event(project.id),
            headers=headers,
            remote_addr="127.0.0.1",
        )
        await client.simulate_post(
            "/events",
            json=make_event(project.id),
            headers=headers,
            remote_addr="192.0.2.1",
        )

    ips = [body["clientIp"] for _props, body in queued(amqp, settings)]
    assert ips == ["203.0.113.9", "192.0.2.1"]


@pytest.fixture
def refusing_queue(settings: Settings, amqp: Any) -> Iterator[None]:
    """The test's queue past a length limit that makes RabbitMQ nack publishes.

    A policy, so that the queue's declared arguments stay what the API declares.
    A quorum queue takes one message past its limit before it refuses, so one
    is published first (message id ``first``); it is the only one queued.
    """
    declare(amqp, Topology.from_settings(settings))
    policy = f"ga4clone-test-refuse-{settings.rabbitmq_queue}"
    pattern = f"^{re.escape(settings.rabbitmq_queue)}$"
    limit = '{"max-length": 0, "overflow": "reject-publish"}'
    rabbitmqctl("set_policy", "--apply-to", "queues", policy, pattern, limit)
    try:
        amqp.confirm_delivery()
        amqp.basic_publish(
            settings.rabbitmq_exchange,
            ROUTING_KEY,
            b"{}",
            pika.BasicProperties(message_id="first", delivery_mode=2),
        )
        yield
    finally:
        rabbitmqctl("clear_policy", policy)


async def test_nacked_message_gets_503_with_retry_after_and_is_not_queued(
    settings: Settings,
    amqp: Any,
    refusing_queue: None,
    project: Any,
    key: dict[str, str],
) -> None:
    async with falcon.testing.ASGIConductor(create_app(settings)) as client:
        result = await client.simulate_post(
            "/events", json=make_event(project.id), headers=key
        )

    assert result.status_code == 503
    assert result.headers["Retry-After"] == str(settings.retry_after_seconds)
    assert [props.message_id for props, _body in queued(amqp, settings)] == ["first"]


def _broker_ports() -> set[int]:
    """Local ports of this process's sockets connected to RabbitMQ."""
    connections = psutil.Process().net_connections(kind="tcp")
    return {c.laddr.port for c in connections if c.raddr and c.raddr.port == 5672}


def _suspend_reader(port: int) -> str:
    """Suspend the broker's process reading the connection from ``port``.

    RabbitMQ then reads nothing more from that one connection, so a publish on
    it is never confirmed; every other connection is served as before.
    Returns the process id, for :func:`_kill_reader`.
    """
    output = rabbitmqctl(
        "eval",
        "[begin sys:suspend(P), pid_to_list(P) end"
        " || P <- rabbit_networking:connections(),"
        f" rabbit_reader:info(P, [peer_port]) =:= [{{peer_port, {port}}}]].",
    )
    [pid] = re.findall(r"<\d+\.\d+\.\d+>", output)
    return pid


def _kill_reader(pid: str) -> None:
    """End a suspended connection; what it had not read yet is dropped."""
    rabbitmqctl("eval", f'exit(list_to_pid("{pid}"), kill).')


async def _reconnected(client: falcon.testing.ASGIConductor, known: set[int]) -> None:
    """Wait until the API is ready on a connection other than the ``known``."""
    # On the app's own loop, where the publisher reconnects meanwhile.
    for _ in range(200):
        new = _broker_ports() - known
        if new and (await client.simulate_get("/ready")).status_code == 200:
            return
        await asyncio.sleep(0.05)
    pytest.fail("the API did not reconnect to RabbitMQ within 10 s")


async def test_unconfirmed_message_gets_503_and_its_retry_is_accepted(
    settings: Settings, amqp: Any, project: Any, key: dict[str, str]
) -> None:
    quick = settings.model_copy(update={"publish_confirm_timeout_ms": 300})
    event = make_event(project.id, eventId=str(uuid.uuid4()))
    before = _broker_ports()
    async with falcon.testing.ASGIConductor(create_app(quick)) as client:
        # Given a broker that stops reading the API's connection (and only it),
        [port] = _broker_ports() - before
        reader = _suspend_reader(port)
        try:
            # when an event is posted, no confirm comes in time: 503.
            refused = await client.simulate_post("/events", json=event, headers=key)
        finally:
            _kill_reader(reader)
        # The connection is gone with what it carried; nothing was queued.
        nothing = queued(amqp, quick)
        # Then the SDK's retry of the same event is confirmed once reconnected.
        await _reconnected(client, before | {port})
        retried = await client.simulate_post("/events", json=event, headers=key)

    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == str(quick.retry_after_seconds)
    assert nothing == []
    assert retried.status_code == 202
    [(_props, body)] = queued(amqp, quick)
    assert [e["eventId"] for e in body["events"]] == [event["eventId"]]
