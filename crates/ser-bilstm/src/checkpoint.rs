//! PyTorch-named state dicts in safetensors files: the exchange format with the reference.
//!
//! Names and layouts are PyTorch's (`fc0.weight [out, in]`, `lstm.weight_ih_l0 [4H, in]`,
//! `lstm.weight_hh_l0_reverse`, …), so a `torch.save`d `mser` model converted with
//! `safetensors.torch.save_file(model.state_dict(), …)` loads as is, and what we export loads
//! back into PyTorch with `load_state_dict`. burn stores Linear weights as `[in, out]`; the
//! transposes happen here and nowhere else.

use std::collections::BTreeMap;
use std::path::Path;

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::backend::Backend;
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::tensor::{Dtype, TensorView};

use crate::SerError;
use crate::lstm::FusedLstm;

/// One tensor: shape and row-major f32 values.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Row-major values (`shape`'s product of them).
    pub values: Vec<f32>,
}

/// Tensors by PyTorch state-dict name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateDict {
    /// Every tensor, by its PyTorch name (`fc0.weight`, `lstm.weight_ih_l0_reverse`, …).
    pub tensors: BTreeMap<String, NamedTensor>,
}

impl StateDict {
    /// Parses safetensors bytes. F32, F64, F16 and BF16 tensors are read (as f32); any other
    /// dtype is an error naming the tensor.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self, SerError> {
        let st = safetensors::SafeTensors::deserialize(bytes)
            .map_err(|e| SerError::Checkpoint(format!("not a safetensors file: {e}")))?;
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            let data = view.data();
            let values: Vec<f32> = match view.dtype() {
                Dtype::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
                Dtype::F64 => data
                    .chunks_exact(8)
                    .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32)
                    .collect(),
                Dtype::F16 => data.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
                Dtype::BF16 => data.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
                other => {
                    return Err(SerError::Checkpoint(format!("tensor {name}: dtype {other:?} is not a float type")));
                }
            };
            tensors.insert(name, NamedTensor { shape: view.shape().to_vec(), values });
        }
        Ok(Self { tensors })
    }

    /// Reads a safetensors file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, SerError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| SerError::io(path, e))?;
        Self::from_safetensors(&bytes).map_err(|e| SerError::Checkpoint(format!("{}: {e}", path.display())))
    }

    /// Serializes to safetensors (all f32), with optional string metadata.
    pub fn to_safetensors(
        &self,
        metadata: Option<std::collections::HashMap<String, String>>,
    ) -> Result<Vec<u8>, SerError> {
        let bytes: Vec<(&String, Vec<u8>, &Vec<usize>)> = self
            .tensors
            .iter()
            .map(|(name, t)| (name, t.values.iter().flat_map(|v| v.to_le_bytes()).collect(), &t.shape))
            .collect();
        let views = bytes
            .iter()
            .map(|(name, data, shape)| {
                TensorView::new(Dtype::F32, shape.to_vec(), data)
                    .map(|v| (name.to_string(), v))
                    .map_err(|e| SerError::Checkpoint(format!("tensor {name}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        safetensors::serialize(views, metadata).map_err(|e| SerError::Checkpoint(e.to_string()))
    }

    /// Writes a safetensors file.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), SerError> {
        let path = path.as_ref();
        let bytes = self.to_safetensors(None)?;
        std::fs::write(path, bytes).map_err(|e| SerError::io(path, e))
    }

    /// The tensor `name`, which must have exactly `shape`.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<&NamedTensor, SerError> {
        let t = self.tensors.get(name).ok_or_else(|| SerError::Checkpoint(format!("missing tensor {name}")))?;
        if t.shape != shape {
            return Err(SerError::Checkpoint(format!("tensor {name}: shape {:?}, expected {shape:?}", t.shape)));
        }
        Ok(t)
    }

    /// Inserts a tensor read back from a burn tensor.
    pub fn insert<B: Backend, const D: usize>(&mut self, name: &str, tensor: Tensor<B, D>) -> Result<(), SerError> {
        let shape = tensor.dims().to_vec();
        let values =
            tensor.into_data().to_vec::<f32>().map_err(|e| SerError::Checkpoint(format!("tensor {name}: {e:?}")))?;
        self.tensors.insert(name.to_string(), NamedTensor { shape, values });
        Ok(())
    }

    /// Fails when the dict holds names that `expected` does not list, so a checkpoint of a
    /// different model is never half-loaded silently.
    pub fn check_no_extra(&self, expected: &[String]) -> Result<(), SerError> {
        let extra: Vec<&String> = self.tensors.keys().filter(|k| !expected.contains(k)).collect();
        if extra.is_empty() { Ok(()) } else { Err(SerError::Checkpoint(format!("unexpected tensors {extra:?}"))) }
    }

    /// Sum of all tensor sizes.
    pub fn num_values(&self) -> usize {
        self.tensors.values().map(|t| t.values.len()).sum()
    }
}

fn tensor2<B: Backend>(t: &NamedTensor, device: &Device<B>) -> Tensor<B, 2> {
    Tensor::from_data(TensorData::new(t.values.clone(), [t.shape[0], t.shape[1]]), device)
}

fn tensor1<B: Backend>(t: &NamedTensor, device: &Device<B>) -> Tensor<B, 1> {
    Tensor::from_data(TensorData::new(t.values.clone(), [t.shape[0]]), device)
}

/// Writes `prefix.weight [out, in]` and `prefix.bias [out]`.
pub(crate) fn put_linear<B: Backend>(dict: &mut StateDict, prefix: &str, linear: &Linear<B>) -> Result<(), SerError> {
    dict.insert(&format!("{prefix}.weight"), linear.weight.val().transpose())?;
    if let Some(bias) = &linear.bias {
        dict.insert(&format!("{prefix}.bias"), bias.val())?;
    }
    Ok(())
}

/// Loads `prefix.weight [d_out, d_in]` and `prefix.bias [d_out]` into `linear`.
pub(crate) fn take_linear<B: Backend>(dict: &StateDict, prefix: &str, linear: &mut Linear<B>) -> Result<(), SerError> {
    let [d_in, d_out] = linear.weight.dims();
    let device = linear.weight.device();
    let w = dict.get(&format!("{prefix}.weight"), &[d_out, d_in])?;
    linear.weight = Param::from_tensor(tensor2::<B>(w, &device).transpose());
    let b = dict.get(&format!("{prefix}.bias"), &[d_out])?;
    linear.bias = Some(Param::from_tensor(tensor1::<B>(b, &device)));
    Ok(())
}

pub(crate) fn linear_names(prefix: &str) -> [String; 2] {
    [format!("{prefix}.weight"), format!("{prefix}.bias")]
}

fn lstm_suffix<B: Backend>(lstm: &FusedLstm<B>) -> &'static str {
    if lstm.is_reverse() { "_reverse" } else { "" }
}

/// Writes `{prefix}.weight_ih_l0[_reverse]` etc. in PyTorch layout.
pub(crate) fn put_lstm<B: Backend>(dict: &mut StateDict, prefix: &str, lstm: &FusedLstm<B>) -> Result<(), SerError> {
    let sfx = lstm_suffix(lstm);
    dict.insert(&format!("{prefix}.weight_ih_l0{sfx}"), lstm.w_ih.val().transpose())?;
    dict.insert(&format!("{prefix}.weight_hh_l0{sfx}"), lstm.w_hh.val().transpose())?;
    dict.insert(&format!("{prefix}.bias_ih_l0{sfx}"), lstm.b_ih.val())?;
    dict.insert(&format!("{prefix}.bias_hh_l0{sfx}"), lstm.b_hh.val())?;
    Ok(())
}

/// Loads one direction from PyTorch layout.
pub(crate) fn take_lstm<B: Backend>(dict: &StateDict, prefix: &str, lstm: &mut FusedLstm<B>) -> Result<(), SerError> {
    let sfx = lstm_suffix(lstm);
    let [d_in, four_h] = lstm.w_ih.dims();
    let h = lstm.hidden();
    let device = lstm.w_ih.device();
    let w_ih = dict.get(&format!("{prefix}.weight_ih_l0{sfx}"), &[four_h, d_in])?;
    let w_hh = dict.get(&format!("{prefix}.weight_hh_l0{sfx}"), &[four_h, h])?;
    let b_ih = dict.get(&format!("{prefix}.bias_ih_l0{sfx}"), &[four_h])?;
    let b_hh = dict.get(&format!("{prefix}.bias_hh_l0{sfx}"), &[four_h])?;
    lstm.w_ih = Param::from_tensor(tensor2::<B>(w_ih, &device).transpose());
    lstm.w_hh = Param::from_tensor(tensor2::<B>(w_hh, &device).transpose());
    lstm.b_ih = Param::from_tensor(tensor1::<B>(b_ih, &device));
    lstm.b_hh = Param::from_tensor(tensor1::<B>(b_hh, &device));
    Ok(())
}

pub(crate) fn lstm_names(prefix: &str) -> Vec<String> {
    ["", "_reverse"]
        .iter()
        .flat_map(|sfx| {
            ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"].map(|n| format!("{prefix}.{n}{sfx}"))
        })
        .collect()
}
