//! The session report: serde types, Markdown for people, and an SVG emotion timeline.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use llama_extract::VoiceSegment;
use llama_extract::extract::schema::{CueNote, Extraction};
use serde::{Deserialize, Serialize};
use text_clean::CleaningStats;

/// Version of the [`Report`] layout.
pub const REPORT_VERSION: &str = "1.2.0";

/// Everything one session produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`REPORT_VERSION`] of the code that wrote it.
    pub report_version: String,
    /// The session's id (a DAIC-WOZ participant id, a file stem, or what the caller named it).
    pub session_id: String,
    /// Input files and models with their SHA-256, so a report names exactly what it read.
    pub inputs: Vec<InputFile>,
    /// Stages that did not run and why (a missing optional part is not an error).
    pub not_run: Vec<String>,
    /// Caveats carried from the inputs, e.g. that speech-emotion weights are synthetic-demo
    /// weights with no clinical meaning.
    pub notices: Vec<String>,
    /// Where the transcript came from: a file, or speech-to-text (machine-made text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript_source: Option<TranscriptSource>,
    /// Counts and cleaning statistics of the transcript, when there was one.
    pub transcript: Option<TranscriptSummary>,
    /// What the audio branch found, when there was audio.
    pub audio: Option<AudioSummary>,
    /// Per utterance, with the voice emotion of the audio it overlaps.
    pub utterances: Vec<UtteranceInsight>,
    /// Emotions, topics, key phrases, summary and concerns with their evidence, when a
    /// language model ran.
    pub extraction: Option<Extraction>,
    /// Which language model (and adapter) wrote `extraction`, and how well that combination
    /// scored on the project's held-out set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extracted_by: Option<ExtractedBy>,
    /// Wall time per stage in milliseconds (the only field that differs between runs).
    pub timings_ms: BTreeMap<String, f64>,
}

/// One file a report read, named and hashed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputFile {
    /// `transcript`, `audio`, `ser_model`, `language_model`, `adapter`.
    pub role: String,
    /// The file name (not the full path, which may reveal a patient's folder).
    pub name: String,
    /// SHA-256 of its bytes, hex.
    pub sha256: String,
    /// Its size.
    pub bytes: u64,
}

/// The model behind a report's extraction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExtractedBy {
    /// The model file's name (a GGUF file, or `config.json` of a checkpoint folder).
    pub model: String,
    /// SHA-256 of that file, hex.
    pub model_sha256: String,
    /// The LoRA adapter folder's name, if one was applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<String>,
    /// SHA-256 of its `adapter_model.safetensors`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter_sha256: Option<String>,
    /// The adapter's measured held-out quality (from its `quality.json`), as one line; `None`
    /// when nothing measured this combination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<String>,
}

/// The origin of a session's transcript.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TranscriptSource {
    /// Read from the transcript file (its hash is in `inputs` with role `transcript`).
    File {
        /// The file's name.
        name: String,
        /// SHA-256 of its bytes, hex.
        sha256: String,
    },
    /// Transcribed from the audio on this machine; the text is machine-made (speakers unknown,
    /// words may be wrong).
    Asr {
        /// The model folder's name, e.g. `whisper-tiny.en`.
        model: String,
        /// SHA-256 of its `model.bin`.
        model_sha256: String,
        /// Always true: says so in the JSON for readers that only look at this object.
        machine_made: bool,
        /// Seconds of speech transcribed (after voice activity detection).
        speech_s: f64,
        /// Transcript segments the model produced.
        segments: usize,
    },
}

/// The transcript in numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TranscriptSummary {
    /// Utterances in the transcript.
    pub utterances: usize,
    /// Those spoken by the participant.
    pub participant_utterances: usize,
    /// Utterances the transcript did not give to the participant that extraction read as
    /// theirs (a transcript from speech-to-text, or speakers known by name; see each row's
    /// `read_as`).
    #[serde(default)]
    pub read_as_participant: usize,
    /// Cleaning statistics over every utterance.
    pub cleaning: CleaningStats,
    /// Cleaning statistics over the participant's utterances, when speakers are known.
    pub participant_cleaning: Option<CleaningStats>,
    /// Non-verbal cues found, with their utterances.
    pub cues: Vec<CueNote>,
}

/// The audio branch in numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioSummary {
    /// Length of the recording, seconds.
    pub duration_s: f64,
    /// The file's sample rate before resampling to 16 kHz.
    pub source_sample_rate: u32,
    /// The file's channels before down-mixing.
    pub channels: usize,
    /// Fraction of the recording inside VAD speech segments.
    pub speech_ratio: f64,
    /// VAD speech segments.
    pub speech_segments: usize,
    /// Voice emotion per window (VAD segments split into equal windows the model hears whole: at most 4 s, or its crop).
    pub voice: Vec<VoiceWindow>,
}

/// The speech-emotion model's answer for one window of speech: the scored stretch extraction
/// reads ([`VoiceSegment`]: start, end, every class's probability; its fields sit at this
/// object's top level in JSON) and the most probable class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VoiceWindow {
    /// When, and every class's probability.
    #[serde(flatten)]
    pub segment: VoiceSegment,
    /// The most probable class.
    pub label: String,
    /// Its probability.
    pub score: f32,
}

/// One utterance of the report's transcript table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UtteranceInsight {
    /// Its index in the transcript (the one evidence cites).
    pub index: usize,
    /// `interviewer`, `participant` or the label as written.
    pub speaker: String,
    /// Start, seconds, when the transcript has times.
    pub start_s: Option<f64>,
    /// End, seconds, when the transcript has times.
    pub end_s: Option<f64>,
    /// Cleaned text.
    pub text: String,
    /// Top voice emotion over the utterance's time span, when audio was analysed.
    pub voice: Option<(String, f32)>,
    /// The role extraction read the turn as (`interviewer` or `participant`) where the
    /// transcript does not name it (speech-to-text; see the report's notice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_as: Option<String>,
}

/// Colours of the timeline, by class name (others grey).
fn colour(label: &str) -> &'static str {
    match label {
        "neutral" => "#9e9e9e",
        "calm" => "#4db6ac",
        "happy" => "#fdd835",
        "sad" => "#1e88e5",
        "angry" => "#e53935",
        "fearful" => "#8e24aa",
        "disgust" => "#6d4c41",
        "surprised" => "#fb8c00",
        _ => "#bdbdbd",
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

impl Report {
    /// The emotion timeline: one bar per voice window (height = confidence, colour = class),
    /// participant utterances marked above, a legend of the classes present.
    // ~85 lines: one SVG drawn top to bottom (axes, bars, utterance marks, legend) in shared
    // coordinates.
    pub fn timeline_svg(&self) -> String {
        let (w, h, left, top, plot_h) = (900.0, 260.0, 50.0, 40.0, 150.0);
        let duration = self
            .audio
            .as_ref()
            .map(|a| a.duration_s)
            .into_iter()
            .chain(self.utterances.iter().filter_map(|u| u.end_s))
            .fold(0.0f64, f64::max)
            .max(1.0);
        let x = |t: f64| left + (w - left - 20.0) * t / duration;
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">"#
        );
        let _ = write!(s, r#"<title>Voice emotion timeline, session {}</title>"#, escape(&self.session_id));
        let _ = write!(s, r##"<rect width="{w}" height="{h}" fill="#ffffff"/>"##);
        // Participant turns.
        for u in self.utterances.iter().filter(|u| u.read_as.as_deref().unwrap_or(&u.speaker) == "participant") {
            if let (Some(a), Some(b)) = (u.start_s, u.end_s) {
                let _ = write!(
                    s,
                    r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="8" fill="#607d8b"><title>[{}] {}</title></rect>"##,
                    x(a),
                    top - 16.0,
                    (x(b) - x(a)).max(1.0),
                    u.index,
                    escape(&u.text)
                );
            }
        }
        let _ = write!(s, r##"<text x="{left}" y="{:.1}" fill="#455a64">participant speaking</text>"##, top - 22.0);
        let base = top + plot_h;
        let mut present: Vec<&str> = Vec::new();
        if let Some(a) = &self.audio {
            for v in &a.voice {
                let bar = plot_h * v.score.clamp(0.0, 1.0) as f64;
                let _ = write!(
                    s,
                    r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{bar:.1}" fill="{}"><title>{:.1}–{:.1} s: {} {:.2}</title></rect>"#,
                    x(v.segment.start_s),
                    base - bar,
                    (x(v.segment.end_s) - x(v.segment.start_s) - 1.0).max(1.0),
                    colour(&v.label),
                    v.segment.start_s,
                    v.segment.end_s,
                    escape(&v.label),
                    v.score
                );
                if !present.contains(&v.label.as_str()) {
                    present.push(&v.label);
                }
            }
        }
        // Axes: confidence 0–1 and time in seconds.
        let _ = write!(s, r##"<line x1="{left}" y1="{base}" x2="{:.1}" y2="{base}" stroke="#000"/>"##, w - 20.0);
        let _ = write!(s, r##"<line x1="{left}" y1="{top}" x2="{left}" y2="{base}" stroke="#000"/>"##);
        let _ = write!(s, r#"<text x="8" y="{:.1}">1.0</text><text x="8" y="{base}">0</text>"#, top + 4.0);
        let step =
            [5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0].into_iter().find(|st| duration / st <= 12.0).unwrap_or(1200.0);
        let mut t = 0.0;
        while t <= duration {
            let _ = write!(s, r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{t:.0}</text>"#, x(t), base + 14.0);
            t += step;
        }
        let _ = write!(s, r#"<text x="{:.1}" y="{:.1}" text-anchor="end">seconds</text>"#, w - 20.0, base + 28.0);
        present.sort_unstable();
        for (i, label) in present.iter().enumerate() {
            let lx = left + 90.0 * i as f64;
            let _ = write!(
                s,
                r#"<rect x="{lx}" y="{:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
                h - 22.0,
                colour(label),
                lx + 14.0,
                h - 13.0,
                escape(label)
            );
        }
        s.push_str("</svg>\n");
        s
    }

    /// A readable summary; `svg_name` is the timeline file it links.
    pub fn to_markdown(&self, svg_name: &str) -> String {
        let mut m = String::new();
        self.markdown_header(&mut m);
        if let Some(e) = &self.extraction {
            self.markdown_extraction(&mut m, e);
        }
        if let Some(a) = &self.audio {
            markdown_voice(&mut m, a, svg_name);
        }
        if let Some(t) = &self.transcript {
            self.markdown_transcript(&mut m, t);
        }
        self.markdown_inputs(&mut m);
        m
    }

    /// Title, notices, where the transcript came from and what did not run.
    fn markdown_header(&self, m: &mut String) {
        let _ = writeln!(m, "# Interview report: {}\n", self.session_id);
        for n in &self.notices {
            let _ = writeln!(m, "> **Note:** {n}\n");
        }
        match &self.transcript_source {
            Some(TranscriptSource::Asr { model, model_sha256, .. }) => {
                let short = model_sha256.get(..12).unwrap_or(model_sha256);
                let _ = writeln!(
                    m,
                    "> **Transcript:** machine-made by speech-to-text ({model}, sha256 {short}…) on this machine; speakers are unknown and words may be wrong.\n"
                );
            }
            Some(TranscriptSource::File { name, .. }) => {
                let _ = writeln!(m, "Transcript: {name}\n");
            }
            None => {}
        }
        if !self.not_run.is_empty() {
            let _ = writeln!(m, "Not run:");
            for n in &self.not_run {
                let _ = writeln!(m, "- {n}");
            }
            m.push('\n');
        }
    }

    /// Summary, emotions, topics, key phrases, concerns and grounding.
    fn markdown_extraction(&self, m: &mut String, e: &Extraction) {
        let _ = writeln!(m, "## Summary\n\n{}\n", if e.summary.is_empty() { "(none)" } else { &e.summary });
        let _ = writeln!(m, "## Emotions\n");
        if e.emotions.is_empty() {
            let _ = writeln!(m, "(none with verified evidence)");
        }
        for em in &e.emotions {
            let quotes: Vec<String> =
                em.evidence.iter().map(|q| format!("“{}” [{}]", q.quote, q.utterance_index)).collect();
            let _ = writeln!(m, "- **{}** ({:.2}): {}", display_name(&em.label), em.intensity, quotes.join("; "));
        }
        let _ = writeln!(m, "\n## Topics\n");
        for t in &e.topics {
            let quotes: Vec<String> =
                t.evidence.iter().map(|q| format!("“{}” [{}]", q.quote, q.utterance_index)).collect();
            let category = display_name(&t.category);
            // A topic named by its category alone (the extractor's name for one whose model
            // label said more than its evidence) is not named twice.
            if llama_extract::extract::ground::is_category_name(&t.label, t.category) {
                let _ = writeln!(m, "- **{category}**: {}", quotes.join("; "));
            } else {
                let _ = writeln!(m, "- **{category}** — {}: {}", t.label, quotes.join("; "));
            }
        }
        let _ = writeln!(m, "\n## Key phrases\n");
        for k in &e.key_phrases {
            let _ = writeln!(m, "- “{}” [{}]", k.text, k.utterance_index);
        }
        let _ = writeln!(m, "\n## Concerns and suggested actions (non-diagnostic)\n\n_{}_\n", e.notice);
        if e.concerns.is_empty() && e.suggested_actions.is_empty() {
            let _ = writeln!(m, "(none)");
        }
        for c in &e.concerns {
            let _ = writeln!(m, "- Concern: {c}");
        }
        for a in &e.suggested_actions {
            let _ = writeln!(m, "- Suggested: {a}");
        }
        let g = &e.grounding;
        let _ = writeln!(
            m,
            "\nGrounding: {}/{} quotes verified in their utterances ({:.0} %), {} dropped.\n",
            g.verified,
            g.quotes,
            100.0 * g.rate,
            g.dropped
        );
        // Who made every section above (summary to actions) and how well it scored, as their
        // footer: between the concerns' heading and the concerns it read as theirs alone.
        if let Some(by) = &self.extracted_by {
            let short = |h: &str| h.get(..12).unwrap_or(h).to_string();
            let adapter = match (&by.adapter, &by.adapter_sha256) {
                (Some(a), Some(h)) => format!(" + LoRA adapter {a} (sha256 {}…)", short(h)),
                _ => " (no adapter)".into(),
            };
            let _ = writeln!(m, "_Extracted by {} (sha256 {}…){adapter}._", by.model, short(&by.model_sha256));
            let quality = by.quality.as_deref().unwrap_or("not measured for this model and adapter.");
            let _ = writeln!(m, "_Quality: {quality}_\n");
        }
    }

    /// Transcript statistics and the utterance table.
    fn markdown_transcript(&self, m: &mut String, t: &TranscriptSummary) {
        let c = &t.cleaning;
        // "1 interjection", "2 interjections".
        let counted = |n: usize, noun: &str| format!("{n} {noun}{}", if n == 1 { "" } else { "s" });
        let _ = writeln!(
            m,
            "## Transcript\n\n{} ({} participant{}); {} and {} removed; {:.1} filled pauses per 100 words; {}.\n",
            counted(t.utterances, "utterance"),
            t.participant_utterances,
            match t.read_as_participant {
                0 => String::new(),
                n => format!(", {n} more read as the participant's by extraction"),
            },
            counted(c.interjections_removed, "interjection"),
            counted(c.fillers_removed, "filler"),
            c.filled_pauses_per_100_words,
            counted(t.cues.len(), "non-verbal cue")
        );
        let _ = writeln!(m, "| # | speaker | time | voice | text |\n|---|---|---|---|---|");
        for u in &self.utterances {
            let time = match (u.start_s, u.end_s) {
                (Some(a), Some(b)) => format!("{a:.1}–{b:.1}"),
                _ => String::new(),
            };
            let voice = u.voice.as_ref().map(|(l, p)| format!("{l} {p:.2}")).unwrap_or_default();
            let speaker = match &u.read_as {
                Some(role) => format!("{} → {role}", u.speaker),
                None => u.speaker.clone(),
            };
            let _ = writeln!(m, "| {} | {speaker} | {time} | {voice} | {} |", u.index, u.text.replace('|', "\\|"));
        }
        m.push('\n');
    }

    /// Input files and stage timings.
    fn markdown_inputs(&self, m: &mut String) {
        let _ = writeln!(m, "## Inputs\n\n| role | file | sha256 |\n|---|---|---|");
        for i in &self.inputs {
            let _ = writeln!(m, "| {} | {} | `{}` |", i.role, i.name, &i.sha256[..16.min(i.sha256.len())]);
        }
        let timings: Vec<String> = self.timings_ms.iter().map(|(k, v)| format!("{k} {v:.0} ms")).collect();
        let _ = writeln!(m, "\nTimings: {}.", timings.join(", "));
    }
}

/// Recording length, speech share and the timeline image.
fn markdown_voice(m: &mut String, a: &AudioSummary, svg_name: &str) {
    let _ = writeln!(
        m,
        "## Voice\n\n{:.1} s of audio, {:.0} % speech in {} segments, {} emotion windows.\n\n![emotion timeline]({svg_name})\n",
        a.duration_s,
        100.0 * a.speech_ratio,
        a.speech_segments,
        a.voice.len()
    );
}

/// A label as a reader writes it: the schema's snake_case name with spaces, first letter
/// capitalised ("living_situation" → "Living situation").
fn display_name(label: &impl serde::Serialize) -> String {
    let name = serde_json::to_value(label).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
    let spaced = name.replace('_', " ");
    let mut chars = spaced.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}
