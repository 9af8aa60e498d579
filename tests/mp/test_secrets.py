"""api_secrets added and revoked in the store, as /mp/collect then answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import falcon.testing
import pytest

from ga4clone.api.app import create_app
from ga4clone.projects import CreatedStream, ProjectStore
from ga4clone.settings import Settings
from tests.mp.conftest import body, query

pytestmark = pytest.mark.integration


@asynccontextmanager
async def api(
    settings: Settings, cache_ttl_s: float
) -> AsyncIterator[falcon.testing.ASGIConductor]:
    """The app with its own store, caching stream checks for ``cache_ttl_s``."""
    cached = settings.model_copy(update={"key_cache_ttl_s": cache_ttl_s})
    app = create_app(cached, store=ProjectStore(cached.postgres_dsn))
    async with falcon.testing.ASGIConductor(app) as conductor:
        yield conductor


async def collect(client: falcon.testing.ASGIConductor, params: dict[str, str]) -> int:
    result = await client.simulate_post(
        "/mp/collect", params=params, json=body(events=[{"name": "e"}])
    )
    return result.status_code


async def test_a_revoked_secret_is_refused_once_the_cache_has_forgotten_it(
    fast: Settings, store: ProjectStore, stream: CreatedStream
) -> None:
    async with api(fast, cache_ttl_s=0) as client:
        accepted = await collect(client, query(stream))
        store.revoke_stream_secret(store.streams(stream.project_id)[0].secrets[0].id)

        refused = await collect(client, query(stream))

    assert (accepted, refused) == (204, 401)


async def test_a_replica_accepts_a_revoked_secret_it_verified_until_its_ttl_ends(
    fast: Settings, store: ProjectStore, stream: CreatedStream
) -> None:
    async with api(fast, cache_ttl_s=3600) as client:
        await collect(client, query(stream))
        store.revoke_stream_secret(store.streams(stream.project_id)[0].secrets[0].id)

        status = await collect(client, query(stream))

    assert status == 204


async def test_a_second_secret_works_beside_the_first_and_outlives_it(
    fast: Settings, store: ProjectStore, stream: CreatedStream
) -> None:
    added = store.add_stream_secret(stream.measurement_id)
    second = {**query(stream), "api_secret": added.api_secret}

    async with api(fast, cache_ttl_s=0) as client:
        both = [await collect(client, query(stream)), await collect(client, second)]
        store.revoke_stream_secret(store.streams(stream.project_id)[0].secrets[0].id)
        after = [await collect(client, query(stream)), await collect(client, second)]

    assert both == [204, 204]
    assert after == [401, 204]
