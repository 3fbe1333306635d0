# vexilla-proxy container image (first cut: built and checked by hand is still to come, see
# README "Status"). Multi-stage: a static musl binary on an empty base, run as non-root.
FROM rust:1-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY config ./config
RUN cargo build --release --locked

FROM scratch
COPY --from=build /src/target/release/vexilla-proxy /vexilla-proxy
USER 65532:65532
ENV VEXILLA_LISTEN=0.0.0.0:18000
EXPOSE 18000 18001
ENTRYPOINT ["/vexilla-proxy"]
