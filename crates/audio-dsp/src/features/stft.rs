//! Short-time Fourier transform as librosa 0.9.2 computes it: periodic Hann window, frames
//! centred by padding `n_fft / 2` samples each side (zeros, or a reflection as `torch.stft`
//! and Whisper's front end do), window × frame and FFT in f64.

use super::Matrix;
use crate::DspError;
use realfft::RealFftPlanner;
use std::ops::Range;

/// How a centred STFT fills the `n_fft / 2` samples before the start and after the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PadMode {
    /// Zeros (librosa 0.9.2's `pad_mode='constant'` as the reference features use).
    #[default]
    Zeros,
    /// Mirror without repeating the edge sample (numpy `mode='reflect'`, `torch.stft`'s
    /// default, Whisper's log-mel).
    Reflect,
}

/// STFT parameters. `Default` is librosa's: n_fft 2048, hop 512, window 2048, centred.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StftConfig {
    /// FFT length.
    pub n_fft: usize,
    /// Samples between frame starts.
    pub hop: usize,
    /// Hann window length (≤ n_fft; zero-padded to n_fft, centred).
    pub win_length: usize,
    /// Centre frames on `t · hop` by padding `n_fft / 2` samples each side.
    pub center: bool,
    /// What a centred STFT reads outside the signal.
    pub pad_mode: PadMode,
}

impl Default for StftConfig {
    fn default() -> Self {
        Self { n_fft: 2048, hop: 512, win_length: 2048, center: true, pad_mode: PadMode::Zeros }
    }
}

impl StftConfig {
    /// 25 ms / 10 ms frames at 16 kHz (n_fft 400, hop 160).
    pub fn frames_25ms_10ms() -> Self {
        Self { n_fft: 400, hop: 160, win_length: 400, center: true, pad_mode: PadMode::Zeros }
    }

    /// Frequency bins per frame: `n_fft / 2 + 1`.
    pub fn bins(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// Number of frames for `n` samples.
    pub fn frames(&self, n: usize) -> usize {
        let padded = if self.center { n + self.n_fft } else { n };
        if padded < self.n_fft { 0 } else { 1 + (padded - self.n_fft) / self.hop }
    }

    fn validate(&self) -> Result<(), DspError> {
        if self.n_fft < 2 || self.hop == 0 || self.win_length == 0 || self.win_length > self.n_fft {
            return Err(DspError::InvalidInput(format!("bad STFT config {self:?}")));
        }
        Ok(())
    }
}

/// Periodic Hann window of length `n` (scipy `get_window('hann', n, fftbins=True)`), centred
/// in `n_fft` with zeros.
pub fn hann_window(n: usize, n_fft: usize) -> Vec<f64> {
    let mut w = vec![0.0; n_fft];
    let offset = (n_fft - n) / 2;
    for i in 0..n {
        w[offset + i] = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos();
    }
    w
}

/// Magnitude spectrogram `|STFT|`, `[n_fft/2 + 1, frames]`: the f64 transform's power rounded
/// to f32, then its square root in f32 (librosa takes the magnitude of a complex64 STFT in
/// float32; an f32 root costs a third of an f64 one per value and differs from it by at most
/// one f32 rounding).
pub fn stft_magnitude(x: &[f32], cfg: &StftConfig) -> Result<Matrix, DspError> {
    stft_map(x, cfg, |re, im| ((re * re + im * im) as f32).sqrt() as f64)
}

/// Power spectrogram `|STFT|²`.
pub fn stft_power(x: &[f32], cfg: &StftConfig) -> Result<Matrix, DspError> {
    stft_map(x, cfg, |re, im| re * re + im * im)
}

/// Power spectrogram of the frames in `frames` only, `[n_fft/2 + 1, frames.len()]`: column `j`
/// is frame `frames.start + j` of [`stft_power`] over all of `x`, so a long recording can be
/// processed window by window with the same numbers as in one pass.
pub fn stft_power_frames(x: &[f32], cfg: &StftConfig, frames: Range<usize>) -> Result<Matrix, DspError> {
    let total = cfg.frames(x.len());
    if frames.start > frames.end || frames.end > total {
        return Err(DspError::InvalidInput(format!("frames {frames:?} outside the signal's {total} frames")));
    }
    stft_range(x, cfg, frames, |re, im| re * re + im * im)
}

fn stft_map(x: &[f32], cfg: &StftConfig, f: impl Fn(f64, f64) -> f64) -> Result<Matrix, DspError> {
    stft_range(x, cfg, 0..cfg.frames(x.len()), f)
}

/// Where index `idx` of a signal of `len > 0` samples lands under numpy's `mode='reflect'`
/// (mirror without repeating the edge; period `2(len − 1)` for pads longer than the signal).
pub fn reflect_index(idx: isize, len: usize) -> usize {
    let len = len as isize;
    if (0..len).contains(&idx) || len <= 1 {
        return idx.clamp(0, (len - 1).max(0)) as usize;
    }
    let period = 2 * (len - 1);
    let i = idx.rem_euclid(period);
    (if i >= len { period - i } else { i }) as usize
}

/// The sample at `idx` of `x` padded by `mode` outside the signal.
fn padded_sample(x: &[f32], idx: isize, mode: PadMode) -> f32 {
    if (0..x.len() as isize).contains(&idx) {
        return x[idx as usize];
    }
    match mode {
        PadMode::Zeros => 0.0,
        PadMode::Reflect => x[reflect_index(idx, x.len())],
    }
}

fn stft_range(
    x: &[f32],
    cfg: &StftConfig,
    range: Range<usize>,
    f: impl Fn(f64, f64) -> f64,
) -> Result<Matrix, DspError> {
    let frames = range.len();
    let mut out = Matrix::zeros(cfg.bins(), frames);
    for_each_frame(x, cfg, range, |t, spec| {
        for (k, c) in spec.iter().enumerate() {
            out.data[k * frames + t] = f(c.re, c.im) as f32;
        }
    })?;
    Ok(out)
}

/// Calls `visit(j, spectrum)` for frame `range.start + j` of the STFT of `x`, in order, with
/// the frame's `n_fft / 2 + 1` complex bins (f64). The one STFT loop every spectrogram and
/// the fused [`custom_feature`](super::custom_feature) pass share.
pub(crate) fn for_each_frame(
    x: &[f32],
    cfg: &StftConfig,
    range: Range<usize>,
    mut visit: impl FnMut(usize, &[realfft::num_complex::Complex<f64>]),
) -> Result<(), DspError> {
    cfg.validate()?;
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(DspError::InvalidInput(format!("sample {i} is not finite")));
    }
    if cfg.pad_mode == PadMode::Reflect && x.is_empty() {
        return Err(DspError::InvalidInput("cannot reflect-pad an empty signal".into()));
    }
    let n_fft = cfg.n_fft;
    let pad = if cfg.center { n_fft / 2 } else { 0 };
    with_plan(n_fft, cfg.win_length, |plan| -> Result<(), DspError> {
        let FramePlan { fft, window, spec } = plan;
        for (j, t) in range.enumerate() {
            let start = (t * cfg.hop) as isize - pad as isize;
            let frame = fft.input();
            if start >= 0 && start as usize + n_fft <= x.len() {
                // Interior frame: no padding decisions per sample.
                window_frame(frame, window, &x[start as usize..start as usize + n_fft]);
            } else {
                for (i, (v, w)) in frame.iter_mut().zip(window.iter()).enumerate() {
                    *v = padded_sample(x, start + i as isize, cfg.pad_mode) as f64 * w;
                }
            }
            fft.process_input(spec)?;
            visit(j, spec);
        }
        Ok(())
    })
}

/// A planned FFT with its window and buffers, for one (n_fft, win_length).
struct FramePlan {
    fft: RealFft,
    window: Vec<f64>,
    spec: Vec<realfft::num_complex::Complex<f64>>,
}

/// The frames' real FFT: realfft's algorithm with a vectorised split for an even `n_fft` (every
/// size the features use), realfft itself for an odd one. Each owns the buffer a frame is
/// windowed into: for an even size that is the FFT's own packed input, so no copy.
enum RealFft {
    Even(super::real_fft::EvenRealFft),
    Odd {
        fft: std::sync::Arc<dyn realfft::RealToComplex<f64>>,
        frame: Vec<f64>,
        scratch: Vec<realfft::num_complex::Complex<f64>>,
    },
}

impl RealFft {
    fn new(n_fft: usize) -> Self {
        if n_fft.is_multiple_of(2) {
            return Self::Even(super::real_fft::EvenRealFft::new(n_fft));
        }
        let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n_fft);
        let scratch = fft.make_scratch_vec();
        Self::Odd { fft, frame: vec![0.0; n_fft], scratch }
    }

    /// Where the next frame's `n_fft` windowed samples go.
    fn input(&mut self) -> &mut [f64] {
        match self {
            Self::Even(fft) => fft.input(),
            Self::Odd { frame, .. } => frame,
        }
    }

    /// The spectrum of the samples in [`Self::input`] (which it may overwrite).
    fn process_input(&mut self, spec: &mut [realfft::num_complex::Complex<f64>]) -> Result<(), DspError> {
        match self {
            Self::Even(fft) => {
                fft.process_input(spec);
                Ok(())
            }
            Self::Odd { fft, frame, scratch } => fft
                .process_with_scratch(frame, spec, scratch)
                .map_err(|e| DspError::InvalidInput(format!("FFT failed: {e}"))),
        }
    }
}

thread_local! {
    /// Plans by (n_fft, win_length): planning and the window's cosines cost more than a short
    /// clip's transforms, so each thread makes them once.
    static PLANS: std::cell::RefCell<std::collections::HashMap<(usize, usize), FramePlan>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

fn with_plan<R>(n_fft: usize, win_length: usize, f: impl FnOnce(&mut FramePlan) -> R) -> R {
    PLANS.with_borrow_mut(|plans| {
        let plan = plans.entry((n_fft, win_length)).or_insert_with(|| FramePlan {
            fft: RealFft::new(n_fft),
            window: hann_window(win_length, n_fft),
            spec: vec![realfft::num_complex::Complex::new(0.0, 0.0); n_fft / 2 + 1],
        });
        f(plan)
    })
}

/// `librosa.fft_frequencies` (numpy `rfftfreq(n_fft, 1/sr)`): bin centre frequencies in Hz,
/// computed with numpy's exact arithmetic since band edges (e.g. `f < 4000`) depend on it.
pub fn fft_frequencies(sr: u32, n_fft: usize) -> Vec<f64> {
    let bins = n_fft / 2 + 1;
    let val = 1.0 / (n_fft as f64 * (1.0 / sr as f64));
    (0..bins).map(|k| k as f64 * val).collect()
}

/// `frame = src · window` (f32 samples to f64), with AVX2 where present (the default build's
/// SSE2 converted and multiplied two samples at a time).
fn window_frame(frame: &mut [f64], window: &[f64], src: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present.
        return unsafe { window_frame_avx2(frame, window, src) };
    }
    window_frame_portable(frame, window, src)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn window_frame_avx2(frame: &mut [f64], window: &[f64], src: &[f32]) {
    window_frame_portable(frame, window, src)
}

#[inline(always)]
fn window_frame_portable(frame: &mut [f64], window: &[f64], src: &[f32]) {
    for ((v, w), &s) in frame.iter_mut().zip(window).zip(src) {
        *v = s as f64 * w;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use realfft::num_complex::Complex;

    /// The definition spelled out with realfft on an explicitly padded copy: every frame of
    /// every size (even through the split, odd through realfft), both pad modes, edges included.
    #[test]
    fn frames_equal_realfft_on_the_padded_signal() {
        let x: Vec<f32> =
            (0..1000).map(|i| ((i * 7919 % 1009) as f32 / 1009.0 - 0.5) * (1.0 + (i % 7) as f32)).collect();
        for n_fft in [16, 15, 400, 401, 2048] {
            for pad_mode in [PadMode::Zeros, PadMode::Reflect] {
                for center in [true, false] {
                    let cfg = StftConfig { n_fft, hop: n_fft / 3, win_length: n_fft, center, pad_mode };
                    let pad = if center { n_fft / 2 } else { 0 };
                    let fft = RealFftPlanner::<f64>::new().plan_fft_forward(n_fft);
                    let window = hann_window(n_fft, n_fft);
                    let mut got = Vec::new();
                    for_each_frame(&x, &cfg, 0..cfg.frames(x.len()), |_, spec| got.push(spec.to_vec())).unwrap();
                    assert_eq!(got.len(), cfg.frames(x.len()));
                    for (t, spec) in got.iter().enumerate() {
                        let start = (t * cfg.hop) as isize - pad as isize;
                        let mut frame: Vec<f64> = (0..n_fft)
                            .map(|i| padded_sample(&x, start + i as isize, pad_mode) as f64 * window[i])
                            .collect();
                        let mut want = fft.make_output_vec();
                        fft.process(&mut frame, &mut want).unwrap();
                        let bits =
                            |v: &[Complex<f64>]| v.iter().map(|c| (c.re.to_bits(), c.im.to_bits())).collect::<Vec<_>>();
                        assert_eq!(bits(spec), bits(&want), "n_fft {n_fft} {pad_mode:?} center {center} frame {t}");
                    }
                }
            }
        }
    }
}
