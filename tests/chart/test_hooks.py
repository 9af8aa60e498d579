"""The migration Job and the `helm test` Pod run at the right moment."""

from __future__ import annotations

from pathlib import Path

import pytest

from ._helm import (
    CHART_DIR,
    RELEASE,
    RenderFn,
    container,
    env_of,
    name_of,
    pod_spec,
    render_case,
    run_helm,
    template_args,
)

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


def test_test_pod_is_a_helm_test_hook_that_checks_ready_health_and_posts_an_event(
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
    assert '"/health"' in script
    assert '"/events"' in script
    assert '"X-Api-Key": api_key' in script
    assert "status == 202" in script
    for field in ("projectId", "eventName", "timestamp", "clientId", "sessionId"):
        assert f'"{field}"' in script
    compile(script, "helm-test", "exec")


def test_test_pod_without_a_key_checks_only_ready_and_health_and_says_so(
    render: RenderFn,
) -> None:
    pod = render("tests.createProject=false").get("Pod", name_of("test"))

    env = env_of(pod)
    script = container(pod)["args"][0]

    assert "API_KEY" not in env
    assert "PROJECT_ID" not in env
    assert env["CREATE_PROJECT"]["value"] == "false"
    assert "posted no event" in script
    assert "sys.exit(0)" in script


def test_test_pod_with_a_key_posts_to_the_configured_project(
    render: RenderFn,
) -> None:
    pod = render_case(render, "app-settings").get("Pod", name_of("test"))

    env = env_of(pod)

    assert "secretKeyRef" in env["API_KEY"]["valueFrom"]
    assert "secretKeyRef" in env["PROJECT_ID"]["valueFrom"]


def test_render_fails_when_a_test_key_has_no_project_id(helm: Path) -> None:
    result = run_helm(helm, *template_args(sets=["tests.apiKey=k"]))

    assert result.returncode != 0
    assert "tests.projectId is required" in result.stderr


def test_schema_rejects_a_test_project_id_that_is_not_a_uuid(helm: Path) -> None:
    sets = ["tests.apiKey=k", "tests.projectId=my-site"]

    result = run_helm(helm, *template_args(sets=sets))

    assert result.returncode != 0
    assert "/tests/projectId" in result.stderr


def _notes(helm: Path, *sets: str) -> str:
    """NOTES.txt as `helm install` prints it, without a cluster."""
    args = ["install", "--dry-run=client", RELEASE, str(CHART_DIR)]
    for assignment in sets:
        args += ["--set", assignment]
    result = run_helm(helm, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.split("NOTES:", 1)[1]


def test_notes_tell_how_to_create_a_project_from_the_api_pod(helm: Path) -> None:
    notes = _notes(helm)

    assert f"exec deploy/{name_of('api')} -- ga4clone projects create" in notes
    assert "creates a throwaway project" in notes


def test_notes_say_the_test_posts_no_event_without_a_key_or_a_project(
    helm: Path,
) -> None:
    notes = _notes(helm, "tests.createProject=false")

    assert "posts no event" in notes


def test_notes_say_the_test_posts_an_event_when_a_key_is_set(helm: Path) -> None:
    notes = _notes(helm, "tests.existingSecret=ops-test")

    assert "posts one event with the configured write key" in notes
