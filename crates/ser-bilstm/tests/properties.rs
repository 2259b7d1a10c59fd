//! Properties of the data layer over generated inputs (proptest; failing seeds are saved to
//! `properties.proptest-regressions` beside this file and replayed first).

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use ser_bilstm::data::{RavdessName, parse_manifest};
use ser_bilstm::{EMOTIONS, StandardScaler};

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1024,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    /// Every valid RAVDESS name parses, prints back to itself, and gives label = emotion − 1;
    /// changing any field to an out-of-range value is an error naming the file.
    #[test]
    fn ravdess_names_round_trip(
        fields in (1u8..=3, 1u8..=2, 1u8..=8, 1u8..=2, 1u8..=2, 1u8..=2, 1u8..=99),
        bad_field in 0usize..6,
        folder in "(Actor_[0-9]{2}/)?",
    ) {
        let (m, v, e, i, s, r, a) = fields;
        let name = format!("{m:02}-{v:02}-{e:02}-{i:02}-{s:02}-{r:02}-{a:02}.wav");
        let parsed = RavdessName::parse(&format!("{folder}{name}")).unwrap();
        prop_assert_eq!(parsed.file_name(), name.clone());
        prop_assert_eq!(parsed.label(), e as usize - 1);
        prop_assert!(parsed.label() < EMOTIONS.len());
        let mut parts: Vec<String> = name.trim_end_matches(".wav").split('-').map(String::from).collect();
        parts[bad_field] = "09".into();
        let bad = format!("{}.wav", parts.join("-"));
        let err = RavdessName::parse(&bad).unwrap_err().to_string();
        prop_assert!(err.contains(&bad), "{}", err);
    }

    /// A manifest written from entries reads back to them, whatever the label spelling.
    #[test]
    fn manifests_round_trip(entries in prop::collection::vec(("[a-z]{1,8}(/[a-z]{1,8})?\\.npy", 0usize..8, prop::bool::ANY, "(spk[0-9]{1,3})?"), 1..20)) {
        let text: String = entries
            .iter()
            .map(|(path, label, by_name, speaker)| {
                let label = if *by_name { EMOTIONS[*label].to_uppercase() } else { label.to_string() };
                if speaker.is_empty() { format!("{path}\t{label}\n") } else { format!("{path}\t{label}\t{speaker}\r\n") }
            })
            .collect();
        let parsed = parse_manifest(&text, Path::new("lists/train.tsv")).unwrap();
        prop_assert_eq!(parsed.len(), entries.len());
        for (got, (path, label, _, speaker)) in parsed.iter().zip(&entries) {
            prop_assert_eq!(&got.path, &Path::new("lists").join(path));
            prop_assert_eq!(got.label, *label);
            prop_assert_eq!(got.speaker.as_str(), if speaker.is_empty() { "unknown" } else { speaker.as_str() });
        }
    }

    /// Standardised columns have mean 0 and unit variance (columns that vary).
    #[test]
    fn the_scaler_standardises_every_column(
        (dim, rows) in (1usize..6).prop_flat_map(|d| (Just(d), prop::collection::vec(prop::collection::vec(-1e3f32..1e3, d), 2..40)))
    ) {
        let scaler = StandardScaler::fit(rows.iter().map(Vec::as_slice), dim).unwrap();
        let mut flat: Vec<f32> = rows.concat();
        scaler.transform_in_place(&mut flat).unwrap();
        for c in 0..dim {
            let col: Vec<f64> = flat.iter().skip(c).step_by(dim).map(|&v| v as f64).collect();
            let raw: Vec<f32> = rows.iter().map(|r| r[c]).collect();
            let spread = raw.iter().copied().fold(f32::MIN, f32::max) - raw.iter().copied().fold(f32::MAX, f32::min);
            let mean = col.iter().sum::<f64>() / col.len() as f64;
            prop_assert!(mean.abs() < 1e-3, "column {c} mean {mean}");
            if spread > 1e-2 {
                let var = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / col.len() as f64;
                prop_assert!((var - 1.0).abs() < 1e-3, "column {c} variance {var}");
            }
        }
    }
}
