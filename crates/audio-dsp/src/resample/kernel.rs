//! The polyphase inner loop. One generic body is compiled twice: plainly (portable scalar
//! fallback, which LLVM auto-vectorises for SSE2) and inside an `avx2,fma` target-feature
//! function chosen at run time, where the 16 independent accumulators become FMA vectors.

/// Sample types the resampler works in.
pub trait Sample: Copy + Default + PartialEq + std::fmt::Debug + Send + Sync + 'static {
    const ZERO: Self;
    fn from_f64(v: f64) -> Self;
    fn to_f64(self) -> f64;
    fn add(self, other: Self) -> Self;
    /// `self * a + b`, fused when `FUSED`.
    fn madd<const FUSED: bool>(self, a: Self, b: Self) -> Self;
}

impl Sample for f32 {
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
pub(crate) struct Job<'a, T> {
    pub table: &'a [T],
    pub taps: usize,
    pub up: usize,
    pub step_phase: usize,
    pub step_newest: usize,
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

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2_fma<T: Sample>(job: &Job<T>, out: &mut [T]) {
    run_generic::<T, true>(job, out)
}

#[inline(always)]
fn run_generic<T: Sample, const FUSED: bool>(job: &Job<T>, out: &mut [T]) {
    let k = job.taps;
    let (mut phase, mut start) = (job.first_phase, job.first_start);
    for y in out.iter_mut() {
        let coeffs = &job.table[phase * k..phase * k + k];
        let window = &job.buf[start..start + k];
        *y = dot::<T, FUSED>(coeffs, window);
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
            acc[l] = acc[l].add(acc[l + width]);
        }
        width /= 2;
    }
    acc[0]
}
