//! Cleans a transcript and prints one JSON object per utterance, then a summary object.
//!
//! ```text
//! cargo run -p text-clean --example clean -- examples/data/sample_TRANSCRIPT.csv [--format daic|plain|vtt|srt] [--keep-fillers]
//! ```
//! Exits with status 2 and the parser's message on bad input.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use text_clean::{CleanConfig, CleanMode, Cleaner, Format, parse_path};

#[derive(Parser)]
#[command(about = "Parse and clean an interview transcript; print JSON lines")]
struct Args {
    /// Transcript file (DAIC-WOZ TSV, plain `Speaker: text`, WebVTT or SRT).
    file: PathBuf,
    /// Input format; detected from content and extension when omitted.
    #[arg(long, value_parser = parse_format)]
    format: Option<Format>,
    /// Remove interjections only; keep fillers such as "well" and "actually".
    #[arg(long)]
    keep_fillers: bool,
}

/// One output line, fields in the documented order.
#[derive(serde::Serialize)]
struct UtteranceLine<'a> {
    start_s: Option<f64>,
    end_s: Option<f64>,
    speaker: &'a str,
    text: &'a str,
    raw: &'a str,
    cues: &'a [text_clean::Cue],
    removed: &'a [text_clean::Removal],
}

fn parse_format(s: &str) -> Result<Format, String> {
    Format::from_name(s).ok_or_else(|| format!("unknown format `{s}` (expected daic, plain, vtt or srt)"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    let transcript = match parse_path(&args.file, args.format) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {}: {e}", args.file.display());
            return ExitCode::from(2);
        }
    };
    let mode = if args.keep_fillers { CleanMode::InterjectionsOnly } else { CleanMode::InterjectionsAndFillers };
    let cleaned = Cleaner::new(CleanConfig::default().with_mode(mode)).clean_transcript(&transcript);
    for u in &cleaned.utterances {
        let line = UtteranceLine {
            start_s: u.start_s,
            end_s: u.end_s,
            speaker: u.speaker.label(),
            text: &u.text,
            raw: &u.raw,
            cues: &u.cues,
            removed: &u.removed,
        };
        println!("{}", serde_json::to_string(&line).expect("plain data serialises"));
    }
    let summary = serde_json::json!({
        "summary": {
            "utterances": cleaned.utterances.len(),
            "totals": cleaned.stats,
            "by_speaker": cleaned.stats_by_speaker,
        }
    });
    println!("{summary}");
    ExitCode::SUCCESS
}
