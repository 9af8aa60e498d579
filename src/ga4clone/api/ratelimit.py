"""Per-project rate limits that hold across API replicas: leased token buckets.

Each project has one token bucket in PostgreSQL (``rate_limit_buckets``),
refilled at ``RATE_LIMIT_EVENTS_PER_SECOND`` up to ``RATE_LIMIT_BURST``
tokens. A token is one *event*, not one request, so a batch of 50 costs 50.

Asking PostgreSQL for every request would cost a write per request, so each
replica *leases* tokens in chunks with one atomic upsert and spends them
locally. A chunk is ``RATE_LIMIT_LEASE_EVENTS`` tokens, or a tenth of a
second of the project's rate when that is more, so a fast project costs at
most ten writes a second per replica. The trade-off: tokens leased by a replica are
spent only there, so the fleet can admit up to ``replicas x lease`` events
more than the bucket strictly allows in any instant (and tokens leased by a
replica that then dies are lost to the project until the bucket refills).
With the defaults (lease 200, burst 5000) that is 4 % of the burst per
replica. A smaller lease tightens the bound and costs more database writes:
one write per ``lease`` events per project.

When PostgreSQL is unreachable the limiter fails open, retrying the shared
bucket once a second: analytics traffic is not turned away because the
control database is down.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from dataclasses import dataclass, field

from ga4clone.api.blocking import Offload
from ga4clone.errors import StoreUnavailable
from ga4clone.projects import ProjectStore
from ga4clone.settings import Settings

log = logging.getLogger(__name__)

_DEGRADED_S = 1.0


@dataclass
class _Local:
    """The tokens a replica holds for one project."""

    tokens: int = 0
    empty_until: float = 0.0
    degraded_until: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


# The longest stretch of a project's rate one lease may cover.
_LEASE_S = 0.1


class RateLimiter:
    """Admits or refuses events per project against leased shared buckets."""

    def __init__(self, settings: Settings, store: ProjectStore, offload: Offload):
        self._store = store
        self._offload = offload
        self._rate = settings.rate_limit_events_per_second
        self._burst = settings.rate_limit_burst
        lease = max(settings.rate_limit_lease_events, int(self._rate * _LEASE_S))
        self._lease = min(lease, self._burst)
        self._local: dict[uuid.UUID, _Local] = {}

    @property
    def enabled(self) -> bool:
        return self._rate > 0

    async def admit(self, project_id: uuid.UUID, events: int) -> float | None:
        """None if ``events`` may pass now; otherwise seconds to wait."""
        if not self.enabled:
            return None
        local = self._local.setdefault(project_id, _Local())
        if local.tokens >= events:
            local.tokens -= events
            return None
        async with local.lock:
            return await self._admit_locked(project_id, local, events)

    async def _admit_locked(
        self, project_id: uuid.UUID, local: _Local, events: int
    ) -> float | None:
        now = time.monotonic()
        if local.tokens < events and now >= local.empty_until:
            local.tokens += await self._take(project_id, local, events - local.tokens)
        if local.tokens >= events:
            local.tokens -= events
            return None
        wait_s = (events - local.tokens) / self._rate
        local.empty_until = now + wait_s
        return wait_s

    async def _take(self, project_id: uuid.UUID, local: _Local, missing: int) -> int:
        want = max(self._lease, missing)
        if time.monotonic() < local.degraded_until:
            return want
        try:
            return await self._offload.run(
                self._store.lease_tokens, project_id, want, self._rate, self._burst
            )
        except StoreUnavailable:
            # TODO: failing open admits everything while PostgreSQL is down; a
            # per-replica bucket (rate / expected replicas) would bound it.
            log.warning("PostgreSQL unreachable; rate limits are off for now")
            local.degraded_until = time.monotonic() + _DEGRADED_S
            return want


def retry_after_header(wait_s: float) -> str:
    """A Retry-After value in whole seconds, at least 1 (RFC 9110, 10.2.3)."""
    return str(max(1, math.ceil(wait_s)))
