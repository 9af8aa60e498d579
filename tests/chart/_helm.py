"""Running helm and reading what it renders, for the chart tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = REPO_ROOT / "charts" / "ga4clone"
CI_VALUES_DIR = CHART_DIR / "ci"
RELEASE = "ga"
NAMESPACE = "analytics"

# Oldest and newest Kubernetes the chart claims (Chart.yaml kubeVersion) and
# kubernetes-validate ships schemas for.
OLDEST_KUBE = "1.27.0"
NEWEST_KUBE = "1.37.0"
KUBE_VERSIONS = (OLDEST_KUBE, NEWEST_KUBE)

KEDA_API = "keda.sh/v1alpha1"
MONITORING_API = "monitoring.coreos.com/v1"

# Extra API versions each case needs; the rest render with the defaults.
CASE_API_VERSIONS: dict[str, tuple[str, ...]] = {
    "keda": (KEDA_API,),
    "observability": (MONITORING_API,),
}

CASES = sorted(
    p.name.removesuffix("-values.yaml") for p in CI_VALUES_DIR.glob("*-values.yaml")
)

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Rendered:
    """The objects of one `helm template` run, with lookups by kind and name."""

    objects: list[Manifest]

    def of_kind(self, kind: str) -> list[Manifest]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def get(self, kind: str, name: str) -> Manifest:
        for obj in self.of_kind(kind):
            if obj["metadata"]["name"] == name:
                return obj
        names = [obj["metadata"]["name"] for obj in self.of_kind(kind)]
        raise AssertionError(f"no {kind} named {name!r}; rendered: {names}")

    def has(self, kind: str, name: str) -> bool:
        return any(obj["metadata"]["name"] == name for obj in self.of_kind(kind))


def find_helm() -> Path | None:
    local = REPO_ROOT / ".cache" / "bin" / "helm"
    if local.is_file() and os.access(local, os.X_OK):
        return local
    on_path = shutil.which("helm")
    return Path(on_path) if on_path else None


def run_helm(helm: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run helm in the repository root and capture its output."""
    return subprocess.run(
        [str(helm), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def template_args(
    values_files: Sequence[Path] = (),
    sets: Sequence[str] = (),
    api_versions: Sequence[str] = (),
    kube_version: str = NEWEST_KUBE,
) -> list[str]:
    """Arguments of `helm template` for the chart under test."""
    args = ["template", RELEASE, str(CHART_DIR), "--namespace", NAMESPACE]
    args += ["--kube-version", kube_version]
    for path in values_files:
        args += ["--values", str(path)]
    for assignment in sets:
        args += ["--set", assignment]
    for api in api_versions:
        args += ["--api-versions", api]
    return args


def parse_manifests(text: str) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


RenderFn = Callable[..., "Rendered"]


def render_case(
    render: RenderFn, case: str, kube_version: str = NEWEST_KUBE
) -> Rendered:
    """Render one ci/ values file with the API versions it needs."""
    return render(
        values=(case,),
        api_versions=CASE_API_VERSIONS.get(case, ()),
        kube_version=kube_version,
    )


def name_of(component: str) -> str:
    """Name the chart gives a component's objects in the test release."""
    return f"{RELEASE}-ga4clone-{component}"


def container(workload: Manifest, name: str | None = None) -> Manifest:
    """The named (or only) container of a Deployment, Job or Pod."""
    spec = workload["spec"]
    pod = spec["template"]["spec"] if "template" in spec else spec
    containers = pod["containers"]
    if name is None:
        assert len(containers) == 1
        return containers[0]
    return next(c for c in containers if c["name"] == name)


def pod_spec(workload: Manifest) -> Manifest:
    spec = workload["spec"]
    return spec["template"]["spec"] if "template" in spec else spec


def env_of(workload: Manifest) -> dict[str, Manifest]:
    """The env entries of a workload's only container, by name."""
    return {entry["name"]: entry for entry in container(workload).get("env", [])}
