//! The Llama decoder on CPU with its matrices left in their quantized blocks.
//!
//! Every projection is a quant5 [`QuantizedMatrix`]: activations are quantized once per product
//! to the weight type's 8-bit partner and each output is an integer block dot product, as
//! ggml's CPU path does. Norm weights stay f32. Tokens are processed one at a time against a
//! KV cache (f32, sized to the context), so prefill and decode share one code path.
//!
//! Layout conventions are GGUF's: Q and K rows are in the "adjacent pairs" RoPE order, which
//! the safetensors loader produces from HF's rotate-half layout by permuting rows once.

use std::sync::Arc;

use quant5::{GgmlType, QuantizedMatrix};

use crate::LlamaError;
use crate::config::LlamaConfig;
use crate::gguf::GgufFile;
use crate::weights::{TensorSource, WeightSet};

/// One decoder block's weights.
#[derive(Debug, Clone)]
pub struct Block {
    pub attn_norm: Vec<f32>,
    pub wq: QuantizedMatrix,
    pub wk: QuantizedMatrix,
    pub wv: QuantizedMatrix,
    pub wo: QuantizedMatrix,
    pub ffn_norm: Vec<f32>,
    pub w_gate: QuantizedMatrix,
    pub w_up: QuantizedMatrix,
    pub w_down: QuantizedMatrix,
}

/// How to keep the weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightFormat {
    /// As stored in the file (F32/F16/BF16 checkpoints are kept in their float type).
    #[default]
    AsLoaded,
    /// Re-quantize every projection matrix and the LM head to this type on load (e.g. Q5_0
    /// or Q5_K, the paper's 5 bits; F32 for a float reference); norms stay f32, the embedding
    /// table (a row lookup) stays as loaded.
    Requantize(GgmlType),
}

/// A Llama with quantized projections.
#[derive(Debug, Clone)]
pub struct QuantLlama {
    pub config: LlamaConfig,
    /// `[vocab, hidden]`.
    pub embed: Arc<QuantizedMatrix>,
    pub blocks: Vec<Block>,
    pub norm: Vec<f32>,
    /// `[vocab, hidden]`; the same matrix as `embed` when embeddings are tied.
    pub head: Arc<QuantizedMatrix>,
    rope: RopeAngles,
    /// Threads per matrix product.
    pub threads: usize,
}

/// Keys and values of every position seen so far, per layer.
#[derive(Debug, Clone)]
pub struct KvCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    len: usize,
    capacity: usize,
    kv_dim: usize,
}

impl KvCache {
    /// A cache for `capacity` positions (at most the model's context).
    pub fn new(config: &LlamaConfig, capacity: usize) -> Self {
        let kv_dim = config.n_kv_heads * config.head_dim;
        Self {
            k: vec![Vec::with_capacity(capacity * kv_dim); config.n_layers],
            v: vec![Vec::with_capacity(capacity * kv_dim); config.n_layers],
            len: 0,
            capacity,
            kv_dim,
        }
    }

    /// Positions cached.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Forgets everything (keeps the memory).
    pub fn clear(&mut self) {
        self.k.iter_mut().chain(self.v.iter_mut()).for_each(Vec::clear);
        self.len = 0;
    }

    /// Keeps only the first `len` positions (to rewind after a speculative step).
    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            let keep = len * self.kv_dim;
            self.k.iter_mut().chain(self.v.iter_mut()).for_each(|c| c.truncate(keep));
            self.len = len;
        }
    }
}

/// `x / sqrt(mean(x²) + eps) · w`, the sum of squares in f64 as ggml does.
pub fn rms_norm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let ss: f64 = x.iter().map(|&v| v as f64 * v as f64).sum();
    let scale = 1.0 / ((ss / x.len() as f64) as f32 + eps).sqrt();
    for ((o, &v), &g) in out.iter_mut().zip(x).zip(w) {
        *o = v * scale * g;
    }
}

/// How rotation angles are computed for one position.
#[derive(Debug, Clone, PartialEq)]
pub enum RopeAngles {
    /// ggml's recurrence: `θ_0 = pos`, `θ_{i+1} = θ_i · base^(−2/d)` in f32, each divided by
    /// an optional per-frequency factor — bit-for-bit the angles llama.cpp uses.
    Ggml { theta_scale: f32, freq_factors: Option<Vec<f32>> },
    /// `pos · inv_freq[i]` (Llama-3.1 scaling from a config.json).
    InvFreq(Vec<f32>),
}

impl RopeAngles {
    pub fn for_config(config: &LlamaConfig) -> Self {
        if config.rope_scaling.is_some() {
            Self::InvFreq(config.rope_inv_freqs())
        } else {
            let theta_scale = (config.rope_theta as f32).powf(-2.0 / config.head_dim as f32);
            Self::Ggml { theta_scale, freq_factors: config.rope_freq_divisors.clone() }
        }
    }

    /// `(cos, sin)` of every pair's angle at `pos`.
    pub fn cos_sin(&self, pos: usize, pairs: usize, out: &mut Vec<(f32, f32)>) {
        out.clear();
        match self {
            Self::Ggml { theta_scale, freq_factors } => {
                let mut theta = pos as f32;
                for i in 0..pairs {
                    let ff = freq_factors.as_ref().and_then(|f| f.get(i)).copied().unwrap_or(1.0);
                    let t = theta / ff;
                    out.push((t.cos(), t.sin()));
                    theta *= theta_scale;
                }
            }
            Self::InvFreq(inv) => out.extend(inv.iter().take(pairs).map(|&f| {
                let t = pos as f32 * f;
                (t.cos(), t.sin())
            })),
        }
    }
}

/// Rotates adjacent pairs `(2i, 2i+1)` of every head by the angles `cos_sin`.
pub fn rope_adjacent(x: &mut [f32], head_dim: usize, cos_sin: &[(f32, f32)]) {
    for head in x.chunks_exact_mut(head_dim) {
        for (i, &(cos, sin)) in cos_sin.iter().enumerate() {
            let (a, b) = (head[2 * i], head[2 * i + 1]);
            head[2 * i] = a * cos - b * sin;
            head[2 * i + 1] = a * sin + b * cos;
        }
    }
}

fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

impl QuantLlama {
    /// Loads a GGUF model.
    pub fn from_gguf(file: &GgufFile, format: WeightFormat) -> Result<Self, LlamaError> {
        let config = LlamaConfig::from_gguf(file)?;
        Self::from_weights(config, &WeightSet::Gguf(file), format)
    }

    /// Builds from any weight source (GGUF names, permuted Q/K).
    pub fn from_weights(config: LlamaConfig, w: &WeightSet<'_>, format: WeightFormat) -> Result<Self, LlamaError> {
        let (h, kv) = (config.hidden_size, config.n_kv_heads * config.head_dim);
        let q_dim = config.n_heads * config.head_dim;
        let matrix = |name: &str, rows: usize, cols: usize| -> Result<QuantizedMatrix, LlamaError> {
            let m = w.matrix(name, rows, cols)?;
            match format {
                WeightFormat::Requantize(t) if m.ggml_type != t => {
                    Ok(QuantizedMatrix::quantize(t, rows, cols, &m.dequantize()?)?)
                }
                _ => Ok(m),
            }
        };
        let mut blocks = Vec::with_capacity(config.n_layers);
        for i in 0..config.n_layers {
            let p = format!("blk.{i}");
            blocks.push(Block {
                attn_norm: w.vector(&format!("{p}.attn_norm.weight"), h)?,
                wq: matrix(&format!("{p}.attn_q.weight"), q_dim, h)?,
                wk: matrix(&format!("{p}.attn_k.weight"), kv, h)?,
                wv: matrix(&format!("{p}.attn_v.weight"), kv, h)?,
                wo: matrix(&format!("{p}.attn_output.weight"), h, q_dim)?,
                ffn_norm: w.vector(&format!("{p}.ffn_norm.weight"), h)?,
                w_gate: matrix(&format!("{p}.ffn_gate.weight"), config.intermediate_size, h)?,
                w_up: matrix(&format!("{p}.ffn_up.weight"), config.intermediate_size, h)?,
                w_down: matrix(&format!("{p}.ffn_down.weight"), h, config.intermediate_size)?,
            });
        }
        let embed = Arc::new(w.matrix("token_embd.weight", config.vocab_size, h)?);
        let head = match (w.has("output.weight"), format) {
            (true, _) => Arc::new(matrix("output.weight", config.vocab_size, h)?),
            // A requantized model gets its own head in the target type, even when tied.
            (false, WeightFormat::Requantize(_)) => Arc::new(matrix("token_embd.weight", config.vocab_size, h)?),
            (false, WeightFormat::AsLoaded) => embed.clone(),
        };
        let norm = w.vector("output_norm.weight", h)?;
        let rope = RopeAngles::for_config(&config);
        Ok(Self { config, embed, blocks, norm, head, rope, threads: 1 })
    }

    /// Sets the threads used per matrix product.
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// A KV cache for up to `capacity` positions (capped at the model's context).
    pub fn new_cache(&self, capacity: usize) -> KvCache {
        KvCache::new(&self.config, capacity.min(self.config.context_length))
    }

    /// Feeds `tokens` after what `cache` holds; returns the logits after the last one.
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Vec<f32>, LlamaError> {
        let mut last = None;
        self.forward_each(
            tokens,
            cache,
            |i, n, logits| {
                if i + 1 == n {
                    last = Some(logits.to_vec());
                }
            },
            true,
        )?;
        last.ok_or_else(|| LlamaError::Generation("no tokens to feed".into()))
    }

    /// Feeds `tokens`, calling `on_logits(i, n, logits)` for every position (teacher forcing,
    /// evaluation). Logits are computed only when `all_logits` or for the last token.
    pub fn forward_each(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
        mut on_logits: impl FnMut(usize, usize, &[f32]),
        all_logits: bool,
    ) -> Result<(), LlamaError> {
        let c = &self.config;
        let needed = cache.len + tokens.len();
        if needed > cache.capacity {
            return Err(LlamaError::ContextOverflow { needed, limit: cache.capacity });
        }
        let (h, hd) = (c.hidden_size, c.head_dim);
        let group = c.n_heads / c.n_kv_heads;
        let scale = 1.0 / (hd as f32).sqrt();
        let mut x = vec![0f32; h];
        let mut xn = vec![0f32; h];
        let mut q = vec![0f32; c.n_heads * hd];
        let mut k = vec![0f32; cache.kv_dim];
        let mut v = vec![0f32; cache.kv_dim];
        let mut attn = vec![0f32; c.n_heads * hd];
        let mut proj = vec![0f32; h];
        let mut gate = vec![0f32; c.intermediate_size];
        let mut up = vec![0f32; c.intermediate_size];
        let mut scores = Vec::with_capacity(cache.capacity);
        let mut logits = vec![0f32; c.vocab_size];
        let mut angles = Vec::with_capacity(hd / 2);
        let t = self.threads;
        for (i, &token) in tokens.iter().enumerate() {
            if token as usize >= c.vocab_size {
                return Err(LlamaError::Generation(format!("token id {token} ≥ vocabulary {}", c.vocab_size)));
            }
            let pos = cache.len;
            self.rope.cos_sin(pos, hd / 2, &mut angles);
            quant5::dequantize_row(self.embed.ggml_type, self.embed.row(token as usize), &mut x)?;
            for (l, b) in self.blocks.iter().enumerate() {
                rms_norm(&x, &b.attn_norm, c.rms_norm_eps, &mut xn);
                b.wq.matvec_into(&xn, &mut q, t)?;
                b.wk.matvec_into(&xn, &mut k, t)?;
                b.wv.matvec_into(&xn, &mut v, t)?;
                rope_adjacent(&mut q, hd, &angles);
                rope_adjacent(&mut k, hd, &angles);
                cache.k[l].extend_from_slice(&k);
                cache.v[l].extend_from_slice(&v);
                let (keys, values) = (&cache.k[l], &cache.v[l]);
                for head in 0..c.n_heads {
                    let kvh = head / group;
                    let qh = &q[head * hd..(head + 1) * hd];
                    scores.clear();
                    for p in 0..=pos {
                        let kp = &keys[p * cache.kv_dim + kvh * hd..p * cache.kv_dim + (kvh + 1) * hd];
                        scores.push(qh.iter().zip(kp).map(|(a, b)| a * b).sum::<f32>() * scale);
                    }
                    let max = scores.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
                    let mut sum = 0f32;
                    scores.iter_mut().for_each(|s| {
                        *s = (*s - max).exp();
                        sum += *s;
                    });
                    let out = &mut attn[head * hd..(head + 1) * hd];
                    out.fill(0.0);
                    for (p, &w) in scores.iter().enumerate() {
                        let vp = &values[p * cache.kv_dim + kvh * hd..p * cache.kv_dim + (kvh + 1) * hd];
                        let w = w / sum;
                        out.iter_mut().zip(vp).for_each(|(o, &vv)| *o += w * vv);
                    }
                }
                b.wo.matvec_into(&attn, &mut proj, t)?;
                x.iter_mut().zip(&proj).for_each(|(a, p)| *a += p);
                rms_norm(&x, &b.ffn_norm, c.rms_norm_eps, &mut xn);
                b.w_gate.matvec_into(&xn, &mut gate, t)?;
                b.w_up.matvec_into(&xn, &mut up, t)?;
                gate.iter_mut().zip(&up).for_each(|(g, u)| *g = silu(*g) * u);
                b.w_down.matvec_into(&gate, &mut proj, t)?;
                x.iter_mut().zip(&proj).for_each(|(a, p)| *a += p);
            }
            cache.len += 1;
            if all_logits || i + 1 == tokens.len() {
                rms_norm(&x, &self.norm, c.rms_norm_eps, &mut xn);
                self.head.matvec_into(&xn, &mut logits, t)?;
                on_logits(i, tokens.len(), &logits);
            }
        }
        Ok(())
    }

    /// Bytes held by the weights.
    pub fn weight_bytes(&self) -> usize {
        let m = |q: &QuantizedMatrix| q.bytes.len();
        let blocks: usize = self
            .blocks
            .iter()
            .map(|b| m(&b.wq) + m(&b.wk) + m(&b.wv) + m(&b.wo) + m(&b.w_gate) + m(&b.w_up) + m(&b.w_down))
            .sum();
        let head = if Arc::ptr_eq(&self.embed, &self.head) { 0 } else { m(&self.head) };
        blocks + m(&self.embed) + head
    }

    /// The whole model's weights as f32 `[rows, cols]` by GGUF name (for the f32 path).
    pub fn dequantized(&self) -> Result<Vec<(String, TensorSource)>, LlamaError> {
        let mut out = Vec::new();
        let mut put = |name: String, m: &QuantizedMatrix| -> Result<(), LlamaError> {
            out.push((name, TensorSource { rows: m.rows, cols: m.cols, values: m.dequantize()? }));
            Ok(())
        };
        put("token_embd.weight".into(), &self.embed)?;
        if !Arc::ptr_eq(&self.embed, &self.head) {
            put("output.weight".into(), &self.head)?;
        }
        for (i, b) in self.blocks.iter().enumerate() {
            for (n, m) in [
                ("attn_q", &b.wq),
                ("attn_k", &b.wk),
                ("attn_v", &b.wv),
                ("attn_output", &b.wo),
                ("ffn_gate", &b.w_gate),
                ("ffn_up", &b.w_up),
                ("ffn_down", &b.w_down),
            ] {
                put(format!("blk.{i}.{n}.weight"), m)?;
            }
        }
        Ok(out)
    }
}
