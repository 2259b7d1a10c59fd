//! The seven projections of a Llama decoder block, with every name they go by: Hugging Face's
//! module path (what PEFT adapters and safetensors checkpoints say), GGUF's tensor name (what
//! llama.cpp files and LoRA GGUFs say), their shape, and whether their rows are in RoPE's
//! rotate-half order in HF checkpoints (Q and K: llama.cpp's converter permutes them to
//! adjacent pairs, and so must anything that moves rows between the two worlds).

use crate::LlamaConfig;

/// One projection of a decoder block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proj {
    /// Queries.
    Q,
    /// Keys.
    K,
    /// Values.
    V,
    /// Attention output.
    O,
    /// Feed-forward gate (through SiLU).
    Gate,
    /// Feed-forward up.
    Up,
    /// Feed-forward down.
    Down,
}

impl Proj {
    /// Every projection, in block order.
    pub const ALL: [Proj; 7] = [Proj::Q, Proj::K, Proj::V, Proj::O, Proj::Gate, Proj::Up, Proj::Down];

    /// The module path inside an HF decoder layer (`self_attn.q_proj`).
    pub fn hf_module(self) -> &'static str {
        match self {
            Proj::Q => "self_attn.q_proj",
            Proj::K => "self_attn.k_proj",
            Proj::V => "self_attn.v_proj",
            Proj::O => "self_attn.o_proj",
            Proj::Gate => "mlp.gate_proj",
            Proj::Up => "mlp.up_proj",
            Proj::Down => "mlp.down_proj",
        }
    }

    /// The short name PEFT's `target_modules` use (`q_proj`).
    pub fn target_name(self) -> &'static str {
        let m = self.hf_module();
        m.rsplit('.').next().unwrap_or(m)
    }

    /// The GGUF tensor stem inside a block (`attn_q`; the tensor is `blk.N.attn_q.weight`).
    pub fn gguf_stem(self) -> &'static str {
        match self {
            Proj::Q => "attn_q",
            Proj::K => "attn_k",
            Proj::V => "attn_v",
            Proj::O => "attn_output",
            Proj::Gate => "ffn_gate",
            Proj::Up => "ffn_up",
            Proj::Down => "ffn_down",
        }
    }

    /// The GGUF tensor name of this projection in `layer` (`blk.3.attn_q.weight`).
    pub fn gguf_name(self, layer: usize) -> String {
        format!("blk.{layer}.{}.weight", self.gguf_stem())
    }

    /// The HF module path of this projection in `layer` (`model.layers.3.self_attn.q_proj`).
    pub fn hf_path(self, layer: usize) -> String {
        format!("model.layers.{layer}.{}", self.hf_module())
    }

    /// `(in, out)` features under `c`.
    pub fn shape(self, c: &LlamaConfig) -> (usize, usize) {
        let (h, q, kv, ff) = (c.hidden_size, c.n_heads * c.head_dim, c.n_kv_heads * c.head_dim, c.intermediate_size);
        match self {
            Proj::Q => (h, q),
            Proj::K | Proj::V => (h, kv),
            Proj::O => (q, h),
            Proj::Gate | Proj::Up => (h, ff),
            Proj::Down => (ff, h),
        }
    }

    /// For Q and K, the head count whose rows HF checkpoints keep in rotate-half order and
    /// GGUF in adjacent pairs (permute with [`crate::runtime::weights::permute_rows_for_adjacent_rope`]);
    /// `None` for the others.
    pub fn rope_heads(self, c: &LlamaConfig) -> Option<usize> {
        match self {
            Proj::Q => Some(c.n_heads),
            Proj::K => Some(c.n_kv_heads),
            _ => None,
        }
    }

    /// The projection of an HF module path inside a layer (`self_attn.q_proj`).
    pub fn from_hf_module(module: &str) -> Option<Proj> {
        Proj::ALL.into_iter().find(|p| p.hf_module() == module)
    }

    /// The projection of a GGUF tensor stem (`attn_q`).
    pub fn from_gguf_stem(stem: &str) -> Option<Proj> {
        Proj::ALL.into_iter().find(|p| p.gguf_stem() == stem)
    }

    /// `(layer, projection)` of a full HF module path (`model.layers.3.self_attn.q_proj`).
    pub fn parse_hf_path(path: &str) -> Option<(usize, Proj)> {
        let rest = path.strip_prefix("model.layers.")?;
        let (layer, module) = rest.split_once('.')?;
        Some((layer.parse().ok()?, Proj::from_hf_module(module)?))
    }

    /// `(layer, projection)` of a GGUF tensor name (`blk.3.attn_q.weight`).
    pub fn parse_gguf_name(name: &str) -> Option<(usize, Proj)> {
        let rest = name.strip_prefix("blk.")?;
        let (layer, stem) = rest.split_once('.')?;
        Some((layer.parse().ok()?, Proj::from_gguf_stem(stem.strip_suffix(".weight")?)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in Proj::ALL {
            assert_eq!(Proj::parse_hf_path(&p.hf_path(12)), Some((12, p)));
            assert_eq!(Proj::parse_gguf_name(&p.gguf_name(3)), Some((3, p)));
            assert!(p.hf_module().ends_with(p.target_name()));
        }
        assert_eq!(Proj::Gate.hf_path(0), "model.layers.0.mlp.gate_proj");
        assert_eq!(Proj::O.gguf_name(29), "blk.29.attn_output.weight");
        assert_eq!(Proj::parse_hf_path("model.layers.x.self_attn.q_proj"), None);
        assert_eq!(Proj::parse_hf_path("model.layers.1.self_attn.qkv"), None);
        assert_eq!(Proj::parse_gguf_name("blk.1.attn_norm.weight"), None);
    }
}
