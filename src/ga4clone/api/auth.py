"""Which project a request's key belongs to, without a database trip per request.

Write endpoints take a key in the ``X-Api-Key`` header or, because
``navigator.sendBeacon`` cannot set headers, in the ``api_key`` query
parameter. Verified keys, refused keys and the allowed origins of all
projects are cached in-process for ``KEY_CACHE_TTL_S`` seconds, so a key that
is rotated or a project that is disabled keeps working on each API replica
for at most that long. While PostgreSQL is unreachable an expired entry is
still used: a short database outage must not turn away every SDK.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Generic, TypeVar

import falcon.asgi

from ga4clone.api.blocking import Offload
from ga4clone.errors import StoreUnavailable
from ga4clone.projects import ProjectStore, VerifiedKey, token_digest

log = logging.getLogger(__name__)

KEY_HEADER = "X-Api-Key"
KEY_PARAM = "api_key"
_MAX_KEY_CHARS = 200
_MAX_CACHED_KEYS = 100_000

_V = TypeVar("_V")


@dataclass
class _Entry(Generic[_V]):
    value: _V
    expires_at: float


def request_key(req: falcon.asgi.Request) -> str | None:
    """The key a request carries, header first; None when it has none."""
    key = req.get_header(KEY_HEADER) or req.get_param(KEY_PARAM)
    if not key or len(key) > _MAX_KEY_CHARS:
        return None
    return str(key)


class KeyCache:
    """Verifies keys and answers origin questions through a TTL cache."""

    def __init__(self, store: ProjectStore, offload: Offload, ttl_s: float) -> None:
        self._store = store
        self._offload = offload
        self._ttl_s = ttl_s
        self._keys: dict[bytes, _Entry[VerifiedKey | None]] = {}
        self._origins: _Entry[frozenset[str]] | None = None
        self._inflight: dict[bytes, asyncio.Future[VerifiedKey | None]] = {}

    async def verify(self, token: str) -> VerifiedKey | None:
        """What ``token`` grants, or None.

        Raises:
            StoreUnavailable: PostgreSQL is down and the key was never seen.
        """
        digest = token_digest(token)
        entry = self._keys.get(digest)
        if entry is not None and entry.expires_at > time.monotonic():
            return entry.value
        pending = self._inflight.get(digest)
        if pending is not None:
            return await asyncio.shield(pending)
        return await self._refresh(digest, token, entry)

    async def _refresh(
        self, digest: bytes, token: str, stale: _Entry[VerifiedKey | None] | None
    ) -> VerifiedKey | None:
        future: asyncio.Future[VerifiedKey | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._inflight[digest] = future
        try:
            value = await self._lookup(token, stale)
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # Marked as retrieved; waiters re-raise it.
            raise
        except BaseException:
            future.cancel()
            raise
        finally:
            self._inflight.pop(digest, None)
        self._remember(digest, value)
        future.set_result(value)
        return value

    async def _lookup(
        self, token: str, stale: _Entry[VerifiedKey | None] | None
    ) -> VerifiedKey | None:
        try:
            return await self._offload.run(self._store.verify_key, token)
        except StoreUnavailable:
            if stale is None:
                raise
            log.warning("PostgreSQL unreachable; using an expired key entry")
            return stale.value

    def _remember(self, digest: bytes, value: VerifiedKey | None) -> None:
        if len(self._keys) >= _MAX_CACHED_KEYS:
            # Guessed keys must not grow the cache without bound.
            # TODO: clearing drops the good keys too, so a flood of guesses
            # costs a lookup per real key; an LRU of refusals would not.
            self._keys.clear()
        self._keys[digest] = _Entry(value, time.monotonic() + self._ttl_s)

    async def origin_allowed(self, origin: str) -> bool:
        """Whether any enabled project allows ``origin`` (for preflight)."""
        entry = self._origins
        if entry is None or entry.expires_at <= time.monotonic():
            entry = await self._refresh_origins(entry)
        return origin in entry.value

    async def _refresh_origins(
        self, stale: _Entry[frozenset[str]] | None
    ) -> _Entry[frozenset[str]]:
        try:
            origins = await self._offload.run(self._store.allowed_origins)
        except StoreUnavailable:
            if stale is None:
                raise
            log.warning("PostgreSQL unreachable; using expired allowed origins")
            origins = stale.value
        self._origins = _Entry(origins, time.monotonic() + self._ttl_s)
        return self._origins
