//! The reference `BaseModel` of `mser`: a two-layer perceptron on the utterance vector.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::relu;
use burn::tensor::backend::Backend;
use burn::tensor::{Device, Tensor};

use super::{Batch, EmotionModel, ForwardMode, InputKind, utterance_input};
use crate::SerError;
use crate::checkpoint::{StateDict, linear_names, put_linear, take_linear};

/// pre_net D→256 → ReLU → post_net 256→C; 198,920 parameters for D = 768, C = 8, and 82,184
/// for D = 312. No dropout, as the reference.
#[derive(Module, Debug)]
pub struct BaseModel<B: Backend> {
    /// D → 256.
    pub pre_net: Linear<B>,
    /// 256 → C.
    pub post_net: Linear<B>,
}

const HIDDEN: usize = 256;

/// What a [`BaseModel`] is built for (burn's idiom: `BaseModelConfig::new(312, 8).init(&device)`).
#[derive(Config, Debug)]
pub struct BaseModelConfig {
    /// Values per utterance vector.
    pub input_dim: usize,
    /// Output classes.
    pub num_classes: usize,
}

impl BaseModelConfig {
    /// A freshly initialised model (PyTorch's default ranges).
    pub fn init<B: Backend>(&self, device: &Device<B>) -> BaseModel<B> {
        BaseModel {
            pre_net: LinearConfig::new(self.input_dim, HIDDEN).init(device),
            post_net: LinearConfig::new(HIDDEN, self.num_classes).init(device),
        }
    }
}

impl<B: Backend> BaseModel<B> {
    /// Logits `[N, C]` for utterance vectors `[N, D]`.
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.post_net.forward(relu(self.pre_net.forward(x)))
    }

    /// State-dict names.
    pub fn state_dict_names() -> Vec<String> {
        let mut names = linear_names("pre_net").to_vec();
        names.extend(linear_names("post_net"));
        names
    }

    /// Builds the model from a reference state dict (`pre_net.*`, `post_net.*`).
    pub fn from_state_dict(dict: &StateDict, device: &Device<B>) -> Result<Self, SerError> {
        let pre = dict
            .tensors
            .get("pre_net.weight")
            .ok_or_else(|| SerError::Checkpoint("missing tensor pre_net.weight".into()))?;
        let post = dict
            .tensors
            .get("post_net.weight")
            .ok_or_else(|| SerError::Checkpoint("missing tensor post_net.weight".into()))?;
        let (Some(&d), Some(&c)) = (pre.shape.get(1), post.shape.first()) else {
            return Err(SerError::Checkpoint("pre_net.weight / post_net.weight must be 2-D".into()));
        };
        dict.check_no_extra(&Self::state_dict_names())?;
        let mut model = BaseModelConfig::new(d, c).init(device);
        take_linear(dict, "pre_net", &mut model.pre_net)?;
        take_linear(dict, "post_net", &mut model.post_net)?;
        Ok(model)
    }
}

impl<B: Backend> EmotionModel<B> for BaseModel<B> {
    fn logits(&self, batch: &Batch<B>, _mode: ForwardMode) -> Tensor<B, 2> {
        self.forward(utterance_input(batch))
    }

    fn input_kind(&self) -> InputKind {
        InputKind::Utterance
    }

    fn input_dim(&self) -> usize {
        self.pre_net.weight.dims()[0]
    }

    fn num_classes(&self) -> usize {
        self.post_net.weight.dims()[1]
    }

    fn to_state_dict(&self) -> Result<StateDict, SerError> {
        let mut dict = StateDict::default();
        put_linear(&mut dict, "pre_net", &self.pre_net)?;
        put_linear(&mut dict, "post_net", &self.post_net)?;
        Ok(dict)
    }
}
