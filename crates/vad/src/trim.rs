//! Silence removal and the time map back to the original recording.

use crate::Segment;
use serde::{Deserialize, Serialize};

/// Maps times in a trimmed (speech-only) signal back to the original recording and forward.
/// Needed to align emotion segments computed on trimmed audio with transcript timestamps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeMap {
    /// The signals' sample rate, Hz.
    pub sample_rate: u32,
    /// Kept pieces as (start in trimmed samples, start in original samples, length).
    pub pieces: Vec<(usize, usize, usize)>,
}

impl TimeMap {
    /// Seconds in the trimmed signal → seconds in the original. A time at a joint maps to the
    /// start of the later piece; past the end it maps to the end of the last piece.
    pub fn to_original(&self, trimmed_s: f64) -> f64 {
        let sr = self.sample_rate as f64;
        let pos = trimmed_s * sr;
        for &(t0, o0, len) in &self.pieces {
            if pos < (t0 + len) as f64 {
                return (o0 as f64 + (pos - t0 as f64).max(0.0)) / sr;
            }
        }
        self.pieces.last().map(|&(_, o0, len)| (o0 + len) as f64 / sr).unwrap_or(0.0)
    }

    /// Seconds in the original → seconds in the trimmed signal, or `None` if that instant was
    /// removed as silence.
    pub fn to_trimmed(&self, original_s: f64) -> Option<f64> {
        let sr = self.sample_rate as f64;
        let pos = original_s * sr;
        self.pieces
            .iter()
            .find(|&&(_, o0, len)| pos >= o0 as f64 && pos < (o0 + len) as f64)
            .map(|&(t0, o0, _)| (t0 as f64 + pos - o0 as f64) / sr)
    }

    /// Duration of the trimmed signal in seconds.
    pub fn trimmed_duration_s(&self) -> f64 {
        self.pieces.iter().map(|p| p.2).sum::<usize>() as f64 / self.sample_rate as f64
    }
}

/// Keeps only the samples inside `segments` (the speech), concatenated, with the map back.
pub fn remove_silence(samples: &[f32], sample_rate: u32, segments: &[Segment]) -> (Vec<f32>, TimeMap) {
    let mut out = Vec::new();
    let mut pieces = Vec::new();
    let sr = sample_rate as f64;
    for s in segments {
        let a = ((s.start_s * sr).round().max(0.0) as usize).min(samples.len());
        let b = ((s.end_s * sr).round().max(0.0) as usize).min(samples.len());
        if b > a {
            pieces.push((out.len(), a, b - a));
            out.extend_from_slice(&samples[a..b]);
        }
    }
    (out, TimeMap { sample_rate, pieces })
}
