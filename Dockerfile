# syntax=docker/dockerfile:1
#
# Orchestrator (orchestratord) container image.
#
# NOT TESTED: no Docker engine runs on the project's build machines, so this file has
# never been built there. Treat it as a starting point (see docs/deployment.md#docker).
#
#   docker build -t orchestrator .
#   docker run --rm -p 8000:8000 --stop-timeout 40 -v orchestrator-data:/app/data \
#     -v "$PWD/my-orchestrator.yaml:/app/orchestrator.yaml:ro" -e ORCH_ADMIN_KEY orchestrator
#
# The container binds 0.0.0.0 (ORCH_HOST below). That is not a loopback address, so
# with no client keys configured every /v1 request answers 401: anonymous access is
# allowed only on loopback. Mount a config whose `keys:` section declares client keys.

# The lowest dependency versions Package.swift allows (hummingbird, async-http-client,
# swift-log, ...) declare swift-tools-version 6.2, so the build needs Swift 6.2 or newer.
ARG SWIFT_IMAGE=swift:6.2-bookworm

# ---------------------------------------------------------------- build stage
FROM ${SWIFT_IMAGE} AS build

RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get update -q \
 && apt-get install -y -q --no-install-recommends libsqlite3-dev libmariadb-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /build
# The whole package (Tests/ included: the manifest declares the test targets, and SwiftPM
# checks that their folders exist). .dockerignore keeps build outputs and data out.
COPY . .
# scripts/build-release.sh: the Swift libraries (stdlib, Concurrency, Foundation with its
# ICU data, Dispatch) linked into the binary, so the runtime image needs no Swift
# runtime, relative relocations packed (DT_RELR, glibc ≥ 2.36 as in bookworm) and the
# executable's symbols not exported, so the process keeps fewer pages resident (see
# docs/performance.md).
RUN bin="$(scripts/build-release.sh)" && install -D -m 0755 "$bin" /staging/orchestratord

# ---------------------------------------------------------------- runtime stage
FROM debian:bookworm-slim

RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get update -q \
 && apt-get install -y -q --no-install-recommends \
      libsqlite3-0 libmariadb3 ca-certificates libstdc++6 zlib1g \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --system --user-group --uid 10001 --home-dir /app --shell /usr/sbin/nologin orchestrator \
 && mkdir -p /app/data \
 && chown orchestrator:orchestrator /app/data

WORKDIR /app
COPY --from=build /staging/orchestratord /usr/local/bin/orchestratord
COPY orchestrator.yaml /app/orchestrator.yaml

# Listen on every interface inside the container (see the note at the top about keys).
ENV ORCH_HOST=0.0.0.0
EXPOSE 8000
# SQLite database (sqlite://./data/orchestrator.db from /app) and, when ORCH_SECRET_KEY
# is not set, its .key file: keep this volume.
VOLUME /app/data

USER orchestrator
# SIGTERM drains in-flight requests for server.shutdown_grace_s (30 s by default):
# run with `docker run --stop-timeout 40` or the equivalent.
ENTRYPOINT ["orchestratord"]
CMD ["serve", "--config", "/app/orchestrator.yaml"]
