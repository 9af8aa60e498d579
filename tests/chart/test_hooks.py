"""The migration Job and the `helm test` Pod run at the right moment."""

from __future__ import annotations

import pytest

from ._helm import RELEASE, RenderFn, container, env_of, name_of, pod_spec, render_case

pytestmark = pytest.mark.chart


def test_migration_job_runs_after_install_when_a_database_is_bundled(
    render: RenderFn,
) -> None:
    job = render().get("Job", name_of("migrations"))

    annotations = job["metadata"]["annotations"]

    assert annotations["helm.sh/hook"] == "post-install,pre-upgrade"
    assert annotations["helm.sh/hook-weight"] == "0"
    assert annotations["helm.sh/hook-delete-policy"] == (
        "before-hook-creation,hook-succeeded"
    )


def test_migration_job_runs_before_install_and_upgrade_with_external_databases(
    render: RenderFn,
) -> None:
    job = render_case(render, "external-inline").get("Job", name_of("migrations"))

    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"


def test_migration_hook_events_can_be_set_explicitly(render: RenderFn) -> None:
    job = render("migrations.hookEvents=pre-upgrade").get("Job", name_of("migrations"))

    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-upgrade"


def test_pre_install_migration_job_carries_its_own_settings_and_default_account(
    render: RenderFn,
) -> None:
    job = render_case(render, "external-inline").get("Job", name_of("migrations"))

    env = env_of(job)
    pod = pod_spec(job)

    assert "envFrom" not in container(job)
    assert env["POSTGRES_HOST"]["value"] == "postgres.analytics.svc"
    assert env["CLICKHOUSE_DATABASE"]["value"] == "ga4clone"
    assert "serviceAccountName" not in pod
    assert pod["automountServiceAccountToken"] is False
    assert pod["restartPolicy"] == "Never"


def test_post_install_migration_job_runs_as_the_release_service_account(
    render: RenderFn,
) -> None:
    job = render().get("Job", name_of("migrations"))

    assert pod_spec(job)["serviceAccountName"] == f"{RELEASE}-ga4clone"


def test_test_pod_is_a_helm_test_hook_that_checks_ready_and_posts_an_event(
    render: RenderFn,
) -> None:
    pod = render().get("Pod", name_of("test"))

    annotations = pod["metadata"]["annotations"]
    test_container = container(pod)
    script = test_container["args"][0]
    env = env_of(pod)

    assert annotations["helm.sh/hook"] == "test"
    assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]
    assert test_container["command"] == ["python", "-c"]
    assert env["API_URL"]["value"] == f"http://{name_of('api')}:80"
    assert '"/ready"' in script
    assert '"/events"' in script
    assert "status == 202" in script
    for field in ("projectId", "eventName", "timestamp", "clientId", "sessionId"):
        assert f'"{field}"' in script
    compile(script, "helm-test", "exec")
