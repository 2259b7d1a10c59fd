//! Corpus runs over a generated 5-session DAIC-WOZ-style tree (one session malformed): the
//! batch finishes the good sessions and records the bad one; a run killed with SIGKILL in the
//! middle resumes to outputs identical to an uninterrupted run; re-running skips finished work.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use interview_insight::batch::{SessionOutcome, discover_daic, run_batch};
use interview_insight::report::Report;
use interview_insight::{Pipeline, audio_dsp};

fn demo(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/demo").join(name)
}

/// Sessions 300–304: the demo interview (audio repeated `repeat` times, so each session takes a
/// while), 302 with a transcript that does not parse.
fn make_tree(root: &Path, repeat: usize) {
    let audio = audio_dsp::decode_path(demo("demo_AUDIO.wav")).unwrap();
    let long: Vec<f32> = (0..repeat).flat_map(|_| audio.samples.iter().copied()).collect();
    let transcript = std::fs::read_to_string(demo("demo_TRANSCRIPT.csv")).unwrap();
    for id in 300..305 {
        let dir = root.join(format!("{id}_P"));
        std::fs::create_dir_all(&dir).unwrap();
        audio_dsp::write_wav_pcm16(dir.join(format!("{id}_AUDIO.wav")), &long, audio.sample_rate).unwrap();
        let text = if id == 302 {
            "start_time\tstop_time\tspeaker\tvalue\n1.0\tnot-a-time\tEllie\thi\n".into()
        } else {
            transcript.clone()
        };
        std::fs::write(dir.join(format!("{id}_TRANSCRIPT.csv")), text).unwrap();
    }
}

fn pipeline() -> Pipeline {
    Pipeline::builder().ser_model(demo("ser")).build().unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("insight-batch-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    p
}

/// Every output file with report timings blanked (the one field that differs between runs).
fn outputs(out: &Path) -> Vec<(String, String)> {
    let mut files = Vec::new();
    let mut stack = vec![out.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(out).unwrap().display().to_string();
            let mut text = std::fs::read_to_string(&p).unwrap();
            if rel.ends_with("report.json") {
                let r: Report = serde_json::from_str(&text).unwrap();
                text = serde_json::to_string(&Report { timings_ms: Default::default(), ..r }).unwrap();
            } else if rel.ends_with("report.md") {
                text = text.lines().filter(|l| !l.starts_with("Timings:")).collect::<Vec<_>>().join("\n");
            }
            files.push((rel, text));
        }
    }
    files.sort();
    files
}

#[test]
fn a_malformed_session_is_recorded_and_the_batch_goes_on() {
    let (root, out) = (tmp("tree-a"), tmp("out-a"));
    make_tree(&root, 1);
    let sessions = discover_daic(&root).unwrap();
    assert_eq!(sessions.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["300", "301", "302", "303", "304"]);
    let p = pipeline();
    let outcomes = run_batch(&p, &sessions, &out, 2, &|_| {}).unwrap();
    for (id, o) in &outcomes {
        match id.as_str() {
            "302" => assert!(matches!(o, SessionOutcome::Failed(e) if e.contains("302_TRANSCRIPT.csv")), "{o:?}"),
            _ => assert_eq!(*o, SessionOutcome::Done, "{id}"),
        }
    }
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert_eq!(summary.lines().count(), 6);
    assert!(summary.lines().nth(3).unwrap().starts_with("302,failed,"));
    assert!(out.join("302/error.txt").exists() && !out.join("302/report.json").exists());
    for id in ["300", "301", "303", "304"] {
        for f in ["report.json", "report.md", "report.svg"] {
            assert!(out.join(id).join(f).exists(), "{id}/{f}");
        }
    }
    // A second run skips the finished sessions and retries only the failed one.
    let again = run_batch(&p, &sessions, &out, 2, &|_| {}).unwrap();
    assert_eq!(again.iter().filter(|(_, o)| *o == SessionOutcome::Skipped).count(), 4);
    assert!(matches!(again[2].1, SessionOutcome::Failed(_)));
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_dir_all(&out);
}

/// Runs in a child process that the test below kills (ignored unless asked for by name).
#[test]
#[ignore]
fn batch_child() {
    let (Some(root), Some(out)) = (std::env::var_os("BATCH_CHILD_ROOT"), std::env::var_os("BATCH_CHILD_OUT")) else {
        return;
    };
    let sessions = discover_daic(Path::new(&root)).unwrap();
    run_batch(&pipeline(), &sessions, Path::new(&out), 1, &|_| {}).unwrap();
}

#[test]
fn a_batch_killed_mid_run_resumes_to_identical_outputs() {
    let (root, out, reference) = (tmp("tree-k"), tmp("out-k"), tmp("ref-k"));
    make_tree(&root, 4);
    let sessions = discover_daic(&root).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "batch_child", "--nocapture"])
        .env("BATCH_CHILD_ROOT", &root)
        .env("BATCH_CHILD_OUT", &out)
        .spawn()
        .unwrap();
    // Kill it (SIGKILL) as soon as the first session is finished.
    let started = Instant::now();
    while !out.join("300/report.json").exists() {
        assert!(started.elapsed() < Duration::from_secs(120), "the child never finished a session");
        assert!(child.try_wait().unwrap().is_none(), "the child exited early");
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let finished = sessions.iter().filter(|s| out.join(&s.id).join("report.json").exists()).count();
    assert!(finished < 4, "the kill came too late to test anything ({finished} finished)");
    // Resume, and compare with a run that was never interrupted.
    let p = pipeline();
    let resumed = run_batch(&p, &sessions, &out, 2, &|_| {}).unwrap();
    assert!(resumed.iter().filter(|(_, o)| *o == SessionOutcome::Skipped).count() >= 1);
    run_batch(&p, &sessions, &reference, 2, &|_| {}).unwrap();
    let (a, b) = (outputs(&out), outputs(&reference));
    assert_eq!(a.iter().map(|f| &f.0).collect::<Vec<_>>(), b.iter().map(|f| &f.0).collect::<Vec<_>>());
    assert!(a.iter().all(|(name, _)| !name.ends_with(".tmp")), "no partial files left");
    assert_eq!(a, b, "resumed outputs equal an uninterrupted run's");
    for d in [root, out, reference] {
        let _ = std::fs::remove_dir_all(d);
    }
}

/// A corpus session with audio and no transcript is transcribed in the batch too; the summary
/// counts its utterances and the report names the speech-to-text model.
#[test]
fn corpus_sessions_without_a_transcript_are_transcribed() {
    let (root, out) = (tmp("tree-asr"), tmp("out-asr"));
    let dir = root.join("310_P");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(demo("demo_AUDIO.wav"), dir.join("310_AUDIO.wav")).unwrap();
    let sessions = discover_daic(&root).unwrap();
    assert!(sessions[0].transcript.is_none() && sessions[0].audio.is_some());
    let whisper = interview_insight::asr::default_model_dir();
    let p = Pipeline::builder().ser_model(demo("ser")).asr_model(&whisper).build().unwrap();
    let outcomes = run_batch(&p, &sessions, &out, 1, &|_| {}).unwrap();
    assert_eq!(outcomes[0].1, SessionOutcome::Done);
    let report: Report = serde_json::from_slice(&std::fs::read(out.join("310/report.json")).unwrap()).unwrap();
    assert!(matches!(report.transcript_source, Some(interview_insight::report::TranscriptSource::Asr { .. })));
    assert!(report.utterances.len() >= 8);
    let summary = std::fs::read_to_string(out.join("summary.csv")).unwrap();
    assert!(summary.lines().nth(1).unwrap().starts_with("310,done,"), "{summary}");
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_dir_all(&out);
}
