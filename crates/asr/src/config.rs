//! The model folder's `config.json`: decoding metadata CTranslate2 stores beside `model.bin`.

use crate::AsrError;
use serde::Deserialize;
use std::path::Path;

/// `config.json` of a CTranslate2 Whisper conversion. Every field is optional: a missing
/// suppress list falls back to faster-whisper's computed one.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ModelConfig {
    /// Tokens never generated (non-speech symbols).
    #[serde(default)]
    pub suppress_ids: Option<Vec<u32>>,
    /// Tokens not allowed as the first generated token.
    #[serde(default)]
    pub suppress_ids_begin: Option<Vec<u32>>,
    /// `[layer, head]` pairs of the decoder cross-attention heads that follow the audio
    /// (word-level timestamps).
    #[serde(default)]
    pub alignment_heads: Vec<[usize; 2]>,
    /// Language token ids (empty for English-only models).
    #[serde(default)]
    pub lang_ids: Vec<u32>,
}

impl ModelConfig {
    /// Reads `config.json` from a model folder; a folder without one gets the defaults.
    pub fn from_dir(dir: &Path) -> Result<Self, AsrError> {
        let path = dir.join("config.json");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| AsrError::Json { path: path.display().to_string(), source }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(AsrError::io(&path, e)),
        }
    }
}
