//! Decodes any supported audio file, converts it to mono at `--rate` (the fast FFT mode, or the
//! scipy-exact polyphase reference with `--reference`), and writes a WAV.
//!
//! ```text
//! cargo run --release -p audio-dsp --example resample -- <in> <out.wav> --rate 16000 [--float] [--reference]
//! ```

use audio_dsp::{AutoResampler, FilterSpec, ResampleMode, Resampler, decode_path, write_wav_f32, write_wav_pcm16};
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Parser)]
#[command(about = "Resample an audio file to mono WAV at a new rate")]
struct Args {
    input: PathBuf,
    output: PathBuf,
    /// Output sample rate in Hz.
    #[arg(long, default_value_t = 16_000)]
    rate: u32,
    /// Write 32-bit float samples instead of 16-bit PCM.
    #[arg(long)]
    float: bool,
    /// Use the scipy-exact polyphase reference instead of the automatic (fast) mode.
    #[arg(long)]
    reference: bool,
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

fn run(args: &Args) -> Result<(), audio_dsp::DspError> {
    let audio = decode_path(&args.input)?;
    let started = Instant::now();
    let mode = if args.reference { ResampleMode::Reference } else { ResampleMode::Auto };
    let mut resampler = AutoResampler::<f32>::with_mode(audio.sample_rate, args.rate, FilterSpec::default(), mode)?;
    let mut out = Vec::with_capacity(resampler.output_len(audio.samples.len()));
    resampler.process(&audio.samples, &mut out);
    resampler.flush(&mut out);
    let elapsed = started.elapsed().as_secs_f64();
    if args.float {
        write_wav_f32(&args.output, &out, args.rate)?;
    } else {
        write_wav_pcm16(&args.output, &out, args.rate)?;
    }
    let (l, m) = resampler.ratio();
    eprintln!(
        "{}: {} Hz x{} ch, {:.2} s -> {}: {} Hz mono, {} samples (L/M = {l}/{m}, {:?} mode, {:.0}x realtime)",
        args.input.display(),
        audio.sample_rate,
        audio.channels_in,
        audio.duration,
        args.output.display(),
        args.rate,
        out.len(),
        resampler.mode(),
        audio.duration / elapsed.max(1e-9),
    );
    Ok(())
}
