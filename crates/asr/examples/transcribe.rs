//! Transcribes an audio file on this machine.
//!
//! ```text
//! cargo run --release -p asr --example transcribe -- <audio> [--format vtt|srt|tsv|json|text] \
//!     [--words] [--threads N] [--q8] [--beam N] [--vad] [--model DIR] [--out FILE]
//! ```
//!
//! Any format and sample rate audio-dsp decodes (WAV, FLAC, MP3, OGG); multi-channel audio is
//! mixed down. Output goes to stdout unless `--out` is given; a progress bar on stderr follows
//! long files. `json` has segments with tokens, scores and (with `--words`) word timestamps.

use std::io::Write;
use std::path::PathBuf;

use asr::{Asr, LoadOptions, SpeechOptions, TranscribeOptions, WeightPrecision};
use clap::{Parser, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Vtt,
    Srt,
    Tsv,
    Json,
    Text,
}

#[derive(Parser)]
struct Args {
    audio: PathBuf,
    #[arg(long, value_enum, default_value = "vtt")]
    format: Format,
    /// Word-level timestamps (json output lists them).
    #[arg(long)]
    words: bool,
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// 8-bit weights (one scale per row, CTranslate2's int8) instead of f32.
    #[arg(long)]
    q8: bool,
    /// Beam size (1: greedy).
    #[arg(long, default_value_t = 1)]
    beam: usize,
    /// Transcribe only what the voice activity detector calls speech.
    #[arg(long)]
    vad: bool,
    /// Model folder (default: the fetched whisper-tiny.en).
    #[arg(long)]
    model: Option<PathBuf>,
    #[arg(long)]
    out: Option<PathBuf>,
    /// Temperature 0 only, every window decoded (faster-whisper's `temperature=[0.0]`).
    #[arg(long)]
    greedy: bool,
    /// Transcribe N times (model loaded once) and report the fastest (benchmarks).
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Print `{"seconds", "text", "rss_mib"}` as the last stdout line (benches/asr_side_by_side.py).
    #[arg(long)]
    stats_json: bool,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let dir = a.model.clone().unwrap_or_else(asr::default_model_dir);
    if !dir.join("model.bin").exists() {
        return Err(format!("{} has no model.bin: run `bash scripts/fetch-models.sh`", dir.display()).into());
    }
    let precision = if a.q8 { WeightPrecision::Q8 } else { WeightPrecision::F32 };
    let model = Asr::load(&dir, LoadOptions { precision, threads: a.threads })?;
    let audio = audio_dsp::decode_path(&a.audio)?;
    let samples = audio_dsp::resample(&audio.samples, audio.sample_rate, asr::mel::SAMPLE_RATE)?;
    let bar = ProgressBar::new((audio.duration * 10.0).round() as u64);
    bar.set_style(ProgressStyle::with_template("{bar:30} {msg} eta {eta}")?);
    let base = if a.greedy { TranscribeOptions::greedy() } else { TranscribeOptions::default() };
    let options = SpeechOptions {
        transcribe: TranscribeOptions { word_timestamps: a.words, beam_size: a.beam.max(1), ..base },
        vad: a.vad.then(vad::VadConfig::default),
    };
    let mut elapsed = f64::INFINITY;
    let mut result = None;
    for _ in 0..a.repeat.max(1) {
        let started = std::time::Instant::now();
        let run = asr::transcribe_speech(&model, &samples, &options, &mut |done, total| {
            bar.set_length((total * 10.0).round() as u64);
            bar.set_position((done * 10.0).round() as u64);
            bar.set_message(format!("{done:.0} / {total:.0} s"));
        })?;
        elapsed = elapsed.min(started.elapsed().as_secs_f64());
        result = Some(run);
    }
    bar.finish_and_clear();
    let result = result.ok_or("no transcription ran")?;
    eprintln!(
        "{:.1} s of audio in {elapsed:.2} s ({:.1}× realtime), {} segments",
        audio.duration,
        audio.duration / elapsed.max(1e-9),
        result.segments.len()
    );
    let transcript = asr::to_transcript(&result);
    let text = match a.format {
        Format::Vtt => text_clean::write_vtt(&transcript)?,
        Format::Srt => text_clean::write_srt(&transcript)?,
        Format::Tsv => text_clean::write_daic_tsv(&transcript)?,
        Format::Json => {
            serde_json::to_string_pretty(&serde_json::json!({
                "audio": a.audio.file_name().map(|n| n.to_string_lossy().into_owned()),
                "duration_s": audio.duration,
                "model": dir.file_name().map(|n| n.to_string_lossy().into_owned()),
                "text": result.text(),
                "segments": result.segments,
            }))? + "\n"
        }
        Format::Text => result.text() + "\n",
    };
    match &a.out {
        Some(path) => std::fs::write(path, text)?,
        None => std::io::stdout().write_all(text.as_bytes())?,
    }
    if a.stats_json {
        println!("{}", serde_json::json!({ "seconds": elapsed, "text": result.text(), "rss_mib": peak_rss_mib() }));
    }
    Ok(())
}

/// Peak resident set size of this process (VmHWM), in MiB; 0 where /proc is missing.
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
