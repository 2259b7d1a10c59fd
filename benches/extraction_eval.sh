#!/usr/bin/env bash
# Extraction quality, base model vs the project's adapter (alone, and with its clause checks,
# the default), on the dev and held-out sets, in one
# run: per-field precision / recall / F1 (emotion labels, topic categories), key-phrase recall,
# quotes verified, emotion evidence from the participant, schema-valid answers.
#   bash benches/extraction_eval.sh [out_dir]      # about 30 minutes on 2 cores
# Writes <out_dir>/{dev,heldout}-{base,adapter-alone,adapter}.json and prints one line per run.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-runs/extraction-eval}"
model=.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf
adapter=examples/data/adapters/smollm2-135m-extraction
mkdir -p "$out"
cargo build -q --release --locked -p llama-extract --example extract
for set in heldout dev; do
  target/release/examples/extract --model "$model" --eval "examples/data/extraction/$set" \
    --eval-out "$out/$set-base.json" 2>/dev/null | sed "s|^|base    |"
  target/release/examples/extract --model "$model" --adapter "$adapter" --no-clause-checks \
    --eval "examples/data/extraction/$set" --eval-out "$out/$set-adapter-alone.json" 2>/dev/null | sed "s|^|alone   |"
  target/release/examples/extract --model "$model" --adapter "$adapter" --eval "examples/data/extraction/$set" \
    --eval-out "$out/$set-adapter.json" 2>/dev/null | sed "s|^|adapter |"
done
