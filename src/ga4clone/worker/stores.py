"""The worker's two writers: raw events to ClickHouse, daily counts to PostgreSQL.

Both translate library errors into two outcomes the consumer acts on:
:class:`StoreUnavailable` (retry the same batch later) and
:class:`PoisonMessage` (this data will never be accepted; find the message).

Every write attempt is timed (``ga4clone_store_insert_duration_seconds``) and,
while tracing is on, is a CLIENT span under the batch's span, with the
database semantic conventions' attributes.
"""

from __future__ import annotations

import logging
import struct
import time
from typing import Any

import psycopg2
import psycopg2.errors
from clickhouse_driver.errors import Error as ClickHouseError
from clickhouse_driver.errors import ErrorCodes, ServerException, TypeMismatchError
from opentelemetry.trace import SpanKind

from ga4clone.enrich import Enricher
from ga4clone.errors import PoisonMessage, StoreUnavailable
from ga4clone.migrate import clickhouse_client
from ga4clone.settings import Settings
from ga4clone.telemetry.metrics import observe_store
from ga4clone.telemetry.tracing import span
from ga4clone.worker.batch import EVENT_COLUMNS, Delivery, daily_counts, to_columns

log = logging.getLogger(__name__)

# The columns of a Nested structure travel together: their arrays must agree.
_COLUMN_GROUPS = [
    [i for i, name in enumerate(EVENT_COLUMNS) if name.partition(".")[0] == group]
    for group in dict.fromkeys(name.partition(".")[0] for name in EVENT_COLUMNS)
]
# Errors raised while clickhouse-driver serialises the columns: the data, not
# the server, is at fault, so retrying cannot help.
_BAD_DATA = (TypeError, ValueError, OverflowError, struct.error, TypeMismatchError)
# Server errors that blame the rows themselves: the same batch would fail the
# same way forever, so it is split to find the message and dead-letter it.
# Every other server error (too many parts, memory, a missing table during a
# migration, read-only replicas) passes and is retried.
_BAD_DATA_CODES = frozenset(
    getattr(ErrorCodes, name)
    for name in (
        "CANNOT_PARSE_TEXT",
        "CANNOT_PARSE_INPUT_ASSERTION_FAILED",
        "CANNOT_PARSE_DATE",
        "CANNOT_PARSE_DATETIME",
        "CANNOT_PARSE_NUMBER",
        "CANNOT_PARSE_UUID",
        "CANNOT_CONVERT_TYPE",
        "CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN",
        "TYPE_MISMATCH",
        "INCORRECT_DATA",
        "ARGUMENT_OUT_OF_BOUND",
        "VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE",
        "SIZES_OF_ARRAYS_DOESNT_MATCH",
        "TOO_LARGE_STRING_SIZE",
    )
)

_RECORD_MESSAGES = """
    INSERT INTO processed_messages (message_id)
    SELECT unnest(%s::uuid[])
    ON CONFLICT DO NOTHING
    RETURNING message_id
"""
_ADD_COUNTS = """
    INSERT INTO daily_metrics (project_id, date, metric_name, metric_value)
    SELECT * FROM unnest(%s::uuid[], %s::date[], %s::text[], %s::bigint[])
    ON CONFLICT (project_id, date, metric_name)
    DO UPDATE SET metric_value = daily_metrics.metric_value + EXCLUDED.metric_value
"""
_PRUNE_MESSAGES = (
    "DELETE FROM processed_messages WHERE processed_at < now() - %s * interval '1 day'"
)
# A message can only come back while RabbitMQ still holds it, or when an
# operator replays the dead-letter queue; two weeks covers both comfortably.
# TODO: a replay of dead letters older than this is counted again; keeping the
# ids in daily partitions would make the window cheap to lengthen.
PROCESSED_RETENTION_DAYS = 14
_PRUNE_EVERY_S = 3600.0
_BRIEF_CHARS = 300


class ClickHouseStore:
    """Inserts a batch's events into ``events`` in one columnar INSERT."""

    def __init__(self, settings: Settings) -> None:
        self._client = clickhouse_client(settings)
        self._enricher = Enricher.from_settings(settings)
        self._span_attributes = {
            "db.system.name": "clickhouse",
            "db.system": "clickhouse",
            "db.namespace": settings.clickhouse_database,
            "db.operation.name": "INSERT",
            "db.collection.name": "events",
            "server.address": settings.clickhouse_host,
            "server.port": settings.clickhouse_port,
        }

    def insert(self, deliveries: list[Delivery]) -> int:
        """Insert every event of ``deliveries``; return how many rows were sent."""
        columns = to_columns(deliveries, self._enricher)
        if not columns[0]:
            return 0  # every event was a bot, and bots are not stored
        started = time.perf_counter()
        try:
            with span("INSERT events", SpanKind.CLIENT, self._span_attributes) as s:
                if s is not None:
                    s.set_attribute("db.operation.batch.size", len(columns[0]))
                self._insert(columns)
        finally:
            observe_store("clickhouse", time.perf_counter() - started)
        return len(columns[0])

    def _insert(self, columns: list[tuple[Any, ...]]) -> None:
        names, kept = _without_defaults(columns)
        statement = f"INSERT INTO events ({', '.join(names)}) VALUES"
        try:
            self._client.execute(statement, kept, columnar=True)
        except _BAD_DATA as exc:
            raise PoisonMessage(f"ClickHouse refused the data: {_brief(exc)}") from exc
        except ServerException as exc:
            if exc.code in _BAD_DATA_CODES:
                raise PoisonMessage(
                    f"ClickHouse refused the data: {_brief(exc)}"
                ) from exc
            raise StoreUnavailable(f"ClickHouse insert failed: {_brief(exc)}") from exc
        except (ClickHouseError, OSError, EOFError) as exc:
            self._client.disconnect()
            raise StoreUnavailable(f"ClickHouse insert failed: {_brief(exc)}") from exc

    def close(self) -> None:
        self._client.disconnect()
        self._enricher.close()


def _brief(exc: BaseException) -> str:
    """An error's type and first line: what a log line or a dead letter needs.

    ClickHouse appends its server's stack trace and PostgreSQL the failing row
    (``DETAIL: Failing row contains ...``, event data) on later lines.
    """
    text = str(exc)
    if isinstance(exc, ClickHouseError) and exc.message:
        # Its str() puts "Code: N." alone on the first line.
        text = f"Code: {exc.code}. {exc.message}"
    first = text.strip().split("\n", 1)[0].removesuffix(" Stack trace:")
    return f"{type(exc).__name__}: {first}"[:_BRIEF_CHARS]


def _without_defaults(
    columns: list[tuple[Any, ...]],
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Leave out columns whose every value is the column type's default.

    ClickHouse fills a column missing from an INSERT with its default ('' for
    a String, 0 for a number, [] for an Array), which is what would have been
    sent. Many columns are empty for whole batches (geo without a database,
    Measurement Protocol fields in SDK traffic), and serialising them costs the
    worker more than anything else it does per event.
    """
    keep = [
        index
        for group in _COLUMN_GROUPS
        if any(any(columns[index]) for index in group)
        for index in group
    ]
    return [EVENT_COLUMNS[i] for i in keep], [columns[i] for i in keep]


class PostgresStore:
    """Adds a batch's daily counts, once per message, in one transaction."""

    def __init__(self, settings: Settings) -> None:
        self._dsn = settings.postgres_dsn
        # Only asked whether a message came from a bot: no geo database needed.
        self._bots = Enricher()
        self._conn: Any = None
        self._last_prune = 0.0
        self._span_attributes = {
            "db.system.name": "postgresql",
            "db.system": "postgresql",
            "db.namespace": settings.postgres_db,
            "db.operation.name": "transaction",
            "db.collection.name": "daily_metrics",
            "server.address": settings.postgres_host,
            "server.port": settings.postgres_port,
        }

    def record(self, deliveries: list[Delivery]) -> int:
        """Count the messages not seen before; return how many events counted."""
        started = time.perf_counter()
        try:
            with span(
                "transaction daily_metrics", SpanKind.CLIENT, self._span_attributes
            ) as s:
                counted = self._translated_record(deliveries)
                if s is not None:
                    s.set_attribute("ga4clone.events.counted", counted)
                return counted
        finally:
            observe_store("postgres", time.perf_counter() - started)

    def _translated_record(self, deliveries: list[Delivery]) -> int:
        try:
            return self._record(deliveries)
        except (psycopg2.DataError, psycopg2.IntegrityError) as exc:
            raise PoisonMessage(f"PostgreSQL refused the data: {_brief(exc)}") from exc
        except psycopg2.Error as exc:
            # Connection loss, shutdown, deadlock, a missing table during a
            # migration: all of them pass.
            self.close()
            raise StoreUnavailable(
                f"PostgreSQL transaction failed: {_brief(exc)}"
            ) from exc

    def _record(self, deliveries: list[Delivery]) -> int:
        conn = self._connection()
        with conn, conn.cursor() as cur:
            ids = [str(delivery.message_id) for delivery in deliveries]
            cur.execute(_RECORD_MESSAGES, (ids,))
            new_ids = {row[0] for row in cur.fetchall()}
            fresh = [d for d in deliveries if str(d.message_id) in new_ids]
            counts = daily_counts(fresh, self._bots)
            if counts:
                # Sorted keys make concurrent workers lock rows in one order.
                keys = sorted(counts)
                cur.execute(
                    _ADD_COUNTS,
                    (
                        [str(key[0]) for key in keys],
                        [key[1] for key in keys],
                        [key[2] for key in keys],
                        [counts[key] for key in keys],
                    ),
                )
            self._maybe_prune(cur)
        return sum(len(d.message.events) for d in fresh)

    def _maybe_prune(self, cur: Any) -> None:
        now = time.monotonic()
        if now - self._last_prune >= _PRUNE_EVERY_S:
            cur.execute(_PRUNE_MESSAGES, (PROCESSED_RETENTION_DAYS,))
            self._last_prune = now

    def _connection(self) -> Any:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg2.connect(self._dsn, connect_timeout=5)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg2.Error:
                log.debug(
                    "Closing a broken PostgreSQL connection failed", exc_info=True
                )
            self._conn = None
