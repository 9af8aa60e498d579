"""GA4's Measurement Protocol: ``/mp/collect`` and ``/debug/mp/collect``.

:func:`register_routes` adds both routes to the API app; their events travel
in the same :class:`~ga4clone.events.EventMessage` as ``/events``' and land in
the same tables.
"""

from __future__ import annotations

import falcon.asgi

from ga4clone.api.blocking import Offload
from ga4clone.api.publisher import Publisher
from ga4clone.api.ratelimit import RateLimiter
from ga4clone.mp.resource import CollectResource, DebugResource
from ga4clone.mp.streams import StreamCache
from ga4clone.projects import ProjectStore
from ga4clone.settings import Settings

__all__ = ["register_routes"]


def register_routes(
    app: falcon.asgi.App[falcon.asgi.Request, falcon.asgi.Response],
    settings: Settings,
    publisher: Publisher,
    store: ProjectStore,
    *,
    offload: Offload,
    limiter: RateLimiter,
) -> None:
    """Add ``/mp/collect`` and ``/debug/mp/collect`` to ``app``.

    ``offload`` runs the blocking stream lookups; ``limiter`` is the one the
    ingest routes use, so a project has one rate limit whatever it posts to.
    """
    streams = StreamCache(store, offload, settings.key_cache_ttl_s)
    app.add_route("/mp/collect", CollectResource(settings, publisher, streams, limiter))
    app.add_route("/debug/mp/collect", DebugResource())
