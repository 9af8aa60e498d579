"""KEDA's CustomResourceDefinitions, read from a folder, for checking KEDA objects.

The folder is $GA4CLONE_KEDA_CRDS, or ../shared/k8s-schemas beside the
repository. Two forms of the same CRDs are accepted, and a CRD is found by
its group and kind, whatever the file is called:

- as KEDA's repository generates them (config/crd/bases/keda.sh_*.yaml), the
  form of the copies in shared/;
- as KEDA's Helm chart ships them (templates/crds/crd-*.yaml), the form CI
  downloads: the same documents, wrapped in Helm actions that add labels and
  annotations and make the whole CRD optional.

Helm actions stand only on their own lines or as a label's value in those
templates; the schemas themselves are free of them, so taking the actions out
leaves each CRD as KEDA generated it.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from ._helm import REPO_ROOT

KEDA_CRDS_ENV = "GA4CLONE_KEDA_CRDS"
DEFAULT_KEDA_CRDS = REPO_ROOT.parent / "shared" / "k8s-schemas"
KEDA_GROUP = "keda.sh"

_ACTION = re.compile(r"\{\{.*?\}\}")
# Stands in for an action that gives a value, such as a label's.
_PLACEHOLDER = "helm-action"


class CrdNotFound(LookupError):
    """Raised when a folder holds no CRD of the kind and version asked for."""


def keda_crds_dir() -> Path:
    """Where KEDA's CRDs are read from; see the module docstring."""
    return Path(os.environ.get(KEDA_CRDS_ENV) or DEFAULT_KEDA_CRDS)


def without_helm_actions(text: str) -> str:
    """A Helm template's YAML with its actions taken out.

    A line made only of actions (``{{- if ... }}``, ``{{- end }}``,
    ``{{- include ... | nindent 4 }}``) is dropped; an action inside a line
    becomes a placeholder string.
    """
    lines = []
    for line in text.splitlines():
        if _ACTION.search(line) and not _ACTION.sub("", line).strip():
            continue
        lines.append(_ACTION.sub(_PLACEHOLDER, line))
    kept = "\n".join(lines)
    if "{{" in kept or "}}" in kept:
        raise ValueError("a Helm action spans lines; only one-line actions are read")
    return kept


def crd_schema(folder: Path, kind: str, version: str) -> dict[str, Any]:
    """The openAPIV3Schema of ``kind`` at ``version`` among the CRDs in ``folder``."""
    crd = keda_crds(folder).get(kind)
    if crd is None:
        raise CrdNotFound(f"no CRD of {KEDA_GROUP} kind {kind} in {folder}")
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version:
            return dict(entry["schema"]["openAPIV3Schema"])
    raise CrdNotFound(f"the {kind} CRD in {folder} has no version {version}")


@cache
def keda_crds(folder: Path) -> dict[str, dict[str, Any]]:
    """Every keda.sh CRD under ``folder``, by kind."""
    found = {}
    for path in sorted(folder.rglob("*.yaml")):
        text = path.read_text()
        if "CustomResourceDefinition" not in text:
            continue
        for doc in yaml.safe_load_all(without_helm_actions(text)):
            if _is_keda_crd(doc):
                found[doc["spec"]["names"]["kind"]] = doc
    return found


def _is_keda_crd(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and doc.get("kind") == "CustomResourceDefinition"
        and doc.get("spec", {}).get("group") == KEDA_GROUP
    )
