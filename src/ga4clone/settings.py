"""The one configuration object of ga4clone.

Every setting is read once at start-up from the environment, or from an
optional ``.env.local`` file in the working directory, and passed down from
there. The environment names are the field names in upper case; the original
system's names (SERVER_PORT, CLICKHOUSE_HOST, RABBITMQ_USER, ...) are kept.
No other module reads the environment.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
# The values OTEL_EXPORTER_OTLP_PROTOCOL may take per the OpenTelemetry
# specification; "" leaves the choice to the exporter (see telemetry.tracing).
OtlpProtocol = Literal["", "grpc", "http/protobuf", "http/json"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Settings(BaseSettings):
    """Configuration of the API, the worker and the migration runner."""

    model_config = SettingsConfigDict(
        env_file=".env.local",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        # A refused setting is named, never echoed: the input of a
        # model-level check is every setting, passwords included.
        hide_input_in_errors=True,
    )

    # --- HTTP API -----------------------------------------------------------
    server_host: str = Field("0.0.0.0", description="Address the API listens on.")
    server_port: int = Field(8080, ge=1, le=65535, description="Port of the API.")
    max_body_bytes: int = Field(
        1_048_576, ge=1024, description="Largest request body accepted, in bytes."
    )
    max_batch_events: int = Field(
        500, ge=1, description="Most events accepted by one POST /events/batch."
    )
    publish_confirm_timeout_ms: int = Field(
        5000,
        ge=10,
        description="How long a request waits for RabbitMQ's publisher confirm "
        "before it answers 503.",
    )
    retry_after_seconds: int = Field(
        5, ge=1, description="Retry-After sent with a 503 answer, in seconds."
    )
    trusted_proxies: Annotated[list[Network], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated CIDRs of proxies whose X-Forwarded-For is "
        "believed; empty means the socket peer is the client.",
    )

    max_json_depth: int = Field(
        32,
        ge=2,
        description="Deepest nesting of arrays and objects accepted in a body.",
    )
    key_cache_ttl_s: float = Field(
        30.0,
        ge=0,
        description="How long the API trusts a verified (or refused) key, and "
        "the allowed origins, before asking PostgreSQL again, in seconds.",
    )
    rate_limit_events_per_second: float = Field(
        1000.0,
        ge=0,
        description="Events per second each project may send, summed over all "
        "API replicas; 0 turns rate limiting off.",
    )
    rate_limit_burst: int = Field(
        5000, ge=1, description="Events a project may send at once (bucket size)."
    )
    rate_limit_lease_events: int = Field(
        200,
        ge=1,
        description="Tokens an API replica takes from a project's shared bucket "
        "at a time (or a tenth of a second of the rate, if more); bounds "
        "over-admission to replicas x lease.",
    )
    client_ip_mode: Literal["anonymize", "keep", "drop"] = Field(
        "anonymize",
        description="What is queued of the client address: anonymize (IPv4 /24, "
        "IPv6 /48), keep, or drop.",
    )

    # --- RabbitMQ -----------------------------------------------------------
    rabbitmq_host: str = Field("localhost", description="RabbitMQ host.")
    rabbitmq_port: int = Field(5672, description="RabbitMQ AMQP port.")
    rabbitmq_user: str = Field("guest", description="RabbitMQ user.")
    rabbitmq_password: str = Field("guest", description="RabbitMQ password.")
    rabbitmq_vhost: str = Field("/", description="RabbitMQ virtual host.")
    rabbitmq_exchange: str = Field(
        "ga4clone.events", description="Durable direct exchange events go to."
    )
    rabbitmq_queue: str = Field(
        "ga4clone.events", description="Durable quorum queue the worker consumes."
    )
    rabbitmq_dead_letter_exchange: str = Field(
        "ga4clone.events.dlx", description="Exchange of dead-lettered messages."
    )
    rabbitmq_dead_letter_queue: str = Field(
        "ga4clone.events.dead", description="Queue holding dead-lettered messages."
    )
    rabbitmq_delivery_limit: int = Field(
        20,
        ge=1,
        description="Deliveries of one message before the quorum queue "
        "dead-letters it (a message that keeps crashing the worker).",
    )

    # --- ClickHouse ---------------------------------------------------------
    clickhouse_host: str = Field("localhost", description="ClickHouse host.")
    clickhouse_port: int = Field(9000, description="ClickHouse native TCP port.")
    clickhouse_user: str = Field("default", description="ClickHouse user.")
    clickhouse_password: str = Field("", description="ClickHouse password.")
    clickhouse_database: str = Field(
        "ga4clone", description="ClickHouse database; `migrate` creates it."
    )

    # --- PostgreSQL ---------------------------------------------------------
    postgres_host: str = Field("localhost", description="PostgreSQL host.")
    postgres_port: int = Field(5432, description="PostgreSQL port.")
    postgres_db: str = Field(
        "ga4clone", description="PostgreSQL database; `migrate` creates it if it can."
    )
    postgres_user: str = Field("postgres", description="PostgreSQL user.")
    postgres_password: str = Field("", description="PostgreSQL password.")

    # --- Worker -------------------------------------------------------------
    worker_batch_size: int = Field(
        5000, ge=1, description="Events that make the worker flush a batch."
    )
    worker_flush_interval_ms: int = Field(
        1000, ge=10, description="Longest time an event waits in a batch, in ms."
    )
    worker_prefetch: int = Field(
        2000, ge=1, description="Unacknowledged messages RabbitMQ may hand over."
    )
    worker_metrics_port: int = Field(
        9100,
        ge=0,
        le=65535,
        description=(
            "Port of the worker's /metrics and /health (liveness: 503 once the"
            " consume loop has not serviced RabbitMQ for 120 s); 0 turns both off."
        ),
    )
    worker_retry_max_ms: int = Field(
        30_000,
        ge=100,
        description="Cap of the exponential backoff between database retries.",
    )
    store_bots: bool = Field(
        True,
        description="Whether events of known bots are stored in ClickHouse "
        "(flagged is_bot=1); they are never counted in the daily aggregates.",
    )
    geoip_database_path: str = Field(
        "",
        description="MaxMind-format (.mmdb) city database for geo enrichment; "
        "empty leaves the geo columns blank.",
    )

    # --- Reports ------------------------------------------------------------
    reports_max_rows: int = Field(
        100_000, ge=1, description="Highest `limit` a report request may ask for."
    )
    reports_exact_counts: bool = Field(
        True,
        description="Count users and sessions exactly (uniqExact); false uses "
        "ClickHouse's faster uniq, within about 1 % above 65,536 values.",
    )

    # --- Process ------------------------------------------------------------
    migrations_dir: str = Field(
        "migrations", description="Folder holding postgres/ and clickhouse/ SQL files."
    )
    log_level: LogLevel = Field("INFO", description="Lowest log level written.")

    # --- OpenTelemetry ------------------------------------------------------
    # Named as the OpenTelemetry specification names them; every other OTEL_*
    # variable (sampler, resource, service name) is left to the SDK.
    otel_exporter_otlp_endpoint: str = Field(
        "",
        description="Base URL of an OTLP/HTTP collector (http://collector:4318); "
        "/v1/traces is appended. Empty, with no traces endpoint and no "
        "OTEL_TRACES_EXPORTER=otlp, leaves tracing off.",
    )
    otel_exporter_otlp_traces_endpoint: str = Field(
        "",
        description="Full URL spans are posted to, used as is; wins over "
        "OTEL_EXPORTER_OTLP_ENDPOINT.",
    )
    otel_exporter_otlp_protocol: OtlpProtocol = Field(
        "",
        description="OTLP protocol; only http/protobuf (the default) is "
        "installed: grpc or http/json stop the api and worker at start-up.",
    )
    otel_exporter_otlp_traces_protocol: OtlpProtocol = Field(
        "",
        description="OTLP protocol of spans; wins over OTEL_EXPORTER_OTLP_PROTOCOL.",
    )
    otel_traces_exporter: Literal["", "otlp", "console", "none"] = Field(
        "",
        description="Span exporter: otlp (the default when an endpoint is set; "
        "alone, it sends to http://localhost:4318/v1/traces), console (stdout, "
        "for debugging) or none.",
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            return [
                ipaddress.ip_network(part.strip())
                for part in value.split(",")
                if part.strip()
            ]
        return value

    @model_validator(mode="after")
    def _burst_holds_a_batch(self) -> Settings:
        # A token is an event and a batch is admitted whole: a batch larger
        # than the bucket could never pass.
        if self.rate_limit_events_per_second > 0 and (
            self.rate_limit_burst < self.max_batch_events
        ):
            raise ValueError(
                f"RATE_LIMIT_BURST ({self.rate_limit_burst}) must be at least "
                f"MAX_BATCH_EVENTS ({self.max_batch_events})"
            )
        return self

    def environment(self) -> dict[str, str]:
        """These settings as the environment variables that would produce them.

        For starting ``ga4clone`` processes with a given configuration (tests,
        benchmarks): the child reads them back through this class.
        """
        env = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, list):
                value = ",".join(str(item) for item in value)
            elif isinstance(value, bool):
                value = str(value).lower()
            env[name.upper()] = str(value)
        return env

    @property
    def clickhouse_url_safe(self) -> str:
        """Where ClickHouse is, without the password, for logs."""
        return f"{self.clickhouse_user}@{self.clickhouse_host}:{self.clickhouse_port}"

    @property
    def postgres_dsn(self) -> str:
        """A libpq connection string for the configured database."""
        return self.postgres_dsn_for(self.postgres_db)

    def postgres_dsn_for(self, database: str) -> str:
        """A libpq connection string for another database on the same server."""
        parts = {
            "host": self.postgres_host,
            "port": str(self.postgres_port),
            "dbname": database,
            "user": self.postgres_user,
            "password": self.postgres_password,
            "application_name": "ga4clone",
        }
        return " ".join(f"{key}={_quote_libpq(value)}" for key, value in parts.items())


def _quote_libpq(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"
