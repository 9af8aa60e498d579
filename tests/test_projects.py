"""The project store and the ``ga4clone projects`` command against PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from ga4clone.projects import (
    ProjectNotFound,
    ProjectStore,
    StreamExists,
    VerifiedStream,
    token_digest,
)
from ga4clone.settings import Settings
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


@pytest.fixture
def store(migrated: Settings) -> Iterator[ProjectStore]:
    store = ProjectStore(migrated.postgres_dsn, max_connections=2)
    yield store
    store.close()


def test_a_created_project_verifies_both_keys_by_kind(store: ProjectStore) -> None:
    created = store.create("shop", ["https://shop.example"])

    write = store.verify_write_key(created.write_key)
    secret = store.verify_secret_key(created.secret_key)

    assert write is not None and write.project_id == created.id
    assert write.allowed_origins == {"https://shop.example"}
    assert secret is not None and secret.kind == "secret"
    assert store.verify_write_key(created.secret_key) is None


def test_keys_are_stored_only_as_digests(store: ProjectStore, postgres: Any) -> None:
    created = store.create("digests")

    with postgres.cursor() as cur:
        cur.execute(
            "SELECT key_hash, key_prefix FROM project_keys WHERE project_id = %s",
            (str(created.id),),
        )
        rows = cur.fetchall()

    hashes = {bytes(row[0]) for row in rows}
    assert hashes == {token_digest(created.write_key), token_digest(created.secret_key)}
    assert all(created.write_key not in row[1] for row in rows)


def test_rotating_a_key_revokes_the_old_one_and_keeps_history(
    store: ProjectStore, postgres: Any
) -> None:
    created = store.create("rotate")

    new_key = store.rotate_key(created.id, "write")

    assert store.verify_key(created.write_key) is None
    assert store.verify_key(new_key) is not None
    with postgres.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM project_keys"
            " WHERE project_id = %s AND kind = 'write'",
            (str(created.id),),
        )
        assert cur.fetchone()[0] == 2


def test_a_disabled_project_has_no_valid_keys_and_no_origins(
    store: ProjectStore,
) -> None:
    created = store.create("disable", ["https://gone.example"])

    store.disable(created.id)

    assert store.verify_key(created.write_key) is None
    assert "https://gone.example" not in store.allowed_origins()


def test_unknown_projects_are_reported(store: ProjectStore) -> None:
    with pytest.raises(ProjectNotFound):
        store.rotate_key(uuid.uuid4(), "write")
    with pytest.raises(ProjectNotFound):
        store.set_origins(uuid.uuid4(), [])


def test_stream_secrets_verify_only_for_their_stream(store: ProjectStore) -> None:
    created = store.create("streams")
    measurement_id = f"G-{uuid.uuid4().hex[:10].upper()}"

    stream = store.create_stream(created.id, measurement_id, "WEB")

    assert store.verify_stream_secret(
        measurement_id, stream.api_secret
    ) == VerifiedStream(created.id, stream.id, "WEB")
    assert store.verify_stream_secret(measurement_id, "wrong") is None
    assert store.verify_stream_secret("G-OTHER", stream.api_secret) is None


def test_streams_are_listed_oldest_first_with_every_secret(
    store: ProjectStore,
) -> None:
    created = store.create("listing")
    web = store.create_stream(created.id, f"G-{uuid.uuid4().hex[:10].upper()}")
    app = store.create_stream(created.id, f"1:1:ios:{uuid.uuid4().hex}", "IOS")
    added = store.add_stream_secret(web.measurement_id)
    store.revoke_stream_secret(added.id)

    listed = store.streams(created.id)

    assert [(s.id, s.platform) for s in listed] == [(web.id, "WEB"), (app.id, "IOS")]
    assert listed[0].secrets[1].id == added.id
    assert [x.revoked_at is None for x in listed[0].secrets] == [True, False]
    assert [x.prefix for x in listed[1].secrets] == [app.api_secret[:12]]


def test_a_revoked_secret_no_longer_verifies(store: ProjectStore) -> None:
    created = store.create("revoke")
    stream = store.create_stream(created.id, f"G-{uuid.uuid4().hex[:10].upper()}")
    added = store.add_stream_secret(stream.measurement_id)

    revoked = store.revoke_stream_secret(added.id)

    assert store.verify_stream_secret(stream.measurement_id, added.api_secret) is None
    assert store.verify_stream_secret(stream.measurement_id, stream.api_secret)
    assert (revoked.measurement_id, revoked.active_left) == (stream.measurement_id, 1)


def test_a_measurement_id_names_one_stream_only(store: ProjectStore) -> None:
    first, second = store.create("first"), store.create("second")
    measurement_id = f"G-{uuid.uuid4().hex[:10].upper()}"
    store.create_stream(first.id, measurement_id)

    with pytest.raises(StreamExists):
        store.create_stream(second.id, measurement_id)
    assert store.streams(second.id) == ()


def test_unknown_streams_and_secrets_are_reported(store: ProjectStore) -> None:
    with pytest.raises(ProjectNotFound):
        store.streams(uuid.uuid4())
    with pytest.raises(ProjectNotFound):
        store.add_stream_secret("G-NOSUCHSTREAM")
    with pytest.raises(ProjectNotFound):
        store.revoke_stream_secret(2**62)


def test_leases_never_hand_out_more_than_the_burst(store: ProjectStore) -> None:
    project = uuid.uuid4()

    grants = [store.lease_tokens(project, 40, 0.001, 100) for _ in range(4)]

    assert grants == [40, 40, 20, 0]


def test_the_cli_creates_lists_and_disables_projects(migrated: Settings) -> None:
    env = {
        "POSTGRES_HOST": migrated.postgres_host,
        "POSTGRES_DB": migrated.postgres_db,
        "PATH": "/usr/bin:/bin",
    }

    def run(*args: str) -> str:
        return subprocess.run(
            [sys.executable, "-m", "ga4clone", "projects", *args],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    created = run("create", "--name", "cli", "--origin", "https://cli.example")
    project_id = created.split()[2]
    run("add-stream", project_id, "--measurement-id", f"G-{project_id[:8].upper()}")
    rotated = run("rotate-key", project_id, "--kind", "secret")
    run("disable", project_id)
    listed = run("list")

    assert "write key:   ga4w_" in created
    assert "secret key:  ga4s_" in created
    assert "new secret key: ga4s_" in rotated
    assert f"{project_id}  disabled" in listed
    assert "https://cli.example" in listed
