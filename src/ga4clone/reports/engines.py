"""Run a :class:`~ga4clone.reports.query.Query` on a ClickHouse engine.

The query builder writes ClickHouse's server-side placeholders
``{name:Type}``. The native protocol client (clickhouse-driver, which also
speaks to 18.16 servers) substitutes ``%(name)s`` with values it escapes
itself; chDB, the in-process engine, takes server-side parameters as text.
Both adapters are blocking: callers in the event loop use a thread.
"""

from __future__ import annotations

import datetime as dt
import json
import queue
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from clickhouse_driver import Client
from clickhouse_driver.errors import Error as DriverError

from ga4clone.reports.errors import BackendUnavailable
from ga4clone.reports.query import Query

_PLACEHOLDER = re.compile(r"\{(\w+):[^{}]+\}")


class Engine(Protocol):
    """Something that answers a query with rows of Python values."""

    def execute(self, query: Query) -> list[tuple[Any, ...]]: ...


def to_driver_sql(sql: str) -> str:
    """``{name:Type}`` placeholders as clickhouse-driver's ``%(name)s``."""
    # The driver applies Python %-formatting, so a literal % must be doubled.
    return _PLACEHOLDER.sub(r"%(\1)s", sql.replace("%", "%%"))


class DriverEngine:
    """clickhouse-driver clients from a small pool, one per running query."""

    def __init__(self, connect: Any, pool_size: int = 4) -> None:
        self._connect = connect
        self._idle: queue.LifoQueue[Client] = queue.LifoQueue(maxsize=pool_size)

    def execute(self, query: Query) -> list[tuple[Any, ...]]:
        with self._client() as client:
            try:
                rows = client.execute(to_driver_sql(query.sql), query.params)
            except (DriverError, OSError, EOFError) as exc:
                client.disconnect()
                raise BackendUnavailable("ClickHouse failed to answer") from exc
        return [tuple(row) for row in rows]

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
    """chDB's in-process engine, with parameters passed server-side."""

    def __init__(self, session: Any) -> None:
        self._session = session

    def execute(self, query: Query) -> list[tuple[Any, ...]]:
        params = {name: _chdb_text(value) for name, value in query.params.items()}
        try:
            result = self._session.query(query.sql, "JSONCompact", params=params)
        except Exception as exc:  # chDB raises its own and RuntimeError
            raise BackendUnavailable("chDB failed to answer") from exc
        text = result.bytes().decode()
        if not text.strip():
            return []
        return [tuple(row) for row in json.loads(text)["data"]]


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
