//! A corpus through the pipeline, in parallel and resumably (see `interview_insight::batch`).
//!
//! ```text
//! cargo run --release -p interview-insight --example batch -- --root <daic_tree> --out <dir> [--jobs N] \
//!     [--ser <dir>] [--model <gguf|dir>] [--adapter <dir>]
//! cargo run --release -p interview-insight --example batch -- --manifest sessions.csv --out <dir>
//! ```
//!
//! `--root` holds `<id>_P/<id>_TRANSCRIPT.csv` and `<id>_P/<id>_AUDIO.wav`; a manifest is CSV
//! `id,transcript,audio`. `--shard K/N` keeps every N-th session starting at K (for array
//! jobs; see docs/batch.md). Re-running skips finished sessions and retries failed ones.
//! Sessions with audio and no transcript are transcribed locally (`--asr-model`, default the
//! fetched whisper-tiny.en); `--asr` transcribes every session with audio.

use std::path::PathBuf;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use interview_insight::Pipeline;
use interview_insight::batch::{BatchEvent, SessionOutcome, discover_daic, read_manifest, run_batch};
use interview_insight::llama_extract::{ExtractOptions, KvPrecision};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    root: Option<PathBuf>,
    #[arg(long)]
    manifest: Option<PathBuf>,
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    #[arg(long)]
    ser: Option<PathBuf>,
    #[arg(long)]
    model: Option<PathBuf>,
    #[arg(long)]
    adapter: Option<PathBuf>,
    /// Speech-to-text model folder (CTranslate2 Whisper); default: the fetched whisper-tiny.en
    /// when present. Sessions with audio and no transcript are transcribed with it.
    #[arg(long)]
    asr_model: Option<PathBuf>,
    /// Transcribe the audio even when a transcript exists (to compare); needs a speech-to-text
    /// model.
    #[arg(long)]
    asr: bool,
    /// Speech-to-text with 8-bit (Q8_0) weights instead of f32.
    #[arg(long)]
    asr_q8: bool,
    #[arg(long, default_value_t = 384)]
    max_new_tokens: usize,
    /// Language-model threads per job.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Keep the language model's keys and values in f16 (llama.cpp's default cache type): half
    /// the memory of the f32 default, for long interviews and large models; the report says so.
    #[arg(long)]
    kv_f16: bool,
    /// `K/N`: this shard's sessions (index mod N == K, in id order).
    #[arg(long)]
    shard: Option<String>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let mut sessions = match (&a.root, &a.manifest) {
        (Some(r), None) => discover_daic(r)?,
        (None, Some(m)) => read_manifest(m)?,
        _ => return Err("give --root DIR or --manifest FILE".into()),
    };
    if let Some(shard) = &a.shard {
        let (k, n) = shard.split_once('/').ok_or("--shard K/N")?;
        let (k, n): (usize, usize) = (k.parse()?, n.parse()?);
        if n == 0 || k >= n {
            return Err("--shard K/N needs 0 ≤ K < N".into());
        }
        sessions = sessions.into_iter().enumerate().filter(|(i, _)| i % n == k).map(|(_, s)| s).collect();
    }
    let mut builder = Pipeline::builder()
        .threads(a.threads)
        .kv_cache(if a.kv_f16 { KvPrecision::F16 } else { KvPrecision::F32 })
        .extract_options(ExtractOptions { max_new_tokens: a.max_new_tokens, ..ExtractOptions::default() });
    if let Some(d) = &a.ser {
        builder = builder.ser_model(d);
    }
    if let Some(m) = &a.model {
        builder = builder.language_model(m);
    }
    if let Some(ad) = &a.adapter {
        builder = builder.adapter(ad);
    }
    builder = builder.asr_model_or_fetched(a.asr_model.clone()).force_asr(a.asr);
    if a.asr_q8 {
        builder = builder.asr_precision(interview_insight::asr::WeightPrecision::Q8);
    }
    let pipeline = builder.build()?;
    let bar = ProgressBar::new(sessions.len() as u64);
    bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} eta {eta} {msg}")?);
    let outcomes = run_batch(&pipeline, &sessions, &a.out, a.jobs, &|e| match e {
        BatchEvent::Started { already_done, .. } => bar.set_position(already_done as u64),
        BatchEvent::Finished { id, outcome } => {
            if *outcome != SessionOutcome::Skipped {
                bar.inc(1);
            }
            if let SessionOutcome::Failed(err) = outcome {
                bar.println(format!("{id}: failed: {err}"));
            }
            bar.set_message(id.to_string());
        }
    })?;
    bar.finish_and_clear();
    let failed = outcomes.iter().filter(|(_, o)| matches!(o, SessionOutcome::Failed(_))).count();
    println!("{} sessions, {failed} failed; summary: {}/summary.csv", outcomes.len(), a.out.display());
    Ok(())
}
