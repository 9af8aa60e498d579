"""The ingest API against a real RabbitMQ: status codes, bodies, published messages."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import falcon.testing
import orjson
import pytest

from ga4clone.api.app import create_app
from ga4clone.settings import Settings
from tests.conftest import make_event

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
