"""API HPA on CPU, and worker autoscaling on queue depth: none, keda or hpa."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._helm import (
    CASES,
    CHART_DIR,
    CI_VALUES_DIR,
    KEDA_API,
    RELEASE,
    Manifest,
    RenderFn,
    name_of,
    render_case,
    run_helm,
    template_args,
)

pytestmark = pytest.mark.chart


def _hpa_names(objects: list[Manifest]) -> set[str]:
    return {
        o["metadata"]["name"] for o in objects if o["kind"] == "HorizontalPodAutoscaler"
    }


def test_api_has_fixed_replicas_and_no_hpa_by_default(render: RenderFn) -> None:
    rendered = render()

    assert rendered.get("Deployment", name_of("api"))["spec"]["replicas"] == 2
    assert name_of("api") not in _hpa_names(rendered.objects)


def test_api_hpa_scales_on_cpu_and_the_deployment_omits_replicas(
    render: RenderFn,
) -> None:
    rendered = render_case(render, "ingress-tls")

    hpa = rendered.get("HorizontalPodAutoscaler", name_of("api"))

    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == name_of("api")
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"]["averageUtilization"] == 70
    assert "replicas" not in rendered.get("Deployment", name_of("api"))["spec"]


def test_worker_mode_none_keeps_fixed_replicas_and_renders_no_autoscaler(
    render: RenderFn,
) -> None:
    rendered = render("worker.replicaCount=3")

    assert rendered.get("Deployment", name_of("worker"))["spec"]["replicas"] == 3
    assert rendered.of_kind("ScaledObject") == []
    assert name_of("worker") not in _hpa_names(rendered.objects)


def test_worker_mode_keda_renders_a_scaled_object_on_queue_length(
    render: RenderFn,
) -> None:
    rendered = render_case(render, "keda")

    scaled = rendered.get("ScaledObject", name_of("worker"))

    assert scaled["spec"]["scaleTargetRef"]["name"] == name_of("worker")
    assert scaled["spec"]["minReplicaCount"] == 1
    assert scaled["spec"]["maxReplicaCount"] == 8
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "rabbitmq"
    assert trigger["metadata"]["mode"] == "QueueLength"
    assert trigger["metadata"]["queueName"] == "ga4clone.events"
    assert trigger["authenticationRef"]["name"] == name_of("worker")


def test_worker_mode_keda_reads_the_amqp_url_from_a_secret(render: RenderFn) -> None:
    rendered = render_case(render, "keda")

    auth = rendered.get("TriggerAuthentication", name_of("worker"))

    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "host", "name": f"{RELEASE}-rabbitmq", "key": "amqp-url"}
    ]
    assert "amqp-url" in rendered.get("Secret", f"{RELEASE}-rabbitmq")["data"]


def test_worker_mode_keda_with_external_existing_secret_reads_its_url_key(
    render: RenderFn,
) -> None:
    rendered = render(
        "worker.autoscaling.mode=keda",
        values=("external-existing-secret",),
        api_versions=(KEDA_API,),
    )

    auth = rendered.get("TriggerAuthentication", name_of("worker"))

    assert auth["spec"]["secretTargetRef"][0]["name"] == "ops-rabbitmq"
    assert auth["spec"]["secretTargetRef"][0]["key"] == "url"


def test_worker_mode_keda_omits_replicas_and_renders_no_plain_hpa(
    render: RenderFn,
) -> None:
    rendered = render_case(render, "keda")

    assert "replicas" not in rendered.get("Deployment", name_of("worker"))["spec"]
    assert name_of("worker") not in _hpa_names(rendered.objects)


def test_worker_mode_keda_without_keda_installed_falls_back_to_fixed_replicas(
    render: RenderFn,
) -> None:
    rendered = render(values=("keda",))

    assert rendered.of_kind("ScaledObject") == []
    assert rendered.of_kind("TriggerAuthentication") == []
    assert rendered.get("Deployment", name_of("worker"))["spec"]["replicas"] == 1


def test_worker_mode_keda_without_keda_installed_warns_in_notes(helm: Path) -> None:
    values = CI_VALUES_DIR / "keda-values.yaml"

    result = run_helm(
        helm, "install", RELEASE, str(CHART_DIR), "--dry-run=client", "-f", str(values)
    )

    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    assert "does not serve\nkeda.sh/v1alpha1" in notes


def test_worker_mode_hpa_scales_on_the_external_queue_metric(render: RenderFn) -> None:
    rendered = render_case(render, "hpa")

    hpa = rendered.get("HorizontalPodAutoscaler", name_of("worker"))

    assert hpa["apiVersion"] == "autoscaling/v2"
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "External"
    assert metric["external"]["metric"]["name"] == "rabbitmq_queue_messages_ready"
    assert metric["external"]["metric"]["selector"]["matchLabels"] == {
        "queue": "ga4clone.events",
        "job": "rabbitmq",
    }
    assert metric["external"]["target"] == {
        "type": "AverageValue",
        "averageValue": "5000",
    }
    assert "replicas" not in rendered.get("Deployment", name_of("worker"))["spec"]
    assert rendered.of_kind("ScaledObject") == []


def _assert_up_fast_down_slow(behavior: Manifest) -> None:
    up, down = behavior["scaleUp"], behavior["scaleDown"]
    assert up["stabilizationWindowSeconds"] == 0
    assert down["stabilizationWindowSeconds"] >= 300
    most_added = max(p["value"] for p in up["policies"] if p["type"] == "Pods")
    most_removed = max(p["value"] for p in down["policies"] if p["type"] == "Pods")
    assert most_added > most_removed


def test_worker_hpa_mode_scales_up_fast_and_down_slowly(render: RenderFn) -> None:
    hpa = render_case(render, "hpa").get("HorizontalPodAutoscaler", name_of("worker"))

    _assert_up_fast_down_slow(hpa["spec"]["behavior"])


def test_worker_keda_mode_scales_up_fast_and_down_slowly(render: RenderFn) -> None:
    scaled = render_case(render, "keda").get("ScaledObject", name_of("worker"))

    advanced = scaled["spec"]["advanced"]["horizontalPodAutoscalerConfig"]
    _assert_up_fast_down_slow(advanced["behavior"])


@pytest.mark.parametrize("case", CASES)
def test_keda_and_a_plain_worker_hpa_are_never_rendered_together(
    render: RenderFn, case: str
) -> None:
    rendered = render(values=(case,), api_versions=(KEDA_API,))

    has_keda = bool(rendered.of_kind("ScaledObject"))
    has_hpa = name_of("worker") in _hpa_names(rendered.objects)

    assert not (has_keda and has_hpa)


def test_a_large_queue_length_target_is_written_as_a_plain_integer(
    render: RenderFn,
) -> None:
    rendered = render("worker.autoscaling.targetQueueLength=2000000", values=("hpa",))

    hpa = rendered.get("HorizontalPodAutoscaler", name_of("worker"))

    assert hpa["spec"]["metrics"][0]["external"]["target"]["averageValue"] == "2000000"


@pytest.mark.parametrize(
    ("assignment", "path"),
    [
        ("worker.autoscaling.hpa.metricSelector.vhost=/", "metricSelector/vhost"),
        ("worker.autoscaling.hpa.metricSelector.job=-rabbitmq", "metricSelector/job"),
        ("worker.autoscaling.hpa.metricSelector.a b=x", "invalid propertyName 'a b'"),
        ("worker.autoscaling.hpa.metricSelector.queue=other", "'queue'"),
    ],
)
def test_schema_rejects_a_metric_selector_the_hpa_controller_cannot_parse(
    helm: Path, assignment: str, path: str
) -> None:
    result = run_helm(helm, *template_args(sets=[assignment]))

    assert result.returncode != 0
    assert path in result.stderr


def test_render_fails_in_hpa_mode_when_the_queue_name_is_no_label_value(
    helm: Path,
) -> None:
    sets = ["worker.autoscaling.mode=hpa", "config.rabbitmq.queue=ga4clone/events"]

    result = run_helm(helm, *template_args(sets=sets))

    assert result.returncode != 0
    assert (
        'config.rabbitmq.queue ("ga4clone/events") is not a Kubernetes label value'
        in (result.stderr)
    )


def test_schema_rejects_zero_min_replicas_in_hpa_mode(helm: Path) -> None:
    sets = ["worker.autoscaling.mode=hpa", "worker.autoscaling.minReplicas=0"]

    result = run_helm(helm, *template_args(sets=sets))

    assert result.returncode != 0
    assert "/worker/autoscaling/minReplicas" in result.stderr


def test_keda_mode_may_scale_the_worker_to_zero(render: RenderFn) -> None:
    rendered = render(
        "worker.autoscaling.minReplicas=0", values=("keda",), api_versions=(KEDA_API,)
    )

    scaled = rendered.get("ScaledObject", name_of("worker"))

    assert scaled["spec"]["minReplicaCount"] == 0
    assert scaled["spec"]["cooldownPeriod"] == 300
