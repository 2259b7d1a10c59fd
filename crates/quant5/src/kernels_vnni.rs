//! Prompt tiles on AVX-512 VNNI: 4 weight rows × 4 rows of activations per call, so each
//! weight block is unpacked once for four tokens and each activation block once for four rows,
//! and the integer block sums are one `vpdpbusd` per row and token (where the AVX2 kernels
//! need `maddubs`, `madd` and sign fix-ups).
//!
//! Every output is bit-identical to the one-row AVX2 kernel ([`kernels_avx2`]): the integer
//! lanes are the same (`vpdpbusd` sums the same 4 bytes per lane as `madd(maddubs)`, without
//! saturation, and the sign or offset terms are folded into the starting value), and the f32
//! accumulation keeps that kernel's order. It spreads a row's blocks over four accumulators,
//! block `i` into accumulator `i mod 4` (the blocks after the last whole group of four into
//! accumulator 0), then adds `(a0 + a1) + (a2 + a3)`. Sixteen outputs with four accumulators
//! each would not fit in registers, so the tile runs one pass per accumulator: pass `k` visits
//! blocks `k, k + 4, …` in order (pass 0 also the tail) with one register per output, and the
//! four results are added in the same order at the end. Prefill therefore still equals
//! token-by-token decoding, bit for bit.
//!
//! [`kernels_avx2`]: crate::kernels_avx2

#![cfg(target_arch = "x86_64")]

use crate::formats::{BlockQ4_1, BlockQ5_0, BlockQ8_0, TILE_ROWS, TILE_TOKENS};
use crate::kernels::{Q8_0, Q8_1};
use crate::kernels_avx2::{f16c_at, fifth_bits, hsum_ps, nibbles};
use std::arch::x86_64::*;

/// Whether this CPU runs the tiles: AVX-512 VNNI on 256-bit registers (VL), plus what the
/// AVX2 helpers use. AVX-512VL also gives the compiler 32 vector registers, which the 16
/// accumulators need.
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

/// `[e(0), e(1), e(2), e(3)]` with `e` written inline (tiles are 4 × 4).
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

/// The tile for one format. `$prep_w` turns a weight block into its 32 codes (unsigned or
/// signed, as `$prep_a`'s are not) and f32 scale, `$prep_a` an activation block into its codes
/// and scale, and `$start` gives, from an activation register, the starting value of its
/// integer sums (the offset term, folded in so each row and token costs one `vpdpbusd`).
///
/// A 512-bit register holds two blocks: pass 0 puts block `4j` in the low eight lanes
/// (accumulator 0 of the one-row kernel) and `4j + 1` in the high eight (accumulator 1), pass 1
/// blocks `4j + 2` and `4j + 3`; the tail after the last whole group of four goes to the low
/// lanes of pass 0 only (a masked FMA), as the one-row kernel adds it to accumulator 0.
macro_rules! tile {
    ($rows:expr, $acts:expr,
     |$b:ident| $prep_w:expr,
     |$y:ident| $prep_a:expr,
     |$a:ident| $start:expr) => {{
        let (rows, acts) = ($rows, $acts);
        let n = rows.iter().map(|r| r.len()).chain(acts.iter().map(|a| a.len())).min().unwrap_or(0);
        let full = n / 4 * 4;
        let mut passes = [[[_mm512_setzero_ps(); TILE_TOKENS]; TILE_ROWS]; 2];
        for (h, pass) in passes.iter_mut().enumerate() {
            let mut acc = [[_mm512_setzero_ps(); TILE_TOKENS]; TILE_ROWS];
            let mut i = 2 * h;
            while i < full {
                // Not `array::from_fn`: a closure does not inherit `#[target_feature]`, so the
                // intrinsics in it would not inline.
                let ws = each4!(|r| {
                    let (lo, d_lo) = {
                        let $b = &rows[r][i];
                        $prep_w
                    };
                    let (hi, d_hi) = {
                        let $b = &rows[r][i + 1];
                        $prep_w
                    };
                    (join(lo, hi), join_ps(d_lo, d_hi))
                });
                let xs = each4!(|t| {
                    let (lo, d_lo) = {
                        let $y = &acts[t][i];
                        $prep_a
                    };
                    let (hi, d_hi) = {
                        let $y = &acts[t][i + 1];
                        $prep_a
                    };
                    let $a = join(lo, hi);
                    ($a, join_ps(d_lo, d_hi), $start)
                });
                for (r, (wv, dw)) in ws.iter().enumerate() {
                    for (t, (av, da, start)) in xs.iter().enumerate() {
                        let s = _mm512_dpbusd_epi32(*start, *wv, *av);
                        acc[r][t] = _mm512_fmadd_ps(_mm512_mul_ps(*dw, *da), _mm512_cvtepi32_ps(s), acc[r][t]);
                    }
                }
                i += 4;
            }
            if h == 0 {
                for i in full..n {
                    let ws = each4!(|r| {
                        let (lo, d) = {
                            let $b = &rows[r][i];
                            $prep_w
                        };
                        (_mm512_castsi256_si512(lo), _mm512_set1_ps(d))
                    });
                    let xs = each4!(|t| {
                        let (lo, d) = {
                            let $y = &acts[t][i];
                            $prep_a
                        };
                        let $a = _mm512_castsi256_si512(lo);
                        ($a, _mm512_set1_ps(d), $start)
                    });
                    for (r, (wv, dw)) in ws.iter().enumerate() {
                        for (t, (av, da, start)) in xs.iter().enumerate() {
                            let s = _mm512_dpbusd_epi32(*start, *wv, *av);
                            let scale = _mm512_mul_ps(*dw, *da);
                            acc[r][t] = _mm512_mask3_fmadd_ps(scale, _mm512_cvtepi32_ps(s), acc[r][t], 0x00FF);
                        }
                    }
                }
            }
            *pass = acc;
        }
        let mut out = [[0f32; TILE_TOKENS]; TILE_ROWS];
        for (r, row) in out.iter_mut().enumerate() {
            for (t, o) in row.iter_mut().enumerate() {
                let (a01, a23) = (passes[0][r][t], passes[1][r][t]);
                let (a0, a1) = (_mm512_castps512_ps256(a01), _mm512_extractf32x8_ps::<1>(a01));
                let (a2, a3) = (_mm512_castps512_ps256(a23), _mm512_extractf32x8_ps::<1>(a23));
                *o = hsum_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
            }
        }
        out
    }};
}

/// Two blocks' codes in one register: `lo` in the low half.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
fn join(lo: __m256i, hi: __m256i) -> __m512i {
    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi)
}

/// Two blocks' scales, each in its half's eight lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
fn join_ps(lo: f32, hi: f32) -> __m512 {
    _mm512_insertf32x8::<1>(_mm512_set1_ps(lo), _mm256_set1_ps(hi))
}

/// −`c`·Σa per i32 lane (four bytes of `a` each): the term an unsigned offset of `c` adds.
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
fn minus_offset(c: i8, a: __m512i) -> __m512i {
    let zero = _mm512_setzero_si512();
    _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, _mm512_set1_epi8(c), a))
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
fn load_codes(q: &[i8; 32]) -> __m256i {
    // SAFETY: `q` is 32 readable bytes; unaligned load.
    unsafe { _mm256_loadu_si256(q.as_ptr().cast()) }
}

/// Q8_0 × Q8_0 for 4 weight rows × 4 token rows: the weights move to unsigned (`w + 128`,
/// one `xor`) and each activation block starts its sums at −128·Σa.
///
/// `rows` and `acts` hold the same number of blocks (extra blocks are ignored).
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
pub(crate) fn tile_q8_0(
    rows: [&[BlockQ8_0]; TILE_ROWS],
    acts: [&[Q8_0]; TILE_TOKENS],
) -> [[f32; TILE_TOKENS]; TILE_ROWS] {
    let flip = _mm256_set1_epi8(-128);
    tile!(
        rows,
        acts,
        |b| (_mm256_xor_si256(load_codes(&b.qs), flip), f16c_at(&b.d, 0)),
        |y| (load_codes(&y.qs), y.d),
        |a| minus_offset(-128, a)
    )
}

/// Q5_0 × Q8_0 for 4 weight rows × 4 token rows: the 5-bit codes are unsigned already and
/// each activation block starts its sums at −16·Σa.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
pub(crate) fn tile_q5_0(
    rows: [&[BlockQ5_0]; TILE_ROWS],
    acts: [&[Q8_0]; TILE_TOKENS],
) -> [[f32; TILE_TOKENS]; TILE_ROWS] {
    tile!(
        rows,
        acts,
        |b| (_mm256_or_si256(nibbles(&b.qs), fifth_bits(u32::from_le_bytes(b.qh))), f16c_at(&b.d, 0)),
        |y| (load_codes(&y.qs), y.d),
        |a| minus_offset(16, a)
    )
}

/// Q4_1 × Q8_1 for 4 weight rows × 4 token rows. The minimum terms `m·s` are summed per row and
/// token in block order, as the one-row kernel does, four tokens per SSE register.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
pub(crate) fn tile_q4_1(
    rows: [&[BlockQ4_1]; TILE_ROWS],
    acts: [&[Q8_1]; TILE_TOKENS],
) -> [[f32; TILE_TOKENS]; TILE_ROWS] {
    let zero = _mm512_setzero_si512();
    let mut out = tile!(rows, acts, |b| (nibbles(&b.qs), f16c_at(&b.d, 0)), |y| (load_codes(&y.qs), y.d), |_a| zero);
    let n = rows.iter().map(|r| r.len()).chain(acts.iter().map(|a| a.len())).min().unwrap_or(0);
    let mut mins = [_mm_setzero_ps(); TILE_ROWS];
    for i in 0..n {
        let s = _mm_setr_ps(acts[0][i].s, acts[1][i].s, acts[2][i].s, acts[3][i].s);
        for (m, row) in mins.iter_mut().zip(&rows) {
            *m = _mm_add_ps(*m, _mm_mul_ps(_mm_set1_ps(f16c_at(&row[i].m, 0)), s));
        }
    }
    for (o, m) in out.iter_mut().zip(mins) {
        let mut lanes = [0f32; TILE_TOKENS];
        // SAFETY: `lanes` holds four f32; unaligned store.
        unsafe { _mm_storeu_ps(lanes.as_mut_ptr(), m) };
        for (v, l) in o.iter_mut().zip(lanes) {
            *v += l;
        }
    }
    out
}
