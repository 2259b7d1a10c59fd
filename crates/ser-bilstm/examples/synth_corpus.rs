//! Writes the synthetic prosody corpus in RAVDESS's layout (`Actor_XX/03-01-EE-…-XX.wav`), so
//! `train` and `predict` can be tried without real data. Synthetic: see `ser_bilstm::synth`.
//!
//! ```text
//! cargo run --release -p ser-bilstm --example synth_corpus -- --out runs/synth-ravdess
//! ```

use clap::Parser;
use ser_bilstm::synth::{CorpusConfig, write_ravdess_layout};

#[derive(Parser)]
struct Args {
    /// Output folder.
    #[arg(long)]
    out: std::path::PathBuf,
    #[arg(long, default_value_t = 16)]
    voices: u8,
    /// Clips per voice and class (1–8).
    #[arg(long, default_value_t = 8)]
    clips: u8,
    #[arg(long, default_value_t = 1.6)]
    seconds: f64,
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let config = CorpusConfig { voices: a.voices, clips_per_class: a.clips, seconds: a.seconds, seed: a.seed };
    let n = write_ravdess_layout(&a.out, &config)?;
    eprintln!("wrote {n} synthetic clips under {}", a.out.display());
    Ok(())
}
