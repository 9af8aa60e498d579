"""The reports matrix: every answer is checked against numbers computed in
Python from the generated rows, on chDB's current engine and on the local
ClickHouse 18.16 server."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import falcon.testing
import pytest

from tests.reports import dataset
from tests.reports.conftest import OTHER_SECRET_KEY, SECRET_KEY
from tests.reports.dataset import NOW, PROJECT, TODAY, Event, Row, expected

START = TODAY - dt.timedelta(days=dataset.DAYS - 1)
RANGE = {"startDate": f"{dataset.DAYS - 1}daysAgo", "endDate": "today"}
BASIC_METRICS = ["eventCount", "activeUsers", "sessions"]
ALL_METRICS = [
    "eventCount",
    "activeUsers",
    "totalUsers",
    "newUsers",
    "sessions",
    "screenPageViews",
    "eventsPerSession",
    "screenPageViewsPerSession",
    "userEngagementDuration",
    "engagedSessions",
]


def run(
    client: falcon.testing.TestClient,
    body: dict[str, Any],
    *,
    method: str = "runReport",
    project: str = PROJECT,
    key: str = SECRET_KEY,
) -> dict[str, Any]:
    result = client.simulate_post(
        f"/v1beta/properties/{project}:{method}",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
    )
    assert result.status_code == 200, result.text
    answer: dict[str, Any] = result.json
    return answer


def report(dimensions: list[str], metrics: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "dateRanges": [RANGE],
        "dimensions": [{"name": d} for d in dimensions],
        "metrics": [{"name": m} for m in metrics],
        "limit": 100_000,
        **extra,
    }


def rows_of(answer: dict[str, Any]) -> list[Row]:
    return [
        (
            tuple(v["value"] for v in row["dimensionValues"]),
            tuple(float(v["value"]) for v in row["metricValues"]),
        )
        for row in answer.get("rows", [])
    ]


def assert_same_rows(actual: list[Row], wanted: list[Row]) -> None:
    assert sorted(r[0] for r in actual) == sorted(r[0] for r in wanted)
    found = dict(actual)
    for key, values in wanted:
        assert found[key] == pytest.approx(values), key


def expect(
    events: tuple[list[Event], list[Event]],
    dimensions: list[str],
    metrics: list[str],
    **options: Any,
) -> list[Row]:
    originals, copies = events
    return expected(
        originals + copies, dimensions, metrics, start=START, end=TODAY, **options
    )


Events = tuple[list[Event], list[Event]]


# --- dimensions and metrics -------------------------------------------------------


@pytest.mark.parametrize("dimension", sorted(dataset.DIMENSIONS))
def test_each_dimension_alone_matches_python(
    client: falcon.testing.TestClient, events: Events, dimension: str
) -> None:
    answer = run(client, report([dimension], BASIC_METRICS))

    assert answer["dimensionHeaders"] == [{"name": dimension}]
    assert_same_rows(rows_of(answer), expect(events, [dimension], BASIC_METRICS))
    assert answer["rowCount"] == len(answer["rows"])


@pytest.mark.parametrize("metric", ALL_METRICS)
def test_each_metric_by_date_matches_python(
    client: falcon.testing.TestClient, events: Events, metric: str
) -> None:
    answer = run(client, report(["date"], [metric]))

    assert_same_rows(rows_of(answer), expect(events, ["date"], [metric]))


def test_every_metric_without_dimensions_is_one_row(
    client: falcon.testing.TestClient, events: Events
) -> None:
    answer = run(client, report([], ALL_METRICS))

    assert_same_rows(rows_of(answer), expect(events, [], ALL_METRICS))
    types = {h["name"]: h["type"] for h in answer["metricHeaders"]}
    assert types["eventCount"] == "TYPE_INTEGER"
    assert types["eventsPerSession"] == "TYPE_FLOAT"
    assert types["userEngagementDuration"] == "TYPE_SECONDS"
    assert answer["kind"] == "analyticsData#runReport"
    assert answer["metadata"]["timeZone"] == "UTC"


@pytest.mark.parametrize(
    "dimensions",
    [
        ["date", "country", "deviceCategory"],
        ["pagePath", "eventName"],
        ["sessionSource", "sessionMedium", "sessionCampaignName"],
        ["dateHour", "platform", "browser", "operatingSystem", "city"],
    ],
)
def test_dimension_combinations_match_python(
    client: falcon.testing.TestClient, events: Events, dimensions: list[str]
) -> None:
    metrics = ["eventCount", "sessions", "engagedSessions", "newUsers"]

    answer = run(client, report(dimensions, metrics, keepEmptyRows=True))

    wanted = expect(events, dimensions, metrics, keep_empty_rows=True)
    assert_same_rows(rows_of(answer), wanted)


def test_redelivered_events_are_counted_once(
    client: falcon.testing.TestClient, events: Events
) -> None:
    originals, copies = events
    in_range = [
        e
        for e in originals
        if e.project_id == PROJECT and e.moment.date() >= START and not e.is_bot
    ]
    copied = [e for e in copies if e in in_range]

    answer = run(client, report([], ["eventCount"]))

    assert copied, "the dataset must redeliver some events of the range"
    assert rows_of(answer) == [((), (float(len(in_range)),))]


def test_another_project_sees_only_its_own_events(
    client: falcon.testing.TestClient, events: Events
) -> None:
    originals, _ = events
    theirs = [
        e
        for e in originals
        if e.project_id == dataset.OTHER_PROJECT and e.moment.date() >= START
    ]

    answer = run(
        client,
        report([], ["eventCount"]),
        project=dataset.OTHER_PROJECT,
        key=OTHER_SECRET_KEY,
    )

    assert rows_of(answer) == [((), (float(len(theirs)),))]


def test_bot_events_are_not_counted(
    client: falcon.testing.TestClient, events: Events
) -> None:
    originals, _ = events
    ours = [e for e in originals if e.project_id == PROJECT]
    in_range = [e for e in ours if e.moment.date() >= START]
    recent = [e for e in ours if NOW - dt.timedelta(minutes=30) <= e.moment < NOW]
    realtime = {"metrics": [{"name": "eventCount"}, {"name": "activeUsers"}]}

    answer = run(client, report([], ["eventCount", "totalUsers"]))
    live = run(client, realtime, method="runRealtimeReport")

    assert any(e.is_bot for e in in_range), "the dataset must hold bots in range"
    assert any(e.is_bot for e in recent), "and bots in the last 30 minutes"
    humans = [e for e in in_range if not e.is_bot]
    users = {e.user_pseudo_id for e in humans}
    assert rows_of(answer) == [((), (float(len(humans)), float(len(users))))]
    live_humans = [e for e in recent if not e.is_bot]
    live_users = {e.user_pseudo_id for e in live_humans}
    assert rows_of(live) == [((), (float(len(live_humans)), float(len(live_users))))]


# --- filters ------------------------------------------------------------------------


def _string_filter(match_type: str, value: str, case_sensitive: bool) -> dict[str, Any]:
    return {
        "filter": {
            "fieldName": "pagePath",
            "stringFilter": {
                "matchType": match_type,
                "value": value,
                "caseSensitive": case_sensitive,
            },
        }
    }


_STRING_CASES: list[tuple[str, str, bool, Callable[[str], bool]]] = [
    ("EXACT", "/products/shoes", True, lambda p: p == "/products/shoes"),
    ("EXACT", "/products/shoes", False, lambda p: p.lower() == "/products/shoes"),
    ("BEGINS_WITH", "/products", True, lambda p: p.startswith("/products")),
    ("BEGINS_WITH", "/products", False, lambda p: p.lower().startswith("/products")),
    ("ENDS_WITH", "Shoes", True, lambda p: p.endswith("Shoes")),
    ("ENDS_WITH", "shoes", False, lambda p: p.lower().endswith("shoes")),
    ("CONTAINS", "o", True, lambda p: "o" in p),
    ("CONTAINS", "P", False, lambda p: "p" in p.lower()),
    ("CONTAINS", "'", True, lambda p: "'" in p),
    ("EXACT", "/files/back\\slash", True, lambda p: p == "/files/back\\slash"),
    ("FULL_REGEXP", "/products/.*", True, lambda p: p.startswith("/products/")),
    ("FULL_REGEXP", "/products", True, lambda p: p == "/products"),
    ("PARTIAL_REGEXP", "s/h", True, lambda p: "s/h" in p),
    ("PARTIAL_REGEXP", "^/PRODUCTS", False, lambda p: bool(re.match("(?i)/p", p))),
    ("EXACT", "x' OR 1=1 --", True, lambda p: False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("match_type", "value", "case_sensitive", "keep"), _STRING_CASES
)
def test_string_filters_match_python(
    client: falcon.testing.TestClient,
    events: Events,
    match_type: str,
    value: str,
    case_sensitive: bool,
    keep: Callable[[str], bool],
) -> None:
    body = report(
        ["pagePath"],
        ["eventCount"],
        dimensionFilter=_string_filter(match_type, value, case_sensitive),
    )

    answer = run(client, body)

    wanted = expect(
        events, ["pagePath"], ["eventCount"], where=lambda e: keep(e.page_path)
    )
    assert_same_rows(rows_of(answer), wanted)


@pytest.mark.parametrize("case_sensitive", [True, False])
def test_in_list_filter_matches_python(
    client: falcon.testing.TestClient, events: Events, case_sensitive: bool
) -> None:
    values = ["germany", "South Korea", "(not set)", "US"]
    in_list = {"values": values, "caseSensitive": case_sensitive}
    body = report(
        ["country"],
        ["eventCount"],
        dimensionFilter={"filter": {"fieldName": "country", "inListFilter": in_list}},
    )

    answer = run(client, body)

    def keep(event: Event) -> bool:
        country = dataset.DIMENSIONS["country"](event)
        if case_sensitive:
            return country in values
        return country.lower() in [v.lower() for v in values]

    assert_same_rows(
        rows_of(answer), expect(events, ["country"], ["eventCount"], where=keep)
    )


_SHOWN_VALUE_CASES: list[tuple[str, dict[str, Any], Callable[[Event], bool]]] = [
    ("country", {"value": "united states"}, lambda e: e.geo_country == "US"),
    ("country", {"matchType": "BEGINS_WITH", "value": "South", "caseSensitive": True},
     lambda e: e.geo_country == "KR"),
    ("country", {"value": "US"}, lambda e: False),
    ("country", {"value": "(not set)"}, lambda e: e.geo_country == ""),
    ("countryId", {"value": "kr"}, lambda e: e.geo_country == "KR"),
    ("countryId", {"value": "South Korea"}, lambda e: False),
    ("platform", {"value": "iOS", "caseSensitive": True},
     lambda e: e.platform == "IOS"),
    ("platform", {"value": "IOS", "caseSensitive": True}, lambda e: False),
    ("platform", {"value": "(not set)"}, lambda e: e.platform == ""),
    ("platform", {"matchType": "FULL_REGEXP", "value": "web|Android",
                  "caseSensitive": True}, lambda e: e.platform in ("WEB", "ANDROID")),
]  # fmt: skip


@pytest.mark.parametrize(("dimension", "string", "keep"), _SHOWN_VALUE_CASES)
def test_filters_on_translated_dimensions_see_the_shown_values(
    client: falcon.testing.TestClient,
    events: Events,
    dimension: str,
    string: dict[str, Any],
    keep: Callable[[Event], bool],
) -> None:
    dimensions = ["country", "countryId", "platform"]
    expression = {"filter": {"fieldName": dimension, "stringFilter": string}}
    body = report(dimensions, ["eventCount"], dimensionFilter=expression)

    answer = run(client, body)

    assert_same_rows(
        rows_of(answer), expect(events, dimensions, ["eventCount"], where=keep)
    )


_NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "EQUAL": lambda a, b: a == b,
    "LESS_THAN": lambda a, b: a < b,
    "LESS_THAN_OR_EQUAL": lambda a, b: a <= b,
    "GREATER_THAN": lambda a, b: a > b,
    "GREATER_THAN_OR_EQUAL": lambda a, b: a >= b,
}


@pytest.mark.parametrize("operation", sorted(_NUMERIC))
def test_numeric_metric_filter_matches_python(
    client: falcon.testing.TestClient, events: Events, operation: str
) -> None:
    wanted = expect(events, ["pagePath", "date"], ["eventCount"])
    threshold = sorted(r[1][0] for r in wanted)[len(wanted) // 2]
    metric_filter = {
        "filter": {
            "fieldName": "eventCount",
            "numericFilter": {
                "operation": operation,
                "value": {"int64Value": str(int(threshold))},
            },
        }
    }

    answer = run(
        client,
        report(["pagePath", "date"], ["eventCount"], metricFilter=metric_filter),
    )

    keep = [r for r in wanted if _NUMERIC[operation](r[1][0], threshold)]
    assert_same_rows(rows_of(answer), keep)


def test_between_filter_on_a_float_metric_matches_python(
    client: falcon.testing.TestClient, events: Events
) -> None:
    metrics = ["eventsPerSession", "sessions"]
    between = {"fromValue": {"doubleValue": 2.5}, "toValue": {"doubleValue": 5.0}}
    body = report(
        ["date"],
        metrics,
        metricFilter={
            "filter": {"fieldName": "eventsPerSession", "betweenFilter": between}
        },
    )

    answer = run(client, body)

    wanted = [r for r in expect(events, ["date"], metrics) if 2.5 <= r[1][0] <= 5.0]
    assert wanted
    assert_same_rows(rows_of(answer), wanted)


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


@pytest.mark.parametrize(
    "metric_filter",
    [
        {"numericFilter": {"operation": "GREATER_THAN",
                           "value": {"int64Value": str(INT64_MIN)}}},
        {"numericFilter": {"operation": "LESS_THAN_OR_EQUAL",
                           "value": {"int64Value": INT64_MAX}}},
        {"betweenFilter": {"fromValue": {"int64Value": INT64_MIN},
                           "toValue": {"int64Value": str(INT64_MAX)}}},
    ],
)  # fmt: skip
def test_int64_values_at_the_bounds_keep_every_row(
    client: falcon.testing.TestClient, events: Events, metric_filter: dict[str, Any]
) -> None:
    expression = {"filter": {"fieldName": "eventCount", **metric_filter}}
    body = report(["pagePath"], ["eventCount"], metricFilter=expression)

    answer = run(client, body)

    assert_same_rows(rows_of(answer), expect(events, ["pagePath"], ["eventCount"]))


def test_an_offset_at_the_int64_bound_is_past_every_row(
    client: falcon.testing.TestClient, events: Events
) -> None:
    body = report(["pagePath"], ["eventCount"], offset=INT64_MAX, limit=10)

    answer = run(client, body)

    assert answer.get("rows", []) == []
    assert answer["rowCount"] == len(expect(events, ["pagePath"], ["eventCount"]))


def test_and_or_not_groups_nest(
    client: falcon.testing.TestClient, events: Events
) -> None:
    def field(name: str, value: str) -> dict[str, Any]:
        string = {"matchType": "EXACT", "value": value, "caseSensitive": True}
        return {"filter": {"fieldName": name, "stringFilter": string}}

    expression = {
        "andGroup": {
            "expressions": [
                {
                    "orGroup": {
                        "expressions": [
                            field("deviceCategory", "mobile"),
                            field("deviceCategory", "tablet"),
                        ]
                    }
                },
                {"notExpression": field("eventName", "page_view")},
            ]
        }
    }
    body = report(
        ["deviceCategory", "eventName"], BASIC_METRICS, dimensionFilter=expression
    )

    answer = run(client, body)

    def keep(event: Event) -> bool:
        mobile = event.device_category in ("mobile", "tablet")
        return mobile and event.event_name != "page_view"

    wanted = expect(events, ["deviceCategory", "eventName"], BASIC_METRICS, where=keep)
    assert_same_rows(rows_of(answer), wanted)


# --- order, pages, aggregations ---------------------------------------------------


def test_order_by_metric_then_dimension_pages_with_limit_and_offset(
    client: falcon.testing.TestClient, events: Events
) -> None:
    wanted = expect(events, ["pagePath", "country"], ["eventCount"])
    ordered = sorted(wanted, key=lambda r: (-r[1][0], r[0][1], r[0][0]))
    order_bys = [
        {"metric": {"metricName": "eventCount"}, "desc": True},
        {"dimension": {"dimensionName": "country"}},
    ]
    body = report(["pagePath", "country"], ["eventCount"], orderBys=order_bys)

    first = run(client, {**body, "limit": 5})
    second = run(client, {**body, "limit": 5, "offset": 5})

    assert rows_of(first) + rows_of(second) == ordered[:10]
    assert first["rowCount"] == second["rowCount"] == len(wanted)


@pytest.mark.parametrize(
    ("order_type", "key"),
    [
        ("ALPHANUMERIC", lambda v: v),
        ("CASE_INSENSITIVE_ALPHANUMERIC", lambda v: v.lower()),
    ],
)
def test_order_by_dimension_descending(
    client: falcon.testing.TestClient,
    events: Events,
    order_type: str,
    key: Callable[[str], Any],
) -> None:
    order = {"dimensionName": "pagePath", "orderType": order_type}
    body = report(
        ["pagePath"], ["eventCount"], orderBys=[{"dimension": order, "desc": True}]
    )

    answer = run(client, body)

    paths = [r[0][0] for r in rows_of(answer)]
    assert [key(p) for p in paths] == sorted((key(p) for p in paths), reverse=True)
    assert len(paths) == len(expect(events, ["pagePath"], ["eventCount"]))


def _numeric_rank(value: str) -> tuple[bool, float]:
    """GA4's NUMERIC order: numbers by value, every other value alike below them."""
    try:
        return True, float(value)
    except ValueError:
        return False, 0.0


@pytest.mark.parametrize("desc", [False, True])
def test_numeric_order_ranks_numbers_by_value_above_other_values(
    client: falcon.testing.TestClient, events: Events, desc: bool
) -> None:
    order = {"dimensionName": "sessionCampaignName", "orderType": "NUMERIC"}
    body = report(
        ["sessionCampaignName"],
        ["eventCount"],
        orderBys=[{"dimension": order, "desc": desc}],
    )

    answer = run(client, body)

    # Ties (the values that are not numbers) keep the dimension's ascending order.
    by_name = sorted(expect(events, ["sessionCampaignName"], ["eventCount"]))
    wanted = sorted(by_name, key=lambda r: _numeric_rank(r[0][0]), reverse=desc)
    assert rows_of(answer) == wanted
    numbers = [r[0][0] for r in wanted if _numeric_rank(r[0][0])[0]]
    ascending = ["-7", "95", "0120", "1021"]
    assert numbers == (ascending[::-1] if desc else ascending)


def test_default_order_is_the_first_metric_descending(
    client: falcon.testing.TestClient,
) -> None:
    answer = run(client, report(["country"], ["eventCount"]))

    counts = [r[1][0] for r in rows_of(answer)]
    assert counts == sorted(counts, reverse=True)


def test_totals_minimums_and_maximums_match_python(
    client: falcon.testing.TestClient, events: Events
) -> None:
    metrics = ["eventCount", "activeUsers", "eventsPerSession"]
    body = report(
        ["country"],
        metrics,
        metricAggregations=["TOTAL", "MINIMUM", "MAXIMUM"],
        limit=1,
    )

    answer = run(client, body)

    rows = expect(events, ["country"], metrics)
    [total] = expect(events, [], metrics)
    assert rows_of({"rows": answer["totals"]}) == [
        (("RESERVED_TOTAL",), pytest.approx(total[1]))
    ]
    lows = tuple(min(r[1][i] for r in rows) for i in range(3))
    highs = tuple(max(r[1][i] for r in rows) for i in range(3))
    assert rows_of({"rows": answer["minimums"]}) == [
        (("RESERVED_MIN",), pytest.approx(lows))
    ]
    assert rows_of({"rows": answer["maximums"]}) == [
        (("RESERVED_MAX",), pytest.approx(highs))
    ]


@pytest.mark.parametrize("dimensions", [["pagePath"], ["pagePath", "country"]])
def test_totals_of_session_metrics_count_each_session_once(
    client: falcon.testing.TestClient, events: Events, dimensions: list[str]
) -> None:
    metrics = ["sessions", "engagedSessions", "eventCount", "totalUsers"]
    body = report(dimensions, metrics, metricAggregations=["TOTAL"])

    answer = run(client, body)

    # GA4 totals are over the whole range, not the sum of the rows: a session
    # seen on several pages is one session, judged on all its events.
    [(_, total)] = expect(events, [], metrics)
    labels = tuple("RESERVED_TOTAL" for _ in dimensions)
    assert rows_of({"rows": answer["totals"]}) == [(labels, pytest.approx(total))]
    by_row = sum(r[1][0] for r in expect(events, dimensions, metrics))
    assert by_row > total[0], "the rows must split sessions for this to test much"


@pytest.mark.parametrize("keep_empty_rows", [True, False])
def test_keep_empty_rows_controls_all_zero_rows(
    client: falcon.testing.TestClient, events: Events, keep_empty_rows: bool
) -> None:
    body = report(["pagePath", "city"], ["newUsers"], keepEmptyRows=keep_empty_rows)

    answer = run(client, body)

    wanted = expect(
        events, ["pagePath", "city"], ["newUsers"], keep_empty_rows=keep_empty_rows
    )
    assert_same_rows(rows_of(answer), wanted)
    zeros = [r for r in rows_of(answer) if r[1] == (0.0,)]
    assert bool(zeros) == keep_empty_rows


# --- date ranges --------------------------------------------------------------------


def test_relative_dates_are_days_before_today_in_utc(
    client: falcon.testing.TestClient,
) -> None:
    week_ago = (TODAY - dt.timedelta(days=7)).isoformat()
    yesterday = (TODAY - dt.timedelta(days=1)).isoformat()
    relative = report(["date"], BASIC_METRICS)
    relative["dateRanges"] = [{"startDate": "7daysAgo", "endDate": "yesterday"}]
    absolute = report(["date"], BASIC_METRICS)
    absolute["dateRanges"] = [{"startDate": week_ago, "endDate": yesterday}]

    answer = run(client, relative)

    assert rows_of(answer) == rows_of(run(client, absolute))
    dates = {r[0][0] for r in rows_of(answer)}
    assert max(dates) == yesterday.replace("-", "")
    assert min(dates) >= week_ago.replace("-", "")


def test_several_date_ranges_add_a_date_range_dimension(
    client: falcon.testing.TestClient, events: Events
) -> None:
    ranges = [
        {"startDate": "13daysAgo", "endDate": "7daysAgo", "name": "before"},
        {"startDate": "9daysAgo", "endDate": "today"},
    ]
    body = report(["deviceCategory"], BASIC_METRICS, metricAggregations=["TOTAL"])
    body["dateRanges"] = ranges

    answer = run(client, body)

    originals, copies = events
    wanted = []
    for name, back, until in (("before", 13, 7), ("date_range_1", 9, 0)):
        rows = expected(
            originals + copies,
            ["deviceCategory"],
            BASIC_METRICS,
            start=TODAY - dt.timedelta(days=back),
            end=TODAY - dt.timedelta(days=until),
        )
        wanted += [((*key, name), values) for key, values in rows]
    assert answer["dimensionHeaders"][-1] == {"name": "dateRange"}
    assert_same_rows(rows_of(answer), wanted)
    labels = [row["dimensionValues"] for row in answer["totals"]]
    assert labels == [
        [{"value": "RESERVED_TOTAL"}, {"value": "before"}],
        [{"value": "RESERVED_TOTAL"}, {"value": "date_range_1"}],
    ]


def test_every_metric_over_several_date_ranges_matches_python(
    client: falcon.testing.TestClient, events: Events
) -> None:
    body = report(["deviceCategory"], ALL_METRICS)
    body["dateRanges"] = [
        {"startDate": "13daysAgo", "endDate": "7daysAgo"},
        {"startDate": "9daysAgo", "endDate": "today"},
    ]

    answer = run(client, body)

    originals, copies = events
    wanted = []
    for name, back, until in (("date_range_0", 13, 7), ("date_range_1", 9, 0)):
        rows = expected(
            originals + copies,
            ["deviceCategory"],
            ALL_METRICS,
            start=TODAY - dt.timedelta(days=back),
            end=TODAY - dt.timedelta(days=until),
        )
        wanted += [((*key, name), values) for key, values in rows]
    assert_same_rows(rows_of(answer), wanted)


def test_minimums_and_maximums_come_one_per_date_range(
    client: falcon.testing.TestClient, events: Events
) -> None:
    ranges = [
        {"startDate": "13daysAgo", "endDate": "7daysAgo", "name": "before"},
        {"startDate": "6daysAgo", "endDate": "today", "name": "after"},
    ]
    body = report(["country"], BASIC_METRICS, metricAggregations=["MINIMUM", "MAXIMUM"])
    body["dateRanges"] = ranges

    answer = run(client, body)

    originals, copies = events
    lows, highs = [], []
    for name, back, until in (("before", 13, 7), ("after", 6, 0)):
        rows = expected(
            originals + copies,
            ["country"],
            BASIC_METRICS,
            start=TODAY - dt.timedelta(days=back),
            end=TODAY - dt.timedelta(days=until),
        )
        columns = list(zip(*(r[1] for r in rows), strict=True))
        lows.append((("RESERVED_MIN", name), tuple(min(c) for c in columns)))
        highs.append((("RESERVED_MAX", name), tuple(max(c) for c in columns)))
    assert rows_of({"rows": answer["minimums"]}) == lows
    assert rows_of({"rows": answer["maximums"]}) == highs


# --- realtime and metadata ----------------------------------------------------------


def test_realtime_report_counts_the_last_30_minutes(
    client: falcon.testing.TestClient, events: Events
) -> None:
    originals, copies = events
    start_us = int((NOW - dt.timedelta(minutes=30)).timestamp() * 1e6)
    now_us = int(NOW.timestamp() * 1e6)
    recent = [
        e
        for e in dataset.unique(originals + copies)
        if e.project_id == PROJECT
        and start_us <= e.event_timestamp < now_us
        and not e.is_bot
    ]
    by_country: dict[str, list[Event]] = {}
    for event in recent:
        by_country.setdefault(dataset.DIMENSIONS["country"](event), []).append(event)
    body = {
        "dimensions": [{"name": "country"}],
        "metrics": [{"name": "activeUsers"}, {"name": "eventCount"}],
        "minuteRanges": [{"startMinutesAgo": 29, "endMinutesAgo": 0}],
    }

    answer = run(client, body, method="runRealtimeReport")

    wanted = [
        ((country,), (float(len({e.user_pseudo_id for e in group})), float(len(group))))
        for country, group in by_country.items()
    ]
    assert answer["kind"] == "analyticsData#runRealtimeReport"
    assert_same_rows(rows_of(answer), wanted)


def _minutes(first: int, last: int) -> Callable[[Event], bool]:
    """Whether an event is from minute ``first`` ago to minute ``last`` ago."""
    start_us = int((NOW - dt.timedelta(minutes=first + 1)).timestamp() * 1e6)
    end_us = int((NOW - dt.timedelta(minutes=last)).timestamp() * 1e6)
    return lambda e: start_us <= e.event_timestamp < end_us


def expect_minutes(
    events: Events, dimensions: list[str], metrics: list[str], first: int, last: int
) -> list[Row]:
    """The rows of a one-range realtime report, computed in Python."""
    originals, copies = events
    return expected(
        originals + copies,
        dimensions,
        metrics,
        start=TODAY - dt.timedelta(days=1),
        end=TODAY,
        where=_minutes(first, last),
    )


_REALTIME_METRICS = ["activeUsers", "eventCount", "screenPageViews"]
_TWO_MINUTE_RANGES = [
    {"startMinutesAgo": 29, "endMinutesAgo": 10, "name": "earlier"},
    {"startMinutesAgo": 14},
]
_RANGES_IN_MINUTES = [("earlier", 29, 10), ("date_range_1", 14, 0)]


def test_realtime_report_over_two_minute_ranges_matches_python(
    client: falcon.testing.TestClient, events: Events
) -> None:
    body = {
        "dimensions": [{"name": "platform"}],
        "metrics": [{"name": m} for m in _REALTIME_METRICS],
        "minuteRanges": _TWO_MINUTE_RANGES,
    }

    answer = run(client, body, method="runRealtimeReport")

    wanted = [
        ((*key, name), values)
        for name, first, last in _RANGES_IN_MINUTES
        for key, values in expect_minutes(
            events, ["platform"], _REALTIME_METRICS, first, last
        )
    ]
    assert answer["dimensionHeaders"] == [{"name": "platform"}, {"name": "dateRange"}]
    assert {key[1] for key, _ in wanted} == {"earlier", "date_range_1"}
    assert_same_rows(rows_of(answer), wanted)


def test_realtime_metric_aggregations_match_python(
    client: falcon.testing.TestClient, events: Events
) -> None:
    body = {
        "dimensions": [{"name": "country"}],
        "metrics": [{"name": m} for m in _REALTIME_METRICS],
        "minuteRanges": _TWO_MINUTE_RANGES,
        "metricAggregations": ["TOTAL", "MINIMUM", "MAXIMUM"],
    }

    answer = run(client, body, method="runRealtimeReport")

    totals: list[Any] = []
    lows: list[Row] = []
    highs: list[Row] = []
    for name, first, last in _RANGES_IN_MINUTES:
        [(_, total)] = expect_minutes(events, [], _REALTIME_METRICS, first, last)
        totals.append((("RESERVED_TOTAL", name), pytest.approx(total)))
        rows = expect_minutes(events, ["country"], _REALTIME_METRICS, first, last)
        columns = list(zip(*(r[1] for r in rows), strict=True))
        lows.append((("RESERVED_MIN", name), tuple(min(c) for c in columns)))
        highs.append((("RESERVED_MAX", name), tuple(max(c) for c in columns)))
    assert rows_of({"rows": answer["totals"]}) == totals
    assert rows_of({"rows": answer["minimums"]}) == lows
    assert rows_of({"rows": answer["maximums"]}) == highs
    by_row = sum(r[1][0] for r in rows)
    assert by_row > total[0], "users in several countries must make totals differ"


def test_metadata_lists_every_dimension_and_metric(
    client: falcon.testing.TestClient,
) -> None:
    result = client.simulate_get(
        f"/v1beta/properties/{PROJECT}/metadata",
        headers={"X-Api-Key": SECRET_KEY},
    )

    assert result.status_code == 200
    dimensions = {d["apiName"] for d in result.json["dimensions"]}
    metrics = {m["apiName"]: m for m in result.json["metrics"]}
    assert set(dataset.DIMENSIONS) <= dimensions
    assert set(ALL_METRICS) <= set(metrics)
    assert metrics["userEngagementDuration"]["type"] == "TYPE_SECONDS"
    assert all(m["description"] for m in metrics.values())
