//! Llama hyper-parameters, from GGUF metadata or a Hugging Face `config.json`.

use serde::Deserialize;

use crate::LlamaError;
use crate::runtime::gguf::GgufFile;

/// Llama-3.1 "llama3" RoPE frequency scaling.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct RopeScaling {
    /// Context multiplier (8 for Llama-3.1).
    pub factor: f64,
    /// Wavelengths longer than `original / low_freq_factor` are scaled fully.
    pub low_freq_factor: f64,
    /// Wavelengths shorter than `original / high_freq_factor` are kept.
    pub high_freq_factor: f64,
    /// The context length the base model was trained for.
    pub original_max_position_embeddings: f64,
}

/// Everything the decoder needs to know about its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaConfig {
    /// Tokens in the vocabulary.
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the feed-forward's hidden layer.
    pub intermediate_size: usize,
    /// Decoder blocks.
    pub n_layers: usize,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads (fewer than `n_heads` with grouped-query attention).
    pub n_kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// RMS norm epsilon.
    pub rms_norm_eps: f32,
    /// RoPE base frequency.
    pub rope_theta: f64,
    /// Llama-3.1 frequency scaling from a `config.json`, if any.
    pub rope_scaling: Option<RopeScaling>,
    /// Per-frequency divisors from a GGUF `rope_freqs.weight` (Llama 3.1 GGUFs carry the
    /// scaling this way); applied instead of `rope_scaling` when present.
    pub rope_freq_divisors: Option<Vec<f32>>,
    /// Longest context the model was trained for.
    pub context_length: usize,
    /// The LM head is the embedding table.
    pub tie_word_embeddings: bool,
}

#[derive(Deserialize)]
struct HfConfig {
    vocab_size: usize,
    hidden_size: usize,
    intermediate_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    num_key_value_heads: Option<usize>,
    head_dim: Option<usize>,
    rms_norm_eps: f32,
    #[serde(default = "default_theta")]
    rope_theta: f64,
    rope_scaling: Option<serde_json::Value>,
    #[serde(default = "default_context")]
    max_position_embeddings: usize,
    #[serde(default)]
    tie_word_embeddings: bool,
    model_type: Option<String>,
}

fn default_theta() -> f64 {
    10_000.0
}

/// Largest accepted width, vocabulary or context (16.7 M; today's largest models use 256 k
/// vocabularies, 53 k intermediate widths and 128 k contexts).
pub const MAX_DIM: usize = 1 << 24;
/// Largest accepted layer count.
pub const MAX_LAYERS: usize = 4096;

fn default_context() -> usize {
    2048
}

impl LlamaConfig {
    /// Reads `{arch}.*` keys of a GGUF file (`general.architecture` must be `llama`).
    pub fn from_gguf(f: &GgufFile) -> Result<Self, LlamaError> {
        let arch = f.str("general.architecture")?;
        if arch != "llama" {
            return Err(LlamaError::Unsupported(format!("GGUF architecture {arch:?} (only llama)")));
        }
        let u = |k: &str| f.u64(&format!("llama.{k}")).map(|v| v as usize);
        let hidden_size = u("embedding_length")?;
        let n_heads = u("attention.head_count")?;
        let n_kv_heads = u("attention.head_count_kv").unwrap_or(n_heads);
        let vocab_size = match u("vocab_size") {
            Ok(v) => v,
            Err(_) => f.strings("tokenizer.ggml.tokens")?.len(),
        };
        let head_dim = u("rope.dimension_count").unwrap_or(hidden_size / n_heads.max(1));
        let rope_freq_divisors = match f.tensor("rope_freqs.weight") {
            None => None,
            Some(t) => {
                let bytes = f.tensor_data(t);
                if t.ggml_type != quant5::GgmlType::F32 || bytes.len() != head_dim / 2 * 4 {
                    return Err(LlamaError::Unsupported(format!("rope_freqs.weight: {:?} {:?}", t.ggml_type, t.dims)));
                }
                Some(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
            }
        };
        let cfg = Self {
            vocab_size,
            hidden_size,
            intermediate_size: u("feed_forward_length")?,
            n_layers: u("block_count")?,
            n_heads,
            n_kv_heads,
            head_dim,
            rms_norm_eps: f.f64_opt("llama.attention.layer_norm_rms_epsilon")?.unwrap_or(1e-5) as f32,
            rope_theta: f.f64_opt("llama.rope.freq_base")?.unwrap_or(10_000.0),
            rope_scaling: None,
            rope_freq_divisors,
            context_length: u("context_length")?,
            tie_word_embeddings: f.tensor("output.weight").is_none(),
        };
        cfg.validate()
    }

    /// Parses a Hugging Face `config.json` (`model_type` llama).
    pub fn from_hf_json(text: &str) -> Result<Self, LlamaError> {
        let c: HfConfig = serde_json::from_str(text).map_err(|e| LlamaError::Config(format!("config.json: {e}")))?;
        if let Some(t) = &c.model_type
            && t != "llama"
        {
            return Err(LlamaError::Unsupported(format!("model_type {t:?} (only llama)")));
        }
        let rope_scaling = match &c.rope_scaling {
            Some(v) if v.get("rope_type").or(v.get("type")).and_then(|t| t.as_str()) == Some("llama3") => {
                Some(serde_json::from_value(v.clone()).map_err(|e| LlamaError::Config(format!("rope_scaling: {e}")))?)
            }
            Some(serde_json::Value::Null) | None => None,
            Some(other) => return Err(LlamaError::Unsupported(format!("rope_scaling {other}"))),
        };
        let cfg = Self {
            vocab_size: c.vocab_size,
            hidden_size: c.hidden_size,
            intermediate_size: c.intermediate_size,
            n_layers: c.num_hidden_layers,
            n_heads: c.num_attention_heads,
            n_kv_heads: c.num_key_value_heads.unwrap_or(c.num_attention_heads),
            head_dim: c.head_dim.unwrap_or(c.hidden_size / c.num_attention_heads.max(1)),
            rms_norm_eps: c.rms_norm_eps,
            rope_theta: c.rope_theta,
            rope_scaling,
            rope_freq_divisors: None,
            context_length: c.max_position_embeddings,
            tie_word_embeddings: c.tie_word_embeddings,
        };
        cfg.validate()
    }

    fn validate(self) -> Result<Self, LlamaError> {
        let bad = |w: String| Err(LlamaError::Config(w));
        // Sizes come from untrusted metadata and size allocations (KV cache, activations) before
        // any tensor is checked against them: bound every one, and their products.
        let dims = [
            ("hidden size", self.hidden_size),
            ("intermediate size", self.intermediate_size),
            ("vocabulary size", self.vocab_size),
            ("context length", self.context_length),
            ("query width (heads × head dim)", self.n_heads.saturating_mul(self.head_dim)),
        ];
        for (what, value) in dims {
            if value > MAX_DIM {
                return bad(format!("{what} {value} is over the {MAX_DIM} limit"));
            }
        }
        if self.n_layers > MAX_LAYERS {
            return bad(format!("{} layers is over the {MAX_LAYERS} limit", self.n_layers));
        }
        if self.n_heads == 0 || self.n_kv_heads == 0 || !self.n_heads.is_multiple_of(self.n_kv_heads) {
            return bad(format!("{} heads do not group over {} KV heads", self.n_heads, self.n_kv_heads));
        }
        if self.head_dim == 0 || !self.head_dim.is_multiple_of(2) {
            return bad(format!("head dim {} must be even", self.head_dim));
        }
        if self.hidden_size == 0 || self.n_layers == 0 || self.vocab_size == 0 || self.intermediate_size == 0 {
            return bad(format!("empty model {self:?}"));
        }
        Ok(self)
    }

    /// RoPE inverse frequencies `θ_i = base^(−2i/d)`, with Llama-3.1 scaling applied.
    pub fn rope_inv_freqs(&self) -> Vec<f32> {
        let d = self.head_dim as f64;
        (0..self.head_dim / 2)
            .map(|i| {
                let inv = self.rope_theta.powf(-2.0 * i as f64 / d);
                if let Some(div) = &self.rope_freq_divisors {
                    return (inv / div.get(i).copied().unwrap_or(1.0) as f64) as f32;
                }
                match self.rope_scaling {
                    None => inv as f32,
                    Some(s) => {
                        let wavelen = 2.0 * std::f64::consts::PI / inv;
                        let low_wl = s.original_max_position_embeddings / s.low_freq_factor;
                        let high_wl = s.original_max_position_embeddings / s.high_freq_factor;
                        let scaled = if wavelen < high_wl {
                            inv
                        } else if wavelen > low_wl {
                            inv / s.factor
                        } else {
                            let smooth = (s.original_max_position_embeddings / wavelen - s.low_freq_factor)
                                / (s.high_freq_factor - s.low_freq_factor);
                            (1.0 - smooth) * inv / s.factor + smooth * inv
                        };
                        scaled as f32
                    }
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama31_config_and_scaled_frequencies() {
        let json = r#"{"model_type":"llama","vocab_size":128256,"hidden_size":4096,"intermediate_size":14336,
            "num_hidden_layers":32,"num_attention_heads":32,"num_key_value_heads":8,"rms_norm_eps":1e-5,
            "rope_theta":500000.0,"max_position_embeddings":131072,"tie_word_embeddings":false,
            "rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,
            "original_max_position_embeddings":8192}}"#;
        let c = LlamaConfig::from_hf_json(json).unwrap();
        assert_eq!((c.head_dim, c.n_kv_heads), (128, 8));
        let f = c.rope_inv_freqs();
        assert_eq!(f.len(), 64);
        assert_eq!(f[0], 1.0);
        // The lowest frequency (wavelength ≫ 8192) is divided by the factor 8.
        let unscaled = 500000f64.powf(-126.0 / 128.0);
        assert!(((f[63] as f64) - unscaled / 8.0).abs() < 1e-12);
        assert!(LlamaConfig::from_hf_json(r#"{"model_type":"mistral"}"#).is_err());
    }
}
