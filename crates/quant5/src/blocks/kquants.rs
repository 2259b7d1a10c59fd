//! The K-quant super-blocks other than Q5_K: Q2_K, Q3_K, Q4_K (decoders and encoders) and the
//! Q6_K encoder, byte-compatible with ggml's `quantize_row_*_ref` / `dequantize_row_*`.
//!
//! Layouts (256 values per super-block):
//! * Q2_K, 84 bytes: `scales[16]` (4-bit scale | 4-bit min per 16 values), `qs[64]` (2-bit
//!   codes), `d`, `dmin` (f16). `x = d·sc·q − dmin·m`.
//! * Q3_K, 110 bytes: `hmask[32]` (third bit), `qs[64]` (low two bits), `scales[12]` (sixteen
//!   6-bit signed scales), `d` (f16). `x = d·(sc − 32)·(q − 4)`.
//! * Q4_K, 144 bytes: `d`, `dmin` (f16), `scales[12]` (eight 6-bit scales and mins), `qs[128]`.
//!   `x = d·sc·q − dmin·m` per 32 values.

use super::{QK_K, f16_at, make_qkx2_quants, max_by_magnitude, nearest_int, pack_scale_min_k4, put_f16, scale_min_k4};

/// ggml's `GROUP_MAX_EPS`: a group whose largest magnitude is below this is all zeros.
const GROUP_MAX_EPS: f32 = 1e-15;

// ---------------------------------------------------------------- shared by Q4_K and Q5_K

/// Q4_K's and Q5_K's scale search: per 32 values a weighted min-max fit (`make_qkx2_quants`
/// with codes up to `nmax`), the eight scales and mins quantized to 6 bits against the
/// super-block's f16 `d` and `dmin` (written to `out[0..4]`, the packed bytes to `out[4..16]`),
/// then every code recomputed from the stored scales, as the reference does.
pub(crate) fn encode_scales_and_mins(
    x: &[f32; QK_K],
    nmax: i32,
    rmin: f32,
    nstep: i32,
    out: &mut [u8],
    codes: &mut [u8; QK_K],
) {
    let mut laux = [0u8; 32];
    let mut weights = [0f32; 32];
    let (mut scales, mut mins) = ([0f32; 8], [0f32; 8]);
    let (mut max_scale, mut max_min) = (0f32, 0f32);
    for j in 0..8 {
        let xs = &x[32 * j..32 * j + 32];
        let mut sum_x2 = 0f32;
        for &v in xs {
            sum_x2 += v * v;
        }
        let av_x = (sum_x2 / 32.0).sqrt();
        for (w, &v) in weights.iter_mut().zip(xs) {
            *w = av_x + v.abs();
        }
        let l = &mut codes[32 * j..32 * j + 32];
        let (s, m) = make_qkx2_quants(nmax, xs, &weights, l, &mut laux, rmin, 0.1, nstep, false);
        scales[j] = s;
        mins[j] = m;
        if s > max_scale {
            max_scale = s;
        }
        if m > max_min {
            max_min = m;
        }
    }
    let inv_scale = if max_scale > 0.0 { 63.0 / max_scale } else { 0.0 };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    let (mut ls, mut lm) = ([0u8; 8], [0u8; 8]);
    for j in 0..8 {
        ls[j] = (nearest_int(inv_scale * scales[j]) as u8).min(63);
        lm[j] = (nearest_int(inv_min * mins[j]) as u8).min(63);
    }
    let packed = pack_scale_min_k4(&ls, &lm);
    put_f16(out, 0, max_scale / 63.0);
    put_f16(out, 2, max_min / 63.0);
    out[4..16].copy_from_slice(&packed);
    let (d_stored, dmin_stored) = (f16_at(out, 0), f16_at(out, 2));
    for j in 0..8 {
        let (sc, m) = scale_min_k4(j, &packed);
        let d = d_stored * sc as f32;
        if d == 0.0 {
            continue;
        }
        let dm = dmin_stored * m as f32;
        for ii in 0..32 {
            codes[32 * j + ii] = nearest_int((x[32 * j + ii] + dm) / d).clamp(0, nmax) as u8;
        }
    }
}

// ---------------------------------------------------------------- Q4_K

/// Decodes one Q4_K super-block (144 bytes).
pub fn decode_q4_k(b: &[u8], out: &mut [f32]) {
    let (d, dmin) = (f16_at(b, 0), f16_at(b, 2));
    let scales = &b[4..16];
    for g in 0..4 {
        let (sc1, m1) = scale_min_k4(2 * g, scales);
        let (sc2, m2) = scale_min_k4(2 * g + 1, scales);
        let (d1, mm1) = (d * sc1 as f32, dmin * m1 as f32);
        let (d2, mm2) = (d * sc2 as f32, dmin * m2 as f32);
        let q = &b[16 + 32 * g..16 + 32 * g + 32];
        for l in 0..32 {
            out[64 * g + l] = d1 * (q[l] & 0x0F) as f32 - mm1;
            out[64 * g + 32 + l] = d2 * (q[l] >> 4) as f32 - mm2;
        }
    }
}

/// Encodes 256 values as one Q4_K super-block (144 bytes), as `quantize_row_q4_K_ref`.
pub fn encode_q4_k(x: &[f32; QK_K], out: &mut [u8]) {
    let mut codes = [0u8; QK_K];
    encode_scales_and_mins(x, 15, -1.0, 20, out, &mut codes);
    for g in 0..4 {
        for l in 0..32 {
            out[16 + 32 * g + l] = codes[64 * g + l] | (codes[64 * g + 32 + l] << 4);
        }
    }
}

// ---------------------------------------------------------------- Q2_K

/// Decodes one Q2_K super-block (84 bytes).
pub fn decode_q2_k(b: &[u8], out: &mut [f32]) {
    let (scales, qs) = (&b[0..16], &b[16..80]);
    let (d, dmin) = (f16_at(b, 80), f16_at(b, 82));
    for (half, q) in qs.chunks_exact(32).enumerate() {
        for j in 0..4 {
            let shift = 2 * j;
            for (k, part) in [&q[..16], &q[16..]].into_iter().enumerate() {
                let sc = scales[8 * half + 2 * j + k];
                let (dl, ml) = (d * (sc & 0x0F) as f32, dmin * (sc >> 4) as f32);
                let o = &mut out[128 * half + 32 * j + 16 * k..][..16];
                for (o, &q) in o.iter_mut().zip(part) {
                    *o = dl * ((q >> shift) & 3) as f32 - ml;
                }
            }
        }
    }
}

/// Packs 256 two-bit codes four to a byte: byte `l` of each 32-byte half holds elements
/// `l`, `l + 32`, `l + 64` and `l + 96` of that half's 128.
fn pack_2bit(codes: &[u8; QK_K], qs: &mut [u8]) {
    for half in 0..2 {
        let c = &codes[128 * half..];
        for l in 0..32 {
            qs[32 * half + l] = c[l] | (c[l + 32] << 2) | (c[l + 64] << 4) | (c[l + 96] << 6);
        }
    }
}

/// Encodes 256 values as one Q2_K super-block (84 bytes), as `quantize_row_q2_K_ref`.
pub fn encode_q2_k(x: &[f32; QK_K], out: &mut [u8]) {
    const Q4SCALE: f32 = 15.0;
    let mut codes = [0u8; QK_K];
    let mut laux = [0u8; 16];
    let mut weights = [0f32; 16];
    let (mut scales, mut mins) = ([0f32; 16], [0f32; 16]);
    let (mut max_scale, mut max_min) = (0f32, 0f32);
    for j in 0..16 {
        let xs = &x[16 * j..16 * j + 16];
        for (w, &v) in weights.iter_mut().zip(xs) {
            *w = v.abs();
        }
        let l = &mut codes[16 * j..16 * j + 16];
        let (s, m) = make_qkx2_quants(3, xs, &weights, l, &mut laux, -0.5, 0.1, 15, true);
        scales[j] = s;
        mins[j] = m;
        if s > max_scale {
            max_scale = s;
        }
        if m > max_min {
            max_min = m;
        }
    }
    let packed = &mut out[0..16];
    packed.iter_mut().for_each(|v| *v = 0);
    if max_scale > 0.0 {
        let iscale = Q4SCALE / max_scale;
        for j in 0..16 {
            packed[j] = nearest_int(iscale * scales[j]) as u8;
        }
    }
    if max_min > 0.0 {
        let iscale = Q4SCALE / max_min;
        for j in 0..16 {
            packed[j] |= (nearest_int(iscale * mins[j]) as u8) << 4;
        }
    }
    put_f16(out, 80, if max_scale > 0.0 { max_scale / Q4SCALE } else { 0.0 });
    put_f16(out, 82, if max_min > 0.0 { max_min / Q4SCALE } else { 0.0 });
    let (d_stored, dmin_stored) = (f16_at(out, 80), f16_at(out, 82));
    for j in 0..16 {
        let d = d_stored * (out[j] & 0x0F) as f32;
        if d == 0.0 {
            continue;
        }
        let dm = dmin_stored * (out[j] >> 4) as f32;
        for ii in 0..16 {
            codes[16 * j + ii] = nearest_int((x[16 * j + ii] + dm) / d).clamp(0, 3) as u8;
        }
    }
    pack_2bit(&codes, &mut out[16..80]);
}

// ---------------------------------------------------------------- Q3_K

/// The sixteen signed scales (`sc − 32`, −32..31) of a Q3_K super-block from its 12 bytes:
/// low nibbles in bytes 0..8, the top two bits of each in bytes 8..12.
pub(crate) fn q3_k_scales(packed: &[u8]) -> [i8; 16] {
    let mut out = [0i8; 16];
    for (j, o) in out.iter_mut().enumerate() {
        let low = if j < 8 { packed[j] & 0x0F } else { packed[j - 8] >> 4 };
        let high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
        *o = (low | (high << 4)) as i8 - 32;
    }
    out
}

/// The 256 signed 3-bit codes (−4..3) of a Q3_K super-block, in element order.
pub(crate) fn q3_k_codes(b: &[u8], out: &mut [i8; QK_K]) {
    let (hmask, qs) = (&b[0..32], &b[32..96]);
    for half in 0..2 {
        let q = &qs[32 * half..32 * half + 32];
        for j in 0..4 {
            let bit = 1u8 << (4 * half + j);
            for l in 0..32 {
                let low = ((q[l] >> (2 * j)) & 3) as i8;
                out[128 * half + 32 * j + l] = low - if hmask[l] & bit != 0 { 0 } else { 4 };
            }
        }
    }
}

/// Decodes one Q3_K super-block (110 bytes).
pub fn decode_q3_k(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 108);
    let scales = q3_k_scales(&b[96..108]);
    let mut codes = [0i8; QK_K];
    q3_k_codes(b, &mut codes);
    for (k, (o, c)) in out[..QK_K].chunks_exact_mut(16).zip(codes.chunks_exact(16)).enumerate() {
        let dl = d * scales[k] as f32;
        for (o, &q) in o.iter_mut().zip(c) {
            *o = dl * q as f32;
        }
    }
}

/// ggml's `make_q3_quants` with `do_rmse`: a symmetric scale for codes −nmax..nmax−1,
/// refined by moving single codes while the weighted fit improves (weights `x²`). Leaves the
/// codes plus `nmax` in `codes` (all 0 for an all-zero group), as the reference does.
fn make_q3_quants(x: &[f32], nmax: i32, codes: &mut [u8]) -> f32 {
    let mut l = [0i8; 16];
    let l = &mut l[..x.len()];
    let (amax, max) = max_by_magnitude(x);
    if amax < GROUP_MAX_EPS {
        codes.iter_mut().for_each(|v| *v = 0);
        return 0.0;
    }
    let iscale = -(nmax as f32) / max;
    let (mut sumlx, mut suml2) = (0f32, 0f32);
    for (li, &v) in l.iter_mut().zip(x) {
        let q = nearest_int(iscale * v).clamp(-nmax, nmax - 1);
        *li = q as i8;
        let w = v * v;
        sumlx += w * v * q as f32;
        suml2 += w * q as f32 * q as f32;
    }
    for _ in 0..5 {
        let mut changed = 0;
        for (li, &v) in l.iter_mut().zip(x) {
            let w = v * v;
            let cur = *li as f32;
            let mut slx = sumlx - w * v * cur;
            if slx > 0.0 {
                let mut sl2 = suml2 - w * cur * cur;
                let new_l = nearest_int(v * sl2 / slx).clamp(-nmax, nmax - 1);
                if new_l != *li as i32 {
                    slx += w * v * new_l as f32;
                    sl2 += w * new_l as f32 * new_l as f32;
                    if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                        *li = new_l as i8;
                        sumlx = slx;
                        suml2 = sl2;
                        changed += 1;
                    }
                }
            }
        }
        if changed == 0 {
            break;
        }
    }
    for (c, &q) in codes.iter_mut().zip(l.iter()) {
        *c = (q as i32 + nmax) as u8;
    }
    sumlx / suml2
}

/// Encodes 256 values as one Q3_K super-block (110 bytes), as `quantize_row_q3_K_ref`.
pub fn encode_q3_k(x: &[f32; QK_K], out: &mut [u8]) {
    // Groups whose stored scale is 0 keep the codes the scale search left.
    let mut codes = [0u8; QK_K];
    let mut scales = [0f32; 16];
    for (j, s) in scales.iter_mut().enumerate() {
        *s = make_q3_quants(&x[16 * j..16 * j + 16], 4, &mut codes[16 * j..16 * j + 16]);
    }
    let (_, max_scale) = max_by_magnitude(&scales);
    let packed = &mut out[96..108];
    packed.iter_mut().for_each(|v| *v = 0);
    if max_scale != 0.0 {
        let iscale = -32.0 / max_scale;
        for (j, &s) in scales.iter().enumerate() {
            // The reference stores the rounded scale in an int8_t before clamping.
            let l = (nearest_int(iscale * s) as i8).clamp(-32, 31) + 32;
            if j < 8 {
                packed[j] = (l & 0x0F) as u8;
            } else {
                packed[j - 8] |= ((l & 0x0F) as u8) << 4;
            }
            packed[8 + j % 4] |= ((l >> 4) as u8) << (2 * (j / 4));
        }
        put_f16(out, 108, 1.0 / iscale);
    } else {
        put_f16(out, 108, 0.0);
    }
    let d_stored = f16_at(out, 108);
    let stored = q3_k_scales(&out[96..108]);
    for j in 0..16 {
        let d = d_stored * stored[j] as f32;
        if d == 0.0 {
            continue;
        }
        for ii in 0..16 {
            codes[16 * j + ii] = (nearest_int(x[16 * j + ii] / d).clamp(-4, 3) + 4) as u8;
        }
    }
    let hmask = &mut out[0..32];
    hmask.iter_mut().for_each(|v| *v = 0);
    // Element e's third bit goes to hmask[e % 32], bit e / 32.
    for (e, c) in codes.iter_mut().enumerate() {
        if *c > 3 {
            hmask[e % 32] |= 1 << (e / 32);
            *c -= 4;
        }
    }
    pack_2bit(&codes, &mut out[32..96]);
}

// ---------------------------------------------------------------- Q6_K encoder

/// ggml's `make_qx_quants` with `rmse_type` 1 (weights `x²`): a symmetric scale for codes
/// −nmax..nmax−1, the best of 19 trial scales around `nmax / max`.
fn make_qx_quants(x: &[f32], nmax: i32, l: &mut [u8]) -> f32 {
    let (amax, max) = max_by_magnitude(x);
    if amax < GROUP_MAX_EPS {
        l.iter_mut().for_each(|v| *v = 0);
        return 0.0;
    }
    let fit = |iscale: f32| {
        let (mut sumlx, mut suml2) = (0f32, 0f32);
        for &v in x {
            let q = nearest_int(iscale * v).clamp(-nmax, nmax - 1) as f32;
            let w = v * v;
            sumlx += w * v * q;
            suml2 += w * q * q;
        }
        (sumlx, suml2)
    };
    let codes = |iscale: f32, l: &mut [u8]| {
        for (li, &v) in l.iter_mut().zip(x) {
            *li = (nearest_int(iscale * v).clamp(-nmax, nmax - 1) + nmax) as u8;
        }
    };
    let iscale = -(nmax as f32) / max;
    codes(iscale, l);
    let (sumlx, suml2) = fit(iscale);
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for is in -9..=9 {
        if is == 0 {
            continue;
        }
        let iscale = -(nmax as f32 + 0.1 * is as f32) / max;
        let (sumlx, suml2) = fit(iscale);
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            codes(iscale, l);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// Encodes 256 values as one Q6_K super-block (210 bytes), as `quantize_row_q6_K_ref`:
/// `ql[128]`, `qh[64]`, `scales[16]` (int8), `d` (f16).
pub fn encode_q6_k(x: &[f32; QK_K], out: &mut [u8]) {
    let mut codes = [0u8; QK_K];
    let mut scales = [0f32; 16];
    for (ib, s) in scales.iter_mut().enumerate() {
        *s = make_qx_quants(&x[16 * ib..16 * ib + 16], 32, &mut codes[16 * ib..16 * ib + 16]);
    }
    let (max_abs_scale, max_scale) = max_by_magnitude(&scales);
    out[..210].iter_mut().for_each(|v| *v = 0);
    if max_abs_scale < GROUP_MAX_EPS {
        return;
    }
    let iscale = -128.0 / max_scale;
    put_f16(out, 208, 1.0 / iscale);
    for (ib, &s) in scales.iter().enumerate() {
        out[192 + ib] = nearest_int(iscale * s).min(127) as i8 as u8;
    }
    let d_stored = f16_at(out, 208);
    for j in 0..16 {
        let d = d_stored * (out[192 + j] as i8) as f32;
        if d == 0.0 {
            continue;
        }
        for ii in 0..16 {
            codes[16 * j + ii] = (nearest_int(x[16 * j + ii] / d).clamp(-32, 31) + 32) as u8;
        }
    }
    for half in 0..2 {
        let c = &codes[128 * half..];
        for l in 0..32 {
            let (q1, q2, q3, q4) = (c[l], c[l + 32], c[l + 64], c[l + 96]);
            out[64 * half + l] = (q1 & 0x0F) | ((q3 & 0x0F) << 4);
            out[64 * half + l + 32] = (q2 & 0x0F) | ((q4 & 0x0F) << 4);
            out[128 + 32 * half + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
        }
    }
}
