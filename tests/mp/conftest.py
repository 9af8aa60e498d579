"""Fixtures of the Measurement Protocol tests: streams, the app, the queue."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import falcon.testing
import orjson
import pytest
from prometheus_client import REGISTRY

from ga4clone.api.app import create_app
from ga4clone.projects import CreatedStream, Platform, ProjectStore
from ga4clone.settings import Settings

# A Firebase app id: "1:<project number>:<android|ios>:<hex>".
ANDROID_APP_ID = "1:1234567890:android:{}"
IOS_APP_ID = "1:1234567890:ios:{}"
APP_INSTANCE = "cd9e5a5b2f8a4d5e9b1c3f7a6e0d2b4c"


@pytest.fixture
def fast(settings: Settings) -> Settings:
    return settings.model_copy(update={"worker_flush_interval_ms": 100})


@pytest.fixture
def store(fast: Settings) -> Iterator[ProjectStore]:
    projects = ProjectStore(fast.postgres_dsn)
    yield projects
    projects.close()


def new_stream(store: ProjectStore, name: str, platform: Platform) -> CreatedStream:
    """A stream of a new project, named ``name`` (``{}`` takes a random part)."""
    project = store.create(f"mp-{uuid.uuid4().hex[:6]}")
    return store.create_stream(project.id, name.format(uuid.uuid4().hex), platform)


@pytest.fixture
def stream(store: ProjectStore) -> CreatedStream:
    return new_stream(store, f"G-{uuid.uuid4().hex[:10].upper()}", "WEB")


@pytest.fixture
def android(store: ProjectStore) -> CreatedStream:
    return new_stream(store, ANDROID_APP_ID, "ANDROID")


@pytest.fixture
async def client(
    fast: Settings, store: ProjectStore
) -> AsyncIterator[falcon.testing.ASGIConductor]:
    app = create_app(fast, store=ProjectStore(fast.postgres_dsn))
    async with falcon.testing.ASGIConductor(app) as conductor:
        yield conductor


def query(stream: CreatedStream) -> dict[str, str]:
    """The query naming a stream by the parameter its platform takes."""
    name = "measurement_id" if stream.platform == "WEB" else "firebase_app_id"
    return {name: stream.measurement_id, "api_secret": stream.api_secret}


def body(**fields: Any) -> dict[str, Any]:
    return {"client_id": "555.666", **fields}


def queued(amqp: Any, settings: Settings) -> list[tuple[Any, bytes]]:
    """Every message waiting in the test's queue, as (properties, raw body)."""
    messages = []
    while True:
        method, properties, raw = amqp.basic_get(settings.rabbitmq_queue, auto_ack=True)
        if method is None:
            return messages
        messages.append((properties, raw))


def queued_json(amqp: Any, settings: Settings) -> list[dict[str, Any]]:
    """The bodies of the queued messages, decoded."""
    return [orjson.loads(raw) for _, raw in queued(amqp, settings)]


def sample(name: str, **labels: str) -> float:
    """One sample of the default registry; 0 when it was never set."""
    return REGISTRY.get_sample_value(name, labels) or 0.0
