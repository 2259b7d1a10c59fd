//! The extraction output: what the model writes ([`ModelOutput`], the grammar's schema) and the
//! report built from it ([`Extraction`]: grounded evidence, non-verbal cues, grounding rate).
//! Versioned by [`SCHEMA_VERSION`]; `docs/extraction.schema.json` is [`report_schema`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Version of the [`Extraction`] layout; bumped on any change a reader would notice.
pub const SCHEMA_VERSION: &str = "1.2.0";

/// Written into every report beside `concerns` and `suggested_actions`.
pub const NON_DIAGNOSTIC_NOTICE: &str = "concerns and suggested_actions are machine-generated observations for a \
     clinician to review; they are not a diagnosis or a treatment recommendation";

/// Emotional attitudes (fixed set).
// The variants are the labels themselves; doc comments on them would become per-value
// descriptions in the JSON Schema and turn its `enum` into a `oneOf` the grammar compiles.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmotionLabel {
    Sadness,
    Hopelessness,
    Anxiety,
    Frustration,
    Anger,
    Guilt,
    Loneliness,
    Fatigue,
    Calm,
    Joy,
    Neutral,
    Other,
}

/// Topic taxonomy (fixed).
// As for `EmotionLabel`: the variants are the categories themselves.
#[allow(missing_docs)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TopicCategory {
    Work,
    Finances,
    Relationships,
    Family,
    Health,
    Sleep,
    Mood,
    Therapy,
    Education,
    LivingSituation,
    SubstanceUse,
    Other,
}

/// A quote the model cites, as it writes it: the words first, then where they are. Copying
/// words is what a small model does well; under the grammar the index can then name only the
/// utterances those words occur in (usually one, so it costs no decision).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModelEvidence {
    /// Words copied from one utterance.
    #[schemars(length(max = 120), extend("x-verbatim-quote" = true))]
    pub quote: String,
    /// Index of that utterance in the prompt's numbering.
    #[schemars(extend("x-utterance-index" = true))]
    pub utterance_index: usize,
}

/// An emotion the participant expressed. A reported emotion has some intensity (at least 0.1)
/// and evidence; its evidence cites only the participant when speakers are known
/// (`x-participant-only`: interviewer lines are context, not the participant's feelings).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModelEmotion {
    /// One or two quotes, written first: the label is then read off words already copied
    /// (what a small model does well) instead of chosen before it has found any.
    #[schemars(length(min = 1, max = 2), extend("x-participant-only" = true))]
    pub evidence: Vec<ModelEvidence>,
    /// Which emotion.
    pub label: EmotionLabel,
    /// How strongly it shows, 0.1–1.
    #[schemars(range(min = 0.1, max = 1.0))]
    pub intensity: f32,
}

/// A topic of the conversation; its evidence may cite either speaker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModelTopic {
    /// One or two quotes, written first (as [`ModelEmotion::evidence`]).
    #[schemars(length(min = 1, max = 2))]
    pub evidence: Vec<ModelEvidence>,
    /// Which category.
    pub category: TopicCategory,
    /// A short name in prose (`x-prose`: no markup, no question).
    #[schemars(length(min = 3, max = 60), extend("x-prose" = true))]
    pub label: String,
}

/// A phrase worth keeping, copied from one utterance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModelKeyPhrase {
    /// The phrase, copied from one utterance (written first, as [`ModelEvidence::quote`]).
    #[schemars(length(max = 60), extend("x-verbatim-quote" = true))]
    pub text: String,
    /// The utterance it comes from.
    #[schemars(extend("x-utterance-index" = true))]
    pub utterance_index: usize,
}

/// What the model generates for one chunk (the grammar is compiled from this type's schema).
/// Free text is prose (`x-prose`: a letter first; no braces, brackets, markup or `?`) of a
/// minimum length, so a template fragment or a copied question cannot fill it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModelOutput {
    /// The participant's emotions; the array stays empty when the participant says nothing
    /// citable (`x-participant-only`).
    #[schemars(length(max = 4), extend("x-participant-only" = true))]
    pub emotions: Vec<ModelEmotion>,
    /// Topics, each with evidence.
    #[schemars(length(max = 4))]
    pub topics: Vec<ModelTopic>,
    /// Key phrases: the participant's words (`x-participant-only`; an interviewer's line such
    /// as "some people feel hopeless or lonely, do you?" is a question, not a finding).
    #[schemars(length(max = 5), extend("x-participant-only" = true))]
    pub key_phrases: Vec<ModelKeyPhrase>,
    /// At most 120 words (≈ 700 characters).
    #[schemars(length(min = 20, max = 700), extend("x-prose" = true))]
    pub summary: String,
    /// Observations for a clinician (non-diagnostic).
    #[schemars(length(max = 3), inner(length(min = 12, max = 160)), extend("x-prose" = true))]
    pub concerns: Vec<String>,
    /// Follow-ups for a clinician (non-diagnostic).
    #[schemars(length(max = 3), inner(length(min = 12, max = 160)), extend("x-prose" = true))]
    pub suggested_actions: Vec<String>,
}

/// The JSON Schema of [`ModelOutput`] (what constrained decoding enforces).
pub fn model_output_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(ModelOutput)).unwrap_or_default()
}

/// The JSON Schema of [`Extraction`] (shipped as `docs/extraction.schema.json`).
pub fn report_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Extraction)).unwrap_or_default()
}

/// A quote in the report, with whether it was found in its utterance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Evidence {
    /// Index into the transcript's utterances (0-based, whole transcript).
    pub utterance_index: usize,
    /// The cited words.
    pub quote: String,
    /// The quote occurs in the utterance after normalisation (case, whitespace, punctuation,
    /// fillers). Unverified quotes appear only when the options keep them.
    pub verified: bool,
}

/// An emotion in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Emotion {
    /// Which emotion.
    pub label: EmotionLabel,
    /// 0–1: how clearly the participant's words say it. With clause checks (the shipped
    /// adapter's, since schema 1.2.0) the feeling check's probability for this label on its
    /// clearest clause; without them the model's own estimate.
    pub intensity: f32,
    /// The quotes that show it.
    pub evidence: Vec<Evidence>,
}

/// A topic in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Topic {
    /// Which category.
    pub category: TopicCategory,
    /// A short name.
    pub label: String,
    /// The quotes that show it.
    pub evidence: Vec<Evidence>,
}

/// A key phrase in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct KeyPhrase {
    /// The phrase.
    pub text: String,
    /// The utterance it comes from.
    pub utterance_index: usize,
}

/// A non-verbal annotation of the transcript (`<laughter>`, `[sigh]`, …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CueNote {
    /// The utterance it belongs to.
    pub utterance_index: usize,
    /// text-clean's cue kind, e.g. `laughter`, `sigh`, `redacted`.
    pub kind: String,
    /// The annotation as written.
    pub raw: String,
}

/// A participant utterance whose voice carried a clear non-neutral emotion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VoiceHighlight {
    /// The utterance.
    pub utterance_index: usize,
    /// The voice's top emotion.
    pub label: String,
    /// Its probability.
    pub score: f32,
}

/// What the words alone do not carry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Nonverbal {
    /// Annotations in the transcript.
    pub cues: Vec<CueNote>,
    /// Participant utterances with a clear voice emotion.
    pub voice: Vec<VoiceHighlight>,
}

/// How many cited quotes were verified against their utterances.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Grounding {
    /// Quotes cited.
    pub quotes: usize,
    /// Quotes found in their utterances.
    pub verified: usize,
    /// Unverified quotes removed from the report.
    pub dropped: usize,
    /// Emotion quotes and key phrases removed because they cite someone other than the
    /// participant (only possible without constraints; interviewer lines are context, not
    /// evidence of feelings or findings).
    #[serde(default)]
    pub not_participant: usize,
    /// `verified / quotes` (1 when there are none).
    pub rate: f64,
}

/// The report for one transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Extraction {
    /// The schema's version.
    pub schema_version: String,
    /// Emotions the participant expressed.
    pub emotions: Vec<Emotion>,
    /// Topics of the conversation.
    pub topics: Vec<Topic>,
    /// Key phrases.
    pub key_phrases: Vec<KeyPhrase>,
    /// At most 120 words.
    pub summary: String,
    /// Non-diagnostic: see `notice`.
    pub concerns: Vec<String>,
    /// Non-diagnostic: see `notice`.
    pub suggested_actions: Vec<String>,
    /// States that concerns and actions are machine-made observations, not a diagnosis.
    pub notice: String,
    /// Cues and voice highlights.
    pub nonverbal: Nonverbal,
    /// Quote counts.
    pub grounding: Grounding,
    /// How the transcript was split to fit the context.
    pub chunks: usize,
    /// Whether every chunk's output was schema-valid JSON (always true under constraints).
    pub well_formed: bool,
}
