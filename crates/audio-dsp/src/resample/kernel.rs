//! The polyphase inner loop. One generic body is compiled twice: plainly (portable scalar
//! fallback, which LLVM auto-vectorises for SSE2) and inside an `avx2,fma` target-feature
//! function chosen at run time, where the 16 independent accumulators become FMA vectors.

/// Sample types the resamplers work in (f32 and f64; the fast mode's FFTs need `FftNum`).
pub trait Sample: realfft::FftNum + Copy + Default + PartialEq + std::fmt::Debug + Send + Sync + 'static {
    /// 0.
    const ZERO: Self;
    /// The nearest value to `v`.
    fn from_f64(v: f64) -> Self;
    /// Widened to f64.
    fn to_f64(self) -> f64;
    /// `self + other`.
    fn add(self, other: Self) -> Self;
    /// `self * a + b`, fused when `FUSED`.
    fn madd<const FUSED: bool>(self, a: Self, b: Self) -> Self;

    /// Dot product of two slices whose length is a multiple of 16, with explicit AVX2/FMA.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[doc(hidden)]
    unsafe fn dot_avx2_fma(a: &[Self], b: &[Self]) -> Self;

    /// Four dot products sharing the coefficients `a` (one coefficient load feeds four FMAs).
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[doc(hidden)]
    #[inline(always)]
    unsafe fn dot4_avx2_fma(a: &[Self], w: [&[Self]; 4]) -> [Self; 4] {
        // SAFETY: forwarded from the caller.
        unsafe { w.map(|b| Self::dot_avx2_fma(a, b)) }
    }
}

impl Sample for f32 {
    #[cfg(target_arch = "x86_64")]
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_avx2_fma(a: &[f32], b: &[f32]) -> f32 {
        use std::arch::x86_64::*;
        debug_assert!(a.len() == b.len() && a.len().is_multiple_of(16));
        let n = a.len().min(b.len()) / 16 * 16;
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        // Two accumulators over 16 lanes: exactly the per-output arithmetic of `dot4_avx2_fma`,
        // so blocked and single outputs are bit-identical (streaming == one-shot).
        let mut acc = [_mm256_setzero_ps(); 2];
        let mut i = 0;
        while i < n {
            for (h, acc) in acc.iter_mut().enumerate() {
                // SAFETY: i + 8h + 8 <= n <= len of both slices.
                unsafe {
                    *acc =
                        _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i + 8 * h)), _mm256_loadu_ps(pb.add(i + 8 * h)), *acc);
                }
            }
            i += 16;
        }
        hsum_ps(_mm256_add_ps(acc[0], acc[1]))
    }

    #[cfg(target_arch = "x86_64")]
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot4_avx2_fma(a: &[f32], w: [&[f32]; 4]) -> [f32; 4] {
        use std::arch::x86_64::*;
        let n = w.iter().fold(a.len(), |n, b| n.min(b.len())) / 16 * 16;
        let pa = a.as_ptr();
        let pw = w.map(|b| b.as_ptr());
        let mut acc = [[_mm256_setzero_ps(); 2]; 4];
        let mut i = 0;
        while i < n {
            for h in 0..2 {
                // SAFETY: i + 8h + 8 <= n <= every slice's length.
                unsafe {
                    let c = _mm256_loadu_ps(pa.add(i + 8 * h));
                    for (o, acc) in acc.iter_mut().enumerate() {
                        acc[h] = _mm256_fmadd_ps(c, _mm256_loadu_ps(pw[o].add(i + 8 * h)), acc[h]);
                    }
                }
            }
            i += 16;
        }
        acc.map(|a| hsum_ps(_mm256_add_ps(a[0], a[1])))
    }

    const ZERO: Self = 0.0;
    fn from_f64(v: f64) -> Self {
        v as f32
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn add(self, other: Self) -> Self {
        self + other
    }
    #[inline(always)]
    fn madd<const FUSED: bool>(self, a: Self, b: Self) -> Self {
        if FUSED { self.mul_add(a, b) } else { self * a + b }
    }
}

impl Sample for f64 {
    #[cfg(target_arch = "x86_64")]
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_avx2_fma(a: &[f64], b: &[f64]) -> f64 {
        use std::arch::x86_64::*;
        debug_assert!(a.len() == b.len() && a.len().is_multiple_of(16));
        let n = a.len().min(b.len()) / 16 * 16;
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_pd(); 4];
        let mut i = 0;
        while i < n {
            for (j, acc) in acc.iter_mut().enumerate() {
                // SAFETY: i + 4j + 4 <= n <= len of both slices.
                unsafe {
                    *acc =
                        _mm256_fmadd_pd(_mm256_loadu_pd(pa.add(i + 4 * j)), _mm256_loadu_pd(pb.add(i + 4 * j)), *acc);
                }
            }
            i += 16;
        }
        let s = _mm256_add_pd(_mm256_add_pd(acc[0], acc[1]), _mm256_add_pd(acc[2], acc[3]));
        let mut lanes = [0f64; 4];
        // SAFETY: lanes has room for 4 f64.
        unsafe { _mm256_storeu_pd(lanes.as_mut_ptr(), s) };
        (lanes[0] + lanes[2]) + (lanes[1] + lanes[3])
    }

    const ZERO: Self = 0.0;
    fn from_f64(v: f64) -> Self {
        v
    }
    fn to_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn add(self, other: Self) -> Self {
        self + other
    }
    #[inline(always)]
    fn madd<const FUSED: bool>(self, a: Self, b: Self) -> Self {
        if FUSED { self.mul_add(a, b) } else { self * a + b }
    }
}

/// What one call of the inner loop computes: `out.len()` consecutive outputs.
#[derive(Clone, Copy)]
pub(crate) struct Job<'a, T> {
    pub table: &'a [T],
    pub taps: usize,
    pub up: usize,
    pub step_phase: usize,
    pub step_newest: usize,
    /// M: how far the window moves every `up` outputs (outputs m and m + L share a phase).
    pub down: usize,
    pub buf: &'a [T],
    pub first_phase: usize,
    /// Index in `buf` where the first output's window starts.
    pub first_start: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kernel {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
}

impl Kernel {
    pub(crate) fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return Kernel::Avx2Fma;
        }
        Kernel::Portable
    }

    pub(crate) fn run<T: Sample>(self, job: &Job<T>, out: &mut [T]) {
        match self {
            Kernel::Portable => run_generic::<T, false>(job, out),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `detect` only returns Avx2Fma when the CPU supports both features.
            Kernel::Avx2Fma => unsafe { run_avx2_fma(job, out) },
        }
    }
}

/// Horizontal sum of eight f32 lanes.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2,fma")]
fn hsum_ps(v: std::arch::x86_64::__m256) -> f32 {
    use std::arch::x86_64::*;
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    _mm_cvtss_f32(s)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2_fma<T: Sample>(job: &Job<T>, out: &mut [T]) {
    // Outputs m, m+L, m+2L, m+3L use the same phase with windows M samples apart: compute them
    // together so each coefficient load feeds four FMAs. The order of the arithmetic inside
    // each output does not depend on the blocking, so results equal the one-at-a-time path.
    let (k, up) = (job.taps, job.up);
    let block = 4 * up;
    let full = out.len() / block * block;
    let (mut phase, mut start) = (job.first_phase, job.first_start);
    let mut base = 0;
    while base < full {
        for r in 0..up {
            let coeffs = &job.table[phase * k..phase * k + k];
            let w: [&[T]; 4] = std::array::from_fn(|i| {
                let s = start + i * job.down;
                &job.buf[s..s + k]
            });
            // SAFETY: this function only runs after AVX2/FMA detection.
            let ys = unsafe { T::dot4_avx2_fma(coeffs, w) };
            for (i, y) in ys.into_iter().enumerate() {
                out[base + r + i * up] = y;
            }
            phase += job.step_phase;
            start += job.step_newest;
            if phase >= up {
                phase -= up;
                start += 1;
            }
        }
        // After L outputs the window has moved M; skip the three rows just computed.
        start += 3 * job.down;
        base += block;
    }
    let tail = Job { first_phase: phase, first_start: start, ..*job };
    run_generic::<T, true>(&tail, &mut out[full..])
}

#[inline(always)]
fn run_generic<T: Sample, const FUSED: bool>(job: &Job<T>, out: &mut [T]) {
    let k = job.taps;
    let (mut phase, mut start) = (job.first_phase, job.first_start);
    for y in out.iter_mut() {
        let coeffs = &job.table[phase * k..phase * k + k];
        let window = &job.buf[start..start + k];
        *y = if FUSED {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: FUSED is only instantiated from `run_avx2_fma`, after feature detection.
            unsafe {
                T::dot_avx2_fma(coeffs, window)
            }
            #[cfg(not(target_arch = "x86_64"))]
            dot::<T, true>(coeffs, window)
        } else {
            dot::<T, false>(coeffs, window)
        };
        phase += job.step_phase;
        start += job.step_newest;
        if phase >= job.up {
            phase -= job.up;
            start += 1;
        }
    }
}

/// Dot product of two equal-length slices whose length is a multiple of 16, with 16
/// independent partial sums (vectorisable without reassociation) reduced pairwise.
#[inline(always)]
fn dot<T: Sample, const FUSED: bool>(a: &[T], b: &[T]) -> T {
    let mut acc = [T::ZERO; 16];
    for (ca, cb) in a.chunks_exact(16).zip(b.chunks_exact(16)) {
        for l in 0..16 {
            acc[l] = ca[l].madd::<FUSED>(cb[l], acc[l]);
        }
    }
    let mut width = 8;
    while width > 0 {
        for l in 0..width {
            acc[l] = Sample::add(acc[l], acc[l + width]);
        }
        width /= 2;
    }
    acc[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SIMD path must agree with the portable fallback (same sums, different order).
    fn compare<T: Sample>(tol: f64) {
        let taps = 48;
        let up = 3;
        let table: Vec<T> =
            (0..up * taps).map(|i| <T as Sample>::from_f64(((i * 37 % 101) as f64 - 50.0) / 500.0)).collect();
        let buf: Vec<T> =
            (0..4000).map(|i| <T as Sample>::from_f64(((i * 7919 % 1000) as f64 - 500.0) / 700.0)).collect();
        let job = Job {
            table: &table,
            taps,
            up,
            step_phase: 2,
            step_newest: 1,
            down: 5,
            buf: &buf,
            first_phase: 1,
            first_start: 0,
        };
        let n = 700;
        let mut portable = vec![T::ZERO; n];
        Kernel::Portable.run(&job, &mut portable);
        let mut detected = vec![T::ZERO; n];
        Kernel::detect().run(&job, &mut detected);
        for (a, b) in portable.iter().zip(&detected) {
            assert!((a.to_f64() - b.to_f64()).abs() <= tol, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn detected_kernel_matches_portable_f32() {
        compare::<f32>(1e-5);
    }

    #[test]
    fn detected_kernel_matches_portable_f64() {
        compare::<f64>(1e-12);
    }
}
