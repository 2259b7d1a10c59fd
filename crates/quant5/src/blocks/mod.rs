//! Block encoders and decoders, byte-compatible with ggml (`ggml-quants.c`).
//!
//! All arithmetic is plain f32 in the C reference's evaluation order, without fused
//! multiply-adds (the reference library is built without FMA), so encodings are byte-exact and
//! decodings bit-exact. Scales are stored as IEEE binary16 rounded to nearest even.

use half::{bf16, f16};

mod iq4;
mod kquants;

pub(crate) use iq4::iq4_xs_scale;
pub use iq4::{IQ4_VALUES, decode_iq4_nl, decode_iq4_xs, encode_iq4_nl, encode_iq4_xs};
pub use kquants::{decode_q2_k, decode_q3_k, decode_q4_k, encode_q2_k, encode_q3_k, encode_q4_k, encode_q6_k};
pub(crate) use kquants::{q3_k_codes, q3_k_scales};

/// 32-element blocks (Q4_x, Q5_x, Q8_x).
pub const QK: usize = 32;
/// 256-element super-blocks (K-quants).
pub const QK_K: usize = 256;

/// The little-endian f16 at byte `at`, as f32 (the portable conversion; the AVX2 kernels use
/// F16C's).
pub(crate) fn f16_at(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

pub(crate) fn put_f16(out: &mut [u8], at: usize, v: f32) {
    out[at..at + 2].copy_from_slice(&f16::from_f32(v).to_le_bytes());
}

/// ggml's `nearest_int`: round half to even.
#[inline]
pub(crate) fn nearest_int(f: f32) -> i32 {
    f.round_ties_even() as i32
}

/// `f.round() as i32` (C's `roundf`: ties away from zero) for |f| < 2³¹, without the libm
/// call, so a loop of it vectorises: add the largest float below ½ with `f`'s sign, truncate.
/// Adding ½ itself would round values just below a half up (0.49999997 + 0.5 = 1.0 in f32).
#[inline(always)]
pub(crate) fn round_half_away(f: f32) -> i32 {
    (f + f32::from_bits(0x3EFF_FFFF).copysign(f)) as i32
}

/// The largest magnitude in `x` and the signed value that has it (the first on ties), as
/// ggml's encoders find them; `(0, 0)` for an empty or all-zero slice.
#[inline]
pub(crate) fn max_by_magnitude(x: &[f32]) -> (f32, f32) {
    let (mut amax, mut max) = (0f32, 0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    (amax, max)
}

/// The smallest and largest value of `x` (`(f32::MAX, -f32::MAX)` when empty).
#[inline]
fn min_max(x: &[f32]) -> (f32, f32) {
    let (mut min, mut max) = (f32::MAX, -f32::MAX);
    for &v in x {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    (min, max)
}

// ---------------------------------------------------------------- Q5_0

/// Encodes 32 values as one Q5_0 block (22 bytes): `d` f16, `qh` u32, `qs[16]`.
/// Symmetric: `d = max / −16` where `max` is the signed value of largest magnitude.
pub fn encode_q5_0(x: &[f32; QK], out: &mut [u8]) {
    let (_, max) = max_by_magnitude(x);
    let d = max / -16.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    put_f16(out, 0, d);
    let mut qh = 0u32;
    for j in 0..16 {
        let x0 = x[j] * id;
        let x1 = x[j + 16] * id;
        let q0 = ((x0 + 16.5) as i8 as i32).min(31) as u32;
        let q1 = ((x1 + 16.5) as i8 as i32).min(31) as u32;
        out[6 + j] = ((q0 & 0x0F) | ((q1 & 0x0F) << 4)) as u8;
        qh |= ((q0 & 0x10) >> 4) << j;
        qh |= ((q1 & 0x10) >> 4) << (j + 16);
    }
    out[2..6].copy_from_slice(&qh.to_le_bytes());
}

/// The 5-bit code (0..31) of element `e` of a Q5_0/Q5_1 block, given its `qh` and `qs`.
#[inline]
fn q5_code(qh: u32, qs: &[u8], e: usize) -> u32 {
    let (j, hi) = if e < 16 { (e, false) } else { (e - 16, true) };
    let nib = if hi { qs[j] >> 4 } else { qs[j] & 0x0F } as u32;
    nib | (((qh >> e) & 1) << 4)
}

/// Decodes one Q5_0 block: `(q − 16) · d`.
pub fn decode_q5_0(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 0);
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    for (e, o) in out.iter_mut().enumerate().take(QK) {
        *o = (q5_code(qh, &b[6..22], e) as i32 - 16) as f32 * d;
    }
}

// ---------------------------------------------------------------- Q5_1

/// Encodes 32 values as one Q5_1 block (24 bytes): `d`, `m` f16, `qh`, `qs[16]`.
/// Asymmetric min-max: `d = (max − min) / 31`, `m = min`.
pub fn encode_q5_1(x: &[f32; QK], out: &mut [u8]) {
    let (min, max) = min_max(x);
    let d = (max - min) / 31.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    put_f16(out, 0, d);
    put_f16(out, 2, min);
    let mut qh = 0u32;
    for j in 0..16 {
        let x0 = (x[j] - min) * id;
        let x1 = (x[j + 16] - min) * id;
        let q0 = ((x0 + 0.5) as u8 as u32).min(31);
        let q1 = ((x1 + 0.5) as u8 as u32).min(31);
        out[8 + j] = ((q0 & 0x0F) | ((q1 & 0x0F) << 4)) as u8;
        qh |= ((q0 & 0x10) >> 4) << j;
        qh |= ((q1 & 0x10) >> 4) << (j + 16);
    }
    out[4..8].copy_from_slice(&qh.to_le_bytes());
}

/// Decodes one Q5_1 block: `q · d + m`.
pub fn decode_q5_1(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 0);
    let m = f16_at(b, 2);
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    for (e, o) in out.iter_mut().enumerate().take(QK) {
        *o = q5_code(qh, &b[8..24], e) as f32 * d + m;
    }
}

// ---------------------------------------------------------------- Q4_0 / Q4_1 / Q8_0

/// Encodes 32 values as one Q4_0 block (18 bytes), as ggml's `quantize_row_q4_0_ref`:
/// `d = max / −8` for the signed value of largest magnitude, codes truncated from `x/d + 8.5`.
pub fn encode_q4_0(x: &[f32; QK], out: &mut [u8]) {
    let (_, max) = max_by_magnitude(x);
    let d = max / -8.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    put_f16(out, 0, d);
    for j in 0..16 {
        let q0 = ((x[j] * id + 8.5) as i8).min(15) as u8;
        let q1 = ((x[j + 16] * id + 8.5) as i8).min(15) as u8;
        out[2 + j] = q0 | (q1 << 4);
    }
}

/// Decodes one Q4_0 block (18 bytes): `(q − 8) · d`.
pub fn decode_q4_0(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 0);
    for j in 0..16 {
        out[j] = ((b[2 + j] & 0x0F) as i32 - 8) as f32 * d;
        out[j + 16] = ((b[2 + j] >> 4) as i32 - 8) as f32 * d;
    }
}

/// Encodes 32 values as one Q4_1 block (20 bytes), as `quantize_row_q4_1_ref`:
/// `d = (max − min) / 15`, `m = min`, codes truncated from `(x − min)/d + 0.5`.
pub fn encode_q4_1(x: &[f32; QK], out: &mut [u8]) {
    let (min, max) = min_max(x);
    let d = (max - min) / 15.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    put_f16(out, 0, d);
    put_f16(out, 2, min);
    for j in 0..16 {
        let q0 = (((x[j] - min) * id + 0.5) as i8).min(15) as u8;
        let q1 = (((x[j + 16] - min) * id + 0.5) as i8).min(15) as u8;
        out[4 + j] = q0 | (q1 << 4);
    }
}

/// Decodes one Q4_1 block (20 bytes): `q · d + m`.
pub fn decode_q4_1(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 0);
    let m = f16_at(b, 2);
    for j in 0..16 {
        out[j] = (b[4 + j] & 0x0F) as f32 * d + m;
        out[j + 16] = (b[4 + j] >> 4) as f32 * d + m;
    }
}

/// Encodes 32 values as Q8_0 (34 bytes): `d = amax / 127`, `q = round(x / d)` half away from zero.
pub fn encode_q8_0(x: &[f32], out: &mut [u8]) {
    let amax = x[..QK].iter().fold(0f32, |a, v| a.max(v.abs()));
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    put_f16(out, 0, d);
    for j in 0..QK {
        out[2 + j] = round_half_away(x[j] * id) as i8 as u8;
    }
}

/// Decodes one Q8_0 block: `q · d`.
pub fn decode_q8_0(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 0);
    for j in 0..QK {
        out[j] = b[2 + j] as i8 as f32 * d;
    }
}

// ---------------------------------------------------------------- K-quants

/// The 6-bit scale and min of sub-block `j` from the 12 packed bytes (`get_scale_min_k4`).
#[inline]
pub(crate) fn scale_min_k4(j: usize, q: &[u8]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0x0F) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

/// Decodes one Q5_K super-block (176 bytes): `d·sc_j · q − dmin·m_j`.
pub fn decode_q5_k(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 0);
    let dmin = f16_at(b, 2);
    let scales = &b[4..16];
    let qh = &b[16..48];
    let qs = &b[48..176];
    let (mut u1, mut u2) = (1u8, 2u8);
    for g in 0..4 {
        let (sc1, m1) = scale_min_k4(2 * g, scales);
        let (sc2, m2) = scale_min_k4(2 * g + 1, scales);
        let (d1, mm1) = (d * sc1 as f32, dmin * m1 as f32);
        let (d2, mm2) = (d * sc2 as f32, dmin * m2 as f32);
        let ql = &qs[32 * g..32 * g + 32];
        for l in 0..32 {
            let q = (ql[l] & 0x0F) as u32 + if qh[l] & u1 != 0 { 16 } else { 0 };
            out[64 * g + l] = d1 * q as f32 - mm1;
        }
        for l in 0..32 {
            let q = (ql[l] >> 4) as u32 + if qh[l] & u2 != 0 { 16 } else { 0 };
            out[64 * g + 32 + l] = d2 * q as f32 - mm2;
        }
        u1 <<= 2;
        u2 <<= 2;
    }
}

/// ggml's `make_qkx2_quants`: weighted min-max search for `x ≈ scale·L − the_min`, the error
/// squared or, with `use_mad`, absolute. Returns (scale, the_min) and fills `l` with codes 0..=nmax.
#[allow(clippy::too_many_arguments)]
pub(crate) fn make_qkx2_quants(
    nmax: i32,
    x: &[f32],
    weights: &[f32],
    l: &mut [u8],
    laux: &mut [u8],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
    use_mad: bool,
) -> (f32, f32) {
    let error = |diff: f32| if use_mad { diff.abs() } else { diff * diff };
    let n = x.len();
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..n {
        if x[i] < min {
            min = x[i];
        }
        if x[i] > max {
            max = x[i];
        }
        let w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        l.iter_mut().for_each(|v| *v = 0);
        return (0.0, -min);
    }
    let mut iscale = nmax as f32 / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0f32;
    for i in 0..n {
        let q = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
        l[i] = q as u8;
        let diff = scale * l[i] as f32 + min - x[i];
        best_error += weights[i] * error(diff);
    }
    for is in 0..=nstep {
        iscale = (rmin + rdelta * is as f32 + nmax as f32) / (max - min);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0f32, 0f32, 0f32);
        for i in 0..n {
            let q = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
            laux[i] = q as u8;
            let w = weights[i];
            let lf = q as f32;
            sum_l += w * lf;
            sum_l2 += w * lf * lf;
            sum_xl += w * lf * x[i];
        }
        let dd = sum_w * sum_l2 - sum_l * sum_l;
        if dd > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / dd;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / dd;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut cur_error = 0f32;
            for i in 0..n {
                let diff = this_scale * laux[i] as f32 + this_min - x[i];
                cur_error += weights[i] * error(diff);
            }
            if cur_error < best_error {
                l.copy_from_slice(laux);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// Packs eight 6-bit scales and mins into the 12 bytes `scale_min_k4` reads.
pub(crate) fn pack_scale_min_k4(ls: &[u8; 8], lm: &[u8; 8]) -> [u8; 12] {
    let mut packed = [0u8; 12];
    for j in 0..8 {
        if j < 4 {
            packed[j] = ls[j];
            packed[j + 4] = lm[j];
        } else {
            packed[j + 4] = (ls[j] & 0x0F) | ((lm[j] & 0x0F) << 4);
            packed[j - 4] |= (ls[j] >> 4) << 6;
            packed[j] |= (lm[j] >> 4) << 6;
        }
    }
    packed
}

/// Encodes 256 values as one Q5_K super-block (176 bytes), exactly as ggml's
/// `quantize_row_q5_K_ref` (no importance matrix).
pub fn encode_q5_k(x: &[f32; QK_K], out: &mut [u8]) {
    let mut codes = [0u8; QK_K];
    kquants::encode_scales_and_mins(x, 31, -0.5, 15, out, &mut codes);
    let (qh, qs) = out[16..176].split_at_mut(32);
    qh.iter_mut().for_each(|v| *v = 0);
    let (mut m1, mut m2) = (1u8, 2u8);
    for g in 0..4 {
        let n = 64 * g;
        for j in 0..32 {
            let mut l1 = codes[n + j];
            if l1 > 15 {
                l1 -= 16;
                qh[j] |= m1;
            }
            let mut l2 = codes[n + j + 32];
            if l2 > 15 {
                l2 -= 16;
                qh[j] |= m2;
            }
            qs[32 * g + j] = l1 | (l2 << 4);
        }
        m1 <<= 2;
        m2 <<= 2;
    }
}

/// The 256 signed 6-bit codes (`q − 32`) of a Q6_K super-block, in element order
/// (`ql[128]`, `qh[64]`, then `scales[16]` and `d`, which this ignores).
pub(crate) fn q6_k_codes(b: &[u8], out: &mut [i8; QK_K]) {
    for half_idx in 0..2 {
        let ql = &b[64 * half_idx..64 * half_idx + 64];
        let qh = &b[128 + 32 * half_idx..128 + 32 * half_idx + 32];
        let y = &mut out[128 * half_idx..128 * half_idx + 128];
        for l in 0..32 {
            y[l] = ((ql[l] & 0x0F) | ((qh[l] & 3) << 4)) as i8 - 32;
            y[l + 32] = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) as i8 - 32;
            y[l + 64] = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i8 - 32;
            y[l + 96] = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i8 - 32;
        }
    }
}

/// Decodes one Q6_K super-block (210 bytes): `d · scale_k · (q − 32)`, one signed scale per
/// 16 elements.
pub fn decode_q6_k(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 208);
    let mut codes = [0i8; QK_K];
    q6_k_codes(b, &mut codes);
    for (k, (o, c)) in out[..QK_K].chunks_exact_mut(16).zip(codes.chunks_exact(16)).enumerate() {
        let scale = d * (b[192 + k] as i8) as f32;
        for (o, &q) in o.iter_mut().zip(c) {
            *o = scale * q as f32;
        }
    }
}

// ---------------------------------------------------------------- floats

/// Little-endian IEEE half floats to f32 (as many as both slices hold).
pub fn decode_f16(b: &[u8], out: &mut [f32]) {
    for (o, c) in out.iter_mut().zip(b.chunks_exact(2)) {
        *o = f16::from_le_bytes([c[0], c[1]]).to_f32();
    }
}

/// Little-endian bfloat16 values to f32 (as many as both slices hold).
pub fn decode_bf16(b: &[u8], out: &mut [f32]) {
    for (o, c) in out.iter_mut().zip(b.chunks_exact(2)) {
        *o = bf16::from_le_bytes([c[0], c[1]]).to_f32();
    }
}

/// Little-endian f32 values (as many as both slices hold).
pub fn decode_f32(b: &[u8], out: &mut [f32]) {
    for (o, c) in out.iter_mut().zip(b.chunks_exact(4)) {
        *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
}

#[cfg(test)]
mod tests {
    use super::round_half_away;

    #[test]
    fn round_half_away_is_roundf() {
        // Every float within 64 ulps of each integer and each half-integer in ±300 (where
        // the shortcut could go wrong), zero's neighbourhood, and a sweep of other values.
        let mut values = vec![0.0f32, -0.0, f32::MIN_POSITIVE, -f32::MIN_POSITIVE, 1e-30, -1e-30];
        for k in -600..=600 {
            let centre = k as f32 * 0.5;
            let mut up = centre;
            let mut down = centre;
            for _ in 0..64 {
                values.extend([up, down]);
                up = up.next_up();
                down = down.next_down();
            }
        }
        values.extend((0..200_000).map(|i| (i as f32 - 100_000.0) * 0.003_17));
        for v in values {
            assert_eq!(round_half_away(v), v.round() as i32, "{v:e}");
        }
    }
}
