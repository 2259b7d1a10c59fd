//! Fits the feeling check (`llama_extract::extract::feeling`) to a model and adapter, and
//! measures it on clauses it was not fitted to.
//!
//! ```sh
//! cargo run --release -p llama-extract --example feeling_check -- \
//!     --model .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf \
//!     --adapter examples/data/adapters/smollm2-135m-extraction [--save]
//! ```
//!
//! The clause sets (`label<TAB>clause`) are written by `scripts/make-feeling-sets.py`. With
//! `--save` the check is written into the adapter folder (`feeling_check.safetensors`), where
//! `extract --adapter` and `analyze --adapter` find it.

use std::path::{Path, PathBuf};

use clap::Parser;
use llama_extract::extract::feeling::{self, DEFAULT_PROMPT, FeelingCheck, FitOptions};
use llama_extract::extract::schema::EmotionLabel;
use llama_extract::runtime::weights::ModelSource;
use llama_extract::{LanguageModel, LlamaTokenizer, QuantLlama, QuantSession, WeightFormat};

#[derive(Parser)]
struct Args {
    /// GGUF file or HF checkpoint folder.
    #[arg(long)]
    model: PathBuf,
    /// The LoRA adapter the extraction runs with (the check reads that model's hidden states).
    #[arg(long)]
    adapter: PathBuf,
    #[arg(long, default_value = "examples/data/extraction/feelings/train.tsv")]
    train: PathBuf,
    #[arg(long, default_value = "examples/data/extraction/feelings/heldout.tsv")]
    heldout: PathBuf,
    /// Hidden state after this block (the number of blocks: the final, normed state).
    #[arg(long)]
    layer: Option<usize>,
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Write the check into the adapter folder.
    #[arg(long)]
    save: bool,
}

type Example = (Option<EmotionLabel>, String);

fn read_set(path: &Path) -> Result<Vec<Example>, Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, line)| {
            let (label, clause) =
                line.split_once('\t').ok_or_else(|| format!("{}:{}: no tab", path.display(), n + 1))?;
            let label = feeling::parse_label(label)
                .ok_or_else(|| format!("{}:{}: unknown label {label:?}", path.display(), n + 1))?;
            Ok((label, clause.to_string()))
        })
        .collect()
}

/// Each clause's hidden state, asked as the extractor asks ([`feeling::clause_prompt`], the
/// shared part of the prompt computed once).
fn hidden_states(
    session: &mut QuantSession<'_>,
    tokenizer: &LlamaTokenizer,
    layer: usize,
    set: &[Example],
) -> Result<Vec<(Option<EmotionLabel>, Vec<f32>)>, Box<dyn std::error::Error>> {
    set.iter()
        .map(|(label, clause)| {
            let p = feeling::clause_prompt(tokenizer, DEFAULT_PROMPT, clause)?;
            let hidden = session.hidden_state(&p.shared, &p.own, layer)?.ok_or("no hidden states")?;
            Ok((*label, hidden))
        })
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let source = ModelSource::open(&a.model)?;
    let tokenizer = source.tokenizer()?;
    let mut model = QuantLlama::from_weights(source.config()?, &source.weights(), WeightFormat::AsLoaded)?
        .with_threads(a.threads)?;
    model.apply_adapter(&lora::LoraAdapter::load(&a.adapter)?)?;
    let layer = a.layer.unwrap_or(model.blocks().len());
    let (train, heldout) = (read_set(&a.train)?, read_set(&a.heldout)?);
    let t = std::time::Instant::now();
    let mut session = QuantSession::new(&model, 512);
    let train_x = hidden_states(&mut session, &tokenizer, layer, &train)?;
    let heldout_x = hidden_states(&mut session, &tokenizer, layer, &heldout)?;
    eprintln!("hidden states of {} clauses in {:.1} s", train.len() + heldout.len(), t.elapsed().as_secs_f64());
    let check = FeelingCheck::fit(&train_x, DEFAULT_PROMPT, layer, FitOptions::default())?;
    let mut right = [0usize; 2];
    let mut feelings = [0usize; 2];
    for ((label, clause), (_, x)) in heldout.iter().zip(&heldout_x) {
        let v = check.classify(x)?;
        let said = v.label.filter(|_| v.probability >= check.min_probability);
        let ok = said == *label;
        right[ok as usize] += 1;
        if label.is_some() {
            feelings[ok as usize] += 1;
        }
        if !ok {
            println!(
                "{:>12} read as {:>12} ({:.2}): {clause}",
                feeling::label_name(*label),
                feeling::label_name(v.label),
                v.probability
            );
        }
    }
    let share = |c: [usize; 2]| c[1] as f64 / (c[0] + c[1]).max(1) as f64;
    println!(
        "layer {layer}: held-out clauses {}/{} right ({:.3}); feeling clauses {}/{} ({:.3})",
        right[1],
        right[0] + right[1],
        share(right),
        feelings[1],
        feelings[0] + feelings[1],
        share(feelings)
    );
    if a.save {
        check.save(&a.adapter)?;
        println!("wrote {}", a.adapter.join(feeling::FILE_NAME).display());
    }
    Ok(())
}
