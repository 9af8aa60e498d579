"""The fuzzer's live app: every route, real services, known keys and streams.

The app is built by :func:`create_app` as in production (ingest, Measurement
Protocol, reports over the local ClickHouse server), on an event loop of its
own so that hypothesis' synchronous tests can drive it. Its project has
events in ClickHouse, moved to end a minute ago, so that valid reports (and
realtime ones) have rows to shape. Hypothesis profiles: ``ci`` (``CI=true``)
draws 2,000 requests per operation, ``dev`` 300; both are derandomized.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import falcon.testing
import pytest
from hypothesis import HealthCheck
from hypothesis import settings as profile
from hypothesis import strategies as st

from ga4clone.api.app import create_app
from ga4clone.projects import ProjectStore
from ga4clone.settings import Settings
from tests.conftest import _delete_topology, create_project, own_topology
from tests.fuzz.contract import Contract
from tests.fuzz.operations import Known, Request, RequestStrategies
from tests.fuzz.schemas import SchemaValues
from tests.reports import dataset

REQUESTS_PER_OPERATION = {"ci": 2000, "dev": 300}
for _name, _examples in REQUESTS_PER_OPERATION.items():
    profile.register_profile(
        _name,
        max_examples=_examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        # Reproducible: a failure in CI is the same failure on a laptop.
        derandomize=True,
        database=None,
        print_blob=True,
    )
PROFILE = "ci" if os.environ.get("CI") == "true" else "dev"
profile.load_profile(PROFILE)

# Words the API reads, so that generated strings sometimes mean something:
# GA4's enum values and date forms, regular expressions, MP names and codes.
DATES = ["today", "yesterday", "0daysAgo", "7daysAgo", "400daysAgo", "99999daysAgo"]
DATES += ["2026-03-01", "2026-03-15", "2024-02-29", "0999-12-31"]
MATCH_TYPES = ["EXACT", "BEGINS_WITH", "ENDS_WITH", "CONTAINS", "FULL_REGEXP"]
MATCH_TYPES += ["PARTIAL_REGEXP"]
OPERATIONS = ["EQUAL", "LESS_THAN", "LESS_THAN_OR_EQUAL", "GREATER_THAN"]
OPERATIONS += ["GREATER_THAN_OR_EQUAL"]
ORDER_TYPES = ["ALPHANUMERIC", "CASE_INSENSITIVE_ALPHANUMERIC", "NUMERIC"]
AGGREGATIONS = ["TOTAL", "MINIMUM", "MAXIMUM"]
VOCABULARY = [
    *DATES,
    *MATCH_TYPES,
    *OPERATIONS,
    *ORDER_TYPES,
    *AGGREGATIONS,
    *("2023-02-29", "date_range_0", "RESERVED_TOTAL", "(not set)", "/products/shoes"),
    *(".*", "(?i)page", "^/p", "[", "a{1001}", "(?=x)", "\\1", "(?P<n>x)", "\\Z"),
    *("page_view", "scroll", "US", "Paris", "desktop", "1", "0", "-1", "1e3"),
    *("session_id", "page_location", "page_title", "page_referrer", "items"),
    *("engagement_time_msec", "first_visit", "ga_x", "_x", "GRANTED", "DENIED"),
    *("US-CA", "021", "150"),
]


@dataclasses.dataclass
class LiveApp:
    """The app, entered once on a loop of its own, and what the fuzzer knows."""

    loop: asyncio.AbstractEventLoop
    conductor: falcon.testing.ASGIConductor
    project: Any
    streams: dict[str, Any]
    contract: Contract
    strategies: RequestStrategies

    def send(self, request: Request) -> Any:
        """The app's answer to ``request``."""
        return self.loop.run_until_complete(
            self.conductor.simulate_request(
                request.method,
                request.path,
                query_string=request.query_string,
                headers=request.headers,
                body=request.body,
            )
        )

    def get(self, path: str) -> Any:
        """The app's answer to a bare GET of ``path``."""
        return self.send(Request("GET", path))


@pytest.fixture(scope="module")
def live(migrated: Settings) -> Iterator[LiveApp]:
    settings = own_topology(migrated, "fuzz", max_body_bytes=65_536)
    project, other = create_project(settings), create_project(settings)
    streams = _streams(settings, project.id)
    _load_events(settings, str(project.id))
    loop = asyncio.new_event_loop()
    conductor = falcon.testing.ASGIConductor(create_app(settings))
    loop.run_until_complete(conductor.__aenter__())
    try:
        document = loop.run_until_complete(conductor.simulate_get("/openapi.json")).json
        strategies = _strategies(document, project, other, streams)
        yield LiveApp(loop, conductor, project, streams, Contract(document), strategies)
    finally:
        loop.run_until_complete(conductor.__aexit__(None, None, None))
        loop.close()
        _delete_topology(settings)


def _strategies(
    document: dict[str, Any], project: Any, other: Any, streams: dict[str, Any]
) -> RequestStrategies:
    """Requests drawn from ``document``, knowing the projects and streams."""
    ids = [str(project.id), str(other.id)]
    hints = _hints(document, str(project.id))
    values = SchemaValues(document, VOCABULARY, ids, hints)
    return RequestStrategies(document, values, _known(project, other, streams))


def _hints(document: dict[str, Any], project_id: str) -> dict[str, Any]:
    """Values of the properties whose valid range no schema states, by name."""
    schemas = document["components"]["schemas"]
    dimensions = schemas["DimensionRef"]["properties"]["name"]["examples"]
    metrics = schemas["MetricRef"]["properties"]["name"]["examples"]
    now_ms = st.builds(lambda: int(time.time() * 1000))
    return {
        "projectId": st.just(project_id),
        "timestamp": now_ms,
        "timestamp_micros": now_ms.map(lambda ms: ms * 1000),
        "startDate": st.sampled_from(DATES),
        "endDate": st.sampled_from(DATES),
        "startMinutesAgo": st.integers(0, 30),
        "endMinutesAgo": st.integers(0, 30),
        "limit": st.integers(0, 20),
        "offset": st.integers(0, 20),
        "fieldName": st.sampled_from(dimensions + metrics),
        "dimensionName": st.sampled_from(dimensions),
        "metricName": st.sampled_from(metrics),
        "matchType": st.sampled_from(MATCH_TYPES),
        "operation": st.sampled_from(OPERATIONS),
        "orderType": st.sampled_from(ORDER_TYPES),
        "metricAggregations": st.lists(st.sampled_from(AGGREGATIONS), max_size=3),
        "dateRanges": {"minItems": 1, "maxItems": 2},
        "minuteRanges": {"maxItems": 2},
        "metrics": {"minItems": 1, "maxItems": 3, "uniqueItems": True},
        "dimensions": {"maxItems": 3, "uniqueItems": True},
    }


def _streams(settings: Settings, project_id: uuid.UUID) -> dict[str, Any]:
    store = ProjectStore(settings.postgres_dsn, max_connections=1)
    try:
        web = f"G-{uuid.uuid4().hex[:10].upper()}"
        app = f"1:1234567890:android:{uuid.uuid4().hex}"
        return {
            "web": store.create_stream(project_id, web, "WEB"),
            "android": store.create_stream(project_id, app, "ANDROID"),
        }
    finally:
        store.close()


def _known(project: Any, other: Any, streams: dict[str, Any]) -> Known:
    web, app = streams["web"], streams["android"]
    ids = [str(other.id), str(project.id).upper(), "not-a-uuid"]
    return Known(
        good={
            "property_id": str(project.id),
            "project_id": str(project.id),
            "measurement_id": web.measurement_id,
            "start": "30daysAgo",
            "end": "today",
        },
        parameters={
            "property_id": ids,
            "project_id": ids,
            "measurement_id": [app.measurement_id],
            "firebase_app_id": [app.measurement_id, web.measurement_id],
            "start": DATES,
            "end": DATES,
            "Origin": ["https://shop.example", "null"],
            "Access-Control-Request-Method": ["POST", "GET"],
        },
        credentials={
            "writeKey": [project.write_key, project.secret_key, "ga4w_wrong"],
            "writeKeyQuery": [project.write_key, other.write_key, ""],
            "secretKey": [project.secret_key, other.secret_key, project.write_key],
            "secretBearer": [project.secret_key, other.secret_key, "ga4s_wrong"],
            "apiSecret": [web.api_secret, app.api_secret, "wrong"],
        },
    )


def _load_events(settings: Settings, project_id: str) -> None:
    """The dataset's events as the project's, moved to end a minute ago."""
    originals, _copies = dataset.generate()
    events = [e for e in originals if e.project_id == dataset.PROJECT][:600]
    shift = int(time.time() * 1e6) - 60_000_000 - max(e.event_timestamp for e in events)
    moved = [
        dataclasses.replace(
            e, project_id=project_id, event_timestamp=e.event_timestamp + shift
        )
        for e in events
    ]
    request = urllib.request.Request(
        f"http://127.0.0.1:8123/?database={settings.clickhouse_database}",
        data=dataset.insert_sql(moved).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
