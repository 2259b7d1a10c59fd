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
///
/// The logarithm is [`log10_f32`]: log10 in f64, rounded once to f32 — the correctly rounded
/// f32 logarithm in all but a vanishing share of inputs, as numpy's own float32 `log10` aims
/// for — computed four values at a time where AVX2 and FMA are present (one libm call per
/// value was a tenth of CustomFeature's time).
pub fn power_to_db(s: &[f32], amin: f32, top_db: Option<f32>) -> Vec<f32> {
    let mut out = vec![0f32; s.len()];
    decibels_into(s, amin, &mut out);
    if let Some(top) = top_db {
        let max = out.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let floor = max - top;
        for v in &mut out {
            *v = v.max(floor);
        }
    }
    out
}

/// `log10(x)` computed in f64 and rounded once to f32 (the same value for every `x` whether or
/// not the vector path of [`power_to_db`] computes it).
#[inline]
pub fn log10_f32(x: f32) -> f32 {
    (x as f64).log10() as f32
}

/// `out[i] = 10·log10(max(s[i], amin))`.
fn decibels_into(s: &[f32], amin: f32, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: AVX2 and FMA are present.
        return unsafe { decibels_into_fma(s, amin, out) };
    }
    for (o, &v) in out.iter_mut().zip(s) {
        *o = 10.0 * log10_f32(v.max(amin));
    }
}

/// [`decibels_into`] four values at a time: `x = m·2^e` with `m` in [√½, √2), and
/// `ln m = 2·atanh(s)`, `s = (m − 1)/(m + 1)`, |s| ≤ 0.172, summed as an odd series to the
/// term in s¹⁹ (the next is below 1e-16 of the sum); `log10 x = (e·ln 2 + ln m)·log10 e`, all
/// in f64, so within a few f64 roundings of the exact value before the one rounding to f32.
/// Lanes that are not positive normal finite numbers (only possible when `amin` ≤ 0 or is
/// tiny) take the scalar path.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn decibels_into_fma(s: &[f32], amin: f32, out: &mut [f32]) {
    use std::arch::x86_64::*;
    assert_eq!(s.len(), out.len());
    // 1/(2k + 1) for k = 9 down to 1: the series' coefficients after the leading 2s.
    const ODD: [f64; 9] =
        [1.0 / 19.0, 1.0 / 17.0, 1.0 / 15.0, 1.0 / 13.0, 1.0 / 11.0, 1.0 / 9.0, 1.0 / 7.0, 1.0 / 5.0, 1.0 / 3.0];
    let whole = s.len() / 4 * 4;
    let amin_v = _mm_set1_ps(amin);
    let (lowest, highest) = (_mm_set1_ps(f32::MIN_POSITIVE), _mm_set1_ps(f32::MAX));
    let (mantissa, one_bits) = (_mm256_set1_epi64x(0x000F_FFFF_FFFF_FFFF), _mm256_set1_epi64x(0x3FF0_0000_0000_0000));
    let (one, sqrt2, half) = (_mm256_set1_pd(1.0), _mm256_set1_pd(std::f64::consts::SQRT_2), _mm256_set1_pd(0.5));
    let (ln2, log10e, ten) =
        (_mm256_set1_pd(std::f64::consts::LN_2), _mm256_set1_pd(std::f64::consts::LOG10_E), _mm_set1_ps(10.0));
    let bias = _mm256_set1_pd(1023.0);
    for i in (0..whole).step_by(4) {
        // SAFETY: i + 4 ≤ whole ≤ s.len() = out.len().
        let x = unsafe { _mm_max_ps(_mm_loadu_ps(s.as_ptr().add(i)), amin_v) };
        let normal = _mm_and_ps(_mm_cmp_ps::<_CMP_GE_OQ>(x, lowest), _mm_cmp_ps::<_CMP_LE_OQ>(x, highest));
        if _mm_movemask_ps(normal) != 0b1111 {
            for k in i..i + 4 {
                out[k] = 10.0 * log10_f32(s[k].max(amin));
            }
            continue;
        }
        let xd = _mm256_cvtps_pd(x);
        let bits = _mm256_castpd_si256(xd);
        // The biased exponent as an f64: 52-bit shift leaves it in the low bits of each lane;
        // adding 2^52 as a float and subtracting converts it without an i64 → f64 instruction.
        let exponent_bits =
            _mm256_or_si256(_mm256_srli_epi64::<52>(bits), _mm256_castpd_si256(_mm256_set1_pd(4503599627370496.0)));
        let mut e =
            _mm256_sub_pd(_mm256_sub_pd(_mm256_castsi256_pd(exponent_bits), _mm256_set1_pd(4503599627370496.0)), bias);
        let mut m = _mm256_castsi256_pd(_mm256_or_si256(_mm256_and_si256(bits, mantissa), one_bits));
        let big = _mm256_cmp_pd::<_CMP_GT_OQ>(m, sqrt2);
        m = _mm256_blendv_pd(m, _mm256_mul_pd(m, half), big);
        e = _mm256_add_pd(e, _mm256_and_pd(big, one));
        let r = _mm256_div_pd(_mm256_sub_pd(m, one), _mm256_add_pd(m, one));
        let r2 = _mm256_mul_pd(r, r);
        let mut p = _mm256_set1_pd(ODD[0]);
        for c in &ODD[1..] {
            p = _mm256_fmadd_pd(p, r2, _mm256_set1_pd(*c));
        }
        // ln m = 2r + 2r·r²·p
        let two_r = _mm256_add_pd(r, r);
        let ln_m = _mm256_fmadd_pd(_mm256_mul_pd(two_r, r2), p, two_r);
        let ln_x = _mm256_fmadd_pd(e, ln2, ln_m);
        let log10 = _mm256_cvtpd_ps(_mm256_mul_pd(ln_x, log10e));
        // SAFETY: as the load above.
        unsafe { _mm_storeu_ps(out.as_mut_ptr().add(i), _mm_mul_ps(ten, log10)) };
    }
    for k in whole..s.len() {
        out[k] = 10.0 * log10_f32(s[k].max(amin));
    }
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
    fn decibels_equal_the_rounded_f64_logarithm_everywhere() {
        // Every positive finite f32 exponent, many mantissas, and the awkward inputs: zero,
        // negatives, subnormals, infinities, NaN — with amin 1e-10 and with amin 0.
        let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut x: Vec<f32> = (0..200_003)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                f32::from_bits((s >> 33) as u32 & 0x7FFF_FFFF)
            })
            .collect();
        x.extend([0.0, -0.0, -1.0, 1.0, 2.0, 10.0, 1e-10, 1e-45, f32::MIN_POSITIVE, f32::MAX, f32::INFINITY]);
        x.extend([
            f32::NEG_INFINITY,
            f32::NAN,
            1.0,
            std::f32::consts::SQRT_2,
            1.4142137,
            std::f32::consts::FRAC_1_SQRT_2,
            1e-3,
            3.0,
        ]);
        for amin in [1e-10f32, 0.0] {
            let got = power_to_db(&x, amin, None);
            for (v, g) in x.iter().zip(&got) {
                let want = 10.0 * log10_f32(v.max(amin));
                assert!(
                    g.to_bits() == want.to_bits() || (g.is_nan() && want.is_nan()),
                    "{v:e} (amin {amin}): {g} vs {want}"
                );
                // And within an f32 rounding of libm's own f32 logarithm.
                let libm = 10.0 * v.max(amin).log10();
                if libm.is_finite() {
                    assert!((g - libm).abs() <= 2.0 * f32::EPSILON * libm.abs().max(1.0), "{v:e}: {g} vs {libm}");
                }
            }
        }
        let clipped = power_to_db(&[1.0, 1e-12, 100.0, f32::NAN], 1e-10, Some(80.0));
        assert_eq!(clipped, vec![0.0, -60.0, 20.0, -60.0]);
    }

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
