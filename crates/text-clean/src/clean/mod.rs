//! Interjection and filler removal (the paper's Algorithm 1) with punctuation and
//! capitalisation repair, non-verbal cue extraction and disfluency statistics.

mod tokens;

use crate::transcript::{Cue, CueKind, Speaker, Transcript, Utterance};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tokens::{Tok, TokKind, tokenize};

/// The paper's interjections.
pub const PAPER_INTERJECTIONS: [&str; 7] = ["oh", "ah", "um", "uh", "hmm", "hey", "alas"];
/// The paper's fillers.
pub const PAPER_FILLERS: [&str; 6] = ["well", "actually", "basically", "obviously", "umm", "er"];

/// Vocalised hesitations ("filled pauses"), a known marker of depressed speech. Compared after
/// collapsing repeated letters, so `ummm`, `uhh` and `hmmm` count too.
const FILLED_PAUSES: [&str; 10] = ["um", "uh", "er", "erm", "ah", "hm", "m", "uhm", "eh", "em"];

/// Which kind of list a removed word came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// From the interjection list (oh, wow, yeah...).
    Interjection,
    /// From the filler list (um, like, you know...).
    Filler,
}

/// What the cleaner removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CleanMode {
    /// Only interjections; discourse words such as "well" stay.
    InterjectionsOnly,
    /// Interjections and fillers (the paper's behaviour).
    #[default]
    InterjectionsAndFillers,
}

/// Where fillers that are also ordinary words ("well", "actually") are removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FillerPosition {
    /// Only where they act as discourse markers: at the start of a sentence or clause (after
    /// a sentence end or a comma, or next to another removed word). "Well, I..." loses "well";
    /// "I'm doing well." keeps it. Fillers that are filled pauses ("umm", "er") go anywhere.
    #[default]
    Discourse,
    /// Everywhere, exactly as the paper's word-list filter does.
    Anywhere,
}

/// Cleaning settings: the word lists (the paper's by default), the mode and filler position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CleanConfig {
    /// Interjections to remove, lower-case (one or more words each).
    pub interjections: BTreeSet<String>,
    /// Fillers to remove, lower-case (one or more words each).
    pub fillers: BTreeSet<String>,
    /// What the cleaner removes.
    pub mode: CleanMode,
    /// Where a filler may stand to be removed.
    pub filler_position: FillerPosition,
}

impl Default for CleanConfig {
    fn default() -> Self {
        Self {
            interjections: PAPER_INTERJECTIONS.iter().map(|s| s.to_string()).collect(),
            fillers: PAPER_FILLERS.iter().map(|s| s.to_string()).collect(),
            mode: CleanMode::default(),
            filler_position: FillerPosition::default(),
        }
    }
}

impl CleanConfig {
    /// The paper's lists with the given mode.
    pub fn with_mode(mut self, mode: CleanMode) -> Self {
        self.mode = mode;
        self
    }
    /// This configuration with another filler position rule.
    pub fn with_filler_position(mut self, position: FillerPosition) -> Self {
        self.filler_position = position;
        self
    }
    /// Adds an interjection (matched case-insensitively).
    pub fn add_interjection(mut self, word: &str) -> Self {
        self.interjections.insert(word.to_lowercase());
        self
    }
    /// Stops removing an interjection.
    pub fn remove_interjection(mut self, word: &str) -> Self {
        self.interjections.remove(&word.to_lowercase());
        self
    }
    /// Adds a filler (matched case-insensitively).
    pub fn add_filler(mut self, word: &str) -> Self {
        self.fillers.insert(word.to_lowercase());
        self
    }
    /// Stops removing a filler.
    pub fn remove_filler(mut self, word: &str) -> Self {
        self.fillers.remove(&word.to_lowercase());
        self
    }
}

/// One word taken out of an utterance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    /// The word as written.
    pub word: String,
    /// Which list it matched.
    pub category: Category,
    /// Whether it is a vocalised hesitation (um, uh, er, hmm...).
    pub filled_pause: bool,
}

/// Word and removal counts. Rates are per 100 words of the original text (annotations excluded).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CleaningStats {
    /// Words before cleaning (annotations excluded).
    pub words_in: usize,
    /// Words after cleaning.
    pub words_out: usize,
    /// Interjections removed.
    pub interjections_removed: usize,
    /// Fillers removed.
    pub fillers_removed: usize,
    /// Removed words that are vocalised hesitations (um, uh...).
    pub filled_pauses: usize,
    /// Non-verbal cues moved out of the text.
    pub cues: usize,
    /// Interjections and fillers removed per 100 original words.
    pub disfluency_per_100_words: f64,
    /// Filled pauses per 100 original words.
    pub filled_pauses_per_100_words: f64,
}

impl CleaningStats {
    fn add(&mut self, other: &CleaningStats) {
        self.words_in += other.words_in;
        self.words_out += other.words_out;
        self.interjections_removed += other.interjections_removed;
        self.fillers_removed += other.fillers_removed;
        self.filled_pauses += other.filled_pauses;
        self.cues += other.cues;
        self.update_rates();
    }

    fn update_rates(&mut self) {
        let per100 = |n: usize| if self.words_in == 0 { 0.0 } else { 100.0 * n as f64 / self.words_in as f64 };
        self.disfluency_per_100_words = per100(self.interjections_removed + self.fillers_removed);
        self.filled_pauses_per_100_words = per100(self.filled_pauses);
    }
}

/// The result of cleaning one piece of text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CleanedText {
    /// The text without the removed words and annotations.
    pub text: String,
    /// Non-verbal cues found in the text.
    pub cues: Vec<Cue>,
    /// Every word taken out, in order.
    pub removed: Vec<Removal>,
    /// Counts and rates.
    pub stats: CleaningStats,
}

/// A cleaned utterance with its original text and what was taken out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CleanedUtterance {
    /// Start, seconds from the start of the recording, when the source has times.
    pub start_s: Option<f64>,
    /// End, seconds, when the source has times.
    pub end_s: Option<f64>,
    /// Who spoke.
    pub speaker: Speaker,
    /// The cleaned text.
    pub text: String,
    /// The text as parsed, before cleaning.
    pub raw: String,
    /// Non-verbal cues found in the text.
    pub cues: Vec<Cue>,
    /// Every word taken out, in order.
    pub removed: Vec<Removal>,
    /// Counts and rates for this utterance.
    pub stats: CleaningStats,
}

impl CleanedUtterance {
    /// The cleaned utterance in the plain data model (cleaned text, cues kept).
    pub fn to_utterance(&self) -> Utterance {
        Utterance {
            start_s: self.start_s,
            end_s: self.end_s,
            speaker: self.speaker.clone(),
            text: self.text.clone(),
            cues: self.cues.clone(),
        }
    }
}

/// A cleaned transcript with totals overall and per speaker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CleanedTranscript {
    /// Every utterance, in order.
    pub utterances: Vec<CleanedUtterance>,
    /// Totals over the transcript.
    pub stats: CleaningStats,
    /// Keyed by speaker label (`interviewer`, `participant`, or the original name).
    pub stats_by_speaker: BTreeMap<String, CleaningStats>,
}

impl CleanedTranscript {
    /// The cleaned transcript in the plain data model.
    pub fn to_transcript(&self) -> Transcript {
        Transcript { utterances: self.utterances.iter().map(CleanedUtterance::to_utterance).collect() }
    }
}

/// Removes interjections and fillers, repairs the text around them and collects cues.
#[derive(Debug, Clone)]
pub struct Cleaner {
    config: CleanConfig,
    /// Interjections and fillers keyed by their letters with repeats collapsed, with the
    /// shortest entry length: a word is an elongation of an entry when it collapses to the same
    /// key and is longer (precomputed so matching allocates nothing per list entry).
    interjection_keys: HashMap<String, usize>,
    filler_keys: HashMap<String, usize>,
}

impl Default for Cleaner {
    fn default() -> Self {
        Self::new(CleanConfig::default())
    }
}

fn collapsed_keys(list: &BTreeSet<String>) -> HashMap<String, usize> {
    let mut keys: HashMap<String, usize> = HashMap::new();
    for entry in list {
        let len = keys.entry(collapse_repeats(entry)).or_insert(usize::MAX);
        *len = (*len).min(entry.len());
    }
    keys
}

impl Cleaner {
    /// A cleaner with `config`'s lists and rules.
    pub fn new(config: CleanConfig) -> Self {
        let interjection_keys = collapsed_keys(&config.interjections);
        let filler_keys = collapsed_keys(&config.fillers);
        Self { config, interjection_keys, filler_keys }
    }

    /// The configuration in use.
    pub fn config(&self) -> &CleanConfig {
        &self.config
    }

    /// Cleans a transcript utterance by utterance.
    pub fn clean_transcript(&self, transcript: &Transcript) -> CleanedTranscript {
        let mut stats = CleaningStats::default();
        let mut by_speaker: BTreeMap<String, CleaningStats> = BTreeMap::new();
        let utterances: Vec<CleanedUtterance> = transcript
            .utterances
            .iter()
            .map(|u| {
                let c = self.clean_utterance(u);
                stats.add(&c.stats);
                by_speaker.entry(c.speaker.label().to_string()).or_default().add(&c.stats);
                c
            })
            .collect();
        CleanedTranscript { utterances, stats, stats_by_speaker: by_speaker }
    }

    /// Cleans one utterance; cues already on it are kept ahead of new ones.
    pub fn clean_utterance(&self, utterance: &Utterance) -> CleanedUtterance {
        let cleaned = self.clean_text(&utterance.text);
        let mut cues = utterance.cues.clone();
        cues.extend(cleaned.cues);
        let mut stats = cleaned.stats;
        stats.cues = cues.len();
        CleanedUtterance {
            start_s: utterance.start_s,
            end_s: utterance.end_s,
            speaker: utterance.speaker.clone(),
            text: cleaned.text,
            raw: utterance.text.clone(),
            cues,
            removed: cleaned.removed,
            stats,
        }
    }

    /// Cleans a piece of text. Cleaning is idempotent: nested annotations (`<A<sigh>>`) are
    /// one annotation, but removing words inside brackets can still leave one behind
    /// (`[ um sigh]` → `[sigh]`), so passes repeat until the text is stable; cues found in later
    /// passes carry offsets into the intermediate text.
    pub fn clean_text(&self, text: &str) -> CleanedText {
        let mut result = self.clean_once(text);
        // Each pass that changes the text shortens it, so the bound is never what stops the
        // loop; in practice a second pass is the most ever needed. Only brackets can form new
        // annotations; without them one pass is already a fixpoint.
        for _ in 0..text.len() {
            if !result.text.contains(['<', '[']) {
                break;
            }
            let again = self.clean_once(&result.text);
            if again.text == result.text {
                break;
            }
            result.text = again.text;
            result.cues.extend(again.cues);
            result.removed.extend(again.removed);
            result.stats.interjections_removed += again.stats.interjections_removed;
            result.stats.fillers_removed += again.stats.fillers_removed;
            result.stats.filled_pauses += again.stats.filled_pauses;
            result.stats.words_out = again.stats.words_out;
            result.stats.cues = result.cues.len();
            result.stats.update_rates();
        }
        result
    }

    fn clean_once(&self, text: &str) -> CleanedText {
        let toks = tokenize(text);
        let mut deleted = vec![false; toks.len()];
        let mut stats = CleaningStats::default();
        let cues = take_cues(&toks, &mut deleted, &mut stats);
        let soft: Vec<bool> = (0..toks.len()).map(|k| is_soft(&toks, k)).collect();
        let terminal: Vec<bool> = (0..toks.len()).map(|k| is_terminal(&toks, k)).collect();
        let category = self.categorise(&toks, &deleted, &soft, &terminal);
        let mut edit = Edit {
            toks: &toks,
            soft: &soft,
            terminal: &terminal,
            category: &category,
            capitalise: vec![false; toks.len()],
            deleted,
            removed: Vec::new(),
            stats,
        };
        let mut i = 0;
        while i < toks.len() {
            i = if category[i].is_some() { edit.remove_run(i) } else { i + 1 };
        }
        let Edit { deleted, capitalise, removed, mut stats, .. } = edit;
        let text = rebuild(&toks, &deleted, &capitalise);
        stats.words_out = toks.iter().zip(&deleted).filter(|(t, d)| !**d && t.kind == TokKind::Word).count();
        stats.cues = cues.len();
        stats.update_rates();
        CleanedText { text, cues, removed, stats }
    }

    /// Which words go, decided in reading order (filler position depends on the word before).
    fn categorise(
        &self,
        toks: &[Tok<'_>],
        deleted: &[bool],
        soft: &[bool],
        terminal: &[bool],
    ) -> Vec<Option<Category>> {
        let mut category: Vec<Option<Category>> = vec![None; toks.len()];
        for i in 0..toks.len() {
            if toks[i].kind != TokKind::Word || deleted[i] {
                continue;
            }
            let prev = (0..i).rev().find(|&j| toks[j].kind != TokKind::Annotation && !is_cue_word(&toks[j]));
            let clause_start = match prev {
                None => true,
                Some(j) => category[j].is_some() || terminal[j] || soft[j],
            };
            category[i] = self.classify(toks[i].text, clause_start);
        }
        category
    }

    fn classify(&self, word: &str, clause_start: bool) -> Option<Category> {
        let lower = word.to_lowercase();
        if list_match(&self.config.interjections, &self.interjection_keys, &lower) {
            return Some(Category::Interjection);
        }
        if self.config.mode == CleanMode::InterjectionsAndFillers
            && list_match(&self.config.fillers, &self.filler_keys, &lower)
        {
            let anywhere = self.config.filler_position == FillerPosition::Anywhere || is_filled_pause(&lower);
            if anywhere || clause_start {
                return Some(Category::Filler);
            }
        }
        None
    }
}

/// Exact list entry, or an elongation of one (`ummm` for `umm`, `uhh` for `uh`): same letters
/// after collapsing repeats, and longer than the entry.
fn list_match(list: &BTreeSet<String>, keys: &HashMap<String, usize>, lower: &str) -> bool {
    if list.contains(lower) {
        return true;
    }
    keys.get(&collapse_repeats(lower)).is_some_and(|&shortest| lower.len() > shortest)
}

fn collapse_repeats(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut last = None;
    for c in s.chars() {
        if Some(c) != last {
            out.push(c);
        }
        last = Some(c);
    }
    out
}

fn is_filled_pause(word: &str) -> bool {
    let collapsed = collapse_repeats(&word.to_lowercase());
    FILLED_PAUSES.contains(&collapsed.as_str())
}

/// DAIC-WOZ marks unintelligible speech with `xxx` (sometimes more x's).
fn is_unintelligible(word: &str) -> bool {
    word.len() >= 3 && word.chars().all(|c| c == 'x' || c == 'X')
}

fn is_cue_word(t: &Tok) -> bool {
    t.kind == TokKind::Word && (is_unintelligible(t.text) || t.text.eq_ignore_ascii_case("scrubbed_entry"))
}

/// Punctuation that a removed filler strands: commas, semicolons, dashes and ellipses
/// (`…` or a `.` touching another `.`).
fn is_soft(toks: &[Tok], k: usize) -> bool {
    let t = &toks[k];
    if t.kind != TokKind::Punct {
        return false;
    }
    match t.text {
        "," | ";" | "\u{2026}" | "-" | "\u{2013}" | "\u{2014}" => true,
        "." => {
            let dot_next = toks.get(k + 1).is_some_and(|n| n.text == "." && !n.space_before);
            let dot_prev = k > 0 && toks[k - 1].text == "." && !t.space_before;
            dot_next || dot_prev
        }
        _ => false,
    }
}

/// A sentence end: `!`, `?` or a `.` that is not part of an ellipsis.
fn is_terminal(toks: &[Tok], k: usize) -> bool {
    let t = &toks[k];
    t.kind == TokKind::Punct && matches!(t.text, "!" | "?" | ".") && !is_soft(toks, k)
}

fn is_closing(t: &Tok) -> bool {
    t.kind == TokKind::Punct && matches!(t.text, ")" | "]" | "}" | "\"" | "\u{201d}")
}

fn rebuild(toks: &[Tok], deleted: &[bool], capitalise: &[bool]) -> String {
    let mut out = String::new();
    let mut gap = false;
    for (i, t) in toks.iter().enumerate() {
        if deleted[i] {
            gap = true;
            continue;
        }
        let space = match t.kind {
            // A word after removed material always gets a space so that words never fuse.
            TokKind::Word | TokKind::Annotation => t.space_before || gap,
            TokKind::Punct => t.space_before,
        };
        if space && !out.is_empty() {
            out.push(' ');
        }
        if capitalise[i] {
            let mut chars = t.text.chars();
            if let Some(first) = chars.next() {
                out.extend(first.to_uppercase());
                out.push_str(chars.as_str());
            }
        } else {
            out.push_str(t.text);
        }
        gap = false;
    }
    out
}

/// Annotations and the DAIC-WOZ placeholder words become cues (and leave the text); other
/// words are counted.
fn take_cues(toks: &[Tok<'_>], deleted: &mut [bool], stats: &mut CleaningStats) -> Vec<Cue> {
    let mut cues = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        let cue_kind = match t.kind {
            TokKind::Annotation => Some(CueKind::from_label(&t.text[1..t.text.len() - 1])),
            TokKind::Word if is_unintelligible(t.text) => Some(CueKind::Unintelligible),
            TokKind::Word if t.text.eq_ignore_ascii_case("scrubbed_entry") => Some(CueKind::Redacted),
            _ => None,
        };
        if let Some(kind) = cue_kind {
            cues.push(Cue { kind, raw: t.text.to_string(), offset: t.offset });
            deleted[i] = true;
        } else if t.kind == TokKind::Word {
            stats.words_in += 1;
        }
    }
    cues
}

/// One cleaning pass's edits over the tokens: what is deleted, what gets a capital, what was
/// removed and the counts.
struct Edit<'a, 't> {
    toks: &'a [Tok<'t>],
    soft: &'a [bool],
    terminal: &'a [bool],
    category: &'a [Option<Category>],
    deleted: Vec<bool>,
    capitalise: Vec<bool>,
    removed: Vec<Removal>,
    stats: CleaningStats,
}

impl Edit<'_, '_> {
    /// Removes the run of removable words starting at `run_start` together with the
    /// punctuation it leaves stranded; returns the index after it.
    fn remove_run(&mut self, run_start: usize) -> usize {
        let (toks, soft, terminal, category) = (self.toks, self.soft, self.terminal, self.category);
        let deleted = &mut self.deleted;
        let mut run_end = run_start;
        let mut j = run_start + 1;
        while j < toks.len() {
            if category[j].is_some() {
                run_end = j;
            } else if !(soft[j] || deleted[j]) {
                break;
            }
            j += 1;
        }
        for k in run_start..=run_end {
            if let Some(cat) = category[k] {
                let filled_pause = is_filled_pause(toks[k].text);
                match cat {
                    Category::Interjection => self.stats.interjections_removed += 1,
                    Category::Filler => self.stats.fillers_removed += 1,
                }
                self.stats.filled_pauses += usize::from(filled_pause);
                self.removed.push(Removal { word: toks[k].text.to_string(), category: cat, filled_pause });
            }
            deleted[k] = true;
        }
        // Soft punctuation right after the run ("Oh," "um..." "uh -").
        let mut after = run_end + 1;
        let mut stripped_soft = false;
        while after < toks.len() && (deleted[after] || soft[after]) {
            stripped_soft |= !deleted[after];
            deleted[after] = true;
            after += 1;
        }
        let prev = (0..run_start).rev().find(|&k| !deleted[k]);
        let next = (after..toks.len()).find(|&k| !deleted[k]);
        let sentence_start = prev.is_none_or(|p| terminal[p]);
        let next_is_end = next.is_none_or(|n| terminal[n] || is_closing(&toks[n]));
        if let Some(p) = prev.filter(|&p| soft[p] && toks[p].text != ".") {
            // "I was, um, thinking" -> "I was thinking"; "X, um." -> "X." But a comma after
            // a sentence's single opening word stays: "Well, um, I" -> "Well, I".
            let before = (0..p).rev().find(|&k| !deleted[k]);
            let after_opening_word = before.is_some_and(|b| {
                toks[b].kind == TokKind::Word && (0..b).rev().find(|&k| !deleted[k]).is_none_or(|k| terminal[k])
            });
            if next_is_end || (stripped_soft && !after_opening_word) {
                deleted[p] = true;
            }
        }
        let mut next_word = next;
        if sentence_start {
            if let Some(n) = next.filter(|&n| terminal[n]) {
                // The whole sentence was hesitation: "Um." goes entirely.
                let mut k = n;
                while k < toks.len() && terminal[k] {
                    deleted[k] = true;
                    k += 1;
                }
                next_word = None;
            }
            // "Uh, can you..." -> "Can you...": keep the sentence capitalised.
            let run_capitalised = toks[run_start].text.chars().next().is_some_and(char::is_uppercase);
            if let Some(n) = next_word.filter(|&n| run_capitalised && toks[n].kind == TokKind::Word) {
                self.capitalise[n] = true;
            }
        }
        after
    }
}
