#!/usr/bin/env bash
# Run the whole pipeline on this machine: set up, migrate, create a first
# project when there is none (its keys are printed once), then the API on
# SERVER_PORT (8080) and the worker, until Ctrl-C (both then stop cleanly).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bash "$repo/scripts/setup.sh"
cd "$repo"

export CLICKHOUSE_HOST=${CLICKHOUSE_HOST:-127.0.0.1}
export POSTGRES_HOST=${POSTGRES_HOST:-127.0.0.1}
export RABBITMQ_HOST=${RABBITMQ_HOST:-127.0.0.1}

.venv/bin/ga4clone migrate
if [ -z "$(.venv/bin/ga4clone projects list)" ]; then
    echo "No project yet; creating one called 'local':"
    .venv/bin/ga4clone projects create --name local
fi
.venv/bin/ga4clone worker &
worker=$!
.venv/bin/ga4clone api &
api=$!
trap 'kill -TERM "$api" "$worker" 2>/dev/null; wait' INT TERM
wait -n "$api" "$worker"
kill -TERM "$api" "$worker" 2>/dev/null || true
wait
