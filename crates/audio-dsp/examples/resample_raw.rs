//! Resamples raw little-endian f32 mono samples (for side-by-side scripts: no decoding, no
//! WAV writing in the timed part) and prints the best wall time of `--repeat` runs.
//!
//! ```text
//! cargo run --release -p audio-dsp --example resample_raw -- <in.f32> <out.f32> \
//!     --in-rate 44100 --out-rate 16000 [--mode auto|fast|reference] [--repeat 5]
//! ```

use audio_dsp::{AutoResampler, FilterSpec, ResampleMode, Resampler};
use clap::{Parser, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Auto,
    Fast,
    Reference,
}

#[derive(Parser)]
#[command(about = "Resample raw f32 samples and time it")]
struct Args {
    input: PathBuf,
    output: PathBuf,
    #[arg(long)]
    in_rate: u32,
    #[arg(long, default_value_t = 16_000)]
    out_rate: u32,
    #[arg(long, value_enum, default_value = "auto")]
    mode: Mode,
    /// Runs to time; the best is printed.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let bytes = std::fs::read(&args.input)?;
    if bytes.len() % 4 != 0 {
        return Err(
            format!("{}: {} bytes is not a whole number of f32 samples", args.input.display(), bytes.len()).into()
        );
    }
    let x: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    let mode = match args.mode {
        Mode::Auto => ResampleMode::Auto,
        Mode::Fast => ResampleMode::Fast,
        Mode::Reference => ResampleMode::Reference,
    };
    let mut r = AutoResampler::<f32>::with_mode(args.in_rate, args.out_rate, FilterSpec::default(), mode)?;
    let mut out = vec![0f32; r.output_len(x.len())];
    let mut best = f64::INFINITY;
    for _ in 0..args.repeat.max(1) {
        let started = Instant::now();
        let n = r.process_into(&x, &mut out)?;
        r.flush_into(&mut out[n..])?;
        best = best.min(started.elapsed().as_secs_f64());
    }
    let raw: Vec<u8> = out.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&args.output, raw)?;
    println!("{{\"seconds\": {best:.6}, \"mode\": \"{:?}\", \"outputs\": {}}}", r.mode(), out.len());
    Ok(())
}
