"""Per-request context for the API: a request id, and the route on the span.

:class:`RequestContext` takes the client's ``X-Request-Id`` when it looks like
an id (so a proxy's id flows through) or makes one, binds it for the log lines
of the request (see :mod:`ga4clone.logs`) and returns it as a response header.
While tracing is on it also names the server span after the route template,
which only Falcon knows once it has routed the request.
"""

from __future__ import annotations

import re
import uuid

import falcon.asgi
from opentelemetry import trace

from ga4clone.logs import request_id
from ga4clone.telemetry.tracing import active_tracer

REQUEST_ID_HEADER = "X-Request-Id"
# Anything else (too long, spaces, quotes) could forge log fields downstream.
_ACCEPTABLE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestContext:
    """Falcon ASGI middleware binding a request id, and the route to the span."""

    async def process_request(
        self, req: falcon.asgi.Request, _resp: falcon.asgi.Response
    ) -> None:
        given = req.get_header(REQUEST_ID_HEADER)
        if given is None or _ACCEPTABLE_ID.fullmatch(given) is None:
            given = uuid.uuid4().hex
        req.context.request_id = given
        request_id.set(given)

    async def process_resource(
        self,
        req: falcon.asgi.Request,
        _resp: falcon.asgi.Response,
        _resource: object,
        _params: dict[str, object],
    ) -> None:
        if active_tracer() is None or req.uri_template is None:
            return
        span = trace.get_current_span()
        span.set_attribute("http.route", req.uri_template)
        span.update_name(f"{req.method} {req.uri_template}")

    async def process_response(
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response,
        _resource: object,
        _req_succeeded: bool,
    ) -> None:
        rid = req.context.get("request_id")
        if rid is not None:
            resp.set_header(REQUEST_ID_HEADER, rid)
