//! Audio → feature vectors, and the in-memory feature set the trainer reads.

use std::path::Path;

use rayon::prelude::*;

use super::Utterance;
use crate::{SerError, StandardScaler};
use audio_dsp::TARGET_SAMPLE_RATE;
use audio_dsp::features::{CUSTOM_FEATURE_LEN, custom_feature, log_mel};

/// Which features an utterance becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeatureKind {
    /// The reference's 312-d librosa "CustomFeature", one vector per utterance.
    Custom,
    /// 64-band log-mel frames every 20 ms (audio-dsp's 10 ms frames averaged in pairs, the
    /// frame rate of Emotion2Vec).
    LogMel,
    /// Emotion2Vec 768-d features read from `.npy` files (`[768]` per utterance or `[T, 768]`
    /// frames), produced by the user with FunASR `iic/emotion2vec_base`.
    E2v,
}

impl FeatureKind {
    /// Parses `custom`, `logmel` or `e2v`.
    pub fn parse(s: &str) -> Result<Self, SerError> {
        match s {
            "custom" => Ok(Self::Custom),
            "logmel" => Ok(Self::LogMel),
            "e2v" => Ok(Self::E2v),
            _ => Err(SerError::Config(format!("features {s:?}: expected custom, logmel or e2v"))),
        }
    }

    /// Values per frame.
    pub fn dim(self) -> usize {
        match self {
            Self::Custom => CUSTOM_FEATURE_LEN,
            Self::LogMel => 64,
            Self::E2v => 768,
        }
    }
}

/// Audio preparation before features, as the reference's reader.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AudioPrep {
    /// Keep only the first this-many seconds (the reference's eval crop; 3 s in the run behind
    /// Table 1). `None` keeps everything.
    pub max_seconds: Option<f64>,
    /// Scale to −20 dB mean power first (the reference's `use_dB_normalization`; off in the
    /// Table-1 run).
    pub db_normalize: bool,
}

impl Default for AudioPrep {
    fn default() -> Self {
        Self { max_seconds: Some(3.0), db_normalize: false }
    }
}

impl AudioPrep {
    /// Applies crop and normalisation to 16 kHz samples.
    pub fn apply(&self, mut samples: Vec<f32>) -> Vec<f32> {
        if self.db_normalize {
            let power = samples.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / samples.len().max(1) as f64;
            if power > 0.0 {
                let gain_db = (-20.0 - 10.0 * power.log10()).min(300.0);
                let gain = 10f64.powf(gain_db / 20.0) as f32;
                samples.iter_mut().for_each(|v| *v *= gain);
            }
        }
        if let Some(max) = self.max_seconds {
            samples.truncate((max * TARGET_SAMPLE_RATE as f64).round() as usize);
        }
        samples
    }
}

/// One example: `frames × dim` values, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// `frames × dim` feature values, row-major.
    pub values: Vec<f32>,
    /// Rows of `values` (1 for an utterance-level feature).
    pub frames: usize,
    /// Class index (RAVDESS emotion code − 1 for RAVDESS data).
    pub label: usize,
    /// Speaker id, for speaker-independent splits.
    pub speaker: String,
    /// Where it came from (file path or a generated name).
    pub source: String,
}

/// Features for 16 kHz mono samples: `(values, frames)`.
pub fn features_from_samples(samples: &[f32], kind: FeatureKind) -> Result<(Vec<f32>, usize), SerError> {
    match kind {
        FeatureKind::Custom => Ok((custom_feature(samples, TARGET_SAMPLE_RATE)?.to_vec(), 1)),
        FeatureKind::LogMel => {
            let m = log_mel(samples, TARGET_SAMPLE_RATE)?; // [64, T] at 10 ms
            let [bands, frames] = m.shape();
            let pooled = frames.div_ceil(2);
            let mut out = vec![0f32; pooled * bands];
            for t in 0..pooled {
                let (a, b) = (2 * t, (2 * t + 1).min(frames - 1));
                for k in 0..bands {
                    out[t * bands + k] = 0.5 * (m.get(k, a) + m.get(k, b));
                }
            }
            Ok((out, pooled))
        }
        FeatureKind::E2v => Err(SerError::Config(
            "Emotion2Vec features are read from .npy files (FunASR iic/emotion2vec_base); they are not computed here"
                .into(),
        )),
    }
}

/// Reads a `[D]` or `[T, D]` f32/f64 `.npy`.
fn read_npy(path: &Path, dim: usize) -> Result<(Vec<f32>, usize), SerError> {
    let bytes = std::fs::read(path).map_err(|e| SerError::io(path, e))?;
    let bad = |reason: String| SerError::Data(format!("{}: {reason}", path.display()));
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(|e| bad(format!("not a .npy file: {e}")))?;
    let shape: Vec<u64> = npy.shape().to_vec();
    // The header's shape sizes the output vector: check it against the bytes actually present
    // before reading, so a lying header is an error rather than a huge allocation.
    let n_values = shape.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d));
    let item_bytes = match npy.dtype() {
        npyz::DType::Plain(t) => t.size_field(),
        _ => 1,
    };
    if n_values.and_then(|n| n.checked_mul(item_bytes)).is_none_or(|need| need > bytes.len() as u64) {
        return Err(bad(format!("shape {shape:?} needs more data than the file's {} bytes", bytes.len())));
    }
    let values: Vec<f32> = match npy.dtype() {
        npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Float && t.size_field() == 4 => {
            npy.into_vec::<f32>().map_err(|e| bad(e.to_string()))?
        }
        npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Float && t.size_field() == 8 => {
            npy.into_vec::<f64>().map_err(|e| bad(e.to_string()))?.into_iter().map(|v| v as f32).collect()
        }
        other => return Err(bad(format!("dtype {other:?}, expected f32 or f64"))),
    };
    let frames = match shape.as_slice() {
        [d] if *d as usize == dim => 1,
        [1, d] if *d as usize == dim => 1,
        [t, d] if *d as usize == dim && *t > 0 => *t as usize,
        _ => return Err(bad(format!("shape {shape:?}, expected [{dim}] or [T, {dim}]"))),
    };
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(bad(format!("value {i} is not finite")));
    }
    Ok((values, frames))
}

/// Loads one utterance's features: `.npy` files are read, anything else is decoded, resampled
/// to 16 kHz, prepared and featurised.
pub fn load_example(utt: &Utterance, kind: FeatureKind, prep: &AudioPrep) -> Result<Example, SerError> {
    let is_npy = utt.path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    let (values, frames) = if is_npy {
        read_npy(&utt.path, kind.dim())?
    } else {
        let audio = audio_dsp::decode_path(&utt.path)?;
        let samples = audio_dsp::resample(&audio.samples, audio.sample_rate, TARGET_SAMPLE_RATE)?;
        features_from_samples(&prep.apply(samples), kind)
            .map_err(|e| SerError::Data(format!("{}: {e}", utt.path.display())))?
    };
    Ok(Example {
        values,
        frames,
        label: utt.label,
        speaker: utt.speaker.clone(),
        source: utt.path.display().to_string(),
    })
}

/// Examples with a common frame dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSet {
    /// Values per frame, shared by every example.
    pub dim: usize,
    /// The examples.
    pub examples: Vec<Example>,
}

impl FeatureSet {
    /// Loads every utterance (in parallel); the first failure is returned.
    pub fn load(utterances: &[Utterance], kind: FeatureKind, prep: &AudioPrep) -> Result<Self, SerError> {
        let examples = utterances.par_iter().map(|u| load_example(u, kind, prep)).collect::<Result<Vec<_>, _>>()?;
        Ok(Self { dim: kind.dim(), examples })
    }

    /// Whether every example is a single vector.
    pub fn is_utterance_level(&self) -> bool {
        self.examples.iter().all(|e| e.frames == 1)
    }

    /// Each example's frames averaged into one vector (for utterance-level models).
    pub fn pooled(&self) -> Self {
        let dim = self.dim;
        let examples = self
            .examples
            .iter()
            .map(|e| {
                let mut mean = vec![0f32; dim];
                for frame in e.values.chunks_exact(dim) {
                    mean.iter_mut().zip(frame).for_each(|(m, v)| *m += v);
                }
                mean.iter_mut().for_each(|m| *m /= e.frames.max(1) as f32);
                Example { values: mean, frames: 1, ..e.clone() }
            })
            .collect();
        Self { dim, examples }
    }

    /// The examples at `indices`.
    pub fn subset(&self, indices: &[usize]) -> Self {
        Self { dim: self.dim, examples: indices.iter().filter_map(|&i| self.examples.get(i).cloned()).collect() }
    }

    /// Fits a scaler on every frame of every example.
    pub fn fit_scaler(&self) -> Result<StandardScaler, SerError> {
        StandardScaler::fit(self.examples.iter().flat_map(|e| e.values.chunks_exact(self.dim)), self.dim)
    }

    /// Standardises every example in place.
    pub fn standardize(&mut self, scaler: &StandardScaler) -> Result<(), SerError> {
        if scaler.dim() != self.dim {
            return Err(SerError::Data(format!("scaler has {} dimensions, features {}", scaler.dim(), self.dim)));
        }
        self.examples.iter_mut().try_for_each(|e| scaler.transform_in_place(&mut e.values))
    }

    /// Largest class index + 1.
    pub fn num_classes(&self) -> usize {
        self.examples.iter().map(|e| e.label + 1).max().unwrap_or(0)
    }
}
