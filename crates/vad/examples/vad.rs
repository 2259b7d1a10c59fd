//! Voice activity detection on any audio file audio-dsp decodes: one JSON object per speech
//! segment, then a summary.
//!
//! ```text
//! cargo run --release -p vad --example vad -- <audio> [--threshold adaptive|energy-adaptive|fixed:-40]
//! ```
//! `adaptive` (default) is the sub-band SNR detector; `energy-adaptive` full-band energy over
//! an adaptive floor; `fixed:<dBFS>` the paper's fixed energy threshold.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use vad::{Method, VadConfig, detect};

#[derive(Parser)]
#[command(about = "Find speech segments in an audio file")]
struct Args {
    audio: PathBuf,
    /// adaptive | energy-adaptive | fixed:<dBFS>
    #[arg(long, default_value = "adaptive", value_parser = parse_threshold)]
    threshold: Method,
}

fn parse_threshold(s: &str) -> Result<Method, String> {
    match s {
        "adaptive" => Ok(Method::default()),
        "energy-adaptive" => Ok(Method::AdaptiveEnergy { margin_db: 6.0 }),
        _ => match s.strip_prefix("fixed:").map(str::parse::<f64>) {
            Some(Ok(db)) if db.is_finite() => Ok(Method::FixedEnergy { threshold_db: db }),
            _ => Err(format!("expected adaptive, energy-adaptive or fixed:<dBFS>, got `{s}`")),
        },
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let audio = match audio_dsp::decode_path(&args.audio) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {}: {e}", args.audio.display());
            return ExitCode::from(2);
        }
    };
    let cfg = match args.threshold {
        m @ Method::FixedEnergy { .. } => VadConfig::paper(0.0).with_method(m),
        m => VadConfig::default().with_method(m),
    };
    let d = match detect(&audio.samples, audio.sample_rate, &cfg) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("error: {}: {e}", args.audio.display());
            return ExitCode::from(2);
        }
    };
    for s in &d.segments {
        println!("{}", serde_json::to_string(s).expect("plain data serialises"));
    }
    let speech_s: f64 = d.segments.iter().map(|s| s.duration_s()).sum();
    println!(
        "{}",
        serde_json::json!({"summary": {
            "file": args.audio.display().to_string(),
            "sample_rate": audio.sample_rate,
            "duration_s": audio.duration,
            "segments": d.segments.len(),
            "speech_s": speech_s,
            "speech_ratio": d.speech_ratio,
            "method": cfg.method,
        }})
    );
    ExitCode::SUCCESS
}
