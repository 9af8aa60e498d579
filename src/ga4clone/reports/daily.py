"""The original system's daily aggregates, read from PostgreSQL's daily_metrics."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import psycopg2
import psycopg2.pool

from ga4clone.pgpool import lazy_pool
from ga4clone.reports.errors import BackendUnavailable

_SELECT = (
    "SELECT date, metric_name, metric_value FROM daily_metrics "
    "WHERE project_id = %s AND date >= %s AND date <= %s "
    "ORDER BY date, metric_name"
)


class DailyMetricsStore:
    """Reads daily_metrics through a small, lazily opened connection pool."""

    def __init__(self, dsn: str, pool_size: int = 4) -> None:
        self._dsn = dsn
        self._pool_size = pool_size
        self._pool: psycopg2.pool.ThreadedConnectionPool | None = None
        self._lock = threading.Lock()

    def days(
        self, project_id: str, start: dt.date, end: dt.date
    ) -> list[dict[str, Any]]:
        """Every day from start to end, each with the metrics stored for it."""
        try:
            rows = self._select(project_id, start, end)
        except psycopg2.Error as exc:
            raise BackendUnavailable("PostgreSQL failed to answer") from exc
        metrics: dict[dt.date, dict[str, int]] = {}
        for day, name, value in rows:
            metrics.setdefault(day, {})[name] = int(value)
        span = (end - start).days + 1
        dates = [start + dt.timedelta(days=n) for n in range(span)]
        return [
            {"date": day.isoformat(), "metrics": metrics.get(day, {})} for day in dates
        ]

    def _select(
        self, project_id: str, start: dt.date, end: dt.date
    ) -> list[tuple[Any, ...]]:
        pool = self._connections()
        conn = pool.getconn()
        broken = False
        try:
            with conn.cursor() as cur:
                cur.execute(_SELECT, (project_id, start, end))
                rows: list[tuple[Any, ...]] = cur.fetchall()
            conn.rollback()
            return rows
        except psycopg2.Error:
            broken = True
            raise
        finally:
            pool.putconn(conn, close=broken)

    def _connections(self) -> psycopg2.pool.ThreadedConnectionPool:
        with self._lock:
            if self._pool is None:
                try:
                    self._pool = lazy_pool(self._dsn, self._pool_size)
                except psycopg2.Error as exc:
                    raise BackendUnavailable("PostgreSQL is unreachable") from exc
            return self._pool

    def close(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            if self._pool is not None:
                self._pool.closeall()
                self._pool = None
