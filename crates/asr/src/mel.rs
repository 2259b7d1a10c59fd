//! Whisper's log-mel front end as faster-whisper computes it, on audio-dsp's STFT and Slaney
//! mel filters: 400-point periodic Hann frames every 160 samples over the audio followed by
//! 160 zeros and reflect-padded by 200 at both ends, power spectrum, 80 mel bands,
//! `log10(max(·, 1e-10))`, clamped to 8 below the whole recording's maximum, `(x + 4) / 4`.
//!
//! A long recording is never held as one mel matrix: [`LogMel::recording_max`] streams once
//! for the maximum, then [`LogMel::window`] computes each 30 s window on its own, identical to
//! the columns of a whole-file computation (each window reads its real neighbouring samples).

use crate::AsrError;
use audio_dsp::features::{Matrix, PadMode, StftConfig, mel::mel_filterbank, reflect_index, stft_power_frames};

/// Sample rate Whisper hears.
pub const SAMPLE_RATE: u32 = 16_000;
/// STFT size (25 ms).
pub const N_FFT: usize = 400;
/// STFT hop (10 ms).
pub const HOP: usize = 160;
/// Frames in one encoder window (30 s).
pub const WINDOW_FRAMES: usize = 3000;
/// Zeros faster-whisper appends to the audio before the STFT.
const TAIL_ZEROS: usize = HOP;
/// Frames computed per step of the streaming maximum (bounded memory for any length).
const MAX_PASS_FRAMES: usize = 3000;

/// The log-mel front end: filters built once, windows computed on demand.
#[derive(Debug, Clone)]
pub struct LogMel {
    n_mels: usize,
    filters: Matrix,
}

impl LogMel {
    /// Whisper's front end with `n_mels` bands (80 for every model up to large-v2).
    pub fn new(n_mels: usize) -> Self {
        Self { n_mels, filters: mel_filterbank(SAMPLE_RATE, N_FFT, n_mels, 0.0, f64::from(SAMPLE_RATE) / 2.0) }
    }

    /// Mel bands (80 for tiny.en).
    pub fn n_mels(&self) -> usize {
        self.n_mels
    }

    /// The mel filter bank `[n_mels, 201]`.
    pub fn filters(&self) -> &Matrix {
        &self.filters
    }

    /// Frames of content for `n` samples (faster-whisper's `content_frames`, 10 ms each).
    pub fn content_frames(n: usize) -> usize {
        n / HOP
    }

    /// `log10` mel energies of frames `f0..f1`, `[n_mels, f1 − f0]`, before normalisation.
    fn log10_frames(&self, audio: &[f32], f0: usize, f1: usize) -> Result<Vec<f32>, AsrError> {
        let n = f1 - f0;
        if n == 0 {
            return Ok(Vec::new());
        }
        // The signal the STFT sees: audio, 160 zeros, reflected at both ends. Only the samples
        // these frames read are materialised.
        let ext_len = audio.len() + TAIL_ZEROS;
        let start = (f0 * HOP) as isize - (N_FFT / 2) as isize;
        let len = (n - 1) * HOP + N_FFT;
        let buffer: Vec<f32> = (0..len as isize)
            .map(|i| {
                let j = reflect_index(start + i, ext_len);
                if j < audio.len() { audio[j] } else { 0.0 }
            })
            .collect();
        let cfg = StftConfig { n_fft: N_FFT, hop: HOP, win_length: N_FFT, center: false, pad_mode: PadMode::Zeros };
        let power = stft_power_frames(&buffer, &cfg, 0..n)?;
        let bins = power.rows;
        let mut out = vec![0f32; self.n_mels * n];
        // mel = F · P per frame, in f32 as faster-whisper does.
        for m in 0..self.n_mels {
            let f = self.filters.row(m);
            let row = &mut out[m * n..(m + 1) * n];
            for (k, &w) in f.iter().enumerate().take(bins) {
                if w == 0.0 {
                    continue;
                }
                for (o, &p) in row.iter_mut().zip(power.row(k)) {
                    *o += w * p;
                }
            }
            for o in row.iter_mut() {
                *o = o.max(1e-10).log10();
            }
        }
        Ok(out)
    }

    /// The largest `log10` mel value over the whole recording (the clamp reference), streamed
    /// in bounded steps.
    pub fn recording_max(&self, audio: &[f32]) -> Result<f32, AsrError> {
        check_samples(audio)?;
        let frames = Self::content_frames(audio.len()) + 1;
        let mut max = f32::NEG_INFINITY;
        let mut f0 = 0;
        while f0 < frames {
            let f1 = (f0 + MAX_PASS_FRAMES).min(frames);
            max = self.log10_frames(audio, f0, f1)?.into_iter().fold(max, f32::max);
            f0 = f1;
        }
        Ok(max)
    }

    /// The encoder input for the window starting at frame `seek`: `[n_mels, 3000]`, frames
    /// `seek..seek + size` normalised with the recording's `max`, zero-filled past `size`.
    pub fn window(&self, audio: &[f32], max: f32, seek: usize, size: usize) -> Result<Vec<f32>, AsrError> {
        let size = size.min(WINDOW_FRAMES);
        let frames = self.log10_frames(audio, seek, seek + size)?;
        let floor = max - 8.0;
        let mut out = vec![0f32; self.n_mels * WINDOW_FRAMES];
        for m in 0..self.n_mels {
            for t in 0..size {
                out[m * WINDOW_FRAMES + t] = (frames[m * size + t].max(floor) + 4.0) / 4.0;
            }
        }
        Ok(out)
    }
}

/// Rejects NaN or infinite samples with their position.
pub fn check_samples(audio: &[f32]) -> Result<(), AsrError> {
    match audio.iter().position(|v| !v.is_finite()) {
        Some(i) => {
            Err(AsrError::Audio(format!("sample {i} ({:.3} s) is {}", i as f64 / f64::from(SAMPLE_RATE), audio[i])))
        }
        None => Ok(()),
    }
}
