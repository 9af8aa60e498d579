# ga4clone: one image for the API, the worker and the migrations.
#
# Build on a laptop with any BuildKit-enabled Docker (the default since 23.0):
#
#   docker build -t ga4clone:dev .
#
# Behind a TLS-intercepting proxy, pip needs the proxy's CA bundle. Hand it in
# as a build secret; it is mounted for the pip steps only and never lands in a
# layer. Without the secret pip uses its own CA bundle:
#
#   docker build --secret id=cacert,src=/etc/ssl/certs/ca-certificates.crt .
#
# There is no `# syntax=` line on purpose: fetching a Dockerfile frontend image
# needs a registry, and the frontend built into Docker 20.10 and newer already
# understands `RUN --mount`. .ci/build-image.sh shows the CI invocation.

ARG BASE_IMAGE=debian:bookworm-slim

FROM ${BASE_IMAGE} AS builder

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*

RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src

# Dependencies first, read from pyproject.toml, so that a change to the code
# alone reuses this (slow) layer.
COPY pyproject.toml ./
RUN --mount=type=secret,id=cacert \
    if [ -s /run/secrets/cacert ]; then export PIP_CERT=/run/secrets/cacert; fi \
    && python3 -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# README and LICENSE are globs so that a tree without them still builds.
COPY pyproject.toml README* LICENSE* ./
COPY src ./src
RUN --mount=type=secret,id=cacert \
    if [ -s /run/secrets/cacert ]; then export PIP_CERT=/run/secrets/cacert; fi \
    && pip wheel --no-deps --wheel-dir /tmp/wheels . \
    && pip install --no-deps /tmp/wheels/*.whl \
    && pip uninstall -y pip setuptools \
    && python3 -m compileall -q -j 0 /opt/venv

FROM ${BASE_IMAGE} AS runtime

ARG VERSION=0.0.0+unknown
ARG REVISION=unknown
# TODO: the public repository address is not decided yet; .ci/build-image.sh
# passes the git remote when there is one. Set the real default once it exists.
ARG SOURCE=https://github.com/ga4clone/ga4clone

LABEL org.opencontainers.image.title="ga4clone" \
      org.opencontainers.image.description="Self-hosted event analytics pipeline: API, worker and migrations" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

# python3 only: the venv from the builder links to /usr/bin/python3, which is
# the same interpreter in both stages because they share BASE_IMAGE.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 tzdata \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
    && groupadd --gid 10001 ga4clone \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
        --shell /usr/sbin/nologin ga4clone

COPY --from=builder /opt/venv /opt/venv
COPY migrations /app/migrations

# A read-only root filesystem is the norm in the chart: nothing may write
# outside /tmp, so bytecode is compiled above and never written at run time.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    MIGRATIONS_DIR=/app/migrations

WORKDIR /app
USER 10001:10001
EXPOSE 8080 9100

ENTRYPOINT ["ga4clone"]
CMD ["api"]
