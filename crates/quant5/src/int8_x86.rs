//! x86 kernels for [`Int8Matrix`](crate::Int8Matrix): AVX-512 VNNI and AVX2. Both take the
//! same arguments as `int8::portable` and produce the same integer sums (the VNNI one plus each
//! row's `128 · Σ w`, which the caller subtracts).

use std::arch::x86_64::*;

/// Bytes of one 4-column group of one 16-row panel.
const GROUP_BYTES: usize = 64;

/// Checks the slice lengths every kernel below relies on.
fn check(w: &[i8], groups: usize, np: usize, a: &[u8], nt: usize, acc: &[i32]) {
    assert!(
        w.len() >= np * groups * GROUP_BYTES && a.len() >= nt * groups * 4 && acc.len() >= nt * np * 16,
        "int8 kernel slices"
    );
}

/// `vpdpbusd` tiles of up to 6 rows of `X` × 4 panels (24 accumulators in registers).
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512BW and AVX-512 VNNI; `nt ≤ 6`, `np ≤ 4`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(crate) unsafe fn vnni512(w: &[i8], groups: usize, np: usize, a: &[u8], nt: usize, acc: &mut [i32]) {
    check(w, groups, np, a, nt, acc);
    macro_rules! tokens {
        ($nt:literal) => {
            match np {
                4 => vnni_tile::<$nt, 4>(w, groups, a, acc),
                3 => vnni_tile::<$nt, 3>(w, groups, a, acc),
                2 => vnni_tile::<$nt, 2>(w, groups, a, acc),
                _ => vnni_tile::<$nt, 1>(w, groups, a, acc),
            }
        };
    }
    // SAFETY (every arm): `check` bounded the slices for `nt` rows and `np` panels.
    unsafe {
        match nt {
            6 => tokens!(6),
            5 => tokens!(5),
            4 => tokens!(4),
            3 => tokens!(3),
            2 => tokens!(2),
            _ => tokens!(1),
        }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn vnni_tile<const NT: usize, const NP: usize>(w: &[i8], groups: usize, a: &[u8], acc: &mut [i32]) {
    let stride = groups * 4;
    let panel = groups * GROUP_BYTES;
    let mut sums = [[_mm512_setzero_si512(); NP]; NT];
    let (wp, ap) = (w.as_ptr(), a.as_ptr());
    for g in 0..groups {
        // SAFETY: the caller checked `w` holds NP panels and `a` NT rows of `stride` bytes.
        unsafe {
            let mut wv = [_mm512_setzero_si512(); NP];
            for (p, v) in wv.iter_mut().enumerate() {
                *v = _mm512_loadu_si512(wp.add(p * panel + g * GROUP_BYTES).cast());
            }
            for (t, row) in sums.iter_mut().enumerate() {
                let av = _mm512_set1_epi32(ap.add(t * stride + g * 4).cast::<i32>().read_unaligned());
                for (s, &v) in row.iter_mut().zip(&wv) {
                    *s = _mm512_dpbusd_epi32(*s, av, v);
                }
            }
        }
    }
    for (t, row) in sums.iter().enumerate() {
        for (p, s) in row.iter().enumerate() {
            // SAFETY: the caller checked `acc` holds NT · NP · 16 values.
            unsafe { _mm512_storeu_si512(acc.as_mut_ptr().add((t * NP + p) * 16).cast(), *s) };
        }
    }
}

/// AVX2 tiles of up to 4 rows of `X` × 1 panel: signed activations, `maddubs` on
/// `|a|` and `w · sign(a)` (products of at most 127 · 127, so the 16-bit pair sums cannot
/// saturate), then `madd` by 1 to sum each row's 4 columns into one lane.
///
/// # Safety
/// The CPU must support AVX2; `nt ≤ 4`.
#[target_feature(enable = "avx2")]
pub(crate) unsafe fn avx2(w: &[i8], groups: usize, np: usize, a: &[u8], nt: usize, acc: &mut [i32]) {
    check(w, groups, np, a, nt, acc);
    let panel = groups * GROUP_BYTES;
    for p in 0..np {
        let wp = &w[p * panel..(p + 1) * panel];
        // SAFETY (every arm): `check` bounded the slices for `nt` rows and `np` panels.
        unsafe {
            match nt {
                4 => avx2_tile::<4>(wp, groups, a, acc, p, np),
                3 => avx2_tile::<3>(wp, groups, a, acc, p, np),
                2 => avx2_tile::<2>(wp, groups, a, acc, p, np),
                _ => avx2_tile::<1>(wp, groups, a, acc, p, np),
            }
        }
    }
}

#[target_feature(enable = "avx2")]
unsafe fn avx2_tile<const NT: usize>(w: &[i8], groups: usize, a: &[u8], acc: &mut [i32], p: usize, np: usize) {
    let stride = groups * 4;
    let ones = _mm256_set1_epi16(1);
    let mut sums = [[_mm256_setzero_si256(); 2]; NT];
    let (wp, ap) = (w.as_ptr(), a.as_ptr());
    for g in 0..groups {
        // SAFETY: the caller checked `w` holds one panel and `a` NT rows of `stride` bytes.
        unsafe {
            let w0 = _mm256_loadu_si256(wp.add(g * GROUP_BYTES).cast());
            let w1 = _mm256_loadu_si256(wp.add(g * GROUP_BYTES + 32).cast());
            for (t, s) in sums.iter_mut().enumerate() {
                let av = _mm256_set1_epi32(ap.add(t * stride + g * 4).cast::<i32>().read_unaligned());
                let mag = _mm256_abs_epi8(av);
                let p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(mag, _mm256_sign_epi8(w0, av)), ones);
                let p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(mag, _mm256_sign_epi8(w1, av)), ones);
                s[0] = _mm256_add_epi32(s[0], p0);
                s[1] = _mm256_add_epi32(s[1], p1);
            }
        }
    }
    for (t, s) in sums.iter().enumerate() {
        let base = (t * np + p) * 16;
        // SAFETY: the caller checked `acc` holds NT · np · 16 values and `p < np`.
        unsafe {
            _mm256_storeu_si256(acc.as_mut_ptr().add(base).cast(), s[0]);
            _mm256_storeu_si256(acc.as_mut_ptr().add(base + 8).cast(), s[1]);
        }
    }
}
