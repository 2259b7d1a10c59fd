//! Reading and running a Llama model, in the order data flows: a file ([`gguf`], or a Hugging
//! Face checkpoint through [`weights`]) gives hyper-parameters ([`config`]) and tensors under
//! the names of [`proj`]; a [`tokenizer`] turns text into ids; a decoder turns ids into logits
//! ([`quant_model`] with the weights left in their quantized blocks, [`burn_model`] in f32 on
//! burn); [`mod@generate`] turns logits into text.

pub mod burn_model;
pub mod config;
pub mod generate;
pub mod gguf;
pub mod proj;
pub mod quant_model;
pub mod tokenizer;
pub mod weights;
