//! Frozen 5-bit bases: the QLoRA arrangement, where the base weights stay in quant5 blocks and
//! only the f32 adapters train.
//!
//! A plain burn `matmul` against a weight dequantized on the fly would keep that f32 weight alive
//! in the autodiff graph until the backward pass (the input's gradient needs it), so a training
//! step would hold every projection in f32 at once and the 5-bit base would save nothing. The
//! [`QuantLinearBackend::quant_linear`] op avoids that: under [`Autodiff`] its backward
//! step keeps only a reference to the shared 5-bit blocks and dequantizes again to compute
//! `∂L/∂x = ∂L/∂y · W` (recompute instead of store, as bitsandbytes' 4-bit matmul does). The
//! weight itself never receives a gradient.

use std::marker::PhantomData;
use std::sync::Arc;

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorData, TensorPrimitive};
use quant5::{GgmlType, QuantizedMatrix, dequantize_row};

use crate::LoraError;

/// Backends that can run `y = x·Wᵀ` against a frozen [`QuantizedMatrix`] `W` `[out, in]`.
///
/// The provided method dequantizes `W` into a temporary f32 tensor on `x`'s device and drops it
/// after the matmul; [`Autodiff`] overrides it with the recomputing backward step described in
/// the module docs.
pub trait QuantLinearBackend: Backend {
    /// `x` `[n, in]` → `[n, out]`.
    fn quant_linear(x: FloatTensor<Self>, weight: &Arc<QuantizedMatrix>) -> FloatTensor<Self> {
        let x = Tensor::<Self, 2>::from_primitive(TensorPrimitive::Float(x));
        // Row-major [out, in] as stored; the matmul reads it through a transposed view (the
        // GEMM packs its operands anyway, and transposing here would be a strided copy).
        let w = Tensor::<Self, 2>::from_data(dequantize(weight), &x.device());
        x.matmul(w.transpose()).into_primitive().tensor()
    }
}

impl QuantLinearBackend for burn::backend::Flex {}

#[cfg(feature = "cuda")]
impl QuantLinearBackend for burn::backend::Cuda {}

/// The backward step of [`QuantLinearBackend::quant_linear`]: its state is the shared block
/// data, not an f32 copy.
#[derive(Debug)]
struct QuantLinearBackward;

impl<B: QuantLinearBackend> Backward<B, 1> for QuantLinearBackward {
    type State = Arc<QuantizedMatrix>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let weight = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |grad| {
            let grad = Tensor::<B, 2>::from_primitive(TensorPrimitive::Float(grad));
            let w = Tensor::<B, 2>::from_data(dequantize(&weight), &grad.device());
            grad.matmul(w).into_primitive().tensor()
        });
    }
}

impl<B: QuantLinearBackend, C: CheckpointStrategy> QuantLinearBackend for Autodiff<B, C> {
    fn quant_linear(x: FloatTensor<Self>, weight: &Arc<QuantizedMatrix>) -> FloatTensor<Self> {
        match QuantLinearBackward.prepare::<C>([x.node.clone()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(weight.clone(), B::quant_linear(x.primitive, weight)),
            OpsKind::UnTracked(prep) => prep.finish(B::quant_linear(x.primitive, weight)),
        }
    }
}

/// Row-major `[rows, cols]` f32 values of `m`. [`QuantLinear::new`] checked that its type
/// decodes, so decoding cannot fail here.
fn dequantize_values(m: &QuantizedMatrix) -> Vec<f32> {
    let mut out = vec![0f32; m.rows * m.cols];
    for (r, row) in out.chunks_exact_mut(m.cols.max(1)).enumerate() {
        let decoded = dequantize_row(m.ggml_type, m.row(r), row);
        debug_assert!(decoded.is_ok(), "type checked in QuantLinear::new");
    }
    out
}

fn dequantize(m: &QuantizedMatrix) -> TensorData {
    TensorData::new(dequantize_values(m), [m.rows, m.cols])
}

/// `Wᵀ` `[cols, rows]`, materialised so the forward matmul reads it contiguously.
fn dequantize_transposed(m: &QuantizedMatrix) -> TensorData {
    let values = dequantize_values(m);
    let mut t = vec![0f32; values.len()];
    for (r, row) in values.chunks_exact(m.cols.max(1)).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            t[c * m.rows + r] = v;
        }
    }
    TensorData::new(t, [m.cols, m.rows])
}

/// A bias-free linear layer over a frozen quantized weight `[out, in]` (GGUF/HF row layout).
/// The blocks are shared (`Arc`), not a parameter: never saved with the module's record,
/// never visited by optimizers.
#[derive(Module, Debug)]
pub struct QuantLinear<B: Backend> {
    /// The blocks, `[out, in]`.
    #[module(skip)]
    pub weight: Arc<QuantizedMatrix>,
    backend: PhantomData<B>,
}

impl<B: Backend> QuantLinear<B> {
    /// Wraps `matrix`, checking that its block type decodes.
    pub fn new(matrix: Arc<QuantizedMatrix>) -> Result<Self, LoraError> {
        check_decodes(&matrix)?;
        Ok(Self { weight: matrix, backend: PhantomData })
    }
}

fn check_decodes(m: &QuantizedMatrix) -> Result<(), LoraError> {
    if m.rows == 0 || m.cols == 0 {
        return Err(LoraError::Shape(format!("empty {}×{} base matrix", m.rows, m.cols)));
    }
    let mut row = vec![0f32; m.cols];
    dequantize_row(m.ggml_type, m.row(0), &mut row)
        .map_err(|e| LoraError::Shape(format!("{} base matrix does not decode: {e}", m.ggml_type.name())))
}

impl<B: QuantLinearBackend> QuantLinear<B> {
    /// `x·Wᵀ` over the last dimension of `x`.
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let dims = x.dims();
        let (inp, out) = self.shape();
        let rows = dims[..D - 1].iter().product::<usize>();
        let flat: Tensor<B, 2> = x.reshape([rows, inp]);
        let y = B::quant_linear(flat.into_primitive().tensor(), &self.weight);
        let mut out_dims = dims;
        out_dims[D - 1] = out;
        Tensor::<B, 2>::from_primitive(TensorPrimitive::Float(y)).reshape(out_dims)
    }
}

impl<B: Backend> QuantLinear<B> {
    /// `(in, out)`.
    pub fn shape(&self) -> (usize, usize) {
        (self.weight.cols, self.weight.rows)
    }

    /// The weight in burn's `Linear` layout `[in, out]`, f32.
    pub fn dequantized(&self, device: &B::Device) -> Tensor<B, 2> {
        Tensor::from_data(dequantize_transposed(&self.weight), device)
    }

    /// Number of weights (not trainable).
    pub fn num_weights(&self) -> usize {
        self.weight.rows * self.weight.cols
    }

    /// Bytes the blocks occupy.
    pub fn size_bytes(&self) -> usize {
        self.weight.bytes.len()
    }

    /// Block type of the weight.
    pub fn ggml_type(&self) -> GgmlType {
        self.weight.ggml_type
    }
}
