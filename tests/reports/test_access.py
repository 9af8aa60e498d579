"""The real app's reports routes check keys against the projects in PostgreSQL:
only a project's own active secret key reads it, as GA4 answers 401
UNAUTHENTICATED and 403 PERMISSION_DENIED."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import falcon.testing
import pytest

from ga4clone.api.app import create_app
from ga4clone.projects import ProjectStore
from ga4clone.settings import Settings
from tests.conftest import create_project

pytestmark = pytest.mark.integration

_REPORT = {
    "dateRanges": [{"startDate": "yesterday", "endDate": "today"}],
    "metrics": [{"name": "eventCount"}],
}
# (name, method, path of project {id}, JSON body, query parameters)
_ROUTES: list[tuple[str, str, str, Any, dict[str, str]]] = [
    ("runReport", "POST", "/v1beta/properties/{id}:runReport", _REPORT, {}),
    (
        "runRealtimeReport",
        "POST",
        "/v1beta/properties/{id}:runRealtimeReport",
        {"metrics": [{"name": "eventCount"}]},
        {},
    ),
    ("metadata", "GET", "/v1beta/properties/{id}/metadata", None, {}),
    (
        "daily",
        "GET",
        "/v1/projects/{id}/metrics/daily",
        None,
        {"start": "yesterday", "end": "today"},
    ),
]
_GRANTED = {name: (200, "OK") for name, *_ in _ROUTES}
_UNAUTHENTICATED = {name: (401, "UNAUTHENTICATED") for name, *_ in _ROUTES}
_DENIED = {name: (403, "PERMISSION_DENIED") for name, *_ in _ROUTES}


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[falcon.testing.ASGIConductor]:
    """The whole app, its key checks on a ProjectStore of the test database."""
    async with falcon.testing.ASGIConductor(create_app(settings)) as conductor:
        yield conductor


@pytest.fixture
def store(migrated: Settings) -> Iterator[ProjectStore]:
    store = ProjectStore(migrated.postgres_dsn, max_connections=1)
    yield store
    store.close()


async def _answers(
    app: falcon.testing.ASGIConductor, project_id: Any, key: str
) -> dict[str, tuple[int, str]]:
    """(HTTP status, GA4 status or OK) of every reports route, by route."""
    answers = {}
    for name, method, path, body, params in _ROUTES:
        result = await app.simulate_request(
            method,
            path.format(id=project_id),
            json=body,
            params=params,
            headers={"Authorization": f"Bearer {key}"},
        )
        error = result.json.get("error", {}) if result.status_code != 200 else {}
        answers[name] = (result.status_code, error.get("status", "OK"))
    return answers


async def test_the_projects_secret_key_reads_every_route(
    app: falcon.testing.ASGIConductor, project: Any
) -> None:
    answers = await _answers(app, project.id, project.secret_key)
    upper_case = await _answers(app, str(project.id).upper(), project.secret_key)

    assert answers == upper_case == _GRANTED


async def test_a_write_key_cannot_read_its_own_project(
    app: falcon.testing.ASGIConductor, project: Any
) -> None:
    answers = await _answers(app, project.id, project.write_key)

    assert answers == _DENIED


async def test_another_projects_secret_key_is_denied(
    app: falcon.testing.ASGIConductor, project: Any, migrated: Settings
) -> None:
    other = create_project(migrated)

    answers = await _answers(app, project.id, other.secret_key)

    assert answers == _DENIED


async def test_an_unknown_key_is_unauthenticated(
    app: falcon.testing.ASGIConductor, project: Any
) -> None:
    answers = await _answers(app, project.id, f"ga4s_{uuid.uuid4().hex}")

    assert answers == _UNAUTHENTICATED


async def test_a_disabled_projects_secret_key_is_refused(
    app: falcon.testing.ASGIConductor, project: Any, store: ProjectStore
) -> None:
    store.disable(project.id)

    answers = await _answers(app, project.id, project.secret_key)

    # The store no longer knows the keys of a disabled project.
    assert answers == _UNAUTHENTICATED


async def test_a_rotated_secret_key_is_refused_and_its_successor_reads(
    app: falcon.testing.ASGIConductor, project: Any, store: ProjectStore
) -> None:
    successor = store.rotate_key(project.id, "secret")

    old = await _answers(app, project.id, project.secret_key)
    new = await _answers(app, project.id, successor)

    assert (old, new) == (_UNAUTHENTICATED, _GRANTED)
