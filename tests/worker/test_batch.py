"""Turning a batch into ClickHouse columns and daily counts (no I/O)."""

from __future__ import annotations

import datetime as dt
import uuid

from ga4clone.enrich import Enricher
from ga4clone.events import EventMessage
from ga4clone.worker.batch import (
    EVENT_COLUMNS,
    Batch,
    Delivery,
    daily_counts,
    event_date,
    to_columns,
    unique_deliveries,
)
from tests.conftest import make_event

PROJECT = uuid.uuid4()
MIDNIGHT_MS = 1_764_806_400_000  # 2025-12-04T00:00:00Z


def delivery(*events: dict[str, object]) -> Delivery:
    body = {
        "receivedAt": MIDNIGHT_MS,
        "userAgent": "UA",
        "clientIp": "192.0.2.1",
        "events": [{"eventId": str(uuid.uuid4()), **e} for e in events],
    }
    return Delivery(uuid.uuid4(), EventMessage.model_validate(body))


def test_event_date_is_the_utc_day() -> None:
    assert event_date(MIDNIGHT_MS) == dt.date(2025, 12, 4)
    assert event_date(MIDNIGHT_MS - 1) == dt.date(2025, 12, 3)


def test_columns_hold_one_row_per_event_with_typed_params() -> None:
    batch = [
        delivery(
            make_event(
                PROJECT,
                timestamp=MIDNIGHT_MS,
                params={"s": "x", "i": 3, "d": 1.5, "b": True},
            )
        )
    ]

    columns = dict(zip(EVENT_COLUMNS, to_columns(batch), strict=True))

    assert columns["event_timestamp"] == (MIDNIGHT_MS * 1000,)
    assert columns["event_date"] == (dt.date(2025, 12, 4),)
    assert columns["event_params.key"] == (["s", "i", "d", "b"],)
    assert columns["event_params.string_value"] == (["x", None, None, None],)
    assert columns["event_params.int_value"] == ([None, 3, None, 1],)
    assert columns["event_params.double_value"] == ([None, None, 1.5, None],)
    assert columns["client_ip"] == ("192.0.2.1",)
    assert columns["page_path"] == ("/products/shoes",)
    assert columns["sdk_name"] == ("",)


def test_daily_counts_count_events_page_views_and_each_name() -> None:
    batch = [
        delivery(
            make_event(PROJECT, timestamp=MIDNIGHT_MS),
            make_event(PROJECT, timestamp=MIDNIGHT_MS, eventName="click"),
        ),
        delivery(make_event(PROJECT, timestamp=MIDNIGHT_MS - 1)),
    ]

    counts = daily_counts(batch)

    today, yesterday = dt.date(2025, 12, 4), dt.date(2025, 12, 3)
    assert counts == {
        (PROJECT, today, "events"): 2,
        (PROJECT, today, "event:page_view"): 1,
        (PROJECT, today, "page_views"): 1,
        (PROJECT, today, "event:click"): 1,
        (PROJECT, yesterday, "events"): 1,
        (PROJECT, yesterday, "event:page_view"): 1,
        (PROJECT, yesterday, "page_views"): 1,
    }


def test_repeated_message_ids_in_a_batch_are_kept_once() -> None:
    first = delivery(make_event(PROJECT))
    again = Delivery(first.message_id, first.message)

    assert unique_deliveries([first, again]) == [first]


def test_batch_tracks_events_and_last_tag() -> None:
    batch = Batch()
    assert batch.empty
    batch.add(1, delivery(make_event(PROJECT), make_event(PROJECT)))
    batch.add(2, delivery(make_event(PROJECT)))

    assert (batch.events, batch.last_tag, batch.empty) == (3, 2, False)
    assert batch.seconds_left(60.0) > 59.0


CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


def delivery_from(user_agent: str, **envelope: object) -> Delivery:
    body = {
        "receivedAt": MIDNIGHT_MS,
        "userAgent": user_agent,
        "clientIp": "192.0.2.0",
        "events": [
            make_event(
                PROJECT,
                eventId=str(uuid.uuid4()),
                timestamp=MIDNIGHT_MS,
                path="https://shop.example/p?utm_source=news&utm_medium=email"
                "&utm_campaign=dec&gclid=g1",
                referrer="https://mail.google.com/",
            )
        ],
        **envelope,
    }
    return Delivery(uuid.uuid4(), EventMessage.model_validate(body))


def test_columns_are_enriched_with_device_page_and_traffic_source() -> None:
    columns = dict(zip(EVENT_COLUMNS, to_columns([delivery_from(CHROME)]), strict=True))

    assert columns["device_browser"] == ("Chrome",)
    assert columns["device_category"] == ("desktop",)
    assert columns["page_hostname"] == ("shop.example",)
    assert columns["page_path"] == ("/p",)
    assert columns["page_title"] == ("Shoes",)
    assert columns["traffic_source_source"] == ("news",)
    assert columns["traffic_source_medium"] == ("email",)
    assert columns["traffic_source_name"] == ("dec",)
    assert columns["collected_traffic_source_gclid"] == ("g1",)
    assert columns["ingest_endpoint"] == ("events",)
    assert columns["is_bot"] == (0,)


def test_a_measurement_protocol_message_carries_its_own_facts() -> None:
    mp = delivery_from(
        "python-requests/2.32",
        ingestEndpoint="mp",
        streamId="s-1",
        platform="WEB",
        userId="u-1",
        userProperties={"tier": "gold"},
        userPropertiesMicros=5,
        consent={"adUserData": "GRANTED", "adPersonalization": "DENIED"},
        userLocation={"countryId": "DE", "city": "Berlin"},
        device={"category": "Mobile", "browser": "Chrome"},
    )

    columns = dict(zip(EVENT_COLUMNS, to_columns([mp]), strict=True))

    assert columns["is_bot"] == (0,)  # The sender's server, not a bot.
    assert columns["device_category"] == ("mobile",)
    assert columns["geo_country"] == ("DE",)
    assert columns["user_id"] == ("u-1",)
    assert columns["user_properties.key"] == (["tier"],)
    assert columns["user_properties.set_timestamp_micros"] == ([5],)
    assert columns["privacy_info_ads_storage"] == ("No",)
    assert (columns["stream_id"], columns["platform"]) == (("s-1",), ("WEB",))


def test_bots_are_stored_flagged_or_left_out_as_configured() -> None:
    batch = [delivery_from(CHROME), delivery_from(GOOGLEBOT)]

    stored = dict(zip(EVENT_COLUMNS, to_columns(batch), strict=True))
    dropped = dict(
        zip(EVENT_COLUMNS, to_columns(batch, Enricher(store_bots=False)), strict=True)
    )

    assert stored["is_bot"] == (0, 1)
    assert dropped["is_bot"] == (0,)


def test_bots_are_never_counted_in_daily_aggregates() -> None:
    counts = daily_counts([delivery_from(CHROME), delivery_from(GOOGLEBOT)])

    assert counts[(PROJECT, dt.date(2025, 12, 4), "events")] == 1
