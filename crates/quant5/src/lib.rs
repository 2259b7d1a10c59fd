//! 5-bit weight quantization.
//!
//! **Status: skeleton.** This crate will implement the paper's Algorithm 2 (min-max scale and
//! zero point, per tensor, row or group), GGUF's Q5_0 / Q5_1 / Q5_K blocks bit-exactly, decoders
//! for the other block types real model files use, fast matrix–vector kernels that work on the
//! quantized blocks directly, and a fake-quant op for quantization-aware training.
//!
//! ```
//! assert_eq!(quant5::BITS, 5);
//! ```

/// Bits per quantized weight.
pub const BITS: u32 = 5;
