"""helm lint on every values case, and what values.schema.json refuses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ._helm import CASES, CHART_DIR, CI_VALUES_DIR, run_helm, template_args

pytestmark = pytest.mark.chart


# TODO: helm lint cannot be told which APIs the cluster serves (Helm 4.1's
# lint has no --api-versions flag, unlike helm template), so in the keda and
# observability cases it lints without the ScaledObject, TriggerAuthentication,
# ServiceMonitor and PrometheusRule templates. test_validate.py renders those
# cases with --api-versions and checks KEDA's objects against its CRDs; pass
# the API versions here too once helm lint accepts them.
@pytest.mark.parametrize("case", CASES)
def test_helm_lint_strict_passes_for_every_values_case(helm: Path, case: str) -> None:
    values = CI_VALUES_DIR / f"{case}-values.yaml"

    result = run_helm(helm, "lint", "--strict", str(CHART_DIR), "--values", str(values))

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", ["rabbitmq", "clickhouse", "postgresql"])
def test_helm_lint_strict_passes_for_each_bundled_subchart(
    helm: Path, name: str
) -> None:
    result = run_helm(helm, "lint", "--strict", str(CHART_DIR / "charts" / name))

    assert result.returncode == 0, result.stdout + result.stderr


def test_values_case_matrix_covers_every_required_scenario() -> None:
    expected = {
        "app-settings",
        "defaults",
        "external-inline",
        "external-existing-secret",
        "keda",
        "hpa",
        "ingress-tls",
        "minimal",
        "observability",
    }

    assert expected <= set(CASES)


def test_schema_rejects_an_unknown_top_level_key(helm: Path) -> None:
    result = run_helm(helm, *template_args(sets=["replicas=3"]))

    assert result.returncode != 0
    assert "replicas" in result.stderr
    assert "additional properties" in result.stderr


def test_schema_rejects_an_autoscaling_mode_other_than_none_keda_or_hpa(
    helm: Path,
) -> None:
    result = run_helm(helm, *template_args(sets=["worker.autoscaling.mode=both"]))

    assert result.returncode != 0
    assert "/worker/autoscaling/mode" in result.stderr


@pytest.mark.parametrize(
    ("assignment", "path"),
    [
        ("config.clientIpMode=hide", "/config/clientIpMode"),
        ("otel.tracesExporter=jaeger", "/otel/tracesExporter"),
        ("config.rateLimit.burst=0", "/config/rateLimit/burst"),
        ("config.maxJsonDepth=1", "/config/maxJsonDepth"),
        ("worker.retryMaxMs=10", "/worker/retryMaxMs"),
        ("config.reports.exactCounts=maybe", "/config/reports/exactCounts"),
    ],
)
def test_schema_rejects_a_setting_the_app_would_refuse(
    helm: Path, assignment: str, path: str
) -> None:
    result = run_helm(helm, *template_args(sets=[assignment]))

    assert result.returncode != 0
    assert path in result.stderr


def test_schema_rejects_a_geoip_volume_with_two_sources(helm: Path) -> None:
    sets = [
        "worker.geoip.existingVolume.configMap.name=a",
        "worker.geoip.existingVolume.secret.secretName=b",
    ]

    result = run_helm(helm, *template_args(sets=sets))

    assert result.returncode != 0
    assert "/worker/geoip/existingVolume" in result.stderr


def test_schema_rejects_an_unknown_key_inside_a_strict_section(helm: Path) -> None:
    result = run_helm(helm, *template_args(sets=["api.replicas=3"]))

    assert result.returncode != 0
    assert "replicas" in result.stderr


def test_render_fails_when_grace_period_does_not_cover_the_pre_stop_sleep(
    helm: Path,
) -> None:
    sets = ["api.preStopSleepSeconds=30", "api.terminationGracePeriodSeconds=31"]

    result = run_helm(helm, *template_args(sets=sets))

    assert result.returncode != 0
    assert "terminationGracePeriodSeconds" in result.stderr


def test_render_fails_when_the_rate_limit_burst_cannot_hold_a_batch(
    helm: Path,
) -> None:
    sets = ["config.rateLimit.burst=100", "config.maxBatchEvents=500"]

    result = run_helm(helm, *template_args(sets=sets))

    assert result.returncode != 0
    assert "config.rateLimit.burst (100) must be at least" in result.stderr


def test_a_small_burst_is_accepted_when_rate_limiting_is_off(helm: Path) -> None:
    sets = ["config.rateLimit.eventsPerSecond=0", "config.rateLimit.burst=1"]

    result = run_helm(helm, *template_args(sets=sets))

    assert result.returncode == 0, result.stderr


def test_render_fails_clearly_when_an_external_host_is_missing(helm: Path) -> None:
    result = run_helm(helm, *template_args(sets=["postgresql.enabled=false"]))

    assert result.returncode != 0
    assert "externalPostgresql.host is required" in result.stderr


_KEY = re.compile(r"^(\s*)(?:- )?([A-Za-z0-9_.]+):")


def test_values_keys_are_camel_case() -> None:
    lines = (CHART_DIR / "values.yaml").read_text().splitlines()
    # Label keys are data, not chart settings.
    keys = [m.group(2) for line in lines if (m := _KEY.match(line))]

    offenders = [key for key in keys if "_" in key and key != "grafana_dashboard"]

    assert offenders == []
