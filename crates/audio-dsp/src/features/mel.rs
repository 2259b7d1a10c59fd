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
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: AVX2 and FMA are present.
        return unsafe { dct_with_basis_fma(m, n_out, basis) };
    }
    dct_with_basis_portable(m, n_out, basis)
}

/// Tiles of 4 coefficients × 8 frames held in eight registers while the 128 inputs stream by
/// (the row-wise loop loaded and stored its accumulators for every product). Fused
/// multiply-adds: within an f64 rounding of the portable sums, far inside the MFCC goldens'
/// 1e-3.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn dct_with_basis_fma(m: &Matrix, n_out: usize, basis: &[f64]) -> Matrix {
    use std::arch::x86_64::*;
    let (n, cols) = (m.rows, m.cols);
    // Padded to whole tiles (zero frames, zero coefficients): a tail done one sum at a time
    // would be a chain of dependent fused adds, slower than all the tiles together.
    let (wide, tall) = (cols.div_ceil(8) * 8, n_out.div_ceil(4) * 4);
    let mut m64 = vec![0f64; n * wide];
    for (dst, src) in m64.chunks_exact_mut(wide).zip(m.data.chunks_exact(cols)) {
        for (d, &v) in dst.iter_mut().zip(src) {
            *d = v as f64;
        }
    }
    let mut b = vec![0f64; tall * n];
    b[..n_out * n].copy_from_slice(&basis[..n_out * n]);
    let mut out = Matrix::zeros(n_out, cols);
    let mut tile = [0f64; 32];
    for k0 in (0..tall).step_by(4) {
        let rows = [&b[k0 * n..], &b[(k0 + 1) * n..], &b[(k0 + 2) * n..], &b[(k0 + 3) * n..]];
        for j in (0..wide).step_by(8) {
            let z = _mm256_setzero_pd();
            let (mut a0, mut a1, mut a2, mut a3, mut a4, mut a5, mut a6, mut a7) = (z, z, z, z, z, z, z, z);
            #[allow(clippy::needless_range_loop)] // i indexes m64's rows and four basis rows
            for i in 0..n {
                // SAFETY: j + 8 ≤ wide, so m64[i·wide + j ..+ 8] is inside m64 (n·wide values).
                let (v0, v1) = unsafe {
                    let p = m64.as_ptr().add(i * wide + j);
                    (_mm256_loadu_pd(p), _mm256_loadu_pd(p.add(4)))
                };
                let (b0, b1, b2, b3) = (
                    _mm256_set1_pd(rows[0][i]),
                    _mm256_set1_pd(rows[1][i]),
                    _mm256_set1_pd(rows[2][i]),
                    _mm256_set1_pd(rows[3][i]),
                );
                (a0, a1) = (_mm256_fmadd_pd(b0, v0, a0), _mm256_fmadd_pd(b0, v1, a1));
                (a2, a3) = (_mm256_fmadd_pd(b1, v0, a2), _mm256_fmadd_pd(b1, v1, a3));
                (a4, a5) = (_mm256_fmadd_pd(b2, v0, a4), _mm256_fmadd_pd(b2, v1, a5));
                (a6, a7) = (_mm256_fmadd_pd(b3, v0, a6), _mm256_fmadd_pd(b3, v1, a7));
            }
            // SAFETY: eight stores of four f64s into a 32-f64 array.
            unsafe {
                for (r, a) in [a0, a1, a2, a3, a4, a5, a6, a7].into_iter().enumerate() {
                    _mm256_storeu_pd(tile.as_mut_ptr().add(4 * r), a);
                }
            }
            for r in 0..4 {
                if k0 + r < n_out {
                    let width = (cols - j).min(8);
                    for (o, v) in out.row_mut(k0 + r)[j..j + width].iter_mut().zip(&tile[8 * r..]) {
                        *o = *v as f32;
                    }
                }
            }
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tiled_dct_agrees_with_the_row_wise_one() {
        for (n, n_out, cols) in [(128, 50, 94), (128, 50, 8), (40, 13, 21), (16, 3, 5)] {
            let data: Vec<f32> = (0..n * cols).map(|i| ((i * 7919 % 1000) as f32 - 500.0) * 0.17).collect();
            let m = Matrix { rows: n, cols, data };
            let basis = dct2_ortho_basis(n, n_out);
            let (fast, rows) = (dct_with_basis(&m, n_out, &basis), dct_with_basis_portable(&m, n_out, &basis));
            assert_eq!((fast.rows, fast.cols), (rows.rows, rows.cols));
            for (a, b) in fast.data.iter().zip(&rows.data) {
                assert!((a - b).abs() <= 1e-5 * b.abs().max(1.0), "{n}×{cols} → {n_out}: {a} vs {b}");
            }
        }
    }
}
