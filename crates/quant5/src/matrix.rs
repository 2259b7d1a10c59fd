//! Weights kept in their quantized blocks, with dequantization and products computed on the
//! blocks directly.

use crate::QuantError;
use crate::SpinPool;
use crate::block_bytes::BlockBytes;
use crate::formats::{BlockFormat, FormatFn, TILE_ROWS, TILE_TOKENS, cast_blocks, cast_blocks_mut, for_type};
use crate::ggml_type::GgmlType;

/// Dequantizes one row of `n` elements of type `t` from `bytes` into `out`.
pub fn dequantize_row(t: GgmlType, bytes: &[u8], out: &mut [f32]) -> Result<(), QuantError> {
    struct Decode<'a> {
        bytes: &'a [u8],
        out: &'a mut [f32],
    }
    impl FormatFn for Decode<'_> {
        type Output = Result<(), QuantError>;
        fn call<B: BlockFormat>(self) -> Self::Output {
            for (b, o) in cast_blocks::<B>(self.bytes)?.iter().zip(self.out.chunks_exact_mut(B::VALUES)) {
                b.decode(o);
            }
            Ok(())
        }
    }
    let need = t.row_bytes(out.len())?;
    if bytes.len() != need {
        return Err(QuantError::Truncated { expected: need, got: bytes.len() });
    }
    for_type(t, Decode { bytes, out })?
}

/// Quantizes one row into blocks of `t`, byte-exact with ggml's reference encoders (every
/// stored type this crate reads).
pub fn quantize_row(t: GgmlType, x: &[f32], out: &mut Vec<u8>) -> Result<(), QuantError> {
    struct Encode<'a> {
        x: &'a [f32],
        dst: &'a mut [u8],
    }
    impl FormatFn for Encode<'_> {
        type Output = Result<(), QuantError>;
        fn call<B: BlockFormat>(self) -> Self::Output {
            for (xb, ob) in self.x.chunks_exact(B::VALUES).zip(cast_blocks_mut::<B>(self.dst)?) {
                B::encode(xb, ob);
            }
            Ok(())
        }
    }
    let need = t.row_bytes(x.len())?;
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(QuantError::NonFinite { index: i });
    }
    let start = out.len();
    out.resize(start + need, 0);
    let result = for_type(t, Encode { x, dst: &mut out[start..] }).and_then(|r| r);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Smallest product (weights × rows of `X`) split across threads: below it, waking a second
/// thread costs more than it saves.
pub(crate) const PARALLEL_MIN_WORK: usize = 1 << 18;

/// From this many rows of `X` on, [`QuantizedMatrix::matmul_into`] widens weight panels to f32
/// and runs a dense matrix product instead of one integer matrix-vector product per row.
pub const GEMM_MIN_TOKENS: usize = 16;

/// The shared rayon pool with `threads` workers (built once per thread count).
fn thread_pool(threads: usize) -> Result<std::sync::Arc<rayon::ThreadPool>, QuantError> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let pools = POOLS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut pools = pools.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(p) = pools.get(&threads) {
        return Ok(p.clone());
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("quant5-matvec-{i}"))
        .build()
        .map_err(|e| QuantError::Threads(e.to_string()))?;
    let pool = Arc::new(pool);
    pools.insert(threads, pool.clone());
    Ok(pool)
}

/// Runs `f` where its rayon splits get `threads` workers: in the caller's pool when the caller
/// is a worker of one that large (asr and llama-extract install their own), else in the shared
/// pool. Handing work from one pool to another would park this thread and wake the other
/// pool's, twice per product.
pub(crate) fn on_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> Result<R, QuantError> {
    if rayon::current_thread_index().is_some() && rayon::current_num_threads() >= threads {
        Ok(f())
    } else {
        Ok(thread_pool(threads)?.install(f))
    }
}

/// A row-major weight matrix `[rows, cols]` kept in ggml blocks (GGUF tensor-data layout).
#[derive(Debug, Clone)]
pub struct QuantizedMatrix {
    /// The block format of every row.
    pub ggml_type: GgmlType,
    /// Number of rows (output features).
    pub rows: usize,
    /// Values per row (input features).
    pub cols: usize,
    /// The blocks, owned or borrowed from a mapped file ([`BlockBytes`]).
    pub bytes: BlockBytes,
    /// Rows of any quantized format repacked for the AVX-512 VNNI kernels ([`Self::pack_row_panels`]).
    #[cfg(target_arch = "x86_64")]
    panels: Option<std::sync::Arc<crate::panels::RowPanels>>,
}

/// Equal shape, type and bytes (whether rows are also packed in panels does not matter: the
/// products are the same bits).
impl PartialEq for QuantizedMatrix {
    fn eq(&self, other: &Self) -> bool {
        (self.ggml_type, self.rows, self.cols) == (other.ggml_type, other.rows, other.cols) && self.bytes == other.bytes
    }
}

impl QuantizedMatrix {
    /// Wraps existing block data (a `Vec<u8>` or [`BlockBytes`] borrowed from a mapped file),
    /// checking its size.
    pub fn from_bytes(
        ggml_type: GgmlType,
        rows: usize,
        cols: usize,
        bytes: impl Into<BlockBytes>,
    ) -> Result<Self, QuantError> {
        let bytes = bytes.into();
        let need = ggml_type
            .row_bytes(cols)?
            .checked_mul(rows)
            .ok_or_else(|| QuantError::Shape(format!("{rows}×{cols} overflows")))?;
        if bytes.len() != need {
            return Err(QuantError::Truncated { expected: need, got: bytes.len() });
        }
        Ok(Self::new_unchecked(ggml_type, rows, cols, bytes))
    }

    fn new_unchecked(ggml_type: GgmlType, rows: usize, cols: usize, bytes: BlockBytes) -> Self {
        Self {
            ggml_type,
            rows,
            cols,
            bytes,
            #[cfg(target_arch = "x86_64")]
            panels: None,
        }
    }

    /// Repacks a quantized matrix's rows, sixteen at a time, into the interleaved
    /// panels of the AVX-512 VNNI kernels (llama.cpp's and candle's "repack"): one instruction
    /// then multiplies four codes of sixteen rows, and products with any number of rows of `X`
    /// read the panels instead of [`bytes`](Self::bytes) — the same bits as before (each
    /// format's order of additions is kept), two to three times faster on a matrix-vector
    /// product. The panels are a copy (about as many bytes as the rows they hold: Q4_K's
    /// and Q5_K's scales unpacked add 2.8 % and 2.3 %, Q3_K's 5.5 %, IQ4_XS's 2.9 %, Q6_K's line padding 1 %); `bytes` stays valid (the last
    /// `rows % 16` rows and row look-ups still read it). Returns whether panels were made: only
    /// for quantized formats with at least 16 rows on a CPU with AVX-512 VNNI.
    pub fn pack_row_panels(&mut self) -> bool {
        self.pack_row_panels_with(&mut |_| {})
    }

    /// [`pack_row_panels`](Self::pack_row_panels), calling `packed` with each range of
    /// [`bytes`](Self::bytes) already copied into panels (a mebibyte or more at a time, in
    /// order): a caller whose bytes are a mapped file can let those pages go as it goes, so a
    /// large matrix is never resident twice.
    pub fn pack_row_panels_with(&mut self, packed: &mut dyn FnMut(std::ops::Range<usize>)) -> bool {
        #[cfg(target_arch = "x86_64")]
        if self.panels.is_none() {
            use crate::panels::{Panels, RowPanels};
            let (bytes, rows) = (&self.bytes, self.rows);
            self.panels = match self.ggml_type {
                GgmlType::Q8_0 => Panels::new(bytes, rows, self.cols / crate::blocks::QK, packed).map(RowPanels::Q8_0),
                GgmlType::Q5_0 => Panels::new(bytes, rows, self.cols / crate::blocks::QK, packed).map(RowPanels::Q5_0),
                GgmlType::Q4_K => Panels::new(bytes, rows, self.cols / crate::blocks::QK_K, packed).map(RowPanels::Q4K),
                GgmlType::Q5_K => Panels::new(bytes, rows, self.cols / crate::blocks::QK_K, packed).map(RowPanels::Q5K),
                GgmlType::Q6_K => Panels::new(bytes, rows, self.cols / crate::blocks::QK_K, packed).map(RowPanels::Q6K),
                GgmlType::Q2_K => Panels::new(bytes, rows, self.cols / crate::blocks::QK_K, packed).map(RowPanels::Q2K),
                GgmlType::Q3_K => Panels::new(bytes, rows, self.cols / crate::blocks::QK_K, packed).map(RowPanels::Q3K),
                GgmlType::IQ4_NL => {
                    Panels::new(bytes, rows, self.cols / crate::blocks::QK, packed).map(RowPanels::IQ4NL)
                }
                GgmlType::Q4_1 => Panels::new(bytes, rows, self.cols / crate::blocks::QK, packed).map(RowPanels::Q4_1),
                GgmlType::Q4_0 => Panels::new(bytes, rows, self.cols / crate::blocks::QK, packed).map(RowPanels::Q4_0),
                GgmlType::Q5_1 => Panels::new(bytes, rows, self.cols / crate::blocks::QK, packed).map(RowPanels::Q5_1),
                GgmlType::IQ4_XS => {
                    Panels::new(bytes, rows, self.cols / crate::blocks::QK_K, packed).map(RowPanels::IQ4XS)
                }
                _ => None,
            }
            .map(std::sync::Arc::new);
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = packed;
        self.has_row_panels()
    }

    /// Whether [`pack_row_panels`](Self::pack_row_panels) made panels.
    pub fn has_row_panels(&self) -> bool {
        #[cfg(target_arch = "x86_64")]
        return self.panels.is_some();
        #[cfg(not(target_arch = "x86_64"))]
        false
    }

    /// Quantizes a row-major f32 matrix.
    pub fn quantize(ggml_type: GgmlType, rows: usize, cols: usize, data: &[f32]) -> Result<Self, QuantError> {
        if data.len() != rows * cols {
            return Err(QuantError::Shape(format!("{} values for a {rows}×{cols} matrix", data.len())));
        }
        let mut bytes = Vec::with_capacity(rows * ggml_type.row_bytes(cols)?);
        for r in 0..rows {
            quantize_row(ggml_type, &data[r * cols..(r + 1) * cols], &mut bytes)?;
        }
        Ok(Self::new_unchecked(ggml_type, rows, cols, bytes.into()))
    }

    /// Bytes per row.
    pub fn row_bytes(&self) -> usize {
        self.bytes.len() / self.rows.max(1)
    }

    /// The bytes of row `r`.
    pub fn row(&self, r: usize) -> &[u8] {
        let rb = self.row_bytes();
        &self.bytes[r * rb..(r + 1) * rb]
    }

    /// The whole matrix as f32, row-major.
    pub fn dequantize(&self) -> Result<Vec<f32>, QuantError> {
        let mut out = vec![0f32; self.rows * self.cols];
        for r in 0..self.rows {
            dequantize_row(self.ggml_type, self.row(r), &mut out[r * self.cols..(r + 1) * self.cols])?;
        }
        Ok(out)
    }

    /// `y = W·x` on the quantized blocks: `x` is quantized once to the matching 8-bit
    /// activation format (as ggml does), then each row is an integer block dot product.
    /// Rows are split across up to `threads` threads.
    pub fn matvec(&self, x: &[f32], threads: usize) -> Result<Vec<f32>, QuantError> {
        let mut y = vec![0f32; self.rows];
        self.matvec_into(x, &mut y, threads)?;
        Ok(y)
    }

    /// [`matvec`](Self::matvec) into a caller-provided output of length `rows`.
    pub fn matvec_into(&self, x: &[f32], y: &mut [f32], threads: usize) -> Result<(), QuantError> {
        if x.len() != self.cols || y.len() != self.rows {
            return Err(QuantError::Shape(format!(
                "matvec of a {}×{} matrix with x of {} and y of {}",
                self.rows,
                self.cols,
                x.len(),
                y.len()
            )));
        }
        self.matmul_block_dots_into(x, 1, y, threads)
    }

    /// Whether a block-dot product with `n` rows of `X` splits its work across `threads`
    /// threads — the weight rows for one row of `X`, the rows of `X` (in whole tiles of
    /// [`TILE_TOKENS`](crate::formats::TILE_TOKENS)) for several — (the one threading policy of
    /// quant5's products; a caller that owns a pool asks this to decide whether to enter it).
    pub fn splits_across_threads(&self, n: usize, threads: usize) -> bool {
        // Several rows of X go out in whole tiles of tokens: up to one tile there is one share.
        let shares = if n == 1 { self.rows } else { n.div_ceil(TILE_TOKENS) };
        threads > 1 && shares > 1 && self.rows * self.cols * n >= PARALLEL_MIN_WORK
    }

    /// `Y = X·Wᵀ` (`X` `[n, cols]`, `Y` `[n, rows]`) on the integer block kernels for every row
    /// of `X`: each row is quantized once to the matching 8-bit activation format (as ggml
    /// does). One row of `X` (decoding) splits the weight rows into one share per thread;
    /// several split the rows of `X`, each thread quantizing its own and dotting them with
    /// every weight row (in 4 × 4 tiles where the CPU and format have them) while a band of
    /// weight rows is in cache. Up to four rows of `X` are not split; fewer than four per
    /// thread leave a thread idle.
    /// Every output is the same dot product [`matvec`](Self::matvec) computes: results do not
    /// depend on how rows of `X` are batched nor on the thread count.
    pub fn matmul_block_dots_into(&self, x: &[f32], n: usize, y: &mut [f32], threads: usize) -> Result<(), QuantError> {
        self.block_dots(x, n, y, Workers::Rayon(threads))
    }

    /// [`matmul_block_dots_into`](Self::matmul_block_dots_into) with the weight rows split
    /// across a [`SpinPool`] (when the product is large enough to split): for callers that run
    /// many small products back to back, such as decoding, where waking rayon's workers for
    /// each one costs more than the product's second half. Same results, bit for bit.
    pub fn matmul_block_dots_on(&self, x: &[f32], n: usize, y: &mut [f32], pool: &SpinPool) -> Result<(), QuantError> {
        self.block_dots(x, n, y, Workers::Spin(pool))
    }

    fn block_dots(&self, x: &[f32], n: usize, y: &mut [f32], workers: Workers<'_>) -> Result<(), QuantError> {
        let (rows, cols) = (self.rows, self.cols);
        if x.len() != n * cols || y.len() != n * rows {
            return Err(QuantError::Shape(format!(
                "product of a {rows}×{cols} matrix with X of {} values and Y of {} for {n} rows",
                x.len(),
                y.len()
            )));
        }
        if n == 0 || rows == 0 {
            return Ok(());
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(QuantError::NonFinite { index: i });
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(panels) = &self.panels {
            use crate::panels::RowPanels;
            return match &**panels {
                RowPanels::Q8_0(p) => self.panel_dots(p, x, n, y, workers),
                RowPanels::Q5_0(p) => self.panel_dots(p, x, n, y, workers),
                RowPanels::Q4K(p) => self.panel_dots(p, x, n, y, workers),
                RowPanels::Q5K(p) => self.panel_dots(p, x, n, y, workers),
                RowPanels::Q6K(p) => self.panel_dots(p, x, n, y, workers),
                RowPanels::Q2K(p) => self.panel_dots(p, x, n, y, workers),
                RowPanels::Q3K(p) => self.panel_dots(p, x, n, y, workers),
                RowPanels::IQ4NL(p) => self.panel_dots(p, x, n, y, workers),
                RowPanels::IQ4XS(p) => self.panel_dots(p, x, n, y, workers),
                RowPanels::Q4_1(p) => self.panel_dots(p, x, n, y, workers),
                RowPanels::Q4_0(p) => self.panel_dots(p, x, n, y, workers),
                RowPanels::Q5_1(p) => self.panel_dots(p, x, n, y, workers),
            };
        }
        for_type(self.ggml_type, BlockDots { m: self, x, n, y, workers })?
    }

    /// [`block_dots`](Self::block_dots) on row panels: the whole panels by the panel kernel,
    /// the last `rows % 16` rows by the row kernel. One row of `X` splits the panels across
    /// threads; several split the rows of `X`, each thread running every panel over its rows
    /// while the panel is in cache.
    #[cfg(target_arch = "x86_64")]
    fn panel_dots<P: crate::panels::PanelLayout>(
        &self,
        panels: &crate::panels::Panels<P>,
        x: &[f32],
        n: usize,
        y: &mut [f32],
        workers: Workers<'_>,
    ) -> Result<(), QuantError> {
        use crate::panels::PANEL_ROWS;
        let (rows, cols) = (self.rows, self.cols);
        let blocks = cast_blocks::<P::Block>(&self.bytes)?;
        let per_row = blocks.len() / rows.max(1);
        let dot = P::Block::dot_fn();
        let packed = panels.panels() * PANEL_ROWS;
        // Rows `r0 .. r0 + out.len()` of one product (`r0` a multiple of 16).
        let rows_of = |r0: usize, a: &P::Prepared, out: &mut [f32]| {
            let end = (r0 + out.len()).min(packed).max(r0);
            panels.dot_panels(r0 / PANEL_ROWS..end / PANEL_ROWS, a, &mut out[..end - r0]);
            for (i, o) in out[end - r0..].iter_mut().enumerate() {
                let r = end + i;
                *o = dot(&blocks[r * per_row..(r + 1) * per_row], P::acts(a));
            }
        };
        let threads = workers.threads();
        let split = self.splits_across_threads(n, threads);
        if n == 1 {
            let a = P::prepare(x);
            let per = rows.div_ceil(threads.min(rows)).next_multiple_of(PANEL_ROWS);
            return split_rows(y, per, threads, split, workers, &|r0, out| rows_of(r0, &a, out));
        }
        let token_share = |xs: &[f32], ys: &mut [f32]| {
            let acts: Vec<P::Prepared> = xs.chunks_exact(cols.max(1)).map(P::prepare).collect();
            for p in 0..panels.panels() {
                panels.dot_panel_tokens(p, &acts, ys, rows);
            }
            for (t, a) in acts.iter().enumerate() {
                for r in packed..rows {
                    ys[t * rows + r] = dot(&blocks[r * per_row..(r + 1) * per_row], P::acts(a));
                }
            }
        };
        split_tokens(x, y, (n, rows, cols), threads, split, workers, &token_share)
    }

    /// `Y = X·Wᵀ` for `X` of shape `[n, cols]` (row-major): `[n, rows]`.
    pub fn matmul(&self, x: &[f32], n: usize, threads: usize) -> Result<Vec<f32>, QuantError> {
        let mut out = vec![0f32; n * self.rows];
        self.matmul_into(x, n, &mut out, threads)?;
        Ok(out)
    }

    /// [`matmul`](Self::matmul) into a caller-provided `[n, rows]` output.
    ///
    /// Fewer than [`GEMM_MIN_TOKENS`] rows of `X` (decoding steps):
    /// [`matmul_block_dots_into`](Self::matmul_block_dots_into), the integer block kernels.
    /// More (a prompt, an encoder window): the weight rows are widened to f32 one cache-sized panel at a time and multiplied by the `gemm` crate's f32 kernels, so each
    /// weight is decoded once per call and reused for every row of `X` — the weights stay
    /// 8- or 5-bit in memory while a long product runs at f32 matrix-multiply speed (what
    /// llama.cpp's GPU back ends do for batches: dequantize, then the dense kernel).
    /// Rows of `X` are split across up to `threads` threads.
    pub fn matmul_into(&self, x: &[f32], n: usize, y: &mut [f32], threads: usize) -> Result<(), QuantError> {
        if x.len() != n * self.cols || y.len() != n * self.rows {
            return Err(QuantError::Shape(format!(
                "matmul of a {}×{} matrix with X of {} values and Y of {} for {n} rows",
                self.rows,
                self.cols,
                x.len(),
                y.len()
            )));
        }
        if n == 0 || self.rows == 0 {
            return Ok(());
        }
        if n < GEMM_MIN_TOKENS || self.cols == 0 {
            return self.matmul_block_dots_into(x, n, y, threads);
        }
        // Each thread takes a contiguous block of X's rows (so of Y's) and widens every weight
        // panel itself: decoding a panel costs one operation per weight against the block's
        // `n / threads` multiply-adds per weight.
        let threads = threads.max(1).min(n.div_ceil(GEMM_MIN_TOKENS));
        let per = n.div_ceil(threads);
        let (cols, rows) = (self.cols, self.rows);
        let block = |(xb, yb): (&[f32], &mut [f32])| self.gemm_block(xb, xb.len() / cols, yb);
        if threads == 1 {
            return block((x, y));
        }
        let run = || {
            use rayon::prelude::*;
            x.par_chunks(per * cols).zip(y.par_chunks_mut(per * rows)).map(block).collect::<Result<(), _>>()
        };
        on_threads(threads, run)?
    }

    /// `Y[m, rows] = X[m, cols]·Wᵀ` on one thread, panel by panel of widened weight rows.
    fn gemm_block(&self, x: &[f32], m: usize, y: &mut [f32]) -> Result<(), QuantError> {
        let (rows, cols) = (self.rows, self.cols);
        // Up to 4 MiB of f32 per panel: gemm blocks for the caches itself and re-packs X for
        // every call, so few wide panels beat many narrow ones (a Whisper or SmolLM2 layer is
        // one panel; an 8B model's 14336-row matrices are a few).
        let panel_rows = ((1usize << 20) / cols.max(1)).clamp(16, rows.max(16));
        if x.len() < m * cols || y.len() < m * rows {
            return Err(QuantError::Shape(format!("gemm block of {m} rows: X {} / Y {} values", x.len(), y.len())));
        }
        let mut panel = vec![0f32; panel_rows * cols];
        let mut r0 = 0;
        while r0 < rows {
            let pr = panel_rows.min(rows - r0);
            for (i, out) in panel[..pr * cols].chunks_exact_mut(cols).enumerate() {
                dequantize_row(self.ggml_type, self.row(r0 + i), out)?;
            }
            // SAFETY: the check before the loop bounds every index: X is m×cols with row stride cols, the panel
            // pr×cols, and Y's columns r0..r0+pr of m rows with row stride `rows`.
            unsafe {
                gemm::gemm(
                    m,
                    pr,
                    cols,
                    y.as_mut_ptr().add(r0),
                    1,
                    rows as isize,
                    false,
                    x.as_ptr(),
                    1,
                    cols as isize,
                    panel.as_ptr(),
                    cols as isize,
                    1,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                );
            }
            r0 += pr;
        }
        Ok(())
    }
}

/// [`QuantizedMatrix::matmul_block_dots_into`] for the matrix's block type `B`: activations
/// quantized to `B::Act`, so a row can only meet the activation format it pairs with.
struct BlockDots<'a> {
    m: &'a QuantizedMatrix,
    x: &'a [f32],
    n: usize,
    y: &'a mut [f32],
    workers: Workers<'a>,
}

/// Who computes the shares of a block product.
#[derive(Clone, Copy)]
enum Workers<'a> {
    /// Up to this many rayon workers ([`on_threads`]).
    Rayon(usize),
    /// The pool's threads.
    Spin(&'a SpinPool),
}

impl Workers<'_> {
    /// How many threads a product may use (at least one).
    fn threads(self) -> usize {
        match self {
            Workers::Rayon(threads) => threads,
            Workers::Spin(pool) => pool.threads(),
        }
        .max(1)
    }
}

impl FormatFn for BlockDots<'_> {
    type Output = Result<(), QuantError>;

    fn call<B: BlockFormat>(self) -> Self::Output {
        let BlockDots { m, x, n, y, workers } = self;
        let (rows, cols) = (m.rows, m.cols);
        let blocks = cast_blocks::<B>(&m.bytes)?;
        let per_row = blocks.len() / rows.max(1);
        let row_at = |r: usize| &blocks[r * per_row..(r + 1) * per_row];
        let dot = B::dot_fn();
        let threads = workers.threads();
        let split = m.splits_across_threads(n, threads);
        if n == 1 {
            // One row of X (decoding): the weight rows are split across threads, two at a time
            // where the format has a kernel for it (each activation block loaded once;
            // bit-identical to two single dots).
            let act = B::quantize_activations(x);
            let rows_pair = B::dot_rows_fn();
            // Weight rows `r0..` into `out[r − r0]`.
            let share = |r0: usize, out: &mut [f32]| {
                let mut done = 0;
                if let Some(rows_pair) = rows_pair {
                    for (i, o) in out.chunks_exact_mut(2).enumerate() {
                        let r = r0 + 2 * i;
                        [o[0], o[1]] = rows_pair(row_at(r), row_at(r + 1), &act);
                        done += 2;
                    }
                }
                for (i, o) in out[done..].iter_mut().enumerate() {
                    *o = dot(row_at(r0 + done + i), &act);
                }
            };
            let threads = threads.min(rows);
            return split_rows(y, rows.div_ceil(threads), threads, split, workers, &share);
        }
        // Several rows of X (a prompt chunk): the tokens are split across threads. Each thread
        // quantizes its own tokens and fills its rows of Y (contiguous: no transposing) for every
        // weight row: 4 weight rows × 4 tokens per tile where the CPU and format have one, the
        // rest two tokens at a time where there is a kernel for it, else one — every output the
        // same bits as a single dot, however the work is cut.
        let pair = B::dot_pair_fn();
        let tile = B::dot_tile_fn();
        let token_share = |xs: &[f32], ys: &mut [f32]| {
            let acts: Vec<Vec<B::Act>> = xs.chunks_exact(cols.max(1)).map(B::quantize_activations).collect();
            let nt = acts.len();
            let (tiled_rows, tiled_tokens) = match tile {
                Some(tile) if nt >= TILE_TOKENS && rows >= TILE_ROWS => {
                    let tiled_rows = rows / TILE_ROWS * TILE_ROWS;
                    tile(&blocks[..tiled_rows * per_row], per_row, &acts, ys, rows);
                    (tiled_rows, nt / TILE_TOKENS * TILE_TOKENS)
                }
                _ => (0, 0),
            };
            // Weight rows `rs` × tokens `ts`, 16 rows at a time (each token's 16 outputs are
            // one cache line of Y) and each row with every token while the band is in cache.
            let mut fill = |rs: std::ops::Range<usize>, ts: std::ops::Range<usize>| {
                for band in rs.clone().step_by(16) {
                    let band = band..(band + 16).min(rs.end);
                    let mut t = ts.start;
                    if let Some(pair) = pair {
                        while t + 2 <= ts.end {
                            for r in band.clone() {
                                [ys[t * rows + r], ys[(t + 1) * rows + r]] = pair(row_at(r), &acts[t], &acts[t + 1]);
                            }
                            t += 2;
                        }
                    }
                    for t in t..ts.end {
                        for r in band.clone() {
                            ys[t * rows + r] = dot(row_at(r), &acts[t]);
                        }
                    }
                }
            };
            fill(0..tiled_rows, tiled_tokens..nt);
            fill(tiled_rows..rows, 0..nt);
        };
        split_tokens(x, y, (n, rows, cols), threads, split, workers, &token_share)
    }
}

/// Runs `share(r0, out)` over the outputs of one row of `X`: weight rows `r0 .. r0 + out.len()`
/// in chunks of `per` per thread when the product splits, else all of them on this thread.
fn split_rows(
    y: &mut [f32],
    per: usize,
    threads: usize,
    split: bool,
    workers: Workers<'_>,
    share: &(dyn Fn(usize, &mut [f32]) + Sync),
) -> Result<(), QuantError> {
    match workers {
        _ if !split => share(0, y),
        Workers::Rayon(_) => {
            let run = || {
                use rayon::prelude::*;
                y.par_chunks_mut(per).enumerate().for_each(|(i, chunk)| share(i * per, chunk));
            };
            on_threads(threads, run)?;
        }
        Workers::Spin(pool) => pool.run_chunks(y, per, &|i, chunk| share(i * per, chunk)),
    }
    Ok(())
}

/// Runs `token_share(xs, ys)` over the rows of `X` (`[n, cols]`, outputs `[n, rows]`): whole
/// tiles of tokens per thread when the product splits, else all of them on this thread.
fn split_tokens(
    x: &[f32],
    y: &mut [f32],
    (n, rows, cols): (usize, usize, usize),
    threads: usize,
    split: bool,
    workers: Workers<'_>,
    token_share: &(dyn Fn(&[f32], &mut [f32]) + Sync),
) -> Result<(), QuantError> {
    let per = n.div_ceil(threads).next_multiple_of(TILE_TOKENS);
    match workers {
        _ if !split => token_share(x, y),
        Workers::Rayon(_) => {
            let run = || {
                use rayon::prelude::*;
                x.par_chunks(per * cols).zip(y.par_chunks_mut(per * rows)).for_each(|(xs, ys)| token_share(xs, ys));
            };
            on_threads(threads, run)?;
        }
        Workers::Spin(pool) => pool.run_chunks(y, per * rows, &|i, ys| {
            let t0 = i * per;
            token_share(&x[t0 * cols..(t0 + ys.len() / rows) * cols], ys)
        }),
    }
    Ok(())
}
