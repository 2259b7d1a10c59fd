//! A fused LSTM in PyTorch's parameter layout, and its bidirectional pair.
//!
//! One `[in, 4H]` matmul projects every time step at once; the recurrence then needs one
//! `[H, 4H]` matmul per step. burn's own `Lstm` runs eight small matmuls per step (one per gate
//! and input), which the `lstm` bench measures against this one. Gate blocks are in PyTorch's
//! order **i, f, g, o**, so a `weight_ih_l0 [4H, in]` checkpoint maps onto `w_ih` by a single
//! transpose.
//!
//! Padding: sequences are right-padded; a mask `[N, T]` (1 = real frame) freezes the state on
//! padded steps and zeroes their output. For the reverse direction the state stays at its zero
//! initial value through the trailing padding, so each sequence's reverse pass starts at its own
//! last real frame: the result equals running every sequence alone at its true length
//! (PyTorch's packed sequences).

use burn::module::{Module, Param};
use burn::nn::Initializer;
use burn::tensor::activation::{sigmoid, tanh};
use burn::tensor::backend::Backend;
use burn::tensor::{Device, Tensor};

/// One direction of an LSTM, weights stored as `x · w_ih` (i.e. PyTorch's `weight_ih_l0`
/// transposed).
#[derive(Module, Debug)]
pub struct FusedLstm<B: Backend> {
    /// `[d_input, 4H]`, gate blocks i, f, g, o along the columns.
    pub w_ih: Param<Tensor<B, 2>>,
    /// `[H, 4H]`.
    pub w_hh: Param<Tensor<B, 2>>,
    /// `[4H]`.
    pub b_ih: Param<Tensor<B, 1>>,
    /// `[4H]`.
    pub b_hh: Param<Tensor<B, 1>>,
    hidden: usize,
    reverse: bool,
}

impl<B: Backend> FusedLstm<B> {
    /// PyTorch's default initialisation: every weight and bias `U(−1/√H, 1/√H)`.
    pub fn new(d_input: usize, hidden: usize, reverse: bool, device: &Device<B>) -> Self {
        let bound = 1.0 / (hidden as f64).sqrt();
        let init = Initializer::Uniform { min: -bound, max: bound };
        Self {
            w_ih: init.init([d_input, 4 * hidden], device),
            w_hh: init.init([hidden, 4 * hidden], device),
            b_ih: init.init([4 * hidden], device),
            b_hh: init.init([4 * hidden], device),
            hidden,
            reverse,
        }
    }

    /// Hidden size H.
    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// Whether this direction reads the sequence last-to-first.
    pub fn is_reverse(&self) -> bool {
        self.reverse
    }

    /// Runs the recurrence over `x [N, T, d_input]` from a zero state; returns every step's
    /// hidden state `[N, T, H]`, written at the position of the step it consumed.
    pub fn forward(&self, x: Tensor<B, 3>, mask: Option<Tensor<B, 2>>) -> Tensor<B, 3> {
        let [n, t, _] = x.dims();
        let h_size = self.hidden;
        // All input projections in one GEMM; both biases folded in once.
        let bias = (self.b_ih.val() + self.b_hh.val()).reshape([1, 1, 4 * h_size]);
        let xp = x.matmul(self.w_ih.val().unsqueeze_dim(0)) + bias;
        let w_hh = self.w_hh.val();
        let device = xp.device();
        let mut h = Tensor::<B, 2>::zeros([n, h_size], &device);
        let mut c = Tensor::<B, 2>::zeros([n, h_size], &device);
        let mut outputs: Vec<Option<Tensor<B, 2>>> = vec![None; t];
        for step in 0..t {
            let pos = if self.reverse { t - 1 - step } else { step };
            let mut z = xp.clone().narrow(1, pos, 1).reshape([n, 4 * h_size]);
            if step > 0 {
                // The first step starts from h = 0, so W_hh cannot contribute.
                z = z + h.clone().matmul(w_hh.clone());
            }
            let gates = z.chunk(4, 1);
            let i = sigmoid(gates[0].clone());
            let f = sigmoid(gates[1].clone());
            let g = tanh(gates[2].clone());
            let o = sigmoid(gates[3].clone());
            let c_new = if step > 0 { f * c.clone() + i * g } else { i * g };
            let h_new = o * tanh(c_new.clone());
            match &mask {
                None => {
                    c = c_new;
                    h = h_new;
                    outputs[pos] = Some(h.clone());
                }
                Some(mask) => {
                    let m = mask.clone().narrow(1, pos, 1); // [N, 1]
                    let keep = m.clone().neg() + 1.0;
                    c = c_new * m.clone() + c * keep.clone();
                    outputs[pos] = Some(h_new.clone() * m.clone());
                    h = h_new * m + h * keep;
                }
            }
        }
        let steps: Vec<Tensor<B, 2>> = outputs.into_iter().flatten().collect();
        Tensor::stack(steps, 1)
    }
}

/// A bidirectional LSTM: forward and reverse [`FusedLstm`]s, outputs concatenated
/// `[forward | reverse]` on the feature axis (PyTorch's order).
#[derive(Module, Debug)]
pub struct FusedBiLstm<B: Backend> {
    /// Reads the sequence first to last.
    pub forward: FusedLstm<B>,
    /// Reads the sequence last to first.
    pub reverse: FusedLstm<B>,
}

impl<B: Backend> FusedBiLstm<B> {
    /// Both directions with `hidden` units each over inputs of `d_input` values (PyTorch's initialisation).
    pub fn new(d_input: usize, hidden: usize, device: &Device<B>) -> Self {
        Self {
            forward: FusedLstm::new(d_input, hidden, false, device),
            reverse: FusedLstm::new(d_input, hidden, true, device),
        }
    }

    /// `x [N, T, d_input]` → `[N, T, 2H]`.
    pub fn forward(&self, x: Tensor<B, 3>, mask: Option<Tensor<B, 2>>) -> Tensor<B, 3> {
        let fwd = self.forward.forward(x.clone(), mask.clone());
        let rev = self.reverse.forward(x, mask);
        Tensor::cat(vec![fwd, rev], 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CpuBackend;
    use burn::tensor::{Distribution, TensorData, Tolerance};

    type B = CpuBackend;

    #[test]
    fn masked_batch_equals_each_sequence_alone() {
        let device = Default::default();
        let lstm = FusedBiLstm::<B>::new(5, 7, &device);
        let lengths = [6usize, 3, 1];
        let x = Tensor::<B, 3>::random([3, 6, 5], Distribution::Normal(0.0, 1.0), &device);
        let mask_values: Vec<f32> =
            lengths.iter().flat_map(|&len| (0..6).map(move |t| if t < len { 1.0 } else { 0.0 })).collect();
        let mask = Tensor::<B, 2>::from_data(TensorData::new(mask_values, [3, 6]), &device);
        let batched = lstm.forward(x.clone(), Some(mask));
        for (row, &len) in lengths.iter().enumerate() {
            let alone = lstm.forward(x.clone().narrow(0, row, 1).narrow(1, 0, len), None);
            let got = batched.clone().narrow(0, row, 1);
            got.clone()
                .narrow(1, 0, len)
                .into_data()
                .assert_approx_eq::<f32>(&alone.into_data(), Tolerance::absolute(1e-6));
            if len < 6 {
                let pad = got.narrow(1, len, 6 - len).abs().max().into_scalar();
                assert_eq!(pad, 0.0, "padded steps must output zeros");
            }
        }
    }
}
