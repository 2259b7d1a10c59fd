//! Speech-emotion models on the Flex CPU backend:
//!
//! * `train_epoch`: one epoch of the reference setting — 1,290 × 768 features (RAVDESS
//!   speech with Emotion2Vec), batch 32, Adam — for the BiLSTM (independent samples and the
//!   reference's batch-as-time mode) and the BaseModel. Throughput in samples/s.
//! * `infer`: latency of one utterance: BiLSTM logits from a 768-d vector, and the whole
//!   prediction from 3 s of 16 kHz audio (CustomFeature + scaler + BiLSTM).
//! * `lstm_step`: the fused LSTM against burn's own `BiLstm` on a sequence batch
//!   (16 × 50 frames, 128 → 128 per direction), forward + backward — the peer for the choice
//!   of LSTM implementation.
//!
//! `cargo bench -p ser-bilstm --bench ser`

use std::hint::black_box;
use std::time::Duration;

use burn::module::Module;
use burn::nn::{BiLstmConfig, Initializer};
use burn::tensor::{Distribution, Tensor};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ser_bilstm::data::{Example, FeatureSet};
use ser_bilstm::lstm::FusedBiLstm;
use ser_bilstm::train::{Flow, TrainConfig, train};
use ser_bilstm::{
    BaseModelConfig, BiLstmClassifierConfig, CpuBackend, CpuTrainBackend, EMOTIONS, ForwardMode, ReferenceQuirks,
};

fn features(n: usize, dim: usize) -> FeatureSet {
    let mut s: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    };
    let examples = (0..n)
        .map(|i| Example {
            values: (0..dim).map(|_| next()).collect(),
            frames: 1,
            label: i % 8,
            speaker: (i % 24).to_string(),
            source: String::new(),
        })
        .collect();
    FeatureSet { dim, examples }
}

fn train_epoch(c: &mut Criterion) {
    let train_set = features(1290, 768);
    let eval_set = features(8, 768);
    let mut g = c.benchmark_group("train_epoch");
    g.sample_size(10).measurement_time(Duration::from_secs(20)).throughput(Throughput::Elements(1290));
    let device = Default::default();
    let one_epoch = TrainConfig { epochs: 1, ..TrainConfig::reference() };
    let quirky = TrainConfig { quirks: ReferenceQuirks::REFERENCE, ..one_epoch };
    let mut quiet = |_: ser_bilstm::train::TrainEvent<'_>| Flow::Continue;
    g.bench_function("bilstm_1290x768_b32", |b| {
        b.iter(|| {
            let model = BiLstmClassifierConfig::new(768, 8).init::<CpuTrainBackend>(&device);
            train(model, &train_set, &eval_set, &EMOTIONS, &one_epoch, None, None, &mut quiet, &device)
                .map(|o| o.best_epoch)
        })
    });
    g.bench_function("bilstm_batch_as_time_1290x768_b32", |b| {
        b.iter(|| {
            let model = BiLstmClassifierConfig::new(768, 8).init::<CpuTrainBackend>(&device);
            train(model, &train_set, &eval_set, &EMOTIONS, &quirky, None, None, &mut quiet, &device)
                .map(|o| o.best_epoch)
        })
    });
    g.bench_function("basemodel_1290x768_b32", |b| {
        b.iter(|| {
            let model = BaseModelConfig::new(768, 8).init::<CpuTrainBackend>(&device);
            train(model, &train_set, &eval_set, &EMOTIONS, &one_epoch, None, None, &mut quiet, &device)
                .map(|o| o.best_epoch)
        })
    });
    g.finish();
}

fn infer(c: &mut Criterion) {
    let device = Default::default();
    let mut g = c.benchmark_group("infer");
    let model = BiLstmClassifierConfig::new(768, 8).init::<CpuBackend>(&device);
    let x = Tensor::<CpuBackend, 2>::random([1, 768], Distribution::Normal(0.0, 1.0), &device);
    g.bench_function("bilstm_logits_768", |b| {
        b.iter(|| model.forward(black_box(x.clone()), ForwardMode::Independent).into_data())
    });

    // Whole prediction from audio: a model folder in a temp dir, 3 s of a voiced tone.
    let dir = std::env::temp_dir().join(format!("ser-bench-{}", std::process::id()));
    let spec = ser_bilstm::ModelSpec {
        architecture: ser_bilstm::Architecture::Bilstm,
        features: ser_bilstm::data::FeatureKind::Custom,
        input_dim: 312,
        class_names: EMOTIONS.iter().map(|s| s.to_string()).collect(),
        prep: Default::default(),
        temporal: None,
    };
    let scaler = ser_bilstm::StandardScaler { mean: vec![0.0; 312], scale: vec![1.0; 312] };
    let m312 = BiLstmClassifierConfig::new(312, 8).init::<CpuBackend>(&device);
    ser_bilstm::saved::save_model_dir(&dir, &spec, &m312, &scaler).expect("temp dir is writable");
    let predictor = ser_bilstm::Predictor::<CpuBackend>::load(&dir, &device).expect("just written");
    let audio: Vec<f32> =
        (0..48_000).map(|n| 0.3 * (2.0 * std::f32::consts::PI * 180.0 * n as f32 / 16_000.0).sin().powi(3)).collect();
    g.bench_function("predict_3s_custom_bilstm", |b| b.iter(|| predictor.predict_samples(black_box(&audio))));
    g.finish();
    let _ = std::fs::remove_dir_all(dir);
}

fn lstm_step(c: &mut Criterion) {
    type AB = CpuTrainBackend;
    let device = Default::default();
    let mut g = c.benchmark_group("lstm_step");
    let (batch, steps, dim, hidden) = (16, 50, 128, 128);
    let fused = FusedBiLstm::<AB>::new(dim, hidden, &device);
    let burn_lstm = BiLstmConfig::new(dim, hidden, true)
        .with_initializer(Initializer::Uniform { min: -0.088, max: 0.088 })
        .init::<AB>(&device);
    assert_eq!(fused.num_params(), burn_lstm.num_params());
    let x = Tensor::<AB, 3>::random([batch, steps, dim], Distribution::Normal(0.0, 1.0), &device);
    g.bench_with_input(BenchmarkId::new("fused", "16x50x128"), &x, |b, x| {
        b.iter(|| fused.forward(x.clone(), None).sum().backward())
    });
    g.bench_with_input(BenchmarkId::new("burn_bilstm", "16x50x128"), &x, |b, x| {
        b.iter(|| burn_lstm.forward(x.clone(), None).0.sum().backward())
    });
    g.finish();
}

criterion_group!(benches, train_epoch, infer, lstm_step);
criterion_main!(benches);
