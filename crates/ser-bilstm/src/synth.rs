//! A synthetic prosody corpus: labelled "emotional" speech made from a source-filter
//! synthesiser, for tests and demos. **It is not emotional speech.** No labelled emotional
//! speech can be shipped (RAVDESS and DAIC-WOZ are users' data), so this corpus checks that the
//! models and the training loop can learn the cues emotion recognisers rely on — pitch level,
//! pitch range, speaking rate, loudness and voice quality — and generalise them to voices they
//! have not heard.
//!
//! Each clip is a string of vowel-like syllables: a glottal pulse train (with aspiration noise)
//! through three formant resonators, under a syllable envelope and an intonation contour. A
//! *voice* fixes the base pitch, vocal-tract length (formant scale) and breathiness; odd voices
//! are low (male-like) and even voices high, like RAVDESS actors. A *class* sets pitch level
//! relative to the voice, pitch range, syllable rate, loudness and spectral tilt. Every clip
//! jitters those by a few percent.
//!
//! [`write_ravdess_layout`] writes the corpus as `Actor_XX/03-01-EE-II-SS-RR-XX.wav`, so the
//! RAVDESS loader and the example binaries run on it unchanged.

use std::f64::consts::PI;
use std::path::Path;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::SerError;
use crate::data::ravdess::{RavdessName, VocalChannel};

/// Sample rate of generated clips.
pub const SYNTH_RATE: u32 = 16_000;

/// Prosody of one class, relative to the speaking voice.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProsodyClass {
    /// RAVDESS emotion code (1-based) the class is filed under.
    pub emotion: u8,
    /// Mean pitch as a multiple of the voice's base pitch.
    pub pitch_factor: f64,
    /// Peak-to-peak intonation range in semitones.
    pub range_semitones: f64,
    /// Syllables per second.
    pub syllable_rate: f64,
    /// RMS level in dBFS.
    pub level_dbfs: f64,
    /// Spectral tilt: one-pole low-pass coefficient (higher = darker voice).
    pub tilt: f64,
    /// Aspiration noise relative to the voiced source.
    pub breath: f64,
}

/// The four classes: neutral, happy, sad, angry (RAVDESS codes 1, 3, 4, 5), with textbook
/// prosody: sad is low, flat, slow, quiet and breathy; happy high, wide and fast; angry loud,
/// fast and bright.
pub const CLASSES: [ProsodyClass; 4] = [
    ProsodyClass {
        emotion: 1,
        pitch_factor: 1.0,
        range_semitones: 2.0,
        syllable_rate: 4.0,
        level_dbfs: -24.0,
        tilt: 0.55,
        breath: 0.06,
    },
    ProsodyClass {
        emotion: 3,
        pitch_factor: 1.35,
        range_semitones: 8.0,
        syllable_rate: 4.8,
        level_dbfs: -18.0,
        tilt: 0.4,
        breath: 0.05,
    },
    ProsodyClass {
        emotion: 4,
        pitch_factor: 0.85,
        range_semitones: 1.0,
        syllable_rate: 2.6,
        level_dbfs: -33.0,
        tilt: 0.8,
        breath: 0.2,
    },
    ProsodyClass {
        emotion: 5,
        pitch_factor: 1.05,
        range_semitones: 3.0,
        syllable_rate: 6.2,
        level_dbfs: -11.0,
        tilt: 0.1,
        breath: 0.01,
    },
];

/// A speaker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Voice {
    /// 1-based, as RAVDESS actors; odd = low voice.
    pub id: u8,
    /// Fundamental frequency before the class's pitch factor.
    pub base_pitch_hz: f64,
    /// Formant frequencies are multiplied by this (shorter vocal tract = higher).
    pub formant_scale: f64,
    /// Multiplies the class's breath-noise level (0.5–1.5 across voices).
    pub breathiness: f64,
}

impl Voice {
    /// Voice `id` drawn from `seed`: odd ids 95–135 Hz with formant scale 0.9–1.0, even ids
    /// 175–235 Hz with 1.08–1.2.
    pub fn new(id: u8, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed ^ (id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let low = id % 2 == 1;
        let (f0, scale) = if low { (95.0..135.0, 0.9..1.0) } else { (175.0..235.0, 1.08..1.2) };
        Self {
            id,
            base_pitch_hz: rng.random_range(f0),
            formant_scale: rng.random_range(scale),
            breathiness: rng.random_range(0.5..1.5),
        }
    }
}

/// Formant frequencies (F1, F2, F3) of five vowels, adult male averages.
const VOWELS: [[f64; 3]; 5] = [
    [730.0, 1090.0, 2440.0],
    [270.0, 2290.0, 3010.0],
    [300.0, 870.0, 2240.0],
    [530.0, 1840.0, 2480.0],
    [570.0, 840.0, 2410.0],
];
const BANDWIDTHS: [f64; 3] = [80.0, 100.0, 140.0];

/// Two-pole resonator with unit gain at its centre frequency's neighbourhood.
#[derive(Clone, Copy, Default)]
struct Resonator {
    a1: f64,
    a2: f64,
    gain: f64,
    y1: f64,
    y2: f64,
}

impl Resonator {
    fn tune(&mut self, freq: f64, bandwidth: f64, sr: f64) {
        let r = (-PI * bandwidth / sr).exp();
        self.a1 = 2.0 * r * (2.0 * PI * freq / sr).cos();
        self.a2 = -r * r;
        self.gain = 1.0 - self.a1 - self.a2;
    }

    fn process(&mut self, x: f64) -> f64 {
        let y = self.gain * x + self.a1 * self.y1 + self.a2 * self.y2;
        self.y2 = self.y1;
        self.y1 = y;
        y
    }
}

/// Synthesises one clip of `seconds` for `voice` speaking in `class`; `variant` seeds the
/// per-clip jitter, vowel choice and intonation.
pub fn synthesize(voice: &Voice, class: &ProsodyClass, seconds: f64, variant: u64) -> Vec<f32> {
    let sr = SYNTH_RATE as f64;
    let mut rng = StdRng::seed_from_u64(variant ^ ((voice.id as u64) << 32) ^ ((class.emotion as u64) << 48));
    let n = (seconds * sr) as usize;
    let jitter = |rng: &mut StdRng, spread: f64| 1.0 + rng.random_range(-spread..spread);
    let rate = class.syllable_rate * jitter(&mut rng, 0.1);
    let mean_pitch = voice.base_pitch_hz * class.pitch_factor * jitter(&mut rng, 0.04);
    let level_db = class.level_dbfs + rng.random_range(-1.5..1.5);
    let breath = class.breath * voice.breathiness;

    // Syllable plan: onset time, vowel, pitch target (in units of the class range).
    let syllable_len = 1.0 / rate;
    let lead_in = rng.random_range(0.05..0.15);
    let mut syllables = Vec::new();
    let mut t = lead_in;
    while t + 0.6 * syllable_len < seconds - 0.05 {
        let vowel = VOWELS[rng.random_range(0..VOWELS.len())];
        let target: f64 = rng.random_range(-0.5..0.5);
        syllables.push((t, vowel, target));
        t += syllable_len * jitter(&mut rng, 0.15);
    }

    let mut out = Vec::with_capacity(n);
    let mut resonators = [Resonator::default(); 3];
    let mut phase = 0.0f64;
    let mut tilt_state = 0.0f64;
    let mut current = 0usize;
    let mut tuned_for = usize::MAX;
    for i in 0..n {
        let time = i as f64 / sr;
        while current + 1 < syllables.len() && time >= syllables[current + 1].0 {
            current += 1;
        }
        let (sample, envelope) = match syllables.get(current) {
            Some(&(start, vowel, target)) if time >= start => {
                if tuned_for != current {
                    for (k, res) in resonators.iter_mut().enumerate() {
                        res.tune(vowel[k] * voice.formant_scale, BANDWIDTHS[k], sr);
                    }
                    tuned_for = current;
                }
                // Voiced nucleus for 70 % of the syllable, raised-cosine edges.
                let pos = (time - start) / (0.7 * syllable_len);
                let env = if pos < 1.0 { (PI * pos).sin().powf(0.6) } else { 0.0 };
                // Intonation: the syllable's target plus a global declination.
                let declination = 0.5 - time / seconds;
                let semitones = class.range_semitones * (target + 0.3 * declination);
                let f0 = mean_pitch * 2f64.powf(semitones / 12.0);
                phase += f0 / sr;
                phase -= phase.floor();
                // Glottal flow derivative of a raised-cosine pulse (open quotient 0.6).
                let open = 0.6;
                let source = if phase < open { (2.0 * PI * phase / open).sin() } else { 0.0 };
                let noise: f64 = rng.random_range(-1.0..1.0);
                (source + breath * noise * 3.0, env)
            }
            _ => (0.0, 0.0),
        };
        let mut s = sample * envelope;
        tilt_state = class.tilt * tilt_state + (1.0 - class.tilt) * s;
        s = tilt_state;
        let voiced: f64 = resonators.iter_mut().map(|r| r.process(s)).sum();
        out.push(voiced);
    }
    // Level: scale the RMS of the voiced parts to the class level, add a faint noise floor.
    let active: Vec<f64> = out.iter().copied().filter(|v| v.abs() > 1e-6).collect();
    let rms = (active.iter().map(|v| v * v).sum::<f64>() / active.len().max(1) as f64).sqrt().max(1e-12);
    let gain = 10f64.powf(level_db / 20.0) / rms;
    let mut samples: Vec<f32> =
        out.iter().map(|v| (v * gain + 10f64.powf(-65.0 / 20.0) * rng.random_range(-1.0..1.0)) as f32).collect();
    let peak = samples.iter().fold(0f32, |m, v| m.max(v.abs()));
    if peak > 0.99 {
        samples.iter_mut().for_each(|v| *v *= 0.99 / peak);
    }
    samples
}

/// A corpus: how many voices, clips per (voice, class), and clip length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CorpusConfig {
    /// Number of voices (speakers).
    pub voices: u8,
    /// At most 8 (the RAVDESS intensity × statement × repetition combinations).
    pub clips_per_class: u8,
    /// Clip length.
    pub seconds: f64,
    /// Seeds every random choice: the same config gives the same corpus.
    pub seed: u64,
}

impl Default for CorpusConfig {
    /// 16 voices × 4 classes × 8 clips of 1.6 s = 512 clips.
    fn default() -> Self {
        Self { voices: 16, clips_per_class: 8, seconds: 1.6, seed: 7 }
    }
}

/// One generated clip.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthClip {
    /// Mono samples at the corpus rate.
    pub samples: Vec<f32>,
    /// RAVDESS-style name, e.g. `03-01-04-02-01-02-07.wav`.
    pub name: RavdessName,
}

/// Generates the corpus in voice, class, clip order.
pub fn corpus(config: &CorpusConfig) -> Result<Vec<SynthClip>, SerError> {
    if config.clips_per_class == 0 || config.clips_per_class > 8 || config.voices == 0 || config.seconds < 0.5 {
        return Err(SerError::Config(format!(
            "synthetic corpus {config:?}: need ≥ 1 voice, 1–8 clips per class and ≥ 0.5 s"
        )));
    }
    let mut out = Vec::new();
    for id in 1..=config.voices {
        let voice = Voice::new(id, config.seed);
        for class in &CLASSES {
            for clip in 0..config.clips_per_class {
                let name = RavdessName {
                    modality: 3,
                    channel: VocalChannel::Speech,
                    emotion: class.emotion,
                    intensity: 1 + (clip >> 2 & 1),
                    statement: 1 + (clip >> 1 & 1),
                    repetition: 1 + (clip & 1),
                    actor: id,
                };
                let variant = config.seed.wrapping_mul(1_000_003) ^ clip as u64;
                out.push(SynthClip { samples: synthesize(&voice, class, config.seconds, variant), name });
            }
        }
    }
    Ok(out)
}

/// Writes the corpus as 16-bit WAVs in RAVDESS's layout under `dir` (`Actor_XX/…wav`);
/// returns the number of files.
pub fn write_ravdess_layout(dir: impl AsRef<Path>, config: &CorpusConfig) -> Result<usize, SerError> {
    let clips = corpus(config)?;
    for clip in &clips {
        let actor_dir = dir.as_ref().join(format!("Actor_{:02}", clip.name.actor));
        std::fs::create_dir_all(&actor_dir).map_err(|e| SerError::io(&actor_dir, e))?;
        audio_dsp::write_wav_pcm16(actor_dir.join(clip.name.file_name()), &clip.samples, SYNTH_RATE)?;
    }
    Ok(clips.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_are_deterministic_bounded_and_differ_by_class() {
        let voice = Voice::new(3, 1);
        let a = synthesize(&voice, &CLASSES[0], 1.0, 5);
        assert_eq!(a, synthesize(&voice, &CLASSES[0], 1.0, 5));
        assert_eq!(a.len(), 16_000);
        assert!(a.iter().all(|v| v.abs() <= 0.99));
        let rms = |x: &[f32]| (x.iter().map(|v| (*v as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt();
        // Angry is louder than sad by well over 10 dB.
        let loud = rms(&synthesize(&voice, &CLASSES[3], 1.0, 5));
        let quiet = rms(&synthesize(&voice, &CLASSES[2], 1.0, 5));
        assert!(20.0 * (loud / quiet).log10() > 10.0);
    }
}
