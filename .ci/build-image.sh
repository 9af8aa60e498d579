#!/usr/bin/env bash
# Build the ga4clone:ci image on a machine that reaches Debian's mirror and
# PyPI but no container registry.
#
# 1. Install docker.io and debootstrap when missing; start dockerd when no
#    engine answers.
# 2. Bootstrap Debian bookworm (minbase) from the mirror apt uses here and
#    import it as ga4clone-base:bookworm, once.
# 3. Build the Dockerfile on top of that base as ga4clone:ci.
#
# Safe to run again: each step is skipped when its result is already there.
# Environment: IMAGE (default ga4clone:ci), BASE_IMAGE (default
# ga4clone-base:bookworm), CACERT (CA bundle handed to pip as a build secret,
# default /etc/ssl/certs/ca-certificates.crt when it exists).
set -euo pipefail

IMAGE=${IMAGE:-ga4clone:ci}
BASE_IMAGE=${BASE_IMAGE:-ga4clone-base:bookworm}
CACERT=${CACERT:-/etc/ssl/certs/ca-certificates.crt}
SUITE=bookworm
DOCKERD_LOG=${DOCKERD_LOG:-/tmp/ga4clone-dockerd.log}
REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# The bootstrap tree, removed on exit even when a step fails.
ROOTFS=""
cleanup() {
    if [ -n "$ROOTFS" ]; then
        rm -rf "$ROOTFS"
    fi
}
trap cleanup EXIT

log() { printf '[build-image] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Run a step and print how long it took.
timed() {
    local name=$1 start=$SECONDS
    shift
    "$@"
    log "$name took $((SECONDS - start)) s"
}

install_tools() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    [ ${#missing[@]} -eq 0 ] && return 0

    log "installing ${missing[*]}"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        "${missing[@]}" >/dev/null
}

start_dockerd() {
    if docker info >/dev/null 2>&1; then
        return 0
    fi

    log "starting dockerd (log: $DOCKERD_LOG)"
    nohup dockerd >"$DOCKERD_LOG" 2>&1 &
    local _
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && return 0
        sleep 1
    done
    tail -n 20 "$DOCKERD_LOG" >&2 || true
    die "dockerd did not answer within 60 s"
}

# The first Debian mirror in apt's sources (deb822 or one-line format).
debian_mirror() {
    local mirror
    mirror=$(
        cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources \
            /etc/apt/sources.list.d/*.list 2>/dev/null \
            | grep -oE 'https?://[^ ]+/debian/?( |$)' | head -n 1 | tr -d ' '
    ) || true
    echo "${mirror:-http://deb.debian.org/debian}"
}

build_base() {
    if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        log "$BASE_IMAGE is present, not bootstrapping"
        return 0
    fi

    local mirror
    mirror=$(debian_mirror)
    ROOTFS=$(mktemp -d /var/tmp/ga4clone-rootfs.XXXXXX)
    log "bootstrapping $SUITE (minbase) from $mirror"
    debootstrap --variant=minbase "$SUITE" "$ROOTFS" "$mirror" >/dev/null

    add_update_sources "$ROOTFS" "$mirror"
    slim_rootfs "$ROOTFS"
    # Security and point-release fixes published after the release.
    chroot "$ROOTFS" sh -c 'apt-get update -q && apt-get upgrade -y -q' >/dev/null
    clean_rootfs "$ROOTFS"
    tar --numeric-owner -C "$ROOTFS" -c . | docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["/bin/bash"]' \
        - "$BASE_IMAGE" >/dev/null
    rm -rf "$ROOTFS"
}

# debootstrap writes only the release itself into sources.list; add the
# updates and security suites, as the Debian images on Docker Hub have them.
add_update_sources() {
    local rootfs=$1 mirror=${2%/}
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $mirror-security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
}

# Trim the bootstrapped tree the way the slim Debian images are trimmed:
# no documentation, manuals or translations now or from later installs.
slim_rootfs() {
    local rootfs=$1
    cat >"$rootfs/etc/dpkg/dpkg.cfg.d/ga4clone-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
}

# Remove what apt and dpkg leave behind that no image needs.
clean_rootfs() {
    local rootfs=$1
    find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
    find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
    rm -rf "$rootfs"/usr/share/{man,info,locale,lintian}/* \
        "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin \
        "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/var/log/*.log "$rootfs"/var/cache/debconf/*-old
}

# Print the docker client command that can build with BuildKit, which the
# Dockerfile's secret mount needs. Debian's docker.io 20.10 client builds with
# BuildKit itself; newer clients need the buildx plugin.
buildkit_client() {
    local client version
    for client in docker /usr/bin/docker; do
        command -v "$client" >/dev/null || continue
        if "$client" buildx version >/dev/null 2>&1; then
            echo "$client buildx build --load"
            return 0
        fi
        version=$("$client" version --format '{{.Client.Version}}' 2>/dev/null) || continue
        if [[ $version == 20.* || $version == 19.03.* ]]; then
            echo "env DOCKER_BUILDKIT=1 $client build"
            return 0
        fi
    done
    die "no docker client here builds with BuildKit: install docker buildx"
}

build_app() {
    local build args=()
    build=$(buildkit_client)
    if [ -s "$CACERT" ]; then
        args+=(--secret "id=cacert,src=$CACERT")
    fi
    args+=(--build-arg "VERSION=$(app_version)")
    args+=(--build-arg "REVISION=$(git -C "$REPO_ROOT" rev-parse --verify -q HEAD 2>/dev/null || echo unknown)")
    local source
    if source=$(git -C "$REPO_ROOT" remote get-url origin 2>/dev/null); then
        args+=(--build-arg "SOURCE=$source")
    fi

    log "building $IMAGE on $BASE_IMAGE with: $build"
    # shellcheck disable=SC2086  # $build is a command with its arguments
    $build --progress=plain --network host \
        --build-arg "BASE_IMAGE=$BASE_IMAGE" "${args[@]}" \
        --tag "$IMAGE" "$REPO_ROOT"
}

app_version() {
    python3 -c 'import tomllib, sys
print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' \
        "$REPO_ROOT/pyproject.toml" 2>/dev/null || echo 0.0.0+unknown
}

main() {
    local start=$SECONDS
    timed "tool install" install_tools
    timed "dockerd start" start_dockerd
    timed "base image" build_base
    timed "app image" build_app
    local size
    size=$(docker image inspect --format '{{.Size}}' "$IMAGE")
    log "$IMAGE is $((size / 1000 / 1000)) MB; all steps took $((SECONDS - start)) s"
}

main "$@"
