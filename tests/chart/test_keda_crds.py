"""KEDA's CRDs are read from the folder CI or the developer names, in either
of the forms KEDA publishes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ._crds import (
    DEFAULT_KEDA_CRDS,
    KEDA_CRDS_ENV,
    CrdNotFound,
    crd_schema,
    keda_crds,
    keda_crds_dir,
    without_helm_actions,
)

pytestmark = pytest.mark.chart

_KINDS = ("ScaledObject", "TriggerAuthentication")

# The head and tail KEDA's chart puts around each generated CRD: optional as
# a whole, labels and annotations from values (templates/crds/crd-*.yaml).
_CHART_HEAD = """{{- if .Values.crds.install }}
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  annotations:
    controller-gen.kubebuilder.io/version: v0.16.5
    {{- if .Values.crds.additionalAnnotations }}
    {{- toYaml .Values.crds.additionalAnnotations | nindent 4 }}
    {{- end }}
  labels:
    app.kubernetes.io/name: {{ .Values.operator.name }}
    {{- include "keda.crd-labels" . | indent 4 }}
  name: %(name)s
"""
_CHART_TAIL = "{{- end }}\n"


def _generated(kind: str) -> dict[str, Any]:
    """The CRD of ``kind`` as the configured folder has it, actions taken out."""
    crd = keda_crds(keda_crds_dir()).get(kind)
    if crd is None:
        pytest.fail(f"no {kind} CRD in {keda_crds_dir()}; see test_validate.py")
    return crd


def _as_chart_template(crd: dict[str, Any]) -> str:
    head = _CHART_HEAD % {"name": crd["metadata"]["name"]}
    return head + yaml.safe_dump({"spec": crd["spec"]}) + _CHART_TAIL


def test_folder_is_the_environments_else_shared_beside_the_repo(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(KEDA_CRDS_ENV, raising=False)
    default = keda_crds_dir()
    monkeypatch.setenv(KEDA_CRDS_ENV, str(tmp_path))

    assert default == DEFAULT_KEDA_CRDS
    assert DEFAULT_KEDA_CRDS.parts[-2:] == ("shared", "k8s-schemas")
    assert keda_crds_dir() == tmp_path


def test_chart_templates_give_the_schemas_of_the_generated_crds(
    tmp_path: Path,
) -> None:
    # Given each CRD in both forms, under file names of each form,
    plain, chart = tmp_path / "bases", tmp_path / "keda" / "templates" / "crds"
    plain.mkdir()
    chart.mkdir(parents=True)
    for kind in _KINDS:
        crd = _generated(kind)
        plural = crd["spec"]["names"]["plural"]
        (plain / f"keda.sh_{plural}.yaml").write_text(yaml.safe_dump(crd))
        (chart / f"crd-{plural}.yaml").write_text(_as_chart_template(crd))

    # when each folder is read (the chart's from its root, as untarred),
    for kind in _KINDS:
        from_plain = crd_schema(plain, kind, "v1alpha1")
        from_chart = crd_schema(tmp_path / "keda", kind, "v1alpha1")

        # then both give the same schema, and a real one.
        assert from_chart == from_plain
        assert "spec" in from_chart["properties"]


def test_a_folder_without_the_kind_is_reported_as_such(tmp_path: Path) -> None:
    (tmp_path / "other.yaml").write_text("kind: ConfigMap\n")

    with pytest.raises(CrdNotFound, match="ScaledObject"):
        crd_schema(tmp_path, "ScaledObject", "v1alpha1")


def test_actions_alone_on_a_line_go_and_inline_ones_become_a_string() -> None:
    template = (
        "{{- if .Values.x }}\n"
        "metadata:\n"
        "  labels:\n"
        "    app: {{ .Values.name }}\n"
        '    {{- include "labels" . | indent 4 }}\n'
        "{{- end }}\n"
    )

    parsed = yaml.safe_load(without_helm_actions(template))

    assert parsed == {"metadata": {"labels": {"app": "helm-action"}}}


def test_an_action_over_several_lines_is_refused_rather_than_misread() -> None:
    with pytest.raises(ValueError, match="spans lines"):
        without_helm_actions("a: {{ if\n  .Values.x }}b{{ end }}\n")
