"""/mp/collect and /debug/mp/collect through the app, a real broker and worker."""

from __future__ import annotations

import json
import time
from typing import Any

import falcon.testing
import pytest
from clickhouse_driver import Client

from ga4clone.api.app import create_app
from ga4clone.events import EventMessage
from ga4clone.projects import CreatedStream, ProjectStore
from ga4clone.settings import Settings
from tests.conftest import daily_metric, stored_count, wait_for
from tests.mp.conftest import (
    APP_INSTANCE,
    IOS_APP_ID,
    body,
    new_stream,
    query,
    queued,
    queued_json,
    sample,
)
from tests.worker.test_consumer import RunningWorker

pytestmark = pytest.mark.integration

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


async def test_a_valid_request_is_answered_204_and_stored_enriched(
    fast: Settings,
    client: falcon.testing.ASGIConductor,
    stream: CreatedStream,
    clickhouse: Client,
    postgres: Any,
) -> None:
    sent_us = (int(time.time()) - 60) * 1_000_000
    result = await client.simulate_post(
        "/mp/collect",
        params=query(stream),
        json=body(
            user_id="u-7",
            timestamp_micros=sent_us,
            user_properties={"tier": {"value": "gold"}},
            user_location={"country_id": "FR", "city": "Lyon"},
            events=[
                {
                    "name": "page_view",
                    "params": {
                        "page_location": "https://shop.example/a?utm_source=news"
                        "&utm_medium=email&utm_campaign=dec",
                        "page_title": "A",
                        "session_id": 17,
                    },
                },
                {"name": "session_start"},
            ],
        ),
        headers={"User-Agent": CHROME},
    )

    assert result.status_code == 204
    with RunningWorker(fast):
        wait_for(lambda: stored_count(clickhouse, stream.project_id) == 1)
        wait_for(lambda: daily_metric(postgres, stream.project_id, "page_views") == 1)
    row = clickhouse.execute(
        "SELECT stream_id, platform, ingest_endpoint, user_id, session_id,"
        " event_timestamp, page_hostname, page_title, traffic_source_medium,"
        " traffic_source_name, geo_country, geo_city, user_properties.key"
        " FROM events WHERE project_id = %(p)s",
        {"p": str(stream.project_id)},
    )[0]
    assert row == (
        str(stream.id),
        "WEB",
        "mp",
        "u-7",
        "17",
        sent_us,
        "shop.example",
        "A",
        "email",
        "dec",
        "FR",
        "Lyon",
        ["tier"],
    )


async def test_an_unknown_api_secret_is_answered_401(
    client: falcon.testing.ASGIConductor, stream: CreatedStream
) -> None:
    params = {**query(stream), "api_secret": "ga4m_wrong"}

    result = await client.simulate_post(
        "/mp/collect", params=params, json=body(events=[{"name": "e"}])
    )

    assert result.status_code == 401


async def test_a_body_of_130_kb_is_answered_413(
    client: falcon.testing.ASGIConductor, stream: CreatedStream
) -> None:
    result = await client.simulate_post(
        "/mp/collect", params=query(stream), body=b" " * 130_000
    )

    assert result.status_code == 413


async def test_debug_reports_validation_messages_and_stores_nothing(
    client: falcon.testing.ASGIConductor, stream: CreatedStream, clickhouse: Client
) -> None:
    result = await client.simulate_post(
        "/debug/mp/collect",
        params={"measurement_id": stream.measurement_id},
        json=body(events=[{"name": "first_visit"}]),
    )

    assert result.status_code == 200
    assert result.json == {
        "validationMessages": [
            {
                "fieldPath": "events[0].name",
                "description": "'first_visit' is reserved",
                "validationCode": "NAME_RESERVED",
            }
        ]
    }
    assert stored_count(clickhouse, stream.project_id) == 0


async def test_an_unreachable_broker_is_answered_503_with_retry_after(
    fast: Settings, store: ProjectStore, stream: CreatedStream
) -> None:
    broken = fast.model_copy(update={"rabbitmq_port": 1})
    app = create_app(broken, store=ProjectStore(fast.postgres_dsn))

    async with falcon.testing.ASGIConductor(app) as conductor:
        result = await conductor.simulate_post(
            "/mp/collect", params=query(stream), json=body(events=[{"name": "e"}])
        )

    assert result.status_code == 503
    assert result.headers["Retry-After"] == str(fast.retry_after_seconds)


# --- streams and their platforms ---


async def test_an_android_stream_is_named_by_firebase_app_id_and_queued_as_android(
    fast: Settings,
    client: falcon.testing.ASGIConductor,
    android: CreatedStream,
    amqp: Any,
) -> None:
    result = await client.simulate_post(
        "/mp/collect",
        params=query(android),
        json={"app_instance_id": APP_INSTANCE, "events": [{"name": "level_up"}]},
    )

    assert result.status_code == 204
    [(_, raw)] = queued(amqp, fast)
    message = EventMessage.model_validate_json(raw)  # as the worker decodes it
    assert (message.platform, message.stream_id) == ("ANDROID", str(android.id))
    assert message.ingest_endpoint == "mp"
    assert message.events[0].client_id == APP_INSTANCE
    assert message.events[0].project_id == android.project_id


async def test_an_ios_stream_is_queued_as_ios(
    fast: Settings,
    client: falcon.testing.ASGIConductor,
    store: ProjectStore,
    amqp: Any,
) -> None:
    ios = new_stream(store, IOS_APP_ID, "IOS")

    result = await client.simulate_post(
        "/mp/collect",
        params=query(ios),
        json={"app_instance_id": APP_INSTANCE, "events": [{"name": "level_up"}]},
    )

    assert result.status_code == 204
    [message] = queued_json(amqp, fast)
    assert message["platform"] == "IOS"


async def test_an_app_stream_is_stored_with_its_platform(
    fast: Settings,
    client: falcon.testing.ASGIConductor,
    android: CreatedStream,
    clickhouse: Client,
) -> None:
    result = await client.simulate_post(
        "/mp/collect",
        params=query(android),
        json={"app_instance_id": APP_INSTANCE, "events": [{"name": "level_up"}]},
    )

    assert result.status_code == 204
    with RunningWorker(fast):
        wait_for(lambda: stored_count(clickhouse, android.project_id) == 1)
    row = clickhouse.execute(
        "SELECT platform, stream_id, user_pseudo_id FROM events"
        " WHERE project_id = %(p)s",
        {"p": str(android.project_id)},
    )[0]
    assert row == ("ANDROID", str(android.id), APP_INSTANCE)


async def test_a_web_measurement_id_sent_as_firebase_app_id_is_answered_400(
    fast: Settings,
    client: falcon.testing.ASGIConductor,
    stream: CreatedStream,
    amqp: Any,
) -> None:
    params = {"firebase_app_id": stream.measurement_id, "api_secret": stream.api_secret}

    result = await client.simulate_post(
        "/mp/collect",
        params=params,
        json={"app_instance_id": APP_INSTANCE, "events": [{"name": "e"}]},
    )

    assert result.status_code == 400
    assert "WEB stream: send it as measurement_id" in result.json["error"]
    assert queued(amqp, fast) == []


async def test_an_app_id_sent_as_measurement_id_is_answered_400(
    fast: Settings,
    client: falcon.testing.ASGIConductor,
    android: CreatedStream,
    amqp: Any,
) -> None:
    params = {
        "measurement_id": android.measurement_id,
        "api_secret": android.api_secret,
    }

    result = await client.simulate_post(
        "/mp/collect", params=params, json=body(events=[{"name": "e"}])
    )

    assert result.status_code == 400
    assert "ANDROID stream: send it as firebase_app_id" in result.json["error"]
    assert queued(amqp, fast) == []


async def test_a_wrong_secret_is_answered_401_before_the_stream_kind_is_told(
    client: falcon.testing.ASGIConductor, android: CreatedStream
) -> None:
    params = {"measurement_id": android.measurement_id, "api_secret": "ga4m_wrong"}

    result = await client.simulate_post(
        "/mp/collect", params=params, json=body(events=[{"name": "e"}])
    )

    assert result.status_code == 401
    assert "ANDROID" not in result.json["error"]


# --- metrics ---

ACCEPTED = "ga4clone_events_accepted_total"
REJECTED = "ga4clone_events_rejected_total"
DROPPED = "ga4clone_mp_events_dropped_total"
REASONS = ("invalid", "unauthorized", "too_large", "rate_limited", "unavailable")


def counts() -> dict[str, float]:
    """The accepted, rejected (by reason) and dropped (by code) samples now."""
    now = {ACCEPTED: sample(ACCEPTED)}
    for reason in (*REASONS, "unsupported_media_type"):
        now[reason] = sample(REJECTED, reason=reason)
    for code in ("NAME_INVALID", "NAME_RESERVED", "VALUE_REQUIRED"):
        now[code] = sample(DROPPED, reason=code)
    return now


def changes(before: dict[str, float]) -> dict[str, float]:
    """What moved since ``before``, and by how much."""
    after = counts()
    return {k: after[k] - before[k] for k in after if after[k] != before[k]}


async def test_queued_events_count_as_accepted_and_invalid_ones_as_dropped(
    client: falcon.testing.ASGIConductor, stream: CreatedStream
) -> None:
    before = counts()
    events = [{"name": "one"}, {"name": "bad-name"}, {"name": "first_visit"}]
    events += [{"name": "two"}]

    result = await client.simulate_post(
        "/mp/collect", params=query(stream), json=body(events=events)
    )

    assert result.status_code == 204
    assert changes(before) == {ACCEPTED: 2, "NAME_INVALID": 1, "NAME_RESERVED": 1}


async def test_a_request_without_client_id_drops_every_event(
    client: falcon.testing.ASGIConductor, stream: CreatedStream
) -> None:
    before = counts()

    result = await client.simulate_post(
        "/mp/collect",
        params=query(stream),
        json={"events": [{"name": "one"}, {"name": "two"}]},
    )

    assert result.status_code == 204
    assert changes(before) == {"VALUE_REQUIRED": 2}


@pytest.mark.parametrize(
    ("params", "raw", "headers", "status", "reason"),
    [
        ({"api_secret": "ga4m_wrong"}, b'{"client_id": "1"}', {}, 401, "unauthorized"),
        ({}, b" " * 130_000, {}, 413, "too_large"),
        ({}, b"{not json", {}, 400, "invalid"),
        ({}, b"{}", {"Content-Encoding": "br"}, 415, "unsupported_media_type"),
    ],
)
async def test_refused_requests_count_one_rejected_event_by_reason(
    client: falcon.testing.ASGIConductor,
    stream: CreatedStream,
    params: dict[str, str],
    raw: bytes,
    headers: dict[str, str],
    status: int,
    reason: str,
) -> None:
    before = counts()

    result = await client.simulate_post(
        "/mp/collect", params={**query(stream), **params}, body=raw, headers=headers
    )

    assert result.status_code == status
    assert changes(before) == {reason: 1}


async def test_a_stream_of_the_other_kind_counts_as_invalid(
    client: falcon.testing.ASGIConductor, android: CreatedStream
) -> None:
    params = {
        "measurement_id": android.measurement_id,
        "api_secret": android.api_secret,
    }
    before = counts()

    result = await client.simulate_post(
        "/mp/collect", params=params, json=body(events=[{"name": "e"}])
    )

    assert result.status_code == 400
    assert changes(before) == {"invalid": 1}


async def test_a_rate_limited_request_counts_its_valid_events(
    fast: Settings, stream: CreatedStream
) -> None:
    limited = fast.model_copy(
        update={
            "rate_limit_events_per_second": 0.001,
            "rate_limit_burst": 1,
            "rate_limit_lease_events": 1,
        }
    )
    app = create_app(limited, store=ProjectStore(fast.postgres_dsn))
    events = [{"name": "one"}, {"name": "two"}, {"name": "bad-name"}]
    before = counts()

    async with falcon.testing.ASGIConductor(app) as conductor:
        result = await conductor.simulate_post(
            "/mp/collect", params=query(stream), json=body(events=events)
        )

    assert result.status_code == 429
    assert changes(before) == {"rate_limited": 2, "NAME_INVALID": 1}


async def test_an_unreachable_broker_counts_the_events_as_unavailable(
    fast: Settings, stream: CreatedStream
) -> None:
    broken = fast.model_copy(update={"rabbitmq_port": 1})
    app = create_app(broken, store=ProjectStore(fast.postgres_dsn))
    before = counts()

    async with falcon.testing.ASGIConductor(app) as conductor:
        result = await conductor.simulate_post(
            "/mp/collect",
            params=query(stream),
            json=body(events=[{"name": "one"}, {"name": "two"}]),
        )

    assert result.status_code == 503
    assert changes(before) == {"unavailable": 2}


# --- body size ---


async def test_a_body_of_129_999_bytes_is_accepted(
    fast: Settings,
    client: falcon.testing.ASGIConductor,
    stream: CreatedStream,
    amqp: Any,
) -> None:
    raw = json.dumps(body(events=[{"name": "e"}])).encode()
    raw += b" " * (129_999 - len(raw))

    result = await client.simulate_post("/mp/collect", params=query(stream), body=raw)

    assert len(raw) == 129_999
    assert result.status_code == 204
    assert len(queued(amqp, fast)) == 1


# --- session ids and page params on their way to the worker ---


@pytest.mark.parametrize(
    ("session_id", "stored"),
    [
        (17, "17"),
        (1.0, "1"),
        (1.5, "1.5"),
        ("1700000000", "1700000000"),
        ("", "(not set)"),
        (True, "(not set)"),
    ],
)
async def test_the_session_id_param_is_queued_as_text(
    fast: Settings,
    client: falcon.testing.ASGIConductor,
    stream: CreatedStream,
    amqp: Any,
    session_id: Any,
    stored: str,
) -> None:
    event = {"name": "e", "params": {"session_id": session_id}}

    result = await client.simulate_post(
        "/mp/collect", params=query(stream), json=body(events=[event])
    )

    assert result.status_code == 204
    [message] = queued_json(amqp, fast)
    assert message["events"][0]["sessionId"] == stored


async def test_page_location_and_referrer_at_their_bounds_reach_the_worker(
    fast: Settings,
    client: falcon.testing.ASGIConductor,
    stream: CreatedStream,
    amqp: Any,
) -> None:
    location = "https://shop.example/" + "p" * (1000 - 21)
    referrer = "https://ref.example/" + "r" * (420 - 20)
    params = {"page_location": location, "page_referrer": referrer}

    result = await client.simulate_post(
        "/mp/collect",
        params=query(stream),
        json=body(events=[{"name": "page_view", "params": params}]),
    )

    assert result.status_code == 204
    [(_, raw)] = queued(amqp, fast)
    event = EventMessage.model_validate_json(raw).events[0]
    assert (len(event.path or ""), len(event.referrer or "")) == (1000, 420)


async def test_a_300_character_page_title_reaches_the_worker(
    fast: Settings,
    client: falcon.testing.ASGIConductor,
    stream: CreatedStream,
    amqp: Any,
) -> None:
    event = {"name": "page_view", "params": {"page_title": "t" * 300}}

    result = await client.simulate_post(
        "/mp/collect", params=query(stream), json=body(events=[event])
    )

    assert result.status_code == 204
    [(_, raw)] = queued(amqp, fast)
    message = EventMessage.model_validate_json(raw)  # as the worker decodes it
    assert message.events[0].params["page_title"] == "t" * 300


# --- /debug/mp/collect ---


async def test_debug_without_a_stream_name_reports_value_required(
    client: falcon.testing.ASGIConductor,
) -> None:
    result = await client.simulate_post(
        "/debug/mp/collect", json=body(events=[{"name": "e"}])
    )

    assert result.status_code == 200
    assert result.json["validationMessages"] == [
        {
            "fieldPath": "measurement_id",
            "description": "measurement_id or firebase_app_id is required in the query",
            "validationCode": "VALUE_REQUIRED",
        }
    ]


async def test_debug_for_an_app_asks_for_app_instance_id(
    client: falcon.testing.ASGIConductor,
) -> None:
    result = await client.simulate_post(
        "/debug/mp/collect",
        params={"firebase_app_id": IOS_APP_ID.format("ab12")},
        json=body(events=[{"name": "e"}]),
    )

    assert [
        (m["fieldPath"], m["validationCode"]) for m in result.json["validationMessages"]
    ] == [("app_instance_id", "VALUE_REQUIRED")]


def _events(*events: str) -> bytes:
    return b'{"client_id": "c", "events": [' + ", ".join(events).encode() + b"]}"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            b'{"client_id": 7, "events": [{"name": "e"}]}',
            ("client_id", "VALUE_INVALID"),
        ),
        (b'{"events": [{"name": "e"}]}', ("client_id", "VALUE_REQUIRED")),
        (_events('{"params": {}}'), ("events[0].name", "VALUE_REQUIRED")),
        (_events('{"name": "9lives"}'), ("events[0].name", "NAME_INVALID")),
        (_events('{"name": "user_engagement"}'), ("events[0].name", "NAME_RESERVED")),
        (
            _events('{"name": "e", "params": {"text": "' + "x" * 101 + '"}}'),
            ("events[0].params.text", "VALUE_OUT_OF_BOUNDS"),
        ),
        (_events(*['{"name": "e"}'] * 26), ("events", "EXCEEDED_MAX_ENTITIES")),
        (
            _events('{"name": "e", "params": {"a": 1, "a": 2}}'),
            ("events[0].params.a", "NAME_DUPLICATED"),
        ),
        (b"{not json", ("", "VALUE_INVALID")),
    ],
)
async def test_debug_answers_every_validation_code_over_http(
    client: falcon.testing.ASGIConductor,
    stream: CreatedStream,
    clickhouse: Client,
    raw: bytes,
    expected: tuple[str, str],
) -> None:
    result = await client.simulate_post(
        "/debug/mp/collect", params={"measurement_id": stream.measurement_id}, body=raw
    )

    assert result.status_code == 200
    messages = result.json["validationMessages"]
    assert [(m["fieldPath"], m["validationCode"]) for m in messages] == [expected]
    assert all(m["description"] for m in messages)
    assert stored_count(clickhouse, stream.project_id) == 0
