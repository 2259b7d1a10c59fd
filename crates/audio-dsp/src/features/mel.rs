//! Mel filter banks (Slaney scale and area normalisation, librosa's defaults), decibels, the
//! orthonormal DCT-II and MFCCs.

use super::Matrix;

const F_SP: f64 = 200.0 / 3.0;
const MIN_LOG_HZ: f64 = 1000.0;
const MIN_LOG_MEL: f64 = MIN_LOG_HZ / F_SP;

fn log_step() -> f64 {
    6.4f64.ln() / 27.0
}

/// Hz to mel on the Slaney (Auditory Toolbox) scale: linear below 1 kHz, logarithmic above.
pub fn hz_to_mel(hz: f64) -> f64 {
    if hz >= MIN_LOG_HZ { MIN_LOG_MEL + (hz / MIN_LOG_HZ).ln() / log_step() } else { hz / F_SP }
}

/// Inverse of [`hz_to_mel`].
pub fn mel_to_hz(mel: f64) -> f64 {
    if mel >= MIN_LOG_MEL { MIN_LOG_HZ * (log_step() * (mel - MIN_LOG_MEL)).exp() } else { F_SP * mel }
}

/// `librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax, htk=False, norm='slaney')`: triangular
/// filters `[n_mels, n_fft/2 + 1]`, each scaled to unit area (2 / bandwidth).
pub fn mel_filterbank(sr: u32, n_fft: usize, n_mels: usize, fmin: f64, fmax: f64) -> Matrix {
    let bins = n_fft / 2 + 1;
    let fft_freqs: Vec<f64> = (0..bins).map(|k| k as f64 * sr as f64 / n_fft as f64).collect();
    let (mmin, mmax) = (hz_to_mel(fmin), hz_to_mel(fmax));
    let n_pts = n_mels + 2;
    // numpy.linspace: i·step + start, last point exactly the stop.
    let step = (mmax - mmin) / (n_pts - 1) as f64;
    let mel_f: Vec<f64> =
        (0..n_pts).map(|i| mel_to_hz(if i == n_pts - 1 { mmax } else { i as f64 * step + mmin })).collect();
    let mut fb = Matrix::zeros(n_mels, bins);
    for i in 0..n_mels {
        let (lo_d, hi_d) = (mel_f[i + 1] - mel_f[i], mel_f[i + 2] - mel_f[i + 1]);
        let enorm = 2.0 / (mel_f[i + 2] - mel_f[i]);
        for (k, &f) in fft_freqs.iter().enumerate() {
            let lower = -(mel_f[i] - f) / lo_d;
            let upper = (mel_f[i + 2] - f) / hi_d;
            let w = lower.min(upper).max(0.0);
            // librosa stores the triangle as f32, then scales it: reproduce that rounding.
            fb.data[i * bins + k] = ((w as f32) as f64 * enorm) as f32;
        }
    }
    fb
}

/// `librosa.power_to_db(S, ref=1.0, amin, top_db)`: `10·log10(max(amin, S))`, then clipped
/// to `max − top_db` over the whole matrix when `top_db` is given.
pub fn power_to_db(s: &[f32], amin: f32, top_db: Option<f32>) -> Vec<f32> {
    let mut out: Vec<f32> = s.iter().map(|&v| 10.0 * v.max(amin).log10()).collect();
    if let Some(top) = top_db {
        let max = out.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let floor = max - top;
        for v in &mut out {
            *v = v.max(floor);
        }
    }
    out
}

/// The first `n_out` coefficients of the orthonormal DCT-II along the rows of `m`
/// (`scipy.fftpack.dct(m, type=2, norm='ortho', axis=0)[:n_out]`).
pub fn dct2_ortho_rows(m: &Matrix, n_out: usize) -> Matrix {
    let n = m.rows;
    DCT_BASES.with_borrow_mut(|bases| {
        let basis = bases.entry((n, n_out)).or_insert_with(|| dct2_ortho_basis(n, n_out));
        dct_with_basis(m, n_out, basis)
    })
}

thread_local! {
    /// Bases by (n, n_out): the cosines cost more than the product for one clip.
    static DCT_BASES: std::cell::RefCell<std::collections::HashMap<(usize, usize), Vec<f64>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

fn dct2_ortho_basis(n: usize, n_out: usize) -> Vec<f64> {
    let mut basis = vec![0f64; n_out * n];
    for k in 0..n_out {
        let scale = if k == 0 { (1.0 / n as f64).sqrt() } else { (2.0 / n as f64).sqrt() };
        for i in 0..n {
            basis[k * n + i] = scale * (std::f64::consts::PI * k as f64 * (2 * i + 1) as f64 / (2 * n) as f64).cos();
        }
    }
    basis
}

fn dct_with_basis(m: &Matrix, n_out: usize, basis: &[f64]) -> Matrix {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present; the same code and rounding (no FMA), wider vectors.
        return unsafe { dct_with_basis_avx2(m, n_out, basis) };
    }
    dct_with_basis_portable(m, n_out, basis)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dct_with_basis_avx2(m: &Matrix, n_out: usize, basis: &[f64]) -> Matrix {
    dct_with_basis_portable(m, n_out, basis)
}

#[inline(always)]
fn dct_with_basis_portable(m: &Matrix, n_out: usize, basis: &[f64]) -> Matrix {
    let n = m.rows;
    // Row-wise axpy (out[k] += basis[k][i] · m[i]) so the inner loop runs over contiguous frames.
    let mut out = Matrix::zeros(n_out, m.cols);
    let mut acc = vec![0f64; m.cols];
    for k in 0..n_out {
        acc.iter_mut().for_each(|a| *a = 0.0);
        for i in 0..n {
            let b = basis[k * n + i];
            for (a, &v) in acc.iter_mut().zip(m.row(i)) {
                *a += b * v as f64;
            }
        }
        for (o, a) in out.row_mut(k).iter_mut().zip(&acc) {
            *o = *a as f32;
        }
    }
    out
}
