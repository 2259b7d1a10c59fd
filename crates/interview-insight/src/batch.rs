//! Corpus runs: every session of a DAIC-WOZ-style tree or a manifest through one [`Pipeline`],
//! in parallel, resumable, with a summary CSV.
//!
//! Each session is a pure function of its inputs, written to `<out>/<id>/` as `report.svg`,
//! `report.md` and, last, `report.json` — each through a temporary file and a rename, so a file
//! either exists whole or not at all. `report.json` marks a finished session: a re-run skips it,
//! so a batch killed at any point (even `kill -9`) resumes with nothing lost or duplicated. A
//! failed session leaves `<out>/<id>/error.txt` and is retried on the next run.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::InsightError;
use crate::pipeline::{Pipeline, SessionInput};
use crate::report::Report;

/// Finds sessions in a DAIC-WOZ-style tree: folders `<id>_P` holding `<id>_TRANSCRIPT.csv`
/// and/or `<id>_AUDIO.wav`, sorted by id.
pub fn discover_daic(root: &Path) -> Result<Vec<SessionInput>, InsightError> {
    let io = |e| InsightError::Io { path: root.display().to_string(), source: e };
    let mut sessions = Vec::new();
    for entry in std::fs::read_dir(root).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_suffix("_P") else { continue };
        if !entry.path().is_dir() || id.is_empty() {
            continue;
        }
        let dir = entry.path();
        let transcript = dir.join(format!("{id}_TRANSCRIPT.csv"));
        let audio = dir.join(format!("{id}_AUDIO.wav"));
        let s = SessionInput {
            id: id.to_string(),
            transcript: transcript.exists().then_some(transcript),
            audio: audio.exists().then_some(audio),
        };
        if s.transcript.is_some() || s.audio.is_some() {
            sessions.push(s);
        }
    }
    sessions.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(sessions)
}

/// Reads a manifest CSV with a header `id,transcript,audio` (either path may be empty;
/// relative paths are relative to the manifest's folder).
pub fn read_manifest(path: &Path) -> Result<Vec<SessionInput>, InsightError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| InsightError::Io { path: path.display().to_string(), source: e })?;
    parse_manifest(&text, path)
}

/// Parses manifest text as [`read_manifest`] does; relative paths are taken from
/// `path`'s folder, and errors name `path` and the line.
pub fn parse_manifest(text: &str, path: &Path) -> Result<Vec<SessionInput>, InsightError> {
    let base = path.parent().unwrap_or(Path::new("."));
    let bad = |line: usize, what: &str| InsightError::Input {
        path: format!("{}:{line}", path.display()),
        what: what.to_string(),
    };
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    match lines.next() {
        Some((_, h)) if h.trim().replace(' ', "") == "id,transcript,audio" => {}
        _ => return Err(bad(1, "the header must be id,transcript,audio")),
    }
    let mut sessions: Vec<SessionInput> = Vec::new();
    for (i, line) in lines {
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        if cols.len() != 3 || cols[0].is_empty() {
            return Err(bad(i + 1, "expected id,transcript,audio"));
        }
        if cols[0].contains(['/', '\\']) || cols[0] == "." || cols[0] == ".." {
            return Err(bad(i + 1, "a session id cannot be a path"));
        }
        if sessions.iter().any(|s| s.id == cols[0]) {
            return Err(bad(i + 1, "duplicate session id"));
        }
        let file = |c: &str| (!c.is_empty()).then(|| base.join(c));
        sessions.push(SessionInput { id: cols[0].to_string(), transcript: file(cols[1]), audio: file(cols[2]) });
    }
    Ok(sessions)
}

/// What happened to one session.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionOutcome {
    /// Analysed in this run; its report is written.
    Done,
    /// Finished by an earlier run.
    Skipped,
    /// Could not be analysed (the error's message); the batch went on.
    Failed(String),
}

/// Progress events for a progress bar.
#[derive(Debug, Clone)]
pub enum BatchEvent<'a> {
    /// The batch starts.
    Started {
        /// Sessions found.
        total: usize,
        /// Of those, finished by an earlier run.
        already_done: usize,
    },
    /// One session is over.
    Finished {
        /// Its id.
        id: &'a str,
        /// What happened.
        outcome: &'a SessionOutcome,
    },
}

/// Writes `bytes` to `path` atomically (temporary file in the same folder, then rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), InsightError> {
    let io = |e| InsightError::Io { path: path.display().to_string(), source: e };
    let tmp = path.with_extension(format!("{}.tmp", path.extension().and_then(|e| e.to_str()).unwrap_or("")));
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// Writes a report's three files; `report.json` last.
pub fn write_report(dir: &Path, report: &Report) -> Result<(), InsightError> {
    std::fs::create_dir_all(dir).map_err(|e| InsightError::Io { path: dir.display().to_string(), source: e })?;
    write_atomic(&dir.join("report.svg"), report.timeline_svg().as_bytes())?;
    write_atomic(&dir.join("report.md"), report.to_markdown("report.svg").as_bytes())?;
    let json = serde_json::to_string_pretty(report)
        .map_err(|e| InsightError::Io { path: dir.join("report.json").display().to_string(), source: e.into() })?;
    write_atomic(&dir.join("report.json"), json.as_bytes())
}

/// Temporary files a killed run left behind (never read as results; removed before a retry).
fn remove_partial_files(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().ends_with(".tmp") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

fn session_dir(out: &Path, id: &str) -> PathBuf {
    out.join(id)
}

/// Runs every unfinished session with up to `jobs` in parallel; returns each outcome in
/// session order and writes `<out>/summary.csv`.
pub fn run_batch(
    pipeline: &Pipeline,
    sessions: &[SessionInput],
    out: &Path,
    jobs: usize,
    on_event: &(dyn Fn(BatchEvent<'_>) + Sync),
) -> Result<Vec<(String, SessionOutcome)>, InsightError> {
    std::fs::create_dir_all(out).map_err(|e| InsightError::Io { path: out.display().to_string(), source: e })?;
    let done = |s: &SessionInput| session_dir(out, &s.id).join("report.json").exists();
    let already = sessions.iter().filter(|s| done(s)).count();
    on_event(BatchEvent::Started { total: sessions.len(), already_done: already });
    let outcomes: Mutex<Vec<Option<SessionOutcome>>> = Mutex::new(vec![None; sessions.len()]);
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(s) = sessions.get(i) else { break };
                    let dir = session_dir(out, &s.id);
                    let outcome = if done(s) {
                        SessionOutcome::Skipped
                    } else {
                        remove_partial_files(&dir);
                        match pipeline.run(s).and_then(|r| write_report(&dir, &r)) {
                            Ok(()) => {
                                let _ = std::fs::remove_file(dir.join("error.txt"));
                                SessionOutcome::Done
                            }
                            Err(e) => {
                                let msg = e.to_string();
                                let _ = std::fs::create_dir_all(&dir);
                                let _ = write_atomic(&dir.join("error.txt"), format!("{msg}\n").as_bytes());
                                SessionOutcome::Failed(msg)
                            }
                        }
                    };
                    on_event(BatchEvent::Finished { id: &s.id, outcome: &outcome });
                    if let Ok(mut o) = outcomes.lock() {
                        o[i] = Some(outcome);
                    }
                }
            });
        }
    });
    let outcomes = outcomes.into_inner().map_err(|_| InsightError::Model("a batch worker panicked".into()))?;
    let result: Vec<(String, SessionOutcome)> = sessions
        .iter()
        .zip(outcomes)
        .map(|(s, o)| (s.id.clone(), o.unwrap_or_else(|| SessionOutcome::Failed("not run".into()))))
        .collect();
    write_summary(out, sessions)?;
    Ok(result)
}

/// `summary.csv`: one row per session from what is on disk (so it is the same however many
/// runs it took).
pub fn write_summary(out: &Path, sessions: &[SessionInput]) -> Result<(), InsightError> {
    let mut csv = String::from(
        "id,status,utterances,participant_utterances,audio_s,speech_ratio,voice_windows,top_voice_emotion,emotions,topics,grounding_rate,error\n",
    );
    for s in sessions {
        let dir = session_dir(out, &s.id);
        let json = std::fs::read_to_string(dir.join("report.json")).ok();
        let report: Option<Report> = json.and_then(|j| serde_json::from_str(&j).ok());
        let line = match report {
            Some(r) => {
                // The participant's turns as extraction read them: labelled, or read as theirs.
                let (utts, part) = r
                    .transcript
                    .as_ref()
                    .map_or((0, 0), |t| (t.utterances, t.participant_utterances + t.read_as_participant));
                let (dur, ratio, windows, top) = match &r.audio {
                    Some(a) => {
                        let mut counts: std::collections::BTreeMap<&str, usize> = Default::default();
                        a.voice.iter().for_each(|v| *counts.entry(&v.label).or_default() += 1);
                        let top = counts.iter().max_by_key(|(l, n)| (**n, std::cmp::Reverse(**l))).map(|(l, _)| *l);
                        (
                            format!("{:.2}", a.duration_s),
                            format!("{:.3}", a.speech_ratio),
                            a.voice.len(),
                            top.unwrap_or("").to_string(),
                        )
                    }
                    None => (String::new(), String::new(), 0, String::new()),
                };
                let (emotions, topics, rate) = match &r.extraction {
                    Some(e) => (
                        e.emotions
                            .iter()
                            .map(|e| format!("{:?}", e.label).to_lowercase())
                            .collect::<Vec<_>>()
                            .join(";"),
                        e.topics
                            .iter()
                            .map(|t| format!("{:?}", t.category).to_lowercase())
                            .collect::<Vec<_>>()
                            .join(";"),
                        format!("{:.3}", e.grounding.rate),
                    ),
                    None => (String::new(), String::new(), String::new()),
                };
                format!("{},done,{utts},{part},{dur},{ratio},{windows},{top},{emotions},{topics},{rate},\n", s.id)
            }
            None => {
                let err = std::fs::read_to_string(dir.join("error.txt")).unwrap_or_else(|_| "not run".into());
                let err = err.trim().replace(['"', '\n', '\r'], " ");
                format!("{},failed,,,,,,,,,,\"{err}\"\n", s.id)
            }
        };
        csv.push_str(&line);
    }
    write_atomic(&out.join("summary.csv"), csv.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_are_read_with_paths_relative_to_them_and_bad_rows_are_named() {
        let dir = std::env::temp_dir().join(format!("manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let m = dir.join("sessions.csv");
        std::fs::write(&m, "id,transcript,audio\n300,300_TRANSCRIPT.csv,\n301,,a/301.wav\n").unwrap();
        let s = read_manifest(&m).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].transcript.as_deref(), Some(dir.join("300_TRANSCRIPT.csv").as_path()));
        assert_eq!(s[0].audio, None);
        assert_eq!(s[1].audio.as_deref(), Some(dir.join("a/301.wav").as_path()));
        for (text, what) in [
            ("id,audio\n", "header"),
            ("id,transcript,audio\n300,x\n", ":2"),
            ("id,transcript,audio\n../x,t,\n", "path"),
            ("id,transcript,audio\n1,t,\n1,t,\n", "duplicate"),
        ] {
            std::fs::write(&m, text).unwrap();
            let e = read_manifest(&m).unwrap_err().to_string();
            assert!(e.contains(what), "{e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A transcript that names no participant (speech-to-text) still has participant turns in
    /// the summary: the ones extraction read as theirs.
    #[test]
    fn the_summary_counts_turns_read_as_the_participants() {
        let out = std::env::temp_dir().join(format!("summary-{}", std::process::id()));
        let sessions: Vec<SessionInput> = ["labelled", "read"]
            .iter()
            .map(|id| SessionInput { id: id.to_string(), transcript: None, audio: None })
            .collect();
        for (id, labelled, read) in [("labelled", 4, 0), ("read", 0, 3)] {
            let report = Report {
                report_version: crate::report::REPORT_VERSION.into(),
                session_id: id.into(),
                inputs: vec![],
                not_run: vec![],
                notices: vec![],
                transcript_source: None,
                transcript: Some(crate::report::TranscriptSummary {
                    utterances: 7,
                    participant_utterances: labelled,
                    read_as_participant: read,
                    cleaning: Default::default(),
                    participant_cleaning: None,
                    cues: vec![],
                }),
                audio: None,
                utterances: vec![],
                extraction: None,
                extracted_by: None,
                timings_ms: Default::default(),
            };
            let dir = session_dir(&out, id);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("report.json"), serde_json::to_string(&report).unwrap()).unwrap();
        }
        write_summary(&out, &sessions).unwrap();
        let csv = std::fs::read_to_string(out.join("summary.csv")).unwrap();
        let rows: Vec<&str> = csv.lines().skip(1).collect();
        assert!(rows[0].starts_with("labelled,done,7,4,"), "{csv}");
        assert!(rows[1].starts_with("read,done,7,3,"), "{csv}");
        std::fs::remove_dir_all(&out).unwrap();
    }
}
