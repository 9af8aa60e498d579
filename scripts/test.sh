#!/usr/bin/env bash
# Run every test: set up the services, helm and the Docker image, then pytest.
# Extra arguments go to pytest (for example: -m "not fault"). With
# GA4CLONE_SKIP_IMAGE=1 no image is built; deselect the image tests then
# (-m "not image"), as they fail under CI=true without it.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$repo/scripts/setup.sh"
bash "$repo/.ci/install-helm.sh"
if [ "${GA4CLONE_SKIP_IMAGE:-0}" != 1 ]; then
    bash "$repo/.ci/build-image.sh"
fi
cd "$repo"
exec .venv/bin/python -m pytest "$@"
