//! A local Llama runtime and evidence-grounded information extraction.
//!
//! **Status: skeleton.** This crate will load GGUF and Hugging Face safetensors checkpoints,
//! tokenize with `tokenizers`, run a Llama decoder (weights kept quantized through `quant5`
//! on CPU, f32 burn path for training and GPU), generate with grammar-constrained decoding, and
//! extract emotions, topics, key phrases and a summary from a transcript with voice emotions
//! fused into the prompt. Nothing is downloaded at run time.
//!
//! ```
//! assert_eq!(llama_extract::MAX_CONTEXT, 8192);
//! ```

/// Longest context the paper runs (Llama-3-8B, max_length 8192).
pub const MAX_CONTEXT: usize = 8192;

/// The CPU backend of the f32 path.
pub type CpuBackend = burn::backend::Flex;
