//! Kaiser-window low-pass FIR design, exactly as scipy's `kaiser_beta`, `kaiserord` and
//! `firwin(window=('kaiser', β))` compute it.

use crate::DspError;

/// Kaiser's β for a stop-band attenuation of `attenuation_db` (scipy `kaiser_beta`).
pub fn kaiser_beta(attenuation_db: f64) -> f64 {
    let a = attenuation_db;
    if a > 50.0 {
        0.1102 * (a - 8.7)
    } else if a > 21.0 {
        0.5842 * (a - 21.0).powf(0.4) + 0.07886 * (a - 21.0)
    } else {
        0.0
    }
}

/// Kaiser's length estimate (scipy `kaiserord`): the number of taps for `attenuation_db` and a
/// transition `width` normalised to Nyquist = 1, and the β to use.
pub fn kaiser_order(attenuation_db: f64, width: f64) -> Result<(usize, f64), DspError> {
    if attenuation_db.is_nan() || attenuation_db < 8.0 || width.is_nan() || width <= 0.0 || width.is_infinite() {
        return Err(DspError::InvalidFilter(format!(
            "kaiserord needs attenuation >= 8 dB and a positive width (got {attenuation_db} dB, width {width})"
        )));
    }
    let taps = ((attenuation_db - 7.95) / (2.285 * std::f64::consts::PI * width) + 1.0).ceil();
    if taps > 50_000_000.0 {
        return Err(DspError::InvalidFilter(format!("filter would need {taps} taps")));
    }
    Ok((taps as usize, kaiser_beta(attenuation_db)))
}

/// The modified Bessel function of the first kind, order 0, by its power series
/// Σ ((x/2)^k / k!)²; converges to full f64 precision for the β range used in filter design.
pub fn bessel_i0(x: f64) -> f64 {
    let half_sq = (x / 2.0) * (x / 2.0);
    let mut term = 1.0;
    let mut sum = 1.0;
    let mut k = 1.0;
    loop {
        term *= half_sq / (k * k);
        sum += term;
        if term < sum * 1e-17 {
            return sum;
        }
        k += 1.0;
    }
}

/// Symmetric Kaiser window of `len` points (numpy/scipy `kaiser`).
pub fn kaiser_window(len: usize, beta: f64) -> Vec<f64> {
    if len == 1 {
        return vec![1.0];
    }
    let alpha = (len as f64 - 1.0) / 2.0;
    let denom = bessel_i0(beta);
    (0..len)
        .map(|n| {
            let r = (n as f64 - alpha) / alpha;
            bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / denom
        })
        .collect()
}

/// `sin(πx)/(πx)`, 1 at 0 (numpy `sinc`).
fn sinc(x: f64) -> f64 {
    if x == 0.0 {
        1.0
    } else {
        let px = std::f64::consts::PI * x;
        px.sin() / px
    }
}

/// Linear-phase Kaiser low-pass with cutoff `cutoff_hz` at sample rate `fs`, scaled to unit DC
/// gain (scipy `firwin(numtaps, cutoff, window=('kaiser', beta), fs=fs)`).
pub fn firwin_kaiser(numtaps: usize, cutoff_hz: f64, fs: f64, beta: f64) -> Vec<f64> {
    let c = cutoff_hz / (fs / 2.0);
    let alpha = 0.5 * (numtaps as f64 - 1.0);
    let window = kaiser_window(numtaps, beta);
    let mut h: Vec<f64> = window.iter().enumerate().map(|(n, w)| c * sinc(c * (n as f64 - alpha)) * w).collect();
    let dc: f64 = pairwise_sum(&h);
    for v in &mut h {
        *v /= dc;
    }
    h
}

/// Pairwise summation as numpy does it, so the DC normalisation matches scipy to the last bits.
fn pairwise_sum(x: &[f64]) -> f64 {
    if x.len() <= 128 {
        x.iter().sum()
    } else {
        let mid = x.len() / 2;
        pairwise_sum(&x[..mid]) + pairwise_sum(&x[mid..])
    }
}

/// The anti-aliasing filter of a rational resampler.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterDesign {
    /// Interpolation factor L (after dividing both rates by their gcd).
    pub up: usize,
    /// Decimation factor M.
    pub down: usize,
    /// Stop-band attenuation the design targets, dB.
    pub attenuation_db: f64,
    /// Pass-band edge, Hz.
    pub pass_hz: f64,
    /// Stop-band edge (the narrower Nyquist), Hz.
    pub stop_hz: f64,
    /// Cutoff (middle of the transition band), Hz.
    pub cutoff_hz: f64,
    /// The Kaiser window's β.
    pub beta: f64,
    /// Prototype taps at `in_rate · up`, unit DC gain (not multiplied by L), odd length.
    pub taps: Vec<f64>,
}

/// How sharp the anti-aliasing filter is. The default is the paper-grade design used by the
/// golden vectors: 100 dB stop band, pass band to 90 % of the output Nyquist.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FilterSpec {
    /// Stop-band attenuation, dB.
    pub attenuation_db: f64,
    /// Pass-band edge as a fraction of the narrower Nyquist (output Nyquist when downsampling).
    pub pass_fraction: f64,
}

impl Default for FilterSpec {
    fn default() -> Self {
        Self { attenuation_db: 100.0, pass_fraction: 0.9 }
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// What every mode's design starts from.
pub(crate) struct RatioBand {
    /// The reduced ratio L/M.
    pub up: usize,
    pub down: usize,
    /// Pass band at `pass_fraction` of the stop edge; stop edge at the narrower Nyquist.
    pub pass_hz: f64,
    pub stop_hz: f64,
}

/// The reduced ratio and band edges for a rate pair, after checking the rates and the spec.
pub(crate) fn ratio_and_band(in_rate: u32, out_rate: u32, spec: FilterSpec) -> Result<RatioBand, DspError> {
    if in_rate == 0 || out_rate == 0 {
        return Err(DspError::InvalidRate { in_rate, out_rate });
    }
    if spec.pass_fraction.is_nan() || spec.pass_fraction <= 0.0 || spec.pass_fraction >= 1.0 {
        return Err(DspError::InvalidFilter(format!("pass fraction {} not in (0, 1)", spec.pass_fraction)));
    }
    let g = gcd(in_rate as u64, out_rate as u64);
    let (up, down) = ((out_rate as u64 / g) as usize, (in_rate as u64 / g) as usize);
    let stop_hz = in_rate.min(out_rate) as f64 / 2.0;
    Ok(RatioBand { up, down, pass_hz: spec.pass_fraction * stop_hz, stop_hz })
}

impl FilterDesign {
    /// Designs the filter for `in_rate → out_rate`: stop band from the narrower Nyquist, pass
    /// band at `pass_fraction` of it, Kaiser length from `kaiserord`, forced odd so the group
    /// delay is a whole number of samples.
    pub fn new(in_rate: u32, out_rate: u32, spec: FilterSpec) -> Result<Self, DspError> {
        let RatioBand { up, down, pass_hz, stop_hz } = ratio_and_band(in_rate, out_rate, spec)?;
        if up > 10_000 || down > 10_000 {
            return Err(DspError::InvalidFilter(format!(
                "rate ratio {up}/{down} is too fine for a polyphase table; use rates with a larger common divisor"
            )));
        }
        let fs_up = in_rate as f64 * up as f64;
        let width = (stop_hz - pass_hz) / (fs_up / 2.0);
        let (mut numtaps, beta) = kaiser_order(spec.attenuation_db, width)?;
        numtaps |= 1;
        let cutoff_hz = (pass_hz + stop_hz) / 2.0;
        let taps = firwin_kaiser(numtaps, cutoff_hz, fs_up, beta);
        Ok(Self { up, down, attenuation_db: spec.attenuation_db, pass_hz, stop_hz, cutoff_hz, beta, taps })
    }
}
