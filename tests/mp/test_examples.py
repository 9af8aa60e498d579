"""GA4's documented Measurement Protocol requests, rebuilt, through the app.

Each body follows what the Measurement Protocol guides describe (sending
events, user properties, consent, user location and device, ecommerce, app
streams, the validation server); none is copied. A valid one gets no
validation message from /debug/mp/collect and has all its events queued by
/mp/collect.
"""

from __future__ import annotations

import time
from typing import Any

import falcon.testing
import pytest

from ga4clone.events import EventMessage
from ga4clone.projects import CreatedStream
from ga4clone.settings import Settings
from tests.mp.conftest import APP_INSTANCE, query, queued

pytestmark = pytest.mark.integration

CLIENT_ID = "123456.7654321"
HOUR_US = 3_600_000_000

WEB_EXAMPLES: dict[str, dict[str, Any]] = {
    "login with session and engagement": {
        "client_id": CLIENT_ID,
        "events": [
            {
                "name": "login",
                "params": {
                    "method": "Google",
                    "session_id": "1700000001",
                    "engagement_time_msec": 100,
                },
            }
        ],
    },
    "campaign details": {
        "client_id": CLIENT_ID,
        "events": [
            {
                "name": "campaign_details",
                "params": {
                    "campaign_id": "spring_42",
                    "campaign": "Spring_sale",
                    "source": "google",
                    "medium": "cpc",
                    "term": "running+shoes",
                    "content": "banner",
                    "session_id": "1700000001",
                    "engagement_time_msec": "250",
                },
            }
        ],
    },
    "two events with location and device": {
        "client_id": CLIENT_ID,
        "events": [
            {"name": "tutorial_begin", "params": {"session_id": "1700000001"}},
            {"name": "join_group", "params": {"group_id": "runners"}},
        ],
        "user_location": {
            "city": "Zurich",
            "region_id": "CH-ZH",
            "country_id": "CH",
            "subcontinent_id": "155",
            "continent_id": "150",
        },
        "device": {
            "category": "tablet",
            "language": "de",
            "screen_resolution": "1668x2388",
            "operating_system": "iPadOS",
            "operating_system_version": "17.5",
            "model": "iPad Pro",
            "brand": "Apple",
            "browser": "Safari",
            "browser_version": "17.5",
        },
    },
    "user id and user properties": {
        "client_id": CLIENT_ID,
        "user_id": "customer-981",
        "user_properties": {
            "customer_tier": {"value": "gold"},
            "loyalty_points": {"value": 1200},
        },
        "events": [{"name": "sign_up", "params": {"method": "email"}}],
    },
    "consent": {
        "client_id": CLIENT_ID,
        "consent": {"ad_user_data": "DENIED", "ad_personalization": "GRANTED"},
        "events": [
            {"name": "generate_lead", "params": {"value": 30, "currency": "EUR"}}
        ],
    },
    "purchase with items": {
        "client_id": CLIENT_ID,
        "events": [
            {
                "name": "purchase",
                "params": {
                    "transaction_id": "T-2024-0042",
                    "value": 59.9,
                    "currency": "EUR",
                    "shipping": 4.9,
                    "tax": 9.5,
                    "items": [
                        {"item_id": "SKU_7", "item_name": "Trail shoe", "quantity": 1}
                    ],
                },
            }
        ],
    },
}
APP_EXAMPLES: dict[str, dict[str, Any]] = {
    "app event": {
        "app_instance_id": APP_INSTANCE,
        "non_personalized_ads": False,
        "events": [
            {"name": "level_up", "params": {"level": 7, "character": "wizard"}},
            {"name": "post_score", "params": {"score": 12_500, "level": 7}},
        ],
    },
}


def with_timestamp(example: dict[str, Any]) -> dict[str, Any]:
    """The example sent an hour late, with the request's timestamp_micros."""
    return {**example, "timestamp_micros": time.time_ns() // 1000 - HOUR_US}


def examples() -> list[Any]:
    cases = [pytest.param("stream", b, id=name) for name, b in WEB_EXAMPLES.items()]
    cases += [pytest.param("android", b, id=name) for name, b in APP_EXAMPLES.items()]
    late = with_timestamp(WEB_EXAMPLES["login with session and engagement"])
    cases.append(pytest.param("stream", late, id="request timestamp"))
    return cases


@pytest.mark.parametrize(("kind", "example"), examples())
async def test_a_documented_request_has_no_validation_message(
    client: falcon.testing.ASGIConductor,
    request: pytest.FixtureRequest,
    kind: str,
    example: dict[str, Any],
) -> None:
    stream: CreatedStream = request.getfixturevalue(kind)
    name = {k: v for k, v in query(stream).items() if k != "api_secret"}

    result = await client.simulate_post("/debug/mp/collect", params=name, json=example)

    assert result.status_code == 200
    assert result.json == {"validationMessages": []}


@pytest.mark.parametrize(("kind", "example"), examples())
async def test_a_documented_request_has_every_event_queued(
    fast: Settings,
    client: falcon.testing.ASGIConductor,
    amqp: Any,
    request: pytest.FixtureRequest,
    kind: str,
    example: dict[str, Any],
) -> None:
    stream: CreatedStream = request.getfixturevalue(kind)

    result = await client.simulate_post(
        "/mp/collect", params=query(stream), json=example
    )

    assert result.status_code == 204
    [(_, raw)] = queued(amqp, fast)
    message = EventMessage.model_validate_json(raw)
    assert [e.event_name for e in message.events] == [
        e["name"] for e in example["events"]
    ]
    assert message.platform == stream.platform


async def test_the_documented_invalid_event_name_is_name_invalid(
    client: falcon.testing.ASGIConductor, android: CreatedStream
) -> None:
    # The validation guide's example: an app event named "_badEventName",
    # sent with validation_behavior ENFORCE_RECOMMENDATIONS, is NAME_INVALID.
    example = {
        "app_instance_id": APP_INSTANCE,
        "validation_behavior": "ENFORCE_RECOMMENDATIONS",
        "events": [{"name": "_badEventName", "params": {}}],
    }

    result = await client.simulate_post(
        "/debug/mp/collect",
        params={"firebase_app_id": android.measurement_id},
        json=example,
    )

    [message] = result.json["validationMessages"]
    assert message["validationCode"] == "NAME_INVALID"
    assert message["fieldPath"].startswith("events")
