//! Frame-wise spectral descriptors, each as librosa 0.9.2 defines it.

use super::Matrix;
use crate::DspError;

/// `librosa.feature.rms(S=mag)`: `sqrt(2·Σ_k w_k·S² / n_fft²)` with half weight on the DC and
/// Nyquist bins (n_fft = 2·(bins − 1)).
pub fn rms_from_magnitude(mag: &Matrix) -> Vec<f64> {
    let n_fft = 2 * (mag.rows - 1);
    let mut sum = vec![0f64; mag.cols];
    for k in 0..mag.rows {
        let w = if k == 0 || (k == mag.rows - 1 && n_fft.is_multiple_of(2)) { 0.5 } else { 1.0 };
        for (s, &v) in sum.iter_mut().zip(mag.row(k)) {
            *s += w * v as f64 * v as f64;
        }
    }
    sum.iter().map(|s| (2.0 * s / (n_fft * n_fft) as f64).sqrt()).collect()
}

/// `librosa.feature.zero_crossing_rate(y, frame_length, hop_length)`: centred frames with edge
/// padding; |x| ≤ 1e-10 counts as zero and zero as positive; value = crossings / frame_length.
/// No frames for an empty signal; an error for a zero frame length or hop.
pub fn zero_crossing_rate(x: &[f32], frame_length: usize, hop: usize) -> Result<Vec<f64>, DspError> {
    if frame_length == 0 || hop == 0 {
        return Err(DspError::InvalidInput(format!(
            "zero-crossing rate needs a frame length and hop of at least 1, got {frame_length} and {hop}"
        )));
    }
    if x.is_empty() {
        return Ok(Vec::new());
    }
    let pad = frame_length / 2;
    let padded_len = x.len() + 2 * pad;
    if padded_len < frame_length {
        return Ok(Vec::new());
    }
    let frames = 1 + (padded_len - frame_length) / hop;
    // change[i]: whether x[i − 1] and x[i] differ in sign (i ≥ 1). Edge padding repeats the end
    // samples, so a frame's pairs of padded neighbours are the pairs of x its span covers;
    // each frame sums its own bytes (vectorised; the frames overlap, a prefix count would be a
    // serial chain).
    let negative = |v: f32| v < -1e-10;
    let mut change = vec![0u8; x.len()];
    for ((c, &a), &b) in change[1..].iter_mut().zip(x).zip(&x[1..]) {
        *c = u8::from(negative(a) != negative(b));
    }
    Ok((0..frames)
        .map(|t| {
            // Padded pairs (p − 1, p) for p in start + 1 ..= start + frame_length − 1.
            let first = (t * hop + 1).saturating_sub(pad).clamp(1, x.len());
            let last = (t * hop + frame_length - 1).saturating_sub(pad).min(x.len() - 1);
            let crossings: u32 =
                if first <= last { change[first..=last].iter().map(|&c| u32::from(c)).sum() } else { 0 };
            crossings as f64 / frame_length as f64
        })
        .collect())
}

/// `librosa.feature.spectral_centroid(S=mag)`: Σ f·S / Σ S per frame, in Hz (0 for silent frames).
pub fn spectral_centroid(mag: &Matrix, freqs: &[f64]) -> Vec<f64> {
    let mut num = vec![0f64; mag.cols];
    let mut den = vec![0f64; mag.cols];
    for (k, f) in freqs.iter().enumerate().take(mag.rows) {
        for ((n, d), &v) in num.iter_mut().zip(den.iter_mut()).zip(mag.row(k)) {
            *n += f * v as f64;
            *d += v as f64;
        }
    }
    // librosa leaves columns below the smallest normal f32 un-normalised.
    num.iter().zip(&den).map(|(n, d)| if *d < f32::MIN_POSITIVE as f64 { *n } else { n / d }).collect()
}

/// `librosa.feature.spectral_flatness(S=power, amin=1e-10)`: geometric over arithmetic mean of
/// the power spectrum per frame (1 for a silent frame).
pub fn spectral_flatness(power: &Matrix) -> Vec<f64> {
    let n = power.rows as f64;
    let mut log_sum = vec![0f64; power.cols];
    let mut sum = vec![0f64; power.cols];
    // Products of up to 16 values (each ≥ 1e-10, so ≥ 1e-160: no underflow) share one ln.
    let mut prod = vec![1f64; power.cols];
    for k in 0..power.rows {
        for (t, &v) in power.row(k).iter().enumerate() {
            let v = (v as f64).max(1e-10);
            prod[t] *= v;
            sum[t] += v;
        }
        if k % 16 == 15 || k + 1 == power.rows {
            for (l, p) in log_sum.iter_mut().zip(prod.iter_mut()) {
                *l += p.ln();
                *p = 1.0;
            }
        }
    }
    log_sum.iter().zip(&sum).map(|(l, s)| (l / n).exp() / (s / n)).collect()
}

/// `librosa.feature.spectral_contrast(S=mag, sr, fmin=200, n_bands=6, quantile=0.02)` (the rate
/// enters through `freqs`): per
/// octave band, dB difference between the mean of the top and bottom 2 % of magnitudes, with
/// `power_to_db(top_db=80)` applied to peaks and valleys separately. `[n_bands + 1, frames]`.
pub fn spectral_contrast(mag: &Matrix, freqs: &[f64], fmin: f64, n_bands: usize, quantile: f64) -> Vec<Vec<f64>> {
    let frames = mag.cols;
    let bands = contrast_bands(freqs, fmin, n_bands, quantile);
    let mut peak = vec![vec![0f64; frames]; n_bands + 1];
    let mut valley = vec![vec![0f64; frames]; n_bands + 1];
    let (mut column, mut scratch) = (Vec::new(), Vec::new());
    for (k, band) in bands.iter().enumerate() {
        for t in 0..frames {
            column.clear();
            column.extend(band.rows.clone().map(|r| mag.data[r * frames + t]));
            if let Some((v, p)) = band.extremes(&column, &mut scratch) {
                valley[k][t] = v;
                peak[k][t] = p;
            }
        }
    }
    contrast_db(&peak, &valley)
}

/// One octave band of [`spectral_contrast`]: its bins and how many of them the top and bottom
/// quantile hold.
#[derive(Debug, Clone)]
pub(crate) struct ContrastBand {
    pub rows: std::ops::Range<usize>,
    pub q: usize,
}

impl ContrastBand {
    /// (mean of the `q` smallest, mean of the `q` largest) of one frame's band magnitudes;
    /// `None` for an empty band. `scratch` holds a copy when a large `q` needs a selection.
    pub fn extremes(&self, column: &[f32], scratch: &mut Vec<f32>) -> Option<(f64, f64)> {
        let n = column.len();
        if n == 0 {
            return None;
        }
        let q = self.q.min(n);
        if q <= SMALL_Q && n >= 4 * q {
            return Some(small_extremes(column, q, scratch));
        }
        // Only the q smallest and q largest matter: two selections instead of a sort.
        scratch.clear();
        scratch.extend_from_slice(column);
        let column = scratch;
        column.select_nth_unstable_by(q - 1, f32::total_cmp);
        let valley = column[..q].iter().map(|&v| v as f64).sum::<f64>() / q as f64;
        column.select_nth_unstable_by(n - q, f32::total_cmp);
        let peak = column[n - q..].iter().map(|&v| v as f64).sum::<f64>() / q as f64;
        Some((valley, peak))
    }
}

/// Largest quantile count kept in registers by [`small_extremes`] (2 % of a 410-bin band is 8).
const SMALL_Q: usize = 8;

/// Width of the lane groups [`small_extremes`] bounds the quantiles with.
const LANES: usize = 8;

/// [`ContrastBand::extremes`] for a small `q` (the values are magnitudes: finite, ≥ 0).
///
/// Two streaming passes instead of a sorted insertion per value (whose compare-and-branch per
/// bin was a fifth of CustomFeature's time): first the minimum and maximum of each of 8 strided
/// lane groups, which bound the quantiles — the `q` smallest lane minima are `q` distinct
/// values, so the `q`-th smallest value is at most the `q`-th smallest lane minimum (and
/// likewise for the maxima) —; then only the values inside the bounds, found a chunk at a
/// time, go through the sorted insertion. Both passes vectorise. Sums of up to 8 f32 values
/// are exact in f64, so the result equals a full selection's.
/// `scratch` holds the candidates (grown once, then reused: zeroing a fresh buffer per band
/// cost more than the search).
fn small_extremes(column: &[f32], q: usize, scratch: &mut Vec<f32>) -> (f64, f64) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        let room = 2 * (column.len() + LANES);
        if scratch.len() < room {
            scratch.resize(room, 0.0);
        }
        // SAFETY: AVX2 is present.
        return unsafe { small_extremes_avx2(column, q, scratch) };
    }
    small_extremes_portable(column, q)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn small_extremes_avx2(column: &[f32], q: usize, scratch: &mut [f32]) -> (f64, f64) {
    use std::arch::x86_64::*;
    let n = column.len();
    let room = n + LANES;
    if n < LANES || scratch.len() < 2 * room {
        return small_extremes_portable(column, q);
    }
    let whole = n / LANES * LANES;
    let (inf, neg_inf) = (_mm256_set1_ps(f32::INFINITY), _mm256_set1_ps(f32::NEG_INFINITY));
    // The values past the whole chunks as one more vector: the column's last eight with the
    // lanes already seen replaced by +∞ (low side) and −∞ (high side), so every value sits
    // in exactly one lane group and no value needs a scalar insertion.
    // SAFETY: n ≥ 8, so column[n − 8..n] is in bounds; ROTATIONS' rows are eight i32.
    let (tail_low, tail_high) = unsafe {
        let last = _mm256_loadu_ps(column.as_ptr().add(n - LANES));
        let lane = _mm256_loadu_si256(ROTATIONS[0].as_ptr() as *const __m256i);
        let seen = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32((LANES - (n - whole)) as i32), lane));
        (_mm256_blendv_ps(last, inf, seen), _mm256_blendv_ps(last, neg_inf, seen))
    };
    let mut lane_min = tail_low;
    let mut lane_max = tail_high;
    for chunk in column[..whole].chunks_exact(LANES) {
        // SAFETY: `chunk` holds exactly 8 f32; unaligned loads.
        let v = unsafe { _mm256_loadu_ps(chunk.as_ptr()) };
        lane_min = _mm256_min_ps(lane_min, v);
        lane_max = _mm256_max_ps(lane_max, v);
    }
    if q == 1 {
        // The quantiles are the minimum and the maximum (the three lowest octaves): no
        // second pass.
        return (horizontal_min(lane_min) as f64, horizontal_max(lane_max) as f64);
    }
    let (low_bound, high_bound) = quantile_bounds_avx2(lane_min, lane_max, q);
    let (low_v, high_v) = (_mm256_set1_ps(low_bound), _mm256_set1_ps(high_bound));
    // The values inside the bounds packed into two short lists without a branch (a branch
    // per chunk mispredicted on most of the few chunks that hold one), then inserted.
    let (below, above) = scratch.split_at_mut(room);
    let (mut n_below, mut n_above) = (0, 0);
    let pack = |m: usize| {
        // SAFETY: PACK's rows are eight u32.
        unsafe { _mm256_loadu_si256(PACK[m].as_ptr() as *const __m256i) }
    };
    let mut keep = |low: __m256, high: __m256| {
        let b = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_LE_OQ>(low, low_v)) as usize;
        let a = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_GE_OQ>(high, high_v)) as usize;
        // SAFETY: each value is kept at most once per side and the ±∞ padding never (the
        // bounds are finite), so a side has kept at most n values before a store, which
        // writes 8 f32 from there: inside `below` and `above` (n + 8 long each).
        unsafe {
            _mm256_storeu_ps(below.as_mut_ptr().add(n_below), _mm256_permutevar8x32_ps(low, pack(b)));
            _mm256_storeu_ps(above.as_mut_ptr().add(n_above), _mm256_permutevar8x32_ps(high, pack(a)));
        }
        n_below += b.count_ones() as usize;
        n_above += a.count_ones() as usize;
    };
    for chunk in column[..whole].chunks_exact(LANES) {
        // SAFETY: `chunk` holds exactly 8 f32.
        let v = unsafe { _mm256_loadu_ps(chunk.as_ptr()) };
        keep(v, v);
    }
    if whole < n {
        keep(tail_low, tail_high);
    }
    let (mut low, mut high) = ([f32::INFINITY; SMALL_Q], [f32::NEG_INFINITY; SMALL_Q]);
    for &v in &below[..n_below] {
        keep_smallest(&mut low, q, v);
    }
    for &v in &above[..n_above] {
        keep_largest(&mut high, q, v);
    }
    let mean = |a: &[f32]| a.iter().map(|&v| v as f64).sum::<f64>() / q as f64;
    (mean(&low[..q]), mean(&high[..q]))
}

/// For each 8-bit mask, the lanes it selects, first to last, then zeros: the permutation that
/// packs a vector's selected lanes to its front.
#[cfg(target_arch = "x86_64")]
static PACK: [[u32; 8]; 256] = {
    let mut table = [[0u32; 8]; 256];
    let mut mask = 0;
    while mask < 256 {
        let (mut lane, mut n) = (0, 0);
        while lane < 8 {
            if mask & (1 << lane) != 0 {
                table[mask][n] = lane as u32;
                n += 1;
            }
            lane += 1;
        }
        mask += 1;
    }
    table
};

/// [`quantile_bounds`] in registers and without a branch (sorting the two arrays of eight
/// mispredicted on most calls). The `q`-th smallest of eight values is the largest of those
/// with at most `q − 1` values strictly below them (ties included), and the `q`-th largest
/// likewise; each lane's count comes from comparing it with the seven rotations of its vector.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn quantile_bounds_avx2(mins: std::arch::x86_64::__m256, maxs: std::arch::x86_64::__m256, q: usize) -> (f32, f32) {
    use std::arch::x86_64::*;
    if q > LANES {
        return (f32::INFINITY, f32::NEG_INFINITY);
    }
    let (mut below, mut above) = (_mm256_setzero_si256(), _mm256_setzero_si256());
    for rotation in &ROTATIONS[1..] {
        // SAFETY: each rotation is eight i32 lane indices.
        let index = unsafe { _mm256_loadu_si256(rotation.as_ptr() as *const __m256i) };
        let (mins_r, maxs_r) = (_mm256_permutevar8x32_ps(mins, index), _mm256_permutevar8x32_ps(maxs, index));
        // A true compare is all ones: −1 per lane counted.
        below = _mm256_sub_epi32(below, _mm256_castps_si256(_mm256_cmp_ps::<_CMP_LT_OQ>(mins_r, mins)));
        above = _mm256_sub_epi32(above, _mm256_castps_si256(_mm256_cmp_ps::<_CMP_GT_OQ>(maxs_r, maxs)));
    }
    let limit = _mm256_set1_epi32(q as i32 - 1);
    let (too_high, too_low) = (_mm256_cmpgt_epi32(below, limit), _mm256_cmpgt_epi32(above, limit));
    let low = _mm256_blendv_ps(mins, _mm256_set1_ps(f32::NEG_INFINITY), _mm256_castsi256_ps(too_high));
    let high = _mm256_blendv_ps(maxs, _mm256_set1_ps(f32::INFINITY), _mm256_castsi256_ps(too_low));
    (horizontal_max(low), horizontal_min(high))
}

/// Lane `i` of rotation `r` reads lane `(i + r) mod 8`.
#[cfg(target_arch = "x86_64")]
static ROTATIONS: [[i32; 8]; 8] = {
    let mut table = [[0i32; 8]; 8];
    let mut r = 0;
    while r < 8 {
        let mut i = 0;
        while i < 8 {
            table[r][i] = ((i + r) % 8) as i32;
            i += 1;
        }
        r += 1;
    }
    table
};

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn horizontal_min(v: std::arch::x86_64::__m256) -> f32 {
    use std::arch::x86_64::*;
    let m = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let m = _mm_min_ps(m, _mm_movehl_ps(m, m));
    _mm_cvtss_f32(_mm_min_ss(m, _mm_movehdup_ps(m)))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn horizontal_max(v: std::arch::x86_64::__m256) -> f32 {
    use std::arch::x86_64::*;
    let m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)))
}

/// The bounds of the `q` smallest and `q` largest values from the lane minima and maxima
/// (reordered): the `q`-th smallest minimum and the `q`-th largest maximum; none for `q` > 8.
fn quantile_bounds(mins: &mut [f32; LANES], maxs: &mut [f32; LANES], q: usize) -> (f32, f32) {
    if q > LANES {
        return (f32::INFINITY, f32::NEG_INFINITY);
    }
    mins.sort_unstable_by(f32::total_cmp);
    maxs.sort_unstable_by(|a, b| b.total_cmp(a));
    (mins[q - 1], maxs[q - 1])
}

fn small_extremes_portable(column: &[f32], q: usize) -> (f64, f64) {
    let (mut low_bound, mut high_bound) = (f32::INFINITY, f32::NEG_INFINITY);
    if column.len() >= LANES {
        let (mut mins, mut maxs) = ([f32::INFINITY; LANES], [f32::NEG_INFINITY; LANES]);
        for chunk in column.chunks_exact(LANES) {
            for l in 0..LANES {
                mins[l] = mins[l].min(chunk[l]);
                maxs[l] = maxs[l].max(chunk[l]);
            }
        }
        (low_bound, high_bound) = quantile_bounds(&mut mins, &mut maxs, q);
    }
    let (mut low, mut high) = ([f32::INFINITY; SMALL_Q], [f32::NEG_INFINITY; SMALL_Q]);
    for &v in column {
        if v <= low_bound {
            keep_smallest(&mut low, q, v);
        }
        if v >= high_bound {
            keep_largest(&mut high, q, v);
        }
    }
    let mean = |a: &[f32]| a.iter().map(|&v| v as f64).sum::<f64>() / q as f64;
    (mean(&low[..q]), mean(&high[..q]))
}

/// Inserts `v` into the ascending `q` smallest so far.
#[inline(always)]
fn keep_smallest(low: &mut [f32; SMALL_Q], q: usize, v: f32) {
    if v < low[q - 1] {
        let mut i = q - 1;
        while i > 0 && low[i - 1] > v {
            low[i] = low[i - 1];
            i -= 1;
        }
        low[i] = v;
    }
}

/// Inserts `v` into the descending `q` largest so far.
#[inline(always)]
fn keep_largest(high: &mut [f32; SMALL_Q], q: usize, v: f32) {
    if v > high[q - 1] {
        let mut i = q - 1;
        while i > 0 && high[i - 1] < v {
            high[i] = high[i - 1];
            i -= 1;
        }
        high[i] = v;
    }
}

/// The bands of `spectral_contrast` as librosa 0.9.2 forms them: octaves from `fmin`, each
/// taking one bin below its lower edge, the last taking everything above; all but the last
/// drop their top bin. Bins are contiguous.
pub(crate) fn contrast_bands(freqs: &[f64], fmin: f64, n_bands: usize, quantile: f64) -> Vec<ContrastBand> {
    let mut octa = vec![0f64; n_bands + 2];
    for (i, o) in octa.iter_mut().enumerate().skip(1) {
        *o = fmin * 2f64.powi(i as i32 - 1);
    }
    (0..=n_bands)
        .map(|k| {
            let (lo, hi) = (octa[k], octa[k + 1]);
            let mut band: Vec<bool> = freqs.iter().map(|&f| f >= lo && f <= hi).collect();
            let idx: Vec<usize> = (0..band.len()).filter(|&i| band[i]).collect();
            if let (Some(&first), Some(&last)) = (idx.first(), idx.last()) {
                if k > 0 && first > 0 {
                    band[first - 1] = true;
                }
                if k == n_bands {
                    for b in band.iter_mut().skip(last + 1) {
                        *b = true;
                    }
                }
            }
            let rows: Vec<usize> = (0..band.len()).filter(|&i| band[i]).collect();
            let count = rows.len();
            let start = rows.first().copied().unwrap_or(0);
            let mut end = rows.last().map_or(0, |&l| l + 1);
            if k < n_bands && end > start {
                end -= 1;
            }
            let q = ((quantile * count as f64).round_ties_even() as usize).max(1);
            ContrastBand { rows: start..end, q }
        })
        .collect()
}

/// Peak and valley means `[band][frame]` to contrast in dB: each matrix through
/// `power_to_db(top_db=80)` over its own maximum, then peak − valley.
pub(crate) fn contrast_db(peak: &[Vec<f64>], valley: &[Vec<f64>]) -> Vec<Vec<f64>> {
    let to_db = |m: &[Vec<f64>]| -> Vec<Vec<f64>> {
        let db: Vec<Vec<f64>> = m.iter().map(|r| r.iter().map(|&v| 10.0 * v.max(1e-10).log10()).collect()).collect();
        let max = db.iter().flatten().cloned().fold(f64::NEG_INFINITY, f64::max);
        db.into_iter().map(|r| r.into_iter().map(|v| v.max(max - 80.0)).collect()).collect()
    };
    let (p, v) = (to_db(peak), to_db(valley));
    p.iter().zip(&v).map(|(pr, vr)| pr.iter().zip(vr).map(|(a, b)| a - b).collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_crossing_rate_counts_the_padded_frames_pairs() {
        // The definition, spelled out: edge-pad, frame, count sign changes inside each frame.
        let naive = |x: &[f32], fl: usize, hop: usize| -> Vec<f64> {
            let pad = fl / 2;
            let padded: Vec<f32> = (0..x.len() + 2 * pad).map(|i| x[i.saturating_sub(pad).min(x.len() - 1)]).collect();
            let frames = 1 + (padded.len() - fl) / hop;
            (0..frames)
                .map(|t| {
                    let w = &padded[t * hop..t * hop + fl];
                    w.windows(2).filter(|p| (p[0] < -1e-10) != (p[1] < -1e-10)).count() as f64 / fl as f64
                })
                .collect()
        };
        let mut s = 7u32;
        for n in [1usize, 2, 5, 33, 100, 1000] {
            let x: Vec<f32> = (0..n)
                .map(|_| {
                    s = s.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    ((s >> 16) % 5) as f32 - 2.0
                })
                .collect();
            for (fl, hop) in [(16, 4), (8, 8), (64, 16), (2048, 512)] {
                assert_eq!(zero_crossing_rate(&x, fl, hop).unwrap(), naive(&x, fl, hop), "n {n}, {fl}/{hop}");
            }
        }
        assert!(zero_crossing_rate(&[0.5], 0, 4).is_err() && zero_crossing_rate(&[0.5], 4, 0).is_err());
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_branch_free_bounds_equal_the_sorted_ones() {
        use std::arch::x86_64::*;
        if !std::arch::is_x86_feature_detected!("avx2") {
            return;
        }
        let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..2000 {
            let mut lanes = [[0f32; LANES]; 2];
            for v in lanes.iter_mut().flatten() {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                // Few distinct values: ties in most draws.
                *v = ((s >> 40) % 6) as f32;
            }
            for q in 1..=LANES {
                let (mut mins, mut maxs) = (lanes[0], lanes[1]);
                let want = quantile_bounds(&mut mins, &mut maxs, q);
                // SAFETY: AVX2 is present (checked above); eight f32 per load.
                let got = unsafe {
                    quantile_bounds_avx2(_mm256_loadu_ps(lanes[0].as_ptr()), _mm256_loadu_ps(lanes[1].as_ptr()), q)
                };
                assert_eq!(got, want, "{lanes:?} q {q}");
            }
        }
    }

    #[test]
    fn small_extremes_equal_the_selection() {
        let mut s: u64 = 0x2545_F491_4F6C_DD1D;
        for n in [4usize, 9, 16, 26, 103, 205, 410] {
            for q in 1..=SMALL_Q.min(n / 4) {
                let column: Vec<f32> = (0..n)
                    .map(|_| {
                        s ^= s << 13;
                        s ^= s >> 7;
                        s ^= s << 17;
                        // Ties on purpose: values on a coarse grid.
                        ((s >> 40) % 97) as f32 * 0.25
                    })
                    .collect();
                let mut sorted = column.clone();
                sorted.sort_by(f32::total_cmp);
                let sum = |a: &[f32]| a.iter().map(|&v| v as f64).sum::<f64>() / q as f64;
                let want = (sum(&sorted[..q]), sum(&sorted[n - q..]));
                // Random order, and the tilted orders a spectrum has (falling and rising).
                let falling: Vec<f32> = sorted.iter().rev().copied().collect();
                for order in [&column, &sorted, &falling] {
                    assert_eq!(small_extremes(order, q, &mut Vec::new()), want, "n {n} q {q}");
                    assert_eq!(small_extremes_portable(order, q), want, "portable, n {n} q {q}");
                }
            }
        }
    }
}
