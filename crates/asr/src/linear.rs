//! Dense layers `y = x·Wᵀ + b` over the two weight kinds the runtime supports: f32 (products by
//! the `gemm` crate, the same kernels burn's Flex backend uses) and 8-bit Q8_0 blocks (quant5's
//! integer block kernels, the ones the quantized Llama runs on).

use crate::AsrError;
use gemm::Parallelism;
use quant5::{GgmlType, QuantizedMatrix};

/// Precision of the dense weights at run time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightPrecision {
    /// The stored float16 weights upcast to f32 (CTranslate2's `compute_type="float32"`).
    #[default]
    F32,
    /// Linear weights in ggml Q8_0 blocks (8 bits + one f16 scale per 32 weights), activations
    /// quantized to 8 bits per product; the analogue of CTranslate2's `int8`.
    Q8,
}

enum Weight {
    F32(Vec<f32>),
    Q8(QuantizedMatrix),
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
            WeightPrecision::Q8 if cols.is_multiple_of(32) => {
                Weight::Q8(QuantizedMatrix::quantize(GgmlType::Q8_0, rows, cols, &weight)?)
            }
            WeightPrecision::Q8 => Weight::F32(weight),
        };
        Ok(Self { weight, bias, rows, cols })
    }

    /// Bytes of weight data held.
    pub fn weight_bytes(&self) -> usize {
        match &self.weight {
            Weight::F32(w) => w.len() * 4,
            Weight::Q8(q) => q.bytes.len(),
        }
    }

    /// Row `r` of the weight as f32 (an embedding lookup).
    pub fn row(&self, r: usize, out: &mut [f32]) -> Result<(), AsrError> {
        if r >= self.rows || out.len() != self.cols {
            return Err(AsrError::Model(format!("row {r} of a {}×{} weight", self.rows, self.cols)));
        }
        match &self.weight {
            Weight::F32(w) => out.copy_from_slice(&w[r * self.cols..(r + 1) * self.cols]),
            Weight::Q8(q) => quant5::dequantize_row(q.ggml_type, q.row(r), out)?,
        }
        Ok(())
    }

    /// `out[n, rows] = x[n, cols] · Wᵀ + b`.
    pub fn forward(&self, x: &[f32], n: usize, out: &mut [f32], threads: usize) -> Result<(), AsrError> {
        debug_assert_eq!(x.len(), n * self.cols);
        debug_assert_eq!(out.len(), n * self.rows);
        match &self.weight {
            Weight::F32(w) => matmul_t(x, w, n, self.cols, self.rows, out, threads),
            Weight::Q8(q) => {
                for (xi, yi) in x.chunks_exact(self.cols).zip(out.chunks_exact_mut(self.rows)) {
                    q.matvec_into(xi, yi, threads)?;
                }
            }
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

fn parallelism(threads: usize, work: usize) -> Parallelism {
    // Below ~1 MFLOP a second thread costs more than it saves.
    if threads <= 1 || work < 1 << 19 { Parallelism::None } else { Parallelism::Rayon(threads) }
}
