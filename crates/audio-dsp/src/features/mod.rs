//! Speech-emotion features matching librosa 0.9.2: STFT, Slaney mel filter banks, dB, MFCC,
//! chroma with tuning estimation, spectral contrast, RMS, zero-crossing rate, flatness,
//! centroid, piptrack — and the reference's 312-d [`custom_feature`] and frame-level [`log_mel`].

mod custom;
pub mod mel;
pub mod pitch;
mod real_fft;
pub mod spectral;
pub mod stft;

pub use custom::{CUSTOM_FEATURE_LEN, custom_feature, log_mel};
pub use numeric::Matrix;
pub use stft::{PadMode, StftConfig, fft_frequencies, reflect_index, stft_magnitude, stft_power, stft_power_frames};
