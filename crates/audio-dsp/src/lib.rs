#![doc = include_str!("../README.md")]
// Library code returns typed errors for anything derived from input; `unwrap`/`expect` are
// allowed only where a comment says why the value cannot be absent.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

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
    /// Reading or writing `path` failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A container, codec or sample format the decoder does not handle.
    #[error("unsupported audio: {0}")]
    Unsupported(String),
    /// The stream is malformed.
    #[error("corrupt audio: {0}")]
    Decode(String),
    /// The stream ends early.
    #[error("truncated audio: {0}")]
    Truncated(String),
    /// Writing a WAV file failed.
    #[error("writing audio: {0}")]
    Encode(String),
    /// A sample rate of 0 (or a pair no mode can convert).
    #[error("invalid sample rates {in_rate} -> {out_rate}")]
    InvalidRate {
        /// Input rate, Hz.
        in_rate: u32,
        /// Output rate, Hz.
        out_rate: u32,
    },
    /// A filter specification that cannot be designed.
    #[error("invalid filter design: {0}")]
    InvalidFilter(String),
    /// Input a function cannot take (non-finite samples, too short, a bad configuration, an
    /// output slice too small).
    #[error("invalid input: {0}")]
    InvalidInput(String),
}
