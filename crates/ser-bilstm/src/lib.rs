#![doc = include_str!("../README.md")]
// Library code returns typed errors for anything derived from input; `unwrap`/`expect` are
// allowed only where a comment says why the value cannot be absent.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

pub mod checkpoint;
pub mod data;
pub mod lstm;
pub mod metrics;
pub mod models;
pub mod saved;
pub mod scaler;
pub mod synth;
pub mod train;

pub use checkpoint::StateDict;
pub use models::{
    BaseModel, BaseModelConfig, Batch, BiLstmClassifier, BiLstmClassifierConfig, EmotionModel, ForwardMode, InputKind,
    ReferenceQuirks, TemporalBiLstm, TemporalConfig,
};
pub use numeric::LrSchedule;
pub use saved::{AnyModel, Architecture, ModelSpec, Prediction, Predictor};
pub use scaler::StandardScaler;

/// The CPU backend every model in this crate runs on by default (the workspace's one alias,
/// from `numeric`).
pub use numeric::CpuBackend;
/// [`CpuBackend`] with automatic differentiation, for training.
pub type CpuTrainBackend = burn::backend::Autodiff<CpuBackend>;

/// RAVDESS emotion classes in label order (label = RAVDESS emotion code − 1).
pub const EMOTIONS: [&str; 8] = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"];

/// Errors from loading data and checkpoints, and from training.
#[derive(Debug, thiserror::Error)]
pub enum SerError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A checkpoint with missing, misshapen or non-finite tensors.
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    /// A dataset that cannot be used (no examples, mixed dimensions, unknown labels, …).
    #[error("data: {0}")]
    Data(String),
    /// A file name that is not a RAVDESS name.
    #[error("RAVDESS file name {name:?}: {reason}")]
    RavdessName {
        /// The name.
        name: String,
        /// Which field is wrong.
        reason: String,
    },
    /// A bad line in a dataset manifest.
    #[error("manifest {path} line {line}: {reason}")]
    Manifest {
        /// The manifest file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// An invalid option or model description.
    #[error("config: {0}")]
    Config(String),
    /// Audio that could not be decoded or turned into features.
    #[error(transparent)]
    Dsp(#[from] audio_dsp::DspError),
}

impl SerError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io { path: path.display().to_string(), source }
    }
}
