//! Whisper's transformer, one file as in candle's model zoo: the encoder (two convolutions +
//! GELU, stored sinusoidal positions, pre-norm layers) and the decoder (learned positions,
//! causal self-attention over a KV cache, cross-attention over the encoder output whose keys and
//! values are computed once per window, output projection tied to the token embedding).
//!
//! Weights come from a CTranslate2 `model.bin` ([`ModelBin`]) under its variable names; the
//! float16 values are upcast to f32 at load, as CTranslate2 does for `compute_type="float32"`.

use crate::AsrError;
use crate::linear::{Linear, WeightPrecision};
use crate::model_bin::ModelBin;
use crate::ops::{self, gelu, layer_norm, softmax};

/// GELU over a large buffer, split across the pool's threads.
fn gelu_par(x: &mut [f32], threads: usize) {
    if threads > 1 && x.len() >= 1 << 16 {
        use rayon::prelude::*;
        x.par_chunks_mut(x.len().div_ceil(threads)).for_each(gelu);
    } else {
        gelu(x);
    }
}

/// CTranslate2's layer-norm epsilon when the config names none.
const LN_EPS: f32 = 1e-5;

/// Hyper-parameters, read from the tensor shapes and scalars of the model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    /// Mel bands of the input.
    pub n_mels: usize,
    /// Encoder positions per window (1,500).
    pub n_audio_ctx: usize,
    /// Width of both stacks.
    pub d_model: usize,
    /// Encoder attention heads.
    pub encoder_heads: usize,
    /// Encoder layers.
    pub encoder_layers: usize,
    /// Decoder positions (448).
    pub n_text_ctx: usize,
    /// Decoder attention heads.
    pub decoder_heads: usize,
    /// Decoder layers.
    pub decoder_layers: usize,
    /// Vocabulary size.
    pub n_vocab: usize,
    /// Hidden width of the feed-forward layers.
    pub ffn: usize,
}

struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

impl Norm {
    fn load(bin: &ModelBin, prefix: &str, d: usize) -> Result<Self, AsrError> {
        Ok(Self {
            gamma: bin.tensor_f32(&format!("{prefix}/gamma"), &[d])?,
            beta: bin.tensor_f32(&format!("{prefix}/beta"), &[d])?,
        })
    }

    fn apply(&self, x: &[f32], out: &mut [f32]) {
        layer_norm(x, self.gamma.len(), &self.gamma, &self.beta, LN_EPS, out);
    }
}

/// Where a layer runs: over a whole window of frames, or one token at a time.
#[derive(Clone, Copy)]
enum Use {
    Encoder,
    /// Kept in half precision when that is exact (the decoder reads every weight per token).
    Decoder,
}

fn linear(
    bin: &ModelBin,
    prefix: &str,
    shape: [usize; 2],
    bias: bool,
    p: WeightPrecision,
    at: Use,
) -> Result<Linear, AsrError> {
    let [rows, cols] = shape;
    let w = bin.tensor_f32(&format!("{prefix}/weight"), &[rows, cols])?;
    let b = if bias { Some(bin.tensor_f32(&format!("{prefix}/bias"), &[rows])?) } else { None };
    match at {
        Use::Encoder => Linear::new(w, b, rows, cols, p),
        Use::Decoder => Linear::new_for_decoding(w, b, rows, cols, p),
    }
}

struct EncoderLayer {
    attn_norm: Norm,
    qkv: Linear,
    attn_out: Linear,
    ffn_norm: Norm,
    fc1: Linear,
    fc2: Linear,
}

struct DecoderLayer {
    self_norm: Norm,
    self_qkv: Linear,
    self_out: Linear,
    cross_norm: Norm,
    cross_q: Linear,
    cross_kv: Linear,
    cross_out: Linear,
    ffn_norm: Norm,
    fc1: Linear,
    fc2: Linear,
}

/// The loaded model.
pub struct Whisper {
    /// Its hyper-parameters.
    pub dims: Dims,
    precision: WeightPrecision,
    conv1: Linear,
    conv2: Linear,
    encoder_positions: Vec<f32>,
    encoder_layers: Vec<EncoderLayer>,
    encoder_norm: Norm,
    /// Token embedding `[n_vocab, d]`, also the output projection (tied).
    embedding: Linear,
    decoder_positions: Vec<f32>,
    decoder_layers: Vec<DecoderLayer>,
    decoder_norm: Norm,
}

fn count_layers(bin: &ModelBin, stack: &str) -> usize {
    (0..).take_while(|i| bin.get(&format!("{stack}/layer_{i}/ffn/linear_0/weight")).is_some()).count()
}

fn dim(bin: &ModelBin, name: &str, axis: usize) -> Result<usize, AsrError> {
    bin.get(name)
        .and_then(|v| v.shape.get(axis).copied())
        .ok_or_else(|| AsrError::Model(format!("missing variable {name} (or its axis {axis})")))
}

impl Dims {
    fn read(bin: &ModelBin) -> Result<Self, AsrError> {
        let heads = |name: &str| -> Result<usize, AsrError> {
            let h = bin.scalar_i64(name)?;
            usize::try_from(h).ok().filter(|&h| h > 0).ok_or_else(|| AsrError::Model(format!("{name} = {h}")))
        };
        let dims = Dims {
            n_mels: dim(bin, "encoder/conv1/weight", 1)?,
            n_audio_ctx: dim(bin, "encoder/position_encodings/encodings", 0)?,
            d_model: dim(bin, "encoder/conv1/weight", 0)?,
            encoder_heads: heads("encoder/num_heads")?,
            encoder_layers: count_layers(bin, "encoder"),
            n_text_ctx: dim(bin, "decoder/position_encodings/encodings", 0)?,
            decoder_heads: heads("decoder/num_heads")?,
            decoder_layers: count_layers(bin, "decoder"),
            n_vocab: dim(bin, "decoder/embeddings/weight", 0)?,
            ffn: dim(bin, "encoder/layer_0/ffn/linear_0/weight", 0)?,
        };
        let d = dims.d_model;
        if d == 0 || !d.is_multiple_of(dims.encoder_heads) || !d.is_multiple_of(dims.decoder_heads) {
            return Err(AsrError::Model(format!("d_model {d} does not split into the heads ({dims:?})")));
        }
        if dims.encoder_layers == 0 || dims.decoder_layers == 0 || dims.n_vocab == 0 || dims.n_text_ctx == 0 {
            return Err(AsrError::Model(format!("incomplete model: {dims:?}")));
        }
        // The mel window is twice the encoder context (conv2 has stride 2).
        if dims.n_audio_ctx * 2 != crate::mel::WINDOW_FRAMES {
            return Err(AsrError::Model(format!("audio context {} is not 1500 frames", dims.n_audio_ctx)));
        }
        Ok(dims)
    }
}

impl Whisper {
    /// Builds the model from a parsed `model.bin`, checking it is a Whisper of the layout this
    /// runtime implements.
    pub fn from_model_bin(bin: &ModelBin, precision: WeightPrecision) -> Result<Self, AsrError> {
        if bin.spec_name != "WhisperSpec" {
            return Err(AsrError::Unsupported(format!(
                "model spec {:?} is not WhisperSpec: not a Whisper model",
                bin.spec_name
            )));
        }
        for (flag, want) in
            [("decoder/pre_norm", 1), ("decoder/activation", 3), ("decoder/scale_embeddings", 0), ("decoder/alibi", 0)]
        {
            if let Ok(v) = bin.scalar_i64(flag)
                && v != want
            {
                return Err(AsrError::Unsupported(format!("{flag} = {v} (this runtime implements {want})")));
            }
        }
        let dims = Dims::read(bin)?;
        let (d, f) = (dims.d_model, dims.ffn);
        // In the 8-bit mode every dense weight (the convolutions as im2col products too) is
        // 8-bit with a scale per row; quant5's integer kernels run a window's 1,500 frames and
        // a decoding step alike.
        let p = precision;
        let conv = |name: &str, cin: usize| -> Result<Linear, AsrError> {
            let w = bin.tensor_f32(&format!("encoder/{name}/weight"), &[d, cin, 3])?;
            let b = bin.tensor_f32(&format!("encoder/{name}/bias"), &[d])?;
            // [out, in, k] flattened is exactly the im2col row layout `c·3 + k`.
            Linear::new(w, Some(b), d, cin * 3, p)
        };
        let mut encoder_layers = Vec::new();
        for i in 0..dims.encoder_layers {
            let s = format!("encoder/layer_{i}");
            encoder_layers.push(EncoderLayer {
                attn_norm: Norm::load(bin, &format!("{s}/self_attention/layer_norm"), d)?,
                qkv: linear(bin, &format!("{s}/self_attention/linear_0"), [3 * d, d], true, p, Use::Encoder)?,
                attn_out: linear(bin, &format!("{s}/self_attention/linear_1"), [d, d], true, p, Use::Encoder)?,
                ffn_norm: Norm::load(bin, &format!("{s}/ffn/layer_norm"), d)?,
                fc1: linear(bin, &format!("{s}/ffn/linear_0"), [f, d], true, p, Use::Encoder)?,
                fc2: linear(bin, &format!("{s}/ffn/linear_1"), [d, f], true, p, Use::Encoder)?,
            });
        }
        let mut decoder_layers = Vec::new();
        for i in 0..dims.decoder_layers {
            let s = format!("decoder/layer_{i}");
            decoder_layers.push(DecoderLayer {
                self_norm: Norm::load(bin, &format!("{s}/self_attention/layer_norm"), d)?,
                self_qkv: linear(bin, &format!("{s}/self_attention/linear_0"), [3 * d, d], true, p, Use::Decoder)?,
                self_out: linear(bin, &format!("{s}/self_attention/linear_1"), [d, d], true, p, Use::Decoder)?,
                cross_norm: Norm::load(bin, &format!("{s}/attention/layer_norm"), d)?,
                cross_q: linear(bin, &format!("{s}/attention/linear_0"), [d, d], true, p, Use::Decoder)?,
                cross_kv: linear(bin, &format!("{s}/attention/linear_1"), [2 * d, d], true, p, Use::Decoder)?,
                cross_out: linear(bin, &format!("{s}/attention/linear_2"), [d, d], true, p, Use::Decoder)?,
                ffn_norm: Norm::load(bin, &format!("{s}/ffn/layer_norm"), d)?,
                fc1: linear(bin, &format!("{s}/ffn/linear_0"), [f, d], true, p, Use::Decoder)?,
                fc2: linear(bin, &format!("{s}/ffn/linear_1"), [d, f], true, p, Use::Decoder)?,
            });
        }
        Ok(Self {
            dims,
            precision,
            conv1: conv("conv1", dims.n_mels)?,
            conv2: conv("conv2", d)?,
            encoder_positions: bin.tensor_f32("encoder/position_encodings/encodings", &[dims.n_audio_ctx, d])?,
            encoder_layers,
            encoder_norm: Norm::load(bin, "encoder/layer_norm", d)?,
            embedding: linear(bin, "decoder/embeddings", [dims.n_vocab, d], false, p, Use::Decoder)?,
            decoder_positions: bin.tensor_f32("decoder/position_encodings/encodings", &[dims.n_text_ctx, d])?,
            decoder_layers,
            decoder_norm: Norm::load(bin, "decoder/layer_norm", d)?,
        })
    }

    /// How the dense weights are kept.
    pub fn precision(&self) -> WeightPrecision {
        self.precision
    }

    /// Bytes of weights held in memory.
    pub fn weight_bytes(&self) -> usize {
        let mut n = self.conv1.weight_bytes() + self.conv2.weight_bytes() + self.embedding.weight_bytes();
        for l in &self.encoder_layers {
            n += l.qkv.weight_bytes() + l.attn_out.weight_bytes() + l.fc1.weight_bytes() + l.fc2.weight_bytes();
        }
        for l in &self.decoder_layers {
            n += [&l.self_qkv, &l.self_out, &l.cross_q, &l.cross_kv, &l.cross_out, &l.fc1, &l.fc2]
                .iter()
                .map(|x| x.weight_bytes())
                .sum::<usize>();
        }
        n + 4 * (self.encoder_positions.len() + self.decoder_positions.len())
    }

    /// Encoder: mel `[n_mels, 3000]` → `[1500, d_model]`.
    pub fn encode(&self, mel: &[f32], threads: usize) -> Result<Vec<f32>, AsrError> {
        let Dims { n_mels, n_audio_ctx: t_out, d_model: d, ffn, encoder_heads: heads, .. } = self.dims;
        let t_in = 2 * t_out;
        if mel.len() != n_mels * t_in {
            return Err(AsrError::Model(format!("mel has {} values, expected {n_mels}×{t_in}", mel.len())));
        }
        // conv1 (k 3, stride 1, pad 1) as im2col [t_in, n_mels·3] · Wᵀ.
        let mut cols = vec![0f32; t_in * n_mels * 3];
        for t in 0..t_in {
            let row = &mut cols[t * n_mels * 3..(t + 1) * n_mels * 3];
            for c in 0..n_mels {
                for k in 0..3 {
                    let src = t as isize + k as isize - 1;
                    if (0..t_in as isize).contains(&src) {
                        row[c * 3 + k] = mel[c * t_in + src as usize];
                    }
                }
            }
        }
        let mut h1 = vec![0f32; t_in * d];
        self.conv1.forward(&cols, t_in, &mut h1, threads)?;
        gelu_par(&mut h1, threads);
        // conv2 (k 3, stride 2, pad 1) on the time-major [t_in, d] output.
        let mut cols = vec![0f32; t_out * d * 3];
        for t in 0..t_out {
            let row = &mut cols[t * d * 3..(t + 1) * d * 3];
            for k in 0..3 {
                let src = 2 * t as isize + k as isize - 1;
                if (0..t_in as isize).contains(&src) {
                    let x = &h1[src as usize * d..(src as usize + 1) * d];
                    for c in 0..d {
                        row[c * 3 + k] = x[c];
                    }
                }
            }
        }
        drop(h1);
        let mut x = vec![0f32; t_out * d];
        self.conv2.forward(&cols, t_out, &mut x, threads)?;
        drop(cols);
        gelu_par(&mut x, threads);
        for (v, p) in x.iter_mut().zip(&self.encoder_positions) {
            *v += p;
        }
        let mut h = vec![0f32; t_out * d];
        let mut qkv = vec![0f32; t_out * 3 * d];
        let mut attn = vec![0f32; t_out * d];
        let mut ff = vec![0f32; t_out * ffn];
        for layer in &self.encoder_layers {
            layer.attn_norm.apply(&x, &mut h);
            layer.qkv.forward(&h, t_out, &mut qkv, threads)?;
            attention(
                AttnInput {
                    q: &qkv,
                    q_stride: 3 * d,
                    k: &qkv[d..],
                    keys_by_dim: false,
                    v: &qkv[2 * d..],
                    kv_stride: 3 * d,
                    n_q: t_out,
                    n_kv: t_out,
                    heads,
                    d,
                    causal_offset: None,
                },
                &mut attn,
                threads,
            );
            layer.attn_out.forward(&attn, t_out, &mut h, threads)?;
            add(&mut x, &h);
            layer.ffn_norm.apply(&x, &mut h);
            layer.fc1.forward(&h, t_out, &mut ff, threads)?;
            gelu_par(&mut ff, threads);
            layer.fc2.forward(&ff, t_out, &mut h, threads)?;
            add(&mut x, &h);
        }
        let mut out = vec![0f32; t_out * d];
        self.encoder_norm.apply(&x, &mut out);
        Ok(out)
    }

    /// Cross-attention keys and values of every decoder layer for one encoder output.
    pub fn cross_kv(&self, encoded: &[f32], threads: usize) -> Result<CrossKv, AsrError> {
        let Dims { n_audio_ctx: t, d_model: d, .. } = self.dims;
        let mut layers = Vec::with_capacity(self.decoder_layers.len());
        let mut kv = vec![0f32; t * 2 * d];
        for l in &self.decoder_layers {
            l.cross_kv.forward(encoded, t, &mut kv, threads)?;
            let mut keys_by_dim = vec![0f32; d * t];
            let mut values = vec![0f32; t * d];
            for (j, row) in kv.chunks_exact(2 * d).enumerate() {
                for (c, &k) in row[..d].iter().enumerate() {
                    keys_by_dim[c * t + j] = k;
                }
                values[j * d..(j + 1) * d].copy_from_slice(&row[d..]);
            }
            layers.push(CrossLayer { keys_by_dim, values });
        }
        Ok(CrossKv { layers })
    }

    /// An empty self-attention cache for one sequence.
    pub fn new_cache(&self) -> KvCache {
        let n = self.dims.n_text_ctx * self.dims.d_model;
        KvCache {
            k: vec![vec![0f32; n]; self.decoder_layers.len()],
            v: vec![vec![0f32; n]; self.decoder_layers.len()],
            len: 0,
        }
    }

    /// Feeds `tokens` at positions `cache.len..` and returns the logits `logits` asks for
    /// (`[n_vocab]` per position, row-major). With `cross_scores`, the scaled cross-attention
    /// scores before softmax of every head of every layer for the fed tokens are appended
    /// (`[layer · heads + head][token · n_audio_ctx + frame]`, for alignment).
    pub fn decode(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
        cross: &CrossKv,
        threads: usize,
        mut cross_scores: Option<&mut Vec<Vec<f32>>>,
        logits: Logits,
    ) -> Result<Vec<f32>, AsrError> {
        let Dims { d_model: d, n_text_ctx, n_vocab, .. } = self.dims;
        let n = tokens.len();
        let start = cache.len;
        if n == 0 || start + n > n_text_ctx {
            return Err(AsrError::Decode(format!(
                "{} tokens at position {start} exceed the {n_text_ctx}-token context",
                n
            )));
        }
        let mut x = self.embed_tokens(tokens, start)?;
        let mut scratch = DecoderScratch::new(n, &self.dims);
        for (li, layer) in self.decoder_layers.iter().enumerate() {
            let step = DecoderStep { n, start, threads };
            self.decoder_layer(
                layer,
                step,
                &mut x,
                (&mut cache.k[li], &mut cache.v[li]),
                &cross.layers[li],
                &mut scratch,
                cross_scores.as_deref_mut(),
            )?;
        }
        cache.len = start + n;
        let rows = match logits {
            Logits::None => return Ok(Vec::new()),
            Logits::Last => &x[(n - 1) * d..],
            Logits::All => &x[..],
        };
        let m = rows.len() / d;
        let mut normed = vec![0f32; m * d];
        self.decoder_norm.apply(rows, &mut normed);
        let mut out = vec![0f32; m * n_vocab];
        self.embedding.forward(&normed, m, &mut out, threads)?;
        Ok(out)
    }

    /// Token embeddings plus learned positions from `start`, `[tokens.len(), d]`.
    fn embed_tokens(&self, tokens: &[u32], start: usize) -> Result<Vec<f32>, AsrError> {
        let Dims { d_model: d, n_vocab, .. } = self.dims;
        let mut x = vec![0f32; tokens.len() * d];
        for (i, &tok) in tokens.iter().enumerate() {
            let tok = tok as usize;
            if tok >= n_vocab {
                return Err(AsrError::Decode(format!("token id {tok} is outside the {n_vocab}-token vocabulary")));
            }
            let row = &mut x[i * d..(i + 1) * d];
            self.embedding.row(tok, row)?;
            for (v, p) in row.iter_mut().zip(&self.decoder_positions[(start + i) * d..(start + i + 1) * d]) {
                *v += p;
            }
        }
        Ok(x)
    }

    /// One decoder layer over `x` `[n, d]` in place: causal self-attention (appending this
    /// step's keys and values to the layer's cache), cross-attention over the window, MLP.
    #[allow(clippy::too_many_arguments)] // the layer's inputs, its cache, its window and scratch
    fn decoder_layer(
        &self,
        layer: &DecoderLayer,
        step: DecoderStep,
        x: &mut [f32],
        (kc, vc): (&mut [f32], &mut [f32]),
        cross: &CrossLayer,
        s: &mut DecoderScratch,
        cross_scores: Option<&mut Vec<Vec<f32>>>,
    ) -> Result<(), AsrError> {
        let Dims { d_model: d, decoder_heads: heads, n_audio_ctx, .. } = self.dims;
        let DecoderStep { n, start, threads } = step;
        layer.self_norm.apply(x, &mut s.h);
        layer.self_qkv.forward(&s.h, n, &mut s.qkv, threads)?;
        for i in 0..n {
            let row = &s.qkv[i * 3 * d..(i + 1) * 3 * d];
            kc[(start + i) * d..(start + i + 1) * d].copy_from_slice(&row[d..2 * d]);
            vc[(start + i) * d..(start + i + 1) * d].copy_from_slice(&row[2 * d..]);
        }
        let causal = AttnInput {
            q: &s.qkv,
            q_stride: 3 * d,
            k: kc,
            keys_by_dim: false,
            v: vc,
            kv_stride: d,
            n_q: n,
            n_kv: start + n,
            heads,
            d,
            causal_offset: Some(start),
        };
        attention(causal, &mut s.attn, threads);
        layer.self_out.forward(&s.attn, n, &mut s.h, threads)?;
        add(x, &s.h);

        layer.cross_norm.apply(x, &mut s.h);
        layer.cross_q.forward(&s.h, n, &mut s.q, threads)?;
        let input = AttnInput {
            q: &s.q,
            q_stride: d,
            k: &cross.keys_by_dim,
            keys_by_dim: true,
            v: &cross.values,
            kv_stride: d,
            n_q: n,
            n_kv: n_audio_ctx,
            heads,
            d,
            causal_offset: None,
        };
        match cross_scores {
            Some(w) => w.extend(attention_scores(input, &mut s.attn)),
            None => attention(input, &mut s.attn, threads),
        }
        layer.cross_out.forward(&s.attn, n, &mut s.h, threads)?;
        add(x, &s.h);

        layer.ffn_norm.apply(x, &mut s.h);
        layer.fc1.forward(&s.h, n, &mut s.ff, threads)?;
        gelu(&mut s.ff);
        layer.fc2.forward(&s.ff, n, &mut s.h, threads)?;
        add(x, &s.h);
        Ok(())
    }
}

/// Which tokens a decoder pass feeds: `n` of them from position `start`.
#[derive(Clone, Copy)]
struct DecoderStep {
    n: usize,
    start: usize,
    threads: usize,
}

/// Buffers one decoder pass reuses across its layers.
struct DecoderScratch {
    h: Vec<f32>,
    qkv: Vec<f32>,
    q: Vec<f32>,
    attn: Vec<f32>,
    ff: Vec<f32>,
}

impl DecoderScratch {
    fn new(n: usize, dims: &Dims) -> Self {
        let (d, f) = (dims.d_model, dims.ffn);
        Self {
            h: vec![0f32; n * d],
            qkv: vec![0f32; n * 3 * d],
            q: vec![0f32; n * d],
            attn: vec![0f32; n * d],
            ff: vec![0f32; n * f],
        }
    }
}

/// Which logits [`Whisper::decode`] computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logits {
    /// None (feeding a prompt).
    None,
    /// After the last token (a decoding step).
    Last,
    /// After every token (scoring a known sequence).
    All,
}

/// Cross-attention keys and values of one window, per decoder layer.
pub struct CrossKv {
    layers: Vec<CrossLayer>,
}

/// One layer's cross-attention operands. The keys are stored by dimension, `[d, n_audio_ctx]`,
/// so a decoding step's scores are sums of whole rows scaled by one query value (vectorised
/// over the 1,500 frames, no horizontal sums); the values by frame, `[n_audio_ctx, d]`.
struct CrossLayer {
    keys_by_dim: Vec<f32>,
    values: Vec<f32>,
}

/// Self-attention keys and values of the positions fed so far.
#[derive(Clone)]
pub struct KvCache {
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    len: usize,
}

impl KvCache {
    /// Positions fed so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was fed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets positions from `len` on.
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }
}

fn add(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// Multi-head attention operands: rows of `q` every `q_stride` values, rows of `k`/`v` every
/// `kv_stride`; each head reads its `d / heads` columns.
#[derive(Clone, Copy)]
struct AttnInput<'a> {
    q: &'a [f32],
    q_stride: usize,
    k: &'a [f32],
    /// Keys stored `[d, n_kv]` (element `(j, c)` at `c · n_kv + j`) instead of by row.
    keys_by_dim: bool,
    v: &'a [f32],
    kv_stride: usize,
    n_q: usize,
    n_kv: usize,
    heads: usize,
    d: usize,
    /// Causal mask: query `i` sees keys `0..=offset + i`.
    causal_offset: Option<usize>,
}

/// Scaled, masked scores of head `h` for queries `rows`, `[rows.len(), n_kv]`.
fn head_scores(a: &AttnInput, h: usize, rows: std::ops::Range<usize>, scores: &mut [f32]) {
    let hd = a.d / a.heads;
    let scale = 1.0 / (hd as f32).sqrt();
    let m = rows.len();
    assert!(rows.end <= a.n_q && scores.len() >= m * a.n_kv, "attention score bounds");
    if m <= FEW_QUERIES {
        for (i, out) in scores.chunks_exact_mut(a.n_kv).take(m).enumerate() {
            let q = &a.q[(rows.start + i) * a.q_stride + h * hd..][..hd];
            if a.keys_by_dim {
                ops::scaled_row_sums(q, &a.k[h * hd * a.n_kv..][..hd * a.n_kv], scale, out);
            } else {
                ops::scaled_dots(q, &a.k[h * hd..], a.kv_stride, scale, out);
            }
        }
    } else {
        // SAFETY: see `gemm_scores`.
        unsafe { gemm_scores(a, h, rows.clone(), scale, scores) };
    }
    if let Some(off) = a.causal_offset {
        for (i, row) in scores.chunks_exact_mut(a.n_kv).take(m).enumerate() {
            row[(off + rows.start + i + 1).min(a.n_kv)..].fill(f32::NEG_INFINITY);
        }
    }
}

/// Up to this many queries (decoding steps, a beam) attend by dot products: packing a head's
/// keys and values for gemm costs more than one query's product with them.
const FEW_QUERIES: usize = 8;

/// The scores of `head_scores` by gemm.
///
/// # Safety
/// `check_bounds(a)` has passed, `rows` lies within `n_q` and `scores` holds `rows.len() · n_kv`
/// values.
unsafe fn gemm_scores(a: &AttnInput, h: usize, rows: std::ops::Range<usize>, scale: f32, scores: &mut [f32]) {
    let hd = a.d / a.heads;
    let m = rows.len();
    // Kᵀ of this head as gemm's right-hand side `[hd, n_kv]`: element (c, j) at
    // `c · row_stride + j · col_stride`.
    let (keys, key_col_stride, key_row_stride) = if a.keys_by_dim {
        // SAFETY: `check_bounds`: `k` holds d · n_kv values.
        (unsafe { a.k.as_ptr().add(h * hd * a.n_kv) }, 1, a.n_kv as isize)
    } else {
        // SAFETY: `check_bounds`: `k` holds n_kv rows of `kv_stride`.
        (unsafe { a.k.as_ptr().add(h * hd) }, a.kv_stride as isize, 1)
    };
    // SAFETY: every row read is inside `q`/`k` (`check_bounds`: n_q / n_kv rows of the given
    // strides, this head's columns; `rows` within n_q), and `scores` holds m·n_kv values.
    unsafe {
        gemm::gemm(
            m,
            a.n_kv,
            hd,
            scores.as_mut_ptr(),
            1,
            a.n_kv as isize,
            false,
            a.q.as_ptr().add(rows.start * a.q_stride + h * hd),
            1,
            a.q_stride as isize,
            keys,
            key_col_stride,
            key_row_stride,
            0.0,
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `probs · V` of head `h` (`probs` `[m, n_kv]`) into this head's columns of `out`, `m` rows
/// of `d` values.
fn head_output(a: &AttnInput, h: usize, m: usize, probs: &[f32], out: &mut [f32]) {
    let hd = a.d / a.heads;
    assert!(probs.len() >= m * a.n_kv && out.len() >= (m - 1) * a.d + (h + 1) * hd, "attention output bounds");
    if m <= FEW_QUERIES {
        for (i, p) in probs.chunks_exact(a.n_kv).take(m).enumerate() {
            ops::weighted_sum(p, &a.v[h * hd..], a.kv_stride, &mut out[i * a.d + h * hd..][..hd]);
        }
        return;
    }
    // SAFETY: `v` as in `head_scores`; the assert bounds `probs` and the m rows of `out`
    // (stride d, this head's hd columns).
    unsafe {
        gemm::gemm(
            m,
            hd,
            a.n_kv,
            out.as_mut_ptr().add(h * hd),
            1,
            a.d as isize,
            false,
            probs.as_ptr(),
            1,
            a.n_kv as isize,
            a.v.as_ptr().add(h * hd),
            1,
            a.kv_stride as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

fn check_bounds(a: &AttnInput) {
    assert!(a.d.is_multiple_of(a.heads));
    assert!(a.q.len() >= (a.n_q - 1) * a.q_stride + a.d, "attention q bounds");
    if a.keys_by_dim {
        assert!(a.k.len() >= a.n_kv * a.d, "attention k bounds");
    } else {
        assert!(a.k.len() >= (a.n_kv - 1) * a.kv_stride + a.d, "attention k bounds");
    }
    assert!(a.v.len() >= (a.n_kv - 1) * a.kv_stride + a.d, "attention v bounds");
}

/// Queries per block: a block's scores (64 × 1,500 floats for an encoder window) stay in L2
/// from the score product through softmax to the product with V, where a whole head's
/// 1,500 × 1,500 scores would go out to memory and back three times.
const Q_BLOCK: usize = 256;

/// Attention of all heads into `out` `[n_q, d]`. Blocks of queries run in parallel when
/// `threads > 1`; a single query (a decoding step) splits its heads instead.
fn attention(a: AttnInput, out: &mut [f32], threads: usize) {
    check_bounds(&a);
    let hd = a.d / a.heads;
    // Worth a second thread from ~256 K multiply-adds: the encoder's windows and a decoding
    // step's cross-attention over 1,500 frames, not the short self-attention of a step.
    let parallel = threads > 1 && a.n_q * a.n_kv * a.d >= 1 << 18;
    let block = |(b, out_rows): (usize, &mut [f32])| {
        let rows = b * Q_BLOCK..(b * Q_BLOCK + Q_BLOCK).min(a.n_q);
        let mut scores = vec![0f32; rows.len() * a.n_kv];
        for h in 0..a.heads {
            head_scores(&a, h, rows.clone(), &mut scores);
            for row in scores.chunks_exact_mut(a.n_kv) {
                softmax(row);
            }
            head_output(&a, h, rows.len(), &scores, out_rows);
        }
    };
    use rayon::prelude::*;
    if a.n_q == 1 && parallel {
        out[..a.d].par_chunks_mut(hd).enumerate().for_each(|(h, o)| {
            let mut scores = vec![0f32; a.n_kv];
            head_scores(&a, h, 0..1, &mut scores);
            softmax(&mut scores);
            // `o` is this head's columns: address them as head 0 of a one-head view.
            let view = AttnInput { v: &a.v[h * hd..], heads: 1, d: hd, ..a };
            head_output(&view, 0, 1, &scores, o);
        });
    } else if parallel {
        out[..a.n_q * a.d].par_chunks_mut(Q_BLOCK * a.d).enumerate().for_each(block);
    } else {
        out[..a.n_q * a.d].chunks_mut(Q_BLOCK * a.d).enumerate().for_each(block);
    }
}

/// Attention into `out`, returning every head's scaled scores before softmax `[head][n_q·n_kv]`.
fn attention_scores(a: AttnInput, out: &mut [f32]) -> Vec<Vec<f32>> {
    check_bounds(&a);
    let mut all = Vec::with_capacity(a.heads);
    for h in 0..a.heads {
        let mut probs = vec![0f32; a.n_q * a.n_kv];
        head_scores(&a, h, 0..a.n_q, &mut probs);
        all.push(probs.clone());
        for row in probs.chunks_exact_mut(a.n_kv) {
            softmax(row);
        }
        head_output(&a, h, a.n_q, &probs, out);
    }
    all
}
