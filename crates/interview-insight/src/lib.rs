//! The multimodal interview pipeline: transcript + audio in, evidence-backed report out.
//!
//! [`Pipeline`] composes the workspace: transcript parsing and cleaning (text-clean), decoding
//! and resampling (audio-dsp), speech segmentation (vad), voice emotion per segment window
//! (ser-bilstm) aligned to utterances by time, and grounded extraction with the voice emotions
//! in the prompt (llama-extract, optionally with a lora adapter). Every part but the inputs is
//! optional; what did not run is listed in the report. [`Report`] is written as JSON, Markdown
//! and an SVG emotion timeline; [`batch`] runs a corpus, in parallel and resumably.
//!
//! ```no_run
//! use interview_insight::{Pipeline, SessionInput};
//!
//! let pipeline = Pipeline::builder()
//!     .ser_model("examples/data/demo/ser")
//!     .language_model(".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf")
//!     .build()?;
//! let report = pipeline.run(&SessionInput {
//!     id: "demo".into(),
//!     transcript: Some("examples/data/demo/demo_TRANSCRIPT.csv".into()),
//!     audio: Some("examples/data/demo/demo_AUDIO.wav".into()),
//! })?;
//! interview_insight::batch::write_report("out/demo".as_ref(), &report)?;
//! # Ok::<(), interview_insight::InsightError>(())
//! ```
//!
//! Dependencies: sha2 (input and model hashes in the report), serde/serde_json (the report).

pub mod batch;
pub mod pipeline;
pub mod report;

pub use pipeline::{Pipeline, PipelineBuilder, SessionInput};
pub use report::Report;

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
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: {what}")]
    Input { path: String, what: String },
    #[error("audio: {0}")]
    Audio(#[from] audio_dsp::DspError),
    #[error("voice activity: {0}")]
    Vad(#[from] vad::VadError),
    #[error("speech emotion: {0}")]
    Ser(#[from] ser_bilstm::SerError),
    #[error("language model: {0}")]
    Llama(#[from] llama_extract::LlamaError),
    #[error("{0}")]
    Model(String),
}
