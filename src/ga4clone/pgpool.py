"""A psycopg2 connection pool that connects lazily and then keeps its connections."""

from __future__ import annotations

from typing import Any

from psycopg2.pool import ThreadedConnectionPool


def lazy_pool(dsn: str, size: int, **connect_kwargs: Any) -> ThreadedConnectionPool:
    """A thread-safe pool of up to ``size`` connections, none opened yet.

    psycopg2 keeps a returned connection only while it holds fewer than
    ``minconn``, and closes the rest; but it also opens ``minconn`` connections
    at creation, which fails while PostgreSQL is down. Created with 0 and raised
    afterwards, the pool neither connects eagerly nor reconnects for every use.
    """
    pool = ThreadedConnectionPool(0, size, dsn, **connect_kwargs)
    pool.minconn = size
    return pool
