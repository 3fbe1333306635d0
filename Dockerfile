# vexilla-proxy container image: one static musl binary on an empty base, run as UID 65532.
#
#   docker build -t vexilla-proxy .
#   docker run --rm -p 127.0.0.1:18000:18000 vexilla-proxy                  # built-in example flags
#   docker run --rm -e VEXILLA_UPSTREAM=http://flagr:18000 vexilla-proxy   # in front of a Flagr
#
# scripts/check-image.sh builds the final stage below from a binary built on the host with the
# same cargo command, and checks its size, user, health endpoint and HEALTHCHECK. It reads this
# file: keep the build stage's COPY lines plain (sources, then a destination) and the final
# stage's COPY lines in the form `COPY --from=build [--chown=...] /out/... <dest>`.

ARG RUST_IMAGE=rust:1-alpine

FROM ${RUST_IMAGE} AS build
# musl-dev: C runtime for ring's C and assembly parts; binutils: strip and readelf.
# hadolint ignore=DL3018
RUN apk add --no-cache musl-dev binutils
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY config ./config
COPY benches ./benches
# The musl target of the build machine's own architecture; musl binaries are static by default.
# The cache mounts keep the registry and compiled dependencies between builds (BuildKit, buildah).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    set -eu; \
    target="$(uname -m)-unknown-linux-musl"; \
    cargo build --release --locked --target "$target"; \
    install -D -m 0755 "target/$target/release/vexilla-proxy" /out/rootfs/vexilla-proxy; \
    strip /out/rootfs/vexilla-proxy; \
    case "$(readelf -d /out/rootfs/vexilla-proxy)" in \
      *NEEDED*) echo "vexilla-proxy is dynamically linked" >&2; exit 1 ;; \
    esac; \
    /out/rootfs/vexilla-proxy --check-config; \
    mkdir -p /out/rootfs/var/lib /out/data

FROM scratch
# The binary and /var/lib, owned by root; then an empty /var/lib/vexilla-proxy that the runtime
# user may write, for --snapshot-file (mount a volume over it to keep the snapshot).
COPY --from=build /out/rootfs/ /
COPY --from=build --chown=65532:65532 /out/data/ /var/lib/vexilla-proxy/
USER 65532:65532
# Inside a container every listener binds all interfaces; publish only what you need.
ENV VEXILLA_LISTEN=0.0.0.0:18000 \
    VEXILLA_WEBHOOK_LISTEN=0.0.0.0:18001 \
    VEXILLA_ADMIN_LISTEN=0.0.0.0:18002
# Evaluation API, webhook, admin (/live, /ready, /metrics).
EXPOSE 18000 18001 18002
# No shell or curl in the image: the binary probes its own /ready. It reads the admin address
# from VEXILLA_ADMIN_LISTEN, so change that address through the environment, not a flag.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/vexilla-proxy", "healthcheck"]
LABEL org.opencontainers.image.title="vexilla-proxy" \
      org.opencontainers.image.description="Sidecar answering Flagr's evaluation API locally" \
      org.opencontainers.image.licenses="Apache-2.0"
ENTRYPOINT ["/vexilla-proxy"]
