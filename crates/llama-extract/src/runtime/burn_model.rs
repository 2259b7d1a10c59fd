//! The same decoder in f32 on burn: the path for training (LoRA) and for GPU backends.
//!
//! Weights are the GGUF/HF tensors dequantized to f32, Q/K in the adjacent-pair RoPE order, RoPE
//! angles computed exactly as the quantized path computes them ([`RopeAngles`]), so the two
//! paths differ only by the quantized path's 8-bit activations.

use std::marker::PhantomData;
use std::sync::Arc;

use burn::module::{Module, Param};
use burn::nn::{Embedding, EmbeddingConfig, Linear, LinearConfig, RmsNorm, RmsNormConfig};
use burn::tensor::activation::{silu, softmax};
use burn::tensor::backend::Backend;
use burn::tensor::{Device, Int, Tensor, TensorData};
use lora::{FrozenBase, LoraAdapter, LoraConfig, LoraLinear, QuantLinearBackend};
use quant5::{GgmlType, QuantizedMatrix};

use crate::LlamaError;
use crate::runtime::config::LlamaConfig;
use crate::runtime::generate::{ContextCache, Decoder, Session};
use crate::runtime::proj::Proj;
use crate::runtime::quant_model::{RopeAngles, fallback_type};
use crate::runtime::weights::WeightSet;

/// Attention projections (no biases, as Llama); frozen bases that can carry LoRA adapters.
#[derive(Module, Debug)]
pub struct Attention<B: Backend> {
    /// Query projection (hidden → heads · head_dim).
    pub q_proj: LoraLinear<B>,
    /// Key projection (hidden → kv_heads · head_dim).
    pub k_proj: LoraLinear<B>,
    /// Value projection (hidden → kv_heads · head_dim).
    pub v_proj: LoraLinear<B>,
    /// Output projection (heads · head_dim → hidden).
    pub o_proj: LoraLinear<B>,
}

/// SwiGLU feed-forward.
#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    /// Gate projection (hidden → intermediate), through SiLU.
    pub gate_proj: LoraLinear<B>,
    /// Up projection (hidden → intermediate).
    pub up_proj: LoraLinear<B>,
    /// Down projection (intermediate → hidden).
    pub down_proj: LoraLinear<B>,
}

/// One decoder block.
#[derive(Module, Debug)]
pub struct DecoderBlock<B: Backend> {
    /// RMS norm before attention.
    pub input_layernorm: RmsNorm<B>,
    /// Self-attention.
    pub self_attn: Attention<B>,
    /// RMS norm before the feed-forward.
    pub post_attention_layernorm: RmsNorm<B>,
    /// SwiGLU feed-forward.
    pub mlp: Mlp<B>,
}

/// The f32 Llama. Field names follow HF's module names, so LoRA targets (`q_proj`, `v_proj`, …)
/// read as they do in PEFT.
#[derive(Module, Debug)]
pub struct BurnLlama<B: Backend> {
    /// Token embedding table.
    pub embed_tokens: TokenEmbedding<B>,
    /// Decoder blocks, first to last.
    pub layers: Vec<DecoderBlock<B>>,
    /// Final RMS norm.
    pub norm: RmsNorm<B>,
    /// Frozen; never carries an adapter.
    pub lm_head: LoraLinear<B>,
    /// Shape and RoPE settings.
    #[module(skip)]
    pub config: LlamaConfig,
    /// The LM head is the embedding table (SmolLM2, Llama-3.2).
    #[module(skip)]
    tied_head: bool,
    #[module(skip)]
    rope: RopeAngles,
}

/// Per-layer keys and values `[1, n_kv_heads, positions, head_dim]` of the f32 path.
#[derive(Debug, Clone)]
pub struct BurnKvCache<B: Backend> {
    layers: Vec<Option<(Tensor<B, 4>, Tensor<B, 4>)>>,
    len: usize,
    capacity: usize,
}

impl<B: Backend> BurnKvCache<B> {
    /// An empty cache for `n_layers` layers and up to `capacity` positions.
    pub fn new(n_layers: usize, capacity: usize) -> Self {
        Self { layers: vec![None; n_layers], len: 0, capacity }
    }

    /// Forgets every position.
    pub fn clear(&mut self) {
        self.layers.iter_mut().for_each(|l| *l = None);
        self.len = 0;
    }

    /// Keeps only the first `len` positions.
    pub fn truncate(&mut self, len: usize) {
        if len == 0 {
            self.clear();
        } else if len < self.len {
            for (k, v) in self.layers.iter_mut().flatten() {
                *k = k.clone().narrow(2, 0, len);
                *v = v.clone().narrow(2, 0, len);
            }
            self.len = len;
        }
    }
}

fn linear<B: Backend>(
    w: &WeightSet<'_>,
    name: &str,
    rows: usize,
    cols: usize,
    device: &Device<B>,
) -> Result<Linear<B>, LlamaError> {
    let values = w.matrix(name, rows, cols)?.dequantize()?;
    let mut l = LinearConfig::new(cols, rows).with_bias(false).init(device);
    // GGUF stores [out, in] row-major; burn's Linear keeps [in, out]. Transposed here on the
    // host so the parameter is contiguous (a transposed view would make every matmul strided).
    let mut transposed = vec![0f32; values.len()];
    for (r, row) in values.chunks_exact(cols).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            transposed[c * rows + r] = v;
        }
    }
    l.weight = Param::from_tensor(Tensor::<B, 2>::from_data(TensorData::new(transposed, [cols, rows]), device));
    Ok(l)
}

fn norm<B: Backend>(
    w: &WeightSet<'_>,
    name: &str,
    len: usize,
    eps: f32,
    device: &Device<B>,
) -> Result<RmsNorm<B>, LlamaError> {
    let mut n = RmsNormConfig::new(len).with_epsilon(eps as f64).init(device);
    n.gamma = Param::from_tensor(Tensor::from_data(TensorData::new(w.vector(name, len)?, [len]), device));
    Ok(n)
}

/// The token embedding table, f32 or kept in quant5 blocks (rows dequantized per lookup).
#[derive(Module, Debug)]
pub enum TokenEmbedding<B: Backend> {
    /// An f32 table.
    Dense(Embedding<B>),
    /// A table kept in quantized blocks.
    Quant(QuantEmbedding<B>),
}

/// A frozen embedding table `[vocab, hidden]` in quantized blocks, shared with a tied LM head.
#[derive(Module, Debug)]
pub struct QuantEmbedding<B: Backend> {
    /// `[vocab, hidden]` in its stored block type.
    #[module(skip)]
    pub table: Arc<QuantizedMatrix>,
    backend: PhantomData<B>,
}

impl<B: Backend> TokenEmbedding<B> {
    /// `[1, n, hidden]` rows for `tokens` (ids already checked against the vocabulary).
    fn forward(&self, tokens: &[u32], device: &Device<B>) -> Result<Tensor<B, 3>, LlamaError> {
        let n = tokens.len();
        match self {
            Self::Dense(e) => {
                let ids: Vec<i64> = tokens.iter().map(|&t| t as i64).collect();
                Ok(e.forward(Tensor::<B, 2, Int>::from_data(TensorData::new(ids, [1, n]), device)))
            }
            Self::Quant(q) => {
                let (t, h) = (&q.table, q.table.cols);
                let mut rows = vec![0f32; n * h];
                for (&id, out) in tokens.iter().zip(rows.chunks_exact_mut(h)) {
                    quant5::dequantize_row(t.ggml_type, t.row(id as usize), out)?;
                }
                Ok(Tensor::from_data(TensorData::new(rows, [1, n, h]), device))
            }
        }
    }

    /// Bytes the table occupies.
    pub fn size_bytes(&self) -> usize {
        match self {
            Self::Dense(e) => e.weight.dims().iter().product::<usize>() * 4,
            Self::Quant(q) => q.table.bytes.len(),
        }
    }
}

/// How [`BurnLlama::build`] makes each frozen matrix.
enum BaseFormat {
    F32,
    Quantized(GgmlType),
}

impl<B: Backend> BurnLlama<B> {
    /// Dequantizes every weight of `w` to f32 on `device`.
    pub fn from_weights(config: LlamaConfig, w: &WeightSet<'_>, device: &Device<B>) -> Result<Self, LlamaError> {
        Self::build(config, w, BaseFormat::F32, device)
    }

    /// Keeps every matrix (projections, embedding, LM head) frozen in quant5 blocks of type `t`
    /// (requantized from the file; Q5_K falls back to Q5_1 where rows are not whole 256-blocks,
    /// as [`fallback_type`] says), with norms in f32: the QLoRA base. Adapters attached to it
    /// are f32 and train as over an f32 base; see [`lora::frozen`] for why the backward pass
    /// does not hold dequantized weights.
    pub fn from_weights_quantized(
        config: LlamaConfig,
        w: &WeightSet<'_>,
        t: GgmlType,
        device: &Device<B>,
    ) -> Result<Self, LlamaError> {
        Self::build(config, w, BaseFormat::Quantized(t), device)
    }

    fn build(
        config: LlamaConfig,
        w: &WeightSet<'_>,
        format: BaseFormat,
        device: &Device<B>,
    ) -> Result<Self, LlamaError> {
        let c = &config;
        let h = c.hidden_size;
        let eps = c.rms_norm_eps;
        let quantized = |name: &str,
                         rows: usize,
                         cols: usize,
                         t: GgmlType|
         -> Result<Arc<QuantizedMatrix>, LlamaError> {
            let t = fallback_type(t, cols);
            let m = w.matrix(name, rows, cols)?;
            Ok(Arc::new(if m.ggml_type == t { m } else { QuantizedMatrix::quantize(t, rows, cols, &m.dequantize()?)? }))
        };
        let proj = |name: String, rows: usize, cols: usize| -> Result<LoraLinear<B>, LlamaError> {
            match format {
                BaseFormat::F32 => Ok(LoraLinear::new(linear(w, &name, rows, cols, device)?)),
                BaseFormat::Quantized(t) => LoraLinear::quantized(quantized(&name, rows, cols, t)?)
                    .map_err(|e| LlamaError::Weights(format!("{name}: {e}"))),
            }
        };
        let mut layers = Vec::with_capacity(c.n_layers);
        for i in 0..c.n_layers {
            let p = format!("blk.{i}");
            let layer_proj = |pr: Proj| {
                let (cols, rows) = pr.shape(c);
                proj(pr.gguf_name(i), rows, cols)
            };
            layers.push(DecoderBlock {
                input_layernorm: norm(w, &format!("{p}.attn_norm.weight"), h, eps, device)?.no_grad(),
                self_attn: Attention {
                    q_proj: layer_proj(Proj::Q)?,
                    k_proj: layer_proj(Proj::K)?,
                    v_proj: layer_proj(Proj::V)?,
                    o_proj: layer_proj(Proj::O)?,
                },
                post_attention_layernorm: norm(w, &format!("{p}.ffn_norm.weight"), h, eps, device)?.no_grad(),
                mlp: Mlp {
                    gate_proj: layer_proj(Proj::Gate)?,
                    up_proj: layer_proj(Proj::Up)?,
                    down_proj: layer_proj(Proj::Down)?,
                },
            });
        }
        let tied = !w.has("output.weight");
        let (embed_tokens, lm_head) = match format {
            BaseFormat::F32 => {
                let embed = w.matrix("token_embd.weight", c.vocab_size, h)?.dequantize()?;
                let mut e = EmbeddingConfig::new(c.vocab_size, h).init(device);
                e.weight = Param::from_tensor(Tensor::from_data(TensorData::new(embed, [c.vocab_size, h]), device));
                let head = if tied { "token_embd.weight" } else { "output.weight" };
                (TokenEmbedding::Dense(e.no_grad()), LoraLinear::new(linear(w, head, c.vocab_size, h, device)?))
            }
            BaseFormat::Quantized(t) => {
                let table = quantized("token_embd.weight", c.vocab_size, h, t)?;
                // A tied head shares the embedding's blocks.
                let head = if tied { table.clone() } else { quantized("output.weight", c.vocab_size, h, t)? };
                let head = LoraLinear::quantized(head)
                    .map_err(|source| LlamaError::LoraModule { module: "LM head".into(), source })?;
                (TokenEmbedding::Quant(QuantEmbedding { table, backend: PhantomData }), head)
            }
        };
        // Only adapters train: everything loaded here is frozen.
        Ok(Self {
            embed_tokens,
            layers,
            norm: norm(w, "output_norm.weight", h, eps, device)?.no_grad(),
            lm_head,
            tied_head: tied,
            rope: RopeAngles::for_config(c),
            config,
        })
    }

    /// Bytes the frozen weights occupy (matrices as stored, norms in f32).
    pub fn frozen_bytes(&self) -> usize {
        let norms = (2 * self.layers.len() + 1) * self.config.hidden_size * 4;
        let projections: usize = self.projections().map(|p| p.base.size_bytes()).sum();
        // A tied quantized head shares the embedding's blocks; a tied f32 head is a copy.
        let head_shared = matches!((&self.embed_tokens, &self.lm_head.base),
            (TokenEmbedding::Quant(e), FrozenBase::Quant(q)) if Arc::ptr_eq(&e.table, &q.weight));
        let head = if head_shared { 0 } else { self.lm_head.base.size_bytes() };
        norms + projections + self.embed_tokens.size_bytes() + head
    }

    /// Every projection with its HF module path (`model.layers.3.self_attn.q_proj`).
    pub fn projections_mut(&mut self) -> Vec<(String, &mut LoraLinear<B>)> {
        let mut out = Vec::new();
        for (i, l) in self.layers.iter_mut().enumerate() {
            let (a, m) = (&mut l.self_attn, &mut l.mlp);
            let linears = [
                &mut a.q_proj,
                &mut a.k_proj,
                &mut a.v_proj,
                &mut a.o_proj,
                &mut m.gate_proj,
                &mut m.up_proj,
                &mut m.down_proj,
            ];
            out.extend(Proj::ALL.iter().map(|p| p.hf_path(i)).zip(linears));
        }
        out
    }

    /// Attaches fresh adapters (A Kaiming-uniform, B zero) to every projection `config`
    /// targets; returns how many. The model's output is unchanged until they train. A is drawn
    /// from burn's backend generator: call `B::seed` first for reproducible runs.
    pub fn attach_lora(&mut self, config: &LoraConfig, device: &Device<B>) -> usize {
        let mut n = 0;
        for (path, layer) in self.projections_mut() {
            if config.targets(&path) {
                layer.attach(config, device);
                n += 1;
            }
        }
        n
    }

    /// Attaches a trained PEFT adapter; every module it names must exist and fit.
    pub fn load_adapter(&mut self, adapter: &LoraAdapter, device: &Device<B>) -> Result<(), LlamaError> {
        let mut layers = self.projections_mut();
        for (module, pair) in &adapter.modules {
            let (_, layer) = layers
                .iter_mut()
                .find(|(p, _)| p == module)
                .ok_or_else(|| LlamaError::Weights(format!("adapter module {module} is not in this model")))?;
            layer
                .attach_pair(pair, &adapter.config, device)
                .map_err(|source| LlamaError::LoraModule { module: module.clone(), source })?;
        }
        Ok(())
    }

    /// The attached adapters as a PEFT adapter with `config`.
    pub fn adapter(&mut self, config: &LoraConfig) -> Result<LoraAdapter, LlamaError> {
        let mut modules = std::collections::BTreeMap::new();
        for (path, layer) in self.projections_mut() {
            if let Some(pair) = layer.pair()? {
                modules.insert(path, pair);
            }
        }
        Ok(LoraAdapter { config: config.clone(), modules })
    }

    /// The seven projections of every layer.
    fn projections(&self) -> impl Iterator<Item = &LoraLinear<B>> {
        self.layers.iter().flat_map(|l| {
            [
                &l.self_attn.q_proj,
                &l.self_attn.k_proj,
                &l.self_attn.v_proj,
                &l.self_attn.o_proj,
                &l.mlp.gate_proj,
                &l.mlp.up_proj,
                &l.mlp.down_proj,
            ]
        })
    }

    /// `(trainable, total)` parameter counts. The total counts every weight once, whether a
    /// burn parameter or kept in quantized blocks, and a tied LM head not again.
    pub fn parameter_counts(&self) -> (usize, usize) {
        let trainable: usize = self.projections().filter_map(|p| p.adapter.as_ref().map(|a| a.num_params())).sum();
        let c = &self.config;
        let norms = (2 * self.layers.len() + 1) * c.hidden_size;
        let frozen: usize = self.projections().map(|p| p.base.num_weights()).sum();
        let embedding = c.vocab_size * c.hidden_size;
        let head = if self.tied_head { 0 } else { self.lm_head.base.num_weights() };
        (trainable, norms + frozen + embedding + head + trainable)
    }
}

impl<B: QuantLinearBackend> BurnLlama<B> {
    /// A cache for up to `capacity` positions.
    pub fn new_cache(&self, capacity: usize) -> BurnKvCache<B> {
        BurnKvCache::new(self.config.n_layers, capacity.min(self.config.context_length))
    }

    /// `(cos, sin)` tables `[positions, head_dim/2]` for positions `start..start+n`.
    fn rope_tables(&self, start: usize, n: usize, device: &Device<B>) -> (Tensor<B, 2>, Tensor<B, 2>) {
        let pairs = self.config.head_dim / 2;
        let (mut cos, mut sin) = (Vec::with_capacity(n * pairs), Vec::with_capacity(n * pairs));
        let mut row = Vec::with_capacity(pairs);
        for pos in start..start + n {
            self.rope.cos_sin(pos, pairs, &mut row);
            cos.extend(row.iter().map(|c| c.0));
            sin.extend(row.iter().map(|c| c.1));
        }
        (
            Tensor::from_data(TensorData::new(cos, [n, pairs]), device),
            Tensor::from_data(TensorData::new(sin, [n, pairs]), device),
        )
    }

    /// Rotates adjacent pairs of `x [1, heads, n, hd]`.
    fn rope(x: Tensor<B, 4>, cos: &Tensor<B, 2>, sin: &Tensor<B, 2>) -> Tensor<B, 4> {
        let [b, heads, n, hd] = x.dims();
        let pairs: Tensor<B, 5> = x.reshape([b, heads, n, hd / 2, 2]);
        let a = pairs.clone().narrow(4, 0, 1).reshape([b, heads, n, hd / 2]);
        let bb = pairs.narrow(4, 1, 1).reshape([b, heads, n, hd / 2]);
        let cos = cos.clone().reshape([1, 1, n, hd / 2]);
        let sin = sin.clone().reshape([1, 1, n, hd / 2]);
        let ra = a.clone() * cos.clone() - bb.clone() * sin.clone();
        let rb = a * sin + bb * cos;
        Tensor::stack::<5>(vec![ra, rb], 4).reshape([b, heads, n, hd])
    }

    /// Feeds `tokens` after the cached context; logits `[n, vocab]` for every new position.
    pub fn forward(&self, tokens: &[u32], cache: &mut BurnKvCache<B>) -> Result<Tensor<B, 2>, LlamaError> {
        self.forward_last(tokens, cache, tokens.len())
    }

    /// [`Self::forward`] with logits `[keep, vocab]` for the last `keep` positions only (at
    /// least one): fine-tuning scores only the response, and the LM head over a long prompt
    /// would be a tenth of the work for nothing.
    pub fn forward_last(
        &self,
        tokens: &[u32],
        cache: &mut BurnKvCache<B>,
        keep: usize,
    ) -> Result<Tensor<B, 2>, LlamaError> {
        let c = &self.config;
        let n = tokens.len();
        let start = cache.len;
        if n == 0 {
            return Err(LlamaError::Generation("no tokens to feed".into()));
        }
        if start + n > cache.capacity {
            return Err(LlamaError::ContextOverflow { needed: start + n, limit: cache.capacity });
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= c.vocab_size) {
            return Err(LlamaError::Generation(format!("token id {bad} ≥ vocabulary {}", c.vocab_size)));
        }
        let device = self.norm.gamma.device();
        let mut x = self.embed_tokens.forward(tokens, &device)?; // [1, n, h]
        let (cos, sin) = self.rope_tables(start, n, &device);
        let (hd, nh, nkv) = (c.head_dim, c.n_heads, c.n_kv_heads);
        let group = nh / nkv;
        let total = start + n;
        // Causal mask over [n, total]: query i (absolute start+i) sees keys ≤ start+i.
        let mask: Vec<f32> = (0..n)
            .flat_map(|i| (0..total).map(move |j| if j <= start + i { 0.0 } else { f32::NEG_INFINITY }))
            .collect();
        let mask = Tensor::<B, 2>::from_data(TensorData::new(mask, [n, total]), &device).reshape([1, 1, n, total]);
        let scale = 1.0 / (hd as f64).sqrt();
        for (layer, slot) in self.layers.iter().zip(cache.layers.iter_mut()) {
            let xn = layer.input_layernorm.forward(x.clone());
            let heads = |t: Tensor<B, 3>, count: usize| t.reshape([1, n, count, hd]).swap_dims(1, 2);
            let q = Self::rope(heads(layer.self_attn.q_proj.forward(xn.clone()), nh), &cos, &sin);
            let k = Self::rope(heads(layer.self_attn.k_proj.forward(xn.clone()), nkv), &cos, &sin);
            let v = heads(layer.self_attn.v_proj.forward(xn), nkv);
            let (k, v) = match slot.take() {
                None => (k, v),
                Some((pk, pv)) => (Tensor::cat(vec![pk, k], 2), Tensor::cat(vec![pv, v], 2)),
            };
            *slot = Some((k.clone(), v.clone()));
            // Grouped-query attention: each KV head serves `group` query heads.
            let expand = |t: Tensor<B, 4>| {
                t.reshape([1, nkv, 1, total, hd]).expand([1, nkv, group, total, hd]).reshape([1, nh, total, hd])
            };
            let scores = q.matmul(expand(k).swap_dims(2, 3)) * scale + mask.clone();
            let attn = softmax(scores, 3).matmul(expand(v)); // [1, nh, n, hd]
            let attn = attn.swap_dims(1, 2).reshape([1, n, nh * hd]);
            x = x + layer.self_attn.o_proj.forward(attn);
            let xn = layer.post_attention_layernorm.forward(x.clone());
            let ff = silu(layer.mlp.gate_proj.forward(xn.clone())) * layer.mlp.up_proj.forward(xn);
            x = x + layer.mlp.down_proj.forward(ff);
        }
        cache.len = total;
        let keep = keep.clamp(1, n);
        let [_, _, hidden] = x.dims();
        let x = if keep < n { x.slice([0..1, n - keep..n, 0..hidden]) } else { x };
        let logits = self.lm_head.forward(self.norm.forward(x));
        Ok(logits.reshape([keep, c.vocab_size]))
    }
}

/// A [`BurnLlama`] with its cache, for [`crate::generate()`].
pub type BurnSession<'m, B> = Session<'m, BurnLlama<B>>;

impl<B: QuantLinearBackend> Decoder for BurnLlama<B> {
    type Cache = BurnKvCache<B>;

    fn new_cache(&self, capacity: usize) -> BurnKvCache<B> {
        BurnLlama::new_cache(self, capacity)
    }

    fn next_logits(&self, tokens: &[u32], cache: &mut BurnKvCache<B>) -> Result<Vec<f32>, LlamaError> {
        let logits = self.forward(tokens, cache)?;
        let [n, v] = logits.dims();
        logits
            .narrow(0, n - 1, 1)
            .reshape([v])
            .into_data()
            .to_vec::<f32>()
            .map_err(|e| LlamaError::Generation(format!("{e:?}")))
    }
}

impl<B: Backend> ContextCache for BurnKvCache<B> {
    fn len(&self) -> usize {
        self.len
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn truncate(&mut self, len: usize) {
        BurnKvCache::truncate(self, len);
    }
}
