//! The training loop's contract: optimizers equal PyTorch's update rules, runs are
//! deterministic for a seed, a resumed run equals an uninterrupted one, resumption never
//! happens silently or with a different config, and the reference quirks change what they
//! claim to.

use std::sync::Mutex;

use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::optim::GradientsParams;
use burn::tensor::{Tensor, TensorData};
use ser_bilstm::data::{Example, FeatureSet};
use ser_bilstm::train::{
    CheckpointDir, ConfiguredOptimizer, Flow, OptimizerKind, Resume, ScheduleConfig, TrainConfig, TrainEvent, train,
};
use ser_bilstm::{
    BaseModelConfig, BiLstmClassifier, BiLstmClassifierConfig, CpuTrainBackend, EMOTIONS, EmotionModel, ReferenceQuirks,
};

type AB = CpuTrainBackend;

/// burn's Flex random generator is process-global; tests that rely on seeded runs take turns.
static RNG: Mutex<()> = Mutex::new(());

fn same(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// One update rule, in f64, written from PyTorch's documentation; `g` is the raw gradient.
fn pytorch_rule(kind: OptimizerKind, theta: f64, g: f64, steps: usize, lr: f64) -> f64 {
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8f64);
    let (mut theta, mut m, mut v, mut buf) = (theta, 0.0, 0.0, 0.0);
    for t in 1..=steps {
        match kind {
            OptimizerKind::Adam { weight_decay } | OptimizerKind::AdamW { weight_decay } => {
                let decoupled = matches!(kind, OptimizerKind::AdamW { .. });
                let g = if decoupled { g } else { g + weight_decay * theta };
                if decoupled {
                    theta *= 1.0 - lr * weight_decay;
                }
                m = b1 * m + (1.0 - b1) * g;
                v = b2 * v + (1.0 - b2) * g * g;
                let m_hat = m / (1.0 - b1.powi(t as i32));
                let v_hat = v / (1.0 - b2.powi(t as i32));
                theta -= lr * m_hat / (v_hat.sqrt() + eps);
            }
            OptimizerKind::Sgd { momentum, weight_decay } => {
                let g = g + weight_decay * theta;
                buf = if t == 1 { g } else { momentum * buf + g }; // dampening 0
                theta -= lr * buf;
            }
        }
    }
    theta
}

#[test]
fn optimizers_follow_pytorchs_update_rules() {
    let device = Default::default();
    let x = [1.0f32, -2.0, 0.5];
    let w0 = [[0.3f32, -0.1], [0.2, 0.4], [-0.5, 0.05]]; // burn layout [in, out]
    for kind in [
        OptimizerKind::Adam { weight_decay: 0.05 },
        OptimizerKind::AdamW { weight_decay: 0.05 },
        OptimizerKind::Sgd { momentum: 0.9, weight_decay: 0.05 },
    ] {
        let mut linear: Linear<AB> = LinearConfig::new(3, 2).with_bias(false).init(&device);
        linear.weight = Param::from_tensor(Tensor::from_data(TensorData::new(w0.concat(), [3, 2]), &device));
        let mut optimizer = ConfiguredOptimizer::<Linear<AB>, AB>::new(kind);
        for _ in 0..3 {
            // loss = Σ_o (x·W)_o, so ∂loss/∂W[i][o] = x[i] at every step.
            let input = Tensor::<AB, 2>::from_data(TensorData::new(x.to_vec(), [1, 3]), &device);
            let loss = linear.forward(input).sum();
            let grads = GradientsParams::from_grads(loss.backward(), &linear);
            linear = optimizer.step(0.1, linear, grads);
        }
        let got = linear.weight.val().into_data().to_vec::<f32>().unwrap();
        for i in 0..3 {
            for o in 0..2 {
                let want = pytorch_rule(kind, w0[i][o] as f64, x[i] as f64, 3, 0.1);
                assert!(
                    (got[i * 2 + o] as f64 - want).abs() < 2e-6,
                    "{kind:?} W[{i}][{o}]: {} vs {want}",
                    got[i * 2 + o]
                );
            }
        }
    }
}

/// 96 examples, 16-d, 4 classes: the label is the argmax of the first four dimensions, speaker
/// = index mod 6.
fn toy_set(seed: u64, n: usize) -> FeatureSet {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
    };
    let examples = (0..n)
        .map(|i| {
            let values: Vec<f32> = (0..16).map(|_| next()).collect();
            let label = (0..4).fold(0, |best, k| if values[k] > values[best] { k } else { best });
            Example { values, frames: 1, label, speaker: (i % 6).to_string(), source: format!("toy{i}") }
        })
        .collect();
    FeatureSet { dim: 16, examples }
}

fn config() -> TrainConfig {
    TrainConfig {
        epochs: 4,
        batch_size: 16,
        schedule: ScheduleConfig::WarmupCosine { min_lr: 1e-4, max_lr: 3e-3, warmup_epochs: 1 },
        seed: 11,
        ..TrainConfig::reference()
    }
}

fn weights<M: EmotionModel<ser_bilstm::CpuBackend>>(m: &M) -> Vec<f32> {
    m.to_state_dict().unwrap().tensors.into_values().flat_map(|t| t.values).collect()
}

fn quiet(_: TrainEvent<'_>) -> Flow {
    Flow::Continue
}

fn fresh_bilstm() -> BiLstmClassifier<AB> {
    let device = Default::default();
    <AB as burn::tensor::backend::Backend>::seed(&device, 5);
    BiLstmClassifierConfig::new(16, 8).init(&device)
}

#[test]
fn same_seed_same_run_and_resume_equals_uninterrupted() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Default::default();
    let (train_set, test_set) = (toy_set(1, 96), toy_set(2, 32));
    let cfg = config();
    let run =
        || train(fresh_bilstm(), &train_set, &test_set, &EMOTIONS, &cfg, None, None, &mut quiet, &device).unwrap();
    let (a, b) = (run(), run());
    assert!(same(&weights(&a.last), &weights(&b.last)), "same seed, same weights (dropout included)");
    assert_eq!(a.history, b.history);
    assert!(a.history.last().unwrap().train_loss < a.history[0].train_loss, "it learns");

    // Stop after epoch 2 with checkpoints, then resume to the end.
    let dir = std::env::temp_dir().join(format!("ser-resume-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let ckpt = CheckpointDir(dir.clone());
    let mut stop_at_2 = |e: TrainEvent<'_>| match e {
        TrainEvent::EpochEnd(r) if r.epoch == 2 => Flow::Stop,
        _ => Flow::Continue,
    };
    let partial =
        train(fresh_bilstm(), &train_set, &test_set, &EMOTIONS, &cfg, Some(&ckpt), None, &mut stop_at_2, &device)
            .unwrap();
    assert_eq!(partial.history.len(), 2);
    let resumed = train(
        fresh_bilstm(),
        &train_set,
        &test_set,
        &EMOTIONS,
        &cfg,
        Some(&ckpt),
        Some(&Resume(dir.clone())),
        &mut quiet,
        &device,
    )
    .unwrap();
    assert_eq!(resumed.history, a.history, "resumed history equals the uninterrupted one");
    assert!(same(&weights(&resumed.last), &weights(&a.last)), "resumed weights equal the uninterrupted ones");
    assert!(same(&weights(&resumed.best), &weights(&a.best)));

    // A different config is refused, not silently mixed.
    let other = TrainConfig { seed: 12, ..cfg };
    let err = train(
        fresh_bilstm(),
        &train_set,
        &test_set,
        &EMOTIONS,
        &other,
        None,
        Some(&Resume(dir.clone())),
        &mut quiet,
        &device,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("cannot resume"), "{err}");
    // The best checkpoint is stored under the reference's names.
    let best = ser_bilstm::StateDict::load(dir.join("best/model.safetensors")).unwrap();
    assert!(best.tensors.contains_key("lstm.weight_ih_l0_reverse"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn best_is_kept_on_ties_by_the_later_epoch() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Default::default();
    let (train_set, test_set) = (toy_set(3, 96), toy_set(4, 32));
    let model = BaseModelConfig::new(16, 8).init::<AB>(&device);
    let out = train(model, &train_set, &test_set, &EMOTIONS, &config(), None, None, &mut quiet, &device).unwrap();
    let best_correct = out.history.iter().map(|r| r.eval.accuracy.correct).max().unwrap();
    let last_best = out.history.iter().rev().find(|r| r.eval.accuracy.correct == best_correct).unwrap().epoch;
    assert_eq!(out.best_epoch, last_best);
    let best_eval = ser_bilstm::train::evaluate(&out.best, &test_set, &EMOTIONS, 7, &device).unwrap();
    assert_eq!(best_eval.accuracy.correct, best_correct);
}

#[test]
fn batch_as_time_quirk_changes_training_and_first_batch_lr() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Default::default();
    let (train_set, test_set) = (toy_set(5, 64), toy_set(6, 16));
    let mut lrs = Vec::new();
    let mut record = |e: TrainEvent<'_>| {
        if let TrainEvent::Batch { lr, .. } = e {
            lrs.push(lr);
        }
        Flow::Continue
    };
    let quirky = TrainConfig { quirks: ReferenceQuirks::REFERENCE, ..config() };
    let q = train(fresh_bilstm(), &train_set, &test_set, &EMOTIONS, &quirky, None, None, &mut record, &device).unwrap();
    assert_eq!(lrs[0], 3e-3, "batch 0 at max lr");
    assert_eq!(lrs[1], 1e-4, "batch 1 at clr(0)");
    let plain =
        train(fresh_bilstm(), &train_set, &test_set, &EMOTIONS, &config(), None, None, &mut quiet, &device).unwrap();
    assert!(!same(&weights(&q.last), &weights(&plain.last)));
}

#[test]
fn mismatched_data_is_a_typed_error() {
    let device = Default::default();
    let model = BaseModelConfig::new(8, 8).init::<AB>(&device);
    let err = train(model, &toy_set(1, 8), &toy_set(2, 8), &EMOTIONS, &config(), None, None, &mut quiet, &device)
        .unwrap_err()
        .to_string();
    assert!(err.contains("16-d") && err.contains("8-d"), "{err}");
    let frames = FeatureSet {
        dim: 16,
        examples: vec![Example { values: vec![0.0; 32], frames: 2, label: 0, speaker: "a".into(), source: "x".into() }],
    };
    let model = BaseModelConfig::new(16, 8).init::<AB>(&device);
    assert!(train(model, &frames, &frames, &EMOTIONS, &config(), None, None, &mut quiet, &device).is_err());
}
