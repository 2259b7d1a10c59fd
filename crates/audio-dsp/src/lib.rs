//! Audio front end for speech-emotion recognition: decode, resample, features.
//!
//! * [`decode_path`] / [`decode_bytes`]: WAV (PCM 16/24/32, float, extensible), FLAC, MP3 and
//!   OGG Vorbis to mono `f32` via symphonia, PCM bit-exact with soundfile (`s / 32768`).
//! * [`resample()`] / [`Resampler`]: rational resampling in two modes behind one streaming
//!   trait. The reference ([`PolyphaseResampler`]) is the paper's Kaiser-windowed FIR (its
//!   eq. 3), designed exactly as scipy's `kaiserord` + `firwin` and matching `resample_poly`
//!   to 1e-12 in f64. The fast mode ([`FftResampler`], FFT overlap-save with a 140 dB Kaiser
//!   filter on the same pass band) is what [`resample()`] and [`AutoResampler`] pick where it
//!   meets the spec. Streaming output is identical to one-shot in every mode.
//!
//! ```
//! use audio_dsp::{AutoResampler, Resampler, resample};
//!
//! // One second of a 440 Hz tone at 44.1 kHz, to 16 kHz.
//! let x: Vec<f32> = (0..44_100).map(|n| (2.0 * std::f32::consts::PI * 440.0 * n as f32 / 44_100.0).sin()).collect();
//! let y = resample(&x, 44_100, 16_000).unwrap();
//! assert_eq!(y.len(), 16_000);
//!
//! // The same, streamed in chunks.
//! let mut r = AutoResampler::<f32>::new(44_100, 16_000).unwrap();
//! let mut streamed = Vec::new();
//! for chunk in x.chunks(1000) {
//!     r.process(chunk, &mut streamed);
//! }
//! r.flush(&mut streamed);
//! assert_eq!(streamed, y);
//! ```
//!
//! Dependencies: symphonia (decoding; pure Rust, all the containers users have), hound (WAV
//! writing for the examples), realfft (FFTs for the features and the fast resampler).

// Library code returns typed errors for anything derived from input; `unwrap`/`expect` are
// allowed only where a comment says why the value cannot be absent.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod decode;
pub mod features;
pub mod resample;

pub use decode::{Audio, MAX_FRAMES, decode_bytes, decode_path, decode_reader, write_wav_f32, write_wav_pcm16};
pub use resample::{
    AutoResampler, FftResampler, FilterDesign, FilterSpec, MultiChannel, PolyphaseResampler, ResampleMode, Resampler,
    Sample, resample, resample_reference, resample_with,
};

/// The sample rate every recording is converted to before VAD and emotion recognition.
pub const TARGET_SAMPLE_RATE: u32 = 16_000;

/// Errors from decoding, resampling and feature extraction.
#[derive(Debug, thiserror::Error)]
pub enum DspError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("unsupported audio: {0}")]
    Unsupported(String),
    #[error("corrupt audio: {0}")]
    Decode(String),
    #[error("truncated audio: {0}")]
    Truncated(String),
    #[error("writing audio: {0}")]
    Encode(String),
    #[error("invalid sample rates {in_rate} -> {out_rate}")]
    InvalidRate { in_rate: u32, out_rate: u32 },
    #[error("invalid filter design: {0}")]
    InvalidFilter(String),
    #[error("invalid input: {0}")]
    InvalidInput(String),
}
