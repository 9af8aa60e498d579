"""CORS for browser SDKs: preflight answers and headers on event responses.

A preflight (``OPTIONS``) carries no key, so it is answered against the
allowed origins of all enabled projects together; the ``POST`` that follows
gets CORS headers only if its own project allows the origin (Fetch standard,
section 3.2, "CORS protocol").
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
) -> None:
    """Add CORS headers to an event response if the project allows the origin."""
    origin = req.get_header("Origin")
    if not origin:
        return
    resp.vary = ("Origin",)
    # TODO: a POST from an origin the project does not allow is still
    # accepted (write keys are public; only the browser is kept from reading
    # the answer). Refusing it with 403 would stop other sites using the key.
    if origin in allowed:
        resp.set_header("Access-Control-Allow-Origin", origin)
