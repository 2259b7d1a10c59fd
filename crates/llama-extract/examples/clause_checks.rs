//! Fits the clause checks (`llama_extract::extract::clause_check`: feeling and topic) to a model
//! and adapter, and measures them on clauses they were not fitted to.
//!
//! ```sh
//! cargo run --release -p llama-extract --example clause_checks -- \
//!     --model .cache/models/SmolLM2-135M-Instruct.Q4_1.gguf \
//!     --adapter examples/data/adapters/smollm2-135m-extraction [--save]
//! ```
//!
//! The clause sets (`label<TAB>clause`) are written by `scripts/make-clause-sets.py`. With
//! `--save` the checks are written into the adapter folder (`feeling_check.safetensors`,
//! `topic_check.safetensors`), where `extract --adapter` and `analyze --adapter` find them.

use std::path::{Path, PathBuf};

use clap::Parser;
use llama_extract::extract::clause_check::{
    self, CheckLabel, ClauseCheck, ClauseQuestion, FEELING_FILE, FEELING_PROMPT, FitOptions, TOPIC_FILE, TOPIC_PROMPT,
};
use llama_extract::extract::schema::{EmotionLabel, TopicCategory};
use llama_extract::runtime::weights::ModelSource;
use llama_extract::{LanguageModel, LlamaTokenizer, QuantLlama, QuantSession, WeightFormat};

#[derive(Parser)]
struct Args {
    /// GGUF file or HF checkpoint folder.
    #[arg(long)]
    model: PathBuf,
    /// The LoRA adapter the extraction runs with (the checks read that model's hidden states).
    #[arg(long)]
    adapter: PathBuf,
    /// Folder of `{feeling,topic}-{train,heldout}.tsv`.
    #[arg(long, default_value = "examples/data/extraction/clauses")]
    sets: PathBuf,
    /// Hidden state after this block (default: the number of blocks, the final normed state).
    #[arg(long)]
    layer: Option<usize>,
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Write the checks into the adapter folder.
    #[arg(long)]
    save: bool,
}

type Error = Box<dyn std::error::Error>;
/// Labelled clauses (`None`: no label), and the same with their hidden states.
type Clauses<L> = Vec<(Option<L>, String)>;
type States<L> = Vec<(Option<L>, Vec<f32>)>;

fn read_set<L: CheckLabel>(path: &Path) -> Result<Clauses<L>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, line)| {
            let (label, clause) =
                line.split_once('\t').ok_or_else(|| format!("{}:{}: no tab", path.display(), n + 1))?;
            let label = clause_check::parse_label(label)
                .ok_or_else(|| format!("{}:{}: unknown label {label:?}", path.display(), n + 1))?;
            Ok((label, clause.to_string()))
        })
        .collect()
}

/// Fits one check on `<name>-train.tsv`, prints its misses on `<name>-heldout.tsv` and its
/// held-out accuracy, and saves it as `file` with `--save`. Each clause is asked as the
/// extractor asks it ([`ClauseQuestion`], the shared part computed once).
fn fit_one<L: CheckLabel>(
    a: &Args,
    session: &mut QuantSession<'_>,
    tokenizer: &LlamaTokenizer,
    (name, prompt, file, layer): (&str, &str, &str, usize),
) -> Result<(), Error> {
    let t = std::time::Instant::now();
    let question = ClauseQuestion::new(tokenizer, prompt)?;
    let mut hidden = |set: &[(Option<L>, String)]| -> Result<States<L>, Error> {
        set.iter()
            .map(|(label, clause)| {
                let own = question.own(tokenizer, clause)?;
                let h =
                    session.hidden_state(&question.shared, &own, layer)?.ok_or("the model gives no hidden states")?;
                Ok((*label, h))
            })
            .collect()
    };
    let train: Clauses<L> = read_set(&a.sets.join(format!("{name}-train.tsv")))?;
    let heldout: Clauses<L> = read_set(&a.sets.join(format!("{name}-heldout.tsv")))?;
    let (train_x, heldout_x) = (hidden(&train)?, hidden(&heldout)?);
    let check = ClauseCheck::fit(&train_x, prompt, layer, FitOptions::default())?;
    let (mut right, mut labelled, mut labelled_right) = (0, 0, 0);
    for ((label, clause), (_, x)) in heldout.iter().zip(&heldout_x) {
        let v = check.classify(x)?;
        let said = v.label.filter(|_| v.probability >= check.min_probability);
        right += usize::from(said == *label);
        labelled += usize::from(label.is_some());
        labelled_right += usize::from(label.is_some() && said == *label);
        if said != *label {
            let (want, got) = (clause_check::label_name(*label), clause_check::label_name(v.label));
            println!("{name}: {want:>16} read as {got:>16} ({:.2}): {clause}", v.probability);
        }
    }
    println!(
        "{name} check, layer {layer}: held-out clauses {right}/{} right ({:.3}); labelled clauses {labelled_right}/{labelled} ({:.3}); {:.1} s",
        heldout.len(),
        right as f64 / heldout.len().max(1) as f64,
        labelled_right as f64 / labelled.max(1) as f64,
        t.elapsed().as_secs_f64()
    );
    if a.save {
        check.save(&a.adapter, file)?;
        println!("wrote {}", a.adapter.join(file).display());
    }
    Ok(())
}

fn main() -> Result<(), Error> {
    let a = Args::parse();
    let source = ModelSource::open(&a.model)?;
    let tokenizer = source.tokenizer()?;
    let mut model = QuantLlama::from_weights(source.config()?, &source.weights(), WeightFormat::AsLoaded)?
        .with_threads(a.threads)?;
    model.apply_adapter(&lora::LoraAdapter::load(&a.adapter)?)?;
    let layer = a.layer.unwrap_or(model.blocks().len());
    let mut session = QuantSession::new(&model, 512);
    fit_one::<EmotionLabel>(&a, &mut session, &tokenizer, ("feeling", FEELING_PROMPT, FEELING_FILE, layer))?;
    fit_one::<TopicCategory>(&a, &mut session, &tokenizer, ("topic", TOPIC_PROMPT, TOPIC_FILE, layer))?;
    Ok(())
}
