"""helm lint on every values case, and what values.schema.json refuses."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from ._helm import (
    CASE_API_VERSIONS,
    CASES,
    CHART_DIR,
    CI_VALUES_DIR,
    REPO_ROOT,
    RenderFn,
    name_of,
    parse_manifests,
    pod_spec,
    run_helm,
    template_args,
)

pytestmark = pytest.mark.chart


def _assume(api_versions: tuple[str, ...]) -> list[str]:
    """helm arguments that make the chart render for ``api_versions``."""
    if not api_versions:
        return []
    return ["--set-json", f"assumeApiVersions={json.dumps(list(api_versions))}"]


# helm lint has no --api-versions (Helm 4.1), so the cases that need an API
# the default capabilities lack (KEDA's, the Prometheus Operator's) name it
# in the chart's assumeApiVersions; otherwise lint would skip the
# ScaledObject, TriggerAuthentication, ServiceMonitor and PrometheusRule.
@pytest.mark.parametrize("case", CASES)
def test_helm_lint_strict_passes_for_every_values_case(helm: Path, case: str) -> None:
    values = CI_VALUES_DIR / f"{case}-values.yaml"
    assume = _assume(CASE_API_VERSIONS.get(case, ()))

    result = run_helm(
        helm, "lint", "--strict", str(CHART_DIR), "--values", str(values), *assume
    )

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("case", sorted(CASE_API_VERSIONS))
def test_assumed_api_versions_render_what_the_cluster_would_get(
    helm: Path, render: RenderFn, case: str
) -> None:
    # Given a case rendered as for a cluster serving its APIs,
    served = render(values=(case,), api_versions=CASE_API_VERSIONS[case]).objects
    values = CI_VALUES_DIR / f"{case}-values.yaml"

    # when it is rendered without --api-versions but with assumeApiVersions,
    args = template_args([values]) + _assume(CASE_API_VERSIONS[case])
    result = run_helm(helm, *args)

    # then the same objects come out, the CRD kinds among them.
    assert result.returncode == 0, result.stderr
    assumed = parse_manifests(result.stdout)
    assert _kinds(assumed) == _kinds(served)
    assert _kinds(served) & {"ScaledObject", "ServiceMonitor"}
    without = parse_manifests(run_helm(helm, *template_args([values])).stdout)
    assert _kinds(without) < _kinds(served)


def _kinds(objects: list[dict[str, object]]) -> set[str]:
    return {str(obj["kind"]) for obj in objects}


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
        ("otel.protocol=grpc", "/otel/protocol"),
        ("assumeApiVersions[0]=keda", "/assumeApiVersions/0"),
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


def _uvicorn_drain_seconds() -> int:
    """timeout_graceful_shutdown of `ga4clone api`, as src/ga4clone/cli.py sets it."""
    cli = (REPO_ROOT / "src" / "ga4clone" / "cli.py").read_text()
    (seconds,) = re.findall(r"timeout_graceful_shutdown=(\d+)", cli)
    return int(seconds)


# After uvicorn's drain, the lifespan shutdown closes the publisher and pools.
_API_CLOSE_SECONDS = 5


@pytest.mark.parametrize("pre_stop", [0, 10, 30])
def test_api_grace_period_must_cover_pre_stop_drain_and_close(
    helm: Path, pre_stop: int
) -> None:
    needed = pre_stop + _uvicorn_drain_seconds() + _API_CLOSE_SECONDS

    def render_with(grace: int) -> subprocess.CompletedProcess[str]:
        sets = [
            f"api.preStopSleepSeconds={pre_stop}",
            f"api.terminationGracePeriodSeconds={grace}",
        ]
        return run_helm(helm, *template_args(sets=sets))

    short, enough = render_with(needed - 1), render_with(needed)

    assert short.returncode != 0
    assert (
        f"api.terminationGracePeriodSeconds ({needed - 1}) must be at least {needed}"
        in short.stderr
    )
    assert enough.returncode == 0, enough.stderr


def test_worker_grace_period_must_cover_a_due_flush_a_backoff_and_a_last_write(
    helm: Path,
) -> None:
    # 2.5 s and 20 s round up to 3 + 20, and a last write takes up to 10 s.
    timing = ["worker.flushIntervalMs=2500", "worker.retryMaxMs=20000"]

    short = run_helm(
        helm, *template_args(sets=[*timing, "worker.terminationGracePeriodSeconds=32"])
    )
    enough = run_helm(
        helm, *template_args(sets=[*timing, "worker.terminationGracePeriodSeconds=33"])
    )

    assert short.returncode != 0
    assert "worker.terminationGracePeriodSeconds (32) must be at least 33" in (
        short.stderr
    )
    assert enough.returncode == 0, enough.stderr


def test_default_grace_periods_pass_the_guard_with_time_to_spare(
    render: RenderFn,
) -> None:
    rendered = render()
    api = pod_spec(rendered.get("Deployment", name_of("api")))
    worker = pod_spec(rendered.get("Deployment", name_of("worker")))

    api_needed = 10 + _uvicorn_drain_seconds() + _API_CLOSE_SECONDS
    # flushIntervalMs 1000 and retryMaxMs 30000 by default, plus 10 s.
    worker_needed = 1 + 30 + 10

    assert api["terminationGracePeriodSeconds"] >= api_needed + 5
    assert worker["terminationGracePeriodSeconds"] >= worker_needed + 5


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
