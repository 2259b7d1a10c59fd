//! Streaming output equals one-shot output, bit for bit, for any chunking.

mod common;
use audio_dsp::{AutoResampler, FilterSpec, MultiChannel, ResampleMode, Resampler, resample_with};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

const MODES: [ResampleMode; 2] = [ResampleMode::Reference, ResampleMode::Fast];

fn one_shot<T: audio_dsp::Sample>(x: &[T], a: u32, b: u32, mode: ResampleMode) -> Vec<T> {
    resample_with(x, a, b, FilterSpec::default(), mode).unwrap()
}

fn stream<T: audio_dsp::Sample>(x: &[T], a: u32, b: u32, mode: ResampleMode, cuts: &[usize]) -> Vec<T> {
    let mut r = AutoResampler::<T>::with_mode(a, b, FilterSpec::default(), mode).unwrap();
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
        for mode in MODES {
            prop_assert_eq!(stream(&x, rate, 16_000, mode, &cuts), one_shot(&x, rate, 16_000, mode));
        }
    }

    #[test]
    fn streaming_equals_one_shot_any_rates(
        pair in prop::sample::select(vec![(8_000u32, 16_000u32), (11_025, 16_000), (16_000, 44_100), (16_000, 8_000), (32_000, 16_000), (96_000, 16_000)]),
        x in prop::collection::vec(-1.0f64..1.0, 0..3000),
        cuts in prop::collection::vec(0usize..3001, 0..8),
    ) {
        for mode in MODES {
            prop_assert_eq!(stream(&x, pair.0, pair.1, mode, &cuts), one_shot(&x, pair.0, pair.1, mode));
        }
    }
}

#[test]
fn long_stream_in_tiny_chunks_reuses_the_resampler() {
    // Exercises buffer draining (more than 16k samples consumed) and reuse after flush.
    let x: Vec<f32> = (0..100_000).map(|n| ((n * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
    for mode in MODES {
        let expected = one_shot(&x, 48_000, 16_000, mode);
        let mut r = AutoResampler::<f32>::with_mode(48_000, 16_000, FilterSpec::default(), mode).unwrap();
        for _ in 0..2 {
            let mut out = Vec::new();
            for chunk in x.chunks(37) {
                r.process(chunk, &mut out);
            }
            r.flush(&mut out);
            assert_eq!(out, expected, "{mode:?}");
        }
    }
}

/// The allocation-free calls write exactly what they announce, refuse a short output without
/// consuming input, and hold back no more than `output_delay` outputs.
#[test]
fn process_into_counts_and_delay() {
    let x: Vec<f32> = (0..50_000).map(|n| ((n * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
    for mode in MODES {
        let expected = one_shot(&x, 44_100, 16_000, mode);
        let mut r = AutoResampler::<f32>::with_mode(44_100, 16_000, FilterSpec::default(), mode).unwrap();
        let mut out = vec![0f32; expected.len()];
        let (mut written, mut fed) = (0, 0);
        for chunk in x.chunks(3000) {
            let want = r.next_output_len(chunk.len());
            if want > 0 {
                assert!(r.process_into(chunk, &mut out[written..written + want - 1]).is_err(), "{mode:?}");
            }
            let n = r.process_into(chunk, &mut out[written..]).unwrap();
            assert_eq!(n, want, "{mode:?}");
            written += n;
            fed += chunk.len();
            assert!(written + r.output_delay() >= r.output_len(fed), "{mode:?}: {written} after {fed}");
        }
        assert_eq!(r.flush_len(), expected.len() - written);
        written += r.flush_into(&mut out[written..]).unwrap();
        assert_eq!(written, expected.len());
        assert_eq!(out, expected, "{mode:?}");
    }
}

/// Interleaved stereo: each channel equals resampling that channel alone.
#[test]
fn interleaved_channels_equal_mono_runs() {
    let n = 30_000;
    let left: Vec<f32> = (0..n).map(|i| (i as f32 * 0.031).sin() * 0.4).collect();
    let right: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 2000.0 - 0.25).collect();
    let interleaved: Vec<f32> = left.iter().zip(&right).flat_map(|(&l, &r)| [l, r]).collect();
    for mode in MODES {
        let mut mc =
            MultiChannel::new(2, || AutoResampler::<f32>::with_mode(48_000, 16_000, FilterSpec::default(), mode))
                .unwrap();
        let mut outs = vec![Vec::new(), Vec::new()];
        for chunk in interleaved.chunks(2 * 1234) {
            mc.process_interleaved(chunk, &mut outs).unwrap();
        }
        mc.flush(&mut outs).unwrap();
        assert_eq!(outs[0], one_shot(&left, 48_000, 16_000, mode), "{mode:?}");
        assert_eq!(outs[1], one_shot(&right, 48_000, 16_000, mode), "{mode:?}");
        assert!(mc.process_interleaved(&interleaved[..3], &mut outs).is_err(), "odd sample count");
        mc.process_interleaved(&[], &mut outs).unwrap();
        // An offset past the chunk reads nothing.
        let mut r = AutoResampler::<f32>::with_mode(48_000, 16_000, FilterSpec::default(), mode).unwrap();
        assert_eq!(r.process_strided_into(&[0.5; 3], 5, 2, &mut []).unwrap(), 0);
        assert!(r.process_strided_into(&[0.5; 3], 0, 0, &mut []).is_err(), "stride 0");
    }
}
