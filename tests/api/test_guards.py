"""What a write request must pass before it is queued: key, project, origin, limits."""

from __future__ import annotations

import gzip
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import falcon.testing
import pytest

from ga4clone.api.app import create_app
from ga4clone.api.blocking import Offload
from ga4clone.api.ratelimit import RateLimiter
from ga4clone.projects import ProjectStore
from ga4clone.settings import Settings
from tests.api.test_app import queued
from tests.conftest import create_project, make_event

pytestmark = pytest.mark.integration

ORIGIN = "https://shop.example"


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[falcon.testing.ASGIConductor]:
    async with falcon.testing.ASGIConductor(create_app(settings)) as conductor:
        yield conductor


@pytest.fixture
def store(settings: Settings) -> Any:
    store = ProjectStore(settings.postgres_dsn, max_connections=1)
    yield store
    store.close()


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Api-Key": "ga4w_not-a-real-key"}],
    ids=["missing", "unknown"],
)
async def test_requests_without_a_valid_key_get_401_and_queue_nothing(
    client: falcon.testing.ASGIConductor,
    project: Any,
    headers: dict[str, str],
    amqp: Any,
    settings: Settings,
) -> None:
    result = await client.simulate_post(
        "/events", json=make_event(project.id), headers=headers
    )

    assert result.status_code == 401
    assert queued(amqp, settings) == []


async def test_the_key_may_come_as_a_query_parameter_for_send_beacon(
    client: falcon.testing.ASGIConductor, project: Any
) -> None:
    result = await client.simulate_post(
        "/collect",
        body=orjson_bytes(make_event(project.id)),
        params={"api_key": project.write_key},
        headers={"Content-Type": "text/plain;charset=UTF-8"},
    )

    assert result.status_code == 202


async def test_the_secret_key_is_accepted_too(
    client: falcon.testing.ASGIConductor, project: Any
) -> None:
    result = await client.simulate_post(
        "/events",
        json=make_event(project.id),
        headers={"X-Api-Key": project.secret_key},
    )

    assert result.status_code == 202


async def test_a_key_of_another_project_gets_403_and_queues_nothing(
    client: falcon.testing.ASGIConductor,
    project: Any,
    amqp: Any,
    settings: Settings,
) -> None:
    other = create_project(settings)
    events = [make_event(project.id), make_event(other.id)]

    result = await client.simulate_post(
        "/events/batch", json=events, headers={"X-Api-Key": project.write_key}
    )

    assert result.status_code == 403
    assert result.json["errors"] == [
        {"path": "[1].projectId", "message": "not the key's project"}
    ]
    assert queued(amqp, settings) == []


async def test_disabled_project_and_rotated_key_are_refused_after_the_cache_ttl(
    settings: Settings, project: Any, store: ProjectStore
) -> None:
    # Given a cache that forgets at once
    uncached = settings.model_copy(update={"key_cache_ttl_s": 0})
    old_key = project.write_key
    async with falcon.testing.ASGIConductor(create_app(uncached)) as client:
        # When the key is rotated
        new_key = store.rotate_key(project.id, "write")
        old = await client.simulate_post(
            "/events", json=make_event(project.id), headers={"X-Api-Key": old_key}
        )
        new = await client.simulate_post(
            "/events", json=make_event(project.id), headers={"X-Api-Key": new_key}
        )
        # And then the project is disabled
        store.disable(project.id)
        disabled = await client.simulate_post(
            "/events", json=make_event(project.id), headers={"X-Api-Key": new_key}
        )

    assert [old.status_code, new.status_code, disabled.status_code] == [401, 202, 401]


async def test_preflight_echoes_an_allowed_origin(
    client: falcon.testing.ASGIConductor, settings: Settings
) -> None:
    create_project(settings, ORIGIN)

    allowed = await client.simulate_options(
        "/events/batch",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    other = await client.simulate_options(
        "/events", headers={"Origin": "https://evil.example"}
    )

    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert allowed.headers["Access-Control-Allow-Methods"] == "POST"
    assert "x-api-key" in allowed.headers["Access-Control-Allow-Headers"]
    assert int(allowed.headers["Access-Control-Max-Age"]) > 0
    assert "Access-Control-Allow-Origin" not in other.headers


async def test_post_from_an_origin_the_project_does_not_list_gets_403(
    client: falcon.testing.ASGIConductor, settings: Settings, amqp: Any
) -> None:
    shop = create_project(settings, ORIGIN)
    key = {"X-Api-Key": shop.write_key}

    allowed = await client.simulate_post(
        "/events", json=make_event(shop.id), headers={**key, "Origin": ORIGIN}
    )
    other = await client.simulate_post(
        "/events", json=make_event(shop.id), headers={**key, "Origin": "https://x.io"}
    )

    assert allowed.status_code == 202
    assert allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert other.status_code == 403
    assert "Access-Control-Allow-Origin" not in other.headers
    assert len(queued(amqp, settings)) == 1


async def test_a_project_without_origins_takes_posts_from_any_origin(
    client: falcon.testing.ASGIConductor, project: Any
) -> None:
    result = await client.simulate_post(
        "/events",
        json=make_event(project.id),
        headers={"X-Api-Key": project.write_key, "Origin": "https://x.io"},
    )

    assert result.status_code == 202
    assert "Access-Control-Allow-Origin" not in result.headers


async def test_events_over_the_rate_limit_get_429_with_retry_after(
    settings: Settings, project: Any, amqp: Any
) -> None:
    # Given a bucket of 30 events refilled at 1 event per second
    tight = settings.model_copy(
        update={
            "rate_limit_events_per_second": 1,
            "rate_limit_burst": 30,
            "rate_limit_lease_events": 10,
        }
    )
    batch = [make_event(project.id) for _ in range(20)]
    key = {"X-Api-Key": project.write_key}
    async with falcon.testing.ASGIConductor(create_app(tight)) as client:
        first = await client.simulate_post("/events/batch", json=batch, headers=key)
        second = await client.simulate_post(
            "/events/batch",
            json=[make_event(project.id) for _ in range(20)],
            headers=key,
        )

    assert first.status_code == 202
    assert second.status_code == 429
    assert int(second.headers["Retry-After"]) >= 1
    assert len(queued(amqp, settings)) == 1


async def test_two_replicas_share_one_bucket(settings: Settings, project: Any) -> None:
    # Given two replicas' limiters on one bucket of 1,000 events, refilled so
    # slowly (0.5 events/s) that the test cannot earn a request's worth,
    shared = settings.model_copy(
        update={
            "rate_limit_events_per_second": 0.5,
            "rate_limit_burst": 1000,
            "rate_limit_lease_events": 100,
        }
    )
    stores = [ProjectStore(shared.postgres_dsn, max_connections=1) for _ in "ab"]
    replicas = [RateLimiter(shared, store, Offload(1)) for store in stores]
    admitted, refused = 0, [False, False]
    try:
        # when both admit requests of 10 events in turn until both refuse,
        for turn in range(400):
            index = turn % 2
            if await replicas[index].admit(project.id, 10) is None:
                admitted += 10
            else:
                refused[index] = True
            if all(refused):
                break
    finally:
        for store in stores:
            store.close()

    # then together they admitted the bucket, no more and no less.
    assert all(refused)
    assert admitted == 1000


async def test_gzip_bodies_are_accepted(
    client: falcon.testing.ASGIConductor, project: Any
) -> None:
    body = gzip.compress(orjson_bytes([make_event(project.id) for _ in range(3)]))

    result = await client.simulate_post(
        "/events/batch",
        body=body,
        headers={
            "X-Api-Key": project.write_key,
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
    )

    assert result.status_code == 202
    assert result.json["accepted"] == 3


async def test_a_gzip_bomb_gets_413(
    client: falcon.testing.ASGIConductor, project: Any, settings: Settings, amqp: Any
) -> None:
    bomb = gzip.compress(b" " * (50 * settings.max_body_bytes))

    result = await client.simulate_post(
        "/events",
        body=bomb,
        headers={
            "X-Api-Key": project.write_key,
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        },
    )

    assert len(bomb) < settings.max_body_bytes
    assert result.status_code == 413
    assert queued(amqp, settings) == []


async def test_other_content_encodings_get_415(
    client: falcon.testing.ASGIConductor, project: Any, settings: Settings, amqp: Any
) -> None:
    result = await client.simulate_post(
        "/events",
        json=make_event(project.id),
        headers={"X-Api-Key": project.write_key, "Content-Encoding": "br"},
    )

    assert result.status_code == 415
    assert queued(amqp, settings) == []


async def test_deep_nesting_gets_400_before_validation(
    client: falcon.testing.ASGIConductor, project: Any, settings: Settings
) -> None:
    depth = settings.max_json_depth + 1
    event = make_event(project.id, extra="[" * depth + "]" * depth)
    body = orjson_bytes(event).replace(b'"' + b"[" * depth, b"[" * depth, 1)
    body = body.replace(b"]" * depth + b'"', b"]" * depth, 1)

    result = await client.simulate_post(
        "/events",
        body=body,
        headers={"X-Api-Key": project.write_key, "Content-Type": "application/json"},
    )

    assert result.status_code == 400
    assert "nests deeper" in result.json["error"]


@pytest.mark.parametrize(
    ("mode", "peer", "expected"),
    [
        ("anonymize", "203.0.113.9", "203.0.113.0"),
        ("anonymize", "2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::"),
        ("keep", "203.0.113.9", "203.0.113.9"),
        ("keep", "2001:db8::7348", "2001:db8::7348"),
        ("drop", "203.0.113.9", ""),
        ("drop", "2001:db8::7348", ""),
    ],
)
async def test_client_ip_is_anonymized_by_default(
    settings: Settings,
    project: Any,
    amqp: Any,
    mode: str,
    peer: str,
    expected: str,
) -> None:
    configured = settings.model_copy(update={"client_ip_mode": mode})
    async with falcon.testing.ASGIConductor(create_app(configured)) as client:
        await client.simulate_post(
            "/events",
            json=make_event(project.id),
            headers={"X-Api-Key": project.write_key},
            remote_addr=peer,
        )

    [(_properties, body)] = queued(amqp, settings)
    assert body["clientIp"] == expected


async def test_logs_hold_neither_keys_nor_payload_values(
    settings: Settings, project: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a broker that fails, so the API logs a warning about the request
    marker = f"secret-payload-{uuid.uuid4().hex}"
    nowhere = settings.model_copy(update={"rabbitmq_port": 1})
    caplog.set_level(logging.DEBUG)
    async with falcon.testing.ASGIConductor(create_app(nowhere)) as client:
        for headers in ({"X-Api-Key": project.write_key}, {"X-Api-Key": marker}):
            await client.simulate_post(
                "/events",
                json=make_event(project.id, path=f"/{marker}"),
                headers=headers,
            )

    logged = "\n".join(
        record.getMessage() + str(record.args) for record in caplog.records
    )
    assert caplog.records
    assert project.write_key not in logged
    assert marker not in logged


def orjson_bytes(value: Any) -> bytes:
    import orjson

    return orjson.dumps(value)
