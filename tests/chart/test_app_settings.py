"""The ConfigMap carries every setting the app reads, in a form the app accepts."""

from __future__ import annotations

from typing import Any

import pytest

from ga4clone.settings import Settings

from ._helm import RELEASE, RenderFn, container, name_of, pod_spec, render_case

pytestmark = pytest.mark.chart

_CONFIG_MAP = f"{RELEASE}-ga4clone"
# Passwords reach the pods from Secrets (see test_secrets.py), never the ConfigMap.
_FROM_SECRETS = {"RABBITMQ_PASSWORD", "CLICKHOUSE_PASSWORD", "POSTGRES_PASSWORD"}


def _config(render: RenderFn, *sets: str, case: str | None = None) -> dict[str, str]:
    rendered = render_case(render, case) if case else render(*sets)
    data: dict[str, str] = rendered.get("ConfigMap", _CONFIG_MAP)["data"]
    return data


def _settings(data: dict[str, str]) -> Settings:
    fields: dict[str, Any] = {name.lower(): value for name, value in data.items()}
    return Settings(_env_file=None, **fields)


def test_config_map_covers_every_setting_except_the_passwords(
    render: RenderFn,
) -> None:
    data = _config(render, case="app-settings")

    expected = {name.upper() for name in Settings.model_fields} - _FROM_SECRETS

    assert expected - set(data) == set()


def test_config_map_sets_only_settings_the_app_knows(render: RenderFn) -> None:
    data = _config(render, case="app-settings")

    known = {name.upper() for name in Settings.model_fields}
    # The SDK reads the sampler itself (settings.py leaves them to it).
    sdk_only = {"OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG"}

    assert set(data) - known - sdk_only == set()


def test_default_config_map_matches_the_app_defaults_of_the_new_settings(
    render: RenderFn,
) -> None:
    data = _config(render)

    assert data["MAX_JSON_DEPTH"] == "32"
    assert data["KEY_CACHE_TTL_S"] == "30"
    assert data["RATE_LIMIT_EVENTS_PER_SECOND"] == "1000"
    assert data["RATE_LIMIT_BURST"] == "5000"
    assert data["RATE_LIMIT_LEASE_EVENTS"] == "200"
    assert data["CLIENT_IP_MODE"] == "anonymize"
    assert data["STORE_BOTS"] == "true"
    assert data["GEOIP_DATABASE_PATH"] == ""
    assert data["REPORTS_MAX_ROWS"] == "100000"
    assert data["REPORTS_EXACT_COUNTS"] == "true"
    assert data["RABBITMQ_DELIVERY_LIMIT"] == "20"
    assert data["WORKER_RETRY_MAX_MS"] == "30000"
    assert data["OTEL_TRACES_EXPORTER"] == ""
    assert data["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] == ""
    assert data["OTEL_EXPORTER_OTLP_PROTOCOL"] == ""
    assert data["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] == ""


def test_migrations_dir_is_left_to_the_image_unless_set(render: RenderFn) -> None:
    default = _config(render)
    custom = _config(render, "config.migrationsDir=/opt/migrations")

    assert "MIGRATIONS_DIR" not in default
    assert custom["MIGRATIONS_DIR"] == "/opt/migrations"


@pytest.mark.parametrize("case", ["defaults", "app-settings"])
def test_the_app_accepts_the_rendered_config_map(render: RenderFn, case: str) -> None:
    settings = _settings(_config(render, case=case))

    assert settings.server_port == 8080
    assert settings.postgres_host.endswith("postgresql")


def test_non_default_values_reach_the_app_with_their_types(render: RenderFn) -> None:
    settings = _settings(_config(render, case="app-settings"))

    assert settings.max_batch_events == 100
    assert settings.max_json_depth == 16
    assert settings.key_cache_ttl_s == 2.5
    assert settings.rate_limit_events_per_second == 2_500_000
    assert settings.rate_limit_burst == 100
    assert settings.rate_limit_lease_events == 10
    assert settings.client_ip_mode == "drop"
    assert settings.store_bots is False
    assert settings.geoip_database_path == "/var/lib/geoip/GeoIP2-City.mmdb"
    assert settings.reports_max_rows == 5000
    assert settings.reports_exact_counts is False
    assert settings.rabbitmq_delivery_limit == 5
    assert settings.worker_retry_max_ms == 5000
    assert settings.migrations_dir == "/opt/migrations"
    assert settings.otel_exporter_otlp_endpoint.endswith(":4318")
    assert settings.otel_exporter_otlp_traces_endpoint.endswith("/custom/v1/traces")
    assert settings.otel_exporter_otlp_protocol == "http/protobuf"
    assert settings.otel_exporter_otlp_traces_protocol == "http/protobuf"
    assert settings.otel_traces_exporter == "otlp"


def test_large_and_fractional_rates_are_written_as_plain_numbers(
    render: RenderFn,
) -> None:
    # A values file hands numbers to the template as floats; 2500000 must not
    # become "2.5e+06".
    data = _config(render, case="app-settings")

    assert data["RATE_LIMIT_EVENTS_PER_SECOND"] == "2500000"
    assert data["KEY_CACHE_TTL_S"] == "2.5"


def test_without_a_geoip_volume_the_worker_mounts_nothing_and_geo_is_off(
    render: RenderFn,
) -> None:
    rendered = render()

    worker = rendered.get("Deployment", name_of("worker"))

    assert [v["name"] for v in pod_spec(worker)["volumes"]] == ["tmp"]
    assert [m["name"] for m in container(worker)["volumeMounts"]] == ["tmp"]
    assert rendered.get("ConfigMap", _CONFIG_MAP)["data"]["GEOIP_DATABASE_PATH"] == ""


def test_a_geoip_volume_is_mounted_read_only_into_the_worker_only(
    render: RenderFn,
) -> None:
    rendered = render_case(render, "app-settings")

    worker = rendered.get("Deployment", name_of("worker"))
    api = rendered.get("Deployment", name_of("api"))
    volumes = {v["name"]: v for v in pod_spec(worker)["volumes"]}
    mounts = {m["name"]: m for m in container(worker)["volumeMounts"]}

    assert volumes["geoip"]["persistentVolumeClaim"]["claimName"] == "geoip"
    assert mounts["geoip"] == {
        "name": "geoip",
        "mountPath": "/var/lib/geoip",
        "readOnly": True,
    }
    assert "geoip" not in {v["name"] for v in pod_spec(api)["volumes"]}


def test_an_explicit_geoip_path_wins_over_the_mounted_file(render: RenderFn) -> None:
    data = _config(
        render,
        "worker.geoip.existingVolume.configMap.name=geoip",
        "worker.geoip.databasePath=/data/custom.mmdb",
    )

    assert data["GEOIP_DATABASE_PATH"] == "/data/custom.mmdb"
