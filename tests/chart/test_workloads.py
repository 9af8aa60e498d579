"""Labels, selectors, probes, shutdown and security of the ga4clone workloads."""

from __future__ import annotations

import pytest

from ._helm import (
    CASES,
    OLDEST_KUBE,
    RELEASE,
    Manifest,
    RenderFn,
    container,
    env_of,
    name_of,
    pod_spec,
    render_case,
)

pytestmark = pytest.mark.chart

_STANDARD_LABELS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
}
_SELECTOR_LABELS = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
}
_WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")


def _workloads(objects: list[Manifest]) -> list[Manifest]:
    return [obj for obj in objects if obj["kind"] in _WORKLOAD_KINDS]


@pytest.mark.parametrize("case", CASES)
def test_every_object_carries_the_standard_label_set(
    render: RenderFn, case: str
) -> None:
    rendered = render_case(render, case)

    missing = {
        f"{obj['kind']}/{obj['metadata']['name']}": _STANDARD_LABELS
        - set(obj["metadata"].get("labels", {}))
        for obj in rendered.objects
    }

    assert {name: keys for name, keys in missing.items() if keys} == {}


@pytest.mark.parametrize("case", CASES)
def test_selectors_carry_only_name_instance_component_and_match_pod_labels(
    render: RenderFn, case: str
) -> None:
    rendered = render_case(render, case)

    for workload in _workloads(rendered.objects):
        if workload["kind"] == "Job":
            continue
        selector = workload["spec"]["selector"]["matchLabels"]
        pod_labels = workload["spec"]["template"]["metadata"]["labels"]
        assert set(selector) == _SELECTOR_LABELS
        assert selector.items() <= pod_labels.items()


@pytest.mark.parametrize("case", CASES)
def test_every_service_pdb_and_network_policy_selects_some_pods(
    render: RenderFn, case: str
) -> None:
    rendered = render_case(render, case)
    pod_label_sets = [
        w["spec"]["template"]["metadata"]["labels"]
        for w in _workloads(rendered.objects)
    ]
    selectors = [(s, s["spec"]["selector"]) for s in rendered.of_kind("Service")]
    selectors += [
        (obj, obj["spec"]["selector"]["matchLabels"])
        for obj in rendered.of_kind("PodDisruptionBudget")
    ]
    selectors += [
        (obj, obj["spec"]["podSelector"]["matchLabels"])
        for obj in rendered.of_kind("NetworkPolicy")
    ]

    for obj, selector in selectors:
        assert set(selector) == _SELECTOR_LABELS, obj["metadata"]["name"]
        assert any(selector.items() <= labels.items() for labels in pod_label_sets), (
            f"{obj['kind']}/{obj['metadata']['name']} selects no pod"
        )


def test_names_are_truncated_to_63_characters(render: RenderFn) -> None:
    long_name = "x" * 70

    rendered = render(f"fullnameOverride={long_name}")

    for obj in rendered.objects:
        assert len(obj["metadata"]["name"]) <= 63, obj["metadata"]["name"]


def test_api_and_worker_run_the_one_image_with_their_command(render: RenderFn) -> None:
    rendered = render("image.repository=registry.local/ga4clone", "image.tag=1.2.3")

    api = container(rendered.get("Deployment", name_of("api")))
    worker = container(rendered.get("Deployment", name_of("worker")))
    migrate = container(rendered.get("Job", name_of("migrations")))

    assert api["args"] == ["api"]
    assert worker["args"] == ["worker"]
    assert migrate["args"] == ["migrate"]
    for c in (api, worker, migrate):
        assert c["image"] == "registry.local/ga4clone:1.2.3"


def test_image_tag_defaults_to_the_chart_app_version(render: RenderFn) -> None:
    rendered = render()

    api = container(rendered.get("Deployment", name_of("api")))

    assert api["image"] == "ga4clone:0.1.0"


@pytest.mark.parametrize("case", CASES)
def test_ga4clone_pods_run_as_10001_non_root_read_only_without_capabilities(
    render: RenderFn, case: str
) -> None:
    rendered = render_case(render, case)
    ours = [
        obj
        for obj in rendered.objects
        if obj["kind"] in (*_WORKLOAD_KINDS, "Pod")
        and obj["metadata"]["labels"]["app.kubernetes.io/name"] == "ga4clone"
    ]

    assert ours
    for workload in ours:
        pod = pod_spec(workload)
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        for c in pod["containers"]:
            context = c["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]


def test_api_and_worker_mount_a_writable_tmp(render: RenderFn) -> None:
    rendered = render()

    for component in ("api", "worker"):
        deployment = rendered.get("Deployment", name_of(component))
        mounts = container(deployment)["volumeMounts"]
        volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
        (tmp,) = [m for m in mounts if m["mountPath"] == "/tmp"]
        assert "emptyDir" in volumes[tmp["name"]]


def test_api_probes_liveness_on_health_readiness_on_ready_with_startup_probe(
    render: RenderFn,
) -> None:
    api = container(render().get("Deployment", name_of("api")))

    assert api["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert api["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert api["startupProbe"]["httpGet"]["path"] == "/health"
    assert {"name": "http", "containerPort": 8080, "protocol": "TCP"} in api["ports"]


def test_worker_probes_health_on_its_metrics_port_and_has_no_readiness_probe(
    render: RenderFn,
) -> None:
    rendered = render("worker.metricsPort=9200")
    worker = container(rendered.get("Deployment", name_of("worker")))
    env = rendered.get("ConfigMap", f"{RELEASE}-ga4clone")["data"]

    health = {"path": "/health", "port": "metrics"}
    assert worker["livenessProbe"]["httpGet"] == health
    assert worker["startupProbe"]["httpGet"] == health
    assert "readinessProbe" not in worker
    assert worker["ports"] == [
        {"name": "metrics", "containerPort": 9200, "protocol": "TCP"}
    ]
    assert env["WORKER_METRICS_PORT"] == "9200"


def test_api_pre_stop_uses_the_sleep_action_on_newer_clusters(render: RenderFn) -> None:
    deployment = render().get("Deployment", name_of("api"))

    pre_stop = container(deployment)["lifecycle"]["preStop"]

    assert pre_stop == {"sleep": {"seconds": 10}}
    assert pod_spec(deployment)["terminationGracePeriodSeconds"] == 50


def test_api_pre_stop_falls_back_to_exec_sleep_on_1_27(render: RenderFn) -> None:
    deployment = render(kube_version=OLDEST_KUBE).get("Deployment", name_of("api"))

    pre_stop = container(deployment)["lifecycle"]["preStop"]

    assert pre_stop == {"exec": {"command": ["sleep", "10"]}}


def test_worker_gets_a_grace_period_to_flush_or_requeue(render: RenderFn) -> None:
    deployment = render("worker.terminationGracePeriodSeconds=90").get(
        "Deployment", name_of("worker")
    )

    assert pod_spec(deployment)["terminationGracePeriodSeconds"] == 90


def test_pods_restart_when_the_config_changes(render: RenderFn) -> None:
    before = render().get("Deployment", name_of("api"))
    after = render("config.logLevel=DEBUG").get("Deployment", name_of("api"))

    annotation = "checksum/config"
    assert (
        before["spec"]["template"]["metadata"]["annotations"][annotation]
        != after["spec"]["template"]["metadata"]["annotations"][annotation]
    )


def test_config_map_holds_every_non_secret_setting_and_no_password(
    render: RenderFn,
) -> None:
    rendered = render_case(render, "ingress-tls")

    data = rendered.get("ConfigMap", f"{RELEASE}-ga4clone")["data"]

    assert data["SERVER_HOST"] == "0.0.0.0"
    assert data["SERVER_PORT"] == "8080"
    assert data["CLICKHOUSE_PORT"] == "9000"
    assert data["RABBITMQ_EXCHANGE"] == "ga4clone.events"
    assert data["RABBITMQ_QUEUE"] == "ga4clone.events"
    assert data["TRUSTED_PROXIES"] == "10.0.0.0/8,fd00::/8"
    assert data["WORKER_METRICS_PORT"] == "9100"
    assert data["OTEL_EXPORTER_OTLP_ENDPOINT"] == ""
    assert not [key for key in data if "PASSWORD" in key]


def test_api_and_worker_read_the_config_map(render: RenderFn) -> None:
    rendered = render()

    for component in ("api", "worker"):
        c = container(rendered.get("Deployment", name_of(component)))
        assert c["envFrom"] == [{"configMapRef": {"name": f"{RELEASE}-ga4clone"}}]


def test_otel_resource_attributes_name_pod_and_namespace_from_downward_api(
    render: RenderFn,
) -> None:
    rendered = render_case(render, "observability")

    for component in ("api", "worker"):
        env = env_of(rendered.get("Deployment", name_of(component)))
        pod = env["K8S_POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"]
        namespace = env["K8S_NAMESPACE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"]
        attributes = env["OTEL_RESOURCE_ATTRIBUTES"]["value"].split(",")
        assert pod == "metadata.name"
        assert namespace == "metadata.namespace"
        assert "k8s.pod.name=$(K8S_POD_NAME)" in attributes
        assert "k8s.namespace.name=$(K8S_NAMESPACE_NAME)" in attributes
        assert "deployment.environment=ci" in attributes
        assert env["OTEL_SERVICE_NAME"]["value"] == f"ga4clone-{component}"
    data = rendered.get("ConfigMap", f"{RELEASE}-ga4clone")["data"]
    assert data["OTEL_EXPORTER_OTLP_ENDPOINT"].startswith("http://otel-collector")
    assert data["OTEL_TRACES_SAMPLER_ARG"] == "1.0"


def test_large_numbers_reach_the_env_as_plain_integers(render: RenderFn) -> None:
    rendered = render("config.maxBodyBytes=10485760", "worker.batchSize=2000000")

    data = rendered.get("ConfigMap", f"{RELEASE}-ga4clone")["data"]
    job_env = env_of(rendered.get("Job", name_of("migrations")))

    assert data["MAX_BODY_BYTES"] == "10485760"
    assert data["WORKER_BATCH_SIZE"] == "2000000"
    assert job_env["MAX_BODY_BYTES"]["value"] == "10485760"
