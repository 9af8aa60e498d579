"""Bad requests and bad keys get GA4's error bodies, before any query runs."""

from __future__ import annotations

import logging
from typing import Any

import falcon.testing
import pytest
from clickhouse_driver import Client

from ga4clone.errors import StoreUnavailable
from ga4clone.reports import Access, DriverEngine
from ga4clone.reports.query import Query
from tests.conftest import base_settings
from tests.reports.conftest import OTHER_SECRET_KEY, SECRET_KEY, WRITE_KEY, make_client
from tests.reports.dataset import PROJECT


class _NoEngine:
    """Fails the test if a query reaches it."""

    def execute(self, query: Query) -> list[tuple[Any, ...]]:
        raise AssertionError(f"no query should run: {query.sql}")


@pytest.fixture(scope="module")
def client() -> falcon.testing.TestClient:
    return make_client(_NoEngine(), max_rows=1000)


def _body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "dateRanges": [{"startDate": "7daysAgo", "endDate": "today"}],
        "dimensions": [{"name": "date"}],
        "metrics": [{"name": "eventCount"}],
    }
    body.update(overrides)
    return body


def _post(
    client: falcon.testing.TestClient,
    body: dict[str, Any],
    *,
    headers: dict[str, str] | None = None,
    path: str = f"/v1beta/properties/{PROJECT}:runReport",
) -> falcon.testing.Result:
    if headers is None:
        headers = {"Authorization": f"Bearer {SECRET_KEY}"}
    return client.simulate_post(path, json=body, headers=headers)


def _filter(**spec: Any) -> dict[str, Any]:
    return {"filter": {"fieldName": "pagePath", **spec}}


INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# Patterns Python's re compiles and ClickHouse's RE2 refuses.
_RE2_REFUSES = [
    ("FULL_REGEXP", r"(a)\1"),
    ("PARTIAL_REGEXP", r"(?P<x>a)(?P=x)"),
    ("PARTIAL_REGEXP", r"/products(?=/)"),
    ("PARTIAL_REGEXP", r"(?<!s)/shoes"),
    ("FULL_REGEXP", r"(?>/pro)ducts"),
    ("FULL_REGEXP", r"/pro.*+"),
    ("FULL_REGEXP", r"/(a)?(?(1)b|c)"),
    ("PARTIAL_REGEXP", r"(?x) /products"),
    ("PARTIAL_REGEXP", r"shoes\Z"),
    ("PARTIAL_REGEXP", r"[\u0041-\u005a]"),
    ("PARTIAL_REGEXP", r"o{1001}"),
]


def _numeric(value: Any) -> dict[str, Any]:
    numeric = {"operation": "EQUAL", "value": {"int64Value": value}}
    return {"filter": {"fieldName": "eventCount", "numericFilter": numeric}}


def _between(low: dict[str, Any], high: dict[str, Any]) -> dict[str, Any]:
    between = {"fromValue": low, "toValue": high}
    return {"filter": {"fieldName": "eventCount", "betweenFilter": between}}


_BAD = [
    (_body(dimensions=[{"name": "date"}, {"name": "nope"}]), "dimensions[1].name"),
    (_body(metrics=[{"name": "revenue"}]), "metrics[0].name"),
    (_body(metrics=[]), "metrics"),
    (_body(dimensions=[{"name": "date"}] * 2), "dimensions[1].name"),
    (_body(dimensions=[{"name": f"d{i}"} for i in range(10)]), "dimensions"),
    (_body(metrics=[{"name": "eventCount"}] * 11), "metrics"),
    (_body(dateRanges=[]), "dateRanges"),
    (_body(dateRanges=[{"startDate": "2026-02-30", "endDate": "today"}]),
     "dateRanges[0].startDate"),
    (_body(dateRanges=[{"startDate": "today", "endDate": "lastweek"}]),
     "dateRanges[0].endDate"),
    (_body(dateRanges=[{"startDate": "today", "endDate": "yesterday"}]),
     "dateRanges[0]"),
    (_body(dateRanges=[{"startDate": "today", "endDate": "today"}] * 5),
     "dateRanges"),
    (_body(dateRanges=[{"startDate": "today", "endDate": "today",
                        "name": "RESERVED_X"}]), "dateRanges[0].name"),
    (_body(limit=0), "limit"),
    (_body(limit=1001), "limit"),
    (_body(offset=-1), "offset"),
    (_body(limit="ten"), "limit"),
    (_body(unknownField=1), "unknownField"),
    (_body(metricAggregations=["MEDIAN"]), "metricAggregations[0]"),
    (_body(orderBys=[{"metric": {"metricName": "sessions"}}]),
     "orderBys[0].metric.metricName"),
    (_body(orderBys=[{"dimension": {"dimensionName": "date",
                                    "orderType": "RANDOM"}}]),
     "orderBys[0].dimension.orderType"),
    (_body(dimensionFilter=_filter(stringFilter={"matchType": "LIKE",
                                                 "value": "x"})),
     "dimensionFilter.filter.stringFilter.matchType"),
    (_body(dimensionFilter=_filter(stringFilter={"matchType": "FULL_REGEXP",
                                                 "value": "(unclosed"})),
     "dimensionFilter.filter.stringFilter.value"),
    (_body(dimensionFilter=_filter()), "dimensionFilter.filter"),
    (_body(dimensionFilter={"andGroup": {"expressions": []}}),
     "dimensionFilter.andGroup.expressions"),
    (_body(dimensionFilter={"andGroup": {"expressions": [
        {"filter": {"fieldName": "secret", "inListFilter": {"values": ["a"]}}}]}}),
     "dimensionFilter.andGroup.expressions[0].filter.fieldName"),
    (_body(dimensionFilter=_filter(inListFilter={"values": []})),
     "dimensionFilter.filter.inListFilter.values"),
    (_body(dimensionFilter=_filter(numericFilter={"operation": "EQUAL",
                                                  "value": {"int64Value": 1}})),
     "dimensionFilter.filter.numericFilter"),
    (_body(metricFilter={"filter": {"fieldName": "eventCount", "numericFilter": {
        "operation": "ABOUT", "value": {"int64Value": 1}}}}),
     "metricFilter.filter.numericFilter.operation"),
    (_body(metricFilter={"filter": {"fieldName": "eventCount", "numericFilter": {
        "operation": "EQUAL", "value": {}}}}),
     "metricFilter.filter.numericFilter.value"),
    (_body(metricFilter={"filter": {"fieldName": "sessions", "numericFilter": {
        "operation": "EQUAL", "value": {"int64Value": 1}}}}),
     "metricFilter.filter.fieldName"),
    *[(_body(dimensionFilter=_filter(stringFilter={"matchType": match_type,
                                                   "value": pattern})),
       "dimensionFilter.filter.stringFilter.value")
      for match_type, pattern in _RE2_REFUSES],
    (_body(metricFilter=_numeric(INT64_MAX + 1)),
     "metricFilter.filter.numericFilter.value.int64Value"),
    (_body(metricFilter=_numeric(str(INT64_MIN - 1))),
     "metricFilter.filter.numericFilter.value.int64Value"),
    (_body(metricFilter=_between({"int64Value": INT64_MIN - 1},
                                 {"int64Value": 0})),
     "metricFilter.filter.betweenFilter.fromValue.int64Value"),
    (_body(metricFilter=_between({"int64Value": 0},
                                 {"int64Value": str(INT64_MAX + 1)})),
     "metricFilter.filter.betweenFilter.toValue.int64Value"),
    (_body(metricFilter=_between({"doubleValue": float("inf")},
                                 {"doubleValue": 1.0})),
     "metricFilter.filter.betweenFilter.fromValue.doubleValue"),
    (_body(offset=INT64_MAX + 1), "offset"),
    (_body(offset=2**64), "offset"),
    (_body(limit=INT64_MAX + 1), "limit"),
    (_body(limit=2**64), "limit"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "field"), _BAD)
def test_bad_request_names_the_offending_field(
    client: falcon.testing.TestClient, body: dict[str, Any], field: str
) -> None:
    result = _post(client, body)

    assert result.status_code == 400, result.text
    error = result.json["error"]
    assert error["code"] == 400
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"].startswith(f"{field}:"), error["message"]


def test_deeply_nested_filters_are_refused(client: falcon.testing.TestClient) -> None:
    expression: dict[str, Any] = _filter(stringFilter={"value": "x"})
    for _ in range(20):
        expression = {"notExpression": expression}

    result = _post(client, _body(dimensionFilter=expression))

    assert result.status_code == 400
    assert "deeper" in result.json["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"metrics": [{"name": "sessions"}]}, "metrics[0].name"),
        ({"metrics": [{"name": "eventCount"}], "dimensions": [{"name": "pagePath"}]},
         "dimensions[0].name"),
        ({"metrics": [{"name": "eventCount"}],
          "minuteRanges": [{"startMinutesAgo": 30}]}, "minuteRanges[0]"),
        ({"metrics": [{"name": "eventCount"}],
          "minuteRanges": [{"startMinutesAgo": 5, "endMinutesAgo": 10}]},
         "minuteRanges[0]"),
    ],
)  # fmt: skip
def test_realtime_refuses_what_it_cannot_answer(
    client: falcon.testing.TestClient, body: dict[str, Any], field: str
) -> None:
    path = f"/v1beta/properties/{PROJECT}:runRealtimeReport"

    result = _post(client, body, path=path)

    assert result.status_code == 400
    assert result.json["error"]["message"].startswith(f"{field}:")


@pytest.mark.parametrize(
    ("headers", "code", "status"),
    [
        ({}, 401, "UNAUTHENTICATED"),
        ({"Authorization": "Bearer "}, 401, "UNAUTHENTICATED"),
        ({"Authorization": "Bearer sk-nobody"}, 401, "UNAUTHENTICATED"),
        ({"X-Api-Key": "sk-nobody"}, 401, "UNAUTHENTICATED"),
        ({"Authorization": f"Bearer {WRITE_KEY}"}, 403, "PERMISSION_DENIED"),
        ({"X-Api-Key": OTHER_SECRET_KEY}, 403, "PERMISSION_DENIED"),
    ],
)
def test_reads_need_the_projects_secret_key(
    client: falcon.testing.TestClient,
    headers: dict[str, str],
    code: int,
    status: str,
) -> None:
    result = _post(client, _body(), headers=headers)

    assert result.status_code == code
    assert result.json["error"] == {
        "code": code,
        "message": result.json["error"]["message"],
        "status": status,
    }


def test_metadata_needs_a_key_too(client: falcon.testing.TestClient) -> None:
    result = client.simulate_get(f"/v1beta/properties/{PROJECT}/metadata")

    assert result.status_code == 401


def test_a_property_id_that_is_not_a_uuid_is_refused(
    client: falcon.testing.TestClient,
) -> None:
    result = _post(client, _body(), path="/v1beta/properties/123:runReport")

    assert result.status_code == 400
    assert result.json["error"]["message"].startswith("propertyId:")


def test_a_body_that_is_not_json_is_refused(client: falcon.testing.TestClient) -> None:
    result = client.simulate_post(
        f"/v1beta/properties/{PROJECT}:runReport",
        body=b"{not json",
        headers={"X-Api-Key": SECRET_KEY},
    )

    assert result.status_code == 400
    assert result.json["error"]["status"] == "INVALID_ARGUMENT"


def _store_down(project_id: str, key: str) -> Access:
    raise StoreUnavailable("PostgreSQL: connection refused")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", f"/v1beta/properties/{PROJECT}:runReport"),
        ("POST", f"/v1beta/properties/{PROJECT}:runRealtimeReport"),
        ("GET", f"/v1beta/properties/{PROJECT}/metadata"),
        ("GET", f"/v1/projects/{PROJECT}/metrics/daily"),
    ],
)
def test_a_key_store_outage_is_503_with_retry_after(method: str, path: str) -> None:
    client = make_client(_NoEngine(), check_key=_store_down)

    result = client.simulate_request(
        method, path, json=_body(), headers={"X-Api-Key": SECRET_KEY}
    )

    assert result.status_code == 503
    assert result.headers["Retry-After"] == str(base_settings().retry_after_seconds)
    error = result.json["error"]
    assert (error["code"], error["status"]) == (503, "UNAVAILABLE")
    assert error["message"]


_SECRET_TEXT = "password=hunter2"
_ROUTES = [
    ("POST", f"/v1beta/properties/{PROJECT}:runReport"),
    ("POST", f"/v1beta/properties/{PROJECT}:runRealtimeReport"),
    ("GET", f"/v1beta/properties/{PROJECT}/metadata"),
    ("GET", f"/v1/projects/{PROJECT}/metrics/daily"),
]
_INTERNAL = {
    "code": 500,
    "message": "Internal error encountered.",
    "status": "INTERNAL",
}


def _unreachable_client() -> Any:
    raise RuntimeError(f"cannot build a ClickHouse client: {_SECRET_TEXT}")


def _broken_key_check(project_id: str, key: str) -> Access:
    raise KeyError(_SECRET_TEXT)


def _assert_logged_opaque_500(
    result: falcon.testing.Result, caplog: pytest.LogCaptureFixture, cause: type
) -> None:
    assert result.status_code == 500
    assert result.json == {"error": _INTERNAL}
    assert _SECRET_TEXT not in result.text
    [record] = [r for r in caplog.records if r.name == "ga4clone.reports.resources"]
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], cause)


@pytest.mark.parametrize("method", ["runReport", "runRealtimeReport"])
def test_an_unexpected_engine_failure_is_an_opaque_500_that_is_logged(
    caplog: pytest.LogCaptureFixture, method: str
) -> None:
    # The real adapter, whose client factory fails with no driver error.
    client = make_client(DriverEngine(_unreachable_client))
    body = _body() if method == "runReport" else {"metrics": [{"name": "eventCount"}]}

    result = _post(client, body, path=f"/v1beta/properties/{PROJECT}:{method}")

    _assert_logged_opaque_500(result, caplog, RuntimeError)


@pytest.mark.parametrize(("method", "path"), _ROUTES)
def test_an_unexpected_key_check_failure_is_an_opaque_500_that_is_logged(
    caplog: pytest.LogCaptureFixture, method: str, path: str
) -> None:
    client = make_client(_NoEngine(), check_key=_broken_key_check)

    result = client.simulate_request(
        method, path, json=_body(), headers={"X-Api-Key": SECRET_KEY}
    )

    _assert_logged_opaque_500(result, caplog, KeyError)


def _closed_port_client() -> Any:
    # Port 1 on loopback: nothing listens there, so the connect is refused.
    return Client(host="127.0.0.1", port=1, connect_timeout=2)


def test_an_unreachable_clickhouse_is_503_and_logged_without_the_query(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = make_client(DriverEngine(_closed_port_client))

    result = _post(client, _body())

    assert result.status_code == 503
    assert result.json["error"]["status"] == "UNAVAILABLE"
    assert result.headers["Retry-After"]
    [record] = [r for r in caplog.records if r.name == "ga4clone.reports.engines"]
    assert record.levelno == logging.WARNING
    assert "SELECT" not in record.getMessage()


@pytest.mark.parametrize("date", ["0999-12-31", "1969-12-31", "2106-01-01"])
def test_a_date_outside_the_stored_days_is_invalid(date: str) -> None:
    client = make_client(_NoEngine())

    result = _post(client, _body(dateRanges=[{"startDate": date, "endDate": date}]))

    assert result.status_code == 400
    assert "dateRanges[0].startDate" in result.json["error"]["message"]
