"""The GitHub workflow gives the chart tests what they need off this machine."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from ._crds import KEDA_CRDS_ENV
from ._helm import REPO_ROOT

pytestmark = pytest.mark.chart

_WORKFLOW = REPO_ROOT / ".github" / "workflows" / "ci.yml"
_KEDA_PIN = "k8s-tests/keda-chart-version"


def _steps(job: str) -> list[dict[str, Any]]:
    workflow = yaml.safe_load(_WORKFLOW.read_text())
    steps: list[dict[str, Any]] = workflow["jobs"][job]["steps"]
    return steps


def _index(steps: list[dict[str, Any]], text: str) -> int:
    return next(i for i, step in enumerate(steps) if text in step.get("run", ""))


def test_chart_tests_get_keda_crds_of_the_release_k8s_tests_installs() -> None:
    steps = _steps("ci")

    fetch = _index(steps, KEDA_CRDS_ENV)
    tests = _index(steps, "scripts/test.sh")

    script = steps[fetch]["run"]
    assert fetch < tests
    assert f"cat {_KEDA_PIN}" in script
    assert "helm pull keda --repo https://kedacore.github.io/charts" in script
    assert "templates/crds" in script
    assert '"$GITHUB_ENV"' in script
    conftest = (REPO_ROOT / "k8s-tests" / "conftest.py").read_text()
    assert '"keda-chart-version"' in conftest
    assert (REPO_ROOT / _KEDA_PIN).read_text().strip().count(".") == 2


def test_chart_testing_lints_against_main_without_a_version_bump_check() -> None:
    (lint,) = [s["run"] for s in _steps("chart-lint") if "ct lint" in s.get("run", "")]

    assert "--target-branch main" in lint
    assert "--check-version-increment=false" in lint
