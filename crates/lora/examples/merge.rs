//! Merges (or unmerges) a PEFT LoRA adapter into Hugging Face-named base weights.
//!
//! ```text
//! cargo run --release -p lora --example merge -- \
//!     --base model.safetensors --adapter my_adapter/ --out merged.safetensors [--unmerge]
//! ```
//!
//! Each adapted module's `<module>.weight` gets `± scaling·B·A` (computed in f64, stored in the
//! tensor's own dtype); every other tensor is copied unchanged.

use clap::Parser;
use lora::{LoraAdapter, WeightFile};

#[derive(Parser)]
struct Args {
    /// Base weights (safetensors, HF names such as `model.layers.0.self_attn.q_proj.weight`).
    #[arg(long)]
    base: std::path::PathBuf,
    /// PEFT adapter folder (`adapter_config.json`, `adapter_model.safetensors`).
    #[arg(long)]
    adapter: std::path::PathBuf,
    #[arg(long)]
    out: std::path::PathBuf,
    /// Subtract the update instead (undo an earlier merge).
    #[arg(long)]
    unmerge: bool,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let adapter = LoraAdapter::load(&a.adapter)?;
    let mut weights = WeightFile::load(&a.base)?;
    let n = adapter.merge_into(&mut weights, a.unmerge)?;
    weights.save(&a.out)?;
    eprintln!(
        "{} {n} tensors (r = {}, scaling {}) into {}",
        if a.unmerge { "unmerged" } else { "merged" },
        adapter.config.r,
        adapter.config.scaling(),
        a.out.display()
    );
    Ok(())
}
