//! The fast mode: overlap-save resampling in the frequency domain.
//!
//! The input is cut into blocks of `N_in = P·M` samples on a fixed grid, consecutive blocks
//! overlapping by `2·G·M` samples. Each block goes through one real FFT; its lowest bins, each
//! multiplied by the filter's (real, zero-phase) response, become the spectrum of `N_out =
//! P·L` output samples; one inverse real FFT at the output rate gives them. Blocks start on
//! multiples of `M` input samples, so block-local output `j` is the signal at input time
//! `j·M/L` exactly as in the reference mode. The first and last `G·L` outputs of a block are
//! distorted by the circular wrap and dropped; `G·M` input samples cover the filter's half
//! length, so the kept outputs are the linear convolution up to the filter's own stop-band
//! leakage.
//!
//! The filter is a Kaiser low-pass with the reference's pass-band edge and cutoff and a
//! [`FFT_ATTENUATION_DB`] stop band, designed at `max(in_rate, out_rate)` (the spectra never
//! reach beyond that rate's Nyquist, so no up-sampled prototype is needed) and sampled at the
//! output bins. Per output sample this costs a few dozen operations where the reference spends
//! hundreds of multiply-adds.

use super::design::{FilterSpec, RatioBand, firwin_kaiser, kaiser_order, ratio_and_band};
use super::kernel::Sample;
use super::{Resampler, check_room, copy_strided, strided_len};
use crate::DspError;
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use std::sync::Arc;

/// Stop-band attenuation of the fast mode's filter (the f32 FFT's noise floor is below it).
pub const FFT_ATTENUATION_DB: f64 = 140.0;

/// Largest FFT the fast mode plans (rate pairs that would need more use the reference).
const MAX_FFT: usize = 1 << 22;

/// The fast mode: overlap-save resampling in the frequency domain (see [`mod@crate::resample`]
/// for the modes and `docs/audio-dsp.md` for how it works and what it measures).
#[derive(Clone)]
pub struct FftResampler<T: Sample> {
    up: usize,
    down: usize,
    /// Block lengths at the input and output rate.
    n_in: usize,
    n_out: usize,
    /// Periods (M inputs, L outputs) of margin at each end of a block.
    margin: usize,
    /// Filter response × scale on output bins `0..gains.len()`; higher bins are zero.
    gains: Vec<T>,
    forward: Arc<dyn RealToComplex<T>>,
    inverse: Arc<dyn ComplexToReal<T>>,
    bypass: bool,
    /// Input not yet consumed; `hist[0]` is padded index `hist_start` (padded = input index +
    /// `margin·M`: the first block starts with that many zeros).
    hist: Vec<T>,
    hist_start: usize,
    received: usize,
    emitted: usize,
    next_block: usize,
    // Work buffers, reused by every block.
    block_in: Vec<T>,
    spectrum_in: Vec<Complex<T>>,
    spectrum_out: Vec<Complex<T>>,
    block_out: Vec<T>,
    scratch: Vec<Complex<T>>,
}

impl<T: Sample> std::fmt::Debug for FftResampler<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FftResampler")
            .field("up", &self.up)
            .field("down", &self.down)
            .field("n_in", &self.n_in)
            .field("n_out", &self.n_out)
            .field("margin", &self.margin)
            .finish_non_exhaustive()
    }
}

/// The fast mode's geometry for a rate pair: (L, M, margin periods G, periods per block P,
/// filter taps at `max(in, out)`).
struct Plan {
    up: usize,
    down: usize,
    margin: usize,
    periods: usize,
    taps: Vec<f64>,
    design_rate: f64,
}

fn plan(in_rate: u32, out_rate: u32, spec: FilterSpec) -> Result<Plan, DspError> {
    let RatioBand { up, down, pass_hz, stop_hz } = ratio_and_band(in_rate, out_rate, spec)?;
    let design_rate = in_rate.max(out_rate) as f64;
    let attenuation = spec.attenuation_db.max(FFT_ATTENUATION_DB);
    let (mut numtaps, beta) = kaiser_order(attenuation, (stop_hz - pass_hz) / (design_rate / 2.0))?;
    numtaps |= 1;
    let taps = firwin_kaiser(numtaps, (pass_hz + stop_hz) / 2.0, design_rate, beta);
    // Half the filter, in input samples, plus one for the fractional output positions.
    let half_in = ((numtaps - 1) / 2) as f64 * in_rate as f64 / design_rate;
    let margin = ((half_in.ceil() as usize + 1).div_ceil(down)).max(1);
    // Blocks of a power-of-two number of periods: the one with the least FFT work per kept
    // output (N log N for both transforms over (P − 2G)·L outputs).
    let mut best: Option<(f64, usize)> = None;
    let mut periods = 2;
    while periods * down.max(up) <= MAX_FFT {
        if periods > 2 * margin && periods * down >= 64 {
            let (ni, no) = ((periods * down) as f64, (periods * up) as f64);
            let cost = (ni * ni.log2() + no * no.log2()) / ((periods - 2 * margin) * up) as f64;
            if best.is_none_or(|(c, _)| cost < c) {
                best = Some((cost, periods));
            }
        }
        periods *= 2;
    }
    let Some((_, periods)) = best else {
        return Err(DspError::InvalidFilter(format!(
            "rate ratio {up}/{down} needs an FFT longer than {MAX_FFT} for the fast mode"
        )));
    };
    Ok(Plan { up, down, margin, periods, taps, design_rate })
}

/// Zero-phase response of the symmetric `taps` (at `rate`) at `freqs_hz`.
fn zero_phase_response(taps: &[f64], rate: f64, freq_hz: impl Iterator<Item = f64>) -> Vec<f64> {
    let d = (taps.len() - 1) / 2;
    freq_hz
        .map(|f| {
            // cos(nθ) by rotating a unit phasor, re-anchored every 64 steps to stop drift.
            let theta = 2.0 * std::f64::consts::PI * f / rate;
            let (ws, wc) = theta.sin_cos();
            let mut sum = taps[d];
            let (mut c, mut s) = (1.0f64, 0.0f64);
            for n in 1..=d {
                if n % 64 == 0 {
                    (s, c) = (n as f64 * theta).sin_cos();
                } else {
                    (c, s) = (c * wc - s * ws, c * ws + s * wc);
                }
                sum += 2.0 * taps[d + n] * c;
            }
            sum
        })
        .collect()
}

impl<T: Sample> FftResampler<T> {
    /// The fast mode for `in_rate → out_rate` with the default spec's pass band.
    pub fn new(in_rate: u32, out_rate: u32) -> Result<Self, DspError> {
        Self::with_spec(in_rate, out_rate, FilterSpec::default())
    }

    /// Whether the fast mode meets `spec` for this rate pair: its stop band is at least as
    /// deep (the f32 FFT's rounding floor allows [`FFT_ATTENUATION_DB`]) and its blocks fit.
    pub fn meets(in_rate: u32, out_rate: u32, spec: FilterSpec) -> bool {
        spec.attenuation_db <= FFT_ATTENUATION_DB && plan(in_rate, out_rate, spec).is_ok()
    }

    /// The fast mode with `spec`'s pass band and a stop band of at least
    /// [`FFT_ATTENUATION_DB`].
    pub fn with_spec(in_rate: u32, out_rate: u32, spec: FilterSpec) -> Result<Self, DspError> {
        let p = plan(in_rate, out_rate, spec)?;
        let (n_in, n_out) = (p.periods * p.down, p.periods * p.up);
        let mut planner = RealFftPlanner::<T>::new();
        let forward = planner.plan_fft_forward(n_in);
        let inverse = planner.plan_fft_inverse(n_out);
        // Output bins below both Nyquists; the output's Nyquist bin stays zero (the filter is
        // at its stop band there, and a real inverse FFT needs it real).
        let bins = (n_out / 2).min(n_in / 2 + 1);
        let bin_hz = in_rate as f64 / n_in as f64;
        // Y = (L/M)·H·X on unnormalised transforms, and the inverse is unnormalised: / N_out.
        let scale = p.up as f64 / (p.down as f64 * n_out as f64);
        let gains = zero_phase_response(&p.taps, p.design_rate, (0..bins).map(|k| k as f64 * bin_hz))
            .into_iter()
            .map(|h| <T as Sample>::from_f64(h * scale))
            .collect();
        let scratch_len = forward.get_scratch_len().max(inverse.get_scratch_len());
        let mut r = Self {
            up: p.up,
            down: p.down,
            n_in,
            n_out,
            margin: p.margin,
            gains,
            block_in: forward.make_input_vec(),
            spectrum_in: forward.make_output_vec(),
            spectrum_out: inverse.make_input_vec(),
            block_out: inverse.make_output_vec(),
            scratch: vec![Complex::new(T::ZERO, T::ZERO); scratch_len],
            forward,
            inverse,
            bypass: in_rate == out_rate,
            hist: Vec::new(),
            hist_start: 0,
            received: 0,
            emitted: 0,
            next_block: 0,
        };
        r.reset();
        Ok(r)
    }

    /// Input and output block lengths of the FFTs.
    pub fn fft_lengths(&self) -> (usize, usize) {
        (self.n_in, self.n_out)
    }

    fn hop_in(&self) -> usize {
        (self.n_in / self.down - 2 * self.margin) * self.down
    }

    fn kept_per_block(&self) -> usize {
        (self.n_in / self.down - 2 * self.margin) * self.up
    }

    /// Blocks complete once padded input reaches `padded_end`.
    fn blocks_until(&self, padded_end: usize) -> usize {
        if padded_end < self.n_in {
            return 0;
        }
        ((padded_end - self.n_in) / self.hop_in() + 1).saturating_sub(self.next_block)
    }

    fn padded_received(&self) -> usize {
        self.received + self.margin * self.down
    }

    /// Runs blocks while their window is in `hist` followed by the strided `input` (`input_len`
    /// samples), writing at most `limit` more outputs overall to `output`.
    fn run_blocks(
        &mut self,
        (input, offset, stride, input_len): (&[T], usize, usize, usize),
        limit: usize,
        output: &mut [T],
    ) -> usize {
        let hist_end = self.hist_start + self.hist.len();
        let blocks = self.blocks_until(hist_end + input_len);
        let (hop, kept, skip) = (self.hop_in(), self.kept_per_block(), self.margin * self.up);
        let bins = self.gains.len();
        let mut written = 0;
        for _ in 0..blocks {
            if self.emitted >= limit {
                break;
            }
            let start = self.next_block * hop;
            // The window: the part still in `hist`, then the rest straight from the input.
            let from_hist = hist_end.saturating_sub(start).min(self.n_in);
            if from_hist > 0 {
                let h0 = start - self.hist_start;
                self.block_in[..from_hist].copy_from_slice(&self.hist[h0..h0 + from_hist]);
            }
            let rest = &mut self.block_in[from_hist..];
            // When the window reaches past `hist`, it starts there (`start + from_hist` ≥ hist_end).
            let first = offset + (start + from_hist).saturating_sub(hist_end) * stride;
            if stride == 1 {
                // The one-shot and mono case: a plain copy (the strided gather is slower).
                rest.copy_from_slice(&input[first.min(input.len())..][..rest.len()]);
            } else {
                copy_strided(input, first, stride, rest);
            }
            // The FFT lengths match the buffers they were made for, so these cannot fail.
            let _ = self.forward.process_with_scratch(&mut self.block_in, &mut self.spectrum_in, &mut self.scratch);
            for (o, (x, &g)) in self.spectrum_out.iter_mut().zip(self.spectrum_in.iter().zip(&self.gains)) {
                *o = Complex::new(x.re * g, x.im * g);
            }
            for o in &mut self.spectrum_out[bins..] {
                *o = Complex::new(T::ZERO, T::ZERO);
            }
            let _ = self.inverse.process_with_scratch(&mut self.spectrum_out, &mut self.block_out, &mut self.scratch);
            let take = kept.min(limit - self.emitted);
            output[written..written + take].copy_from_slice(&self.block_out[skip..skip + take]);
            written += take;
            self.emitted += take;
            self.next_block += 1;
        }
        // Keep what later blocks read: everything from the next block's start.
        let keep_from = self.next_block * hop;
        if keep_from >= hist_end {
            self.hist.clear();
            let skip_in = keep_from - hist_end;
            if skip_in < input_len {
                self.hist.extend(input[offset + skip_in * stride..].iter().step_by(stride));
            }
        } else {
            self.hist.drain(..keep_from - self.hist_start);
            if input_len > 0 {
                self.hist.extend(input[offset..].iter().step_by(stride));
            }
        }
        self.hist_start = keep_from;
        written
    }
}

impl<T: Sample> Resampler<T> for FftResampler<T> {
    fn ratio(&self) -> (usize, usize) {
        (self.up, self.down)
    }

    fn output_delay(&self) -> usize {
        if self.bypass { 0 } else { self.kept_per_block() + 2 * self.margin * self.up }
    }

    fn next_output_len(&self, input_len: usize) -> usize {
        if self.bypass {
            return input_len;
        }
        self.blocks_until(self.padded_received() + input_len) * self.kept_per_block()
    }

    fn flush_len(&self) -> usize {
        if self.bypass { 0 } else { self.output_len(self.received) - self.emitted }
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
        let written = self.run_blocks((input, offset, stride, n), usize::MAX, output);
        self.received += n;
        Ok(written)
    }

    fn flush_into(&mut self, output: &mut [T]) -> Result<usize, DspError> {
        let remaining = self.flush_len();
        check_room(remaining, output.len(), "flush")?;
        let mut written = 0;
        if remaining > 0 {
            let total = self.output_len(self.received);
            // Zeros past the end, up to the window of the block holding the last output.
            let last_block = (total - 1) / self.kept_per_block();
            let needed = last_block * self.hop_in() + self.n_in;
            let hist_end = self.hist_start + self.hist.len();
            if needed > hist_end {
                self.hist.resize(self.hist.len() + needed - hist_end, T::ZERO);
            }
            written = self.run_blocks((&[], 0, 1, 0), total, output);
        }
        self.reset();
        Ok(written)
    }

    fn reset(&mut self) {
        self.hist.clear();
        self.hist.resize(self.margin * self.down, T::ZERO);
        self.hist_start = 0;
        self.received = 0;
        self.emitted = 0;
        self.next_block = 0;
    }
}
