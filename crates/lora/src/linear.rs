//! `LoraLinear`: a frozen base (f32 `Linear` or 5-bit [`QuantLinear`]) plus an optional
//! trainable low-rank update.

use std::sync::Arc;

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig, Initializer, Linear, LinearConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{Device, Tensor, TensorData};

use quant5::QuantizedMatrix;

use crate::adapter::{LoraPair, Matrix};
use crate::frozen::{QuantLinear, QuantLinearBackend};
use crate::{LoraConfig, LoraError};

/// The trainable part: `y += scaling · (dropout(x)·Aᵀ)·Bᵀ`.
#[derive(Module, Debug)]
pub struct Adapter<B: Backend> {
    /// Aᵀ, `[in, r]` (PEFT stores A as `[r, in]`).
    pub lora_a: Param<Tensor<B, 2>>,
    /// Bᵀ, `[r, out]` (PEFT stores B as `[out, r]`).
    pub lora_b: Param<Tensor<B, 2>>,
    /// Dropout on the adapter's input.
    pub dropout: Dropout,
    /// α/r (or α/√r).
    #[module(skip)]
    pub scaling: f64,
    /// Whether the update is currently folded into the base weight.
    #[module(skip)]
    pub merged: bool,
}

/// The frozen weight under an adapter.
// One per projection (a few hundred per model): the size difference is immaterial, and burn's
// Module derive has no Box support to even it out.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum FrozenBase<B: Backend> {
    /// f32, burn layout `[in, out]`, gradient disabled.
    Dense(Linear<B>),
    /// quant5 blocks `[out, in]`, dequantized per use (QLoRA).
    Quant(QuantLinear<B>),
}

impl<B: Backend> FrozenBase<B> {
    /// `(in, out)`.
    pub fn shape(&self) -> (usize, usize) {
        match self {
            Self::Dense(l) => {
                let [i, o] = l.weight.dims();
                (i, o)
            }
            Self::Quant(q) => q.shape(),
        }
    }

    /// `x · W` through the frozen weight (no gradient to it).
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D>
    where
        B: QuantLinearBackend,
    {
        match self {
            Self::Dense(l) => l.forward(x),
            Self::Quant(q) => q.forward(x),
        }
    }

    /// Number of frozen weights.
    pub fn num_weights(&self) -> usize {
        let (i, o) = self.shape();
        i * o
    }

    /// Bytes the frozen weights occupy.
    pub fn size_bytes(&self) -> usize {
        match self {
            Self::Dense(_) => self.num_weights() * 4,
            Self::Quant(q) => q.size_bytes(),
        }
    }
}

/// A linear layer whose base weight never trains, with an optional LoRA adapter.
#[derive(Module, Debug)]
pub struct LoraLinear<B: Backend> {
    /// The frozen weight.
    pub base: FrozenBase<B>,
    /// The trainable low-rank update, once attached.
    pub adapter: Option<Adapter<B>>,
}

fn matrix_to_tensor<B: Backend>(m: &Matrix, transpose: bool, device: &Device<B>) -> Tensor<B, 2> {
    let t = Tensor::<B, 2>::from_data(TensorData::new(m.data.clone(), [m.rows, m.cols]), device);
    if transpose {
        // Materialise the transpose so the parameter is contiguous.
        let data = t.transpose().into_data();
        Tensor::from_data(data, device)
    } else {
        t
    }
}

fn tensor_to_matrix<B: Backend>(t: Tensor<B, 2>) -> Result<Matrix, LoraError> {
    let [rows, cols] = t.dims();
    let values = t.into_data().to_vec::<f32>().map_err(|e| LoraError::Format(format!("{e:?}")))?;
    Ok(Matrix { rows, cols, data: values })
}

impl<B: Backend> LoraLinear<B> {
    /// Wraps a frozen 5-bit (or any quant5 block type) weight `[out, in]`.
    pub fn quantized(matrix: Arc<QuantizedMatrix>) -> Result<Self, LoraError> {
        Ok(Self { base: FrozenBase::Quant(QuantLinear::new(matrix)?), adapter: None })
    }

    /// Wraps `base`, freezing it.
    pub fn new(base: Linear<B>) -> Self {
        Self { base: FrozenBase::Dense(base.no_grad()), adapter: None }
    }

    /// `(in, out)`.
    pub fn shape(&self) -> (usize, usize) {
        self.base.shape()
    }

    /// Attaches a fresh adapter as PEFT initialises one: A Kaiming-uniform
    /// (`U(±1/√in)`), B zero, so the layer starts out unchanged.
    pub fn attach(&mut self, config: &LoraConfig, device: &Device<B>) {
        let (inp, out) = self.shape();
        let bound = 1.0 / (inp as f64).sqrt();
        self.adapter = Some(Adapter {
            lora_a: Initializer::Uniform { min: -bound, max: bound }.init([inp, config.r], device),
            lora_b: Initializer::Zeros.init([config.r, out], device),
            dropout: DropoutConfig::new(config.lora_dropout).init(),
            scaling: config.scaling(),
            merged: false,
        });
    }

    /// Attaches trained factors (PEFT layout), checking their shapes against the base.
    pub fn attach_pair(&mut self, pair: &LoraPair, config: &LoraConfig, device: &Device<B>) -> Result<(), LoraError> {
        let (inp, out) = self.shape();
        if pair.a.cols != inp || pair.b.rows != out || pair.a.rows != pair.b.cols {
            return Err(LoraError::Shape(format!(
                "A {}×{} and B {}×{} do not fit a {inp}→{out} layer",
                pair.a.rows, pair.a.cols, pair.b.rows, pair.b.cols
            )));
        }
        self.adapter = Some(Adapter {
            lora_a: Param::from_tensor(matrix_to_tensor(&pair.a, true, device)),
            lora_b: Param::from_tensor(matrix_to_tensor(&pair.b, true, device)),
            dropout: DropoutConfig::new(config.lora_dropout).init(),
            scaling: config.scaling(),
            merged: false,
        });
        Ok(())
    }

    /// The adapter's factors in PEFT layout.
    pub fn pair(&self) -> Result<Option<LoraPair>, LoraError> {
        let Some(a) = &self.adapter else { return Ok(None) };
        Ok(Some(LoraPair {
            a: tensor_to_matrix(a.lora_a.val().transpose())?,
            b: tensor_to_matrix(a.lora_b.val().transpose())?,
        }))
    }

    /// `base(x) + scaling · B(A(dropout(x)))`; just `base(x)` while merged.
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D>
    where
        B: QuantLinearBackend,
    {
        let y = self.base.forward(x.clone());
        match &self.adapter {
            Some(a) if !a.merged => {
                let low = a.dropout.forward(x).matmul(a.lora_a.val().unsqueeze()).matmul(a.lora_b.val().unsqueeze());
                y + low * a.scaling
            }
            _ => y,
        }
    }

    fn fold(&mut self, sign: f64, merged: bool) {
        if let Some(a) = &mut self.adapter
            && a.merged != merged
        {
            let delta = a.lora_a.val().matmul(a.lora_b.val()) * (a.scaling * sign);
            let w = match &self.base {
                FrozenBase::Dense(l) => l.weight.val(),
                FrozenBase::Quant(q) => q.dequantized(&delta.device()),
            };
            let (inp, out) = self.base.shape();
            let mut dense = LinearConfig::new(inp, out).with_bias(false).init::<B>(&delta.device());
            dense.weight = Param::from_tensor(w + delta).set_require_grad(false);
            self.base = FrozenBase::Dense(dense);
            a.merged = merged;
        }
    }

    /// Folds the update into the base weight (`W += scaling·B·A`); forward then costs one
    /// matmul. No-op when already merged. A 5-bit base is dequantized first (it becomes f32:
    /// requantizing would lose the update's low bits), as PEFT merges into a dequantized
    /// bitsandbytes base.
    pub fn merge(&mut self) {
        self.fold(1.0, true);
    }

    /// Takes the update back out of the base weight.
    pub fn unmerge(&mut self) {
        self.fold(-1.0, false);
    }
}
