//! Energy-based voice activity detection and silence removal.
//!
//! The paper detects speech by short-term frame energy `E = Σ|x(n)|²` against a threshold
//! (its eqs. 4–6) and removes runs of silent frames. This crate implements that rule
//! ([`Method::FixedEnergy`]) and makes it trustworthy on real recordings:
//!
//! * adaptive noise floors — the minimum of locally smoothed power over a window of past and
//!   future frames — full-band ([`Method::AdaptiveEnergy`]) or per mel band
//!   ([`Method::SubbandSnr`], the default, robust to coloured noise);
//! * hysteresis, hangover, minimum speech and minimum silence durations, and an optional
//!   zero-crossing-rate rule for unvoiced onsets ([`VadConfig`]);
//! * per-frame decisions and scores, merged [`Segment`]s, and [`remove_silence`] with a
//!   [`TimeMap`] from the trimmed signal back to the original recording;
//! * a streaming [`Vad`] with bounded memory whose decisions equal batch [`detect`]'s;
//! * frame-level evaluation ([`eval`]): precision, recall, F1, false-alarm rate, ROC-AUC.
//!
//! ```
//! use vad::{detect, VadConfig};
//!
//! // 0.5 s of silence, 1 s of a 200 Hz "voice", 0.5 s of silence, at 16 kHz.
//! let sr = 16_000;
//! let x: Vec<f32> = (0..32_000)
//!     .map(|n| if (8_000..24_000).contains(&n) { 0.3 * (n as f32 * 200.0 * std::f32::consts::TAU / sr as f32).sin() } else { 0.0 })
//!     .collect();
//! let result = detect(&x, sr, &VadConfig::default()).unwrap();
//! assert_eq!(result.segments.len(), 1);
//! let s = result.segments[0];
//! assert!((s.start_s - 0.5).abs() < 0.05 && (s.end_s - 1.5).abs() < 0.2, "{s:?}");
//! ```

// Library code returns typed errors for anything derived from input; `unwrap`/`expect` are
// allowed only where a comment says why the value cannot be absent.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod config;
mod detector;
pub mod eval;
mod trim;

pub use config::{Method, VadConfig};
pub use detector::Vad;
pub use trim::{TimeMap, remove_silence};

use serde::{Deserialize, Serialize};

/// Frame length used by the paper-style configuration.
pub const DEFAULT_FRAME_MS: u32 = 20;

/// Errors from detection.
#[derive(Debug, thiserror::Error)]
pub enum VadError {
    #[error("invalid VAD configuration: {0}")]
    InvalidConfig(String),
    #[error("sample {index} is NaN or infinite")]
    NonFiniteSample { index: usize },
    #[error("the stream was already flushed")]
    Finished,
}

/// The decision for one hop-sized frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FrameDecision {
    pub speech: bool,
    /// The detector's score (dBFS for fixed energy, dB above the noise floor otherwise).
    pub score: f32,
}

/// A speech segment, in seconds from the start of the input.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub start_s: f64,
    pub end_s: f64,
}

impl Segment {
    pub fn duration_s(&self) -> f64 {
        self.end_s - self.start_s
    }
}

/// Everything a batch detection produces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub sample_rate: u32,
    /// Samples per frame; frame `i` covers samples `[i·hop, (i+1)·hop)`.
    pub hop_samples: usize,
    pub frames: Vec<FrameDecision>,
    pub segments: Vec<Segment>,
    /// Fraction of the input's duration inside segments.
    pub speech_ratio: f64,
}

/// Runs the detector over a whole signal (the same as streaming it and flushing).
pub fn detect(samples: &[f32], sample_rate: u32, cfg: &VadConfig) -> Result<Detection, VadError> {
    let mut vad = Vad::new(sample_rate, cfg.clone())?;
    let mut frames = Vec::with_capacity(samples.len() / vad.hop_samples() + 1);
    // Chunks keep the detector's working buffer small and in cache.
    for chunk in samples.chunks(1 << 14) {
        vad.push(chunk, &mut frames)?;
    }
    vad.flush(&mut frames);
    let hop = vad.hop_samples();
    let segments = segments_from_frames(&frames, hop, samples.len(), sample_rate);
    let speech: f64 = segments.iter().map(Segment::duration_s).sum();
    let total = samples.len() as f64 / sample_rate as f64;
    let speech_ratio = if total > 0.0 { speech / total } else { 0.0 };
    Ok(Detection { sample_rate, hop_samples: hop, frames, segments, speech_ratio })
}

/// Merges runs of speech frames into segments (the last frame may be shorter than a hop).
pub fn segments_from_frames(frames: &[FrameDecision], hop: usize, n_samples: usize, sample_rate: u32) -> Vec<Segment> {
    let mut segments = Vec::new();
    let mut start = None;
    let to_s = |frame: usize| (frame * hop).min(n_samples) as f64 / sample_rate as f64;
    for (i, f) in frames.iter().enumerate() {
        match (f.speech, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                segments.push(Segment { start_s: to_s(s), end_s: to_s(i) });
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        segments.push(Segment { start_s: to_s(s), end_s: to_s(frames.len()) });
    }
    segments
}
