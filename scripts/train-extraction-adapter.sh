#!/usr/bin/env bash
# The paper's LoRA step, applied to extraction: fine-tunes SmolLM2-135M-Instruct (the default
# model) on the project's synthetic interview-extraction corpus and writes the adapter committed
# in examples/data/adapters/smollm2-135m-extraction/ (PEFT files, f16), its training report and
# its clause checks (feeling_check / topic_check .safetensors, fitted to this adapter's hidden
# states) and its held-out quality (quality.json, which every report made with it quotes).
#
# Corpus: scripts/make-extraction-sets.py, family A (train: its own seed; the dev set is family A
# with another seed). The held-out set is family B — other templates, vocabulary, connectors and
# speaker labels — and training never sees it. Answers are the extraction schema itself, built
# with the extractor's exact prompt (`extract --training-pairs`), and checked against the
# decoding grammar so the adapter learns nothing constrained decoding would refuse.
#
# About 60 minutes on 2 CPU cores (an AVX-512 Xeon): 480 excerpts once, 120 optimizer steps of
# 4 excerpts of ~470 tokens (more variety for the same steps than 240 excerpts twice).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/fetch-models.sh
model=.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf
work=runs/extraction
out="${ADAPTER_OUT:-examples/data/adapters/smollm2-135m-extraction}"  # ADAPTER_OUT: train a candidate elsewhere
cargo build -q --release --locked -p llama-extract --example extract --example clause_checks -p lora --example finetune
python3 scripts/make-extraction-sets.py --train "$work/train" --train-size 480
target/release/examples/extract --model "$model" --training-pairs "$work/train" --pairs-out "$work/train.jsonl"
target/release/examples/extract --model "$model" --training-pairs examples/data/extraction/dev --pairs-out "$work/dev.jsonl"
head -6 "$work/dev.jsonl" > "$work/dev6.jsonl"
rm -rf "$work/adapter"
target/release/examples/finetune --model "$model" --train "$work/train.jsonl" \
  --eval "$work/dev6.jsonl" --eval-every 20 --warmup 6 --epochs 1 --lr 2e-3 --max-len 1024 \
  --rank 8 --alpha 16 --targets q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj --out "$work/adapter"
mkdir -p "$out"
cp "$work/adapter/final/adapter_config.json" "$out/"
# Stored in f16 (lora reads it back as f32).
python3 scripts/f16-safetensors.py "$work/adapter/final/adapter_model.safetensors" "$out/adapter_model.safetensors"
cp "$work/adapter/report.json" "$out/training_report.json"
# Decoding for the adapter: no repetition penalty (it copies quotes and keys it just wrote).
echo '{"repetition_penalty": 1.0}' > "$out/generation_config.json"
# The clause checks read this adapter's hidden states, so they are fitted to it (about 2 minutes;
# clause sets from scripts/make-clause-sets.py, family A to fit, family B to measure).
target/release/examples/clause_checks --model "$model" --adapter "$out" --save
target/release/examples/extract --model "$model" --adapter "$out" \
  --eval examples/data/extraction/heldout --eval-out "$work/heldout-adapter.json"
python3 - "$work/heldout-adapter.json" "$out/quality.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
json.dump({"set": "examples/data/extraction/heldout",
           "decoding": "greedy, constrained, repetition penalty 1.0 (generation_config.json), clause checks (feeling_check, topic_check)",
           "quality": doc["quality"], "counts": doc["counts"]},
          open(sys.argv[2], "w"), indent=1)
PY
du -sh "$out"
