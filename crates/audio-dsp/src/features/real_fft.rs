//! The STFT's real forward FFT for an even `n`: realfft's algorithm — a complex FFT of `n / 2`
//! points on the samples packed in pairs, then a split into the `n / 2 + 1` bins — with the
//! split vectorised. realfft's split is generic scalar code walking one end of the spectrum
//! backwards, and it was 9 % of CustomFeature's time, as much as a third of the complex FFT
//! itself. Same inner FFT (rustfft's plan), same twiddles, same operations in the same order:
//! the same bits as realfft (a unit test holds it to that).

use realfft::num_complex::Complex;
use std::sync::Arc;

pub(crate) struct EvenRealFft {
    fft: Arc<dyn rustfft::Fft<f64>>,
    /// realfft's twiddles: `e^{-2πik/n} / 2` for k = 1 .. ⌈n/4⌉ − 1.
    twiddles: Vec<Complex<f64>>,
    packed: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
}

impl EvenRealFft {
    /// For an even `n` ≥ 2.
    pub(crate) fn new(n: usize) -> Self {
        debug_assert!(n >= 2 && n.is_multiple_of(2));
        let fft = rustfft::FftPlanner::<f64>::new().plan_fft_forward(n / 2);
        let count = if n.is_multiple_of(4) { n / 4 } else { n / 4 + 1 };
        let twiddles = (1..count)
            .map(|k| {
                let angle = -2f64 * std::f64::consts::PI / n as f64 * k as f64;
                Complex::new(angle.cos() * 0.5, angle.sin() * 0.5)
            })
            .collect();
        let scratch = vec![Complex::new(0.0, 0.0); fft.get_outofplace_scratch_len()];
        Self { fft, twiddles, packed: vec![Complex::new(0.0, 0.0); n / 2], scratch }
    }

    /// The `n / 2 + 1` bins of the real `frame` (`n` samples) into `spec`.
    #[cfg(test)]
    pub(crate) fn process(&mut self, frame: &[f64], spec: &mut [Complex<f64>]) {
        self.input().copy_from_slice(frame);
        self.process_input(spec);
    }

    /// The input buffer: `n` real samples, which are the packed pairs themselves (a complex
    /// number is its real and imaginary f64 side by side), so a frame written here needs no
    /// packing copy. Its contents are undefined after [`Self::process_input`].
    pub(crate) fn input(&mut self) -> &mut [f64] {
        let len = 2 * self.packed.len();
        // SAFETY: Complex<f64> is repr(C) { re: f64, im: f64 }: `packed` is `len` contiguous,
        // aligned f64s, borrowed mutably through `self` for the slice's lifetime.
        unsafe { std::slice::from_raw_parts_mut(self.packed.as_mut_ptr() as *mut f64, len) }
    }

    /// The `n / 2 + 1` bins of the samples in [`Self::input`] into `spec`.
    pub(crate) fn process_input(&mut self, spec: &mut [Complex<f64>]) {
        let half = self.packed.len();
        self.fft.process_outofplace_with_scratch(&mut self.packed, &mut spec[..half], &mut self.scratch);
        split(spec, &self.twiddles);
    }
}

/// Turns the packed transform in `spec[..n/2]` into the real spectrum's `n/2 + 1` bins.
fn split(spec: &mut [Complex<f64>], twiddles: &[Complex<f64>]) {
    let len = spec.len();
    let first = spec[0];
    spec[0] = Complex::new(first.re + first.im, 0.0);
    spec[len - 1] = Complex::new(first.re - first.im, 0.0);
    // Bins k and n/2 − k for k = 1 ..= twiddles.len().
    let mut k = 1;
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present.
        k = unsafe { split_pairs_avx2(spec, twiddles) };
    }
    for k in k..=twiddles.len() {
        let (out, rev) = split_one(spec[k], spec[len - 1 - k], twiddles[k - 1]);
        spec[k] = out;
        spec[len - 1 - k] = rev;
    }
    if len % 2 == 1 {
        let centre = &mut spec[len / 2];
        centre.im = -centre.im;
    }
}

/// realfft's butterfly for one pair, operation for operation.
#[inline(always)]
fn split_one(out: Complex<f64>, rev: Complex<f64>, tw: Complex<f64>) -> (Complex<f64>, Complex<f64>) {
    let (sum, diff) = (out + rev, out - rev);
    let (half_sum_re, half_diff_im) = (0.5 * sum.re, 0.5 * diff.im);
    let twiddled_re = sum.im * tw.re + diff.re * tw.im;
    let twiddled_im = sum.im * tw.im - diff.re * tw.re;
    (
        Complex::new(half_sum_re + twiddled_re, half_diff_im + twiddled_im),
        Complex::new(half_sum_re - twiddled_re, twiddled_im - half_diff_im),
    )
}

/// [`split_one`] for bins k, k + 1 and their mirrors at once (two complex numbers per
/// register; no FMA, so every value rounds as the scalar code's). Returns the first k left.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn split_pairs_avx2(spec: &mut [Complex<f64>], twiddles: &[Complex<f64>]) -> usize {
    use std::arch::x86_64::*;
    let len = spec.len();
    let half = _mm256_set1_pd(0.5);
    let base = spec.as_mut_ptr() as *mut f64;
    let mut k = 1;
    // Pairs (k, k+1) with mirrors (len−2−k, len−1−k) below them: k + 1 < len − 2 − k.
    while k < twiddles.len() && k + 1 < len - 2 - k {
        // SAFETY: k + 1 ≤ twiddles.len() (the loop condition) and every index touched is in 1 .. len − 1 (checked
        // above); Complex<f64> is two f64s (repr(C)), so two bins are four contiguous f64s.
        unsafe {
            let out = _mm256_loadu_pd(base.add(2 * k));
            // [rev k+1, rev k] in memory order → [rev k, rev k+1].
            let rev = _mm256_permute4x64_pd::<0b01_00_11_10>(_mm256_loadu_pd(base.add(2 * (len - 2 - k))));
            let tw = _mm256_loadu_pd(twiddles.as_ptr().add(k - 1) as *const f64);
            let (sum, diff) = (_mm256_add_pd(out, rev), _mm256_sub_pd(out, rev));
            // [sum.im · tw.re, sum.im · tw.im] and [diff.re · tw.im, diff.re · tw.re].
            let a = _mm256_mul_pd(_mm256_permute_pd::<0b1111>(sum), tw);
            let b = _mm256_mul_pd(_mm256_permute_pd::<0b0000>(diff), _mm256_permute_pd::<0b0101>(tw));
            // [a.re + b.re, a.im − b.im]: subtracting −b.re and adding −b.im give the same
            // values, signed zeros included.
            let t = _mm256_addsub_pd(a, _mm256_xor_pd(b, _mm256_set1_pd(-0.0)));
            // [sum.re / 2, diff.im / 2]
            let h = _mm256_mul_pd(half, _mm256_blend_pd::<0b1010>(sum, diff));
            let new_out = _mm256_add_pd(h, t);
            // [h.re − t.re, t.im − h.im] (each difference as written: negating h − t would
            // turn a +0 into −0).
            let new_rev = _mm256_blend_pd::<0b1010>(_mm256_sub_pd(h, t), _mm256_sub_pd(t, h));
            _mm256_storeu_pd(base.add(2 * k), new_out);
            _mm256_storeu_pd(base.add(2 * (len - 2 - k)), _mm256_permute4x64_pd::<0b01_00_11_10>(new_rev));
        }
        k += 2;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use realfft::RealFftPlanner;

    #[test]
    fn the_same_bits_as_realfft() {
        let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
        for n in [2048, 400, 512, 2, 4, 6, 10, 12, 18, 30, 1000] {
            let frame: Vec<f64> = (0..n)
                .map(|_| {
                    s ^= s << 13;
                    s ^= s >> 7;
                    s ^= s << 17;
                    (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
                })
                .collect();
            let reference = RealFftPlanner::<f64>::new().plan_fft_forward(n);
            let (mut input, mut want) = (frame.clone(), reference.make_output_vec());
            reference.process(&mut input, &mut want).unwrap();
            let mut ours = vec![Complex::new(0.0, 0.0); n / 2 + 1];
            EvenRealFft::new(n).process(&frame, &mut ours);
            let bits = |v: &[Complex<f64>]| v.iter().map(|c| (c.re.to_bits(), c.im.to_bits())).collect::<Vec<_>>();
            assert_eq!(bits(&ours), bits(&want), "n = {n}");
        }
    }
}
