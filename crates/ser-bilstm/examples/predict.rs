//! Classifies audio files with a model folder written by `train`; one JSON object per file:
//! `{"file", "label", "score", "probs"}`.
//!
//! ```text
//! cargo run --release -p ser-bilstm --example predict -- --model runs/x/best a.wav b.flac
//! ```

use clap::Parser;
use ser_bilstm::{CpuBackend, Predictor};

#[derive(Parser)]
struct Args {
    /// Model folder (model.json, model.safetensors, scaler.safetensors).
    #[arg(long)]
    model: std::path::PathBuf,
    /// Audio files.
    #[arg(required = true)]
    audio: Vec<std::path::PathBuf>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let predictor = Predictor::<CpuBackend>::load(&a.model, &Default::default())?;
    let mut failed = 0;
    for file in &a.audio {
        match predictor.predict_path(file) {
            Ok(p) => println!(
                "{}",
                serde_json::json!({ "file": file.display().to_string(), "label": p.label, "score": p.score, "probs": p.probs })
            ),
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                failed += 1;
            }
        }
    }
    if failed > 0 {
        return Err(format!("{failed} of {} files failed", a.audio.len()).into());
    }
    Ok(())
}
