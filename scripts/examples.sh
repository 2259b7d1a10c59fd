#!/usr/bin/env bash
# Runs the example binaries end to end. ser-bilstm on a small synthetic corpus: write it in
# RAVDESS's layout, train (speaker split, 2 epochs), resume refusal, predict, and logits on a
# reference-named checkpoint. lora: merge and unmerge the golden PEFT adapter. llama-extract:
# generate from the fetched SmolLM2 GGUF, and extract from the bundled interview. interview-insight:
# the demo session end to end. Fails on any error or on malformed output.
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The examples, built with the test step's workspace-wide feature set (so its libraries are
# reused); `cargo run -p ser-bilstm` alone would resolve features differently and rebuild the
# ML stack.
cargo build -q --workspace --bins --examples --features quant5/qat --locked
run() { local name="$1"; shift; [ "${1:-}" = "--" ] && shift; "target/debug/examples/$name" "$@"; }

run synth_corpus -- --out "$work/corpus" --voices 6 --clips 2
run train -- --ravdess "$work/corpus" --features custom --model bilstm --split speaker --epochs 2 --out "$work/run" \
  | tee "$work/train.txt"
grep -q "best epoch" "$work/train.txt"
for f in best/model.json best/model.safetensors best/scaler.safetensors last/model.safetensors report.json confusion.csv; do
  test -s "$work/run/$f" || { echo "missing $f"; exit 1; }
done
# An existing run is never overwritten without --resume.
if run train -- --ravdess "$work/corpus" --split speaker --epochs 2 --out "$work/run" 2>/dev/null; then
  echo "train overwrote an existing run"; exit 1
fi
run train -- --ravdess "$work/corpus" --features logmel --model temporal --split kfold:3:1 --epochs 1 --batch-size 8 \
  --out "$work/temporal" > /dev/null
test -s "$work/temporal/best/model.json"

run predict -- --model "$work/run/best" "$work/corpus/Actor_06/03-01-05-01-01-01-06.wav" | tee "$work/pred.txt"
grep -q '"label":' "$work/pred.txt"
run logits -- --checkpoint "$work/run/best/model.safetensors" --model bilstm \
  --input crates/ser-bilstm/tests/fixtures/x_d312_first4.npy | tee "$work/logits.txt"
# Four rows of eight logits.
test "$(grep -o '\[[^][]*\]' "$work/logits.txt" | wc -l)" -eq 4
echo "ser-bilstm examples: ok"

fixtures=crates/lora/tests/fixtures
run merge -- --base "$fixtures/base_weights.safetensors" --adapter "$fixtures/adapter" --out "$work/merged.safetensors"
run merge -- --base "$work/merged.safetensors" --adapter "$fixtures/adapter" --out "$work/unmerged.safetensors" --unmerge
test -s "$work/unmerged.safetensors"
echo "lora examples: ok"

model="${WHISPERS_MODELS:-$PWD/.cache/models}/SmolLM2-135M-Instruct.Q4_1.gguf"
answer="$(run generate -- --model "$model" --prompt "What is the capital of France?" --chat --max-tokens 20 2>/dev/null)"
echo "$answer"
[ "$answer" = "The capital of France is Paris." ] || { echo "unexpected generation: $answer"; exit 1; }
# Grounded extraction of the bundled interview: a schema-valid report with a grounding rate.
run extract -- --model "$model" --transcript examples/data/sample_TRANSCRIPT.csv --max-new-tokens 128 \
  > "$work/extraction.txt"
# The version the crate declares, so a schema bump cannot silently break this check.
schema_version="$(sed -n 's/^pub const SCHEMA_VERSION: &str = "\(.*\)";/\1/p' crates/llama-extract/src/extract/schema.rs)"
grep -q "\"schema_version\": \"$schema_version\"" "$work/extraction.txt"
grep -q '"well_formed": true' "$work/extraction.txt"
grep -q '"rate":' "$work/extraction.txt"
echo "llama-extract examples: ok"

# Speech-to-text: a golden clip to SRT and to DAIC-WOZ TSV (times and text).
run transcribe -- crates/asr/tests/fixtures/audio/librivox_0880.wav --format srt --out "$work/clip.srt"
grep -q "He was not an old-sposed young man." "$work/clip.srt"
grep -q -- "00:00:00,000 --> 00:00:03,000" "$work/clip.srt"  # faster-whisper's segment: 0.0–3.0 s
run transcribe -- crates/asr/tests/fixtures/audio/cards_005.wav --format tsv > "$work/clip.tsv"
head -1 "$work/clip.tsv" | grep -q "start_time"
grep -q "8 of spades" "$work/clip.tsv"
echo "asr examples: ok"

# The main command's job (debug build): the demo session through the whole pipeline.
run analyze -- --demo --out "$work/demo" --max-new-tokens 96
for f in report.json report.md report.svg; do test -s "$work/demo/$f" || { echo "missing demo $f"; exit 1; }; done
grep -q '"well_formed": true' "$work/demo/report.json"
# The demo audio without its transcript: transcribed locally, then extracted.
run analyze -- --audio examples/data/demo/demo_AUDIO.wav --ser examples/data/demo/ser \
  --model "$model" --out "$work/demo-asr" --max-new-tokens 96
grep -q '"kind": "asr"' "$work/demo-asr/report.json"
grep -q '"well_formed": true' "$work/demo-asr/report.json"
echo "interview-insight examples: ok"
