"""Run a :class:`~ga4clone.reports.query.Query` on a ClickHouse engine.

The query builder writes ClickHouse's server-side placeholders
``{name:Type}``. The native protocol client (clickhouse-driver, which also
speaks to 18.16 servers) substitutes ``%(name)s`` with values it escapes
itself; chDB, the in-process engine, takes server-side parameters as text.
Both adapters are blocking: callers in the event loop use a thread.

Each adapter asks its server's version once and sends with every query the
settings of :func:`query_settings` that this version knows.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import queue
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from clickhouse_driver import Client
from clickhouse_driver.errors import Error as DriverError

from ga4clone.migrate import parse_version
from ga4clone.reports.errors import BackendUnavailable
from ga4clone.reports.query import Query

log = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\{(\w+):[^{}]+\}")

# (first version trusted, setting, value) of the settings report queries take.
_VERSIONED_SETTINGS = [
    # FINAL then merges the parts of each partition alone. That is right for
    # events: PARTITION BY toYYYYMM(event_date) with event_date in the sorting
    # key puts every copy of an event in one partition. The setting came in
    # 20.11 (ClickHouse #15938); reading several partitions with it could go
    # wrong until #19375 (January 2021), hence 21.2. From 24.1 the server
    # derives it for such tables by itself (#58218).
    ((21, 2), "do_not_merge_across_partitions_select_final", 1),
]


def query_settings(version: tuple[int, int]) -> dict[str, int]:
    """The settings report queries take on a server of ``version``."""
    return {
        name: value for since, name, value in _VERSIONED_SETTINGS if version >= since
    }


class Engine(Protocol):
    """Something that answers a query with rows of Python values."""

    def execute(self, query: Query) -> list[tuple[Any, ...]]: ...


def to_driver_sql(sql: str) -> str:
    """``{name:Type}`` placeholders as clickhouse-driver's ``%(name)s``."""
    # The driver applies Python %-formatting, so a literal % must be doubled.
    return _PLACEHOLDER.sub(r"%(\1)s", sql.replace("%", "%%"))


class DriverEngine:
    """clickhouse-driver clients from a small pool, one per running query.

    ``tuned=False`` sends no :func:`query_settings`, to measure what they do.
    """

    def __init__(self, connect: Any, pool_size: int = 4, *, tuned: bool = True) -> None:
        self._connect = connect
        self._idle: queue.LifoQueue[Client] = queue.LifoQueue(maxsize=pool_size)
        self._settings: dict[str, int] | None = None if tuned else {}

    def execute(self, query: Query) -> list[tuple[Any, ...]]:
        with self._client() as client:
            try:
                settings = self._settings_of(client)
                rows = client.execute(
                    to_driver_sql(query.sql), query.params, settings=settings
                )
            except (DriverError, OSError, EOFError) as exc:
                client.disconnect()
                # The server's message may quote the query, filter values and
                # all, so only its class and code are logged.
                log.warning(
                    "ClickHouse failed to answer a report query: %s (code %s)",
                    type(exc).__name__,
                    getattr(exc, "code", None),
                )
                raise BackendUnavailable("ClickHouse failed to answer") from exc
        return [tuple(row) for row in rows]

    def _settings_of(self, client: Client) -> dict[str, int]:
        if self._settings is None:
            [(version,)] = client.execute("SELECT version()")
            self._settings = query_settings(parse_version(str(version)))
        return self._settings

    @contextmanager
    def _client(self) -> Iterator[Client]:
        try:
            client = self._idle.get_nowait()
        except queue.Empty:
            client = self._connect()
        try:
            yield client
        finally:
            try:
                self._idle.put_nowait(client)
            except queue.Full:
                client.disconnect()

    def close(self) -> None:
        """Disconnect every idle client."""
        while True:
            try:
                self._idle.get_nowait().disconnect()
            except queue.Empty:
                return


class ChdbEngine:
    """chDB's in-process engine, with parameters passed server-side.

    Takes SELECT queries only: the settings go into a trailing SETTINGS
    clause. ``tuned=False`` adds none, to measure what they do.
    """

    def __init__(self, session: Any, *, tuned: bool = True) -> None:
        self._session = session
        self._clause: str | None = None if tuned else ""

    def execute(self, query: Query) -> list[tuple[Any, ...]]:
        params = {name: _chdb_text(value) for name, value in query.params.items()}
        try:
            sql = query.sql + self._settings_clause()
            result = self._session.query(sql, "JSONCompact", params=params)
        except Exception as exc:  # chDB raises its own and RuntimeError
            raise BackendUnavailable("chDB failed to answer") from exc
        text = result.bytes().decode()
        if not text.strip():
            return []
        return [tuple(row) for row in json.loads(text)["data"]]

    def _settings_clause(self) -> str:
        if self._clause is None:
            version = self._session.query("SELECT version()", "CSV").bytes()
            settings = query_settings(parse_version(version.decode().strip('"\n')))
            pairs = [f"{name} = {value}" for name, value in settings.items()]
            self._clause = f" SETTINGS {', '.join(pairs)}" if pairs else ""
        return self._clause


def _chdb_text(value: Any) -> str:
    """A parameter in ClickHouse's escaped text format, as chDB parses it."""
    if isinstance(value, list):
        return "[" + ", ".join(_quoted(str(v)) for v in value) + "]"
    if isinstance(value, str):
        return _escaped(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return repr(value)


def _escaped(value: str) -> str:
    return (
        value.replace("\\", "\\\\")
        .replace("\t", "\\t")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\0", "\\0")
    )


def _quoted(value: str) -> str:
    return "'" + _escaped(value).replace("'", "\\'") + "'"
