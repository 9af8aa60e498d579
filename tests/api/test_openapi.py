"""The OpenAPI document describes every route and every real answer."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from typing import Any

import falcon.testing
import jsonschema
import orjson
import pytest

from ga4clone.api.app import create_app
from ga4clone.settings import Settings
from tests.conftest import create_project, make_event

pytestmark = pytest.mark.integration


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[falcon.testing.ASGIConductor]:
    small = settings.model_copy(
        update={
            "max_body_bytes": 65536,
            "rate_limit_burst": 40,
            "rate_limit_events_per_second": 1,
        }
    )
    async with falcon.testing.ASGIConductor(create_app(small)) as conductor:
        yield conductor


def check_response(
    document: dict[str, Any], path: str, method: str, result: Any
) -> None:
    """Fail unless the document lists this status for the route and the body fits."""
    responses = document["paths"][path][method]["responses"]
    status = str(result.status_code)
    assert status in responses, f"{method.upper()} {path} -> {status} undocumented"
    content = responses[status].get("content")
    if content is None:
        assert not result.content
        return
    schema = {**content["application/json"]["schema"], **document}
    jsonschema.Draft202012Validator(schema).validate(orjson.loads(result.content))
    for header in responses[status].get("headers", {}):
        assert header in result.headers


def test_the_document_is_valid_openapi_31_json_schema(settings: Settings) -> None:
    from ga4clone.api.openapi import openapi_document

    document = openapi_document(settings)

    assert document["openapi"].startswith("3.1")
    for schema in document["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)


async def test_every_real_answer_matches_the_document(
    client: falcon.testing.ASGIConductor, settings: Settings, project: Any
) -> None:
    # Given the document the app serves, and a second project
    document = (await client.simulate_get("/openapi.json")).json
    other = create_project(settings)
    key = {"X-Api-Key": project.write_key}
    json_type = {**key, "Content-Type": "application/json"}
    batch = [make_event(project.id) for _ in range(3)]
    requests: list[tuple[str, str, dict[str, Any]]] = [
        ("/events", "post", {"json": make_event(project.id), "headers": key}),
        ("/collect/batch", "post", {"json": batch, "headers": key}),
        ("/events", "post", {"json": make_event(project.id)}),
        ("/events", "post", {"json": make_event(other.id), "headers": key}),
        ("/events/batch", "post", {"body": b"{not json", "headers": json_type}),
        ("/events/batch", "post", {"json": [{"x": 1}], "headers": key}),
        ("/collect", "post", {"body": b"x" * 70_000, "headers": json_type}),
        (
            "/events",
            "post",
            {"body": b"a=b", "headers": {**key, "Content-Type": "x/y"}},
        ),
        (
            "/events",
            "post",
            {
                "body": gzip.compress(b"x"),
                "headers": {**json_type, "Content-Encoding": "br"},
            },
        ),
        (
            "/events/batch",
            "post",
            {"json": [make_event(project.id) for _ in range(41)], "headers": key},
        ),
        ("/events", "options", {"headers": {"Origin": "https://a.example"}}),
        ("/health", "get", {}),
        ("/ready", "get", {}),
    ]
    seen: set[int] = set()

    # When each is sent, then each answer is documented and fits its schema
    for path, method, kwargs in requests:
        result = await client.simulate_request(method.upper(), path, **kwargs)
        check_response(document, path, method, result)
        seen.add(result.status_code)

    assert {202, 400, 401, 403, 413, 415, 429, 204, 200} <= seen


async def test_the_document_lists_every_route(
    client: falcon.testing.ASGIConductor,
) -> None:
    document = (await client.simulate_get("/openapi.json")).json

    assert set(document["paths"]) == {
        "/events",
        "/events/batch",
        "/collect",
        "/collect/batch",
        "/health",
        "/ready",
        "/openapi.json",
    }
