//! Extracts emotions, topics, key phrases, a summary and non-diagnostic notes from an interview
//! transcript, every quote checked against the utterance it cites; prints the report as JSON.
//!
//! ```text
//! cargo run --release -p llama-extract --example extract -- \
//!     --model .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf --transcript 300_TRANSCRIPT.csv [--voice voice.json]
//! cargo run --release -p llama-extract --example extract -- --model … --measure 30   # constrained vs not
//! cargo run --release -p llama-extract --example extract -- --model … --eval examples/data/extraction/heldout \
//!     [--adapter DIR] [--eval-out scores.json]
//! cargo run --release -p llama-extract --example extract -- --model … --training-pairs runs/extraction/train \
//!     --pairs-out runs/extraction/train.jsonl
//! ```
//!
//! `--transcript` takes any format text-clean reads (DAIC-WOZ TSV, `Speaker: text`, WebVTT,
//! SRT). `--voice` is a JSON file `{"segments": [{"start_s", "end_s", "scores": {"sad": 0.6, …}}]}`
//! (interview-insight writes it from the speech-emotion model). `--adapter DIR` applies a PEFT
//! LoRA adapter. `--unconstrained` turns the grammar off. `--measure N` runs N generated
//! (synthetic) excerpts with and without constraints and prints the schema-valid rates and the
//! per-token cost of the constraint. `--eval DIR` scores a labelled set
//! (`llama_extract::extract::eval`: per-field precision / recall / F1, key-phrase recall,
//! grounding, participant evidence) and `--training-pairs DIR` turns one into fine-tuning pairs
//! with the extractor's exact prompt.

use std::path::PathBuf;

use clap::Parser;
use llama_extract::extract::clause_check::{self, FeelingCheck, TopicCheck};
use llama_extract::extract::{ChunkStats, demo, eval};
use llama_extract::runtime::weights::ModelSource;
use llama_extract::{ExtractOptions, Extractor, QuantLlama, QuantSession, WeightFormat};

#[derive(Parser)]
struct Args {
    /// GGUF file or HF checkpoint folder.
    #[arg(long)]
    model: PathBuf,
    #[arg(long)]
    transcript: Option<PathBuf>,
    #[arg(long)]
    voice: Option<PathBuf>,
    #[arg(long)]
    adapter: Option<PathBuf>,
    #[arg(long)]
    unconstrained: bool,
    /// Leave the adapter's clause checks (`feeling_check.safetensors`,
    /// `topic_check.safetensors`) unused: the model writes the whole answer itself.
    #[arg(long)]
    no_clause_checks: bool,
    /// Keep quotes that cannot be found in their utterance (flagged) instead of dropping them.
    #[arg(long)]
    keep_unverified: bool,
    #[arg(long, default_value_t = 384)]
    max_new_tokens: usize,
    /// Plan chunks for this context instead of the model's.
    #[arg(long)]
    context: Option<usize>,
    /// The longest prompt of a chunk (default 768 tokens; 0: as long as the context allows).
    #[arg(long)]
    max_prompt_tokens: Option<usize>,
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// llama.cpp-style repetition penalty (1 = off).
    #[arg(long)]
    repeat_penalty: Option<f32>,
    /// Print each chunk's raw answer to stderr.
    #[arg(long)]
    raw: bool,
    /// Measure N synthetic excerpts, constrained and unconstrained.
    #[arg(long)]
    measure: Option<usize>,
    /// Score the labelled excerpts in this folder (`*_TRANSCRIPT.csv` + `*_labels.json`).
    #[arg(long)]
    eval: Option<PathBuf>,
    /// Write the evaluation's scores (and per-excerpt counts) here as JSON.
    #[arg(long)]
    eval_out: Option<PathBuf>,
    /// Write fine-tuning pairs (JSON lines) for the labelled excerpts in this folder…
    #[arg(long)]
    training_pairs: Option<PathBuf>,
    /// …to this file.
    #[arg(long)]
    pairs_out: Option<PathBuf>,
}

fn summarise(name: &str, stats: &[ChunkStats]) {
    let n = stats.len();
    let valid = stats.iter().filter(|s| s.valid).count();
    let tokens: usize = stats.iter().map(|s| s.generated_tokens).sum();
    let mask: f64 = stats.iter().map(|s| s.mask_us).sum();
    let decode: f64 = stats.iter().map(|s| s.decode_us).sum();
    let closed = stats.iter().filter(|s| s.completed_by_grammar).count();
    let prompts = stats.iter().map(|s| s.prompt_tokens);
    let (shortest, longest) = (prompts.clone().min().unwrap_or(0), prompts.max().unwrap_or(0));
    println!(
        "{name}: schema-valid {valid}/{n} ({:.0} %), prompts {shortest}–{longest} tokens, {tokens} tokens generated, decode {:.0} µs/token, constraint {:.1} µs/token ({:.2} % of decode), {closed} closed by the grammar at the budget",
        100.0 * valid as f64 / n.max(1) as f64,
        decode / tokens.max(1) as f64,
        mask / tokens.max(1) as f64,
        100.0 * mask / decode.max(1e-9),
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let source = ModelSource::open(&a.model)?;
    let tokenizer = source.tokenizer()?;
    let mut model = QuantLlama::from_weights(source.config()?, &source.weights(), WeightFormat::AsLoaded)?
        .with_threads(a.threads)?;
    let mut adapter_generation = None;
    let (mut feeling_check, mut topic_check) = (None, None);
    if let Some(dir) = &a.adapter {
        model.apply_adapter(&lora::LoraAdapter::load(dir)?)?;
        adapter_generation = llama_extract::GenerationConfig::read(dir)?;
        if !a.no_clause_checks {
            feeling_check = FeelingCheck::load(dir, clause_check::FEELING_FILE)?.map(std::sync::Arc::new);
            topic_check = TopicCheck::load(dir, clause_check::TOPIC_FILE)?.map(std::sync::Arc::new);
        }
    }
    let options = ExtractOptions {
        constrained: !a.unconstrained,
        keep_unverified: a.keep_unverified,
        max_new_tokens: a.max_new_tokens,
        context_tokens: a.context,
        max_prompt_tokens: match a.max_prompt_tokens {
            Some(0) => None,
            Some(n) => Some(n),
            None => ExtractOptions::default().max_prompt_tokens,
        },
        feeling_check,
        topic_check,
        ..ExtractOptions::default()
    };
    let mut options = options;
    // The adapter's recommended decoding (generation_config.json), unless overridden below.
    if let Some(g) = adapter_generation {
        g.apply(&mut options.sampling);
    }
    if let Some(p) = a.repeat_penalty {
        options.sampling.repetition_penalty = p;
    }
    let session = QuantSession::new(&model, options.context_for(model.config()));
    let mut extractor = Extractor::new(session, &tokenizer, options)?;

    if let Some(n) = a.measure {
        let set = demo::excerpts(n, 3, 11);
        for constrained in [true, false] {
            extractor.options.constrained = constrained;
            let mut all = Vec::new();
            let mut grounding = (0, 0);
            for (t, v) in &set {
                let (report, stats) = extractor.extract_with_stats(t, Some(v))?;
                grounding.0 += report.grounding.verified;
                grounding.1 += report.grounding.quotes;
                all.extend(stats);
            }
            summarise(if constrained { "constrained" } else { "unconstrained" }, &all);
            println!("  grounding: {}/{} quotes verified", grounding.0, grounding.1);
        }
        return Ok(());
    }

    if let Some(dir) = &a.training_pairs {
        let out = a.pairs_out.as_ref().ok_or("give --pairs-out FILE with --training-pairs")?;
        let mut text = String::new();
        let set = eval::read_labelled_set(dir)?;
        for x in &set {
            text.push_str(&serde_json::to_string(&eval::training_pair(&extractor, x)?)?);
            text.push('\n');
        }
        std::fs::write(out, text)?;
        eprintln!("{} pairs → {}", set.len(), out.display());
        return Ok(());
    }
    if let Some(dir) = &a.eval {
        let set = eval::read_labelled_set(dir)?;
        let mut per_excerpt = Vec::new();
        let started = std::time::Instant::now();
        let total = eval::evaluate(&extractor, &set, &mut |x, report, counts| {
            let labels: Vec<String> = report.emotions.iter().map(|e| format!("{:?}", e.label)).collect();
            eprintln!("{}: emotions {labels:?}, counts {counts:?}", x.name);
            per_excerpt.push(serde_json::json!({"name": x.name, "counts": counts, "report": report}));
        })?;
        let q = total.quality();
        println!(
            "{}: {} excerpts | emotion P {:.2} R {:.2} F1 {:.2} | topic P {:.2} R {:.2} F1 {:.2} | key-phrase recall {:.2} | quotes verified {:.3} | emotion evidence from the participant {:.3} | schema-valid {:.3} | {:.0} s",
            dir.display(),
            q.excerpts,
            q.emotion.precision,
            q.emotion.recall,
            q.emotion.f1,
            q.topic.precision,
            q.topic.recall,
            q.topic.f1,
            q.key_phrase_recall,
            q.grounding_rate,
            q.participant_evidence,
            q.schema_valid,
            started.elapsed().as_secs_f64(),
        );
        if let Some(out) = &a.eval_out {
            let doc = serde_json::json!({
                "set": dir.display().to_string(), "model": a.model.display().to_string(),
                "adapter": a.adapter.as_ref().map(|p| p.display().to_string()),
                "quality": q, "counts": total, "excerpts": per_excerpt,
            });
            std::fs::write(out, serde_json::to_string_pretty(&doc)?)?;
        }
        return Ok(());
    }

    let path = a.transcript.as_ref().ok_or("give --transcript FILE (or --measure N, --eval DIR)")?;
    let transcript = text_clean::parse_path(path, None)?;
    let voice: Option<llama_extract::VoiceEmotions> = match &a.voice {
        Some(p) => Some(serde_json::from_str(&std::fs::read_to_string(p)?)?),
        None => None,
    };
    let (report, stats) = extractor.extract_with_stats(&transcript, voice.as_ref())?;
    summarise("chunks", &stats);
    if a.raw {
        stats.iter().for_each(|s| eprintln!("{:?}: {}", s.utterances, s.text));
    }
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
