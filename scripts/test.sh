#!/usr/bin/env bash
# Run every test: set up the services, helm and the Docker image, then pytest.
# Extra arguments go to pytest (for example: -m "not image").
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$repo/scripts/setup.sh"
bash "$repo/.ci/install-helm.sh"
bash "$repo/.ci/build-image.sh"
cd "$repo"
exec .venv/bin/python -m pytest "$@"
