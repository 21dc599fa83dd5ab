# The rustniffer agent image: the binary is built in a Rust stage (the default build has
# no system library beyond the C library) and copied alone into a small Debian image.
#
#   docker build -t rustniffer .
#   docker run --rm --network host --cap-drop ALL --cap-add NET_RAW rustniffer -i any --connections
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY build.rs ./
COPY bench ./bench
COPY samples ./samples
# `--build-arg FEATURES=otlp` for OpenTelemetry export (--otlp-endpoint, docs/otlp.md).
ARG FEATURES=""
RUN cargo build --release --locked --bin rustniffer --features "$FEATURES" \
    && strip target/release/rustniffer

FROM debian:bookworm-slim
COPY --from=build /src/target/release/rustniffer /usr/local/bin/rustniffer
ENTRYPOINT ["/usr/local/bin/rustniffer"]
CMD ["-i", "any", "-q", "--json", "--connections", "--metrics-listen", "0.0.0.0:9464"]
