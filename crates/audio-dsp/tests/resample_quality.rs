//! Tone-test quality of the f32 resampler, with the golden protocol (`dsp-anchors.md` §1):
//! amplitude-0.5 tones, first and last 0.2 s of output discarded, least-squares sine fit.
//! Required: aliasing ≤ −100 dB, pass-band ripple ≤ 0.001 dB (100–6000 Hz), −3 dB point
//! ≥ 94 % of the output Nyquist (50 Hz steps from 6 kHz), THD+N at 1 kHz ≤ −120 dB.

use audio_dsp::{AutoResampler, FilterSpec, ResampleMode, Resampler};
use std::f64::consts::PI;

const OUT_RATE: u32 = 16_000;

struct Tester {
    rate: u32,
    r: AutoResampler<f32>,
}

impl Tester {
    fn new(rate: u32, mode: ResampleMode) -> Self {
        let r = AutoResampler::with_mode(rate, OUT_RATE, FilterSpec::default(), mode).unwrap();
        assert_eq!(r.mode(), mode);
        Self { rate, r }
    }

    /// Resamples a tone of `secs` seconds and returns the output with 0.2 s trimmed each side.
    fn tone(&mut self, freq: f64, secs: f64) -> Vec<f64> {
        let n = (self.rate as f64 * secs) as usize;
        let x: Vec<f32> =
            (0..n).map(|i| (0.5 * (2.0 * PI * freq * i as f64 / self.rate as f64).sin()) as f32).collect();
        let mut y = Vec::new();
        self.r.process(&x, &mut y);
        self.r.flush(&mut y);
        let trim = (0.2 * OUT_RATE as f64) as usize;
        y[trim..y.len() - trim].iter().map(|&v| v as f64).collect()
    }
}

/// Least-squares fit of a·sin + b·cos at `freq`; returns (amplitude, residual power / tone power).
fn fit(y: &[f64], freq: f64, offset: usize) -> (f64, f64) {
    let w = 2.0 * PI * freq / OUT_RATE as f64;
    let (mut ss, mut cc, mut sc, mut ys, mut yc) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (i, &v) in y.iter().enumerate() {
        let t = w * (i + offset) as f64;
        let (s, c) = t.sin_cos();
        ss += s * s;
        cc += c * c;
        sc += s * c;
        ys += v * s;
        yc += v * c;
    }
    let det = ss * cc - sc * sc;
    let a = (ys * cc - yc * sc) / det;
    let b = (yc * ss - ys * sc) / det;
    let mut resid = 0.0;
    for (i, &v) in y.iter().enumerate() {
        let t = w * (i + offset) as f64;
        let e = v - (a * t.sin() + b * t.cos());
        resid += e * e;
    }
    let amp = (a * a + b * b).sqrt();
    let tone_power = amp * amp / 2.0 * y.len() as f64;
    (amp, resid / tone_power)
}

fn db(x: f64) -> f64 {
    10.0 * x.log10()
}

fn check_rate(rate: u32, mode: ResampleMode) {
    let mut t = Tester::new(rate, mode);
    let offset = (0.2 * OUT_RATE as f64) as usize;

    // Pass-band ripple over 100–6000 Hz.
    let gains: Vec<f64> = (1..=60)
        .map(|k| {
            let f = 100.0 * k as f64;
            let (amp, _) = fit(&t.tone(f, 0.5), f, offset);
            20.0 * (amp / 0.5).log10()
        })
        .collect();
    let ripple = gains.iter().cloned().fold(f64::MIN, f64::max) - gains.iter().cloned().fold(f64::MAX, f64::min);
    assert!(ripple <= 0.001, "{rate} {mode:?}: ripple {ripple} dB");

    // −3 dB point: the first 50 Hz step from 6 kHz whose gain is below −3 dB (the convention
    // of the golden tone metrics, where the scipy design gives 7550 Hz = 94.4 %).
    let mut f = 6000.0;
    let minus3 = loop {
        let (amp, _) = fit(&t.tone(f, 0.5), f, offset);
        if 20.0 * (amp / 0.5).log10() < -3.0 || f >= 8000.0 {
            break f;
        }
        f += 50.0;
    };
    assert!(minus3 >= 0.94 * 8000.0, "{rate} {mode:?}: -3 dB point {minus3} Hz");
    assert!(minus3 <= 7600.0, "{rate} {mode:?}: -3 dB point {minus3} Hz is past the cutoff: the filter is wrong");

    // THD+N at 1 kHz, 1 s.
    let (_, thdn) = fit(&t.tone(1000.0, 1.0), 1000.0, offset);
    assert!(db(thdn) <= -120.0, "{rate} {mode:?}: THD+N {} dB", db(thdn));

    // Aliasing: any tone above the output Nyquist must vanish.
    let top = (22_000.0f64).min(rate as f64 / 2.0 - 25.0);
    let mut freqs: Vec<f64> = (0..=16).map(|k| 8000.0 + 50.0 * k as f64).collect();
    let mut f = 9000.0;
    while f <= top {
        freqs.push(f);
        f += 250.0;
    }
    freqs.push(top);
    for f in freqs {
        let y = t.tone(f, 0.5);
        let power = y.iter().map(|v| v * v).sum::<f64>() / y.len() as f64;
        let alias = db(power / 0.125);
        assert!(alias <= -100.0, "{rate} {mode:?}: alias at {f} Hz is {alias} dB");
    }
}

#[test]
fn quality_44100_to_16000_reference() {
    check_rate(44_100, ResampleMode::Reference);
}

#[test]
fn quality_44100_to_16000_fast() {
    check_rate(44_100, ResampleMode::Fast);
}

#[test]
fn quality_48000_to_16000_reference() {
    check_rate(48_000, ResampleMode::Reference);
}

#[test]
fn quality_48000_to_16000_fast() {
    check_rate(48_000, ResampleMode::Fast);
}

#[test]
fn quality_22050_to_16000_reference() {
    check_rate(22_050, ResampleMode::Reference);
}

#[test]
fn quality_22050_to_16000_fast() {
    check_rate(22_050, ResampleMode::Fast);
}
