"""The Falcon resources of the reports API and :func:`register_routes`."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Callable, Coroutine
from enum import Enum
from typing import Any

import falcon
import falcon.asgi
import orjson

from ga4clone.errors import StoreUnavailable
from ga4clone.reports import catalog
from ga4clone.reports.daily import DailyMetricsStore
from ga4clone.reports.engines import Engine
from ga4clone.reports.errors import (
    BackendUnavailable,
    InvalidArgument,
    PermissionDenied,
    ReportError,
    Unauthenticated,
)
from ga4clone.reports.query import compile_realtime, compile_report, parse_date
from ga4clone.reports.request import (
    RunRealtimeReportRequest,
    RunReportRequest,
    parse_body,
)
from ga4clone.reports.runner import run_plan

log = logging.getLogger(__name__)

MAX_DAILY_SPAN_DAYS = 366
# What GA4's Data API says with a 500 INTERNAL.
_INTERNAL_MESSAGE = "Internal error encountered."


class Access(Enum):
    """What an authorize callable says of a key for a project."""

    GRANTED = "granted"
    UNKNOWN_KEY = "unknown_key"
    DENIED = "denied"


# (project_id, key) -> Access. A blocking callable: it runs in a thread.
Authorize = Callable[[str, str], Access]
Clock = Callable[[], dt.datetime]


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _Guard:
    """Checks the key of a request against the project it reads."""

    def __init__(self, authorize: Authorize) -> None:
        self._authorize = authorize

    async def check(self, req: falcon.asgi.Request, project: str) -> str:
        """The project's canonical id, once the request's key may read it."""
        key = _key(req)
        if not key:
            raise Unauthenticated(
                "a secret key is required: Authorization: Bearer <key> or X-Api-Key"
            )
        project_id = _project_id(project)
        try:
            access = await asyncio.to_thread(self._authorize, project_id, key)
        except StoreUnavailable as exc:
            log.warning("The key store is unavailable; answering 503", exc_info=True)
            raise BackendUnavailable("the key store is unavailable") from exc
        if access is Access.UNKNOWN_KEY:
            raise Unauthenticated("the key is not known")
        if access is not Access.GRANTED:
            raise PermissionDenied(
                "the key may not read this project (another project's key, "
                "or a write key)"
            )
        return project_id


def _key(req: falcon.asgi.Request) -> str:
    header = req.get_header("Authorization") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return (req.get_header("X-Api-Key") or "").strip()


def _project_id(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidArgument("propertyId", "must be a project UUID") from None


def _reply(resp: falcon.asgi.Response, status: int, body: dict[str, Any]) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = orjson.dumps(body)


def _reply_error(
    resp: falcon.asgi.Response, error: ReportError, retry_after_s: int
) -> None:
    body = {"code": error.http_code, "message": str(error), "status": error.status}
    _reply(resp, error.http_code, {"error": body})
    if error.http_code == 503:
        resp.set_header("Retry-After", str(retry_after_s))  # RFC 9110, 10.2.3


async def _answer(
    req: falcon.asgi.Request,
    resp: falcon.asgi.Response,
    work: Coroutine[Any, Any, dict[str, Any]],
    retry_after_s: int,
) -> None:
    """Reply with what ``work`` returns, or with GA4's error body of its failure."""
    try:
        body = await work
    except ReportError as error:
        _reply_error(resp, error, retry_after_s)
        return
    except Exception:
        # Anything else is our bug: its text may hold internals, so it goes
        # to the log and the client gets GA4's opaque INTERNAL answer.
        log.error("Reports request %s %s failed", req.method, req.path, exc_info=True)
        _reply_error(resp, ReportError(_INTERNAL_MESSAGE), retry_after_s)
        return
    _reply(resp, 200, body)


class ReportsResource:
    """runReport, runRealtimeReport and metadata of one property (project)."""

    def __init__(
        self,
        engine: Engine,
        authorize: Authorize,
        *,
        max_rows: int = 100_000,
        max_body_bytes: int = 1_048_576,
        exact_counts: bool = True,
        retry_after_s: int = 5,
        clock: Clock = _utc_now,
    ) -> None:
        self._engine = engine
        self._retry_after_s = retry_after_s
        self._exact_counts = exact_counts
        self._guard = _Guard(authorize)
        self._max_rows = max_rows
        self._max_body_bytes = max_body_bytes
        self._clock = clock

    async def on_post(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, property_id: str
    ) -> None:
        work = self._run_report(req, property_id)
        await _answer(req, resp, work, self._retry_after_s)

    async def on_post_realtime(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, property_id: str
    ) -> None:
        work = self._run_realtime_report(req, property_id)
        await _answer(req, resp, work, self._retry_after_s)

    async def on_get_metadata(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, property_id: str
    ) -> None:
        work = self._metadata(req, property_id)
        await _answer(req, resp, work, self._retry_after_s)

    async def _run_report(
        self, req: falcon.asgi.Request, property_id: str
    ) -> dict[str, Any]:
        project_id = await self._guard.check(req, property_id)
        request = parse_body(RunReportRequest, await self._body(req))
        today = self._clock().astimezone(dt.UTC).date()
        plan = compile_report(
            request, project_id, today, self._max_rows, exact_counts=self._exact_counts
        )
        return await asyncio.to_thread(
            run_plan, self._engine, plan, "analyticsData#runReport"
        )

    async def _run_realtime_report(
        self, req: falcon.asgi.Request, property_id: str
    ) -> dict[str, Any]:
        project_id = await self._guard.check(req, property_id)
        request = parse_body(RunRealtimeReportRequest, await self._body(req))
        now_us = int(self._clock().timestamp() * 1_000_000)
        plan = compile_realtime(
            request, project_id, now_us, self._max_rows, exact_counts=self._exact_counts
        )
        return await asyncio.to_thread(
            run_plan, self._engine, plan, "analyticsData#runRealtimeReport"
        )

    async def _metadata(
        self, req: falcon.asgi.Request, property_id: str
    ) -> dict[str, Any]:
        return metadata(await self._guard.check(req, property_id))

    async def _body(self, req: falcon.asgi.Request) -> bytes:
        body = bytearray()
        async for chunk in req.stream:
            body += chunk
            if len(body) > self._max_body_bytes:
                raise InvalidArgument(
                    "", f"body is larger than {self._max_body_bytes} bytes"
                )
        return bytes(body)


def metadata(project_id: str) -> dict[str, Any]:
    """GA4's Metadata resource: every dimension and metric of a property."""
    dimensions = [
        {
            "apiName": d.api_name,
            "uiName": d.ui_name,
            "description": d.description,
            "category": "Realtime and reports" if d.realtime else "Reports",
        }
        for d in catalog.DIMENSIONS.values()
    ]
    dimensions.append(
        {
            "apiName": catalog.DATE_RANGE,
            "uiName": "Date range",
            "description": "The name of the date range a row belongs to; added "
            "when a report has several date ranges.",
            "category": "Realtime and reports",
        }
    )
    metrics = [
        {
            "apiName": m.api_name,
            "uiName": m.ui_name,
            "description": m.description,
            "type": m.type.value,
            "category": "Realtime and reports" if m.realtime else "Reports",
        }
        for m in catalog.METRICS.values()
    ]
    return {
        "name": f"properties/{project_id}/metadata",
        "dimensions": dimensions,
        "metrics": metrics,
    }


class DailyMetricsResource:
    """The daily_metrics aggregates of a project over a range of days."""

    def __init__(
        self,
        store: DailyMetricsStore,
        authorize: Authorize,
        *,
        retry_after_s: int = 5,
        clock: Clock = _utc_now,
    ) -> None:
        self._store = store
        self._retry_after_s = retry_after_s
        self._guard = _Guard(authorize)
        self._clock = clock

    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, project_id: str
    ) -> None:
        work = self._daily(req, project_id)
        await _answer(req, resp, work, self._retry_after_s)

    async def _daily(self, req: falcon.asgi.Request, project_id: str) -> dict[str, Any]:
        project = await self._guard.check(req, project_id)
        start, end = self._span(req)
        days = await asyncio.to_thread(self._store.days, project, start, end)
        return {
            "projectId": project,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "days": days,
        }

    def _span(self, req: falcon.asgi.Request) -> tuple[dt.date, dt.date]:
        today = self._clock().astimezone(dt.UTC).date()
        values = {}
        for name in ("start", "end"):
            raw = req.get_param(name)
            if raw is None:
                raise InvalidArgument(name, "is required (YYYY-MM-DD)")
            values[name] = parse_date(raw, name, today)
        start, end = values["start"], values["end"]
        if start > end:
            raise InvalidArgument("start", "is after end")
        if (end - start).days + 1 > MAX_DAILY_SPAN_DAYS:
            raise InvalidArgument(
                "end", f"the range spans more than {MAX_DAILY_SPAN_DAYS} days"
            )
        return start, end


def register_routes(
    app: falcon.asgi.App[Any, Any],
    settings: Any,
    authorize: Authorize,
    *,
    engine: Engine | None = None,
    daily: DailyMetricsStore | None = None,
    max_rows: int = 100_000,
    exact_counts: bool = True,
    clock: Clock = _utc_now,
) -> None:
    """Add the reports routes to ``app``; engine and store default to settings'."""
    if engine is None:
        from ga4clone.migrate import clickhouse_client
        from ga4clone.reports.engines import DriverEngine

        engine = DriverEngine(lambda: clickhouse_client(settings))
    if daily is None:
        daily = DailyMetricsStore(settings.postgres_dsn)
    reports = ReportsResource(
        engine,
        authorize,
        max_rows=max_rows,
        max_body_bytes=settings.max_body_bytes,
        exact_counts=exact_counts,
        retry_after_s=settings.retry_after_seconds,
        clock=clock,
    )
    prefix = "/v1beta/properties/{property_id}"
    app.add_route(f"{prefix}:runReport", reports)
    app.add_route(f"{prefix}:runRealtimeReport", reports, suffix="realtime")
    app.add_route(f"{prefix}/metadata", reports, suffix="metadata")
    app.add_route(
        "/v1/projects/{project_id}/metrics/daily",
        DailyMetricsResource(
            daily, authorize, retry_after_s=settings.retry_after_seconds, clock=clock
        ),
    )
