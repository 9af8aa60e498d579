"""The generated events loaded into chDB and into the local ClickHouse server,
and a reports app over either, with a fixed clock and a simple key check."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import falcon.asgi
import falcon.testing
import pytest

from ga4clone.migrate import ClickHouseMigrator, clickhouse_client, parse_version
from ga4clone.reports import Access, Authorize, register_routes
from ga4clone.reports.daily import DailyMetricsStore
from ga4clone.reports.engines import ChdbEngine, DriverEngine, Engine
from ga4clone.settings import Settings
from tests.conftest import ROOT, base_settings
from tests.reports import dataset

SECRET_KEY = "sk-main"
WRITE_KEY = "wk-main"
OTHER_SECRET_KEY = "sk-other"
_KEYS = {
    SECRET_KEY: (dataset.PROJECT, "secret"),
    WRITE_KEY: (dataset.PROJECT, "write"),
    OTHER_SECRET_KEY: (dataset.OTHER_PROJECT, "secret"),
}


def authorize(project_id: str, key: str) -> Access:
    """Secret keys read their own project; write keys read nothing."""
    if key not in _KEYS:
        return Access.UNKNOWN_KEY
    owner, kind = _KEYS[key]
    granted = owner == project_id and kind == "secret"
    return Access.GRANTED if granted else Access.DENIED


@pytest.fixture(scope="session")
def events() -> tuple[list[dataset.Event], list[dataset.Event]]:
    return dataset.generate()


@pytest.fixture(scope="module")
def chdb_engine(
    tmp_path_factory: pytest.TempPathFactory,
    events: tuple[list[dataset.Event], list[dataset.Event]],
) -> Iterator[Engine]:
    """chDB's current engine, migrated, with the events and their copies."""
    from chdb import session

    path: Path = tmp_path_factory.mktemp("chdb")
    chdb = session.Session(str(path))
    chdb.query("CREATE DATABASE IF NOT EXISTS ga4clone_reports")
    chdb.query("USE ga4clone_reports")

    def execute(sql: str) -> list[tuple[Any, ...]]:
        text = chdb.query(sql, "TabSeparated").bytes().decode()
        return [tuple(line.split("\t")) for line in text.splitlines()]

    version = parse_version(execute("SELECT version()")[0][0])
    ClickHouseMigrator(execute, version).apply(ROOT / "migrations" / "clickhouse")
    originals, copies = events
    execute(dataset.insert_sql(originals))
    execute(dataset.insert_sql(copies))
    yield ChdbEngine(chdb)
    chdb.close()


@pytest.fixture(scope="session")
def server_engine(
    migrated: Settings, events: tuple[list[dataset.Event], list[dataset.Event]]
) -> Iterator[Engine]:
    """The local ClickHouse server's test database, with the events and copies."""
    originals, copies = events
    for batch in (originals, copies):
        _post_sql(migrated.clickhouse_database, dataset.insert_sql(batch))
    engine = DriverEngine(lambda: clickhouse_client(migrated))
    yield engine
    engine.close()


def _post_sql(database: str, sql: str) -> None:
    # The native protocol cannot take rows inline in an INSERT's SQL; HTTP can.
    request = urllib.request.Request(
        f"http://127.0.0.1:8123/?database={database}", data=sql.encode(), method="POST"
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()


@pytest.fixture(
    scope="module",
    params=["chdb", pytest.param("server", marks=pytest.mark.integration)],
)
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each engine in turn: the reports matrix must agree on both."""
    name = "chdb_engine" if request.param == "chdb" else "server_engine"
    found: Engine = request.getfixturevalue(name)
    return found


def make_client(
    engine: Engine,
    daily: DailyMetricsStore | None = None,
    *,
    check_key: Authorize = authorize,
    **options: Any,
) -> falcon.testing.TestClient:
    """A test client of an app holding only the reports routes."""
    app = falcon.asgi.App()
    register_routes(
        app,
        base_settings(),
        check_key,
        engine=engine,
        daily=daily or DailyMetricsStore("dbname=unused"),
        clock=lambda: dataset.NOW,
        **options,
    )
    return falcon.testing.TestClient(app)


@pytest.fixture(scope="module")
def client(engine: Engine) -> falcon.testing.TestClient:
    return make_client(engine)
