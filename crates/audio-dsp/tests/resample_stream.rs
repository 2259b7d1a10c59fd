//! Streaming output equals one-shot output, bit for bit, for any chunking.

mod common;
use audio_dsp::{Resampler, resample};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

fn stream<T: audio_dsp::Sample>(x: &[T], a: u32, b: u32, cuts: &[usize]) -> Vec<T> {
    let mut r = Resampler::<T>::new(a, b).unwrap();
    let mut out = Vec::new();
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (x.len() + 1)).collect();
    points.sort_unstable();
    let mut last = 0;
    for p in points {
        r.process(&x[last..p], &mut out);
        last = p;
    }
    r.process(&x[last..], &mut out);
    r.flush(&mut out);
    out
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn streaming_equals_one_shot_golden_inputs(
        rate in prop::sample::select(vec![44_100u32, 48_000, 22_050, 16_000]),
        cuts in prop::collection::vec(0usize..100_000, 0..12),
    ) {
        let x = common::npy_f32(&format!("resample/input_{rate}.npy"));
        let one_shot = resample(&x, rate, 16_000).unwrap();
        prop_assert_eq!(stream(&x, rate, 16_000, &cuts), one_shot);
    }

    #[test]
    fn streaming_equals_one_shot_any_rates(
        pair in prop::sample::select(vec![(8_000u32, 16_000u32), (11_025, 16_000), (16_000, 44_100), (16_000, 8_000), (32_000, 16_000), (96_000, 16_000)]),
        x in prop::collection::vec(-1.0f64..1.0, 0..3000),
        cuts in prop::collection::vec(0usize..3001, 0..8),
    ) {
        let one_shot = resample(&x, pair.0, pair.1).unwrap();
        prop_assert_eq!(stream(&x, pair.0, pair.1, &cuts), one_shot);
    }
}

#[test]
fn long_stream_in_tiny_chunks_reuses_the_resampler() {
    // Exercises buffer draining (more than 16k samples consumed) and reuse after flush.
    let x: Vec<f32> = (0..100_000).map(|n| ((n * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
    let one_shot = resample(&x, 48_000, 16_000).unwrap();
    let mut r = Resampler::<f32>::new(48_000, 16_000).unwrap();
    for _ in 0..2 {
        let mut out = Vec::new();
        for chunk in x.chunks(37) {
            r.process(chunk, &mut out);
        }
        r.flush(&mut out);
        assert_eq!(out, one_shot);
    }
}
