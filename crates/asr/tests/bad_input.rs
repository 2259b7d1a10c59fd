//! Bad input: truncated and corrupted model files, a model of another architecture, audio of
//! 0 s, pure silence, NaN samples; and a long recording's windows computed in bounded memory.

mod common;

use asr::model_bin::{DType, write_model_bin};
use asr::{Asr, AsrError, LoadOptions, ModelBin, TranscribeOptions, WeightPrecision, Whisper};
use common::model;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("asr-bad-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn truncated_or_corrupted_model_files_are_errors_naming_the_file() {
    let real = std::fs::read(asr::default_model_dir().join("model.bin")).unwrap();
    let dir = temp_dir("truncated");
    for f in ["config.json", "tokenizer.json", "vocabulary.txt"] {
        std::fs::copy(asr::default_model_dir().join(f), dir.join(f)).unwrap();
    }
    for cut in [0, 3, 100, 187, 190, real.len() / 2, real.len() - 1] {
        std::fs::write(dir.join("model.bin"), &real[..cut]).unwrap();
        let e = Asr::load(&dir, LoadOptions::default()).err().unwrap_or_else(|| panic!("cut at {cut} loaded"));
        assert!(matches!(e, AsrError::ModelFile { .. }), "cut at {cut}: {e}");
        assert!(e.to_string().contains("model.bin"), "{e}");
    }
    // One flipped dtype byte (the first variable's, right after its 1-byte rank... and scalar).
    let mut corrupt = real.clone();
    corrupt[0] = 9;
    std::fs::write(dir.join("model.bin"), &corrupt).unwrap();
    assert!(Asr::load(&dir, LoadOptions::default()).err().unwrap().to_string().contains("binary version 9"));
    // A tokenizer.json that is not JSON.
    std::fs::write(dir.join("model.bin"), &real).unwrap();
    std::fs::write(dir.join("tokenizer.json"), b"{not json").unwrap();
    assert!(matches!(Asr::load(&dir, LoadOptions::default()), Err(AsrError::Tokenizer(_))));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_model_of_another_architecture_is_refused() {
    let w: Vec<u8> = [0.5f32; 4].iter().flat_map(|v| v.to_le_bytes()).collect();
    let image =
        write_model_bin("TransformerSpec", 7, &[("encoder/layer_0/ffn/linear_0/weight", &[2, 2], DType::F32, &w)], &[]);
    let bin = ModelBin::from_bytes(image).unwrap();
    let e = Whisper::from_model_bin(&bin, WeightPrecision::F32).err().unwrap();
    assert!(matches!(e, AsrError::Unsupported(_)) && e.to_string().contains("TransformerSpec"), "{e}");
    // A Whisper spec missing its tensors.
    let bin = ModelBin::from_bytes(write_model_bin("WhisperSpec", 3, &[], &[])).unwrap();
    assert!(matches!(Whisper::from_model_bin(&bin, WeightPrecision::F32), Err(AsrError::Model(_))));
}

#[test]
fn empty_silent_and_nan_audio() {
    let asr = model();
    let options = TranscribeOptions::default();
    // 0 s and a few samples: nothing to transcribe.
    for n in [0, 1, 159] {
        let r = asr.transcribe(&vec![0.0; n], &options).unwrap();
        assert!(r.segments.is_empty() && r.windows.is_empty(), "{n} samples");
    }
    // 20 s of digital silence: the model calls it silence, no hallucinated text.
    let r = asr.transcribe(&vec![0.0; 20 * 16_000], &options).unwrap();
    assert!(r.segments.is_empty(), "silence produced {:?}", r.text());
    assert!(r.windows.iter().all(|w| w.skipped_no_speech));
    // Also through the VAD path: nothing is speech, nothing is decoded.
    let r =
        asr::transcribe_speech(asr, &vec![0.0; 20 * 16_000], &asr::SpeechOptions::default(), &mut |_, _| {}).unwrap();
    assert!(r.segments.is_empty() && r.windows.is_empty());
    // A NaN sample is an error saying where.
    let mut x = vec![0.0f32; 32_000];
    x[16_000] = f32::NAN;
    let e = asr.transcribe(&x, &options).unwrap_err();
    assert!(matches!(e, AsrError::Audio(_)) && e.to_string().contains("1.000 s"), "{e}");
}

#[test]
fn vad_guided_transcription_keeps_the_recordings_times() {
    let asr = model();
    // Clip with 10 s of silence in front: the text is the same, the times move by 10 s.
    let clip = common::clip("librivox_0880");
    let mut padded = vec![0.0f32; 10 * 16_000];
    padded.extend(&clip);
    let r = asr::transcribe_speech(
        asr,
        &padded,
        &asr::SpeechOptions { transcribe: TranscribeOptions::greedy(), ..Default::default() },
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(r.text(), "He was not an old-sposed young man.");
    assert!(r.speech_s < 5.0 && r.duration_s > 12.9, "only the speech is heard: {} of {} s", r.speech_s, r.duration_s);
    let s = &r.segments[0];
    assert!(s.start_s >= 9.9 && s.end_s <= 13.0, "{} – {}", s.start_s, s.end_s);
    let t = asr::to_transcript(&r);
    assert_eq!(t.utterances[0].speaker, text_clean::Speaker::Other("unknown".into()));
    assert_eq!(t.utterances[0].start_s, Some(s.start_s));
}

#[test]
fn q8_weights_transcribe_the_clips() {
    let q8 = common::load(WeightPrecision::Q8);
    // Decoder and embedding in 8 bits (1.06 bytes a weight against the f32 build's float16).
    let (q, f) = (q8.model().weight_bytes(), model().model().weight_bytes());
    assert!(q * 4 < f * 3, "Q8 {q} bytes vs {f}");
    let r = q8.transcribe(&common::clip("librivox_0870"), &TranscribeOptions::greedy()).unwrap();
    let e = asr::wer::word_errors(
        "and mister john dashwood had then leisure to consider how much there might be prudently in his power to do for them",
        &r.text(),
    );
    assert!(e.rate() <= 0.1, "{} ({})", e.rate(), r.text());
}

#[test]
fn windows_of_a_long_recording_need_memory_for_one_window_only() {
    // 10 minutes of a tone: each window's mel is computed from its own samples.
    let asr = model();
    let x: Vec<f32> = (0..600 * 16_000).map(|i| (i as f32 * 0.05).sin() * 0.1).collect();
    let max = asr.front_end().recording_max(&x).unwrap();
    let a = asr.front_end().window(&x, max, 0, 3000).unwrap();
    let b = asr.front_end().window(&x, max, 57_000, 3000).unwrap();
    assert_eq!(a.len(), 80 * 3000);
    assert_eq!(b.len(), 80 * 3000);
    // A stationary tone: the two windows agree away from the edges.
    assert!((a[40 * 3000 + 1500] - b[40 * 3000 + 1500]).abs() < 1e-3);
}
