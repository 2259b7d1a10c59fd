//! Whisper's tokenizer: the byte-level BPE of the shipped `tokenizer.json` (run by the
//! `tokenizers` crate), the special tokens resolved by name, and the timestamp tokens, which
//! exist only in `vocabulary.txt` (`<|0.00|>` … `<|30.00|>`, one every 0.02 s).

use crate::AsrError;
use std::path::Path;

/// Seconds per timestamp token.
pub const TIMESTAMP_STEP_S: f64 = 0.02;

/// The tokenizer and the ids decoding needs.
pub struct WhisperTokenizer {
    inner: tokenizers::Tokenizer,
    /// `<|endoftext|>`.
    pub eot: u32,
    /// `<|startoftranscript|>`.
    pub sot: u32,
    /// `<|startofprev|>`: the previous window's text follows.
    pub sot_prev: u32,
    /// `<|startoflm|>`.
    pub sot_lm: u32,
    /// `<|translate|>`.
    pub translate: u32,
    /// `<|transcribe|>`.
    pub transcribe: u32,
    /// `<|nocaptions|>` (called `<|nospeech|>` in newer vocabularies).
    pub no_speech: u32,
    /// `<|notimestamps|>`.
    pub no_timestamps: u32,
    /// `<|0.00|>`; every id from here up is a timestamp.
    pub timestamp_begin: u32,
}

impl WhisperTokenizer {
    /// Reads `tokenizer.json` and, when present, `vocabulary.txt` from a model folder.
    pub fn from_dir(dir: &Path) -> Result<Self, AsrError> {
        let path = dir.join("tokenizer.json");
        let json = std::fs::read(&path).map_err(|e| AsrError::io(&path, e))?;
        let vocab_path = dir.join("vocabulary.txt");
        let vocab = match std::fs::read_to_string(&vocab_path) {
            Ok(v) => Some(v),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(AsrError::io(&vocab_path, e)),
        };
        Self::from_parts(&json, vocab.as_deref())
    }

    /// From the bytes of `tokenizer.json` and the text of `vocabulary.txt` (one token per line,
    /// line n is id n).
    pub fn from_parts(tokenizer_json: &[u8], vocabulary: Option<&str>) -> Result<Self, AsrError> {
        let inner = tokenizers::Tokenizer::from_bytes(tokenizer_json)
            .map_err(|e| AsrError::Tokenizer(format!("tokenizer.json: {e}")))?;
        let id = |names: &[&str]| -> Result<u32, AsrError> {
            names
                .iter()
                .find_map(|n| inner.token_to_id(n))
                .ok_or_else(|| AsrError::Tokenizer(format!("special token {} is not in the vocabulary", names[0])))
        };
        let no_timestamps = id(&["<|notimestamps|>"])?;
        let timestamp_begin = match vocabulary {
            Some(v) => v
                .lines()
                .position(|l| l == "<|0.00|>")
                .and_then(|p| u32::try_from(p).ok())
                .ok_or_else(|| AsrError::Tokenizer("vocabulary.txt has no <|0.00|> token".into()))?,
            None => no_timestamps + 1,
        };
        let t = Self {
            eot: id(&["<|endoftext|>"])?,
            sot: id(&["<|startoftranscript|>"])?,
            sot_prev: id(&["<|startofprev|>"])?,
            sot_lm: id(&["<|startoflm|>"])?,
            translate: id(&["<|translate|>"])?,
            transcribe: id(&["<|transcribe|>"])?,
            no_speech: id(&["<|nocaptions|>", "<|nospeech|>"])?,
            no_timestamps,
            timestamp_begin,
            inner,
        };
        if t.timestamp_begin <= t.no_timestamps || t.eot >= t.timestamp_begin {
            return Err(AsrError::Tokenizer(format!(
                "timestamp tokens start at {} before the special tokens end",
                t.timestamp_begin
            )));
        }
        Ok(t)
    }

    /// Whether `id` is a timestamp token.
    pub fn is_timestamp(&self, id: u32) -> bool {
        id >= self.timestamp_begin
    }

    /// Seconds of a timestamp token from the window start.
    pub fn timestamp_s(&self, id: u32) -> f64 {
        f64::from(id.saturating_sub(self.timestamp_begin)) * TIMESTAMP_STEP_S
    }

    /// Text of `ids`, keeping only text tokens (ids below end-of-text), as faster-whisper does.
    pub fn decode(&self, ids: &[u32]) -> Result<String, AsrError> {
        let text: Vec<u32> = ids.iter().copied().filter(|&t| t < self.eot).collect();
        self.inner.decode(&text, false).map_err(|e| AsrError::Tokenizer(format!("decoding: {e}")))
    }

    /// Token ids of `text` (no special tokens added).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, AsrError> {
        let enc = self.inner.encode(text, false).map_err(|e| AsrError::Tokenizer(format!("encoding: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// The text of one token, as stored (byte-level form).
    pub fn token_text(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    /// faster-whisper's non-speech tokens: symbols and their space-prefixed forms that a
    /// transcript should not contain (used when `config.json` has no suppress list).
    pub fn non_speech_tokens(&self) -> Vec<u32> {
        let mut symbols: Vec<String> = "\"#()*+/:;<=>@[\\]^_`{|}~「」『』".chars().map(String::from).collect();
        symbols.extend(
            [
                "<<",
                ">>",
                "<<<",
                ">>>",
                "--",
                "---",
                "-(",
                "-[",
                "('",
                "(\"",
                "((",
                "))",
                "(((",
                ")))",
                "[[",
                "]]",
                "{{",
                "}}",
                "♪♪",
                "♪♪♪",
            ]
            .iter()
            .map(|s| s.to_string()),
        );
        let miscellaneous = ["♩", "♪", "♫", "♬", "♭", "♮", "♯"];
        let mut out = Vec::new();
        for s in [" -", " '"] {
            if let Some(&first) = self.encode(s).ok().as_deref().and_then(<[u32]>::first) {
                out.push(first);
            }
        }
        for s in symbols.iter().map(String::as_str).chain(miscellaneous) {
            for variant in [s.to_string(), format!(" {s}")] {
                if let Ok(ids) = self.encode(&variant)
                    && (ids.len() == 1 || miscellaneous.contains(&s))
                    && let Some(&first) = ids.first()
                {
                    out.push(first);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}
