"""The OpenAPI document describes every route, and every real answer fits it.

Real answers of every route, the error answers of each and the 503s of each
backing service being unreachable, are held against the document the app
serves (see tests/fuzz/contract.py); and every status the document lists is
seen at least once, so that it lists none that cannot happen.
"""

from __future__ import annotations

import gzip
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import falcon.inspect
import falcon.testing
import jsonschema
import pytest

from ga4clone.api.app import create_app
from ga4clone.api.openapi import openapi_document
from ga4clone.projects import CreatedStream, ProjectStore
from ga4clone.settings import Settings
from tests.conftest import create_project, make_event
from tests.fuzz.contract import Contract

pytestmark = pytest.mark.integration

# (method, path, keyword arguments of simulate_request, expected status)
Case = tuple[str, str, dict[str, Any], int]


@pytest.fixture
def small(settings: Settings) -> Settings:
    """Settings whose body and rate limits a test can reach."""
    return settings.model_copy(
        update={
            "max_body_bytes": 65536,
            "rate_limit_burst": 40,
            "rate_limit_events_per_second": 1,
        }
    )


@pytest.fixture
async def client(small: Settings) -> AsyncIterator[falcon.testing.ASGIConductor]:
    async with falcon.testing.ASGIConductor(create_app(small)) as conductor:
        yield conductor


@pytest.fixture
def stream(settings: Settings, project: Any) -> Iterator[CreatedStream]:
    """A web data stream of ``project``."""
    store = ProjectStore(settings.postgres_dsn, max_connections=1)
    name = f"G-{uuid.uuid4().hex[:10].upper()}"
    yield store.create_stream(project.id, name, "WEB")
    store.close()


# --- the document itself -------------------------------------------------------------


def test_the_document_is_valid_openapi_31_json_schema(settings: Settings) -> None:
    document = openapi_document(settings)

    assert document["openapi"].startswith("3.1")
    for schema in document["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
    for schema in _operation_schemas(document):
        jsonschema.Draft202012Validator.check_schema(schema)
    assert _refs(document) <= {
        f"#/components/schemas/{name}" for name in document["components"]["schemas"]
    }


def test_every_operation_names_its_path_parameters_and_known_schemes(
    settings: Settings,
) -> None:
    document = openapi_document(settings)
    schemes = set(document["components"]["securitySchemes"])

    for path, item in document["paths"].items():
        templated = {part.split("}")[0] for part in path.split("{")[1:]}
        for method, operation in item.items():
            parameters = operation.get("parameters", [])
            declared = {p["name"] for p in parameters if p["in"] == "path"}
            assert declared == templated, f"{method} {path}"
            for requirement in operation.get("security", []):
                assert set(requirement) <= schemes, f"{method} {path}"


async def test_the_document_lists_every_route_the_app_serves(
    settings: Settings,
) -> None:
    # Given the app and the routes its router holds (not Falcon's defaults)
    app = create_app(settings)
    served = {
        (route.path, method.method.lower())
        for route in falcon.inspect.inspect_routes(app)
        for method in route.methods
        if not method.internal
    }

    # When the app serves its document
    async with falcon.testing.ASGIConductor(app) as conductor:
        document = (await conductor.simulate_get("/openapi.json")).json

    # Then it describes exactly those routes
    assert set(Contract(document).operations()) == served


def _operation_schemas(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every schema of a parameter, request body or response, with components."""
    components = {"components": document["components"]}
    for item in document["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                yield {**components, **parameter["schema"]}
            bodies = [
                operation.get("requestBody", {}),
                *operation["responses"].values(),
            ]
            for body in bodies:
                for media in body.get("content", {}).values():
                    yield {**components, **media["schema"]}


def _refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["$ref"]} if "$ref" in value else set()
        return found.union(*(_refs(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_refs(v) for v in value))
    return set()


# --- real answers ---------------------------------------------------------------------


async def test_every_route_answers_as_documented(
    client: falcon.testing.ASGIConductor,
    small: Settings,
    project: Any,
    stream: CreatedStream,
) -> None:
    # Given the document the app serves, and a request for each answer
    contract = Contract((await client.simulate_get("/openapi.json")).json)
    other = create_project(small)
    cases = [
        *_ingest_cases(project, other),
        *_mp_cases(stream),
        *_report_cases(project, other),
        *_operations_cases(),
    ]
    seen: dict[tuple[str, str], set[int]] = {}

    # When each is sent, then it gets its status, documented, fitting its schema
    for method, path, kwargs, expected in cases:
        result = await client.simulate_request(method, path, **kwargs)
        operation = _operation(contract, path, method)
        contract.check(*operation, result)
        assert result.status_code == expected, f"{method} {path}: {result.text}"
        seen.setdefault(operation, set()).add(result.status_code)
    seen[("/mp/collect", "post")].add(await _mp_until_limited(client, contract, stream))

    # And every status the document lists (but the 503s of an outage) was seen
    _assert_every_status_seen(contract, seen, but={503})


async def test_unreachable_services_get_documented_503s(
    settings: Settings, project: Any, stream: CreatedStream
) -> None:
    contract = Contract(openapi_document(settings))
    seen: dict[tuple[str, str], set[int]] = {}

    for service, cases in _outage_cases(project, stream).items():
        # Given an app whose service is unreachable (nothing listens on port 1)
        broken = settings.model_copy(update={f"{service}_port": 1})
        async with falcon.testing.ASGIConductor(create_app(broken)) as client:
            # When a request that needs it is sent, then a documented 503 comes
            for method, path, kwargs, expected in cases:
                result = await client.simulate_request(method, path, **kwargs)
                operation = _operation(contract, path, method)
                contract.check(*operation, result)
                assert result.status_code == expected, f"{service}: {path}"
                seen.setdefault(operation, set()).add(result.status_code)

    # And every operation that documents a 503 was seen to give one
    _assert_every_status_seen(contract, seen, only={503})


def _ingest_cases(project: Any, other: Any) -> list[Case]:
    key = {"X-Api-Key": project.write_key}
    json_type = {**key, "Content-Type": "application/json"}
    event = make_event(project.id)
    batch = [make_event(project.id) for _ in range(3)]
    return [
        ("POST", "/events", {"json": event, "headers": key}, 202),
        ("POST", "/collect/batch", {"json": batch, "headers": key}, 202),
        ("POST", "/collect", {"json": event, "params": {"api_key": "ga4w_no"}}, 401),
        ("POST", "/events", {"json": event}, 401),
        ("POST", "/events", {"json": make_event(other.id), "headers": key}, 403),
        ("POST", "/events/batch", {"body": b"{not json", "headers": json_type}, 400),
        ("POST", "/events/batch", {"json": [{"x": 1}], "headers": key}, 400),
        ("POST", "/collect", {"body": b"x" * 70_000, "headers": json_type}, 413),
        (
            "POST",
            "/events",
            {"body": b"a=b", "headers": {**key, "Content-Type": "x/y"}},
            415,
        ),
        (
            "POST",
            "/events",
            {
                "body": gzip.compress(b"x"),
                "headers": {**json_type, "Content-Encoding": "br"},
            },
            415,
        ),
        (
            "POST",
            "/events/batch",
            {"json": [make_event(project.id) for _ in range(41)], "headers": key},
            429,
        ),
        ("OPTIONS", "/events", {"headers": {"Origin": "https://a.example"}}, 204),
        ("OPTIONS", "/collect/batch", {}, 204),
    ]


def _mp_cases(stream: CreatedStream) -> list[Case]:
    query = {"measurement_id": stream.measurement_id, "api_secret": stream.api_secret}
    body = {"client_id": "555.666", "events": [{"name": "page_view"}]}
    return [
        ("POST", "/mp/collect", {"params": query, "json": body}, 204),
        ("POST", "/mp/collect", {"params": query, "json": [body]}, 400),
        (
            "POST",
            "/mp/collect",
            {
                "params": {"firebase_app_id": stream.measurement_id, **query},
                "json": body,
            },
            400,
        ),
        ("POST", "/mp/collect", {"json": body}, 401),
        (
            "POST",
            "/mp/collect",
            {"params": {**query, "api_secret": "no"}, "json": body},
            401,
        ),
        ("POST", "/mp/collect", {"params": query, "body": b" " * 130_000}, 413),
        (
            "POST",
            "/mp/collect",
            {"params": query, "json": body, "headers": {"Content-Encoding": "br"}},
            415,
        ),
        ("POST", "/debug/mp/collect", {"json": body}, 200),
        ("POST", "/debug/mp/collect", {"body": b"{"}, 200),
    ]


def _report_cases(project: Any, other: Any) -> list[Case]:
    secret = {"Authorization": f"Bearer {project.secret_key}"}
    report = {
        "dateRanges": [{"startDate": "7daysAgo", "endDate": "today"}],
        "dimensions": [{"name": "eventName"}],
        "metrics": [{"name": "eventCount"}],
    }
    realtime = {"metrics": [{"name": "activeUsers"}]}
    base = f"/v1beta/properties/{project.id}"
    daily = f"/v1/projects/{project.id}/metrics/daily"
    days = {"start": "7daysAgo", "end": "today"}
    return [
        ("POST", f"{base}:runReport", {"json": report, "headers": secret}, 200),
        ("POST", f"{base}:runReport", {"json": {"metrics": 1}, "headers": secret}, 400),
        ("POST", f"{base}:runReport", {"json": report}, 401),
        (
            "POST",
            f"{base}:runRealtimeReport",
            {"json": realtime, "headers": secret},
            200,
        ),
        ("POST", f"{base}:runRealtimeReport", {"json": report, "headers": secret}, 400),
        (
            "POST",
            f"{base}:runRealtimeReport",
            {"json": realtime, "headers": {"X-Api-Key": other.secret_key}},
            403,
        ),
        (
            "GET",
            f"{base}/metadata",
            {"headers": {"X-Api-Key": project.secret_key}},
            200,
        ),
        ("GET", "/v1beta/properties/nope/metadata", {"headers": secret}, 400),
        ("GET", f"{base}/metadata", {"headers": {"X-Api-Key": "ga4s_nobody"}}, 401),
        ("GET", f"{base}/metadata", {"headers": {"X-Api-Key": project.write_key}}, 403),
        (
            "POST",
            f"{base}:runReport",
            {"json": report, "headers": {"X-Api-Key": project.write_key}},
            403,
        ),
        ("POST", f"{base}:runRealtimeReport", {"json": realtime}, 401),
        ("GET", daily, {"params": days, "headers": secret}, 200),
        ("GET", daily, {"params": {"start": "today"}, "headers": secret}, 400),
        ("GET", daily, {"params": days}, 401),
        (
            "GET",
            daily,
            {"params": days, "headers": {"X-Api-Key": other.secret_key}},
            403,
        ),
    ]


def _operations_cases() -> list[Case]:
    return [
        ("GET", "/health", {}, 200),
        ("GET", "/ready", {}, 200),
        ("GET", "/openapi.json", {}, 200),
        ("GET", "/metrics", {}, 200),
    ]


def _outage_cases(project: Any, stream: CreatedStream) -> dict[str, list[Case]]:
    """By service: requests that need it, each answered 503 while it is down."""
    query = {"measurement_id": stream.measurement_id, "api_secret": stream.api_secret}
    mp_body = {"client_id": "555.666", "events": [{"name": "page_view"}]}
    secret = {"X-Api-Key": project.secret_key}
    report = {
        "dateRanges": [{"startDate": "today", "endDate": "today"}],
        "metrics": [{"name": "eventCount"}],
    }
    base = f"/v1beta/properties/{project.id}"
    event = {
        "json": make_event(project.id),
        "headers": {"X-Api-Key": project.write_key},
    }
    return {
        "rabbitmq": [
            ("POST", "/events", event, 503),
            ("POST", "/mp/collect", {"params": query, "json": mp_body}, 503),
            ("GET", "/ready", {}, 503),
        ],
        "postgres": [
            ("POST", "/collect", event, 503),
            ("OPTIONS", "/events", {"headers": {"Origin": "https://a.example"}}, 503),
            ("POST", "/mp/collect", {"params": query, "json": mp_body}, 503),
            ("GET", f"{base}/metadata", {"headers": secret}, 503),
            (
                "GET",
                f"/v1/projects/{project.id}/metrics/daily",
                {"params": {"start": "today", "end": "today"}, "headers": secret},
                503,
            ),
        ],
        "clickhouse": [
            ("POST", f"{base}:runReport", {"json": report, "headers": secret}, 503),
            (
                "POST",
                f"{base}:runRealtimeReport",
                {"json": {"metrics": [{"name": "eventCount"}]}, "headers": secret},
                503,
            ),
        ],
    }


async def _mp_until_limited(
    client: falcon.testing.ASGIConductor, contract: Contract, stream: CreatedStream
) -> int:
    """Post 25 events at a time to the stream until its project's limit says 429."""
    query = {"measurement_id": stream.measurement_id, "api_secret": stream.api_secret}
    body = {"client_id": "555.666", "events": [{"name": "page_view"}] * 25}
    for _ in range(5):
        result = await client.simulate_post("/mp/collect", params=query, json=body)
        contract.check("/mp/collect", "post", result)
        if result.status_code == 429:
            return 429
    pytest.fail("the project's rate limit never answered 429")


def _operation(contract: Contract, path: str, method: str) -> tuple[str, str]:
    """The document's (template, method) of a concrete path."""
    for template, verb in contract.operations():
        if verb == method.lower() and _matches(template, path):
            return template, verb
    raise AssertionError(f"{method} {path} is not in the document")


def _matches(template: str, path: str) -> bool:
    head, _, rest = template.partition("{")
    if not rest:
        return template == path
    tail = rest.split("}", 1)[1]
    middle = path[len(head) : len(path) - len(tail)]
    return path.startswith(head) and path.endswith(tail) and "/" not in middle


def _assert_every_status_seen(
    contract: Contract,
    seen: dict[tuple[str, str], set[int]],
    *,
    but: frozenset[int] | set[int] = frozenset(),
    only: frozenset[int] | set[int] | None = None,
) -> None:
    """Every documented status was answered by some operation sharing its table.

    The four ingest routes share one table of answers, and their OPTIONS
    another: a status is shown for all of them when one of them gives it.
    """
    groups: dict[str, set[int]] = {}
    documented: dict[str, set[int]] = {}
    for operation in contract.operations():
        table = repr(contract.operation(*operation)["responses"])
        groups.setdefault(table, set()).update(seen.get(operation, set()))
        statuses = contract.statuses(*operation) - set(but)
        documented[table] = statuses if only is None else statuses & set(only)
    for table, statuses in documented.items():
        missing = statuses - groups[table]
        assert not missing, f"documented but never seen: {missing} in {table[:200]}"
