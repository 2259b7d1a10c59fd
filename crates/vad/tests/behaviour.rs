//! Streaming equals batch, edge cases, silence removal and the metrics.

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use vad::eval::{frame_metrics, roc_auc};
use vad::{FrameDecision, Method, Segment, Vad, VadConfig, VadError, detect, remove_silence};

const SR: u32 = 16_000;

/// Silence, a harmonic "voice" with a syllable envelope, silence, another burst, noise floor.
fn speechlike(seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    let mut noise = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.002
    };
    (0..48_000)
        .map(|n| {
            let t = n as f32 / SR as f32;
            let voiced = (0.5..1.4).contains(&t) || (2.0..2.6).contains(&t);
            let env = if voiced { (t * 4.0 * std::f32::consts::PI).sin().abs() * 0.8 + 0.2 } else { 0.0 };
            let f0 = 140.0;
            let harmonics: f32 = (1..8).map(|h| (std::f32::consts::TAU * f0 * h as f32 * t).sin() / h as f32).sum();
            0.2 * env * harmonics + noise()
        })
        .collect()
}

fn stream(x: &[f32], cfg: &VadConfig, cuts: &[usize]) -> Vec<FrameDecision> {
    let mut vad = Vad::new(SR, cfg.clone()).unwrap();
    let mut out = Vec::new();
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (x.len() + 1)).collect();
    points.sort_unstable();
    let mut last = 0;
    for p in points {
        vad.push(&x[last..p], &mut out).unwrap();
        last = p;
    }
    vad.push(&x[last..], &mut out).unwrap();
    vad.flush(&mut out);
    out
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn streaming_equals_batch(
        seed in any::<u64>(),
        cuts in prop::collection::vec(0usize..48_001, 0..20),
        method in prop::sample::select(vec![
            Method::SubbandSnr { threshold_db: 3.7 },
            Method::AdaptiveEnergy { margin_db: 6.0 },
            Method::FixedEnergy { threshold_db: -40.0 },
        ]),
        zcr in prop::option::of(0.2f64..0.5),
    ) {
        let x = speechlike(seed);
        let cfg = VadConfig { method, zcr_onset: zcr, ..VadConfig::default() };
        let batch = detect(&x, SR, &cfg).unwrap().frames;
        prop_assert_eq!(stream(&x, &cfg, &cuts), batch);
    }
}

#[test]
fn streaming_memory_is_bounded() {
    // An hour in 10 ms pushes would need ~460 MB if samples were kept; the detector keeps a
    // bounded window. Here: 10 minutes, and the decisions arrive with bounded latency.
    let mut vad = Vad::new(SR, VadConfig::default()).unwrap();
    let chunk = speechlike(7);
    let mut out = Vec::new();
    for _ in 0..200 {
        vad.push(&chunk, &mut out).unwrap();
    }
    let produced = out.len();
    let pushed_frames = 200 * chunk.len() / 160;
    assert!(pushed_frames - produced < 150, "latency {} frames", pushed_frames - produced);
    vad.flush(&mut out);
    assert_eq!(out.len(), pushed_frames);
}

#[test]
fn finds_the_two_bursts() {
    let d = detect(&speechlike(3), SR, &VadConfig::default()).unwrap();
    assert_eq!(d.segments.len(), 2, "{:?}", d.segments);
    assert!((d.segments[0].start_s - 0.5).abs() < 0.08 && (d.segments[0].end_s - 1.4).abs() < 0.12, "{:?}", d.segments);
    assert!((d.segments[1].start_s - 2.0).abs() < 0.08 && (d.segments[1].end_s - 2.6).abs() < 0.12, "{:?}", d.segments);
    assert!((d.speech_ratio - 1.5 / 3.0).abs() < 0.08);
}

#[test]
fn paper_rule_is_a_fixed_energy_threshold() {
    // -20 dBFS tone for 0.5 s between -60 dBFS hiss: exactly the tone's frames pass -40 dB.
    let x: Vec<f32> = (0..24_000)
        .map(|n| {
            let tone = (8_000..16_000).contains(&n);
            let a = if tone { 0.1 * 2f32.sqrt() } else { 0.001 * 2f32.sqrt() };
            a * (n as f32 * 0.3).sin()
        })
        .collect();
    let d = detect(&x, SR, &VadConfig::paper(-40.0)).unwrap();
    let speech: Vec<usize> = d.frames.iter().enumerate().filter(|(_, f)| f.speech).map(|(i, _)| i).collect();
    assert!(speech.first().is_some_and(|&i| (49..=50).contains(&i)), "{:?}", speech.first());
    assert!(speech.last().is_some_and(|&i| (99..=100).contains(&i)), "{:?}", speech.last());
    assert!(d.frames[75].score > -21.0 && d.frames[75].score < -19.0, "{}", d.frames[75].score);
    assert!(d.frames[10].score < -59.0);
}

#[test]
fn edge_cases() {
    let cfg = VadConfig::default();
    // Empty input: no frames, no segments, no panic.
    let d = detect(&[], SR, &cfg).unwrap();
    assert!(d.frames.is_empty() && d.segments.is_empty() && d.speech_ratio == 0.0);
    // All zeros and a single frame's worth.
    assert!(detect(&vec![0.0; 16_000], SR, &cfg).unwrap().segments.is_empty());
    assert_eq!(detect(&[0.1; 160], SR, &cfg).unwrap().frames.len(), 1);
    assert_eq!(detect(&[0.1; 7], SR, &cfg).unwrap().frames.len(), 1);
    // A DC offset is not speech, for any method.
    for method in [
        Method::SubbandSnr { threshold_db: 3.7 },
        Method::AdaptiveEnergy { margin_db: 6.0 },
        Method::FixedEnergy { threshold_db: -40.0 },
    ] {
        let c = VadConfig { method, ..VadConfig::default() };
        assert!(detect(&vec![0.5; 32_000], SR, &c).unwrap().segments.is_empty(), "{method:?}");
    }
    // Clipped speech is still speech.
    let clipped: Vec<f32> = speechlike(5).iter().map(|v| (v * 20.0).clamp(-1.0, 1.0)).collect();
    assert_eq!(detect(&clipped, SR, &cfg).unwrap().segments.len(), 2);
    // NaN / inf are errors naming the sample.
    let mut bad = speechlike(5);
    bad[1234] = f32::NAN;
    assert!(matches!(detect(&bad, SR, &cfg), Err(VadError::NonFiniteSample { index: 1234 })));
    bad[1234] = f32::INFINITY;
    assert!(detect(&bad, SR, &cfg).is_err());
    // Other sample rates: frames are in seconds.
    let x8k: Vec<f32> = speechlike(9).iter().step_by(2).copied().collect();
    let d = detect(&x8k, 8_000, &cfg).unwrap();
    assert_eq!(d.hop_samples, 80);
    assert_eq!(d.segments.len(), 2);
    // Bad configurations.
    assert!(Vad::new(SR, VadConfig { hop_ms: 0.0, ..VadConfig::default() }).is_err());
    assert!(Vad::new(SR, VadConfig { frame_ms: 5.0, ..VadConfig::default() }).is_err());
    assert!(Vad::new(0, VadConfig::default()).is_err());
    // Pushing after flush.
    let mut v = Vad::new(SR, VadConfig::default()).unwrap();
    let mut out = Vec::new();
    v.flush(&mut out);
    assert!(matches!(v.push(&[0.0], &mut out), Err(VadError::Finished)));
}

#[test]
fn silence_removal_and_time_map() {
    let x: Vec<f32> = (0..16_000).map(|n| n as f32).collect();
    let segs = [Segment { start_s: 0.1, end_s: 0.2 }, Segment { start_s: 0.5, end_s: 0.75 }];
    let (y, map) = remove_silence(&x, SR, &segs);
    assert_eq!(y.len(), 1600 + 4000);
    assert_eq!(y[0], 1600.0);
    assert_eq!(y[1600], 8000.0);
    assert!((map.trimmed_duration_s() - 0.35).abs() < 1e-12);
    // Trimmed → original and back.
    assert!((map.to_original(0.0) - 0.1).abs() < 1e-12);
    assert!((map.to_original(0.05) - 0.15).abs() < 1e-12);
    assert!((map.to_original(0.1) - 0.5).abs() < 1e-12, "joint maps to the later piece");
    assert!((map.to_original(0.3) - 0.7).abs() < 1e-12);
    assert!((map.to_original(9.0) - 0.75).abs() < 1e-12, "past the end clamps");
    assert_eq!(map.to_trimmed(0.3), None, "removed instant");
    assert!((map.to_trimmed(0.6).unwrap() - 0.2).abs() < 1e-12);
    for t in [0.0, 0.01, 0.099, 0.1, 0.2, 0.3499] {
        assert!((map.to_trimmed(map.to_original(t)).unwrap() - t).abs() < 1e-9, "{t}");
    }
    // Segments past the end are clipped.
    let (y, _) = remove_silence(&x, SR, &[Segment { start_s: 0.9, end_s: 5.0 }]);
    assert_eq!(y.len(), 1600);
}

#[test]
fn metrics() {
    let d = [true, true, false, false, true, false];
    let l = [true, false, false, true, true, false];
    let m = frame_metrics(&d, &l);
    assert_eq!((m.true_positives, m.false_positives, m.true_negatives, m.false_negatives), (2, 1, 2, 1));
    assert!((m.precision - 2.0 / 3.0).abs() < 1e-12);
    assert!((m.recall - 2.0 / 3.0).abs() < 1e-12);
    assert!((m.f1 - 2.0 / 3.0).abs() < 1e-12);
    assert!((m.false_alarm_rate - 1.0 / 3.0).abs() < 1e-12);
    assert_eq!(roc_auc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]), Some(0.75));
    assert_eq!(roc_auc(&[1.0, 1.0], &[true, false]), Some(0.5));
    assert_eq!(roc_auc(&[1.0, 2.0], &[true, true]), None);
}
