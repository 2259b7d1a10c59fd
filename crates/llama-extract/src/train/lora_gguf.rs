//! Export of a PEFT adapter as a llama.cpp GGUF LoRA adapter (`llama-cli --lora file.gguf`),
//! as llama.cpp's `convert_lora_to_gguf.py` writes one: `general.type = adapter`,
//! `adapter.type = lora`, `adapter.lora.alpha`, and per module `blk.N.<tensor>.weight.lora_a`
//! (ggml dims `[in, r]`) and `.lora_b` (`[r, out]`), f32. `lora_b` rows of `q_proj` / `k_proj`
//! get the same RoPE row permutation as the base weights. llama.cpp scales by α/r; an rsLoRA
//! adapter is exported with α' = α·√r so the scale it applies is still α/√r.

use std::path::Path;

use lora::LoraAdapter;
use quant5::GgmlType;

use crate::LlamaError;
use crate::runtime::config::LlamaConfig;
use crate::runtime::gguf::{GgufValue, write_gguf};
use crate::runtime::proj::Proj;
use crate::runtime::weights::permute_rows_for_adjacent_rope;

/// The GGUF tensor name of an HF module path, the head count to permute `lora_b` with, and the
/// projection's `(in, out)`.
type Target = (String, Option<usize>, (usize, usize));

fn gguf_name(module: &str, c: &LlamaConfig) -> Result<Target, LlamaError> {
    let (layer, proj) = Proj::parse_hf_path(module)
        .ok_or_else(|| LlamaError::Weights(format!("adapter module {module} has no GGUF counterpart")))?;
    if layer >= c.n_layers {
        return Err(LlamaError::Weights(format!("adapter module {module}: the model has {} layers", c.n_layers)));
    }
    Ok((proj.gguf_name(layer), proj.rope_heads(c), proj.shape(c)))
}

/// The GGUF adapter image.
pub fn lora_gguf_bytes(adapter: &LoraAdapter, config: &LlamaConfig) -> Result<Vec<u8>, LlamaError> {
    let r = adapter.config.r as f64;
    let alpha =
        if adapter.config.use_rslora { adapter.config.lora_alpha * r.sqrt() } else { adapter.config.lora_alpha };
    let mut tensors: Vec<(String, Vec<u64>, Vec<u8>)> = Vec::new();
    for (module, pair) in &adapter.modules {
        let (name, heads, (want_in, want_out)) = gguf_name(module, config)?;
        let (rank, inp, out) = (pair.a.rows, pair.a.cols, pair.b.rows);
        if (inp, out) != (want_in, want_out) || pair.b.cols != rank {
            return Err(LlamaError::Weights(format!(
                "adapter module {module}: A {rank}×{inp}, B {out}×{}; the model needs {want_in} → {want_out}",
                pair.b.cols
            )));
        }
        let a: Vec<u8> = pair.a.data.iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut b: Vec<u8> = pair.b.data.iter().flat_map(|v| v.to_le_bytes()).collect();
        if let Some(n) = heads {
            b = permute_rows_for_adjacent_rope(&b, n, config.head_dim, rank * 4);
        }
        tensors.push((format!("{name}.lora_a"), vec![inp as u64, rank as u64], a));
        tensors.push((format!("{name}.lora_b"), vec![rank as u64, out as u64], b));
    }
    let refs: Vec<(&str, Vec<u64>, GgmlType, &[u8])> =
        tensors.iter().map(|(n, d, b)| (n.as_str(), d.clone(), GgmlType::F32, b.as_slice())).collect();
    let name = adapter.config.base_model_name_or_path.clone().unwrap_or_else(|| "lora".into());
    Ok(write_gguf(
        &[
            ("general.architecture", GgufValue::String("llama".into())),
            ("general.type", GgufValue::String("adapter".into())),
            ("general.name", GgufValue::String(format!("{name} LoRA"))),
            ("adapter.type", GgufValue::String("lora".into())),
            ("adapter.lora.alpha", GgufValue::F32(alpha as f32)),
        ],
        &refs,
    ))
}

/// Writes the adapter as a GGUF file.
pub fn export_lora_gguf(adapter: &LoraAdapter, config: &LlamaConfig, path: impl AsRef<Path>) -> Result<(), LlamaError> {
    let path = path.as_ref();
    std::fs::write(path, lora_gguf_bytes(adapter, config)?).map_err(|e| LlamaError::io(path, e))
}
