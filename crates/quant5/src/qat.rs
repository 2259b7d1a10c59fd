//! Quantization-aware training: a fake-quant op for burn tensors.
//!
//! The forward pass returns the 5-bit dequantized value (Algorithm 2's `(q − Z)·S`); the
//! backward pass is the straight-through estimator: gradient 1 where the value lies inside the
//! quantization range, 0 where it was clamped. Implemented with the detach trick
//! (`v + (round(v) − v).detach()`), so it works on every burn backend with autodiff and needs no
//! custom backward op. Scale and zero point are treated as constants of each step (taken from
//! the current min/max, as the paper does), not learned.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::QuantError;

/// How the fake-quant range is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum QatScheme {
    /// Algorithm 2: one min-max range for the whole tensor.
    PerTensor,
    /// The same per group of `size` consecutive values (row-major), e.g. 32.
    PerGroup {
        /// Values per group.
        size: usize,
    },
    /// A fixed clipping range `[lo, hi]`; values outside are clamped and get zero gradient.
    Range {
        /// Lower clipping bound.
        lo: f32,
        /// Upper clipping bound.
        hi: f32,
    },
}

/// Smallest scale used, so a constant tensor does not divide by zero (it then dequantizes to
/// itself up to f32 rounding).
const MIN_SCALE: f32 = 1e-12;

fn fake_quant_min_max<B: Backend, const D: usize>(w: Tensor<B, D>, mn: Tensor<B, D>, mx: Tensor<B, D>) -> Tensor<B, D> {
    let s = ((mx - mn.clone()) / 31.0).clamp_min(MIN_SCALE).detach();
    let z = (mn.neg() / s.clone()).round().detach();
    let v = w / s.clone() + z.clone();
    // Clamp with an inclusive straight-through mask: forward clamp(v), gradient 1 for
    // 0 ≤ v ≤ 31 (boundaries included, as PyTorch's fake_quantize) and 0 outside.
    let inside = v.clone().greater_equal_elem(0.0).bool_and(v.clone().lower_equal_elem(31.0)).float().detach();
    let c = v.clone().clamp(0.0, 31.0).detach() + (v.clone() - v.detach()) * inside;
    // Straight-through rounding: forward round(c), backward identity.
    let q = c.clone() + (c.clone().round() - c).detach();
    (q - z) * s
}

/// Fake-quantizes `w` to 5 bits under `scheme` (see the module docs).
pub fn fake_quant<B: Backend, const D: usize>(w: Tensor<B, D>, scheme: QatScheme) -> Result<Tensor<B, D>, QuantError> {
    let shape = w.shape();
    let n = shape.num_elements();
    Ok(match scheme {
        QatScheme::PerTensor => {
            let mn = w.clone().min().detach().reshape([1; D]);
            let mx = w.clone().max().detach().reshape([1; D]);
            fake_quant_min_max(w, mn, mx)
        }
        QatScheme::PerGroup { size } => {
            if size == 0 || !n.is_multiple_of(size) {
                return Err(QuantError::Shape(format!("{n} values do not split into groups of {size}")));
            }
            let flat: Tensor<B, 2> = w.reshape([n / size, size]);
            let mn = flat.clone().min_dim(1).detach();
            let mx = flat.clone().max_dim(1).detach();
            fake_quant_min_max(flat, mn, mx).reshape(shape)
        }
        QatScheme::Range { lo, hi } => {
            if !(lo.is_finite() && hi.is_finite() && hi > lo) {
                return Err(QuantError::Shape(format!("invalid clipping range [{lo}, {hi}]")));
            }
            let device = w.device();
            let mn = Tensor::<B, 1>::from_floats([lo], &device).reshape([1; D]);
            let mx = Tensor::<B, 1>::from_floats([hi], &device).reshape([1; D]);
            fake_quant_min_max(w, mn, mx)
        }
    })
}
