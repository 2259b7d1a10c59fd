//! Files whose headers lie about sizes: GGUF counts, string lengths and tensor dims, model
//! sizes in GGUF metadata, WAV/FLAC chunk and stream sizes, safetensors header lengths and
//! shapes, `.npy` shapes. Each must be a typed error (or, where the data itself is whole, a
//! correct result) without allocating anything near the size the header claims: a heap counter
//! as this binary's global allocator measures the peak while each file is read.
//!
//! (Here, in the facade, because it reaches every reader; its own test binary because the
//! counter sees every allocation of the process. The tests take a lock so peaks do not mix.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use interview_insight::llama_extract::runtime::gguf::write_gguf;
use interview_insight::llama_extract::{GgufFile, GgufValue, LlamaConfig, LlamaTokenizer};

struct PeakCounting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static SERIAL: Mutex<()> = Mutex::new(());

unsafe impl GlobalAlloc for PeakCounting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(now, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: PeakCounting = PeakCounting;

/// Most bytes a reader may allocate beyond the input it was handed.
const BUDGET: usize = 4 << 20;

/// Runs `read`, failing if the heap grew by more than the input plus [`BUDGET`] meanwhile.
fn within_budget<T>(what: &str, input_len: usize, read: impl FnOnce() -> T) -> T {
    let base = LIVE.load(Ordering::SeqCst);
    PEAK.store(base, Ordering::SeqCst);
    let out = read();
    let peak = PEAK.load(Ordering::SeqCst).saturating_sub(base);
    assert!(peak <= input_len + BUDGET, "{what}: allocated {peak} bytes for a {input_len}-byte input");
    out
}

// ---------------------------------------------------------------------------------------------
// GGUF

fn gguf_header(n_tensors: u64, n_kv: u64) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes());
    b.extend(n_tensors.to_le_bytes());
    b.extend(n_kv.to_le_bytes());
    b
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend((s.len() as u64).to_le_bytes());
    b.extend(s.as_bytes());
}

fn read_gguf(what: &str, image: Vec<u8>) -> String {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let len = image.len();
    let result = within_budget(what, len, || GgufFile::from_bytes(image));
    match result {
        Ok(_) => panic!("{what}: parsed"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn gguf_counts_lengths_and_dims_that_cannot_fit_are_errors_before_any_allocation() {
    // 2^40 metadata entries / tensors in a 24-byte file.
    let e = read_gguf("kv count", gguf_header(0, 1 << 40));
    assert!(e.contains("cannot fit"), "{e}");
    let e = read_gguf("tensor count", gguf_header(1 << 40, 0));
    assert!(e.contains("cannot fit"), "{e}");

    // A key string claiming 2^62 bytes.
    let mut b = gguf_header(0, 1);
    b.extend((1u64 << 62).to_le_bytes());
    b.extend([0u8; 64]);
    let e = read_gguf("string length", b);
    assert!(e.contains("metadata key"), "{e}");

    // An array of 2^40 u32 values, and an array of 1,000,000 strings whose 8-byte length prefixes
    // alone need 8 MB in a file of 2 MB (a count check of one byte per element would let
    // this reserve 32 MB of values first).
    for (count, elem_type, padding) in [(1u64 << 40, 4u32, 64usize), (1_000_000, 8, 2_000_000)] {
        let mut b = gguf_header(0, 1);
        put_str(&mut b, "tokenizer.ggml.tokens");
        b.extend(9u32.to_le_bytes());
        b.extend(elem_type.to_le_bytes());
        b.extend(count.to_le_bytes());
        b.resize(b.len() + padding, 0);
        let e = read_gguf("array count", b);
        assert!(e.contains("array of"), "{e}");
    }

    // A tensor whose dims multiply past u64, and one whose data runs past the end.
    for (dims, expect) in [(vec![1u64 << 32, 1 << 32, 1 << 32], "overflow"), (vec![1 << 20, 1 << 10], "runs past")] {
        let mut b = gguf_header(1, 0);
        put_str(&mut b, "w");
        b.extend((dims.len() as u32).to_le_bytes());
        for d in &dims {
            b.extend(d.to_le_bytes());
        }
        b.extend(0u32.to_le_bytes()); // F32
        b.extend(0u64.to_le_bytes());
        b.resize(b.len().div_ceil(32) * 32 + 64, 0);
        let e = read_gguf("tensor dims", b);
        assert!(e.contains(expect), "{e}");
    }
}

#[test]
fn model_sizes_in_gguf_metadata_are_bounded_before_they_size_anything() {
    let meta = |context: u64, hidden: u64| {
        write_gguf(
            &[
                ("general.architecture", GgufValue::String("llama".into())),
                ("llama.context_length", GgufValue::U64(context)),
                ("llama.embedding_length", GgufValue::U64(hidden)),
                ("llama.feed_forward_length", GgufValue::U64(1536)),
                ("llama.block_count", GgufValue::U64(2)),
                ("llama.attention.head_count", GgufValue::U64(9)),
                ("llama.attention.head_count_kv", GgufValue::U64(3)),
                ("llama.vocab_size", GgufValue::U64(49152)),
            ],
            &[],
        )
    };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for (context, hidden, expect) in [(1u64 << 40, 576, "context length"), (8192, 1 << 40, "hidden size")] {
        let file = GgufFile::from_bytes(meta(context, hidden)).expect("a well-formed GGUF");
        let e = within_budget("config", 0, || LlamaConfig::from_gguf(&file)).expect_err("accepted").to_string();
        assert!(e.contains(expect) && e.contains("limit"), "{e}");
    }
    let file = GgufFile::from_bytes(meta(8192, 576)).expect("a well-formed GGUF");
    assert!(LlamaConfig::from_gguf(&file).is_ok());
}

#[test]
fn a_tokenizer_whose_ids_point_outside_its_vocabulary_is_built_without_them() {
    // Special-token ids from metadata are only hints; 2^32 − 1 must not index anything.
    let image = write_gguf(
        &[
            ("tokenizer.ggml.model", GgufValue::String("gpt2".into())),
            ("tokenizer.ggml.tokens", GgufValue::Array(["a", "b", "ab"].map(|t| GgufValue::String(t.into())).into())),
            ("tokenizer.ggml.merges", GgufValue::Array(vec![GgufValue::String("a b".into())])),
            ("tokenizer.ggml.bos_token_id", GgufValue::U32(u32::MAX)),
            ("tokenizer.ggml.eos_token_id", GgufValue::U32(u32::MAX)),
            ("tokenizer.ggml.unknown_token_id", GgufValue::U32(u32::MAX)),
            ("tokenizer.ggml.add_bos_token", GgufValue::Bool(true)),
        ],
        &[],
    );
    let file = GgufFile::from_bytes(image).expect("a well-formed GGUF");
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tokenizer = within_budget("tokenizer", 0, || LlamaTokenizer::from_gguf(&file)).expect("builds");
    let ids = tokenizer.encode_prompt("ab").expect("encodes");
    assert!(!ids.is_empty() && ids.iter().all(|&id| (id as usize) < tokenizer.vocab_size()), "{ids:?}");
}

// ---------------------------------------------------------------------------------------------
// Audio

fn wav(data_size: Option<u32>, riff_size: Option<u32>, extra_chunk: Option<(&[u8; 4], u32)>) -> Vec<u8> {
    let samples: Vec<u8> = (0..100i16).flat_map(|i| (i * 300).to_le_bytes()).collect();
    let mut fmt = Vec::new();
    for v in [1u16, 1] {
        fmt.extend(v.to_le_bytes());
    }
    fmt.extend(16_000u32.to_le_bytes());
    fmt.extend(32_000u32.to_le_bytes());
    fmt.extend(2u16.to_le_bytes());
    fmt.extend(16u16.to_le_bytes());
    let mut body = b"WAVEfmt ".to_vec();
    body.extend((fmt.len() as u32).to_le_bytes());
    body.extend(&fmt);
    if let Some((id, size)) = extra_chunk {
        body.extend(id);
        body.extend(size.to_le_bytes());
        body.extend(b"INFOjunk");
    }
    body.extend(b"data");
    body.extend(data_size.unwrap_or(samples.len() as u32).to_le_bytes());
    body.extend(&samples);
    let mut out = b"RIFF".to_vec();
    out.extend(riff_size.unwrap_or(body.len() as u32).to_le_bytes());
    out.extend(body);
    out
}

#[test]
fn wav_chunk_sizes_that_lie_are_errors_without_large_allocations() {
    use interview_insight::audio_dsp::{DspError, decode_bytes};
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let honest = wav(None, None, None);
    let clip = within_budget("honest wav", honest.len(), || decode_bytes(&honest)).expect("decodes");
    assert_eq!(clip.samples.len(), 100);

    // A data chunk claiming 4 GiB holds 100 frames: an error (the chunk overruns its RIFF
    // parent; with the parent enlarged too, the stream is short of its declared length), not a
    // 4 GiB buffer.
    let lying_data = wav(Some(0xFFFF_FFF0), None, None);
    let r = within_budget("data size", lying_data.len(), || decode_bytes(&lying_data));
    assert!(matches!(r, Err(DspError::Decode(_))), "{r:?}");
    let lying_both = wav(Some(0xFFFF_FFF0), Some(0xFFFF_FFFF), None);
    let r = within_budget("data and riff size", lying_both.len(), || decode_bytes(&lying_both));
    assert!(matches!(r, Err(DspError::Truncated(_)) | Err(DspError::Decode(_))), "{r:?}");

    // A RIFF size past the end of the file (unfinished recordings write 0xFFFFFFFF): either the
    // whole chunks inside are read, or it is a decode error; never a 4 GiB buffer.
    let lying_riff = wav(None, Some(0xFFFF_FFFF), None);
    let r = within_budget("riff size", lying_riff.len(), || decode_bytes(&lying_riff));
    assert!(matches!(&r, Ok(a) if a.samples.len() == 100) || matches!(&r, Err(DspError::Decode(_))), "{r:?}");

    // LIST / unknown chunks and a fmt chunk claiming 4 GiB.
    for (id, size) in [(b"LIST", 0xFFFF_FF00u32), (b"junk", 0xFFFF_FF00), (b"fmt ", 0xFFFF_FFF0)] {
        let lying = wav(None, None, Some((id, size)));
        let r = within_budget("chunk size", lying.len(), || decode_bytes(&lying));
        assert!(
            r.is_err(),
            "{} chunk of {size} bytes in a {}-byte file decoded",
            String::from_utf8_lossy(id),
            lying.len()
        );
    }
}

#[test]
fn a_flac_stream_claiming_billions_of_samples_is_truncated_not_allocated() {
    use interview_insight::audio_dsp::{DspError, decode_bytes};
    let good = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../audio-dsp/tests/fixtures/audio/tone440.flac"))
        .expect("fixture");
    // STREAMINFO (after "fLaC" and the 4-byte block header): the 36-bit total-sample count sits
    // in the low 4 bits of byte 13 and bytes 14–17 of the block. Claim 2^36 − 1.
    let mut lying = good.clone();
    let info = 8;
    lying[info + 13] |= 0x0F;
    for b in &mut lying[info + 14..info + 18] {
        *b = 0xFF;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = within_budget("flac total samples", lying.len(), || decode_bytes(&lying));
    assert!(matches!(r, Err(DspError::Truncated(_)) | Err(DspError::Decode(_))), "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// safetensors (LoRA adapters, SER checkpoints) and .npy features

fn safetensors_with_header(header: &str, claimed_len: Option<u64>, data: &[u8]) -> Vec<u8> {
    let mut out = claimed_len.unwrap_or(header.len() as u64).to_le_bytes().to_vec();
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

#[test]
fn safetensors_header_lengths_shapes_and_offsets_that_lie_are_errors() {
    use interview_insight::lora::{LoraAdapter, LoraConfig};
    use interview_insight::ser_bilstm::StateDict;
    let key = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
    let cases = [
        ("header length", safetensors_with_header("{}", Some(1 << 62), &[])),
        (
            "shape",
            safetensors_with_header(
                &format!(r#"{{"{key}":{{"dtype":"F32","shape":[2147483648,2147483648],"data_offsets":[0,8]}}}}"#),
                None,
                &[0; 8],
            ),
        ),
        (
            "offsets",
            safetensors_with_header(
                &format!(r#"{{"{key}":{{"dtype":"F32","shape":[2,1],"data_offsets":[0,4294967296]}}}}"#),
                None,
                &[0; 8],
            ),
        ),
    ];
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    for (what, bytes) in &cases {
        let config = LoraConfig::new(2, 4.0, &["q_proj"]);
        let r = within_budget(what, bytes.len(), || LoraAdapter::from_safetensors(config, bytes));
        assert!(r.is_err(), "adapter with lying {what} loaded");
        let r = within_budget(what, bytes.len(), || StateDict::from_safetensors(bytes));
        assert!(r.is_err(), "checkpoint with lying {what} loaded");
    }
}

#[test]
fn npy_features_whose_shape_lies_are_an_error_naming_the_file() {
    use interview_insight::ser_bilstm::data::features::load_example;
    use interview_insight::ser_bilstm::data::{AudioPrep, FeatureKind, Utterance};
    let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 768), }";
    let mut npy = b"\x93NUMPY\x01\x00".to_vec();
    let padded = format!("{header:<width$}\n", width = (10 + header.len() + 1).div_ceil(64) * 64 - 11);
    npy.extend((padded.len() as u16).to_le_bytes());
    npy.extend(padded.as_bytes());
    npy.extend([0u8; 64]);
    let dir = std::env::temp_dir().join(format!("lying-npy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("utt.npy");
    std::fs::write(&path, &npy).expect("write");
    let utt = Utterance { path: path.clone(), label: 0, speaker: "01".into() };
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = within_budget("npy shape", npy.len(), || load_example(&utt, FeatureKind::E2v, &AudioPrep::default()));
    let e = r.expect_err("a lying shape loaded").to_string();
    assert!(e.contains("utt.npy") && e.contains("shape"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------
// CTranslate2 model.bin (speech-to-text)

fn ct2_header(count: u32) -> Vec<u8> {
    let mut b = 6u32.to_le_bytes().to_vec();
    b.extend(12u16.to_le_bytes());
    b.extend(b"WhisperSpec\0");
    b.extend(3u32.to_le_bytes());
    b.extend(count.to_le_bytes());
    b
}

fn ct2_var(b: &mut Vec<u8>, name: &str, dims: &[u32], dtype: u8, num_bytes: u32) {
    b.extend(((name.len() + 1) as u16).to_le_bytes());
    b.extend(name.as_bytes());
    b.push(0);
    b.push(dims.len() as u8);
    for d in dims {
        b.extend(d.to_le_bytes());
    }
    b.push(dtype);
    b.extend(num_bytes.to_le_bytes());
}

#[test]
fn ct2_model_counts_shapes_and_payload_sizes_that_lie_are_errors_before_any_allocation() {
    use interview_insight::asr::ModelBin;
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let read = |what: &str, image: Vec<u8>| -> String {
        let len = image.len();
        let e = within_budget(what, len, || ModelBin::from_bytes(image)).expect_err(what);
        e.to_string()
    };
    // 2^32 − 1 variables in 28 bytes.
    assert!(read("variable count", ct2_header(u32::MAX)).contains("cannot fit"));
    // A 4 GiB payload claimed by a consistent shape, with no bytes behind it.
    let mut b = ct2_header(1);
    ct2_var(&mut b, "encoder/conv1/weight", &[0x3FFF_FFFF], 0, 0xFFFF_FFFC);
    assert!(read("payload size", b).contains("truncated"));
    // Eight dimensions of 2^32 − 1: the element count overflows.
    let mut b = ct2_header(1);
    ct2_var(&mut b, "w", &[u32::MAX; 8], 4, 16);
    assert!(read("shape overflow", b).contains("overflows"));
    // A rank past any real tensor.
    let mut b = ct2_header(1);
    ct2_var(&mut b, "w", &[1; 200], 4, 2);
    assert!(read("rank", b).contains("rank"));
    // A byte count that does not match the shape.
    let mut b = ct2_header(1);
    ct2_var(&mut b, "w", &[4], 0, 8);
    b.extend([0u8; 8]);
    b.extend(0u32.to_le_bytes());
    assert!(read("byte count", b).contains("do not hold"));
    // 2^32 − 1 aliases after one real variable.
    let mut b = ct2_header(1);
    ct2_var(&mut b, "w", &[1], 0, 4);
    b.extend(1f32.to_le_bytes());
    b.extend(u32::MAX.to_le_bytes());
    assert!(read("alias count", b).contains("aliases cannot fit"));
    // A string length of 65,535 bytes with 20 behind it.
    let mut b = ct2_header(1);
    b.extend(u16::MAX.to_le_bytes());
    b.extend([b'a'; 20]);
    assert!(read("name length", b).contains("truncated"));
}
