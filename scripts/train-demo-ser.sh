#!/usr/bin/env bash
# Trains the demo speech-emotion weights committed in examples/data/demo/ser/: the reference
# BiLSTM on CustomFeature (312-d) over the project's synthetic *speech* corpus (espeak-ng
# sentences with per-class prosody, 24 synthetic speakers; scripts/make-ser-speech-corpus.sh),
# speaker-independent split. They make the demo's voice labels follow its prosody; they are not
# clinically meaningful. Needs espeak-ng and sox. Real use: train on RAVDESS, e.g.
#   cargo run --release -p ser-bilstm --example train -- --ravdess <Audio_Speech_Actors_01-24> --out runs/ser
set -euo pipefail
cd "$(dirname "$0")/.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cargo build -q --release -p ser-bilstm --example train
bash scripts/make-ser-speech-corpus.sh "$work/corpus"
target/release/examples/train --ravdess "$work/corpus" --features custom --model bilstm --split speaker \
  --epochs 30 --seed 0 --out "$work/run"
mkdir -p examples/data/demo/ser
cp "$work/run/best/model.json" "$work/run/best/scaler.safetensors" examples/data/demo/ser/
# Stored in f16 (3.7 MB instead of 7.5 MB; ser-bilstm reads it back as f32).
python3 scripts/f16-safetensors.py "$work/run/best/model.safetensors" examples/data/demo/ser/model.safetensors
cp "$work/run/report.json" examples/data/demo/ser/training_report.json
du -sh examples/data/demo/ser
