-- depends: 0001_daily_metrics
-- Projects, their API keys, their GA4-style data streams, and the shared
-- rate-limit buckets the API replicas lease tokens from.
--
-- Keys and stream secrets are stored as sha256 digests, never in clear. A
-- plain unsalted hash is enough here because every token is 32 random bytes
-- from the secrets module: there is no dictionary to attack and 2^256
-- preimages to try, so a slow password hash (bcrypt, argon2) would only cost
-- CPU on every cache miss. The digest is also what the API looks a key up by.
CREATE TABLE projects (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    disabled_at timestamptz,
    allowed_origins text[] NOT NULL DEFAULT '{}'
);

-- kind 'write' is the public key of browser and app SDKs; 'secret' is for
-- servers. Rotating a key revokes the old row and inserts a new one, so the
-- table is also the rotation history. key_prefix is the visible start of the
-- token, for telling keys apart in listings.
CREATE TABLE project_keys (
    id bigserial PRIMARY KEY,
    project_id uuid NOT NULL REFERENCES projects (id),
    kind text NOT NULL CHECK (kind IN ('write', 'secret')),
    key_prefix text NOT NULL,
    key_hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE UNIQUE INDEX project_keys_one_active_per_kind
    ON project_keys (project_id, kind) WHERE revoked_at IS NULL;

-- A data stream in GA4's sense: the Measurement Protocol names it by
-- measurement_id ('G-XXXXXXX' for web, the firebase_app_id for apps).
CREATE TABLE streams (
    id uuid PRIMARY KEY,
    project_id uuid NOT NULL REFERENCES projects (id),
    measurement_id text NOT NULL UNIQUE,
    platform text NOT NULL CHECK (platform IN ('WEB', 'IOS', 'ANDROID')),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The Measurement Protocol api_secret of a stream; a stream may have several.
CREATE TABLE stream_secrets (
    id bigserial PRIMARY KEY,
    stream_id uuid NOT NULL REFERENCES streams (id),
    secret_prefix text NOT NULL,
    secret_hash bytea NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

-- One token bucket per project, shared by every API replica. last_grant is
-- what the latest lease handed out, so one upsert both takes tokens and says
-- how many it took.
CREATE TABLE rate_limit_buckets (
    project_id uuid PRIMARY KEY,
    tokens double precision NOT NULL,
    refilled_at timestamptz NOT NULL,
    last_grant bigint NOT NULL DEFAULT 0
);
