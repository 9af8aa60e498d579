"""The Measurement Protocol's validation: GA4's examples, limits and codes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ga4clone.mp import validation as v

NOW_US = 1_764_806_400_000_000  # 2025-12-04T00:00:00Z
HOUR_US = 3_600_000_000
APP_INSTANCE = "cd9e5a5b2f8a4d5e9b1c3f7a6e0d2b4c"


def check(body: dict[str, Any], *, app: bool = False) -> v.Checked:
    return v.check(v.parse(json.dumps(body).encode()), app=app, now_us=NOW_US)


def web(*events: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"client_id": "123456.7654321", "events": list(events), **fields}


def codes(checked: v.Checked) -> list[tuple[str, str]]:
    return [(m.field_path, m.validation_code) for m in checked.messages]


# --- GA4's documented request shapes ------------------------------------------------


def test_a_web_event_with_a_client_id_is_valid() -> None:
    checked = check(
        web({"name": "tutorial_begin", "params": {"session_id": "123", "value": 7}})
    )

    assert checked.messages == []
    assert checked.client_id == "123456.7654321"
    assert checked.events[0].params == {"session_id": "123", "value": 7}
    assert checked.events[0].timestamp_micros == NOW_US


def test_a_firebase_event_uses_app_instance_id() -> None:
    body = {"app_instance_id": APP_INSTANCE, "events": [{"name": "level_up"}]}

    checked = check(body, app=True)

    assert checked.messages == []
    assert checked.client_id == APP_INSTANCE


def test_an_app_request_without_app_instance_id_is_dropped() -> None:
    checked = check(web({"name": "level_up"}), app=True)

    assert codes(checked) == [("app_instance_id", "VALUE_REQUIRED")]
    assert checked.events == []
    assert checked.dropped == {"VALUE_REQUIRED": 1}


def test_user_properties_user_id_and_consent_are_kept() -> None:
    checked = check(
        web(
            {"name": "purchase"},
            user_id="u-42",
            user_properties={
                "customer_tier": {"value": "premium"},
                "age": {"value": 3},
            },
            consent={"ad_user_data": "GRANTED", "ad_personalization": "DENIED"},
            non_personalized_ads=True,
        )
    )

    assert checked.messages == []
    assert checked.user_id == "u-42"
    assert checked.user_properties == {"customer_tier": "premium", "age": 3}
    assert checked.consent is not None
    assert checked.consent.ad_personalization == "DENIED"
    assert checked.non_personalized_ads is True


def test_user_location_and_device_are_kept() -> None:
    checked = check(
        web(
            {"name": "page_view"},
            user_location={
                "city": "Mountain View",
                "region_id": "US-CA",
                "country_id": "US",
                "subcontinent_id": "021",
                "continent_id": "019",
            },
            device={
                "category": "mobile",
                "language": "en",
                "screen_resolution": "1280x2856",
                "operating_system": "Android",
                "operating_system_version": "14",
                "model": "Pixel 9 Pro",
                "brand": "Google",
                "browser": "Chrome",
                "browser_version": "136.0.7103.60",
            },
        )
    )

    assert checked.messages == []
    assert checked.user_location is not None
    assert checked.user_location.region_id == "US-CA"
    assert checked.device is not None
    assert checked.device.model == "Pixel 9 Pro"


def test_timestamps_come_from_the_event_then_the_request_then_now() -> None:
    request_us, event_us = NOW_US - HOUR_US, NOW_US - 2 * HOUR_US
    body = web(
        {"name": "a", "timestamp_micros": event_us},
        {"name": "b"},
        timestamp_micros=request_us,
    )

    with_request = check(body)
    without = check(web({"name": "b"}))

    assert [e.timestamp_micros for e in with_request.events] == [event_us, request_us]
    assert without.events[0].timestamp_micros == NOW_US


def test_several_events_keep_their_order_and_invalid_ones_are_dropped() -> None:
    checked = check(web({"name": "one"}, {"name": "bad-name"}, {"name": "three"}))

    assert [e.name for e in checked.events] == ["one", "three"]
    assert codes(checked) == [("events[1].name", "NAME_INVALID")]
    assert checked.dropped == {"NAME_INVALID": 1}


def test_page_location_and_referrer_travel_outside_the_params() -> None:
    long_url = "https://shop.example/" + "p" * 900
    checked = check(
        web(
            {
                "name": "page_view",
                "params": {
                    "page_location": long_url,
                    "page_referrer": "https://t.co/x",
                },
            }
        )
    )

    event = checked.events[0]
    assert (event.page_location, event.page_referrer) == (long_url, "https://t.co/x")
    assert event.params == {}


# --- limits at their bound and just past it ---


@pytest.mark.parametrize(
    ("param", "limit"),
    [("page_title", 300), ("page_referrer", 420), ("page_location", 1000)],
)
@pytest.mark.parametrize("extra", [0, 1])
def test_page_params_have_ga4s_longer_limits(
    param: str, limit: int, extra: int
) -> None:
    value = "https://shop.example/" + "x" * (limit + extra - 21)

    checked = check(web({"name": "page_view", "params": {param: value}}))

    if extra:
        assert codes(checked) == [(f"events[0].params.{param}", "VALUE_OUT_OF_BOUNDS")]
        assert checked.events == []
    else:
        assert checked.messages == []
        assert page_value(checked.events[0], param) == value


def page_value(event: v.MpEvent, param: str) -> Any:
    """A page param where validation put it: lifted out, or left a param."""
    lifted = {
        "page_location": event.page_location,
        "page_referrer": event.page_referrer,
    }
    return lifted.get(param, event.params.get(param))


@pytest.mark.parametrize("param", ["page_title", "page_referrer", "page_location"])
@pytest.mark.parametrize("value", [5, 1.5, True])
def test_page_params_must_be_strings(param: str, value: Any) -> None:
    checked = check(web({"name": "page_view", "params": {param: value}}))

    assert codes(checked) == [(f"events[0].params.{param}", "VALUE_INVALID")]
    assert checked.events == []


def test_a_page_title_stays_a_param() -> None:
    checked = check(web({"name": "page_view", "params": {"page_title": "Shoes"}}))

    assert checked.events[0].params == {"page_title": "Shoes"}


@pytest.mark.parametrize(("count", "valid"), [(25, True), (26, False)])
def test_a_request_holds_at_most_25_events(count: int, valid: bool) -> None:
    checked = check(web(*[{"name": "e"}] * count))

    assert len(checked.events) == (count if valid else 0)
    if not valid:
        assert codes(checked) == [("events", "EXCEEDED_MAX_ENTITIES")]
        assert checked.dropped == {"EXCEEDED_MAX_ENTITIES": 26}


@pytest.mark.parametrize(("count", "valid"), [(25, True), (26, False)])
def test_an_event_holds_at_most_25_params(count: int, valid: bool) -> None:
    params = {f"p{i}": i for i in range(count)}

    checked = check(web({"name": "e", "params": params}))

    assert bool(checked.events) is valid
    if not valid:
        assert codes(checked) == [("events[0].params", "EXCEEDED_MAX_ENTITIES")]


@pytest.mark.parametrize(("count", "kept"), [(25, 25), (26, 0)])
def test_a_request_holds_at_most_25_user_properties(count: int, kept: int) -> None:
    properties = {f"p{i}": {"value": i} for i in range(count)}

    checked = check(web({"name": "e"}, user_properties=properties))

    assert len(checked.user_properties) == kept
    assert len(checked.events) == 1
    expected = [] if kept else [("user_properties", "EXCEEDED_MAX_ENTITIES")]
    assert codes(checked) == expected


@pytest.mark.parametrize(("length", "code"), [(40, None), (41, "NAME_INVALID")])
def test_event_and_param_names_have_at_most_40_characters(
    length: int, code: str | None
) -> None:
    name = "e" * length

    as_event = check(web({"name": name}))
    as_param = check(web({"name": "e", "params": {name: 1}}))

    assert [m.validation_code for m in as_event.messages] == ([code] if code else [])
    assert [m.validation_code for m in as_param.messages] == ([code] if code else [])


@pytest.mark.parametrize(
    ("length", "code"), [(100, None), (101, "VALUE_OUT_OF_BOUNDS")]
)
def test_param_values_have_at_most_100_characters(
    length: int, code: str | None
) -> None:
    checked = check(web({"name": "e", "params": {"text": "x" * length}}))

    assert [m.validation_code for m in checked.messages] == ([code] if code else [])


@pytest.mark.parametrize(("length", "kept"), [(24, True), (25, False)])
def test_user_property_names_have_at_most_24_characters(
    length: int, kept: bool
) -> None:
    checked = check(web({"name": "e"}, user_properties={"u" * length: {"value": 1}}))

    assert bool(checked.user_properties) is kept
    if not kept:
        assert checked.messages[0].validation_code == "NAME_INVALID"


@pytest.mark.parametrize(("length", "kept"), [(36, True), (37, False)])
def test_user_property_values_have_at_most_36_characters(
    length: int, kept: bool
) -> None:
    checked = check(
        web({"name": "e"}, user_properties={"tier": {"value": "v" * length}})
    )

    assert bool(checked.user_properties) is kept
    if not kept:
        assert codes(checked) == [("user_properties.tier.value", "VALUE_OUT_OF_BOUNDS")]


@pytest.mark.parametrize(
    ("age_us", "valid"), [(72 * HOUR_US, True), (72 * HOUR_US + 1, False)]
)
def test_timestamps_may_be_at_most_72_hours_old(age_us: int, valid: bool) -> None:
    event = check(web({"name": "e", "timestamp_micros": NOW_US - age_us}))
    request = check(web({"name": "e"}, timestamp_micros=NOW_US - age_us))

    assert bool(event.events) is valid
    assert bool(request.events) is valid
    if not valid:
        assert codes(event) == [("events[0].timestamp_micros", "VALUE_OUT_OF_BOUNDS")]
        assert codes(request) == [("timestamp_micros", "VALUE_OUT_OF_BOUNDS")]


def test_a_body_of_130_kb_or_more_is_refused_by_its_size() -> None:
    assert v.MAX_BODY_BYTES == 129_999


# --- every validation code ---


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"events": [{"name": "e"}]}, ("client_id", "VALUE_REQUIRED")),
        (web(), ("events", "VALUE_REQUIRED")),
        (web({"params": {}}), ("events[0].name", "VALUE_REQUIRED")),
        (web({"name": "e"}, client_id=12), ("client_id", "VALUE_INVALID")),
        (
            web({"name": "e", "params": {"p": {"x": 1}}}),
            ("events[0].params.p", "VALUE_INVALID"),
        ),
        (
            web({"name": "e"}, consent={"ad_user_data": "YES"}),
            ("consent.ad_user_data", "VALUE_INVALID"),
        ),
        (
            web({"name": "e"}, user_location={"country_id": "usa"}),
            ("user_location.country_id", "VALUE_INVALID"),
        ),
        (
            web({"name": "e"}, non_personalized_ads="no"),
            ("non_personalized_ads", "VALUE_INVALID"),
        ),
        (web({"name": "9lives"}), ("events[0].name", "NAME_INVALID")),
        (web({"name": "session_start"}), ("events[0].name", "NAME_RESERVED")),
        (
            web({"name": "e", "params": {"value": 2**63}}),
            ("events[0].params.value", "VALUE_OUT_OF_BOUNDS"),
        ),
    ],
)
def test_each_problem_has_its_validation_code(
    body: dict[str, Any], expected: tuple[str, str]
) -> None:
    assert codes(check(body)) == [expected]


def test_a_repeated_param_name_is_name_duplicated() -> None:
    raw = b'{"client_id": "c", "events": [{"name": "e", "params": {"a": 1, "a": 2}}]}'

    checked = v.check(v.parse(raw), app=False, now_us=NOW_US)

    assert codes(checked) == [("events[0].params.a", "NAME_DUPLICATED")]


def test_a_repeated_user_property_is_name_duplicated() -> None:
    raw = (
        b'{"client_id": "c", "events": [{"name": "e"}],'
        b' "user_properties": {"a": {"value": 1}, "a": {"value": 2}}}'
    )

    checked = v.check(v.parse(raw), app=False, now_us=NOW_US)

    assert codes(checked) == [("user_properties.a", "NAME_DUPLICATED")]
    assert len(checked.events) == 1


@pytest.mark.parametrize("body", [b"[1]", b"{not json", b'{"x": NaN}'])
def test_a_body_that_is_not_a_json_object_is_refused(body: bytes) -> None:
    with pytest.raises(v.BodyInvalid):
        v.parse(body)


# --- reserved names and prefixes ---


@pytest.mark.parametrize(
    "name",
    [
        "ad_click",
        "first_visit",
        "screen_view",
        "user_engagement",
        "firebase_x",
        "ga_x",
        "google_x",
        "gtag.config",
    ],
)
def test_reserved_event_names_and_prefixes_are_refused(name: str) -> None:
    assert codes(check(web({"name": name}))) == [("events[0].name", "NAME_RESERVED")]


@pytest.mark.parametrize(
    "name", ["firebase_conversion", "firebase_x", "ga_x", "google_x", "gtag.x"]
)
def test_reserved_param_names_and_prefixes_are_refused(name: str) -> None:
    checked = check(web({"name": "e", "params": {name: 1}}))

    assert codes(checked) == [(f"events[0].params.{name}", "NAME_RESERVED")]


@pytest.mark.parametrize(
    "name", ["user_id", "first_open_time", "firebase_x", "ga_x", "google_x"]
)
def test_reserved_user_property_names_and_prefixes_are_refused(name: str) -> None:
    checked = check(web({"name": "e"}, user_properties={name: {"value": 1}}))

    assert codes(checked) == [(f"user_properties.{name}", "NAME_RESERVED")]
    assert checked.user_properties == {}


def test_a_name_starting_with_an_underscore_is_name_invalid() -> None:
    # GA4's validation server answers "_badEventName" so, though "_" is also
    # a reserved prefix: a name must start with a letter.
    checked = check(
        web(
            {"name": "_private"},
            {"name": "e", "params": {"_x": 1}},
            user_properties={"_x": {"value": 1}},
        )
    )

    assert codes(checked) == [
        ("user_properties._x", "NAME_INVALID"),
        ("events[0].name", "NAME_INVALID"),
        ("events[1].params._x", "NAME_INVALID"),
    ]


@pytest.mark.parametrize("escape", [r"\ud800", r"\udfff", r"a\ud83d"])
def test_a_lone_surrogate_anywhere_makes_the_body_invalid(escape: str) -> None:
    raw = '{"client_id": "1", "events": [{"name": "e", "params": {"t": "%s"}}]}'

    with pytest.raises(v.BodyInvalid, match="lone surrogate"):
        v.parse((raw % escape).encode())


def test_a_surrogate_pair_is_text() -> None:
    raw = rb'{"client_id": "1", "events": [{"name": "e", "params": {"t": '
    raw += rb'"\ud83d\ude00"}}]}'

    assert v.parse(raw)["events"][0]["params"]["t"] == "\U0001f600"


@pytest.mark.parametrize("value", [[], {}, 1, True])
def test_a_consent_that_is_not_a_string_is_value_invalid(value: Any) -> None:
    checked = check(web({"name": "e"}, consent={"ad_user_data": value}))

    assert codes(checked) == [("consent.ad_user_data", "VALUE_INVALID")]
