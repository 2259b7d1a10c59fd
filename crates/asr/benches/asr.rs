//! Speech-to-text stages on Whisper tiny.en (`scripts/fetch-models.sh`), 1 thread:
//! the log-mel of one 30 s window, the encoder on one window (f32 and 8-bit), one decoder step
//! with a 100-token cache, and the whole 62.8 s golden clip transcribed greedily.
//! Side by side with faster-whisper: `benches/asr_side_by_side.py`.

use asr::model::Logits;
use asr::{Asr, LoadOptions, TranscribeOptions, WeightPrecision};
use criterion::{Criterion, criterion_group, criterion_main};
use std::path::Path;

fn clip(name: &str) -> Vec<f32> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audio").join(format!("{name}.wav"));
    audio_dsp::decode_path(path).expect("fixture clip").samples
}

/// The 13 golden clips joined with 1 s of silence (the golden long clip, 62.8 s).
fn long_clip() -> Vec<f32> {
    let names = [
        "librivox_0870",
        "librivox_0880",
        "librivox_0890",
        "librivox_0920",
        "librivox_0930",
        "cards_001",
        "cards_002",
        "cards_003",
        "cards_004",
        "cards_005",
        "espeak_01",
        "espeak_02",
        "espeak_03",
    ];
    let mut out = Vec::new();
    for (i, n) in names.iter().enumerate() {
        if i > 0 {
            out.extend(std::iter::repeat_n(0.0, 16_000));
        }
        out.extend(clip(n));
    }
    out
}

/// `cargo test` runs each benchmark once to check it works (no `--bench` argument): one short
/// clip then instead of the 62.8 s one, so the check costs seconds.
fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn bench(c: &mut Criterion) {
    let dir = asr::default_model_dir();
    assert!(dir.join("model.bin").exists(), "{} missing: run scripts/fetch-models.sh", dir.display());
    let f32_model = Asr::load(&dir, LoadOptions { precision: WeightPrecision::F32, threads: 1 }).expect("model");
    let q8_model = Asr::load(&dir, LoadOptions { precision: WeightPrecision::Q8, threads: 1 }).expect("model");
    let audio = if measuring() { long_clip() } else { clip("espeak_01") };
    let front = f32_model.front_end();
    let max = front.recording_max(&audio).expect("mel");
    let mut g = c.benchmark_group("asr");
    g.sample_size(10);
    g.bench_function("log_mel_window_30s", |b| b.iter(|| front.window(&audio, max, 0, 3000).expect("mel")));
    let mel = front.window(&audio, max, 0, 3000).expect("mel");
    for (name, m) in [("f32", &f32_model), ("q8", &q8_model)] {
        g.bench_function(format!("encoder_window_{name}"), |b| {
            b.iter(|| m.install(|| m.model().encode(&mel, 1).expect("encode")))
        });
    }
    let enc = f32_model.model().encode(&mel, 1).expect("encode");
    let cross = f32_model.model().cross_kv(&enc, 1).expect("cross");
    let prompt: Vec<u32> = std::iter::once(50257).chain((0..99).map(|i| 262 + i)).collect();
    g.bench_function("decoder_step_after_100_tokens_f32", |b| {
        b.iter_batched(
            || {
                let mut cache = f32_model.model().new_cache();
                f32_model.model().decode(&prompt, &mut cache, &cross, 1, None, Logits::None).expect("prompt");
                cache
            },
            |mut cache| f32_model.model().decode(&[262], &mut cache, &cross, 1, None, Logits::Last).expect("step"),
            criterion::BatchSize::LargeInput,
        )
    });
    for (name, m) in [("f32", &f32_model), ("q8", &q8_model)] {
        g.bench_function(format!("transcribe_{:.1}s_greedy_{name}", audio.len() as f64 / 16_000.0), |b| {
            b.iter(|| m.transcribe(&audio, &TranscribeOptions::greedy()).expect("transcribe"))
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
