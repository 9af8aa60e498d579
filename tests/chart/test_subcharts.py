"""The bundled RabbitMQ, ClickHouse and PostgreSQL subcharts."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest
import yaml

from ._helm import (
    CHART_DIR,
    KEDA_API,
    RELEASE,
    Manifest,
    Rendered,
    RenderFn,
    env_of,
    name_of,
    run_helm,
    template_args,
)

pytestmark = pytest.mark.chart

_SUBCHARTS = ("rabbitmq", "clickhouse", "postgresql")


def _main_container(statefulset: Manifest) -> Manifest:
    (only,) = statefulset["spec"]["template"]["spec"]["containers"]
    return only


def _env(statefulset: Manifest) -> dict[str, Manifest]:
    return {e["name"]: e for e in _main_container(statefulset)["env"]}


def test_chart_yaml_declares_each_subchart_as_a_local_conditional_dependency() -> None:
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())

    dependencies = {d["name"]: d for d in chart["dependencies"]}

    assert chart["apiVersion"] == "v2"
    assert chart["kubeVersion"] == ">=1.27.0-0"
    for name in _SUBCHARTS:
        subchart = yaml.safe_load(
            (CHART_DIR / "charts" / name / "Chart.yaml").read_text()
        )
        assert dependencies[name]["condition"] == f"{name}.enabled"
        # No repository: Helm takes a dependency without one from charts/.
        assert "repository" not in dependencies[name]
        assert dependencies[name]["version"] == subchart["version"]


def test_dependency_build_keeps_one_copy_of_each_subchart(
    helm: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "ga4clone"
    shutil.copytree(CHART_DIR, copy)

    result = run_helm(helm, "dependency", "build", str(copy))

    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in (copy / "charts").iterdir()) == sorted(_SUBCHARTS)


@pytest.mark.parametrize("name", _SUBCHARTS)
def test_subchart_is_a_statefulset_with_a_claim_and_a_headless_service(
    render: RenderFn, name: str
) -> None:
    rendered = render()

    statefulset = rendered.get("StatefulSet", f"{RELEASE}-{name}")
    headless = rendered.get("Service", statefulset["spec"]["serviceName"])

    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"
    assert headless["spec"]["clusterIP"] == "None"
    assert rendered.has("Service", f"{RELEASE}-{name}")
    pod = statefulset["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert _main_container(statefulset)["securityContext"]["capabilities"] == {
        "drop": ["ALL"]
    }


# Where each server writes, beside its data directory (the claim): found in
# the official images' Dockerfiles and entrypoints (see the templates).
_WRITABLE = {
    "rabbitmq": ("/var/lib/rabbitmq", "/var/log/rabbitmq", "/tmp"),
    "clickhouse": ("/var/lib/clickhouse", "/var/log/clickhouse-server", "/tmp"),
    "postgresql": ("/var/lib/postgresql/data", "/var/run/postgresql", "/tmp"),
}


@pytest.mark.parametrize("name", _SUBCHARTS)
def test_subchart_root_filesystem_is_read_only_with_volumes_where_it_writes(
    render: RenderFn, name: str
) -> None:
    statefulset = render().get("StatefulSet", f"{RELEASE}-{name}")
    container = _main_container(statefulset)
    volumes = {v["name"]: v for v in statefulset["spec"]["template"]["spec"]["volumes"]}
    claims = {
        c["metadata"]["name"] for c in statefulset["spec"]["volumeClaimTemplates"]
    }
    mounted = {m["mountPath"]: m for m in container["volumeMounts"]}

    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    data, *scratch = _WRITABLE[name]
    assert mounted[data]["name"] in claims
    for path in scratch:
        volume = volumes[mounted[path]["name"]]
        assert "emptyDir" in volume, path
        assert not mounted[path].get("readOnly", False)


@pytest.mark.parametrize("name", _SUBCHARTS)
def test_subchart_without_persistence_uses_an_empty_dir(
    render: RenderFn, name: str
) -> None:
    statefulset = render(f"{name}.persistence.enabled=false").get(
        "StatefulSet", f"{RELEASE}-{name}"
    )

    volumes = {v["name"]: v for v in statefulset["spec"]["template"]["spec"]["volumes"]}

    assert "volumeClaimTemplates" not in statefulset["spec"]
    assert "emptyDir" in volumes["data"]


def test_rabbitmq_runs_the_official_image_with_the_prometheus_plugin(
    render: RenderFn,
) -> None:
    rendered = render()
    statefulset = rendered.get("StatefulSet", f"{RELEASE}-rabbitmq")
    config = rendered.get("ConfigMap", f"{RELEASE}-rabbitmq")["data"]

    rabbit = _main_container(statefulset)

    assert rabbit["image"] == "rabbitmq:4.2-management"
    assert "rabbitmq_prometheus" in config["enabled_plugins"]
    assert config["enabled_plugins"].strip().endswith("].")
    assert "prometheus.tcp.port = 15692" in config["ga4clone.conf"]
    assert {"name": "metrics", "containerPort": 15692} in rabbit["ports"]
    password = _env(statefulset)["RABBITMQ_DEFAULT_PASS"]["valueFrom"]
    assert password["secretKeyRef"]["name"] == f"{RELEASE}-rabbitmq"


def _rabbitmq_conf(rendered: Rendered) -> list[str]:
    config = rendered.get("ConfigMap", f"{RELEASE}-rabbitmq")["data"]
    return [line.strip() for line in config["ga4clone.conf"].splitlines()]


def test_rabbitmq_serves_per_queue_metrics_by_default(render: RenderFn) -> None:
    conf = _rabbitmq_conf(render())

    assert "prometheus.return_per_object_metrics = true" in conf


def test_rabbitmq_per_object_metrics_can_be_turned_off(render: RenderFn) -> None:
    conf = _rabbitmq_conf(render("rabbitmq.metrics.perObject=false"))

    assert "prometheus.return_per_object_metrics = false" in conf


def _amqp_url(rendered: Rendered) -> str:
    secret = rendered.get("Secret", f"{RELEASE}-rabbitmq")
    return base64.b64decode(secret["data"]["amqp-url"]).decode()


def test_rabbitmq_creates_the_default_vhost_and_names_it_in_the_amqp_url(
    render: RenderFn,
) -> None:
    rendered = render("rabbitmq.auth.password=s3cret")

    assert "default_vhost = /" in _rabbitmq_conf(rendered)
    assert _amqp_url(rendered).endswith(":5672/%2F")


def test_rabbitmq_vhost_set_on_both_sides_reaches_the_broker_the_url_and_the_app(
    render: RenderFn,
) -> None:
    rendered = render(
        "rabbitmq.vhost=ga4/events",
        "config.rabbitmq.vhost=ga4/events",
        "rabbitmq.auth.password=s3cret",
    )

    data = rendered.get("ConfigMap", f"{RELEASE}-ga4clone")["data"]

    assert "default_vhost = ga4/events" in _rabbitmq_conf(rendered)
    assert _amqp_url(rendered).endswith(":5672/ga4%2Fevents")
    assert data["RABBITMQ_VHOST"] == "ga4/events"


def test_render_fails_when_the_app_vhost_is_not_the_bundled_brokers(
    helm: Path,
) -> None:
    result = run_helm(helm, *template_args(sets=["config.rabbitmq.vhost=ga4"]))

    assert result.returncode != 0
    assert 'config.rabbitmq.vhost ("ga4") must equal rabbitmq.vhost ("/")' in (
        result.stderr
    )


_PORTS = (
    "rabbitmq.service.amqpPort=5673",
    "clickhouse.service.nativePort=9440",
    "clickhouse.service.httpPort=8124",
    "postgresql.service.port=5433",
)


def test_app_follows_non_default_ports_of_the_bundled_services(
    render: RenderFn,
) -> None:
    rendered = render(*_PORTS)

    data = rendered.get("ConfigMap", f"{RELEASE}-ga4clone")["data"]
    migrations = env_of(rendered.get("Job", name_of("migrations")))

    assert (data["RABBITMQ_PORT"], data["CLICKHOUSE_PORT"], data["POSTGRES_PORT"]) == (
        "5673",
        "9440",
        "5433",
    )
    assert migrations["CLICKHOUSE_PORT"]["value"] == "9440"
    assert migrations["POSTGRES_PORT"]["value"] == "5433"


def test_bundled_servers_listen_on_the_ports_their_services_name(
    render: RenderFn,
) -> None:
    rendered = render(*_PORTS)

    clickhouse_config = rendered.get("ConfigMap", f"{RELEASE}-clickhouse")["data"]
    clickhouse = _main_container(rendered.get("StatefulSet", f"{RELEASE}-clickhouse"))
    postgres = rendered.get("StatefulSet", f"{RELEASE}-postgresql")

    assert "listeners.tcp.default = 5673" in _rabbitmq_conf(rendered)
    assert "<tcp_port>9440</tcp_port>" in clickhouse_config["ga4clone-ports.xml"]
    assert "<http_port>8124</http_port>" in clickhouse_config["ga4clone-ports.xml"]
    assert "/etc/clickhouse-server/config.d/ga4clone-ports.xml" in {
        m["mountPath"] for m in clickhouse["volumeMounts"]
    }
    assert _env(postgres)["PGPORT"]["value"] == "5433"
    assert (
        "-p 5433" in _main_container(postgres)["readinessProbe"]["exec"]["command"][2]
    )


def test_keda_url_of_the_bundled_broker_follows_its_amqp_port(
    render: RenderFn,
) -> None:
    rendered = render(
        "rabbitmq.service.amqpPort=5673",
        "rabbitmq.auth.password=s3cret",
        values=("keda",),
        api_versions=(KEDA_API,),
    )

    assert ".svc:5673/%2F" in _amqp_url(rendered)


def test_clickhouse_reads_the_password_from_env_in_users_d(render: RenderFn) -> None:
    rendered = render()
    statefulset = rendered.get("StatefulSet", f"{RELEASE}-clickhouse")
    users = rendered.get("ConfigMap", f"{RELEASE}-clickhouse")["data"]

    clickhouse = _main_container(statefulset)
    mounts = {m["mountPath"] for m in clickhouse["volumeMounts"]}
    env = _env(statefulset)

    assert clickhouse["image"] == "clickhouse/clickhouse-server:26.8"
    assert (
        '<password from_env="CLICKHOUSE_APP_PASSWORD"/>' in users["ga4clone-users.xml"]
    )
    assert env["CLICKHOUSE_APP_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": f"{RELEASE}-clickhouse",
        "key": "clickhouse-password",
    }
    assert "/etc/clickhouse-server/users.d/ga4clone-users.xml" in mounts


def test_postgresql_pins_17_and_keeps_pgdata_in_a_subdirectory(
    render: RenderFn,
) -> None:
    statefulset = render().get("StatefulSet", f"{RELEASE}-postgresql")

    postgres = _main_container(statefulset)
    env = _env(statefulset)
    data_mount = next(m for m in postgres["volumeMounts"] if m["name"] == "data")

    assert postgres["image"] == "postgres:17"
    assert data_mount["mountPath"] == "/var/lib/postgresql/data"
    assert env["PGDATA"]["value"] == "/var/lib/postgresql/data/pgdata"
    assert env["POSTGRES_DB"]["value"] == "ga4clone"


def test_app_connects_to_the_bundled_services_by_their_service_names(
    render: RenderFn,
) -> None:
    rendered = render()

    data = rendered.get("ConfigMap", f"{RELEASE}-ga4clone")["data"]

    for variable, service in (
        ("RABBITMQ_HOST", "rabbitmq"),
        ("CLICKHOUSE_HOST", "clickhouse"),
        ("POSTGRES_HOST", "postgresql"),
    ):
        assert rendered.has("Service", data[variable]), service
    assert data["RABBITMQ_USER"] == "ga4clone"
    assert data["POSTGRES_DB"] == "ga4clone"


def test_renamed_subchart_is_still_found_by_the_app(render: RenderFn) -> None:
    rendered = render("postgresql.fullnameOverride=pg")

    data = rendered.get("ConfigMap", f"{RELEASE}-ga4clone")["data"]

    assert rendered.has("StatefulSet", "pg")
    assert data["POSTGRES_HOST"] == "pg"


@pytest.mark.parametrize("name", ("ga4clone", *_SUBCHARTS))
def test_every_value_of_each_chart_has_a_comment_above_it(name: str) -> None:
    path = CHART_DIR / "values.yaml"
    if name != "ga4clone":
        path = CHART_DIR / "charts" / name / "values.yaml"
    lines = path.read_text().splitlines()

    undocumented = [
        f"{path.name}:{number}: {line.strip()}"
        for number, line in enumerate(lines, start=1)
        if _is_key(line) and not lines[number - 2].strip().startswith("#")
    ]

    assert undocumented == []


def _is_key(line: str) -> bool:
    stripped = line.strip()
    if not stripped or stripped.startswith("#"):
        return False
    head = stripped.removeprefix("- ").split(":", 1)[0]
    return ":" in stripped and head.replace("_", "").replace(".", "").isalnum()
