//! Prompt products on AVX-512 VNNI: tiles of 4 weight rows × 4 rows of activations. For Q4_0,
//! Q4_1, Q5_1 and IQ4_NL a block pair's integer sum is one `vpdpbusd` per row and token (where the
//! AVX2 kernels need `maddubs`, `madd` and sign fix-ups), two blocks per 512-bit register; for
//! Q4_K and Q6_K the sub-block scales are applied by `vpdpwssd` ([`k_tiles!`]).
//!
//! For the 32-value formats both sides are unpacked once into panels of 512-bit units before the tiles run: the
//! activations of up to [`CHUNK_TOKENS`] tokens (codes, scales and the offset term as the
//! starting value of the sums), and the weights of each group of 4 rows (codes and scales). A
//! tile step is then only loads, the `vpdpbusd`, the conversion and two multiplies; unpacking
//! in the step itself cost as much again, since each weight block is used by four tokens only.
//!
//! Every output is bit-identical to the one-row AVX2 kernel ([`kernels_avx2`]): the integer
//! lanes are the same (`vpdpbusd` sums the same 4 bytes per lane as `madd(maddubs)`, without
//! saturation, and the sign or offset terms are folded into the starting value), and the f32
//! accumulation keeps that kernel's order. It spreads a row's blocks over four accumulators,
//! block `i` into accumulator `i mod 4` (the blocks after the last whole group of four into
//! accumulator 0), adds each block with one FMA, then sums `(a0 + a1) + (a2 + a3)`. Here a
//! register holds two accumulators: pass 0 puts block `4j` in the low eight lanes (accumulator
//! 0) and `4j + 1` in the high eight (accumulator 1), pass 1 blocks `4j + 2` and `4j + 3`, and
//! the tail goes to the low lanes of pass 0 (a masked FMA). Prefill therefore still equals
//! token-by-token decoding, bit for bit.
//!
//! [`kernels_avx2`]: crate::kernels_avx2

#![cfg(target_arch = "x86_64")]

use crate::blocks::scale_min_k4;
use crate::formats::{BlockQ4_1, BlockQ4K, BlockQ5_1, BlockQ5K, BlockQ6K, TILE_ROWS, TILE_TOKENS};
use crate::kernels::{Q8_1, Q8KBlock};
use crate::kernels_avx2::{
    f16c_at, fifth_bits, hsum_epi32, hsum_ps, i8_scales, load_i8x32, load32, nibbles, pair_scale, q4_k_group,
    q5_k_group, q6_k_quarters, scale_halves, whole_sum,
};
use std::arch::x86_64::*;

/// Tokens whose activation panel is built at once: 64 tokens of a 1536-wide row are ~300 KiB,
/// which stays in L2 while every group of weight rows passes over it.
const CHUNK_TOKENS: usize = 64;

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

/// Two weight blocks (or one in the low half, zeros above): codes and each block's scale in
/// its half's eight lanes.
#[derive(Clone, Copy)]
struct WeightUnit {
    codes: __m512i,
    scale: __m512,
}

/// Two activation blocks, as [`WeightUnit`], plus the starting value of their integer sums.
#[derive(Clone, Copy)]
struct ActUnit {
    codes: __m512i,
    scale: __m512,
    start: __m512i,
}

/// Where a row's blocks go: `groups` whole groups of four make units `0..groups` (blocks `4j`,
/// `4j + 1`: pass 0) and `groups..2·groups` (`4j + 2`, `4j + 3`: pass 1); the `tail` blocks
/// after them make one unit each, low half only.
#[derive(Clone, Copy)]
struct Layout {
    groups: usize,
    tail: usize,
}

impl Layout {
    fn new(blocks: usize) -> Self {
        Self { groups: blocks / 4, tail: blocks % 4 }
    }
    fn units(self) -> usize {
        2 * self.groups + self.tail
    }
    /// The first block of unit `u` and whether it holds a second.
    fn blocks_of(self, u: usize) -> (usize, bool) {
        if u < 2 * self.groups {
            (4 * (u % self.groups) + 2 * (u / self.groups), true)
        } else {
            (4 * self.groups + (u - 2 * self.groups), false)
        }
    }
}

/// Pushes a row's units (see [`Layout`]) onto `$out`: `$prep` turns a block `$b` into its 32
/// codes (a 256-bit register) and f32 scale, and `$unit` makes the unit from the two blocks'
/// `$codes` and `$scale`. A loop, not an iterator of closures, so the intrinsics inline.
macro_rules! push_units {
    ($out:expr, $blocks:expr, $layout:expr, |$b:ident| $prep:expr, |$codes:ident, $scale:ident| $unit:expr) => {{
        let (out, blocks, layout) = ($out, $blocks, $layout);
        for u in 0..layout.units() {
            let (i, two) = layout.blocks_of(u);
            let (lo, d_lo) = {
                let $b = &blocks[i];
                $prep
            };
            let (hi, d_hi) = if two {
                let $b = &blocks[i + 1];
                $prep
            } else {
                (_mm256_setzero_si256(), 0.0)
            };
            let $codes = _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi);
            let $scale = _mm512_insertf32x8::<1>(_mm512_set1_ps(d_lo), _mm256_set1_ps(d_hi));
            out.push($unit);
        }
    }};
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

/// One tile: 4 rows of `w` (`units` apart) × 4 tokens of `a` (`units` apart).
#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
fn tile(w: &[WeightUnit], a: &[ActUnit], layout: Layout) -> [[f32; TILE_TOKENS]; TILE_ROWS] {
    let units = layout.units();
    let (w, a) = (&w[..TILE_ROWS * units], &a[..TILE_TOKENS * units]);
    let mut passes = [[[_mm512_setzero_ps(); TILE_TOKENS]; TILE_ROWS]; 2];
    for (h, pass) in passes.iter_mut().enumerate() {
        let mut acc = [[_mm512_setzero_ps(); TILE_TOKENS]; TILE_ROWS];
        let (first, last) = (h * layout.groups, (h + 1) * layout.groups);
        for u in first..last {
            let ws = each4!(|r| w[r * units + u]);
            let xs = each4!(|t| a[t * units + u]);
            for (r, wu) in ws.iter().enumerate() {
                for (t, au) in xs.iter().enumerate() {
                    let s = _mm512_dpbusd_epi32(au.start, wu.codes, au.codes);
                    acc[r][t] = _mm512_fmadd_ps(_mm512_mul_ps(wu.scale, au.scale), _mm512_cvtepi32_ps(s), acc[r][t]);
                }
            }
        }
        if h == 0 {
            for u in 2 * layout.groups..units {
                let ws = each4!(|r| w[r * units + u]);
                let xs = each4!(|t| a[t * units + u]);
                for (r, wu) in ws.iter().enumerate() {
                    for (t, au) in xs.iter().enumerate() {
                        let s = _mm512_dpbusd_epi32(au.start, wu.codes, au.codes);
                        let scale = _mm512_mul_ps(wu.scale, au.scale);
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
}

/// The tiled product for one format: weight rows `0..4·⌊rows/4⌋` × tokens `0..4·⌊n/4⌋` into
/// `out[t·stride + r]` (`n = acts.len()`); the caller computes the rest. `$prep_w` / `$prep_a` turn a
/// block into its 32 codes and f32 scale, `$start` an activation unit's codes into the starting
/// value of its sums.
macro_rules! tiles {
    ($rows:expr, $per_row:expr, $acts:expr, $out:expr, $stride:expr,
     |$b:ident| $prep_w:expr,
     |$y:ident| $prep_a:expr,
     |$a:ident| $start:expr) => {{
        let (rows, per_row, acts, out, stride): (&[_], usize, &[Vec<_>], &mut [f32], usize) =
            ($rows, $per_row, $acts, $out, $stride);
        let n = acts.len();
        if !shapes_fit(rows.len(), per_row, acts.iter().map(|a| a.len()), out.len(), stride) {
            return;
        }
        let layout = Layout::new(per_row);
        let units = layout.units();
        let whole_tokens = n / TILE_TOKENS * TILE_TOKENS;
        let mut act_panel: Vec<ActUnit> = Vec::with_capacity(CHUNK_TOKENS.min(whole_tokens) * units);
        let mut weight_panel: Vec<WeightUnit> = Vec::with_capacity(TILE_ROWS * units);
        for t0 in (0..whole_tokens).step_by(CHUNK_TOKENS) {
            let tokens = CHUNK_TOKENS.min(whole_tokens - t0);
            act_panel.clear();
            for act in &acts[t0..t0 + tokens] {
                push_units!(&mut act_panel, &act[..per_row], layout, |$y| $prep_a, |codes, scale| {
                    let $a = codes;
                    ActUnit { codes, scale, start: $start }
                });
            }
            for (g, group) in rows.chunks_exact(TILE_ROWS * per_row).enumerate() {
                weight_panel.clear();
                for row in group.chunks_exact(per_row) {
                    push_units!(&mut weight_panel, row, layout, |$b| $prep_w, |codes, scale| WeightUnit {
                        codes,
                        scale
                    });
                }
                for t in (0..tokens).step_by(TILE_TOKENS) {
                    let y = tile(&weight_panel, &act_panel[t * units..], layout);
                    for j in 0..TILE_TOKENS {
                        let at = (t0 + t + j) * stride + g * TILE_ROWS;
                        out[at..at + TILE_ROWS].copy_from_slice(&[y[0][j], y[1][j], y[2][j], y[3][j]]);
                    }
                }
            }
        }
    }};
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

#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
fn load_codes(q: &[i8; 32]) -> __m256i {
    // SAFETY: `q` is 32 readable bytes; unaligned load.
    unsafe { _mm256_loadu_si256(q.as_ptr().cast()) }
}

/// Q5_1 × Q8_1: the integer sums of the 5-bit codes (unsigned, no offset), then each output's
/// minimum terms `m·s` (see [`add_minimum_terms`]).
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
pub(crate) fn tiles_q5_1(rows: &[BlockQ5_1], per_row: usize, acts: &[Vec<Q8_1>], out: &mut [f32], stride: usize) {
    if !shapes_fit(rows.len(), per_row, acts.iter().map(|a| a.len()), out.len(), stride) {
        return;
    }
    tiles_q5_1_codes(rows, per_row, acts, out, stride);
    add_minimum_terms(rows, per_row, acts, out, stride);
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
fn tiles_q5_1_codes(rows: &[BlockQ5_1], per_row: usize, acts: &[Vec<Q8_1>], out: &mut [f32], stride: usize) {
    let zero = _mm512_setzero_si512();
    tiles!(
        rows,
        per_row,
        acts,
        out,
        stride,
        |b| (_mm256_or_si256(nibbles(&b.qs), fifth_bits(u32::from_le_bytes(b.qh))), f16c_at(&b.d, 0)),
        |y| (load_codes(&y.qs), y.d),
        |_a| zero
    )
}

/// A block with a minimum (Q4_1, Q5_1): `d·Σ q·a + m·s` per block, `s` the activation block's
/// scaled sum.
trait WithMinimum: Copy {
    /// The minimum, f16 bytes.
    fn minimum(&self) -> [u8; 2];
}

impl WithMinimum for BlockQ4_1 {
    fn minimum(&self) -> [u8; 2] {
        self.m
    }
}

impl WithMinimum for BlockQ5_1 {
    fn minimum(&self) -> [u8; 2] {
        self.m
    }
}

/// Adds each tiled output's minimum terms `m·s`, summed in block order (as the one-row kernel
/// sums them, beside its accumulators) and added last, as the one-row kernel adds them.
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
fn add_minimum_terms<B: WithMinimum>(rows: &[B], per_row: usize, acts: &[Vec<Q8_1>], out: &mut [f32], stride: usize) {
    // One register per tile: lane 4r + t sums row r's minimums times token t's sums. The
    // tokens' side is the same for every group of rows: built once.
    let token_groups = acts.len() / TILE_TOKENS;
    let mut s = Vec::with_capacity(token_groups * per_row);
    for four in acts.chunks_exact(TILE_TOKENS) {
        let [a0, a1, a2, a3] = each4!(|t| &four[t][..per_row]);
        for (((x0, x1), x2), x3) in a0.iter().zip(a1).zip(a2).zip(a3) {
            let [s0, s1, s2, s3] = [x0.s, x1.s, x2.s, x3.s];
            s.push(_mm512_setr_ps(s0, s1, s2, s3, s0, s1, s2, s3, s0, s1, s2, s3, s0, s1, s2, s3));
        }
    }
    let mut m = Vec::with_capacity(per_row);
    for (g, group) in rows.chunks_exact(TILE_ROWS * per_row).enumerate() {
        m.clear();
        for i in 0..per_row {
            let [m0, m1, m2, m3] = each4!(|r| f16c_at(&group[r * per_row + i].minimum(), 0));
            m.push(_mm512_setr_ps(m0, m0, m0, m0, m1, m1, m1, m1, m2, m2, m2, m2, m3, m3, m3, m3));
        }
        for (tg, s) in s.chunks_exact(per_row).enumerate() {
            let mut mins = _mm512_setzero_ps();
            for (mv, sv) in m.iter().zip(s) {
                mins = _mm512_add_ps(mins, _mm512_mul_ps(*mv, *sv));
            }
            let mut lanes = [0f32; 16];
            // SAFETY: `lanes` holds sixteen f32; unaligned store.
            unsafe { _mm512_storeu_ps(lanes.as_mut_ptr(), mins) };
            for (r, four) in lanes.chunks_exact(TILE_TOKENS).enumerate() {
                for (t, v) in four.iter().enumerate() {
                    out[(tg * TILE_TOKENS + t) * stride + g * TILE_ROWS + r] += v;
                }
            }
        }
    }
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
