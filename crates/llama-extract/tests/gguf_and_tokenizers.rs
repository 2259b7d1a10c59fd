//! The GGUF reader and both tokenizers against the goldens: SmolLM2's metadata and tensor
//! table as gguf-py dumped them, llama.cpp's SmolLM2 encodings (tokenizer built from the GGUF),
//! and llama.cpp's 46 + 31 Llama-3 cases (tokenizer.json).

mod common;

use common::*;
use llama_extract::{GgufFile, GgufValue, LlamaConfig, LlamaTokenizer};

#[test]
fn smollm2_gguf_header_metadata_and_tensors_match_gguf_py() {
    let f = GgufFile::open(model_asset(SMOLLM2)).unwrap();
    let meta = json("gguf_metadata.json");
    let header = &meta["header"];
    assert_eq!(f.version as u64, header["gguf_version"].as_u64().unwrap());
    assert_eq!(f.tensors.len() as u64, header["tensor_count"].as_u64().unwrap());
    assert_eq!(f.metadata.len() as u64, header["kv_count"].as_u64().unwrap());
    assert_eq!(f.data_offset, header["data_offset"].as_u64().unwrap());
    for (key, want) in meta["metadata"].as_object().unwrap() {
        let got = f.get(key).unwrap_or_else(|| panic!("missing {key}"));
        match (want["type"].as_str().unwrap(), got) {
            ("STRING", GgufValue::String(s)) => assert_eq!(s, want["value"].as_str().unwrap(), "{key}"),
            ("UINT32", GgufValue::U32(v)) => assert_eq!(*v as u64, want["value"].as_u64().unwrap(), "{key}"),
            ("FLOAT32", GgufValue::F32(v)) => assert_eq!(*v as f64, want["value"].as_f64().unwrap(), "{key}"),
            ("BOOL", GgufValue::Bool(v)) => assert_eq!(*v, want["value"].as_bool().unwrap(), "{key}"),
            (t, GgufValue::Array(items)) if t.starts_with("ARRAY") => {
                assert_eq!(items.len() as u64, want["length"].as_u64().unwrap(), "{key}");
                if let Some(first) = want.get("first_20").or(want.get("value")).and_then(|v| v.as_array()) {
                    for (i, w) in first.iter().enumerate() {
                        match &items[i] {
                            GgufValue::String(s) => assert_eq!(s, w.as_str().unwrap(), "{key}[{i}]"),
                            v => assert_eq!(v.as_f64().unwrap(), w.as_f64().unwrap(), "{key}[{i}]"),
                        }
                    }
                }
            }
            (t, v) => panic!("{key}: golden type {t}, read {v:?}"),
        }
    }
    let tensors = json("gguf_tensors.json");
    for (t, want) in f.tensors.iter().zip(tensors["tensors"].as_array().unwrap()) {
        assert_eq!(t.name, want["name"].as_str().unwrap());
        assert_eq!(t.ggml_type.id() as u64, want["ggml_type_id"].as_u64().unwrap(), "{}", t.name);
        let dims: Vec<u64> = want["ggml_dims"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).collect();
        assert_eq!(t.dims, dims, "{}", t.name);
        assert_eq!(t.n_bytes, want["n_bytes"].as_u64().unwrap(), "{}", t.name);
        assert_eq!(t.offset, want["offset_in_data_section"].as_u64().unwrap(), "{}", t.name);
    }
    let c = LlamaConfig::from_gguf(&f).unwrap();
    assert_eq!(
        (c.n_layers, c.hidden_size, c.intermediate_size, c.n_heads, c.n_kv_heads, c.head_dim),
        (30, 576, 1536, 9, 3, 64)
    );
    assert_eq!((c.vocab_size, c.rope_theta, c.context_length, c.tie_word_embeddings), (49152, 100000.0, 8192, true));
}

fn check_cases(tok: &LlamaTokenizer, cases: &serde_json::Value, label: &str) -> usize {
    let mut n = 0;
    for case in cases.as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let want: Vec<u32> = case["ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
        let name = case.get("name").and_then(|n| n.as_str()).unwrap_or(text);
        assert_eq!(tok.encode(text, true).unwrap(), want, "{label} {name:?}");
        if let Some(split) = case.get("ids_special_false").and_then(|v| v.as_array()) {
            let want: Vec<u32> = split.iter().map(|v| v.as_u64().unwrap() as u32).collect();
            assert_eq!(tok.encode(text, false).unwrap(), want, "{label} {name:?} (specials as text)");
        }
        n += 1;
    }
    n
}

#[test]
fn smollm2_tokenizer_from_gguf_matches_llama_cpp() {
    let f = GgufFile::open(model_asset(SMOLLM2)).unwrap();
    let tok = LlamaTokenizer::from_gguf(&f).unwrap();
    assert_eq!(tok.vocab_size(), 49152);
    assert!(!tok.add_bos);
    assert_eq!(tok.chat_template, llama_extract::ChatTemplate::ChatMl);
    assert!(tok.stop_ids.contains(&2), "<|im_end|> stops generation");
    let n = check_cases(&tok, &json("smollm2_cases.json")["cases"], "smollm2");
    assert_eq!(n, 32);
    // Every case decodes back to its text.
    for case in json("smollm2_cases.json")["cases"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        assert_eq!(tok.decode(&tok.encode(text, true).unwrap(), false).unwrap(), text);
    }
}

#[test]
fn llama3_tokenizer_json_matches_llama_cpp() {
    let tok = LlamaTokenizer::from_file(model_asset(LLAMA3_TOKENIZER)).unwrap();
    assert_eq!(tok.bos, Some(128000));
    assert!(tok.add_bos);
    assert!(tok.stop_ids.contains(&128009));
    assert_eq!(check_cases(&tok, &json("llama3_vocab_cases.json")["cases"], "llama3"), 46);
    assert_eq!(check_cases(&tok, &json("llama3_extra_cases.json")["cases"], "llama3 extra"), 31);
    let prompt = llama_extract::ChatTemplate::Llama3
        .format(&[llama_extract::Message::new(llama_extract::Role::User, "Hi")], true);
    let ids = tok.encode_prompt(&prompt).unwrap();
    assert_eq!(&ids[..3], &[128000, 128006, 882]); // <|begin_of_text|><|start_header_id|>user
    assert_eq!(*ids.last().unwrap(), 271); // "\n\n" after the assistant header
}

#[test]
fn gguf_errors_name_the_problem() {
    let e = GgufFile::from_bytes(b"GGML\x03\0\0\0".to_vec()).unwrap_err().to_string();
    assert!(e.contains("magic"), "{e}");
    let e = GgufFile::from_bytes(b"GGUF\x09\0\0\0".to_vec()).unwrap_err().to_string();
    assert!(e.contains("version 9"), "{e}");
    // A real header cut short.
    let bytes = std::fs::read(model_asset(SMOLLM2)).unwrap();
    let e = GgufFile::from_bytes(bytes[..100_000].to_vec()).unwrap_err().to_string();
    assert!(e.contains("truncated") || e.contains("runs past"), "{e}");
    let e = GgufFile::from_bytes(bytes[..2_000_000].to_vec()).unwrap_err().to_string();
    assert!(e.contains("runs past"), "{e}");
}

/// Resident KiB of the mapping of this process that holds address `at` (Linux `smaps`).
#[cfg(target_os = "linux")]
fn resident_kib_of_mapping(at: usize) -> u64 {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let mut inside = false;
    for line in smaps.lines() {
        let range = line.split_whitespace().next().unwrap_or("");
        if let Some((a, b)) = range.split_once('-')
            && let (Ok(a), Ok(b)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16))
        {
            inside = (a..b).contains(&at);
        } else if inside && let Some(kib) = line.strip_prefix("Rss:") {
            return kib.trim().trim_end_matches("kB").trim().parse().unwrap();
        }
    }
    panic!("no mapping holds {at:#x}");
}

#[cfg(target_os = "linux")]
#[test]
fn released_tensor_pages_leave_memory_and_read_back_the_same() {
    // The tied embedding table of SmolLM2's file: 49152 × 576 Q8_0, 28.5 MiB.
    let file = GgufFile::open(model_asset(SMOLLM2)).unwrap();
    let t = file.tensor("token_embd.weight").unwrap();
    let bytes = file.tensor_block_bytes(t);
    let copy = bytes.to_vec(); // every page of the tensor now resident
    let at = bytes.as_ptr() as usize;
    let before = resident_kib_of_mapping(at);
    file.release_tensor_pages(t, 0..bytes.len());
    let after = resident_kib_of_mapping(at);
    let released = before.saturating_sub(after);
    assert!(released >= 28 * 1024, "released {released} KiB of a 28.5 MiB tensor");
    assert!(bytes.iter().eq(copy.iter()), "the released bytes read back as the file's");
}

#[cfg(target_os = "linux")]
#[test]
fn a_loaded_model_keeps_packed_weights_out_of_the_mapping() {
    // Loading packs the Q8_0 table into panels where the CPU has AVX-512 VNNI, reading every
    // page of it; those pages must leave memory again (the model resident once). Without VNNI
    // nothing is read at load. Either way the mapping holds well under the table's 28.5 MiB.
    // Opening reads the header (metadata and vocabulary, a few MiB), so count from there; the
    // small reads at load (61 norm vectors, each fault likely mapping neighbouring pages too)
    // measured ~5 MiB more, with or without packing. A table left resident adds 28.5 MiB
    // (33 MiB measured with the release taken out).
    let file = GgufFile::open(model_asset(SMOLLM2)).unwrap();
    let at = file.tensor_block_bytes(file.tensor("token_embd.weight").unwrap()).as_ptr() as usize;
    let opened = resident_kib_of_mapping(at);
    let model = llama_extract::QuantLlama::from_gguf(&file, llama_extract::WeightFormat::AsLoaded).unwrap();
    assert_eq!(model.embed().bytes.as_ptr() as usize, at, "the table is borrowed from the mapping");
    let grown = resident_kib_of_mapping(at).saturating_sub(opened);
    assert!(grown < 12 * 1024, "{grown} KiB more of the file resident after load");
}
