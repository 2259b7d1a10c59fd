//! Property tests of the cleaner and parsers.

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use std::collections::HashMap;
use text_clean::{CleanConfig, Cleaner, Format, parse_bytes};

const VOCAB: &[&str] = &[
    "oh",
    "Oh",
    "ah",
    "um",
    "UH",
    "hmm",
    "hey",
    "alas",
    "well",
    "Well",
    "actually",
    "basically",
    "obviously",
    "umm",
    "er",
    "ummm",
    "uhh",
    "hmmm",
    "I",
    "don't",
    "know",
    "what",
    "to",
    "do",
    "can",
    "you",
    "help",
    "me",
    "ohm",
    "umbrella",
    "ahead",
    "well-known",
    "it's",
    "fine",
    "sleep",
    "tired",
    "work",
    "42",
];
const PUNCT: &[&str] = &[",", ".", "!", "?", "...", " -", ";", ":", "\"", "(", ")", "…"];

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '-' || c == '_'))
        .map(|w| w.trim_matches(|c| c == '\'' || c == '-'))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

fn counts(ws: &[String]) -> HashMap<&str, usize> {
    let mut m = HashMap::new();
    for w in ws {
        *m.entry(w.as_str()).or_default() += 1;
    }
    m
}

fn sentence() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (prop::sample::select(VOCAB), prop::option::of(prop::sample::select(PUNCT)), prop::bool::weighted(0.9)),
        0..30,
    )
    .prop_map(|parts| {
        let mut s = String::new();
        for (w, p, space) in parts {
            s.push_str(w);
            if let Some(p) = p {
                s.push_str(p);
            }
            if space {
                s.push(' ');
            }
        }
        s
    })
}

fn in_lists(cfg: &CleanConfig, w: &str) -> bool {
    let collapse = |s: &str| {
        let mut out = String::new();
        for c in s.chars() {
            if !out.ends_with(c) {
                out.push(c);
            }
        }
        out
    };
    cfg.interjections.iter().chain(&cfg.fillers).any(|e| e == w || (w.len() > e.len() && collapse(e) == collapse(w)))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2000,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn cleaning_is_idempotent(s in sentence()) {
        let c = Cleaner::default();
        let once = c.clean_text(&s).text;
        let twice = c.clean_text(&once).text;
        prop_assert_eq!(&once, &twice, "input {:?}", s);
    }

    #[test]
    fn cleaning_never_introduces_or_wrongly_removes_words(s in sentence()) {
        let cfg = CleanConfig::default();
        let out = Cleaner::new(cfg.clone()).clean_text(&s);
        let before = words(&s);
        let after = words(&out.text);
        let (cb, ca) = (counts(&before), counts(&after));
        for (w, n) in &ca {
            prop_assert!(cb.get(w).copied().unwrap_or(0) >= *n, "introduced {:?} in {:?} -> {:?}", w, s, out.text);
        }
        for (w, n) in &cb {
            if ca.get(w).copied().unwrap_or(0) < *n {
                prop_assert!(in_lists(&cfg, w), "removed {:?} from {:?} -> {:?}", w, s, out.text);
            }
        }
        for r in &out.removed {
            prop_assert!(in_lists(&cfg, &r.word.to_lowercase()));
        }
        prop_assert!(!out.text.contains("  "));
        prop_assert_eq!(out.text.trim(), out.text.as_str());
    }

    #[test]
    fn cleaning_never_panics_on_any_text(s in "\\PC{0,200}") {
        let c = Cleaner::default();
        let once = c.clean_text(&s).text;
        prop_assert_eq!(c.clean_text(&once).text, once);
    }

    #[test]
    fn parsing_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse_bytes(&bytes, None);
        for f in [Format::Daic, Format::Plain, Format::Vtt, Format::Srt] {
            let _ = parse_bytes(&bytes, Some(f));
        }
    }

    #[test]
    fn parsing_never_panics_on_structured_noise(
        lines in prop::collection::vec(
            prop::sample::select(vec![
                "WEBVTT", "", "1", "00:00:01.000 --> 00:00:02.000", "00:01,5 --> 00:02,0", "<v Ellie>hi",
                "Ellie: hi", "1.0\t2.0\tEllie\thi", "a\tb\tc\td", "-->", "<", "[", "NOTE", "2\t1\tx\ty\t\t",
            ]),
            0..20,
        )
    ) {
        let text = lines.join("\n");
        let _ = parse_bytes(text.as_bytes(), None);
        for f in [Format::Daic, Format::Plain, Format::Vtt, Format::Srt] {
            let _ = parse_bytes(text.as_bytes(), Some(f));
        }
    }
}
