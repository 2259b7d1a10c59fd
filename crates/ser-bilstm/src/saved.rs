//! A trained model on disk, and prediction from it.
//!
//! A model folder holds `model.json` ([`ModelSpec`]: architecture, features, classes, audio
//! preparation), `model.safetensors` (PyTorch-named weights) and `scaler.safetensors`
//! (`mean`, `scale`). The `train` example writes it; [`Predictor`] reads it.

use std::path::Path;

use burn::module::Module;
use burn::tensor::activation::softmax;
use burn::tensor::backend::Backend;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::checkpoint::StateDict;
use crate::data::features::{AudioPrep, FeatureKind, features_from_samples};
use crate::models::{Batch, EmotionModel, ForwardMode, InputKind};
use crate::{
    BaseModel, BaseModelConfig, BiLstmClassifier, BiLstmClassifierConfig, SerError, StandardScaler, TemporalBiLstm,
    TemporalConfig,
};
use numeric::argmax;

/// Which model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Architecture {
    /// [`BiLstmClassifier`]: the paper's model, one vector per utterance.
    Bilstm,
    /// [`BaseModel`]: the reference's two-layer baseline.
    Base,
    /// [`TemporalBiLstm`]: a BiLSTM over frames.
    Temporal,
}

impl Architecture {
    /// Parses `bilstm`, `base` or `temporal`.
    pub fn parse(s: &str) -> Result<Self, SerError> {
        match s {
            "bilstm" => Ok(Self::Bilstm),
            "base" => Ok(Self::Base),
            "temporal" => Ok(Self::Temporal),
            _ => Err(SerError::Config(format!("model {s:?}: expected bilstm, base or temporal"))),
        }
    }
}

/// `model.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// Which model the weights are for.
    pub architecture: Architecture,
    /// Which features it takes.
    pub features: FeatureKind,
    /// Values per feature vector (per frame for a temporal model).
    pub input_dim: usize,
    /// Class names, in label order.
    pub class_names: Vec<String>,
    /// How audio is prepared before features (crop, level normalisation).
    pub prep: AudioPrep,
    /// Sizes of a temporal model.
    pub temporal: Option<TemporalConfig>,
}

impl ModelSpec {
    /// Whether frame features are averaged into one vector before the model.
    pub fn pools_frames(&self) -> bool {
        self.architecture != Architecture::Temporal
    }
}

/// Any of the three models, behind one type.
// One model lives per predictor or training run, so the size spread between variants costs
// nothing; boxing would hide the parameters from burn's derive.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum AnyModel<B: Backend> {
    /// The paper's BiLSTM classifier.
    Bilstm(BiLstmClassifier<B>),
    /// The two-layer baseline.
    Base(BaseModel<B>),
    /// The frame-level BiLSTM.
    Temporal(TemporalBiLstm<B>),
}

impl<B: Backend> AnyModel<B> {
    /// A fresh model for `spec`.
    pub fn new(spec: &ModelSpec, device: &Device<B>) -> Self {
        let c = spec.class_names.len();
        match spec.architecture {
            Architecture::Bilstm => Self::Bilstm(BiLstmClassifierConfig::new(spec.input_dim, c).init(device)),
            Architecture::Base => Self::Base(BaseModelConfig::new(spec.input_dim, c).init(device)),
            Architecture::Temporal => {
                Self::Temporal(spec.temporal.unwrap_or(TemporalConfig::new(spec.input_dim, c)).init(device))
            }
        }
    }

    /// Loads weights for `spec` from a state dict, checking they fit it.
    pub fn from_state_dict(spec: &ModelSpec, dict: &StateDict, device: &Device<B>) -> Result<Self, SerError> {
        let model = match spec.architecture {
            Architecture::Bilstm => Self::Bilstm(BiLstmClassifier::from_state_dict(dict, device)?),
            Architecture::Base => Self::Base(BaseModel::from_state_dict(dict, device)?),
            Architecture::Temporal => {
                let cfg = spec.temporal.unwrap_or(TemporalConfig::new(spec.input_dim, spec.class_names.len()));
                Self::Temporal(TemporalBiLstm::from_state_dict(&cfg, dict, device)?)
            }
        };
        if model.input_dim() != spec.input_dim || model.num_classes() != spec.class_names.len() {
            return Err(SerError::Checkpoint(format!(
                "weights are {}-d → {} classes, model.json says {}-d → {}",
                model.input_dim(),
                model.num_classes(),
                spec.input_dim,
                spec.class_names.len()
            )));
        }
        Ok(model)
    }
}

impl<B: Backend> EmotionModel<B> for AnyModel<B> {
    fn logits(&self, batch: &Batch<B>, mode: ForwardMode) -> Tensor<B, 2> {
        match self {
            Self::Bilstm(m) => m.logits(batch, mode),
            Self::Base(m) => m.logits(batch, mode),
            Self::Temporal(m) => m.logits(batch, mode),
        }
    }

    fn input_kind(&self) -> InputKind {
        match self {
            Self::Bilstm(m) => m.input_kind(),
            Self::Base(m) => m.input_kind(),
            Self::Temporal(m) => m.input_kind(),
        }
    }

    fn input_dim(&self) -> usize {
        match self {
            Self::Bilstm(m) => m.input_dim(),
            Self::Base(m) => m.input_dim(),
            Self::Temporal(m) => m.input_dim(),
        }
    }

    fn num_classes(&self) -> usize {
        match self {
            Self::Bilstm(m) => m.num_classes(),
            Self::Base(m) => m.num_classes(),
            Self::Temporal(m) => m.num_classes(),
        }
    }

    fn to_state_dict(&self) -> Result<StateDict, SerError> {
        match self {
            Self::Bilstm(m) => m.to_state_dict(),
            Self::Base(m) => m.to_state_dict(),
            Self::Temporal(m) => m.to_state_dict(),
        }
    }
}

/// Writes a model folder.
pub fn save_model_dir<B: Backend, M: EmotionModel<B>>(
    dir: impl AsRef<Path>,
    spec: &ModelSpec,
    model: &M,
    scaler: &StandardScaler,
) -> Result<(), SerError> {
    let dir = dir.as_ref();
    std::fs::create_dir_all(dir).map_err(|e| SerError::io(dir, e))?;
    let json = serde_json::to_string_pretty(spec).map_err(|e| SerError::Config(e.to_string()))?;
    std::fs::write(dir.join("model.json"), json).map_err(|e| SerError::io(&dir.join("model.json"), e))?;
    model.to_state_dict()?.save(dir.join("model.safetensors"))?;
    scaler.save(dir.join("scaler.safetensors"))
}

/// One prediction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The most probable class.
    pub label: String,
    /// Probability of `label`.
    pub score: f32,
    /// Probability of every class, in class order.
    pub probs: Vec<f32>,
}

/// A loaded model folder, ready to classify audio.
#[derive(Debug)]
pub struct Predictor<B: Backend> {
    /// The folder's `model.json`.
    pub spec: ModelSpec,
    /// The weights.
    pub model: AnyModel<B>,
    /// The feature scaler fitted at training time.
    pub scaler: StandardScaler,
    device: Device<B>,
}

impl<B: Backend> Predictor<B> {
    /// Loads `model.json`, `model.safetensors` and `scaler.safetensors` from `dir`.
    pub fn load(dir: impl AsRef<Path>, device: &Device<B>) -> Result<Self, SerError> {
        let dir = dir.as_ref();
        let spec_path = dir.join("model.json");
        let text = std::fs::read_to_string(&spec_path).map_err(|e| SerError::io(&spec_path, e))?;
        let spec: ModelSpec =
            serde_json::from_str(&text).map_err(|e| SerError::Config(format!("{}: {e}", spec_path.display())))?;
        let model = AnyModel::from_state_dict(&spec, &StateDict::load(dir.join("model.safetensors"))?, device)?;
        let scaler = StandardScaler::load(dir.join("scaler.safetensors"))?;
        if scaler.dim() != spec.input_dim {
            return Err(SerError::Checkpoint(format!("scaler is {}-d, model {}-d", scaler.dim(), spec.input_dim)));
        }
        Ok(Self { spec, model, scaler, device: device.clone() })
    }

    /// Classifies 16 kHz mono samples (prepared as in training: crop, optional dB
    /// normalisation).
    pub fn predict_samples(&self, samples: &[f32]) -> Result<Prediction, SerError> {
        let samples = self.spec.prep.apply(samples.to_vec());
        let (mut values, frames) = features_from_samples(&samples, self.spec.features)?;
        let dim = self.spec.input_dim;
        if self.spec.pools_frames() && frames > 1 {
            let mut mean = vec![0f32; dim];
            for frame in values.chunks_exact(dim) {
                mean.iter_mut().zip(frame).for_each(|(m, v)| *m += v / frames as f32);
            }
            values = mean;
        }
        self.predict_features(values)
    }

    /// Classifies an audio file (any format audio-dsp decodes, any rate).
    pub fn predict_path(&self, path: impl AsRef<Path>) -> Result<Prediction, SerError> {
        let audio = audio_dsp::decode_path(path.as_ref())?;
        let samples = audio_dsp::resample(&audio.samples, audio.sample_rate, audio_dsp::TARGET_SAMPLE_RATE)?;
        self.predict_samples(&samples)
    }

    /// Classifies raw (unscaled) features: `dim` values, or `T × dim` frames for a temporal model.
    pub fn predict_features(&self, mut values: Vec<f32>) -> Result<Prediction, SerError> {
        self.scaler.transform_in_place(&mut values)?;
        let batch = Batch::from_examples(&[(&values, 0)], self.spec.input_dim, &self.device)?;
        let probs = softmax(self.model.logits(&batch, ForwardMode::Independent), 1);
        let probs = probs.into_data().to_vec::<f32>().map_err(|e| SerError::Data(format!("{e:?}")))?;
        let best = argmax(&probs);
        let label = self.spec.class_names.get(best).cloned().unwrap_or_else(|| best.to_string());
        Ok(Prediction { label, score: probs[best], probs })
    }
}
