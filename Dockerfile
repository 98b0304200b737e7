# Multi-stage build: compile with the full Rust toolchain, run on a distroless image as non-root.
# Build: `just docker-build` (docker build -t doc-controller:latest .)
FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin doc-controller

# distroless/cc has glibc and CA certificates, no shell, and runs as uid 65532 ("nonroot").
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/doc-controller /usr/local/bin/doc-controller
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/doc-controller"]
