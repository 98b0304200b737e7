# syntax=docker/dockerfile:1
# The doc-controller image: the release binary (`cargo build --release --locked`, linked against
# glibc) on distroless/cc, which has glibc, libgcc and CA certificates and no shell or package
# manager, run as the numeric non-root user 65532 (yaml/deployment.yaml's runAsUser).
#
#   just docker-build     # docker build -t doc-controller:<version> .
#
# Reproducible: the same commit and the same two base images give the same binary and the same
# layers.
# - The Rust toolchain is the exact release of the workspace's rust-version; dependencies are
#   the ones of Cargo.lock (--locked); the paths built into the binary (/src, the image's
#   CARGO_HOME) are the same on every build.
# - The base images are named by tag below, because a digest cannot be checked from where this
#   file is written. Pin both by digest for a release: look them up with
#     docker buildx imagetools inspect gcr.io/distroless/cc-debian12:nonroot
#     docker buildx imagetools inspect docker.io/library/rust:1.89.0-bookworm
#   and pass them (or write them into the ARG defaults), e.g.
#     --build-arg RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot@sha256:<digest>
#   Both are Debian 12: the binary needs no newer glibc than the runtime image has.
# - File and image timestamps come from the commit, not the clock (BuildKit 0.13 or newer):
#     docker buildx build --build-arg SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) \
#       --output type=docker,name=doc-controller:0.1.0,rewrite-timestamp=true .
# - Build from a clean checkout: COPY takes the working tree as it is (.dockerignore leaves out
#   target/ and .git/).
#
# Size (README, "The container image"): about 41 MiB uncompressed, the stripped binary (16 MiB)
# on the runtime image's Debian packages (about 25 MiB).
ARG RUST_IMAGE=docker.io/library/rust:1.89.0-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
# The symbol table is for profilers (README "Memory profiling"), not for the image.
RUN cargo build --release --locked --bin doc-controller \
    && strip --strip-all target/release/doc-controller

FROM ${RUNTIME_IMAGE}
COPY --from=build /src/target/release/doc-controller /usr/local/bin/doc-controller
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/doc-controller"]
