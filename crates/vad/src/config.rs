//! Detector settings.

use crate::VadError;
use serde::{Deserialize, Serialize};

/// How a frame's score is computed and compared.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Method {
    /// The paper's rule (eqs. 4–6): frame energy `10·log10(mean x²)` in dBFS above a fixed
    /// threshold. Score = energy in dBFS.
    FixedEnergy {
        /// Speech when the frame energy is above this, dBFS.
        threshold_db: f64,
    },
    /// Frame energy above an adaptive noise floor (the quietest recent frames) plus a margin.
    /// Score = dB above the floor.
    AdaptiveEnergy {
        /// Speech when the energy is this far above the noise floor, dB.
        margin_db: f64,
    },
    /// Mean sub-band SNR: the spectrum is split into mel-spaced bands between 100 Hz and
    /// 6 kHz, each with its own adaptive noise floor; the score is the average of the bands'
    /// positive SNRs in dB. Coloured (e.g. pink) noise raises only the bands it occupies, so
    /// this is far more robust than full-band energy. Still an energy detector, per band. A
    /// run of active frames only counts as speech if some frame of it is "voiced" (the bands
    /// below 1 kHz at least 3 dB above those above it), which rejects breaths and hiss.
    SubbandSnr {
        /// Speech when the mean band SNR is above this, dB.
        threshold_db: f64,
    },
}

impl Default for Method {
    fn default() -> Self {
        Method::SubbandSnr { threshold_db: 3.7 }
    }
}

/// Voice activity detector configuration. Times are in milliseconds so any sample rate works.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VadConfig {
    /// How a frame is scored and thresholded.
    pub method: Method,
    /// Analysis window length (10, 20, 30 ms... any length ≥ the hop).
    pub frame_ms: f64,
    /// Decision grid: one decision per hop, frame `i` covering `[i·hop, (i+1)·hop)` with its
    /// analysis window centred on that cell.
    pub hop_ms: f64,
    /// Hysteresis: once speech has started it continues while the score stays above
    /// `threshold − hysteresis_db`.
    pub hysteresis_db: f64,
    /// Speech is held at least this long after the score falls. 0 by default: the ±30 ms score
    /// smoothing already spans short dips and in clean audio a hold swallows the breath after a
    /// phrase; the sub-band method adds a 60 ms hold by itself where the noise floor is above
    /// −50 dBFS, since noise masks the decaying ends of words.
    pub hangover_ms: f64,
    /// Speech runs shorter than this are dropped (clicks, bumps).
    pub min_speech_ms: f64,
    /// Silences shorter than this between speech runs are filled.
    pub min_silence_ms: f64,
    /// Noise floors are tracked over this much past audio...
    pub noise_window_past_ms: f64,
    /// ...and this much future audio (the detector's look-ahead latency).
    pub noise_window_future_ms: f64,
    /// Optional zero-crossing-rate rule for unvoiced onsets: a frame just before speech whose
    /// ZCR exceeds this (crossings per sample) and whose energy is within 10 dB of the
    /// threshold is marked speech. `None` disables it.
    pub zcr_onset: Option<f64>,
}

impl Default for VadConfig {
    fn default() -> Self {
        Self {
            method: Method::default(),
            frame_ms: 25.0,
            hop_ms: 10.0,
            hysteresis_db: 0.2,
            hangover_ms: 0.0,
            min_speech_ms: 100.0,
            min_silence_ms: 300.0,
            noise_window_past_ms: 2000.0,
            noise_window_future_ms: 500.0,
            zcr_onset: None,
        }
    }
}

impl VadConfig {
    /// The paper's detector: fixed energy threshold, no smoothing beyond a short hangover.
    pub fn paper(threshold_db: f64) -> Self {
        Self {
            method: Method::FixedEnergy { threshold_db },
            frame_ms: 20.0,
            hysteresis_db: 0.0,
            hangover_ms: 0.0,
            min_speech_ms: 0.0,
            min_silence_ms: 0.0,
            ..Self::default()
        }
    }

    /// This configuration with another method.
    pub fn with_method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), VadError> {
        let finite_nonneg = |v: f64| v.is_finite() && v >= 0.0;
        let ok = self.hop_ms.is_finite()
            && self.hop_ms > 0.0
            && self.frame_ms.is_finite()
            && self.frame_ms >= self.hop_ms
            && self.frame_ms <= 1000.0
            && finite_nonneg(self.hysteresis_db)
            && finite_nonneg(self.hangover_ms)
            && finite_nonneg(self.min_speech_ms)
            && finite_nonneg(self.min_silence_ms)
            && finite_nonneg(self.noise_window_past_ms)
            && finite_nonneg(self.noise_window_future_ms)
            && self.noise_window_past_ms <= 600_000.0
            && self.noise_window_future_ms <= 60_000.0;
        if !ok {
            return Err(VadError::InvalidConfig(format!("{self:?}")));
        }
        Ok(())
    }
}
