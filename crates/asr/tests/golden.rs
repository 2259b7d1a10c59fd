//! Whisper tiny.en against faster-whisper 1.2.1 / CTranslate2 4.8.5 goldens
//! (`tests/fixtures`, copied and cut down from `shared/golden/asr` by `make_fixtures.py`),
//! with SPEC.md §6's tolerances: mel ≤ 1e-4, encoder ≤ 1e-3, logits ≤ 1e-3, tokens, prompts,
//! seeks and text exact, log-probs ≤ 1e-4, no-speech probability ≤ 1e-5.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use asr::{ModelBin, TranscribeOptions, Transcription};
use common::{clip, fixtures, json, max_abs_diff, model, npy};

/// A clip's greedy transcription, decoded once per test binary: the parity tests and the
/// word-error-rate test read the same run (the tests share two cores in CI).
fn greedy(name: &str) -> Arc<Transcription> {
    type Slot = Arc<OnceLock<Arc<Transcription>>>;
    static RUNS: OnceLock<Mutex<HashMap<String, Slot>>> = OnceLock::new();
    let slot: Slot = {
        let mut runs = RUNS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
        runs.entry(name.to_string()).or_default().clone()
    };
    slot.get_or_init(|| Arc::new(model().transcribe(&clip(name), &TranscribeOptions::greedy()).unwrap())).clone()
}

#[test]
fn model_bin_layout_matches_the_golden_listing() {
    let bin = ModelBin::open(&asr::default_model_dir().join("model.bin")).unwrap();
    let layout = json(&fixtures().join("model_layout.json"));
    assert_eq!(bin.binary_version, 6);
    assert_eq!(bin.spec_name, "WhisperSpec");
    assert_eq!(bin.spec_revision, 3);
    let vars = layout["variables"].as_array().unwrap();
    assert_eq!(bin.variables.len(), vars.len());
    for v in vars {
        let name = v["name"].as_str().unwrap();
        let got = &bin.variables[name];
        let shape: Vec<usize> = v["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap() as usize).collect();
        assert_eq!(got.shape, shape, "{name}");
        assert_eq!(got.offset as u64, v["offset"].as_u64().unwrap(), "{name}");
    }
    assert_eq!(bin.aliases["decoder/projection/weight"], "decoder/embeddings/weight");
    assert_eq!(bin.scalar_i64("encoder/num_heads").unwrap(), 6);
    assert_eq!(bin.scalar_i64("decoder/activation").unwrap(), 3);
    let dims = model().model().dims;
    assert_eq!((dims.d_model, dims.encoder_layers, dims.decoder_layers, dims.n_vocab), (384, 4, 4, 51864));
}

#[test]
fn mel_filters_and_windows_match_faster_whisper() {
    let asr = model();
    let (_, filters) = npy(&fixtures().join("mel/mel_filters_80x201.npy"));
    let err = max_abs_diff(&asr.front_end().filters().data, &filters);
    assert!(err < 1e-8, "filters differ by {err}");
    for name in ["librivox_0880", "cards_005", "librivox_0870"] {
        let (shape, want) = npy(&fixtures().join(format!("mel/{name}.npy")));
        let real = shape[1] as usize;
        let samples = clip(name);
        let max = asr.front_end().recording_max(&samples).unwrap();
        let content = asr::mel::LogMel::content_frames(samples.len());
        assert_eq!(content, real, "{name}: content frames");
        let got = asr.front_end().window(&samples, max, 0, content).unwrap();
        let mut err = 0f32;
        for m in 0..80 {
            for t in 0..3000 {
                let w = if t < real { want[m * real + t] } else { 0.0 };
                err = err.max((got[m * 3000 + t] - w).abs());
            }
        }
        assert!(err <= 1e-4, "{name}: mel max abs diff {err}");
    }
}

#[test]
fn encoder_output_matches_ctranslate2() {
    let asr = model();
    let samples = clip("librivox_0880");
    let max = asr.front_end().recording_max(&samples).unwrap();
    let mel = asr.front_end().window(&samples, max, 0, asr::mel::LogMel::content_frames(samples.len())).unwrap();
    let enc = asr.model().encode(&mel, 1).unwrap();
    let (_, want) = npy(&fixtures().join("encoder/librivox_0880_every10.npy"));
    let got: Vec<f32> = enc.chunks_exact(384).step_by(10).flatten().copied().collect();
    let err = max_abs_diff(&got, &want);
    assert!(err <= 1e-3, "encoder max abs diff {err}");

    // First-step logits, unmasked, for [SOT] and for [SOT, <|notimestamps|>].
    let cross = asr.model().cross_kv(&enc, 1).unwrap();
    for (prompt, file) in [
        (vec![50257u32], "librivox_0880_step0_raw.npy"),
        (vec![50257, 50362], "librivox_0880_notimestamps_step0_raw.npy"),
    ] {
        let mut cache = asr.model().new_cache();
        let logits = asr.model().decode(&prompt, &mut cache, &cross, 1, None, asr::model::Logits::Last).unwrap();
        let (_, want) = npy(&fixtures().join("logits").join(file));
        let err = max_abs_diff(&logits, &want);
        assert!(err <= 1e-3, "{file}: logits max abs diff {err}");
    }
}

fn check_clip(name: &str) {
    let golden = json(&fixtures().join(format!("decode/{name}.json")));
    assert_eq!(clip(name).len() as u64, golden["audio"]["n_samples"].as_u64().unwrap(), "{name}: samples");
    let result = greedy(name);
    let windows = golden["windows"].as_array().unwrap();
    let ids = |v: &serde_json::Value| -> Vec<u32> {
        v.as_array().unwrap().iter().map(|t| t.as_u64().unwrap() as u32).collect()
    };
    for (got, want) in result.windows.iter().zip(windows) {
        assert_eq!(got.seek as u64, want["seek"].as_u64().unwrap(), "{name}: seek");
        assert_eq!(got.prompt, ids(&want["prompt"]), "{name}: prompt at seek {}", got.seek);
        assert_eq!(got.tokens, ids(&want["tokens"]), "{name}: tokens at seek {}", got.seek);
        let dl = (got.avg_logprob - want["avg_logprob"].as_f64().unwrap()).abs();
        assert!(dl <= 1e-4, "{name}: avg_logprob off by {dl}");
        for (a, b) in got.token_logprobs.iter().zip(want["token_logprobs_incl_eot"].as_array().unwrap()) {
            assert!((f64::from(*a) - b.as_f64().unwrap()).abs() <= 1e-4, "{name}: token log-prob {a} vs {b}");
        }
        let dn = (f64::from(got.no_speech_prob) - want["no_speech_prob"].as_f64().unwrap()).abs();
        assert!(dn <= 1e-5, "{name}: no_speech_prob off by {dn}");
        assert_eq!(got.skipped_no_speech, want["skipped_no_speech"].as_bool().unwrap(), "{name}");
    }
    assert_eq!(result.windows.len(), windows.len(), "{name}: windows");
    let segments = golden["segments"].as_array().unwrap();
    assert_eq!(result.segments.len(), segments.len(), "{name}: segments");
    for (got, want) in result.segments.iter().zip(segments) {
        assert_eq!(got.text, want["text"].as_str().unwrap(), "{name}");
        assert!((got.start_s - want["start"].as_f64().unwrap()).abs() <= 0.02, "{name}: start {}", got.start_s);
        assert!((got.end_s - want["end"].as_f64().unwrap()).abs() <= 0.02, "{name}: end {}", got.end_s);
        assert_eq!(got.tokens, ids(&want["tokens"]), "{name}: segment tokens");
    }
    assert_eq!(result.text(), golden["text"].as_str().unwrap(), "{name}: text");
}

#[test]
fn librivox_clips_decode_like_faster_whisper() {
    for name in ["librivox_0870", "librivox_0880", "librivox_0890", "librivox_0920", "librivox_0930"] {
        check_clip(name);
    }
}

#[test]
fn cards_clips_decode_like_faster_whisper() {
    for name in ["cards_001", "cards_002", "cards_003", "cards_004", "cards_005"] {
        check_clip(name);
    }
}

#[test]
fn espeak_clips_decode_like_faster_whisper() {
    for name in ["espeak_01", "espeak_02", "espeak_03"] {
        check_clip(name);
    }
}

#[test]
fn long_clip_seeks_and_conditions_like_faster_whisper() {
    check_clip("long_concat");
}

/// Word timestamps (alignment heads + DTW) within 0.1 s of faster-whisper's `word_timestamps=True`.
#[test]
fn word_timestamps_match_faster_whisper() {
    let asr = model();
    let mut names = common::clip_names();
    names.push("long_concat".into());
    let options = TranscribeOptions { word_timestamps: true, ..TranscribeOptions::greedy() };
    let mut worst = 0f64;
    for name in names {
        let golden = json(&fixtures().join(format!("words/{name}.json")));
        let result = asr.transcribe(&clip(&name), &options).unwrap();
        let want_segments = golden["segments"].as_array().unwrap();
        assert_eq!(result.segments.len(), want_segments.len(), "{name}: segments");
        for (got, want) in result.segments.iter().zip(want_segments) {
            assert_eq!(got.text, want["text"].as_str().unwrap(), "{name}");
            let words = want["words"].as_array().unwrap();
            let got_words: Vec<&str> = got.words.iter().map(|w| w.word.as_str()).collect();
            let want_words: Vec<&str> = words.iter().map(|w| w["word"].as_str().unwrap()).collect();
            assert_eq!(got_words, want_words, "{name}");
            for (g, w) in got.words.iter().zip(words) {
                let ds = (g.start_s - w["start"].as_f64().unwrap()).abs();
                let de = (g.end_s - w["end"].as_f64().unwrap()).abs();
                worst = worst.max(ds).max(de);
                assert!(
                    ds <= 0.1 && de <= 0.1,
                    "{name}: {:?} at {}–{} vs {}–{}",
                    g.word,
                    g.start_s,
                    g.end_s,
                    w["start"],
                    w["end"]
                );
                assert!(
                    (f64::from(g.probability) - w["probability"].as_f64().unwrap()).abs() < 1e-3,
                    "{name}: {:?} probability",
                    g.word
                );
            }
            assert!((got.start_s - want["start"].as_f64().unwrap()).abs() <= 0.1, "{name}: segment start");
            assert!((got.end_s - want["end"].as_f64().unwrap()).abs() <= 0.1, "{name}: segment end");
        }
    }
    eprintln!("word timestamps: worst difference {worst:.3} s");
}

/// Word error rate on the 13 golden clips, ours against faster-whisper's (`wer.json`), with the
/// golden normalisation: no worse, clip by clip and overall.
#[test]
fn word_error_rate_is_no_worse_than_faster_whisper() {
    let golden = json(&fixtures().join("wer.json"));
    let clips = json(&fixtures().join("audio/clips.json"));
    let mut ours = asr::wer::WordErrors::default();
    let mut theirs = asr::wer::WordErrors::default();
    for name in common::clip_names() {
        let reference = clips[&name]["reference"].as_str().unwrap();
        let text = greedy(&name).text();
        let e = asr::wer::word_errors(reference, &text);
        let g = &golden["per_clip"][&name];
        let fw = asr::wer::word_errors(reference, g["hypothesis"].as_str().unwrap());
        assert_eq!(
            fw.substitutions + fw.deletions + fw.insertions,
            (g["substitutions"].as_u64().unwrap()
                + g["deletions"].as_u64().unwrap()
                + g["insertions"].as_u64().unwrap()) as usize,
            "{name}: our WER scoring disagrees with the golden's"
        );
        assert!(e.rate() <= fw.rate() + 1e-12, "{name}: WER {} vs faster-whisper {}", e.rate(), fw.rate());
        ours.add(e);
        theirs.add(fw);
    }
    eprintln!(
        "WER ours {:.3} ({} edits / {} words), faster-whisper {:.3}",
        ours.rate(),
        ours.substitutions + ours.deletions + ours.insertions,
        ours.reference_words,
        theirs.rate()
    );
    assert!(ours.rate() <= theirs.rate());
}
