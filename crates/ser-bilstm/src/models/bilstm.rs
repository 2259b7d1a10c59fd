//! The reference `BiLSTM` of `mser` (Table 1's "BiLSTM"), layer for layer.

use burn::config::Config;
use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig, Linear, LinearConfig};
use burn::tensor::activation::{relu, tanh};
use burn::tensor::backend::Backend;
use burn::tensor::{Device, Tensor};

use super::{Batch, EmotionModel, ForwardMode, InputKind, utterance_input};
use crate::SerError;
use crate::checkpoint::{StateDict, linear_names, lstm_names, put_linear, put_lstm, take_linear, take_lstm};
use crate::lstm::FusedBiLstm;

/// fc0 D→512 → BiLSTM (256 per direction) → tanh → dropout 0.5 → fc1 512→256 → ReLU →
/// fc2 256→C. 2,104,072 parameters for D = 768, C = 8; 1,870,600 for D = 312.
///
/// The input is one vector per utterance, so in [`ForwardMode::Independent`] the LSTM sees
/// sequences of length 1 (its recurrent weights never act). [`ForwardMode::BatchAsTime`]
/// reproduces the reference's training behaviour (see [`crate::ReferenceQuirks`]).
#[derive(Module, Debug)]
pub struct BiLstmClassifier<B: Backend> {
    /// D → 512 input projection.
    pub fc0: Linear<B>,
    /// Bidirectional LSTM, 256 units per direction.
    pub lstm: FusedBiLstm<B>,
    /// Dropout after the LSTM (0.5, training only).
    pub dropout: Dropout,
    /// 512 → 256.
    pub fc1: Linear<B>,
    /// 256 → C classes.
    pub fc2: Linear<B>,
}

const FC0_OUT: usize = 512;
const LSTM_HIDDEN: usize = 256;
const FC1_OUT: usize = 256;

/// What a [`BiLstmClassifier`] is built for (burn's idiom:
/// `BiLstmClassifierConfig::new(312, 8).init(&device)`); its layer sizes are the reference's.
#[derive(Config, Debug)]
pub struct BiLstmClassifierConfig {
    /// Values per utterance vector.
    pub input_dim: usize,
    /// Output classes.
    pub num_classes: usize,
}

impl BiLstmClassifierConfig {
    /// A freshly initialised model (PyTorch's default ranges).
    pub fn init<B: Backend>(&self, device: &Device<B>) -> BiLstmClassifier<B> {
        BiLstmClassifier {
            fc0: LinearConfig::new(self.input_dim, FC0_OUT).init(device),
            lstm: FusedBiLstm::new(FC0_OUT, LSTM_HIDDEN, device),
            dropout: DropoutConfig::new(0.5).init(),
            fc1: LinearConfig::new(2 * LSTM_HIDDEN, FC1_OUT).init(device),
            fc2: LinearConfig::new(FC1_OUT, self.num_classes).init(device),
        }
    }
}

impl<B: Backend> BiLstmClassifier<B> {
    /// Logits `[N, C]` for utterance vectors `[N, D]`.
    pub fn forward(&self, x: Tensor<B, 2>, mode: ForwardMode) -> Tensor<B, 2> {
        let [n, _] = x.dims();
        let a = self.fc0.forward(x);
        let seq = match mode {
            ForwardMode::Independent => a.reshape([n, 1, FC0_OUT]),
            ForwardMode::BatchAsTime => a.reshape([1, n, FC0_OUT]),
        };
        let y = self.lstm.forward(seq, None).reshape([n, 2 * LSTM_HIDDEN]);
        let y = self.dropout.forward(tanh(y));
        self.fc2.forward(relu(self.fc1.forward(y)))
    }

    /// State-dict names, in the reference's order.
    pub fn state_dict_names() -> Vec<String> {
        let mut names = linear_names("fc0").to_vec();
        names.extend(lstm_names("lstm"));
        names.extend(linear_names("fc1"));
        names.extend(linear_names("fc2"));
        names
    }

    /// Builds the model from a reference state dict (`fc0.*`, `lstm.*_l0[_reverse]`, `fc1.*`,
    /// `fc2.*`); D and C are read from the shapes.
    pub fn from_state_dict(dict: &StateDict, device: &Device<B>) -> Result<Self, SerError> {
        let fc0 =
            dict.tensors.get("fc0.weight").ok_or_else(|| SerError::Checkpoint("missing tensor fc0.weight".into()))?;
        let fc2 =
            dict.tensors.get("fc2.weight").ok_or_else(|| SerError::Checkpoint("missing tensor fc2.weight".into()))?;
        let (Some(&d), Some(&c)) = (fc0.shape.get(1), fc2.shape.first()) else {
            return Err(SerError::Checkpoint("fc0.weight / fc2.weight must be 2-D".into()));
        };
        dict.check_no_extra(&Self::state_dict_names())?;
        let mut model = BiLstmClassifierConfig::new(d, c).init(device);
        take_linear(dict, "fc0", &mut model.fc0)?;
        take_lstm(dict, "lstm", &mut model.lstm.forward)?;
        take_lstm(dict, "lstm", &mut model.lstm.reverse)?;
        take_linear(dict, "fc1", &mut model.fc1)?;
        take_linear(dict, "fc2", &mut model.fc2)?;
        Ok(model)
    }
}

impl<B: Backend> EmotionModel<B> for BiLstmClassifier<B> {
    fn logits(&self, batch: &Batch<B>, mode: ForwardMode) -> Tensor<B, 2> {
        self.forward(utterance_input(batch), mode)
    }

    fn input_kind(&self) -> InputKind {
        InputKind::Utterance
    }

    fn input_dim(&self) -> usize {
        self.fc0.weight.dims()[0]
    }

    fn num_classes(&self) -> usize {
        self.fc2.weight.dims()[1]
    }

    fn to_state_dict(&self) -> Result<StateDict, SerError> {
        let mut dict = StateDict::default();
        put_linear(&mut dict, "fc0", &self.fc0)?;
        put_lstm(&mut dict, "lstm", &self.lstm.forward)?;
        put_lstm(&mut dict, "lstm", &self.lstm.reverse)?;
        put_linear(&mut dict, "fc1", &self.fc1)?;
        put_linear(&mut dict, "fc2", &self.fc2)?;
        Ok(dict)
    }
}
