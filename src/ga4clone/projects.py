"""Projects, their API keys and data streams, kept in PostgreSQL.

A project owns two keys: a public *write* key that browser and app SDKs
embed, and a *secret* key for servers. Both are random tokens shown once at
creation or rotation; only their sha256 digests are stored (see
``migrations/postgres/0002_projects.sql`` for why that is enough). A project
also lists the browser origins allowed to send it events, and owns data
streams: GA4's Measurement Protocol names a stream by ``measurement_id`` and
proves the sender with one of the stream's api_secrets. As in GA4 a
stream may hold several, so a sender can move to a new secret before the old
one is revoked; revoked secrets stay listed, as the keys' rotation history.

:class:`ProjectStore` is blocking (psycopg2); the API calls it from worker
threads, the CLI directly.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import psycopg2
import psycopg2.extensions
import psycopg2.pool

from ga4clone.errors import Ga4cloneError, StoreUnavailable
from ga4clone.pgpool import lazy_pool

KeyKind = Literal["write", "secret"]
Platform = Literal["WEB", "IOS", "ANDROID"]

_TOKEN_BYTES = 32
_PREFIX_CHARS = 12
_TOKEN_PREFIXES: dict[str, str] = {"write": "ga4w_", "secret": "ga4s_", "mp": "ga4m_"}


_AVAILABLE = (
    "least(%(burst)s::float8, b.tokens + %(rate)s::float8"
    " * extract(epoch FROM now() - b.refilled_at)::float8)"
)
_LEASE_SQL = f"""
INSERT INTO rate_limit_buckets AS b (project_id, tokens, refilled_at, last_grant)
VALUES (%(project)s, %(burst)s - least(%(want)s, %(burst)s), now(),
        least(%(want)s, %(burst)s))
ON CONFLICT (project_id) DO UPDATE SET
    last_grant = least(%(want)s, floor({_AVAILABLE}))::bigint,
    tokens = {_AVAILABLE} - least(%(want)s, floor({_AVAILABLE})),
    refilled_at = now()
RETURNING last_grant
"""


class ProjectNotFound(Ga4cloneError):
    """Raised when a project, stream or api_secret id names nothing in the store."""


class StreamExists(Ga4cloneError):
    """Raised when a measurement id already names another data stream."""


@dataclass(frozen=True)
class Project:
    """A project as listed: its keys appear only by their visible prefixes."""

    id: uuid.UUID
    name: str
    created_at: datetime
    disabled_at: datetime | None
    allowed_origins: tuple[str, ...]
    key_prefixes: dict[str, str]


@dataclass(frozen=True)
class CreatedProject:
    """A new project with its keys in clear; the only time they are shown."""

    id: uuid.UUID
    write_key: str
    secret_key: str


@dataclass(frozen=True)
class VerifiedKey:
    """What an active key of an enabled project grants."""

    project_id: uuid.UUID
    kind: KeyKind
    allowed_origins: frozenset[str]


@dataclass(frozen=True)
class VerifiedStream:
    """The data stream an api_secret belongs to, and the platform it measures."""

    project_id: uuid.UUID
    stream_id: uuid.UUID
    platform: Platform


@dataclass(frozen=True)
class StreamSecret:
    """An api_secret as listed: its id, visible prefix and lifetime, never itself."""

    id: int
    prefix: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class Stream:
    """A data stream as listed, with every api_secret it ever had, oldest first."""

    id: uuid.UUID
    measurement_id: str
    platform: Platform
    created_at: datetime
    secrets: tuple[StreamSecret, ...]


@dataclass(frozen=True)
class CreatedSecret:
    """A new api_secret of a stream, in clear; the only time it is shown."""

    id: int
    measurement_id: str
    api_secret: str


@dataclass(frozen=True)
class RevokedSecret:
    """A revoked api_secret, and how many active ones its stream has left."""

    id: int
    measurement_id: str
    revoked_at: datetime
    active_left: int


@dataclass(frozen=True)
class CreatedStream:
    """A new data stream with its api_secret in clear, shown once."""

    id: uuid.UUID
    project_id: uuid.UUID
    measurement_id: str
    platform: Platform
    api_secret: str


def new_token(kind: str) -> str:
    """A fresh random token, its kind visible in its first characters."""
    return _TOKEN_PREFIXES[kind] + secrets.token_urlsafe(_TOKEN_BYTES)


def token_digest(token: str) -> bytes:
    """The sha256 digest a token is stored and looked up by."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()


class ProjectStore:
    """Blocking access to projects, keys and streams through a small pool."""

    def __init__(self, dsn: str, max_connections: int = 4) -> None:
        self._dsn = dsn
        self._max_connections = max_connections
        self._pool: psycopg2.pool.ThreadedConnectionPool | None = None

    def close(self) -> None:
        """Close every pooled connection."""
        if self._pool is not None:
            self._pool.closeall()
            self._pool = None

    # --- projects and keys -----------------------------------------------------

    def create(self, name: str, origins: Sequence[str] = ()) -> CreatedProject:
        """Create a project with a write key and a secret key."""
        project_id = uuid.uuid4()
        write_key, secret_key = new_token("write"), new_token("secret")
        with self._cursor() as cur:
            cur.execute(
                "INSERT INTO projects (id, name, allowed_origins) VALUES (%s, %s, %s)",
                (str(project_id), name, list(origins)),
            )
            _insert_key(cur, project_id, "write", write_key)
            _insert_key(cur, project_id, "secret", secret_key)
        return CreatedProject(project_id, write_key, secret_key)

    def list(self) -> list[Project]:
        """Every project, oldest first, with the prefixes of its active keys."""
        with self._cursor() as cur:
            cur.execute(
                "SELECT p.id, p.name, p.created_at, p.disabled_at, p.allowed_origins,"
                " coalesce(json_object_agg(k.kind, k.key_prefix)"
                "   FILTER (WHERE k.kind IS NOT NULL), '{}')"
                " FROM projects p LEFT JOIN project_keys k"
                "   ON k.project_id = p.id AND k.revoked_at IS NULL"
                " GROUP BY p.id ORDER BY p.created_at, p.id"
            )
            rows = cur.fetchall()
        return [
            Project(
                uuid.UUID(str(row[0])), row[1], row[2], row[3], tuple(row[4]), row[5]
            )
            for row in rows
        ]

    def rotate_key(self, project_id: uuid.UUID, kind: KeyKind) -> str:
        """Revoke the active key of ``kind`` and return its replacement."""
        token = new_token(kind)
        with self._cursor() as cur:
            _require_project(cur, project_id)
            cur.execute(
                "UPDATE project_keys SET revoked_at = now()"
                " WHERE project_id = %s AND kind = %s AND revoked_at IS NULL",
                (str(project_id), kind),
            )
            _insert_key(cur, project_id, kind, token)
        return token

    def disable(self, project_id: uuid.UUID) -> None:
        """Refuse every key of the project from now on (after cache expiry)."""
        with self._cursor() as cur:
            cur.execute(
                "UPDATE projects SET disabled_at = coalesce(disabled_at, now())"
                " WHERE id = %s",
                (str(project_id),),
            )
            if cur.rowcount == 0:
                raise ProjectNotFound(f"no project {project_id}")

    def set_origins(self, project_id: uuid.UUID, origins: Sequence[str]) -> None:
        """Replace the browser origins allowed to send the project events."""
        with self._cursor() as cur:
            cur.execute(
                "UPDATE projects SET allowed_origins = %s WHERE id = %s",
                (list(origins), str(project_id)),
            )
            if cur.rowcount == 0:
                raise ProjectNotFound(f"no project {project_id}")

    def verify_key(self, token: str) -> VerifiedKey | None:
        """What ``token`` grants, or None if it is unknown, revoked or disabled."""
        with self._cursor() as cur:
            cur.execute(
                "SELECT p.id, k.kind, p.allowed_origins FROM project_keys k"
                " JOIN projects p ON p.id = k.project_id"
                " WHERE k.key_hash = %s AND k.revoked_at IS NULL"
                "   AND p.disabled_at IS NULL",
                (token_digest(token),),
            )
            row = cur.fetchone()
        if row is None:
            return None
        return VerifiedKey(uuid.UUID(str(row[0])), row[1], frozenset(row[2]))

    def verify_write_key(self, token: str) -> VerifiedKey | None:
        """Like :meth:`verify_key`, for write keys only."""
        key = self.verify_key(token)
        return key if key is not None and key.kind == "write" else None

    def verify_secret_key(self, token: str) -> VerifiedKey | None:
        """Like :meth:`verify_key`, for secret keys only."""
        key = self.verify_key(token)
        return key if key is not None and key.kind == "secret" else None

    def allowed_origins(self) -> frozenset[str]:
        """The allowed origins of every enabled project, for CORS preflight."""
        with self._cursor() as cur:
            cur.execute(
                "SELECT DISTINCT unnest(allowed_origins) FROM projects"
                " WHERE disabled_at IS NULL"
            )
            return frozenset(row[0] for row in cur.fetchall())

    # --- streams -----------------------------------------------------------------

    def create_stream(
        self, project_id: uuid.UUID, measurement_id: str, platform: Platform = "WEB"
    ) -> CreatedStream:
        """Create a data stream and its first api_secret."""
        stream_id = uuid.uuid4()
        with self._cursor() as cur:
            _require_project(cur, project_id)
            cur.execute(
                "INSERT INTO streams (id, project_id, measurement_id, platform)"
                " VALUES (%s, %s, %s, %s) ON CONFLICT (measurement_id) DO NOTHING",
                (str(stream_id), str(project_id), measurement_id, platform),
            )
            if cur.rowcount == 0:
                raise StreamExists(f"a stream named {measurement_id!r} exists")
            _, api_secret = _insert_secret(cur, stream_id)
        return CreatedStream(
            stream_id, project_id, measurement_id, platform, api_secret
        )

    def streams(self, project_id: uuid.UUID) -> tuple[Stream, ...]:
        """The project's streams, oldest first, with all their api_secrets."""
        with self._cursor() as cur:
            _require_project(cur, project_id)
            cur.execute(
                "SELECT s.id, s.measurement_id, s.platform, s.created_at,"
                " x.id, x.secret_prefix, x.created_at, x.revoked_at"
                " FROM streams s LEFT JOIN stream_secrets x ON x.stream_id = s.id"
                " WHERE s.project_id = %s ORDER BY s.created_at, s.id, x.id",
                (str(project_id),),
            )
            rows = cur.fetchall()
        return tuple(_group_streams(rows))

    def add_stream_secret(self, measurement_id: str) -> CreatedSecret:
        """Give the stream named ``measurement_id`` one more api_secret.

        GA4 lets a stream hold several secrets, so a sender can move to a new
        one before the old is revoked.
        """
        with self._cursor() as cur:
            cur.execute(
                "SELECT id FROM streams WHERE measurement_id = %s", (measurement_id,)
            )
            row = cur.fetchone()
            if row is None:
                raise ProjectNotFound(f"no stream named {measurement_id!r}")
            secret_id, api_secret = _insert_secret(cur, uuid.UUID(str(row[0])))
        return CreatedSecret(secret_id, measurement_id, api_secret)

    def revoke_stream_secret(self, secret_id: int) -> RevokedSecret:
        """Refuse the api_secret from now on (after cache expiry); idempotent.

        Revoking a revoked secret keeps its first revocation time.
        """
        with self._cursor() as cur:
            cur.execute(
                "UPDATE stream_secrets x"
                " SET revoked_at = coalesce(x.revoked_at, now())"
                " FROM streams s WHERE x.id = %s AND s.id = x.stream_id"
                " RETURNING s.measurement_id, x.revoked_at, (SELECT count(*)"
                "   FROM stream_secrets o WHERE o.stream_id = x.stream_id"
                "   AND o.revoked_at IS NULL AND o.id <> x.id)",
                (secret_id,),
            )
            row = cur.fetchone()
        if row is None:
            raise ProjectNotFound(f"no api_secret with id {secret_id}")
        return RevokedSecret(secret_id, row[0], row[1], int(row[2]))

    def verify_stream_secret(
        self, measurement_id: str, api_secret: str
    ) -> VerifiedStream | None:
        """The stream named ``measurement_id`` if the secret belongs to it."""
        with self._cursor() as cur:
            cur.execute(
                "SELECT s.project_id, s.id, s.platform FROM stream_secrets x"
                " JOIN streams s ON s.id = x.stream_id"
                " JOIN projects p ON p.id = s.project_id"
                " WHERE s.measurement_id = %s AND x.secret_hash = %s"
                "   AND x.revoked_at IS NULL AND p.disabled_at IS NULL",
                (measurement_id, token_digest(api_secret)),
            )
            row = cur.fetchone()
        if row is None:
            return None
        return VerifiedStream(uuid.UUID(str(row[0])), uuid.UUID(str(row[1])), row[2])

    # --- rate limits ---------------------------------------------------------------

    def lease_tokens(
        self, project_id: uuid.UUID, want: int, rate_per_s: float, burst: int
    ) -> int:
        """Take up to ``want`` tokens from the project's shared bucket.

        One atomic upsert refills the bucket for the time since its last
        refill, takes what it can and returns how much that was.
        """
        with self._cursor() as cur:
            cur.execute(
                _LEASE_SQL,
                {
                    "project": str(project_id),
                    "want": want,
                    "rate": rate_per_s,
                    "burst": burst,
                },
            )
            row = cur.fetchone()
        return int(row[0])

    # --- connections ---------------------------------------------------------------

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[Any]:
        """A cursor in a transaction that commits on success."""
        pool = self._get_pool()
        try:
            conn = pool.getconn()
        except psycopg2.Error as exc:
            raise StoreUnavailable(f"PostgreSQL: {exc}".strip()) from exc
        broken = False
        try:
            with conn, conn.cursor() as cur:
                yield cur
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
            broken = True
            raise StoreUnavailable(f"PostgreSQL: {exc}".strip()) from exc
        finally:
            pool.putconn(conn, close=broken or bool(conn.closed))

    def _get_pool(self) -> psycopg2.pool.ThreadedConnectionPool:
        if self._pool is None:
            self._pool = lazy_pool(self._dsn, self._max_connections, connect_timeout=3)
        return self._pool


def _insert_key(cur: Any, project_id: uuid.UUID, kind: KeyKind, token: str) -> None:
    cur.execute(
        "INSERT INTO project_keys (project_id, kind, key_prefix, key_hash)"
        " VALUES (%s, %s, %s, %s)",
        (str(project_id), kind, token[:_PREFIX_CHARS], token_digest(token)),
    )


def _insert_secret(cur: Any, stream_id: uuid.UUID) -> tuple[int, str]:
    """Store a new api_secret of the stream; its id and the secret in clear."""
    api_secret = new_token("mp")
    cur.execute(
        "INSERT INTO stream_secrets (stream_id, secret_prefix, secret_hash)"
        " VALUES (%s, %s, %s) RETURNING id",
        (str(stream_id), api_secret[:_PREFIX_CHARS], token_digest(api_secret)),
    )
    return int(cur.fetchone()[0]), api_secret


def _group_streams(rows: Sequence[tuple[Any, ...]]) -> list[Stream]:
    """Streams from rows of (stream columns, secret columns), ordered by stream."""
    heads: dict[uuid.UUID, tuple[str, Platform, datetime]] = {}
    found: dict[uuid.UUID, list[StreamSecret]] = {}
    for stream_id, measurement_id, platform, created_at, *secret in rows:
        key = uuid.UUID(str(stream_id))
        heads.setdefault(key, (measurement_id, platform, created_at))
        kept = found.setdefault(key, [])
        if secret[0] is not None:
            kept.append(StreamSecret(int(secret[0]), secret[1], secret[2], secret[3]))
    return [
        Stream(key, measurement_id, platform, created_at, tuple(found[key]))
        for key, (measurement_id, platform, created_at) in heads.items()
    ]


def _require_project(cur: Any, project_id: uuid.UUID) -> None:
    cur.execute("SELECT 1 FROM projects WHERE id = %s", (str(project_id),))
    if cur.fetchone() is None:
        raise ProjectNotFound(f"no project {project_id}")
