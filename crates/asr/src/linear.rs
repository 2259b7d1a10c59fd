//! Dense layers `y = x·Wᵀ + b` over the two weight kinds the runtime supports: f32 (products by
//! the `gemm` crate, the same kernels burn's Flex backend uses) and 8-bit integers with one scale
//! per row (quant5's [`Int8Matrix`] and its VNNI / AVX2 integer kernels).

use crate::AsrError;
use gemm::Parallelism;
use quant5::Int8Matrix;

/// Precision of the dense weights at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightPrecision {
    /// The stored float16 weights upcast to f32 (CTranslate2's `compute_type="float32"`).
    #[default]
    F32,
    /// Linear weights in 8-bit integers with one scale per row and activations quantized to 8
    /// bits per row of each product: CTranslate2's `int8` scheme, on quant5's integer kernels.
    Q8,
}

enum Weight {
    F32(Vec<f32>),
    /// The file's float16 values kept as they are: products read half the bytes and convert
    /// each weight exactly to f32 before multiplying, so the arithmetic is the f32 path's.
    F16(Vec<half::f16>),
    Q8(Int8Matrix),
}

/// One dense layer, weight `[out, in]` row-major as PyTorch and CTranslate2 store it.
pub struct Linear {
    weight: Weight,
    bias: Option<Vec<f32>>,
    pub rows: usize,
    pub cols: usize,
}

impl Linear {
    /// A layer from f32 weights, kept as `precision` asks.
    pub fn new(
        weight: Vec<f32>,
        bias: Option<Vec<f32>>,
        rows: usize,
        cols: usize,
        precision: WeightPrecision,
    ) -> Result<Self, AsrError> {
        if weight.len() != rows * cols || bias.as_ref().is_some_and(|b| b.len() != rows) {
            return Err(AsrError::Model(format!("linear layer {rows}×{cols} has {} weights", weight.len())));
        }
        let weight = match precision {
            WeightPrecision::F32 => Weight::F32(weight),
            WeightPrecision::Q8 => Weight::Q8(Int8Matrix::quantize(rows, cols, &weight)?),
        };
        Ok(Self { weight, bias, rows, cols })
    }

    /// A layer for one-token-at-a-time products (the decoder): with f32 precision the weights
    /// stay in float16 (exact for a float16 file) and are read by a half-precision matrix-vector
    /// kernel; decoding is bound by reading weights, so half the bytes is nearly half the time.
    pub fn new_for_decoding(
        weight: Vec<f32>,
        bias: Option<Vec<f32>>,
        rows: usize,
        cols: usize,
        precision: WeightPrecision,
    ) -> Result<Self, AsrError> {
        let mut layer = Self::new(weight, bias, rows, cols, precision)?;
        if let Weight::F32(w) = &layer.weight
            && w.iter().all(|&v| half::f16::from_f32(v).to_f32() == v || v.is_nan())
        {
            layer.weight = Weight::F16(w.iter().map(|&v| half::f16::from_f32(v)).collect());
        }
        Ok(layer)
    }

    /// Bytes of weight data held.
    pub fn weight_bytes(&self) -> usize {
        match &self.weight {
            Weight::F32(w) => w.len() * 4,
            Weight::F16(w) => w.len() * 2,
            Weight::Q8(q) => q.bytes(),
        }
    }

    /// Row `r` of the weight as f32 (an embedding lookup).
    pub fn row(&self, r: usize, out: &mut [f32]) -> Result<(), AsrError> {
        if r >= self.rows || out.len() != self.cols {
            return Err(AsrError::Model(format!("row {r} of a {}×{} weight", self.rows, self.cols)));
        }
        match &self.weight {
            Weight::F32(w) => out.copy_from_slice(&w[r * self.cols..(r + 1) * self.cols]),
            Weight::F16(w) => {
                for (o, h) in out.iter_mut().zip(&w[r * self.cols..(r + 1) * self.cols]) {
                    *o = h.to_f32();
                }
            }
            Weight::Q8(q) => q.dequantize_row(r, out)?,
        }
        Ok(())
    }

    /// `out[n, rows] = x[n, cols] · Wᵀ + b`.
    pub fn forward(&self, x: &[f32], n: usize, out: &mut [f32], threads: usize) -> Result<(), AsrError> {
        debug_assert_eq!(x.len(), n * self.cols);
        debug_assert_eq!(out.len(), n * self.rows);
        match &self.weight {
            Weight::F32(w) => matmul_t(x, w, n, self.cols, self.rows, out, threads),
            // A few rows (decoding steps): the half-precision kernel, rows split across threads.
            Weight::F16(w) if n <= 4 => {
                for (xi, yi) in x.chunks_exact(self.cols).zip(out.chunks_exact_mut(self.rows)) {
                    gemv_f16(w, xi, yi, threads);
                }
            }
            // Many rows (a prompt, or cross-attention keys/values of a window): widen once.
            Weight::F16(w) => {
                let wide: Vec<f32> = w.iter().map(|h| h.to_f32()).collect();
                matmul_t(x, &wide, n, self.cols, self.rows, out, threads);
            }
            // Integer products for one row or many (VNNI's 8-bit dots outrun f32 gemm).
            Weight::Q8(q) => q.matmul_into(x, n, out, threads)?,
        }
        if let Some(b) = &self.bias {
            for row in out.chunks_exact_mut(self.rows) {
                for (o, &bv) in row.iter_mut().zip(b) {
                    *o += bv;
                }
            }
        }
        Ok(())
    }
}

/// `out[m, n] = a[m, k] · b[n, k]ᵀ` (both row-major).
pub fn matmul_t(a: &[f32], b: &[f32], m: usize, k: usize, n: usize, out: &mut [f32], threads: usize) {
    assert!(a.len() >= m * k && b.len() >= n * k && out.len() >= m * n, "matmul_t shapes");
    // SAFETY: the asserts above bound every index gemm reads or writes with these strides.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            n as isize,
            false,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            k as isize,
            1,
            0.0,
            1.0,
            false,
            false,
            false,
            parallelism(threads, m * n * k),
        );
    }
}

/// `y = W·x` for half-precision `W` `[y.len(), x.len()]`.
fn gemv_f16(w: &[half::f16], x: &[f32], y: &mut [f32], threads: usize) {
    let cols = x.len();
    let run = |(r0, chunk): (usize, &mut [f32])| {
        for (i, out) in chunk.iter_mut().enumerate() {
            let r = r0 + i;
            *out = dot_f16(&w[r * cols..(r + 1) * cols], x);
        }
    };
    // One contiguous share of the rows per thread: a decoding step is dozens of these products,
    // so each wakes every thread once; below ~128 KiB of weights one thread is faster.
    if threads > 1 && y.len() * cols >= 1 << 16 {
        use rayon::prelude::*;
        let per = y.len().div_ceil(threads).next_multiple_of(8);
        y.par_chunks_mut(per).enumerate().map(|(i, c)| (i * per, c)).for_each(run);
    } else {
        run((0, y));
    }
}

/// `Σ w[i]·x[i]` with `w` in half precision.
fn dot_f16(w: &[half::f16], x: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
            && std::is_x86_feature_detected!("f16c")
        {
            // SAFETY: the features this function needs were just detected.
            return unsafe { dot_f16_avx2(w, x) };
        }
    }
    w.iter().zip(x).map(|(h, v)| h.to_f32() * v).sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_f16_avx2(w: &[half::f16], x: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = w.len().min(x.len());
    let (wp, xp) = (w.as_ptr() as *const u16, x.as_ptr());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    // SAFETY: every load below reads indices < n, inside both slices.
    unsafe {
        while i + 32 <= n {
            for (k, a) in acc.iter_mut().enumerate() {
                let h = _mm_loadu_si128(wp.add(i + 8 * k) as *const __m128i);
                *a = _mm256_fmadd_ps(_mm256_cvtph_ps(h), _mm256_loadu_ps(xp.add(i + 8 * k)), *a);
            }
            i += 32;
        }
        while i + 8 <= n {
            let h = _mm_loadu_si128(wp.add(i) as *const __m128i);
            acc[0] = _mm256_fmadd_ps(_mm256_cvtph_ps(h), _mm256_loadu_ps(xp.add(i)), acc[0]);
            i += 8;
        }
        let s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let lo = _mm256_castps256_ps128(s);
        let hi = _mm256_extractf128_ps(s, 1);
        let q = _mm_add_ps(lo, hi);
        let d = _mm_add_ps(q, _mm_movehl_ps(q, q));
        let r = _mm_add_ss(d, _mm_shuffle_ps(d, d, 1));
        let mut sum = _mm_cvtss_f32(r);
        while i < n {
            sum += w[i].to_f32() * x[i];
            i += 1;
        }
        sum
    }
}

fn parallelism(threads: usize, work: usize) -> Parallelism {
    // Below ~1 MFLOP a second thread costs more than it saves.
    if threads <= 1 || work < 1 << 19 { Parallelism::None } else { Parallelism::Rayon(threads) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_kernel_matches_the_portable_sum() {
        for cols in [1, 7, 8, 31, 32, 33, 384, 1000] {
            let w: Vec<half::f16> =
                (0..cols).map(|i| half::f16::from_f32(((i * 37 % 101) as f32 - 50.0) / 64.0)).collect();
            let x: Vec<f32> = (0..cols).map(|i| ((i * 13 % 29) as f32 - 14.0) / 8.0).collect();
            let want: f64 = w.iter().zip(&x).map(|(h, v)| f64::from(h.to_f32()) * f64::from(*v)).sum();
            assert!((f64::from(dot_f16(&w, &x)) - want).abs() < 1e-3, "{cols}");
        }
    }
}
