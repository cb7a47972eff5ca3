# syntax=docker/dockerfile:1
#
# salla-odoo: one image with the three binaries (salla-odoo-ingest, salla-odoo-worker, salla-odoo).
#
#   docker build -t salla-odoo .                          # the runtime image (the default target)
#   docker build -t salla-odoo-odoo-sandbox --target odoo-sandbox .   # the Odoo stand-in, for trying it
#
#   docker run salla-odoo                                 # the ingest on 0.0.0.0:8080 (CMD)
#   docker run salla-odoo salla-odoo-worker --metrics-listen 0.0.0.0:9090
#   docker run salla-odoo salla-odoo migrate              # once per release, before new workers
#
# Configuration comes only from the environment (REDIS_URL, DATABASE_URL, SALLA_ODOO__…; see
# config/default.toml, compiled into the binaries) or a file given with SALLA_ODOO_CONFIG.
# deploy/compose.yaml and deploy/kubernetes/ run this image; tests/tests/deploy_manifests.rs
# checks this file and runs the binaries with only the environment given here and there.

# The workspace's rust-version (Cargo.toml); the build is the Makefile's, with the lock file.
ARG RUST_VERSION=1.94

FROM rust:${RUST_VERSION}-slim-bookworm AS builder
WORKDIR /src
COPY . .
# The registry and target/ are cache mounts (kept between builds, not in the image): the binaries
# are copied out of target/ in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p salla-odoo-cli -p salla-odoo-ingest -p salla-odoo-worker \
    && mkdir -p /out \
    && cp target/release/salla-odoo target/release/salla-odoo-ingest target/release/salla-odoo-worker /out/

# Built only for `--target odoo-sandbox` (BuildKit skips stages the target does not need).
FROM builder AS sandbox-builder
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p odoo-sandbox \
    && cp target/release/odoo-sandbox /out/

# Slim base for both runtime images: CA certificates (Salla's API and merchants' Odoo over HTTPS)
# and an unprivileged user, uid 10001 (numeric, so Kubernetes' runAsNonRoot can check it).
FROM debian:bookworm-slim AS base
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 salla-odoo \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/salla-odoo \
       --shell /usr/sbin/nologin salla-odoo \
    && mkdir -p /var/lib/salla-odoo \
    && chown 10001:10001 /var/lib/salla-odoo
WORKDIR /var/lib/salla-odoo

# The in-memory Odoo server of the tests (compose profile "sandbox"). Not for production.
FROM base AS odoo-sandbox
COPY --from=sandbox-builder /out/odoo-sandbox /usr/local/bin/odoo-sandbox
USER 10001:10001
EXPOSE 8069
CMD ["odoo-sandbox", "--listen", "0.0.0.0:8069", "--version", "18"]

# The runtime image (the last stage: what `docker build .` makes).
FROM base AS runtime
COPY --from=builder /out/salla-odoo /out/salla-odoo-ingest /out/salla-odoo-worker /usr/local/bin/
ENV SALLA_ODOO__LOG__FORMAT=json
USER 10001:10001
# 8080: the ingest's webhooks, /healthz, /readyz (and /metrics unless
# SALLA_ODOO__INGEST__METRICS_LISTEN moves it, e.g. to 0.0.0.0:9100);
# 9090: a worker's /metrics and /healthz (with --metrics-listen 0.0.0.0:9090).
EXPOSE 8080 9090 9100
# The image has no curl or wget: bash's /dev/tcp asks GET /healthz and wants a 200. It checks the
# ingest on 8080; a container running a worker sets HEALTHCHECK_PORT=9090 (deploy/compose.yaml
# does). Kubernetes ignores HEALTHCHECK: the manifests have their own probes.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
    CMD bash -c 'exec 3<>"/dev/tcp/127.0.0.1/${HEALTHCHECK_PORT:-8080}" && printf "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n" >&3 && IFS= read -r -t 4 status <&3 && [[ "$status" == "HTTP/1.1 200 "* ]]'
CMD ["salla-odoo-ingest", "--listen", "0.0.0.0:8080"]
