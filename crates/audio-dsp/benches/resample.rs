//! 120 s of mono noise to 16 kHz, single thread: our fast mode (FFT overlap-save, 140 dB stop
//! band) and reference mode (scipy-exact Kaiser polyphase, 100 dB), both with the pass band at
//! 90 %, beside rubato 5.x `Fft` (the fastest high-quality Rust resampler) in the same group.
//! × realtime = 120 s / time per iteration.
//!
//! `cargo bench -p audio-dsp --bench resample`

use audio_dsp::{FftResampler, PolyphaseResampler, Resampler};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rubato::audioadapter_buffers::direct::SequentialSliceOfVecs;
use rubato::{Fft, FixedSync, Resampler as _};
use std::hint::black_box;

const SECONDS: usize = 120;

fn noise(n: usize) -> Vec<f32> {
    let mut s: u64 = 0x2545_F491_4F6C_DD1D;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.5
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("resample_120s_to_16k");
    group.sample_size(10);
    for rate in [44_100usize, 48_000] {
        let x = noise(rate * SECONDS);
        group.throughput(Throughput::Elements(x.len() as u64));

        let mut fast = FftResampler::<f32>::new(rate as u32, 16_000).expect("valid rates");
        let mut out = vec![0f32; fast.output_len(x.len())];
        group.bench_with_input(BenchmarkId::new("whispers_fast_fft", rate), &x, |b, x| {
            b.iter(|| {
                let n = fast.process_into(black_box(x), &mut out).expect("room");
                black_box(n + fast.flush_into(&mut out[n..]).expect("room"))
            })
        });

        let mut reference = PolyphaseResampler::<f32>::new(rate as u32, 16_000).expect("valid rates");
        group.bench_with_input(BenchmarkId::new("whispers_reference_polyphase", rate), &x, |b, x| {
            b.iter(|| {
                let n = reference.process_into(black_box(x), &mut out).expect("room");
                black_box(n + reference.flush_into(&mut out[n..]).expect("room"))
            })
        });

        let mut rubato_fft = Fft::<f32>::new(rate, 16_000, 1024, 1, FixedSync::Both).expect("valid rates");
        let channels = vec![x.clone()];
        group.bench_with_input(BenchmarkId::new("rubato_fft", rate), &channels, |b, channels| {
            b.iter(|| {
                let input = SequentialSliceOfVecs::new(channels, 1, channels[0].len()).expect("one channel");
                let y = rubato_fft.process_all(black_box(&input), channels[0].len(), None).expect("resamples");
                black_box(y)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
