#![doc = include_str!("../README.md")]
// Library code returns typed errors for anything derived from input; `unwrap`/`expect` are
// allowed only where a comment says why the value cannot be absent.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

pub mod config;
pub mod decode;
mod linear;
pub mod mel;
pub mod model;
pub mod model_bin;
mod ops;
mod pipeline;
pub mod tokenizer;
pub mod transcribe;
pub mod wer;
pub mod words;

pub use config::ModelConfig;
pub use linear::WeightPrecision;
pub use model::{Dims, Whisper};
pub use model_bin::ModelBin;
pub use pipeline::{SpeechOptions, to_transcript, transcribe_speech};
pub use tokenizer::WhisperTokenizer;
pub use transcribe::{Segment, TranscribeOptions, Transcription, WindowTrace};
pub use words::Word;

use std::path::{Path, PathBuf};

/// Errors from loading a model and transcribing.
#[derive(Debug, thiserror::Error)]
pub enum AsrError {
    /// Reading `path` failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A malformed or inconsistent `model.bin` (before the path is known).
    #[error("model file: {0}")]
    Model(String),
    /// A malformed or inconsistent model file, with its path.
    #[error("{path}: {message}")]
    ModelFile {
        /// The file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// A well-formed model of another kind or version than Whisper's.
    #[error("unsupported model: {0}")]
    Unsupported(String),
    /// The tokenizer file, or a special token missing from it.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// Audio the model cannot take.
    #[error("audio: {0}")]
    Audio(String),
    /// Decoding could not go on (an empty prompt, no candidate left).
    #[error("decoding: {0}")]
    Decode(String),
    /// The 8-bit weight mode's blocks.
    #[error(transparent)]
    Quant(#[from] quant5::QuantError),
    /// The log-mel front end.
    #[error("spectrogram: {0}")]
    Dsp(#[from] audio_dsp::DspError),
    /// Voice activity detection before transcription.
    #[error("voice activity detection: {0}")]
    Vad(#[from] vad::VadError),
    /// `config.json` or another JSON side file.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: String,
        /// The parser's error.
        source: serde_json::Error,
    },
    /// The model's thread pool could not start.
    #[error("could not start worker threads: {0}")]
    Threads(#[from] rayon::ThreadPoolBuildError),
}

impl AsrError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io { path: path.display().to_string(), source }
    }

    pub(crate) fn in_file(self, path: &Path) -> Self {
        match self {
            AsrError::Model(message) => AsrError::ModelFile { path: path.display().to_string(), message },
            other => other,
        }
    }
}

/// How to load a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadOptions {
    /// Keep the dense weights in f32 or in 8-bit blocks.
    pub precision: WeightPrecision,
    /// Worker threads for products and attention heads (≥ 1).
    pub threads: usize,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self { precision: WeightPrecision::F32, threads: 1 }
    }
}

/// A loaded speech-to-text model: weights, tokenizer, front end and decoding metadata.
pub struct Asr {
    model: Whisper,
    tokenizer: WhisperTokenizer,
    mel: mel::LogMel,
    config: ModelConfig,
    suppress: Vec<u32>,
    suppress_begin: Vec<u32>,
    threads: usize,
    pool: rayon::ThreadPool,
    dir: PathBuf,
}

impl Asr {
    /// Loads a CTranslate2 Whisper folder.
    pub fn load(dir: &Path, options: LoadOptions) -> Result<Self, AsrError> {
        let bin_path = dir.join("model.bin");
        let bin = ModelBin::open(&bin_path)?;
        let model = Whisper::from_model_bin(&bin, options.precision).map_err(|e| e.in_file(&bin_path))?;
        drop(bin);
        let tokenizer = WhisperTokenizer::from_dir(dir)?;
        let config = ModelConfig::from_dir(dir)?;
        Self::from_parts(model, tokenizer, config, options.threads, dir)
    }

    /// Assembles a model from its parts.
    pub fn from_parts(
        model: Whisper,
        tokenizer: WhisperTokenizer,
        config: ModelConfig,
        threads: usize,
        dir: &Path,
    ) -> Result<Self, AsrError> {
        if (tokenizer.timestamp_begin as usize) >= model.dims.n_vocab {
            return Err(AsrError::Tokenizer(format!(
                "timestamp tokens start at {} but the model has {} tokens",
                tokenizer.timestamp_begin, model.dims.n_vocab
            )));
        }
        // faster-whisper's default suppress list: the non-speech symbols plus the task and
        // start tokens (config.json stores exactly this list).
        let mut suppress = config.suppress_ids.clone().unwrap_or_else(|| tokenizer.non_speech_tokens());
        suppress.extend([
            tokenizer.transcribe,
            tokenizer.translate,
            tokenizer.sot,
            tokenizer.sot_prev,
            tokenizer.sot_lm,
            tokenizer.no_speech,
        ]);
        suppress.sort_unstable();
        suppress.dedup();
        let suppress_begin = config.suppress_ids_begin.clone().unwrap_or_else(|| {
            let mut ids = tokenizer.encode(" ").unwrap_or_default();
            ids.push(tokenizer.eot);
            ids
        });
        let threads = threads.max(1);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).thread_name(|i| format!("asr-{i}")).build()?;
        let mel = mel::LogMel::new(model.dims.n_mels);
        Ok(Self { model, tokenizer, mel, config, suppress, suppress_begin, threads, pool, dir: dir.to_path_buf() })
    }

    /// The encoder and decoder.
    pub fn model(&self) -> &Whisper {
        &self.model
    }

    /// The tokenizer and its special ids.
    pub fn tokenizer(&self) -> &WhisperTokenizer {
        &self.tokenizer
    }

    /// The folder's `config.json`.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The log-mel front end.
    pub fn front_end(&self) -> &mel::LogMel {
        &self.mel
    }

    /// The token ids suppressed at every step.
    pub fn suppressed_tokens(&self) -> &[u32] {
        &self.suppress
    }

    /// Worker threads the model uses.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The folder the model was loaded from.
    pub fn model_dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn pool(&self) -> &rayon::ThreadPool {
        &self.pool
    }

    /// Runs `f` on this model's worker threads (products inside use them).
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pool.install(f)
    }
}

/// Where tests and examples look for model files: `$WHISPERS_MODELS`, else `.cache/models`
/// under the workspace root (filled by `scripts/fetch-models.sh`).
pub fn models_dir() -> PathBuf {
    match std::env::var_os("WHISPERS_MODELS") {
        Some(p) => p.into(),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/models"),
    }
}

/// The default model folder: Whisper tiny.en under [`models_dir`].
pub fn default_model_dir() -> PathBuf {
    models_dir().join("whisper-tiny.en")
}
