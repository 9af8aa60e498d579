#!/usr/bin/env bash
# Make this machine ready to run or test ga4clone: install what is missing,
# start the services that are not running, and build the virtualenv.
#
# Debian 12 as root is assumed (the project's development and CI machines).
# A service that already answers on its port (a container, another install)
# is used as it is. Every step checks first, so running it again is safe.
#   ClickHouse  Debian's clickhouse-server, 127.0.0.1:9000 (native), :8123 (HTTP)
#   PostgreSQL  the machine's cluster, 127.0.0.1:5432
#   RabbitMQ    the machine's server, 127.0.0.1:5672
#   Python      .venv with the project and its test extras, editable
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf '[setup] %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for_port() {
    local name=$1 port=$2
    for _ in $(seq 1 120); do
        port_open "$port" && return 0
        sleep 0.5
    done
    log "error: $name did not open port $port"
    return 1
}

apt_install() {
    local missing=()
    for package in "$@"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
}

start_clickhouse() {
    port_open 9000 && return 0
    apt_install clickhouse-server clickhouse-client
    log "starting ClickHouse"
    mkdir -p /var/lib/clickhouse /var/log/clickhouse-server
    chown -R clickhouse:clickhouse /var/lib/clickhouse /var/log/clickhouse-server
    start-stop-daemon --start --quiet --oknodo --background \
        --chuid clickhouse:clickhouse --exec /usr/sbin/clickhouse-server \
        -- --config=/etc/clickhouse-server/config.xml
    wait_for_port ClickHouse 9000
}

start_postgres() {
    port_open 5432 && return 0
    apt_install postgresql
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
    wait_for_port PostgreSQL 5432
}

start_rabbitmq() {
    port_open 5672 && return 0
    apt_install rabbitmq-server
    log "starting RabbitMQ"
    rabbitmq-server -detached
    wait_for_port RabbitMQ 5672
}

build_venv() {
    if [ ! -x "$repo/.venv/bin/python" ]; then
        log "creating .venv"
        python3 -m venv "$repo/.venv"
    fi
    # Reinstall only when pyproject.toml changed since the last install.
    local stamp="$repo/.venv/.ga4clone-installed"
    if [ ! -f "$stamp" ] || [ "$repo/pyproject.toml" -nt "$stamp" ]; then
        log "installing the project into .venv"
        "$repo/.venv/bin/pip" install -q -e "$repo[test]"
        touch "$stamp"
    fi
}

start_clickhouse
start_postgres
start_rabbitmq
build_venv
log "ready"
