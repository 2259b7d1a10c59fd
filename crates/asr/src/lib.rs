//! Local speech-to-text: Whisper run from a CTranslate2 `model.bin`, on the CPU, with the
//! decoding rules of faster-whisper, to a timed [`text_clean::Transcript`].
//!
//! The paper transcribes its interviews with a cloud service; this crate keeps that step on
//! the machine. Given a model folder (`model.bin`, `config.json`, `tokenizer.json`,
//! `vocabulary.txt`, as faster-whisper conversions ship them — `scripts/fetch-models.sh` fetches
//! Whisper tiny.en), [`Asr`] turns 16 kHz mono samples into segments with times:
//!
//! * [`mel`]: Whisper's 80-band log-mel on audio-dsp's STFT and mel filters, one 30 s window at
//!   a time (a 10 h recording never has its whole spectrogram in memory);
//! * [`model`]: encoder and decoder (KV cache, cross-attention keys/values once per window);
//!   the encoder's products on the `gemm` crate in f32; the decoder's weights kept in the
//!   file's float16 and read by an AVX2/F16C matrix-vector kernel (exact widening, f32
//!   arithmetic); with [`WeightPrecision::Q8`] every dense weight in quant5's Q8_0 blocks
//!   (integer block kernels per decoding step, panels widened for gemm over a window);
//! * [`decode`]: greedy decoding exactly as CTranslate2's (suppressed tokens, suppress-blank,
//!   timestamp rules, no-speech probability), beam search and temperature fallback;
//! * [`transcribe`]: faster-whisper's long-form loop (seek, condition on previous text, split
//!   at timestamps, skip silence); [`words`]: word timestamps from the alignment heads + DTW;
//! * [`to_transcript`] / [`transcribe_speech`]: a `Transcript` for cleaning, voice alignment
//!   and extraction, optionally transcribing only what the VAD calls speech.
//!
//! ```no_run
//! use asr::{Asr, LoadOptions, TranscribeOptions};
//!
//! let asr = Asr::load(std::path::Path::new(".cache/models/whisper-tiny.en"), LoadOptions::default())?;
//! let audio = audio_dsp::decode_path("interview.wav")?;
//! let samples = audio_dsp::resample(&audio.samples, audio.sample_rate, 16_000)?;
//! let result = asr.transcribe(&samples, &TranscribeOptions::default())?;
//! for s in &result.segments {
//!     println!("[{:.2} → {:.2}]{}", s.start_s, s.end_s, s.text);
//! }
//! let transcript = asr::to_transcript(&result);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! **On a GPU.** The model is small dense algebra (products, softmax, layer norm); a GPU run
//! would put the same weights in burn-cuda tensors (as `llama-extract`'s burn decoder does)
//! with the encoder as one batched graph per window and the decoder step as a second, keeping
//! the logit rules and the long-form loop here on the CPU: they touch one row of 51,864 logits
//! per step.
//!
//! Dependencies: `gemm` (f32 matrix products: the kernels burn's Flex backend uses), `tokenizers`
//! (the byte-level BPE), `memmap2` (the model file is mapped, not read), `half` (f16 weights),
//! `flate2` (zlib, for the repetition check faster-whisper makes), `rayon` (threads).

// Library code returns typed errors for anything derived from input; `unwrap`/`expect` are
// allowed only where a comment says why the value cannot be absent.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

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
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("model file: {0}")]
    Model(String),
    #[error("{path}: {message}")]
    ModelFile { path: String, message: String },
    #[error("unsupported model: {0}")]
    Unsupported(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("audio: {0}")]
    Audio(String),
    #[error("decoding: {0}")]
    Decode(String),
    #[error(transparent)]
    Quant(#[from] quant5::QuantError),
    #[error("spectrogram: {0}")]
    Dsp(#[from] audio_dsp::DspError),
    #[error("voice activity detection: {0}")]
    Vad(#[from] vad::VadError),
    #[error("{path}: {source}")]
    Json { path: String, source: serde_json::Error },
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

    pub fn model(&self) -> &Whisper {
        &self.model
    }

    pub fn tokenizer(&self) -> &WhisperTokenizer {
        &self.tokenizer
    }

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
