#![doc = include_str!("../README.md")]
// Library code returns typed errors for anything derived from input; `unwrap`/`expect` are
// allowed only where a comment says why the value cannot be absent.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]
#![warn(missing_docs)]

pub mod batch;
pub mod pipeline;
pub mod report;

pub use pipeline::{Pipeline, PipelineBuilder, SessionInput};
pub use report::Report;

pub use asr;
pub use audio_dsp;
pub use llama_extract;
pub use lora;
pub use quant5;
pub use ser_bilstm;
pub use text_clean;
pub use vad;

/// Errors from a pipeline run; each says which input or stage.
#[derive(Debug, thiserror::Error)]
pub enum InsightError {
    /// Reading or writing `path` failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// An input the pipeline cannot use (a transcript that does not parse, an empty folder…).
    #[error("{path}: {what}")]
    Input {
        /// The file or folder.
        path: String,
        /// What is wrong with it.
        what: String,
    },
    /// Decoding or resampling the audio.
    #[error("audio: {0}")]
    Audio(#[from] audio_dsp::DspError),
    /// Voice activity detection.
    #[error("voice activity: {0}")]
    Vad(#[from] vad::VadError),
    /// The speech-emotion model.
    #[error("speech emotion: {0}")]
    Ser(#[from] ser_bilstm::SerError),
    /// The language model or the extraction.
    #[error("language model: {0}")]
    Llama(#[from] llama_extract::LlamaError),
    /// Speech-to-text.
    #[error("speech to text: {0}")]
    Asr(#[from] asr::AsrError),
    /// Loading or applying a LoRA adapter.
    #[error("LoRA adapter: {0}")]
    Lora(#[from] lora::LoraError),
    /// Anything else: side files of a model that do not parse, a batch worker that panicked.
    #[error("{0}")]
    Model(String),
}
