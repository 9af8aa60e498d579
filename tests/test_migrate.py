"""Migrations on the real servers, and on chDB's current ClickHouse engine.

The same migration files and the same queries run on the local ClickHouse
18.16 server and on the engine embedded by chdb-core (a current release), which
is how the dialect both accept is kept honest.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from clickhouse_driver import Client

from ga4clone.errors import MigrationError
from ga4clone.migrate import ClickHouseMigrator, migrate, parse_version
from ga4clone.settings import Settings
from tests.conftest import ROOT

CLICKHOUSE_MIGRATIONS = ROOT / "migrations" / "clickhouse"
Execute = Callable[[str], list[tuple[Any, ...]]]

# Rows written as SQL, so that both engines take them the same way: the second
# row repeats the first event (a redelivery), which must collapse.
_PROJECT = "0b0e4d43-3f8d-4a55-9d0e-6c1f0f6d2a11"
_ROWS = f"""
INSERT INTO events (project_id, event_date, event_name, event_id, event_timestamp,
    received_timestamp, user_pseudo_id, session_id, page_path, page_referrer, sdk_name,
    sdk_version, user_agent, client_ip, `event_params.key`,
    `event_params.string_value`, `event_params.int_value`,
    `event_params.double_value`, message_id)
VALUES
('{_PROJECT}', '2026-12-01', 'page_view', '11111111-1111-4111-8111-111111111111',
 1764547200000000, 1764547200000000, 'c1', 's1', '/a', '', '', '', 'UA', '',
 ['page_title', 'value'], ['Home', NULL], [NULL, NULL], [NULL, 9.5],
 '21111111-1111-4111-8111-111111111111'),
('{_PROJECT}', '2026-12-01', 'page_view', '11111111-1111-4111-8111-111111111111',
 1764547200000000, 1764547200000000, 'c1', 's1', '/a', '', '', '', 'UA', '',
 ['page_title', 'value'], ['Home', NULL], [NULL, NULL], [NULL, 9.5],
 '21111111-1111-4111-8111-111111111111'),
('{_PROJECT}', '2026-12-02', 'purchase', '33333333-3333-4333-8333-333333333333',
 1764633600000000, 1764633600000000, 'c2', 's2', '/b', '', '', '', 'UA', '',
 ['value'], [NULL], [NULL], [20.5],
 '43333333-3333-4333-8333-333333333333')
"""

# The queries the README shows, with their answers on the rows above.
QUERIES = {
    "events per day and name, duplicates collapsed": (
        "SELECT event_date, event_name, count() FROM events FINAL "
        f"WHERE project_id = '{_PROJECT}' GROUP BY event_date, event_name "
        "ORDER BY event_date, event_name",
        [("2026-12-01", "page_view", 1), ("2026-12-02", "purchase", 1)],
    ),
    "a numeric event parameter summed": (
        "SELECT sum(p.double_value) FROM events FINAL "
        "ARRAY JOIN event_params AS p "
        f"WHERE project_id = '{_PROJECT}' AND p.key = 'value'",
        [(30.0,)],
    ),
    "distinct clients per month": (
        "SELECT toYYYYMM(event_date) AS month, uniqExact(user_pseudo_id) FROM events "
        f"WHERE project_id = '{_PROJECT}' GROUP BY month",
        [(202612, 2)],
    ),
}


def _normalise(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [
        tuple(str(v) if hasattr(v, "isoformat") else v for v in row) for row in rows
    ]


class ChdbEngine:
    """An ``execute(sql)`` over chDB's in-process engine, in its own database."""

    def __init__(self, path: Path) -> None:
        from chdb import session

        self._session = session.Session(str(path))
        self._session.query("CREATE DATABASE IF NOT EXISTS ga4clone_chdb")
        self._session.query("USE ga4clone_chdb")

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        result = self._session.query(sql, "JSONCompact")
        text = result.bytes().decode() if hasattr(result, "bytes") else str(result)
        if not text.strip():
            return []
        return [tuple(row) for row in json.loads(text)["data"]]

    def close(self) -> None:
        self._session.close()


@pytest.fixture
def chdb_engine(tmp_path: Path) -> Iterator[ChdbEngine]:
    engine = ChdbEngine(tmp_path / "chdb")
    yield engine
    engine.close()


class HttpEngine:
    """An ``execute(sql)`` over the real server's HTTP interface.

    The native protocol (clickhouse-driver) cannot take rows inline in an
    INSERT's SQL, and the shared fixture rows are SQL; HTTP takes any statement.
    """

    def __init__(self, database: str) -> None:
        self._database = database

    def execute(self, sql: str) -> list[tuple[Any, ...]]:
        is_select = sql.lstrip().upper().startswith("SELECT")
        query = urllib.parse.urlencode(
            {"database": self._database, "output_format_json_quote_64bit_integers": 0}
        )
        body = f"{sql} FORMAT JSONCompact" if is_select else sql
        request = urllib.request.Request(
            f"http://127.0.0.1:8123/?{query}", data=body.encode(), method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read().decode()
        return [tuple(row) for row in json.loads(text)["data"]] if is_select else []


@pytest.fixture
def clickhouse_scratch(migrated: Settings) -> Iterator[HttpEngine]:
    """A throw-away database on the real ClickHouse server."""
    name = f"scratch_{uuid.uuid4().hex[:8]}"
    admin = Client("127.0.0.1")
    admin.execute(f"CREATE DATABASE {name}")
    yield HttpEngine(name)
    admin.execute(f"DROP DATABASE {name}")
    admin.disconnect()


def _engine_version(execute: Execute) -> tuple[int, int]:
    return parse_version(str(execute("SELECT version()")[0][0]))


def _check_migrations_and_queries(execute: Execute) -> None:
    migrator = ClickHouseMigrator(execute, _engine_version(execute))

    assert migrator.apply(CLICKHOUSE_MIGRATIONS) == ["0001_events"]
    assert migrator.apply(CLICKHOUSE_MIGRATIONS) == []

    execute(_ROWS)
    for name, (sql, expected) in QUERIES.items():
        assert _normalise(execute(sql)) == expected, name


def test_migrations_and_queries_run_on_current_clickhouse_via_chdb(
    chdb_engine: ChdbEngine,
) -> None:
    assert _engine_version(chdb_engine.execute) >= (24, 8)
    _check_migrations_and_queries(chdb_engine.execute)
    columns = chdb_engine.execute(
        "SELECT type FROM system.columns WHERE database = 'ga4clone_chdb' "
        "AND table = 'events' AND name = 'event_name'"
    )
    assert columns == [("LowCardinality(String)",)]


@pytest.mark.integration
def test_migrations_and_queries_run_on_the_local_server(
    clickhouse_scratch: HttpEngine,
) -> None:
    _check_migrations_and_queries(clickhouse_scratch.execute)


# What a migration run could change in PostgreSQL: yoyo's own records (every
# column, times included) and the schema of the public tables.
_POSTGRES_STATE = {
    "yoyo migrations": "SELECT * FROM _yoyo_migration ORDER BY migration_hash",
    "yoyo log": "SELECT * FROM _yoyo_log ORDER BY id",
    "yoyo version": "SELECT * FROM _yoyo_version ORDER BY version",
    "yoyo lock": "SELECT * FROM yoyo_lock",
    "columns": "SELECT table_name, column_name, data_type, is_nullable, "
    "column_default FROM information_schema.columns "
    "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes "
    "WHERE schemaname = 'public' ORDER BY tablename, indexname",
    "constraints": "SELECT conrelid::regclass::text, conname, "
    "pg_get_constraintdef(oid) FROM pg_constraint "
    "WHERE connamespace = 'public'::regnamespace ORDER BY 1, 2",
}


def _postgres_state(conn: Any) -> dict[str, list[tuple[Any, ...]]]:
    state = {}
    with conn.cursor() as cur:
        for name, query in _POSTGRES_STATE.items():
            cur.execute(query)
            state[name] = cur.fetchall()
    return state


def _clickhouse_state(client: Client) -> dict[str, Any]:
    """The tracking rows and each table's CREATE statement."""
    tables = [row[0] for row in client.execute("SHOW TABLES")]
    return {
        "schema_migrations": client.execute(
            "SELECT id, applied_at FROM schema_migrations ORDER BY id"
        ),
        "tables": {
            table: client.execute(f"SHOW CREATE TABLE `{table}`") for table in tables
        },
    }


@pytest.mark.integration
def test_migrate_twice_changes_nothing(
    migrated: Settings, clickhouse: Client, postgres: Any
) -> None:
    # Given the session's databases, migrated once,
    before = (_postgres_state(postgres), _clickhouse_state(clickhouse))

    # when migrate runs again,
    migrate(migrated)

    # then neither the records of what was applied nor the schemas change.
    postgres_before, clickhouse_before = before
    assert postgres_before["yoyo migrations"], "yoyo recorded nothing"
    assert clickhouse_before["schema_migrations"], "nothing recorded"
    assert _postgres_state(postgres) == postgres_before
    assert _clickhouse_state(clickhouse) == clickhouse_before


@pytest.mark.integration
def test_postgres_migrations_create_the_tables(postgres: Any) -> None:
    with postgres.cursor() as cur:
        cur.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = 'public' ORDER BY table_name"
        )
        tables = [row[0] for row in cur.fetchall()]

    assert {"daily_metrics", "processed_messages"} <= set(tables)


def test_old_servers_get_plain_strings() -> None:
    migrator = ClickHouseMigrator(lambda sql: [], (18, 16))

    assert migrator.render("a {{ low_cardinality_string }}") == "a String"


def test_unknown_tokens_are_an_error() -> None:
    migrator = ClickHouseMigrator(lambda sql: [], (24, 8))

    with pytest.raises(MigrationError, match="unknown token"):
        migrator.render("{{ json_type }}")
