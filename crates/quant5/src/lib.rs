//! 5-bit weight quantization (the paper's scheme) and llama.cpp's GGUF block formats.
//!
//! * [`alg2`]: the paper's Algorithm 2 — asymmetric min-max with an integer zero point, per
//!   tensor (as published), per row or per group — with dense 5-bit packing ([`pack5`]).
//! * [`blocks`]: ggml's block formats — Q4_0, Q5_0, Q5_1, Q8_0, the K-quants Q2_K, Q3_K, Q4_K,
//!   Q5_K, Q6_K and the table-based IQ4_NL / IQ4_XS — with encoders byte-exact with ggml's
//!   reference quantizers (no importance matrix) and decoders bit-exact with its dequantizers,
//!   plus decoders for Q4_1, F16 and BF16. These are every block type in the GGUF files
//!   llama.cpp users download (Q4_K_M, Q5_K_M, Q6_K, Q8_0, IQ4_XS, …).
//! * [`QuantizedMatrix`]: weights kept in their blocks; [`QuantizedMatrix::matvec`] quantizes the
//!   activations once to 8 bits and runs integer block dot products ([`kernels`]), split across
//!   threads; [`QuantizedMatrix::matmul_into`] does the same for a few rows of activations and,
//!   from [`GEMM_MIN_TOKENS`] rows on (a prompt, an audio window), widens the weights to f32 a
//!   panel at a time for a dense product, so weights are decoded once per call, not per row.
//! * `qat` (feature `qat`): a straight-through fake-quant op for burn tensors, for quantization-aware
//!   training with the paper's scheme or per-group ranges.
//!
//! ```
//! use quant5::{GgmlType, QuantizedMatrix};
//!
//! let (rows, cols) = (4, 64);
//! let w: Vec<f32> = (0..rows * cols).map(|i| ((i * 37 % 101) as f32 - 50.0) / 100.0).collect();
//! let q = QuantizedMatrix::quantize(GgmlType::Q5_0, rows, cols, &w).unwrap();
//! assert_eq!(q.bytes.len(), rows * cols / 32 * 22); // 5.5 bits per weight
//!
//! let x = vec![0.5f32; cols];
//! let y = q.matvec(&x, 1).unwrap();
//! let exact: f32 = w[..cols].iter().map(|v| v * 0.5).sum();
//! assert!((y[0] - exact).abs() < 0.05);
//! ```
//!
//! Dependencies: `half` (IEEE binary16 / bfloat16 conversion with round-to-nearest-even, which
//! the block formats store their scales in); `gemm` (the f32 matrix-multiply kernels burn's Flex
//! backend already uses, for many-row products); `rayon` (threads); `burn` for the QAT op only, behind the
//! `qat` feature.

// Library code returns typed errors for anything derived from input; `unwrap`/`expect` are
// allowed only where a comment says why the value cannot be absent.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod alg2;
mod block_bytes;
pub mod blocks;
mod ggml_type;
pub mod kernels;
#[cfg(target_arch = "x86_64")]
mod kernels_avx2;
mod matrix;
#[cfg(feature = "qat")]
pub mod qat;

pub use alg2::{Alg2Params, Alg2Tensor, Granularity, pack5, quantize_alg2, unpack5};
pub use block_bytes::{BlockBytes, SharedBuffer};
pub use ggml_type::GgmlType;
pub use matrix::{GEMM_MIN_TOKENS, QuantizedMatrix, dequantize_row, quantize_row};
#[cfg(feature = "qat")]
pub use qat::{QatScheme, fake_quant};

/// Bits per quantized weight.
pub const BITS: u32 = 5;

/// Errors from quantization and block handling.
#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    #[error("unsupported tensor type: {0}")]
    UnsupportedType(String),
    #[error("shape error: {0}")]
    Shape(String),
    #[error("expected {expected} bytes of block data, got {got}")]
    Truncated { expected: usize, got: usize },
    #[error("value {index} is NaN or infinite")]
    NonFinite { index: usize },
    #[error("could not start worker threads: {0}")]
    Threads(String),
}
