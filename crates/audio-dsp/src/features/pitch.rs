//! Pitch tracking by parabolic interpolation of spectral peaks (`librosa.piptrack`), tuning
//! estimation, and chroma, each as librosa 0.9.2 computes them (f32 arithmetic where librosa's
//! is f32, since argmax and histogram decisions depend on it).

use super::Matrix;

/// `librosa.piptrack(S=mag, sr, fmin, fmax, threshold)`: for every frame, local maxima of the
/// magnitude above `threshold · frame max` inside `[fmin, fmax)`, refined by a parabola.
/// Returns `(pitches, magnitudes)`, both `[bins, frames]`, zero elsewhere.
pub fn piptrack(mag: &Matrix, sr: u32, fmin: f64, fmax: f64, threshold: f32) -> (Matrix, Matrix) {
    let (bins, frames) = (mag.rows, mag.cols);
    let n_fft = 2 * (bins - 1);
    let fmin = fmin.max(0.0);
    let fmax = fmax.min(sr as f64 / 2.0);
    let mut pitches = Matrix::zeros(bins, frames);
    let mut mags = Matrix::zeros(bins, frames);
    if bins < 3 {
        return (pitches, mags);
    }
    let freqs = super::stft::fft_frequencies(sr, n_fft);
    let mut column = vec![0f32; bins];
    for t in 0..frames {
        for (k, v) in column.iter_mut().enumerate() {
            *v = mag.data[k * frames + t];
        }
        let frame_max = column.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        piptrack_frame(&column, frame_max, &freqs, sr, fmin, fmax, threshold, |k, pitch, m| {
            pitches.data[k * frames + t] = pitch;
            mags.data[k * frames + t] = m;
        });
    }
    (pitches, mags)
}

/// One frame of [`piptrack`]: `emit(bin, pitch, magnitude)` for every peak of the magnitudes
/// `s` (all `n_fft / 2 + 1` bins of the frame, whose maximum is `frame_max`) in `[fmin, fmax)`
/// (already clamped to `[0, sr/2]`), in bin order.
#[allow(clippy::too_many_arguments)]
pub(crate) fn piptrack_frame(
    s: &[f32],
    frame_max: f32,
    freqs: &[f64],
    sr: u32,
    fmin: f64,
    fmax: f64,
    threshold: f32,
    mut emit: impl FnMut(usize, f32, f32),
) {
    let bins = s.len();
    let n_fft = 2 * (bins - 1);
    let ref_value = threshold * frame_max;
    // Bins 1.. whose frequency is in [fmin, fmax) (freqs rise with k).
    let bins_below = |f: f64| freqs[..bins.min(freqs.len())].partition_point(|&x| x < f);
    let range = bins_below(fmin).max(1)..bins_below(fmax).max(1);
    for_each_peak(s, ref_value, range, |k| {
        // avg, shift and dskew are zero-padded at both ends.
        let (avg, shift) = if k + 1 < bins {
            let avg = 0.5 * (s[k + 1] - s[k - 1]);
            let mut sh = 2.0 * s[k] - s[k + 1] - s[k - 1];
            if sh.abs() < f32::MIN_POSITIVE {
                sh += 1.0;
            }
            (avg, avg / sh)
        } else {
            (0.0, 0.0)
        };
        let dskew = 0.5 * avg * shift;
        emit(k, ((k as f64 + shift as f64) * sr as f64 / n_fft as f64) as f32, s[k] + dskew);
    });
}

/// `peak(k)` for every `k` in `range` (which starts at 1 or later) where `S · (S > ref)` has a
/// strict-left / weak-right local maximum, with edge padding on the right, in bin order.
fn for_each_peak(s: &[f32], ref_value: f32, range: std::ops::Range<usize>, mut peak: impl FnMut(usize)) {
    let mut start = range.start;
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present.
        start = unsafe { peaks_avx2(s, ref_value, range.clone(), &mut peak) };
    }
    peaks_scalar(s, ref_value, start..range.end, peak);
}

fn peaks_scalar(s: &[f32], ref_value: f32, range: std::ops::Range<usize>, mut peak: impl FnMut(usize)) {
    let bins = s.len();
    let gated = |k: usize| {
        let v = s[k];
        if v > ref_value { v } else { 0.0 }
    };
    for k in range {
        let g = gated(k);
        let right = if k + 1 < bins { gated(k + 1) } else { g };
        if g > gated(k - 1) && g >= right {
            peak(k);
        }
    }
}

/// The peaks of whole groups of eight bins from `range.start` on (the scalar loop spent its
/// time on a branch per bin that followed the noise; here one compare covers eight bins and
/// the few peaks are picked out of a bit mask). Returns where the scalar loop takes over.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn peaks_avx2(s: &[f32], ref_value: f32, range: std::ops::Range<usize>, peak: &mut impl FnMut(usize)) -> usize {
    use std::arch::x86_64::*;
    let r = _mm256_set1_ps(ref_value);
    let gate = |v: __m256| _mm256_and_ps(v, _mm256_cmp_ps::<_CMP_GT_OQ>(v, r));
    let mut k = range.start.max(1);
    while k + 8 <= range.end && k + 9 <= s.len() {
        // SAFETY: 1 ≤ k and k + 9 ≤ s.len(), so the loads of s[k−1..k+7], s[k..k+8] and
        // s[k+1..k+9] stay inside `s`.
        let (left, here, right) = unsafe {
            (
                _mm256_loadu_ps(s.as_ptr().add(k - 1)),
                _mm256_loadu_ps(s.as_ptr().add(k)),
                _mm256_loadu_ps(s.as_ptr().add(k + 1)),
            )
        };
        let (left, here, right) = (gate(left), gate(here), gate(right));
        let is_peak = _mm256_and_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(here, left), _mm256_cmp_ps::<_CMP_GE_OQ>(here, right));
        let mut mask = _mm256_movemask_ps(is_peak) as u32;
        while mask != 0 {
            peak(k + mask.trailing_zeros() as usize);
            mask &= mask - 1;
        }
        k += 8;
    }
    k
}

/// `librosa.pitch_tuning(frequencies, resolution=0.01, bins_per_octave)`: the deviation from
/// A440 equal temperament (in fractions of a bin) most frequencies share: the left edge of the
/// fullest of 100 histogram bins over [-0.5, 0.5]. 0 when no frequency is positive.
pub fn pitch_tuning(frequencies: impl IntoIterator<Item = f32>, bins_per_octave: usize) -> f64 {
    const N_BINS: usize = 100;
    let edges: Vec<f64> = (0..=N_BINS).map(|i| if i == N_BINS { 0.5 } else { i as f64 * 0.01 - 0.5 }).collect();
    let mut counts = [0usize; N_BINS];
    let mut any = false;
    for f in frequencies.into_iter().filter(|&f| f > 0.0) {
        any = true;
        // In f32, as numpy evaluates it for f32 input: residual = mod(bpo · log2(f / 27.5), 1).
        let octs = (f / (440.0f32 / 16.0)).log2();
        let mut r = (bins_per_octave as f32 * octs).rem_euclid(1.0);
        if r >= 0.5 {
            r -= 1.0;
        }
        let r = r as f64;
        if !(-0.5..=0.5).contains(&r) {
            continue;
        }
        // numpy.histogram's uniform-bin fast path, including its edge corrections.
        let mut idx = (((r - edges[0]) * (N_BINS as f64 / (edges[N_BINS] - edges[0]))) as usize).min(N_BINS - 1);
        if r < edges[idx] {
            idx -= 1;
        } else if idx + 1 < N_BINS && r >= edges[idx + 1] {
            idx += 1;
        }
        counts[idx] += 1;
    }
    if !any {
        return 0.0;
    }
    let mut best = 0;
    for (i, &c) in counts.iter().enumerate() {
        if c > counts[best] {
            best = i;
        }
    }
    edges[best]
}

/// `librosa.estimate_tuning(S=mag, sr, bins_per_octave=12)`: piptrack in 150–4000 Hz with
/// threshold 0.1, keep peaks at or above the median peak magnitude, then [`pitch_tuning`].
pub fn estimate_tuning(mag: &Matrix, sr: u32, bins_per_octave: usize) -> f64 {
    let (pitches, mags) = piptrack(mag, sr, 150.0, 4000.0, 0.1);
    let peaks: Vec<(f32, f32)> =
        pitches.data.iter().zip(&mags.data).filter(|(p, _)| **p > 0.0).map(|(&p, &m)| (p, m)).collect();
    tuning_from_peaks(&peaks, bins_per_octave)
}

/// The rest of [`estimate_tuning`] from its piptrack peaks `(pitch > 0, magnitude)`, in any
/// order: keep peaks at or above the median magnitude, then [`pitch_tuning`].
pub(crate) fn tuning_from_peaks(peaks: &[(f32, f32)], bins_per_octave: usize) -> f64 {
    let mut peak_mags: Vec<f32> = peaks.iter().map(|&(_, m)| m).collect();
    let threshold = if peak_mags.is_empty() {
        0.0
    } else {
        let n = peak_mags.len();
        // numpy.median: mean of the two middle values for even counts (in f32). Two
        // selections instead of a sort: the upper middle, then the largest value below it.
        let (below, &mut upper, _) = peak_mags.select_nth_unstable_by(n / 2, f32::total_cmp);
        if n % 2 == 1 {
            upper
        } else {
            let lower = below.iter().copied().max_by(f32::total_cmp).unwrap_or(upper);
            (lower + upper) / 2.0
        }
    };
    pitch_tuning(peaks.iter().filter(|&&(_, m)| m >= threshold).map(|&(p, _)| p), bins_per_octave)
}

/// `librosa.filters.chroma(sr, n_fft, tuning, n_chroma=12)` (ctroct 5, octwidth 2, L2-normalised
/// columns, starting at C): `[n_chroma, n_fft/2 + 1]`.
pub fn chroma_filterbank(sr: u32, n_fft: usize, tuning: f64, n_chroma: usize) -> Matrix {
    let nc = n_chroma as f64;
    let a440 = 440.0 * 2f64.powf(tuning / nc);
    let mut frqbins: Vec<f64> =
        (1..n_fft).map(|i| nc * (i as f64 * sr as f64 / n_fft as f64 / (a440 / 16.0)).log2()).collect();
    frqbins.insert(0, frqbins[0] - 1.5 * nc);
    let mut binwidth: Vec<f64> = frqbins.windows(2).map(|w| (w[1] - w[0]).max(1.0)).collect();
    binwidth.push(1.0);
    let half = (nc / 2.0).round_ties_even();
    let mut wts = vec![0f64; n_chroma * n_fft];
    for (f, (&fb, &bw)) in frqbins.iter().zip(&binwidth).enumerate() {
        for c in 0..n_chroma {
            let d = (fb - c as f64 + half + 10.0 * nc).rem_euclid(nc) - half;
            wts[c * n_fft + f] = (-0.5 * (2.0 * d / bw).powi(2)).exp();
        }
    }
    for f in 0..n_fft {
        let norm = (0..n_chroma).map(|c| wts[c * n_fft + f].powi(2)).sum::<f64>().sqrt();
        let octave_weight = (-0.5 * ((frqbins[f] / nc - 5.0) / 2.0).powi(2)).exp();
        for c in 0..n_chroma {
            let v = &mut wts[c * n_fft + f];
            if norm >= f64::MIN_POSITIVE {
                *v /= norm;
            }
            *v *= octave_weight;
        }
    }
    // Roll so that row 0 is C (the bins above are relative to A).
    let shift = 3 * (n_chroma / 12);
    let bins = n_fft / 2 + 1;
    let mut out = Matrix::zeros(n_chroma, bins);
    for c in 0..n_chroma {
        let src = (c + shift) % n_chroma;
        for f in 0..bins {
            out.data[c * bins + f] = wts[src * n_fft + f] as f32;
        }
    }
    out
}

/// `librosa.feature.chroma_stft(S=mag, sr)`: tuning estimated from the spectrogram, chroma
/// filter bank applied to the magnitudes, each frame scaled so its largest bin is 1.
pub fn chroma_stft(mag: &Matrix, sr: u32) -> (Matrix, f64) {
    let n_fft = 2 * (mag.rows - 1);
    let tuning = estimate_tuning(mag, sr, 12);
    let fb = chroma_filterbank(sr, n_fft, tuning, 12);
    let mut chroma = fb.matmul(mag);
    for t in 0..chroma.cols {
        let max = (0..chroma.rows).map(|c| chroma.data[c * chroma.cols + t].abs()).fold(0f32, f32::max);
        if max >= f32::MIN_POSITIVE {
            for c in 0..chroma.rows {
                chroma.data[c * chroma.cols + t] /= max;
            }
        }
    }
    (chroma, tuning)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_picking_is_the_same_with_and_without_simd() {
        let mut x: u32 = 12345;
        let mut next = || {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            // Few levels, so ties (the weak right side) and values at the threshold occur.
            ((x >> 24) % 6) as f32 * 0.25
        };
        for bins in [1025, 201, 20, 10, 9, 3] {
            let s: Vec<f32> = (0..bins).map(|_| next()).collect();
            for range in [1..bins, 3..bins - 1, 1..1, 2..(bins / 2).max(2)] {
                let (mut all, mut scalar) = (Vec::new(), Vec::new());
                for_each_peak(&s, 0.5, range.clone(), |k| all.push(k));
                peaks_scalar(&s, 0.5, range.clone(), |k| scalar.push(k));
                assert!(!scalar.is_empty() || range.len() < 3, "{bins} bins, {range:?}: no peaks to compare");
                assert_eq!(all, scalar, "{bins} bins, {range:?}");
            }
        }
    }
}
