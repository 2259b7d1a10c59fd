//! The constrained-decoding grammar and the extraction-output parser on arbitrary text.
//!
//! Oracles: nothing panics; a document the grammar accepts in full is JSON that the output
//! parser accepts (the grammar never admits what the schema forbids); the grammar's shortest
//! completion of any accepted prefix is such a document too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use llama_extract::extract::grammar::{Grammar, Narrowing};
use llama_extract::extract::parse_output;
use llama_extract::extract::schema::model_output_schema;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // The first line provides the utterances ("|"-separated), the rest is the answer.
    let (head, answer) = text.split_once('\n').unwrap_or(("I can't sleep|work is fine", text));
    let utterances: std::collections::BTreeMap<u64, String> = head
        .split('|')
        .take(8)
        .enumerate()
        .filter(|(_, u)| u.chars().any(char::is_alphanumeric))
        .map(|(i, u)| (i as u64, u.to_string()))
        .collect();
    let _ = parse_output(answer, 0..8);
    if utterances.is_empty() {
        return;
    }
    let n = utterances.keys().max().map_or(0, |m| *m as usize + 1);
    let narrowing = Narrowing { utterances, quotes_verbatim: true, default_max_chars: 64, default_max_items: 3 };
    let grammar = Grammar::from_schema(&model_output_schema(), &narrowing).expect("the shipped schema compiles");
    let mut m = grammar.matcher();
    let mut accepted = 0;
    for c in answer.chars() {
        if !m.feed(c) {
            break;
        }
        accepted += c.len_utf8();
    }
    let prefix = &answer[..accepted];
    if m.is_done() {
        assert!(parse_output(prefix, 0..n).is_some(), "accepted but invalid: {prefix}");
    }
    let completed = format!("{prefix}{}", m.completion());
    assert!(parse_output(&completed, 0..n).is_some(), "completion invalid: {completed}");
});
