//! Energy-based voice activity detection and silence removal.
//!
//! **Status: skeleton.** The paper detects speech by short-term frame energy
//! `E = Σ|x(n)|²` against a threshold (its eqs. 4–6) and removes runs of silent frames. This
//! crate will implement that rule, an adaptive noise-floor threshold with hysteresis and
//! hangover, merged speech segments, and a time map from the trimmed signal back to the
//! original recording. Input is mono `f32` from `audio-dsp`.
//!
//! ```
//! assert_eq!(vad::DEFAULT_FRAME_MS, 30);
//! ```

/// Frame length used unless configured otherwise.
pub const DEFAULT_FRAME_MS: u32 = 30;
