//! IQ4_NL and IQ4_XS: 4-bit codes that index a fixed non-linear table of 16 values instead of
//! a uniform grid, byte-compatible with ggml (`quantize_row_iq4_nl_impl`, no importance
//! matrix; `dequantize_row_iq4_*`).
//!
//! * IQ4_NL, 32 values in 18 bytes: `d` (f16), `qs[16]`. `x = d·T[q]`.
//! * IQ4_XS, 256 values in 136 bytes: `d` (f16), `scales_h` (u16), `scales_l[4]`, `qs[128]`;
//!   each 32 values has a 6-bit scale `ls` and `x = d·(ls − 32)·T[q]`.

use super::{QK, QK_K, f16_at, max_by_magnitude, nearest_int, put_f16};

/// The IQ4 code table (`kvalues_iq4nl`).
pub const IQ4_VALUES: [i8; 16] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];

/// Trial scales on each side of the first guess (ggml's `ntry` for both types).
const NTRY: i32 = 7;

/// Decodes one IQ4_NL block (18 bytes).
pub fn decode_iq4_nl(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 0);
    for j in 0..16 {
        out[j] = d * IQ4_VALUES[(b[2 + j] & 0x0F) as usize] as f32;
        out[j + 16] = d * IQ4_VALUES[(b[2 + j] >> 4) as usize] as f32;
    }
}

/// The 6-bit scale of sub-block `ib` (0..8) of an IQ4_XS super-block, minus 32.
#[inline]
pub(crate) fn iq4_xs_scale(b: &[u8], ib: usize) -> i32 {
    let scales_h = u16::from_le_bytes([b[2], b[3]]);
    let low = (b[4 + ib / 2] >> (4 * (ib % 2))) & 0x0F;
    let high = ((scales_h >> (2 * ib)) & 3) as u8;
    (low | (high << 4)) as i32 - 32
}

/// Decodes one IQ4_XS super-block (136 bytes).
pub fn decode_iq4_xs(b: &[u8], out: &mut [f32]) {
    let d = f16_at(b, 0);
    for ib in 0..8 {
        let dl = d * iq4_xs_scale(b, ib) as f32;
        let qs = &b[8 + 16 * ib..8 + 16 * ib + 16];
        let o = &mut out[32 * ib..32 * ib + 32];
        for j in 0..16 {
            o[j] = dl * IQ4_VALUES[(qs[j] & 0x0F) as usize] as f32;
            o[j + 16] = dl * IQ4_VALUES[(qs[j] >> 4) as usize] as f32;
        }
    }
}

/// The table index nearest `x` (ties to the upper value), as `best_index_int8`.
fn nearest_code(x: f32) -> u8 {
    let t = &IQ4_VALUES;
    if x <= t[0] as f32 {
        return 0;
    }
    if x >= t[15] as f32 {
        return 15;
    }
    let (mut lo, mut hi) = (0usize, 15usize);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        if x < t[mid] as f32 {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    if x - (t[hi - 1] as f32) < (t[hi] as f32) - x { (hi - 1) as u8 } else { hi as u8 }
}

/// The best scale for 32 values (weights `x²`): the first guess `−max / T[0]`, then 15 trial
/// inverse scales `(t + T[0]) / max`, keeping the one whose least-squares scale fits best.
/// 0 for an all-zero group.
fn block_scale(x: &[f32]) -> f32 {
    let (amax, max) = max_by_magnitude(x);
    if amax < 1e-15 {
        return 0.0;
    }
    let fit = |id: f32| {
        let (mut sumqx, mut sumq2) = (0f32, 0f32);
        for &v in x {
            let q = IQ4_VALUES[nearest_code(id * v) as usize] as f32;
            let w = v * v;
            sumqx += w * q * v;
            sumq2 += w * q * q;
        }
        (sumqx, sumq2)
    };
    let t0 = IQ4_VALUES[0] as f32;
    let (sumqx, sumq2) = fit(1.0 / (-max / t0));
    let mut d = sumqx / sumq2;
    let mut best = d * sumqx;
    for itry in -NTRY..=NTRY {
        let (sumqx, sumq2) = fit((itry as f32 + t0) / max);
        if sumq2 > 0.0 && sumqx * sumqx > best * sumq2 {
            d = sumqx / sumq2;
            best = d * sumqx;
        }
    }
    d
}

/// Packs 32 codes of one sub-block: byte `j` holds elements `j` and `j + 16`.
fn pack_nibbles(codes: &[u8], qs: &mut [u8]) {
    for j in 0..16 {
        qs[j] = codes[j] | (codes[j + 16] << 4);
    }
}

/// Encodes 32 values as one IQ4_NL block (18 bytes).
pub fn encode_iq4_nl(x: &[f32; QK], out: &mut [u8]) {
    let d = block_scale(x);
    put_f16(out, 0, d);
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let mut codes = [0u8; QK];
    for (c, &v) in codes.iter_mut().zip(x) {
        *c = nearest_code(id * v);
    }
    pack_nibbles(&codes, &mut out[2..18]);
}

/// Encodes 256 values as one IQ4_XS super-block (136 bytes).
pub fn encode_iq4_xs(x: &[f32; QK_K], out: &mut [u8]) {
    let mut scales = [0f32; 8];
    for (ib, s) in scales.iter_mut().enumerate() {
        *s = block_scale(&x[32 * ib..32 * ib + 32]);
    }
    let (_, max_scale) = max_by_magnitude(&scales);
    let d = -max_scale / 32.0;
    put_f16(out, 0, d);
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let mut scales_h = 0u16;
    out[4..8].iter_mut().for_each(|v| *v = 0);
    let mut codes = [0u8; 32];
    for (ib, &s) in scales.iter().enumerate() {
        let l = nearest_int(id * s).clamp(-32, 31);
        let dl = d * l as f32;
        let idl = if dl != 0.0 { 1.0 / dl } else { 0.0 };
        for (c, &v) in codes.iter_mut().zip(&x[32 * ib..32 * ib + 32]) {
            *c = nearest_code(idl * v);
        }
        pack_nibbles(&codes, &mut out[8 + 16 * ib..8 + 16 * ib + 16]);
        let l = (l + 32) as u8;
        out[4 + ib / 2] |= (l & 0x0F) << (4 * (ib % 2));
        scales_h |= ((l >> 4) as u16) << (2 * ib);
    }
    out[2..4].copy_from_slice(&scales_h.to_le_bytes());
}
