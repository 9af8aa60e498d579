"""The `helm test` Pod: its wiring, and its script run against a stand-in API.

The script is taken from the rendered Pod and run with this interpreter. A
local HTTP server plays the API Service; a ``sitecustomize`` module swaps
:class:`ga4clone.projects.ProjectStore` for a recorder, so that the real
``ga4clone projects`` CLI prints what it prints in the cluster, without a
PostgreSQL behind it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ._helm import RELEASE, Manifest, RenderFn, container, env_of, name_of

pytestmark = pytest.mark.chart

_PROJECT_ID = "0b7c5d1e-8f3a-4c2b-9d6e-1a2b3c4d5e6f"
_WRITE_KEY = "ga4w_fake_write_key"
_SECRET_KEY = "ga4s_fake_secret_key"

_FAKE_STORE = f'''
"""Test double of ProjectStore for the `helm test` script (see test_helm_test_pod)."""

import json
import os
import uuid
from types import SimpleNamespace

import ga4clone.projects


class _RecordingStore:
    def __init__(self, dsn, max_connections=4):
        self._log = os.environ["FAKE_STORE_LOG"]

    def _record(self, *call):
        with open(self._log, "a") as log:
            log.write(json.dumps(call) + "\\n")

    def create(self, name, origins=()):
        self._record("create", name)
        return SimpleNamespace(
            id=uuid.UUID("{_PROJECT_ID}"),
            write_key="{_WRITE_KEY}",
            secret_key="{_SECRET_KEY}",
        )

    def disable(self, project_id):
        self._record("disable", str(project_id))

    def close(self):
        pass


ga4clone.projects.ProjectStore = _RecordingStore
'''


@dataclass
class _FakeApi:
    """What the stand-in API Service was asked, and the status POST answers."""

    post_status: int = 202
    posts: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)


@pytest.fixture
def fake_api() -> Iterator[tuple[_FakeApi, str]]:
    """A local HTTP server answering /ready, /health and POST /events."""
    state = _FakeApi()

    class _Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._answer(200 if self.path in ("/ready", "/health") else 404)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.posts.append((dict(self.headers), json.loads(body)))
            self._answer(state.post_status)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@dataclass(frozen=True)
class _Run:
    returncode: int
    output: str
    store_calls: list[list[str]]


def _run_script(pod: Manifest, api_url: str, tmp_path: Path, **extra_env: str) -> _Run:
    """Run the Pod's script with its plain env values, API_URL pointing at api_url."""
    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent(_FAKE_STORE))
    log = tmp_path / "store.jsonl"
    env = {
        name: entry["value"] for name, entry in env_of(pod).items() if "value" in entry
    }
    env |= {
        "API_URL": api_url,
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(tmp_path),
        "FAKE_STORE_LOG": str(log),
        **extra_env,
    }
    script = container(pod)["args"][0]

    # cwd is tmp_path so that Settings finds no .env.local of the developer.
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    calls = (
        [json.loads(line) for line in log.read_text().splitlines()]
        if log.exists()
        else []
    )
    return _Run(done.returncode, done.stdout + done.stderr, calls)


def _pod_with_a_configured_key(render: RenderFn) -> Manifest:
    """The test Pod of the app-settings case, which sets tests.apiKey inline."""
    return render(values=("app-settings",)).get("Pod", name_of("test"))


def test_default_test_pod_creates_a_project_with_the_apps_postgres_wiring(
    render: RenderFn,
) -> None:
    rendered = render()
    pod = rendered.get("Pod", name_of("test"))

    env = env_of(pod)
    api_env = env_of(rendered.get("Deployment", name_of("api")))

    assert env["CREATE_PROJECT"]["value"] == "true"
    assert container(pod)["envFrom"] == [
        {"configMapRef": {"name": f"{RELEASE}-ga4clone"}}
    ]
    assert (
        env["POSTGRES_PASSWORD"]["valueFrom"]
        == api_env["POSTGRES_PASSWORD"]["valueFrom"]
    )
    assert "RABBITMQ_PASSWORD" not in env
    assert "CLICKHOUSE_PASSWORD" not in env
    assert "API_KEY" not in env


def test_test_pod_reads_an_external_postgres_password_from_its_existing_secret(
    render: RenderFn,
) -> None:
    pod = render(values=("external-existing-secret",)).get("Pod", name_of("test"))

    password = env_of(pod)["POSTGRES_PASSWORD"]["valueFrom"]["secretKeyRef"]

    assert password == {"name": "ops-postgres", "key": "password"}


def test_test_pod_with_a_configured_key_gets_no_database_access(
    render: RenderFn,
) -> None:
    pod = _pod_with_a_configured_key(render)

    env = env_of(pod)

    assert env["CREATE_PROJECT"]["value"] == "false"
    assert "envFrom" not in container(pod)
    assert "POSTGRES_PASSWORD" not in env


def test_test_pod_without_project_creation_gets_no_database_access(
    render: RenderFn,
) -> None:
    pod = render("tests.createProject=false").get("Pod", name_of("test"))

    assert "envFrom" not in container(pod)
    assert "POSTGRES_PASSWORD" not in env_of(pod)


def test_test_pod_passes_extra_env_to_the_cli_when_it_creates_a_project(
    render: RenderFn,
) -> None:
    pod = render(
        "config.extraEnv[0].name=PGSSLMODE", "config.extraEnv[0].value=require"
    ).get("Pod", name_of("test"))

    assert env_of(pod)["PGSSLMODE"]["value"] == "require"


def test_script_posts_to_a_throwaway_project_and_disables_it(
    render: RenderFn, fake_api: tuple[_FakeApi, str], tmp_path: Path
) -> None:
    state, url = fake_api
    pod = render().get("Pod", name_of("test"))

    run = _run_script(pod, url, tmp_path)

    assert run.returncode == 0, run.output
    ((headers, event),) = state.posts
    assert headers["X-Api-Key"] == _WRITE_KEY
    assert event["projectId"] == _PROJECT_ID
    assert event["eventName"] == "helm_test"
    assert run.store_calls[0][0] == "create"
    assert run.store_calls[0][1].startswith("helm-test-")
    assert run.store_calls[1:] == [["disable", _PROJECT_ID]]
    assert _WRITE_KEY not in run.output
    assert _SECRET_KEY not in run.output


def test_script_fails_and_still_disables_the_project_when_the_post_is_refused(
    render: RenderFn, fake_api: tuple[_FakeApi, str], tmp_path: Path
) -> None:
    state, url = fake_api
    state.post_status = 401
    pod = render().get("Pod", name_of("test"))

    run = _run_script(pod, url, tmp_path)

    assert run.returncode == 1
    assert "POST /events answered 401" in run.output
    assert run.store_calls[-1] == ["disable", _PROJECT_ID]


def test_script_posts_with_the_configured_key_and_creates_no_project(
    render: RenderFn, fake_api: tuple[_FakeApi, str], tmp_path: Path
) -> None:
    state, url = fake_api
    pod = _pod_with_a_configured_key(render)
    project_id = "6f1c1f6e-2f43-4b59-9a43-3d2f8a9c1e01"

    # API_KEY and PROJECT_ID come from the test Secret in the cluster.
    run = _run_script(
        pod, url, tmp_path, API_KEY="ga4w_test_write_key", PROJECT_ID=project_id
    )

    assert run.returncode == 0, run.output
    ((headers, event),) = state.posts
    assert headers["X-Api-Key"] == "ga4w_test_write_key"
    assert event["projectId"] == project_id
    assert run.store_calls == []


def test_script_without_key_or_project_creation_checks_readiness_only(
    render: RenderFn, fake_api: tuple[_FakeApi, str], tmp_path: Path
) -> None:
    state, url = fake_api
    pod = render("tests.createProject=false").get("Pod", name_of("test"))

    run = _run_script(pod, url, tmp_path)

    assert run.returncode == 0, run.output
    assert "posted no event" in run.output
    assert state.posts == []
    assert run.store_calls == []
