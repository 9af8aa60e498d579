"""Apply the SQL migrations of PostgreSQL (with yoyo) and ClickHouse (our runner).

PostgreSQL migrations in ``migrations/postgres`` are applied and tracked by
yoyo-migrations. yoyo has no ClickHouse backend and ClickHouse has no
transactions, so ``migrations/clickhouse`` is applied by :class:`ClickHouseMigrator`:
files run in name order, each statement once, and a file's id is recorded in
the ``schema_migrations`` table after all its statements succeeded. Statements
should be idempotent (``IF NOT EXISTS``), so a file that failed half-way can
simply run again.

ClickHouse files are written in the dialect both the oldest supported server
(18.16) and current ones accept. Where a current server has a better type, a
file names it through a token, rendered by server version:

    ``{{ low_cardinality_string }}``  LowCardinality(String) on 20.1 and later,
                                      String before (experimental in 18.x).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg2
from clickhouse_driver import Client
from psycopg2 import sql
from yoyo import get_backend, read_migrations

from ga4clone.errors import MigrationError
from ga4clone.settings import Settings

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"\{\{\s*(\w+)\s*\}\}")
_MIGRATION_ID = re.compile(r"^[0-9A-Za-z_]+$")
_TRACKING_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(id String, applied_at DateTime DEFAULT now()) "
    "ENGINE = MergeTree ORDER BY id"
)


def migrate(settings: Settings) -> None:
    """Create the databases if needed and apply every pending migration."""
    root = Path(settings.migrations_dir)
    migrate_postgres(settings, root / "postgres")
    migrate_clickhouse(settings, root / "clickhouse")


# --- PostgreSQL ----------------------------------------------------------------


def migrate_postgres(settings: Settings, folder: Path) -> None:
    """Create the PostgreSQL database if allowed, then apply yoyo migrations."""
    _create_postgres_database(settings)
    backend = get_backend(_yoyo_uri(settings))
    migrations = read_migrations(str(folder))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    log.info("PostgreSQL: %d migrations applied", len(pending))


def _yoyo_uri(settings: Settings) -> str:
    credentials = quote(settings.postgres_user, safe="")
    if settings.postgres_password:
        credentials += ":" + quote(settings.postgres_password, safe="")
    host = f"{settings.postgres_host}:{settings.postgres_port}"
    return f"postgresql://{credentials}@{host}/{quote(settings.postgres_db, safe='')}"


def _create_postgres_database(settings: Settings) -> None:
    try:
        conn = psycopg2.connect(settings.postgres_dsn_for("postgres"))
    except psycopg2.OperationalError:
        # The maintenance database may be closed to us; the target may exist.
        log.info(
            "Cannot reach the 'postgres' database; not creating %r",
            settings.postgres_db,
        )
        return
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (settings.postgres_db,)
            )
            if cur.fetchone() is None:
                cur.execute(
                    sql.SQL("CREATE DATABASE {}").format(
                        sql.Identifier(settings.postgres_db)
                    )
                )
                log.info("Created PostgreSQL database %r", settings.postgres_db)
    except psycopg2.errors.InsufficientPrivilege:
        log.info("Not allowed to create PostgreSQL database %r", settings.postgres_db)
    finally:
        conn.close()


# --- ClickHouse -----------------------------------------------------------------


def clickhouse_client(settings: Settings, database: str | None = None) -> Client:
    """A clickhouse-driver client of the configured server."""
    return Client(
        host=settings.clickhouse_host,
        port=settings.clickhouse_port,
        user=settings.clickhouse_user,
        password=settings.clickhouse_password,
        database=database or settings.clickhouse_database,
        connect_timeout=5,
        send_receive_timeout=60,
    )


def migrate_clickhouse(settings: Settings, folder: Path) -> None:
    """Create the ClickHouse database, then apply the pending migration files."""
    bootstrap = clickhouse_client(settings, database="default")
    try:
        bootstrap.execute(
            f"CREATE DATABASE IF NOT EXISTS `{settings.clickhouse_database}`"
        )
    finally:
        bootstrap.disconnect()
    client = clickhouse_client(settings)
    try:
        version = parse_version(client.execute("SELECT version()")[0][0])
        applied = ClickHouseMigrator(client.execute, version).apply(folder)
    finally:
        client.disconnect()
    log.info("ClickHouse %s: %d migrations applied", version, len(applied))


def parse_version(text: str) -> tuple[int, int]:
    """``'24.8.4.13'`` -> ``(24, 8)``."""
    major, minor = text.split(".")[:2]
    return int(major), int(minor)


@dataclass(frozen=True)
class _Migration:
    id: str
    statements: list[str]


class ClickHouseMigrator:
    """Applies ClickHouse migration files through any ``execute(sql)`` callable.

    The callable runs one statement in the target database and returns rows as
    tuples; clickhouse-driver's ``Client.execute`` is one, and tests pass one
    that runs chDB's embedded engine.
    """

    def __init__(
        self, execute: Callable[[str], list[tuple[Any, ...]]], version: tuple[int, int]
    ) -> None:
        self._execute = execute
        self._version = version

    def apply(self, folder: Path) -> list[str]:
        """Apply the files not applied yet; return their ids in order."""
        self._execute(_TRACKING_TABLE)
        done = {row[0] for row in self._execute("SELECT id FROM schema_migrations")}
        applied = []
        for migration in self._read(folder):
            if migration.id in done:
                continue
            log.info("ClickHouse: applying %s", migration.id)
            for statement in migration.statements:
                self._execute(statement)
            # INSERT ... SELECT: the native protocol wants VALUES data sent
            # separately, which not every executor can do.
            self._execute(f"INSERT INTO schema_migrations (id) SELECT '{migration.id}'")
            applied.append(migration.id)
        return applied

    def render(self, text: str) -> str:
        """Replace the version tokens of a migration file."""
        values = {
            "low_cardinality_string": "LowCardinality(String)"
            if self._version >= (20, 1)
            else "String",
        }

        def substitute(match: re.Match[str]) -> str:
            try:
                return values[match.group(1)]
            except KeyError:
                raise MigrationError(f"unknown token {match.group(0)!r}") from None

        return _TOKEN.sub(substitute, text)

    def _read(self, folder: Path) -> Iterator[_Migration]:
        if not folder.is_dir():
            raise MigrationError(f"no migrations folder at {folder}")
        for path in sorted(folder.glob("*.sql")):
            if not _MIGRATION_ID.match(path.stem):
                raise MigrationError(f"migration file name {path.name!r} is not plain")
            yield _Migration(path.stem, _split(self.render(path.read_text())))


def _split(text: str) -> list[str]:
    """Split a file into statements at ``;``; ``--`` comment lines are dropped.

    This is not a SQL lexer: a ``;`` inside a string literal would split it.
    """
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    return [part.strip() for part in "\n".join(lines).split(";") if part.strip()]
