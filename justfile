# doc-controller recipes. `just --list` shows them all; each README command has one here.

# Run the controller against the embedded sandbox API server with sample Documents (no cluster).
run:
    cargo run --example sandbox

# Run the whole test suite (unit, mocked reconcile, sandbox end-to-end).
test:
    cargo test --workspace --all-features

# The survival suite at full size (API server restarts, SIGKILLs, 429s, revoked RBAC, invalid
# Documents): what .ci/run adds to the test command; its figures are the README's "Survives faults".
survival:
    cargo test --all-features --test survival -- --ignored --nocapture

# Format, lint and test exactly as CI does.
ci:
    bash .ci/run

# Check formatting.
fmt:
    cargo fmt --all -- --check

# Lint every target and feature; warnings are errors.
lint:
    cargo clippy --workspace --all-targets --all-features -- -D warnings

# Regenerate docs/diagnosis.md from the catalogue of findings (a test fails when it is stale).
docs:
    DOC_CONTROLLER_BLESS=1 cargo test --test catalogue the_diagnosis_docs_are_generated_from_the_catalogue

# Regenerate yaml/crd.yaml from the Rust types (a test fails when it is stale).
crd:
    cargo run --bin crdgen > yaml/crd.yaml

# Install the CRD into the cluster of the current kubeconfig context.
install-crd:
    cargo run --bin crdgen | kubectl apply -f -

# Run the controller against the cluster of the current kubeconfig context.
run-cluster *ARGS:
    cargo run --bin doc-controller -- {{ARGS}}

# Build the container image, tagged with the crate's version as yaml/deployment.yaml names it.
docker-build:
    docker build -t doc-controller:$(cargo pkgid -p doc-controller | sed 's/.*[#@]//') .

# Deploy the restricted namespace, CRD, RBAC and the controller to the current cluster.
deploy:
    kubectl apply -k yaml/

# Apply the sample Document.
sample:
    kubectl apply -f yaml/instance-samuel.yaml

# Run every suite against a real cluster (each test in its own namespace; the ones that need the
# sandbox are listed as ignored, with their reason).
e2e-cluster KUBECONFIG:
    DOC_CONTROLLER_E2E_KUBECONFIG={{KUBECONFIG}} cargo test --workspace --all-features

# Benchmarks (release): `just bench` runs every scenario, `just bench convergence --n 200` one.
# On the embedded sandbox, or on DOC_CONTROLLER_E2E_KUBECONFIG's cluster; JSON in target/bench/.
bench SCENARIO="all" *ARGS="":
    cargo build --release --bin doc-controller --example bench
    if [ "{{SCENARIO}}" = all ]; then for s in convergence quiet scale memory cost sandbox; do ./target/release/examples/bench $s {{ARGS}} || exit 1; done; else ./target/release/examples/bench {{SCENARIO}} {{ARGS}}; fi

# The release build with debug info for profilers (`[profile.profiling]`): target/profiling/.
# FEATURES=jemalloc for jeprof heap profiles; without it for heaptrack and callgrind (README).
profile-build FEATURES="":
    cargo build --profile profiling --features "{{FEATURES}}" --bin doc-controller --example bench

# Narrated demo of one failure toggle on the sandbox: fault on, the numbers, fault off, recovery.
# `just demo list` lists the toggles; each demo takes about a minute and stops by itself.
demo TOGGLE:
    cargo build --bin doc-controller
    cargo run --example demo -- {{TOGGLE}}

# Every toggle's demo, one after the other (about 15 minutes).
demo-all:
    cargo build --bin doc-controller
    cargo run --example demo -- all
