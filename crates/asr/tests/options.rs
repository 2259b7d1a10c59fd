//! Decoding options beyond the golden greedy run: beam search, temperature fallback, and the
//! writers' output of a real transcription.

mod common;

use asr::{Asr, LoadOptions, TranscribeOptions, WeightPrecision};
use common::{clip, model};

const REFERENCE_0870: &str = "and mister john dashwood had then leisure to consider how much there might be prudently in his power to do for them";

#[test]
fn beam_search_transcribes_as_well_as_greedy() {
    let asr = model();
    let greedy = asr.transcribe(&clip("librivox_0870"), &TranscribeOptions::greedy()).unwrap();
    let beam = asr
        .transcribe(&clip("librivox_0870"), &TranscribeOptions { beam_size: 5, ..TranscribeOptions::greedy() })
        .unwrap();
    let (g, b) =
        (asr::wer::word_errors(REFERENCE_0870, &greedy.text()), asr::wer::word_errors(REFERENCE_0870, &beam.text()));
    assert!(b.rate() <= g.rate() + 0.05, "beam {} ({}) vs greedy {}", b.rate(), beam.text(), g.rate());
    assert!(!beam.segments.is_empty() && beam.segments.iter().all(|s| s.start_s < s.end_s));
    assert_eq!(beam.windows[0].temperature, 0.0);
}

#[test]
fn two_threads_compute_what_one_thread_computes() {
    // Every split (gemm over frames, attention by query blocks and by heads, half-precision and
    // 8-bit matrix-vector products by rows, 8-bit panels by frames) divides outputs, never a
    // sum, so the results are bit-identical, in both precisions.
    let samples = clip("cards_002");
    for precision in [WeightPrecision::F32, WeightPrecision::Q8] {
        let load = |threads| Asr::load(&asr::default_model_dir(), LoadOptions { precision, threads }).unwrap();
        let (one, two) = (load(1), load(2));
        let frames = asr::mel::LogMel::content_frames(samples.len()).min(asr::mel::WINDOW_FRAMES);
        let mel =
            one.front_end().window(&samples, one.front_end().recording_max(&samples).unwrap(), 0, frames).unwrap();
        let enc1 = one.install(|| one.model().encode(&mel, 1)).unwrap();
        let enc2 = two.install(|| two.model().encode(&mel, 2)).unwrap();
        assert!(enc1 == enc2, "{precision:?}: encoder outputs differ between 1 and 2 threads");
        let (a, b) = (
            one.transcribe(&samples, &TranscribeOptions::greedy()).unwrap(),
            two.transcribe(&samples, &TranscribeOptions::greedy()).unwrap(),
        );
        assert_eq!(a.segments, b.segments, "{precision:?}");
    }
}

#[test]
fn failed_windows_fall_back_to_higher_temperatures() {
    let asr = model();
    // A compression-ratio threshold no text can meet: every temperature is tried, and the
    // likeliest result is kept.
    let options = TranscribeOptions {
        compression_ratio_threshold: Some(0.01),
        temperatures: vec![0.0, 0.5, 1.0],
        best_of: 2,
        seed: 7,
        ..TranscribeOptions::default()
    };
    let r = asr.transcribe(&clip("librivox_0930"), &options).unwrap();
    let w = &r.windows[0];
    assert!([0.0, 0.5, 1.0].contains(&w.temperature));
    assert!(!r.text().is_empty());
    // Reproducible with the same seed.
    let again = asr.transcribe(&clip("librivox_0930"), &options).unwrap();
    assert_eq!(again.text(), r.text());
    // With the default thresholds the clean clip passes at temperature 0.
    let plain = asr.transcribe(&clip("librivox_0930"), &TranscribeOptions::default()).unwrap();
    assert_eq!(plain.windows[0].temperature, 0.0);
    assert_eq!(plain.text(), "He might even have been made amiable himself.");
}

#[test]
fn a_transcription_writes_as_subtitles_and_daic_tsv_that_parse_back() {
    let asr = model();
    let r = asr.transcribe(&clip("cards_005"), &TranscribeOptions::greedy()).unwrap();
    let t = asr::to_transcript(&r);
    for (text, format) in [
        (text_clean::write_vtt(&t).unwrap(), text_clean::Format::Vtt),
        (text_clean::write_srt(&t).unwrap(), text_clean::Format::Srt),
        (text_clean::write_daic_tsv(&t).unwrap(), text_clean::Format::Daic),
    ] {
        let back = text_clean::parse_bytes(text.as_bytes(), Some(format)).unwrap();
        assert_eq!(back.utterances.len(), t.utterances.len(), "{format:?}");
        for (a, b) in back.utterances.iter().zip(&t.utterances) {
            assert_eq!(a.text, b.text);
            assert!((a.start_s.unwrap() - b.start_s.unwrap()).abs() < 1e-3);
        }
    }
}
