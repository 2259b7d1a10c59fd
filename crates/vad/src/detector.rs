//! The streaming detector. Batch detection ([`crate::detect`]) is this detector fed all samples
//! at once and flushed, so streaming and batch decisions are identical by construction.
//!
//! Per frame: features (energy, band powers, ZCR) → score against noise floors tracked as the
//! minimum of locally smoothed power over a window of past and future frames → hysteresis and
//! hangover → run smoothing (fill short silences, drop short bursts). Every stage looks at a
//! bounded neighbourhood, so memory is bounded and latency is fixed.

use crate::config::{Method, VadConfig};
use crate::{FrameDecision, VadError};
use realfft::{RealFftPlanner, RealToComplex};
use std::collections::VecDeque;
use std::sync::Arc;

/// Frames on each side averaged before taking the noise-floor minimum.
const SMOOTH_RADIUS: usize = 2;
/// Added to every power so digital silence has a finite level (−120 dBFS).
const POWER_EPS: f64 = 1e-12;
const N_BANDS: usize = 16;
/// Noise floors never go below white noise at this level (dBFS): SNRs against digital silence
/// would otherwise be arbitrarily large for the faintest hiss.
const MIN_NOISE_DBFS: f64 = -65.0;
/// Frames on each side whose scores are averaged into a decision score: speech persists for
/// tens of milliseconds, noise fluctuations do not.
const SCORE_RADIUS: usize = 3;
/// A frame is "voiced" when its mean SNR in the bands below 1 kHz is at least its mean SNR
/// above 1 kHz minus this (so with −3, at least 3 dB above it): vowels put their energy low,
/// breaths and hiss put theirs high.
const VOICED_MARGIN_DB: f64 = -3.0;
/// An active run only counts as speech near a voiced frame of the same run (this many frames
/// either side): isolated breaths and clicks are rejected, consonants next to vowels are not.
const VOICED_REACH: usize = 30;
/// Noise above this level (dBFS) can mask the decaying end of a word...
const NOISY_DBFS: f64 = -50.0;
/// ...so segments there are held this long (ms) after the score falls; in clean audio the hold
/// would only swallow the breath after a phrase.
const NOISY_HOLD_MS: f64 = 60.0;

#[derive(Clone, Copy)]
struct Raw {
    speech: bool,
    score: f32,
    /// The frame looks voiced (or the method has no bands, where every frame counts).
    voiced: bool,
    /// High zero-crossing rate near the threshold: speech if speech follows.
    unvoiced_candidate: bool,
    /// Frames to hold speech after this frame if it ends a validated run.
    hold: u16,
}

struct FrameFeatures {
    energy_db: f64,
    zcr: f64,
    /// Frame power (+ε), the only channel of the energy methods.
    power: f64,
    /// Band powers (+ε) for the sub-band method; empty otherwise (no allocation per frame).
    bands: Vec<f64>,
}

impl FrameFeatures {
    fn channel(&self, c: usize) -> f64 {
        if self.bands.is_empty() { self.power } else { self.bands[c] }
    }
}

/// A streaming voice activity detector over mono `f32` audio.
pub struct Vad {
    cfg: VadConfig,
    sample_rate: u32,
    hop: usize,
    frame_len: usize,
    fft: Option<Arc<dyn RealToComplex<f32>>>,
    window: Vec<f32>,
    bands: Vec<(usize, usize)>,
    /// Lowest noise floor per channel (power of white noise at `MIN_NOISE_DBFS`).
    floor_min: Vec<f64>,
    fft_in: Vec<f32>,
    fft_out: Vec<realfft::num_complex::Complex<f32>>,

    /// Input samples; `samples[0]` is absolute sample `sample_base`.
    samples: Vec<f32>,
    sample_base: usize,
    samples_in: usize,
    /// Frames whose features exist; `feats[0]` is frame `feat_base`.
    feats: VecDeque<FrameFeatures>,
    feat_base: usize,
    frames_featured: usize,
    /// Per channel: sliding-minimum deque of (frame, smoothed power).
    minima: Vec<VecDeque<(usize, f64)>>,
    smoothed_pushed: usize,
    frames_scored: usize,
    /// Frame scores and ZCRs not yet turned into decisions; `pending[0]` is frame `pending_base`.
    pending: VecDeque<(f64, f64, bool, u16)>,
    pending_base: usize,
    frames_decided: usize,
    /// SCORE_RADIUS, or 0 for the paper's per-frame rule.
    score_radius: usize,
    in_speech: bool,
    hang: usize,
    hangover_frames: usize,
    past: usize,
    future: usize,
    /// Hysteresis decisions (before hangover); `active[0]` is frame `active_base`.
    active: VecDeque<Raw>,
    active_base: usize,
    frames_validated: usize,
    /// NOISY_HOLD_MS in frames.
    noisy_hold: u16,
    /// How many of the bands lie below 1 kHz: the "low" group of the voicing test.
    low_bands: usize,
    /// Decisions after voicing validation and hangover; `raw[0]` is frame `raw_base`.
    raw: VecDeque<Raw>,
    raw_base: usize,
    min_speech: usize,
    min_silence: usize,
    frames_final: usize,
    /// Total frames once the stream is flushed.
    total_frames: Option<usize>,
}

fn ms_to_frames(ms: f64, hop_ms: f64) -> usize {
    (ms / hop_ms).round() as usize
}

impl Vad {
    /// A streaming detector for audio at `sample_rate` Hz; errors on an invalid configuration.
    pub fn new(sample_rate: u32, cfg: VadConfig) -> Result<Self, VadError> {
        cfg.validate()?;
        if sample_rate < 1000 {
            return Err(VadError::InvalidConfig(format!("sample rate {sample_rate} Hz is too low")));
        }
        let hop = ((cfg.hop_ms * sample_rate as f64 / 1000.0).round() as usize).max(1);
        let frame_len = ((cfg.frame_ms * sample_rate as f64 / 1000.0).round() as usize).max(hop);
        let (fft, window, bands, fft_in, fft_out) = if matches!(cfg.method, Method::SubbandSnr { .. }) {
            let n_fft = frame_len.next_power_of_two();
            let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n_fft);
            let window: Vec<f32> = (0..frame_len)
                .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / frame_len as f64).cos()) as f32)
                .collect();
            let bands = mel_bands(sample_rate, n_fft);
            let (i, o) = (fft.make_input_vec(), fft.make_output_vec());
            (Some(fft), window, bands, i, o)
        } else {
            (None, Vec::new(), Vec::new(), Vec::new(), Vec::new())
        };
        let n_channels = if bands.is_empty() { 1 } else { bands.len() };
        let n_fft_bins = frame_len.next_power_of_two() as f64;
        let low_bands = bands.iter().filter(|&&(_, hi)| hi as f64 * sample_rate as f64 / n_fft_bins <= 1000.0).count();
        let cfg_hop_ms = cfg.hop_ms;
        let score_radius = if matches!(cfg.method, Method::FixedEnergy { .. }) { 0 } else { SCORE_RADIUS };
        let noise_power = 10f64.powf(MIN_NOISE_DBFS / 10.0);
        let floor_min: Vec<f64> = if bands.is_empty() {
            vec![noise_power]
        } else {
            // E|X_k|² of white noise through the Hann window is σ²·Σw² per bin.
            let w2: f64 = window.iter().map(|&w| (w as f64) * (w as f64)).sum();
            bands.iter().map(|&(lo, hi)| (hi - lo) as f64 * noise_power * w2).collect()
        };
        let hangover_frames = ms_to_frames(cfg.hangover_ms, cfg.hop_ms);
        let past = ms_to_frames(cfg.noise_window_past_ms, cfg.hop_ms);
        let future = ms_to_frames(cfg.noise_window_future_ms, cfg.hop_ms);
        let min_speech = ms_to_frames(cfg.min_speech_ms, cfg.hop_ms);
        let min_silence = ms_to_frames(cfg.min_silence_ms, cfg.hop_ms);
        Ok(Self {
            cfg,
            sample_rate,
            hop,
            frame_len,
            fft,
            window,
            bands,
            floor_min,
            fft_in,
            fft_out,
            samples: Vec::new(),
            sample_base: 0,
            samples_in: 0,
            feats: VecDeque::new(),
            feat_base: 0,
            frames_featured: 0,
            minima: vec![VecDeque::new(); n_channels],
            smoothed_pushed: 0,
            frames_scored: 0,
            pending: VecDeque::new(),
            pending_base: 0,
            frames_decided: 0,
            score_radius,
            in_speech: false,
            hang: 0,
            hangover_frames,
            past,
            future,
            active: VecDeque::new(),
            active_base: 0,
            frames_validated: 0,
            low_bands,
            noisy_hold: ms_to_frames(NOISY_HOLD_MS, cfg_hop_ms).min(u16::MAX as usize) as u16,
            raw: VecDeque::new(),
            raw_base: 0,
            min_speech,
            min_silence,
            frames_final: 0,
            total_frames: None,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &VadConfig {
        &self.cfg
    }

    /// The input's sample rate, Hz.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Samples per decision frame.
    pub fn hop_samples(&self) -> usize {
        self.hop
    }

    /// Feeds samples; appends every decision that is now final. Non-finite samples are an error
    /// (and leave the detector unchanged).
    pub fn push(&mut self, samples: &[f32], out: &mut Vec<FrameDecision>) -> Result<(), VadError> {
        if self.total_frames.is_some() {
            return Err(VadError::Finished);
        }
        if let Some(i) = samples.iter().position(|v| !v.is_finite()) {
            return Err(VadError::NonFiniteSample { index: self.samples_in + i });
        }
        self.samples.extend_from_slice(samples);
        self.samples_in += samples.len();
        self.advance(out);
        Ok(())
    }

    /// Ends the stream and appends the remaining decisions. The detector cannot be reused.
    pub fn flush(&mut self, out: &mut Vec<FrameDecision>) {
        if self.total_frames.is_none() {
            self.total_frames = Some(self.samples_in.div_ceil(self.hop));
        }
        self.advance(out);
    }

    fn advance(&mut self, out: &mut Vec<FrameDecision>) {
        // 1. Features for every frame whose analysis window is complete.
        loop {
            let t = self.frames_featured;
            if let Some(total) = self.total_frames {
                if t >= total {
                    break;
                }
            } else {
                let (_, end) = self.window_span(t);
                if end > self.samples_in as isize {
                    break;
                }
            }
            let f = self.features(t);
            self.feats.push_back(f);
            self.frames_featured += 1;
        }
        // 2. Scores and raw decisions (needs `future` frames of look-ahead for the floors).
        loop {
            let t = self.frames_scored;
            if self.total_frames.is_some_and(|n| t >= n) {
                break;
            }
            if !self.push_smoothed_until(t + self.future) {
                break;
            }
            for q in &mut self.minima {
                while q.front().is_some_and(|&(j, _)| j + self.past < t) {
                    q.pop_front();
                }
            }
            let (score, zcr, voiced, hold) = self.score(t);
            self.pending.push_back((score, zcr, voiced, hold));
            self.frames_scored += 1;
        }
        // 2b. Decision scores (frame scores averaged over ±SCORE_RADIUS), hysteresis, hangover.
        loop {
            let t = self.frames_decided;
            if !self.ready(t, self.frames_scored, self.score_radius) {
                break;
            }
            let lo = t.saturating_sub(self.score_radius).max(self.pending_base);
            let hi = (t + self.score_radius).min(self.frames_scored - 1);
            let score = (lo..=hi).map(|k| self.pending[k - self.pending_base].0).sum::<f64>() / (hi - lo + 1) as f64;
            let (_, zcr, voiced, hold) = self.pending[t - self.pending_base];
            let threshold = self.threshold();
            if self.in_speech {
                self.in_speech = score > threshold - self.cfg.hysteresis_db;
            } else {
                self.in_speech = score > threshold;
            }
            let unvoiced_candidate = self.cfg.zcr_onset.is_some_and(|z| zcr > z) && score > threshold - 10.0;
            self.active.push_back(Raw {
                speech: self.in_speech,
                score: score as f32,
                voiced,
                unvoiced_candidate,
                hold,
            });
            self.frames_decided += 1;
            while self.pending_base + self.score_radius < self.frames_decided && !self.pending.is_empty() {
                self.pending.pop_front();
                self.pending_base += 1;
            }
        }
        // 2c. Voicing validation (an active frame needs a voiced frame of its run within
        // VOICED_REACH) and hangover after validated speech.
        loop {
            let t = self.frames_validated;
            if !self.ready(t, self.frames_decided, VOICED_REACH) {
                break;
            }
            let a = self.active[t - self.active_base];
            let valid = a.speech && self.voiced_near(t);
            let speech = if valid {
                self.hang = self.hangover_frames.max(a.hold as usize);
                true
            } else if self.hang > 0 {
                self.hang -= 1;
                true
            } else {
                false
            };
            self.raw.push_back(Raw { speech, ..a });
            self.frames_validated += 1;
            while self.active_base + VOICED_REACH + 1 < self.frames_validated && !self.active.is_empty() {
                self.active.pop_front();
                self.active_base += 1;
            }
        }
        // 3. Final decisions from run smoothing over a bounded neighbourhood.
        let reach = self.min_speech + self.min_silence + 1;
        loop {
            let t = self.frames_final;
            if !self.ready(t, self.frames_validated, reach) {
                break;
            }
            let speech = self.smoothed(t as isize);
            let score = self.raw_at(t as isize).map(|r| r.score).unwrap_or(0.0);
            out.push(FrameDecision { speech, score });
            self.frames_final += 1;
        }
        self.drain();
    }

    /// Absolute sample span `[start, end)` of frame `t`'s analysis window: centred on its cell,
    /// but shifted to lie inside the signal at both ends (zero padding would add a broadband
    /// click that reads as speech). The end is only known after `flush`; frames reaching past
    /// the samples received so far are not analysed before then.
    fn window_span(&self, t: usize) -> (isize, isize) {
        let centre = (t * self.hop) as isize + (self.hop / 2) as isize;
        let len = self.frame_len as isize;
        let mut start = (centre - len / 2).max(0);
        if self.total_frames.is_some() {
            start = start.min((self.samples_in as isize - len).max(0));
        }
        (start, start + len)
    }

    fn sample(&self, abs: isize) -> f32 {
        if abs < self.sample_base as isize {
            return 0.0;
        }
        self.samples.get(abs as usize - self.sample_base).copied().unwrap_or(0.0)
    }

    fn features(&mut self, t: usize) -> FrameFeatures {
        let (start, end) = self.window_span(t);
        // Energy of the frame about its mean: a DC offset is not sound (eq. 4 without the DC term).
        let inside = start >= self.sample_base as isize && (end as usize) <= self.sample_base + self.samples.len();
        let (power, crossings) = if inside {
            let a = start as usize - self.sample_base;
            frame_stats(&self.samples[a..a + self.frame_len], self.cfg.zcr_onset.is_some())
        } else {
            let frame: Vec<f32> = (start..end).map(|abs| self.sample(abs)).collect();
            frame_stats(&frame, self.cfg.zcr_onset.is_some())
        };
        let energy_db = 10.0 * (power + POWER_EPS).log10();
        let zcr = crossings as f64 / self.frame_len as f64;
        let bands = match &self.fft {
            None => Vec::new(),
            Some(fft) => {
                let mut fft_in = std::mem::take(&mut self.fft_in);
                for (i, v) in fft_in.iter_mut().enumerate() {
                    *v = if i < self.frame_len { self.window[i] * self.sample(start + i as isize) } else { 0.0 };
                }
                self.fft_in = fft_in;
                let _ = fft.process(&mut self.fft_in, &mut self.fft_out);
                self.bands
                    .iter()
                    .map(|&(lo, hi)| {
                        self.fft_out[lo..hi].iter().map(|c| (c.re as f64).powi(2) + (c.im as f64).powi(2)).sum::<f64>()
                            + POWER_EPS
                    })
                    .collect()
            }
        };
        FrameFeatures { energy_db, zcr, power: power + POWER_EPS, bands }
    }

    fn feat(&self, t: usize) -> &FrameFeatures {
        &self.feats[t - self.feat_base]
    }

    /// Pushes smoothed channel powers into the sliding minima up to frame `upto` (clamped to the
    /// stream's end). Returns false when the needed features do not exist yet.
    fn push_smoothed_until(&mut self, upto: usize) -> bool {
        let last = match self.total_frames {
            Some(n) => upto.min(n.saturating_sub(1)),
            None => upto,
        };
        if matches!(self.cfg.method, Method::FixedEnergy { .. }) {
            // No noise floor: nothing to track.
            if last >= self.frames_featured {
                return false;
            }
            self.smoothed_pushed = self.smoothed_pushed.max(last + 1);
            return true;
        }
        while self.smoothed_pushed <= last {
            let j = self.smoothed_pushed;
            let hi = match self.total_frames {
                Some(n) => (j + SMOOTH_RADIUS).min(n - 1),
                None => j + SMOOTH_RADIUS,
            };
            if hi >= self.frames_featured {
                return false;
            }
            let lo = j.saturating_sub(SMOOTH_RADIUS);
            let count = (hi - lo + 1) as f64;
            for c in 0..self.minima.len() {
                let s = (lo..=hi).map(|k| self.feat(k).channel(c)).sum::<f64>() / count;
                let q = &mut self.minima[c];
                while q.back().is_some_and(|&(_, v)| v >= s) {
                    q.pop_back();
                }
                q.push_back((j, s));
            }
            self.smoothed_pushed += 1;
        }
        true
    }

    /// (score, zcr, voiced) of frame `t`; the minima hold the window around `t`.
    fn score(&self, t: usize) -> (f64, f64, bool, u16) {
        let f = self.feat(t);
        let floor = |c: usize| self.minima[c].front().map(|&(_, v)| v).unwrap_or(POWER_EPS).max(self.floor_min[c]);
        match self.cfg.method {
            Method::FixedEnergy { .. } => (f.energy_db, f.zcr, true, 0),
            Method::AdaptiveEnergy { .. } => (10.0 * (f.power / floor(0)).log10(), f.zcr, true, 0),
            Method::SubbandSnr { .. } => {
                let snr: Vec<f64> =
                    f.bands.iter().enumerate().map(|(c, p)| (10.0 * (p / floor(c)).log10()).max(0.0)).collect();
                let mean = |v: &[f64]| if v.is_empty() { 0.0 } else { v.iter().sum::<f64>() / v.len() as f64 };
                let (low, high) = snr.split_at(self.low_bands.min(snr.len()));
                let voiced = low.is_empty() || high.is_empty() || mean(low) >= mean(high) - VOICED_MARGIN_DB;
                // Noise level (dBFS of white noise with the same in-band floor): where noise can
                // mask a word's decaying end, hold speech a little longer.
                let floor_sum: f64 = (0..f.bands.len()).map(floor).sum();
                let noise_dbfs = 10.0 * (floor_sum / self.floor_min.iter().sum::<f64>()).log10() + MIN_NOISE_DBFS;
                let hold = if noise_dbfs > NOISY_DBFS { self.noisy_hold } else { 0 };
                (mean(&snr), f.zcr, voiced, hold)
            }
        }
    }

    /// Whether a voiced frame lies in the same active run within VOICED_REACH of `t`.
    fn voiced_near(&self, t: usize) -> bool {
        let at = |k: usize| self.active.get(k.wrapping_sub(self.active_base)).copied();
        // Walk one way while the run continues; true at the first voiced frame.
        let scan = |frames: &mut dyn Iterator<Item = usize>| {
            frames.map(at).take_while(|r| r.is_some_and(|r| r.speech)).any(|r| r.is_some_and(|r| r.voiced))
        };
        scan(&mut (t..=t + VOICED_REACH)) || scan(&mut (t.saturating_sub(VOICED_REACH)..t).rev())
    }

    /// Whether frame `t` of a stage can be decided: the earlier stage has produced `done`
    /// frames, and `t` needs `lookahead` of them beyond itself (or the stream has ended).
    fn ready(&self, t: usize, done: usize, lookahead: usize) -> bool {
        match self.total_frames {
            Some(n) => t < n && done >= n,
            None => t + lookahead < done,
        }
    }

    fn threshold(&self) -> f64 {
        match self.cfg.method {
            Method::FixedEnergy { threshold_db } => threshold_db,
            Method::AdaptiveEnergy { margin_db } => margin_db,
            Method::SubbandSnr { threshold_db } => threshold_db,
        }
    }

    fn raw_at(&self, t: isize) -> Option<Raw> {
        if t < self.raw_base as isize {
            return None;
        }
        self.raw.get(t as usize - self.raw_base).copied()
    }

    fn raw_speech(&self, t: isize) -> bool {
        match self.raw_at(t) {
            None => false,
            Some(r) if r.speech => true,
            // Unvoiced onset: a high-ZCR frame right before speech.
            Some(r) => r.unvoiced_candidate && self.raw_at(t + 1).is_some_and(|n| n.speech),
        }
    }

    /// Gap filling: a silence shorter than `min_silence` with speech on both sides is speech.
    fn filled(&self, t: isize) -> bool {
        if self.raw_speech(t) {
            return true;
        }
        let l = self.min_silence as isize;
        if l == 0 {
            return false;
        }
        let left = (1..=l).find(|&d| self.raw_speech(t - d));
        let right = (1..=l).find(|&d| self.raw_speech(t + d));
        matches!((left, right), (Some(a), Some(b)) if a + b - 1 < l)
    }

    /// Short-burst removal on the gap-filled decisions.
    fn smoothed(&self, t: isize) -> bool {
        if !self.filled(t) {
            return false;
        }
        let s = self.min_speech as isize;
        if s <= 1 {
            return true;
        }
        let mut len = 1;
        let mut d = 1;
        while len < s && self.filled(t - d) {
            len += 1;
            d += 1;
        }
        d = 1;
        while len < s && self.filled(t + d) {
            len += 1;
            d += 1;
        }
        len >= s
    }

    /// Drops samples, features and raw decisions no later stage can read again.
    fn drain(&mut self) {
        let reach = self.min_speech + self.min_silence + 1;
        // Samples before the next frame's analysis window.
        let (next_start, _) = self.window_span(self.frames_featured);
        // Keep one extra window: at flush the last windows shift left to end at the last sample.
        let keep_from = (next_start - self.frame_len as isize).max(0) as usize;
        if keep_from > self.sample_base + 8192 {
            let n = (keep_from - self.sample_base).min(self.samples.len());
            self.samples.drain(..n);
            self.sample_base += n;
        }
        // Features: the oldest still needed is for smoothing frames in the minima window.
        let need_feat = self.frames_scored.min(self.smoothed_pushed.saturating_sub(SMOOTH_RADIUS));
        while self.feat_base < need_feat && !self.feats.is_empty() {
            self.feats.pop_front();
            self.feat_base += 1;
        }
        let need_raw = self.frames_final.saturating_sub(2 * reach + 2);
        while self.raw_base < need_raw && !self.raw.is_empty() {
            self.raw.pop_front();
            self.raw_base += 1;
        }
    }
}

/// (power about the mean, zero crossings about the mean) of one analysis window.
fn frame_stats(frame: &[f32], with_crossings: bool) -> (f64, usize) {
    // f32 partial sums in 8 lanes (vectorisable), combined in f64.
    let mut sum = [0f32; 8];
    let mut sum_sq = [0f32; 8];
    let chunks = frame.chunks_exact(8);
    let tail = chunks.remainder();
    for c in chunks {
        for l in 0..8 {
            sum[l] += c[l];
            sum_sq[l] += c[l] * c[l];
        }
    }
    let mut s: f64 = sum.iter().map(|&v| v as f64).sum();
    let mut s2: f64 = sum_sq.iter().map(|&v| v as f64).sum();
    for &v in tail {
        s += v as f64;
        s2 += (v as f64) * (v as f64);
    }
    let n = frame.len().max(1) as f64;
    let mean = s / n;
    let power = (s2 / n - mean * mean).max(0.0);
    let m = mean as f32;
    let crossings = if with_crossings { frame.windows(2).filter(|w| (w[0] < m) != (w[1] < m)).count() } else { 0 };
    (power, crossings)
}

/// `N_BANDS` mel-spaced bands between 100 Hz and min(6 kHz, 0.45·sr), as FFT bin ranges.
fn mel_bands(sample_rate: u32, n_fft: usize) -> Vec<(usize, usize)> {
    let mel = |hz: f64| 2595.0 * (1.0 + hz / 700.0).log10();
    let hz = |m: f64| 700.0 * (10f64.powf(m / 2595.0) - 1.0);
    let (lo, hi) = (100.0, (6000.0f64).min(0.45 * sample_rate as f64));
    let bin = |f: f64| ((f * n_fft as f64 / sample_rate as f64).round() as usize).min(n_fft / 2);
    let mut bands: Vec<(usize, usize)> = Vec::new();
    for b in 0..N_BANDS {
        let f0 = hz(mel(lo) + (mel(hi) - mel(lo)) * b as f64 / N_BANDS as f64);
        let f1 = hz(mel(lo) + (mel(hi) - mel(lo)) * (b + 1) as f64 / N_BANDS as f64);
        let (a, z) = (bin(f0), bin(f1).max(bin(f0) + 1));
        match bands.last_mut() {
            Some(last) if a < last.1 => last.1 = last.1.max(z),
            _ => bands.push((a, z)),
        }
    }
    bands
}
