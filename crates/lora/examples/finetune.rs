//! LoRA fine-tuning of a Llama on (prompt, response) JSON lines, on CPU, writing a PEFT
//! adapter; then a before/after comparison on the evaluation pairs: held-out loss, and
//! exact-field accuracy of greedy answers (responses that are JSON objects).
//!
//! ```text
//! cargo run --release -p lora --example finetune -- --demo-data runs/demo     # synthetic pairs
//! cargo run --release -p lora --example finetune -- --model .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf \
//!     --train runs/demo/train.jsonl --eval runs/demo/eval.jsonl --rank 8 --alpha 16 \
//!     --targets q_proj,v_proj --epochs 2 --out runs/adapter [--base q5_1]
//! cargo run --release -p llama-extract --example generate -- --model … --adapter runs/adapter/final --chat --prompt …
//! ```

use std::path::PathBuf;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use llama_extract::runtime::weights::ModelSource;
use llama_extract::train::sft::{
    EncodedPair, SftConfig, SftEvent, encode_pair, field_accuracy, finetune, read_pairs, synthetic_pairs,
};
use llama_extract::{BurnLlama, GenerateOptions, LlamaTokenizer, QuantLlama, QuantSession, WeightFormat, generate};
use lora::{LoraAdapter, LoraConfig};
use quant5::GgmlType;
use std::io::IsTerminal;

type Train = burn::backend::Autodiff<burn::backend::Flex>;

#[derive(Parser)]
struct Args {
    /// Write a synthetic interview-extraction set (train.jsonl 160, eval.jsonl 40) here and exit.
    #[arg(long)]
    demo_data: Option<PathBuf>,
    /// GGUF file or Hugging Face folder (`config.json`, `tokenizer.json`, safetensors).
    #[arg(long)]
    model: Option<PathBuf>,
    #[arg(long)]
    train: Option<PathBuf>,
    #[arg(long)]
    eval: Option<PathBuf>,
    #[arg(long, default_value_t = 8)]
    rank: usize,
    #[arg(long, default_value_t = 16.0)]
    alpha: f64,
    #[arg(long, default_value = "q_proj,v_proj")]
    targets: String,
    #[arg(long, default_value_t = 2)]
    epochs: usize,
    #[arg(long, default_value_t = 2e-3)]
    lr: f64,
    #[arg(long, default_value_t = 4)]
    grad_accum: usize,
    /// Evaluate (and save an adapter under `step_N/`) every N optimizer steps; 0: each epoch.
    #[arg(long, default_value_t = 0)]
    eval_every: usize,
    /// Linear warmup, in optimizer steps.
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// Train on the first N pairs only.
    #[arg(long)]
    limit: Option<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value_t = 512)]
    max_len: usize,
    /// The frozen base: `f32`, or kept in 5-bit blocks (`q5_0`, `q5_1`, `q5_k`) as QLoRA does.
    #[arg(long, default_value = "f32")]
    base: String,
    /// Adapter output folder (`step_N/`, `final/`).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Peak resident set size in MiB (Linux `VmHWM`), if known.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: f64 = status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn write_jsonl(path: &std::path::Path, pairs: &[llama_extract::train::sft::SftPair]) -> std::io::Result<()> {
    let text: String = pairs.iter().map(|p| serde_json::to_string(p).expect("plain strings") + "\n").collect();
    std::fs::write(path, text)
}

fn accuracy(
    model: &QuantLlama,
    tok: &LlamaTokenizer,
    pairs: &[llama_extract::train::sft::SftPair],
) -> Result<(usize, usize), Box<dyn std::error::Error>> {
    let (mut right, mut total) = (0, 0);
    for p in pairs {
        let ids = tok.encode_prompt(&p.chat(tok))?;
        let mut session = QuantSession::new(model, ids.len() + 48);
        let out = generate(
            &mut session,
            tok,
            &ids,
            &GenerateOptions { max_new_tokens: 40, ..Default::default() },
            &mut |_, _| true,
        )?;
        let (r, t) = field_accuracy(&p.response, &out.text);
        right += r;
        total += t;
    }
    Ok((right, total))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    if let Some(dir) = &a.demo_data {
        std::fs::create_dir_all(dir)?;
        write_jsonl(&dir.join("train.jsonl"), &synthetic_pairs(160, 1))?;
        write_jsonl(&dir.join("eval.jsonl"), &synthetic_pairs(40, 2))?;
        eprintln!("wrote {0}/train.jsonl (160) and {0}/eval.jsonl (40): synthetic, for demonstration", dir.display());
        return Ok(());
    }
    let (model_path, train_path, eval_path, out) = match (&a.model, &a.train, &a.eval, &a.out) {
        (Some(m), Some(t), Some(e), Some(o)) => (m, t, e, o),
        _ => return Err("give --model, --train, --eval and --out (or --demo-data DIR)".into()),
    };
    let source = ModelSource::open(model_path)?;
    let (llama_config, tok, weights) = (source.config()?, source.tokenizer()?, source.weights());
    let (mut train_pairs, eval_pairs) = (read_pairs(train_path)?, read_pairs(eval_path)?);
    train_pairs.truncate(a.limit.unwrap_or(usize::MAX));
    let encode = |pairs: &[llama_extract::train::sft::SftPair]| -> Result<Vec<EncodedPair>, llama_extract::LlamaError> {
        pairs.iter().map(|p| encode_pair(&tok, p, a.max_len)).collect()
    };
    let (train, eval) = (encode(&train_pairs)?, encode(&eval_pairs)?);
    let targets: Vec<&str> = a.targets.split(',').map(str::trim).collect();
    let mut config = LoraConfig::new(a.rank, a.alpha, &targets);
    config.base_model_name_or_path = model_path.file_name().map(|n| n.to_string_lossy().into_owned());

    let device = Default::default();
    let mut model = match a.base.as_str() {
        "f32" => BurnLlama::<Train>::from_weights(llama_config.clone(), &weights, &device)?,
        "q5_0" | "q5_1" | "q5_k" => {
            let t = match a.base.as_str() {
                "q5_0" => GgmlType::Q5_0,
                "q5_1" => GgmlType::Q5_1,
                _ => GgmlType::Q5_K,
            };
            BurnLlama::<Train>::from_weights_quantized(llama_config.clone(), &weights, t, &device)?
        }
        other => return Err(format!("--base {other}: expected f32, q5_0, q5_1 or q5_k").into()),
    };
    eprintln!("frozen base ({}): {:.1} MiB", a.base, model.frozen_bytes() as f64 / (1024.0 * 1024.0));
    <Train as burn::tensor::backend::Backend>::seed(&device, a.seed);
    let attached = model.attach_lora(&config, &device);
    let (trainable, total) = model.parameter_counts();
    eprintln!(
        "{attached} adapters; trainable {trainable} of {total} parameters ({:.3} %)",
        100.0 * trainable as f64 / total as f64
    );
    let cfg = SftConfig {
        epochs: a.epochs,
        lr: a.lr,
        grad_accum: a.grad_accum,
        seed: a.seed,
        eval_every: a.eval_every,
        warmup_steps: a.warmup,
        ..SftConfig::default()
    };
    let bar = ProgressBar::new(0);
    bar.set_style(ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")?);
    // A bar on a terminal; a line per step where stderr is a log file (the bar would draw
    // nothing there, and a long run would leave no trace of its progress).
    let log_lines = !std::io::stderr().is_terminal();
    let mut observer = |e: &SftEvent| match *e {
        SftEvent::Step { step, total_steps, loss, lr, tokens_per_s, .. } => {
            bar.set_length(total_steps as u64);
            bar.set_position(step as u64);
            bar.set_message(format!("loss {loss:.3} lr {lr:.1e} {tokens_per_s:.0} tok/s"));
            if log_lines {
                eprintln!("step {step}/{total_steps}: loss {loss:.4} lr {lr:.2e} {tokens_per_s:.0} tok/s");
            }
        }
        SftEvent::Eval { step, loss } if log_lines => eprintln!("step {step}: eval loss {loss:.4}"),
        SftEvent::Eval { step, loss } => bar.println(format!("step {step}: eval loss {loss:.4}")),
    };
    let (_, report) = finetune(model, &config, &train, &eval, &cfg, Some(out), &mut observer, &device)?;
    bar.finish_and_clear();
    let (first, last) = (report.eval[0].1, report.eval.last().map_or(f64::NAN, |e| e.1));
    let train_peak = peak_rss_mib();
    println!(
        "held-out loss per response token: base {first:.4} → fine-tuned {last:.4} ({} steps, {:.0} s, peak RSS {:.0} MiB)",
        report.steps,
        report.seconds,
        train_peak.unwrap_or(f64::NAN)
    );

    // Written now and again below, so a run stopped during the accuracy pass keeps its report.
    std::fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "report": report, "base": a.base, "peak_rss_mib_training": train_peak, "trainable": trainable, "total": total,
        }))?,
    )?;
    // Field accuracy, served as in deployment: quantized weights plus the adapter unmerged.
    let mut served = QuantLlama::from_weights(llama_config, &weights, WeightFormat::AsLoaded)?.with_threads(2)?;
    let (r0, t0) = accuracy(&served, &tok, &eval_pairs)?;
    served.apply_adapter(&LoraAdapter::load(out.join("final"))?)?;
    let (r1, t1) = accuracy(&served, &tok, &eval_pairs)?;
    println!("held-out exact fields: base {r0}/{t0} → fine-tuned {r1}/{t1}");
    std::fs::write(
        out.join("report.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "report": report, "base": a.base, "peak_rss_mib_training": train_peak, "fields_base": [r0, t0], "fields_finetuned": [r1, t1], "trainable": trainable, "total": total,
        }))?,
    )?;
    Ok(())
}
