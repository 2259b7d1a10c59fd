//! Prompt products on AVX-512 VNNI for Q4_K, Q5_K and Q6_K matrices without row panels: tiles
//! of 2 weight rows × 4 rows of activations in which the sub-block scales are applied by
//! `vpdpwssd` ([`k_tiles!`]).
//! Every other format's prompts run on its 16-row panels (`panels`) or, without them, on the
//! AVX2 two-token kernel; the 4 × 4 tiles of the 32-value formats went with their change to one
//! integer sum per block (session 19).
//!
//! Every output is bit-identical to the one-row AVX2 kernel ([`kernels_avx2`]): the same
//! integer sums per super-block and the same f32 steps, so prefill still equals token-by-token
//! decoding, bit for bit.
//!
//! [`kernels_avx2`]: crate::kernels_avx2

#![cfg(target_arch = "x86_64")]

use crate::blocks::scale_min_k4;
use crate::formats::{BlockQ4K, BlockQ5K, BlockQ6K, TILE_ROWS, TILE_TOKENS};
use crate::kernels::Q8KBlock;
use crate::kernels_avx2::{
    f16c_at, hsum_epi32, hsum_ps, i8_scales, load_i8x32, load32, pair_scale, q4_k_group, q5_k_group, q6_k_quarters,
    scale_halves, whole_sum,
};
use std::arch::x86_64::*;

/// Whether this CPU runs the tiles: AVX-512 F/BW/DQ/VL and VNNI, plus what the AVX2 helpers use.
pub(crate) fn available() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
        && std::arch::is_x86_feature_detected!("f16c")
        && std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512dq")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx512vnni")
}

/// `[e(0), e(1), e(2), e(3)]` with `e` written inline. Not `array::from_fn`: a closure does not
/// inherit `#[target_feature]`, so the intrinsics in it would not inline.
macro_rules! each4 {
    (|$i:ident| $e:expr) => {
        [
            {
                let $i = 0;
                $e
            },
            {
                let $i = 1;
                $e
            },
            {
                let $i = 2;
                $e
            },
            {
                let $i = 3;
                $e
            },
        ]
    };
}

/// Whether `rows` blocks are whole rows of `per_row`, every activation row has `per_row` blocks,
/// and `out` holds `n` rows of `stride ≥ rows` outputs: what the tiles index without checks.
fn shapes_fit(
    blocks: usize,
    per_row: usize,
    act_lens: impl ExactSizeIterator<Item = usize>,
    out: usize,
    stride: usize,
) -> bool {
    let n = act_lens.len();
    let mut lens = act_lens;
    per_row > 0
        && blocks.is_multiple_of(per_row)
        && stride >= blocks / per_row
        && out >= n.saturating_sub(1) * stride + blocks / per_row
        && lens.all(|l| l >= per_row)
}

/// The K-quant tiles: for each pair of weight rows and each 4 tokens, one super-block at a
/// time, every 32 codes unpacked once and multiplied with the four tokens by `maddubs`, the
/// sub-block scale applied by `vpdpwssd` (a 16-bit multiply-add into the running i32 sums, one
/// instruction where the AVX2 kernel takes `madd` and `add`) — the same integer lanes as the
/// one-row kernel; the minimum or offset terms are one `madd` of the activation's 16 block sums
/// per row and token. Each output then takes the one-row kernel's f32 steps: one FMA per
/// super-block into one accumulator, the scalar minimum sum beside it, `hsum − mins` at the end.
macro_rules! k_tiles {
    (whole: $whole:expr, $rows:expr, $per_row:expr, $acts:expr, $out:expr, $stride:expr,
     |$b:ident, $ys:ident, $isum:ident| $integer:expr,
     |$bb:ident| ($d:expr, $dmin:expr, $terms:expr),
     |$dd:ident, $y:ident, $msum:ident| $scalar:expr) => {{
        let (rows, per_row, acts, out, stride) = ($rows, $per_row, $acts, $out, $stride);
        if !shapes_fit(rows.len(), per_row, acts.iter().map(|a: &Vec<_>| a.len()), out.len(), stride) {
            return;
        }
        let whole_tokens = acts.len() / TILE_TOKENS * TILE_TOKENS;
        let row_pairs = rows.len() / per_row / TILE_ROWS * TILE_ROWS / 2;
        for pair in 0..row_pairs {
            let r0 = 2 * pair;
            let wr = [&rows[r0 * per_row..(r0 + 1) * per_row], &rows[(r0 + 1) * per_row..(r0 + 2) * per_row]];
            for t0 in (0..whole_tokens).step_by(TILE_TOKENS) {
                let at = each4!(|t| &acts[t0 + t][..per_row]);
                let mut acc = [[_mm256_setzero_ps(); TILE_TOKENS]; 2];
                let mut mins = [[0f32; TILE_TOKENS]; 2];
                for i in 0..per_row {
                    let $ys = each4!(|t| &at[t][i]);
                    let mut $isum = [[_mm256_setzero_si256(); TILE_TOKENS]; 2];
                    for (r, w) in wr.iter().enumerate() {
                        let $b = bytemuck::bytes_of(&w[i]);
                        let isum_r = &mut $isum[r];
                        let _: () = {
                            let $isum = isum_r;
                            $integer
                        };
                    }
                    for (r, w) in wr.iter().enumerate() {
                        let $bb = bytemuck::bytes_of(&w[i]);
                        let (d, dmin, terms): (f32, f32, __m256i) = ($d, $dmin, $terms);
                        for (t, $y) in $ys.iter().enumerate() {
                            let $msum = hsum_epi32(_mm256_madd_epi16(load_bsums(&$y.bsums), terms));
                            let $dd = (d, dmin);
                            // Q4_K, Q5_K and Q6_K add a super-block's whole sum (`kernels_avx2::whole_sum`).
                            let sums = if $whole { whole_sum($isum[r][t]) } else { _mm256_cvtepi32_ps($isum[r][t]) };
                            acc[r][t] = _mm256_fmadd_ps(_mm256_set1_ps(d * $y.d), sums, acc[r][t]);
                            mins[r][t] += $scalar;
                        }
                    }
                }
                for r in 0..2 {
                    for t in 0..TILE_TOKENS {
                        let sum = if $whole { _mm256_cvtss_f32(acc[r][t]) } else { hsum_ps(acc[r][t]) };
                        out[(t0 + t) * stride + r0 + r] = sum - mins[r][t];
                    }
                }
            }
        }
    }};
}

/// For each token `t` of a K-quant tile: `isum[t] += scale ·` the pairwise sums of `q`'s
/// unsigned codes times `ys[t]`'s 32 activations from `offset` (`vpmaddubsw`, then
/// `vpdpwssd` by the sub-block's scale) — the inner step every K-quant tile kernel shares.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
fn add_scaled_products(
    isum: &mut [__m256i; TILE_TOKENS],
    ys: &[&Q8KBlock; TILE_TOKENS],
    q: __m256i,
    offset: usize,
    scale: __m256i,
) {
    for (sum, y) in isum.iter_mut().zip(ys) {
        let a = load_i8x32(&y.qs[offset..offset + 32]);
        *sum = _mm256_dpwssd_epi32(*sum, _mm256_maddubs_epi16(q, a), scale);
    }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
fn load_bsums(b: &[i16; 16]) -> __m256i {
    // SAFETY: `b` is 32 readable bytes; unaligned load.
    unsafe { _mm256_loadu_si256(b.as_ptr().cast()) }
}

/// Each Q4_K or Q5_K sub-block's minimum twice, in `madd` order against the 16 block sums
/// (a sub-block of 32 values covers two of them).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
fn k4_minimum_terms(scales: &[u8]) -> __m256i {
    let m: [i16; 8] = std::array::from_fn(|j| i16::from(scale_min_k4(j, scales).1));
    _mm256_setr_epi16(m[0], m[0], m[1], m[1], m[2], m[2], m[3], m[3], m[4], m[4], m[5], m[5], m[6], m[6], m[7], m[7])
}

/// Q5_K × Q8_K tiles (see [`k_tiles!`]); bit-identical to `kernels_avx2::dot_q5_k`.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
pub(crate) fn tiles_q5_k(rows: &[BlockQ5K], per_row: usize, acts: &[Vec<Q8KBlock>], out: &mut [f32], stride: usize) {
    k_tiles!(
        whole: true,
        rows,
        per_row,
        acts,
        out,
        stride,
        |b, ys, isum| {
            let qh = load32(&b[16..48]);
            for g in 0..4 {
                let ([q1, q2], (ls1, _), (ls2, _)) = q5_k_group(b, qh, g);
                let (s1, s2) = (_mm256_set1_epi16(ls1 as i16), _mm256_set1_epi16(ls2 as i16));
                add_scaled_products(isum, &ys, q1, 64 * g, s1);
                add_scaled_products(isum, &ys, q2, 64 * g + 32, s2);
            }
        },
        |b| (f16c_at(b, 0), f16c_at(b, 2), k4_minimum_terms(&b[4..16])),
        |dd, y, msum| dd.1 * y.d * msum as f32
    )
}

/// Q4_K × Q8_K tiles (see [`k_tiles!`]); bit-identical to `kernels_avx2::dot_q4_k`.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
pub(crate) fn tiles_q4_k(rows: &[BlockQ4K], per_row: usize, acts: &[Vec<Q8KBlock>], out: &mut [f32], stride: usize) {
    k_tiles!(
        whole: true,
        rows,
        per_row,
        acts,
        out,
        stride,
        |b, ys, isum| {
            for g in 0..4 {
                let ([q1, q2], (ls1, _), (ls2, _)) = q4_k_group(b, g);
                let (s1, s2) = (_mm256_set1_epi16(ls1 as i16), _mm256_set1_epi16(ls2 as i16));
                add_scaled_products(isum, &ys, q1, 64 * g, s1);
                add_scaled_products(isum, &ys, q2, 64 * g + 32, s2);
            }
        },
        |b| (f16c_at(b, 0), f16c_at(b, 2), k4_minimum_terms(&b[4..16])),
        |dd, y, msum| dd.1 * y.d * msum as f32
    )
}

/// Q6_K × Q8_K tiles (see [`k_tiles!`]); bit-identical to `kernels_avx2::dot_q6_k`.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
pub(crate) fn tiles_q6_k(rows: &[BlockQ6K], per_row: usize, acts: &[Vec<Q8KBlock>], out: &mut [f32], stride: usize) {
    k_tiles!(
        whole: true,
        rows,
        per_row,
        acts,
        out,
        stride,
        |b, ys, isum| {
            let halves = scale_halves(i8_scales(b, 192));
            for half in 0..2 {
                let quarters = q6_k_quarters(b, half);
                for (j, q) in quarters.into_iter().enumerate() {
                    let e = 128 * half + 32 * j;
                    let scale = pair_scale(&halves, e / 16);
                    add_scaled_products(isum, &ys, q, e, scale);
                }
            }
        },
        |b| (f16c_at(b, 208), 0.0, load_bsums(&std::array::from_fn(|k| i16::from(b[192 + k] as i8)))),
        |dd, y, msum| dd.0 * y.d * (32 * msum) as f32
    )
}
