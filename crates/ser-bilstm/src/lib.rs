//! Speech-emotion recognition models and their training, on burn.
//!
//! **Status: skeleton.** This crate will hold the reference BiLSTM classifier and BaseModel of
//! the paper's Table 1 (importable from PyTorch state dicts), a temporal BiLSTM over frame
//! features, and the training loop (Adam/AdamW/SGD, warmup-cosine), on the burn Flex CPU
//! backend ([`CpuBackend`]) with CUDA behind the `cuda` feature.
//!
//! ```
//! assert_eq!(ser_bilstm::EMOTIONS.len(), 8);
//! ```

/// The CPU backend every model in this crate runs on by default.
pub type CpuBackend = burn::backend::Flex;

/// RAVDESS emotion classes in label order (label = RAVDESS emotion code − 1).
pub const EMOTIONS: [&str; 8] = ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"];
