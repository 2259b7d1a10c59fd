//! LoRA adapters for burn `Linear` layers.
//!
//! **Status: skeleton.** This crate will provide `LoraLinear` (frozen base plus trainable
//! low-rank `B·A`, α/r or rsLoRA scaling), attachment by module-name patterns, exact
//! merge/unmerge, and Hugging Face PEFT-compatible `adapter_config.json` /
//! `adapter_model.safetensors` files, over an f32 or a 5-bit base.
//!
//! ```
//! assert_eq!(lora::DEFAULT_TARGETS, ["q_proj", "v_proj"]);
//! ```

/// The modules PEFT adapts by default for Llama models.
pub const DEFAULT_TARGETS: [&str; 2] = ["q_proj", "v_proj"];

/// The CPU backend adapters train on by default.
pub type CpuBackend = burn::backend::Flex;
