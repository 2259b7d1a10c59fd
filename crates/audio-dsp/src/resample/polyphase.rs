//! The reference mode: a polyphase Kaiser FIR, scipy-exact.
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

use super::design::{FilterDesign, FilterSpec};
use super::kernel::{self, Sample};
use super::{Resampler, check_room, copy_strided, strided_len};
use crate::DspError;

/// Taps per phase are padded to a multiple of this so the dot product has no scalar tail.
const LANES: usize = 16;

/// Drop consumed input once this many samples are behind the read position.
const DRAIN_AT: usize = 1 << 14;

/// A streaming polyphase resampler: push chunks with [`process`](Self::process), then call
/// [`flush`](Self::flush) once at the end of the stream.
#[derive(Debug, Clone)]
pub struct PolyphaseResampler<T: Sample> {
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

impl<T: Sample> PolyphaseResampler<T> {
    /// A resampler with the default 100 dB / 90 %-pass-band Kaiser design.
    pub fn new(in_rate: u32, out_rate: u32) -> Result<Self, DspError> {
        Self::with_spec(in_rate, out_rate, FilterSpec::default())
    }

    /// A resampler with the Kaiser design for `spec`.
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
                row[k - 1 - j] = <T as Sample>::from_f64(up as f64 * design.taps[p + j * up]);
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

    /// Filter taps used per output sample (after SIMD padding).
    pub fn taps_per_output(&self) -> usize {
        self.taps_per_phase
    }

    /// Outputs computable once the buffer holds padded input up to `available`, at most
    /// `limit` in all: the count, and the state after them.
    fn computable(&self, available: usize, limit: usize) -> (usize, usize, usize) {
        let k = self.taps_per_phase;
        let (mut phase, mut newest) = (self.phase, self.newest);
        if newest + k > available || self.emitted >= limit {
            return (0, phase, newest);
        }
        // Every L outputs the phase repeats and the window has moved exactly M: skip whole
        // periods (each output in them reads at most up to the next period's first window).
        let periods = ((available - k - newest) / self.down).min((limit - self.emitted) / self.up);
        let mut count = periods * self.up;
        newest += periods * self.down;
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
        (count, phase, newest)
    }

    /// Emits outputs while their input window is in the buffer and fewer than `limit` are out;
    /// `output` must hold them (checked by the callers through `computable`).
    fn run(&mut self, limit: usize, output: &mut [T]) -> usize {
        let available = self.buf.len() + self.buf_start;
        let (count, phase, newest) = self.computable(available, limit);
        if count == 0 {
            return 0;
        }
        let job = kernel::Job {
            table: &self.table,
            taps: self.taps_per_phase,
            up: self.up,
            step_phase: self.down % self.up,
            step_newest: self.down / self.up,
            down: self.down,
            buf: &self.buf,
            first_phase: self.phase,
            first_start: self.newest - self.buf_start,
        };
        self.kernel.run(&job, &mut output[..count]);
        self.phase = phase;
        self.newest = newest;
        self.emitted += count;
        count
    }

    fn drain_consumed(&mut self) {
        let consumed = self.newest - self.buf_start;
        if consumed >= DRAIN_AT {
            self.buf.drain(..consumed);
            self.buf_start += consumed;
        }
    }

    /// Padded length the buffer needs for every remaining output of the stream.
    fn flush_target(&self) -> (usize, usize) {
        let total = Resampler::output_len(self, self.received);
        if self.emitted >= total {
            return (total, 0);
        }
        let last_newest = ((total - 1) * self.down + self.delay) / self.up;
        (total, last_newest + self.taps_per_phase)
    }
}

impl<T: Sample> Resampler<T> for PolyphaseResampler<T> {
    fn ratio(&self) -> (usize, usize) {
        if self.bypass { (1, 1) } else { (self.up, self.down) }
    }

    fn output_delay(&self) -> usize {
        if self.bypass { 0 } else { (self.taps_per_phase * self.up).div_ceil(self.down) + 1 }
    }

    fn next_output_len(&self, input_len: usize) -> usize {
        if self.bypass {
            return input_len;
        }
        self.computable(self.buf.len() + self.buf_start + input_len, usize::MAX).0
    }

    fn flush_len(&self) -> usize {
        if self.bypass {
            return 0;
        }
        let (total, _) = self.flush_target();
        total.saturating_sub(self.emitted)
    }

    fn process_strided_into(
        &mut self,
        input: &[T],
        offset: usize,
        stride: usize,
        output: &mut [T],
    ) -> Result<usize, DspError> {
        let n = strided_len(input, offset, stride)?;
        check_room(self.next_output_len(n), output.len(), "this chunk")?;
        if self.bypass {
            return Ok(copy_strided(input, offset, stride, output));
        }
        self.buf.extend(input.get(offset..).unwrap_or(&[]).iter().step_by(stride));
        self.received += n;
        let written = self.run(usize::MAX, output);
        self.drain_consumed();
        Ok(written)
    }

    fn flush_into(&mut self, output: &mut [T]) -> Result<usize, DspError> {
        check_room(self.flush_len(), output.len(), "flush")?;
        let mut written = 0;
        if !self.bypass {
            let (total, needed) = self.flush_target();
            if self.emitted < total {
                let needed = needed - self.buf_start;
                if needed > self.buf.len() {
                    self.buf.resize(needed, T::ZERO);
                }
                written = self.run(total, output);
            }
        }
        self.reset();
        Ok(written)
    }

    fn reset(&mut self) {
        self.buf.clear();
        self.buf.resize(self.taps_per_phase - 1, T::ZERO);
        self.buf_start = 0;
        self.received = 0;
        self.emitted = 0;
        self.phase = self.delay % self.up;
        self.newest = self.delay / self.up;
    }
}
