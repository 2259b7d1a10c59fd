#![doc = include_str!("../README.md")]
// Library code returns typed errors for anything derived from input; `unwrap`/`expect` are
// allowed only where a comment says why the value cannot be absent.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

pub mod alg2;
mod block_bytes;
pub mod blocks;
pub mod formats;
mod ggml_type;
mod int8;
#[cfg(target_arch = "x86_64")]
mod int8_x86;
pub mod kernels;
#[cfg(target_arch = "x86_64")]
mod kernels_avx2;
#[cfg(target_arch = "x86_64")]
mod kernels_vnni;
mod matrix;
#[cfg(target_arch = "x86_64")]
mod page_buffer;
#[cfg(target_arch = "x86_64")]
mod panels;
#[cfg(feature = "qat")]
pub mod qat;
mod spin_pool;

pub use alg2::{Alg2Params, Alg2Tensor, Granularity, pack5, quantize_alg2, unpack5};
pub use block_bytes::{BlockBytes, SharedBuffer};
pub use ggml_type::GgmlType;
pub use int8::Int8Matrix;
pub use matrix::{GEMM_MIN_TOKENS, QuantizedMatrix, dequantize_row, quantize_row};
#[cfg(feature = "qat")]
pub use qat::{QatScheme, fake_quant};
pub use spin_pool::SpinPool;

/// Bits per quantized weight.
pub const BITS: u32 = 5;

/// Errors from quantization and block handling.
#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    /// A ggml type id or operation this crate does not implement.
    #[error("unsupported tensor type: {0}")]
    UnsupportedType(String),
    /// Lengths that do not fit the type's blocks or the matrix's shape.
    #[error("shape error: {0}")]
    Shape(String),
    /// Fewer (or more) block bytes than the shape needs.
    #[error("expected {expected} bytes of block data, got {got}")]
    Truncated {
        /// Bytes the shape needs.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// A NaN or infinite value where a finite one is needed.
    #[error("value {index} is NaN or infinite")]
    NonFinite {
        /// Its index in the input.
        index: usize,
    },
    /// The thread pool for a product could not start.
    #[error("could not start worker threads: {0}")]
    Threads(String),
}
