//! Fuzz entry points, one function per target.
//!
//! The libFuzzer binaries in `fuzz_targets/` call these, and so does the stable corpus-replay
//! test (`crates/interview-insight/tests/fuzz_corpus.rs`, which includes this file by path), so
//! the seeds and every crash input found so far run in the ordinary test suite too. Each
//! function must not panic on any input; where a property holds (round trips, idempotence,
//! "accepted implies valid"), it is asserted.
//!
//! This file names only the workspace crates, never `libfuzzer_sys`, so it compiles anywhere.

use std::path::Path;

/// A target's entry point: takes the fuzzer's bytes, panics only on a bug.
pub type EntryPoint = fn(&[u8]);

/// Every target: its name (the `fuzz_targets/<name>.rs` binary and `corpus/<name>/` folder) and
/// entry point.
pub const TARGETS: &[(&str, EntryPoint)] = &[
    ("transcript_parsers", transcript_parsers),
    ("text_clean", text_clean),
    ("audio_decode", audio_decode),
    ("gguf", gguf),
    ("gguf_tokenizer", gguf_tokenizer),
    ("peft_adapter", peft_adapter),
    ("ravdess_manifest", ravdess_manifest),
    ("extraction", extraction),
    ("ct2_model", ct2_model),
];

/// Every transcript parser (auto-detected and each forced format), then the cleaner on what
/// parses: cleaning is idempotent.
pub fn transcript_parsers(data: &[u8]) {
    use text_clean::{Cleaner, Format, parse_bytes};
    let cleaner = Cleaner::default();
    for format in [None, Some(Format::Daic), Some(Format::Plain), Some(Format::Vtt), Some(Format::Srt)] {
        if let Ok(transcript) = parse_bytes(data, format) {
            for u in &transcript.utterances {
                assert!(u.start_s.zip(u.end_s).is_none_or(|(s, e)| s <= e), "utterance ends before it starts");
                let once = cleaner.clean_text(&u.text).text;
                assert_eq!(cleaner.clean_text(&once).text, once);
            }
        }
    }
}

/// The cleaner on arbitrary text, in every mode (picked by the first byte): idempotent, never
/// more words out than in, and the counts agree with the removals listed.
pub fn text_clean(data: &[u8]) {
    use text_clean::{CleanConfig, CleanMode, Cleaner, FillerPosition};
    let Some((&mode, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let config = CleanConfig::default()
        .with_mode(if mode & 1 == 0 { CleanMode::InterjectionsAndFillers } else { CleanMode::InterjectionsOnly })
        .with_filler_position(if mode & 2 == 0 { FillerPosition::Discourse } else { FillerPosition::Anywhere });
    let cleaner = Cleaner::new(config);
    let once = cleaner.clean_text(text);
    let twice = cleaner.clean_text(&once.text);
    assert_eq!(twice.text, once.text, "cleaning is not idempotent");
    let s = &once.stats;
    assert!(s.words_out <= s.words_in, "{} words out of {}", s.words_out, s.words_in);
    assert_eq!(s.interjections_removed + s.fillers_removed, once.removed.len());
    assert!(s.disfluency_per_100_words.is_finite() && s.disfluency_per_100_words >= 0.0);
}

/// Audio decoding (WAV, FLAC, MP3, OGG probed from the bytes): a clip that decodes is
/// consistent with itself.
pub fn audio_decode(data: &[u8]) {
    if let Ok(audio) = audio_dsp::decode_bytes(data) {
        assert!(audio.sample_rate > 0 && audio.channels_in > 0);
        assert!(audio.samples.len() as u64 <= audio_dsp::MAX_FRAMES);
        let expected = audio.samples.len() as f64 / f64::from(audio.sample_rate);
        assert!((audio.duration - expected).abs() < 1e-9);
    }
}

/// The GGUF reader (header, metadata, tensor table, data bounds), then the Llama config and the
/// tokenizer built from its metadata.
pub fn gguf(data: &[u8]) {
    use llama_extract::{GgufFile, LlamaConfig, LlamaTokenizer};
    let Ok(file) = GgufFile::from_bytes(data.to_vec()) else { return };
    for info in file.tensors.iter() {
        let _ = file.tensor_data(info);
    }
    let _ = LlamaConfig::from_gguf(&file);
    let _ = LlamaTokenizer::from_gguf(&file);
}

/// The tokenizer built from GGUF metadata, with the metadata itself taken from the input (random
/// bytes almost never reach it through [`gguf`]). Layout: byte 0 picks the pre-tokenizer,
/// bytes 1–2 the BOS and EOS ids, then `\u{1}`-separated sections of UTF-8: tokens (one per
/// line), merges (one per line), token types (one digit each) and a text to encode.
/// Encoded ids are in the vocabulary; decoding them works.
pub fn gguf_tokenizer(data: &[u8]) {
    use llama_extract::runtime::gguf::write_gguf;
    use llama_extract::{GgufFile, GgufValue, LlamaTokenizer};
    let [pre, bos, eos, rest @ ..] = data else { return };
    let text = String::from_utf8_lossy(rest);
    let mut sections = text.split('\u{1}');
    let lines = |s: Option<&str>| -> Vec<GgufValue> {
        s.unwrap_or("").split('\n').filter(|l| !l.is_empty()).map(|l| GgufValue::String(l.to_string())).collect()
    };
    let tokens = lines(sections.next());
    let merges = lines(sections.next());
    let types: Vec<GgufValue> =
        sections.next().unwrap_or("").bytes().map(|b| GgufValue::I32(i32::from(b.wrapping_sub(b'0')))).collect();
    let input = sections.next().unwrap_or("hello world");
    let pre_name = ["smollm", "llama-bpe", "default", "gpt-2", "qwen2"][usize::from(*pre) % 5];
    let image = write_gguf(
        &[
            ("tokenizer.ggml.model", GgufValue::String("gpt2".into())),
            ("tokenizer.ggml.pre", GgufValue::String(pre_name.into())),
            ("tokenizer.ggml.tokens", GgufValue::Array(tokens)),
            ("tokenizer.ggml.merges", GgufValue::Array(merges)),
            ("tokenizer.ggml.token_type", GgufValue::Array(types)),
            ("tokenizer.ggml.bos_token_id", GgufValue::U32(u32::from(*bos))),
            ("tokenizer.ggml.eos_token_id", GgufValue::U32(u32::from(*eos))),
        ],
        &[],
    );
    let Ok(file) = GgufFile::from_bytes(image) else { return };
    let Ok(tokenizer) = LlamaTokenizer::from_gguf(&file) else { return };
    for parse_special in [false, true] {
        if let Ok(ids) = tokenizer.encode(input, parse_special) {
            assert!(ids.iter().all(|&id| (id as usize) < tokenizer.vocab_size()), "id outside the vocabulary");
            let _ = tokenizer.decode(&ids, false);
        }
    }
    let _ = tokenizer.encode_prompt(input);
}

/// PEFT adapter loading: `adapter_config.json` then `adapter_model.safetensors`. Layout: a
/// little-endian u16 length, that many bytes of config JSON, the rest safetensors. A config
/// that does not parse is replaced by a rank-8 q/v config so the tensors are still read. An
/// adapter that loads writes back to bytes that load to the same adapter.
pub fn peft_adapter(data: &[u8]) {
    use lora::{LoraAdapter, LoraConfig};
    let [lo, hi, rest @ ..] = data else { return };
    let split = usize::from(u16::from_le_bytes([*lo, *hi])).min(rest.len());
    let (json, tensors) = rest.split_at(split);
    let config = std::str::from_utf8(json)
        .ok()
        .and_then(|j| LoraConfig::from_json(j).ok())
        .unwrap_or_else(|| LoraConfig::new(8, 16.0, &["q_proj", "v_proj"]));
    if let Ok(text) = config.to_json() {
        assert!(LoraConfig::from_json(&text).is_ok(), "a config we wrote does not read back");
    }
    let Ok(adapter) = LoraAdapter::from_safetensors(config.clone(), tensors) else { return };
    for pair in adapter.modules.values() {
        let _ = pair.delta(adapter.config.scaling());
    }
    let bytes = adapter.to_safetensors().expect("a loaded adapter serialises");
    let again = LoraAdapter::from_safetensors(config, &bytes).expect("a written adapter reads back");
    // NaN payloads compare unequal; compare bit patterns.
    let bits = |a: &LoraAdapter| -> Vec<u32> {
        a.modules.values().flat_map(|p| p.a.data.iter().chain(&p.b.data)).map(|v| v.to_bits()).collect()
    };
    assert_eq!(bits(&adapter), bits(&again));
}

/// RAVDESS file names (a parsed name prints back to a name that parses to the same record), the
/// SER training manifest and the batch manifest, on the same text.
pub fn ravdess_manifest(data: &[u8]) {
    use ser_bilstm::data::{RavdessName, parse_manifest};
    let Ok(text) = std::str::from_utf8(data) else { return };
    for line in text.lines().take(64) {
        if let Ok(name) = RavdessName::parse(line) {
            let printed = name.file_name();
            assert_eq!(RavdessName::parse(&printed).ok(), Some(name), "{printed}");
            assert!(name.label() < ser_bilstm::EMOTIONS.len());
        }
    }
    let here = Path::new("corpus/manifest.tsv");
    if let Ok(entries) = parse_manifest(text, here) {
        assert!(!entries.is_empty());
        assert!(entries.iter().all(|e| e.label < ser_bilstm::EMOTIONS.len()), "label outside the classes");
    }
    if let Ok(sessions) = interview_insight::batch::parse_manifest(text, Path::new("corpus/manifest.csv")) {
        for s in &sessions {
            assert!(!s.id.is_empty() && !s.id.contains(['/', '\\']), "session id {:?} is a path", s.id);
        }
    }
}

/// The constrained-decoding grammar and the extraction-output parser. The first line gives the
/// utterances (`|`-separated; those with a word to quote are offered, as the extractor does),
/// the rest is the answer. Oracles: a document the grammar accepts
/// in full passes the output parser (the grammar never admits what the schema forbids), and so
/// does the grammar's shortest completion of any accepted prefix.
pub fn extraction(data: &[u8]) {
    use llama_extract::extract::grammar::{Grammar, Narrowing, is_citable};
    use llama_extract::extract::parse_output;
    use llama_extract::extract::schema::model_output_schema;
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (head, answer) = text.split_once('\n').unwrap_or(("I can't sleep|work is fine", text));
    let utterances: std::collections::BTreeMap<u64, String> = head
        .split('|')
        .take(8)
        .enumerate()
        .filter(|(_, u)| is_citable(u))
        .map(|(i, u)| (i as u64, u.to_string()))
        .collect();
    let _ = parse_output(answer, 0..8);
    let Some(&last) = utterances.keys().max() else { return };
    let n = last as usize + 1;
    let narrowing =
        Narrowing { utterances, quotes_verbatim: true, default_max_chars: 64, default_max_items: 3, participant: None };
    let grammar = Grammar::from_schema(&model_output_schema(), &narrowing).expect("the shipped schema compiles");
    let mut matcher = grammar.matcher();
    let mut accepted = 0;
    for c in answer.chars() {
        if !matcher.feed(c) {
            break;
        }
        accepted += c.len_utf8();
    }
    let prefix = &answer[..accepted];
    if matcher.is_done() {
        assert!(parse_output(prefix, 0..n).is_some(), "accepted but invalid: {prefix}");
    }
    let completed = format!("{prefix}{}", matcher.completion());
    assert!(parse_output(&completed, 0..n).is_some(), "completion invalid: {completed}");
}

/// CTranslate2 `model.bin` reading (header, variable table, aliases; every variable's payload,
/// float conversion and scalars), then building a Whisper from what parsed. A file that parses
/// writes back (version 6) to bytes that parse to the same variables and aliases.
pub fn ct2_model(data: &[u8]) {
    use asr::model_bin::{DType, ModelBin, write_model_bin};
    let Ok(bin) = ModelBin::from_bytes(data.to_vec()) else { return };
    let mut payloads = Vec::new();
    for (name, v) in &bin.variables {
        let payload = bin.payload(name).expect("a parsed variable's payload is inside the file");
        assert_eq!(payload.len(), v.len);
        match v.dtype {
            DType::F32 | DType::F16 | DType::BF16 => {
                assert_eq!(bin.tensor_f32(name, &v.shape).expect("float variable converts").len(), v.elements());
            }
            _ => {
                let _ = bin.scalar_i64(name);
            }
        }
        payloads.push((name.clone(), v.shape.clone(), v.dtype, payload.to_vec()));
    }
    let _ = asr::Whisper::from_model_bin(&bin, asr::WeightPrecision::F32);
    if bin.spec_name.len() < u16::MAX as usize && bin.binary_version >= 3 {
        let vars: Vec<(&str, &[usize], DType, &[u8])> =
            payloads.iter().map(|(n, s, d, p)| (n.as_str(), s.as_slice(), *d, p.as_slice())).collect();
        let aliases: Vec<(&str, &str)> = bin.aliases.iter().map(|(a, t)| (a.as_str(), t.as_str())).collect();
        let again = ModelBin::from_bytes(write_model_bin(&bin.spec_name, bin.spec_revision, &vars, &aliases))
            .expect("a written model reads back");
        assert_eq!(again.aliases, bin.aliases);
        assert_eq!(again.variables.keys().collect::<Vec<_>>(), bin.variables.keys().collect::<Vec<_>>());
        for (name, v) in &bin.variables {
            assert_eq!(again.variables[name].shape, v.shape);
            assert_eq!(again.payload(name).ok(), bin.payload(name).ok());
        }
    }
}
