"""``ga4clone projects`` streams and api_secrets, through main() and PostgreSQL."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ga4clone.cli import main
from ga4clone.projects import CreatedStream, ProjectStore
from ga4clone.settings import Settings
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Ran:
    """What one command printed, and its exit code."""

    code: int
    out: str
    err: str


Cli = Callable[..., Ran]


@pytest.fixture
def cli(
    migrated: Settings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> Cli:
    """Runs ``ga4clone projects ...`` in-process against the test database."""
    for name, value in migrated.environment().items():
        monkeypatch.setenv(name, value)
    # Away from the checkout, whose .env.local (if any) must not be read.
    monkeypatch.chdir(tmp_path)

    def run(*args: str) -> Ran:
        try:
            code = main(["projects", *args])
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    return run


@pytest.fixture
def store(migrated: Settings) -> Iterator[ProjectStore]:
    projects = ProjectStore(migrated.postgres_dsn, max_connections=1)
    yield projects
    projects.close()


@pytest.fixture
def stream(store: ProjectStore) -> CreatedStream:
    project = store.create(f"cli-{uuid.uuid4().hex[:6]}")
    return store.create_stream(project.id, f"G-{uuid.uuid4().hex[:10].upper()}")


def secret_ids(listing: str) -> list[int]:
    return [int(found) for found in re.findall(r"api_secret (\d+)", listing)]


def first_secret_id(store: ProjectStore, stream: CreatedStream) -> int:
    [listed] = store.streams(stream.project_id)
    return listed.secrets[0].id


def test_streams_lists_each_stream_with_its_secret_ids_and_no_secret(
    cli: Cli, stream: CreatedStream
) -> None:
    added = cli("add-secret", stream.measurement_id)
    new_secret = added.out.split("api_secret:")[1].split()[0]

    listed = cli("streams", str(stream.project_id))

    assert listed.code == 0
    assert f"{stream.measurement_id}  WEB" in listed.out
    assert str(stream.id) in listed.out
    assert len(secret_ids(listed.out)) == 2
    assert stream.api_secret not in listed.out
    assert new_secret not in listed.out
    assert "revoked" not in listed.out


def test_an_added_secret_is_printed_once_and_verifies_beside_the_first(
    cli: Cli, store: ProjectStore, stream: CreatedStream
) -> None:
    added = cli("add-secret", stream.measurement_id)

    new_secret = added.out.split("api_secret:")[1].split()[0]
    assert added.code == 0
    assert new_secret.startswith("ga4m_")
    assert store.verify_stream_secret(stream.measurement_id, new_secret) is not None
    assert store.verify_stream_secret(stream.measurement_id, stream.api_secret)


def test_a_revoked_secret_stops_verifying_and_is_listed_as_revoked(
    cli: Cli, store: ProjectStore, stream: CreatedStream
) -> None:
    added = cli("add-secret", stream.measurement_id)
    new_secret = added.out.split("api_secret:")[1].split()[0]
    old_id = first_secret_id(store, stream)

    revoked = cli("revoke-secret", str(old_id))

    assert revoked.code == 0
    assert "KEY_CACHE_TTL_S" in revoked.out
    assert "no active api_secret" not in revoked.out
    assert store.verify_stream_secret(stream.measurement_id, stream.api_secret) is None
    assert store.verify_stream_secret(stream.measurement_id, new_secret) is not None
    listed = cli("streams", str(stream.project_id)).out
    [old_line] = [line for line in listed.splitlines() if f" {old_id} " in line]
    assert "revoked 2" in old_line


def test_revoking_the_last_active_secret_warns_that_none_is_left(
    cli: Cli, store: ProjectStore, stream: CreatedStream
) -> None:
    revoked = cli("revoke-secret", str(first_secret_id(store, stream)))

    assert revoked.code == 0
    assert f"{stream.measurement_id} has no active api_secret left" in revoked.out


def test_revoking_twice_keeps_the_first_revocation_time(
    cli: Cli, store: ProjectStore, stream: CreatedStream
) -> None:
    secret_id = first_secret_id(store, stream)
    cli("revoke-secret", str(secret_id))
    [before] = store.streams(stream.project_id)

    again = cli("revoke-secret", str(secret_id))

    [after] = store.streams(stream.project_id)
    assert again.code == 0
    assert after.secrets[0].revoked_at == before.secrets[0].revoked_at is not None


def test_a_project_without_streams_says_so(cli: Cli, store: ProjectStore) -> None:
    project = store.create("no streams")

    listed = cli("streams", str(project.id))

    assert listed.code == 0
    assert listed.out == f"project {project.id} has no streams\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("streams", "5f0c8a52-8d47-4a8e-9c43-1b6f5d2e7a90"), "no project 5f0c8a52"),
        (("add-secret", "G-NOSUCHONE"), "no stream named 'G-NOSUCHONE'"),
        (("revoke-secret", "9000000000000"), "no api_secret with id 9000000000000"),
    ],
)
def test_unknown_ids_exit_1_with_a_message_and_no_traceback(
    cli: Cli, args: tuple[str, ...], message: str
) -> None:
    ran = cli(*args)

    assert ran.code == 1
    assert ran.err.startswith("ga4clone projects: ")
    assert message in ran.err
    assert "Traceback" not in ran.err
    assert ran.out == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("streams", "not-a-uuid"), "invalid UUID value"),
        (("revoke-secret", "abc"), "not an api_secret id: 'abc'"),
        (("revoke-secret", "0"), "not an api_secret id: '0'"),
        (("revoke-secret", str(2**63)), "not an api_secret id"),
    ],
)
def test_malformed_ids_are_usage_errors(
    cli: Cli, args: tuple[str, ...], message: str
) -> None:
    ran = cli(*args)

    assert ran.code == 2
    assert message in ran.err
    assert "Traceback" not in ran.err


def test_a_measurement_id_of_another_stream_is_refused_without_traceback(
    cli: Cli, store: ProjectStore, stream: CreatedStream
) -> None:
    other = store.create("other")

    ran = cli("add-stream", str(other.id), "--measurement-id", stream.measurement_id)

    assert ran.code == 1
    assert f"a stream named {stream.measurement_id!r} exists" in ran.err
    assert "Traceback" not in ran.err


def test_the_installed_command_reports_an_unknown_secret_on_stderr(
    migrated: Settings,
) -> None:
    env = {
        "POSTGRES_HOST": migrated.postgres_host,
        "POSTGRES_DB": migrated.postgres_db,
        "PATH": "/usr/bin:/bin",
    }

    ran = subprocess.run(
        [sys.executable, "-m", "ga4clone", "projects", "revoke-secret", "8999999999"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    assert ran.returncode == 1
    assert ran.stderr == "ga4clone projects: no api_secret with id 8999999999\n"
    assert ran.stdout == ""
