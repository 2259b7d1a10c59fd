//! One session through the whole pipeline: writes `report.json`, `report.md` and `report.svg`.
//!
//! ```text
//! cargo run --release -p interview-insight --example analyze -- --transcript <file> [--audio <file>] \
//!     [--ser <dir>] [--model <gguf|dir>] [--adapter <dir>] [--asr-model <dir>] [--asr] --out <dir>
//! cargo run --release -p interview-insight --example analyze -- --audio <file> --out <dir>
//! cargo run --release -p interview-insight --example analyze -- --demo [--asr] --out out/demo
//! ```
//!
//! A session given only `--audio` is transcribed on this machine (Whisper tiny.en from
//! `scripts/fetch-models.sh`, or `--asr-model`); `--asr` transcribes even when a transcript is
//! given, so the two can be compared. The report names the transcript's source.
//!
//! `--demo` analyses the committed demo session (examples/data/demo) with the demo
//! speech-emotion weights, the fetched SmolLM2 model and the project's extraction adapter
//! (`examples/data/adapters/smollm2-135m-extraction`, trained by
//! `scripts/train-extraction-adapter.sh`; `--no-adapter` for the base model).

use std::path::PathBuf;

use clap::Parser;
use interview_insight::batch::write_report;
use interview_insight::llama_extract::{ExtractOptions, KvPrecision};
use interview_insight::{Pipeline, SessionInput};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    transcript: Option<PathBuf>,
    #[arg(long)]
    audio: Option<PathBuf>,
    /// Speech-emotion model folder (ser-bilstm `model.json` + weights).
    #[arg(long)]
    ser: Option<PathBuf>,
    /// GGUF file or HF folder for extraction.
    #[arg(long)]
    model: Option<PathBuf>,
    /// A PEFT LoRA adapter folder for the language model.
    #[arg(long)]
    adapter: Option<PathBuf>,
    /// With `--demo`: extract with the base model, without the project's adapter.
    #[arg(long)]
    no_adapter: bool,
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
    #[arg(long)]
    out: PathBuf,
    /// Session id (default: the transcript's or audio's file stem).
    #[arg(long)]
    id: Option<String>,
    #[arg(long, default_value_t = 384)]
    max_new_tokens: usize,
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Keep the language model's keys and values in f16 (llama.cpp's default cache type): half
    /// the memory of the f32 default, for long interviews and large models; the report says so.
    #[arg(long)]
    kv_f16: bool,
    /// Use the committed demo session and demo weights.
    #[arg(long)]
    demo: bool,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut a = Args::parse();
    if a.demo {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let demo = root.join("examples/data/demo");
        if !a.asr {
            a.transcript.get_or_insert(demo.join("demo_TRANSCRIPT.csv"));
        }
        a.audio.get_or_insert(demo.join("demo_AUDIO.wav"));
        a.ser.get_or_insert(demo.join("ser"));
        a.model.get_or_insert(interview_insight::llama_extract::models_dir().join("SmolLM2-135M-Instruct.Q4_1.gguf"));
        if !a.no_adapter {
            a.adapter.get_or_insert(root.join("examples/data/adapters/smollm2-135m-extraction"));
        }
        a.id.get_or_insert("demo".into());
    }
    let mut builder = Pipeline::builder()
        .threads(a.threads)
        .kv_cache(if a.kv_f16 { KvPrecision::F16 } else { KvPrecision::F32 })
        .extract_options(ExtractOptions { max_new_tokens: a.max_new_tokens, ..ExtractOptions::default() });
    if let Some(d) = &a.ser {
        builder = builder.ser_model(d);
    }
    if let Some(m) = &a.model {
        if !m.exists() {
            return Err(format!("{} is missing: run `bash scripts/fetch-models.sh`", m.display()).into());
        }
        builder = builder.language_model(m);
    }
    if let Some(ad) = &a.adapter {
        builder = builder.adapter(ad);
    }
    // The pipeline loads Whisper only if this session is transcribed.
    builder = builder.asr_model_or_fetched(a.asr_model.clone()).force_asr(a.asr);
    if a.asr_q8 {
        builder = builder.asr_precision(interview_insight::asr::WeightPrecision::Q8);
    }
    let pipeline = builder.build()?;
    let stem = |p: &Option<PathBuf>| p.as_ref().and_then(|p| p.file_stem()).map(|s| s.to_string_lossy().into_owned());
    let id =
        a.id.clone()
            .or_else(|| stem(&a.transcript))
            .or_else(|| stem(&a.audio))
            .ok_or("give --transcript or --audio")?;
    if report_needs_asr(&a) {
        eprintln!("transcribing the audio on this machine (speech-to-text)…");
    }
    let report = pipeline.run(&SessionInput { id, transcript: a.transcript.clone(), audio: a.audio.clone() })?;
    write_report(&a.out, &report)?;
    for n in &report.not_run {
        eprintln!("not run: {n}");
    }
    println!("report: {0}/report.json, {0}/report.md, {0}/report.svg", a.out.display());
    Ok(())
}

fn report_needs_asr(a: &Args) -> bool {
    a.audio.is_some() && (a.asr || a.transcript.is_none())
}
