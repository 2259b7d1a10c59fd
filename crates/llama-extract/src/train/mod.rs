//! Teaching the f32 decoder: supervised LoRA fine-tuning ([`sft`]) and the export of the
//! trained adapter for llama.cpp ([`lora_gguf`]).

pub mod lora_gguf;
pub mod sft;
