//! Speech-emotion recognition models and their training, on burn.
//!
//! The paper's audio branch is the open-source `mser` classifier (Table 1). This crate holds:
//!
//! * [`BiLstmClassifier`] and [`BaseModel`], layer for layer as the reference, loading and
//!   saving its PyTorch state dicts ([`StateDict`], safetensors) with logits equal to the
//!   reference's within 1e-5 — including, on request, its batch-as-time training quirk
//!   ([`ReferenceQuirks`], off by default);
//! * [`TemporalBiLstm`], a BiLSTM over frame features with masked recurrence and mean +
//!   attention pooling — the model the reference's name promises;
//! * training ([`train`]): Adam (coupled L2, ε 1e-8), AdamW, SGD with momentum, warmup-cosine
//!   and cosine schedules ([`LrSchedule`]), per-epoch evaluation, best-checkpoint keeping,
//!   seeded, resumable only when asked;
//! * data ([`data`]): RAVDESS names and folders, reference / speaker-independent / k-fold
//!   splits, CustomFeature / log-mel / Emotion2Vec features, a [`StandardScaler`], and a
//!   synthetic prosody corpus ([`synth`]) for tests, since no labelled speech ships offline;
//! * metrics ([`metrics`]): accuracy as k/N, macro-F1, recall, confusion matrix.
//!
//! Everything runs on burn's Flex CPU backend ([`CpuBackend`]); the `cuda` feature adds
//! burn-cuda. Dependencies beyond burn: safetensors (checkpoints), npyz (users' Emotion2Vec
//! `.npy` files), half (f16/bf16 checkpoints), rand (seeded shuffles and splits), serde /
//! serde_json (configs and reports).
//!
//! ```
//! use ser_bilstm::{BiLstmClassifier, CpuBackend, ForwardMode};
//! use burn::module::Module;
//! use burn::tensor::{Distribution, Tensor};
//!
//! let device = Default::default();
//! let model = BiLstmClassifier::<CpuBackend>::new(312, 8, &device);
//! assert_eq!(model.num_params(), 1_870_600);
//! let x = Tensor::<CpuBackend, 2>::random([4, 312], Distribution::Normal(0.0, 1.0), &device);
//! let logits = model.forward(x, ForwardMode::Independent);
//! assert_eq!(logits.dims(), [4, 8]);
//! ```

// Library code returns typed errors for anything derived from input; `unwrap`/`expect` are
// allowed only where a comment says why the value cannot be absent.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod checkpoint;
pub mod data;
pub mod lstm;
pub mod metrics;
pub mod models;
pub mod saved;
pub mod scaler;
pub mod schedule;
pub mod synth;
pub mod train;

pub use checkpoint::StateDict;
pub use models::{
    BaseModel, Batch, BiLstmClassifier, EmotionModel, ForwardMode, InputKind, ReferenceQuirks, TemporalBiLstm,
    TemporalConfig,
};
pub use saved::{AnyModel, Architecture, ModelSpec, Prediction, Predictor};
pub use scaler::StandardScaler;
pub use schedule::LrSchedule;

/// The CPU backend every model in this crate runs on by default.
pub type CpuBackend = burn::backend::Flex;
/// [`CpuBackend`] with automatic differentiation, for training.
pub type CpuTrainBackend = burn::backend::Autodiff<CpuBackend>;

/// RAVDESS emotion classes in label order (label = RAVDESS emotion code − 1).
pub const EMOTIONS: [&str; 8] = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"];

/// Errors from loading data and checkpoints, and from training.
#[derive(Debug, thiserror::Error)]
pub enum SerError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    #[error("data: {0}")]
    Data(String),
    #[error("RAVDESS file name {name:?}: {reason}")]
    RavdessName { name: String, reason: String },
    #[error("manifest {path} line {line}: {reason}")]
    Manifest { path: String, line: usize, reason: String },
    #[error("config: {0}")]
    Config(String),
    #[error(transparent)]
    Dsp(#[from] audio_dsp::DspError),
}

impl SerError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io { path: path.display().to_string(), source }
    }
}
