//! The few numeric kernels the transformer needs besides matrix products: layer norm, erf GELU,
//! softmax. `exp` and `erf` are written as branch-free polynomials so the loops vectorise
//! (libm's scalar calls would be a third of the encoder's time in attention softmax).

/// `(x − mean) / sqrt(var + eps) · gamma + beta` per row of `dim` values (biased variance).
pub fn layer_norm(x: &[f32], dim: usize, gamma: &[f32], beta: &[f32], eps: f32, out: &mut [f32]) {
    for (row, o) in x.chunks_exact(dim).zip(out.chunks_exact_mut(dim)) {
        let mean = row.iter().sum::<f32>() / dim as f32;
        let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / dim as f32;
        let inv = 1.0 / (var + eps).sqrt();
        for (((o, &v), &g), &b) in o.iter_mut().zip(row).zip(gamma).zip(beta) {
            *o = (v - mean) * inv * g + b;
        }
    }
}

/// `e^x` for f32, relative error below 2e-7 on [−87, 88]; 0 below, +inf above.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.3, 88.7);
    // e^x = 2^n · e^r with n = round(x / ln 2), |r| ≤ ln2 / 2. Rounding by adding and
    // subtracting 1.5·2^23 keeps the loop free of libm calls, so it vectorises.
    const ROUNDER: f32 = 12_582_912.0;
    let shifted = x * std::f32::consts::LOG2_E + ROUNDER;
    let n = shifted - ROUNDER;
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
    let p =
        1.0 + r * (1.0 + r * (0.5 + r * (0.166_666_67 + r * (0.041_666_52 + r * (0.008_333_607 + r * 0.001_394_2)))));
    // `n` as an integer is the low bits of `shifted` (|n| < 2²²): integer lanes, where
    // `n as i32` (a saturating cast) would make the compiler convert lane by lane.
    let n_int = shifted.to_bits().wrapping_sub(ROUNDER.to_bits());
    p * f32::from_bits(n_int.wrapping_add(127) << 23)
}

/// `erf(x)`, absolute error below 1.2e-7 (Numerical Recipes' Chebyshev fit of erfc).
#[inline(always)]
#[allow(clippy::excessive_precision)] // the published coefficients, as published
pub fn erf(x: f32) -> f32 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_2
        + t * (1.000_023_7
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let e = 1.0 - t * exp(poly);
    if x >= 0.0 { e } else { -e }
}

/// GELU in its exact erf form, `0.5·x·(1 + erf(x/√2))`, in place.
pub fn gelu(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the feature was just detected.
            return unsafe { gelu_avx512(x) };
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the features were just detected.
            return unsafe { gelu_avx2(x) };
        }
    }
    gelu_portable(x);
}

/// The same loop compiled for AVX2 + FMA (8 lanes instead of SSE2's 4) and for AVX-512 (16);
/// element by element, so every width gives the same values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gelu_avx2(x: &mut [f32]) {
    gelu_portable(x);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn gelu_avx512(x: &mut [f32]) {
    gelu_portable(x);
}

#[inline(always)]
fn gelu_portable(x: &mut [f32]) {
    for v in x {
        *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// `out[j] = scale · q · rows[j·stride ..][.. q.len()]` for every `j < out.len()`: one query's
/// attention scores against a head's keys without gemm (packing the keys for one query costs
/// more than the product).
pub fn scaled_dots(q: &[f32], rows: &[f32], stride: usize, scale: f32, out: &mut [f32]) {
    assert!(out.is_empty() || rows.len() >= (out.len() - 1) * stride + q.len(), "scaled_dots bounds");
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the feature was just detected.
            return unsafe { scaled_dots_avx512(q, rows, stride, scale, out) };
        }
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the feature was just detected.
            return unsafe { scaled_dots_avx2(q, rows, stride, scale, out) };
        }
    }
    scaled_dots_portable(q, rows, stride, scale, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn scaled_dots_avx512(q: &[f32], rows: &[f32], stride: usize, scale: f32, out: &mut [f32]) {
    scaled_dots_portable(q, rows, stride, scale, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn scaled_dots_avx2(q: &[f32], rows: &[f32], stride: usize, scale: f32, out: &mut [f32]) {
    scaled_dots_portable(q, rows, stride, scale, out);
}

#[inline(always)]
fn scaled_dots_portable(q: &[f32], rows: &[f32], stride: usize, scale: f32, out: &mut [f32]) {
    for (j, o) in out.iter_mut().enumerate() {
        *o = numeric::dot(q, &rows[j * stride..][..q.len()]) * scale;
    }
}

/// `out[j] = scale · Σ_c q[c] · keys[c·n + j]` with `n = out.len()`: one query's scores against
/// keys stored by dimension (`[q.len(), n]`), as sums of whole rows.
pub fn scaled_row_sums(q: &[f32], keys: &[f32], scale: f32, out: &mut [f32]) {
    assert!(keys.len() >= q.len() * out.len(), "scaled_row_sums bounds");
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the feature was just detected.
            return unsafe { scaled_row_sums_avx512(q, keys, scale, out) };
        }
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the feature was just detected.
            return unsafe { scaled_row_sums_avx2(q, keys, scale, out) };
        }
    }
    scaled_row_sums_portable(q, keys, scale, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn scaled_row_sums_avx512(q: &[f32], keys: &[f32], scale: f32, out: &mut [f32]) {
    scaled_row_sums_portable(q, keys, scale, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn scaled_row_sums_avx2(q: &[f32], keys: &[f32], scale: f32, out: &mut [f32]) {
    scaled_row_sums_portable(q, keys, scale, out);
}

#[inline(always)]
fn scaled_row_sums_portable(q: &[f32], keys: &[f32], scale: f32, out: &mut [f32]) {
    let n = out.len();
    out.fill(0.0);
    for (&qc, row) in q.iter().zip(keys.chunks_exact(n.max(1))) {
        for (o, &k) in out.iter_mut().zip(row) {
            *o += qc * k;
        }
    }
    for o in out.iter_mut() {
        *o *= scale;
    }
}

/// `out = Σ_j p[j] · rows[j·stride ..][.. out.len()]`: one query's attention output for a head.
pub fn weighted_sum(p: &[f32], rows: &[f32], stride: usize, out: &mut [f32]) {
    assert!(p.is_empty() || rows.len() >= (p.len() - 1) * stride + out.len(), "weighted_sum bounds");
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the feature was just detected.
            return unsafe { weighted_sum_avx512(p, rows, stride, out) };
        }
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the feature was just detected.
            return unsafe { weighted_sum_avx2(p, rows, stride, out) };
        }
    }
    weighted_sum_portable(p, rows, stride, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn weighted_sum_avx512(p: &[f32], rows: &[f32], stride: usize, out: &mut [f32]) {
    weighted_sum_portable(p, rows, stride, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn weighted_sum_avx2(p: &[f32], rows: &[f32], stride: usize, out: &mut [f32]) {
    weighted_sum_portable(p, rows, stride, out);
}

#[inline(always)]
fn weighted_sum_portable(p: &[f32], rows: &[f32], stride: usize, out: &mut [f32]) {
    // Whisper's heads are 64 wide: a fixed-size sum stays in registers across all the rows.
    if let Ok(out) = <&mut [f32; 64]>::try_from(&mut *out) {
        let mut acc = [0f32; 64];
        for (j, &pj) in p.iter().enumerate() {
            if let Ok(row) = <&[f32; 64]>::try_from(&rows[j * stride..][..64]) {
                for (a, &v) in acc.iter_mut().zip(row) {
                    *a += pj * v;
                }
            }
        }
        *out = acc;
        return;
    }
    out.fill(0.0);
    let n = out.len();
    for (j, &pj) in p.iter().enumerate() {
        for (o, &v) in out.iter_mut().zip(&rows[j * stride..][..n]) {
            *o += pj * v;
        }
    }
}

/// Softmax of one row in place. Eight independent lanes for the maximum and the sum let the
/// loops vectorise (a single running sum is a serial dependency the compiler must keep).
pub fn softmax(row: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: the feature was just detected.
            return unsafe { softmax_avx512(row) };
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the features were just detected.
            return unsafe { softmax_avx2(row) };
        }
    }
    softmax_portable::<8>(row);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn softmax_avx2(row: &mut [f32]) {
    softmax_portable::<8>(row);
}

/// Sixteen lanes for AVX-512 (the sums are added in another order than with eight).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn softmax_avx512(row: &mut [f32]) {
    softmax_portable::<16>(row);
}

#[inline(always)]
fn softmax_portable<const L: usize>(row: &mut [f32]) {
    let mut lanes = [f32::NEG_INFINITY; L];
    let mut chunks = row.chunks_exact(L);
    for c in &mut chunks {
        for i in 0..L {
            lanes[i] = if c[i] > lanes[i] { c[i] } else { lanes[i] };
        }
    }
    let max = chunks.remainder().iter().chain(&lanes).copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sums = [0f32; L];
    let mut chunks = row.chunks_exact_mut(L);
    for c in &mut chunks {
        for i in 0..L {
            c[i] = exp(c[i] - max);
            sums[i] += c[i];
        }
    }
    let mut sum: f32 = sums.iter().sum();
    for v in chunks.into_remainder() {
        *v = exp(*v - max);
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// `log_softmax` of `logits`: the vectorised `exp`, summed in f32 lanes over short runs and in
/// f64 across them (a decoding step normalises 51,864 logits; libm's `exp` per logit cost more
/// than the step's attention).
pub fn log_softmax(logits: &[f32], out: &mut Vec<f32>) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum = sum_exp_shifted(logits, max);
    let lse = max + sum.ln() as f32;
    out.clear();
    out.extend(logits.iter().map(|&v| v - lse));
}

/// `Σ e^(v − shift)`.
fn sum_exp_shifted(v: &[f32], shift: f32) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the features were just detected.
            return unsafe { sum_exp_shifted_avx2(v, shift) };
        }
    }
    sum_exp_shifted_portable(v, shift)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn sum_exp_shifted_avx2(v: &[f32], shift: f32) -> f64 {
    sum_exp_shifted_portable(v, shift)
}

#[inline(always)]
fn sum_exp_shifted_portable(v: &[f32], shift: f32) -> f64 {
    const L: usize = 8;
    let mut total = 0f64;
    for run in v.chunks(256) {
        let mut lanes = [0f32; L];
        let mut chunks = run.chunks_exact(L);
        for c in &mut chunks {
            for i in 0..L {
                lanes[i] += exp(c[i] - shift);
            }
        }
        let tail: f32 = chunks.remainder().iter().map(|&x| exp(x - shift)).sum();
        total += f64::from(lanes.iter().sum::<f32>() + tail);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_and_erf_match_std() {
        for i in -8000..8000 {
            let x = i as f32 / 100.0;
            let want = (x as f64).exp();
            assert!(((exp(x) as f64 - want) / want).abs() < 3e-7, "exp({x})");
        }
        for i in -600..600 {
            let x = i as f32 / 100.0;
            // erf by its series / continued fraction is not in std: compare with erfc symmetry
            // and known values.
            assert!((erf(x) + erf(-x)).abs() < 1e-7);
        }
        let logits: Vec<f32> = (0..51_864).map(|i| ((i * 7919 % 1000) as f32 - 700.0) / 37.0).collect();
        let mut got = Vec::new();
        log_softmax(&logits, &mut got);
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let lse = f64::from(max) + logits.iter().map(|&v| f64::from(v - max).exp()).sum::<f64>().ln();
        for (g, &v) in got.iter().zip(&logits) {
            assert!((f64::from(*g) - (f64::from(v) - lse)).abs() < 1e-5, "log_softmax");
        }
        for (x, want) in [(0.5f32, 0.520_499_9f32), (1.0, 0.842_700_8), (2.0, 0.995_322_3), (0.1, 0.112_462_92)] {
            assert!((erf(x) - want).abs() < 2e-7, "erf({x}) = {}", erf(x));
        }
    }
}
