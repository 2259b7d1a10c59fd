use text_clean::{Category, CleanConfig, CleanMode, Cleaner, CueKind, FillerPosition, Speaker, Utterance};

fn clean(s: &str) -> String {
    Cleaner::default().clean_text(s).text
}

#[test]
fn paper_algorithm_1_example_exactly() {
    assert_eq!(clean("Oh, I don't know what to do! Uh, can you help me?"), "I don't know what to do! Can you help me?");
}

#[test]
fn every_paper_interjection_is_removed_case_insensitively() {
    for w in ["oh", "ah", "um", "uh", "hmm", "hey", "alas"] {
        assert_eq!(clean(&format!("{w}, it is fine.")), "it is fine.", "{w}");
        assert_eq!(clean(&format!("it is {} fine.", w.to_uppercase())), "it is fine.", "{w}");
        // A capitalised sentence stays capitalised; a lowercase one (DAIC-WOZ style) stays lowercase.
        let cap = format!("{}{}", w[..1].to_uppercase(), &w[1..]);
        assert_eq!(clean(&format!("{cap}, it is fine.")), "It is fine.", "{w}");
    }
}

#[test]
fn every_paper_filler_is_removed_in_discourse_position() {
    for w in ["well", "actually", "basically", "obviously", "umm", "er"] {
        assert_eq!(clean(&format!("{w}, it is fine.")), "it is fine.", "{w}");
        assert_eq!(clean(&format!("it was, {w}, fine.")), "it was fine.", "{w}");
    }
}

#[test]
fn word_boundaries_only() {
    assert_eq!(clean("Oh, ohm umbrella ahead hey."), "Ohm umbrella ahead.");
    assert_eq!(clean("a well-known uh-oh heyday"), "a well-known uh-oh heyday");
    assert_eq!(clean("Ahead of time, oh."), "Ahead of time.");
}

#[test]
fn elongations_are_removed() {
    assert_eq!(clean("ummm I think hmmm that uhh works"), "I think that works");
    assert_eq!(clean("Ohhh, yes."), "Yes.");
    // Not an elongation of a list word: shorter, or other letters.
    assert_eq!(clean("hm mm ohm"), "hm mm ohm");
}

#[test]
fn punctuation_repair() {
    assert_eq!(clean("I was, um, thinking about it."), "I was thinking about it.");
    assert_eq!(clean("I know, uh."), "I know.");
    assert_eq!(clean("Um. Yes. Uh!"), "Yes.");
    assert_eq!(clean("Uh... yeah, I guess."), "Yeah, I guess.");
    assert_eq!(clean("so um... that was it"), "so that was it");
    assert_eq!(clean("Um, uh, well, I mean it."), "I mean it.");
    assert_eq!(clean("it's hard — um — to say"), "it's hard to say");
    assert_eq!(clean("So, um, yeah."), "So, yeah.");
    assert_eq!(clean("Yes, uh, I did."), "Yes, I did.");
    assert_eq!(clean("I... um, don't know"), "I... don't know");
    assert_eq!(clean("I said , um , no"), "I said no");
    assert_eq!(clean("yes , um , no"), "yes , no");
    assert_eq!(clean("uh"), "");
    assert_eq!(clean(""), "");
}

#[test]
fn no_doubled_spaces_or_commas_or_leading_comma() {
    for s in [
        "Oh, , I   see, um, , you know",
        "  um,  hello , uh ,, there  ",
        ", uh, start",
        "Well, um, oh, ah, I... er, don't know.",
    ] {
        let out = clean(s);
        assert!(!out.contains("  "), "{s:?} -> {out:?}");
        assert!(!out.starts_with(',') && !out.starts_with(' '), "{s:?} -> {out:?}");
        assert!(!out.ends_with(' '), "{s:?} -> {out:?}");
        assert!(
            !out.contains(", ,") && !out.contains(",,") || s.contains(",,") || s.contains(", ,"),
            "{s:?} -> {out:?}"
        );
    }
    assert_eq!(clean("Well, um, oh, ah, I... er, don't know."), "I... don't know.");
}

#[test]
fn discourse_fillers_keep_their_lexical_use() {
    assert_eq!(clean("I'm doing well."), "I'm doing well.");
    assert_eq!(clean("Well, I'm doing well."), "I'm doing well.");
    assert_eq!(clean("it was actually fine"), "it was actually fine");
    let anywhere = Cleaner::new(CleanConfig::default().with_filler_position(FillerPosition::Anywhere));
    assert_eq!(anywhere.clean_text("I'm doing well.").text, "I'm doing.");
}

#[test]
fn interjections_only_mode_keeps_fillers() {
    let c = Cleaner::new(CleanConfig::default().with_mode(CleanMode::InterjectionsOnly));
    assert_eq!(c.clean_text("Well, um, I actually think so.").text, "Well, I actually think so.");
}

#[test]
fn word_lists_are_configurable() {
    let c = Cleaner::new(CleanConfig::default().add_interjection("Like").remove_interjection("hey"));
    assert_eq!(c.clean_text("Like, hey you.").text, "Hey you.");
    let c = Cleaner::new(CleanConfig::default().add_filler("you-know").remove_filler("well"));
    assert_eq!(c.clean_text("Well, you-know, fine.").text, "Well, fine.");
}

#[test]
fn annotations_become_cues() {
    let out = Cleaner::default().clean_text("I <laughter> don't [sigh] know xxx what scrubbed_entry said <sniffle>.");
    assert_eq!(out.text, "I don't know what said.");
    let kinds: Vec<CueKind> = out.cues.iter().map(|c| c.kind.clone()).collect();
    assert_eq!(kinds, [CueKind::Laughter, CueKind::Sigh, CueKind::Unintelligible, CueKind::Redacted, CueKind::Sniffle]);
    assert_eq!(out.cues[0].raw, "<laughter>");
    assert_eq!(out.cues[0].offset, 2);
    assert_eq!(out.stats.cues, 5);
    // Annotations are not words.
    assert_eq!(out.stats.words_in, 5);
}

#[test]
fn statistics_count_by_category_and_rate() {
    let out = Cleaner::default().clean_text("Um, well, I uh think, er, it's ok ummm yes");
    // words: Um well I uh think er it's ok ummm yes = 10
    assert_eq!(out.stats.words_in, 10);
    assert_eq!(out.stats.words_out, 5);
    assert_eq!(out.stats.interjections_removed, 3); // Um, uh, ummm (elongated um)
    assert_eq!(out.stats.fillers_removed, 2); // well, er
    assert_eq!(out.stats.filled_pauses, 4); // Um, uh, er, ummm
    assert!((out.stats.disfluency_per_100_words - 50.0).abs() < 1e-12);
    assert!((out.stats.filled_pauses_per_100_words - 40.0).abs() < 1e-12);
    let cats: Vec<Category> = out.removed.iter().map(|r| r.category).collect();
    assert_eq!(
        cats,
        [Category::Interjection, Category::Filler, Category::Interjection, Category::Filler, Category::Interjection]
    );
}

#[test]
fn transcript_totals_per_speaker() {
    let t = text_clean::Transcript {
        utterances: vec![
            Utterance::new(Some(0.0), Some(1.0), Speaker::Interviewer, "Hmm, how are you?"),
            Utterance::new(Some(1.0), Some(3.0), Speaker::Participant, "Um, uh, tired."),
            Utterance::new(Some(3.0), Some(4.0), Speaker::Participant, "Uh, <sigh> yeah."),
        ],
    };
    let c = Cleaner::default().clean_transcript(&t);
    assert_eq!(c.stats.interjections_removed, 4);
    assert_eq!(c.stats_by_speaker["participant"].interjections_removed, 3);
    assert_eq!(c.stats_by_speaker["participant"].words_in, 5);
    assert_eq!(c.stats_by_speaker["interviewer"].filled_pauses, 1);
    assert_eq!(c.utterances[2].text, "Yeah.");
    assert_eq!(c.utterances[2].raw, "Uh, <sigh> yeah.");
    let back = c.to_transcript();
    assert_eq!(back.utterances[2].cues[0].kind, CueKind::Sigh);
    assert_eq!(back.utterances[1].start_s, Some(1.0));
}

#[test]
fn nested_annotation_regression_is_idempotent() {
    // Found by proptest: removing `<ஜ>` used to leave `<A>`, itself an annotation. Nested
    // annotations are now one cue.
    let c = Cleaner::default();
    let once = c.clean_text("<A<ஜ>>");
    assert_eq!(c.clean_text(&once.text).text, once.text);
    assert_eq!(once.text, "");
    assert_eq!(once.cues.len(), 1);
    // Found by the text_clean fuzz target: nesting deeper than the old 16-pass limit.
    let deep = format!("{}m{} ok", "[o".repeat(40), "]".repeat(40));
    let once = c.clean_text(&deep);
    assert_eq!(once.text, "ok");
    assert_eq!(c.clean_text(&once.text).text, once.text);
}
