//! 10 minutes of 16 kHz speech-like audio, single thread, each detector method.
//! × realtime = 600 s / time per iteration (numpy's energy VAD runs ~56,000× on this machine).
//!
//! `cargo bench -p vad --bench vad`

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use vad::{Method, VadConfig, detect};

fn audio() -> Vec<f32> {
    let mut s: u64 = 0x2545_F491_4F6C_DD1D;
    (0..16_000 * 600)
        .map(|n| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            let t = n as f32 / 16_000.0;
            let active = (t % 3.0) < 1.8;
            let voice = if active { 0.2 * (std::f32::consts::TAU * 150.0 * t).sin() } else { 0.0 };
            voice + ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.01
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let x = audio();
    let mut group = c.benchmark_group("vad_10min_16k");
    group.sample_size(10);
    group.throughput(Throughput::Elements(x.len() as u64));
    for (name, cfg) in [
        ("fixed_energy_paper", VadConfig::paper(-40.0)),
        ("adaptive_energy", VadConfig::default().with_method(Method::AdaptiveEnergy { margin_db: 6.0 })),
        ("subband_snr_default", VadConfig::default()),
    ] {
        group.bench_with_input(BenchmarkId::from_parameter(name), &cfg, |b, cfg| {
            b.iter(|| detect(black_box(&x), 16_000, cfg).expect("valid input"))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
