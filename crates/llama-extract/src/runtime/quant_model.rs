//! The Llama decoder on CPU with its matrices left in their quantized blocks.
//!
//! Every projection is a quant5 [`QuantizedMatrix`]: activations are quantized once per product
//! to the weight type's 8-bit partner and each output is an integer block dot product, as
//! ggml's CPU path does; a prompt goes through in chunks of tokens, each product one quant5
//! multi-row product (dense f32 panels from 16 rows on), and decoding is the same pass with a
//! chunk of one. Norm weights stay f32; keys and values live in a KV cache sized to the context,
//! f32 or, as llama.cpp keeps them by default, f16 ([`KvPrecision`]).
//!
//! Layout conventions are GGUF's: Q and K rows are in the "adjacent pairs" RoPE order, which
//! the safetensors loader produces from HF's rotate-half layout by permuting rows once.

use std::sync::Arc;

use quant5::{GgmlType, QuantizedMatrix, SpinPool};

use crate::LlamaError;
use crate::runtime::config::LlamaConfig;
use crate::runtime::generate::{ContextCache, Decoder};
use crate::runtime::gguf::GgufFile;
use crate::runtime::proj::Proj;
use crate::runtime::weights::WeightSet;

/// Run-time adapters of one block, by projection (lora's [`lora::ScaledPair`]: `y += s·B·(A·x)`
/// beside the quantized weight, as llama.cpp serves adapters).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlockAdapters {
    /// On the query projection.
    pub q: Option<lora::ScaledPair>,
    /// On the key projection.
    pub k: Option<lora::ScaledPair>,
    /// On the value projection.
    pub v: Option<lora::ScaledPair>,
    /// On the output projection.
    pub o: Option<lora::ScaledPair>,
    /// On the gate projection.
    pub gate: Option<lora::ScaledPair>,
    /// On the up projection.
    pub up: Option<lora::ScaledPair>,
    /// On the down projection.
    pub down: Option<lora::ScaledPair>,
}

/// One decoder block's weights.
#[derive(Debug, Clone)]
pub struct Block {
    /// RMS norm weights before attention.
    pub attn_norm: Vec<f32>,
    /// Query projection.
    pub wq: QuantizedMatrix,
    /// Key projection.
    pub wk: QuantizedMatrix,
    /// Value projection.
    pub wv: QuantizedMatrix,
    /// Output projection.
    pub wo: QuantizedMatrix,
    /// RMS norm weights before the feed-forward.
    pub ffn_norm: Vec<f32>,
    /// Gate projection.
    pub w_gate: QuantizedMatrix,
    /// Up projection.
    pub w_up: QuantizedMatrix,
    /// Down projection.
    pub w_down: QuantizedMatrix,
    /// LoRA adapters applied at run time.
    pub adapters: BlockAdapters,
}

impl Block {
    /// The adapter slot and the base weight of one projection.
    pub fn projection_mut(&mut self, p: Proj) -> (&mut Option<lora::ScaledPair>, &QuantizedMatrix) {
        let a = &mut self.adapters;
        match p {
            Proj::Q => (&mut a.q, &self.wq),
            Proj::K => (&mut a.k, &self.wk),
            Proj::V => (&mut a.v, &self.wv),
            Proj::O => (&mut a.o, &self.wo),
            Proj::Gate => (&mut a.gate, &self.w_gate),
            Proj::Up => (&mut a.up, &self.w_up),
            Proj::Down => (&mut a.down, &self.w_down),
        }
    }
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

/// The type a matrix with `cols` columns is requantized to: K-quants need rows of whole
/// 256-element super-blocks, so narrower rows fall back as llama.cpp's quantizer does
/// ([`crate::quantize::row_fallback`]; SmolLM2's 576-wide rows are such a case).
pub fn fallback_type(t: GgmlType, cols: usize) -> GgmlType {
    crate::quantize::row_fallback(t, cols).unwrap_or(t)
}

/// A Llama with quantized projections.
#[derive(Debug, Clone)]
pub struct QuantLlama {
    config: LlamaConfig,
    /// `[vocab, hidden]`.
    embed: Arc<QuantizedMatrix>,
    blocks: Vec<Block>,
    norm: Vec<f32>,
    /// `[vocab, hidden]`; the same matrix as `embed` when embeddings are tied.
    head: Arc<QuantizedMatrix>,
    rope: RopeAngles,
    /// Threads per matrix product: the pool's size (set only through `with_threads`).
    threads: usize,
    /// Spinning workers for the many small products of decoding one token (see
    /// [`quant5::SpinPool`]): a rayon hand-off per product cost more than its second half.
    decode_pool: Arc<SpinPool>,
    /// Sleeping workers for prompt chunks, whose products and attention are large enough to
    /// amortise a wake-up and where work stealing balances the causal attention rows (a
    /// spinning pool there was no faster in alternated 1024-token runs, up to 8 % slower).
    prefill_pool: Arc<ThreadPool>,
    /// How new caches keep keys and values.
    kv_precision: KvPrecision,
}

/// Tokens per prefill chunk (llama.cpp's default batch).
pub const PREFILL_CHUNK: usize = 512;

/// A rayon pool with a `Debug` that does not need the pool's internals.
pub struct ThreadPool(rayon::ThreadPool);

impl std::fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ThreadPool({})", self.0.current_num_threads())
    }
}

impl ThreadPool {
    fn new(threads: usize) -> Result<Self, LlamaError> {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .thread_name(|i| format!("llama-{i}"))
            .build()
            .map(Self)
            .map_err(|e| LlamaError::Unsupported(format!("thread pool: {e}")))
    }

    fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.0.install(f)
    }
}

/// The decoding and prompt pools for `threads` threads.
fn pools(threads: usize) -> Result<(Arc<SpinPool>, Arc<ThreadPool>), LlamaError> {
    let spin = SpinPool::new(threads).map_err(|e| LlamaError::Unsupported(format!("thread pool: {e}")))?;
    Ok((Arc::new(spin), Arc::new(ThreadPool::new(threads)?)))
}

/// Keys and values of every position seen so far, per layer.
///
/// Head-major: KV head `h`'s vector for position `p` is at `(h · capacity + p) · head_dim`, so
/// each attention pass streams one contiguous run of memory. Position-major rows (all heads of
/// a position side by side, as the projections produce them) made every pass read a quarter
/// to a third of each row's cache lines and skip the rest, which kept decoding after a
/// 2,048-token prompt at a third of its short-context speed.
#[derive(Debug)]
pub struct KvCache {
    k: Vec<KvBuffer>,
    v: Vec<KvBuffer>,
    len: usize,
    capacity: usize,
    kv_dim: usize,
    head_dim: usize,
    precision: KvPrecision,
}

/// How a [`KvCache`] keeps keys and values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KvPrecision {
    /// f32: the projections' values as computed.
    #[default]
    F32,
    /// IEEE half precision, rounded to nearest (llama.cpp's default cache type): half the
    /// memory, and half the bytes every attention pass reads, which is what bounds decoding
    /// after a long prompt. Queries, scores, the softmax and the weighted sums stay f32.
    F16,
}

impl KvPrecision {
    /// Bytes per cached value.
    pub fn bytes(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F16 => 2,
        }
    }
}

/// One layer's keys and values, typed.
#[derive(Clone, Copy)]
enum KvLayer<'a> {
    F32(&'a [f32], &'a [f32]),
    F16(&'a [half::f16], &'a [half::f16]),
}

impl KvCache {
    /// An f32 cache for `capacity` positions (at most the model's context).
    pub fn new(config: &LlamaConfig, capacity: usize) -> Self {
        Self::with_precision(config, capacity, KvPrecision::F32)
    }

    /// A cache for `capacity` positions that keeps values in `precision`.
    pub fn with_precision(config: &LlamaConfig, capacity: usize, precision: KvPrecision) -> Self {
        let kv_dim = config.n_kv_heads * config.head_dim;
        let layer = || KvBuffer::zeroed(capacity * kv_dim * precision.bytes());
        Self {
            k: (0..config.n_layers).map(|_| layer()).collect(),
            v: (0..config.n_layers).map(|_| layer()).collect(),
            len: 0,
            capacity,
            kv_dim,
            head_dim: config.head_dim,
            precision,
        }
    }

    /// How the values are kept.
    pub fn precision(&self) -> KvPrecision {
        self.precision
    }

    /// Bytes the cache holds for the positions it has: keys and values of every layer.
    pub fn bytes_used(&self) -> usize {
        2 * self.k.len() * self.len * self.kv_dim * self.precision.bytes()
    }

    /// Layer `l`'s keys and values.
    fn layer(&self, l: usize) -> KvLayer<'_> {
        let (k, v) = (&self.k[l], &self.v[l]);
        match self.precision {
            KvPrecision::F32 => KvLayer::F32(k.typed(), v.typed()),
            KvPrecision::F16 => KvLayer::F16(k.typed(), v.typed()),
        }
    }

    /// Forgets everything (keeps the memory).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Keeps only the first `len` positions (to rewind after a speculative step).
    pub fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// Writes layer `l`'s keys and values of positions `start..` (rows of `kv_dim`, as the
    /// projections produce them) into their heads' runs.
    fn store(&mut self, l: usize, start: usize, keys: &[f32], values: &[f32]) {
        use half::slice::HalfFloatSliceExt;
        let (hd, cap, precision) = (self.head_dim, self.capacity, self.precision);
        for (cache, rows) in [(&mut self.k[l], keys), (&mut self.v[l], values)] {
            let runs = rows.chunks_exact(self.kv_dim).enumerate().flat_map(|(i, row)| {
                row.chunks_exact(hd).enumerate().map(move |(h, head)| ((h * cap + start + i) * hd, head))
            });
            match precision {
                KvPrecision::F32 => {
                    let cache = cache.typed_mut::<f32>();
                    runs.for_each(|(at, head)| cache[at..at + hd].copy_from_slice(head));
                }
                KvPrecision::F16 => {
                    let cache = cache.typed_mut::<half::f16>();
                    runs.for_each(|(at, head)| cache[at..at + hd].convert_from_f32_slice(head));
                }
            }
        }
    }
}

/// One layer's keys or values: an anonymous mapping, which reads as zeros and takes memory only
/// for the pages written. A cache is sized to the whole context (8,192 positions, 6.3 MB a
/// layer for SmolLM2) and an interview's chunks fill a fraction of it; `vec![0.0; n]` is as
/// lazy only while the allocator hands out fresh pages (reused heap memory is cleared up front).
enum KvBuffer {
    Mapped(memmap2::MmapMut),
    /// Where no mapping could be made (or none is needed: an empty cache); in 4-byte words, so
    /// the bytes are aligned for f32 and f16.
    Heap(Vec<u32>),
}

impl KvBuffer {
    fn zeroed(bytes: usize) -> Self {
        match memmap2::MmapOptions::new().len(bytes).map_anon() {
            Ok(map) if bytes > 0 => Self::Mapped(map),
            _ => Self::Heap(vec![0; bytes.div_ceil(4)]),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Self::Mapped(map) => map,
            Self::Heap(v) => bytemuck::cast_slice(v),
        }
    }

    fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            Self::Mapped(map) => map,
            Self::Heap(v) => bytemuck::cast_slice_mut(v),
        }
    }

    /// The buffer as values of `T` (a mapping starts on a page and the heap buffer on a word,
    /// so the cast cannot fail for f32 or f16; a trailing partial value is left out).
    fn typed<T: bytemuck::Pod>(&self) -> &[T] {
        let b = self.bytes();
        bytemuck::cast_slice(&b[..b.len() / size_of::<T>() * size_of::<T>()])
    }

    fn typed_mut<T: bytemuck::Pod>(&mut self) -> &mut [T] {
        let b = self.bytes_mut();
        let whole = b.len() / size_of::<T>() * size_of::<T>();
        bytemuck::cast_slice_mut(&mut b[..whole])
    }
}

/// A copy of the positions held: each head's written run only, so a clone of a cache sized to
/// the whole context takes memory for what it holds, as the original does.
impl Clone for KvCache {
    fn clone(&self) -> Self {
        let bytes = self.precision.bytes();
        let (run, used) = (self.capacity * self.head_dim * bytes, self.len * self.head_dim * bytes);
        let copy = |layers: &[KvBuffer]| -> Vec<KvBuffer> {
            layers
                .iter()
                .map(|from| {
                    let mut to = KvBuffer::zeroed(from.bytes().len());
                    if run == 0 {
                        return to;
                    }
                    for (dst, src) in to.bytes_mut().chunks_exact_mut(run).zip(from.bytes().chunks_exact(run)) {
                        dst[..used].copy_from_slice(&src[..used]);
                    }
                    to
                })
                .collect()
        };
        Self { k: copy(&self.k), v: copy(&self.v), ..*self }
    }
}

impl std::fmt::Debug for KvBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KvBuffer({} bytes)", self.bytes().len())
    }
}

impl Decoder for QuantLlama {
    type Cache = KvCache;

    fn new_cache(&self, capacity: usize) -> KvCache {
        QuantLlama::new_cache(self, capacity)
    }

    fn next_logits(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Vec<f32>, LlamaError> {
        self.forward(tokens, cache)
    }

    fn hidden_state(&self, tokens: &[u32], cache: &mut KvCache, layer: usize) -> Result<Option<Vec<f32>>, LlamaError> {
        QuantLlama::hidden_state(self, tokens, cache, layer).map(Some)
    }

    fn hidden_states(
        &self,
        owns: &[&[u32]],
        cache: &mut KvCache,
        layer: usize,
    ) -> Result<Option<Vec<Vec<f32>>>, LlamaError> {
        QuantLlama::hidden_states(self, owns, cache, layer).map(Some)
    }
}

impl ContextCache for KvCache {
    fn len(&self) -> usize {
        self.len
    }

    fn capacity(&self) -> usize {
        self.capacity
    }

    fn truncate(&mut self, len: usize) {
        KvCache::truncate(self, len);
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
    Ggml {
        /// `base^(−2/d)`.
        theta_scale: f32,
        /// Per-frequency divisors (a GGUF's `rope_freqs.weight`).
        freq_factors: Option<Vec<f32>>,
    },
    /// `pos · inv_freq[i]` (Llama-3.1 scaling from a config.json).
    InvFreq(Vec<f32>),
}

impl RopeAngles {
    /// The angles this configuration's RoPE uses.
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

/// Dot product with eight interleaved partial sums (as a SIMD register would hold them), so
/// the compiler can vectorize it; a single running sum cannot be reordered.
#[inline(always)]
fn dot8<E: KvElem>(a: &[f32], b: &[E]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y.widen()).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i].widen();
        }
    }
    (acc[0] + acc[4]) + (acc[1] + acc[5]) + (acc[2] + acc[6]) + (acc[3] + acc[7]) + tail
}

/// A type the KV cache keeps values in: f32, or f16 widened to f32 as it is loaded (F16C's
/// `vcvtph2ps`, exact), so every kernel below computes in f32 whatever the cache holds.
trait KvElem: bytemuck::Pod + Send + Sync {
    /// Elements per 64-byte cache line (the prefetch step).
    const PER_LINE: usize = 64 / size_of::<Self>();
    fn widen(self) -> f32;
    /// Eight values at `p`, widened.
    ///
    /// # Safety
    /// AVX2 and F16C are present and `p` points at eight readable values.
    #[cfg(target_arch = "x86_64")]
    unsafe fn load8(p: *const Self) -> std::arch::x86_64::__m256;
}

impl KvElem for f32 {
    #[inline(always)]
    fn widen(self) -> f32 {
        self
    }

    #[cfg(target_arch = "x86_64")]
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn load8(p: *const f32) -> std::arch::x86_64::__m256 {
        // SAFETY: the caller's promise.
        unsafe { std::arch::x86_64::_mm256_loadu_ps(p) }
    }
}

impl KvElem for half::f16 {
    #[inline(always)]
    fn widen(self) -> f32 {
        self.to_f32()
    }

    #[cfg(target_arch = "x86_64")]
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    unsafe fn load8(p: *const half::f16) -> std::arch::x86_64::__m256 {
        use std::arch::x86_64::*;
        // SAFETY: the caller's promise (eight f16 are 16 bytes).
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) }
    }
}

/// Whether the AVX2 kernels run here (F16C comes with every AVX2 processor; checked anyway).
#[cfg(target_arch = "x86_64")]
fn avx2_attention_available() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
        && std::arch::is_x86_feature_detected!("f16c")
}

/// One KV head's cached keys and values: position `p`'s `head_dim` values at
/// `offset + p · stride`, for the first `positions` positions.
struct KvHead<'a, E> {
    keys: &'a [E],
    values: &'a [E],
    stride: usize,
    offset: usize,
    positions: usize,
}

/// Softmax attention of one query head over one KV head: `out = Σ_p softmax(q·k_p·scale)_p v_p`.
/// Decoding and prefill both come here, so a token's output does not depend on how the prompt
/// was batched.
fn attend_head<E: KvElem>(qh: &[f32], kv: &KvHead<E>, scale: f32, scores: &mut Vec<f32>, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if qh.len().is_multiple_of(8) && avx2_attention_available() {
        // SAFETY: AVX2, FMA and F16C are present; the head is whole 8-value vectors.
        return unsafe { attend_head_avx2(qh, kv, scale, scores, out) };
    }
    attend_head_portable(qh, kv, scale, scores, out)
}

/// [`attend_head`] on AVX2 + FMA for heads of whole 8-value vectors. Scores are computed for
/// eight positions at a time, their eight dot products reduced together by a transposing
/// `hadd` tree; a position outside a group of eight goes through [`hsum_like_hadd_tree`],
/// which adds its lanes in that tree's order, so a score never depends on its position's group
/// (decoding sees a different last group than prefill). The softmax runs eight scores per
/// vector ([`exp_avx2`]), and the weighted value sum takes one FMA per 8 values and position,
/// positions in order.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
fn attend_head_avx2<E: KvElem>(qh: &[f32], kv: &KvHead<E>, scale: f32, scores: &mut Vec<f32>, out: &mut [f32]) {
    use std::arch::x86_64::*;
    let (hd, positions) = (qh.len(), kv.positions);
    let last_row_end = positions.saturating_sub(1) * kv.stride + kv.offset + hd;
    if positions == 0 || kv.keys.len() < last_row_end || kv.values.len() < last_row_end || out.len() < hd {
        // Not a shape the model builds; the portable code reports it (an index panic).
        return attend_head_portable(qh, kv, scale, scores, out);
    }
    scores_avx2(qh, kv, scale, scores);
    softmax_avx2(scores);
    let weights = &scores[..positions];
    // SAFETY (the loads): row p's values are `p·stride + offset + [0, hd)`, within `values` for
    // every p < positions (checked above); `first + 8·i + 8 ≤ hd`.
    let values = unsafe { kv.values.as_ptr().add(kv.offset) };
    let mut first = 0;
    while first + V_TILE <= hd {
        let mut acc = [_mm256_setzero_ps(); V_TILE / 8];
        for (p, &w) in weights.iter().enumerate() {
            for line in (0..V_TILE).step_by(E::PER_LINE) {
                _mm_prefetch::<_MM_HINT_T0>(values.wrapping_add((p + 16) * kv.stride + first + line).cast());
            }
            let w = _mm256_set1_ps(w);
            for (i, a) in acc.iter_mut().enumerate() {
                *a = _mm256_fmadd_ps(w, unsafe { E::load8(values.add(p * kv.stride + first + 8 * i)) }, *a);
            }
        }
        for (i, a) in acc.iter().enumerate() {
            let o = &mut out[first + 8 * i..first + 8 * i + 8];
            // SAFETY: `o` holds 8 f32; unaligned store.
            unsafe { _mm256_storeu_ps(o.as_mut_ptr(), *a) };
        }
        first += V_TILE;
    }
    while first < hd {
        let mut acc = _mm256_setzero_ps();
        for (p, &w) in weights.iter().enumerate() {
            acc = _mm256_fmadd_ps(_mm256_set1_ps(w), unsafe { E::load8(values.add(p * kv.stride + first)) }, acc);
        }
        let o = &mut out[first..first + 8];
        // SAFETY: `o` holds 8 f32; unaligned store.
        unsafe { _mm256_storeu_ps(o.as_mut_ptr(), acc) };
        first += 8;
    }
}

/// `scores[p] = q·k_p·scale` for every cached position, then padded with −∞ to whole vectors
/// (see [`attend_head_avx2`]; the caller checked every key row lies within `kv.keys`).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
fn scores_avx2<E: KvElem>(qh: &[f32], kv: &KvHead<E>, scale: f32, scores: &mut Vec<f32>) {
    use std::arch::x86_64::*;
    let (hd, positions, stride) = (qh.len(), kv.positions, kv.stride);
    assert!(positions == 0 || kv.keys.len() >= (positions - 1) * stride + kv.offset + hd, "key rows");
    scores.clear();
    scores.resize(positions.next_multiple_of(8), f32::NEG_INFINITY);
    // SAFETY (every load below): key row p is `p·stride + offset + [0, hd)` for p < positions,
    // within `keys` (asserted above), and `c + 8 ≤ hd`; `q` has `hd` values.
    let (keys, q) = (unsafe { kv.keys.as_ptr().add(kv.offset) }, qh.as_ptr());
    let whole = positions / 8 * 8;
    for p in (0..whole).step_by(8) {
        // The cache rows of two groups ahead: decoding after a long prompt waits on them.
        for j in 0..8 {
            for line in (0..hd).step_by(E::PER_LINE) {
                _mm_prefetch::<_MM_HINT_T0>(keys.wrapping_add((p + 16 + j) * stride + line).cast());
            }
        }
        let mut acc = [_mm256_setzero_ps(); 8];
        for c in (0..hd).step_by(8) {
            let qv = unsafe { _mm256_loadu_ps(q.add(c)) };
            for (j, a) in acc.iter_mut().enumerate() {
                *a = _mm256_fmadd_ps(qv, unsafe { E::load8(keys.add((p + j) * stride + c)) }, *a);
            }
        }
        let dots = eight_scores(&acc, scale);
        let group = &mut scores[p..p + 8];
        // SAFETY: `group` holds 8 f32; unaligned store.
        unsafe { _mm256_storeu_ps(group.as_mut_ptr(), dots) };
    }
    for (p, score) in scores.iter_mut().enumerate().take(positions).skip(whole) {
        let mut acc = _mm256_setzero_ps();
        for c in (0..hd).step_by(8) {
            acc = unsafe { _mm256_fmadd_ps(_mm256_loadu_ps(q.add(c)), E::load8(keys.add(p * stride + c)), acc) };
        }
        *score = hsum_like_hadd_tree(acc) * scale;
    }
}

/// Eight keys' scores from their eight-lane dot-product accumulators: the lanes of each added
/// by a transposing `hadd` tree (key `j` into lane `j`), times `scale` — the one reduction
/// [`scores_avx2`] and [`attend_group`] share, so their scores are the same bits.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2,fma")]
fn eight_scores(acc: &[std::arch::x86_64::__m256; 8], scale: f32) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    let h01 = _mm256_hadd_ps(acc[0], acc[1]);
    let h23 = _mm256_hadd_ps(acc[2], acc[3]);
    let h45 = _mm256_hadd_ps(acc[4], acc[5]);
    let h67 = _mm256_hadd_ps(acc[6], acc[7]);
    let (h0123, h4567) = (_mm256_hadd_ps(h01, h23), _mm256_hadd_ps(h45, h67));
    let low = _mm256_permute2f128_ps::<0x20>(h0123, h4567);
    let high = _mm256_permute2f128_ps::<0x31>(h0123, h4567);
    _mm256_mul_ps(_mm256_add_ps(low, high), _mm256_set1_ps(scale))
}

/// Whether [`attend_group`] runs here: AVX-512 VL gives the 32 vector registers its shared
/// loads need (the instructions are the AVX2 kernel's, so the results are its bits).
#[cfg(target_arch = "x86_64")]
fn group_attention_available(hd: usize) -> bool {
    hd.is_multiple_of(V_TILE)
        && avx2_attention_available()
        && std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512vl")
}

/// [`attend_head`] for `N ≤ 3` query heads that share one KV head (grouped-query attention),
/// bit for bit: each cached key and value row is loaded once for the `N` heads instead of once
/// per head — a long prompt's cache does not fit in L2, and re-reading it per head is what
/// bounded attention (61 % of a 4096-token SmolLM2 prefill). Every head's scores, softmax and
/// weighted sum take [`attend_head_avx2`]'s operations in its order. `scores` is scratch.
///
/// # Safety
/// AVX2, FMA, F16C, AVX-512 F and VL ([`group_attention_available`]); `qs` hold `hd` values each,
/// `hd` a multiple of [`V_TILE`], every key and value row of `kv` in bounds, `outs` `hd` each.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512vl")]
unsafe fn attend_group<E: KvElem, const N: usize>(
    qs: [&[f32]; N],
    kv: &KvHead<E>,
    scale: f32,
    scores: &mut Vec<f32>,
    mut outs: [&mut [f32]; N],
) {
    use std::arch::x86_64::*;
    let (hd, positions, stride) = (qs[0].len(), kv.positions, kv.stride);
    let padded = positions.next_multiple_of(8);
    scores.clear();
    scores.resize(N * padded, f32::NEG_INFINITY);
    // SAFETY (every load below): the caller's promise — key and value row p are
    // `p·stride + offset + [0, hd)` for p < positions, each query `hd` values.
    let (keys, values) = unsafe { (kv.keys.as_ptr().add(kv.offset), kv.values.as_ptr().add(kv.offset)) };
    let q = qs.map(|q| q.as_ptr());
    let whole = positions / 8 * 8;
    for p in (0..whole).step_by(8) {
        for j in 0..8 {
            for line in (0..hd).step_by(E::PER_LINE) {
                _mm_prefetch::<_MM_HINT_T0>(keys.wrapping_add((p + 16 + j) * stride + line).cast());
            }
        }
        // 8 × N accumulators, N query vectors and one key vector live: 28 of the 32
        // registers for N = 3 (loading all eight keys first spilled accumulators).
        let mut acc = [[_mm256_setzero_ps(); 8]; N];
        for c in (0..hd).step_by(8) {
            let qv = q.map(|q| unsafe { _mm256_loadu_ps(q.add(c)) });
            for j in 0..8 {
                let k = unsafe { E::load8(keys.add((p + j) * stride + c)) };
                for (acc, qv) in acc.iter_mut().zip(&qv) {
                    acc[j] = _mm256_fmadd_ps(*qv, k, acc[j]);
                }
            }
        }
        for (n, acc) in acc.iter().enumerate() {
            let dots = eight_scores(acc, scale);
            let group = &mut scores[n * padded + p..n * padded + p + 8];
            // SAFETY: `group` holds 8 f32; unaligned store.
            unsafe { _mm256_storeu_ps(group.as_mut_ptr(), dots) };
        }
    }
    for p in whole..positions {
        for (n, q) in q.iter().enumerate() {
            let mut acc = _mm256_setzero_ps();
            for c in (0..hd).step_by(8) {
                acc = unsafe { _mm256_fmadd_ps(_mm256_loadu_ps(q.add(c)), E::load8(keys.add(p * stride + c)), acc) };
            }
            scores[n * padded + p] = hsum_like_hadd_tree(acc) * scale;
        }
    }
    for head in scores.chunks_exact_mut(padded) {
        softmax_avx2(head);
    }
    for first in (0..hd).step_by(V_TILE) {
        let mut acc = [[_mm256_setzero_ps(); V_TILE / 8]; N];
        for p in 0..positions {
            for line in (0..V_TILE).step_by(E::PER_LINE) {
                _mm_prefetch::<_MM_HINT_T0>(values.wrapping_add((p + 16) * stride + first + line).cast());
            }
            // As for the scores: one value vector at a time beside the 8 × N accumulators.
            let w: [__m256; N] = std::array::from_fn(|n| _mm256_set1_ps(scores[n * padded + p]));
            for i in 0..V_TILE / 8 {
                let v = unsafe { E::load8(values.add(p * stride + first + 8 * i)) };
                for (acc, w) in acc.iter_mut().zip(&w) {
                    acc[i] = _mm256_fmadd_ps(*w, v, acc[i]);
                }
            }
        }
        for (acc, out) in acc.iter().zip(outs.iter_mut()) {
            for (i, a) in acc.iter().enumerate() {
                let o = &mut out[first + 8 * i..first + 8 * i + 8];
                // SAFETY: `o` holds 8 f32; unaligned store.
                unsafe { _mm256_storeu_ps(o.as_mut_ptr(), *a) };
            }
        }
    }
}

/// Softmax in place over scores padded with −∞ to whole vectors of 8 (the padding becomes 0):
/// the maximum, `exp(s − max)` and their sum eight lanes at a time (the sum's lanes added by
/// [`hsum_like_hadd_tree`]), then each divided by the sum. The order depends only on the
/// number of scores, so decoding and prefill agree.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn softmax_avx2(scores: &mut [f32]) {
    use std::arch::x86_64::*;
    let mut max = _mm256_set1_ps(f32::NEG_INFINITY);
    for v in scores.chunks_exact(8) {
        // SAFETY: `v` holds 8 f32; unaligned load.
        max = _mm256_max_ps(max, unsafe { _mm256_loadu_ps(v.as_ptr()) });
    }
    let max = {
        let m = _mm_max_ps(_mm256_castps256_ps128(max), _mm256_extractf128_ps::<1>(max));
        let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
        _mm256_set1_ps(_mm_cvtss_f32(_mm_max_ss(m, _mm_shuffle_ps::<1>(m, m))))
    };
    let mut sum = _mm256_setzero_ps();
    for v in scores.chunks_exact_mut(8) {
        // SAFETY: `v` holds 8 f32; unaligned load and store.
        unsafe {
            let e = exp_avx2(_mm256_sub_ps(_mm256_loadu_ps(v.as_ptr()), max));
            _mm256_storeu_ps(v.as_mut_ptr(), e);
            sum = _mm256_add_ps(sum, e);
        }
    }
    let sum = _mm256_set1_ps(hsum_like_hadd_tree(sum));
    for v in scores.chunks_exact_mut(8) {
        // SAFETY: `v` holds 8 f32; unaligned load and store.
        unsafe { _mm256_storeu_ps(v.as_mut_ptr(), _mm256_div_ps(_mm256_loadu_ps(v.as_ptr()), sum)) };
    }
}

/// `eˣ` for `x ≤ 0` (a softmax's `s − max`), eight lanes, within 2 ulp of `f32::exp`; −∞ and
/// anything below the smallest normal result give 0. Cephes' single-precision method: `x = n·ln 2
/// + r` with `|r| ≤ ln 2 / 2`, a degree-6 polynomial for `eʳ`, and `2ⁿ` built in the exponent.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn exp_avx2(x: std::arch::x86_64::__m256) -> std::arch::x86_64::__m256 {
    use std::arch::x86_64::*;
    const LOWEST: f32 = -87.336_54; // ln(2⁻¹²⁶): below it the result is not a normal float
    let underflow = _mm256_cmp_ps::<_CMP_LT_OQ>(x, _mm256_set1_ps(LOWEST));
    let x = _mm256_max_ps(x, _mm256_set1_ps(LOWEST));
    let n = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(_mm256_mul_ps(
        x,
        _mm256_set1_ps(std::f32::consts::LOG2_E),
    ));
    // ln 2 in two parts, so `n·ln2_hi` is exact and `r` keeps its low bits.
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_359_4), x);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.121_944_4e-4), r);
    let mut p = _mm256_set1_ps(1.987_569_1e-4);
    for c in [1.398_199_9e-3, 8.333_452e-3, 4.166_579_6e-2, 1.666_666_5e-1, 0.5] {
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
    }
    let p = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), _mm256_add_ps(r, _mm256_set1_ps(1.0)));
    let two_n =
        _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127))));
    _mm256_andnot_ps(underflow, _mm256_mul_ps(p, two_n))
}

/// The sum of 8 lanes in the order `attend_head_avx2`'s `hadd` tree gives each of its lanes:
/// `((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7))`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn hsum_like_hadd_tree(v: std::arch::x86_64::__m256) -> f32 {
    use std::arch::x86_64::*;
    let pairs = _mm256_hadd_ps(v, v);
    let quads = _mm256_hadd_ps(pairs, pairs);
    _mm_cvtss_f32(_mm_add_ss(_mm256_castps256_ps128(quads), _mm256_extractf128_ps::<1>(quads)))
}

#[inline(always)]
fn attend_head_portable<E: KvElem>(qh: &[f32], kv: &KvHead<E>, scale: f32, scores: &mut Vec<f32>, out: &mut [f32]) {
    let hd = qh.len();
    let row = |p: usize| p * kv.stride + kv.offset..p * kv.stride + kv.offset + hd;
    scores.clear();
    for p in 0..kv.positions {
        scores.push(dot8(qh, &kv.keys[row(p)]) * scale);
    }
    let max = scores.iter().fold(f32::NEG_INFINITY, |m, &s| m.max(s));
    let mut sum = 0f32;
    scores.iter_mut().for_each(|s| {
        *s = (*s - max).exp();
        sum += *s;
    });
    scores.iter_mut().for_each(|w| *w /= sum);
    // The weighted sum of values, 64 outputs at a time held in registers across every
    // position (a head of 64 or 128 values is whole tiles); each output sums the positions in
    // order, so the tiling changes no bit.
    let mut tiles = out.chunks_exact_mut(V_TILE);
    for (tile, out_tile) in (&mut tiles).enumerate() {
        let mut acc = [0f32; V_TILE];
        for (p, &w) in scores.iter().enumerate() {
            let start = row(p).start + tile * V_TILE;
            for (a, &v) in acc.iter_mut().zip(&kv.values[start..start + V_TILE]) {
                *a += w * v.widen();
            }
        }
        out_tile.copy_from_slice(&acc);
    }
    let rest = tiles.into_remainder();
    if rest.is_empty() {
        return;
    }
    let (first, width) = (hd - rest.len(), rest.len());
    rest.fill(0.0);
    for (p, &w) in scores.iter().enumerate() {
        let start = row(p).start + first;
        rest.iter_mut().zip(&kv.values[start..start + width]).for_each(|(o, &v)| *o += w * v.widen());
    }
}

/// One token's attention over a cached layer: its query row, how many positions it sees,
/// and the shapes that place each head's run in the cache.
struct TokenAttention<'a> {
    q_row: &'a [f32],
    positions: usize,
    head_dim: usize,
    /// Query heads per KV head.
    group: usize,
    capacity: usize,
    n_kv_heads: usize,
    scale: f32,
    /// Whether [`attend_group`] runs here (detected once per segment, not per token).
    grouped: bool,
}

impl TokenAttention<'_> {
    /// Heads `heads` of the token into `out` (those heads' values, side by side): runs of up
    /// to three heads that share a KV head in one pass where [`attend_group`] runs, else one
    /// head at a time.
    fn heads<E: KvElem>(
        &self,
        keys: &[E],
        values: &[E],
        heads: std::ops::Range<usize>,
        out: &mut [f32],
        scores: &mut Vec<f32>,
    ) {
        let (hd, capacity, group, scale) = (self.head_dim, self.capacity, self.group, self.scale);
        let q_row = self.q_row;
        let kv = |head: usize| KvHead {
            keys,
            values,
            stride: hd,
            offset: head / group * capacity * hd,
            positions: self.positions,
        };
        #[cfg(target_arch = "x86_64")]
        {
            let last_row_end = (self.n_kv_heads - 1) * capacity * hd + self.positions * hd;
            if self.grouped
                && keys.len() >= last_row_end
                && values.len() >= last_row_end
                && out.len() >= heads.len() * hd
            {
                let mut head = heads.start;
                let mut rest: &mut [f32] = out;
                while head < heads.end {
                    let run = (group - head % group).min(heads.end - head).min(3);
                    let (now, later) = std::mem::take(&mut rest).split_at_mut(run * hd);
                    rest = later;
                    let qh = |k: usize| &q_row[(head + k) * hd..(head + k + 1) * hd];
                    let kv = kv(head);
                    // SAFETY: AVX2, FMA, F16C, AVX-512 F/VL present and `hd` a multiple of
                    // V_TILE (checked above); every head's run holds `positions` positions
                    // (checked above), queries and outputs `hd` each.
                    unsafe {
                        match run {
                            3 => {
                                let (a, bc) = now.split_at_mut(hd);
                                let (b, c) = bc.split_at_mut(hd);
                                attend_group([qh(0), qh(1), qh(2)], &kv, scale, scores, [a, b, c])
                            }
                            2 => {
                                let (a, b) = now.split_at_mut(hd);
                                attend_group([qh(0), qh(1)], &kv, scale, scores, [a, b])
                            }
                            _ => attend_group([qh(0)], &kv, scale, scores, [now]),
                        }
                    }
                    head += run;
                }
                return;
            }
        }
        for (head, out_head) in heads.zip(out.chunks_exact_mut(hd)) {
            attend_head(&q_row[head * hd..(head + 1) * hd], &kv(head), scale, scores, out_head);
        }
    }
}

/// Output values of one attention head accumulated together in registers (8 AVX2 vectors).
const V_TILE: usize = 64;

fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

impl QuantLlama {
    /// Shape and RoPE settings.
    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// The token embedding table `[vocab, hidden]`.
    pub fn embed(&self) -> &QuantizedMatrix {
        &self.embed
    }

    /// Decoder blocks, first to last (weights and any run-time adapters).
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// The final RMS norm's weights.
    pub fn norm(&self) -> &[f32] {
        &self.norm
    }

    /// The LM head `[vocab, hidden]`; the same matrix as [`embed`](Self::embed) when the
    /// embeddings are tied (and not requantized).
    pub fn head(&self) -> &QuantizedMatrix {
        &self.head
    }

    /// Whether the head is the embedding table itself (one copy in memory).
    pub fn head_is_embedding(&self) -> bool {
        Arc::ptr_eq(&self.embed, &self.head)
    }
    /// Loads a GGUF model.
    pub fn from_gguf(file: &GgufFile, format: WeightFormat) -> Result<Self, LlamaError> {
        let config = LlamaConfig::from_gguf(file)?;
        Self::from_weights(config, &WeightSet::Gguf(file), format)
    }

    /// Builds from any weight source (GGUF names, permuted Q/K).
    pub fn from_weights(config: LlamaConfig, w: &WeightSet<'_>, format: WeightFormat) -> Result<Self, LlamaError> {
        let h = config.hidden_size;
        // Quantized rows read from a mapped file go into panels for the VNNI kernels
        // where the CPU has them (the same bits, two to three times faster per product), and
        // the file's copy of them leaves memory as they are packed. Matrices made here
        // (requantized, or from a checkpoint) keep their one copy: panels beside it would
        // double them.
        let packed = |name: &str, mut m: QuantizedMatrix| {
            if m.bytes.is_shared() {
                m.pack_row_panels_with(&mut |range| w.release_pages(name, range));
            }
            m
        };
        let matrix = |name: &str, rows: usize, cols: usize| -> Result<QuantizedMatrix, LlamaError> {
            let m = w.matrix(name, rows, cols)?;
            Ok(packed(
                name,
                match format {
                    WeightFormat::Requantize(t) => {
                        let t = fallback_type(t, cols);
                        if m.ggml_type == t { m } else { QuantizedMatrix::quantize(t, rows, cols, &m.dequantize()?)? }
                    }
                    WeightFormat::AsLoaded => m,
                },
            ))
        };
        let mut blocks = Vec::with_capacity(config.n_layers);
        for i in 0..config.n_layers {
            let p = format!("blk.{i}");
            let proj = |p: Proj| {
                let (cols, rows) = p.shape(&config);
                matrix(&p.gguf_name(i), rows, cols)
            };
            blocks.push(Block {
                attn_norm: w.vector(&format!("{p}.attn_norm.weight"), h)?,
                wq: proj(Proj::Q)?,
                wk: proj(Proj::K)?,
                wv: proj(Proj::V)?,
                wo: proj(Proj::O)?,
                ffn_norm: w.vector(&format!("{p}.ffn_norm.weight"), h)?,
                w_gate: proj(Proj::Gate)?,
                w_up: proj(Proj::Up)?,
                w_down: proj(Proj::Down)?,
                adapters: BlockAdapters::default(),
            });
        }
        // Tied, the table is also the head: its products use panels and its rows are looked up
        // in the file's bytes (a row per token; the rest of its pages stay out of memory).
        // Untied, it is only looked up, and panels would be a copy for nothing.
        let tied = !w.has("output.weight") && format == WeightFormat::AsLoaded;
        let embed = w.matrix("token_embd.weight", config.vocab_size, h)?;
        let embed = Arc::new(if tied { packed("token_embd.weight", embed) } else { embed });
        let head = match (w.has("output.weight"), format) {
            (true, _) => Arc::new(matrix("output.weight", config.vocab_size, h)?),
            // A requantized model gets its own head in the target type, even when tied.
            (false, WeightFormat::Requantize(_)) => Arc::new(matrix("token_embd.weight", config.vocab_size, h)?),
            (false, WeightFormat::AsLoaded) => embed.clone(),
        };
        let norm = w.vector("output_norm.weight", h)?;
        let rope = RopeAngles::for_config(&config);
        let (decode_pool, prefill_pool) = pools(1)?;
        Ok(Self {
            config,
            embed,
            blocks,
            norm,
            head,
            rope,
            threads: 1,
            decode_pool,
            prefill_pool,
            kv_precision: KvPrecision::default(),
        })
    }

    /// Serves a PEFT adapter at run time, unmerged (the quantized weights stay as they are).
    /// `lora_B` rows of `q_proj` / `k_proj` are permuted to this decoder's RoPE row order, as
    /// llama.cpp's adapter converter does. Every module must exist and fit.
    pub fn apply_adapter(&mut self, adapter: &lora::LoraAdapter) -> Result<(), LlamaError> {
        let c = self.config.clone();
        let scaling = adapter.config.scaling() as f32;
        for (module, pair) in &adapter.modules {
            let err = |w: &str| LlamaError::Weights(format!("adapter module {module}: {w}"));
            let (layer, proj) = Proj::parse_hf_path(module).ok_or_else(|| err("not a decoder layer projection"))?;
            let block = self.blocks.get_mut(layer).ok_or_else(|| err("layer beyond the model"))?;
            let heads = proj.rope_heads(&c);
            let (slot, base) = block.projection_mut(proj);
            let r = pair.a.rows;
            if pair.a.cols != base.cols || pair.b.rows != base.rows || pair.b.cols != r {
                return Err(err(&format!(
                    "A {}×{} / B {}×{} do not fit a {}→{} projection",
                    pair.a.rows, pair.a.cols, pair.b.rows, pair.b.cols, base.cols, base.rows
                )));
            }
            let b = match heads {
                Some(n) => {
                    let bytes: Vec<u8> = pair.b.data.iter().flat_map(|v| v.to_le_bytes()).collect();
                    crate::runtime::weights::permute_rows_for_adjacent_rope(&bytes, n, c.head_dim, r * 4)
                        .chunks_exact(4)
                        .map(|x| f32::from_le_bytes([x[0], x[1], x[2], x[3]]))
                        .collect()
                }
                None => pair.b.data.clone(),
            };
            let b = lora::Matrix { rows: pair.b.rows, cols: r, data: b };
            *slot = Some(lora::ScaledPair::new(lora::LoraPair { a: pair.a.clone(), b }, scaling));
        }
        Ok(())
    }

    /// Threads used per matrix product.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Sets the threads used per matrix product and per token's attention (and sizes both
    /// pools to match).
    pub fn with_threads(mut self, threads: usize) -> Result<Self, LlamaError> {
        self.threads = threads.max(1);
        (self.decode_pool, self.prefill_pool) = pools(self.threads)?;
        Ok(self)
    }

    /// How the caches of [`Self::new_cache`] keep keys and values.
    pub fn kv_precision(&self) -> KvPrecision {
        self.kv_precision
    }

    /// Sets how new caches keep keys and values (f16 halves the cache, as llama.cpp's default
    /// does; see [`KvPrecision`]).
    pub fn with_kv_precision(mut self, precision: KvPrecision) -> Self {
        self.kv_precision = precision;
        self
    }

    /// A KV cache for up to `capacity` positions (capped at the model's context), in
    /// [`Self::kv_precision`].
    pub fn new_cache(&self, capacity: usize) -> KvCache {
        KvCache::with_precision(&self.config, capacity.min(self.config.context_length), self.kv_precision)
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
            // Only the last position's logits are returned: the LM head (the largest matrix,
            // vocabulary × hidden) runs for that one row, not for the whole prompt.
            false,
        )?;
        last.ok_or_else(|| LlamaError::Generation("no tokens to feed".into()))
    }

    /// Feeds `tokens` after what `cache` holds; returns the last token's hidden state after
    /// block `layer` (the residual stream), or after the output norm when `layer` is the number
    /// of blocks: what the model knows of the text so far, for classifiers trained on it
    /// ([`crate::extract::clause_check`]).
    pub fn hidden_state(&self, tokens: &[u32], cache: &mut KvCache, layer: usize) -> Result<Vec<f32>, LlamaError> {
        let c = &self.config;
        if tokens.is_empty() {
            return Err(LlamaError::Generation("no tokens to feed".into()));
        }
        if layer > self.blocks.len() {
            return Err(LlamaError::Config(format!("no layer {layer}: the model has {} blocks", self.blocks.len())));
        }
        // The last chunk (the whole of a clause question) goes through with its last row's
        // states kept: one pass, where feeding the last token on its own had cost a second
        // pass over every weight per question. Rows do not depend on the chunking.
        let (before, last) = tokens.split_at(tokens.len().saturating_sub(PREFILL_CHUNK));
        if !before.is_empty() {
            self.forward_each(before, cache, |_, _, _| {}, false)?;
        }
        if cache.len + last.len() > cache.capacity {
            return Err(LlamaError::ContextOverflow { needed: cache.len + last.len(), limit: cache.capacity });
        }
        if let Some(t) = last.iter().find(|&&t| t as usize >= c.vocab_size) {
            return Err(LlamaError::Generation(format!("token id {t} ≥ vocabulary {}", c.vocab_size)));
        }
        let mut want = vec![false; last.len()];
        want[last.len() - 1] = true;
        let mut layers = Vec::with_capacity(self.blocks.len());
        let mut rows = self.forward_chunk(last, cache, &want, &[last.len()], Some(&mut layers))?;
        if let Some((_, normed)) = rows.pop() {
            layers.push(normed);
        }
        layers.into_iter().nth(layer).ok_or_else(|| LlamaError::Generation("no hidden state".into()))
    }

    /// [`Self::hidden_state`] of each of `owns`, each fed after what `cache` holds as if it were
    /// the only one (the cache is left holding what it held). Short texts go through together,
    /// up to [`PREFILL_CHUNK`] tokens a pass, so the weights are read once for many of them
    /// (clause checks ask about dozens of clauses of ~12 tokens after one shared question); a
    /// text's attention sees the cached positions and its own tokens only, at the positions it
    /// would have alone, so every state has the bits of its own call.
    pub fn hidden_states(
        &self,
        owns: &[&[u32]],
        cache: &mut KvCache,
        layer: usize,
    ) -> Result<Vec<Vec<f32>>, LlamaError> {
        let c = &self.config;
        if layer > self.blocks.len() {
            return Err(LlamaError::Config(format!("no layer {layer}: the model has {} blocks", self.blocks.len())));
        }
        let start = cache.len;
        let mut out = Vec::with_capacity(owns.len());
        let mut at = 0;
        while at < owns.len() {
            // The next batch: as many texts as fit in one pass (a longer one goes alone).
            let mut end = at;
            let mut tokens = 0;
            while end < owns.len() && (end == at || tokens + owns[end].len() <= PREFILL_CHUNK) {
                tokens += owns[end].len();
                end += 1;
            }
            let batch = &owns[at..end];
            at = end;
            if let [own] = batch
                && own.len() > PREFILL_CHUNK
            {
                out.push(self.hidden_state(own, cache, layer)?);
                cache.truncate(start);
                continue;
            }
            if batch.iter().any(|o| o.is_empty()) {
                return Err(LlamaError::Generation("no tokens to feed".into()));
            }
            let longest = batch.iter().map(|o| o.len()).max().unwrap_or(0);
            if start + longest > cache.capacity {
                return Err(LlamaError::ContextOverflow { needed: start + longest, limit: cache.capacity });
            }
            let joined: Vec<u32> = batch.iter().flat_map(|o| o.iter().copied()).collect();
            if let Some(t) = joined.iter().find(|&&t| t as usize >= c.vocab_size) {
                return Err(LlamaError::Generation(format!("token id {t} ≥ vocabulary {}", c.vocab_size)));
            }
            let lens: Vec<usize> = batch.iter().map(|o| o.len()).collect();
            let mut want = vec![false; joined.len()];
            let mut last = 0;
            for len in &lens {
                last += len;
                want[last - 1] = true;
            }
            let mut layers = Vec::with_capacity(self.blocks.len() + 1);
            let normed = self.forward_chunk(&joined, cache, &want, &lens, Some(&mut layers))?;
            // A batch of one text stays in the cache as any single text does: forget it.
            cache.truncate(start);
            layers.push(normed.into_iter().flat_map(|(_, row)| row).collect());
            let chosen = layers.swap_remove(layer);
            out.extend(chosen.chunks_exact(c.hidden_size).map(<[f32]>::to_vec));
        }
        Ok(out)
    }

    /// Feeds `tokens`, calling `on_logits(i, n, logits)` for every position (teacher forcing,
    /// evaluation). Logits are computed only when `all_logits` or for the last token.
    ///
    /// Tokens go through in chunks of up to [`PREFILL_CHUNK`]: each weight row is read once per
    /// chunk and dotted with every token's activations while it is in cache, so a long prompt
    /// streams the weights once per chunk instead of once per token. Each output is the same
    /// row·activation dot product as in one-token decoding, so results do not depend on the
    /// chunking.
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
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= c.vocab_size) {
            return Err(LlamaError::Generation(format!("token id {bad} ≥ vocabulary {}", c.vocab_size)));
        }
        let total = tokens.len();
        for (chunk_index, chunk) in tokens.chunks(PREFILL_CHUNK).enumerate() {
            let offset = chunk_index * PREFILL_CHUNK;
            let want: Vec<bool> = (0..chunk.len()).map(|i| all_logits || offset + i + 1 == total).collect();
            let logits = self.forward_chunk(chunk, cache, &want, &[chunk.len()], None)?;
            for (i, row) in logits {
                on_logits(offset + i, total, &row);
            }
        }
        Ok(())
    }

    // One transformer pass over a chunk of tokens, kept whole (~150 lines): every stage reads
    // and writes the same scratch buffers and KV cache, and split into functions it would pass
    // a dozen of them around without making any stage readable on its own. `segments` splits
    // the tokens into texts that each follow what the cache holds on their own (`[n]`: one
    // text, kept in the cache); `layers` collects the `want` rows' residual streams per block.
    fn forward_chunk(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
        want: &[bool],
        segments: &[usize],
        mut layers: Option<&mut Vec<Vec<f32>>>,
    ) -> Result<Vec<(usize, Vec<f32>)>, LlamaError> {
        let c = &self.config;
        let n = tokens.len();
        if segments.iter().sum::<usize>() != n || segments.contains(&0) {
            return Err(LlamaError::Generation(format!("segments {segments:?} do not split {n} tokens")));
        }
        let (h, hd, kv_dim) = (c.hidden_size, c.head_dim, cache.kv_dim);
        let q_dim = c.n_heads * hd;
        let group = c.n_heads / c.n_kv_heads;
        let scale = 1.0 / (hd as f32).sqrt();
        let start = cache.len;
        let mut x = vec![0f32; n * h];
        for (row, &t) in x.chunks_exact_mut(h).zip(tokens) {
            quant5::dequantize_row(self.embed.ggml_type, self.embed.row(t as usize), row)?;
        }
        // Each segment's tokens sit at `start`, `start + 1`, … after what the cache holds.
        let angles: Vec<Vec<(f32, f32)>> = segments
            .iter()
            .flat_map(|&len| 0..len)
            .map(|j| {
                let mut a = Vec::with_capacity(hd / 2);
                self.rope.cos_sin(start + j, hd / 2, &mut a);
                a
            })
            .collect();
        let mut xn = vec![0f32; n * h];
        let mut q = vec![0f32; n * q_dim];
        let mut k = vec![0f32; n * kv_dim];
        let mut v = vec![0f32; n * kv_dim];
        let mut attn = vec![0f32; n * q_dim];
        let mut proj = vec![0f32; n * h];
        let mut gate = vec![0f32; n * c.intermediate_size];
        let mut up = vec![0f32; n * c.intermediate_size];
        let mut scores = Vec::with_capacity(start + n);
        let norm_rows = |x: &[f32], w: &[f32], out: &mut [f32]| {
            for (xr, or) in x.chunks_exact(h).zip(out.chunks_exact_mut(h)) {
                rms_norm(xr, w, c.rms_norm_eps, or);
            }
        };
        for (l, b) in self.blocks.iter().enumerate() {
            norm_rows(&x, &b.attn_norm, &mut xn);
            self.matmul(&b.wq, &xn, &mut q)?;
            self.matmul(&b.wk, &xn, &mut k)?;
            self.matmul(&b.wv, &xn, &mut v)?;
            let ad = &b.adapters;
            for (lr, y) in [(&ad.q, &mut q), (&ad.k, &mut k), (&ad.v, &mut v)] {
                if let Some(lr) = lr {
                    self.adapt(lr, &xn, y);
                }
            }
            for i in 0..n {
                rope_adjacent(&mut q[i * q_dim..(i + 1) * q_dim], hd, &angles[i]);
                rope_adjacent(&mut k[i * kv_dim..(i + 1) * kv_dim], hd, &angles[i]);
            }
            // One segment at a time: its keys and values are stored after the cached ones
            // (over the previous segment's), then its tokens attend.
            let mut first = 0;
            for &len in segments {
                let rows = first..first + len;
                first += len;
                cache.store(
                    l,
                    start,
                    &k[rows.start * kv_dim..rows.end * kv_dim],
                    &v[rows.start * kv_dim..rows.end * kv_dim],
                );
                let (layer, capacity) = (cache.layer(l), cache.capacity);
                #[cfg(target_arch = "x86_64")]
                let grouped = group_attention_available(hd);
                #[cfg(not(target_arch = "x86_64"))]
                let grouped = false;
                // Causal attention of the segment's token j over positions 0..=start+j, one row of
                // `attn` per token. Rows are independent and each is computed in the same order as
                // in one-token decoding, so splitting rows across threads changes no bit.
                // Heads `heads` of token i, into `out` (those heads' values, side by side).
                let attend_heads = |i: usize, heads: std::ops::Range<usize>, out: &mut [f32], scores: &mut Vec<f32>| {
                    let at = TokenAttention {
                        q_row: &q[i * q_dim..(i + 1) * q_dim],
                        positions: start + i - rows.start + 1,
                        head_dim: hd,
                        group,
                        capacity,
                        n_kv_heads: c.n_kv_heads,
                        scale,
                        grouped,
                    };
                    match layer {
                        KvLayer::F32(k, v) => at.heads(k, v, heads, out, scores),
                        KvLayer::F16(k, v) => at.heads(k, v, heads, out, scores),
                    }
                };
                let attn_rows = &mut attn[rows.start * q_dim..rows.end * q_dim];
                if self.threads > 1 && len > 1 {
                    use rayon::prelude::*;
                    self.prefill_pool.install(|| {
                        attn_rows.par_chunks_mut(q_dim).enumerate().for_each_init(Vec::new, |scores, (i, row)| {
                            attend_heads(rows.start + i, 0..c.n_heads, row, scores)
                        })
                    });
                } else if self.threads > 1 {
                    // One token: its heads split across the decoding pool (a long cache makes
                    // attention a large share of a step; each head is computed as it would be alone).
                    let per = c.n_heads.div_ceil(self.threads);
                    self.decode_pool.run_chunks(attn_rows, per * hd, &|i, share| {
                        let heads = i * per..((i + 1) * per).min(c.n_heads);
                        attend_heads(rows.start, heads, share, &mut Vec::with_capacity(start + 1));
                    });
                } else {
                    for (i, row) in attn_rows.chunks_mut(q_dim).enumerate() {
                        attend_heads(rows.start + i, 0..c.n_heads, row, &mut scores);
                    }
                }
            }
            self.matmul(&b.wo, &attn, &mut proj)?;
            if let Some(lr) = &b.adapters.o {
                self.adapt(lr, &attn, &mut proj);
            }
            x.iter_mut().zip(&proj).for_each(|(a, p)| *a += p);
            norm_rows(&x, &b.ffn_norm, &mut xn);
            self.matmul(&b.w_gate, &xn, &mut gate)?;
            self.matmul(&b.w_up, &xn, &mut up)?;
            for (lr, y) in [(&b.adapters.gate, &mut gate), (&b.adapters.up, &mut up)] {
                if let Some(lr) = lr {
                    self.adapt(lr, &xn, y);
                }
            }
            gate.iter_mut().zip(&up).for_each(|(g, u)| *g = silu(*g) * u);
            self.matmul(&b.w_down, &gate, &mut proj)?;
            if let Some(lr) = &b.adapters.down {
                self.adapt(lr, &gate, &mut proj);
            }
            x.iter_mut().zip(&proj).for_each(|(a, p)| *a += p);
            if let Some(layers) = layers.as_deref_mut() {
                let wanted = (0..n).filter(|&i| want[i]);
                layers.push(wanted.flat_map(|i| x[i * h..(i + 1) * h].iter().copied()).collect());
            }
        }
        // One segment stays in the cache; several were each fed on their own and none stays.
        if let [len] = segments {
            cache.len += len;
        }
        let rows: Vec<usize> = (0..n).filter(|&i| want[i]).collect();
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let mut normed = vec![0f32; rows.len() * h];
        for (slot, &i) in rows.iter().enumerate() {
            rms_norm(&x[i * h..(i + 1) * h], &self.norm, c.rms_norm_eps, &mut normed[slot * h..(slot + 1) * h]);
        }
        if layers.is_some() {
            return Ok(rows.iter().zip(normed.chunks_exact(h)).map(|(&i, r)| (i, r.to_vec())).collect());
        }
        let mut logits = vec![0f32; rows.len() * c.vocab_size];
        self.matmul(&self.head, &normed, &mut logits)?;
        Ok(rows.iter().zip(logits.chunks_exact(c.vocab_size)).map(|(&i, l)| (i, l.to_vec())).collect())
    }

    /// Adds a run-time adapter's update to `y` for every row of `x`. A prompt's rows are split
    /// across the prefill pool (each row's update is computed alone, so the bits do not
    /// depend on the split); on the calling thread only, the f32 adapter products had been
    /// 9 % of an interview's extraction while the pool's other core waited.
    fn adapt(&self, lr: &lora::ScaledPair, x: &[f32], y: &mut [f32]) {
        let (inp, out) = (lr.pair().a.cols, lr.pair().b.rows);
        let n = x.len().checked_div(inp).unwrap_or(0);
        if self.threads < 2 || n < 2 || out == 0 {
            lr.apply(x, y);
            return;
        }
        use rayon::prelude::*;
        let rows = n.div_ceil(self.threads);
        self.prefill_pool.install(|| {
            x.par_chunks(rows * inp).zip(y.par_chunks_mut(rows * out)).for_each(|(x, y)| lr.apply(x, y));
        });
    }

    /// `Y[t] = W · X[t]` for every row `t` of `x` (`[n, cols]` → `[n, rows]`): quant5's block
    /// dot products (activations quantized once per token, each weight row dotted with every
    /// token while in cache), split across this model's pool when quant5's policy says so.
    fn matmul(&self, w: &QuantizedMatrix, x: &[f32], y: &mut [f32]) -> Result<(), LlamaError> {
        let n = x.len() / w.cols.max(1);
        if w.splits_across_threads(n, self.threads) {
            if n == 1 {
                w.matmul_block_dots_on(x, n, y, &self.decode_pool)?;
            } else {
                self.prefill_pool.install(|| w.matmul_block_dots_into(x, n, y, self.threads))?;
            }
        } else {
            w.matmul_block_dots_into(x, n, y, 1)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouped_attention_gives_each_head_the_one_head_bits() {
        // Heads of 64 and 128 (one and two value tiles), one to three query heads sharing the
        // middle one of three KV heads, 1 to 41 positions (no, one and five whole groups of
        // eight scores, with and without remainders): every head's output has the bits
        // `attend_head` gives it alone (a scale that is not a power of two, so that rounding
        // differs between orders of operations).
        #[cfg(target_arch = "x86_64")]
        for hd in [64usize, 128] {
            if !group_attention_available(hd) {
                return;
            }
            let kv_dim = 3 * hd;
            let val = |i: usize| ((i * 37 % 101) as f32 - 50.0) / 17.0;
            for positions in [1, 7, 8, 9, 17, 41] {
                let keys: Vec<f32> = (0..positions * kv_dim).map(val).collect();
                let values: Vec<f32> = (0..positions * kv_dim).map(|i| val(i + 7)).collect();
                let qs: Vec<Vec<f32>> = (0..3).map(|h| (0..hd).map(|i| val(i + 3 + 11 * h) / 8.0).collect()).collect();
                let kv = KvHead { keys: &keys, values: &values, stride: kv_dim, offset: hd, positions };
                let alone: Vec<Vec<u32>> = qs
                    .iter()
                    .map(|q| {
                        let mut out = vec![f32::NAN; hd];
                        attend_head(q, &kv, 0.1, &mut Vec::new(), &mut out);
                        out.iter().map(|x| x.to_bits()).collect()
                    })
                    .collect();
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                let mut scores = Vec::new();
                let mut outs = vec![vec![f32::NAN; hd]; 3];
                let [a, b, c] = &mut outs[..] else { unreachable!() };
                // SAFETY: checked available; queries and outputs `hd` long, `positions` rows.
                unsafe { attend_group([&qs[0], &qs[1], &qs[2]], &kv, 0.1, &mut scores, [a, b, c]) };
                for (h, out) in outs.iter().enumerate() {
                    assert_eq!(bits(out), alone[h], "hd {hd}, {positions} positions, head {h} of 3");
                }
                let mut outs = vec![vec![f32::NAN; hd]; 2];
                let [a, b] = &mut outs[..] else { unreachable!() };
                unsafe { attend_group([&qs[1], &qs[2]], &kv, 0.1, &mut scores, [a, b]) };
                assert_eq!((bits(&outs[0]), bits(&outs[1])), (alone[1].clone(), alone[2].clone()), "two heads");
                let mut out = vec![f32::NAN; hd];
                unsafe { attend_group([&qs[2]], &kv, 0.1, &mut scores, [&mut out[..]]) };
                assert_eq!(bits(&out), alone[2], "one head");
            }
        }
    }

    #[test]
    fn an_f16_cache_gives_the_bits_of_its_values_widened_to_f32() {
        // Widening f16 is exact, so attention over f16 keys and values is attention over
        // their f32 copies, bit for bit, on every path (one head, and grouped heads).
        for hd in [64usize, 72, 40] {
            let kv_dim = 3 * hd;
            let val = |i: usize| ((i * 37 % 101) as f32 - 50.0) / 17.0;
            for positions in [1, 7, 8, 9, 17, 41] {
                let keys: Vec<half::f16> = (0..positions * kv_dim).map(|i| half::f16::from_f32(val(i))).collect();
                let values: Vec<half::f16> = (0..positions * kv_dim).map(|i| half::f16::from_f32(val(i + 7))).collect();
                let (keys32, values32): (Vec<f32>, Vec<f32>) =
                    (keys.iter().map(|k| k.to_f32()).collect(), values.iter().map(|v| v.to_f32()).collect());
                let qs: Vec<Vec<f32>> = (0..3).map(|h| (0..hd).map(|i| val(i + 3 + 11 * h) / 8.0).collect()).collect();
                let half_kv = KvHead { keys: &keys, values: &values, stride: kv_dim, offset: hd, positions };
                let full_kv = KvHead { keys: &keys32, values: &values32, stride: kv_dim, offset: hd, positions };
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                let (mut a, mut b) = (vec![f32::NAN; hd], vec![f32::NAN; hd]);
                attend_head(&qs[0], &half_kv, 0.1, &mut Vec::new(), &mut a);
                attend_head(&qs[0], &full_kv, 0.1, &mut Vec::new(), &mut b);
                assert_eq!(bits(&a), bits(&b), "hd {hd}, {positions} positions");
                let (mut a, mut b) = (vec![f32::NAN; hd], vec![f32::NAN; hd]);
                attend_head_portable(&qs[1], &half_kv, 0.1, &mut Vec::new(), &mut a);
                attend_head_portable(&qs[1], &full_kv, 0.1, &mut Vec::new(), &mut b);
                assert_eq!(bits(&a), bits(&b), "portable: hd {hd}, {positions} positions");
                #[cfg(target_arch = "x86_64")]
                if group_attention_available(hd) {
                    let mut outs = vec![vec![f32::NAN; hd]; 4];
                    let [a, b, c, d] = &mut outs[..] else { unreachable!() };
                    // SAFETY: checked available; queries and outputs `hd` long, `positions` rows.
                    unsafe {
                        attend_group([&qs[1], &qs[2]], &half_kv, 0.1, &mut Vec::new(), [a, b]);
                        attend_group([&qs[1], &qs[2]], &full_kv, 0.1, &mut Vec::new(), [c, d]);
                    }
                    assert_eq!((bits(&outs[0]), bits(&outs[1])), (bits(&outs[2]), bits(&outs[3])), "grouped");
                }
            }
        }
    }

    #[test]
    fn attention_matches_a_plain_weighted_sum() {
        // Heads of 64 (one whole value tile), 72 (a tile and 8 values) and 40 (no whole tile),
        // two KV heads side by side, 1 to 20 positions (whole groups of eight scores and
        // remainders): the output is Σ_p softmax(q·k_p/8)_p·v_p computed in f64, to f32 rounding.
        for hd in [64usize, 72, 40] {
            let kv_dim = 2 * hd;
            let val = |i: usize| ((i * 37 % 101) as f32 - 50.0) / 17.0;
            for positions in 1..=20 {
                let keys: Vec<f32> = (0..positions * kv_dim).map(val).collect();
                let values: Vec<f32> = (0..positions * kv_dim).map(|i| val(i + 7)).collect();
                let qh: Vec<f32> = (0..hd).map(|i| val(i + 3) / 8.0).collect();
                let kv = KvHead { keys: &keys, values: &values, stride: kv_dim, offset: hd, positions };
                let (mut scores, mut out) = (Vec::new(), vec![f32::NAN; hd]);
                attend_head(&qh, &kv, 0.125, &mut scores, &mut out);
                let s: Vec<f64> = (0..positions)
                    .map(|p| (0..hd).map(|d| qh[d] as f64 * keys[p * kv_dim + hd + d] as f64).sum::<f64>() * 0.125)
                    .collect();
                let max = s.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x));
                let e: Vec<f64> = s.iter().map(|x| (x - max).exp()).collect();
                let sum: f64 = e.iter().sum();
                for (d, &o) in out.iter().enumerate() {
                    let want: f64 = (0..positions).map(|p| e[p] / sum * values[p * kv_dim + hd + d] as f64).sum();
                    assert!(
                        (o as f64 - want).abs() <= 1e-5 * (1.0 + want.abs()),
                        "head {hd}, {positions} positions, value {d}: {o} vs {want}"
                    );
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_exp_is_within_two_ulp_of_libm_on_the_softmax_domain() {
        use std::arch::x86_64::*;
        if !(std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")) {
            return;
        }
        // 0 down to −100 in steps of ~1e-4, plus the edges: results below the smallest normal
        // float (and −∞) are 0.
        let mut xs: Vec<f32> = (0..1_000_000).map(|i| -(i as f32) * 1e-4).collect();
        xs.extend([-0.0, -87.336, -87.34, -1e-30, f32::NEG_INFINITY, -1e30, -0.5, -0.346_573_6]);
        xs.resize(xs.len().next_multiple_of(8), 0.0);
        for v in xs.chunks_exact(8) {
            let mut got = [0f32; 8];
            // SAFETY: AVX2 and FMA were detected above; `v` and `got` hold 8 f32.
            unsafe { _mm256_storeu_ps(got.as_mut_ptr(), exp_avx2(_mm256_loadu_ps(v.as_ptr()))) };
            for (&x, &g) in v.iter().zip(&got) {
                let want = x.exp();
                if want < f32::MIN_POSITIVE {
                    assert!(g == 0.0 || (g - want).abs() <= f32::MIN_POSITIVE, "exp({x}) = {g}, libm {want}");
                } else {
                    let ulps = (g.to_bits() as i64 - want.to_bits() as i64).abs();
                    assert!(ulps <= 2, "exp({x}) = {g}, libm {want}: {ulps} ulp");
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn a_score_does_not_depend_on_its_group_of_eight() {
        // Decoding and prefill see different numbers of cached positions, so a position sits
        // in a whole group of eight in one and in the remainder in the other: its score must be
        // the same bits either way (what keeps prefill equal to token-by-token decoding).
        if !avx2_attention_available() {
            return;
        }
        let hd = 64;
        let val = |i: usize| ((i * 53 % 97) as f32 - 48.0) / 13.0;
        let keys: Vec<f32> = (0..24 * hd).map(val).collect();
        let qh: Vec<f32> = (0..hd).map(|i| val(i + 5) / 3.0).collect();
        let scores_of = |positions: usize| {
            let kv = KvHead { keys: &keys, values: &keys, stride: hd, offset: 0, positions };
            let mut scores = Vec::new();
            // SAFETY: AVX2 and FMA were detected above.
            unsafe { scores_avx2(&qh, &kv, 0.125, &mut scores) };
            scores
        };
        let all = scores_of(24);
        for positions in 1..24 {
            let some = scores_of(positions);
            for p in 0..positions {
                assert_eq!(some[p].to_bits(), all[p].to_bits(), "position {p} of {positions}");
            }
        }
    }
}
