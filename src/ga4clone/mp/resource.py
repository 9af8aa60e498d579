"""``POST /mp/collect`` and ``POST /debug/mp/collect``: GA4's Measurement Protocol.

A web stream is named by ``measurement_id`` and a Firebase app stream by
``firebase_app_id``, each with the stream's ``api_secret``, all in the query.
The stream's stored platform says which of the two names it: WEB streams
take ``measurement_id``, IOS and ANDROID streams ``firebase_app_id``, and the
events are stored with that platform.

``/mp/collect`` answers 204 for any well-formed request, as GA4 answers 2xx,
even when some (or all) of its events were invalid: those are dropped and
counted in ``ga4clone_mp_events_dropped_total{reason}``; queued events count
in ``ga4clone_events_accepted_total`` and refused requests in
``ga4clone_events_rejected_total{reason}``, as on ``/events``. It departs from
GA4 in four places, on purpose:

* an unknown or missing api_secret is answered 401, not 2xx: GA4 hides it
  from guessers, but for a self-hosted pipeline a silently lost stream is the
  worse failure, and a wrong secret is the commonest set-up mistake;
* a secret sent with the other kind of stream name (a web stream's
  measurement id as ``firebase_app_id``, or the reverse) is answered 400,
  since the body's identity field (client_id or app_instance_id) follows it;
* a body that is not a JSON object is answered 400, and one of 130 kB or
  more 413, rather than dropped in silence;
* the answer waits for RabbitMQ's confirm: 503 with Retry-After when the
  events could not be queued, and 429 when the project's rate limit is spent.

``/debug/mp/collect`` checks nothing but the body (like GA4's validation
server, it does not verify api_secret) and stores nothing; it answers 200
with ``{"validationMessages": [...]}``.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import falcon
import falcon.asgi
import orjson

from ga4clone.api import body as bodies
from ga4clone.api.publisher import Publisher
from ga4clone.api.ratelimit import RateLimiter, retry_after_header
from ga4clone.errors import BrokerUnavailable, PublishNotConfirmed, StoreUnavailable
from ga4clone.events import Event, EventMessage
from ga4clone.mp import validation
from ga4clone.mp.metrics import record_accepted, record_dropped, record_refused
from ga4clone.mp.streams import StreamCache
from ga4clone.projects import VerifiedStream
from ga4clone.settings import Settings

log = logging.getLogger(__name__)

MP_ENDPOINT = "mp"
# GA4's export leaves a dimension it does not know as "(not set)"; an MP event
# without a session_id param has no session.
NO_SESSION = "(not set)"
# Firebase app streams; every other stream is a web stream.
APP_PLATFORMS = frozenset({"IOS", "ANDROID"})


class _Refused(Exception):
    """A request answered with an error status before anything is queued."""

    def __init__(
        self, status: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


def _reply(resp: falcon.asgi.Response, status: str, body: dict[str, Any]) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.data = orjson.dumps(body)


def stream_name(req: falcon.asgi.Request) -> tuple[str, bool] | None:
    """The measurement id or Firebase app id, and whether it is an app's."""
    app_id = req.get_param("firebase_app_id")
    if app_id:
        return str(app_id), True
    measurement_id = req.get_param("measurement_id")
    return (str(measurement_id), False) if measurement_id else None


async def read_body(req: falcon.asgi.Request) -> dict[str, Any]:
    """The decoded body; :class:`_Refused` with 413, 415 or 400 otherwise."""
    limit = validation.MAX_BODY_BYTES
    try:
        raw = await bodies.read_limited(req.stream, req.content_length, limit)
        raw = bodies.decode(raw, req.get_header("Content-Encoding"), limit)
        return validation.parse(raw)
    except bodies.BodyError as exc:
        raise _Refused(falcon.code_to_http_status(exc.status), str(exc)) from exc
    except validation.BodyInvalid as exc:
        raise _Refused(falcon.HTTP_400, str(exc)) from exc


def _now_us() -> int:
    return time.time_ns() // 1000


class CollectResource:
    """``POST /mp/collect``: validate, drop what is invalid, queue the rest."""

    def __init__(
        self,
        settings: Settings,
        publisher: Publisher,
        streams: StreamCache,
        limiter: RateLimiter,
    ) -> None:
        self._settings = settings
        self._publisher = publisher
        self._streams = streams
        self._limiter = limiter

    async def on_post(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response
    ) -> None:
        # Until the body is validated, a refused request counts as one event.
        count = 1
        try:
            stream, app = await self._verify(req)
            body = await read_body(req)
            checked = validation.check(body, app=app, now_us=_now_us())
            record_dropped(checked.dropped)
            count = len(checked.events)
            if checked.events:
                message = _wrap(req, checked, stream)
                await self._limit(stream, count)
                await self._publish(message)
        except _Refused as refused:
            for name, value in refused.headers.items():
                resp.set_header(name, value)
            _reply(resp, refused.status, {"error": str(refused)})
            record_refused(refused.status, count)
            return
        record_accepted(count)
        resp.status = falcon.HTTP_204

    async def _verify(self, req: falcon.asgi.Request) -> tuple[VerifiedStream, bool]:
        """The stream the request names, and whether it is named as an app's."""
        named = stream_name(req)
        secret = req.get_param("api_secret")
        if named is None or not secret:
            raise _Refused(
                falcon.HTTP_401,
                "measurement_id (or firebase_app_id) and api_secret are required",
            )
        try:
            stream = await self._streams.verify(named[0], str(secret))
        except StoreUnavailable as exc:
            log.warning("Cannot verify an api_secret: PostgreSQL unreachable")
            raise self._unavailable("the api_secret cannot be checked") from exc
        if stream is None:
            raise _Refused(
                falcon.HTTP_401, "the api_secret is not valid for the stream"
            )
        _require_kind(stream, named[0], app=named[1])
        return stream, named[1]

    async def _limit(self, stream: VerifiedStream, events: int) -> None:
        wait_s = await self._limiter.admit(stream.project_id, events)
        if wait_s is not None:
            raise _Refused(
                falcon.HTTP_429,
                "the project's rate limit is exceeded; retry later",
                {"Retry-After": retry_after_header(wait_s)},
            )

    async def _publish(self, message: EventMessage) -> None:
        # TODO: MP events carry no ids, so a sender's retry is stored twice;
        # deriving ids from (client id, name, timestamp) would dedupe retries.
        message_id = str(uuid.uuid4())
        body = message.model_dump_json(by_alias=True, exclude_none=True).encode()
        try:
            await self._publisher.publish(body, message_id)
        except (BrokerUnavailable, PublishNotConfirmed) as exc:
            log.warning("Publishing message %r failed: %s", message_id, exc)
            raise self._unavailable("the event queue is unavailable") from exc

    def _unavailable(self, message: str) -> _Refused:
        retry_after = str(self._settings.retry_after_seconds)
        return _Refused(
            falcon.HTTP_503, f"{message}; retry later", {"Retry-After": retry_after}
        )


def _require_kind(stream: VerifiedStream, name: str, *, app: bool) -> None:
    """Refuse (400) a stream named by the other kind's query parameter."""
    if app == (stream.platform in APP_PLATFORMS):
        return
    given = "firebase_app_id" if app else "measurement_id"
    needed = "measurement_id" if app else "firebase_app_id"
    raise _Refused(
        falcon.HTTP_400,
        f"{name!r} is a {stream.platform} stream: send it as {needed}, not {given}",
    )


def _wrap(
    req: falcon.asgi.Request, checked: validation.Checked, stream: VerifiedStream
) -> EventMessage:
    """The queued envelope of a request's valid events."""
    events = [_event(event, checked, stream) for event in checked.events]
    return EventMessage.model_construct(
        received_at_ms=int(time.time() * 1000),
        # The sender's server, not the user: kept for audit, not enriched.
        user_agent=req.user_agent or "",
        client_ip="",
        events=events,
        ingest_endpoint=MP_ENDPOINT,
        stream_id=str(stream.stream_id),
        platform=stream.platform,
        user_id=checked.user_id,
        user_properties=checked.user_properties,
        user_properties_micros=checked.timestamp_micros,
        consent=checked.consent,
        non_personalized_ads=checked.non_personalized_ads,
        user_location=checked.user_location,
        device=checked.device,
    )


def _event(
    event: validation.MpEvent, checked: validation.Checked, stream: VerifiedStream
) -> Event:
    return Event.model_construct(
        project_id=stream.project_id,
        event_id=uuid.uuid4(),
        event_name=event.name,
        timestamp=event.timestamp_micros // 1000,
        timestamp_micros=event.timestamp_micros,
        client_id=checked.client_id,
        session_id=session_text(event.params.get("session_id")),
        path=event.page_location or None,
        referrer=event.page_referrer or None,
        sdk_name=None,
        sdk_version=None,
        params=event.params,
    )


def session_text(value: validation.Scalar | None) -> str:
    """The session_id param as the stored session id; NO_SESSION without one.

    JSON has one number type (RFC 8259, section 6, gives ``1.0`` and ``1`` no
    different meaning), so a whole float is the session ``"1"``, not ``"1.0"``.
    A boolean or an empty string names no session.
    """
    if value is None or isinstance(value, bool):
        return NO_SESSION
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value) or NO_SESSION


class DebugResource:
    """``POST /debug/mp/collect``: the validation messages, nothing stored."""

    async def on_post(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response
    ) -> None:
        named = stream_name(req)
        try:
            body = await read_body(req)
        except _Refused as refused:
            message = validation.ValidationMessage(
                "", str(refused), validation.VALUE_INVALID
            )
            _reply(resp, falcon.HTTP_200, {"validationMessages": [message.to_json()]})
            return
        checked = validation.check(
            body, app=named is not None and named[1], now_us=_now_us()
        )
        messages = [m.to_json() for m in checked.messages]
        if named is None:
            missing = validation.ValidationMessage(
                "measurement_id",
                "measurement_id or firebase_app_id is required in the query",
                validation.VALUE_REQUIRED,
            )
            messages.insert(0, missing.to_json())
        _reply(resp, falcon.HTTP_200, {"validationMessages": messages})
