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
    let n = (x * std::f32::consts::LOG2_E + ROUNDER) - ROUNDER;
    let r = x - n * 0.693_145_75 - n * 1.428_606_8e-6;
    let p =
        1.0 + r * (1.0 + r * (0.5 + r * (0.166_666_67 + r * (0.041_666_52 + r * (0.008_333_607 + r * 0.001_394_2)))));
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
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
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the features were just detected.
            return unsafe { gelu_avx2(x) };
        }
    }
    gelu_portable(x);
}

/// The same loop compiled for AVX2 + FMA (8 lanes instead of SSE2's 4).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gelu_avx2(x: &mut [f32]) {
    gelu_portable(x);
}

#[inline(always)]
fn gelu_portable(x: &mut [f32]) {
    for v in x {
        *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2));
    }
}

/// Softmax of one row in place. Eight independent lanes for the maximum and the sum let the
/// loops vectorise (a single running sum is a serial dependency the compiler must keep).
pub fn softmax(row: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            // SAFETY: the features were just detected.
            return unsafe { softmax_avx2(row) };
        }
    }
    softmax_portable(row);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn softmax_avx2(row: &mut [f32]) {
    softmax_portable(row);
}

#[inline(always)]
fn softmax_portable(row: &mut [f32]) {
    const L: usize = 8;
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
