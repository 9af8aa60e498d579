"""Fixtures that render the Helm chart with the real helm binary.

Each distinct set of arguments is rendered once per session and the parsed
objects are shared between tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from ._helm import (
    CI_VALUES_DIR,
    NEWEST_KUBE,
    Rendered,
    RenderFn,
    find_helm,
    parse_manifests,
    run_helm,
    template_args,
)


@pytest.fixture(scope="session")
def helm() -> Path:
    """The helm binary; fails the run in CI, skips on a laptop without it."""
    found = find_helm()
    if found is None:
        reason = "helm not found: run `bash .ci/install-helm.sh` first"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


@pytest.fixture(scope="session")
def render(helm: Path) -> Iterator[RenderFn]:
    """Render the chart with extra values; results are cached per argument set."""
    cache: dict[tuple[Any, ...], Rendered] = {}

    def _render(
        *sets: str,
        values: Sequence[str] = (),
        api_versions: Sequence[str] = (),
        kube_version: str = NEWEST_KUBE,
    ) -> Rendered:
        key = (sets, tuple(values), tuple(api_versions), kube_version)
        if key not in cache:
            files = [CI_VALUES_DIR / f"{case}-values.yaml" for case in values]
            args = template_args(files, sets, api_versions, kube_version)
            result = run_helm(helm, *args)
            assert result.returncode == 0, result.stderr
            cache[key] = Rendered(parse_manifests(result.stdout))
        return cache[key]

    yield _render
