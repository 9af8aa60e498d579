"""Which project and data stream a measurement id and api_secret belong to.

Verification results (refusals too) are cached in-process for
``KEY_CACHE_TTL_S`` seconds, as the API caches its keys: a secret revoked with
``ga4clone projects revoke-secret`` keeps working on each API replica for at
most that long. While PostgreSQL is unreachable an expired entry is still
used.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from ga4clone.api.blocking import Offload
from ga4clone.errors import StoreUnavailable
from ga4clone.projects import ProjectStore, VerifiedStream, token_digest

log = logging.getLogger(__name__)

_MAX_CACHED_STREAMS = 10_000


@dataclass(frozen=True)
class _Entry:
    stream: VerifiedStream | None
    expires_at: float


class StreamCache:
    """Verifies (measurement id, api_secret) pairs through a TTL cache."""

    def __init__(self, store: ProjectStore, offload: Offload, ttl_s: float) -> None:
        self._store = store
        self._offload = offload
        self._ttl_s = ttl_s
        self._entries: dict[tuple[str, bytes], _Entry] = {}

    async def verify(
        self, measurement_id: str, api_secret: str
    ) -> VerifiedStream | None:
        """The stream the secret belongs to, or None.

        Raises:
            StoreUnavailable: PostgreSQL is down and the pair was never seen.
        """
        key = (measurement_id, token_digest(api_secret))
        entry = self._entries.get(key)
        if entry is not None and entry.expires_at > time.monotonic():
            return entry.stream
        try:
            found = await self._offload.run(
                self._store.verify_stream_secret, measurement_id, api_secret
            )
        except StoreUnavailable:
            if entry is None:
                raise
            log.warning("PostgreSQL unreachable; using an expired stream entry")
            return entry.stream
        if len(self._entries) >= _MAX_CACHED_STREAMS:
            # Guessed secrets must not grow the cache without bound.
            self._entries.clear()
        self._entries[key] = _Entry(found, time.monotonic() + self._ttl_s)
        return found
