"""Benchmark the reports engine on ten million events.

Loads generated events with one INSERT ... SELECT from system.numbers, runs a
30-day report by date, by pagePath and by country (eventCount, activeUsers,
sessions) through the report engine, and prints the median latency of several
runs, once with the settings the engine sends for its server's version
(``query_settings`` in ga4clone.reports.engines) and once without them. The
by-date report without FINAL, counting ``uniqExact(event_id)`` instead, is
timed for comparison.

``--engine driver`` (the default) loads the local ClickHouse server (18.16
here) into a database of its own, ``ga4clone_bench``, dropped afterwards unless
``--keep``. ``--engine chdb`` loads the current ClickHouse embedded by
chdb-core, in a session on a temporary directory that is always removed; it
stands in for the production target (24.8 and later).

    .venv/bin/python bench/reports.py [--engine driver|chdb] [--events 10000000]
        [--runs 5] [--keep]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from clickhouse_driver import Client

from ga4clone.migrate import ClickHouseMigrator, parse_version
from ga4clone.reports.engines import ChdbEngine, DriverEngine, Engine, query_settings
from ga4clone.reports.query import Query, compile_report
from ga4clone.reports.request import RunReportRequest
from ga4clone.reports.runner import run_plan

ROOT = Path(__file__).resolve().parent.parent
DATABASE = "ga4clone_bench"
PROJECT = "3f1d2c4b-5a69-4788-9c0d-1e2f3a4b5c6d"
OTHER_PROJECT = "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d"
FIRST_DAY = dt.date(2026, 1, 1)
DAYS = 60

# Every value derives from the row number through intHash32, so each load
# holds the same events (event_id excepted: generateUUIDv4 is random), stored
# as the pipeline stores them: ISO codes in geo_country, the stream's WEB, IOS
# or ANDROID in platform, empty for /events. The driver %-formats the text,
# hence %% for the modulo operator; chDB is given the text with both
# substitutions done (see _chdb_load).
_LOAD = f"""
INSERT INTO events (project_id, event_date, event_name, event_id, event_timestamp,
    received_timestamp, user_pseudo_id, session_id, page_path, page_hostname,
    page_title, geo_country, device_category, platform, `event_params.key`,
    `event_params.int_value`, `event_params.string_value`,
    `event_params.double_value`)
SELECT
    if(h %% 10 = 0, toUUID('{OTHER_PROJECT}'), toUUID('{PROJECT}')),
    toDate('{FIRST_DAY}') + day,
    ['page_view', 'page_view', 'page_view', 'scroll', 'click', 'session_start',
     'user_engagement', 'purchase'][1 + intHash32(number * 7) %% 8],
    generateUUIDv4(),
    (toUInt64(toUInt32(toDateTime(toDate('{FIRST_DAY}') + day))) + second) * 1000000,
    (toUInt64(toUInt32(toDateTime(toDate('{FIRST_DAY}') + day))) + second) * 1000000,
    toString(user),
    concat(toString(day), '.', toString(intHash32(number * 13) %% 3)),
    concat('/page/', toString(intHash32(number * 17) %% 500)),
    'shop.example',
    concat('Page ', toString(intHash32(number * 17) %% 500)),
    ['DE', 'FR', 'JP', 'BR', 'IN', 'US', 'CA', 'ES', 'IT', '']
        [1 + intHash32(user) %% 10],
    ['desktop', 'mobile', 'tablet'][1 + intHash32(user * 3) %% 3],
    ['', 'WEB', 'WEB', 'IOS', 'ANDROID'][1 + intHash32(user * 7) %% 5],
    ['engagement_time_msec'],
    [toNullable(toInt64(intHash32(number * 19) %% 20000))],
    [CAST(NULL AS Nullable(String))],
    [CAST(NULL AS Nullable(Float64))]
FROM
(
    SELECT
        number,
        intHash32(number) AS h,
        intHash32(number * 3) %% {DAYS} AS day,
        intHash32(number * 5) %% 86400 AS second,
        intHash32(number * 11) %% 300000 AS user
    FROM system.numbers
    LIMIT %(events)s
)
"""

# The by-date report written by hand without FINAL: duplicates are collapsed
# by counting distinct event ids instead.
_WITHOUT_FINAL = """
SELECT toString(toYYYYMMDD(event_date)) AS d0, uniqExact(event_id),
    uniqExact(user_pseudo_id), uniqExact(user_pseudo_id, session_id)
FROM events
WHERE project_id = {project:UUID} AND event_date >= {start:Date}
    AND event_date <= {end:Date}
GROUP BY d0 ORDER BY d0
"""

_PARTS = (
    "SELECT sum(rows), count() FROM system.parts "
    "WHERE database = currentDatabase() AND table = 'events' AND active"
)


def main() -> None:
    args = _arguments()
    bench = _bench_chdb if args.engine == "chdb" else _bench_driver
    bench(args)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=["driver", "chdb"], default="driver")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--keep", action="store_true", help="keep the database")
    return parser.parse_args()


def _bench_driver(args: argparse.Namespace) -> None:
    admin = Client(args.host)
    admin.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
    admin.execute(f"CREATE DATABASE {DATABASE}")
    client = Client(args.host, database=DATABASE, send_receive_timeout=600)
    engine = DriverEngine(lambda: Client(args.host, database=DATABASE))
    plain = DriverEngine(lambda: Client(args.host, database=DATABASE), tuned=False)
    try:
        _migrate(lambda sql: list(client.execute(sql)))
        load_s = _timed(lambda: client.execute(_LOAD, {"events": args.events}))
        _bench(args, engine, plain, load_s)
    finally:
        engine.close()
        plain.close()
        if not args.keep:
            admin.execute(f"DROP DATABASE IF EXISTS {DATABASE}")
        client.disconnect()
        admin.disconnect()


def _bench_chdb(args: argparse.Namespace) -> None:
    with _chdb_session() as session:

        def execute(sql: str) -> list[tuple[Any, ...]]:
            text = session.query(sql, "TabSeparated").bytes().decode()
            return [tuple(line.split("\t")) for line in text.splitlines()]

        _migrate(execute)
        load_s = _timed(lambda: session.query(_chdb_load(args.events)))
        plain = ChdbEngine(session, tuned=False)
        _bench(args, ChdbEngine(session), plain, load_s)


@contextmanager
def _chdb_session() -> Iterator[Any]:
    from chdb import session as chdb_session

    sessions: Any = chdb_session  # chdb-core ships no type hints
    with tempfile.TemporaryDirectory(prefix="ga4clone-bench-") as path:
        session = sessions.Session(path)
        try:
            session.query(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
            session.query(f"USE {DATABASE}")
            yield session
        finally:
            session.close()


def _chdb_load(events: int) -> str:
    return _LOAD.replace("%%", "%").replace("%(events)s", str(events))


def _migrate(execute: Callable[[str], list[tuple[Any, ...]]]) -> None:
    version = parse_version(str(execute("SELECT version()")[0][0]))
    ClickHouseMigrator(execute, version).apply(ROOT / "migrations" / "clickhouse")


def _bench(
    args: argparse.Namespace, engine: Engine, plain: Engine, load_s: float
) -> None:
    [(version,)] = engine.execute(Query("SELECT version()", {}))
    [(rows, parts)] = engine.execute(Query(_PARTS, {}))
    settings = query_settings(parse_version(str(version))) or "none"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"engine {args.engine}, ClickHouse {version}")  # fmt: skip
    print(f"loaded {int(rows):,} events in {load_s:.1f} s ({parts} active parts)")
    print(f"settings sent for this version: {settings}")
    end = FIRST_DAY + dt.timedelta(days=44)
    start = end - dt.timedelta(days=29)
    for dimension, exact in [
        ("date", True),
        ("pagePath", True),
        ("date", False),
        ("pagePath", False),
        ("country", True),  # the code -> name lookup (transform) on every row
    ]:
        _bench_report(args, engine, plain, _request(start, end, dimension), exact)
    query = Query(_WITHOUT_FINAL, {"project": PROJECT, "start": start, "end": end})
    median = _median(lambda: engine.execute(query), args.runs)
    print(f"by date without FINAL (uniqExact(event_id)), one query: median "
          f"{median * 1000:.0f} ms")  # fmt: skip


def _request(start: dt.date, end: dt.date, dimension: str) -> RunReportRequest:
    return RunReportRequest.model_validate(
        {
            "dateRanges": [{"startDate": str(start), "endDate": str(end)}],
            "dimensions": [{"name": dimension}],
            "metrics": [
                {"name": "eventCount"},
                {"name": "activeUsers"},
                {"name": "sessions"},
            ],
        }
    )


def _bench_report(
    args: argparse.Namespace,
    engine: Engine,
    plain: Engine,
    request: RunReportRequest,
    exact: bool,
) -> None:
    today = FIRST_DAY + dt.timedelta(days=44)
    plan = compile_report(request, PROJECT, today, max_rows=100_000, exact_counts=exact)
    answer: dict[str, Any] = {}

    def run(on: Engine) -> None:
        answer.update(run_plan(on, plan, "analyticsData#runReport"))

    median = _median(lambda: run(engine), args.runs)
    untuned = _median(lambda: run(plain), args.runs)
    counts = "uniqExact" if exact else "uniq"
    dimension = request.dimensions[0].name
    print(f"30-day report by {dimension} ({counts}): median "
          f"{median * 1000:.0f} ms with the settings, {untuned * 1000:.0f} ms "
          f"without, over {args.runs} runs ({answer['rowCount']} rows)")  # fmt: skip


def _median(action: Callable[[], Any], runs: int) -> float:
    action()  # warm the caches once
    return statistics.median(_timed(action) for _ in range(runs))


def _timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
