//! Converts a PEFT LoRA adapter to a llama.cpp GGUF adapter for a given base model.
//!
//! ```text
//! cargo run --release -p llama-extract --example lora_to_gguf -- --model base.gguf --adapter peft_dir --out adapter.gguf
//! llama-cli -m base.gguf --lora adapter.gguf …
//! ```

use clap::Parser;
use llama_extract::{GgufFile, LlamaConfig};

#[derive(Parser)]
struct Args {
    /// The base model (GGUF) the adapter was trained on: its shapes decide the permutation.
    #[arg(long)]
    model: std::path::PathBuf,
    /// PEFT adapter folder.
    #[arg(long)]
    adapter: std::path::PathBuf,
    #[arg(long)]
    out: std::path::PathBuf,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let config = LlamaConfig::from_gguf(&GgufFile::open(&a.model)?)?;
    let adapter = lora::LoraAdapter::load(&a.adapter)?;
    llama_extract::train::lora_gguf::export_lora_gguf(&adapter, &config, &a.out)?;
    eprintln!("wrote {} ({} modules)", a.out.display(), adapter.modules.len());
    Ok(())
}
