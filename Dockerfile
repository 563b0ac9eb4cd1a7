# syntax=docker/dockerfile:1
#
# Container image of elasticache-grpc.
#
#   docker build -t elasticache-grpc .
#   docker run --rm -p 50051:50051 -p 9090:9090 elasticache-grpc --emulator \
#     --listen 0.0.0.0:50051 --allow-unauthenticated
#
# Two stages: a Debian 12 (bookworm) Rust toolchain builds a locked release binary; a distroless
# Debian 12 image with only glibc, libgcc and CA certificates runs it as uid 65532. Builder and
# runtime must stay on the same Debian release: the binary links the builder's glibc.
# Needs BuildKit (the default builder since Docker 23) for the cache mounts.

FROM rust:1.95-slim-bookworm AS builder
# rust:*-slim has gcc and libc6-dev but no make, which tikv-jemalloc-sys runs to build jemalloc
# (aws-lc-sys and ring need only the C compiler). .ci/docker-build-check.sh installs this same
# list and runs the build below with only the image's tools on PATH. Unpinned: bookworm is a
# stable release, and a pinned version breaks once a point release replaces it.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Everything cargo needs (see .dockerignore for what stays out of the context).
COPY . .
# The cache mounts keep downloaded crates and compiled dependencies between builds, so a change to
# src/ recompiles only this crate. target/ lives in the cache, hence the copy out of it.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin elasticache-grpc \
 && install -D -m 0755 target/release/elasticache-grpc /out/elasticache-grpc

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/elasticache-grpc /usr/local/bin/elasticache-grpc
# distroless :nonroot runs as nonroot:nonroot (65532:65532); numeric, so runAsNonRoot can check it.
USER 65532:65532
# 50051: gRPC (health, reflection, the service). 9090: Prometheus /metrics.
EXPOSE 50051 9090
ENV ELASTICACHE_GRPC_METRICS_LISTEN=0.0.0.0:9090
ENTRYPOINT ["/usr/local/bin/elasticache-grpc"]
CMD ["--listen", "0.0.0.0:50051", "--log-format", "json"]
