//! Grounding: every quote checked against the utterance it cites, and chunk outputs merged
//! deterministically into one report.

use std::collections::{BTreeMap, BTreeSet};

use text_clean::Cleaner;

use super::schema::{
    Emotion, EmotionLabel, Evidence, Grounding, KeyPhrase, ModelEvidence, ModelOutput, Topic, TopicCategory,
};

/// Lower case, fillers removed (text-clean's paper set), punctuation dropped, whitespace
/// collapsed: the form quotes and utterances are compared in.
pub fn normalise(cleaner: &Cleaner, text: &str) -> String {
    let cleaned = cleaner.clean_text(text).text;
    let mut out = String::with_capacity(cleaned.len());
    for word in cleaned.split_whitespace() {
        let w: String = word.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect();
        if !w.is_empty() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&w);
        }
    }
    out
}

/// Whether `quote` occurs in `utterance` on word boundaries after [`normalise`].
pub fn verify(cleaner: &Cleaner, quote: &str, utterance: &str) -> bool {
    let q = normalise(cleaner, quote);
    !q.is_empty() && format!(" {} ", normalise(cleaner, utterance)).contains(&format!(" {q} "))
}

/// Words a topic label may hold without its evidence saying them: they claim nothing. (Not
/// particles: "dropping out" is not "dropping", nor "breaking up" "breaking".)
const LABEL_FUNCTION_WORDS: &[&str] = &[
    "a", "an", "the", "of", "with", "in", "on", "at", "for", "to", "and", "or", "about", "from", "by", "my", "his",
    "her", "their", "our", "your", "its", "some",
];

/// A label's or a quote's words: lower case, split at anything but letters, digits and
/// apostrophes, a possessive `'s` dropped ("sister's" → "sister").
pub(crate) fn plain_words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’'))
        .map(|w| {
            let w = w.to_lowercase().replace('’', "'");
            let w = w.trim_matches('\'');
            w.strip_suffix("'s").unwrap_or(w).to_string()
        })
        .filter(|w| !w.is_empty())
}

/// Whether two words share a stem: equal, or a common beginning of at least three letters
/// that leaves at most two of the shorter word ("waking"/"wake", "napping"/"nap",
/// "rejection"/"rejected"). A whole short word at the start of a longer one is its stem only
/// when what follows reads as an ending — at most three letters, or "ing" / "ers" after its
/// last letter doubled ("worked", "stressful", "napping", but not "room" in "roommate").
fn same_stem(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let (short, long) = if a.len() <= b.len() { (&a, &b) } else { (&b, &a) };
    let common = short.iter().zip(long.iter()).take_while(|(x, y)| x == y).count();
    if a == b {
        return true;
    }
    if common == short.len() {
        let ending = &long[common..];
        let doubled = |rest: &str| ending.first() == short.last() && ending[1..].iter().collect::<String>() == rest;
        return common >= 3 && (ending.len() <= 3 || doubled("ing") || doubled("ers"));
    }
    common >= 3 && common + 2 >= short.len()
}

/// Whether a topic's label says nothing its evidence does not: it is the category's name, or
/// every word of it, function words aside, shares a stem with a word of the evidence quotes.
/// The fine-tuned model names topics well when it condenses the quote ("deadlines",
/// "napping") and invents when it abstracts ("sister's divorce" for "my sister calls me on
/// sundays", "roofing" for "our apartment has mold"); a report for a clinician cannot carry the
/// invented fact, so only the first kind is kept. The category's words do not ground a longer
/// name: the report prints the category beside the name already, and with them the model
/// composed phrases no quote says ("living in a mold" for "our apartment has mold").
pub fn label_is_grounded(label: &str, quotes: &[&str], category: TopicCategory) -> bool {
    let known: Vec<String> = quotes.iter().flat_map(|q| plain_words(q)).collect();
    is_category_name(label, category) || words_among(label, &known)
}

/// A name's words that claim something: [`plain_words`] less the function words.
fn content_words(name: &str) -> impl Iterator<Item = String> + '_ {
    plain_words(name).filter(|w| !LABEL_FUNCTION_WORDS.contains(&w.as_str()))
}

/// Whether `name` has content words and each shares a stem with one of `known`.
fn words_among(name: &str, known: &[String]) -> bool {
    let mut words = content_words(name).peekable();
    words.peek().is_some() && words.all(|w| known.iter().any(|k| same_stem(&w, k)))
}

/// The label a topic is reported under: the model's when it is
/// [grounded](label_is_grounded) in the topic's evidence, else the [category's name](category_label).
pub fn topic_label(label: &str, evidence: &[ModelEvidence], category: TopicCategory) -> String {
    let quotes: Vec<&str> = evidence.iter().map(|e| e.quote.as_str()).collect();
    if label_is_grounded(label, &quotes, category) { label.trim().to_string() } else { category_label(category) }
}

/// The category's name in words ("living_situation" → "living situation"): the label a topic
/// gets when the model's [says more than its evidence](label_is_grounded). The summary,
/// concerns and actions the model writes after the topics name them by label ("talks about
/// …", "in connection with …"), so the label stays a noun phrase, and the category is one
/// the topic check read off the evidence.
pub fn category_label(category: TopicCategory) -> String {
    serde_json::to_value(category).ok().and_then(|v| v.as_str().map(|s| s.replace('_', " "))).unwrap_or_default()
}

/// The shortest concern or suggested action, and summary, in characters (the schema's
/// `minLength`).
const MIN_ITEM_CHARS: usize = 12;
pub(crate) const MIN_SUMMARY_CHARS: usize = 20;

/// The words of `text` up to a degenerate loop — one word three times with at most one word
/// between occurrences ("feel tired and tired and tired") — cut after its first occurrence and
/// closed with a period. Small models fall into such loops in free text when no repetition
/// penalty holds them back; the rest of the text is kept as written.
fn without_loop(text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let key = |w: &str| w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase();
    for (i, w) in words.iter().enumerate() {
        let k = key(w);
        if k.chars().count() < 3 {
            continue;
        }
        let next = |from: usize| (from + 1..(from + 3).min(words.len())).find(|&j| key(words[j]) == k);
        if next(i).and_then(next).is_some() {
            let mut kept: Vec<String> = words[..=i].iter().map(|w| w.to_string()).collect();
            if let Some(last) = kept.last_mut() {
                *last = format!("{}.", last.trim_end_matches(|c: char| !c.is_alphanumeric()));
            }
            return kept;
        }
    }
    words.iter().map(|w| w.to_string()).collect()
}

/// The merged, grounded content of a report.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    /// Emotions merged by label, with verified evidence.
    pub emotions: Vec<Emotion>,
    /// Topics merged by category and label.
    pub topics: Vec<Topic>,
    /// Key phrases, deduplicated.
    pub key_phrases: Vec<KeyPhrase>,
    /// The chunks' summaries joined and cut to 120 words.
    pub summary: String,
    /// Concerns that are prose, deduplicated.
    pub concerns: Vec<String>,
    /// Suggested actions that are prose, deduplicated.
    pub suggested_actions: Vec<String>,
    /// Quote counts.
    pub grounding: Grounding,
}

/// Evidence gathered for one claim, with the (utterance, normalised quote) keys seen.
#[derive(Default)]
struct Gathered {
    evidence: Vec<Evidence>,
    seen: Vec<(usize, String)>,
}

impl Gathered {
    /// Adds evidence already checked (moved from another claim) unless its quote is here.
    fn absorb(&mut self, e: Evidence, cleaner: &Cleaner) {
        let key = (e.utterance_index, normalise(cleaner, &e.quote));
        if !self.seen.contains(&key) {
            self.seen.push(key);
            self.evidence.push(e);
        }
    }
}

/// Whether `text` reads as prose of at least `min_chars` characters: a letter first, no
/// character a prose string refuses ([`super::grammar::NOT_PROSE`]), and letters for at least
/// half the minimum. What the grammar enforces under constraints, checked again for
/// unconstrained output — and the letters rule drops the padding the grammar writes when the
/// token budget closes a string early (`N.....`).
pub fn is_prose(text: &str, min_chars: usize) -> bool {
    let t = text.trim();
    t.chars().next().is_some_and(char::is_alphabetic)
        && t.chars().all(super::grammar::is_prose_char)
        && t.chars().count() >= min_chars
        && 2 * t.chars().filter(|c| c.is_alphabetic()).count() >= min_chars
}

/// Merges per-chunk outputs: emotions by label (highest intensity), topics by category and
/// label, key phrases, concerns and actions by normalised text; evidence deduplicated by
/// utterance and normalised quote; summaries joined in chunk order and cut to 120 words.
/// Quotes are verified against `utterances`; unverified ones are dropped unless `keep`.
/// With `participant` (the participant's utterances, when speakers are known) emotion evidence
/// citing anyone else is dropped. Emotions of no intensity, free text that is not prose and a
/// summary that only repeats an utterance are left out.
pub fn merge(
    chunks: &[ModelOutput],
    utterances: &[String],
    participant: Option<&BTreeSet<u64>>,
    cleaner: &Cleaner,
    keep_unverified: bool,
) -> Merged {
    let renamed: Vec<ModelOutput> = chunks.iter().map(with_reported_names).collect();
    let chunks = renamed.as_slice();
    let mut v = Verifier { utterances, participant, cleaner, keep_unverified, counts: Grounding::default() };
    let (emotions, topics) = merge_claims(chunks, &mut v);
    let key_phrases = merge_key_phrases(chunks, &mut v);
    let concerns = merge_prose(chunks.iter().map(|c| &c.concerns), cleaner);
    let suggested_actions = merge_prose(chunks.iter().map(|c| &c.suggested_actions), cleaner);
    let summary = merge_summary(chunks, utterances, cleaner);
    let mut grounding = v.counts;
    grounding.rate = if grounding.quotes == 0 { 1.0 } else { grounding.verified as f64 / grounding.quotes as f64 };
    Merged { emotions, topics, key_phrases, summary, concerns, suggested_actions, grounding }
}

/// `chunk` with its free text (summary, concerns, actions) speaking of the topics the report
/// carries: a name the model gave a topic and the report does not keep (it said more than the
/// evidence, [`topic_label`]) is replaced, where the text repeats it, by the name the topic is
/// reported under. Without the clause checks (the adapter alone, or a machine-made transcript
/// with no speakers) the model writes that text itself after its topics, so it named "early
/// waking" and "joy" in the summary, a concern and an action while the report listed "sleep"
/// and "mood".
fn with_reported_names(chunk: &ModelOutput) -> ModelOutput {
    let mut renames: Vec<(String, String)> = Vec::new();
    for t in &chunk.topics {
        let (said, reported) = (t.label.trim(), topic_label(&t.label, &t.evidence, t.category));
        if !said.is_empty() && !said.eq_ignore_ascii_case(&reported) && !renames.iter().any(|(s, _)| s == said) {
            renames.push((said.to_string(), reported));
        }
    }
    // Longer names first, so that one inside another is not replaced within it.
    renames.sort_by_key(|(said, _)| std::cmp::Reverse(said.len()));
    let rename = |text: &String| renames.iter().fold(text.clone(), |text, (said, to)| replace_name(&text, said, to));
    ModelOutput {
        summary: rename(&chunk.summary),
        concerns: chunk.concerns.iter().map(rename).collect(),
        suggested_actions: chunk.suggested_actions.iter().map(rename).collect(),
        ..chunk.clone()
    }
}

/// `text` with each whole-word occurrence of `name` (in any case) replaced by `to`, its first
/// letter capitalised where the occurrence's was — except after a feeling verb ("they feel
/// joy" names an emotion, whatever a topic was called).
fn replace_name(text: &str, name: &str, to: &str) -> String {
    if name.is_empty() {
        return text.to_string();
    }
    // ASCII lowercase keeps every byte offset of `text`.
    let (lower, name) = (text.to_ascii_lowercase(), name.to_ascii_lowercase());
    let word_char = |c: char| c.is_alphanumeric() || c == '\'';
    let mut out = String::with_capacity(text.len());
    let mut from = 0;
    while let Some(found) = lower[from..].find(&name) {
        let (start, end) = (from + found, from + found + name.len());
        let bounded = !lower[..start].chars().next_back().is_some_and(word_char)
            && !lower[end..].chars().next().is_some_and(word_char);
        let felt = lower[..start].split_whitespace().next_back().is_some_and(|w| {
            ["feel", "feels", "feeling", "felt"].contains(&w.trim_matches(|c: char| !c.is_alphanumeric()))
        });
        out.push_str(&text[from..start]);
        if bounded && !felt {
            let capital = text[start..].chars().next().is_some_and(char::is_uppercase);
            let mut chars = to.chars();
            if let (true, Some(first)) = (capital, chars.next()) {
                out.extend(first.to_uppercase());
                out.push_str(chars.as_str());
            } else {
                out.push_str(to);
            }
        } else {
            out.push_str(&text[start..end]);
        }
        from = end;
    }
    out.push_str(&text[from..]);
    out
}

/// Checks quotes against their utterances and counts what it finds.
struct Verifier<'a> {
    utterances: &'a [String],
    participant: Option<&'a BTreeSet<u64>>,
    cleaner: &'a Cleaner,
    keep_unverified: bool,
    counts: Grounding,
}

impl Verifier<'_> {
    /// Whether `quote` is kept as evidence from utterance `index` (verified, or unverified ones
    /// are kept), counting it; `Some(verified)` when kept.
    fn check_quote(&mut self, quote: &str, index: usize) -> Option<bool> {
        self.counts.quotes += 1;
        let ok = self.utterances.get(index).is_some_and(|u| verify(self.cleaner, quote, u));
        if ok {
            self.counts.verified += 1;
        } else if !self.keep_unverified {
            self.counts.dropped += 1;
            return None;
        }
        Some(ok)
    }

    /// Adds `e` to `into` unless it cites a non-participant where only the participant counts,
    /// repeats a quote already there, or fails verification.
    fn add_evidence(&mut self, e: &ModelEvidence, into: &mut Gathered, participant_only: bool) {
        if participant_only && self.participant.is_some_and(|p| !p.contains(&(e.utterance_index as u64))) {
            self.counts.not_participant += 1;
            return;
        }
        let key = (e.utterance_index, normalise(self.cleaner, &e.quote));
        if into.seen.contains(&key) {
            return;
        }
        into.seen.push(key);
        if let Some(verified) = self.check_quote(&e.quote, e.utterance_index) {
            into.evidence.push(Evidence {
                utterance_index: e.utterance_index,
                quote: e.quote.trim().to_string(),
                verified,
            });
        }
    }
}

/// Emotions by label (highest intensity; the participant's words only) and topics by category
/// and label; a claim with no supporting words left is not reported (unless unverified ones
/// are kept).
fn merge_claims(chunks: &[ModelOutput], v: &mut Verifier<'_>) -> (Vec<Emotion>, Vec<Topic>) {
    let mut emotions: BTreeMap<EmotionLabel, (f32, Gathered)> = BTreeMap::new();
    let mut topics: BTreeMap<(TopicCategory, String), (String, Gathered)> = BTreeMap::new();
    for c in chunks {
        for e in c.emotions.iter().filter(|e| e.intensity > 0.0) {
            let slot = emotions.entry(e.label).or_default();
            slot.0 = slot.0.max(e.intensity.clamp(0.0, 1.0));
            for ev in &e.evidence {
                v.add_evidence(ev, &mut slot.1, true);
            }
        }
        for t in &c.topics {
            let label = topic_label(&t.label, &t.evidence, t.category);
            let general = category_label(t.category);
            // Evidence is held to its topic's name as the name is to its evidence: a topic
            // groups a chunk's clauses of one category, and its name may come from one of
            // them ("blood pressure" over "my blood pressure is high" and "i hurt my knee
            // playing soccer"). A quote that does not say the name, from an utterance where no
            // quote does, goes to the category's topic ("work is stressful" stays with
            // "deadlines" from the same turn) — unless no quote says the name alone (then they
            // say it together).
            let says_name = |e: &ModelEvidence| label_is_grounded(&label, &[e.quote.as_str()], t.category);
            let named_in: Vec<usize> = t.evidence.iter().filter(|e| says_name(e)).map(|e| e.utterance_index).collect();
            let split = !is_category_name(&label, t.category) && !named_in.is_empty();
            let mut gather = |name: &String, ev: Option<&ModelEvidence>, v: &mut Verifier<'_>| {
                let key = (t.category, normalise(v.cleaner, name));
                let slot = topics.entry(key).or_insert_with(|| (name.clone(), Gathered::default()));
                if let Some(ev) = ev {
                    v.add_evidence(ev, &mut slot.1, false);
                }
            };
            if t.evidence.is_empty() {
                gather(&label, None, v);
            }
            for ev in &t.evidence {
                let elsewhere = split && !named_in.contains(&ev.utterance_index);
                gather(if elsewhere { &general } else { &label }, Some(ev), v);
            }
        }
    }
    let keep = v.keep_unverified;
    let emotions = emotions
        .into_iter()
        .filter(|(_, (_, g))| keep || !g.evidence.is_empty())
        .map(|(label, (intensity, g))| Emotion { label, intensity, evidence: g.evidence })
        .collect();
    let topics: Vec<_> = topics.into_iter().map(|((category, _), (label, g))| (category, label, g)).collect();
    let topics = quotes_under_their_names(merge_restated(topics, v.cleaner), v.cleaner)
        .into_iter()
        .filter(|(_, _, g)| keep || !g.evidence.is_empty())
        .map(|(category, label, g)| Topic { category, label, evidence: g.evidence })
        .collect();
    in_interview_order(emotions, topics)
}

/// Emotions in the order first said, and topics by category in the order each category was
/// first said, each category's topics in the order first said: a report reads in the order of
/// the interview, as its summary does (the maps' order was the schema's lists: "work, family,
/// sleep" under "talks about sleep, deadlines and family"). Ties keep that order.
fn in_interview_order(mut emotions: Vec<Emotion>, mut topics: Vec<Topic>) -> (Vec<Emotion>, Vec<Topic>) {
    let first = |evidence: &[Evidence]| evidence.iter().map(|e| e.utterance_index).min().unwrap_or(usize::MAX);
    emotions.sort_by_key(|e| first(&e.evidence));
    let mut category_first: BTreeMap<TopicCategory, usize> = BTreeMap::new();
    for t in &topics {
        let at = category_first.entry(t.category).or_insert(usize::MAX);
        *at = (*at).min(first(&t.evidence));
    }
    topics.sort_by_key(|t| (category_first.get(&t.category).copied(), t.category, first(&t.evidence)));
    (emotions, topics)
}

/// Whether `label` is the category's name (in any case): the topic of the quotes no name was
/// held to, which a report writes once.
pub fn is_category_name(label: &str, category: TopicCategory) -> bool {
    plain_words(label).eq(plain_words(&category_label(category)))
}

/// Topics of one category whose names restate another's — every word of the other's name in
/// theirs: "high blood pressure" beside "blood pressure", "napping" beside "naps" — merged
/// under the shorter name (of two as long, the first; their evidence says it too). Chunks
/// name the same fact in their own words, and a whole interview listed each one apart. The
/// category's own topic stays apart: its quotes are the ones no name was held to.
fn merge_restated(
    mut topics: Vec<(TopicCategory, String, Gathered)>,
    cleaner: &Cleaner,
) -> Vec<(TopicCategory, String, Gathered)> {
    // Shorter names first, so that each topic can only merge into one already kept.
    let mut order: Vec<usize> = (0..topics.len()).collect();
    order.sort_by_key(|&i| content_words(&topics[i].1).count());
    let mut into: Vec<Option<usize>> = vec![None; topics.len()];
    for (n, &b) in order.iter().enumerate() {
        let (category, label) = (topics[b].0, &topics[b].1);
        if is_category_name(label, category) {
            continue;
        }
        let words: Vec<String> = plain_words(label).collect();
        into[b] = order[..n].iter().copied().find(|&a| {
            into[a].is_none()
                && topics[a].0 == category
                && !is_category_name(&topics[a].1, category)
                && words_among(&topics[a].1, &words)
        });
    }
    for b in 0..topics.len() {
        if let Some(a) = into[b] {
            for e in std::mem::take(&mut topics[b].2).evidence {
                topics[a].2.absorb(e, cleaner);
            }
        }
    }
    topics.into_iter().zip(into).filter(|(_, merged)| merged.is_none()).map(|(t, _)| t).collect()
}

/// Each quote of a category's own topic that says the name of another topic of the category
/// moves under that name ("i broke my wrist in may", left to Health by one chunk, beside
/// another chunk's "broken wrist"); then every topic's evidence in the order said.
fn quotes_under_their_names(
    mut topics: Vec<(TopicCategory, String, Gathered)>,
    cleaner: &Cleaner,
) -> Vec<(TopicCategory, String, Gathered)> {
    for c in 0..topics.len() {
        let category = topics[c].0;
        if !is_category_name(&topics[c].1, category) {
            continue;
        }
        let quotes = std::mem::take(&mut topics[c].2);
        for e in quotes.evidence {
            let named = (0..topics.len()).find(|&n| {
                n != c
                    && topics[n].0 == category
                    && !is_category_name(&topics[n].1, category)
                    && label_is_grounded(&topics[n].1, &[e.quote.as_str()], category)
            });
            topics[named.unwrap_or(c)].2.absorb(e, cleaner);
        }
    }
    for t in &mut topics {
        t.2.evidence.sort_by_key(|e| e.utterance_index);
    }
    topics
}

/// Key phrases by normalised text, each verified against its utterance. A phrase whose words
/// lie inside another key phrase of the same utterance ("can't get back to sleep" beside
/// "wake up at four and can't get back to sleep") says nothing more and is left out.
fn merge_key_phrases(chunks: &[ModelOutput], v: &mut Verifier<'_>) -> Vec<KeyPhrase> {
    let mut verified: Vec<(KeyPhrase, String)> = Vec::new();
    let mut seen = Vec::new();
    for k in chunks.iter().flat_map(|c| &c.key_phrases) {
        let norm = normalise(v.cleaner, &k.text);
        if norm.is_empty() || seen.contains(&norm) {
            continue;
        }
        seen.push(norm.clone());
        if v.participant.is_some_and(|p| !p.contains(&(k.utterance_index as u64))) {
            v.counts.not_participant += 1;
            continue;
        }
        if v.check_quote(&k.text, k.utterance_index).is_some() {
            let phrase = KeyPhrase { text: k.text.trim().to_string(), utterance_index: k.utterance_index };
            verified.push((phrase, format!(" {norm} ")));
        }
    }
    let inside_another = |i: usize| {
        let (phrase, padded) = &verified[i];
        verified.iter().enumerate().any(|(j, (other, other_padded))| {
            j != i
                && other.utterance_index == phrase.utterance_index
                && other_padded.len() > padded.len()
                && other_padded.contains(padded.as_str())
        })
    };
    let mut kept: Vec<KeyPhrase> =
        (0..verified.len()).filter(|&i| !inside_another(i)).map(|i| verified[i].0.clone()).collect();
    // In the order said, as the report's emotions and topics (`in_interview_order`).
    kept.sort_by_key(|k| k.utterance_index);
    kept
}

/// Free-text items (concerns, actions) that read as prose, deduplicated by normalised text.
fn merge_prose<'a>(lists: impl Iterator<Item = &'a Vec<String>>, cleaner: &Cleaner) -> Vec<String> {
    let mut seen = Vec::new();
    let mut out = Vec::new();
    for s in lists.flatten().filter(|s| is_prose(s, MIN_ITEM_CHARS)) {
        let n = normalise(cleaner, s);
        if !n.is_empty() && !seen.contains(&n) {
            seen.push(n);
            out.push(s.trim().to_string());
        }
    }
    out
}

/// The chunks' summaries joined in order, loops cut, at most 120 words. A summary that only
/// repeats what was said (an interviewer question, say) summarises nothing and is left out.
fn merge_summary(chunks: &[ModelOutput], utterances: &[String], cleaner: &Cleaner) -> String {
    let said: Vec<String> = utterances.iter().map(|u| format!(" {} ", normalise(cleaner, u))).collect();
    let summarises = |s: &&ModelOutput| {
        let n = normalise(cleaner, &s.summary);
        is_prose(&s.summary, MIN_SUMMARY_CHARS) && !said.iter().any(|u| u.contains(&format!(" {n} ")))
    };
    let words: Vec<String> =
        chunks.iter().filter(summarises).flat_map(|c| without_loop(&c.summary)).take(120).collect();
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::schema::{ModelEmotion, ModelKeyPhrase, ModelTopic};

    #[test]
    fn quotes_match_through_case_punctuation_whitespace_and_fillers() {
        let c = Cleaner::default();
        let u = "Um, I just... I can't SLEEP at night, you know?";
        assert!(verify(&c, "i can't sleep at night", u));
        assert!(verify(&c, "I just I can't sleep", u));
        assert!(verify(&c, "uh sleep   at night", u));
        assert!(!verify(&c, "I sleep well", u));
        assert!(!verify(&c, "leep at", u), "word boundaries");
        assert!(!verify(&c, "", u));
    }

    #[test]
    fn a_topic_label_is_kept_only_when_its_evidence_says_it() {
        let grounded = |label: &str, quotes: &[&str], category| label_is_grounded(label, quotes, category);
        // Condensed from the quote, inflections and possessives allowed, function words free.
        assert!(grounded("deadlines", &["my boss keeps piling on deadlines"], TopicCategory::Work));
        assert!(grounded("napping", &["i nap most afternoons"], TopicCategory::Sleep));
        assert!(grounded("early wakings", &["i wake up early"], TopicCategory::Sleep));
        assert!(grounded("mold", &["our apartment has mold"], TopicCategory::LivingSituation));
        assert!(grounded("Living situation", &["our apartment has mold"], TopicCategory::LivingSituation));
        assert!(grounded("sister's calls", &["my sister calls me on sundays"], TopicCategory::Family));
        assert!(grounded("substance use", &["i've been smoking weed daily"], TopicCategory::SubstanceUse));
        assert!(grounded("walking", &["unrelated", "walking the dog helps a bit"], TopicCategory::Health));
        // A word the evidence does not say makes a claim it cannot back.
        assert!(!grounded("sister's divorce", &["my sister calls me on sundays"], TopicCategory::Family));
        assert!(!grounded("roofing", &["our apartment has mold"], TopicCategory::LivingSituation));
        assert!(!grounded("early waking", &["i wake up at four"], TopicCategory::Sleep));
        assert!(!grounded("heavy rock", &["mostly jazz and some rock"], TopicCategory::Mood));
        // The category's words ground the category's name, not a phrase built on them.
        assert!(!grounded("living in a mold", &["our apartment has mold"], TopicCategory::LivingSituation));
        let relationships = TopicCategory::Relationships;
        assert!(!grounded("relationships with partner", &["my partner cheated on me"], relationships));
        assert!(!grounded("the", &["the"], TopicCategory::Mood), "nothing but function words");
        let education = TopicCategory::Education;
        assert!(grounded("dropping out", &["i dropped out of college"], education));
        assert!(!grounded("dropping out", &["my grades dropped this year"], education), "a particle says something");
        assert!(!grounded("car", &["i can't sleep"], TopicCategory::Sleep), "two letters in common is not a stem");
        assert!(!grounded("roommate", &["i live alone in a small room"], TopicCategory::LivingSituation));
        assert!(grounded("overworked", &["i'm overwork"], TopicCategory::Work), "an ending");
        assert!(grounded("broken wrist", &["i broke my wrist"], TopicCategory::Health));
        // The reported label: the model's, or the category in words.
        let ev = |q: &str| vec![ModelEvidence { quote: q.into(), utterance_index: 1 }];
        let family = TopicCategory::Family;
        assert_eq!(topic_label(" sister's calls ", &ev("my sister calls me on sundays"), family), "sister's calls");
        assert_eq!(topic_label("sister's divorce", &ev("my sister calls me on sundays"), family), "family");
        let living = TopicCategory::LivingSituation;
        assert_eq!(topic_label("furnace", &ev("our apartment has mold"), living), "living situation");
    }

    #[test]
    fn topic_evidence_is_held_to_its_name_and_restated_names_merge() {
        let c = Cleaner::default();
        let utts: Vec<String> = [
            "my blood pressure is high and i worry",
            "i hurt my knee playing soccer",
            "i broke my wrist in may",
            "my blood pressure is high and i worry",
            "i broke my wrist again",
            "my boss keeps piling on deadlines",
            "the office is loud",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let ev = |i: usize| ModelEvidence { utterance_index: i, quote: utts[i].clone() };
        let topic = |category, label: &str, evidence| ModelTopic { category, label: label.into(), evidence };
        let chunk = |topics| ModelOutput {
            emotions: vec![],
            topics,
            key_phrases: vec![],
            summary: String::new(),
            concerns: vec![],
            suggested_actions: vec![],
        };
        let health = TopicCategory::Health;
        let a = chunk(vec![
            // One chunk's clauses of one category, named after one of them.
            topic(
                health,
                "blood pressure",
                vec![ev(0), ev(1), ModelEvidence { utterance_index: 0, quote: "i worry".into() }],
            ),
            topic(health, "knee surgery", vec![ev(2)]),
            // A name its quotes say only together stays with both.
            topic(TopicCategory::Work, "deadlines at the office", vec![ev(5), ev(6)]),
        ]);
        let b =
            chunk(vec![topic(health, "high blood pressure", vec![ev(3)]), topic(health, "broken wrist", vec![ev(4)])]);
        let topics = merge(&[a, b], &utts, None, &c, false).topics;
        let got: Vec<(&str, Vec<usize>)> =
            topics.iter().map(|t| (t.label.as_str(), t.evidence.iter().map(|e| e.utterance_index).collect())).collect();
        // In the order of the interview: health (first said in utterance 0) before work (5),
        // and each category's topics by their first quote.
        assert_eq!(
            got,
            [
                ("blood pressure", vec![0, 0, 3]),
                ("health", vec![1]),
                ("broken wrist", vec![2, 4]),
                ("deadlines at the office", vec![5, 6]),
            ]
        );
    }

    #[test]
    fn emotions_and_key_phrases_are_reported_in_the_order_said() {
        let c = Cleaner::default();
        let utts: Vec<String> = ["i can't sleep", "i feel so tired", "i am scared of losing my job", "i feel guilty"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let felt = |label, i: usize| ModelEmotion {
            label,
            intensity: 0.7,
            evidence: vec![ModelEvidence { utterance_index: i, quote: utts[i].clone() }],
        };
        // The schema's order (and the map's) is anxiety, guilt, fatigue; said: fatigue, anxiety,
        // guilt.
        let chunk = ModelOutput {
            emotions: vec![
                felt(EmotionLabel::Guilt, 3),
                felt(EmotionLabel::Anxiety, 2),
                felt(EmotionLabel::Fatigue, 1),
            ],
            topics: vec![],
            key_phrases: vec![
                ModelKeyPhrase { text: "losing my job".into(), utterance_index: 2 },
                ModelKeyPhrase { text: "can't sleep".into(), utterance_index: 0 },
            ],
            summary: String::new(),
            concerns: vec![],
            suggested_actions: vec![],
        };
        let m = merge(&[chunk], &utts, None, &c, false);
        let labels: Vec<EmotionLabel> = m.emotions.iter().map(|e| e.label).collect();
        assert_eq!(labels, [EmotionLabel::Fatigue, EmotionLabel::Anxiety, EmotionLabel::Guilt]);
        let phrases: Vec<usize> = m.key_phrases.iter().map(|k| k.utterance_index).collect();
        assert_eq!(phrases, [0, 2]);
    }

    #[test]
    fn free_text_names_topics_as_the_report_does() {
        let c = Cleaner::default();
        let utts: Vec<String> =
            ["it's cool, i guess", "i wake up at four", "work is stressful"].iter().map(|s| s.to_string()).collect();
        let ev = |i: usize| vec![ModelEvidence { utterance_index: i, quote: utts[i].clone() }];
        let topic = |category, label: &str, i| ModelTopic { category, label: label.into(), evidence: ev(i) };
        // A machine-made transcript's answer (no clause checks): the model's names "joy" and
        // "early waking" say more than their quotes, so the report lists "mood" and "sleep".
        let chunk = ModelOutput {
            emotions: vec![],
            topics: vec![
                topic(TopicCategory::Mood, "joy", 0),
                topic(TopicCategory::Sleep, "early waking", 1),
                topic(TopicCategory::Work, "work stress", 2),
            ],
            key_phrases: vec![],
            summary: "The participant talks about joy, early waking and work stress and says they feel joy.".into(),
            concerns: vec!["Feeling hopeless in connection with early waking.".into()],
            suggested_actions: vec![
                "Early waking: follow up at the next session.".into(),
                "Ask about enjoyment.".into(),
            ],
        };
        let m = merge(&[chunk], &utts, None, &c, false);
        let labels: Vec<&str> = m.topics.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["mood", "sleep", "work stress"]);
        assert_eq!(m.summary, "The participant talks about mood, sleep and work stress and says they feel joy.");
        assert_eq!(m.concerns, ["Feeling hopeless in connection with sleep."]);
        assert_eq!(m.suggested_actions, ["Sleep: follow up at the next session.", "Ask about enjoyment."]);
    }

    #[test]
    fn chunks_merge_deterministically_and_unverified_quotes_are_dropped() {
        let c = Cleaner::default();
        let utts: Vec<String> =
            ["how are you", "I feel so tired all the time", "work has been awful", "I feel so tired all the time"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let ev = |i: usize, q: &str| ModelEvidence { utterance_index: i, quote: q.into() };
        let a = ModelOutput {
            emotions: vec![ModelEmotion {
                label: EmotionLabel::Fatigue,
                intensity: 0.4,
                evidence: vec![ev(1, "so tired"), ev(2, "so tired")],
            }],
            topics: vec![ModelTopic {
                category: TopicCategory::Work,
                label: "Work".into(),
                evidence: vec![ev(2, "awful")],
            }],
            key_phrases: vec![ModelKeyPhrase { text: "tired all the time".into(), utterance_index: 1 }],
            summary: "The participant is tired.".into(),
            concerns: vec!["Fatigue all day".into()],
            suggested_actions: vec![],
        };
        let b = ModelOutput {
            emotions: vec![ModelEmotion {
                label: EmotionLabel::Fatigue,
                intensity: 0.7,
                evidence: vec![ev(1, "So tired")],
            }],
            topics: vec![ModelTopic {
                category: TopicCategory::Work,
                label: "work".into(),
                evidence: vec![ev(2, "work")],
            }],
            key_phrases: vec![
                ModelKeyPhrase { text: "Tired all the time".into(), utterance_index: 3 },
                ModelKeyPhrase { text: "work has been awful".into(), utterance_index: 2 },
            ],
            summary: "Work is going badly for them.".into(),
            concerns: vec!["fatigue all day".into(), "Stress at work".into()],
            suggested_actions: vec!["Ask about sleep".into(), "Sleep".into()],
        };
        let Merged {
            emotions,
            topics,
            key_phrases: phrases,
            summary,
            concerns,
            suggested_actions: actions,
            grounding: g,
        } = merge(&[a.clone(), b.clone()], &utts, None, &c, false);
        assert_eq!(emotions.len(), 1);
        assert_eq!(emotions[0].intensity, 0.7, "max intensity");
        assert_eq!(emotions[0].evidence.len(), 1, "duplicate kept once, unverified dropped");
        assert_eq!(topics.len(), 1);
        assert_eq!(topics[0].evidence.len(), 2);
        assert_eq!(phrases.len(), 2);
        assert_eq!(summary, "The participant is tired. Work is going badly for them.");
        assert_eq!(concerns, vec!["Fatigue all day", "Stress at work"]);
        assert_eq!(actions, vec!["Ask about sleep"], "too short to be an action");
        assert_eq!((g.quotes, g.verified, g.dropped), (6, 5, 1));
        assert_eq!(merge(&[a.clone(), b.clone()], &utts, None, &c, false).grounding, g, "deterministic");
        // With speakers known, emotion evidence and key phrases cite only the participant
        // (utterances 1 and 3 here); topics may cite anyone.
        let participant: BTreeSet<u64> = [1, 3].into();
        let m = merge(&[a, b], &utts, Some(&participant), &c, false);
        assert_eq!(m.emotions[0].evidence.len(), 1);
        assert_eq!(m.key_phrases.iter().map(|k| k.utterance_index).collect::<Vec<_>>(), [1]);
        assert_eq!(m.grounding.not_participant, 2, "utterance 2's quote and key phrase");
        assert_eq!(m.topics[0].evidence.len(), 2);
    }

    #[test]
    fn a_key_phrase_inside_another_of_its_utterance_is_left_out() {
        let c = Cleaner::default();
        let utts: Vec<String> =
            ["not great. i wake up at four and i can't get back to sleep.", "i can't get back to sleep"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let phrase = |i: usize, t: &str| ModelKeyPhrase { text: t.into(), utterance_index: i };
        let out = ModelOutput {
            emotions: vec![],
            topics: vec![],
            key_phrases: vec![
                phrase(0, "i can't get back to sleep"),
                phrase(0, "wake up at four and i can't get back to sleep"),
                phrase(1, "get back to sleep"),
                phrase(0, "four and I can't"),
                phrase(0, "sleep"),
            ],
            summary: String::new(),
            concerns: vec![],
            suggested_actions: vec![],
        };
        let kept: Vec<(usize, String)> = merge(&[out], &utts, None, &c, false)
            .key_phrases
            .into_iter()
            .map(|k| (k.utterance_index, k.text))
            .collect();
        // The same words in another utterance stay.
        assert_eq!(
            kept,
            vec![
                (0, "wake up at four and i can't get back to sleep".to_string()),
                (1, "get back to sleep".to_string())
            ]
        );
    }

    #[test]
    fn the_minimum_lengths_are_the_schemas() {
        let schema = crate::extract::schema::model_output_schema();
        let p = &schema["properties"];
        assert_eq!(p["summary"]["minLength"].as_u64(), Some(MIN_SUMMARY_CHARS as u64));
        for list in ["concerns", "suggested_actions"] {
            assert_eq!(p[list]["items"]["minLength"].as_u64(), Some(MIN_ITEM_CHARS as u64), "{list}");
        }
    }

    #[test]
    fn free_text_must_be_prose_and_a_summary_cannot_repeat_an_utterance() {
        let c = Cleaner::default();
        let utts: Vec<String> =
            ["How are things at work?", "work is stressful"].iter().map(|s| s.to_string()).collect();
        let out = |summary: &str, concerns: &[&str], intensity: f32| ModelOutput {
            emotions: vec![ModelEmotion {
                label: EmotionLabel::Anxiety,
                intensity,
                evidence: vec![ModelEvidence { utterance_index: 1, quote: "stressful".into() }],
            }],
            topics: vec![],
            key_phrases: vec![],
            summary: summary.into(),
            concerns: concerns.iter().map(|s| s.to_string()).collect(),
            suggested_actions: vec![],
        };
        let m =
            merge(&[out("How are things at work?", &["{{{{}}}}, i'm not sure", "ok"], 0.0)], &utts, None, &c, false);
        assert_eq!(m.summary, "", "a copied question");
        assert!(m.concerns.is_empty(), "markup, and too short");
        assert!(m.emotions.is_empty(), "no intensity");
        let m =
            merge(&[out("The participant finds work stressful.", &["Stress at work."], 0.6)], &utts, None, &c, false);
        assert_eq!(m.summary, "The participant finds work stressful.");
        assert_eq!(m.concerns, vec!["Stress at work."]);
        assert_eq!(m.emotions.len(), 1);
        assert!(is_prose("Sleeps badly since May.", 12) && !is_prose("Why not?", 3) && !is_prose("- item", 3));
        assert!(!is_prose("N...................", 20), "the grammar's padding at the budget");
    }

    #[test]
    fn a_summary_is_cut_where_it_loops() {
        let cut = |t: &str| without_loop(t).join(" ");
        assert_eq!(
            cut("The participant talks about work and says they feel tired and tired and tired and tired."),
            "The participant talks about work and says they feel tired."
        );
        assert_eq!(cut("Sleep is poor; sleep, work and sleep again."), "Sleep is poor; sleep, work and sleep again.");
        let prose = "The participant sleeps badly and feels tired at work, and tired at home.";
        assert_eq!(cut(prose), prose, "twice is prose");
    }
}
