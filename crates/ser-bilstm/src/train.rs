//! The training loop: optimizers, schedules, per-epoch evaluation, best-checkpoint keeping,
//! seeded determinism and explicit resumption.
//!
//! Defaults are the reference run behind Table 1 ([`TrainConfig::reference`]): Adam (ε 1e-8,
//! coupled L2 weight decay 1e-6, as `torch.optim.Adam`), batch 32, 60 epochs, warmup-cosine
//! 1e-5 → 1e-3 → 1e-5 with 5 warmup epochs, stepped per batch, cross-entropy on raw logits,
//! evaluation after every epoch, and the best model kept on `accuracy ≥ best` (ties go to the
//! later epoch, as the reference). Unlike the reference, nothing resumes silently: pass a
//! [`Resume`] to continue from a run's `last/` checkpoint.

use std::path::{Path, PathBuf};

use burn::module::{AutodiffModule, Module};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{Adam, AdamConfig, AdamW, AdamWConfig, GradientsParams, Optimizer, Sgd, SgdConfig};
use burn::record::{BinFileRecorder, FullPrecisionSettings, Recorder};
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{Device, ElementConversion};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::data::FeatureSet;
use crate::metrics::{Accuracy, ConfusionMatrix};
use crate::models::{Batch, EmotionModel, ForwardMode, InputKind, ReferenceQuirks};
use numeric::argmax;

use crate::{LrSchedule, SerError};

/// Which optimizer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum OptimizerKind {
    /// `torch.optim.Adam`: betas 0.9/0.999, ε 1e-8, weight decay added to the gradient (L2).
    Adam {
        /// L2 coefficient added to the gradient.
        weight_decay: f64,
    },
    /// `torch.optim.AdamW`: decoupled weight decay `θ ← θ(1 − lr·wd)`.
    AdamW {
        /// Decoupled decay per step (times the learning rate).
        weight_decay: f64,
    },
    /// `torch.optim.SGD` with momentum and dampening 0 (burn's default dampening is 0.1; it is
    /// set to PyTorch's here), coupled weight decay.
    Sgd {
        /// Momentum coefficient (0.9 from [`OptimizerKind::parse`]).
        momentum: f64,
        /// L2 coefficient added to the gradient.
        weight_decay: f64,
    },
}

impl OptimizerKind {
    /// Parses `adam`, `adamw` or `sgd` with the given weight decay (SGD momentum 0.9).
    pub fn parse(s: &str, weight_decay: f64) -> Result<Self, SerError> {
        match s {
            "adam" => Ok(Self::Adam { weight_decay }),
            "adamw" => Ok(Self::AdamW { weight_decay }),
            "sgd" => Ok(Self::Sgd { momentum: 0.9, weight_decay }),
            _ => Err(SerError::Config(format!("optimizer {s:?}: expected adam, adamw or sgd"))),
        }
    }
}

/// The learning-rate schedule in epoch units (turned into an [`LrSchedule`] once the number
/// of batches per epoch is known).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScheduleConfig {
    /// The reference's warmup-cosine; it ends at `min_lr` after the last epoch.
    WarmupCosine {
        /// Rate at the start and after the last epoch.
        min_lr: f64,
        /// Rate at the end of the warm-up.
        max_lr: f64,
        /// Epochs of linear warm-up.
        warmup_epochs: usize,
    },
    /// `CosineAnnealingLR` with `T_max = t_max_epochs` epochs of batches (the reference's
    /// alternative uses `int(1.2 · max_epoch)`).
    Cosine {
        /// Rate at the start.
        base_lr: f64,
        /// Rate after `t_max_epochs`.
        eta_min: f64,
        /// Half-period in epochs.
        t_max_epochs: usize,
    },
    /// A fixed rate.
    Constant {
        /// The rate.
        lr: f64,
    },
}

impl ScheduleConfig {
    /// The per-batch schedule for `epochs` epochs of `steps_per_epoch` batches.
    pub fn per_batch(&self, epochs: usize, steps_per_epoch: usize) -> LrSchedule {
        match *self {
            Self::WarmupCosine { min_lr, max_lr, warmup_epochs } => LrSchedule::WarmupCosine {
                min_lr,
                max_lr,
                warmup_steps: warmup_epochs * steps_per_epoch,
                total_steps: epochs * steps_per_epoch,
            },
            Self::Cosine { base_lr, eta_min, t_max_epochs } => {
                LrSchedule::CosineAnnealing { base_lr, eta_min, t_max: t_max_epochs * steps_per_epoch }
            }
            Self::Constant { lr } => LrSchedule::Constant { lr },
        }
    }
}

/// Everything that decides a training run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Passes over the training set.
    pub epochs: usize,
    /// Examples per optimizer step.
    pub batch_size: usize,
    /// Optimizer and weight decay.
    pub optimizer: OptimizerKind,
    /// Learning-rate schedule.
    pub schedule: ScheduleConfig,
    /// Seeds the shuffles, dropout masks and (through the caller) initialisation.
    pub seed: u64,
    /// Reference reproduction switches; off by default.
    pub quirks: ReferenceQuirks,
    /// Batch size for evaluation (results do not depend on it: samples are independent).
    pub eval_batch_size: usize,
}

impl TrainConfig {
    /// The reference run behind Table 1, without its quirks.
    pub fn reference() -> Self {
        Self {
            epochs: 60,
            batch_size: 32,
            optimizer: OptimizerKind::Adam { weight_decay: 1e-6 },
            schedule: ScheduleConfig::WarmupCosine { min_lr: 1e-5, max_lr: 1e-3, warmup_epochs: 5 },
            seed: 0,
            quirks: ReferenceQuirks::NONE,
            eval_batch_size: 64,
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self::reference()
    }
}

/// Evaluation of a model on a feature set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// Correct predictions of total.
    pub accuracy: Accuracy,
    /// Mean cross-entropy per example.
    pub loss: f64,
    /// Unweighted mean of the per-class F1 scores.
    pub macro_f1: f64,
    /// Per-class recall (`None` for a class absent from the set).
    pub recall: Vec<Option<f64>>,
    /// Counts of (true, predicted) classes.
    pub confusion: ConfusionMatrix,
}

/// One epoch's numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    /// 1-based.
    pub epoch: usize,
    /// Mean training loss over the epoch's batches.
    pub train_loss: f64,
    /// Learning rate of the epoch's last batch.
    pub lr: f64,
    /// Evaluation on the evaluation set after the epoch.
    pub eval: EvalReport,
    /// Whether this epoch became the kept best.
    pub is_best: bool,
}

/// What the loop reports as it goes (for progress bars and logs).
#[derive(Debug, Clone)]
pub enum TrainEvent<'a> {
    /// An epoch begins.
    EpochStart {
        /// 1-based epoch.
        epoch: usize,
        /// Batches it will run.
        batches: usize,
    },
    /// A batch was trained.
    Batch {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based batch within the epoch.
        batch: usize,
        /// Its mean loss.
        loss: f64,
        /// The learning rate it used.
        lr: f64,
    },
    /// An epoch ended, with its numbers.
    EpochEnd(&'a EpochReport),
}

/// Where checkpoints go: `best/model.safetensors` (PyTorch names) with `best/state.json`, and
/// `last/` with everything needed to resume (burn records with parameter ids, optimizer state,
/// `state.json`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointDir(pub PathBuf);

/// A request to continue a run from `dir/last/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resume(pub PathBuf);

/// Saved with every checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Epochs completed.
    pub epoch: usize,
    /// Global batches completed.
    pub step: usize,
    /// The epoch of the kept best model (0 before the first).
    pub best_epoch: usize,
    /// Its accuracy.
    pub best_accuracy: Option<Accuracy>,
    /// The run's configuration.
    pub config: TrainConfig,
    /// Every completed epoch's numbers.
    pub history: Vec<EpochReport>,
}

/// The result of [`train`].
#[derive(Debug)]
pub struct TrainOutcome<M> {
    /// The model after the last epoch.
    pub last: M,
    /// The kept best model (highest accuracy, later epoch on ties).
    pub best: M,
    /// The epoch `best` comes from.
    pub best_epoch: usize,
    /// Every epoch's numbers.
    pub history: Vec<EpochReport>,
}

/// Whether training goes on after an event (return [`Flow::Stop`] from the observer to end the
/// run after the current epoch's checkpoint, e.g. for early stopping or an interrupt).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on training.
    Continue,
    /// End the run after the current epoch.
    Stop,
}

/// One of the three optimizers, configured as PyTorch's (see [`OptimizerKind`]).
pub enum ConfiguredOptimizer<M: AutodiffModule<B>, B: AutodiffBackend> {
    /// Adam with coupled L2 weight decay.
    Adam(OptimizerAdaptor<Adam, M, B>),
    /// AdamW with decoupled weight decay.
    AdamW(OptimizerAdaptor<AdamW, M, B>),
    /// SGD with momentum.
    Sgd(OptimizerAdaptor<Sgd<B::InnerBackend>, M, B>),
}

impl<M: AutodiffModule<B>, B: AutodiffBackend> ConfiguredOptimizer<M, B> {
    /// Builds the optimizer `kind` describes.
    pub fn new(kind: OptimizerKind) -> Self {
        let decay = |wd: f64| (wd > 0.0).then(|| WeightDecayConfig::new(wd as f32));
        match kind {
            OptimizerKind::Adam { weight_decay } => {
                Self::Adam(AdamConfig::new().with_epsilon(1e-8).with_weight_decay(decay(weight_decay)).init())
            }
            OptimizerKind::AdamW { weight_decay } => {
                Self::AdamW(AdamWConfig::new().with_epsilon(1e-8).with_weight_decay(weight_decay as f32).init())
            }
            OptimizerKind::Sgd { momentum, weight_decay } => Self::Sgd(
                SgdConfig::new()
                    .with_momentum(Some(MomentumConfig { momentum, dampening: 0.0, nesterov: false }))
                    .with_weight_decay(decay(weight_decay))
                    .init(),
            ),
        }
    }

    /// One update with learning rate `lr`.
    pub fn step(&mut self, lr: f64, model: M, grads: GradientsParams) -> M {
        match self {
            Self::Adam(o) => o.step(lr, model, grads),
            Self::AdamW(o) => o.step(lr, model, grads),
            Self::Sgd(o) => o.step(lr, model, grads),
        }
    }

    fn save(&self, path: &Path) -> Result<(), SerError> {
        let recorder = BinFileRecorder::<FullPrecisionSettings>::new();
        let r = match self {
            Self::Adam(o) => recorder.record(o.to_record(), path.into()),
            Self::AdamW(o) => recorder.record(o.to_record(), path.into()),
            Self::Sgd(o) => recorder.record(o.to_record(), path.into()),
        };
        r.map_err(|e| SerError::Checkpoint(format!("{}: {e}", path.display())))
    }

    fn load(self, path: &Path, device: &Device<B>) -> Result<Self, SerError> {
        let recorder = BinFileRecorder::<FullPrecisionSettings>::new();
        let err = |e: burn::record::RecorderError| SerError::Checkpoint(format!("{}: {e}", path.display()));
        Ok(match self {
            Self::Adam(o) => Self::Adam(o.load_record(recorder.load(path.into(), device).map_err(err)?)),
            Self::AdamW(o) => Self::AdamW(o.load_record(recorder.load(path.into(), device).map_err(err)?)),
            Self::Sgd(o) => Self::Sgd(o.load_record(recorder.load(path.into(), device).map_err(err)?)),
        })
    }
}

/// Batches of `set` in `order`.
fn batches<'a>(
    set: &'a FeatureSet,
    order: &'a [usize],
    size: usize,
) -> impl Iterator<Item = Vec<(&'a [f32], usize)>> + 'a {
    order.chunks(size.max(1)).map(move |chunk| {
        chunk
            .iter()
            .map(|&i| {
                let e = &set.examples[i];
                (e.values.as_slice(), e.label)
            })
            .collect()
    })
}

/// Checks that `set` can feed `model`.
pub fn check_compatible<B: Backend, M: EmotionModel<B>>(model: &M, set: &FeatureSet) -> Result<(), SerError> {
    if set.dim != model.input_dim() {
        return Err(SerError::Data(format!("features are {}-d, the model reads {}-d", set.dim, model.input_dim())));
    }
    if model.input_kind() == InputKind::Utterance && !set.is_utterance_level() {
        return Err(SerError::Data("an utterance-level model needs one vector per utterance (pool the frames)".into()));
    }
    if let Some(e) = set.examples.iter().find(|e| e.label >= model.num_classes()) {
        return Err(SerError::Data(format!(
            "{}: label {} ≥ the model's {} classes",
            e.source,
            e.label,
            model.num_classes()
        )));
    }
    if set.examples.is_empty() {
        return Err(SerError::Data("no examples".into()));
    }
    Ok(())
}

/// Evaluates `model` on `set`: independent samples, no dropout.
pub fn evaluate<B: Backend, M: EmotionModel<B>>(
    model: &M,
    set: &FeatureSet,
    class_names: &[impl AsRef<str>],
    batch_size: usize,
    device: &Device<B>,
) -> Result<EvalReport, SerError> {
    check_compatible(model, set)?;
    let order: Vec<usize> = (0..set.examples.len()).collect();
    let mut confusion = ConfusionMatrix::new(class_names);
    let mut loss_sum = 0.0;
    for examples in batches(set, &order, batch_size) {
        let batch = Batch::from_examples(&examples, set.dim, device)?;
        let logits = model.logits(&batch, ForwardMode::Independent);
        let log_probs = burn::tensor::activation::log_softmax(logits, 1);
        let values = log_probs.into_data().to_vec::<f32>().map_err(|e| SerError::Data(format!("{e:?}")))?;
        let c = model.num_classes();
        for (row, (_, label)) in values.chunks_exact(c).zip(&examples) {
            let predicted = argmax(row);
            loss_sum -= row[*label] as f64;
            confusion.add(*label, predicted);
        }
    }
    let n = set.examples.len();
    Ok(EvalReport {
        accuracy: confusion.accuracy(),
        loss: loss_sum / n as f64,
        macro_f1: confusion.macro_f1(),
        recall: confusion.recall(),
        confusion,
    })
}

fn write_json(path: &Path, value: &impl Serialize) -> Result<(), SerError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| SerError::Checkpoint(e.to_string()))?;
    std::fs::write(path, text).map_err(|e| SerError::io(path, e))
}

fn create_dir(path: &Path) -> Result<(), SerError> {
    std::fs::create_dir_all(path).map_err(|e| SerError::io(path, e))
}

/// Trains `model` on `train_set`, evaluating on `eval_set` after every epoch.
///
/// Deterministic for a given seed: epoch `e`'s shuffle and dropout masks are seeded from
/// `(seed, e)`, so a resumed run continues exactly as an uninterrupted one would. burn's CPU
/// random generator is process-global, so two runs training concurrently in one process
/// disturb each other's dropout masks; run them one after the other for reproducibility.
// ~90 lines: the epoch loop kept whole — the model moves through the optimizer by value every
// batch, and evaluation, best-model bookkeeping and checkpoints read the same run state.
#[allow(clippy::too_many_arguments)]
pub fn train<B, M>(
    mut model: M,
    train_set: &FeatureSet,
    eval_set: &FeatureSet,
    class_names: &[impl AsRef<str>],
    config: &TrainConfig,
    checkpoints: Option<&CheckpointDir>,
    resume: Option<&Resume>,
    observer: &mut dyn FnMut(TrainEvent<'_>) -> Flow,
    device: &Device<B>,
) -> Result<TrainOutcome<M::InnerModule>, SerError>
where
    B: AutodiffBackend,
    M: EmotionModel<B> + AutodiffModule<B>,
    M::InnerModule: EmotionModel<B::InnerBackend>,
{
    check_compatible(&model, train_set)?;
    check_compatible(&model, eval_set)?;
    if config.batch_size == 0 || config.epochs == 0 {
        return Err(SerError::Config("batch size and epochs must be positive".into()));
    }
    let steps_per_epoch = train_set.examples.len().div_ceil(config.batch_size);
    let schedule = config.schedule.per_batch(config.epochs, steps_per_epoch);
    let mode = if config.quirks.batch_as_time { ForwardMode::BatchAsTime } else { ForwardMode::Independent };
    let mut optimizer = ConfiguredOptimizer::<M, B>::new(config.optimizer);
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let eval_device = device.clone();

    let mut state =
        RunState { epoch: 0, step: 0, best_epoch: 0, best_accuracy: None, config: *config, history: Vec::new() };
    let mut best: Option<M::InnerModule> = None;
    if let Some(Resume(dir)) = resume {
        (model, optimizer, best, state) = resume_from(dir, config, model, optimizer, device)?;
    }

    for epoch in state.epoch + 1..=config.epochs {
        B::seed(device, config.seed.wrapping_mul(0x9e37_79b9).wrapping_add(epoch as u64));
        let mut order: Vec<usize> = (0..train_set.examples.len()).collect();
        order.shuffle(&mut StdRng::seed_from_u64(config.seed ^ ((epoch as u64) << 32)));
        let mut stop = observer(TrainEvent::EpochStart { epoch, batches: steps_per_epoch }) == Flow::Stop;
        let (mut loss_sum, mut lr) = (0.0, 0.0);
        for (b, examples) in batches(train_set, &order, config.batch_size).enumerate() {
            let batch = Batch::from_examples(&examples, train_set.dim, device)?;
            let logits = model.logits(&batch, mode);
            let loss = loss_fn.forward(logits, batch.labels.clone());
            let loss_value = loss.clone().into_scalar().elem::<f64>();
            if !loss_value.is_finite() {
                return Err(SerError::Data(format!("epoch {epoch} batch {b}: loss is {loss_value}")));
            }
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            lr = schedule.lr_for_batch(state.step, config.quirks.first_batch_max_lr);
            model = optimizer.step(lr, model, grads);
            state.step += 1;
            loss_sum += loss_value * examples.len() as f64;
            if observer(TrainEvent::Batch { epoch, batch: b, loss: loss_value, lr }) == Flow::Stop {
                stop = true;
            }
        }
        let valid = model.valid();
        let eval = evaluate(&valid, eval_set, class_names, config.eval_batch_size, &eval_device)?;
        let is_best =
            state.best_accuracy.is_none_or(|b| eval.accuracy.correct * b.total >= b.correct * eval.accuracy.total);
        if is_best {
            state.best_accuracy = Some(eval.accuracy);
            state.best_epoch = epoch;
            best = Some(valid.clone());
        }
        state.epoch = epoch;
        state.history.push(EpochReport {
            epoch,
            train_loss: loss_sum / train_set.examples.len() as f64,
            lr,
            eval,
            is_best,
        });
        if let Some(CheckpointDir(dir)) = checkpoints {
            save_checkpoints(dir, &model, &valid, is_best, &optimizer, &state)?;
        }
        if let Some(report) = state.history.last() {
            stop |= observer(TrainEvent::EpochEnd(report)) == Flow::Stop;
        }
        if stop {
            break;
        }
    }
    let last = model.valid();
    Ok(TrainOutcome {
        best: best.unwrap_or_else(|| last.clone()),
        last,
        best_epoch: state.best_epoch,
        history: state.history,
    })
}

/// What a resumed run starts from: the model and optimizer of `dir/last`, the best model of
/// `dir/best` and the run state; the configuration must be the one the run was started with.
#[allow(clippy::type_complexity)]
fn resume_from<B, M>(
    dir: &Path,
    config: &TrainConfig,
    model: M,
    optimizer: ConfiguredOptimizer<M, B>,
    device: &Device<B>,
) -> Result<(M, ConfiguredOptimizer<M, B>, Option<M::InnerModule>, RunState), SerError>
where
    B: AutodiffBackend,
    M: EmotionModel<B> + AutodiffModule<B>,
    M::InnerModule: EmotionModel<B::InnerBackend>,
{
    let last = dir.join("last");
    let text =
        std::fs::read_to_string(last.join("state.json")).map_err(|e| SerError::io(&last.join("state.json"), e))?;
    let saved: RunState =
        serde_json::from_str(&text).map_err(|e| SerError::Checkpoint(format!("{}: {e}", last.display())))?;
    if saved.config != *config {
        return Err(SerError::Config(format!(
            "cannot resume {}: it was trained with {:?}, this run asks for {config:?}",
            dir.display(),
            saved.config
        )));
    }
    let recorder = BinFileRecorder::<FullPrecisionSettings>::new();
    let record = recorder
        .load(last.join("model.bin"), device)
        .map_err(|e| SerError::Checkpoint(format!("{}: {e}", last.display())))?;
    let model = model.load_record(record);
    let optimizer = optimizer.load(&last.join("optimizer.bin"), device)?;
    let best_record = recorder
        .load(dir.join("best").join("model.bin"), device)
        .map_err(|e| SerError::Checkpoint(format!("{}: {e}", dir.join("best").display())))?;
    let best = Some(model.valid().load_record(best_record));
    Ok((model, optimizer, best, saved))
}

fn save_checkpoints<B, M>(
    dir: &Path,
    model: &M,
    valid: &M::InnerModule,
    is_best: bool,
    optimizer: &ConfiguredOptimizer<M, B>,
    state: &RunState,
) -> Result<(), SerError>
where
    B: AutodiffBackend,
    M: EmotionModel<B> + AutodiffModule<B>,
    M::InnerModule: EmotionModel<B::InnerBackend>,
{
    let recorder = BinFileRecorder::<FullPrecisionSettings>::new();
    let rec_err = |p: &Path, e: burn::record::RecorderError| SerError::Checkpoint(format!("{}: {e}", p.display()));
    let last = dir.join("last");
    create_dir(&last)?;
    recorder.record(model.clone().into_record(), last.join("model.bin")).map_err(|e| rec_err(&last, e))?;
    optimizer.save(&last.join("optimizer.bin"))?;
    valid.to_state_dict()?.save(last.join("model.safetensors"))?;
    if is_best {
        let best = dir.join("best");
        create_dir(&best)?;
        recorder.record(valid.clone().into_record(), best.join("model.bin")).map_err(|e| rec_err(&best, e))?;
        valid.to_state_dict()?.save(best.join("model.safetensors"))?;
        write_json(&best.join("state.json"), state)?;
    }
    // state.json last: a crash mid-save leaves the previous, consistent state in place.
    write_json(&last.join("state.json"), state)
}
