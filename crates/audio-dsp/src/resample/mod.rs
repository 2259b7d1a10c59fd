//! Rational-ratio resampling with a Kaiser-windowed FIR (the paper's eq. 3), polyphase.
//!
//! For `in_rate → out_rate` the ratio is reduced to `L/M`; the prototype low-pass is designed at
//! `in_rate · L` ([`FilterDesign`]) and split into `L` phases, each stored reversed and
//! contiguous so every output sample is one dot product over the input. Output `m` is
//!
//! ```text
//! y[m] = L · Σ_k x[k] · h[m·M + (N−1)/2 − k·L]
//! ```
//!
//! i.e. zero-phase aligned with zero padding at both ends, of length `ceil(n·L/M)` — the same
//! numbers as `scipy.signal.resample_poly(x, L, M, window=h)`. Equal rates bypass the filter.
//!
//! The streaming [`Resampler`] produces exactly the same samples as the one-shot [`resample`]
//! for any chunking: each output is computed from the same window with the same code.

mod design;
mod kernel;

pub use design::{FilterDesign, FilterSpec, bessel_i0, firwin_kaiser, kaiser_beta, kaiser_order, kaiser_window};
pub use kernel::Sample;

use crate::DspError;

/// Taps per phase are padded to a multiple of this so the dot product has no scalar tail.
const LANES: usize = 16;

/// Drop consumed input once this many samples are behind the read position.
const DRAIN_AT: usize = 1 << 14;

/// A streaming polyphase resampler: push chunks with [`process`](Self::process), then call
/// [`flush`](Self::flush) once at the end of the stream.
#[derive(Debug, Clone)]
pub struct Resampler<T: Sample> {
    up: usize,
    down: usize,
    /// Taps per phase, padded to a multiple of [`LANES`].
    taps_per_phase: usize,
    /// `up` rows of `taps_per_phase` reversed, L-scaled coefficients.
    table: Vec<T>,
    /// (N − 1) / 2: the filter's group delay at the upsampled rate.
    delay: usize,
    bypass: bool,
    /// Input history, left-padded with `taps_per_phase − 1` zeros; `buf[0]` is padded index `buf_start`.
    buf: Vec<T>,
    buf_start: usize,
    /// Input samples received so far.
    received: usize,
    /// Next output: its phase and the index of the newest input sample it reads.
    phase: usize,
    newest: usize,
    emitted: usize,
    kernel: kernel::Kernel,
}

impl<T: Sample> Resampler<T> {
    /// A resampler with the default 100 dB / 90 %-pass-band Kaiser design.
    pub fn new(in_rate: u32, out_rate: u32) -> Result<Self, DspError> {
        Self::with_spec(in_rate, out_rate, FilterSpec::default())
    }

    pub fn with_spec(in_rate: u32, out_rate: u32, spec: FilterSpec) -> Result<Self, DspError> {
        let design = FilterDesign::new(in_rate, out_rate, spec)?;
        Ok(Self::from_design(&design, in_rate == out_rate))
    }

    /// Builds the polyphase table from a design. With `bypass`, samples pass through untouched
    /// (what scipy does for equal rates).
    pub fn from_design(design: &FilterDesign, bypass: bool) -> Self {
        let (up, down) = (design.up, design.down);
        let n = design.taps.len();
        let max_k = n.div_ceil(up);
        let k = max_k.div_ceil(LANES) * LANES;
        let mut table = vec![T::ZERO; up * k];
        for p in 0..up {
            let row = &mut table[p * k..(p + 1) * k];
            let mut j = 0;
            while p + j * up < n {
                row[k - 1 - j] = T::from_f64(up as f64 * design.taps[p + j * up]);
                j += 1;
            }
        }
        let mut r = Self {
            up,
            down,
            taps_per_phase: k,
            table,
            delay: (n - 1) / 2,
            bypass,
            buf: Vec::new(),
            buf_start: 0,
            received: 0,
            phase: 0,
            newest: 0,
            emitted: 0,
            kernel: kernel::Kernel::detect(),
        };
        r.reset();
        r
    }

    /// Forgets all input, ready for a new stream.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.buf.resize(self.taps_per_phase - 1, T::ZERO);
        self.buf_start = 0;
        self.received = 0;
        self.emitted = 0;
        self.phase = self.delay % self.up;
        self.newest = self.delay / self.up;
    }

    /// (L, M): the reduced interpolation and decimation factors.
    pub fn ratio(&self) -> (usize, usize) {
        (self.up, self.down)
    }

    /// Output samples for `input_len` input samples: `ceil(input_len · L / M)`.
    pub fn output_len(&self, input_len: usize) -> usize {
        if self.bypass { input_len } else { (input_len * self.up).div_ceil(self.down) }
    }

    /// Filter taps used per output sample (after SIMD padding).
    pub fn taps_per_output(&self) -> usize {
        self.taps_per_phase
    }

    /// Feeds a chunk and appends every output sample that no longer depends on future input.
    pub fn process(&mut self, input: &[T], output: &mut Vec<T>) {
        if self.bypass {
            output.extend_from_slice(input);
            return;
        }
        self.buf.extend_from_slice(input);
        self.received += input.len();
        self.run(usize::MAX, output);
        self.drain_consumed();
    }

    /// Ends the stream: appends the remaining outputs (reading zeros past the end) and resets.
    pub fn flush(&mut self, output: &mut Vec<T>) {
        if !self.bypass {
            let total = self.output_len(self.received);
            if self.emitted < total {
                let last_newest = ((total - 1) * self.down + self.delay) / self.up;
                let needed = last_newest + self.taps_per_phase - self.buf_start;
                if needed > self.buf.len() {
                    self.buf.resize(needed, T::ZERO);
                }
                self.run(total, output);
            }
        }
        self.reset();
    }

    /// Emits outputs while their input window is in the buffer and fewer than `limit` are out.
    fn run(&mut self, limit: usize, output: &mut Vec<T>) {
        let k = self.taps_per_phase;
        let available = self.buf.len() + self.buf_start;
        if self.newest + k > available || self.emitted >= limit {
            return;
        }
        // Count the outputs computable now, then run the kernel over exactly those.
        let mut count = 0usize;
        let (mut phase, mut newest) = (self.phase, self.newest);
        let (step_phase, step_newest) = (self.down % self.up, self.down / self.up);
        while newest + k <= available && self.emitted + count < limit {
            count += 1;
            phase += step_phase;
            newest += step_newest;
            if phase >= self.up {
                phase -= self.up;
                newest += 1;
            }
        }
        let start = output.len();
        output.resize(start + count, T::ZERO);
        let job = kernel::Job {
            table: &self.table,
            taps: k,
            up: self.up,
            step_phase,
            step_newest,
            down: self.down,
            buf: &self.buf,
            first_phase: self.phase,
            first_start: self.newest - self.buf_start,
        };
        self.kernel.run(&job, &mut output[start..]);
        self.phase = phase;
        self.newest = newest;
        self.emitted += count;
    }

    fn drain_consumed(&mut self) {
        let consumed = self.newest - self.buf_start;
        if consumed >= DRAIN_AT {
            self.buf.drain(..consumed);
            self.buf_start += consumed;
        }
    }
}

/// Resamples a whole signal in one call (same result as streaming it and flushing).
pub fn resample<T: Sample>(input: &[T], in_rate: u32, out_rate: u32) -> Result<Vec<T>, DspError> {
    let mut r = Resampler::new(in_rate, out_rate)?;
    let mut out = Vec::with_capacity(r.output_len(input.len()));
    r.process(input, &mut out);
    r.flush(&mut out);
    Ok(out)
}
