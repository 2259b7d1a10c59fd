//! A BiLSTM that actually reads time: frame features in, masked recurrence, mean + attention
//! pooling out.
//!
//! The reference model receives one vector per utterance (the frames were averaged before it
//! sees them), so its LSTM has no time axis to model. This one takes the frame sequence
//! (log-mel or Emotion2Vec frames, 50–100 Hz) and pools only after the recurrence, which is
//! where prosody — pitch movement, rate, pauses — lives.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::{relu, softmax, tanh};
use burn::tensor::backend::Backend;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::{Batch, EmotionModel, ForwardMode, InputKind, masked_mean};
use crate::SerError;
use crate::checkpoint::{StateDict, linear_names, lstm_names, put_linear, put_lstm, take_linear, take_lstm};
use crate::lstm::FusedBiLstm;

/// Sizes of a [`TemporalBiLstm`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TemporalConfig {
    /// Frame feature dimension (64 for log-mel, 768 for Emotion2Vec frames).
    pub input_dim: usize,
    /// Output classes.
    pub num_classes: usize,
    /// Width of the per-frame input projection.
    pub projection: usize,
    /// LSTM hidden size per direction.
    pub hidden: usize,
    /// Width of the attention scorer's hidden layer.
    pub attention: usize,
    /// Dropout before the LSTM and before the head.
    pub dropout: f64,
}

impl TemporalConfig {
    /// Defaults: projection 128, 128 per direction, attention 64, dropout 0.3.
    pub fn new(input_dim: usize, num_classes: usize) -> Self {
        Self { input_dim, num_classes, projection: 128, hidden: 128, attention: 64, dropout: 0.3 }
    }
}

/// proj D→P + ReLU → BiLSTM (H per direction, masked) → [masked mean ‖ attention pooling]
/// → fc1 4H→H + ReLU → fc2 H→C.
#[derive(Module, Debug)]
pub struct TemporalBiLstm<B: Backend> {
    /// Per-frame projection D → P.
    pub input: Linear<B>,
    /// Masked bidirectional LSTM, H per direction.
    pub lstm: FusedBiLstm<B>,
    /// Attention scorer's hidden layer 2H → A.
    pub attention_hidden: Linear<B>,
    /// Attention scorer's output A → 1 (one score per frame).
    pub attention_score: Linear<B>,
    /// Dropout before the LSTM and before the head.
    pub dropout: Dropout,
    /// Head 4H → H (mean and attention pooling concatenated).
    pub fc1: Linear<B>,
    /// Head H → C.
    pub fc2: Linear<B>,
}

impl TemporalConfig {
    /// A freshly initialised model of these sizes (burn's idiom:
    /// `TemporalConfig::new(64, 8).init(&device)`).
    pub fn init<B: Backend>(&self, device: &Device<B>) -> TemporalBiLstm<B> {
        let config = self;
        let h2 = 2 * config.hidden;
        TemporalBiLstm {
            input: LinearConfig::new(config.input_dim, config.projection).init(device),
            lstm: FusedBiLstm::new(config.projection, config.hidden, device),
            attention_hidden: LinearConfig::new(h2, config.attention).init(device),
            attention_score: LinearConfig::new(config.attention, 1).init(device),
            dropout: DropoutConfig::new(config.dropout).init(),
            fc1: LinearConfig::new(2 * h2, config.hidden).init(device),
            fc2: LinearConfig::new(config.hidden, config.num_classes).init(device),
        }
    }
}

impl<B: Backend> TemporalBiLstm<B> {
    /// The sizes this model was built with.
    pub fn config(&self) -> TemporalConfig {
        let [input_dim, projection] = self.input.weight.dims();
        let [attention_in, attention] = self.attention_hidden.weight.dims();
        TemporalConfig {
            input_dim,
            num_classes: self.fc2.weight.dims()[1],
            projection,
            hidden: attention_in / 2,
            attention,
            dropout: self.dropout.prob,
        }
    }

    /// Logits `[N, C]` for frames `[N, T, D]` with mask `[N, T]` (1 = real frame).
    pub fn forward(&self, x: Tensor<B, 3>, mask: Tensor<B, 2>) -> Tensor<B, 2> {
        let [n, t, _] = x.dims();
        let p = self.dropout.forward(relu(self.input.forward(x)));
        let y = self.lstm.forward(p, Some(mask.clone())); // [N, T, 2H]
        let mean = masked_mean(y.clone(), mask.clone());
        // Attention weights over real frames only: padded frames get −1e9 before the softmax.
        let scores = self.attention_score.forward(tanh(self.attention_hidden.forward(y.clone()))).reshape([n, t]);
        let scores = scores * mask.clone() + (mask.neg() + 1.0) * -1e9;
        let weights = softmax(scores, 1).unsqueeze_dim::<3>(2); // [N, T, 1]
        let h2 = y.dims()[2];
        let attended = (y * weights).sum_dim(1).reshape([n, h2]);
        let pooled = self.dropout.forward(Tensor::cat(vec![mean, attended], 1));
        self.fc2.forward(relu(self.fc1.forward(pooled)))
    }

    /// State-dict names (PyTorch conventions, for exchange with a PyTorch port).
    pub fn state_dict_names() -> Vec<String> {
        let mut names = linear_names("input").to_vec();
        names.extend(lstm_names("lstm"));
        for prefix in ["attention_hidden", "attention_score", "fc1", "fc2"] {
            names.extend(linear_names(prefix));
        }
        names
    }

    /// Builds the model from a state dict written by [`EmotionModel::to_state_dict`].
    pub fn from_state_dict(config: &TemporalConfig, dict: &StateDict, device: &Device<B>) -> Result<Self, SerError> {
        dict.check_no_extra(&Self::state_dict_names())?;
        let mut model = config.init(device);
        take_linear(dict, "input", &mut model.input)?;
        take_lstm(dict, "lstm", &mut model.lstm.forward)?;
        take_lstm(dict, "lstm", &mut model.lstm.reverse)?;
        take_linear(dict, "attention_hidden", &mut model.attention_hidden)?;
        take_linear(dict, "attention_score", &mut model.attention_score)?;
        take_linear(dict, "fc1", &mut model.fc1)?;
        take_linear(dict, "fc2", &mut model.fc2)?;
        Ok(model)
    }
}

impl<B: Backend> EmotionModel<B> for TemporalBiLstm<B> {
    fn logits(&self, batch: &Batch<B>, _mode: ForwardMode) -> Tensor<B, 2> {
        self.forward(batch.x.clone(), batch.mask.clone())
    }

    fn input_kind(&self) -> InputKind {
        InputKind::Frames
    }

    fn input_dim(&self) -> usize {
        self.input.weight.dims()[0]
    }

    fn num_classes(&self) -> usize {
        self.fc2.weight.dims()[1]
    }

    fn to_state_dict(&self) -> Result<StateDict, SerError> {
        let mut dict = StateDict::default();
        put_linear(&mut dict, "input", &self.input)?;
        put_lstm(&mut dict, "lstm", &self.lstm.forward)?;
        put_lstm(&mut dict, "lstm", &self.lstm.reverse)?;
        put_linear(&mut dict, "attention_hidden", &self.attention_hidden)?;
        put_linear(&mut dict, "attention_score", &self.attention_score)?;
        put_linear(&mut dict, "fc1", &self.fc1)?;
        put_linear(&mut dict, "fc2", &self.fc2)?;
        Ok(dict)
    }
}
