//! Where weights come from: a GGUF file, or a Hugging Face safetensors checkpoint (one file or
//! shards with `model.safetensors.index.json`), presented under GGUF tensor names and layout.
//!
//! HF checkpoints store `q_proj`/`k_proj` rows for rotate-half RoPE; GGUF (and our decoder)
//! rotate adjacent pairs. The loader permutes those rows once, as llama.cpp's converter does:
//! per head, GGUF row `2j` = HF row `j` and GGUF row `2j + 1` = HF row `j + head_dim/2`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use quant5::{GgmlType, QuantizedMatrix};
use safetensors::Dtype;

use crate::LlamaError;
use crate::runtime::config::LlamaConfig;
use crate::runtime::gguf::GgufFile;
use crate::runtime::proj::Proj;

/// A model on disk: a GGUF file, or a Hugging Face folder (`config.json`, `tokenizer.json`,
/// safetensors). What every entry point (examples, the pipeline) opens from a user's path.
pub enum ModelSource {
    /// A GGUF file.
    Gguf(GgufFile),
    /// A Hugging Face folder.
    Hf {
        /// The folder.
        dir: PathBuf,
        /// Its safetensors weights and config.
        checkpoint: SafetensorsCheckpoint,
    },
}

impl ModelSource {
    /// A folder is read as an HF checkpoint, a file as GGUF.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, LlamaError> {
        let path = path.as_ref();
        Ok(if path.is_dir() {
            Self::Hf { dir: path.to_path_buf(), checkpoint: SafetensorsCheckpoint::open(path)? }
        } else {
            Self::Gguf(GgufFile::open(path)?)
        })
    }

    /// The model's hyper-parameters.
    pub fn config(&self) -> Result<LlamaConfig, LlamaError> {
        match self {
            Self::Gguf(f) => LlamaConfig::from_gguf(f),
            Self::Hf { checkpoint, .. } => Ok(checkpoint.config.clone()),
        }
    }

    /// The GGUF's own vocabulary, or the folder's `tokenizer.json`.
    pub fn tokenizer(&self) -> Result<crate::LlamaTokenizer, LlamaError> {
        match self {
            Self::Gguf(f) => crate::LlamaTokenizer::from_gguf(f),
            Self::Hf { dir, .. } => crate::LlamaTokenizer::from_file(dir.join("tokenizer.json")),
        }
    }

    /// Its weights under GGUF names.
    pub fn weights(&self) -> WeightSet<'_> {
        match self {
            Self::Gguf(f) => WeightSet::Gguf(f),
            Self::Hf { checkpoint, .. } => WeightSet::Safetensors(checkpoint),
        }
    }
}

/// A set of named weights in GGUF naming.
pub enum WeightSet<'a> {
    /// Tensors of a GGUF file.
    Gguf(&'a GgufFile),
    /// Tensors of a safetensors checkpoint, renamed.
    Safetensors(&'a SafetensorsCheckpoint),
}

impl WeightSet<'_> {
    /// Whether a tensor of this GGUF name exists.
    pub fn has(&self, name: &str) -> bool {
        match self {
            Self::Gguf(f) => f.tensor(name).is_some(),
            Self::Safetensors(s) => s.hf_name(name).is_some_and(|hf| s.index.contains_key(&hf)),
        }
    }

    /// Releases bytes `range` of a GGUF tensor's mapped pages once they have been copied
    /// elsewhere (see [`GgufFile::release_tensor_pages`]); nothing for a checkpoint, whose
    /// matrices are copies.
    pub fn release_pages(&self, name: &str, range: std::ops::Range<usize>) {
        if let Self::Gguf(f) = self
            && let Some(t) = f.tensor(name)
        {
            f.release_tensor_pages(t, range);
        }
    }

    /// A `[rows, cols]` matrix in its stored block type.
    pub fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<QuantizedMatrix, LlamaError> {
        match self {
            Self::Gguf(f) => {
                let t = f.tensor(name).ok_or_else(|| LlamaError::Weights(format!("missing tensor {name}")))?;
                let fits = t.dims == [cols as u64, rows as u64] || (rows == 1 && t.dims == [cols as u64]);
                if !fits {
                    return Err(LlamaError::Weights(format!("{name}: dims {:?}, expected [{cols}, {rows}]", t.dims)));
                }
                Ok(QuantizedMatrix::from_bytes(t.ggml_type, rows, cols, f.tensor_block_bytes(t))?)
            }
            Self::Safetensors(s) => s.matrix(name, rows, cols),
        }
    }

    /// A vector (norm weights) as f32.
    pub fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>, LlamaError> {
        let m = self.matrix(name, 1, len)?;
        let mut out = vec![0f32; len];
        quant5::dequantize_row(m.ggml_type, &m.bytes, &mut out)?;
        Ok(out)
    }
}

/// A Hugging Face Llama checkpoint folder: `config.json`, `model.safetensors` or shards.
pub struct SafetensorsCheckpoint {
    /// Its hyper-parameters.
    pub config: LlamaConfig,
    shards: Vec<memmap2::Mmap>,
    /// HF tensor name → (shard, dtype, shape, absolute byte range).
    index: HashMap<String, (usize, Dtype, Vec<usize>, std::ops::Range<usize>)>,
}

impl SafetensorsCheckpoint {
    /// Opens a folder with `config.json` and `model.safetensors` or
    /// `model.safetensors.index.json` + shards.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, LlamaError> {
        let dir = dir.as_ref();
        let read = |p: PathBuf| std::fs::read_to_string(&p).map_err(|e| LlamaError::io(&p, e));
        let config = LlamaConfig::from_hf_json(&read(dir.join("config.json"))?)?;
        let files: Vec<PathBuf> = if dir.join("model.safetensors.index.json").exists() {
            let idx: serde_json::Value = serde_json::from_str(&read(dir.join("model.safetensors.index.json"))?)
                .map_err(|e| LlamaError::Weights(format!("index.json: {e}")))?;
            let map = idx["weight_map"]
                .as_object()
                .ok_or_else(|| LlamaError::Weights("index.json has no weight_map".into()))?;
            let mut names: Vec<&str> = map.values().filter_map(|v| v.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            names.iter().map(|n| dir.join(n)).collect()
        } else {
            vec![dir.join("model.safetensors")]
        };
        let mut shards = Vec::new();
        let mut index = HashMap::new();
        for (s, path) in files.iter().enumerate() {
            let file = std::fs::File::open(path).map_err(|e| LlamaError::io(path, e))?;
            // SAFETY: read-only private map of a checkpoint file not modified while loaded.
            let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| LlamaError::io(path, e))?;
            let (n, meta) = safetensors::SafeTensors::read_metadata(&map)
                .map_err(|e| LlamaError::Weights(format!("{}: {e}", path.display())))?;
            for (name, info) in meta.tensors() {
                let start = 8 + n + info.data_offsets.0;
                let end = 8 + n + info.data_offsets.1;
                if end > map.len() {
                    return Err(LlamaError::Weights(format!("{}: tensor {name} runs past the file", path.display())));
                }
                index.insert(name, (s, info.dtype, info.shape.clone(), start..end));
            }
            shards.push(map);
        }
        Ok(Self { config, shards, index })
    }

    /// The HF name of a GGUF tensor name.
    fn hf_name(&self, gguf: &str) -> Option<String> {
        let fixed = match gguf {
            "token_embd.weight" => Some("model.embed_tokens.weight"),
            "output_norm.weight" => Some("model.norm.weight"),
            "output.weight" => Some("lm_head.weight"),
            _ => None,
        };
        if let Some(f) = fixed {
            return Some(f.to_string());
        }
        if let Some((layer, p)) = Proj::parse_gguf_name(gguf) {
            return Some(format!("{}.weight", p.hf_path(layer)));
        }
        let rest = gguf.strip_prefix("blk.")?;
        let (layer, part) = rest.split_once('.')?;
        let hf = match part {
            "attn_norm.weight" => "input_layernorm.weight",
            "ffn_norm.weight" => "post_attention_layernorm.weight",
            _ => return None,
        };
        Some(format!("model.layers.{layer}.{hf}"))
    }

    fn matrix(&self, gguf: &str, rows: usize, cols: usize) -> Result<QuantizedMatrix, LlamaError> {
        let hf = self.hf_name(gguf).ok_or_else(|| LlamaError::Weights(format!("no HF name for {gguf}")))?;
        let (shard, dtype, shape, range) =
            self.index.get(&hf).ok_or_else(|| LlamaError::Weights(format!("missing tensor {hf}")))?;
        let want: &[usize] = if rows == 1 { &[cols] } else { &[rows, cols] };
        if shape.as_slice() != want {
            return Err(LlamaError::Weights(format!("{hf}: shape {shape:?}, expected {want:?}")));
        }
        let ty = match dtype {
            Dtype::F32 => GgmlType::F32,
            Dtype::F16 => GgmlType::F16,
            Dtype::BF16 => GgmlType::BF16,
            other => return Err(LlamaError::Unsupported(format!("{hf}: dtype {other:?}"))),
        };
        let bytes = &self.shards[*shard][range.clone()];
        let c = &self.config;
        let heads = Proj::parse_gguf_name(gguf).and_then(|(_, p)| p.rope_heads(c));
        let bytes = match heads {
            Some(n) => permute_rows_for_adjacent_rope(bytes, n, c.head_dim, bytes.len() / rows),
            None => bytes.to_vec(),
        };
        Ok(QuantizedMatrix::from_bytes(ty, rows, cols, bytes)?)
    }
}

/// HF rotate-half row order → adjacent-pair order, per head (any element type: rows are moved
/// as byte slices of `row_bytes`).
pub fn permute_rows_for_adjacent_rope(bytes: &[u8], n_heads: usize, head_dim: usize, row_bytes: usize) -> Vec<u8> {
    let mut out = vec![0u8; bytes.len()];
    let half = head_dim / 2;
    for h in 0..n_heads {
        for j in 0..half {
            for (dst, src) in [(2 * j, j), (2 * j + 1, j + half)] {
                let d = (h * head_dim + dst) * row_bytes;
                let s = (h * head_dim + src) * row_bytes;
                out[d..d + row_bytes].copy_from_slice(&bytes[s..s + row_bytes]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_interleaves_the_two_halves_of_each_head() {
        // 2 heads × 4 rows of one byte: HF rows h0: 0 1 2 3, h1: 4 5 6 7.
        let hf: Vec<u8> = (0..8).collect();
        assert_eq!(permute_rows_for_adjacent_rope(&hf, 2, 4, 1), vec![0, 2, 1, 3, 4, 6, 5, 7]);
    }
}
