"""Fuzzing the write endpoints: whatever arrives, the answer is a documented 4xx or 202.

Requests are generated with hypothesis from the shapes in the OpenAPI
document (events with right and wrong types, arbitrary JSON, raw bytes,
random headers) and sent to the live ASGI app with a real publisher. The
``ci`` profile (``CI=true``) sends 2,000 requests per endpoint; elsewhere 150.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import time
from collections.abc import Iterator
from typing import Any

import falcon.testing
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as profile
from hypothesis import strategies as st

from ga4clone.api.app import create_app
from ga4clone.settings import Settings
from tests.conftest import create_project, make_event, own_topology

pytestmark = [pytest.mark.integration, pytest.mark.fuzz]

profile.register_profile(
    "ci",
    max_examples=2000,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
profile.register_profile(
    "dev",
    max_examples=150,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
profile.load_profile("ci" if os.environ.get("CI") == "true" else "dev")

ROUTES = ["/events", "/collect", "/events/batch", "/collect/batch"]
DOCUMENTED = {202, 400, 401, 403, 413, 415, 429}


class LiveApp:
    """The app with a real publisher, entered once on a loop of its own."""

    def __init__(self, settings: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        self.project = create_project(settings)
        self._conductor = falcon.testing.ASGIConductor(create_app(settings))
        self.loop.run_until_complete(self._conductor.__aenter__())

    def post(self, route: str, body: bytes, headers: dict[str, str]) -> Any:
        return self.loop.run_until_complete(
            self._conductor.simulate_post(route, body=body, headers=headers)
        )

    def close(self) -> None:
        self.loop.run_until_complete(self._conductor.__aexit__(None, None, None))
        self.loop.close()


@pytest.fixture(scope="module")
def live(migrated: Settings) -> Iterator[LiveApp]:
    settings = own_topology(migrated, "fuzz", max_body_bytes=65_536)
    app = LiveApp(settings)
    yield app
    app.close()
    from tests.conftest import _delete_topology

    _delete_topology(settings)


# --- strategies ------------------------------------------------------------------

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=120)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=45), inner, max_size=4)
    ),
    max_leaves=12,
)


def events(project: str) -> st.SearchStrategy[dict[str, Any]]:
    """Events whose every field is sometimes right and sometimes anything."""
    now = int(time.time() * 1000)
    return st.fixed_dictionaries(
        {
            "projectId": st.just(project) | st.uuids().map(str) | json_values,
            "eventName": st.from_regex(r"\A[A-Za-z][A-Za-z0-9_]{0,45}\Z") | json_values,
            "timestamp": st.just(now) | st.integers() | json_values,
            "clientId": st.text(max_size=300) | json_values,
            "sessionId": st.text(max_size=300) | json_values,
        },
        optional={
            "eventId": st.uuids().map(str) | json_values,
            "path": st.text(max_size=3000),
            "params": st.dictionaries(st.text(max_size=45), json_values, max_size=30)
            | json_values,
        },
    )


def bodies(project: str, batch: bool) -> st.SearchStrategy[bytes]:
    shaped = st.lists(events(project), max_size=5) if batch else events(project)
    as_json = (shaped | json_values).map(
        lambda value: json.dumps(value, ensure_ascii=False).encode(
            "utf-8", "surrogatepass"
        )
    )
    return as_json | st.binary(max_size=300)


header_sets = st.fixed_dictionaries(
    {},
    optional={
        "Content-Type": st.sampled_from(
            ["application/json", "text/plain;charset=UTF-8", "text/html", "", "x/y"]
        ),
        "Content-Encoding": st.sampled_from(["gzip", "identity", "br", "x"]),
    },
)


# --- properties --------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
def test_generated_requests_never_get_a_5xx(live: LiveApp, route: str) -> None:
    project = str(live.project.id)
    keys = st.sampled_from([live.project.write_key, "ga4w_wrong", ""])

    @given(body=bodies(project, route.endswith("batch")), headers=header_sets, key=keys)
    def check(body: bytes, headers: dict[str, str], key: str) -> None:
        if headers.get("Content-Encoding") == "gzip":
            body = gzip.compress(body)
        result = live.post(route, body, {**headers, "X-Api-Key": key})
        assert result.status_code in DOCUMENTED, result.text
        if result.status_code != 202:
            assert result.json["error"]

    check()


# --- explicit cases -------------------------------------------------------------------


def _explicit_bodies(project: str) -> dict[str, bytes]:
    event = make_event(project)
    deep = b"[" * 10_000 + b"]" * 10_000
    return {
        "malformed JSON": b'{"projectId": ',
        "wrong types": json.dumps({**event, "timestamp": "now", "params": []}).encode(),
        "huge string": json.dumps({**event, "clientId": "x" * 60_000}).encode(),
        "deep nesting": b'{"params": ' + deep + b"}",
        "invalid UTF-8": b'{"eventName": "\xff\xfe\xfd"}',
        "NUL bytes": b'{"eventName": "page\x00view"}',
        "escaped NUL": json.dumps({**event, "eventName": "page\u0000view"}).encode(),
        "lone surrogate": b'{"eventName": "\\ud800"}',
    }


@pytest.mark.parametrize(
    "case",
    [
        "malformed JSON",
        "wrong types",
        "huge string",
        "deep nesting",
        "invalid UTF-8",
        "NUL bytes",
        "escaped NUL",
        "lone surrogate",
    ],
)
def test_hostile_bodies_get_a_clear_400(live: LiveApp, case: str) -> None:
    body = _explicit_bodies(str(live.project.id))[case]

    result = live.post(
        "/events",
        body,
        {"Content-Type": "application/json", "X-Api-Key": live.project.write_key},
    )

    assert result.status_code == 400, result.text
    assert result.json["error"]
