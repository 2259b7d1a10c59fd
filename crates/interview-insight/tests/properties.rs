//! Properties of the pipeline's pieces over generated inputs (proptest; failing seeds are saved
//! to `properties.proptest-regressions` beside this file and replayed first).

use std::path::Path;

use interview_insight::batch::parse_manifest;
use interview_insight::pipeline::{MAX_WINDOW_S, MIN_WINDOW_S, windows};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2048,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    /// Voice-emotion windows tile a speech segment exactly: contiguous, in order, each at most
    /// MAX_WINDOW_S and of equal length; segments shorter than MIN_WINDOW_S get none.
    #[test]
    fn windows_tile_the_segment(start in 0.0f64..7200.0, length in 0.0f64..120.0, three in any::<bool>()) {
        let end = start + length;
        let limit = if three { 3.0 } else { MAX_WINDOW_S };
        let w = windows(start, end, limit);
        if length < MIN_WINDOW_S {
            prop_assert!(w.is_empty());
            return Ok(());
        }
        prop_assert!(!w.is_empty());
        prop_assert_eq!(w[0].0, start);
        prop_assert_eq!(w[w.len() - 1].1, end);
        for pair in w.windows(2) {
            prop_assert_eq!(pair[0].1, pair[1].0, "gap or overlap");
        }
        for (a, b) in &w {
            prop_assert!(b - a <= limit + 1e-9 && b > a, "window {a}..{b}");
            prop_assert!(((b - a) - length / w.len() as f64).abs() < 1e-6, "unequal windows");
        }
        // As few windows as the limit allows.
        prop_assert_eq!(w.len(), (length / limit).ceil().max(1.0) as usize);
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    /// A batch manifest written from sessions reads back to them, blank lines and spacing aside;
    /// a repeated id is an error naming its line.
    #[test]
    fn batch_manifests_round_trip(ids in prop::collection::btree_set("[A-Za-z0-9_-]{1,10}", 1..30), blank in any::<prop::sample::Index>()) {
        let ids: Vec<String> = ids.into_iter().collect();
        let mut lines = vec!["id, transcript, audio".to_string()];
        for (k, id) in ids.iter().enumerate() {
            let transcript = if k % 3 == 2 { String::new() } else { format!("{id}/{id}_TRANSCRIPT.csv") };
            lines.push(format!("{id} ,{transcript}, {id}/{id}_AUDIO.wav"));
        }
        lines.insert(1 + blank.index(ids.len()), "   ".into());
        let text = lines.join("\n");
        let sessions = parse_manifest(&text, Path::new("data/manifest.csv")).unwrap();
        prop_assert_eq!(sessions.len(), ids.len());
        for (k, (s, id)) in sessions.iter().zip(&ids).enumerate() {
            prop_assert_eq!(&s.id, id);
            let audio = Path::new("data").join(format!("{id}/{id}_AUDIO.wav"));
            prop_assert_eq!(s.audio.as_deref(), Some(audio.as_path()));
            prop_assert_eq!(s.transcript.is_none(), k % 3 == 2);
        }
        let repeated = format!("{text}\n{},,x.wav", ids[0]);
        let err = parse_manifest(&repeated, Path::new("data/manifest.csv")).unwrap_err().to_string();
        prop_assert!(err.contains("duplicate") && err.contains(&format!(":{}", lines.len() + 1)), "{}", err);
    }
}
