//! The pipeline on the committed demo session: transcript, audio, VAD, voice emotion per ≤ 4 s
//! window aligned to utterances, the report in three formats; missing parts degrade with the
//! report saying what did not run; bad input is a typed error naming the file; with SmolLM2 the
//! extraction is fused in, grounded and schema-valid.

use std::path::PathBuf;

use interview_insight::llama_extract::ExtractOptions;
use interview_insight::report::Report;
use interview_insight::{InsightError, Pipeline, SessionInput};

fn demo(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/demo").join(name)
}

fn demo_input() -> SessionInput {
    SessionInput {
        id: "demo".into(),
        transcript: Some(demo("demo_TRANSCRIPT.csv")),
        audio: Some(demo("demo_AUDIO.wav")),
    }
}

fn without_timings(r: &Report) -> Report {
    Report { timings_ms: Default::default(), ..r.clone() }
}

#[test]
fn the_demo_session_gives_a_complete_report_without_a_language_model() {
    let pipeline = Pipeline::builder().ser_model(demo("ser")).build().unwrap();
    let r = pipeline.run(&demo_input()).unwrap();
    let t = r.transcript.as_ref().unwrap();
    assert_eq!((t.utterances, t.participant_utterances), (10, 5));
    assert_eq!(t.cues.len(), 1, "the <sigh>");
    let a = r.audio.as_ref().unwrap();
    assert!((a.duration_s - 57.7).abs() < 0.1, "{}", a.duration_s);
    assert!(a.speech_ratio > 0.5 && a.speech_ratio < 1.0, "{}", a.speech_ratio);
    // The paper classifies 5–13 segments per dialogue; ours are VAD segments cut to what the
    // model hears whole (3 s for these weights).
    assert!((5..=30).contains(&a.voice.len()), "{} windows", a.voice.len());
    assert!(a.voice.iter().all(|w| w.segment.end_s - w.segment.start_s <= 3.0 + 1e-9 && w.segment.scores.len() == 8));
    assert!(r.utterances.iter().all(|u| u.voice.is_some()), "every timed utterance gets its voice emotion");
    // The demo speaks the participant with the speech corpus's "sad" prosody and the interviewer
    // with neutral prosody (scripts/make-demo.sh): the demo weights hear that.
    for u in &r.utterances {
        let (label, _) = u.voice.as_ref().unwrap();
        if u.speaker == "participant" {
            assert_eq!(label, "sad", "participant utterance {}", u.index);
        } else {
            assert_ne!(label, "sad", "interviewer utterance {}", u.index);
        }
    }
    assert!(r.not_run.iter().any(|n| n.starts_with("extraction")));
    assert!(r.notices.iter().any(|n| n.contains("synthetic-demo")));
    assert!(r.inputs.iter().all(|i| i.sha256.len() == 64 && i.bytes > 0));
    assert_eq!(r.inputs.iter().map(|i| i.role.as_str()).collect::<Vec<_>>()[..2], ["transcript", "audio"]);
    for stage in ["transcript", "audio_and_vad", "voice_emotion"] {
        assert!(r.timings_ms.contains_key(stage), "{stage}");
    }
    // Deterministic apart from timings, and the JSON round-trips.
    assert_eq!(without_timings(&pipeline.run(&demo_input()).unwrap()), without_timings(&r));
    let json = serde_json::to_string(&r).unwrap();
    assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), r);
    let md = r.to_markdown("report.svg");
    for section in
        ["# Interview report: demo", "## Voice", "![emotion timeline](report.svg)", "## Transcript", "synthetic-demo"]
    {
        assert!(md.contains(section), "{section}");
    }
    // Counts read as English: the demo has one interjection ("um") and one cue.
    assert!(md.contains("10 utterances (5 participant); 1 interjection and 0 fillers removed;"), "{md}");
    assert!(md.contains("; 1 non-verbal cue.\n"), "{md}");
    let svg = r.timeline_svg();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches(" s: ").count(), a.voice.len(), "one bar per voice window");
    assert_eq!(svg.matches("<title>[").count(), 5, "one mark per participant turn");
    assert!(svg.contains("participant speaking"));
}

#[test]
fn missing_parts_are_reported_not_fatal() {
    let pipeline = Pipeline::builder().build().unwrap();
    let only_text = pipeline.run(&SessionInput { audio: None, ..demo_input() }).unwrap();
    assert!(only_text.audio.is_none() && only_text.transcript.is_some());
    assert!(only_text.not_run.iter().any(|n| n.starts_with("audio analysis")));
    assert!(only_text.utterances.iter().all(|u| u.voice.is_none()));
    let only_audio = pipeline.run(&SessionInput { transcript: None, ..demo_input() }).unwrap();
    assert!(only_audio.transcript.is_none() && only_audio.audio.is_some());
    assert!(only_audio.not_run.iter().any(|n| n.starts_with("voice emotion")));
    assert!(only_audio.not_run.iter().any(|n| n.starts_with("transcript")));
}

#[test]
fn bad_inputs_are_typed_errors_naming_the_file() {
    let dir = std::env::temp_dir().join(format!("insight-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad_tsv = dir.join("x_TRANSCRIPT.csv");
    std::fs::write(&bad_tsv, "start_time\tstop_time\tspeaker\tvalue\nabc\t1\tEllie\thi\n").unwrap();
    let pipeline = Pipeline::builder().build().unwrap();
    let e = pipeline.run(&SessionInput { id: "x".into(), transcript: Some(bad_tsv.clone()), audio: None }).unwrap_err();
    assert!(matches!(e, InsightError::Input { .. }) && e.to_string().contains("x_TRANSCRIPT.csv"), "{e}");
    let bad_wav = dir.join("x_AUDIO.wav");
    std::fs::write(&bad_wav, b"RIFF\x10\x00\x00\x00WAVEfmt ").unwrap();
    let e = pipeline.run(&SessionInput { id: "x".into(), transcript: None, audio: Some(bad_wav) }).unwrap_err();
    assert!(matches!(e, InsightError::Audio(_)), "{e}");
    let e = Pipeline::builder().ser_model(dir.join("no-such-model")).build().err().unwrap();
    assert!(matches!(e, InsightError::Ser(_)), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn with_the_language_model_the_extraction_is_fused_grounded_and_valid() {
    let model = interview_insight::llama_extract::models_dir().join("SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(model.exists(), "{} is missing: run `bash scripts/fetch-models.sh`", model.display());
    let pipeline = Pipeline::builder()
        .ser_model(demo("ser"))
        .language_model(&model)
        .adapter(demo("../adapters/smollm2-135m-extraction"))
        .extract_options(ExtractOptions { max_new_tokens: 128, ..ExtractOptions::default() })
        .build()
        .unwrap();
    let r = pipeline.run(&demo_input()).unwrap();
    let e = r.extraction.as_ref().unwrap();
    assert!(e.well_formed && e.chunks == 1);
    assert_eq!(e.nonverbal.cues.len(), 1);
    // Emotion evidence is the participant's words (the odd utterances of the demo), verified.
    assert!(e.emotions.iter().flat_map(|x| &x.evidence).all(|q| q.verified && q.utterance_index % 2 == 1));
    assert!(e.emotions.iter().all(|x| x.intensity >= 0.1 && !x.evidence.is_empty()));
    for text in e.concerns.iter().chain(&e.suggested_actions).chain([&e.summary]) {
        assert!(!text.contains(['{', '}', '[', ']', '<', '>', '?']), "not prose: {text}");
    }
    // The report names the model and the adapter, with the adapter's measured quality.
    let by = r.extracted_by.as_ref().unwrap();
    assert_eq!(by.model, "SmolLM2-135M-Instruct.Q4_1.gguf");
    assert_eq!(by.adapter.as_deref(), Some("smollm2-135m-extraction"));
    assert!(by.adapter_sha256.as_ref().is_some_and(|h| h.len() == 64));
    assert!(by.quality.as_ref().is_some_and(|q| q.contains("emotion F1")));
    let md = r.to_markdown("report.svg");
    assert!(md.contains("+ LoRA adapter smollm2-135m-extraction"));
    // The concerns come straight after their notice; who extracted the report and how well it
    // scored close the extraction's sections, after the grounding line.
    let concerns = md.split_once("## Concerns and suggested actions (non-diagnostic)\n\n").unwrap().1;
    let mut lines = concerns.lines();
    assert!(lines.next().unwrap().starts_with("_concerns and suggested_actions are machine-generated"), "{md}");
    assert_eq!(lines.next(), Some(""));
    let first = match (e.concerns.first(), e.suggested_actions.first()) {
        (Some(c), _) => format!("- Concern: {c}"),
        (None, Some(a)) => format!("- Suggested: {a}"),
        (None, None) => "(none)".into(),
    };
    assert_eq!(lines.next(), Some(first.as_str()), "{md}");
    let at = |s: &str| concerns.find(s).unwrap_or_else(|| panic!("{s} missing from {md}"));
    assert!(at(&first) < at("\nGrounding: ") && at("\nGrounding: ") < at("_Extracted by "), "{md}");
    assert!(
        at("_Extracted by ") < at("_Quality: on examples/data/extraction/heldout") && at("_Quality: ") < at("## Voice")
    );
    // Topic names say only what their evidence says; one named by its category is not named
    // twice ("**Family** — family").
    use interview_insight::llama_extract::extract::ground;
    for t in &e.topics {
        let quotes: Vec<&str> = t.evidence.iter().map(|q| q.quote.as_str()).collect();
        assert!(ground::label_is_grounded(&t.label, &quotes, t.category), "{t:?}");
    }
    for line in md.lines().filter(|l| l.starts_with("- **") && l.contains("** — ")) {
        let (category, rest) = line[4..].split_once("** — ").unwrap();
        assert!(!rest.split(':').next().unwrap().eq_ignore_ascii_case(category), "{line}");
    }
    assert!(r.inputs.iter().any(|i| i.role == "language_model"));
    assert!(r.inputs.iter().any(|i| i.role == "adapter"));
    assert!(!r.not_run.iter().any(|n| n.starts_with("extraction")));
    assert!(r.timings_ms.contains_key("extraction"));
}

/// With an f16 KV cache the demo's extraction is still grounded and valid, and the report says
/// how the model ran (the f32 default says nothing).
#[test]
fn an_f16_kv_cache_extracts_and_the_report_says_so() {
    let model = interview_insight::llama_extract::models_dir().join("SmolLM2-135M-Instruct.Q4_1.gguf");
    let run = |precision| {
        Pipeline::builder()
            .language_model(&model)
            .adapter(demo("../adapters/smollm2-135m-extraction"))
            .kv_cache(precision)
            .extract_options(ExtractOptions { max_new_tokens: 96, ..ExtractOptions::default() })
            .build()
            .unwrap()
            .run(&SessionInput { audio: None, ..demo_input() })
            .unwrap()
    };
    let r = run(interview_insight::llama_extract::KvPrecision::F16);
    let e = r.extraction.as_ref().unwrap();
    assert!(e.well_formed && !e.emotions.is_empty(), "{e:?}");
    assert!(e.emotions.iter().flat_map(|x| &x.evidence).all(|q| q.verified && q.utterance_index % 2 == 1));
    assert!(r.notices.iter().any(|n| n.contains("keys and values in f16")), "{:?}", r.notices);
    let f32_run = run(interview_insight::llama_extract::KvPrecision::F32);
    assert!(!f32_run.notices.iter().any(|n| n.contains("f16")), "{:?}", f32_run.notices);
}

/// A session with audio and no transcript is transcribed locally (Whisper tiny.en), then cleaned,
/// aligned with the voice and extracted; the report names the ASR model and marks the text
/// machine-made; `force_asr` transcribes even when the transcript file exists.
#[test]
fn audio_without_a_transcript_is_transcribed_and_extracted() {
    let model = interview_insight::llama_extract::models_dir().join("SmolLM2-135M-Instruct.Q4_1.gguf");
    let whisper = interview_insight::asr::default_model_dir();
    assert!(whisper.join("model.bin").exists(), "{} is missing: run `bash scripts/fetch-models.sh`", whisper.display());
    let builder = || {
        Pipeline::builder()
            .ser_model(demo("ser"))
            .asr_model(&whisper)
            .language_model(&model)
            .extract_options(ExtractOptions { max_new_tokens: 96, ..ExtractOptions::default() })
    };
    let r = builder().build().unwrap().run(&SessionInput { transcript: None, ..demo_input() }).unwrap();
    match &r.transcript_source {
        Some(interview_insight::report::TranscriptSource::Asr {
            model, model_sha256, machine_made, segments, ..
        }) => {
            assert_eq!(model, "whisper-tiny.en");
            assert_eq!(model_sha256, "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a");
            assert!(*machine_made && *segments >= 8, "{segments} segments");
        }
        other => panic!("transcript source {other:?}"),
    }
    assert!(r.notices.iter().any(|n| n.contains("machine-made")));
    assert!(r.inputs.iter().any(|i| i.role == "asr_model" && i.name == "model.bin"));
    assert!(!r.inputs.iter().any(|i| i.role == "transcript"));
    // The demo's words come back: sleep, work, friends, the dog, the sister.
    let text: String = r.utterances.iter().map(|u| u.text.to_lowercase() + " ").collect();
    for word in ["sleep", "work", "deadlines", "dog", "sister"] {
        assert!(text.contains(word), "{word} missing from {text}");
    }
    assert!(r.utterances.iter().all(|u| u.speaker == "unknown" && u.start_s.is_some() && u.voice.is_some()));
    let times: Vec<f64> = r.utterances.iter().map(|u| u.start_s.unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]) && *times.last().unwrap() < 57.7);
    let e = r.extraction.as_ref().unwrap();
    assert!(e.well_formed);
    let cited: Vec<usize> = e
        .emotions
        .iter()
        .flat_map(|x| &x.evidence)
        .chain(e.topics.iter().flat_map(|t| &t.evidence))
        .map(|q| q.utterance_index)
        .chain(e.key_phrases.iter().map(|k| k.utterance_index))
        .collect();
    assert!(!cited.is_empty(), "the extraction cites ASR utterances");
    assert!(cited.iter().all(|&i| i < r.utterances.len()));
    assert!(e.emotions.iter().flat_map(|x| &x.evidence).all(|q| q.verified));
    // No speaker is named: the questions are read as the interviewer's, so no feeling is
    // quoted from one, and the report says how the speakers were read.
    let asks = |i: usize| interview_insight::llama_extract::extract::roles::reads_as_interviewer(&r.utterances[i].text);
    assert!(e.emotions.iter().flat_map(|x| &x.evidence).all(|q| !asks(q.utterance_index)), "{:?}", e.emotions);
    assert!(r.notices.iter().any(|n| n.contains("read the turns that ask")), "{:?}", r.notices);
    // Every row says what it was read as: the questions as the interviewer's, the rest as the
    // participant's; the table shows it.
    for u in &r.utterances {
        let want = if asks(u.index) { "interviewer" } else { "participant" };
        assert_eq!(u.read_as.as_deref(), Some(want), "{}", u.text);
    }
    assert!(r.utterances.iter().any(|u| u.read_as.as_deref() == Some("participant")));
    // The transcript's numbers count them: none labelled, the rest read so.
    let t = r.transcript.as_ref().unwrap();
    let read = r.utterances.iter().filter(|u| u.read_as.as_deref() == Some("participant")).count();
    assert_eq!((t.participant_utterances, t.read_as_participant), (0, read));
    let md = r.to_markdown("report.svg");
    assert!(md.contains(&format!("(0 participant, {read} more read as the participant's by extraction)")), "{md}");
    assert!(md.contains("machine-made by speech-to-text (whisper-tiny.en"));
    assert!(md.contains("| unknown → participant |"), "{md}");

    // With the transcript given, the file wins unless ASR is forced.
    let with_file = builder().build().unwrap().run(&demo_input()).unwrap();
    assert!(matches!(with_file.transcript_source, Some(interview_insight::report::TranscriptSource::File { .. })));
    assert!(with_file.utterances.iter().all(|u| u.read_as.is_none()), "the file names its speakers");
    assert_eq!(with_file.transcript.as_ref().unwrap().read_as_participant, 0);
    let forced = builder().force_asr(true).build().unwrap().run(&demo_input()).unwrap();
    assert!(matches!(forced.transcript_source, Some(interview_insight::report::TranscriptSource::Asr { .. })));
    assert_eq!(forced.utterances.len(), r.utterances.len());
    assert!(Pipeline::builder().force_asr(true).build().is_err(), "--asr without a model is an error");
}

/// The speech-to-text model loads on the first session that needs it: sessions with transcripts
/// never read its weights (a folder whose `model.bin` is not a model runs them fine), a session
/// with audio only gets the load's typed error naming the file, and a folder without the model's
/// files is refused when the pipeline is built.
#[test]
fn the_speech_to_text_model_loads_only_when_a_session_needs_it() {
    let dir = std::env::temp_dir().join(format!("insight-lazy-asr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("model.bin"), b"not a CTranslate2 model").unwrap();
    std::fs::write(dir.join("config.json"), b"{}").unwrap();
    std::fs::write(dir.join("tokenizer.json"), b"{}").unwrap();
    let pipeline = Pipeline::builder().ser_model(demo("ser")).asr_model(&dir).build().unwrap();
    let with_file = pipeline.run(&demo_input()).unwrap();
    assert!(matches!(with_file.transcript_source, Some(interview_insight::report::TranscriptSource::File { .. })));
    assert!(!with_file.inputs.iter().any(|i| i.role == "asr_model"));
    let err = pipeline.run(&SessionInput { transcript: None, ..demo_input() }).unwrap_err();
    assert!(err.to_string().contains("model.bin"), "{err}");

    std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
    let err = Pipeline::builder().asr_model(&dir).build().err().expect("a folder without tokenizer.json");
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
