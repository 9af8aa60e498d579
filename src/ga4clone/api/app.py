"""The ingest API: a Falcon ASGI app that validates events and publishes them.

Routes:
    POST /events, /collect              one event
    POST /events/batch, /collect/batch  a JSON array of 1..MAX_BATCH_EVENTS events
    OPTIONS on those four               CORS preflight
    GET  /health                        the process is alive
    GET  /ready                         the broker connection is up
    GET  /openapi.json                  the OpenAPI 3.1 document of all of this

A write request passes, in order: its key (401, 503 if it cannot be checked),
its Origin (403 when the project lists origins and this is not one), its body
(415, 413, 400), its project (403: every event must belong to the key's
project), the project's rate limit (429), and the publish. A 202 is
sent only after RabbitMQ has confirmed the message that carries the request's
events; everything else is answered with a JSON error body, and nothing of a
refused request is queued.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import falcon
import falcon.asgi
import orjson
from annotated_types import Len
from pydantic import TypeAdapter, ValidationError

from ga4clone import mp, reports
from ga4clone.api import body as bodies
from ga4clone.api.auth import KeyCache, request_key
from ga4clone.api.blocking import Offload
from ga4clone.api.client_ip import anonymize, client_ip
from ga4clone.api.cors import allow_origin, answer_preflight
from ga4clone.api.openapi import openapi_document
from ga4clone.api.publisher import Publisher
from ga4clone.api.ratelimit import RateLimiter, retry_after_header
from ga4clone.errors import BrokerUnavailable, PublishNotConfirmed, StoreUnavailable
from ga4clone.events import Event, EventMessage, describe_errors
from ga4clone.migrate import clickhouse_client
from ga4clone.projects import ProjectStore, VerifiedKey
from ga4clone.reports import Access, Authorize, DailyMetricsStore, DriverEngine
from ga4clone.settings import Settings
from ga4clone.telemetry import (
    MetricsResource,
    RequestContext,
    RequestMetrics,
    record_accepted,
    record_refused,
)

log = logging.getLogger(__name__)

_JSON_TYPES = frozenset({"application/json", "text/plain"})
# Message ids are derived from the event ids, so a client that retries a
# request with the same eventIds (in any order) produces the same message id,
# and the worker counts it once.
_MESSAGE_NAMESPACE = uuid.UUID("8a4c1f0e-6f5b-4b8e-9a57-2f1f0f6c9d11")
# An origin is a scheme, a host name of at most 255 octets (RFC 1035,
# section 2.3.4) and a port: a longer header is not one, and is not queued.
_MAX_ORIGIN_CHARS = 300
# Threads (and pooled PostgreSQL connections) for key checks and token leases.
_DB_THREADS = 4


class _Rejected(Exception):
    """A request that is answered with an error status before publishing."""

    def __init__(
        self,
        status: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}
        self.body: dict[str, Any] = {"error": message, **extra}


def _reply(resp: falcon.asgi.Response, status: str, body: dict[str, Any]) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = orjson.dumps(body)


@dataclass(frozen=True)
class _Guards:
    """What a write request is checked against before it is published."""

    keys: KeyCache
    limiter: RateLimiter


class EventsResource:
    """Accepts single events (``on_post``) and batches (``on_post_batch``)."""

    def __init__(
        self, settings: Settings, publisher: Publisher, guards: _Guards
    ) -> None:
        self._settings = settings
        self._publisher = publisher
        self._guards = guards
        self._single = TypeAdapter(Event)
        self._batch = TypeAdapter(
            Annotated[list[Event], Len(1, settings.max_batch_events)]
        )

    async def on_post(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response
    ) -> None:
        await self._accept(req, resp, batch=False)

    async def on_post_batch(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response
    ) -> None:
        await self._accept(req, resp, batch=True)

    async def on_options(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response
    ) -> None:
        await self._preflight(req, resp)

    async def on_options_batch(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response
    ) -> None:
        await self._preflight(req, resp)

    async def _preflight(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response
    ) -> None:
        try:
            await answer_preflight(req, resp, self._guards.keys)
        except StoreUnavailable:
            log.warning("Cannot check the preflight origin: PostgreSQL unreachable")
            resp.set_header("Retry-After", str(self._settings.retry_after_seconds))
            _reply(resp, falcon.HTTP_503, {"error": "origins cannot be checked"})

    async def _accept(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, *, batch: bool
    ) -> None:
        # Until the body is validated, a refused request counts as one event.
        count = 1
        try:
            key = await self._authenticate(req)
            if not allow_origin(req, resp, key.allowed_origins):
                raise _Rejected(
                    falcon.HTTP_403, "the project does not allow this Origin"
                )
            body = await self._read_body(req)
            events = self._validate(body, batch=batch)
            count = len(events)
            _authorize(key, events)
            await self._limit(key.project_id, len(events))
            message = self._wrap(req, events)
            await self._publish(message)
        except _Rejected as rejected:
            for name, value in rejected.headers.items():
                resp.set_header(name, value)
            _reply(resp, rejected.status, rejected.body)
            record_refused(rejected.status, count)
            return
        record_accepted(count)
        _reply(
            resp,
            falcon.HTTP_202,
            {"accepted": len(events), "eventIds": [str(e.event_id) for e in events]},
        )

    async def _authenticate(self, req: falcon.asgi.Request) -> VerifiedKey:
        token = request_key(req)
        if token is None:
            raise _Rejected(
                falcon.HTTP_401, "an API key is required (X-Api-Key or ?api_key=)"
            )
        try:
            key = await self._guards.keys.verify(token)
        except StoreUnavailable as exc:
            log.warning("Cannot verify a key: PostgreSQL unreachable")
            raise self._unavailable("the key cannot be checked; retry later") from exc
        if key is None:
            raise _Rejected(falcon.HTTP_401, "the API key is not valid")
        return key

    async def _read_body(self, req: falcon.asgi.Request) -> bytes:
        media_type = (req.content_type or "").split(";", 1)[0].strip().lower()
        if media_type not in _JSON_TYPES:
            raise _Rejected(
                falcon.HTTP_415,
                "Content-Type must be application/json or text/plain holding JSON",
            )
        limit = self._settings.max_body_bytes
        try:
            raw = await bodies.read_limited(req.stream, req.content_length, limit)
            body = bodies.decode(raw, req.get_header("Content-Encoding"), limit)
        except bodies.BodyError as exc:
            raise _Rejected(falcon.code_to_http_status(exc.status), str(exc)) from exc
        if bodies.nesting_depth_exceeds(body, self._settings.max_json_depth):
            raise _Rejected(
                falcon.HTTP_400,
                f"JSON nests deeper than {self._settings.max_json_depth} levels",
            )
        return body

    def _validate(self, body: bytes, *, batch: bool) -> list[Event]:
        context = {"now_ms": int(time.time() * 1000)}
        try:
            if batch:
                events = self._batch.validate_json(body, context=context)
            else:
                events = [self._single.validate_json(body, context=context)]
        except ValidationError as exc:
            raise _Rejected(
                falcon.HTTP_400, "invalid events", errors=describe_errors(exc)
            ) from exc
        return _assign_event_ids(events)

    async def _limit(self, project_id: uuid.UUID, events: int) -> None:
        wait_s = await self._guards.limiter.admit(project_id, events)
        if wait_s is not None:
            raise _Rejected(
                falcon.HTTP_429,
                "the project's rate limit is exceeded; retry later",
                headers={"Retry-After": retry_after_header(wait_s)},
            )

    def _wrap(self, req: falcon.asgi.Request, events: list[Event]) -> EventMessage:
        address = client_ip(
            req.remote_addr,
            req.get_header("X-Forwarded-For"),
            self._settings.trusted_proxies,
        )
        return EventMessage.model_construct(
            received_at_ms=int(time.time() * 1000),
            user_agent=req.user_agent or "",
            client_ip=anonymize(address, self._settings.client_ip_mode),
            request_origin=_request_origin(req),
            events=events,
        )

    async def _publish(self, message: EventMessage) -> None:
        # Sorted, so a retry that sends the same events in another order is
        # the same message. TODO: a retry that splits or merges batches
        # differently gets another message id, and the worker counts its
        # events again in daily_metrics (ClickHouse collapses them by
        # event_id); deduplicating per event id in the worker would fix it.
        ids = ",".join(sorted(str(event.event_id) for event in message.events))
        message_id = str(uuid.uuid5(_MESSAGE_NAMESPACE, ids))
        body = message.model_dump_json(by_alias=True, exclude_none=True).encode()
        try:
            await self._publisher.publish(body, message_id)
        except (BrokerUnavailable, PublishNotConfirmed) as exc:
            log.warning("Publishing message %r failed: %s", message_id, exc)
            raise self._unavailable(
                "the event queue is unavailable; retry later"
            ) from exc

    def _unavailable(self, message: str) -> _Rejected:
        retry_after = str(self._settings.retry_after_seconds)
        return _Rejected(falcon.HTTP_503, message, headers={"Retry-After": retry_after})


def _request_origin(req: falcon.asgi.Request) -> str | None:
    """The Origin header to queue; None when absent or too long to be one."""
    origin = req.get_header("Origin")
    return origin if origin and len(origin) <= _MAX_ORIGIN_CHARS else None


def _authorize(key: VerifiedKey, events: list[Event]) -> None:
    """Refuse (403) a request with any event of another project than the key's."""
    foreign = [
        {"path": f"[{index}].projectId", "message": "not the key's project"}
        for index, event in enumerate(events)
        if event.project_id != key.project_id
    ]
    if foreign:
        raise _Rejected(
            falcon.HTTP_403, "the key does not belong to this project", errors=foreign
        )


def _assign_event_ids(events: list[Event]) -> list[Event]:
    """Give events without an eventId a fresh one; refuse repeats in one batch."""
    seen: set[uuid.UUID] = set()
    problems = []
    for index, event in enumerate(events):
        if event.event_id is None:
            event.event_id = uuid.uuid4()
        elif event.event_id in seen:
            problems.append(
                {"path": f"[{index}].eventId", "message": "eventId repeats in batch"}
            )
        seen.add(event.event_id)
    if problems:
        raise _Rejected(falcon.HTTP_400, "invalid events", errors=problems)
    return events


class HealthResource:
    """Answers 200 while the process runs."""

    async def on_get(
        self, _req: falcon.asgi.Request, resp: falcon.asgi.Response
    ) -> None:
        _reply(resp, falcon.HTTP_200, {"status": "ok"})


class ReadyResource:
    """Answers 200 when the broker connection is up, 503 otherwise."""

    def __init__(self, publisher: Publisher) -> None:
        self._publisher = publisher

    async def on_get(
        self, _req: falcon.asgi.Request, resp: falcon.asgi.Response
    ) -> None:
        if self._publisher.ready:
            _reply(resp, falcon.HTTP_200, {"status": "ready"})
        else:
            _reply(resp, falcon.HTTP_503, {"status": "broker unavailable"})


class OpenApiResource:
    """Serves the OpenAPI 3.1 document of the API."""

    def __init__(self, settings: Settings) -> None:
        self._document = orjson.dumps(openapi_document(settings))

    async def on_get(
        self, _req: falcon.asgi.Request, resp: falcon.asgi.Response
    ) -> None:
        resp.content_type = falcon.MEDIA_JSON
        resp.data = self._document


class _Lifespan:
    """Starts the publisher with the app; at shutdown closes it, then the pools."""

    def __init__(self, publisher: Publisher, closers: list[Callable[[], None]]) -> None:
        self._publisher = publisher
        self._closers = closers

    async def process_startup(self, _scope: Any, _event: Any) -> None:
        await self._publisher.start()

    async def process_shutdown(self, _scope: Any, _event: Any) -> None:
        await self._publisher.close()
        for close in self._closers:
            close()


def _secret_key_reader(store: ProjectStore) -> Authorize:
    """The reports' access check: a project's own secret key may read it."""

    def authorize(project_id: str, key: str) -> Access:
        verified = store.verify_key(key)
        if verified is None:
            return Access.UNKNOWN_KEY
        own = str(verified.project_id) == project_id.lower()
        return Access.GRANTED if own and verified.kind == "secret" else Access.DENIED

    return authorize


def create_app(
    settings: Settings,
    publisher: Publisher | None = None,
    store: ProjectStore | None = None,
) -> falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response]:
    """Build the ASGI app: ingest, Measurement Protocol, reports, operations.

    The publisher starts with the app's lifespan; at its end the publisher
    drains its confirms and every pool the routes opened is closed.
    """
    publisher = publisher or Publisher(settings)
    store = store or ProjectStore(settings.postgres_dsn, max_connections=_DB_THREADS)
    offload = Offload(_DB_THREADS)
    guards = _Guards(
        keys=KeyCache(store, offload, settings.key_cache_ttl_s),
        limiter=RateLimiter(settings, store, offload),
    )
    engine = DriverEngine(lambda: clickhouse_client(settings))
    daily = DailyMetricsStore(settings.postgres_dsn)
    closers = [store.close, engine.close, daily.close]
    middleware: list[Any] = [
        _Lifespan(publisher, closers),
        RequestContext(),
        RequestMetrics(),
    ]
    app = falcon.asgi.App(middleware=middleware)

    events = EventsResource(settings, publisher, guards)
    for prefix in ("/events", "/collect"):
        app.add_route(prefix, events)
        app.add_route(f"{prefix}/batch", events, suffix="batch")
    mp.register_routes(
        app, settings, publisher, store, offload=offload, limiter=guards.limiter
    )
    reports.register_routes(
        app,
        settings,
        _secret_key_reader(store),
        engine=engine,
        daily=daily,
        max_rows=settings.reports_max_rows,
        exact_counts=settings.reports_exact_counts,
    )
    app.add_route("/health", HealthResource())
    app.add_route("/ready", ReadyResource(publisher))
    app.add_route("/openapi.json", OpenApiResource(settings))
    app.add_route("/metrics", MetricsResource())
    return app
