#![doc = include_str!("../README.md")]
// Library code returns typed errors for anything derived from input; `unwrap`/`expect` are
// allowed only where a comment says why the value cannot be absent.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

pub mod adapter;
pub mod config;
pub mod frozen;
pub mod linear;

pub use adapter::{LoraAdapter, LoraPair, Matrix, ScaledPair, WeightFile, WeightTensor};
pub use config::{LoraConfig, TargetModules};
pub use frozen::{QuantLinear, QuantLinearBackend};
pub use linear::{Adapter, FrozenBase, LoraLinear};

/// The modules PEFT adapts by default for Llama models.
pub const DEFAULT_TARGETS: [&str; 2] = ["q_proj", "v_proj"];

/// The CPU backend adapters train on by default (the workspace's one alias, from `numeric`).
pub use numeric::CpuBackend;

/// Errors reading, writing and applying adapters.
#[derive(Debug, thiserror::Error)]
pub enum LoraError {
    /// Reading or writing `path` failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// `adapter_config.json` is missing a field, malformed, or asks for what is not supported.
    #[error("config: {0}")]
    Config(String),
    /// The safetensors file is malformed.
    #[error("safetensors: {0}")]
    Format(String),
    /// A tensor with an unexpected name, dtype or content.
    #[error("tensor {key}: {what}")]
    Tensor {
        /// The tensor's key in the file.
        key: String,
        /// What is wrong with it.
        what: String,
    },
    /// Factor or weight shapes that do not fit together.
    #[error("shape: {0}")]
    Shape(String),
}

impl LoraError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io { path: path.display().to_string(), source }
    }
}
