"""Validation of event bodies: every rule of the Event table in the README.

Also the queued envelope, and the message id that makes a client's retry of
the same events count once (through the real API, broker and worker).
"""

from __future__ import annotations

import uuid
from typing import Any

import falcon.testing
import pytest
from clickhouse_driver import Client
from pydantic import TypeAdapter, ValidationError

from ga4clone.api.app import create_app
from ga4clone.events import (
    MAX_FUTURE_MS,
    MAX_PAST_MS,
    MAX_QUEUED_PARAM_STRING_CHARS,
    Event,
    EventMessage,
    describe_errors,
    format_location,
)
from ga4clone.settings import Settings
from tests.conftest import daily_metric, make_event, now_ms, stored_count, wait_for
from tests.worker.test_consumer import RunningWorker

PROJECT = uuid.UUID("0b0e4d43-3f8d-4a55-9d0e-6c1f0f6d2a11")
_BATCH = TypeAdapter(list[Event])


def problems(body: Any, now: int | None = None) -> list[dict[str, str]]:
    """The problems a batch body is rejected with, or [] when it is valid."""
    context = {"now_ms": now if now is not None else now_ms()}
    try:
        _BATCH.validate_python(body, context=context)
    except ValidationError as exc:
        return describe_errors(exc)
    return []


def paths(body: Any) -> list[str]:
    return [problem["path"] for problem in problems(body)]


def test_valid_event_passes_and_keeps_param_keys_as_sent() -> None:
    event = make_event(PROJECT, params={"Price_EUR": 1.5, "n": 3, "ok": True})

    (parsed,) = _BATCH.validate_python([event], context={"now_ms": now_ms()})

    assert parsed.project_id == PROJECT
    assert parsed.params == {"Price_EUR": 1.5, "n": 3, "ok": True}


def test_unknown_top_level_fields_are_ignored() -> None:
    assert problems([make_event(PROJECT, somethingElse={"deep": [1, 2]})]) == []


@pytest.mark.parametrize(
    "field", ["projectId", "eventName", "timestamp", "clientId", "sessionId"]
)
def test_required_fields_are_required(field: str) -> None:
    event = make_event(PROJECT)
    del event[field]

    assert paths([event]) == [f"[0].{field}"]


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("a", True),
        ("page_view", True),
        ("A" * 40, True),
        ("A" * 41, False),
        ("1abc", False),
        ("_x", False),
        ("has-dash", False),
        ("", False),
        ("ümlaut", False),
    ],
)
def test_event_name_is_1_to_40_word_characters_starting_with_a_letter(
    name: str, valid: bool
) -> None:
    assert (paths([make_event(PROJECT, eventName=name)]) == []) is valid


def test_timestamp_window_is_72_hours_back_and_10_minutes_ahead() -> None:
    now = now_ms()
    at = [
        now - MAX_PAST_MS,
        now + MAX_FUTURE_MS,
        now - MAX_PAST_MS - 1,
        now + MAX_FUTURE_MS + 1,
    ]
    results = [problems([make_event(PROJECT, timestamp=ts)], now) for ts in at]

    assert results[0] == [] and results[1] == []
    assert results[2][0]["message"] == "timestamp is more than 72 hours in the past"
    assert results[3][0]["message"] == "timestamp is more than 10 minutes in the future"


@pytest.mark.parametrize("value", ["1700000000000", 1.7e12, True, None])
def test_timestamp_must_be_an_integer(value: Any) -> None:
    assert paths([make_event(PROJECT, timestamp=value)]) == ["[0].timestamp"]


def test_timestamp_micros_must_be_within_the_millisecond_of_timestamp() -> None:
    ms = now_ms()
    inside = [ms * 1000, ms * 1000 + 999]
    outside = [ms * 1000 - 1, ms * 1000 + 1000, 2**64, -1]

    assert [
        paths([make_event(PROJECT, timestamp=ms, timestampMicros=us)]) for us in inside
    ] == [[], []]
    assert all(
        paths([make_event(PROJECT, timestamp=ms, timestampMicros=us)])
        == ["[0].timestampMicros"]
        for us in outside
    )


@pytest.mark.parametrize("field", ["clientId", "sessionId"])
def test_ids_are_non_empty_and_at_most_256_characters(field: str) -> None:
    assert paths([make_event(PROJECT, **{field: "x" * 256})]) == []
    assert paths([make_event(PROJECT, **{field: "x" * 257})]) == [f"[0].{field}"]
    assert paths([make_event(PROJECT, **{field: ""})]) == [f"[0].{field}"]


@pytest.mark.parametrize("field", ["path", "referrer"])
def test_urls_are_at_most_2048_characters(field: str) -> None:
    assert paths([make_event(PROJECT, **{field: "/" * 2048})]) == []
    assert paths([make_event(PROJECT, **{field: "/" * 2049})]) == [f"[0].{field}"]


def test_params_hold_at_most_25_keys() -> None:
    many = {f"k{i}": i for i in range(25)}

    assert paths([make_event(PROJECT, params=many)]) == []
    assert paths([make_event(PROJECT, params={**many, "k25": 1})]) == ["[0].params"]


def test_param_keys_are_at_most_40_characters() -> None:
    assert paths([make_event(PROJECT, params={"k" * 40: 1})]) == []
    assert paths([make_event(PROJECT, params={"k" * 41: 1})]) == [
        f"[0].params.{'k' * 41}[key]"
    ]


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("x" * 100, True),
        ("x" * 101, False),
        (3, True),
        (-2.5, True),
        (False, True),
        (None, False),
        ([1], False),
        ({"a": 1}, False),
        (2**63, False),
    ],
)
def test_param_values_are_short_strings_numbers_or_booleans(
    value: Any, valid: bool
) -> None:
    found = paths([make_event(PROJECT, params={"price": value})])

    assert found == ([] if valid else ["[0].params.price"])


def test_every_problem_is_listed_with_its_json_path() -> None:
    body = [make_event(PROJECT), make_event("nope", eventName="9", clientId="")]

    assert paths(body) == ["[1].projectId", "[1].eventName", "[1].clientId"]


def test_queued_message_ignores_the_timestamp_window() -> None:
    old = make_event(PROJECT, timestamp=1, eventId=str(uuid.uuid4()))
    body = {"receivedAt": 2, "events": [old]}

    message = EventMessage.model_validate(body)

    assert message.events[0].timestamp == 1


@pytest.mark.parametrize(
    ("chars", "valid"),
    [(MAX_QUEUED_PARAM_STRING_CHARS, True), (MAX_QUEUED_PARAM_STRING_CHARS + 1, False)],
)
def test_queued_message_allows_the_longest_string_an_ingest_path_accepts(
    chars: int, valid: bool
) -> None:
    # /mp/collect lets in GA4's 300-character page_title; the worker must not
    # dead-letter what an ingest path answered 2xx for.
    event = make_event(PROJECT, eventId=str(uuid.uuid4()), params={"t": "x" * chars})
    body = {"receivedAt": 2, "events": [event]}

    if valid:
        message = EventMessage.model_validate(body)
        assert message.events[0].params["t"] == "x" * chars
    else:
        with pytest.raises(ValidationError):
            EventMessage.model_validate(body)


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        ((3, "params", "price"), "[3].params.price"),
        (("eventName",), "eventName"),
        ((), ""),
        ((0,), "[0]"),
    ],
)
def test_locations_render_as_json_paths(loc: tuple[Any, ...], path: str) -> None:
    assert format_location(loc) == path


def test_an_events_envelope_decodes_with_the_measurement_protocol_defaults() -> None:
    from ga4clone.events import EventMessage
    from tests.conftest import make_event

    body = {
        "receivedAt": 1,
        "events": [make_event("6f1c6c5e-0000-4000-8000-000000000000")],
    }

    message = EventMessage.model_validate(body)

    assert (message.ingest_endpoint, message.platform, message.user_id) == (
        "events",
        "",
        "",
    )
    assert message.user_properties == {} and message.device is None
    assert message.request_origin is None


def test_the_request_origin_survives_the_queue_under_its_alias() -> None:
    from tests.conftest import make_event

    body = {
        "receivedAt": 1,
        "requestOrigin": "https://shop.example",
        "events": [make_event("6f1c6c5e-0000-4000-8000-000000000000")],
    }

    queued = EventMessage.model_validate(body).model_dump_json(
        by_alias=True, exclude_none=True
    )

    assert '"requestOrigin":"https://shop.example"' in queued
    assert EventMessage.model_validate_json(queued).request_origin == (
        "https://shop.example"
    )


def test_measurement_protocol_fields_survive_the_queue() -> None:
    from ga4clone.events import EventMessage
    from tests.conftest import make_event

    body = {
        "receivedAt": 1,
        "ingestEndpoint": "mp",
        "userProperties": {"tier": "gold"},
        "consent": {"adUserData": "DENIED"},
        "device": {"category": "mobile"},
        "events": [
            make_event(
                "6f1c6c5e-0000-4000-8000-000000000000",
                timestamp=1,
                timestampMicros=1007,
            )
        ],
    }

    queued = EventMessage.model_validate(body).model_dump_json(
        by_alias=True, exclude_none=True
    )
    again = EventMessage.model_validate_json(queued)

    assert again.user_properties == {"tier": "gold"}
    assert again.consent is not None and again.consent.ad_user_data == "DENIED"
    assert again.events[0].timestamp_micros == 1007


def queue_is_empty(amqp: Any, settings: Settings) -> bool:
    declared = amqp.queue_declare(settings.rabbitmq_queue, passive=True)
    return bool(declared.method.message_count == 0)


@pytest.mark.integration
async def test_a_retry_of_a_batch_in_another_order_is_counted_once(
    settings: Settings, project: Any, clickhouse: Client, postgres: Any, amqp: Any
) -> None:
    fast = settings.model_copy(update={"worker_flush_interval_ms": 100})
    batch = [make_event(project.id, eventId=str(uuid.uuid4())) for _ in range(3)]
    key = {"X-Api-Key": project.write_key}

    async with falcon.testing.ASGIConductor(create_app(fast)) as client:
        with RunningWorker(fast):
            await client.simulate_post("/events/batch", json=batch, headers=key)
            wait_for(lambda: daily_metric(postgres, project.id, "events") == 3)
            retry = [batch[2], batch[0], batch[1]]
            answer = await client.simulate_post(
                "/events/batch", json=retry, headers=key
            )
            wait_for(lambda: queue_is_empty(amqp, fast))
            # One more event proves the retry's batch was flushed before it.
            await client.simulate_post(
                "/events", json=make_event(project.id), headers=key
            )
            wait_for(lambda: daily_metric(postgres, project.id, "events") == 4)

    assert answer.status_code == 202
    assert daily_metric(postgres, project.id, "page_views") == 4
    assert stored_count(clickhouse, project.id) == 4
