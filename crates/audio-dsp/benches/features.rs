//! CustomFeature (312-d) and log-mel on 3 s clips at 16 kHz, single thread.
//! × realtime = 3 s / time per iteration. librosa 0.9.2 computes the same 312-d vector at
//! roughly 600× realtime for MFCC alone on the development machine (dsp-anchors.md).
//!
//! `cargo bench -p audio-dsp --bench features`

use audio_dsp::features::{StftConfig, custom_feature, log_mel, stft_magnitude};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn clip() -> Vec<f32> {
    // A 3 s log chirp 100 Hz → 4 kHz plus a little noise, like the golden synthetic clip.
    let sr = 16_000f64;
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..48_000)
        .map(|n| {
            let t = n as f64 / sr;
            let k = (4000f64 / 100.0).ln() / 3.0;
            let phase = 2.0 * std::f64::consts::PI * 100.0 * ((k * t).exp() - 1.0) / k;
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let noise = (s >> 40) as f64 / (1u64 << 24) as f64 - 0.5;
            (0.3 * phase.sin() + 0.02 * noise) as f32
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let x = clip();
    let mut group = c.benchmark_group("features_3s_16k");
    group.throughput(Throughput::Elements(x.len() as u64));
    group.bench_function("custom_feature_312", |b| b.iter(|| custom_feature(black_box(&x), 16_000)));
    group.bench_function("log_mel_64", |b| b.iter(|| log_mel(black_box(&x), 16_000)));
    // The floor under custom_feature_312: its one STFT (f64, as the goldens need).
    group.bench_function("stft_magnitude_2048", |b| b.iter(|| stft_magnitude(black_box(&x), &StftConfig::default())));
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
