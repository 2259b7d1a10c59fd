//! LoRA adapters: Hugging Face PEFT files, exact merge/unmerge, and a burn `LoraLinear` over a
//! frozen base.
//!
//! * [`LoraConfig`]: `adapter_config.json` (every field PEFT writes survives a round trip),
//!   target matching by name list or regex, `layers_to_transform`, α/r or rsLoRA α/√r scaling;
//! * [`LoraAdapter`]: `adapter_model.safetensors` with PEFT key names, typed errors naming the
//!   key for anything unknown or mis-shaped, and [`LoraAdapter::merge_into`] for HF-named base
//!   weights ([`WeightFile`], f32/f16/bf16 kept as stored);
//! * [`LoraLinear`]: `base(x) + scaling·B·A·dropout(x)` with the base frozen; merge and unmerge
//!   in place. llama-extract's burn decoder is built from these layers;
//! * [`QuantLinear`]: a frozen base kept in quant5's 5-bit blocks (QLoRA), with a backward step
//!   that recomputes the dequantized weight instead of holding it ([`frozen`]).
//!
//! Dependencies: safetensors and half (adapter and weight files), serde/serde_json
//! (`adapter_config.json`), regex (PEFT's regex `target_modules`), quant5 (5-bit bases).
//!
//! ```
//! use lora::LoraConfig;
//! let config = LoraConfig::new(8, 16.0, &["q_proj", "v_proj"]);
//! assert_eq!(config.scaling(), 2.0);
//! assert!(config.targets("model.layers.0.self_attn.q_proj"));
//! assert!(!config.targets("model.layers.0.mlp.up_proj"));
//! ```

// Library code returns typed errors for anything derived from input; `unwrap`/`expect` are
// allowed only where a comment says why the value cannot be absent.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod adapter;
pub mod config;
pub mod frozen;
pub mod linear;

pub use adapter::{LoraAdapter, LoraPair, Matrix, WeightFile, WeightTensor};
pub use config::{LoraConfig, TargetModules};
pub use frozen::{QuantLinear, QuantLinearBackend};
pub use linear::{Adapter, FrozenBase, LoraLinear};

/// The modules PEFT adapts by default for Llama models.
pub const DEFAULT_TARGETS: [&str; 2] = ["q_proj", "v_proj"];

/// The CPU backend adapters train on by default.
pub type CpuBackend = burn::backend::Flex;

/// Errors reading, writing and applying adapters.
#[derive(Debug, thiserror::Error)]
pub enum LoraError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("config: {0}")]
    Config(String),
    #[error("safetensors: {0}")]
    Format(String),
    #[error("tensor {key}: {what}")]
    Tensor { key: String, what: String },
    #[error("shape: {0}")]
    Shape(String),
}

impl LoraError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io { path: path.display().to_string(), source }
    }
}
