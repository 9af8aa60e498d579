"""Every optional resource is rendered when its toggle is on, and only then."""

from __future__ import annotations

import json

import pytest

from ._helm import MONITORING_API, RELEASE, RenderFn, name_of, pod_spec, render_case

pytestmark = pytest.mark.chart

# toggle -> (value that turns it on, value that turns it off, kind, name)
_TOGGLES = {
    "api.ingress.enabled": ("true", "false", "Ingress", name_of("api")),
    "api.autoscaling.enabled": (
        "true",
        "false",
        "HorizontalPodAutoscaler",
        name_of("api"),
    ),
    "api.podDisruptionBudget.enabled": (
        "true",
        "false",
        "PodDisruptionBudget",
        name_of("api"),
    ),
    "worker.podDisruptionBudget.enabled": (
        "true",
        "false",
        "PodDisruptionBudget",
        name_of("worker"),
    ),
    "migrations.enabled": ("true", "false", "Job", name_of("migrations")),
    "tests.enabled": ("true", "false", "Pod", name_of("test")),
    "networkPolicy.enabled": ("true", "false", "NetworkPolicy", name_of("api")),
    "serviceAccount.create": ("true", "false", "ServiceAccount", f"{RELEASE}-ga4clone"),
    "metrics.serviceMonitor.enabled": (
        "true",
        "false",
        "ServiceMonitor",
        name_of("api"),
    ),
    "metrics.prometheusRule.enabled": (
        "true",
        "false",
        "PrometheusRule",
        f"{RELEASE}-ga4clone",
    ),
    "metrics.dashboard.enabled": ("true", "false", "ConfigMap", name_of("dashboard")),
    "rabbitmq.enabled": ("true", "false", "StatefulSet", f"{RELEASE}-rabbitmq"),
    "clickhouse.enabled": ("true", "false", "StatefulSet", f"{RELEASE}-clickhouse"),
    "postgresql.enabled": ("true", "false", "StatefulSet", f"{RELEASE}-postgresql"),
}

# Values a toggle needs to render at all when it is off (external hosts).
_NEEDS = {
    "rabbitmq.enabled": ("externalRabbitmq.host=mq.example",),
    "clickhouse.enabled": ("externalClickhouse.host=ch.example",),
    "postgresql.enabled": ("externalPostgresql.host=pg.example",),
}


@pytest.mark.parametrize("toggle", sorted(_TOGGLES))
def test_toggle_on_renders_its_resource(render: RenderFn, toggle: str) -> None:
    on, _, kind, name = _TOGGLES[toggle]

    rendered = render(f"{toggle}={on}", api_versions=(MONITORING_API,))

    assert rendered.has(kind, name)


@pytest.mark.parametrize("toggle", sorted(_TOGGLES))
def test_toggle_off_renders_no_such_resource(render: RenderFn, toggle: str) -> None:
    _, off, kind, name = _TOGGLES[toggle]

    rendered = render(
        f"{toggle}={off}", *_NEEDS.get(toggle, ()), api_versions=(MONITORING_API,)
    )

    assert not rendered.has(kind, name)


def test_minimal_case_renders_only_the_core_objects(render: RenderFn) -> None:
    rendered = render_case(render, "minimal")

    kinds = sorted(o["kind"] for o in rendered.objects)

    assert kinds == ["ConfigMap", "Deployment", "Deployment", "Service", "Service"]


def test_without_a_created_service_account_pods_use_the_default_one(
    render: RenderFn,
) -> None:
    rendered = render_case(render, "minimal")

    api = rendered.get("Deployment", name_of("api"))

    assert pod_spec(api)["serviceAccountName"] == "default"


@pytest.mark.parametrize("toggle", ["serviceMonitor", "prometheusRule"])
def test_monitoring_objects_are_skipped_when_the_cluster_lacks_the_crds(
    render: RenderFn, toggle: str
) -> None:
    rendered = render(f"metrics.{toggle}.enabled=true")

    assert rendered.of_kind("ServiceMonitor") == []
    assert rendered.of_kind("PrometheusRule") == []


def test_ingress_routes_to_the_api_service_with_class_and_tls(render: RenderFn) -> None:
    rendered = render_case(render, "ingress-tls")

    ingress = rendered.get("Ingress", name_of("api"))
    service = rendered.get("Service", name_of("api"))

    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [
        {"secretName": "collect-example-com-tls", "hosts": ["collect.example.com"]}
    ]
    assert "cert-manager.io/cluster-issuer" in ingress["metadata"]["annotations"]
    (rule,) = ingress["spec"]["rules"]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert rule["host"] == "collect.example.com"
    assert backend == {"name": service["metadata"]["name"], "port": {"number": 80}}


def test_network_policies_admit_only_the_configured_peers(render: RenderFn) -> None:
    rendered = render_case(render, "observability")

    api = rendered.get("NetworkPolicy", name_of("api"))
    worker = rendered.get("NetworkPolicy", name_of("worker"))

    api_rule, api_extra_rule = api["spec"]["ingress"]
    (worker_rule,) = worker["spec"]["ingress"]
    assert api_rule["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert worker_rule["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    assert api_rule["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "ingress-nginx"
    }
    assert api["spec"]["policyTypes"] == ["Ingress"]
    assert api_extra_rule["ports"] == [{"port": "http", "protocol": "TCP"}]


def test_restricted_api_still_admits_the_test_pod_and_the_metrics_scrapers(
    render: RenderFn,
) -> None:
    rendered = render_case(render, "observability")
    test_pod = rendered.get("Pod", name_of("test"))

    api = rendered.get("NetworkPolicy", name_of("api"))

    peers = api["spec"]["ingress"][1]["from"]
    selector = peers[0]["podSelector"]["matchLabels"]
    assert selector.items() <= test_pod["metadata"]["labels"].items()
    assert peers[1]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "monitoring"
    }


def test_open_api_policy_has_one_rule_admitting_every_source(
    render: RenderFn,
) -> None:
    rendered = render("networkPolicy.enabled=true")

    api = rendered.get("NetworkPolicy", name_of("api"))

    (rule,) = api["spec"]["ingress"]
    assert "from" not in rule


def test_network_policies_leave_the_api_and_worker_a_way_to_the_stores(
    render: RenderFn,
) -> None:
    # The API needs PostgreSQL (keys, rate limits) and ClickHouse (reports):
    # no policy may restrict egress, and none may select a store's pods.
    rendered = render_case(render, "observability")
    stores = [
        s["spec"]["template"]["metadata"]["labels"]
        for s in rendered.of_kind("StatefulSet")
    ]

    policies = rendered.of_kind("NetworkPolicy")

    assert len(stores) == 3
    for policy in policies:
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        selector = policy["spec"]["podSelector"]["matchLabels"]
        assert not any(selector.items() <= labels.items() for labels in stores)


def test_dashboard_config_map_carries_the_sidecar_label_and_valid_json(
    render: RenderFn,
) -> None:
    rendered = render_case(render, "observability")

    dashboard = rendered.get("ConfigMap", name_of("dashboard"))

    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    parsed = json.loads(dashboard["data"]["ga4clone.json"])
    assert parsed["uid"] == "ga4clone-overview"
    assert parsed["panels"]


def test_tracing_is_off_by_default_and_on_with_an_endpoint(render: RenderFn) -> None:
    off = render().get("ConfigMap", f"{RELEASE}-ga4clone")["data"]
    on = render("otel.endpoint=http://collector:4318").get(
        "ConfigMap", f"{RELEASE}-ga4clone"
    )["data"]

    assert off["OTEL_EXPORTER_OTLP_ENDPOINT"] == ""
    assert on["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://collector:4318"


def test_traces_exporter_is_left_to_the_app_unless_chosen(render: RenderFn) -> None:
    default = render().get("ConfigMap", f"{RELEASE}-ga4clone")["data"]
    console = render("otel.tracesExporter=console").get(
        "ConfigMap", f"{RELEASE}-ga4clone"
    )["data"]

    assert default["OTEL_TRACES_EXPORTER"] == ""
    assert console["OTEL_TRACES_EXPORTER"] == "console"
