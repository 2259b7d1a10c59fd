//! Trains an emotion model on RAVDESS (its own folder layout) or a manifest of feature/audio
//! files, and writes model folders plus a report.
//!
//! ```text
//! cargo run --release -p ser-bilstm --example train -- \
//!     --ravdess ~/data/Audio_Speech_Actors_01-24 | --manifest train.tsv \
//!     --features custom|e2v|logmel --model bilstm|base|temporal \
//!     --split reference|speaker|kfold:5 --out runs/bilstm-custom
//! ```
//!
//! Output (per fold for k-fold, in `fold_K/`): `best/` and `last/` model folders (for
//! `predict`), `checkpoints/` (resume state), `report.json` (config, every epoch, best and
//! last evaluation), `confusion.csv` and `confusion.txt` (best model). `--resume` continues
//! from `checkpoints/last`; without it an existing run is never touched.
//!
//! The reference picks its best epoch *on the test set*; `best/` does the same (for parity),
//! so report `last/` for an unbiased number on speaker-independent splits.

use std::path::{Path, PathBuf};

use burn::module::Module;
use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use ser_bilstm::data::{AudioPrep, FeatureKind, FeatureSet, Split, VocalChannel, read_manifest, scan_ravdess};
use ser_bilstm::saved::save_model_dir;
use ser_bilstm::train::{CheckpointDir, Flow, OptimizerKind, Resume, ScheduleConfig, TrainConfig, TrainEvent, train};
use ser_bilstm::{
    AnyModel, Architecture, CpuTrainBackend, EMOTIONS, ModelSpec, ReferenceQuirks, StandardScaler, TemporalConfig,
};

#[derive(Parser)]
struct Args {
    /// RAVDESS folder (speech; add --song for song).
    #[arg(long, conflicts_with = "manifest", required_unless_present = "manifest")]
    ravdess: Option<PathBuf>,
    /// Manifest: `path<TAB>label[<TAB>speaker]` per line.
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// custom, logmel or e2v.
    #[arg(long, default_value = "custom")]
    features: String,
    /// bilstm, base or temporal.
    #[arg(long, default_value = "bilstm")]
    model: String,
    /// reference, speaker, speaker:ID,ID, kfold:K or kfold:K:FOLD.
    #[arg(long, default_value = "reference")]
    split: String,
    #[arg(long)]
    out: PathBuf,
    #[arg(long, default_value_t = 60)]
    epochs: usize,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// adam, adamw or sgd.
    #[arg(long, default_value = "adam")]
    optimizer: String,
    #[arg(long, default_value_t = 1e-6)]
    weight_decay: f64,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// warmup-cosine (reference) or cosine (CosineAnnealingLR, T_max = 1.2 × epochs).
    #[arg(long, default_value = "warmup-cosine")]
    schedule: String,
    #[arg(long, default_value_t = 5)]
    warmup_epochs: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Reproduce the reference's quirks (batch-as-time LSTM in training, lr = max on batch 0).
    #[arg(long)]
    reference_quirks: bool,
    /// Continue from OUT/checkpoints/last (the config must match).
    #[arg(long)]
    resume: bool,
    /// Keep the first N seconds of audio (0 = all).
    #[arg(long, default_value_t = 3.0)]
    max_seconds: f64,
    /// Normalise audio to −20 dB mean power first.
    #[arg(long)]
    db_normalize: bool,
    /// Include RAVDESS song files.
    #[arg(long)]
    song: bool,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = Args::parse();
    let features = FeatureKind::parse(&a.features)?;
    let architecture = Architecture::parse(&a.model)?;
    let split = Split::parse(&a.split)?;
    let prep = AudioPrep { max_seconds: (a.max_seconds > 0.0).then_some(a.max_seconds), db_normalize: a.db_normalize };
    let utterances = match (&a.ravdess, &a.manifest) {
        (Some(dir), _) => {
            let channels: &[VocalChannel] =
                if a.song { &[VocalChannel::Speech, VocalChannel::Song] } else { &[VocalChannel::Speech] };
            scan_ravdess(dir, channels)?
        }
        (None, Some(m)) => read_manifest(m)?,
        (None, None) => return Err("give --ravdess or --manifest".into()),
    };
    eprintln!("{} utterances; extracting {:?} features", utterances.len(), features);
    let mut all = FeatureSet::load(&utterances, features, &prep)?;
    if architecture != Architecture::Temporal {
        all = all.pooled();
    }
    let schedule = match a.schedule.as_str() {
        "warmup-cosine" => ScheduleConfig::WarmupCosine { min_lr: 1e-5, max_lr: a.lr, warmup_epochs: a.warmup_epochs },
        "cosine" => {
            ScheduleConfig::Cosine { base_lr: a.lr, eta_min: 0.0, t_max_epochs: (1.2 * a.epochs as f64) as usize }
        }
        other => return Err(format!("--schedule {other:?}: expected warmup-cosine or cosine").into()),
    };
    let config = TrainConfig {
        epochs: a.epochs,
        batch_size: a.batch_size,
        optimizer: OptimizerKind::parse(&a.optimizer, a.weight_decay)?,
        schedule,
        seed: a.seed,
        quirks: if a.reference_quirks { ReferenceQuirks::REFERENCE } else { ReferenceQuirks::NONE },
        eval_batch_size: 64,
    };
    let spec = ModelSpec {
        architecture,
        features,
        input_dim: features.dim(),
        class_names: EMOTIONS.iter().map(|s| s.to_string()).collect(),
        prep,
        temporal: (architecture == Architecture::Temporal).then(|| TemporalConfig::new(features.dim(), EMOTIONS.len())),
    };
    // `kfold:K` runs every fold; `kfold:K:FOLD` only that one.
    let every_fold = a.split.starts_with("kfold:") && a.split.matches(':').count() == 1;
    let folds: Vec<(Split, PathBuf)> = match split {
        Split::KFold { k, .. } if every_fold => {
            (0..k).map(|fold| (Split::KFold { k, fold }, a.out.join(format!("fold_{fold}")))).collect()
        }
        s => vec![(s, a.out.clone())],
    };
    let (mut correct, mut total) = (0, 0);
    for (split, out) in &folds {
        let indices = split.apply(&utterances)?;
        let (c, n) = run_fold(&all, &indices.train, &indices.test, &spec, &config, out, a.resume)?;
        correct += c;
        total += n;
    }
    if folds.len() > 1 {
        println!(
            "pooled over {} folds (last epoch): {correct}/{total} = {:.5}",
            folds.len(),
            correct as f64 / total as f64
        );
    }
    Ok(())
}

fn run_fold(
    all: &FeatureSet,
    train_idx: &[usize],
    test_idx: &[usize],
    spec: &ModelSpec,
    config: &TrainConfig,
    out: &Path,
    resume: bool,
) -> Result<(usize, usize), Box<dyn std::error::Error>> {
    let checkpoints = out.join("checkpoints");
    if !resume && checkpoints.join("last").exists() {
        return Err(
            format!("{} holds a run; pass --resume to continue it or choose another --out", out.display()).into()
        );
    }
    let (mut train_set, mut test_set) = (all.subset(train_idx), all.subset(test_idx));
    // The scaler sees training features only.
    let scaler: StandardScaler = train_set.fit_scaler()?;
    train_set.standardize(&scaler)?;
    test_set.standardize(&scaler)?;
    eprintln!("{}: {} train / {} test", out.display(), train_set.examples.len(), test_set.examples.len());

    let device = Default::default();
    <CpuTrainBackend as burn::tensor::backend::Backend>::seed(&device, config.seed);
    let model = AnyModel::<CpuTrainBackend>::new(spec, &device);
    eprintln!("{:?}: {} parameters", spec.architecture, model.num_params());
    let bar = ProgressBar::new(0);
    bar.set_style(ProgressStyle::with_template("epoch {prefix} {bar:30} {pos}/{len} {msg}")?);
    let mut observer = |e: TrainEvent<'_>| match e {
        TrainEvent::EpochStart { epoch, batches } => {
            bar.reset();
            bar.set_length(batches as u64);
            bar.set_prefix(format!("{epoch}/{}", config.epochs));
            Flow::Continue
        }
        TrainEvent::Batch { loss, lr, .. } => {
            bar.inc(1);
            bar.set_message(format!("loss {loss:.4} lr {lr:.2e}"));
            Flow::Continue
        }
        TrainEvent::EpochEnd(r) => {
            bar.println(format!(
                "epoch {:3}: train loss {:.4}, test loss {:.4}, accuracy {}, macro-F1 {:.3}{}",
                r.epoch,
                r.train_loss,
                r.eval.loss,
                r.eval.accuracy,
                r.eval.macro_f1,
                if r.is_best { " *" } else { "" }
            ));
            Flow::Continue
        }
    };
    let resume_from = resume.then(|| Resume(checkpoints.clone()));
    let outcome = train(
        model,
        &train_set,
        &test_set,
        &spec.class_names,
        config,
        Some(&CheckpointDir(checkpoints)),
        resume_from.as_ref(),
        &mut observer,
        &device,
    )?;
    bar.finish_and_clear();
    save_model_dir(out.join("best"), spec, &outcome.best, &scaler)?;
    save_model_dir(out.join("last"), spec, &outcome.last, &scaler)?;
    let best = ser_bilstm::train::evaluate(&outcome.best, &test_set, &spec.class_names, 64, &device.clone())?;
    let last = outcome.history.last().ok_or("no epochs ran")?.eval.clone();
    std::fs::write(out.join("confusion.csv"), best.confusion.to_csv())?;
    std::fs::write(out.join("confusion.txt"), best.confusion.to_table())?;
    let report = serde_json::json!({
        "spec": spec, "config": config, "train_items": train_set.examples.len(), "test_items": test_set.examples.len(),
        "best_epoch": outcome.best_epoch, "best": best, "last": last, "history": outcome.history,
    });
    std::fs::write(out.join("report.json"), serde_json::to_string_pretty(&report)?)?;
    println!(
        "{}: best epoch {} accuracy {} (selected on the test set), last epoch {} macro-F1 {:.3}",
        out.display(),
        outcome.best_epoch,
        best.accuracy,
        last.accuracy,
        last.macro_f1
    );
    println!("{}", best.confusion.to_table());
    Ok((last.accuracy.correct, last.accuracy.total))
}
