//! 8-bit integer weights with one scale per row — CTranslate2's `int8` scheme — laid out for
//! the CPU's integer dot-product instructions.
//!
//! ggml's Q8_0 keeps a float16 scale for every 32 weights, so a product must turn every block's
//! integer sum into a float before adding it up. With one scale per row the whole row is one
//! integer dot product, which is what AVX-512 VNNI's `vpdpbusd` (64 multiply-adds of u8 × i8
//! per instruction) is built for. Weights are stored in panels of 16 rows interleaved by groups
//! of 4 columns: the 64 bytes of one group are one vector whose 16 lanes are 16 rows, so an
//! activation's 4 bytes broadcast once feed 16 outputs with no horizontal sums.
//!
//! Activations are quantized per row of `X` (symmetric, scale `max|x| / 127`). Every kernel
//! computes the same exact integer sums, so results are bit-identical on every CPU and at
//! every thread count; only the speed differs (AVX-512 VNNI, AVX2, portable).

use crate::QuantError;
use crate::matrix::{PARALLEL_MIN_WORK, on_threads};

/// Rows per panel: the 16 i32 lanes of a 512-bit vector.
const PANEL_ROWS: usize = 16;
/// Columns per group: the 4 bytes one `vpdpbusd` lane sums.
const GROUP: usize = 4;
/// Bytes of one group of one panel.
const GROUP_BYTES: usize = PANEL_ROWS * GROUP;

/// A row-major weight matrix `[rows, cols]` in 8-bit integers with one f32 scale per row.
///
/// ```
/// use quant5::Int8Matrix;
/// let w: Vec<f32> = (0..40 * 24).map(|i| ((i * 7 % 13) as f32 - 6.0) / 6.0).collect();
/// let m = Int8Matrix::quantize(40, 24, &w)?;
/// let x: Vec<f32> = (0..2 * 24).map(|i| (i as f32 * 0.3).sin()).collect();
/// let y = m.matmul(&x, 2, 1)?; // [2, 40]
/// let exact: f32 = (0..24).map(|k| w[5 * 24 + k] * x[24 + k]).sum();
/// assert!((y[40 + 5] - exact).abs() < 0.05);
/// # Ok::<(), quant5::QuantError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Int8Matrix {
    rows: usize,
    cols: usize,
    /// `cols` in groups of 4 (the last one zero-padded).
    groups: usize,
    /// `rows.div_ceil(16)` panels of `groups` × 64 bytes; padding rows and columns are 0.
    panels: Vec<i8>,
    /// Per row: `max|w| / 127`.
    scales: Vec<f32>,
    /// Per row: `128 · Σ w`, what the VNNI kernel's unsigned activations add to each sum.
    offsets: Vec<i32>,
}

impl Int8Matrix {
    /// Longest row: a sum of `255 · 127` products per column must fit an i32.
    pub const MAX_COLS: usize = 65_536;

    /// Quantizes a row-major f32 matrix, each row to `round(w / s)` with `s = max|w| / 127`.
    pub fn quantize(rows: usize, cols: usize, data: &[f32]) -> Result<Self, QuantError> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(QuantError::Shape(format!("{} values for a {rows}×{cols} matrix", data.len())));
        }
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(QuantError::NonFinite { index: i });
        }
        if cols > Self::MAX_COLS {
            return Err(QuantError::Shape(format!("{cols} columns: the i32 sums hold at most {}", Self::MAX_COLS)));
        }
        let groups = cols.div_ceil(GROUP);
        let panel_bytes = groups * GROUP_BYTES;
        let mut panels = vec![0i8; rows.div_ceil(PANEL_ROWS) * panel_bytes];
        let mut scales = Vec::with_capacity(rows);
        let mut offsets = Vec::with_capacity(rows);
        for (r, row) in data.chunks_exact(cols.max(1)).take(rows).enumerate() {
            let amax = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            let scale = amax / 127.0;
            let inv = if amax > 0.0 { 127.0 / amax } else { 0.0 };
            let base = (r / PANEL_ROWS) * panel_bytes + (r % PANEL_ROWS) * GROUP;
            let mut sum = 0i32;
            for (k, &v) in row.iter().enumerate() {
                let q = to_i8(v * inv);
                panels[base + (k / GROUP) * GROUP_BYTES + k % GROUP] = q;
                sum += i32::from(q);
            }
            scales.push(scale);
            offsets.push(128 * sum);
        }
        // Rows of no columns (`chunks_exact` yields nothing for them) multiply to zero.
        scales.resize(rows, 0.0);
        offsets.resize(rows, 0);
        Ok(Self { rows, cols, groups, panels, scales, offsets })
    }

    /// Number of rows (output features).
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Values per row (input features).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Bytes held: the integer weights with their padding, one scale and one offset per row.
    pub fn bytes(&self) -> usize {
        self.panels.len() + self.rows * 8
    }

    /// Row `r` dequantized into `out` (an embedding lookup).
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) -> Result<(), QuantError> {
        if r >= self.rows || out.len() != self.cols {
            return Err(QuantError::Shape(format!(
                "row {r} of a {}×{} matrix into {} values",
                self.rows,
                self.cols,
                out.len()
            )));
        }
        let base = (r / PANEL_ROWS) * self.groups * GROUP_BYTES + (r % PANEL_ROWS) * GROUP;
        for (k, o) in out.iter_mut().enumerate() {
            *o = f32::from(self.panels[base + (k / GROUP) * GROUP_BYTES + k % GROUP]) * self.scales[r];
        }
        Ok(())
    }

    /// `Y = X·Wᵀ` for `X` `[n, cols]` (row-major): `[n, rows]`.
    pub fn matmul(&self, x: &[f32], n: usize, threads: usize) -> Result<Vec<f32>, QuantError> {
        let mut y = vec![0f32; n * self.rows];
        self.matmul_into(x, n, &mut y, threads)?;
        Ok(y)
    }

    /// [`matmul`](Self::matmul) into a caller-provided `[n, rows]` output.
    ///
    /// Each row of `X` is quantized once; one thread's share is either a range of `X`'s rows
    /// (many rows: every thread streams the weights, which stay in cache) or, for a single row
    /// (a decoding step), a range of weight panels. A NaN or infinite input is an error.
    pub fn matmul_into(&self, x: &[f32], n: usize, y: &mut [f32], threads: usize) -> Result<(), QuantError> {
        self.matmul_with(Kernel::detect(), x, n, y, threads)
    }

    fn matmul_with(
        &self,
        kernel: Kernel,
        x: &[f32],
        n: usize,
        y: &mut [f32],
        threads: usize,
    ) -> Result<(), QuantError> {
        let (rows, cols) = (self.rows, self.cols);
        if n.checked_mul(cols) != Some(x.len()) || n.checked_mul(rows) != Some(y.len()) {
            return Err(QuantError::Shape(format!(
                "product of a {rows}×{cols} matrix with X of {} values and Y of {} for {n} rows",
                x.len(),
                y.len()
            )));
        }
        if n == 0 || rows == 0 {
            return Ok(());
        }
        let acts = Activations::quantize(x, n, cols, self.groups, kernel.unsigned_activations())?;
        let threads = threads.max(1);
        if threads == 1 || rows * cols * n < PARALLEL_MIN_WORK {
            self.product(kernel, &acts, 0..n, 0..self.panel_count(), y);
            return Ok(());
        }
        use rayon::prelude::*;
        if n == 1 {
            let per_panels = self.panel_count().div_ceil(threads);
            let run = || {
                y.par_chunks_mut(per_panels * PANEL_ROWS).enumerate().for_each(|(i, yc)| {
                    let p0 = i * per_panels;
                    let p1 = (p0 + per_panels).min(self.panel_count());
                    self.product_into_rows(kernel, &acts, p0..p1, yc);
                })
            };
            return on_threads(threads, run);
        }
        let per = n.div_ceil(threads);
        let run = || {
            y.par_chunks_mut(per * rows).enumerate().for_each(|(i, yc)| {
                let t0 = i * per;
                self.product(kernel, &acts, t0..t0 + yc.len() / rows, 0..self.panel_count(), yc);
            })
        };
        on_threads(threads, run)
    }

    fn panel_count(&self) -> usize {
        self.rows.div_ceil(PANEL_ROWS)
    }

    /// Rows `tokens` of `X` times panels `panels` into `y` (which holds rows `tokens` of Y,
    /// all of its columns). Weight panels are visited in chunks that stay in L2 while every
    /// block of tokens streams past them.
    fn product(
        &self,
        kernel: Kernel,
        acts: &Activations,
        tokens: std::ops::Range<usize>,
        panels: std::ops::Range<usize>,
        y: &mut [f32],
    ) {
        let panel_bytes = self.groups * GROUP_BYTES;
        let chunk = ((1usize << 20) / panel_bytes.max(1)).max(1);
        let tile_tokens = kernel.tile_tokens();
        let mut acc = [0i32; MAX_TILE_TOKENS * PANEL_ROWS * MAX_TILE_PANELS];
        let mut c0 = panels.start;
        while c0 < panels.end {
            let c1 = (c0 + chunk).min(panels.end);
            let mut t0 = tokens.start;
            while t0 < tokens.end {
                let nt = tile_tokens.min(tokens.end - t0);
                let mut p = c0;
                while p < c1 {
                    let np = MAX_TILE_PANELS.min(c1 - p);
                    kernel.run(self, acts, t0, nt, p, np, &mut acc);
                    for t in 0..nt {
                        let yrow = &mut y[(t0 - tokens.start + t) * self.rows..][..self.rows];
                        self.store(&acc[t * np * PANEL_ROWS..][..np * PANEL_ROWS], acts, t0 + t, kernel, p, yrow, 0);
                    }
                    p += np;
                }
                t0 += nt;
            }
            c0 = c1;
        }
    }

    /// One row of `X` (`acts` row 0) times panels `panels` into `y`, which holds outputs
    /// `panels.start · 16 ..` of that row.
    fn product_into_rows(&self, kernel: Kernel, acts: &Activations, panels: std::ops::Range<usize>, y: &mut [f32]) {
        let mut acc = [0i32; PANEL_ROWS * MAX_TILE_PANELS];
        let mut p = panels.start;
        while p < panels.end {
            let np = MAX_TILE_PANELS.min(panels.end - p);
            kernel.run(self, acts, 0, 1, p, np, &mut acc);
            self.store(&acc[..np * PANEL_ROWS], acts, 0, kernel, p, y, panels.start);
            p += np;
        }
    }

    /// Turns one token's integer sums for panels `p..` into outputs: `y[r − 16·first]` for
    /// every real row `r` of those panels.
    #[allow(clippy::too_many_arguments)]
    fn store(&self, acc: &[i32], acts: &Activations, t: usize, kernel: Kernel, p: usize, y: &mut [f32], first: usize) {
        let r0 = p * PANEL_ROWS;
        let r1 = (r0 + acc.len()).min(self.rows);
        let sa = acts.scales[t];
        // Branch-free so the loop vectorises: the offsets apply only to unsigned activations.
        let mask = if kernel.unsigned_activations() { -1i32 } else { 0 };
        let sums = acc.iter().zip(&self.offsets[r0..r1]).map(|(&a, &o)| a - (o & mask));
        for ((y, sum), &sw) in
            y[r0 - first * PANEL_ROWS..r1 - first * PANEL_ROWS].iter_mut().zip(sums).zip(&self.scales[r0..r1])
        {
            *y = sum as f32 * sw * sa;
        }
    }
}

/// `v` rounded half to even and clamped to ±127. The rounding adds and subtracts 1.5·2²³ and
/// reads the integer from the float's low bits, so loops over it vectorise (`f32::round` is a
/// libm call on baseline x86-64).
#[inline(always)]
fn to_i8(v: f32) -> i8 {
    const ROUNDER: f32 = 12_582_912.0;
    let shifted = v.clamp(-127.0, 127.0) + ROUNDER;
    shifted.to_bits().wrapping_sub(ROUNDER.to_bits()) as i32 as i8
}

/// Most panels one kernel call covers (the VNNI tile: 4 panels × 6 rows of `X`).
const MAX_TILE_PANELS: usize = 4;
/// Most rows of `X` one kernel call covers (every kernel's `tile_tokens`); the sums of a tile
/// live on the stack, so a decoding step's products allocate nothing for them.
const MAX_TILE_TOKENS: usize = 6;

/// The rows of `X` in 8 bits, each padded to whole groups, with one scale per row.
struct Activations {
    /// `n × groups·4` bytes: signed values, or signed + 128 for the VNNI kernel.
    bytes: Vec<u8>,
    scales: Vec<f32>,
    stride: usize,
}

impl Activations {
    fn quantize(x: &[f32], n: usize, cols: usize, groups: usize, unsigned: bool) -> Result<Self, QuantError> {
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(QuantError::NonFinite { index: i });
        }
        let stride = groups * GROUP;
        let pad = if unsigned { 128u8 } else { 0 };
        let mut bytes = vec![pad; n * stride];
        let mut scales = Vec::with_capacity(n);
        for (xr, br) in x.chunks_exact(cols.max(1)).zip(bytes.chunks_exact_mut(stride.max(1))).take(n) {
            let amax = xr.iter().fold(0f32, |m, v| m.max(v.abs()));
            let inv = if amax > 0.0 { 127.0 / amax } else { 0.0 };
            for (b, &v) in br.iter_mut().zip(xr) {
                let q = to_i8(v * inv);
                *b = (q as u8) ^ pad;
            }
            scales.push(amax / 127.0);
        }
        if cols == 0 {
            scales.resize(n, 0.0);
        }
        Ok(Self { bytes, scales, stride })
    }

    #[cfg(test)]
    fn row(&self, t: usize) -> &[u8] {
        &self.bytes[t * self.stride..(t + 1) * self.stride]
    }
}

/// Which integer kernel runs the products on this CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kernel {
    #[cfg(target_arch = "x86_64")]
    Vnni512,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    Portable,
}

impl Kernel {
    /// Every kernel this CPU can run, fastest first.
    fn available() -> Vec<Self> {
        let mut all = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512bw")
                && std::is_x86_feature_detected!("avx512vnni")
            {
                all.push(Kernel::Vnni512);
            }
            if std::is_x86_feature_detected!("avx2") {
                all.push(Kernel::Avx2);
            }
        }
        all.push(Kernel::Portable);
        all
    }

    fn detect() -> Self {
        static BEST: std::sync::OnceLock<Kernel> = std::sync::OnceLock::new();
        *BEST.get_or_init(|| Self::available()[0])
    }

    /// `vpdpbusd` multiplies unsigned by signed bytes: activations are stored + 128 and each
    /// row's `128 · Σ w` is subtracted afterwards. The others use signed activations.
    fn unsigned_activations(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        if self == Kernel::Vnni512 {
            return true;
        }
        false
    }

    /// Rows of `X` per kernel call.
    fn tile_tokens(self) -> usize {
        match self {
            #[cfg(target_arch = "x86_64")]
            Kernel::Vnni512 => 6,
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => 4,
            Kernel::Portable => 4,
        }
    }

    /// Integer sums of rows `t0..t0 + nt` of `X` with panels `p..p + np` into
    /// `acc[t · np·16 + j]` (`nt ≤ tile_tokens`, `np ≤ MAX_TILE_PANELS`).
    #[allow(clippy::too_many_arguments)]
    fn run(self, m: &Int8Matrix, acts: &Activations, t0: usize, nt: usize, p: usize, np: usize, acc: &mut [i32]) {
        let panel_bytes = m.groups * GROUP_BYTES;
        let w = &m.panels[p * panel_bytes..(p + np) * panel_bytes];
        let a = &acts.bytes[t0 * acts.stride..(t0 + nt) * acts.stride];
        let acc = &mut acc[..nt * np * PANEL_ROWS];
        match self {
            // SAFETY: `detect` chose these kernels only where the CPU has their features.
            #[cfg(target_arch = "x86_64")]
            Kernel::Vnni512 => unsafe { crate::int8_x86::vnni512(w, m.groups, np, a, nt, acc) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { crate::int8_x86::avx2(w, m.groups, np, a, nt, acc) },
            Kernel::Portable => portable(w, m.groups, np, a, nt, acc),
        }
    }
}

/// The reference kernel: signed activations, plain integer sums. `w` holds `np` panels, `a`
/// `nt` rows of `groups · 4` bytes; `acc[t · np·16 + panel·16 + j]` receives each sum.
pub(crate) fn portable(w: &[i8], groups: usize, np: usize, a: &[u8], nt: usize, acc: &mut [i32]) {
    let stride = groups * GROUP;
    for t in 0..nt {
        let at = &a[t * stride..(t + 1) * stride];
        for pi in 0..np {
            let panel = &w[pi * groups * GROUP_BYTES..(pi + 1) * groups * GROUP_BYTES];
            for j in 0..PANEL_ROWS {
                let mut s = 0i32;
                for (g, ag) in at.chunks_exact(GROUP).enumerate() {
                    for (k, &av) in ag.iter().enumerate() {
                        s += i32::from(av as i8) * i32::from(panel[g * GROUP_BYTES + j * GROUP + k]);
                    }
                }
                acc[t * np * PANEL_ROWS + pi * PANEL_ROWS + j] = s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(rows: usize, cols: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..rows * cols)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect()
    }

    /// The product every kernel must reproduce exactly: integer sums of the quantized values,
    /// scaled as `store` does.
    fn reference(m: &Int8Matrix, x: &[f32], n: usize) -> Vec<f32> {
        let acts = Activations::quantize(x, n, m.cols, m.groups, false).unwrap();
        let mut y = vec![0f32; n * m.rows];
        for t in 0..n {
            for r in 0..m.rows {
                let base = (r / PANEL_ROWS) * m.groups * GROUP_BYTES + (r % PANEL_ROWS) * GROUP;
                let s: i32 = (0..m.cols)
                    .map(|k| {
                        i32::from(acts.row(t)[k] as i8)
                            * i32::from(m.panels[base + (k / GROUP) * GROUP_BYTES + k % GROUP])
                    })
                    .sum();
                y[t * m.rows + r] = s as f32 * m.scales[r] * acts.scales[t];
            }
        }
        y
    }

    #[test]
    fn every_shape_and_thread_count_gives_the_reference_bits() {
        for &(rows, cols) in &[(1, 1), (17, 5), (40, 24), (64, 384), (100, 130), (384, 1536)] {
            let m = Int8Matrix::quantize(rows, cols, &data(rows, cols, 7)).unwrap();
            for &n in &[1, 2, 5, 6, 7, 13, 40] {
                let x = data(n, cols, 11 + n as u32);
                let want = reference(&m, &x, n);
                for kernel in Kernel::available() {
                    for threads in [1, 2, 3] {
                        let mut y = vec![0f32; n * rows];
                        m.matmul_with(kernel, &x, n, &mut y, threads).unwrap();
                        assert_eq!(y, want, "{kernel:?}: {rows}×{cols}, n {n}, {threads} threads");
                    }
                }
            }
        }
    }

    #[test]
    fn the_product_is_close_to_f32() {
        let (rows, cols) = (48, 384);
        let w = data(rows, cols, 1);
        let m = Int8Matrix::quantize(rows, cols, &w).unwrap();
        let x = data(3, cols, 2);
        let y = m.matmul(&x, 3, 1).unwrap();
        for t in 0..3 {
            for r in 0..rows {
                let exact: f32 = (0..cols).map(|k| w[r * cols + k] * x[t * cols + k]).sum();
                assert!((y[t * rows + r] - exact).abs() < 0.03, "{} vs {exact}", y[t * rows + r]);
            }
        }
        let mut row = vec![0f32; cols];
        m.dequantize_row(7, &mut row).unwrap();
        for (a, b) in row.iter().zip(&w[7 * cols..8 * cols]) {
            assert!((a - b).abs() <= 0.5 / 127.0 * 0.5 + 1e-6);
        }
    }

    #[test]
    fn rounding_is_half_to_even_and_clamped() {
        let cases = [
            (0.0, 0),
            (0.5, 0),
            (1.5, 2),
            (-2.5, -2),
            (2.6, 3),
            (-126.7, -127),
            (127.4, 127),
            (300.0, 127),
            (-1e9, -127),
        ];
        for (v, q) in cases {
            assert_eq!(to_i8(v), q, "{v}");
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        assert!(matches!(Int8Matrix::quantize(2, 3, &[0.0; 5]), Err(QuantError::Shape(_))));
        assert!(matches!(
            Int8Matrix::quantize(1, Int8Matrix::MAX_COLS + 1, &vec![0.0; Int8Matrix::MAX_COLS + 1]),
            Err(QuantError::Shape(_))
        ));
        assert!(matches!(Int8Matrix::quantize(1, 2, &[0.0, f32::NAN]), Err(QuantError::NonFinite { index: 1 })));
        let m = Int8Matrix::quantize(2, 2, &[1.0, 0.0, 0.0, 1.0]).unwrap();
        assert!(matches!(m.matmul(&[1.0, f32::INFINITY], 1, 1), Err(QuantError::NonFinite { index: 1 })));
        assert!(m.matmul(&[1.0; 3], 1, 1).is_err());
        assert!(m.dequantize_row(2, &mut [0.0; 2]).is_err());
        // A matrix of empty rows multiplies to zeros.
        let empty = Int8Matrix::quantize(3, 0, &[]).unwrap();
        assert_eq!(empty.matmul(&[], 2, 1).unwrap(), vec![0.0; 6]);
        // An all-zero row of X and an all-zero weight row give zeros, not NaN.
        let z = Int8Matrix::quantize(2, 2, &[0.0, 0.0, 1.0, 1.0]).unwrap();
        assert_eq!(z.matmul(&[0.0, 0.0, 1.0, 2.0], 2, 1).unwrap()[..3], [0.0, 0.0, 0.0]);
    }
}
