#![doc = include_str!("../README.md")]
// Library code returns typed errors for anything derived from input; `unwrap`/`expect` are
// allowed only where a comment says why the value cannot be absent.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

pub mod extract;
pub mod quantize;
pub mod runtime;
pub mod train;

pub use extract::{ExtractError, ExtractOptions, Extractor, VoiceEmotions, VoiceSegment};
pub use runtime::burn_model::{BurnLlama, BurnSession};
pub use runtime::config::LlamaConfig;
pub use runtime::generate::{
    ContextCache, Decoder, GenerateOptions, Generation, GenerationConfig, Hooks, LanguageModel, QuantSession, Sampling,
    Session, StopReason, TokenConstraint, generate, generate_with,
};
pub use runtime::gguf::{GgufError, GgufFile, GgufValue};
pub use runtime::quant_model::{KvCache, KvPrecision, QuantLlama, WeightFormat};
pub use runtime::tokenizer::{ChatTemplate, LlamaTokenizer, Message, Role};

/// Longest context the paper runs (Llama-3-8B, max_length 8192).
pub const MAX_CONTEXT: usize = 8192;

/// The CPU backend of the f32 path: lora's, so adapters and the decoder they attach to agree.
pub use lora::CpuBackend;

/// Errors from loading models and tokenizers and from generation.
#[derive(Debug, thiserror::Error)]
pub enum LlamaError {
    /// A GGUF file that cannot be read.
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// A file that could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A model, tensor type or option this runtime does not implement.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Hyper-parameters that are missing or inconsistent.
    #[error("config: {0}")]
    Config(String),
    /// A tokenizer that cannot be loaded or used.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// Missing or misshapen weights.
    #[error("weights: {0}")]
    Weights(String),
    /// A quantized product or block that failed.
    #[error(transparent)]
    Quant(#[from] quant5::QuantError),
    /// More tokens than the context holds.
    #[error("context overflow: {needed} tokens do not fit the {limit}-token context")]
    ContextOverflow {
        /// Tokens asked for.
        needed: usize,
        /// The context's size.
        limit: usize,
    },
    /// Generation that cannot go on (no allowed token, a token outside the vocabulary, …).
    #[error("generation: {0}")]
    Generation(String),
    /// Extraction input, labelled sets or schemas that cannot be used.
    #[error(transparent)]
    Extract(#[from] extract::ExtractError),
    /// An adapter that cannot be read or applied.
    #[error("LoRA adapter: {0}")]
    Lora(#[from] lora::LoraError),
    /// An adapter that does not fit one module of the model.
    #[error("LoRA adapter, {module}: {source}")]
    LoraModule {
        /// The module (`model.layers.3.self_attn.q_proj`, …).
        module: String,
        /// Why.
        source: lora::LoraError,
    },
}

impl LlamaError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io { path: path.display().to_string(), source }
    }
}

/// Where tests and examples look for model files: `$WHISPERS_MODELS`, else `.cache/models`
/// under the workspace root (filled by `scripts/fetch-models.sh`).
pub fn models_dir() -> std::path::PathBuf {
    match std::env::var_os("WHISPERS_MODELS") {
        Some(p) => p.into(),
        None => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/models"),
    }
}
