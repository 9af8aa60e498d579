"""CORS for browser SDKs: preflight answers and headers on event responses.

A preflight (``OPTIONS``) carries no key, so it is answered against the
allowed origins of all enabled projects together; the ``POST`` that follows
gets CORS headers only if its own project allows the origin (Fetch standard,
section 3.2, "CORS protocol"), and is refused when the project lists origins
and its own is not among them.
"""

from __future__ import annotations

from collections.abc import Collection

import falcon.asgi

from ga4clone.api.auth import KeyCache

_ALLOW_METHODS = "POST"
_ALLOW_HEADERS = "content-type, x-api-key, content-encoding"
_MAX_AGE_S = "600"


async def answer_preflight(
    req: falcon.asgi.Request, resp: falcon.asgi.Response, keys: KeyCache
) -> None:
    """Answer 204, with CORS headers when some project allows the origin."""
    resp.status = falcon.HTTP_204
    resp.vary = ("Origin",)
    origin = req.get_header("Origin")
    if origin and await keys.origin_allowed(origin):
        resp.set_header("Access-Control-Allow-Origin", origin)
        resp.set_header("Access-Control-Allow-Methods", _ALLOW_METHODS)
        resp.set_header("Access-Control-Allow-Headers", _ALLOW_HEADERS)
        resp.set_header("Access-Control-Max-Age", _MAX_AGE_S)


def allow_origin(
    req: falcon.asgi.Request, resp: falcon.asgi.Response, allowed: Collection[str]
) -> bool:
    """Whether the request's origin may post for a project allowing ``allowed``.

    A request without an Origin header (servers, apps) and a project without
    origins pass. An allowed origin gets the CORS headers on the answer. The
    write key is public and ``sendBeacon`` posts without a preflight, so
    refusing other origins here is what keeps other sites from using the key.
    """
    origin = req.get_header("Origin")
    if not origin:
        return True
    resp.vary = ("Origin",)
    if origin in allowed:
        resp.set_header("Access-Control-Allow-Origin", origin)
        return True
    return not allowed
