//! The multimodal interview pipeline: transcript + audio in, evidence-backed report out.
//!
//! [`Pipeline`] composes the workspace: transcript parsing and cleaning (text-clean) — or, for a
//! session with audio and no transcript, local speech-to-text (asr, Whisper) — decoding
//! and resampling (audio-dsp), speech segmentation (vad), voice emotion per segment window
//! (ser-bilstm) aligned to utterances by time, and grounded extraction with the voice emotions
//! in the prompt (llama-extract, optionally with a lora adapter). Every part but the inputs is
//! optional; what did not run is listed in the report. [`Report`] is written as JSON, Markdown
//! and an SVG emotion timeline; [`batch`] runs a corpus, in parallel and resumably.
//!
//! ```
//! use interview_insight::{Pipeline, SessionInput};
//!
//! // Add `.language_model("….gguf")` for the extraction; without it the report says so.
//! let demo = std::path::Path::new("../../examples/data/demo");
//! let pipeline = Pipeline::builder().ser_model(demo.join("ser")).build()?;
//! let report = pipeline.run(&SessionInput {
//!     id: "demo".into(),
//!     transcript: Some(demo.join("demo_TRANSCRIPT.csv")),
//!     audio: Some(demo.join("demo_AUDIO.wav")),
//! })?;
//! assert_eq!(report.utterances.len(), 10);
//! assert!(report.utterances.iter().all(|u| u.voice.is_some()));
//! assert!(report.not_run.iter().any(|n| n.starts_with("extraction")));
//! let out = std::env::temp_dir().join("interview-insight-doc");
//! interview_insight::batch::write_report(&out, &report)?;
//! assert!(out.join("report.svg").exists());
//! # Ok::<(), interview_insight::InsightError>(())
//! ```
//!
//! Dependencies: sha2 (input and model hashes in the report), serde/serde_json (the report).

// Library code returns typed errors for anything derived from input; `unwrap`/`expect` are
// allowed only where a comment says why the value cannot be absent.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

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
    #[error("speech to text: {0}")]
    Asr(#[from] asr::AsrError),
    #[error("LoRA adapter: {0}")]
    Lora(#[from] lora::LoraError),
    #[error("{0}")]
    Model(String),
}
