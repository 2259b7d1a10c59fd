//! The transcript data model shared by every parser and by the cleaner.

use serde::{Deserialize, Serialize};

/// A whole interview: utterances in the order they were spoken.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Transcript {
    /// Every utterance, in order.
    pub utterances: Vec<Utterance>,
}

/// One turn of one speaker. Times are seconds from the start of the recording when the
/// source format has them (DAIC-WOZ, WebVTT, SRT) and `None` otherwise (plain text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Utterance {
    /// Start, seconds.
    pub start_s: Option<f64>,
    /// End, seconds.
    pub end_s: Option<f64>,
    /// Who spoke.
    pub speaker: Speaker,
    /// What was said, as transcribed.
    pub text: String,
    /// Non-verbal cues taken out of `text` by the cleaner (laughter, sighs, redactions...).
    /// Parsers leave annotations in `text`; only cleaning moves them here.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cues: Vec<Cue>,
}

impl Utterance {
    /// An utterance with no cues.
    pub fn new(start_s: Option<f64>, end_s: Option<f64>, speaker: Speaker, text: impl Into<String>) -> Self {
        Self { start_s, end_s, speaker, text: text.into(), cues: Vec::new() }
    }
}

/// Who is speaking. Interview transcripts only need to tell the clinician from the patient;
/// anything else keeps its original label. Serialised as a plain string (`"interviewer"`,
/// `"participant"` or the original label).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum Speaker {
    /// The interviewer (DAIC-WOZ's `Ellie`).
    Interviewer,
    /// The person interviewed.
    Participant,
    /// Anyone else, with the label as written.
    Other(String),
}

impl Speaker {
    /// Maps a speaker label as written in a transcript to a role, case-insensitively.
    /// DAIC-WOZ's virtual interviewer is "Ellie"; common clinical labels are recognised too.
    pub fn from_label(label: &str) -> Self {
        let trimmed = label.trim();
        match trimmed.to_lowercase().as_str() {
            "ellie" | "interviewer" | "doctor" | "dr" | "clinician" | "therapist" | "counselor" | "counsellor"
            | "psychiatrist" | "psychologist" | "i" => Speaker::Interviewer,
            "participant" | "patient" | "client" | "subject" | "p" => Speaker::Participant,
            _ => Speaker::Other(trimmed.to_string()),
        }
    }

    /// A short label for display.
    pub fn label(&self) -> &str {
        match self {
            Speaker::Interviewer => "interviewer",
            Speaker::Participant => "participant",
            Speaker::Other(name) => name,
        }
    }
}

impl From<Speaker> for String {
    fn from(s: Speaker) -> String {
        s.label().to_string()
    }
}

impl From<String> for Speaker {
    fn from(s: String) -> Speaker {
        Speaker::from_label(&s)
    }
}

/// A non-verbal event annotated in the transcript text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cue {
    /// What the annotation denotes.
    pub kind: CueKind,
    /// The annotation exactly as written, e.g. `<laughter>` or `scrubbed_entry`.
    pub raw: String,
    /// Byte offset of the annotation in the utterance's original text.
    pub offset: usize,
}

/// What a non-verbal annotation denotes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CueKind {
    /// A label with laugh, chuckle or giggle (`<laughter>`, `[laughs]`).
    Laughter,
    /// A label with sigh.
    Sigh,
    /// A label with sniff.
    Sniffle,
    /// A label with cough.
    Cough,
    /// A label with cry, cries, sob or tear.
    Crying,
    /// A label with breath, inhale or exhale.
    Breath,
    /// A label with throat (`<clears throat>`).
    ClearsThroat,
    /// Speech the transcriber could not make out (`xxx`).
    Unintelligible,
    /// Text removed for privacy (`scrubbed_entry`).
    Redacted,
    /// Any other bracketed annotation, with its label.
    Other(String),
}

impl CueKind {
    /// Classifies the label inside `<...>` or `[...]`.
    pub fn from_label(label: &str) -> Self {
        let l = label.trim().to_lowercase();
        let has = |w: &str| l.contains(w);
        if has("laugh") || has("chuckl") || has("giggl") {
            CueKind::Laughter
        } else if has("sigh") {
            CueKind::Sigh
        } else if has("sniff") {
            CueKind::Sniffle
        } else if has("cough") {
            CueKind::Cough
        } else if has("cry") || has("cries") || has("sob") || has("tear") {
            CueKind::Crying
        } else if has("breath") || has("inhale") || has("exhale") {
            CueKind::Breath
        } else if has("throat") {
            CueKind::ClearsThroat
        } else if has("unintelligible") || has("inaudible") || has("xxx") {
            CueKind::Unintelligible
        } else if has("scrubbed") || has("redacted") {
            CueKind::Redacted
        } else {
            CueKind::Other(l)
        }
    }
}
