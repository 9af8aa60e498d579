"""The ingest API: a Falcon ASGI app that validates events and publishes them.

Routes:
    POST /events, /collect              one event
    POST /events/batch, /collect/batch  a JSON array of 1..MAX_BATCH_EVENTS events
    GET  /health                        the process is alive
    GET  /ready                         the broker connection is up

A 202 is sent only after RabbitMQ has confirmed the message that carries the
request's events; everything else is answered with a JSON error body.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Annotated, Any

import falcon
import falcon.asgi
import orjson
from annotated_types import Len
from pydantic import TypeAdapter, ValidationError

from ga4clone.api.client_ip import client_ip
from ga4clone.api.publisher import Publisher
from ga4clone.errors import BrokerUnavailable, PublishNotConfirmed
from ga4clone.events import Event, EventMessage, describe_errors
from ga4clone.settings import Settings

log = logging.getLogger(__name__)

_JSON_TYPES = frozenset({"application/json", "text/plain"})
# Message ids are derived from the event ids, so a client that retries a
# request with the same eventIds produces the same message id, and the worker
# counts it once.
_MESSAGE_NAMESPACE = uuid.UUID("8a4c1f0e-6f5b-4b8e-9a57-2f1f0f6c9d11")


class _Rejected(Exception):
    """A request that is answered with an error status before publishing."""

    def __init__(self, status: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"error": message, **extra}


def _reply(resp: falcon.asgi.Response, status: str, body: dict[str, Any]) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = orjson.dumps(body)


class EventsResource:
    """Accepts single events (``on_post``) and batches (``on_post_batch``)."""

    def __init__(self, settings: Settings, publisher: Publisher) -> None:
        self._settings = settings
        self._publisher = publisher
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

    async def _accept(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, *, batch: bool
    ) -> None:
        try:
            body = await self._read_body(req)
            events = self._validate(body, batch=batch)
            message = self._wrap(req, events)
            await self._publish(message)
        except _Rejected as rejected:
            if rejected.status == falcon.HTTP_503:
                resp.set_header("Retry-After", str(self._settings.retry_after_seconds))
            _reply(resp, rejected.status, rejected.body)
            return
        _reply(
            resp,
            falcon.HTTP_202,
            {"accepted": len(events), "eventIds": [str(e.event_id) for e in events]},
        )

    async def _read_body(self, req: falcon.asgi.Request) -> bytes:
        media_type = (req.content_type or "").split(";", 1)[0].strip().lower()
        if media_type not in _JSON_TYPES:
            raise _Rejected(
                falcon.HTTP_415,
                "Content-Type must be application/json or text/plain holding JSON",
            )
        limit = self._settings.max_body_bytes
        if req.content_length is not None and req.content_length > limit:
            raise _Rejected(falcon.HTTP_413, f"body is larger than {limit} bytes")
        body = bytearray()
        async for chunk in req.stream:
            body += chunk
            if len(body) > limit:
                raise _Rejected(falcon.HTTP_413, f"body is larger than {limit} bytes")
        return bytes(body)

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

    def _wrap(self, req: falcon.asgi.Request, events: list[Event]) -> EventMessage:
        return EventMessage.model_construct(
            received_at_ms=int(time.time() * 1000),
            user_agent=req.user_agent or "",
            client_ip=client_ip(
                req.remote_addr,
                req.get_header("X-Forwarded-For"),
                self._settings.trusted_proxies,
            ),
            events=events,
        )

    async def _publish(self, message: EventMessage) -> None:
        ids = ",".join(str(event.event_id) for event in message.events)
        message_id = str(uuid.uuid5(_MESSAGE_NAMESPACE, ids))
        body = message.model_dump_json(by_alias=True, exclude_none=True).encode()
        try:
            await self._publisher.publish(body, message_id)
        except (BrokerUnavailable, PublishNotConfirmed) as exc:
            log.warning("Publishing message %r failed: %s", message_id, exc)
            raise _Rejected(
                falcon.HTTP_503, "the event queue is unavailable; retry later"
            ) from exc


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


class _Lifespan:
    """Starts the publisher with the app and closes it, draining confirms."""

    def __init__(self, publisher: Publisher) -> None:
        self._publisher = publisher

    async def process_startup(self, _scope: Any, _event: Any) -> None:
        await self._publisher.start()

    async def process_shutdown(self, _scope: Any, _event: Any) -> None:
        await self._publisher.close()


def create_app(
    settings: Settings, publisher: Publisher | None = None
) -> falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response]:
    """Build the ASGI app; the publisher starts and stops with the app's lifespan."""
    publisher = publisher or Publisher(settings)
    app = falcon.asgi.App(middleware=[_Lifespan(publisher)])
    events = EventsResource(settings, publisher)
    for prefix in ("/events", "/collect"):
        app.add_route(prefix, events)
        app.add_route(f"{prefix}/batch", events, suffix="batch")
    app.add_route("/health", HealthResource())
    app.add_route("/ready", ReadyResource(publisher))
    return app
