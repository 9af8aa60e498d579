"""Every rendered object is valid for the oldest and newest supported Kubernetes."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from ._crds import KEDA_CRDS_ENV, CrdNotFound, crd_schema, keda_crds_dir
from ._helm import (
    CASES,
    KEDA_API,
    KUBE_VERSIONS,
    MONITORING_API,
    Manifest,
    RenderFn,
    render_case,
)

pytestmark = pytest.mark.chart

# Kinds from CRDs: kubernetes-validate has no schema for them, so they are
# checked below instead (KEDA against its CRDs, Prometheus Operator by hand).
_CRD_KINDS = {
    "ScaledObject": "KEDA CRD, validated against KEDA's CRDs (tests/chart/_crds.py)",
    "TriggerAuthentication": "KEDA CRD, validated against KEDA's CRDs",
    "ServiceMonitor": "Prometheus Operator CRD, no schema here; structure asserted",
    "PrometheusRule": "Prometheus Operator CRD, no schema here; structure asserted",
}


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
@pytest.mark.parametrize("case", CASES)
def test_every_rendered_object_validates_strictly_against_kubernetes(
    render: RenderFn, case: str, kube_version: str
) -> None:
    rendered = render_case(render, case, kube_version)
    skipped: dict[str, str] = {}
    errors: list[str] = []

    for obj in rendered.objects:
        if obj["kind"] in _CRD_KINDS:
            skipped[obj["kind"]] = _CRD_KINDS[obj["kind"]]
            continue
        try:
            kubernetes_validate.validate(obj, kube_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message}")

    assert errors == []
    assert set(skipped) <= set(_CRD_KINDS), skipped


def _crd_schema(kind: str, version: str) -> dict[str, Any]:
    """The openAPIV3Schema of a KEDA kind at one API version; fails the test
    with what to do when the CRDs are not where they are looked for."""
    try:
        return crd_schema(keda_crds_dir(), kind, version)
    except CrdNotFound as exc:
        pytest.fail(
            f"{exc}: set {KEDA_CRDS_ENV} to a folder of KEDA's CRDs (the "
            "templates/crds/ of KEDA's Helm chart, as .github/workflows/ci.yml "
            "does) or put shared/ beside the repository"
        )


def _validate_keda(obj: Manifest) -> None:
    group_version = obj["apiVersion"]
    assert group_version == KEDA_API
    schema = _crd_schema(obj["kind"], group_version.split("/")[1])
    jsonschema.validate(obj, schema)


def test_keda_objects_validate_against_the_keda_crds(render: RenderFn) -> None:
    rendered = render_case(render, "keda")
    keda_objects = rendered.of_kind("ScaledObject") + rendered.of_kind(
        "TriggerAuthentication"
    )

    assert len(keda_objects) == 2
    for obj in keda_objects:
        _validate_keda(obj)


def test_keda_crd_check_refuses_a_scaled_object_without_triggers(
    render: RenderFn,
) -> None:
    (scaled,) = render_case(render, "keda").of_kind("ScaledObject")
    broken = copy.deepcopy(scaled)
    del broken["spec"]["triggers"]

    with pytest.raises(jsonschema.ValidationError, match="triggers"):
        _validate_keda(broken)


def test_service_monitors_scrape_metrics_of_api_and_worker_services(
    render: RenderFn,
) -> None:
    rendered = render_case(render, "observability")
    services = {s["metadata"]["name"]: s for s in rendered.of_kind("Service")}

    monitors = rendered.of_kind("ServiceMonitor")

    assert len(monitors) == 2
    for monitor in monitors:
        assert monitor["apiVersion"] == MONITORING_API
        assert monitor["metadata"]["labels"]["release"] == "prometheus"
        selector = monitor["spec"]["selector"]["matchLabels"]
        matching = [
            s
            for s in services.values()
            if selector.items() <= s["metadata"]["labels"].items()
        ]
        assert len(matching) == 1, selector
        port_names = {p["name"] for p in matching[0]["spec"]["ports"]}
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["port"] in port_names
        assert endpoint["path"] == "/metrics"


def test_prometheus_rule_has_the_four_alerts_with_valid_structure(
    render: RenderFn,
) -> None:
    rendered = render_case(render, "observability")

    (rule,) = rendered.of_kind("PrometheusRule")

    assert rule["apiVersion"] == MONITORING_API
    (group,) = rule["spec"]["groups"]
    alerts = {r["alert"]: r for r in group["rules"]}
    assert set(alerts) == {
        "Ga4cloneQueueDepthHigh",
        "Ga4cloneDeadLetterQueueNotEmpty",
        "Ga4cloneIngestionLagHigh",
        "Ga4cloneHighErrorRate",
    }
    for alert in alerts.values():
        assert set(alert) <= {"alert", "expr", "for", "labels", "annotations"}
        assert alert["labels"]["severity"] in {"warning", "critical"}
        assert alert["expr"].count("(") == alert["expr"].count(")")
        assert "{{" not in alert["expr"]
    assert alerts["Ga4cloneQueueDepthHigh"]["for"] == "10m"
    assert "ga4clone_queue_depth{" in alerts["Ga4cloneQueueDepthHigh"]["expr"]
    assert (
        "ga4clone_dead_letter_queue_depth"
        in (alerts["Ga4cloneDeadLetterQueueNotEmpty"]["expr"])
    )
    lag = alerts["Ga4cloneIngestionLagHigh"]["expr"]
    assert "histogram_quantile(0.95" in lag
    assert "ga4clone_ingestion_lag_seconds_bucket" in lag
    errors = alerts["Ga4cloneHighErrorRate"]["expr"]
    assert 'status=~"5.."' in errors
    assert 'namespace="analytics"' in errors
    description = alerts["Ga4cloneQueueDepthHigh"]["annotations"]["description"]
    assert "{{ $value }}" in description
