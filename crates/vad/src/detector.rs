//! The streaming detector. Batch detection ([`crate::detect`]) is this detector fed all samples
//! at once and flushed, so streaming and batch decisions are identical by construction.
//!
//! [`Vad`] composes five stages, each a small struct that turns the frames its predecessor has
//! produced into its own, as soon as it has the look-ahead it needs, and forgets what it will
//! not read again:
//!
//! 1. [`Framer`]: samples → per-frame features (energy, band powers, ZCR);
//! 2. [`Scorer`]: features → a score against noise floors tracked as the minimum of locally
//!    smoothed power over a window of past and future frames;
//! 3. [`Hysteresis`]: scores averaged over a few frames → active/inactive with hysteresis;
//! 4. [`Voicing`]: active runs need a voiced frame nearby; hangover after validated speech;
//! 5. [`RunSmoother`]: fill short silences, drop short bursts → final decisions.
//!
//! Every stage looks at a bounded neighbourhood, so memory is bounded and latency is fixed.

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

/// What [`Scorer`] says of one frame.
#[derive(Clone, Copy)]
struct FrameScore {
    score: f64,
    zcr: f64,
    voiced: bool,
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

/// The frames a stage has produced that a later stage may still read: `items[0]` is frame
/// `base`, and `end()` frames have been produced in all.
struct Window<T> {
    items: VecDeque<T>,
    base: usize,
}

impl<T> Window<T> {
    fn new() -> Self {
        Self { items: VecDeque::new(), base: 0 }
    }

    /// Frames produced so far.
    fn end(&self) -> usize {
        self.base + self.items.len()
    }

    fn push(&mut self, item: T) {
        self.items.push_back(item);
    }

    fn get(&self, t: usize) -> Option<&T> {
        t.checked_sub(self.base).and_then(|i| self.items.get(i))
    }

    /// Frame `t`, which the caller knows is kept.
    fn at(&self, t: usize) -> &T {
        &self.items[t - self.base]
    }

    /// Forgets the frames before `t`.
    fn forget_before(&mut self, t: usize) {
        while self.base < t && !self.items.is_empty() {
            self.items.pop_front();
            self.base += 1;
        }
    }
}

/// Whether frame `t` of a stage can be decided: the earlier stage has produced `done` frames,
/// and `t` needs `lookahead` of them beyond itself (or the stream has ended at `total` frames).
fn ready(t: usize, done: usize, lookahead: usize, total: Option<usize>) -> bool {
    match total {
        Some(n) => t < n && done >= n,
        None => t + lookahead < done,
    }
}

/// The sub-band method's analysis: Hann window, FFT and mel-spaced bands.
struct Spectrum {
    fft: Arc<dyn RealToComplex<f32>>,
    window: Vec<f32>,
    bands: Vec<(usize, usize)>,
    fft_in: Vec<f32>,
    fft_out: Vec<realfft::num_complex::Complex<f32>>,
}

/// Stage 1: samples in, features of every frame whose analysis window is complete out.
struct Framer {
    hop: usize,
    frame_len: usize,
    with_crossings: bool,
    spectrum: Option<Spectrum>,
    /// Input samples; `samples[0]` is absolute sample `sample_base`.
    samples: Vec<f32>,
    sample_base: usize,
    samples_in: usize,
}

impl Framer {
    fn run(&mut self, total: Option<usize>, out: &mut Window<FrameFeatures>) {
        loop {
            let t = out.end();
            if let Some(total) = total {
                if t >= total {
                    break;
                }
            } else {
                let (_, end) = self.window_span(t, total);
                if end > self.samples_in as isize {
                    break;
                }
            }
            let f = self.features(t, total);
            out.push(f);
        }
        // Samples before the next frame's analysis window; keep one extra window: at flush the
        // last windows shift left to end at the last sample.
        let (next_start, _) = self.window_span(out.end(), total);
        let keep_from = (next_start - self.frame_len as isize).max(0) as usize;
        if keep_from > self.sample_base + 8192 {
            let n = (keep_from - self.sample_base).min(self.samples.len());
            self.samples.drain(..n);
            self.sample_base += n;
        }
    }

    /// Absolute sample span `[start, end)` of frame `t`'s analysis window: centred on its cell,
    /// but shifted to lie inside the signal at both ends (zero padding would add a broadband
    /// click that reads as speech). The end is only known after `flush`; frames reaching past
    /// the samples received so far are not analysed before then.
    fn window_span(&self, t: usize, total: Option<usize>) -> (isize, isize) {
        let centre = (t * self.hop) as isize + (self.hop / 2) as isize;
        let len = self.frame_len as isize;
        let mut start = (centre - len / 2).max(0);
        if total.is_some() {
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

    fn features(&mut self, t: usize, total: Option<usize>) -> FrameFeatures {
        let (start, end) = self.window_span(t, total);
        // Energy of the frame about its mean: a DC offset is not sound (eq. 4 without the DC term).
        let inside = start >= self.sample_base as isize && (end as usize) <= self.sample_base + self.samples.len();
        let (power, crossings) = if inside {
            let a = start as usize - self.sample_base;
            frame_stats(&self.samples[a..a + self.frame_len], self.with_crossings)
        } else {
            let frame: Vec<f32> = (start..end).map(|abs| self.sample(abs)).collect();
            frame_stats(&frame, self.with_crossings)
        };
        let energy_db = 10.0 * (power + POWER_EPS).log10();
        let zcr = crossings as f64 / self.frame_len as f64;
        let bands = match self.spectrum.take() {
            None => Vec::new(),
            Some(mut sp) => {
                for (i, v) in sp.fft_in.iter_mut().enumerate() {
                    *v = if i < self.frame_len { sp.window[i] * self.sample(start + i as isize) } else { 0.0 };
                }
                let _ = sp.fft.process(&mut sp.fft_in, &mut sp.fft_out);
                let bands = sp
                    .bands
                    .iter()
                    .map(|&(lo, hi)| {
                        sp.fft_out[lo..hi].iter().map(|c| (c.re as f64).powi(2) + (c.im as f64).powi(2)).sum::<f64>()
                            + POWER_EPS
                    })
                    .collect();
                self.spectrum = Some(sp);
                bands
            }
        };
        FrameFeatures { energy_db, zcr, power: power + POWER_EPS, bands }
    }
}

/// Stage 2: features in, frame scores against the tracked noise floors out (needs `future`
/// frames of look-ahead for the floors).
struct Scorer {
    method: Method,
    /// Lowest noise floor per channel (power of white noise at `MIN_NOISE_DBFS`).
    floor_min: Vec<f64>,
    /// How many of the bands lie below 1 kHz: the "low" group of the voicing test.
    low_bands: usize,
    /// NOISY_HOLD_MS in frames.
    noisy_hold: u16,
    past: usize,
    future: usize,
    /// Per channel: sliding-minimum deque of (frame, smoothed power).
    minima: Vec<VecDeque<(usize, f64)>>,
    smoothed_pushed: usize,
}

impl Scorer {
    fn run(&mut self, total: Option<usize>, feats: &mut Window<FrameFeatures>, out: &mut Window<FrameScore>) {
        loop {
            let t = out.end();
            if total.is_some_and(|n| t >= n) {
                break;
            }
            if !self.push_smoothed_until(t + self.future, total, feats) {
                break;
            }
            for q in &mut self.minima {
                while q.front().is_some_and(|&(j, _)| j + self.past < t) {
                    q.pop_front();
                }
            }
            out.push(self.score(feats.at(t)));
        }
        // The oldest features still needed are those smoothed into the minima window.
        feats.forget_before(out.end().min(self.smoothed_pushed.saturating_sub(SMOOTH_RADIUS)));
    }

    /// Pushes smoothed channel powers into the sliding minima up to frame `upto` (clamped to the
    /// stream's end). Returns false when the needed features do not exist yet.
    fn push_smoothed_until(&mut self, upto: usize, total: Option<usize>, feats: &Window<FrameFeatures>) -> bool {
        let last = match total {
            Some(n) => upto.min(n.saturating_sub(1)),
            None => upto,
        };
        if matches!(self.method, Method::FixedEnergy { .. }) {
            // No noise floor: nothing to track.
            if last >= feats.end() {
                return false;
            }
            self.smoothed_pushed = self.smoothed_pushed.max(last + 1);
            return true;
        }
        while self.smoothed_pushed <= last {
            let j = self.smoothed_pushed;
            let hi = match total {
                Some(n) => (j + SMOOTH_RADIUS).min(n - 1),
                None => j + SMOOTH_RADIUS,
            };
            if hi >= feats.end() {
                return false;
            }
            let lo = j.saturating_sub(SMOOTH_RADIUS);
            let count = (hi - lo + 1) as f64;
            for c in 0..self.minima.len() {
                let s = (lo..=hi).map(|k| feats.at(k).channel(c)).sum::<f64>() / count;
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

    /// The score of a frame with features `f`; the minima hold the window around it.
    fn score(&self, f: &FrameFeatures) -> FrameScore {
        let floor = |c: usize| self.minima[c].front().map(|&(_, v)| v).unwrap_or(POWER_EPS).max(self.floor_min[c]);
        let (score, voiced, hold) = match self.method {
            Method::FixedEnergy { .. } => (f.energy_db, true, 0),
            Method::AdaptiveEnergy { .. } => (10.0 * (f.power / floor(0)).log10(), true, 0),
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
                (mean(&snr), voiced, hold)
            }
        };
        FrameScore { score, zcr: f.zcr, voiced, hold }
    }
}

/// Stage 3: frame scores averaged over ±`radius` frames (speech persists for tens of
/// milliseconds, noise fluctuations do not), then the threshold with hysteresis.
struct Hysteresis {
    /// SCORE_RADIUS, or 0 for the paper's per-frame rule.
    radius: usize,
    threshold: f64,
    hysteresis_db: f64,
    zcr_onset: Option<f64>,
    in_speech: bool,
}

impl Hysteresis {
    fn run(&mut self, total: Option<usize>, scores: &mut Window<FrameScore>, out: &mut Window<Raw>) {
        loop {
            let t = out.end();
            if !ready(t, scores.end(), self.radius, total) {
                break;
            }
            let lo = t.saturating_sub(self.radius).max(scores.base);
            let hi = (t + self.radius).min(scores.end() - 1);
            let score = (lo..=hi).map(|k| scores.at(k).score).sum::<f64>() / (hi - lo + 1) as f64;
            let FrameScore { zcr, voiced, hold, .. } = *scores.at(t);
            if self.in_speech {
                self.in_speech = score > self.threshold - self.hysteresis_db;
            } else {
                self.in_speech = score > self.threshold;
            }
            let unvoiced_candidate = self.zcr_onset.is_some_and(|z| zcr > z) && score > self.threshold - 10.0;
            out.push(Raw { speech: self.in_speech, score: score as f32, voiced, unvoiced_candidate, hold });
            scores.forget_before((t + 1).saturating_sub(self.radius));
        }
    }
}

/// Stage 4: an active frame needs a voiced frame of its run within VOICED_REACH; validated
/// speech is held for the hangover.
struct Voicing {
    hangover_frames: usize,
    hang: usize,
}

impl Voicing {
    fn run(&mut self, total: Option<usize>, active: &mut Window<Raw>, out: &mut Window<Raw>) {
        loop {
            let t = out.end();
            if !ready(t, active.end(), VOICED_REACH, total) {
                break;
            }
            let a = *active.at(t);
            let valid = a.speech && voiced_near(active, t);
            let speech = if valid {
                self.hang = self.hangover_frames.max(a.hold as usize);
                true
            } else if self.hang > 0 {
                self.hang -= 1;
                true
            } else {
                false
            };
            out.push(Raw { speech, ..a });
            active.forget_before((t + 1).saturating_sub(VOICED_REACH + 1));
        }
    }
}

/// Whether a voiced frame lies in the same active run within VOICED_REACH of `t`.
fn voiced_near(active: &Window<Raw>, t: usize) -> bool {
    let at = |k: usize| active.get(k).copied();
    // Walk one way while the run continues; true at the first voiced frame.
    let scan = |frames: &mut dyn Iterator<Item = usize>| {
        frames.map(at).take_while(|r| r.is_some_and(|r| r.speech)).any(|r| r.is_some_and(|r| r.voiced))
    };
    scan(&mut (t..=t + VOICED_REACH)) || scan(&mut (t.saturating_sub(VOICED_REACH)..t).rev())
}

/// Stage 5: run smoothing over a bounded neighbourhood (gaps shorter than `min_silence`
/// filled, bursts shorter than `min_speech` dropped) into the final decisions.
struct RunSmoother {
    min_speech: usize,
    min_silence: usize,
    emitted: usize,
}

impl RunSmoother {
    fn run(&mut self, total: Option<usize>, raw: &mut Window<Raw>, out: &mut Vec<FrameDecision>) {
        let reach = self.min_speech + self.min_silence + 1;
        loop {
            let t = self.emitted;
            if !ready(t, raw.end(), reach, total) {
                break;
            }
            let speech = self.smoothed(raw, t as isize);
            let score = raw_at(raw, t as isize).map(|r| r.score).unwrap_or(0.0);
            out.push(FrameDecision { speech, score });
            self.emitted += 1;
        }
        raw.forget_before(self.emitted.saturating_sub(2 * reach + 2));
    }

    fn raw_speech(&self, raw: &Window<Raw>, t: isize) -> bool {
        match raw_at(raw, t) {
            None => false,
            Some(r) if r.speech => true,
            // Unvoiced onset: a high-ZCR frame right before speech.
            Some(r) => r.unvoiced_candidate && raw_at(raw, t + 1).is_some_and(|n| n.speech),
        }
    }

    /// Gap filling: a silence shorter than `min_silence` with speech on both sides is speech.
    fn filled(&self, raw: &Window<Raw>, t: isize) -> bool {
        if self.raw_speech(raw, t) {
            return true;
        }
        let l = self.min_silence as isize;
        if l == 0 {
            return false;
        }
        let left = (1..=l).find(|&d| self.raw_speech(raw, t - d));
        let right = (1..=l).find(|&d| self.raw_speech(raw, t + d));
        matches!((left, right), (Some(a), Some(b)) if a + b - 1 < l)
    }

    /// Short-burst removal on the gap-filled decisions.
    fn smoothed(&self, raw: &Window<Raw>, t: isize) -> bool {
        if !self.filled(raw, t) {
            return false;
        }
        let s = self.min_speech as isize;
        if s <= 1 {
            return true;
        }
        let mut len = 1;
        let mut d = 1;
        while len < s && self.filled(raw, t - d) {
            len += 1;
            d += 1;
        }
        d = 1;
        while len < s && self.filled(raw, t + d) {
            len += 1;
            d += 1;
        }
        len >= s
    }
}

fn raw_at(raw: &Window<Raw>, t: isize) -> Option<Raw> {
    usize::try_from(t).ok().and_then(|t| raw.get(t)).copied()
}

/// A streaming voice activity detector over mono `f32` audio: the five stages and the frames
/// between them.
pub struct Vad {
    cfg: VadConfig,
    sample_rate: u32,
    /// Total frames once the stream is flushed.
    total_frames: Option<usize>,
    framer: Framer,
    features: Window<FrameFeatures>,
    scorer: Scorer,
    scores: Window<FrameScore>,
    hysteresis: Hysteresis,
    active: Window<Raw>,
    voicing: Voicing,
    validated: Window<Raw>,
    smoother: RunSmoother,
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
        let spectrum = matches!(cfg.method, Method::SubbandSnr { .. }).then(|| {
            let n_fft = frame_len.next_power_of_two();
            let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n_fft);
            let window: Vec<f32> = (0..frame_len)
                .map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / frame_len as f64).cos()) as f32)
                .collect();
            let bands = mel_bands(sample_rate, n_fft);
            let (fft_in, fft_out) = (fft.make_input_vec(), fft.make_output_vec());
            Spectrum { fft, window, bands, fft_in, fft_out }
        });
        let noise_power = 10f64.powf(MIN_NOISE_DBFS / 10.0);
        let (floor_min, low_bands) = match &spectrum {
            None => (vec![noise_power], 0),
            Some(sp) => {
                // E|X_k|² of white noise through the Hann window is σ²·Σw² per bin.
                let w2: f64 = sp.window.iter().map(|&w| (w as f64) * (w as f64)).sum();
                let floors = sp.bands.iter().map(|&(lo, hi)| (hi - lo) as f64 * noise_power * w2).collect();
                let n_fft_bins = frame_len.next_power_of_two() as f64;
                let low =
                    sp.bands.iter().filter(|&&(_, hi)| hi as f64 * sample_rate as f64 / n_fft_bins <= 1000.0).count();
                (floors, low)
            }
        };
        let frames = |ms: f64| ms_to_frames(ms, cfg.hop_ms);
        let threshold = match cfg.method {
            Method::FixedEnergy { threshold_db } => threshold_db,
            Method::AdaptiveEnergy { margin_db } => margin_db,
            Method::SubbandSnr { threshold_db } => threshold_db,
        };
        Ok(Self {
            sample_rate,
            total_frames: None,
            scorer: Scorer {
                method: cfg.method,
                minima: vec![VecDeque::new(); floor_min.len()],
                floor_min,
                low_bands,
                noisy_hold: frames(NOISY_HOLD_MS).min(u16::MAX as usize) as u16,
                past: frames(cfg.noise_window_past_ms),
                future: frames(cfg.noise_window_future_ms),
                smoothed_pushed: 0,
            },
            framer: Framer {
                hop,
                frame_len,
                with_crossings: cfg.zcr_onset.is_some(),
                spectrum,
                samples: Vec::new(),
                sample_base: 0,
                samples_in: 0,
            },
            features: Window::new(),
            scores: Window::new(),
            hysteresis: Hysteresis {
                radius: if matches!(cfg.method, Method::FixedEnergy { .. }) { 0 } else { SCORE_RADIUS },
                threshold,
                hysteresis_db: cfg.hysteresis_db,
                zcr_onset: cfg.zcr_onset,
                in_speech: false,
            },
            active: Window::new(),
            voicing: Voicing { hangover_frames: frames(cfg.hangover_ms), hang: 0 },
            validated: Window::new(),
            smoother: RunSmoother {
                min_speech: frames(cfg.min_speech_ms),
                min_silence: frames(cfg.min_silence_ms),
                emitted: 0,
            },
            cfg,
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
        self.framer.hop
    }

    /// Feeds samples; appends every decision that is now final. Non-finite samples are an error
    /// (and leave the detector unchanged).
    pub fn push(&mut self, samples: &[f32], out: &mut Vec<FrameDecision>) -> Result<(), VadError> {
        if self.total_frames.is_some() {
            return Err(VadError::Finished);
        }
        if let Some(i) = samples.iter().position(|v| !v.is_finite()) {
            return Err(VadError::NonFiniteSample { index: self.framer.samples_in + i });
        }
        self.framer.samples.extend_from_slice(samples);
        self.framer.samples_in += samples.len();
        self.advance(out);
        Ok(())
    }

    /// Ends the stream and appends the remaining decisions. The detector cannot be reused.
    pub fn flush(&mut self, out: &mut Vec<FrameDecision>) {
        if self.total_frames.is_none() {
            self.total_frames = Some(self.framer.samples_in.div_ceil(self.framer.hop));
        }
        self.advance(out);
    }

    /// Runs every stage as far as its input allows.
    fn advance(&mut self, out: &mut Vec<FrameDecision>) {
        let total = self.total_frames;
        self.framer.run(total, &mut self.features);
        self.scorer.run(total, &mut self.features, &mut self.scores);
        self.hysteresis.run(total, &mut self.scores, &mut self.active);
        self.voicing.run(total, &mut self.active, &mut self.validated);
        self.smoother.run(total, &mut self.validated, out);
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
