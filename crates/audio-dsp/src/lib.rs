//! Audio front end for speech-emotion recognition.
//!
//! **Status: skeleton.** This crate will decode WAV/FLAC/MP3/OGG with symphonia into mono
//! `f32`, resample with the paper's Kaiser-windowed polyphase FIR (its eq. 3) to any rate, and
//! compute the features the emotion models read: STFT, mel, MFCC, chroma, spectral contrast and
//! the reference implementation's 312-dimensional "CustomFeature", matching librosa 0.9.2.
//! See issue "audio-dsp: decoding, Kaiser polyphase resampling, and the SER feature front end".
//!
//! ```
//! assert_eq!(audio_dsp::TARGET_SAMPLE_RATE, 16_000);
//! ```

/// The sample rate every recording is converted to before VAD and emotion recognition.
pub const TARGET_SAMPLE_RATE: u32 = 16_000;
