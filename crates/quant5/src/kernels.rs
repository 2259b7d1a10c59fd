//! Block dot products: a weight row in its ggml blocks against activations quantized once to
//! the matching 8-bit format (Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for Q4_1/Q5_1, Q8_K for the
//! K-quants), with integer sums inside blocks and one f32 scale product per block — ggml's
//! `vec_dot_*` arithmetic. These portable versions are the reference the SIMD paths are
//! tested against.

use crate::blocks::{
    IQ4_VALUES, QK, QK_K, f16_at, iq4_xs_scale, q3_k_codes, q3_k_scales, round_half_away, scale_min_k4,
};
use crate::formats::{
    BlockFormat, BlockIQ4NL, BlockIQ4XS, BlockQ2K, BlockQ3K, BlockQ4_0, BlockQ4_1, BlockQ4K, BlockQ5_0, BlockQ5_1,
    BlockQ5K, BlockQ6K, BlockQ8_0, FormatFn, cast_blocks, for_type,
};
use crate::ggml_type::GgmlType;
use crate::{QuantError, blocks};
use half::f16;

/// One 32-value block of Q8_0 activations (paired with Q4_0, Q5_0, Q8_0, IQ4_NL).
#[derive(Debug, Clone, Copy)]
pub struct Q8_0 {
    /// Scale (f16-rounded, as stored by ggml).
    pub d: f32,
    /// The 32 codes.
    pub qs: [i8; QK],
}

/// One 32-value block of Q8_1 activations (paired with Q4_1, Q5_1): Q8_0 plus the block's sum.
#[derive(Debug, Clone, Copy)]
pub struct Q8_1 {
    /// Scale (f16-rounded).
    pub d: f32,
    /// `d · Σq`, f16-rounded.
    pub s: f32,
    /// The 32 codes.
    pub qs: [i8; QK],
}

/// One 256-value super-block of Q8_K activations (paired with the K-quants and IQ4_XS).
#[derive(Debug, Clone, Copy)]
pub struct Q8KBlock {
    /// Scale (f32).
    pub d: f32,
    /// The 256 codes.
    pub qs: [i8; QK_K],
    /// Sums of each 16 consecutive codes.
    pub bsums: [i16; 16],
}

/// `max |v|` over finite values, eight running maxima at a time: a compare-and-select loop the
/// compiler vectorises, where a fold of `f32::max` (NaN rules) stays one scalar chain.
fn largest_magnitude(c: &[f32]) -> f32 {
    let mut lanes = [0f32; 8];
    let mut parts = c.chunks_exact(8);
    for part in &mut parts {
        for (m, v) in lanes.iter_mut().zip(part) {
            if v.abs() > *m {
                *m = v.abs();
            }
        }
    }
    parts.remainder().iter().chain(&lanes).fold(0f32, |a, v| if v.abs() > a { v.abs() } else { a })
}

/// Codes and f16-rounded scale of one 32-value block, and the sum of its codes.
fn q8_codes(c: &[f32]) -> (f32, [i8; QK], i32) {
    let amax = largest_magnitude(c);
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    #[cfg(target_arch = "x86_64")]
    if let Ok(block) = <&[f32; QK]>::try_from(c)
        && std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
        && std::arch::is_x86_feature_detected!("f16c")
    {
        // SAFETY: AVX2, FMA and F16C were detected.
        let (qs, sum) = unsafe { crate::kernels_avx2::q8_round(block, id) };
        return (d, qs, sum);
    }
    q8_codes_portable(c, d, id)
}

/// [`q8_codes`]'s rounding, one value at a time.
fn q8_codes_portable(c: &[f32], d: f32, id: f32) -> (f32, [i8; QK], i32) {
    let mut qs = [0i8; QK];
    let mut sum = 0i32;
    for (q, &v) in qs.iter_mut().zip(c) {
        *q = round_half_away(v * id) as i8;
        sum += *q as i32;
    }
    (d, qs, sum)
}

/// `x` (whole blocks of 32) as Q8_0 blocks, as ggml's `quantize_row_q8_0`.
pub fn quantize_q8_0(x: &[f32]) -> Vec<Q8_0> {
    x.chunks_exact(QK)
        .map(|c| {
            let (d, qs, _) = q8_codes(c);
            Q8_0 { d: f16::from_f32(d).to_f32(), qs }
        })
        .collect()
}

/// `x` (whole blocks of 32) as Q8_1 blocks, as ggml's `quantize_row_q8_1`.
pub fn quantize_q8_1(x: &[f32]) -> Vec<Q8_1> {
    x.chunks_exact(QK)
        .map(|c| {
            let (d, qs, sum) = q8_codes(c);
            Q8_1 { d: f16::from_f32(d).to_f32(), s: f16::from_f32(sum as f32 * d).to_f32(), qs }
        })
        .collect()
}

/// [`nearest_int`] for |f| < 2²² (ties to even), as ggml computes it: adding 1.5·2²³ leaves the
/// rounded integer in the low mantissa bits. No libm call (`rintf` without SSE4.1), so the
/// loop over a block vectorises.
#[inline(always)]
fn nearest_int_small(f: f32) -> i32 {
    ((f + 12_582_912.0).to_bits() & 0x007F_FFFF) as i32 - 0x0040_0000
}

/// `x` (whole blocks of 256) as Q8_K super-blocks, as ggml's `quantize_row_q8_K`.
pub fn quantize_q8k(x: &[f32]) -> Vec<Q8KBlock> {
    x.chunks_exact(QK_K)
        .map(|c| {
            // The first value with the largest magnitude: what ggml's sequential scan keeps.
            let amax = largest_magnitude(c);
            let max = c.iter().copied().find(|v| v.abs() == amax).unwrap_or(0.0);
            let mut b = Q8KBlock { d: 0.0, qs: [0; QK_K], bsums: [0; 16] };
            if amax == 0.0 {
                return b;
            }
            let iscale = -127.0 / max;
            for (q, &v) in b.qs.iter_mut().zip(c) {
                *q = nearest_int_small(iscale * v).min(127) as i8;
            }
            for (j, s) in b.bsums.iter_mut().enumerate() {
                *s = b.qs[16 * j..16 * j + 16].iter().map(|&q| q as i16).sum();
            }
            b.d = 1.0 / iscale;
            b
        })
        .collect()
}

/// Checks `x` for a row dot product with weights of `t`.
fn check_activations(t: GgmlType, x: &[f32]) -> Result<(), QuantError> {
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(QuantError::NonFinite { index: i });
    }
    if !x.len().is_multiple_of(t.block_size()) {
        return Err(QuantError::Shape(format!(
            "activation length {} is not a multiple of {}'s block ({})",
            x.len(),
            t.name(),
            t.block_size()
        )));
    }
    Ok(())
}

/// One weight row (`row`, blocks of `t`) dotted with `x`, which is first quantized to the
/// activation format `t` pairs with: the fastest kernel this CPU runs, or the portable
/// reference when `portable`.
pub fn row_dot(t: GgmlType, row: &[u8], x: &[f32], portable: bool) -> Result<f32, QuantError> {
    struct RowDot<'a> {
        row: &'a [u8],
        x: &'a [f32],
        portable: bool,
    }
    impl FormatFn for RowDot<'_> {
        type Output = Result<f32, QuantError>;
        fn call<B: BlockFormat>(self) -> Self::Output {
            let row = cast_blocks::<B>(self.row)?;
            if row.len() * B::VALUES != self.x.len() {
                return Err(QuantError::Shape(format!(
                    "a row of {} values dotted with {}",
                    row.len() * B::VALUES,
                    self.x.len()
                )));
            }
            let act = B::quantize_activations(self.x);
            let dot = if self.portable { B::dot_portable } else { B::dot_fn() };
            Ok(dot(row, &act))
        }
    }
    check_activations(t, x)?;
    for_type(t, RowDot { row, x, portable })?
}

/// Q5_0 × Q8_0: `Σ_blocks d_x·d_y · Σ (q − 16)·q8`.
pub(crate) fn dot_q5_0(row: &[BlockQ5_0], act: &[Q8_0]) -> f32 {
    let mut sumf = 0f32;
    for (b, y) in row.iter().zip(act) {
        let qh = u32::from_le_bytes(b.qh);
        let mut sumi = 0i32;
        for (j, &q) in b.qs.iter().enumerate() {
            let lo = ((q & 0x0F) as i32 | ((((qh >> j) & 1) << 4) as i32)) - 16;
            let hi = ((q >> 4) as i32 | ((((qh >> (j + 16)) & 1) << 4) as i32)) - 16;
            sumi += lo * y.qs[j] as i32 + hi * y.qs[j + 16] as i32;
        }
        sumf += (f16_at(&b.d, 0) * y.d) * sumi as f32;
    }
    sumf
}

/// Q5_1 × Q8_1: `Σ d_x·d_y·Σ q·q8 + m_x·s_y`.
pub(crate) fn dot_q5_1(row: &[BlockQ5_1], act: &[Q8_1]) -> f32 {
    let mut sumf = 0f32;
    for (b, y) in row.iter().zip(act) {
        let qh = u32::from_le_bytes(b.qh);
        let mut sumi = 0i32;
        for (j, &q) in b.qs.iter().enumerate() {
            let lo = (q & 0x0F) as i32 | ((((qh >> j) & 1) << 4) as i32);
            let hi = (q >> 4) as i32 | ((((qh >> (j + 16)) & 1) << 4) as i32);
            sumi += lo * y.qs[j] as i32 + hi * y.qs[j + 16] as i32;
        }
        sumf += (f16_at(&b.d, 0) * y.d) * sumi as f32 + f16_at(&b.m, 0) * y.s;
    }
    sumf
}

/// Q4_0 × Q8_0.
pub(crate) fn dot_q4_0(row: &[BlockQ4_0], act: &[Q8_0]) -> f32 {
    let mut sumf = 0f32;
    for (b, y) in row.iter().zip(act) {
        let mut sumi = 0i32;
        for (j, &q) in b.qs.iter().enumerate() {
            sumi += ((q & 0x0F) as i32 - 8) * y.qs[j] as i32 + ((q >> 4) as i32 - 8) * y.qs[j + 16] as i32;
        }
        sumf += (f16_at(&b.d, 0) * y.d) * sumi as f32;
    }
    sumf
}

/// Q4_1 × Q8_1.
pub(crate) fn dot_q4_1(row: &[BlockQ4_1], act: &[Q8_1]) -> f32 {
    let mut sumf = 0f32;
    for (b, y) in row.iter().zip(act) {
        let mut sumi = 0i32;
        for (j, &q) in b.qs.iter().enumerate() {
            sumi += (q & 0x0F) as i32 * y.qs[j] as i32 + (q >> 4) as i32 * y.qs[j + 16] as i32;
        }
        sumf += (f16_at(&b.d, 0) * y.d) * sumi as f32 + f16_at(&b.m, 0) * y.s;
    }
    sumf
}

/// Q8_0 × Q8_0.
pub(crate) fn dot_q8_0(row: &[BlockQ8_0], act: &[Q8_0]) -> f32 {
    let mut sumf = 0f32;
    for (b, y) in row.iter().zip(act) {
        let sumi: i32 = b.qs.iter().zip(&y.qs).map(|(&w, &a)| w as i32 * a as i32).sum();
        sumf += (f16_at(&b.d, 0) * y.d) * sumi as f32;
    }
    sumf
}

/// Q5_K × Q8_K: `d_x·d_y·Σ_j ls_j·Σ q·q8 − dmin_x·d_y·Σ_j lm_j·(bsums)`.
pub(crate) fn dot_q5_k(row: &[BlockQ5K], act: &[Q8KBlock]) -> f32 {
    let row: &[u8] = bytemuck::cast_slice(row);
    let mut sumf = 0f32;
    for (b, y) in row.chunks_exact(176).zip(act) {
        let scales = &b[4..16];
        let qh = &b[16..48];
        let qs = &b[48..176];
        let (mut isum, mut msum) = (0i32, 0i32);
        for g in 0..4 {
            let (ls1, lm1) = scale_min_k4(2 * g, scales);
            let (ls2, lm2) = scale_min_k4(2 * g + 1, scales);
            let (mut s1, mut s2) = (0i32, 0i32);
            for l in 0..32 {
                let q1 = (qs[32 * g + l] & 0x0F) as i32 | ((((qh[l] >> (2 * g)) & 1) << 4) as i32);
                let q2 = (qs[32 * g + l] >> 4) as i32 | ((((qh[l] >> (2 * g + 1)) & 1) << 4) as i32);
                s1 += q1 * y.qs[64 * g + l] as i32;
                s2 += q2 * y.qs[64 * g + 32 + l] as i32;
            }
            isum += ls1 as i32 * s1 + ls2 as i32 * s2;
            let bs = |j: usize| y.bsums[2 * j] as i32 + y.bsums[2 * j + 1] as i32;
            msum += lm1 as i32 * bs(2 * g) + lm2 as i32 * bs(2 * g + 1);
        }
        let d = f16_at(b, 0) * y.d;
        let dmin = f16_at(b, 2) * y.d;
        sumf += d * isum as f32 - dmin * msum as f32;
    }
    sumf
}

/// Q6_K × Q8_K: `d·d_y·Σ_k scale_k·Σ (q − 32)·a` over 16-element groups.
pub(crate) fn dot_q6_k(row: &[BlockQ6K], act: &[Q8KBlock]) -> f32 {
    let row: &[u8] = bytemuck::cast_slice(row);
    let mut sumf = 0f32;
    let mut codes = [0i8; QK_K];
    for (b, y) in row.chunks_exact(210).zip(act) {
        blocks::q6_k_codes(b, &mut codes);
        let scales = &b[192..208];
        let mut isum = 0i32;
        for (k, &sc) in scales.iter().enumerate() {
            let part: i32 = (16 * k..16 * k + 16).map(|e| codes[e] as i32 * y.qs[e] as i32).sum();
            isum += (sc as i8) as i32 * part;
        }
        sumf += f16_at(b, 208) * y.d * isum as f32;
    }
    sumf
}

/// Q4_K × Q8_K: as Q5_K without the fifth bit.
pub(crate) fn dot_q4_k(row: &[BlockQ4K], act: &[Q8KBlock]) -> f32 {
    let row: &[u8] = bytemuck::cast_slice(row);
    let mut sumf = 0f32;
    for (b, y) in row.chunks_exact(144).zip(act) {
        let scales = &b[4..16];
        let (mut isum, mut msum) = (0i32, 0i32);
        for g in 0..4 {
            let (ls1, lm1) = scale_min_k4(2 * g, scales);
            let (ls2, lm2) = scale_min_k4(2 * g + 1, scales);
            let q = &b[16 + 32 * g..16 + 32 * g + 32];
            let (lo, hi) = y.qs[64 * g..64 * g + 64].split_at(32);
            let (mut s1, mut s2) = (0i32, 0i32);
            for ((&q, &a), &b) in q.iter().zip(lo).zip(hi) {
                s1 += (q & 0x0F) as i32 * a as i32;
                s2 += (q >> 4) as i32 * b as i32;
            }
            isum += ls1 as i32 * s1 + ls2 as i32 * s2;
            let bs = |j: usize| y.bsums[2 * j] as i32 + y.bsums[2 * j + 1] as i32;
            msum += lm1 as i32 * bs(2 * g) + lm2 as i32 * bs(2 * g + 1);
        }
        sumf += f16_at(b, 0) * y.d * isum as f32 - f16_at(b, 2) * y.d * msum as f32;
    }
    sumf
}

/// Q2_K × Q8_K: `d·d_y·Σ_k sc_k·Σ q·q8 − dmin·d_y·Σ_k m_k·bsum_k` over 16-value groups.
pub(crate) fn dot_q2_k(row: &[BlockQ2K], act: &[Q8KBlock]) -> f32 {
    let row: &[u8] = bytemuck::cast_slice(row);
    let mut sumf = 0f32;
    for (b, y) in row.chunks_exact(84).zip(act) {
        let (scales, qs) = (&b[0..16], &b[16..80]);
        let (mut isum, mut msum) = (0i32, 0i32);
        for (k, &sc) in scales.iter().enumerate() {
            // Group k: half k / 8, shift 2·((k % 8) / 2), bytes 16·(k % 2)..+16 of that half.
            let (half, shift, part) = (k / 8, 2 * ((k % 8) / 2), 16 * (k % 2));
            let q = &qs[32 * half + part..32 * half + part + 16];
            let a = &y.qs[16 * k..16 * k + 16];
            let s: i32 = q.iter().zip(a).map(|(&q, &a)| ((q >> shift) & 3) as i32 * a as i32).sum();
            isum += (sc & 0x0F) as i32 * s;
            msum += (sc >> 4) as i32 * y.bsums[k] as i32;
        }
        sumf += f16_at(b, 80) * y.d * isum as f32 - f16_at(b, 82) * y.d * msum as f32;
    }
    sumf
}

/// Q3_K × Q8_K: `d·d_y·Σ_k (sc_k − 32)·Σ q·q8` with signed 3-bit codes.
pub(crate) fn dot_q3_k(row: &[BlockQ3K], act: &[Q8KBlock]) -> f32 {
    let row: &[u8] = bytemuck::cast_slice(row);
    let mut sumf = 0f32;
    let mut codes = [0i8; QK_K];
    for (b, y) in row.chunks_exact(110).zip(act) {
        q3_k_codes(b, &mut codes);
        let scales = q3_k_scales(&b[96..108]);
        let mut isum = 0i32;
        for (k, &sc) in scales.iter().enumerate() {
            let part: i32 = (16 * k..16 * k + 16).map(|e| codes[e] as i32 * y.qs[e] as i32).sum();
            isum += sc as i32 * part;
        }
        sumf += f16_at(b, 108) * y.d * isum as f32;
    }
    sumf
}

/// IQ4_NL × Q8_0: table values against 8-bit activations, one scale product per block.
pub(crate) fn dot_iq4_nl(row: &[BlockIQ4NL], act: &[Q8_0]) -> f32 {
    let mut sumf = 0f32;
    for (b, y) in row.iter().zip(act) {
        let mut sumi = 0i32;
        for (j, &q) in b.qs.iter().enumerate() {
            sumi += IQ4_VALUES[(q & 0x0F) as usize] as i32 * y.qs[j] as i32
                + IQ4_VALUES[(q >> 4) as usize] as i32 * y.qs[j + 16] as i32;
        }
        sumf += (f16_at(&b.d, 0) * y.d) * sumi as f32;
    }
    sumf
}

/// IQ4_XS × Q8_K: `d·d_y·Σ_ib (ls_ib − 32)·Σ T[q]·q8` over 32-value sub-blocks.
pub(crate) fn dot_iq4_xs(row: &[BlockIQ4XS], act: &[Q8KBlock]) -> f32 {
    let row: &[u8] = bytemuck::cast_slice(row);
    let mut sumf = 0f32;
    for (b, y) in row.chunks_exact(136).zip(act) {
        let mut isum = 0i32;
        for ib in 0..8 {
            let qs = &b[8 + 16 * ib..8 + 16 * ib + 16];
            let a = &y.qs[32 * ib..32 * ib + 32];
            let mut s = 0i32;
            for j in 0..16 {
                s += IQ4_VALUES[(qs[j] & 0x0F) as usize] as i32 * a[j] as i32
                    + IQ4_VALUES[(qs[j] >> 4) as usize] as i32 * a[j + 16] as i32;
            }
            isum += iq4_xs_scale(b, ib) * s;
        }
        sumf += f16_at(b, 0) * y.d * isum as f32;
    }
    sumf
}

fn dot_dense(w: &[f32], x: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = w.len() / 8 * 8;
    for (cw, cx) in w[..chunks].chunks_exact(8).zip(x[..chunks].chunks_exact(8)) {
        for l in 0..8 {
            acc[l] += cw[l] * cx[l];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (a, b) in w[chunks..].iter().zip(&x[chunks..]) {
        s += a * b;
    }
    s
}

/// Float weights against f32 activations, decoded 256 values at a time into a stack buffer
/// (no allocation per row).
fn dot_float(row: &[u8], x: &[f32], bytes_per_value: usize, decode: fn(&[u8], &mut [f32])) -> f32 {
    let mut w = [0f32; 256];
    let mut sum = 0f32;
    for (bytes, xs) in row.chunks(256 * bytes_per_value).zip(x.chunks(256)) {
        let w = &mut w[..xs.len()];
        decode(bytes, w);
        sum += dot_dense(w, xs);
    }
    sum
}

pub(crate) fn dot_f32(row: &[u8], act: &[f32]) -> f32 {
    dot_float(row, act, 4, blocks::decode_f32)
}

pub(crate) fn dot_f16(row: &[u8], act: &[f32]) -> f32 {
    dot_float(row, act, 2, blocks::decode_f16)
}

pub(crate) fn dot_bf16(row: &[u8], act: &[f32]) -> f32 {
    dot_float(row, act, 2, blocks::decode_bf16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blocks::nearest_int;

    #[test]
    fn activation_codes_are_the_scalar_loops_bit_for_bit() {
        // Random blocks at many scales, halves and near-halves of the scale, zeros, NaNs and
        // infinities: the vector rounding gives the portable loop's codes and sums.
        let mut s: u64 = 0xC0DE_5EED;
        let mut rnd = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for trial in 0..20_000 {
            let scale = 10f32.powi(trial % 13 - 6);
            let mut c: Vec<f32> = (0..QK).map(|_| ((rnd() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * scale).collect();
            match trial % 7 {
                0 => c[3] = f32::NAN,
                1 => c[5] = 0.0,
                2 => c.iter_mut().for_each(|v| *v = 0.0),
                3 => {
                    // Values that land on and next to .5 after scaling.
                    let amax = largest_magnitude(&c);
                    let d = amax / 127.0;
                    for (i, v) in c.iter_mut().enumerate().skip(1) {
                        *v = ((i as f32 - 16.0) + 0.5) * d;
                        if i % 3 == 0 {
                            *v = f32::from_bits(v.to_bits() + 1);
                        }
                    }
                }
                4 => c[7] = f32::INFINITY,
                _ => {}
            }
            let amax = largest_magnitude(&c);
            let d = amax / 127.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            let (_, q, sum) = q8_codes_portable(&c, d, id);
            assert_eq!(q8_codes(&c), (d, q, sum), "trial {trial}: {c:?}");
        }
    }

    #[test]
    fn largest_magnitude_is_the_max_of_abs() {
        let mut s = 0x1234_5678u32;
        for len in [0usize, 1, 7, 8, 32, 33, 256] {
            for _ in 0..50 {
                let c: Vec<f32> = (0..len)
                    .map(|_| {
                        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        (s >> 8) as f32 / (1 << 24) as f32 * 20.0 - 10.0
                    })
                    .collect();
                assert_eq!(largest_magnitude(&c), c.iter().fold(0f32, |a, v| a.max(v.abs())), "{c:?}");
            }
        }
    }

    #[test]
    fn nearest_int_small_rounds_half_to_even_like_rint() {
        // Every float within 32 ulps of each integer and half-integer in ±200 (the range the
        // Q8_K codes use, and past it), signed zeros, and tiny values.
        let mut values = vec![0.0f32, -0.0, 1e-30, -1e-30, 127.0, -127.0];
        for k in -400..=400 {
            let centre = k as f32 * 0.5;
            let (mut up, mut down) = (centre, centre);
            for _ in 0..32 {
                values.extend([up, down]);
                up = up.next_up();
                down = down.next_down();
            }
        }
        for v in values {
            assert_eq!(nearest_int_small(v), nearest_int(v), "{v}");
        }
    }
}
