//! Grammar-constrained decoding: a JSON Schema compiled to a character automaton, and a trie of
//! the tokenizer's vocabulary so each step only offers tokens that keep the output a valid
//! prefix of a schema-conformant document.
//!
//! The schema subset is what [`super::schema::ModelOutput`]'s generated schema uses: objects
//! (every `required` property, in that order), arrays with `maxItems`, strings with `maxLength`,
//! string enums, integers and numbers in `[minimum, maximum]`, `$ref` into `$defs`. Output is
//! compact JSON (no whitespace between tokens of the syntax), which costs the model nothing and
//! keeps the automaton small. Two refinements tie the output to the transcript, each named by a
//! keyword of the schema (so the schema, not this compiler, says which fields they apply to): an
//! integer marked `x-utterance-index` only admits the indices of the prompt, and a string marked
//! `x-verbatim-quote` can be required to be whole words copied verbatim from an utterance. When
//! the quote comes right before its index (as in [`super::schema::ModelEvidence`]), the quote
//! may be taken from any utterance the index admits and the index then admits only the
//! utterances where those words occur: the model copies words, which a small model does well,
//! and the grammar works out where they are. When the index comes first, the quote is taken
//! from the utterance it named.
//!
//! ```
//! use llama_extract::extract::grammar::{Grammar, Narrowing};
//! use llama_extract::extract::schema::model_output_schema;
//!
//! let n = Narrowing {
//!     utterances: [(3, "I can't sleep at night".to_string())].into_iter().collect(),
//!     quotes_verbatim: true,
//!     default_max_chars: 200,
//!     default_max_items: 4,
//!     participant: None,
//! };
//! let grammar = Grammar::from_schema(&model_output_schema(), &n).unwrap();
//! let mut m = grammar.matcher();
//! assert!(m.feed_str(r#"{"emotions":[{"evidence":[{"quote":"can't sleep"#));
//! assert!(!m.clone().feed_str(" well"), "not the utterance's words");
//! let done = m.completion(); // the shortest valid ending, with the index the quote implies
//! assert!(done.starts_with(r#"","utterance_index":3}],"label":"#));
//! ```

use std::collections::BTreeMap;

use crate::LlamaError;

mod compile;
mod matcher;
mod trie;

pub use matcher::{Matcher, is_citable};
pub use trie::{GrammarConstraint, TokenSet, TokenTrie};

/// Index of a [`Shape`] in [`Grammar::shapes`].
type ShapeId = usize;

/// One node of the compiled schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// Properties in order (all of them are written), each with the text that introduces it
    /// (`{"key":` for the first, `,"key":` after).
    Object(Vec<(String, ShapeId)>, Vec<String>),
    /// A JSON array of one item shape.
    Array {
        /// The shape of every item.
        item: ShapeId,
        /// Fewest items.
        min_items: usize,
        /// Most items.
        max_items: usize,
    },
    /// A free string of `min_chars..=max_chars` characters; `prose` (the schema's `x-prose`)
    /// also requires a letter first and refuses [`NOT_PROSE`] characters, so free text cannot
    /// hold markup, template fragments or questions.
    String {
        /// Fewest characters.
        min_chars: usize,
        /// Most characters.
        max_chars: usize,
        /// Prose rules apply.
        prose: bool,
    },
    /// One of these strings.
    Enum(Vec<String>),
    /// An integer from this set (written in decimal).
    Integer(Vec<u64>),
    /// A number in `[min, 1]` written as `0`, `1`, `1.0` or `0.` and 1–3 digits.
    UnitInterval {
        /// Smallest value allowed.
        min: f64,
    },
    /// Whole words copied verbatim from one utterance (at most `max_chars` characters): the one
    /// the preceding `utterance_index` chose, or — when the quote comes first — any utterance
    /// that the following index may name, which is then narrowed to where the quote occurs.
    Quote {
        /// Most characters.
        max_chars: usize,
        /// Quote first: the [`Shape::Integer`] of the `utterance_index` right after it, whose
        /// values are the utterances the quote may come from.
        names_index: Option<ShapeId>,
    },
}

/// A compiled schema and the utterances it may quote.
#[derive(Debug, Clone)]
pub struct Grammar {
    /// Every node; [`Shape`]s refer to each other by index.
    pub shapes: Vec<Shape>,
    /// The document's node.
    pub root: ShapeId,
    /// Texts by utterance index, for [`Shape::Quote`].
    pub utterances: BTreeMap<u64, String>,
}

/// How the schema's generic parts are narrowed for one prompt.
#[derive(Debug, Clone, Default)]
pub struct Narrowing {
    /// Allowed `utterance_index` values with their texts.
    pub utterances: BTreeMap<u64, String>,
    /// Make `quote` strings verbatim substrings of the indexed utterance.
    pub quotes_verbatim: bool,
    /// Longest free string when the schema gives no `maxLength`.
    pub default_max_chars: usize,
    /// Most items when the schema gives no `maxItems`.
    pub default_max_items: usize,
    /// The participant's utterances (a subset of `utterances`), when speakers are known: the
    /// `utterance_index` of a schema node marked `x-participant-only` admits only these, and an
    /// `x-participant-only` array with none of them to cite must stay empty. `None`: no
    /// speaker restriction.
    pub participant: Option<std::collections::BTreeSet<u64>>,
}

/// Characters a prose string (`x-prose`) refuses: markup, template and code syntax, and `?`
/// (free text states findings; it does not ask).
pub const NOT_PROSE: &[char] =
    &['{', '}', '[', ']', '<', '>', '|', '\\', '#', '*', '_', '~', '^', '=', '@', '$', '`', '?'];

/// Whether `c` may appear in a prose string.
pub fn is_prose_char(c: char) -> bool {
    !c.is_control() && !NOT_PROSE.contains(&c)
}

/// Schema keyword of an integer that is an utterance index: it admits only the indices of
/// [`Narrowing::utterances`] (or the participant's, under `x-participant-only`).
pub const UTTERANCE_INDEX: &str = "x-utterance-index";

/// Schema keyword of a string that is a quote: under [`Narrowing::quotes_verbatim`], whole words
/// copied verbatim from one utterance — the one the preceding utterance index chose, or, when an
/// utterance index follows the quote, one of those it admits.
pub const VERBATIM_QUOTE: &str = "x-verbatim-quote";

/// The project's schema keywords, which hold for the whole subtree they mark (an array's
/// items, an object's properties).
#[derive(Debug, Clone, Copy, Default)]
struct Marks {
    /// `x-participant-only`: indices cite only the participant ([`Narrowing::participant`]).
    participant_only: bool,
    /// `x-prose`: free strings are prose ([`Shape::String`]).
    prose: bool,
}

fn schema_err(what: impl Into<String>) -> LlamaError {
    crate::extract::ExtractError::Schema(what.into()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_sets_mask_exactly_their_ids() {
        let mut set = TokenSet::with_vocab(130);
        for id in [0, 63, 64, 129, 500] {
            set.insert(id);
        }
        assert_eq!(set.iter().collect::<Vec<_>>(), vec![0, 63, 64, 129], "500 is past the vocabulary");
        assert_eq!(set.len(), 4);
        assert!(set.contains(64) && !set.contains(65) && !set.contains(500));
        // Logits shorter and longer than the set's vocabulary.
        for n in [100, 130, 200] {
            let mut logits: Vec<f32> = (0..n).map(|i| i as f32).collect();
            set.mask_logits(&mut logits);
            for (i, l) in logits.iter().enumerate() {
                if set.contains(i as u32) {
                    assert_eq!(*l, i as f32, "{n}: {i}");
                } else {
                    assert_eq!(*l, f32::NEG_INFINITY, "{n}: {i}");
                }
            }
        }
        assert!(TokenSet::with_vocab(70).is_empty() && !set.is_empty());
    }

    /// The trie's allowed tokens at `m`, ascending.
    fn allowed_tokens(trie: &TokenTrie, m: &Matcher<'_>) -> Vec<u32> {
        let mut out = Vec::new();
        trie.allowed(m, &mut out);
        out
    }

    fn grammar() -> Grammar {
        let schema = serde_json::json!({
            "type": "object",
            "required": ["tags", "score", "cite"],
            "properties": {
                "tags": {"type": "array", "maxItems": 2, "items": {"enum": ["sad", "sadder", "calm"]}},
                "score": {"type": "number", "minimum": 0.0, "maximum": 1.0},
                "cite": {"type": "array", "items": {"$ref": "#/$defs/Cite"}}
            },
            "$defs": {"Cite": {"type": "object", "required": ["utterance_index", "quote"], "properties": {
                "utterance_index": {"type": "integer", "minimum": 0, "x-utterance-index": true},
                "quote": {"type": "string", "maxLength": 20, "x-verbatim-quote": true}
            }}}
        });
        let mut utterances = BTreeMap::new();
        utterances.insert(3, "I can't sleep at night".to_string());
        utterances.insert(12, "work is fine".to_string());
        let n = test_narrowing(utterances);
        Grammar::from_schema(&schema, &n).unwrap()
    }

    /// Verbatim quotes, small defaults, no speaker rule.
    fn test_narrowing(utterances: BTreeMap<u64, String>) -> Narrowing {
        Narrowing { utterances, quotes_verbatim: true, default_max_chars: 50, default_max_items: 3, participant: None }
    }

    fn accepts(g: &Grammar, text: &str) -> bool {
        let mut m = g.matcher();
        m.feed_str(text) && m.is_done()
    }

    #[test]
    fn only_utterances_with_a_word_to_quote_can_be_cited() {
        // Found by the extraction fuzz target: `'be` has letters but no word start (the
        // apostrophe joins), so citing it led to a quote that could not begin.
        let schema = serde_json::json!({
            "type": "object", "required": ["cite"],
            "properties": {"cite": {"type": "object", "required": ["utterance_index", "quote"], "properties": {
                "utterance_index": {"type": "integer", "minimum": 0, "x-utterance-index": true},
                "quote": {"type": "string", "maxLength": 40, "x-verbatim-quote": true}
            }}}
        });
        let utterances: BTreeMap<u64, String> = [(0, "'be".to_string()), (1, "fine".to_string())].into();
        assert!(!is_citable("'be") && is_citable("fine") && !is_citable("…?!"));
        let n = test_narrowing(utterances);
        let g = Grammar::from_schema(&schema, &n).unwrap();
        assert!(!g.matcher().feed_str(r#"{"cite":{"utterance_index":0"#));
        assert!(accepts(&g, r#"{"cite":{"utterance_index":1,"quote":"fine"}}"#));
        let n = Narrowing { utterances: [(0, "'be".to_string())].into(), ..n };
        assert!(Grammar::from_schema(&schema, &n).is_err(), "nothing to cite");
    }

    /// The extraction schema over an interviewer question (0) and a participant answer (1).
    fn interview(participant: &[u64]) -> Grammar {
        let utterances: BTreeMap<u64, String> =
            [(0, "do you feel sad or hopeless?".to_string()), (1, "i feel sad most days at work".to_string())].into();
        let n = Narrowing {
            utterances,
            quotes_verbatim: true,
            default_max_chars: 200,
            default_max_items: 4,
            participant: Some(participant.iter().copied().collect()),
        };
        Grammar::from_schema(&crate::extract::schema::model_output_schema(), &n).unwrap()
    }

    /// An emotion's evidence, up to its label.
    const EMOTION_HEAD: &str = r#"{"emotions":[{"evidence":[{"quote":"i feel sad","utterance_index":1}],"#;
    const TAIL: &str = r#"],"topics":[],"key_phrases":[],"summary":"The participant feels sad at work.","concerns":[],"suggested_actions":[]}"#;

    #[test]
    fn the_tables_offer_what_the_matcher_accepts_along_an_extraction() {
        // Every state along a whole answer of the extraction schema (prose strings' first
        // letters, free text, quotes, enums, numbers), the trie's shortcuts against feeding
        // every token.
        let g = interview(&[1]);
        let doc = format!(
            "{}{}",
            r#"{"emotions":[{"evidence":[{"quote":"i feel sad","utterance_index":1}],"label":"sadness","intensity":0.6}],"topics":[{"evidence":[{"quote":"at work","utterance_index":1}],"category":"work","label":"Low mood at work"}],"#,
            r#""key_phrases":[],"summary":"The participant feels sad at work.","concerns":["Sad most days."],"suggested_actions":[]}"#
        );
        assert!(accepts(&g, &doc));
        let mut texts: Vec<String> =
            ["The", " the", "sad", " sad", "Sad", "\"", "\",\"", "\"]", "\"],\"", "0", ".", "6", "work", " at", "1"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        // Every character of the document as a token, and a few a prose start refuses.
        texts.extend(doc.chars().map(String::from));
        texts.extend(["9lives", " leading", "-dash", "Éclair", "a{b", "x\\n", "é"].map(String::from));
        let trie = TokenTrie::new(texts);
        for (cut, _) in doc.char_indices() {
            let mut m = g.matcher();
            assert!(m.feed_str(&doc[..cut]));
            let out = allowed_tokens(&trie, &m);
            let brute: Vec<u32> =
                (0..trie.texts.len() as u32).filter(|&i| m.clone().feed_str(&trie.texts[i as usize])).collect();
            assert_eq!(out, brute, "after {:?}", &doc[..cut]);
        }
    }

    #[test]
    fn emotion_evidence_cites_only_the_participant_and_topics_cite_anyone() {
        let g = interview(&[1]);
        let emotion = |q: &str, i: u64| {
            format!(
                r#"{{"emotions":[{{"evidence":[{{"quote":"{q}","utterance_index":{i}}}],"label":"sadness","intensity":0.6}}"#
            )
        };
        assert!(accepts(&g, &format!("{}{TAIL}", emotion("i feel sad", 1))));
        assert!(
            !g.matcher().feed_str(r#"{"emotions":[{"evidence":[{"quote":"sad or"#),
            "the interviewer's words are not the participant's feelings"
        );
        // "feel sad" is in both utterances; for an emotion only the participant's can be named.
        assert!(!g.matcher().feed_str(&emotion("feel sad", 0)));
        let mut m = g.matcher();
        assert!(m.feed_str(r#"{"emotions":[{"evidence":[{"quote":"feel sad""#));
        assert!(m.completion().starts_with(r#","utterance_index":1}"#), "{}", m.completion());
        let topic = |q: &str, i: u64| {
            format!(
                r#"{{"emotions":[],"topics":[{{"evidence":[{{"quote":"{q}","utterance_index":{i}}}],"category":"mood","label":"low mood"}}],"key_phrases":[],"summary":"The participant feels sad at work.","concerns":[],"suggested_actions":[]}}"#
            )
        };
        assert!(accepts(&g, &topic("sad or hopeless", 0)));
        // A topic may cite either speaker, but only where its words are.
        assert!(accepts(&g, &topic("feel sad", 0)) && accepts(&g, &topic("feel sad", 1)));
        assert!(!accepts(&g, &topic("sad or hopeless", 1)) && !accepts(&g, &topic("most days", 0)));
        // A reported emotion has evidence and some intensity.
        assert!(!g.matcher().feed_str(r#"{"emotions":[{"evidence":[]"#));
        for zero in ["0}", "0.0", "0.05", "0.099"] {
            assert!(!g.matcher().feed_str(&format!(r#"{EMOTION_HEAD}"label":"sadness","intensity":{zero}"#)), "{zero}");
        }
        for some in ["0.1}", "0.25}", "1}", "1.0}"] {
            assert!(g.matcher().feed_str(&format!(r#"{EMOTION_HEAD}"label":"sadness","intensity":{some}"#)), "{some}");
        }
        // With no participant utterance to cite, there are no emotions to report.
        let g = interview(&[]);
        assert!(!g.matcher().feed_str(r#"{"emotions":[{"#));
        assert!(accepts(&g, &format!(r#"{{"emotions":[{TAIL}"#)));
    }

    #[test]
    fn key_phrases_cite_only_the_participant() {
        let g = interview(&[1]);
        let phrase = |t: &str, i: u64| {
            format!(
                r#"{{"emotions":[],"topics":[],"key_phrases":[{{"text":"{t}","utterance_index":{i}}}],"summary":"The participant feels sad at work.","concerns":[],"suggested_actions":[]}}"#
            )
        };
        assert!(accepts(&g, &phrase("sad most days at work", 1)));
        // The interviewer's question is not a finding, even where its words are the
        // participant's too.
        assert!(!accepts(&g, &phrase("sad or hopeless", 0)));
        assert!(!accepts(&g, &phrase("feel sad", 0)) && accepts(&g, &phrase("feel sad", 1)));
        // With no participant utterance to cite, there are no key phrases.
        let g = interview(&[]);
        assert!(!g.matcher().feed_str(r#"{"emotions":[],"topics":[],"key_phrases":[{"#));
    }

    #[test]
    fn free_text_is_prose_of_a_minimum_length() {
        let g = interview(&[1]);
        let with_summary = |s: &str| {
            format!(
                r#"{{"emotions":[],"topics":[],"key_phrases":[],"summary":"{s}","concerns":[],"suggested_actions":[]}}"#
            )
        };
        assert!(accepts(&g, &with_summary("The participant feels sad at work.")));
        for bad in [
            "How are things at work?",                // a question
            "{{{{}}}}, i'm not sure what's going on", // template fragment
            "Sad <|im_end|> at work all the time",
            "- sad at work, tired all the time",     // not a letter first
            "Sad at work.",                          // under 20 characters
            "Sad at \"work\" all the time and more", // no escapes in prose
        ] {
            assert!(!accepts(&g, &with_summary(bad)), "{bad}");
        }
        // Completing a short prose string pads it to a valid document.
        let mut m = g.matcher();
        assert!(m.feed_str(r#"{"emotions":[],"topics":[],"key_phrases":[],"summary":"Sad"#));
        let done = format!(r#"{{"emotions":[],"topics":[],"key_phrases":[],"summary":"Sad{}"#, m.completion());
        assert!(accepts(&g, &done), "{done}");
        let mut m = g.matcher();
        assert!(m.feed_str(
            r#"{"emotions":[],"topics":[],"key_phrases":[],"summary":"The participant sleeps badly.","concerns":["#
        ));
        let done = format!(
            r#"{{"emotions":[],"topics":[],"key_phrases":[],"summary":"The participant sleeps badly.","concerns":[{}"#,
            m.completion()
        );
        assert!(accepts(&g, &done), "{done}");
        // The trie never offers a prose string a token it would refuse.
        let texts: Vec<String> =
            ["The", " sad", "?", " {{", "\"", ".\"", " work?", "<|", "a\\"].iter().map(|s| s.to_string()).collect();
        let trie = TokenTrie::new(texts.clone());
        let mut m = g.matcher();
        assert!(m.feed_str(r#"{"emotions":[],"topics":[],"key_phrases":[],"summary":"The sad"#));
        let mut out: Vec<u32>;
        out = allowed_tokens(&trie, &m);
        out.sort();
        let names: Vec<&str> = out.iter().map(|&i| texts[i as usize].as_str()).collect();
        assert_eq!(names, vec!["The", " sad"], "too short to close yet");
    }

    #[test]
    fn json_escapes_in_free_strings_and_quotes() {
        let schema = serde_json::json!({
            "type": "object", "required": ["note", "cite"],
            "properties": {
                "note": {"type": "string", "maxLength": 8},
                "cite": {"type": "object", "required": ["utterance_index", "quote"], "properties": {
                    "utterance_index": {"type": "integer", "minimum": 0, "x-utterance-index": true},
                    "quote": {"type": "string", "maxLength": 40, "x-verbatim-quote": true}
                }}
            }
        });
        let mut utterances = BTreeMap::new();
        utterances.insert(0, r#"she said "no" to me\you"#.to_string());
        let n = test_narrowing(utterances);
        let g = Grammar::from_schema(&schema, &n).unwrap();
        let doc = |note: &str, quote: &str| {
            format!(r#"{{"note":"{note}","cite":{{"utterance_index":0,"quote":"{quote}"}}}}"#)
        };
        // Escapes count as one character each; every short escape and \u (not a lone surrogate).
        assert!(accepts(&g, &doc(r#"a\"b\\c\n\u00e9"#, "she")));
        assert!(accepts(&g, &doc(r#"\t\t\t\t\t\t\t\t"#, "she")));
        assert!(!accepts(&g, &doc(r#"\t\t\t\t\t\t\t\t\t"#, "she")), "9 characters in 8");
        assert!(!g.matcher().feed_str(r#"{"note":"\x"#));
        assert!(!g.matcher().feed_str(r#"{"note":"\uD8"#), "lone surrogate");
        assert!(g.matcher().feed_str(r#"{"note":"\uD7"#));
        // Quotes: an escaped character of the utterance matches it; nothing else does.
        assert!(accepts(&g, &doc("", r#"said \"no\" to me\\you"#)));
        let before_space = r#"{"note":"","cite":{"utterance_index":0,"quote":"said \"no\" to\"#;
        assert!(!g.matcher().feed_str(before_space), "escape where the utterance has none");
        assert!(!accepts(&g, &doc("", r#"said \"no\" to me\/you"#)));
        // Completing from inside an escape gives a document that parses.
        for prefix in
            [r#"{"note":"ab\"#, r#"{"note":"ab\u0"#, r#"{"note":"","cite":{"utterance_index":0,"quote":"said \"#]
        {
            let mut m = g.matcher();
            assert!(m.feed_str(prefix), "{prefix}");
            let full = format!("{prefix}{}", m.completion());
            assert!(accepts(&g, &full), "{full}");
            serde_json::from_str::<serde_json::Value>(&full).unwrap();
        }
    }

    #[test]
    fn documents_are_accepted_or_refused_as_the_schema_says() {
        let g = grammar();
        assert!(accepts(
            &g,
            r#"{"tags":["sad","calm"],"score":0.75,"cite":[{"utterance_index":3,"quote":"sleep at"}]}"#
        ));
        assert!(accepts(&g, r#"{"tags":[],"score":1,"cite":[]}"#));
        assert!(accepts(&g, r#"{"tags":["sadder"],"score":0,"cite":[{"utterance_index":12,"quote":"work"}]}"#));
        for bad in [
            r#"{"tags":["happy"],"score":0.5,"cite":[]}"#,           // not in the enum
            r#"{"tags":["sad","sad","sad"],"score":0.5,"cite":[]}"#, // maxItems
            r#"{"tags":[],"score":1.5,"cite":[]}"#,                  // range
            r#"{"tags":[],"score":0.5,"cite":[{"utterance_index":4,"quote":"x"}]}"#, // no such utterance
            r#"{"tags":[],"score":0.5,"cite":[{"utterance_index":3,"quote":"work"}]}"#, // not in utterance 3
            r#"{"tags":[],"score":0.5,"cite":[{"utterance_index":3,"quote":"leep at"}]}"#, // not a whole word
            r#"{"tags":[],"score":0.5,"cite":[{"utterance_index":3,"quote":"sleep a"}]}"#, // not a whole word
            r#"{"tags":[],"score":0.5,"cite":[{"utterance_index":3,"quote":""}]}"#, // empty
            r#"{"tags":[],"score":0.5,"cite":[{"utterance_index":12,"quote":"work is fine"}]} "#, // trailing text
            r#"{"score":0.5,"tags":[],"cite":[]}"#,                  // order
            r#"{"tags": [],"score":0.5,"cite":[]}"#,                 // whitespace
        ] {
            assert!(!accepts(&g, bad), "{bad}");
        }
    }

    #[test]
    fn a_quote_written_first_narrows_the_index_to_where_it_occurs() {
        let schema = serde_json::json!({
            "type": "object", "required": ["cite"],
            "properties": {"cite": {"type": "array", "maxItems": 2, "items": {"type": "object",
                "required": ["quote", "utterance_index"], "properties": {
                "quote": {"type": "string", "maxLength": 12, "x-verbatim-quote": true},
                "utterance_index": {"type": "integer", "minimum": 0, "x-utterance-index": true}
            }}}}
        });
        let utterances: BTreeMap<u64, String> = [
            (2, "work is fine".to_string()),
            (5, "work is hard, \"really\" hard".to_string()),
            (9, "?!".to_string()), // nothing to quote
        ]
        .into();
        let g = Grammar::from_schema(&schema, &test_narrowing(utterances)).unwrap();
        let doc = |q: &str, i: u64| format!(r#"{{"cite":[{{"quote":"{q}","utterance_index":{i}}}]}}"#);
        assert!(accepts(&g, &doc("work is", 2)) && accepts(&g, &doc("work is", 5)));
        assert!(accepts(&g, &doc("fine", 2)) && !accepts(&g, &doc("fine", 5)));
        assert!(accepts(&g, &doc(r#"really\" hard"#, 5)) && !accepts(&g, &doc("hard", 2)));
        assert!(!accepts(&g, &doc("work i", 2)), "not a whole word");
        assert!(!accepts(&g, &doc("fine", 9)) && !accepts(&g, &doc("is fine", 1)));
        // Two quotes: each narrows its own index.
        let two = r#"{"cite":[{"quote":"fine","utterance_index":2},{"quote":"hard","utterance_index":5}]}"#;
        assert!(accepts(&g, two));
        let trie = TokenTrie::new(
            ["{\"", "cite\":[{\"", "quote\":\"", "work", " is", " hard", "\",\"", "2", "5", "}]}", "\\\""]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        );
        let mut out: Vec<u32>;
        for cut in 0..two.len() {
            let mut m = g.matcher();
            assert!(m.feed_str(&two[..cut]));
            // Every prefix completes, and the trie offers exactly what the matcher accepts.
            let completed = format!("{}{}", &two[..cut], m.completion());
            assert!(accepts(&g, &completed), "{completed}");
            out = allowed_tokens(&trie, &m);
            out.sort();
            let brute: Vec<u32> =
                (0..trie.texts.len() as u32).filter(|&i| m.clone().feed_str(&trie.texts[i as usize])).collect();
            assert_eq!(out, brute, "after {:?}", &two[..cut]);
        }
    }

    #[test]
    fn a_refused_character_leaves_the_state_unchanged() {
        let g = grammar();
        let mut m = g.matcher();
        assert!(m.feed_str(r#"{"tags":["sa"#));
        assert!(!m.feed('x'));
        assert!(m.feed_str(r#"d"],"score":0.5"#));
        assert!(!m.feed('x'));
        assert!(m.feed_str(r#","cite":[]}"#) && m.is_done());
    }

    #[test]
    fn every_prefix_completes_to_a_valid_document() {
        let g = grammar();
        let doc = r#"{"tags":["sad"],"score":0.75,"cite":[{"utterance_index":12,"quote":"work is"}]}"#;
        for cut in 0..doc.len() {
            let mut m = g.matcher();
            assert!(m.feed_str(&doc[..cut]));
            let completed = format!("{}{}", &doc[..cut], m.completion());
            assert!(accepts(&g, &completed), "{completed}");
            serde_json::from_str::<serde_json::Value>(&completed).unwrap();
        }
    }

    #[test]
    fn the_trie_offers_exactly_the_tokens_that_fit() {
        let g = grammar();
        let texts: Vec<String> =
            ["{\"", "{", "\"tags", "\":[", "]", "sad", "\"sad", "\",\"", "x", "", "\u{fffd}", "calm\"]", " "]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let trie = TokenTrie::new(texts.clone());
        let mut out: Vec<u32>;
        let m = g.matcher();
        out = allowed_tokens(&trie, &m);
        out.sort();
        assert_eq!(out, vec![0, 1]);
        let mut m = g.matcher();
        assert!(m.feed_str(r#"{"tags":["#));
        out = allowed_tokens(&trie, &m);
        out.sort();
        let names: Vec<&str> = out.iter().map(|&i| texts[i as usize].as_str()).collect();
        assert_eq!(names, vec!["]", "\"sad"]);
        // Brute force agrees for every state along a document.
        let doc = r#"{"tags":["calm"],"score":0.5,"cite":[]}"#;
        for cut in 0..doc.len() {
            let mut m = g.matcher();
            assert!(m.feed_str(&doc[..cut]));
            out = allowed_tokens(&trie, &m);
            out.sort();
            let brute: Vec<u32> = (0..texts.len() as u32)
                .filter(|&i| {
                    let t = &texts[i as usize];
                    !t.is_empty() && !t.contains('\u{fffd}') && m.clone().feed_str(t)
                })
                .collect();
            assert_eq!(out, brute, "after {:?}", &doc[..cut]);
        }
    }
}
