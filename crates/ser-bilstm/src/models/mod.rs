//! The three emotion models and what they share: a batch type, the [`EmotionModel`] trait the
//! trainer drives, and the reference-reproduction switches.

mod base;
mod bilstm;
mod temporal;

pub use base::{BaseModel, BaseModelConfig};
pub use bilstm::{BiLstmClassifier, BiLstmClassifierConfig};
pub use temporal::{TemporalBiLstm, TemporalConfig};

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::SerError;
use crate::checkpoint::StateDict;

/// Behaviours of the PyTorch reference (`mser`) that are bugs or accidents, reproducible on
/// request so its numbers can be re-derived. **Off by default**; turn them on only to compare
/// with the reference, never for real use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceQuirks {
    /// The reference's `nn.LSTM` is not batch-first, so during training a batch `[B, 1, 512]`
    /// is read as *one sequence of length B*: each sample's logits depend on the other samples
    /// in its shuffled batch. Evaluation (batch 1) never sees this. Applies to
    /// [`BiLstmClassifier`] training batches only.
    pub batch_as_time: bool,
    /// The reference builds its optimizer with lr = max_lr and steps the scheduler *after* the
    /// optimizer, so batch 0 trains at max_lr and batch k ≥ 1 at `clr(k − 1)`.
    pub first_batch_max_lr: bool,
}

impl ReferenceQuirks {
    /// Every quirk on: the reference's training behaviour.
    pub const REFERENCE: Self = Self { batch_as_time: true, first_batch_max_lr: true };
    /// Every quirk off (the default).
    pub const NONE: Self = Self { batch_as_time: false, first_batch_max_lr: false };
}

/// How a forward pass treats the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardMode {
    /// Samples are independent (eval, prediction, and training without quirks).
    Independent,
    /// The reference's training quirk: the batch is the LSTM's time axis.
    BatchAsTime,
}

/// What a model reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputKind {
    /// One feature vector per utterance, `[N, D]`.
    Utterance,
    /// A sequence of frame vectors per utterance, `[N, T, D]` with a padding mask.
    Frames,
}

/// A batch of examples on a device.
#[derive(Debug, Clone)]
pub struct Batch<B: Backend> {
    /// `[N, T, D]`; T = 1 for utterance features. Right-padded with zeros.
    pub x: Tensor<B, 3>,
    /// `[N, T]`, 1 for real frames and 0 for padding.
    pub mask: Tensor<B, 2>,
    /// `[N]` class indices.
    pub labels: Tensor<B, 1, Int>,
}

impl<B: Backend> Batch<B> {
    /// Builds a batch from per-example frame matrices (`frames × dim`, row-major), padding to
    /// the longest.
    pub fn from_examples(examples: &[(&[f32], usize)], dim: usize, device: &Device<B>) -> Result<Self, SerError> {
        if examples.is_empty() {
            return Err(SerError::Data("empty batch".into()));
        }
        let max_t = examples.iter().map(|(v, _)| v.len() / dim.max(1)).max().unwrap_or(0).max(1);
        let n = examples.len();
        let mut x = vec![0f32; n * max_t * dim];
        let mut mask = vec![0f32; n * max_t];
        let mut labels = Vec::with_capacity(n);
        for (row, (values, label)) in examples.iter().enumerate() {
            if dim == 0 || values.len() % dim != 0 || values.is_empty() {
                return Err(SerError::Data(format!(
                    "example {row}: {} values is not a whole number of {dim}-d frames",
                    values.len()
                )));
            }
            let t = values.len() / dim;
            x[row * max_t * dim..row * max_t * dim + values.len()].copy_from_slice(values);
            mask[row * max_t..row * max_t + t].fill(1.0);
            labels.push(*label as i64);
        }
        Ok(Self {
            x: Tensor::from_data(TensorData::new(x, [n, max_t, dim]), device),
            mask: Tensor::from_data(TensorData::new(mask, [n, max_t]), device),
            labels: Tensor::from_data(TensorData::new(labels, [n]), device),
        })
    }
}

/// A classifier the trainer can drive.
pub trait EmotionModel<B: Backend>: Module<B> + Clone {
    /// Logits `[N, C]`.
    fn logits(&self, batch: &Batch<B>, mode: ForwardMode) -> Tensor<B, 2>;
    /// Which features it reads.
    fn input_kind(&self) -> InputKind;
    /// Feature dimension D.
    fn input_dim(&self) -> usize;
    /// Number of classes C.
    fn num_classes(&self) -> usize;
    /// Parameters under PyTorch state-dict names and layouts.
    fn to_state_dict(&self) -> Result<StateDict, SerError>;
}

/// Flattens `[N, 1, D]` utterance batches to `[N, D]`.
pub(crate) fn utterance_input<B: Backend>(batch: &Batch<B>) -> Tensor<B, 2> {
    let [n, t, d] = batch.x.dims();
    // Utterance models are only ever fed T = 1 (checked when data is matched to a model); if
    // frames did arrive, pool them rather than mix time into the batch axis.
    if t == 1 { batch.x.clone().reshape([n, d]) } else { masked_mean(batch.x.clone(), batch.mask.clone()) }
}

/// Mean over the real frames of `[N, T, D]` → `[N, D]`.
pub(crate) fn masked_mean<B: Backend>(x: Tensor<B, 3>, mask: Tensor<B, 2>) -> Tensor<B, 2> {
    let [n, _, d] = x.dims();
    let m = mask.unsqueeze_dim::<3>(2);
    let sum = (x * m.clone()).sum_dim(1).reshape([n, d]);
    let count = m.sum_dim(1).reshape([n, 1]).clamp_min(1.0);
    sum / count
}
