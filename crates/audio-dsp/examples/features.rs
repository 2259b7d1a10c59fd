//! Decodes audio, resamples it to 16 kHz (or `--rate`) and prints a feature as JSON:
//! `{"kind": .., "sample_rate": .., "shape": [..], "data": [..]}`.
//!
//! ```text
//! cargo run --release -p audio-dsp --example features -- <in> --kind custom|logmel [--rate 16000] [--repeat N]
//! ```
//! With `--repeat N` the feature is computed N times and `"seconds"` holds the best time of one
//! computation (decoding and resampling excluded), for side-by-side scripts.
//! `custom` is the reference SER's 312-d CustomFeature (shape `[312]`); `logmel` is 64-band
//! log-mel over 25 ms / 10 ms frames (shape `[64, frames]`, row-major).

use audio_dsp::features::{custom_feature, log_mel};
use audio_dsp::{decode_path, resample};
use clap::{Parser, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Custom,
    Logmel,
}

#[derive(Parser)]
#[command(about = "Print speech-emotion features of an audio file as JSON")]
struct Args {
    input: PathBuf,
    #[arg(long, value_enum)]
    kind: Kind,
    /// Rate the audio is resampled to before feature extraction.
    #[arg(long, default_value_t = 16_000)]
    rate: u32,
    /// Computations to time; the best goes to `"seconds"`.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}: {e}", args.input.display());
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<serde_json::Value, audio_dsp::DspError> {
    let audio = decode_path(&args.input)?;
    let x = resample(&audio.samples, audio.sample_rate, args.rate)?;
    let mut best = f64::INFINITY;
    let mut json = serde_json::Value::Null;
    for _ in 0..args.repeat.max(1) {
        let started = std::time::Instant::now();
        json = match args.kind {
            Kind::Custom => {
                let v = custom_feature(&x, args.rate)?;
                best = best.min(started.elapsed().as_secs_f64());
                serde_json::json!({"kind": "custom", "sample_rate": args.rate, "shape": [v.len()], "data": v.to_vec()})
            }
            Kind::Logmel => {
                let m = log_mel(&x, args.rate)?;
                best = best.min(started.elapsed().as_secs_f64());
                serde_json::json!({"kind": "logmel", "sample_rate": args.rate, "shape": [m.rows, m.cols], "data": m.data})
            }
        };
    }
    json["seconds"] = serde_json::json!(best);
    Ok(json)
}
