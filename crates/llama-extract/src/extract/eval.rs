//! Measured extraction quality: labelled excerpts (a transcript with its answer key, the
//! [`ModelOutput`] a perfect extractor would write) scored field by field, and the same
//! excerpts turned into fine-tuning pairs.
//!
//! A set is a folder of `<name>_TRANSCRIPT.csv` (any format text-clean reads) with
//! `<name>_labels.json` and, optionally, `<name>_voice.json` ([`VoiceEmotions`]);
//! `scripts/make-extraction-sets.py` writes the project's dev and held-out sets.
//!
//! Scores, summed over a set: precision / recall / F1 of the emotion labels and of the topic
//! categories (sets per excerpt, micro-averaged), key-phrase recall (a key phrase is found when
//! an extracted key phrase of the same utterance shares at least half its words), the share of
//! quotes verified, the share of emotion evidence that cites the participant, and the share of
//! schema-valid answers.
//!
//! ```
//! use llama_extract::extract::eval::Counts;
//!
//! let c = Counts { emotion: [3, 1, 1], ..Counts::default() }; // true pos., false pos., missed
//! assert_eq!(c.quality().emotion.f1, 0.75);
//! ```

use std::collections::BTreeSet;
use std::path::Path;

use serde::{Deserialize, Serialize};
use text_clean::{Cleaner, Transcript};

use super::grammar::Grammar;
use super::ground::{normalise, verify};
use super::schema::{Extraction, ModelOutput};
use super::{ExtractError, Extractor, VoiceEmotions, participant_utterances};
use crate::LlamaError;
use crate::runtime::generate::LanguageModel;
use crate::train::sft::SftPair;

/// One transcript and its answer key.
#[derive(Debug, Clone)]
pub struct LabelledExcerpt {
    /// The excerpt's name (its files' common prefix).
    pub name: String,
    /// The transcript.
    pub transcript: Transcript,
    /// Voice emotions, when the set has them.
    pub voice: Option<VoiceEmotions>,
    /// The answer key: what a perfect extraction reports.
    pub key: ModelOutput,
}

/// Reads every `<name>_TRANSCRIPT.csv` of `dir` with its `<name>_labels.json` (and
/// `<name>_voice.json` if present), by name. A transcript without labels is an error, as is a
/// folder with no excerpts.
pub fn read_labelled_set(dir: &Path) -> Result<Vec<LabelledExcerpt>, LlamaError> {
    let entries = std::fs::read_dir(dir).map_err(|e| LlamaError::io(dir, e))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| LlamaError::io(dir, e))?;
        if let Some(name) = entry.file_name().to_str().and_then(|f| f.strip_suffix("_TRANSCRIPT.csv")) {
            names.push(name.to_string());
        }
    }
    names.sort();
    if names.is_empty() {
        let at = dir.display().to_string();
        return Err(ExtractError::LabelledSet { at, what: "no *_TRANSCRIPT.csv files".into() }.into());
    }
    let json = |path: &Path| -> Result<Option<String>, LlamaError> {
        match std::fs::read_to_string(path) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(LlamaError::io(path, e)),
        }
    };
    let bad = |path: &Path, source| LlamaError::from(ExtractError::Json { path: path.display().to_string(), source });
    names
        .into_iter()
        .map(|name| {
            let transcript_path = dir.join(format!("{name}_TRANSCRIPT.csv"));
            let transcript = text_clean::parse_path(&transcript_path, None)
                .map_err(|source| ExtractError::Transcript { path: transcript_path.display().to_string(), source })?;
            let labels = dir.join(format!("{name}_labels.json"));
            let missing = || ExtractError::LabelledSet { at: labels.display().to_string(), what: "missing".into() };
            let key_text = json(&labels)?.ok_or_else(missing)?;
            let key = serde_json::from_str(&key_text).map_err(|e| bad(&labels, e))?;
            let voice_path = dir.join(format!("{name}_voice.json"));
            let voice = match json(&voice_path)? {
                Some(t) => Some(serde_json::from_str(&t).map_err(|e| bad(&voice_path, e))?),
                None => None,
            };
            Ok(LabelledExcerpt { name, transcript, voice, key })
        })
        .collect()
}

/// Counts summed over excerpts; [`Counts::quality`] turns them into rates.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Excerpts scored.
    pub excerpts: usize,
    /// Excerpts whose every chunk answer was schema-valid.
    pub well_formed: usize,
    /// Emotion labels: `[true positives, false positives, missed]`.
    pub emotion: [usize; 3],
    /// Topic categories: `[true positives, false positives, missed]`.
    pub topic: [usize; 3],
    /// Key phrases of the answer keys: `[found, total]`.
    pub key_phrases: [usize; 2],
    /// Quotes and key phrases the model cited: `[verified, total]`.
    pub quotes: [usize; 2],
    /// Emotion evidence in the reports: `[citing the participant, total]`.
    pub emotion_evidence: [usize; 2],
}

/// Precision, recall and F1 (1 where nothing was expected and nothing found).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Prf {
    /// Share of reported items that are in the key.
    pub precision: f64,
    /// Share of the key's items that were reported.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
}

impl Prf {
    fn from_counts([tp, fp, missed]: [usize; 3]) -> Self {
        let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
        let (precision, recall) = (ratio(tp, tp + fp), ratio(tp, tp + missed));
        let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
        Self { precision, recall, f1 }
    }
}

/// The rates of a scored set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    /// Excerpts scored.
    pub excerpts: usize,
    /// Emotion labels against the keys.
    pub emotion: Prf,
    /// Topic categories against the keys.
    pub topic: Prf,
    /// Share of the keys' key phrases found.
    pub key_phrase_recall: f64,
    /// Share of cited quotes verified in their utterances.
    pub grounding_rate: f64,
    /// Share of emotion evidence citing the participant.
    pub participant_evidence: f64,
    /// Share of excerpts whose every answer was schema-valid.
    pub schema_valid: f64,
}

impl Counts {
    /// Adds another excerpt's (or set's) counts.
    pub fn add(&mut self, o: &Counts) {
        self.excerpts += o.excerpts;
        self.well_formed += o.well_formed;
        for i in 0..3 {
            self.emotion[i] += o.emotion[i];
            self.topic[i] += o.topic[i];
        }
        for i in 0..2 {
            self.key_phrases[i] += o.key_phrases[i];
            self.quotes[i] += o.quotes[i];
            self.emotion_evidence[i] += o.emotion_evidence[i];
        }
    }

    /// The rates these counts give.
    pub fn quality(&self) -> Quality {
        let share = |[a, b]: [usize; 2]| if b == 0 { 1.0 } else { a as f64 / b as f64 };
        Quality {
            excerpts: self.excerpts,
            emotion: Prf::from_counts(self.emotion),
            topic: Prf::from_counts(self.topic),
            key_phrase_recall: share(self.key_phrases),
            grounding_rate: share(self.quotes),
            participant_evidence: share(self.emotion_evidence),
            schema_valid: share([self.well_formed, self.excerpts]),
        }
    }
}

/// `[true positives, false positives, missed]` of two label sets.
fn set_counts<T: Ord>(expected: BTreeSet<T>, got: BTreeSet<T>) -> [usize; 3] {
    let tp = expected.intersection(&got).count();
    [tp, got.len() - tp, expected.len() - tp]
}

/// Scores one report against its answer key. `participant`: the participant's utterance
/// indices (see [`participant_utterances`]); without it every emotion quote counts as the
/// participant's.
pub fn score(key: &ModelOutput, got: &Extraction, participant: Option<&BTreeSet<u64>>, cleaner: &Cleaner) -> Counts {
    let words = |s: &str| -> BTreeSet<String> { normalise(cleaner, s).split(' ').map(str::to_string).collect() };
    let found = key
        .key_phrases
        .iter()
        .filter(|k| {
            let want = words(&k.text);
            got.key_phrases.iter().any(|g| {
                g.utterance_index == k.utterance_index && 2 * want.intersection(&words(&g.text)).count() >= want.len()
            })
        })
        .count();
    let evidence: Vec<u64> =
        got.emotions.iter().flat_map(|e| e.evidence.iter().map(|v| v.utterance_index as u64)).collect();
    let from_participant = evidence.iter().filter(|i| participant.is_none_or(|p| p.contains(i))).count();
    Counts {
        excerpts: 1,
        well_formed: usize::from(got.well_formed),
        emotion: set_counts(
            key.emotions.iter().map(|e| e.label).collect(),
            got.emotions.iter().map(|e| e.label).collect(),
        ),
        topic: set_counts(
            key.topics.iter().map(|t| t.category).collect(),
            got.topics.iter().map(|t| t.category).collect(),
        ),
        key_phrases: [found, key.key_phrases.len()],
        quotes: [got.grounding.verified, got.grounding.quotes],
        emotion_evidence: [from_participant, evidence.len()],
    }
}

/// Runs `extractor` over `set` and scores every report; `each` sees the excerpt, its report and
/// its counts as they come (for progress and per-excerpt logs).
pub fn evaluate<M: LanguageModel>(
    extractor: &Extractor<'_, M>,
    set: &[LabelledExcerpt],
    each: &mut dyn FnMut(&LabelledExcerpt, &Extraction, &Counts),
) -> Result<Counts, LlamaError> {
    let cleaner = Cleaner::default();
    let mut total = Counts::default();
    for x in set {
        let report = extractor.extract(&x.transcript, x.voice.as_ref())?;
        let participant = participant_utterances(&extractor.clean(&x.transcript));
        let counts = score(&x.key, &report, participant.as_ref(), &cleaner);
        each(x, &report, &counts);
        total.add(&counts);
    }
    Ok(total)
}

/// The fine-tuning pair for one excerpt: the extractor's exact prompt (system and user turns)
/// and the answer key as compact JSON. The key must be an answer the constrained decoder could
/// write for that prompt (quotes verbatim from the cited utterance, emotions citing the
/// participant, prose free text, one chunk): otherwise training would teach what decoding
/// refuses, and the error names the excerpt and what is wrong.
pub fn training_pair<M: LanguageModel>(
    extractor: &Extractor<'_, M>,
    x: &LabelledExcerpt,
) -> Result<SftPair, LlamaError> {
    let fail = |what: String| LlamaError::from(ExtractError::LabelledSet { at: x.name.clone(), what });
    let lines = extractor.prompt_lines(&x.transcript, x.voice.as_ref());
    let chunks = extractor.plan_chunks(&lines)?;
    if chunks.len() != 1 {
        return Err(fail(format!("needs {} chunks; a training excerpt must fit one", chunks.len())));
    }
    let cleaned = extractor.clean(&x.transcript);
    let texts: Vec<String> = cleaned.utterances.iter().map(|u| u.text.clone()).collect();
    // The narrowing decoding uses for this (single) chunk.
    let narrowing = extractor
        .narrowing(&texts, 0..texts.len(), participant_utterances(&cleaned).as_ref())
        .ok_or_else(|| fail("no utterance has a word to quote".into()))?;
    let grammar = Grammar::from_schema(&extractor.schema, &narrowing)?;
    let answer = serde_json::to_string(&x.key).map_err(|e| fail(e.to_string()))?;
    let mut m = grammar.matcher();
    for (at, c) in answer.char_indices() {
        if !m.feed(c) {
            return Err(fail(format!(
                "the grammar refuses the key at byte {at}: …{}",
                &answer[at.saturating_sub(40)..at]
            )));
        }
    }
    if !m.is_done() {
        return Err(fail("the key is not a whole document".into()));
    }
    for e in x.key.emotions.iter().flat_map(|e| &e.evidence).chain(x.key.topics.iter().flat_map(|t| &t.evidence)) {
        if !texts.get(e.utterance_index).is_some_and(|u| verify(&extractor.cleaner, &e.quote, u)) {
            return Err(fail(format!("quote {:?} is not in utterance {}", e.quote, e.utterance_index)));
        }
    }
    let [system, user] = extractor.messages(&lines);
    Ok(SftPair { system: Some(system.content), prompt: user.content, response: answer })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::schema::{
        Emotion, EmotionLabel, Evidence, Grounding, KeyPhrase, ModelEmotion, ModelEvidence, ModelKeyPhrase, ModelTopic,
        Nonverbal, Topic, TopicCategory,
    };

    fn key() -> ModelOutput {
        let ev = |i: usize, q: &str| vec![ModelEvidence { utterance_index: i, quote: q.into() }];
        ModelOutput {
            emotions: vec![
                ModelEmotion { label: EmotionLabel::Anxiety, intensity: 0.7, evidence: ev(1, "i'm anxious") },
                ModelEmotion { label: EmotionLabel::Fatigue, intensity: 0.6, evidence: ev(3, "so tired") },
            ],
            topics: vec![ModelTopic {
                category: TopicCategory::Work,
                label: "deadlines".into(),
                evidence: ev(1, "work"),
            }],
            key_phrases: vec![
                ModelKeyPhrase { utterance_index: 1, text: "piling on deadlines".into() },
                ModelKeyPhrase { utterance_index: 3, text: "wake up at four".into() },
            ],
            summary: "The participant is anxious about work.".into(),
            concerns: vec![],
            suggested_actions: vec![],
        }
    }

    fn report(emotions: &[(EmotionLabel, usize)], topics: &[TopicCategory], phrases: &[(usize, &str)]) -> Extraction {
        let ev = |i: usize| vec![Evidence { utterance_index: i, quote: "x".into(), verified: true }];
        Extraction {
            schema_version: String::new(),
            emotions: emotions.iter().map(|&(label, i)| Emotion { label, intensity: 0.5, evidence: ev(i) }).collect(),
            topics: topics.iter().map(|&category| Topic { category, label: "t".into(), evidence: ev(1) }).collect(),
            key_phrases: phrases.iter().map(|&(i, t)| KeyPhrase { utterance_index: i, text: t.into() }).collect(),
            summary: String::new(),
            concerns: vec![],
            suggested_actions: vec![],
            notice: String::new(),
            nonverbal: Nonverbal::default(),
            grounding: Grounding { quotes: 4, verified: 3, dropped: 1, not_participant: 0, rate: 0.75 },
            chunks: 1,
            well_formed: true,
        }
    }

    #[test]
    fn a_perfect_report_scores_one_and_mistakes_cost_what_they_should() {
        let c = Cleaner::default();
        let participant: BTreeSet<u64> = [1, 3].into();
        let perfect = report(
            &[(EmotionLabel::Anxiety, 1), (EmotionLabel::Fatigue, 3)],
            &[TopicCategory::Work],
            &[(1, "piling on deadlines"), (3, "i wake up at four")],
        );
        let q = score(&key(), &perfect, Some(&participant), &c).quality();
        assert_eq!((q.emotion.f1, q.topic.f1, q.key_phrase_recall, q.participant_evidence), (1.0, 1.0, 1.0, 1.0));
        assert_eq!(q.grounding_rate, 0.75);

        // One right emotion, one wrong one citing the interviewer (utterance 0); an extra topic;
        // a key phrase in the wrong utterance and one sharing too few words.
        let poor = report(
            &[(EmotionLabel::Anxiety, 1), (EmotionLabel::Sadness, 0)],
            &[TopicCategory::Work, TopicCategory::Sleep],
            &[(2, "piling on deadlines"), (3, "four")],
        );
        let q = score(&key(), &poor, Some(&participant), &c).quality();
        assert_eq!((q.emotion.precision, q.emotion.recall), (0.5, 0.5));
        assert_eq!((q.topic.precision, q.topic.recall), (0.5, 1.0));
        assert_eq!(q.key_phrase_recall, 0.0);
        assert_eq!(q.participant_evidence, 0.5);
        let empty = score(&key(), &report(&[], &[], &[]), Some(&participant), &c).quality();
        assert_eq!((empty.emotion.f1, empty.emotion.precision), (0.0, 1.0), "nothing claimed, all missed");
    }

    #[test]
    fn counts_add_up_across_excerpts() {
        let mut total = Counts::default();
        total.add(&Counts { excerpts: 1, well_formed: 1, emotion: [1, 0, 1], ..Counts::default() });
        total.add(&Counts { excerpts: 1, well_formed: 0, emotion: [1, 2, 0], ..Counts::default() });
        let q = total.quality();
        assert_eq!((q.excerpts, q.schema_valid), (2, 0.5));
        assert_eq!((q.emotion.precision, q.emotion.recall), (0.5, 2.0 / 3.0));
    }

    #[test]
    fn the_committed_sets_read_back_with_keys_that_quote_their_transcripts() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/extraction");
        let c = Cleaner::default();
        for (set, at_least) in [("dev", 20), ("heldout", 30)] {
            let excerpts = read_labelled_set(&root.join(set)).unwrap();
            assert!(excerpts.len() >= at_least, "{set}: {}", excerpts.len());
            for x in &excerpts {
                let cleaned = c.clean_transcript(&x.transcript);
                let participant = participant_utterances(&cleaned).unwrap();
                assert!(!x.key.emotions.is_empty() || !x.key.topics.is_empty(), "{}", x.name);
                for e in x.key.emotions.iter().flat_map(|e| &e.evidence) {
                    assert!(
                        participant.contains(&(e.utterance_index as u64)),
                        "{}: emotion cites a non-participant",
                        x.name
                    );
                    assert!(
                        verify(&c, &e.quote, &cleaned.utterances[e.utterance_index].text),
                        "{}: {:?}",
                        x.name,
                        e.quote
                    );
                }
                for k in &x.key.key_phrases {
                    assert!(
                        verify(&c, &k.text, &cleaned.utterances[k.utterance_index].text),
                        "{}: {:?}",
                        x.name,
                        k.text
                    );
                }
            }
        }
        assert!(read_labelled_set(&root).is_err(), "a folder with no excerpts");
    }
}
