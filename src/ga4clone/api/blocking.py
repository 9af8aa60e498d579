"""Run blocking PostgreSQL calls off the event loop, a bounded few at a time.

psycopg2 blocks, so the API hands every store call to a worker thread. A
semaphore keeps the calls in flight within the store's connection pool, so a
burst of cache misses waits its turn instead of failing on an empty pool.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_T = TypeVar("_T")


class Offload:
    """Runs blocking callables in threads, at most ``limit`` at once."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._semaphore: asyncio.Semaphore | None = None

    async def run(
        self, call: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs
    ) -> _T:
        """Await ``call(*args, **kwargs)`` run in a worker thread."""
        if self._semaphore is None:
            # Created lazily so it binds to the loop that serves requests.
            self._semaphore = asyncio.Semaphore(self._limit)
        async with self._semaphore:
            return await asyncio.to_thread(call, *args, **kwargs)
