//! The multimodal interview pipeline: transcript + audio in, evidence-backed report out.
//!
//! **Status: skeleton.** This facade will compose the workspace: transcript cleaning
//! (`text-clean`), decoding and resampling (`audio-dsp`), speech segmentation (`vad`), voice
//! emotion per segment (`ser-bilstm`) and LLM extraction (`llama-extract`, optionally with a
//! `lora` adapter over a `quant5` base), and write JSON, Markdown and SVG reports.
//!
//! ```
//! pub use interview_insight::text_clean;
//! ```

pub use audio_dsp;
pub use llama_extract;
pub use lora;
pub use quant5;
pub use ser_bilstm;
pub use text_clean;
pub use vad;
