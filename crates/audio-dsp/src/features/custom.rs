//! The reference SER implementation's 312-dimensional "CustomFeature" and frame-level log-mel.

use super::Matrix;
use super::mel::{dct2_ortho_rows, mel_filterbank, power_to_db};
use super::pitch::{chroma_filterbank, piptrack_frame, pitch_tuning, tuning_from_peaks};
use super::spectral::{contrast_bands, contrast_db, zero_crossing_rate};
use super::stft::{StftConfig, fft_frequencies, for_each_frame};
use crate::DspError;
use realfft::num_complex::Complex;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Filter banks depend only on the sample rate (and, for chroma, the estimated tuning, which
/// takes one of 100 values), so they are built once per thread and reused.
#[derive(Default)]
struct Banks {
    sparse_mel: HashMap<(u32, usize, usize), Rc<SparseBank>>,
    chroma: HashMap<(u32, i64), Rc<ChromaRuns>>,
}

thread_local! {
    static BANKS: RefCell<Banks> = RefCell::new(Banks::default());
}

fn chroma_bank(sr: u32, tuning: f64) -> Rc<ChromaRuns> {
    let key = (sr, (tuning * 1e6).round() as i64);
    BANKS.with_borrow_mut(|b| {
        b.chroma
            .entry(key)
            .or_insert_with(|| Rc::new(ChromaRuns::from_dense(&chroma_filterbank(sr, 2048, tuning, 12))))
            .clone()
    })
}

/// The chroma bank without its negligible weights. Each chroma's Gaussian bumps (one per octave)
/// fall below 1e-10 of the bank's largest weight a few semitones from their centre, yet a
/// dense row multiplies all 1,025 bins: 43 % of the products add less than 1e-10 of a frame's
/// largest chroma, far under the goldens' 1e-5. Rows keep runs of the weights that matter,
/// runs less than eight bins apart merged (short vectors cost more than a few zeros). Weights
/// are widened to f64 once and each run is zero-padded to whole groups of four, so the
/// product is whole vectors only (a zero weight adds an exact zero).
struct ChromaRuns {
    /// Per chroma, `(first bin, weights)` runs, each a multiple of four long.
    rows: Vec<Vec<(usize, Vec<f64>)>>,
    /// Bins the padded runs reach: the frame buffer's length.
    span: usize,
}

impl ChromaRuns {
    const NEGLIGIBLE: f32 = 1e-10;

    fn from_dense(bank: &Matrix) -> Self {
        let largest = bank.data.iter().fold(0f32, |m, w| m.max(w.abs()));
        let mut span = bank.cols;
        let rows = (0..bank.rows)
            .map(|c| {
                let row = bank.row(c);
                let mut runs: Vec<(usize, usize)> = Vec::new();
                for (k, w) in row.iter().enumerate() {
                    if w.abs() <= Self::NEGLIGIBLE * largest {
                        continue;
                    }
                    match runs.last_mut() {
                        Some((_, end)) if k - *end < 8 => *end = k + 1,
                        _ => runs.push((k, k + 1)),
                    }
                }
                runs.into_iter()
                    .map(|(a, b)| {
                        let mut weights: Vec<f64> = row[a..b].iter().map(|&w| w as f64).collect();
                        weights.resize(weights.len().div_ceil(4) * 4, 0.0);
                        span = span.max(a + weights.len());
                        (a, weights)
                    })
                    .collect()
            })
            .collect();
        Self { rows, span }
    }
}

/// Length of [`custom_feature`]'s vector.
pub const CUSTOM_FEATURE_LEN: usize = 312;

fn mean(v: impl ExactSizeIterator<Item = f64> + Clone) -> f64 {
    let n = v.len().max(1) as f64;
    v.sum::<f64>() / n
}

/// Population standard deviation (ddof 0), as numpy's `std`.
fn std(v: impl ExactSizeIterator<Item = f64> + Clone) -> f64 {
    let m = mean(v.clone());
    let n = v.len().max(1) as f64;
    (v.map(|x| (x - m) * (x - m)).sum::<f64>() / n).sqrt()
}

fn max(v: impl Iterator<Item = f64>) -> f64 {
    v.fold(f64::NEG_INFINITY, f64::max)
}

/// Σ f(x) over `r` in f64, in four independent lanes (one chain of dependent adds per row was
/// a latency-bound few percent of CustomFeature; the order changes only f64 roundings).
#[inline(always)]
fn lane_sum(r: &[f32], f: impl Fn(f64) -> f64) -> f64 {
    let mut acc = [0f64; 4];
    let chunks = r.chunks_exact(4);
    let tail: f64 = chunks.remainder().iter().map(|&x| f(x as f64)).sum();
    for c in chunks {
        for l in 0..4 {
            acc[l] += f(c[l] as f64);
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Mean, population standard deviation (two passes, as numpy) and maximum of a row.
fn row_mean_std_max(r: &[f32]) -> [f64; 3] {
    let n = r.len().max(1) as f64;
    let m = lane_sum(r, |x| x) / n;
    let var = lane_sum(r, |x| (x - m) * (x - m)) / n;
    [m, var.sqrt(), r.iter().fold(f64::NEG_INFINITY, |a, &x| a.max(x as f64))]
}

/// The 312-d hand-crafted feature vector of the SER reference (`AudioFeaturizer.custom_features`
/// in yeyupiaoling's SpeechEmotionRecognition-Pytorch), in its exact order:
///
/// | index | content |
/// |---|---|
/// | 0 | mean spectral flatness |
/// | 1 | mean zero-crossing rate |
/// | 2–3 | mean, max of the STFT magnitude |
/// | 4–6 | mean, std, max of the spectral centroid normalised by its sum over frames |
/// | 7 | std of the STFT magnitude |
/// | 8–10 | mean, max, std of the "pitch track" (see below) |
/// | 11 | pitch tuning offset over all piptrack pitches |
/// | 12–14 | mean, max, std of RMS |
/// | 15–164 | MFCC-50 mean, std, max over frames |
/// | 165–176 | chroma-12 mean |
/// | 177–304 | mel-128 power mean (linear) |
/// | 305–311 | spectral contrast mean (7 bands) |
///
/// All from one STFT (n_fft 2048, hop 512, centred, zero-padded) of `x` at `sr`.
///
/// **Reference quirk, reproduced on purpose:** the pitch track is not a per-frame pitch. The
/// reference takes the frequency bin with the largest piptrack magnitude *in frame 1* and reads
/// that same bin's pitch in every frame (mostly zeros). Fixing it would break parity with
/// models trained on the reference's features.
///
/// Needs at least 512 samples (two frames), since the quirk reads frame 1.
// ~110 lines: the frame-major pass is the point (issue #21) — one loop over frames feeding every
// feature's accumulator; the per-frame work itself lives in `analyse_frame` and friends.
pub fn custom_feature(x: &[f32], sr: u32) -> Result<[f32; CUSTOM_FEATURE_LEN], DspError> {
    let cfg = StftConfig::default();
    let frames = cfg.frames(x.len());
    if frames < 2 {
        return Err(DspError::InvalidInput(format!(
            "CustomFeature needs at least {} samples (two STFT frames), got {}",
            cfg.hop,
            x.len()
        )));
    }
    let bins = cfg.bins();
    let freqs = fft_frequencies(sr, cfg.n_fft);
    let mel_bank = sparse_mel_bank(sr, cfg.n_fft, 128);
    let bands = contrast_bands(&freqs, 200.0, 6, 0.02);
    let nyquist = sr as f64 / 2.0;

    // Per-frame results of the one pass over the STFT.
    let mut mag = vec![0f32; frames * bins]; // frame-major, for the chroma pass
    let mut power = vec![0f32; mel_bank.span]; // zeros past the spectrum: see SparseBank
    let (mut flatness, mut centroid, mut rms) = (vec![0f64; frames], vec![0f64; frames], vec![0f64; frames]);
    let mut mel = Matrix::zeros(mel_bank.rows.len(), frames);
    let mut peak = vec![vec![0f64; frames]; bands.len()];
    let mut valley = vec![vec![0f64; frames]; bands.len()];
    // piptrack(70–400 Hz): every pitch (for the tuning offset), frame 1's magnitudes (for the
    // track's bin) and each frame's pitch per bin (for the track).
    let mut voice_pitches: Vec<(usize, usize, f32)> = Vec::new();
    let mut frame1_mags = vec![0f32; bins];
    // piptrack(150–4000 Hz) peaks for estimate_tuning.
    let mut tuning_peaks: Vec<(f32, f32)> = Vec::new();
    let mut scratch = Vec::new();
    let n_fft = cfg.n_fft;
    let (mut mag_sum, mut mag_sumsq, mut mag_max) = (0f64, 0f64, f32::NEG_INFINITY);

    for_each_frame(x, &cfg, 0..frames, |t, spec| {
        let m = &mut mag[t * bins..(t + 1) * bins];
        let frame = analyse_frame(spec, &freqs, m, &mut power[..bins]);
        let m = &*m;
        // librosa leaves columns below the smallest normal f32 un-normalised.
        centroid[t] = if frame.den < f32::MIN_POSITIVE as f64 { frame.num } else { frame.num / frame.den };
        rms[t] = (2.0 * frame.energy / (n_fft * n_fft) as f64).sqrt();
        flatness[t] = frame.flatness;
        mag_sum += frame.den;
        mag_sumsq += frame.sumsq;
        mag_max = mag_max.max(frame.max);
        let frame_max = frame.max;
        mel_bank.project(&power, |i, v| mel.data[i * frames + t] = v);
        for (k, band) in bands.iter().enumerate() {
            if let Some((v, p)) = band.extremes(&m[band.rows.clone()], &mut scratch) {
                valley[k][t] = v;
                peak[k][t] = p;
            }
        }
        piptrack_frame(m, frame_max, &freqs, sr, 70.0, 400f64.min(nyquist), 0.1, |k, pitch, pm| {
            voice_pitches.push((k, t, pitch));
            if t == 1 {
                frame1_mags[k] = pm;
            }
        });
        piptrack_frame(m, frame_max, &freqs, sr, 150.0, 4000f64.min(nyquist), 0.1, |_, pitch, pm| {
            if pitch > 0.0 {
                tuning_peaks.push((pitch, pm));
            }
        });
    })?;

    // The reference's pitch "track": the bin with frame 1's largest piptrack magnitude, read
    // in every frame (see the quirk above).
    let mut index = 0;
    for k in 0..bins {
        if frame1_mags[k] > frame1_mags[index] {
            index = k;
        }
    }
    let mut track = vec![0f64; frames];
    for &(k, t, pitch) in &voice_pitches {
        if k == index {
            track[t] = pitch as f64;
        }
    }
    let tuning = pitch_tuning(voice_pitches.iter().map(|&(_, _, p)| p), 12);

    let total: f64 = centroid.iter().sum();
    for c in &mut centroid {
        *c /= total;
    }
    let zcr = zero_crossing_rate(x, cfg.n_fft, cfg.hop)?;

    let mel_db = Matrix { rows: mel.rows, cols: mel.cols, data: power_to_db(&mel.data, 1e-10, Some(80.0)) };
    let mfcc = dct2_ortho_rows(&mel_db, 50);
    let chroma = chroma_means(&mag, bins, &chroma_bank(sr, tuning_from_peaks(&tuning_peaks, 12)));
    let contrast = contrast_db(&peak, &valley);

    Ok(assemble(&Parts {
        flatness: &flatness,
        zcr: &zcr,
        mag_stats: {
            // Σ v and Σ v² from the frame pass: no more passes over the spectrogram.
            let n = mag.len() as f64;
            let m = mag_sum / n;
            [m, mag_max as f64, (mag_sumsq / n - m * m).max(0.0).sqrt()]
        },
        centroid: &centroid,
        track: &track,
        tuning,
        rms: &rms,
        mfcc: &mfcc,
        chroma_means: chroma,
        mel: &mel,
        contrast: &contrast,
    }))
}

/// Everything the 312 values are statistics of.
struct Parts<'a> {
    flatness: &'a [f64],
    zcr: &'a [f64],
    /// Mean, max and population standard deviation of every STFT magnitude.
    mag_stats: [f64; 3],
    /// Per-frame centroid, normalised by its sum over frames.
    centroid: &'a [f64],
    track: &'a [f64],
    tuning: f64,
    rms: &'a [f64],
    mfcc: &'a Matrix,
    chroma_means: Vec<f64>,
    mel: &'a Matrix,
    contrast: &'a [Vec<f64>],
}

/// The 312 values in the reference's order (see [`custom_feature`]'s table).
fn assemble(p: &Parts) -> [f32; CUSTOM_FEATURE_LEN] {
    let [mag_mean, mag_max, mag_std] = p.mag_stats;
    let mut v: Vec<f64> = vec![
        mean(p.flatness.iter().copied()),
        mean(p.zcr.iter().copied()),
        mag_mean,
        mag_max,
        mean(p.centroid.iter().copied()),
        std(p.centroid.iter().copied()),
        max(p.centroid.iter().copied()),
        mag_std,
        mean(p.track.iter().copied()),
        max(p.track.iter().copied()),
        std(p.track.iter().copied()),
        p.tuning,
        mean(p.rms.iter().copied()),
        max(p.rms.iter().copied()),
        std(p.rms.iter().copied()),
    ];
    let mfcc: Vec<[f64; 3]> = (0..p.mfcc.rows).map(|r| row_mean_std_max(p.mfcc.row(r))).collect();
    v.extend(mfcc.iter().map(|s| s[0]));
    v.extend(mfcc.iter().map(|s| s[1]));
    v.extend(mfcc.iter().map(|s| s[2]));
    v.extend(p.chroma_means.iter().copied());
    v.extend((0..p.mel.rows).map(|r| lane_sum(p.mel.row(r), |x| x) / p.mel.cols.max(1) as f64));
    v.extend(p.contrast.iter().map(|r| mean(r.iter().copied())));
    debug_assert_eq!(v.len(), CUSTOM_FEATURE_LEN);
    let mut out = [0f32; CUSTOM_FEATURE_LEN];
    for (o, x) in out.iter_mut().zip(v) {
        *o = x as f32;
    }
    out
}

/// One frame's spectral sums.
struct FrameSums {
    max: f32,
    /// Σ f·S and Σ S (centroid), Σ w·S² (RMS, half weight at DC and Nyquist).
    num: f64,
    den: f64,
    energy: f64,
    /// Σ S² with full weight everywhere (the spectrogram's variance).
    sumsq: f64,
    flatness: f64,
}

/// Magnitudes and power of one frame's spectrum, and its sums, in one pass over the bins.
/// Sums run in four independent lanes (vectorisable; the goldens allow the reordering).
fn analyse_frame(spec: &[Complex<f64>], freqs: &[f64], mag: &mut [f32], power: &mut [f32]) -> FrameSums {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present.
        return unsafe { analyse_frame_avx2(spec, freqs, mag, power) };
    }
    analyse_frame_portable(spec, freqs, mag, power)
}

/// [`analyse_frame_portable`] with AVX2 intrinsics, sum for sum: the same lanes (bin `k` in
/// lane `k mod 4`), the same products (no FMA) and the same combining order, so the same bits.
/// The compiler's own vectorisation of the portable loop mixed f32 and f64 lanes through
/// scalar converts and shuffles; this loop keeps four bins per register end to end.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn analyse_frame_avx2(spec: &[Complex<f64>], freqs: &[f64], mag: &mut [f32], power: &mut [f32]) -> FrameSums {
    use std::arch::x86_64::*;
    let bins = mag.len();
    assert!(spec.len() >= bins && freqs.len() >= bins && power.len() >= bins);
    // Whole groups of 16 bins: the geometric mean's products run over the same groups.
    let simd_bins = bins / 16 * 16;
    let floor = _mm256_set1_pd(1e-10);
    let (mut max, mut num, mut den, mut energy, mut sum) =
        (_mm_setzero_ps(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd());
    let (mut prod, mut exponents) = (_mm256_set1_pd(1.0), _mm256_setzero_si256());
    let (mantissa, one) = (_mm256_set1_epi64x(0x000F_FFFF_FFFF_FFFF), _mm256_set1_epi64x(0x3FF0_0000_0000_0000));
    let spec_ptr = spec.as_ptr() as *const f64;
    for group in (0..simd_bins).step_by(16) {
        for k in (group..group + 16).step_by(4) {
            // SAFETY: k + 4 ≤ simd_bins ≤ bins, and every slice holds at least `bins` items
            // (asserted above); Complex<f64> is two f64s (repr(C)).
            unsafe {
                let a = _mm256_loadu_pd(spec_ptr.add(2 * k)); // re k, im k, re k+1, im k+1
                let b = _mm256_loadu_pd(spec_ptr.add(2 * k + 4));
                // [k, k+2, k+1, k+3] → [k, k+1, k+2, k+3]
                let pw = _mm256_hadd_pd(_mm256_mul_pd(a, a), _mm256_mul_pd(b, b));
                let pw = _mm256_permute4x64_pd::<0b11_01_10_00>(pw);
                // The root in f32, as `stft_magnitude` (an f64 root per four bins bound this loop).
                let v = _mm_sqrt_ps(_mm256_cvtpd_ps(pw));
                // librosa squares the f32 magnitude for power spectrograms.
                let p = _mm_mul_ps(v, v);
                _mm_storeu_ps(mag.as_mut_ptr().add(k), v);
                _mm_storeu_ps(power.as_mut_ptr().add(k), p);
                max = _mm_max_ps(max, v);
                let vd = _mm256_cvtps_pd(v);
                num = _mm256_add_pd(num, _mm256_mul_pd(_mm256_loadu_pd(freqs.as_ptr().add(k)), vd));
                den = _mm256_add_pd(den, vd);
                energy = _mm256_add_pd(energy, _mm256_mul_pd(vd, vd));
                let pd = _mm256_max_pd(_mm256_cvtps_pd(p), floor);
                sum = _mm256_add_pd(sum, pd);
                prod = _mm256_mul_pd(prod, pd);
            }
        }
        // Keep each lane's product in [1, 2) and its power of two apart (exact: see Lanes).
        let bits = _mm256_castpd_si256(prod);
        exponents = _mm256_add_epi64(exponents, _mm256_srli_epi64::<52>(bits));
        prod = _mm256_castsi256_pd(_mm256_or_si256(_mm256_and_si256(bits, mantissa), one));
    }
    let f64_lanes = |v: __m256d| {
        let mut l = [0f64; 4];
        // SAFETY: four f64s into a four-f64 array.
        unsafe { _mm256_storeu_pd(l.as_mut_ptr(), v) };
        l
    };
    let mut max_lanes = [0f32; 4];
    let mut biased = [0i64; 4];
    // SAFETY: four f32s into a four-f32 array, four i64s into a four-i64 array.
    unsafe {
        _mm_storeu_ps(max_lanes.as_mut_ptr(), max);
        _mm256_storeu_si256(biased.as_mut_ptr() as *mut __m256i, exponents);
    }
    let renormalisations = (simd_bins / 16) as i64;
    let lanes = Lanes {
        max: max_lanes,
        num: f64_lanes(num),
        den: f64_lanes(den),
        energy: f64_lanes(energy),
        sum: f64_lanes(sum),
        prod: f64_lanes(prod),
        exponent: biased.iter().sum::<i64>() - 1023 * 4 * renormalisations,
    };
    finish_frame(spec, freqs, mag, power, simd_bins, lanes)
}

#[inline(always)]
fn analyse_frame_portable(spec: &[Complex<f64>], freqs: &[f64], mag: &mut [f32], power: &mut [f32]) -> FrameSums {
    let lanes = Lanes {
        max: [0f32; 4],
        num: [0f64; 4],
        den: [0f64; 4],
        energy: [0f64; 4],
        sum: [0f64; 4],
        prod: [1f64; 4],
        exponent: 0,
    };
    finish_frame(spec, freqs, mag, power, 0, lanes)
}

/// A frame's partial sums, four lanes each (bin `k` in lane `k mod 4`).
///
/// The geometric mean is one `ln` per frame: each lane multiplies its powers (each ≥ 1e-10)
/// and moves its product's power of two into `exponent` now and then, so the product can
/// neither underflow nor overflow. Moving powers of two is exact and a product's rounding does
/// not depend on its scale, so when and how often that happens changes no bit of the result.
struct Lanes {
    max: [f32; 4],
    num: [f64; 4],
    den: [f64; 4],
    energy: [f64; 4],
    sum: [f64; 4],
    prod: [f64; 4],
    exponent: i64,
}

/// `x = m · 2^e` with `m` in [1, 2): `(m, e)`, for a positive normal `x`.
#[inline(always)]
fn split_exponent(x: f64) -> (f64, i64) {
    let bits = x.to_bits();
    (f64::from_bits((bits & 0x000F_FFFF_FFFF_FFFF) | 0x3FF0_0000_0000_0000), (bits >> 52) as i64 - 1023)
}

/// Magnitudes, power and sums of the bins from `start` (a multiple of 16) on, added to `lanes`,
/// then the frame's sums.
#[inline(always)]
fn finish_frame(
    spec: &[Complex<f64>],
    freqs: &[f64],
    mag: &mut [f32],
    power: &mut [f32],
    start: usize,
    lanes: Lanes,
) -> FrameSums {
    let bins = mag.len();
    let Lanes { mut max, mut num, mut den, mut energy, mut sum, mut prod, mut exponent } = lanes;
    for ((v, p), c) in mag[start..].iter_mut().zip(power[start..].iter_mut()).zip(&spec[start..]) {
        *v = ((c.re * c.re + c.im * c.im) as f32).sqrt();
        // librosa squares the f32 magnitude for power spectrograms.
        *p = *v * *v;
    }
    let whole = start + (bins - start) / 4 * 4;
    for ((m, f), p) in mag[start..whole]
        .chunks_exact(4)
        .zip(freqs[start..whole].chunks_exact(4))
        .zip(power[start..whole].chunks_exact(4))
    {
        for l in 0..4 {
            let v = m[l] as f64;
            max[l] = max[l].max(m[l]);
            num[l] += f[l] * v;
            den[l] += v;
            energy[l] += v * v;
            sum[l] += (p[l] as f64).max(1e-10);
        }
    }
    let lanes = |a: [f64; 4]| (a[0] + a[1]) + (a[2] + a[3]);
    let (mut num, mut den, mut energy, mut sum) = (lanes(num), lanes(den), lanes(energy), lanes(sum));
    let mut max = max.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for k in whole..bins {
        let v = mag[k] as f64;
        max = max.max(mag[k]);
        num += freqs[k] * v;
        den += v;
        energy += v * v;
        sum += (power[k] as f64).max(1e-10);
    }
    let sumsq = energy;
    // Half weight on the DC and Nyquist bins.
    for k in [0, bins - 1] {
        energy -= 0.5 * mag[k] as f64 * mag[k] as f64;
    }
    // Geometric mean (see Lanes): products renormalised every 16 bins, one ln at the end.
    for group in power[start..].chunks(16) {
        for q in group.chunks(4) {
            for (l, &v) in q.iter().enumerate() {
                prod[l] *= (v as f64).max(1e-10);
            }
        }
        for p in &mut prod {
            let (m, e) = split_exponent(*p);
            (*p, exponent) = (m, exponent + e);
        }
    }
    let (whole_product, e) = split_exponent((prod[0] * prod[1]) * (prod[2] * prod[3]));
    let log_sum = whole_product.ln() + (exponent + e) as f64 * std::f64::consts::LN_2;
    let n = bins as f64;
    FrameSums { max, num, den, energy, sumsq, flatness: (log_sum / n).exp() / (sum / n) }
}

/// Mean over frames of `chroma_stft`: the bank applied to each frame's magnitudes (f64 sums),
/// each frame scaled so its largest bin is 1.
fn chroma_means(mag: &[f32], bins: usize, bank: &ChromaRuns) -> Vec<f64> {
    let frames = mag.len() / bins;
    let n_chroma = bank.rows.len();
    let mut sums = vec![0f64; n_chroma];
    // Frames in blocks of four, their magnitudes in f64 once (not once per chroma), each
    // zero-padded to the runs' span: every weight loaded serves four frames (the weights
    // outgrow the L1 cache; one frame at a time streamed them for each frame).
    let span = bank.span.max(bins);
    let mut m64 = vec![0f64; CHROMA_BLOCK * span];
    let mut block = vec![0f32; CHROMA_BLOCK * n_chroma];
    for frames_of_block in mag.chunks(CHROMA_BLOCK * bins) {
        let used = frames_of_block.len() / bins;
        for (f, dst) in m64.chunks_exact_mut(span).enumerate() {
            let src = frames_of_block.get(f * bins..(f + 1) * bins).unwrap_or(&[]);
            for (d, &v) in dst.iter_mut().zip(src) {
                *d = v as f64;
            }
            if src.is_empty() {
                dst.fill(0.0);
            }
        }
        chroma_block(&m64, span, bank, &mut block);
        for frame in block.chunks_exact_mut(n_chroma).take(used) {
            let max = frame.iter().map(|v| v.abs()).fold(0f32, f32::max);
            if max >= f32::MIN_POSITIVE {
                for v in frame.iter_mut() {
                    *v /= max;
                }
            }
            for (s, &v) in sums.iter_mut().zip(frame.iter()) {
                *s += v as f64;
            }
        }
    }
    sums.iter().map(|s| s / frames.max(1) as f64).collect()
}

/// Frames per call of [`chroma_block`].
const CHROMA_BLOCK: usize = 4;

/// The chroma of [`CHROMA_BLOCK`] frames: `m64` holds each frame's magnitudes at `f·span`;
/// `out[f·n_chroma + c]`.
fn chroma_block(m64: &[f64], span: usize, bank: &ChromaRuns, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: AVX2 and FMA are present.
        return unsafe { chroma_block_fma(m64, span, bank, out) };
    }
    chroma_block_portable(m64, span, bank, out)
}

fn chroma_block_portable(m64: &[f64], span: usize, bank: &ChromaRuns, out: &mut [f32]) {
    let n_chroma = bank.rows.len();
    for (f, m) in m64.chunks_exact(span).take(CHROMA_BLOCK).enumerate() {
        for (c, runs) in bank.rows.iter().enumerate() {
            // Σ w·m in four independent partial sums (a sequential sum is a chain of
            // dependent adds).
            let mut acc = [0f64; 4];
            for (start, weights) in runs {
                for (w, v) in weights.chunks_exact(4).zip(m[*start..*start + weights.len()].chunks_exact(4)) {
                    for l in 0..4 {
                        acc[l] += w[l] * v[l];
                    }
                }
            }
            out[f * n_chroma + c] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) as f32;
        }
    }
}

/// [`chroma_block_portable`] with fused multiply-adds: each group of four weights is loaded
/// once for the four frames, two groups at a time into eight accumulators (two chains per
/// frame, so the adds' latency does not bound the loop). Within an f64 rounding of the
/// portable sums.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn chroma_block_fma(m64: &[f64], span: usize, bank: &ChromaRuns, out: &mut [f32]) {
    use std::arch::x86_64::*;
    assert!(span >= bank.span && m64.len() >= CHROMA_BLOCK * span);
    let n_chroma = bank.rows.len();
    assert!(out.len() >= CHROMA_BLOCK * n_chroma);
    for (c, runs) in bank.rows.iter().enumerate() {
        let z = _mm256_setzero_pd();
        let mut acc = [[z; 2]; CHROMA_BLOCK];
        for (start, weights) in runs {
            let (w, len) = (weights.as_ptr(), weights.len());
            // SAFETY: start + len ≤ bank.span ≤ span (from_dense), so frame f's loads at
            // f·span + start + k, k + 4 ≤ len (len a multiple of 4), stay inside m64.
            unsafe {
                let m = [0, 1, 2, 3].map(|f| m64.as_ptr().add(f * span + start));
                let mut k = 0;
                while k + 8 <= len {
                    let (w0, w1) = (_mm256_loadu_pd(w.add(k)), _mm256_loadu_pd(w.add(k + 4)));
                    for f in 0..CHROMA_BLOCK {
                        acc[f][0] = _mm256_fmadd_pd(w0, _mm256_loadu_pd(m[f].add(k)), acc[f][0]);
                        acc[f][1] = _mm256_fmadd_pd(w1, _mm256_loadu_pd(m[f].add(k + 4)), acc[f][1]);
                    }
                    k += 8;
                }
                if k < len {
                    let w0 = _mm256_loadu_pd(w.add(k));
                    for f in 0..CHROMA_BLOCK {
                        acc[f][0] = _mm256_fmadd_pd(w0, _mm256_loadu_pd(m[f].add(k)), acc[f][0]);
                    }
                }
            }
        }
        for (f, [a0, a1]) in acc.into_iter().enumerate() {
            let mut l = [0f64; 4];
            // SAFETY: four f64s into a four-f64 array.
            unsafe { _mm256_storeu_pd(l.as_mut_ptr(), _mm256_add_pd(a0, a1)) };
            out[f * n_chroma + c] = ((l[0] + l[1]) + (l[2] + l[3])) as f32;
        }
    }
}

/// A mel bank by rows of (first nonzero bin, weights up to the last nonzero): triangles cover
/// a few bins each, so a frame's projection touches ~2 weights per bin instead of every one.
/// Each row is zero-padded to whole groups of four (a zero weight adds an exact zero), so a
/// row's product is whole vectors only, with no scalar tail; the power buffer handed to
/// [`Self::project`] must reach `span`. (Weights widened to f64 once measured slower: twice
/// the bytes for one fewer conversion per four products.)
struct SparseBank {
    rows: Vec<(usize, Vec<f32>)>,
    /// Bins the padded rows reach.
    span: usize,
}

impl SparseBank {
    fn from_dense(dense: &Matrix) -> Self {
        let mut span = dense.cols;
        let rows = (0..dense.rows)
            .map(|i| {
                let row = dense.row(i);
                let lo = row.iter().position(|&w| w != 0.0).unwrap_or(0);
                let hi = row.iter().rposition(|&w| w != 0.0).map_or(lo, |h| h + 1);
                let mut weights = row[lo..hi].to_vec();
                weights.resize(weights.len().div_ceil(4) * 4, 0.0);
                span = span.max(lo + weights.len());
                (lo, weights)
            })
            .collect();
        Self { rows, span }
    }

    /// `emit(band, Σ w·p)` for every band, summed in f64 over four lanes (bin `k` of a band in
    /// lane `k mod 4` of its weights): a band's sum is no longer one chain of dependent adds,
    /// and it differs from `Matrix::matmul`'s bin-order sum only by f64 rounding. `power`
    /// holds at least `span` values (zeros past the spectrum).
    fn project(&self, power: &[f32], emit: impl FnMut(usize, f32)) {
        assert!(power.len() >= self.span, "the power buffer must reach the padded rows");
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present.
            return unsafe { self.project_avx2(power, emit) };
        }
        self.project_portable(power, emit)
    }

    /// [`Self::project_portable`] in intrinsics, lane for lane (the compiler's vectorisation of
    /// it split the four lanes over two half-width registers with shuffles).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn project_avx2(&self, power: &[f32], mut emit: impl FnMut(usize, f32)) {
        use std::arch::x86_64::*;
        for (i, (lo, weights)) in self.rows.iter().enumerate() {
            let p = &power[*lo..*lo + weights.len()];
            let mut acc = _mm256_setzero_pd();
            for k in (0..weights.len()).step_by(4) {
                // SAFETY: k + 4 ≤ weights.len() = p.len() (a multiple of 4).
                let (w, v) = unsafe {
                    (
                        _mm256_cvtps_pd(_mm_loadu_ps(weights.as_ptr().add(k))),
                        _mm256_cvtps_pd(_mm_loadu_ps(p.as_ptr().add(k))),
                    )
                };
                acc = _mm256_add_pd(acc, _mm256_mul_pd(w, v));
            }
            // ((l0 + l1) + (l2 + l3)), the portable order.
            let pairs = _mm_hadd_pd(_mm256_castpd256_pd128(acc), _mm256_extractf128_pd::<1>(acc));
            emit(i, _mm_cvtsd_f64(_mm_add_sd(pairs, _mm_unpackhi_pd(pairs, pairs))) as f32);
        }
    }

    #[inline(always)]
    fn project_portable(&self, power: &[f32], mut emit: impl FnMut(usize, f32)) {
        for (i, (lo, weights)) in self.rows.iter().enumerate() {
            let p = &power[*lo..*lo + weights.len()];
            let mut acc = [0f64; 4];
            for (w, v) in weights.chunks_exact(4).zip(p.chunks_exact(4)) {
                for l in 0..4 {
                    acc[l] += w[l] as f64 * v[l] as f64;
                }
            }
            emit(i, ((acc[0] + acc[1]) + (acc[2] + acc[3])) as f32);
        }
    }
}

fn sparse_mel_bank(sr: u32, n_fft: usize, n_mels: usize) -> Rc<SparseBank> {
    BANKS.with_borrow_mut(|b| {
        b.sparse_mel
            .entry((sr, n_fft, n_mels))
            .or_insert_with(|| {
                Rc::new(SparseBank::from_dense(&mel_filterbank(sr, n_fft, n_mels, 0.0, sr as f64 / 2.0)))
            })
            .clone()
    })
}

/// Frame-level log-mel for temporal models: 64 Slaney mel bands over 25 ms windows every 10 ms
/// (n_fft 400 / hop 160 at 16 kHz), power in dB re 1.0 with a −100 dB floor (amin 1e-10), no
/// top-dB clip. `[64, 1 + n / hop]`, librosa's layout.
pub fn log_mel(x: &[f32], sr: u32) -> Result<Matrix, DspError> {
    let n_fft = (0.025 * sr as f64).round() as usize;
    let hop = (0.010 * sr as f64).round() as usize;
    let cfg = StftConfig { n_fft, hop, win_length: n_fft, ..StftConfig::default() };
    let frames = cfg.frames(x.len());
    let bank = sparse_mel_bank(sr, n_fft, 64);
    let mut mel = Matrix::zeros(bank.rows.len(), frames);
    let mut power = vec![0f32; bank.span.max(cfg.bins())]; // zeros past the spectrum
    // One pass: each frame's power straight into the 64 bands (same sums as the dense product).
    for_each_frame(x, &cfg, 0..frames, |t, spec| {
        for (p, c) in power.iter_mut().zip(spec) {
            *p = (c.re * c.re + c.im * c.im) as f32;
        }
        bank.project(&power, |i, v| mel.data[i * frames + t] = v);
    })?;
    Ok(Matrix { rows: mel.rows, cols: mel.cols, data: power_to_db(&mel.data, 1e-10, None) })
}

#[cfg(test)]
mod tests {
    use super::super::pitch::{chroma_stft, piptrack};
    use super::super::spectral::{rms_from_magnitude, spectral_centroid, spectral_contrast, spectral_flatness};
    use super::super::stft::stft_magnitude;
    use super::*;

    /// The 312 values composed from the per-feature functions (librosa's call structure), the
    /// reference for the fused pass.
    pub(crate) fn custom_feature_composed(x: &[f32], sr: u32) -> Result<[f32; CUSTOM_FEATURE_LEN], DspError> {
        let cfg = StftConfig::default();
        if cfg.frames(x.len()) < 2 {
            return Err(DspError::InvalidInput(format!(
                "CustomFeature needs at least {} samples (two STFT frames), got {}",
                cfg.hop,
                x.len()
            )));
        }
        let mag = stft_magnitude(x, &cfg)?;
        // librosa squares the f32 magnitude for power spectrograms.
        let power = Matrix { rows: mag.rows, cols: mag.cols, data: mag.data.iter().map(|v| v * v).collect() };
        let freqs = fft_frequencies(sr, cfg.n_fft);
        let frames = mag.cols;

        let (pitches, pitch_mags) = piptrack(&mag, sr, 70.0, 400.0, 0.1);
        let mut index = 0;
        for k in 0..pitch_mags.rows {
            if pitch_mags.get(k, 1) > pitch_mags.get(index, 1) {
                index = k;
            }
        }
        let track: Vec<f64> = pitches.row(index).iter().map(|&v| v as f64).collect();
        let tuning = pitch_tuning(pitches.data.iter().copied(), 12);

        let centroid = spectral_centroid(&mag, &freqs);
        let total: f64 = centroid.iter().sum();
        let centroid: Vec<f64> = centroid.iter().map(|c| c / total).collect();
        let rms = rms_from_magnitude(&mag);
        let flatness = spectral_flatness(&power);
        let zcr = zero_crossing_rate(x, cfg.n_fft, cfg.hop)?;

        let mel = mel_filterbank(sr, 2048, 128, 0.0, sr as f64 / 2.0).matmul(&power);
        let mel_db = Matrix { rows: mel.rows, cols: mel.cols, data: power_to_db(&mel.data, 1e-10, Some(80.0)) };
        let mfcc = dct2_ortho_rows(&mel_db, 50);
        let (chroma, _) = chroma_stft(&mag, sr);
        let contrast = spectral_contrast(&mag, &freqs, 200.0, 6, 0.02);

        debug_assert_eq!(frames, mel.cols);
        Ok(assemble(&Parts {
            flatness: &flatness,
            zcr: &zcr,
            mag_stats: {
                let values = mag.data.iter().map(|&v| v as f64);
                [mean(values.clone()), max(values.clone()), std(values)]
            },
            centroid: &centroid,
            track: &track,
            tuning,
            rms: &rms,
            mfcc: &mfcc,
            chroma_means: (0..chroma.rows)
                .map(|r| lane_sum(chroma.row(r), |x| x) / chroma.cols.max(1) as f64)
                .collect(),
            mel: &mel,
            contrast: &contrast,
        }))
    }

    #[test]
    fn fused_pass_equals_the_composed_features() {
        let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
        for (sr, n) in [(16_000u32, 48_000usize), (22_050, 30_000), (16_000, 1_000)] {
            let x: Vec<f32> = (0..n)
                .map(|i| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    let noise = (s >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
                    0.3 * (i as f32 * 0.05 + (i as f32 * 0.0003).powi(2)).sin() + 0.02 * noise
                })
                .collect();
            let fused = custom_feature(&x, sr).unwrap();
            let composed = custom_feature_composed(&x, sr).unwrap();
            for (i, (a, b)) in fused.iter().zip(&composed).enumerate() {
                // Sums in another order: the whole-spectrogram magnitude stats (2, 7),
                // flatness (0), centroid (4–6), RMS (12–14), mel (177–304, so also the MFCC:
                // 15–164) and chroma (165–176). Everything else (pitch, tuning, contrast) is
                // bit-identical.
                if [0, 2, 4, 5, 6, 7, 12, 13, 14].contains(&i) || (177..305).contains(&i) {
                    assert!((a - b).abs() <= 1e-6 * b.abs(), "{sr}/{n} [{i}]: {a} vs {b}");
                } else if (15..165).contains(&i) {
                    // dB of sums that differ by an f32 rounding, through a 128-point DCT.
                    assert!((a - b).abs() <= 1e-4, "{sr}/{n} [{i}]: {a} vs {b}");
                } else if (165..177).contains(&i) {
                    assert!((a - b).abs() <= 1e-6, "{sr}/{n} [{i}]: {a} vs {b}");
                } else {
                    assert_eq!(a.to_bits(), b.to_bits(), "{sr}/{n} [{i}]: {a} vs {b}");
                }
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx2_frame_pass_gives_the_portable_bits() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let mut s: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        for bins in [1025, 201, 17, 16, 5, 2] {
            let spec: Vec<Complex<f64>> = (0..bins)
                .map(|k| {
                    let scale = if k % 7 == 0 { 1e-9 } else { 30.0 };
                    Complex::new(scale * next(), scale * next())
                })
                .collect();
            let freqs: Vec<f64> = (0..bins).map(|k| k as f64 * 7.8125).collect();
            let (mut m1, mut p1, mut m2, mut p2) =
                (vec![0f32; bins], vec![0f32; bins], vec![0f32; bins], vec![0f32; bins]);
            let a = analyse_frame_portable(&spec, &freqs, &mut m1, &mut p1);
            // SAFETY: AVX2 is present (checked above).
            let b = unsafe { analyse_frame_avx2(&spec, &freqs, &mut m2, &mut p2) };
            assert_eq!((m1, p1), (m2, p2), "{bins} bins");
            let bits = |f: &FrameSums| [f.max as f64, f.num, f.den, f.energy, f.sumsq, f.flatness].map(f64::to_bits);
            assert_eq!(bits(&a), bits(&b), "{bins} bins");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx2_mel_projection_gives_the_portable_bits() {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        for (sr, n_fft, n_mels) in [(16_000, 2048, 128), (16_000, 400, 64), (22_050, 2048, 128)] {
            let bank = SparseBank::from_dense(&mel_filterbank(sr, n_fft, n_mels, 0.0, sr as f64 / 2.0));
            let mut power: Vec<f32> = (0..n_fft / 2 + 1).map(|k| ((k * 7919 % 1013) as f32 * 0.37).powi(2)).collect();
            power.resize(bank.span, 0.0);
            let (mut a, mut b) = (vec![0f32; n_mels], vec![0f32; n_mels]);
            bank.project_portable(&power, |i, v| a[i] = v);
            // SAFETY: AVX2 is present (checked above).
            unsafe { bank.project_avx2(&power, |i, v| b[i] = v) };
            assert_eq!(
                a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
            );
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_fma_chroma_agrees_with_the_portable_sums() {
        if !(std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")) {
            return;
        }
        for (sr, tuning) in [(16_000, 0.0), (22_050, -0.3), (44_100, 0.17)] {
            let bank = ChromaRuns::from_dense(&chroma_filterbank(sr, 2048, tuning, 12));
            assert!(bank.rows.iter().flatten().all(|(_, w)| w.len() % 4 == 0));
            let span = bank.span + 3;
            let mut m64 = vec![0f64; CHROMA_BLOCK * span];
            for (f, m) in m64.chunks_exact_mut(span).enumerate() {
                for (k, v) in m[..1025].iter_mut().enumerate() {
                    *v = (((k + 31 * f) * 7919 % 1013) as f64 * 0.37).sqrt();
                }
            }
            let (mut a, mut b) = (vec![0f32; 48], vec![0f32; 48]);
            chroma_block_portable(&m64, span, &bank, &mut a);
            // SAFETY: AVX2 and FMA are present (checked above).
            unsafe { chroma_block_fma(&m64, span, &bank, &mut b) };
            for (x, y) in a.iter().zip(&b) {
                assert!(*x > 0.0 && (x - y).abs() <= 1e-6 * x.abs(), "{sr}: {x} vs {y}");
            }
            // Four different frames: four different chroma vectors.
            assert!(a.chunks(12).zip(a.chunks(12).skip(1)).all(|(p, n)| p != n));
        }
    }

    #[test]
    fn log_mel_agrees_with_the_dense_product() {
        use super::super::stft::stft_power;
        let x: Vec<f32> =
            (0..16_000).map(|i| (i as f32 * 0.07).sin() * 0.3 + ((i * 7919) % 100) as f32 * 1e-4).collect();
        let cfg = StftConfig { n_fft: 400, hop: 160, win_length: 400, ..StftConfig::default() };
        let power = stft_power(&x, &cfg).unwrap();
        let mel = mel_filterbank(16_000, 400, 64, 0.0, 8_000.0).matmul(&power);
        let want = power_to_db(&mel.data, 1e-10, None);
        let got = log_mel(&x, 16_000).unwrap().data;
        assert_eq!(got.len(), want.len());
        // The projection sums in four lanes: an f32 rounding of the power, 1e-6 of its dB.
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-4, "{g} vs {w}");
        }
    }
}
