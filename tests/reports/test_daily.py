"""GET /v1/projects/{id}/metrics/daily serves PostgreSQL's daily_metrics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import falcon.testing
import pytest

from ga4clone.reports.daily import DailyMetricsStore
from ga4clone.settings import Settings
from tests.reports.conftest import SECRET_KEY, WRITE_KEY, make_client
from tests.reports.dataset import PROJECT
from tests.reports.test_errors import _NoEngine

_ROWS = [
    ("2026-03-01", "events", 10),
    ("2026-03-01", "page_views", 4),
    ("2026-03-01", "event:page_view", 4),
    ("2026-03-03", "events", 2),
    ("2026-04-01", "events", 99),
]
_PATH = f"/v1/projects/{PROJECT}/metrics/daily"
_HEADERS = {"Authorization": f"Bearer {SECRET_KEY}"}


@pytest.fixture
def client(migrated: Settings, postgres: Any) -> Iterator[falcon.testing.TestClient]:
    with postgres.cursor() as cur:
        cur.execute("DELETE FROM daily_metrics WHERE project_id = %s", (PROJECT,))
        for day, name, value in _ROWS:
            cur.execute(
                "INSERT INTO daily_metrics VALUES (%s, %s, %s, %s)",
                (PROJECT, day, name, value),
            )
    store = DailyMetricsStore(migrated.postgres_dsn)
    yield make_client(_NoEngine(), daily=store)
    store.close()


@pytest.mark.integration
def test_daily_metrics_list_every_day_of_the_range(
    client: falcon.testing.TestClient,
) -> None:
    result = client.simulate_get(
        _PATH, params={"start": "2026-03-01", "end": "2026-03-03"}, headers=_HEADERS
    )

    assert result.status_code == 200
    assert result.json == {
        "projectId": PROJECT,
        "start": "2026-03-01",
        "end": "2026-03-03",
        "days": [
            {
                "date": "2026-03-01",
                "metrics": {"event:page_view": 4, "events": 10, "page_views": 4},
            },
            {"date": "2026-03-02", "metrics": {}},
            {"date": "2026-03-03", "metrics": {"events": 2}},
        ],
    }


@pytest.mark.integration
@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"end": "2026-03-03"}, "start"),
        ({"start": "2026-03-01"}, "end"),
        ({"start": "2026-13-01", "end": "2026-03-03"}, "start"),
        ({"start": "2026-03-04", "end": "2026-03-03"}, "start"),
        ({"start": "2025-01-01", "end": "2026-03-03"}, "end"),
    ],
)
def test_daily_metrics_refuse_bad_ranges(
    client: falcon.testing.TestClient, params: dict[str, str], field: str
) -> None:
    result = client.simulate_get(_PATH, params=params, headers=_HEADERS)

    assert result.status_code == 400
    assert result.json["error"]["message"].startswith(f"{field}:")


@pytest.mark.integration
def test_daily_metrics_refuse_a_write_key(client: falcon.testing.TestClient) -> None:
    result = client.simulate_get(
        _PATH,
        params={"start": "2026-03-01", "end": "2026-03-01"},
        headers={"X-Api-Key": WRITE_KEY},
    )

    assert result.status_code == 403
