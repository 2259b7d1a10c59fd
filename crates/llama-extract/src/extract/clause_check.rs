//! Clause checks: which of a participant's clauses say a feeling (and which), and which are
//! about a topic (and which).
//!
//! A 135 M model fine-tuned on a few hundred excerpts names the feelings it was shown and
//! misreads new ones ("i was livid" as anxiety), cites facts as feelings ("my psychiatrist
//! changed my prescription" as hopelessness) and files a sister's calls under dating. What the
//! model *knows* about a clause is richer than what its extraction answer says: a linear
//! classifier (softmax regression) on the model's own hidden state — the last token of a
//! few-shot question about the clause — reads the label, or `none`, from it. Fitted to family
//! A's clauses, the checks label family B's unseen words far better than the adapter's answers
//! do (see `docs/extraction.md`).
//!
//! The extractor splits every participant utterance into [`clauses`], asks the checks about
//! each, and writes the emotions and the topics' evidence and categories they find into the
//! answer; the model writes the topic labels, key phrases, summary and concerns around them.
//! The weights live beside the adapter whose hidden states they were fitted to
//! ([`FEELING_FILE`], [`TOPIC_FILE`]).

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use safetensors::Dtype;
use safetensors::tensor::TensorView;

use super::ExtractError;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::schema::{
    Emotion, EmotionLabel, Evidence, ModelEmotion, ModelEvidence, ModelKeyPhrase, ModelTopic, Topic, TopicCategory,
};
use crate::LlamaError;
use crate::runtime::tokenizer::LlamaTokenizer;

/// The file a [`FeelingCheck`] is saved in, inside an adapter folder.
pub const FEELING_FILE: &str = "feeling_check.safetensors";
/// The file a [`TopicCheck`] is saved in, inside an adapter folder.
pub const TOPIC_FILE: &str = "topic_check.safetensors";

/// Clause → emotion label or none.
pub type FeelingCheck = ClauseCheck<EmotionLabel>;
/// Clause → topic category or none.
pub type TopicCheck = ClauseCheck<TopicCategory>;

/// The labels a check may give: the schema's label enums (snake_case names in files).
pub trait CheckLabel: Copy + Ord + std::fmt::Debug + Serialize + DeserializeOwned {}
impl<T: Copy + Ord + std::fmt::Debug + Serialize + DeserializeOwned> CheckLabel for T {}

/// What the feeling check asks the model about each clause; `{clause}` is replaced by the
/// clause. A
/// few-shot question (family A's clauses, one per label and two facts): the hidden state
/// after "Feeling:" holds the model's own guess at the label, which a probe reads better than
/// the bare clause (held-out clauses 0.86 → 0.89 right, the unseen "i was livid" among them).
/// Everything up to the last line is the same for every clause and is computed once.
pub const FEELING_PROMPT: &str = "<|im_start|>user\nName the feeling each sentence expresses, or none if it only states a fact.\n\
Sentence: \"i feel so blue these days\" Feeling: sadness\n\
Sentence: \"my boss yelled at me in front of everyone\" Feeling: none\n\
Sentence: \"i'm a nervous wreck\" Feeling: anxiety\n\
Sentence: \"it makes me furious\" Feeling: anger\n\
Sentence: \"i'm fed up with it\" Feeling: frustration\n\
Sentence: \"i have nobody\" Feeling: loneliness\n\
Sentence: \"i blame myself for it\" Feeling: guilt\n\
Sentence: \"i'm worn out by noon\" Feeling: fatigue\n\
Sentence: \"nothing is ever going to get better\" Feeling: hopelessness\n\
Sentence: \"i feel at ease\" Feeling: calm\n\
Sentence: \"it makes me really happy\" Feeling: joy\n\
Sentence: \"i play guitar sometimes\" Feeling: none\n\
Sentence: \"{clause}\" Feeling:";

/// What the topic check asks: the same form, one of family A's facts per category, a feeling
/// and small talk as none.
pub const TOPIC_PROMPT: &str = "<|im_start|>user\nName the topic of each sentence, or none if it only says a feeling.\n\
Sentence: \"i might get laid off soon\" Topic: work\n\
Sentence: \"i feel so blue these days\" Topic: none\n\
Sentence: \"i had to sell my car\" Topic: finances\n\
Sentence: \"my wife and i barely talk anymore\" Topic: relationships\n\
Sentence: \"my mom is in the hospital\" Topic: family\n\
Sentence: \"my knees hurt when i walk\" Topic: health\n\
Sentence: \"i can't stay asleep\" Topic: sleep\n\
Sentence: \"i stopped caring about things\" Topic: mood\n\
Sentence: \"i started seeing a counselor\" Topic: therapy\n\
Sentence: \"i failed my final exams\" Topic: education\n\
Sentence: \"i moved back in with my parents\" Topic: living_situation\n\
Sentence: \"i smoke a pack a day\" Topic: substance_use\n\
Sentence: \"i play guitar sometimes\" Topic: none\n\
Sentence: \"{clause}\" Topic:";

/// A check's question as token ids, tokenized once: the part shared by every clause (through
/// the last line break before the clause) and the pieces of the last line around the clause.
/// Special tokens are parsed in the template, never in the clause (a participant's words
/// cannot open a chat turn).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClauseQuestion {
    /// Ids of the shared part (BOS first when the model wants it).
    pub shared: Vec<u32>,
    before: Vec<u32>,
    after: Vec<u32>,
}

impl ClauseQuestion {
    /// `template` (with `{clause}` in it) for `tokenizer`.
    pub fn new(tokenizer: &LlamaTokenizer, template: &str) -> Result<Self, LlamaError> {
        let (before, after) = template.split_once("{clause}").unwrap_or((template, ""));
        let cut = before.rfind('\n').map_or(0, |i| i + 1);
        Ok(Self {
            shared: tokenizer.encode_prompt(&before[..cut])?,
            before: tokenizer.encode(&before[cut..], true)?,
            after: tokenizer.encode(after, true)?,
        })
    }

    /// Ids of the clause's own last line (what follows [`Self::shared`]).
    pub fn own(&self, tokenizer: &LlamaTokenizer, clause: &str) -> Result<Vec<u32>, LlamaError> {
        let mut own = self.before.clone();
        own.extend(tokenizer.encode(clause, false)?);
        own.extend_from_slice(&self.after);
        Ok(own)
    }
}

/// The longest quote an emotion's evidence may hold (`ModelEvidence::quote`).
pub const MAX_QUOTE_CHARS: usize = 120;
/// The longest key phrase (`ModelKeyPhrase::text`).
pub const MAX_KEY_PHRASE_CHARS: usize = 60;

/// The check's verdict on one clause of one utterance.
#[derive(Debug, Clone, PartialEq)]
pub struct ClauseVerdict<L> {
    /// The utterance's index in the transcript.
    pub utterance: usize,
    /// The clause: a byte range of the utterance's cleaned text.
    pub clause: Range<usize>,
    /// What the check says of it.
    pub verdict: Verdict<L>,
}

impl<L: CheckLabel> ClauseVerdict<L> {
    /// The label the clause has, when the check is sure enough of it.
    pub fn label(&self, min_probability: f32) -> Option<L> {
        self.verdict.label.filter(|_| self.verdict.probability >= min_probability)
    }
}

/// The emotions of a chunk from its clauses' verdicts (`texts`: the cleaned utterances the
/// ranges point into), as [`grouped`] gives them; the intensity is the check's highest
/// probability for the emotion.
pub fn emotions_from(
    verdicts: &[ClauseVerdict<EmotionLabel>],
    min_probability: f32,
    texts: &[String],
) -> Vec<ModelEmotion> {
    grouped(verdicts, min_probability, texts)
        .into_iter()
        .map(|(label, evidence, p)| ModelEmotion {
            evidence,
            label,
            intensity: ((p * 100.0).round() / 100.0).clamp(0.1, 1.0),
        })
        .collect()
}

/// The topics of a chunk from its clauses' verdicts, as [`grouped`] gives them: evidence and
/// category (the model names each one, `ModelTopic::label`).
pub fn topics_from(
    verdicts: &[ClauseVerdict<TopicCategory>],
    min_probability: f32,
    texts: &[String],
) -> Vec<(Vec<ModelEvidence>, TopicCategory)> {
    grouped(verdicts, min_probability, texts).into_iter().map(|(category, evidence, _)| (evidence, category)).collect()
}

/// The labels the sure verdicts give, each with its clauses as evidence (at most two, in
/// order) and its highest probability: at most four labels (the schema's limit), the most
/// probable, in the order they were first said.
pub fn grouped<L: CheckLabel>(
    verdicts: &[ClauseVerdict<L>],
    min_probability: f32,
    texts: &[String],
) -> Vec<(L, Vec<ModelEvidence>, f32)> {
    let mut found: Vec<(L, Vec<ModelEvidence>, f32)> = Vec::new();
    for v in verdicts {
        let (Some(label), Some(quote)) = (v.label(min_probability), quote_of(v, texts)) else { continue };
        let evidence = ModelEvidence { quote: quote.to_string(), utterance_index: v.utterance };
        let p = v.verdict.probability;
        match found.iter_mut().find(|f| f.0 == label) {
            Some(f) => {
                if f.1.len() < 2 {
                    f.1.push(evidence);
                }
                f.2 = f.2.max(p);
            }
            None => found.push((label, vec![evidence], p)),
        }
    }
    // The four most probable (ties: the first said), then back in the order they were said.
    let mut order: Vec<usize> = (0..found.len()).collect();
    order.sort_by(|&x, &y| found[y].2.total_cmp(&found[x].2).then(x.cmp(&y)));
    let mut keep = vec![false; found.len()];
    order.iter().take(4).for_each(|&k| keep[k] = true);
    found.into_iter().zip(keep).filter_map(|(f, k)| k.then_some(f)).collect()
}

/// The word a feeling is said with ("guilty", "happy"); `None` for the labels that name no
/// feeling (neutral, other).
fn feeling_word(label: EmotionLabel) -> Option<&'static str> {
    Some(match label {
        EmotionLabel::Sadness => "sad",
        EmotionLabel::Hopelessness => "hopeless",
        EmotionLabel::Anxiety => "anxious",
        EmotionLabel::Frustration => "frustrated",
        EmotionLabel::Anger => "angry",
        EmotionLabel::Guilt => "guilty",
        EmotionLabel::Loneliness => "lonely",
        EmotionLabel::Fatigue => "tired",
        EmotionLabel::Calm => "calm",
        EmotionLabel::Joy => "happy",
        EmotionLabel::Neutral | EmotionLabel::Other => return None,
    })
}

/// Whether a clinician would want to hear of the feeling (the concerns name only these).
fn is_negative(label: EmotionLabel) -> bool {
    !matches!(label, EmotionLabel::Calm | EmotionLabel::Joy | EmotionLabel::Neutral | EmotionLabel::Other)
}

/// An emotion as the composed sentences read it: its label and the utterances of its evidence.
type Felt = (EmotionLabel, Vec<usize>);
/// A topic as they read it: its label, category and the utterances of its evidence.
type Cited = (String, TopicCategory, Vec<usize>);

/// One answer's checked emotions and named topics, in the order given (the checks found them
/// in the order said).
fn answer_parts(emotions: &[ModelEmotion], topics: &[ModelTopic]) -> (Vec<Felt>, Vec<Cited>) {
    let utterances = |evidence: &[ModelEvidence]| evidence.iter().map(|e| e.utterance_index).collect::<Vec<_>>();
    let e = emotions.iter().map(|e| (e.label, utterances(&e.evidence))).collect();
    let t = topics.iter().map(|t| (t.label.clone(), t.category, utterances(&t.evidence))).collect();
    (e, t)
}

/// One concern per negative feeling, in order, with the labels of up to `most` topics cited in
/// the same utterances: those that share the most of them first, then in the order given
/// (with `most` = 1, the first topic that shares one).
fn concerns_core(emotions: &[Felt], topics: &[Cited], most: usize) -> Vec<String> {
    emotions
        .iter()
        .filter(|(label, _)| is_negative(*label))
        .filter_map(|(label, said)| {
            let word = feeling_word(*label)?;
            let named = connected_topics(said, topics, most);
            Some(if named.is_empty() {
                format!("Feeling {word}.")
            } else {
                format!("Feeling {word} in connection with {}.", english_list(&named))
            })
        })
        .collect()
}

/// The labels of up to `most` distinct topics cited in the utterances `said`, those citing
/// the most of them first, then in the order given.
fn connected_topics<'t>(said: &[usize], topics: &'t [Cited], most: usize) -> Vec<&'t str> {
    let mut shared: Vec<(usize, &str)> = topics
        .iter()
        .map(|(label, _, cited)| (cited.iter().filter(|u| said.contains(u)).count(), label.as_str()))
        .filter(|(n, _)| *n > 0)
        .collect();
    shared.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    let mut named: Vec<&str> = Vec::new();
    for (_, label) in shared {
        if named.len() < most && !named.iter().any(|n| n.eq_ignore_ascii_case(label)) {
            named.push(label);
        }
    }
    named
}

/// The concerns for a clinician the checked emotions raise: one per negative feeling (at most
/// three, in order), paired with the topic cited in the same utterance when there is one —
/// "Feeling guilty in connection with deadlines." — or on its own ("Feeling lonely."). The
/// adapter was trained to write exactly these, and paired feelings with another turn's topic.
pub fn concerns(emotions: &[ModelEmotion], topics: &[ModelTopic]) -> Vec<String> {
    let (e, t) = answer_parts(emotions, topics);
    concerns_core(&e, &t, 1).into_iter().take(3).collect()
}

/// A whole report's emotions and topics (merged from its chunks), each with the utterances of
/// its evidence, in the order they were first said.
fn in_order_said(emotions: &[Emotion], topics: &[Topic]) -> (Vec<Felt>, Vec<Cited>) {
    let utterances = |evidence: &[Evidence]| evidence.iter().map(|e| e.utterance_index).collect::<Vec<_>>();
    let first = |u: &[usize]| u.iter().min().copied().unwrap_or(usize::MAX);
    let mut e: Vec<_> = emotions.iter().map(|e| (e.label, utterances(&e.evidence))).collect();
    let mut t: Vec<_> = topics.iter().map(|t| (t.label.clone(), t.category, utterances(&t.evidence))).collect();
    e.sort_by_key(|(_, u)| first(u));
    t.sort_by_key(|(_, _, u)| first(u));
    (e, t)
}

/// The concerns of a whole report made with the checks: [`concerns`] over its merged emotions
/// and topics — one per negative feeling, no limit of three (a long interview has chunks, and
/// each chunk's three repeated or paired a feeling with whichever topic that chunk held), each
/// naming up to [`CONCERN_TOPICS`] topics said with the feeling, those said with it most often
/// first. Over a whole interview a feeling is said beside many topics, once each; naming the
/// first alone ("Feeling sad in connection with therapy.") read as the cause.
pub fn report_concerns(emotions: &[Emotion], topics: &[Topic]) -> Vec<String> {
    let (e, t) = in_order_said(emotions, topics);
    concerns_core(&e, &t, CONCERN_TOPICS)
}

/// The most topics a report's concern names.
pub const CONCERN_TOPICS: usize = 3;

/// The most suggested actions a report holds: what one answer may hold (the schema's limit).
pub const REPORT_ACTIONS: usize = 3;

/// The suggested actions of a whole report made with the checks: the chunks' actions
/// (deduplicated, in order) that name a topic of a concern first, then the rest, at most
/// [`REPORT_ACTIONS`]. Each chunk's answer suggests following up its own first topic, so a
/// long interview listed one per chunk (eleven "Follow up on …" for fifteen chunks); a
/// clinician's short list is the topics the negative feelings were said with.
pub fn report_actions(actions: &[String], emotions: &[Emotion], topics: &[Topic]) -> Vec<String> {
    let (e, t) = in_order_said(emotions, topics);
    let mut of_concern: Vec<String> = Vec::new();
    for (_, said) in e.iter().filter(|(label, _)| is_negative(*label)) {
        of_concern.extend(connected_topics(said, &t, CONCERN_TOPICS).into_iter().map(padded_words));
    }
    let names_one = |a: &String| {
        let action = padded_words(a);
        of_concern.iter().any(|label| action.contains(label.as_str()))
    };
    let (first, rest): (Vec<&String>, Vec<&String>) = actions.iter().partition(|a| names_one(a));
    first.into_iter().chain(rest).take(REPORT_ACTIONS).cloned().collect()
}

/// The words of `text` as the grounding compares them, space-separated and space-padded (so
/// that a name is found in a sentence on word boundaries).
fn padded_words(text: &str) -> String {
    format!(" {} ", super::ground::plain_words(text).collect::<Vec<_>>().join(" "))
}

/// The most topics a summary names one by one; with more, it names their categories.
const SUMMARY_TOPICS: usize = 4;

/// The summary of a whole report made with the checks: the sentence the adapter was trained to
/// write — "The participant talks about sleep, deadlines and family and says they feel guilty
/// and tired." — from the merged topics and emotions, in the order first said (a long
/// interview's many topics by their categories: "talks about therapy, work, health, …"). The
/// model writes it per chunk from the same parts, and on long chunks garbled it
/// ("conflictwork", "tired and tired", a topic that was not reported); a report of several
/// chunks got one sentence per chunk. Empty when nothing was found.
pub fn report_summary(emotions: &[Emotion], topics: &[Topic]) -> String {
    let (e, t) = in_order_said(emotions, topics);
    summary_core(&e, &t)
}

/// [`report_summary`] for one chunk's answer: its checked emotions and its named topics, as
/// the second pass writes them (in the order the checks found them, the order said).
pub fn chunk_summary(emotions: &[ModelEmotion], topics: &[ModelTopic]) -> String {
    let (e, t) = answer_parts(emotions, topics);
    summary_core(&e, &t)
}

fn summary_core(e: &[Felt], t: &[Cited]) -> String {
    let distinct = |names: Vec<String>| {
        let mut out: Vec<String> = Vec::new();
        for n in names {
            if !out.iter().any(|o| o.eq_ignore_ascii_case(&n)) {
                out.push(n);
            }
        }
        out
    };
    let mut named = distinct(t.iter().map(|(label, _, _)| label.clone()).collect());
    if named.len() > SUMMARY_TOPICS {
        named = distinct(t.iter().map(|(_, category, _)| super::ground::category_label(*category)).collect());
    }
    let named: Vec<&str> = named.iter().map(String::as_str).collect();
    let feelings: Vec<&str> = e.iter().filter_map(|(label, _)| feeling_word(*label)).collect();
    match (named.is_empty(), feelings.is_empty()) {
        (true, true) => String::new(),
        (false, true) => format!("The participant talks about {}.", english_list(&named)),
        (true, false) => format!("The participant says they feel {}.", english_list(&feelings)),
        (false, false) => {
            format!(
                "The participant talks about {} and says they feel {}.",
                english_list(&named),
                english_list(&feelings)
            )
        }
    }
}

/// "a", "a and b", "a, b and c".
fn english_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Key phrases are facts (what happened: "my thesis is overdue"), not feelings; a small model
/// often copies the feeling clause of the right utterance instead ("i was livid"). Each key
/// phrase that lies in a clause the check reads as a feeling is moved to the first clause of
/// the same utterance that says none and no other key phrase holds (left as it is when there
/// is none, or the clause is longer than a key phrase may be).
pub fn key_phrases_on_facts(
    key_phrases: &mut [ModelKeyPhrase],
    verdicts: &[ClauseVerdict<EmotionLabel>],
    min_probability: f32,
    texts: &[String],
) {
    let holding = |k: &ModelKeyPhrase| -> Option<&ClauseVerdict<EmotionLabel>> {
        let text = texts.get(k.utterance_index)?;
        let at = text.find(k.text.as_str())?;
        let span = at..at + k.text.len();
        verdicts
            .iter()
            .find(|v| v.utterance == k.utterance_index && v.clause.start < span.end && span.start < v.clause.end)
    };
    for i in 0..key_phrases.len() {
        if holding(&key_phrases[i]).is_none_or(|v| v.label(min_probability).is_none()) {
            continue;
        }
        let taken: Vec<Option<&ClauseVerdict<EmotionLabel>>> = key_phrases.iter().map(holding).collect();
        let fact = verdicts.iter().find(|v| {
            v.utterance == key_phrases[i].utterance_index
                && v.verdict.label.is_none()
                && v.verdict.probability >= min_probability
                && !taken.iter().any(|t| t.is_some_and(|t| t.clause == v.clause))
        });
        if let Some(text) = fact.and_then(|v| quote_of(v, texts)).filter(|q| q.chars().count() <= MAX_KEY_PHRASE_CHARS)
        {
            key_phrases[i].text = text.to_string();
        }
    }
}

fn quote_of<'t, L>(v: &ClauseVerdict<L>, texts: &'t [String]) -> Option<&'t str> {
    texts.get(v.utterance).and_then(|t| t.get(v.clause.clone())).filter(|q| q.chars().count() <= MAX_QUOTE_CHARS)
}

/// A softmax-regression classifier on one layer's hidden state: clause → label or none.
#[derive(Debug, Clone, PartialEq)]
pub struct ClauseCheck<L> {
    /// The question asked about each clause (`{clause}` stands for it).
    pub prompt: String,
    /// Which hidden state: the residual stream after block `layer`, or the final normed state
    /// when `layer` equals the number of blocks.
    pub layer: usize,
    /// The classes: `None` says no feeling.
    pub labels: Vec<Option<L>>,
    /// Per-feature mean and scale the features are standardised with.
    pub mean: Vec<f32>,
    /// See [`Self::mean`].
    pub scale: Vec<f32>,
    /// `[labels, features]`, row-major.
    pub weight: Vec<f32>,
    /// One per label.
    pub bias: Vec<f32>,
    /// A feeling is reported when its probability reaches this.
    pub min_probability: f32,
}

/// How [`FeelingCheck::fit`] trains.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitOptions {
    /// Full-batch Adam steps.
    pub steps: usize,
    /// Adam's step size.
    pub learning_rate: f32,
    /// L2 penalty on the weights (not the biases), on standardised features.
    pub l2: f32,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self { steps: 400, learning_rate: 0.01, l2: 0.01 }
    }
}

/// What the check says of one clause.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict<L> {
    /// The most probable class (`None`: no feeling).
    pub label: Option<L>,
    /// Its probability.
    pub probability: f32,
}

impl<L: CheckLabel> ClauseCheck<L> {
    /// Fits the classifier to `(label, hidden state)` examples. Deterministic: full-batch
    /// gradient steps from zero weights.
    pub fn fit(
        examples: &[(Option<L>, Vec<f32>)],
        prompt: &str,
        layer: usize,
        options: FitOptions,
    ) -> Result<Self, ExtractError> {
        let bad = |what: String| ExtractError::ClauseCheck { at: "fitting".into(), what };
        let d = examples.first().map(|e| e.1.len()).ok_or_else(|| bad("no examples".into()))?;
        if let Some(e) = examples.iter().find(|e| e.1.len() != d) {
            return Err(bad(format!("a hidden state of {} values among ones of {d}", e.1.len())));
        }
        let mut labels: Vec<Option<L>> = examples.iter().map(|e| e.0).collect();
        labels.sort();
        labels.dedup();
        if labels.len() < 2 {
            return Err(bad("fewer than two labels".into()));
        }
        let n = examples.len() as f32;
        let mean: Vec<f32> = (0..d).map(|j| examples.iter().map(|e| e.1[j]).sum::<f32>() / n).collect();
        let scale: Vec<f32> = (0..d)
            .map(|j| (examples.iter().map(|e| (e.1[j] - mean[j]).powi(2)).sum::<f32>() / n).sqrt().max(1e-6))
            .collect();
        let xs: Vec<(usize, Vec<f32>)> = examples
            .iter()
            .map(|(l, x)| {
                let class = labels.iter().position(|c| c == l).unwrap_or(0);
                (class, x.iter().zip(mean.iter().zip(&scale)).map(|(v, (m, s))| (v - m) / s).collect())
            })
            .collect();
        let k = labels.len();
        let mut check = Self {
            prompt: prompt.to_string(),
            layer,
            labels,
            mean,
            scale,
            weight: vec![0.0; k * d],
            bias: vec![0.0; k],
            min_probability: 0.5,
        };
        let (mut m, mut v) = (vec![0f32; k * (d + 1)], vec![0f32; k * (d + 1)]);
        let mut probs = vec![0f32; k];
        for step in 1..=options.steps {
            let mut grad = vec![0f32; k * (d + 1)];
            for (y, x) in &xs {
                check.probabilities_standardised(x, &mut probs);
                for (c, p) in probs.iter().enumerate() {
                    let e = p - if c == *y { 1.0 } else { 0.0 };
                    for (g, xj) in grad[c * d..(c + 1) * d].iter_mut().zip(x) {
                        *g += e * xj;
                    }
                    grad[k * d + c] += e;
                }
            }
            let (b1, b2) = (0.9f32, 0.999f32);
            let (c1, c2) = (1.0 - b1.powi(step as i32), 1.0 - b2.powi(step as i32));
            for i in 0..k * (d + 1) {
                let param = if i < k * d { &mut check.weight[i] } else { &mut check.bias[i - k * d] };
                let g = grad[i] / n + if i < k * d { options.l2 * *param } else { 0.0 };
                m[i] = b1 * m[i] + (1.0 - b1) * g;
                v[i] = b2 * v[i] + (1.0 - b2) * g * g;
                *param -= options.learning_rate * (m[i] / c1) / ((v[i] / c2).sqrt() + 1e-8);
            }
        }
        Ok(check)
    }

    /// The question asked about `clause`, as text.
    pub fn prompt_for(&self, clause: &str) -> String {
        self.prompt.replace("{clause}", clause)
    }

    /// Its question, tokenized for `tokenizer` (once per extraction, not per clause).
    pub fn question(&self, tokenizer: &LlamaTokenizer) -> Result<ClauseQuestion, LlamaError> {
        ClauseQuestion::new(tokenizer, &self.prompt)
    }

    /// The verdict on a clause from the hidden state its prompt gave.
    pub fn classify(&self, hidden: &[f32]) -> Result<Verdict<L>, ExtractError> {
        if hidden.len() != self.mean.len() {
            return Err(ExtractError::ClauseCheck {
                at: "feeling check".into(),
                what: format!("a hidden state of {} values for a check fitted to {}", hidden.len(), self.mean.len()),
            });
        }
        let x: Vec<f32> = hidden.iter().zip(self.mean.iter().zip(&self.scale)).map(|(v, (m, s))| (v - m) / s).collect();
        let mut probs = vec![0f32; self.labels.len()];
        self.probabilities_standardised(&x, &mut probs);
        let (best, probability) =
            probs.iter().copied().enumerate().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap_or((0, 0.0));
        Ok(Verdict { label: self.labels.get(best).copied().flatten(), probability })
    }

    fn probabilities_standardised(&self, x: &[f32], out: &mut [f32]) {
        let d = x.len();
        for (c, o) in out.iter_mut().enumerate() {
            *o = self.bias[c] + self.weight[c * d..(c + 1) * d].iter().zip(x).map(|(w, x)| w * x).sum::<f32>();
        }
        let max = out.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut total = 0.0;
        for o in out.iter_mut() {
            *o = (*o - max).exp();
            total += *o;
        }
        out.iter_mut().for_each(|o| *o /= total);
    }

    /// The check as safetensors bytes: `weight`, `bias`, `mean`, `scale` (f32) and the prompt,
    /// layer, labels and threshold in the metadata.
    pub fn to_safetensors(&self) -> Result<Vec<u8>, ExtractError> {
        let (k, d) = (self.labels.len(), self.mean.len());
        let bytes = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
        let named = [
            ("weight", vec![k, d], bytes(&self.weight)),
            ("bias", vec![k], bytes(&self.bias)),
            ("mean", vec![d], bytes(&self.mean)),
            ("scale", vec![d], bytes(&self.scale)),
        ];
        let views = named
            .iter()
            .map(|(name, shape, b)| TensorView::new(Dtype::F32, shape.clone(), b).map(|v| (name.to_string(), v)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format_error("serialise", e))?;
        let labels: Vec<String> = self.labels.iter().map(|l| label_name(*l)).collect();
        let meta = HashMap::from([
            ("prompt".to_string(), self.prompt.clone()),
            ("layer".to_string(), self.layer.to_string()),
            ("labels".to_string(), labels.join(",")),
            ("min_probability".to_string(), self.min_probability.to_string()),
        ]);
        safetensors::serialize(views, Some(meta)).map_err(|e| format_error("serialise", e))
    }

    /// Reads a check written by [`Self::to_safetensors`]; `at` names it in errors.
    pub fn from_safetensors(bytes: &[u8], at: &str) -> Result<Self, ExtractError> {
        let bad = |what: String| ExtractError::ClauseCheck { at: at.to_string(), what };
        let (_, header) = safetensors::SafeTensors::read_metadata(bytes).map_err(|e| bad(e.to_string()))?;
        let meta = header.metadata().clone().unwrap_or_default();
        let get = |key: &str| meta.get(key).cloned().ok_or_else(|| bad(format!("metadata has no {key:?}")));
        let labels = get("labels")?
            .split(',')
            .map(|name| parse_label(name).ok_or_else(|| bad(format!("unknown label {name:?}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let layer = get("layer")?.parse().map_err(|_| bad("layer is not a number".into()))?;
        let min_probability =
            get("min_probability")?.parse().map_err(|_| bad("min_probability is not a number".into()))?;
        let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| bad(e.to_string()))?;
        let tensor = |name: &str, shape: &[usize]| -> Result<Vec<f32>, ExtractError> {
            let view = st.tensor(name).map_err(|e| bad(format!("{name}: {e}")))?;
            if view.dtype() != Dtype::F32 || view.shape() != shape {
                return Err(bad(format!("{name} is {:?} {:?}, not F32 {shape:?}", view.dtype(), view.shape())));
            }
            Ok(view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
        };
        let d = st.tensor("mean").map_err(|e| bad(format!("mean: {e}")))?.shape().first().copied().unwrap_or(0);
        let k = labels.len();
        Ok(Self {
            prompt: get("prompt")?,
            layer,
            mean: tensor("mean", &[d])?,
            scale: tensor("scale", &[d])?,
            weight: tensor("weight", &[k, d])?,
            bias: tensor("bias", &[k])?,
            labels,
            min_probability,
        })
    }

    /// Writes the check into an adapter folder as `file` ([`FEELING_FILE`], [`TOPIC_FILE`]).
    pub fn save(&self, dir: &Path, file: &str) -> Result<(), ExtractError> {
        let path = dir.join(file);
        std::fs::write(&path, self.to_safetensors()?)
            .map_err(|e| ExtractError::ClauseCheck { at: path.display().to_string(), what: e.to_string() })
    }

    /// The check saved in an adapter folder as `file`, if it has one.
    pub fn load(dir: &Path, file: &str) -> Result<Option<Self>, ExtractError> {
        let path = dir.join(file);
        if !path.exists() {
            return Ok(None);
        }
        let at = path.display().to_string();
        let bytes =
            std::fs::read(&path).map_err(|e| ExtractError::ClauseCheck { at: at.clone(), what: e.to_string() })?;
        Self::from_safetensors(&bytes, &at).map(Some)
    }
}

fn format_error(what: &str, e: impl std::fmt::Display) -> ExtractError {
    ExtractError::ClauseCheck { at: "serialising".into(), what: format!("{what}: {e}") }
}

/// `none` or the label's snake_case name.
pub fn label_name<L: CheckLabel>(label: Option<L>) -> String {
    match label {
        None => "none".into(),
        Some(l) => serde_json::to_value(l).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default(),
    }
}

/// The inverse of [`label_name`].
pub fn parse_label<L: CheckLabel>(name: &str) -> Option<Option<L>> {
    if name == "none" {
        return Some(None);
    }
    serde_json::from_value(serde_json::Value::String(name.to_string())).ok().map(Some)
}

/// Words that join two clauses; a piece is split at one when both sides keep two words and
/// the right side starts a clause of its own (see [`SUBJECTS`]).
const CONJUNCTIONS: [&str; 3] = ["and", "but", "because"];

/// Words that open a clause: "… and i'm drained" joins two clauses, "i toss and turn" and
/// "i'm okay with it and pretty serene" do not.
const SUBJECTS: [&str; 22] = [
    "i",
    "i'm",
    "i've",
    "i'd",
    "i'll",
    "my",
    "it",
    "it's",
    "we",
    "we're",
    "they",
    "they're",
    "he",
    "he's",
    "she",
    "she's",
    "that",
    "that's",
    "there",
    "there's",
    "everything",
    "nothing",
];

/// Discourse markers that open a clause without belonging to what it says.
const OPENERS: [&[&str]; 9] = [
    &["which", "means"],
    &["to", "be", "honest"],
    &["and"],
    &["but"],
    &["so"],
    &["because"],
    &["lately"],
    &["honestly"],
    &["also"],
];

/// The clauses of `text` as byte ranges into it: split at punctuation (`. , ; : ! ?`), then at
/// a conjunction that has at least two words on each side, without the discourse markers that
/// open a clause ("which means", "and lately", "to be honest"). Each range is a verbatim,
/// trimmed piece of `text` with a letter in it, so it can be quoted as evidence.
pub fn clauses(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, ch) in text.char_indices() {
        if matches!(ch, '.' | ',' | ';' | ':' | '!' | '?') {
            split_conjunctions(text, start..i, &mut out);
            start = i + ch.len_utf8();
        }
    }
    split_conjunctions(text, start..text.len(), &mut out);
    out
}

/// The words of `text[range]` as byte ranges.
fn words(text: &str, range: Range<usize>) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut begin = None;
    for (i, ch) in text[range.clone()].char_indices() {
        match (ch.is_whitespace(), begin) {
            (true, Some(b)) => {
                out.push(range.start + b..range.start + i);
                begin = None;
            }
            (false, None) => begin = Some(i),
            _ => {}
        }
    }
    if let Some(b) = begin {
        out.push(range.start + b..range.end);
    }
    out
}

fn split_conjunctions(text: &str, range: Range<usize>, out: &mut Vec<Range<usize>>) {
    let ws = words(text, range);
    let is = |w: &Range<usize>, word: &str| text[w.clone()].eq_ignore_ascii_case(word);
    let mut first = 0;
    for (i, w) in ws.iter().enumerate() {
        let opens_clause = || {
            let rest = &ws[i + 1..];
            let skip =
                OPENERS.iter().find(|o| rest.len() > o.len() && rest.iter().zip(o.iter()).all(|(w, o)| is(w, o)));
            rest.get(skip.map_or(0, |o| o.len())).is_some_and(|w| SUBJECTS.iter().any(|s| is(w, s)))
        };
        if i >= first + 2 && i + 3 <= ws.len() && CONJUNCTIONS.iter().any(|c| is(w, c)) && opens_clause() {
            push_clause(text, &ws[first..i], out);
            first = i;
        }
    }
    push_clause(text, &ws[first..], out);
}

fn push_clause(text: &str, ws: &[Range<usize>], out: &mut Vec<Range<usize>>) {
    let mut ws = ws;
    'strip: loop {
        for opener in OPENERS {
            if ws.len() > opener.len()
                && ws.iter().zip(opener.iter()).all(|(w, o)| text[w.clone()].eq_ignore_ascii_case(o))
            {
                ws = &ws[opener.len()..];
                continue 'strip;
            }
        }
        break;
    }
    // A run-on stretch (DAIC-WOZ transcripts are often unpunctuated) is cut into runs of at
    // most `MAX_CLAUSE_WORDS` words that fit a quote, so none of it goes unasked.
    let mut rest = ws;
    while !rest.is_empty() {
        let mut take = rest.len().min(MAX_CLAUSE_WORDS);
        while take > 1 && rest[take - 1].end - rest[0].start > MAX_QUOTE_CHARS {
            take -= 1;
        }
        let (piece, after) = rest.split_at(take);
        rest = after;
        if let (Some(a), Some(b)) = (piece.first(), piece.last())
            && text[a.start..b.end].chars().any(char::is_alphabetic)
        {
            out.push(a.start..b.end);
        }
    }
}

/// The longest clause [`clauses`] returns, in words (a run-on stretch is cut into such runs).
pub const MAX_CLAUSE_WORDS: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checked_report_is_summed_up_in_the_sentence_the_adapter_learnt() {
        let ev = |i: usize| vec![Evidence { utterance_index: i, quote: "q".into(), verified: true }];
        let emotion = |label, i| Emotion { label, intensity: 0.9, evidence: ev(i) };
        let topic = |category, label: &str, i| Topic { category, label: label.into(), evidence: ev(i) };
        // Merged reports come sorted by label: the sentence follows the order things were said.
        let emotions =
            [emotion(EmotionLabel::Guilt, 5), emotion(EmotionLabel::Fatigue, 7), emotion(EmotionLabel::Joy, 1)];
        let topics = [
            topic(TopicCategory::Work, "deadlines", 5),
            topic(TopicCategory::Family, "family", 9),
            topic(TopicCategory::Sleep, "sleep", 3),
        ];
        assert_eq!(
            report_summary(&emotions, &topics),
            "The participant talks about sleep, deadlines and family and says they feel happy, guilty and tired."
        );
        assert_eq!(
            report_concerns(&emotions, &topics),
            ["Feeling guilty in connection with deadlines.", "Feeling tired."],
            "negative feelings only, each with its utterance's topic"
        );
        // A whole interview: a feeling said beside several topics names those said with it
        // most often first, at most three; the actions that follow a concern's topic up come
        // first, at most three.
        let evs = |us: &[usize]| us.iter().flat_map(|&i| ev(i)).collect::<Vec<_>>();
        let long_emotions = [
            Emotion { label: EmotionLabel::Sadness, intensity: 0.9, evidence: evs(&[2, 4, 6, 8, 10]) },
            Emotion { label: EmotionLabel::Joy, intensity: 0.9, evidence: evs(&[12]) },
        ];
        let long_topics = [
            Topic { category: TopicCategory::Therapy, label: "therapy".into(), evidence: evs(&[2]) },
            Topic { category: TopicCategory::Work, label: "deadlines".into(), evidence: evs(&[4, 8]) },
            Topic { category: TopicCategory::Health, label: "health".into(), evidence: evs(&[6]) },
            Topic { category: TopicCategory::Family, label: "family".into(), evidence: evs(&[10]) },
            Topic { category: TopicCategory::Sleep, label: "napping".into(), evidence: evs(&[12]) },
        ];
        assert_eq!(
            report_concerns(&long_emotions, &long_topics),
            ["Feeling sad in connection with deadlines, therapy and health."]
        );
        let actions: Vec<String> = ["napping", "therapy", "family", "deadlines"]
            .iter()
            .map(|t| format!("Follow up on {t} at the next session."))
            .collect();
        assert_eq!(
            report_actions(&actions, &long_emotions, &long_topics),
            [actions[1].clone(), actions[3].clone(), actions[0].clone()],
            "the concern's topics first, then the rest, three in all"
        );
        assert_eq!(report_actions(&actions[..1], &long_emotions, &long_topics), &actions[..1]);
        assert_eq!(report_summary(&emotions[..1], &[]), "The participant says they feel guilty.");
        assert_eq!(report_summary(&[], &topics[2..]), "The participant talks about sleep.");
        assert_eq!(report_summary(&[], &[]), "");
        // Past four topics, their categories, each once.
        let many = [
            topic(TopicCategory::Work, "deadlines", 1),
            topic(TopicCategory::Work, "night shifts", 2),
            topic(TopicCategory::Health, "knee", 3),
            topic(TopicCategory::Sleep, "napping", 4),
            topic(TopicCategory::Health, "blood pressure", 6),
        ];
        assert_eq!(report_summary(&[], &many), "The participant talks about work, health and sleep.");
        // One chunk's answer: the same sentence from its own parts.
        let model_emotion = ModelEmotion {
            evidence: vec![ModelEvidence { quote: "q".into(), utterance_index: 5 }],
            label: EmotionLabel::Guilt,
            intensity: 0.9,
        };
        let model_topic = ModelTopic {
            evidence: vec![ModelEvidence { quote: "q".into(), utterance_index: 5 }],
            category: TopicCategory::Work,
            label: "deadlines".into(),
        };
        assert_eq!(
            chunk_summary(&[model_emotion], &[model_topic]),
            "The participant talks about deadlines and says they feel guilty."
        );
    }

    fn pieces(text: &str) -> Vec<&str> {
        clauses(text).into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn clauses_split_at_punctuation_and_conjunctions_without_their_openers() {
        assert_eq!(
            pieces("my manager criticizes everything, which means i'm ashamed of it."),
            ["my manager criticizes everything", "i'm ashamed of it"]
        );
        assert_eq!(pieces("i'm okay with it and pretty serene"), ["i'm okay with it and pretty serene"]);
        assert_eq!(pieces("i toss and turn all night"), ["i toss and turn all night"]);
        assert_eq!(pieces("i'm so irritated by it"), ["i'm so irritated by it"]);
        assert_eq!(
            pieces("my wife wants a divorce but honestly i feel settled"),
            ["my wife wants a divorce", "i feel settled"]
        );
        assert_eq!(
            pieces("my sister won't speak to me and lately i'm drained."),
            ["my sister won't speak to me", "i'm drained"]
        );
        // One word on a side: no split.
        assert_eq!(pieces("i feel stuck and frustrated"), ["i feel stuck and frustrated"]);
        assert_eq!(pieces("thanks."), ["thanks"]);
        assert_eq!(pieces(" ... , ;"), Vec::<&str>::new());
        assert_eq!(pieces("so."), ["so"]);
        // An unpunctuated run-on stretch is cut into runs of at most 16 words.
        let run_on = "yeah i guess i've been feeling kind of down lately you know with work and everything \
                      going on and my mom being sick i just don't sleep much anymore";
        let got = pieces(run_on);
        assert!(got.len() >= 2 && got.iter().all(|p| p.split_whitespace().count() <= MAX_CLAUSE_WORDS), "{got:?}");
        // Nothing is lost but the two joining "and"s ("… and everything …", "… and my mom …").
        let words = |t: &str| t.split_whitespace().count();
        assert_eq!(got.iter().map(|p| words(p)).sum::<usize>(), words(run_on) - 2, "{got:?}");
    }

    fn verdict<L>(utterance: usize, text: &str, clause: &str, label: Option<L>, probability: f32) -> ClauseVerdict<L> {
        let start = text.find(clause).unwrap();
        ClauseVerdict { utterance, clause: start..start + clause.len(), verdict: Verdict { label, probability } }
    }

    #[test]
    fn emotions_and_topics_come_from_sure_verdicts_grouped_by_label_in_order() {
        let texts: Vec<String> = [
            "how are you?",
            "my thesis is overdue, which means i was livid. i'm furious",
            "thanks",
            "i nap most afternoons and i'm drained. i'm angry a lot",
        ]
        .map(String::from)
        .to_vec();
        let (t1, t3) = (&texts[1], &texts[3]);
        use EmotionLabel::*;
        let feelings = vec![
            verdict(1, t1, "my thesis is overdue", None, 0.9),
            verdict(1, t1, "i was livid", Some(Anger), 0.7),
            verdict(1, t1, "i'm furious", Some(Anger), 0.95),
            verdict(3, t3, "i nap most afternoons", None, 0.8),
            verdict(3, t3, "i'm drained", Some(Fatigue), 0.55),
            // Two quotes per emotion at most; unsure verdicts say nothing.
            verdict(3, t3, "i'm angry a lot", Some(Anger), 0.99),
            verdict(2, &texts[2], "thanks", Some(Joy), 0.45),
        ];
        let emotions = emotions_from(&feelings, 0.5, &texts);
        let got: Vec<_> = emotions
            .iter()
            .map(|e| (e.label, e.intensity, e.evidence.iter().map(|q| q.quote.as_str()).collect::<Vec<_>>()))
            .collect();
        assert_eq!(got, [(Anger, 0.99, vec!["i was livid", "i'm furious"]), (Fatigue, 0.55, vec!["i'm drained"])]);
        assert_eq!(emotions[0].evidence[0].utterance_index, 1);

        let topics = vec![
            verdict(1, t1, "my thesis is overdue", Some(TopicCategory::Education), 0.9),
            verdict(1, t1, "i was livid", None, 0.9),
            verdict(3, t3, "i nap most afternoons", Some(TopicCategory::Sleep), 0.8),
        ];
        let got: Vec<_> = topics_from(&topics, 0.5, &texts).into_iter().map(|(e, c)| (e[0].quote.clone(), c)).collect();
        assert_eq!(
            got,
            [
                ("my thesis is overdue".to_string(), TopicCategory::Education),
                ("i nap most afternoons".into(), TopicCategory::Sleep)
            ]
        );

        // Concerns pair each negative feeling with its own utterance's topic.
        let named = |quote: &str, i, label: &str| ModelTopic {
            evidence: vec![ModelEvidence { quote: quote.into(), utterance_index: i }],
            category: TopicCategory::Education,
            label: label.into(),
        };
        let topics = [named("i nap most afternoons", 3, "napping"), named("my thesis is overdue", 1, "overdue thesis")];
        let mut with_joy = emotions.clone();
        with_joy.push(ModelEmotion { evidence: vec![], label: Joy, intensity: 0.9 });
        assert_eq!(
            concerns(&with_joy, &topics),
            ["Feeling angry in connection with overdue thesis.", "Feeling tired in connection with napping."]
        );
        assert_eq!(concerns(&emotions, &topics[..1]), ["Feeling angry.", "Feeling tired in connection with napping."]);

        // Key phrases on a feeling move to the utterance's fact; others stay.
        let mut keys = vec![
            ModelKeyPhrase { text: "was livid".into(), utterance_index: 1 },
            ModelKeyPhrase { text: "nap most afternoons".into(), utterance_index: 3 },
            ModelKeyPhrase { text: "i'm drained".into(), utterance_index: 3 },
        ];
        key_phrases_on_facts(&mut keys, &feelings, 0.5, &texts);
        let texts_now: Vec<&str> = keys.iter().map(|k| k.text.as_str()).collect();
        // [3]'s only fact is taken by another key phrase, so "i'm drained" stays.
        assert_eq!(texts_now, ["my thesis is overdue", "nap most afternoons", "i'm drained"]);
    }

    /// Three classes as noisy clusters around distinct points of a 6-d space.
    fn clusters(per_class: usize, seed: u32) -> Vec<(Option<EmotionLabel>, Vec<f32>)> {
        let mut state = seed;
        let mut noise = move || {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
        let centres =
            [(None, [3.0, 0.0, 0.0, 1.0, 5.0, 0.0]), (Some(EmotionLabel::Anger), [0.0, 3.0, 0.0, 1.0, 5.0, 0.0])];
        let centres = [centres[0], centres[1], (Some(EmotionLabel::Joy), [0.0, 0.0, 3.0, 1.0, 5.0, 0.0])];
        (0..per_class)
            .flat_map(|_| {
                centres.iter().map(|(l, c)| (*l, c.iter().map(|v| v + 2.0 * noise()).collect())).collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn a_fitted_check_labels_unseen_points_of_each_cluster_and_survives_a_file() {
        let check = FeelingCheck::fit(&clusters(40, 1), FEELING_PROMPT, 30, FitOptions::default()).unwrap();
        assert_eq!(check.labels, [None, Some(EmotionLabel::Anger), Some(EmotionLabel::Joy)]);
        let unseen = clusters(30, 7);
        let right = unseen.iter().filter(|(l, x)| check.classify(x).unwrap().label == *l).count();
        assert!(right * 10 >= unseen.len() * 9, "{right} of {} right", unseen.len());
        let back = FeelingCheck::from_safetensors(&check.to_safetensors().unwrap(), "test").unwrap();
        assert_eq!(back, check);
        assert_eq!(back.prompt_for("i was livid"), FEELING_PROMPT.replace("{clause}", "i was livid"));
        // A hidden state of the wrong size, and a file that is not a check, are errors.
        assert!(check.classify(&[0.0; 5]).unwrap_err().to_string().contains("fitted to 6"));
        assert!(FeelingCheck::from_safetensors(b"not a file", "x.safetensors").is_err());
        assert!(FeelingCheck::fit(&[], FEELING_PROMPT, 30, FitOptions::default()).is_err());
    }
}
