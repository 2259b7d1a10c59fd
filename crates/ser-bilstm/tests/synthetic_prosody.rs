//! Proof that the models learn: the synthetic prosody corpus (16 voices × 4 classes × 8
//! clips, `ser_bilstm::synth`), speaker-independent split (voices 13–16 held out), and both
//! the reference BiLSTM on CustomFeature and the temporal BiLSTM on log-mel frames must reach
//! ≥ 90 % on the held-out voices — at the *last* epoch, so the test set never picks the model.

use burn::module::Module;
use rayon::prelude::*;
use ser_bilstm::data::features::features_from_samples;
use ser_bilstm::data::{Example, FeatureKind, FeatureSet, Split, Utterance};
use ser_bilstm::synth::{CorpusConfig, corpus};
use ser_bilstm::train::{Flow, ScheduleConfig, TrainConfig, TrainEvent, train};
use ser_bilstm::{BiLstmClassifierConfig, CpuTrainBackend, EMOTIONS, TemporalConfig};

/// burn's Flex random generator is process-global: the two runs take turns so each is
/// reproducible.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn split_features(kind: FeatureKind) -> (FeatureSet, FeatureSet) {
    let clips = corpus(&CorpusConfig::default()).unwrap();
    let utterances: Vec<Utterance> = clips
        .iter()
        .map(|c| Utterance {
            path: c.name.file_name().into(),
            label: c.name.label(),
            speaker: format!("{:02}", c.name.actor),
        })
        .collect();
    let examples: Vec<Example> = clips
        .par_iter()
        .zip(&utterances)
        .map(|(clip, u)| {
            let (values, frames) = features_from_samples(&clip.samples, kind).unwrap();
            Example { values, frames, label: u.label, speaker: u.speaker.clone(), source: u.path.display().to_string() }
        })
        .collect();
    let all = FeatureSet { dim: kind.dim(), examples };
    let split = Split::HeldOutSpeakers.apply(&utterances).unwrap();
    let (mut train_set, mut test_set) = (all.subset(&split.train), all.subset(&split.test));
    let test_voices: std::collections::BTreeSet<_> = test_set.examples.iter().map(|e| e.speaker.clone()).collect();
    assert_eq!(test_voices.into_iter().collect::<Vec<_>>(), ["13", "14", "15", "16"]);
    let scaler = train_set.fit_scaler().unwrap();
    train_set.standardize(&scaler).unwrap();
    test_set.standardize(&scaler).unwrap();
    (train_set, test_set)
}

fn run<M>(model: M, train_set: &FeatureSet, test_set: &FeatureSet, config: &TrainConfig, name: &str) -> f64
where
    M: ser_bilstm::EmotionModel<CpuTrainBackend> + burn::module::AutodiffModule<CpuTrainBackend>,
    M::InnerModule: ser_bilstm::EmotionModel<ser_bilstm::CpuBackend>,
{
    let device = Default::default();
    let mut log = |e: TrainEvent<'_>| {
        if let TrainEvent::EpochEnd(r) = e {
            println!("{name} epoch {:2}: train loss {:.4}, held-out {}", r.epoch, r.train_loss, r.eval.accuracy);
        }
        Flow::Continue
    };
    let outcome = train(model, train_set, test_set, &EMOTIONS, config, None, None, &mut log, &device).unwrap();
    let last = outcome.history.last().unwrap();
    println!(
        "{name}: last epoch {}, macro-F1 {:.3}\n{}",
        last.eval.accuracy,
        last.eval.macro_f1,
        last.eval.confusion.to_table()
    );
    last.eval.accuracy.value()
}

#[test]
fn reference_bilstm_on_custom_features_generalises_to_new_voices() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let (train_set, test_set) = split_features(FeatureKind::Custom);
    assert_eq!((train_set.examples.len(), test_set.examples.len()), (384, 128));
    let device = Default::default();
    <CpuTrainBackend as burn::tensor::backend::Backend>::seed(&device, 1);
    let model = BiLstmClassifierConfig::new(312, 8).init::<CpuTrainBackend>(&device);
    let config = TrainConfig {
        epochs: 12,
        schedule: ScheduleConfig::WarmupCosine { min_lr: 1e-5, max_lr: 1e-3, warmup_epochs: 2 },
        seed: 1,
        ..TrainConfig::reference()
    };
    let acc = run(model, &train_set, &test_set, &config, "bilstm/custom");
    assert!(acc >= 0.9, "held-out accuracy {acc}");
}

#[test]
fn temporal_bilstm_on_log_mel_generalises_to_new_voices() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let (train_set, test_set) = split_features(FeatureKind::LogMel);
    let device = Default::default();
    <CpuTrainBackend as burn::tensor::backend::Backend>::seed(&device, 2);
    let model = TemporalConfig::new(64, 8).init::<CpuTrainBackend>(&device);
    println!("temporal params {}", model.num_params());
    let config = TrainConfig {
        epochs: 12,
        batch_size: 16,
        schedule: ScheduleConfig::WarmupCosine { min_lr: 1e-5, max_lr: 2e-3, warmup_epochs: 1 },
        seed: 2,
        ..TrainConfig::reference()
    };
    let acc = run(model, &train_set, &test_set, &config, "temporal/logmel");
    assert!(acc >= 0.9, "held-out accuracy {acc}");
}
