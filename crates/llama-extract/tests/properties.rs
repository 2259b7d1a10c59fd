//! Properties over generated inputs (proptest; a failing case is shrunk and its seed saved under
//! `proptest-regressions/` next to this file, replayed first on the next run).
//!
//! - The constrained-decoding grammar is complete: every document the schema allows (with quotes
//!   that are whole words of the cited utterance) is accepted character by character, and the
//!   output parser reads it back to the same value. (Soundness, the converse, is fuzzed by the
//!   `extraction` target.)
//! - GGUF files written by `write_gguf` read back to the same metadata and tensors.

use std::collections::BTreeMap;

use llama_extract::extract::grammar::{Grammar, Narrowing};
use llama_extract::extract::parse_output;
use llama_extract::extract::schema::{
    EmotionLabel, ModelEmotion, ModelEvidence, ModelKeyPhrase, ModelOutput, ModelTopic, TopicCategory,
    model_output_schema,
};
use llama_extract::runtime::gguf::write_gguf;
use llama_extract::{GgufFile, GgufValue};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use quant5::GgmlType;

/// The string values of a `$defs` enum in the shipped schema (plain `enum` or schemars `oneOf`
/// of consts).
fn enum_values(def: &str) -> Vec<String> {
    let schema = model_output_schema();
    let d = &schema["$defs"][def];
    let mut out: Vec<String> =
        d["enum"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(String::from)).collect();
    for alt in d["oneOf"].as_array().into_iter().flatten() {
        out.extend(alt["const"].as_str().map(String::from));
        out.extend(alt["enum"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(String::from)));
    }
    assert!(!out.is_empty(), "no values for {def}");
    out
}

fn label<T: serde::de::DeserializeOwned>(name: &str) -> T {
    serde_json::from_value(serde_json::Value::String(name.to_string())).expect("a schema value deserialises")
}

/// Prose as the schema's free text must be (`x-prose`): a letter first, then letters, spaces,
/// punctuation and non-ASCII, `min..=max` characters. (JSON escapes in free strings are covered
/// by the grammar's unit tests; here quotes carry them.)
fn free_text(min: usize, max: usize) -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec!['a', 'T', 'é', 'z']),
        prop::collection::vec(
            prop_oneof![
                8 => prop::char::range('a', 'z'),
                2 => Just(' '),
                1 => prop::sample::select(vec!['é', '—', '’', '/', ',', '.', '\'', '(', ')', ':']),
            ],
            min.saturating_sub(1)..max,
        ),
    )
        .prop_map(|(first, rest)| std::iter::once(first).chain(rest).collect())
}

/// Utterances of plain words, and a document citing them.
fn transcript_and_output() -> impl Strategy<Value = (BTreeMap<u64, String>, ModelOutput)> {
    // Words may hold characters a JSON string must escape (`ab"cd`, `x\\y`).
    let words = prop::collection::vec(r#"[a-z]{1,8}(['"/\\][a-z]{1,3})?"#, 1..14).prop_map(|w| w.join(" "));
    prop::collection::btree_map(0u64..40, words, 1..6).prop_flat_map(|utterances| {
        let texts: Vec<(u64, String)> = utterances.iter().map(|(k, v)| (*k, v.clone())).collect();
        let pick_span = {
            let texts = texts.clone();
            move |max_chars: usize| {
                let texts = texts.clone();
                (0..texts.len(), any::<prop::sample::Index>(), any::<prop::sample::Index>()).prop_map(
                    move |(i, a, b)| {
                        let (index, text) = &texts[i];
                        let words: Vec<&str> = text.split(' ').collect();
                        let start = a.index(words.len());
                        let mut end = start + 1 + b.index(words.len() - start);
                        while end > start + 1 && words[start..end].join(" ").chars().count() > max_chars {
                            end -= 1;
                        }
                        (*index as usize, words[start..end].join(" "))
                    },
                )
            }
        };
        let evidence = prop::collection::vec(
            pick_span(120).prop_map(|(utterance_index, quote)| ModelEvidence { utterance_index, quote }),
            1..=2,
        );
        let emotions = prop::collection::vec(
            (prop::sample::select(enum_values("EmotionLabel")), 100u32..=1000, evidence.clone()).prop_map(
                |(name, milli, evidence)| ModelEmotion {
                    label: label::<EmotionLabel>(&name),
                    intensity: milli as f32 / 1000.0,
                    evidence,
                },
            ),
            0..=4,
        );
        let topics = prop::collection::vec(
            (prop::sample::select(enum_values("TopicCategory")), free_text(3, 40), evidence).prop_map(
                |(name, label_text, evidence)| ModelTopic {
                    category: label::<TopicCategory>(&name),
                    label: label_text,
                    evidence,
                },
            ),
            0..=4,
        );
        let key_phrases = prop::collection::vec(
            pick_span(60).prop_map(|(utterance_index, text)| ModelKeyPhrase { utterance_index, text }),
            0..=5,
        );
        let lists = || prop::collection::vec(free_text(12, 100), 0..=3);
        (Just(utterances), emotions, topics, key_phrases, free_text(20, 400), lists(), lists()).prop_map(
            |(u, emotions, topics, key_phrases, summary, concerns, suggested_actions)| {
                (u, ModelOutput { emotions, topics, key_phrases, summary, concerns, suggested_actions })
            },
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn the_grammar_accepts_every_schema_valid_document((utterances, output) in transcript_and_output()) {
        let n = utterances.keys().max().map_or(0, |m| *m as usize + 1);
        let narrowing = Narrowing { utterances, quotes_verbatim: true, default_max_chars: 200, default_max_items: 4, participant: None };
        let grammar = Grammar::from_schema(&model_output_schema(), &narrowing).unwrap();
        let text = serde_json::to_string(&output).unwrap();
        let mut m = grammar.matcher();
        for (at, c) in text.char_indices() {
            let before: String = text[..at].chars().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect();
            prop_assert!(m.feed(c), "rejected {c:?} at byte {at} after …{before}");
        }
        prop_assert!(m.is_done(), "not complete: {text}");
        prop_assert_eq!(parse_output(&text, 0..n), Some(output));
    }

    #[test]
    fn gguf_metadata_and_tensors_round_trip(
        ints in prop::collection::vec(any::<i64>(), 0..20),
        floats in prop::collection::vec(-1e30f64..1e30, 0..8),
        strings in prop::collection::vec("\\PC{0,12}", 0..10),
        flag in any::<bool>(),
        rows in 1usize..5,
        blocks in 1usize..4,
        seed in any::<u64>(),
    ) {
        let metadata = vec![
            ("general.architecture", GgufValue::String("llama".into())),
            ("test.ints", GgufValue::Array(ints.iter().map(|&v| GgufValue::I64(v)).collect())),
            ("test.floats", GgufValue::Array(floats.iter().map(|&v| GgufValue::F64(v)).collect())),
            ("test.strings", GgufValue::Array(strings.iter().map(|s| GgufValue::String(s.clone())).collect())),
            ("test.nested", GgufValue::Array(vec![GgufValue::Array(vec![GgufValue::U8(7)]), GgufValue::Array(vec![])])),
            ("test.flag", GgufValue::Bool(flag)),
            ("test.small", GgufValue::U16(seed as u16)),
        ];
        let cols = 32 * blocks;
        let values: Vec<f32> = (0..rows * cols).map(|i| ((seed.wrapping_mul(i as u64 + 1) >> 40) as f32 / 1e6) - 8.0).collect();
        let q = quant5::QuantizedMatrix::quantize(GgmlType::Q5_1, rows, cols, &values).unwrap();
        let f32_bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let image = write_gguf(
            &metadata,
            &[
                ("w.q5_1", vec![cols as u64, rows as u64], GgmlType::Q5_1, &q.bytes),
                ("w.f32", vec![cols as u64, rows as u64], GgmlType::F32, &f32_bytes),
            ],
        );
        let file = GgufFile::from_bytes(image).unwrap();
        for (key, value) in &metadata {
            prop_assert_eq!(file.get(key), Some(value));
        }
        prop_assert_eq!(file.metadata.len(), metadata.len());
        let t = file.tensor("w.q5_1").unwrap();
        prop_assert_eq!(file.tensor_data(t), &q.bytes[..]);
        let t = file.tensor("w.f32").unwrap();
        prop_assert_eq!(file.tensor_data(t), &f32_bytes[..]);
        prop_assert_eq!(t.matrix_shape(), Some((rows, cols)));
    }
}
