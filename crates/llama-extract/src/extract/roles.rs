//! Who is the participant, when the transcript does not say.
//!
//! Extraction reads feelings off the participant's own words: the speaker rule keeps emotion
//! evidence to their utterances and the clause checks read only their clauses. A transcript
//! from speech-to-text (every speaker `unknown`), or one whose speakers are two names, does not
//! say which utterances those are, and without them an answer may quote the interviewer's
//! question as the participant's feeling. An interview's turns have a shape that tells them
//! apart well enough: the interviewer asks ("how are things at work?"), prompts ("tell me about
//! your family") and reflects ("that sounds hard"); the participant answers. [`guess_roles`]
//! labels the utterances by that shape before extraction; the transcript the caller keeps is
//! not changed.

use std::collections::{BTreeMap, BTreeSet};

use text_clean::{CleanedTranscript, Speaker};

/// The speaker label speech-to-text gives every utterance (`asr`'s `UNKNOWN_SPEAKER`; subtitle
/// cues without a voice get it too).
pub const UNKNOWN_SPEAKER: &str = "unknown";

/// Words that open a question about someone or something ("how", "what" …).
const QUESTION_WORDS: [&str; 6] = ["how", "what", "who", "why", "when", "where"];
/// Auxiliary verbs that follow a question word or open a yes/no question.
const AUXILIARIES: [&str; 18] = [
    "do", "does", "did", "is", "are", "was", "were", "have", "has", "had", "can", "could", "would", "will", "should",
    "shall", "may", "might",
];
/// Who or what an interviewer asks about, after a question word and an auxiliary ("how have
/// *you* been", "how are *things*", "what are *some* things that make you mad", "what's *one*
/// of your best memories"). Not "there" or "the": "what is there to look forward to" and "what
/// is the point" are the participant's ("when was the last time" is read on its own).
const ASKED_ABOUT: [&str; 6] = ["you", "your", "things", "it", "some", "one"];
/// What a yes/no question opened by an auxiliary asks about ("do you", "is there anything").
const YES_NO_SUBJECTS: [&str; 7] = ["you", "your", "there", "anything", "anyone", "anybody", "it"];
/// Clause openings an interviewer uses to prompt or reflect.
const PROMPTS: [&[&str]; 6] = [
    &["tell", "me"],
    &["can", "you", "tell"],
    &["that", "sounds"],
    &["it", "sounds", "like"],
    &["sounds", "like"],
    &["i'm", "sorry", "to", "hear"],
];

/// Whether `text` reads as the interviewer's turn: it asks a question (a `?`; a question word
/// with an auxiliary and someone to ask about — "how are things at work", "what do you do",
/// "how hard is that" — anywhere; or a clause opened by an auxiliary asking about someone — "do
/// you", "is there anything"), or a clause prompts or reflects ("tell me about", "that sounds
/// hard").
/// Speech-to-text drops question marks and runs sentences together ("That sounds hard how are
/// things at work."), so the words are read too. A participant's rhetorical "what is the
/// point" is not a question here.
pub fn reads_as_interviewer(text: &str) -> bool {
    if text.contains('?') {
        return true;
    }
    let is_in = |w: &str, set: &[&str]| set.contains(&w);
    for clause in text.split(['.', ',', ';', ':', '!']) {
        let words: Vec<String> = clause
            .split_whitespace()
            .map(|w| {
                w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'').to_lowercase().replace('\u{2019}', "'")
            })
            .filter(|w| !w.is_empty())
            .collect();
        // "how's", "what's": a question word with its auxiliary.
        let expanded: Vec<&str> = words
            .iter()
            .flat_map(|w| match w.strip_suffix("'s") {
                Some(q) if is_in(q, &QUESTION_WORDS) => vec![q, "is"],
                _ => vec![w.as_str()],
            })
            .collect();
        let w = expanded.as_slice();
        if w.windows(3).any(|t| is_in(t[0], &QUESTION_WORDS) && is_in(t[1], &AUXILIARIES) && is_in(t[2], &ASKED_ABOUT))
        {
            return true;
        }
        // "when was the last time you …"; "how hard is that", "how close are you to them":
        // the auxiliary before its subject.
        if w.windows(4).any(|t| {
            (is_in(t[0], &QUESTION_WORDS) && is_in(t[1], &AUXILIARIES) && t[2] == "the" && t[3] == "last")
                || (t[0] == "how"
                    && is_in(t[2], &AUXILIARIES)
                    && (is_in(t[3], &ASKED_ABOUT) || t[3] == "that" || t[3] == "they"))
        }) {
            return true;
        }
        if w.len() >= 2 && is_in(w[0], &AUXILIARIES) && is_in(w[1], &YES_NO_SUBJECTS) {
            return true;
        }
        if PROMPTS.iter().any(|p| w.len() >= p.len() && w.iter().zip(p.iter()).all(|(a, b)| a == b)) {
            return true;
        }
    }
    false
}

/// The indices of the participant's utterances, when the transcript names speakers (some
/// utterance is the participant's); `None` when it does not, and no speaker rule applies.
pub fn participant_utterances(cleaned: &CleanedTranscript) -> Option<BTreeSet<u64>> {
    let set: BTreeSet<u64> = cleaned
        .utterances
        .iter()
        .enumerate()
        .filter(|(_, u)| u.speaker == Speaker::Participant)
        .map(|(i, _)| i as u64)
        .collect();
    (!set.is_empty()).then_some(set)
}

/// How [`guess_roles`] labelled a transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleGuess {
    /// The transcript names the participant, or offers nothing to guess from: unchanged.
    Unchanged,
    /// Each `unknown` utterance labelled by its own shape ([`reads_as_interviewer`]).
    ByUtterance,
    /// Two named speakers: the one more of whose turns read as the interviewer's is the
    /// interviewer, the other the participant.
    BySpeaker,
}

/// Labels the participant's and the interviewer's utterances of a transcript that does not name
/// the participant. Utterances by the `unknown` speaker are labelled one by one: the
/// interviewer's when they [read as the interviewer's](reads_as_interviewer), the participant's
/// otherwise. A transcript of exactly two named speakers (neither a known role) is labelled by
/// speaker, when one reads as the interviewer in a larger share of turns than the other. Any
/// other transcript is left as it is: a named interviewer with a third party, three voices.
pub fn guess_roles(cleaned: &mut CleanedTranscript) -> RoleGuess {
    if cleaned.utterances.iter().any(|u| u.speaker == Speaker::Participant) {
        return RoleGuess::Unchanged;
    }
    let unknown = |s: &Speaker| matches!(s, Speaker::Other(l) if l.eq_ignore_ascii_case(UNKNOWN_SPEAKER));
    if cleaned.utterances.iter().any(|u| unknown(&u.speaker)) {
        let asks: Vec<Option<bool>> =
            cleaned.utterances.iter().map(|u| unknown(&u.speaker).then(|| reads_as_interviewer(&u.text))).collect();
        // Only questions: nobody to read feelings off.
        if !asks.contains(&Some(false)) {
            return RoleGuess::Unchanged;
        }
        for (u, asks) in cleaned.utterances.iter_mut().zip(asks) {
            if let Some(interviewer) = asks {
                u.speaker = if interviewer { Speaker::Interviewer } else { Speaker::Participant };
            }
        }
        return RoleGuess::ByUtterance;
    }
    // Two named speakers: (turns read as the interviewer's, turns) each.
    let mut shares: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for u in &cleaned.utterances {
        match &u.speaker {
            Speaker::Other(name) => {
                let s = shares.entry(name.as_str()).or_default();
                s.0 += usize::from(reads_as_interviewer(&u.text));
                s.1 += 1;
            }
            Speaker::Interviewer | Speaker::Participant => return RoleGuess::Unchanged,
        }
    }
    let [(a, (qa, na)), (b, (qb, nb))] = match shares.into_iter().collect::<Vec<_>>().as_slice() {
        [x, y] => [(x.0.to_string(), x.1), (y.0.to_string(), y.1)],
        _ => return RoleGuess::Unchanged,
    };
    // Compare qa/na with qb/nb without division.
    let (interviewer, participant) = match (qa * nb).cmp(&(qb * na)) {
        std::cmp::Ordering::Greater => (a, b),
        std::cmp::Ordering::Less => (b, a),
        std::cmp::Ordering::Equal => return RoleGuess::Unchanged,
    };
    for u in &mut cleaned.utterances {
        if let Speaker::Other(name) = &u.speaker {
            u.speaker = if *name == interviewer {
                Speaker::Interviewer
            } else if *name == participant {
                Speaker::Participant
            } else {
                continue;
            };
        }
    }
    RoleGuess::BySpeaker
}

#[cfg(test)]
mod tests {
    use super::*;
    use text_clean::{Cleaner, Transcript, Utterance};

    #[test]
    fn interviewer_turns_are_told_from_answers_by_their_shape() {
        for asked in [
            "How have you been sleeping lately?",
            "Do you talk to when you feel that way?",
            "That sounds hard how are things at work.",
            "and what do you do to relax",
            "how's it going",
            "is there anything that has helped recently",
            "tell me about your family",
            "It sounds like a lot.",
            "I'm sorry to hear that.",
            "Can you tell me more.",
            // DAIC-WOZ's interviewer as speech-to-text writes her, without question marks.
            "when was the last time you felt really happy",
            "what are some things that make you really mad",
            "what's one of your most memorable experiences",
            "how hard is that",
            "how close are you to them",
            "where are you from originally",
            "have you been diagnosed with depression",
        ] {
            assert!(reads_as_interviewer(asked), "{asked}");
        }
        for answered in [
            "It's okay.",
            "I guess.",
            "Not great.",
            "My boss keeps piling on deadlines and I feel like I'm failing.",
            "What is the point.",
            "what's the point anymore",
            "I don't know what is wrong with me",
            "there is nothing to look forward to, what is there to live for",
            "I started running again, which is something I used to love.",
            "that's how it is",
            "you know, I just feel tired all the time",
            "Walking the dog helps with my sister calls me on Sunday.",
            "the last time i was happy was last summer",
            "i don't know how hard it is for them",
            "that's how close we are",
            "it's one of those days",
        ] {
            assert!(!reads_as_interviewer(answered), "{answered}");
        }
    }

    fn cleaned(turns: &[(&str, &str)]) -> CleanedTranscript {
        let utterances = turns.iter().map(|(s, t)| Utterance::new(None, None, Speaker::from_label(s), *t)).collect();
        Cleaner::default().clean_transcript(&Transcript { utterances })
    }

    fn speakers(c: &CleanedTranscript) -> Vec<&str> {
        c.utterances.iter().map(|u| u.speaker.label()).collect()
    }

    #[test]
    fn unknown_speakers_are_labelled_turn_by_turn() {
        let mut c = cleaned(&[
            ("unknown", "Hi, thanks for coming in. How have you been?"),
            ("unknown", "It's okay."),
            ("unknown", "That sounds hard how are things at work."),
            ("unknown", "Work is stressful."),
        ]);
        assert_eq!(participant_utterances(&c), None);
        assert_eq!(guess_roles(&mut c), RoleGuess::ByUtterance);
        assert_eq!(speakers(&c), ["interviewer", "participant", "interviewer", "participant"]);
        assert_eq!(participant_utterances(&c), Some([1, 3].into()));
    }

    #[test]
    fn two_named_speakers_are_labelled_by_who_asks() {
        let mut c = cleaned(&[
            ("Dr Smith", "How have you been?"),
            ("Alex", "Not great."),
            ("Dr Smith", "I see. Tell me about work."),
            ("Alex", "It's stressful. Why?"),
            ("Dr Smith", "Okay."),
        ]);
        assert_eq!(guess_roles(&mut c), RoleGuess::BySpeaker);
        assert_eq!(speakers(&c), ["interviewer", "participant", "interviewer", "participant", "interviewer"]);
    }

    #[test]
    fn transcripts_that_name_the_participant_or_give_no_sign_are_left_alone() {
        let named = [("Ellie", "how are you?"), ("Participant", "fine")];
        let mut c = cleaned(&named);
        assert_eq!(guess_roles(&mut c), RoleGuess::Unchanged);
        assert_eq!(speakers(&c), ["interviewer", "participant"]);
        // Two names asking equally, three names, a named interviewer with someone else, and
        // unknown speakers who only ask: nothing to go on.
        for turns in [
            &[("Ann", "fine"), ("Bob", "fine too")][..],
            &[("Ann", "how are you?"), ("Bob", "fine"), ("Cy", "me too")][..],
            &[("Interviewer", "how are you?"), ("Bob", "fine")][..],
            &[("unknown", "how are you?"), ("unknown", "do you sleep?")][..],
        ] {
            let mut c = cleaned(turns);
            let before = speakers(&c).join(",");
            assert_eq!(guess_roles(&mut c), RoleGuess::Unchanged, "{before}");
            assert_eq!(speakers(&c).join(","), before);
        }
    }
}
