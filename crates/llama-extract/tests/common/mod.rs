//! Shared by the tests that need the fetched model assets.
#![allow(dead_code)]

use std::path::PathBuf;

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// A file from the model cache; a missing file fails the test with the command that fetches it
/// (the README's test command runs that script first, so nothing is skipped silently).
pub fn model_asset(name: &str) -> PathBuf {
    let p = llama_extract::models_dir().join(name);
    assert!(p.exists(), "{} is missing: run `bash scripts/fetch-models.sh` (or set WHISPERS_MODELS)", p.display());
    p
}

pub const SMOLLM2: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
pub const LLAMA3_TOKENIZER: &str = "llama3-tokenizer.json";

pub fn json(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap()
}
