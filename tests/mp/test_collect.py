"""/mp/collect and /debug/mp/collect through the app, a real broker and worker."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import falcon.testing
import pytest
from clickhouse_driver import Client

from ga4clone.api.app import create_app
from ga4clone.projects import CreatedStream, ProjectStore
from ga4clone.settings import Settings
from tests.conftest import daily_metric, stored_count, wait_for
from tests.worker.test_consumer import RunningWorker

pytestmark = pytest.mark.integration

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return settings.model_copy(update={"worker_flush_interval_ms": 100})


@pytest.fixture
def store(fast: Settings) -> Iterator[ProjectStore]:
    projects = ProjectStore(fast.postgres_dsn)
    yield projects
    projects.close()


@pytest.fixture
def stream(store: ProjectStore) -> CreatedStream:
    project = store.create(f"mp-{uuid.uuid4().hex[:6]}")
    return store.create_stream(project.id, f"G-{uuid.uuid4().hex[:10].upper()}")


@pytest.fixture
async def client(
    fast: Settings, store: ProjectStore
) -> AsyncIterator[falcon.testing.ASGIConductor]:
    app = create_app(fast, store=ProjectStore(fast.postgres_dsn))
    async with falcon.testing.ASGIConductor(app) as conductor:
        yield conductor


def query(stream: CreatedStream) -> dict[str, str]:
    return {"measurement_id": stream.measurement_id, "api_secret": stream.api_secret}


def body(**fields: Any) -> dict[str, Any]:
    return {"client_id": "555.666", **fields}


async def test_a_valid_request_is_answered_204_and_stored_enriched(
    fast: Settings,
    client: falcon.testing.ASGIConductor,
    stream: CreatedStream,
    clickhouse: Client,
    postgres: Any,
) -> None:
    sent_us = (int(time.time()) - 60) * 1_000_000
    result = await client.simulate_post(
        "/mp/collect",
        params=query(stream),
        json=body(
            user_id="u-7",
            timestamp_micros=sent_us,
            user_properties={"tier": {"value": "gold"}},
            user_location={"country_id": "FR", "city": "Lyon"},
            events=[
                {
                    "name": "page_view",
                    "params": {
                        "page_location": "https://shop.example/a?utm_source=news"
                        "&utm_medium=email&utm_campaign=dec",
                        "page_title": "A",
                        "session_id": 17,
                    },
                },
                {"name": "session_start"},
            ],
        ),
        headers={"User-Agent": CHROME},
    )

    assert result.status_code == 204
    with RunningWorker(fast):
        wait_for(lambda: stored_count(clickhouse, stream.project_id) == 1)
        wait_for(lambda: daily_metric(postgres, stream.project_id, "page_views") == 1)
    row = clickhouse.execute(
        "SELECT stream_id, platform, ingest_endpoint, user_id, session_id,"
        " event_timestamp, page_hostname, page_title, traffic_source_medium,"
        " traffic_source_name, geo_country, geo_city, user_properties.key"
        " FROM events WHERE project_id = %(p)s",
        {"p": str(stream.project_id)},
    )[0]
    assert row == (
        str(stream.id),
        "WEB",
        "mp",
        "u-7",
        "17",
        sent_us,
        "shop.example",
        "A",
        "email",
        "dec",
        "FR",
        "Lyon",
        ["tier"],
    )


async def test_an_unknown_api_secret_is_answered_401(
    client: falcon.testing.ASGIConductor, stream: CreatedStream
) -> None:
    params = {**query(stream), "api_secret": "ga4m_wrong"}

    result = await client.simulate_post(
        "/mp/collect", params=params, json=body(events=[{"name": "e"}])
    )

    assert result.status_code == 401


async def test_a_body_of_130_kb_is_answered_413(
    client: falcon.testing.ASGIConductor, stream: CreatedStream
) -> None:
    result = await client.simulate_post(
        "/mp/collect", params=query(stream), body=b" " * 130_000
    )

    assert result.status_code == 413


async def test_debug_reports_validation_messages_and_stores_nothing(
    client: falcon.testing.ASGIConductor, stream: CreatedStream, clickhouse: Client
) -> None:
    result = await client.simulate_post(
        "/debug/mp/collect",
        params={"measurement_id": stream.measurement_id},
        json=body(events=[{"name": "first_visit"}]),
    )

    assert result.status_code == 200
    assert result.json == {
        "validationMessages": [
            {
                "fieldPath": "events[0].name",
                "description": "'first_visit' is reserved",
                "validationCode": "NAME_RESERVED",
            }
        ]
    }
    assert stored_count(clickhouse, stream.project_id) == 0


async def test_an_unreachable_broker_is_answered_503_with_retry_after(
    fast: Settings, store: ProjectStore, stream: CreatedStream
) -> None:
    broken = fast.model_copy(update={"rabbitmq_port": 1})
    app = create_app(broken, store=ProjectStore(fast.postgres_dsn))

    async with falcon.testing.ASGIConductor(app) as conductor:
        result = await conductor.simulate_post(
            "/mp/collect", params=query(stream), json=body(events=[{"name": "e"}])
        )

    assert result.status_code == 503
    assert result.headers["Retry-After"] == str(fast.retry_after_seconds)
