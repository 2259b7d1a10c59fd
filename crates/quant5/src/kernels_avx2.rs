//! AVX2 + FMA (+ F16C) block dot products (x86-64, chosen at run time) for every stored block
//! type (Q4_0/1, Q5_0/1, Q8_0, Q2_K…Q6_K, IQ4_NL, IQ4_XS). Integer products inside blocks
//! use `maddubs` (u8 × i8 → i16 pairs) and `madd` (→ i32), exactly like ggml's x86 kernels; the
//! per-block scale is applied to eight i32 partial sums at once and FMA-accumulated in f32
//! (Q8_0 first sums each block to one integer, eight blocks per FMA: [`add_block_sums`]).
//! Integer block sums equal the portable kernels' exactly; only the order of the f32
//! accumulation differs, so results agree to ~1e-6 relative (tested).

#![cfg(target_arch = "x86_64")]

use crate::blocks::scale_min_k4;
use crate::kernels::{Q8_0, Q8_1, Q8KBlock};
use std::arch::x86_64::*;

/// f16 → f32 with the F16C instruction (software conversion would dominate small blocks).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn f16c_at(b: &[u8], at: usize) -> f32 {
    let bits = u16::from_le_bytes([b[at], b[at + 1]]);
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32)))
}

/// Horizontal sum of eight f32 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn hsum_ps(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    _mm_cvtss_f32(s)
}

/// 32 bytes, byte `i` = 0x10 if bit `i` of `bits` is set (the fifth bit of Q5_0/Q5_1 codes).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn fifth_bits(bits: u32) -> __m256i {
    let x = _mm256_set1_epi32(bits as i32);
    let shuffle = _mm256_setr_epi8(
        0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3,
    );
    let bytes = _mm256_shuffle_epi8(x, shuffle);
    let mask = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
    let set = _mm256_cmpeq_epi8(_mm256_and_si256(bytes, mask), mask);
    _mm256_and_si256(set, _mm256_set1_epi8(0x10))
}

/// The 32 nibbles of 16 bytes: low nibbles in bytes 0..16, high nibbles in bytes 16..32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn nibbles(qs: &[u8]) -> __m256i {
    let qs = &qs[..16];
    // SAFETY: `qs` has 16 readable bytes (checked by the slice above); unaligned load.
    let q = unsafe { _mm_loadu_si128(qs.as_ptr() as *const __m128i) };
    let low = _mm_and_si128(q, _mm_set1_epi8(0x0F));
    let high = _mm_and_si128(_mm_srli_epi16(q, 4), _mm_set1_epi8(0x0F));
    _mm256_set_m128i(high, low)
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn load32(b: &[u8]) -> __m256i {
    let b = &b[..32];
    // SAFETY: `b` has 32 readable bytes (checked by the slice above); unaligned load.
    unsafe { _mm256_loadu_si256(b.as_ptr() as *const __m256i) }
}

#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn load_i8x32(q: &[i8]) -> __m256i {
    let q = &q[..32];
    // SAFETY: `q` has 32 readable bytes (checked by the slice above); unaligned load.
    unsafe { _mm256_loadu_si256(q.as_ptr() as *const __m256i) }
}

/// Σ u·s over 32 lanes as eight i32 partial sums (u unsigned ≤ 127·2 safe, s signed).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_u8_i8(u: __m256i, s: __m256i) -> __m256i {
    _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1))
}

/// Σ a·b for signed a and b (sign moved onto b so `maddubs` sees |a|).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_i8_i8(a: __m256i, b: __m256i) -> __m256i {
    dot_u8_i8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a))
}

/// How far ahead of the weights being read Q5_0's decoding kernel asks for the next line.
const PREFETCH_AHEAD: usize = 1024;

/// How far ahead of a pair of decoding rows every line is asked for ([`prefetch_lines_ahead`]).
/// On an AVX2-only Zen 3, where these kernels carry all of decoding (AVX-512 machines take the
/// one-token panels), SmolLM2 Q4_1 at 1 thread went from 72 tok/s with one line a kilobyte
/// ahead per group to 85 with every line 2 KiB ahead, 91 at 4 KiB and 86 at 8 KiB; Q8_0 from
/// 65 to 67–70; and each K-quant super-block's lines, 5 % on a Q4_K_M file. Q5_0's two-row
/// kernel, which assembles its fifth bits and waits less on memory, lost 12 % with it and
/// keeps one line a kilobyte ahead per group ([`prefetch_ahead`]).
const ROWS_PREFETCH_AHEAD: usize = 4096;

/// Hints to fetch every cache line of `b` (a group of eight blocks of the second of two
/// adjacent rows) [`ROWS_PREFETCH_AHEAD`] bytes on.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn prefetch_lines_ahead(b: &[u8]) {
    for line in (0..b.len()).step_by(64) {
        _mm_prefetch::<_MM_HINT_T0>(b.as_ptr().cast::<i8>().wrapping_add(ROWS_PREFETCH_AHEAD + line));
    }
}

/// A hint to fetch the weights [`PREFETCH_AHEAD`] bytes past `b` (a group of blocks of
/// Q5_0's two-row decoding kernel; the others ask for every line, [`prefetch_lines_ahead`]).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn prefetch_ahead(b: &[u8]) {
    _mm_prefetch::<_MM_HINT_T0>(b.as_ptr().cast::<i8>().wrapping_add(PREFETCH_AHEAD));
}

/// A Q4_K, Q5_K or Q6_K super-block's whole integer sum (its eight lanes added), as f32 in every
/// lane: those formats add one FMA per super-block — the same value in all eight lanes, lane 0
/// read at the end — so their 16-row panels, which sum a super-block per row, give the same
/// bits (ggml's order too: `sumf += d · sumi`).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn whole_sum(isum: __m256i) -> __m256 {
    _mm256_set1_ps(hsum_epi32(isum) as f32)
}

/// Lane `j` of the result: the sum of `v[j]`'s eight lanes (eight blocks' partial sums in,
/// their whole integer sums out; exact, so any order of the adds gives the same lanes).
///
/// Interleaves and adds rather than `vphaddd`, which decodes to several micro-ops with a
/// throughput of one per two cycles on Zen and Intel cores: six of them per call had bound the
/// AVX2 prompt tiles, which reduce sixteen of these per group of eight blocks.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn block_sums8(v: &[__m256i; 8]) -> __m256i {
    // Pairs: lanes [a0+a2, b0+b2, a1+a3, b1+b3 | the same of lanes 4–7] for blocks a, b.
    let pair = |a: __m256i, b: __m256i| _mm256_add_epi32(_mm256_unpacklo_epi32(a, b), _mm256_unpackhi_epi32(a, b));
    let (p01, p23, p45, p67) = (pair(v[0], v[1]), pair(v[2], v[3]), pair(v[4], v[5]), pair(v[6], v[7]));
    // Quads: lane j of each half holds block j's (or j + 4's) half-sum.
    let quad = |a: __m256i, b: __m256i| _mm256_add_epi32(_mm256_unpacklo_epi64(a, b), _mm256_unpackhi_epi64(a, b));
    let (q0, q1) = (quad(p01, p23), quad(p45, p67));
    _mm256_add_epi32(_mm256_permute2x128_si256::<0x20>(q0, q1), _mm256_permute2x128_si256::<0x31>(q0, q1))
}

/// `acc + scales · Σ sums`: eight blocks' integer sums, converted once and added with one FMA,
/// block `8g + j` into lane `j`. The order every Q8_0 kernel keeps (the row kernels here, the
/// 16-row panels in `panels`), so their results agree bit for bit.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn add_block_sums(acc: __m256, scales: &[f32; 8], sums: &[__m256i; 8]) -> __m256 {
    // SAFETY: `scales` is eight f32s; unaligned load.
    let d = unsafe { _mm256_loadu_ps(scales.as_ptr()) };
    _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(block_sums8(sums)), acc)
}

/// Sums a row's blocks in [`add_block_sums`]'s order: `$block` gives block `$b` (an array of
/// `$ts` bytes) against activation block `$y` as (scale product, eight i32 partial sums).
/// The last partial group of eight is padded with zero blocks (a zero block adds `0 · 0`,
/// which leaves an accumulator's bits as they are: it starts at +0 and never becomes −0). A
/// macro rather than a function taking a closure, so the intrinsics inline.
macro_rules! by_eights {
    ($row:expr, $ts:expr, $ys:expr, |$b:ident, $y:ident| $block:expr) => {{
        let (blocks, _) = $row.as_chunks::<{ $ts }>();
        let ys = $ys;
        let n = blocks.len().min(ys.len());
        let (groups, tail) = blocks[..n].as_chunks::<8>();
        let (y_groups, y_tail) = ys[..n].as_chunks::<8>();
        let mut acc = _mm256_setzero_ps();
        let mut scales = [0f32; 8];
        let mut sums = [_mm256_setzero_si256(); 8];
        for (group, y_group) in groups.iter().zip(y_groups) {
            for k in 0..8 {
                let ($b, $y) = (&group[k], &y_group[k]);
                (scales[k], sums[k]) = $block;
            }
            acc = add_block_sums(acc, &scales, &sums);
        }
        if !tail.is_empty() {
            let (mut scales, mut sums) = ([0f32; 8], [_mm256_setzero_si256(); 8]);
            for (k, ($b, $y)) in tail.iter().zip(y_tail).enumerate() {
                (scales[k], sums[k]) = $block;
            }
            acc = add_block_sums(acc, &scales, &sums);
        }
        hsum_ps(acc)
    }};
}

/// [`by_eights!`] for two weight rows and one row of activations (a decoding step): each
/// activation block is loaded once for both rows; each row's sums run in the one-row order.
macro_rules! by_eights_rows {
    ($r0:expr, $r1:expr, $ts:expr, $ys:expr, $prefetch:ident, |$t:ident, $b:ident, $y:ident| $block:expr) => {{
        let ((b0, _), (b1, _)) = ($r0.as_chunks::<{ $ts }>(), $r1.as_chunks::<{ $ts }>());
        let ys = $ys;
        let n = b0.len().min(b1.len()).min(ys.len());
        let ((groups0, tail0), (groups1, tail1)) = (b0[..n].as_chunks::<8>(), b1[..n].as_chunks::<8>());
        let (y_groups, y_tail) = ys[..n].as_chunks::<8>();
        let mut acc = [_mm256_setzero_ps(); 2];
        let mut scales = [[0f32; 8]; 2];
        let mut sums = [[_mm256_setzero_si256(); 8]; 2];
        for ((g0, g1), y_group) in groups0.iter().zip(groups1).zip(y_groups) {
            // Hints for the weight stream, which decoding waits on ([`ROWS_PREFETCH_AHEAD`]):
            // the second row's group (the rows are adjacent, so this runs ahead of both).
            $prefetch(g1.as_flattened());
            for k in 0..8 {
                let $y = &y_group[k];
                for ($t, $b) in [&g0[k], &g1[k]].into_iter().enumerate() {
                    (scales[$t][k], sums[$t][k]) = $block;
                }
            }
            for t in 0..2 {
                acc[t] = add_block_sums(acc[t], &scales[t], &sums[t]);
            }
        }
        if !y_tail.is_empty() {
            let (mut scales, mut sums) = ([[0f32; 8]; 2], [[_mm256_setzero_si256(); 8]; 2]);
            for (k, $y) in y_tail.iter().enumerate() {
                for ($t, $b) in [&tail0[k], &tail1[k]].into_iter().enumerate() {
                    (scales[$t][k], sums[$t][k]) = $block;
                }
            }
            for t in 0..2 {
                acc[t] = add_block_sums(acc[t], &scales[t], &sums[t]);
            }
        }
        [hsum_ps(acc[0]), hsum_ps(acc[1])]
    }};
}

/// [`by_eights!`] for two rows of activations (a prompt chunk): `$prep` runs once per weight
/// block (bound to `$shared`), `$block` once per row of activations (`$t`, 0 or 1), in block
/// order; each row's sums run in the one-row order.
macro_rules! by_eights_pair {
    ($row:expr, $ts:expr, $a0:expr, $a1:expr, |$b:ident| $shared:pat = $prep:expr, |$t:ident, $y:ident| $block:expr) => {{
        let (blocks, _) = $row.as_chunks::<{ $ts }>();
        let (a0, a1) = ($a0, $a1);
        let n = blocks.len().min(a0.len()).min(a1.len());
        let (groups, tail) = blocks[..n].as_chunks::<8>();
        let ((groups0, tail0), (groups1, tail1)) = (a0[..n].as_chunks::<8>(), a1[..n].as_chunks::<8>());
        let mut acc = [_mm256_setzero_ps(); 2];
        let mut scales = [[0f32; 8]; 2];
        let mut sums = [[_mm256_setzero_si256(); 8]; 2];
        for ((group, y0), y1) in groups.iter().zip(groups0).zip(groups1) {
            for k in 0..8 {
                let $b = &group[k];
                let $shared = $prep;
                for ($t, $y) in [&y0[k], &y1[k]].into_iter().enumerate() {
                    (scales[$t][k], sums[$t][k]) = $block;
                }
            }
            for t in 0..2 {
                acc[t] = add_block_sums(acc[t], &scales[t], &sums[t]);
            }
        }
        if !tail.is_empty() {
            let (mut scales, mut sums) = ([[0f32; 8]; 2], [[_mm256_setzero_si256(); 8]; 2]);
            for (k, $b) in tail.iter().enumerate() {
                let $shared = $prep;
                for ($t, $y) in [&tail0[k], &tail1[k]].into_iter().enumerate() {
                    (scales[$t][k], sums[$t][k]) = $block;
                }
            }
            for t in 0..2 {
                acc[t] = add_block_sums(acc[t], &scales[t], &sums[t]);
            }
        }
        [hsum_ps(acc[0]), hsum_ps(acc[1])]
    }};
}

/// Q8_0 × Q8_0: unlike most 32-value formats, each block's 32 products are summed as one
/// integer before its scale is applied (what ggml's repacked kernels do), eight blocks per
/// [`add_block_sums`]; the AVX-512 panels compute the same sums sixteen rows at a time with a
/// third of the instructions the per-lane order needed.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q8_0(row: &[u8], act: &[Q8_0]) -> f32 {
    by_eights!(row, 34, act, |b, y| (f16c_at(b, 0) * y.d, dot_i8_i8(load32(&b[2..34]), load_i8x32(&y.qs))))
}

/// [`dot_q8_0`] for two weight rows and one activation row (decoding; the LM head of a model
/// whose embedding is Q8_0): bit-identical to two calls.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q8_0_rows(r0: &[u8], r1: &[u8], act: &[Q8_0]) -> [f32; 2] {
    by_eights_rows!(r0, r1, 34, act, prefetch_lines_ahead, |_t, b, y| (
        f16c_at(b, 0) * y.d,
        dot_i8_i8(load32(&b[2..34]), load_i8x32(&y.qs))
    ))
}

/// [`dot_q8_0`] for two rows of activations at once (a prompt chunk): each weight block and its
/// scale are loaded once for both; bit-identical to two calls.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q8_0_pair(row: &[u8], a0: &[Q8_0], a1: &[Q8_0]) -> [f32; 2] {
    by_eights_pair!(row, 34, a0, a1, |b| (w, d) = (load32(&b[2..34]), f16c_at(b, 0)), |_t, y| {
        (d * y.d, dot_i8_i8(w, load_i8x32(&y.qs)))
    })
}

/// Q4_1 × Q8_1: the unsigned nibbles against the activations, one integer sum per block in
/// Q8_0's order ([`add_block_sums`], which the 16-row panels share), and the minimum terms
/// `m · s` in one f32 sum in block order.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q4_1(row: &[u8], act: &[Q8_1]) -> f32 {
    let mut mins = 0f32;
    let sum = by_eights!(row, 20, act, |b, y| {
        let [scale, min] = scale_and_min(b, y);
        mins += min;
        (scale, dot_u8_i8(nibbles(&b[4..20]), load_i8x32(&y.qs)))
    });
    sum + mins
}

/// A Q4_1 or Q5_1 block's `d · y.d` and `m · y.s`: both f16 fields converted by one
/// `vcvtph2ps` and multiplied by one `vmulps`, lane by lane (the bits of the two scalar
/// products; the scalar conversions and products were a fifth of a decoding step's work).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn scale_and_min(b: &[u8], y: &Q8_1) -> [f32; 2] {
    let dm = _mm_cvtph_ps(_mm_cvtsi32_si128(i32::from_le_bytes([b[0], b[1], b[2], b[3]])));
    let products = _mm_mul_ps(dm, _mm_setr_ps(y.d, y.s, 0.0, 0.0));
    [_mm_cvtss_f32(products), _mm_cvtss_f32(_mm_movehdup_ps(products))]
}

/// [`dot_q4_1`] for two weight rows and one activation row (decoding): bit-identical to two
/// calls (each row's blocks, accumulators and minimum sum in [`dot_q4_1`]'s order).
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q4_1_rows(r0: &[u8], r1: &[u8], act: &[Q8_1]) -> [f32; 2] {
    let mut mins = [0f32; 2];
    let [s0, s1] = by_eights_rows!(r0, r1, 20, act, prefetch_lines_ahead, |t, b, y| {
        let [scale, min] = scale_and_min(b, y);
        mins[t] += min;
        (scale, dot_u8_i8(nibbles(&b[4..20]), load_i8x32(&y.qs)))
    });
    [s0 + mins[0], s1 + mins[1]]
}

/// [`dot_q4_1`] for two rows of activations at once: each weight block is unpacked once and
/// dotted with both; bit-identical to two calls.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q4_1_pair(row: &[u8], a0: &[Q8_1], a1: &[Q8_1]) -> [f32; 2] {
    let mut mins = [0f32; 2];
    let [s0, s1] =
        by_eights_pair!(row, 20, a0, a1, |b| (q, d, m) = (nibbles(&b[4..20]), f16c_at(b, 0), f16c_at(b, 2)), |t, y| {
            mins[t] += m * y.s;
            (d * y.d, dot_u8_i8(q, load_i8x32(&y.qs)))
        });
    [s0 + mins[0], s1 + mins[1]]
}

/// A Q5_1 block's 32 codes (0–31, unsigned bytes).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q5_1_codes(b: &[u8; 24]) -> __m256i {
    let qh = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
    _mm256_or_si256(nibbles(&b[8..24]), fifth_bits(qh))
}

/// Q5_1 × Q8_1: Q4_1's order (one integer sum per block, eight per FMA, the minimum terms in
/// one f32 sum) on the 5-bit codes; the 16-row panels share it.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q5_1(row: &[u8], act: &[Q8_1]) -> f32 {
    let mut mins = 0f32;
    let sum = by_eights!(row, 24, act, |b, y| {
        mins += f16c_at(b, 2) * y.s;
        (f16c_at(b, 0) * y.d, dot_u8_i8(q5_1_codes(b), load_i8x32(&y.qs)))
    });
    sum + mins
}

/// [`dot_q5_1`] for two rows of activations at once: each weight block is unpacked once;
/// bit-identical to two calls.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q5_1_pair(row: &[u8], a0: &[Q8_1], a1: &[Q8_1]) -> [f32; 2] {
    let mut mins = [0f32; 2];
    let [s0, s1] =
        by_eights_pair!(row, 24, a0, a1, |b| (q, d, m) = (q5_1_codes(b), f16c_at(b, 0), f16c_at(b, 2)), |t, y| {
            mins[t] += m * y.s;
            (d * y.d, dot_u8_i8(q, load_i8x32(&y.qs)))
        });
    [s0 + mins[0], s1 + mins[1]]
}

/// A Q5_0 block's 32 codes (0–31, unsigned bytes).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q5_0_codes(b: &[u8; 22]) -> __m256i {
    let qh = u32::from_le_bytes([b[2], b[3], b[4], b[5]]);
    _mm256_or_si256(nibbles(&b[6..22]), fifth_bits(qh))
}

/// A Q5_0 block's 32 codes as the signed values they stand for, `q − 16` (−16…15): dotted
/// with [`dot_i8_i8`] they give each lane's `Σ q·a − 16·Σ a` in one `maddubs` where the
/// unsigned codes took two (the lanes' integers are the same).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn q5_0_signed(b: &[u8; 22]) -> __m256i {
    _mm256_sub_epi8(q5_0_codes(b), _mm256_set1_epi8(16))
}

/// Q5_0 × Q8_0, in Q8_0's one-sum-per-block order ([`add_block_sums`]), which its 16-row
/// panels share.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q5_0(row: &[u8], act: &[Q8_0]) -> f32 {
    by_eights!(row, 22, act, |b, y| (f16c_at(b, 0) * y.d, dot_i8_i8(q5_0_signed(b), load_i8x32(&y.qs))))
}

/// [`dot_q5_0`] for two weight rows and one activation row (decoding; most of a Q4_K_M file
/// whose rows are not whole super-blocks): bit-identical to two calls.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q5_0_rows(r0: &[u8], r1: &[u8], act: &[Q8_0]) -> [f32; 2] {
    by_eights_rows!(r0, r1, 22, act, prefetch_ahead, |_t, b, y| (
        f16c_at(b, 0) * y.d,
        dot_i8_i8(q5_0_signed(b), load_i8x32(&y.qs))
    ))
}

/// [`dot_q5_0`] for two rows of activations at once: each block's 5-bit codes are assembled
/// once; bit-identical to two calls.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q5_0_pair(row: &[u8], a0: &[Q8_0], a1: &[Q8_0]) -> [f32; 2] {
    by_eights_pair!(row, 22, a0, a1, |b| (w, d) = (q5_0_signed(b), f16c_at(b, 0)), |_t, y| {
        (d * y.d, dot_i8_i8(w, load_i8x32(&y.qs)))
    })
}

/// The prompt tiles of the formats whose codes are signed bytes against Q8_0 activations (Q8_0,
/// and Q5_0 as `q − 16`), for CPUs without AVX-512 VNNI (which take the 16-row panels): 4 weight
/// rows × 4 tokens, each weight block unpacked once for the four tokens and each activation
/// block loaded once for the four rows. A block's integer sum is `maddubs(|w|, sign(a, w))`
/// then `madd` — the same integer as the row kernels' (Q5_0's `Σ q·a − 16·Σ a` included:
/// integer sums are exact), so each output takes [`by_eights!`]'s f32 steps on the same values:
/// eight blocks' scale products (each `d · y.d`, lane by lane) times their sums in one FMA,
/// zeros past the last block, and one horizontal sum — bit for bit the row kernel's result.
/// `$codes` gives block `$b`'s signed codes, `$scale` its scale.
macro_rules! signed_tiles {
    ($ts:expr, $rows:expr, $per_row:expr, $acts:expr, $out:expr, $stride:expr, |$b:ident| ($codes:expr, $scale:expr)) => {{
        let (rows, per_row, acts, out, stride): (&[u8], usize, &[Vec<Q8_0>], &mut [f32], usize) =
            ($rows, $per_row, $acts, $out, $stride);
        let row_bytes = per_row * $ts;
        if row_bytes == 0 || !rows.len().is_multiple_of(row_bytes) {
            return;
        }
        let (n_rows, n) = (rows.len() / row_bytes, acts.len());
        if stride < n_rows
            || out.len() < n.saturating_sub(1) * stride + n_rows
            || acts.iter().any(|a| a.len() < per_row)
        {
            return;
        }
        let ones = _mm256_set1_epi16(1);
        // Each row's and token's eight blocks' integer sums, reduced once per group of eight.
        let mut sums = [[[_mm256_setzero_si256(); 8]; 4]; 4];
        // The scales as f32 runs, zero-padded to whole groups of eight, gathered once: built
        // lane by lane inside the loop, each group's vectors were loaded straight after eight
        // scalar stores, which store forwarding cannot serve.
        let padded = per_row.next_multiple_of(8);
        let mut act_scales = vec![0f32; n / 4 * 4 * padded];
        for (t, scales) in act_scales.chunks_exact_mut(padded).enumerate() {
            for (s, y) in scales.iter_mut().zip(&acts[t][..per_row]) {
                *s = y.d;
            }
        }
        let mut row_scales = vec![0f32; 4 * padded];
        for r0 in (0..n_rows / 4 * 4).step_by(4) {
            let w: [&[[u8; $ts]]; 4] =
                std::array::from_fn(|r| rows[(r0 + r) * row_bytes..(r0 + r + 1) * row_bytes].as_chunks::<{ $ts }>().0);
            for (r, scales) in row_scales.chunks_exact_mut(padded).enumerate() {
                for (s, $b) in scales.iter_mut().zip(w[r]) {
                    *s = $scale;
                }
            }
            for t0 in (0..n / 4 * 4).step_by(4) {
                let a: [&[Q8_0]; 4] = std::array::from_fn(|t| &acts[t0 + t][..per_row]);
                let mut acc = [[_mm256_setzero_ps(); 4]; 4];
                for g in (0..per_row).step_by(8) {
                    let len = (per_row - g).min(8);
                    for k in 0..len {
                        let mut signed = [_mm256_setzero_si256(); 4];
                        let mut magnitude = [_mm256_setzero_si256(); 4];
                        for r in 0..4 {
                            // SAFETY: `g + k < per_row`, and every row of `w` has `per_row`
                            // blocks (bounds checks here were an eighth of the loop's work).
                            let $b = unsafe { w[r].get_unchecked(g + k) };
                            let q: __m256i = $codes;
                            (signed[r], magnitude[r]) = (q, _mm256_sign_epi8(q, q));
                        }
                        for t in 0..4 {
                            // SAFETY: `g + k < per_row`, and each `a[t]` is `per_row` blocks.
                            let y = unsafe { a[t].get_unchecked(g + k) };
                            let codes = load_i8x32(&y.qs);
                            for r in 0..4 {
                                let products = _mm256_maddubs_epi16(magnitude[r], _mm256_sign_epi8(codes, signed[r]));
                                sums[r][t][k] = _mm256_madd_epi16(products, ones);
                            }
                        }
                    }
                    for k in len..8 {
                        for row in sums.iter_mut() {
                            for token in row.iter_mut() {
                                token[k] = _mm256_setzero_si256();
                            }
                        }
                    }
                    for r in 0..4 {
                        let dr = load_f32x8(&row_scales[r * padded + g..]);
                        for t in 0..4 {
                            let scales = _mm256_mul_ps(dr, load_f32x8(&act_scales[(t0 + t) * padded + g..]));
                            let total = _mm256_cvtepi32_ps(block_sums8(&sums[r][t]));
                            acc[r][t] = _mm256_fmadd_ps(scales, total, acc[r][t]);
                        }
                    }
                }
                for (r, acc) in acc.iter().enumerate() {
                    for (t, acc) in acc.iter().enumerate() {
                        out[(t0 + t) * stride + r0 + r] = hsum_ps(*acc);
                    }
                }
            }
        }
    }};
}

/// One activation block's codes `round_half_away(v · id)` as i8, and their sum: the scalar
/// loop's operations lane by lane (the same product, `+ copysign(0.49999997, x)`, truncation;
/// a NaN becomes 0 as Rust's `as` makes it), so the same codes. Quantizing the activations
/// one value at a time had been a twentieth of a prompt.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn q8_round(c: &[f32; 32], id: f32) -> ([i8; 32], i32) {
    let (idv, sign) = (_mm256_set1_ps(id), _mm256_set1_ps(-0.0));
    let half = _mm256_set1_ps(f32::from_bits(0x3EFF_FFFF));
    let ints: [__m256i; 4] = std::array::from_fn(|i| {
        let v = load_f32x8(&c[8 * i..]);
        let x = _mm256_mul_ps(v, idv);
        let rounded = _mm256_add_ps(x, _mm256_or_ps(half, _mm256_and_ps(x, sign)));
        let nan = _mm256_castps_si256(_mm256_cmp_ps::<_CMP_UNORD_Q>(rounded, rounded));
        _mm256_andnot_si256(nan, _mm256_cvttps_epi32(rounded))
    });
    let sum = hsum_epi32(_mm256_add_epi32(_mm256_add_epi32(ints[0], ints[1]), _mm256_add_epi32(ints[2], ints[3])));
    let bytes = _mm256_packs_epi16(_mm256_packs_epi32(ints[0], ints[1]), _mm256_packs_epi32(ints[2], ints[3]));
    let ordered = _mm256_permutevar8x32_epi32(bytes, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    let mut qs = [0i8; 32];
    // SAFETY: `qs` has 32 writable bytes; unaligned store.
    unsafe { _mm256_storeu_si256(qs.as_mut_ptr().cast(), ordered) };
    (qs, sum)
}

/// The first eight values of `v`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load_f32x8(v: &[f32]) -> __m256 {
    let v = &v[..8];
    // SAFETY: `v` has 8 readable f32s (checked by the slice above); unaligned load.
    unsafe { _mm256_loadu_ps(v.as_ptr()) }
}

/// Q8_0 prompt tiles ([`signed_tiles!`]): bit-identical to [`dot_q8_0`] per row and token.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn tiles_q8_0(rows: &[u8], per_row: usize, acts: &[Vec<Q8_0>], out: &mut [f32], stride: usize) {
    signed_tiles!(34, rows, per_row, acts, out, stride, |b| (load32(&b[2..34]), f16c_at(b, 0)))
}

/// Q5_0 prompt tiles ([`signed_tiles!`], the codes as `q − 16`): bit-identical to
/// [`dot_q5_0`] per row and token.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn tiles_q5_0(rows: &[u8], per_row: usize, acts: &[Vec<Q8_0>], out: &mut [f32], stride: usize) {
    signed_tiles!(22, rows, per_row, acts, out, stride, |b| (q5_0_signed(b), f16c_at(b, 0)))
}

/// Group `g` (64 values) of a Q5_K super-block `b` whose 32 `qh` bytes are `qh`: its two
/// 32-code halves (low four bits from `qs`, the fifth from `qh`) and the (scale, minimum) of each, shared by the one-row, two-row
/// and tile kernels.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn q5_k_group(b: &[u8], qh: __m256i, g: usize) -> ([__m256i; 2], (u8, u8), (u8, u8)) {
    let (low4, one) = (_mm256_set1_epi8(0x0F), _mm256_set1_epi8(1));
    let scales = &b[4..16];
    let packed = load32(&b[48 + 32 * g..48 + 32 * g + 32]);
    // The fifth bits of the group's two halves: bits 2g and 2g + 1 of each `qh` byte.
    let h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * g as i32)), one), 4);
    let h2 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * g as i32 + 1)), one), 4);
    let q1 = _mm256_or_si256(_mm256_and_si256(packed, low4), h1);
    let q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(packed, 4), low4), h2);
    ([q1, q2], scale_min_k4(2 * g, scales), scale_min_k4(2 * g + 1, scales))
}

/// Q5_K × Q8_K: per super-block `d·Σ_j ls_j·Σ q·a − dmin·Σ_j lm_j·bsums_j`. (Written out
/// rather than through [`q5_k_group`]: the helper measured 5–10 % slower here, 626–656 against
/// 587–595 µs at 4096×4096.)
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q5_k(row: &[u8], act: &[Q8KBlock]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut mins = 0f32;
    let low4 = _mm256_set1_epi8(0x0F);
    let one = _mm256_set1_epi8(1);
    for (b, y) in row.chunks_exact(176).zip(act) {
        prefetch_lines_ahead(b);
        let scales = &b[4..16];
        let qh = load32(&b[16..48]);
        let qs = &b[48..176];
        let mut isum = _mm256_setzero_si256();
        let mut msum = 0i32;
        let mut sm = [(0u8, 0u8); 8];
        for (j, v) in sm.iter_mut().enumerate() {
            *v = scale_min_k4(j, scales);
        }
        for g in 0..4 {
            let ((ls1, lm1), (ls2, lm2)) = (sm[2 * g], sm[2 * g + 1]);
            let packed = load32(&qs[32 * g..32 * g + 32]);
            let shift = _mm_cvtsi32_si128(2 * g as i32);
            let h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, shift), one), 4);
            let h2 =
                _mm256_slli_epi16(_mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * g as i32 + 1)), one), 4);
            let q1 = _mm256_or_si256(_mm256_and_si256(packed, low4), h1);
            let q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(packed, 4), low4), h2);
            let a1 = load_i8x32(&y.qs[64 * g..64 * g + 32]);
            let a2 = load_i8x32(&y.qs[64 * g + 32..64 * g + 64]);
            let p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(q1, a1), _mm256_set1_epi16(ls1 as i16));
            let p2 = _mm256_madd_epi16(_mm256_maddubs_epi16(q2, a2), _mm256_set1_epi16(ls2 as i16));
            isum = _mm256_add_epi32(isum, _mm256_add_epi32(p1, p2));
            let bs = |j: usize| y.bsums[2 * j] as i32 + y.bsums[2 * j + 1] as i32;
            msum += lm1 as i32 * bs(2 * g) + lm2 as i32 * bs(2 * g + 1);
        }
        let d = f16c_at(b, 0) * y.d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), whole_sum(isum), acc);
        mins += f16c_at(b, 2) * y.d * msum as f32;
    }
    _mm256_cvtss_f32(acc) - mins
}

/// [`dot_q5_k`] for two rows of activations: the codes and scales of each super-block are
/// unpacked once; each row's sums run in [`dot_q5_k`]'s exact order (bit-identical results).
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q5_k_pair(row: &[u8], a0: &[Q8KBlock], a1: &[Q8KBlock]) -> [f32; 2] {
    let mut acc = [_mm256_setzero_ps(); 2];
    let mut mins = [0f32; 2];
    for ((b, y0), y1) in row.chunks_exact(176).zip(a0).zip(a1) {
        let qh = load32(&b[16..48]);
        let mut isum = [_mm256_setzero_si256(); 2];
        let mut msum = [0i32; 2];
        for g in 0..4 {
            let ([q1, q2], (ls1, lm1), (ls2, lm2)) = q5_k_group(b, qh, g);
            let (s1, s2) = (_mm256_set1_epi16(ls1 as i16), _mm256_set1_epi16(ls2 as i16));
            for (t, y) in [y0, y1].into_iter().enumerate() {
                let a1 = load_i8x32(&y.qs[64 * g..64 * g + 32]);
                let a2 = load_i8x32(&y.qs[64 * g + 32..64 * g + 64]);
                let p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(q1, a1), s1);
                let p2 = _mm256_madd_epi16(_mm256_maddubs_epi16(q2, a2), s2);
                isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(p1, p2));
                let bs = |j: usize| y.bsums[2 * j] as i32 + y.bsums[2 * j + 1] as i32;
                msum[t] += lm1 as i32 * bs(2 * g) + lm2 as i32 * bs(2 * g + 1);
            }
        }
        let (d, dmin) = (f16c_at(b, 0), f16c_at(b, 2));
        for (t, y) in [y0, y1].into_iter().enumerate() {
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * y.d), whole_sum(isum[t]), acc[t]);
            mins[t] += dmin * y.d * msum[t] as f32;
        }
    }
    [_mm256_cvtss_f32(acc[0]) - mins[0], _mm256_cvtss_f32(acc[1]) - mins[1]]
}

/// Byte masks for `shuffle_epi8`: mask `p` spreads i16 lane `2p` of a 128-bit lane over the low
/// lane and i16 lane `2p + 1` over the high lane.
static PAIR_SCALE_MASKS: [[u8; 32]; 4] = {
    let mut masks = [[0u8; 32]; 4];
    let mut p = 0;
    while p < 4 {
        let mut i = 0;
        while i < 16 {
            masks[p][i] = (4 * p + i % 2) as u8;
            masks[p][16 + i] = (4 * p + 2 + i % 2) as u8;
            i += 1;
        }
        p += 1;
    }
    masks
};

/// A K-quant super-block's sixteen i16 sub-block scales laid out for [`pair_scale`]: each
/// 128-bit half of `scales` in both lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn scale_halves(scales: __m256i) -> [__m256i; 2] {
    let (lo, hi) = (_mm256_castsi256_si128(scales), _mm256_extracti128_si256::<1>(scales));
    [_mm256_set_m128i(lo, lo), _mm256_set_m128i(hi, hi)]
}

/// The `madd` multipliers of sub-blocks `k` and `k + 1` (`k` even) of a 32-byte vector: scale
/// `k` in i16 lanes 0..8, scale `k + 1` in lanes 8..16, as one byte shuffle of
/// [`scale_halves`]. Building the pair from two scalars moved each scale through a general
/// register, and that shuffle-port work had cost more than the products it scales (Q2_K, Q3_K,
/// Q6_K).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn pair_scale(halves: &[__m256i; 2], k: usize) -> __m256i {
    let mask = &PAIR_SCALE_MASKS[(k % 8) / 2];
    // SAFETY: a mask is 32 readable bytes; unaligned load.
    _mm256_shuffle_epi8(halves[k / 8], unsafe { _mm256_loadu_si256(mask.as_ptr().cast()) })
}

/// Sixteen i8 scales starting at `b[at]` as i16 lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn i8_scales(b: &[u8], at: usize) -> __m256i {
    let s = &b[at..at + 16];
    // SAFETY: `s` has 16 readable bytes (checked by the slice above); unaligned load.
    _mm256_cvtepi8_epi16(unsafe { _mm_loadu_si128(s.as_ptr().cast()) })
}

/// A Q8_K block's sixteen sums of 16 activations.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn block_sums(y: &Q8KBlock) -> __m256i {
    // SAFETY: `bsums` is 16 i16, 32 readable bytes; unaligned load.
    unsafe { _mm256_loadu_si256(y.bsums.as_ptr().cast()) }
}

/// Group `g` (64 values) of a Q4_K super-block `b`: its two 32-code halves and the (scale,
/// minimum) of each, shared by the one- and two-row kernels.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn q4_k_group(b: &[u8], g: usize) -> ([__m256i; 2], (u8, u8), (u8, u8)) {
    let low4 = _mm256_set1_epi8(0x0F);
    let scales = &b[4..16];
    let packed = load32(&b[16 + 32 * g..16 + 32 * g + 32]);
    let q = [_mm256_and_si256(packed, low4), _mm256_and_si256(_mm256_srli_epi16(packed, 4), low4)];
    (q, scale_min_k4(2 * g, scales), scale_min_k4(2 * g + 1, scales))
}

/// The 6-bit codes of one half (128 values) of a Q6_K super-block `b`, as four 32-byte
/// vectors in value order: low four bits from `ql`, the top two from `qh`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn q6_k_quarters(b: &[u8], half: usize) -> [__m256i; 4] {
    let (low4, three) = (_mm256_set1_epi8(0x0F), _mm256_set1_epi8(3));
    let ql0 = load32(&b[64 * half..64 * half + 32]);
    let ql1 = load32(&b[64 * half + 32..64 * half + 64]);
    let qh = load32(&b[128 + 32 * half..128 + 32 * half + 32]);
    let high = |shift: i32| {
        let bits = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(shift)), three);
        _mm256_slli_epi16(bits, 4)
    };
    [
        _mm256_or_si256(_mm256_and_si256(ql0, low4), high(0)),
        _mm256_or_si256(_mm256_and_si256(ql1, low4), high(2)),
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4), high(4)),
        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4), high(6)),
    ]
}

/// The IQ4 table in both 128-bit lanes, for `shuffle_epi8` lookups by nibble.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn iq4_table() -> __m256i {
    let t = &crate::blocks::IQ4_VALUES;
    // SAFETY: the table has exactly 16 bytes; unaligned load.
    let lane = unsafe { _mm_loadu_si128(t.as_ptr() as *const __m128i) };
    _mm256_set_m128i(lane, lane)
}

/// Q4_0 × Q8_0: the codes minus 8, signed, against the activations; one integer sum per
/// block in Q8_0's order ([`add_block_sums`], which the 16-row panels share).
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q4_0(row: &[u8], act: &[Q8_0]) -> f32 {
    let eight = _mm256_set1_epi8(8);
    by_eights!(row, 18, act, |b, y| {
        let q = _mm256_sub_epi8(nibbles(&b[2..18]), eight);
        (f16c_at(b, 0) * y.d, dot_i8_i8(q, load_i8x32(&y.qs)))
    })
}

/// [`dot_q4_0`] with AVX-512 VNNI (256-bit): each block's integer sums are one `vpdpbusd` of
/// the unsigned nibbles, started at −8·Σa (one more `vpdpbusd`), where [`dot_q4_0`] takes a
/// subtraction, two sign moves, `maddubs` and `madd`. The same integers and the same f32
/// steps: bit-identical to [`dot_q4_0`].
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")]
pub(crate) fn dot_q4_0_vnni(row: &[u8], act: &[Q8_0]) -> f32 {
    let (eight, zero) = (_mm256_set1_epi8(8), _mm256_setzero_si256());
    by_eights!(row, 18, act, |b, y| {
        let a = load_i8x32(&y.qs);
        let start = _mm256_sub_epi32(zero, _mm256_dpbusd_epi32(zero, eight, a));
        (f16c_at(b, 0) * y.d, _mm256_dpbusd_epi32(start, nibbles(&b[2..18]), a))
    })
}

/// [`dot_q4_0`] for two rows of activations at once (a prompt chunk): each weight block is
/// unpacked once for both; bit-identical to two calls.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q4_0_pair(row: &[u8], a0: &[Q8_0], a1: &[Q8_0]) -> [f32; 2] {
    let eight = _mm256_set1_epi8(8);
    by_eights_pair!(
        row,
        18,
        a0,
        a1,
        |b| (q, d) = (_mm256_sub_epi8(nibbles(&b[2..18]), eight), f16c_at(b, 0)),
        |_t, y| (d * y.d, dot_i8_i8(q, load_i8x32(&y.qs)))
    )
}

/// The 32 IQ4 table values of a block's 16 nibble bytes (signed bytes).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn iq4_values(table: __m256i, qs: &[u8]) -> __m256i {
    _mm256_shuffle_epi8(table, nibbles(qs))
}

/// IQ4_NL × Q8_0: nibbles looked up in the table, then a signed dot product per block, in
/// Q8_0's one-sum-per-block order ([`add_block_sums`]), which its 16-row panels share.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_iq4_nl(row: &[u8], act: &[Q8_0]) -> f32 {
    let table = iq4_table();
    by_eights!(row, 18, act, |b, y| {
        (f16c_at(b, 0) * y.d, dot_i8_i8(iq4_values(table, &b[2..18]), load_i8x32(&y.qs)))
    })
}

/// [`dot_iq4_nl`] for two rows of activations at once: each weight block is looked up once for
/// both; bit-identical to two calls.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_iq4_nl_pair(row: &[u8], a0: &[Q8_0], a1: &[Q8_0]) -> [f32; 2] {
    let table = iq4_table();
    by_eights_pair!(row, 18, a0, a1, |b| (v, d) = (iq4_values(table, &b[2..18]), f16c_at(b, 0)), |_t, y| {
        (d * y.d, dot_i8_i8(v, load_i8x32(&y.qs)))
    })
}

/// The eight i32 partial sums of an IQ4_XS super-block's products times their sub-block scales
/// against `y` (exact; their total is the block's whole sum).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn iq4_xs_products(table: __m256i, b: &[u8], y: &Q8KBlock) -> __m256i {
    let mut isum = _mm256_setzero_si256();
    for ib in 0..8 {
        let v = iq4_values(table, &b[8 + 16 * ib..8 + 16 * ib + 16]);
        let a = load_i8x32(&y.qs[32 * ib..32 * ib + 32]);
        let p = _mm256_maddubs_epi16(_mm256_sign_epi8(v, v), _mm256_sign_epi8(a, v));
        let ls = crate::blocks::iq4_xs_scale(b, ib) as i16;
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, _mm256_set1_epi16(ls)));
    }
    isum
}

/// IQ4_XS × Q8_K: per 32 values a table lookup, `maddubs` on |v| with the sign moved to the
/// activations, and `madd` by the sub-block's scale; one integer sum per super-block, added in
/// Q8_0's order ([`add_block_sums`]), which its 16-row panels share.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_iq4_xs(row: &[u8], act: &[Q8KBlock]) -> f32 {
    let table = iq4_table();
    by_eights!(row, 136, act, |b, y| {
        prefetch_lines_ahead(b);
        (f16c_at(b, 0) * y.d, iq4_xs_products(table, b, y))
    })
}

/// [`dot_iq4_xs`] for two rows of activations: bit-identical to two calls.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_iq4_xs_pair(row: &[u8], a0: &[Q8KBlock], a1: &[Q8KBlock]) -> [f32; 2] {
    let table = iq4_table();
    by_eights_pair!(row, 136, a0, a1, |b| d = f16c_at(b, 0), |_t, y| (d * y.d, iq4_xs_products(table, b, y)))
}

/// Q4_K × Q8_K: as Q5_K without the fifth bit.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q4_k(row: &[u8], act: &[Q8KBlock]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut mins = 0f32;
    for (b, y) in row.chunks_exact(144).zip(act) {
        prefetch_lines_ahead(b);
        let mut isum = _mm256_setzero_si256();
        let mut msum = 0i32;
        for g in 0..4 {
            let ([q1, q2], (ls1, lm1), (ls2, lm2)) = q4_k_group(b, g);
            let a1 = load_i8x32(&y.qs[64 * g..64 * g + 32]);
            let a2 = load_i8x32(&y.qs[64 * g + 32..64 * g + 64]);
            let p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(q1, a1), _mm256_set1_epi16(ls1 as i16));
            let p2 = _mm256_madd_epi16(_mm256_maddubs_epi16(q2, a2), _mm256_set1_epi16(ls2 as i16));
            isum = _mm256_add_epi32(isum, _mm256_add_epi32(p1, p2));
            let bs = |j: usize| y.bsums[2 * j] as i32 + y.bsums[2 * j + 1] as i32;
            msum += lm1 as i32 * bs(2 * g) + lm2 as i32 * bs(2 * g + 1);
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(f16c_at(b, 0) * y.d), whole_sum(isum), acc);
        mins += f16c_at(b, 2) * y.d * msum as f32;
    }
    _mm256_cvtss_f32(acc) - mins
}

/// [`dot_q4_k`] for two rows of activations: the scales and nibbles of each super-block are
/// unpacked once; each row's sums run in [`dot_q4_k`]'s exact order (bit-identical results).
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q4_k_pair(row: &[u8], a0: &[Q8KBlock], a1: &[Q8KBlock]) -> [f32; 2] {
    let mut acc = [_mm256_setzero_ps(); 2];
    let mut mins = [0f32; 2];
    for ((b, y0), y1) in row.chunks_exact(144).zip(a0).zip(a1) {
        let mut isum = [_mm256_setzero_si256(); 2];
        let mut msum = [0i32; 2];
        for g in 0..4 {
            let ([q1, q2], (ls1, lm1), (ls2, lm2)) = q4_k_group(b, g);
            let (s1, s2) = (_mm256_set1_epi16(ls1 as i16), _mm256_set1_epi16(ls2 as i16));
            for (t, y) in [y0, y1].into_iter().enumerate() {
                let a1 = load_i8x32(&y.qs[64 * g..64 * g + 32]);
                let a2 = load_i8x32(&y.qs[64 * g + 32..64 * g + 64]);
                let p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(q1, a1), s1);
                let p2 = _mm256_madd_epi16(_mm256_maddubs_epi16(q2, a2), s2);
                isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(p1, p2));
                let bs = |j: usize| y.bsums[2 * j] as i32 + y.bsums[2 * j + 1] as i32;
                msum[t] += lm1 as i32 * bs(2 * g) + lm2 as i32 * bs(2 * g + 1);
            }
        }
        let (d, dmin) = (f16c_at(b, 0), f16c_at(b, 2));
        for (t, y) in [y0, y1].into_iter().enumerate() {
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d * y.d), whole_sum(isum[t]), acc[t]);
            mins[t] += dmin * y.d * msum[t] as f32;
        }
    }
    [_mm256_cvtss_f32(acc[0]) - mins[0], _mm256_cvtss_f32(acc[1]) - mins[1]]
}

/// [`dot_q6_k`] for two rows of activations: each super-block's 6-bit codes are assembled once;
/// each row's sums run in [`dot_q6_k`]'s exact order (bit-identical results).
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q6_k_pair(row: &[u8], a0: &[Q8KBlock], a1: &[Q8KBlock]) -> [f32; 2] {
    let mut acc = [_mm256_setzero_ps(); 2];
    let mut offsets = [0f32; 2];
    for ((b, y0), y1) in row.chunks_exact(210).zip(a0).zip(a1) {
        let scales = i8_scales(b, 192);
        let halves = scale_halves(scales);
        let mut isum = [_mm256_setzero_si256(); 2];
        for half in 0..2 {
            let quarters = q6_k_quarters(b, half);
            for (j, q) in quarters.into_iter().enumerate() {
                let e = 128 * half + 32 * j;
                let scale = pair_scale(&halves, e / 16);
                for (t, y) in [y0, y1].into_iter().enumerate() {
                    let a = load_i8x32(&y.qs[e..e + 32]);
                    let p = _mm256_madd_epi16(_mm256_maddubs_epi16(q, a), scale);
                    isum[t] = _mm256_add_epi32(isum[t], p);
                }
            }
        }
        let dw = f16c_at(b, 208);
        for (t, y) in [y0, y1].into_iter().enumerate() {
            let offset = hsum_epi32(_mm256_madd_epi16(block_sums(y), scales));
            let d = dw * y.d;
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(d), whole_sum(isum[t]), acc[t]);
            offsets[t] += d * (32 * offset) as f32;
        }
    }
    [_mm256_cvtss_f32(acc[0]) - offsets[0], _mm256_cvtss_f32(acc[1]) - offsets[1]]
}

/// Q6_K × Q8_K: unsigned 6-bit codes through `maddubs`, each 16 values' signed scale through
/// `madd`, then `32·Σ scale·Σa` (from the activation block sums) taken off.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q6_k(row: &[u8], act: &[Q8KBlock]) -> f32 {
    let mut acc = _mm256_setzero_ps();
    let mut offsets = 0f32;
    for (b, y) in row.chunks_exact(210).zip(act) {
        prefetch_lines_ahead(b);
        let scales = i8_scales(b, 192);
        let halves = scale_halves(scales);
        let mut isum = _mm256_setzero_si256();
        for half in 0..2 {
            let quarters = q6_k_quarters(b, half);
            for (j, q) in quarters.into_iter().enumerate() {
                let e = 128 * half + 32 * j;
                let a = load_i8x32(&y.qs[e..e + 32]);
                let p = _mm256_madd_epi16(_mm256_maddubs_epi16(q, a), pair_scale(&halves, e / 16));
                isum = _mm256_add_epi32(isum, p);
            }
        }
        // Σ scale·(block sum), exact: one `madd` of the sixteen sums by the sixteen scales.
        let offset = hsum_epi32(_mm256_madd_epi16(block_sums(y), scales));
        let d = f16c_at(b, 208) * y.d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), whole_sum(isum), acc);
        offsets += d * (32 * offset) as f32;
    }
    _mm256_cvtss_f32(acc) - offsets
}

/// The sixteen 6-bit Q3_K scales (minus 32) from their 12 packed bytes as i16 lanes, four at a
/// time in u32 lanes as ggml unpacks them: the same values as `blocks::q3_k_scales`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn q3_k_scales_packed(packed: &[u8]) -> __m256i {
    let word = |i: usize| u32::from_le_bytes([packed[4 * i], packed[4 * i + 1], packed[4 * i + 2], packed[4 * i + 3]]);
    let (a0, a1, high) = (word(0), word(1), word(2));
    let (low4, low2) = (0x0F0F_0F0Fu32, 0x0303_0303u32);
    let words = _mm_set_epi32(
        (((a1 >> 4) & low4) | (((high >> 6) & low2) << 4)) as i32,
        (((a0 >> 4) & low4) | (((high >> 4) & low2) << 4)) as i32,
        ((a1 & low4) | (((high >> 2) & low2) << 4)) as i32,
        ((a0 & low4) | ((high & low2) << 4)) as i32,
    );
    _mm256_cvtepi8_epi16(_mm_sub_epi8(words, _mm_set1_epi8(32)))
}

/// Sum of eight i32 lanes (exact).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn hsum_epi32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32::<1>(s)))
}

/// The 32 two-bit Q2_K codes at shift `2j` of 32 packed bytes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn q2_k_codes(packed: __m256i, j: usize) -> __m256i {
    _mm256_and_si256(_mm256_srl_epi16(packed, _mm_cvtsi32_si128(2 * j as i32)), _mm256_set1_epi8(3))
}

/// The 32 three-bit Q3_K codes of half `half`, shift `j`, as unsigned `low | high << 2`
/// (0..7): the low bits from the half's packed bytes, the high bit from `hmask`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn q3_k_codes(packed: __m256i, hmask: __m256i, half: usize, j: usize) -> __m256i {
    let hbit = _mm256_and_si256(_mm256_srl_epi16(hmask, _mm_cvtsi32_si128((4 * half + j) as i32)), _mm256_set1_epi8(1));
    _mm256_or_si256(q2_k_codes(packed, j), _mm256_slli_epi16(hbit, 2))
}

/// A Q2_K super-block's sub-block scales (for [`pair_scale`]) and minimums, from the 16 bytes
/// that pack them (scale in the low four bits, minimum in the high four).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn q2_k_scales(b: &[u8]) -> ([__m256i; 2], __m256i) {
    let packed_scales = &b[0..16];
    // SAFETY: 16 readable bytes (checked by the slice above); unaligned load.
    let packed_scales = unsafe { _mm_loadu_si128(packed_scales.as_ptr().cast()) };
    let low4 = _mm_set1_epi8(0x0F);
    let halves = scale_halves(_mm256_cvtepu8_epi16(_mm_and_si128(packed_scales, low4)));
    (halves, _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed_scales, 4), low4)))
}

/// The eight i32 partial sums of a Q2_K (`Q3 = false`) or Q3_K super-block's products times
/// their sub-block scales (`halves`, from [`scale_halves`]) against `y` (exact; their total is
/// the block's whole sum).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn k2_products<const Q3: bool>(b: &[u8], halves: &[__m256i; 2], y: &Q8KBlock) -> __m256i {
    let (qs, hmask) = if Q3 { (&b[32..96], load32(&b[0..32])) } else { (&b[16..80], _mm256_setzero_si256()) };
    let mut isum = _mm256_setzero_si256();
    for half in 0..2 {
        let packed = load32(&qs[32 * half..32 * half + 32]);
        for j in 0..4 {
            let k = 8 * half + 2 * j;
            let q = if Q3 { q3_k_codes(packed, hmask, half, j) } else { q2_k_codes(packed, j) };
            let a = load_i8x32(&y.qs[16 * k..16 * k + 32]);
            isum = _mm256_add_epi32(isum, _mm256_madd_epi16(_mm256_maddubs_epi16(q, a), pair_scale(halves, k)));
        }
    }
    isum
}

/// Q2_K × Q8_K: two-bit codes by shift and mask, each 16 values' 4-bit scale through `madd`,
/// one integer sum per super-block added in Q8_0's order ([`add_block_sums`], which the 16-row
/// panels share), and `dmin · d_y · Σ minimum · block sum` summed apart, in block order.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q2_k(row: &[u8], act: &[Q8KBlock]) -> f32 {
    let mut mins = 0f32;
    let sum = by_eights!(row, 84, act, |b, y| {
        prefetch_lines_ahead(b);
        let (halves, minimums) = q2_k_scales(b);
        let msum = hsum_epi32(_mm256_madd_epi16(block_sums(y), minimums));
        mins += f16c_at(b, 82) * y.d * msum as f32;
        (f16c_at(b, 80) * y.d, k2_products::<false>(b, &halves, y))
    });
    sum - mins
}

/// [`dot_q2_k`] for two rows of activations: each super-block's scales are unpacked once; each
/// row's sums run in [`dot_q2_k`]'s exact order (bit-identical results).
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q2_k_pair(row: &[u8], a0: &[Q8KBlock], a1: &[Q8KBlock]) -> [f32; 2] {
    let mut mins = [0f32; 2];
    let sums = by_eights_pair!(
        row,
        84,
        a0,
        a1,
        |b| (halves, minimums, d, dmin) = {
            let (halves, minimums) = q2_k_scales(b);
            (halves, minimums, f16c_at(b, 80), f16c_at(b, 82))
        },
        |t, y| {
            let msum = hsum_epi32(_mm256_madd_epi16(block_sums(y), minimums));
            mins[t] += dmin * y.d * msum as f32;
            (d * y.d, k2_products::<false>(b, &halves, y))
        }
    );
    [sums[0] - mins[0], sums[1] - mins[1]]
}

/// Q3_K × Q8_K: the three-bit code as unsigned `low | high << 2` (0..7) through `maddubs`, the
/// signed scales through `madd`, one integer sum per super-block in [`dot_q2_k`]'s order, and
/// `4·Σ scale·Σa` taken off.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q3_k(row: &[u8], act: &[Q8KBlock]) -> f32 {
    let mut offsets = 0f32;
    let sum = by_eights!(row, 110, act, |b, y| {
        prefetch_lines_ahead(b);
        let scales = q3_k_scales_packed(&b[96..108]);
        // Σ scale·(block sum), exact: one `madd` of the sixteen sums by the sixteen scales.
        let offset = hsum_epi32(_mm256_madd_epi16(block_sums(y), scales));
        let d = f16c_at(b, 108) * y.d;
        offsets += d * (4 * offset) as f32;
        (d, k2_products::<true>(b, &scale_halves(scales), y))
    });
    sum - offsets
}

/// [`dot_q3_k`] for two rows of activations: each super-block's scales are unpacked once; each
/// row's sums run in [`dot_q3_k`]'s exact order (bit-identical results).
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_q3_k_pair(row: &[u8], a0: &[Q8KBlock], a1: &[Q8KBlock]) -> [f32; 2] {
    let mut offsets = [0f32; 2];
    let sums = by_eights_pair!(
        row,
        110,
        a0,
        a1,
        |b| (scales, halves, dw) = {
            let scales = q3_k_scales_packed(&b[96..108]);
            (scales, scale_halves(scales), f16c_at(b, 108))
        },
        |t, y| {
            let offset = hsum_epi32(_mm256_madd_epi16(block_sums(y), scales));
            let d = dw * y.d;
            offsets[t] += d * (4 * offset) as f32;
            (d, k2_products::<true>(b, &halves, y))
        }
    );
    [sums[0] - offsets[0], sums[1] - offsets[1]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_sums_are_each_blocks_lane_total() {
        if !(std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")) {
            return;
        }
        let mut s: u64 = 0xB10C_5EED;
        for _ in 0..1000 {
            let lanes: [[i32; 8]; 8] = std::array::from_fn(|_| {
                std::array::from_fn(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    (s >> 40) as i32 - (1 << 23)
                })
            });
            // SAFETY: AVX2 was detected; each row is eight i32s (unaligned loads and store).
            let got = unsafe {
                let v: [__m256i; 8] = std::array::from_fn(|j| _mm256_loadu_si256(lanes[j].as_ptr().cast()));
                let mut out = [0i32; 8];
                _mm256_storeu_si256(out.as_mut_ptr().cast(), block_sums8(&v));
                out
            };
            let want: [i32; 8] = std::array::from_fn(|j| lanes[j].iter().sum());
            assert_eq!(got, want);
        }
    }
}
