"""Each password reaches the pods from the right Secret, and only from a Secret."""

from __future__ import annotations

import base64

import pytest

from ._helm import CASES, RELEASE, Manifest, RenderFn, env_of, name_of, render_case

pytestmark = pytest.mark.chart

_PASSWORD_ENV = ("RABBITMQ_PASSWORD", "CLICKHOUSE_PASSWORD", "POSTGRES_PASSWORD")
_CONSUMERS = (("Deployment", "api"), ("Deployment", "worker"))


def _secret_ref(workload: Manifest, variable: str) -> tuple[str, str]:
    entry = env_of(workload)[variable]
    assert "value" not in entry, f"{variable} is inline"
    ref = entry["valueFrom"]["secretKeyRef"]
    return ref["name"], ref["key"]


def _decoded(secret: Manifest) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


def test_bundled_services_passwords_come_from_the_subchart_secrets(
    render: RenderFn,
) -> None:
    rendered = render_case(render, "defaults")
    expected = {
        "RABBITMQ_PASSWORD": (f"{RELEASE}-rabbitmq", "rabbitmq-password"),
        "CLICKHOUSE_PASSWORD": (f"{RELEASE}-clickhouse", "clickhouse-password"),
        "POSTGRES_PASSWORD": (f"{RELEASE}-postgresql", "postgres-password"),
    }

    for kind, component in (*_CONSUMERS, ("Job", "migrations")):
        workload = rendered.get(kind, name_of(component))
        for variable, (secret, key) in expected.items():
            assert _secret_ref(workload, variable) == (secret, key)
            assert key in rendered.get("Secret", secret)["data"]


@pytest.mark.parametrize("case", CASES)
def test_api_reads_postgres_and_clickhouse_as_the_worker_does(
    render: RenderFn, case: str
) -> None:
    rendered = render_case(render, case)
    api = rendered.get("Deployment", name_of("api"))
    worker = rendered.get("Deployment", name_of("worker"))

    config = rendered.get("ConfigMap", f"{RELEASE}-ga4clone")["data"]

    for variable in ("POSTGRES_PASSWORD", "CLICKHOUSE_PASSWORD"):
        assert _secret_ref(api, variable) == _secret_ref(worker, variable)
    for variable in (
        "POSTGRES_HOST",
        "POSTGRES_PORT",
        "POSTGRES_DB",
        "POSTGRES_USER",
        "CLICKHOUSE_HOST",
        "CLICKHOUSE_PORT",
        "CLICKHOUSE_USER",
        "CLICKHOUSE_DATABASE",
    ):
        assert config[variable], variable


def test_bundled_services_render_no_release_secret(render: RenderFn) -> None:
    rendered = render_case(render, "defaults")

    assert not rendered.has("Secret", f"{RELEASE}-ga4clone")
    assert not rendered.has("Secret", name_of("migrations"))


def test_subchart_existing_secret_is_used_and_no_subchart_secret_rendered(
    render: RenderFn,
) -> None:
    rendered = render(
        "postgresql.auth.existingSecret=ops-pg",
        "postgresql.auth.existingSecretPasswordKey=pw",
    )

    api = rendered.get("Deployment", name_of("api"))

    assert _secret_ref(api, "POSTGRES_PASSWORD") == ("ops-pg", "pw")
    assert not rendered.has("Secret", f"{RELEASE}-postgresql")
    statefulset = rendered.get("StatefulSet", f"{RELEASE}-postgresql")
    env = {
        e["name"]: e
        for e in statefulset["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "ops-pg",
        "key": "pw",
    }


def test_external_inline_passwords_live_in_the_release_secret(
    render: RenderFn,
) -> None:
    rendered = render_case(render, "external-inline")
    secret = _decoded(rendered.get("Secret", f"{RELEASE}-ga4clone"))

    for _, component in _CONSUMERS:
        workload = rendered.get("Deployment", name_of(component))
        for variable in _PASSWORD_ENV:
            name, key = _secret_ref(workload, variable)
            assert name == f"{RELEASE}-ga4clone"
            assert key in secret
    assert secret["rabbitmq-password"] == "rabbit-secret"
    assert secret["clickhouse-password"] == "clickhouse-secret"
    assert secret["postgres-password"] == "postgres-secret"
    assert secret["rabbitmq-amqp-url"] == (
        "amqp://ga4clone:rabbit-secret@rabbitmq.messaging.svc:5672/%2F"
    )


def test_external_inline_passwords_reach_the_migration_job_through_a_hook_secret(
    render: RenderFn,
) -> None:
    rendered = render_case(render, "external-inline")
    job = rendered.get("Job", name_of("migrations"))
    hook_secret = rendered.get("Secret", name_of("migrations"))

    annotations = hook_secret["metadata"]["annotations"]

    assert annotations["helm.sh/hook"] == job["metadata"]["annotations"]["helm.sh/hook"]
    assert int(annotations["helm.sh/hook-weight"]) < int(
        job["metadata"]["annotations"]["helm.sh/hook-weight"]
    )
    assert "hook-succeeded" in annotations["helm.sh/hook-delete-policy"]
    for variable in _PASSWORD_ENV:
        name, key = _secret_ref(job, variable)
        assert name == name_of("migrations")
        assert key in hook_secret["data"]


def test_external_existing_secrets_are_referenced_and_no_secret_is_rendered(
    render: RenderFn,
) -> None:
    rendered = render_case(render, "external-existing-secret")
    expected = {
        "RABBITMQ_PASSWORD": ("ops-rabbitmq", "password"),
        "CLICKHOUSE_PASSWORD": ("ops-clickhouse", "password"),
        "POSTGRES_PASSWORD": ("ops-postgres", "password"),
    }

    for kind, component in (*_CONSUMERS, ("Job", "migrations")):
        workload = rendered.get(kind, name_of(component))
        for variable, ref in expected.items():
            assert _secret_ref(workload, variable) == ref
    assert rendered.of_kind("Secret") == []


def test_one_existing_secret_leaves_the_other_inline_passwords_in_the_release_secret(
    render: RenderFn,
) -> None:
    rendered = render(
        "externalPostgresql.existingSecret=ops-pg",
        values=("external-inline",),
    )

    secret = _decoded(rendered.get("Secret", f"{RELEASE}-ga4clone"))

    assert "postgres-password" not in secret
    assert "postgres-secret" not in secret.values()
    assert secret["clickhouse-password"] == "clickhouse-secret"
    api = rendered.get("Deployment", name_of("api"))
    assert _secret_ref(api, "POSTGRES_PASSWORD") == ("ops-pg", "postgres-password")


def test_no_password_appears_in_any_config_map_or_plain_env(render: RenderFn) -> None:
    rendered = render_case(render, "external-inline")
    text = repr([o for o in rendered.objects if o["kind"] != "Secret"])

    for password in ("rabbit-secret", "clickhouse-secret", "postgres-secret"):
        assert password not in text


def test_rabbitmq_subchart_secret_carries_an_amqp_url_for_keda(
    render: RenderFn,
) -> None:
    rendered = render("rabbitmq.auth.password=s3cret")

    secret = _decoded(rendered.get("Secret", f"{RELEASE}-rabbitmq"))

    assert secret["rabbitmq-password"] == "s3cret"
    assert secret["amqp-url"] == (
        f"amqp://ga4clone:s3cret@{RELEASE}-rabbitmq.analytics.svc:5672/%2F"
    )


def test_amqp_url_percent_encodes_reserved_characters_of_the_password(
    render: RenderFn,
) -> None:
    rendered = render("externalRabbitmq.password=a b+c@d", values=("external-inline",))

    secret = _decoded(rendered.get("Secret", f"{RELEASE}-ga4clone"))

    assert secret["rabbitmq-amqp-url"].startswith("amqp://ga4clone:a%20b%2Bc%40d@")


def test_test_write_key_lives_in_a_test_hook_secret_and_reaches_the_pod_by_ref(
    render: RenderFn,
) -> None:
    rendered = render_case(render, "app-settings")
    pod = rendered.get("Pod", name_of("test"))
    secret = rendered.get("Secret", name_of("test"))

    annotations = secret["metadata"]["annotations"]

    assert annotations["helm.sh/hook"] == "test"
    assert int(annotations["helm.sh/hook-weight"]) < int(
        pod["metadata"]["annotations"]["helm.sh/hook-weight"]
    )
    assert _decoded(secret) == {
        "api-key": "ga4w_test_write_key",
        "project-id": "6f1c1f6e-2f43-4b59-9a43-3d2f8a9c1e01",
    }
    assert _secret_ref(pod, "API_KEY") == (name_of("test"), "api-key")
    assert _secret_ref(pod, "PROJECT_ID") == (name_of("test"), "project-id")


def test_test_existing_secret_is_referenced_and_no_test_secret_is_rendered(
    render: RenderFn,
) -> None:
    rendered = render(
        "tests.existingSecret=ops-ga4clone-test",
        "tests.existingSecretApiKeyKey=key",
        "tests.existingSecretProjectIdKey=project",
        "tests.apiKey=ignored-inline-key",
    )

    pod = rendered.get("Pod", name_of("test"))

    assert not rendered.has("Secret", name_of("test"))
    assert _secret_ref(pod, "API_KEY") == ("ops-ga4clone-test", "key")
    assert _secret_ref(pod, "PROJECT_ID") == ("ops-ga4clone-test", "project")
    assert "ignored-inline-key" not in repr(rendered.objects)


def test_without_a_test_key_no_test_secret_is_rendered(render: RenderFn) -> None:
    rendered = render()

    assert not rendered.has("Secret", name_of("test"))
