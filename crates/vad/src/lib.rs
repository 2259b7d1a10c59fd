#![doc = include_str!("../README.md")]
// Library code returns typed errors for anything derived from input; `unwrap`/`expect` are
// allowed only where a comment says why the value cannot be absent.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

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
    /// A configuration value out of range (what and why in the message).
    #[error("invalid VAD configuration: {0}")]
    InvalidConfig(String),
    /// A NaN or infinite sample.
    #[error("sample {index} is NaN or infinite")]
    NonFiniteSample {
        /// Its index in the input (streams count from the first sample pushed).
        index: usize,
    },
    /// Samples pushed after `flush`.
    #[error("the stream was already flushed")]
    Finished,
}

/// The decision for one hop-sized frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FrameDecision {
    /// Whether the frame is speech (after hysteresis, hangover and the minimum durations).
    pub speech: bool,
    /// The detector's score (dBFS for fixed energy, dB above the noise floor otherwise).
    pub score: f32,
}

/// A speech segment, in seconds from the start of the input.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// Start, seconds.
    pub start_s: f64,
    /// End (exclusive), seconds.
    pub end_s: f64,
}

impl Segment {
    /// `end_s − start_s`.
    pub fn duration_s(&self) -> f64 {
        self.end_s - self.start_s
    }
}

/// Everything a batch detection produces.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// The input's sample rate, Hz.
    pub sample_rate: u32,
    /// Samples per frame; frame `i` covers samples `[i·hop, (i+1)·hop)`.
    pub hop_samples: usize,
    /// One decision per hop.
    pub frames: Vec<FrameDecision>,
    /// Runs of speech frames, merged.
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
