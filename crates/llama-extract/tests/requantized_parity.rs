//! Our llama-quantize against llama.cpp's (golden README §G): SmolLM2-135M-Instruct Q4_1
//! requantized by `quantize::quantize_file` to Q4_K_M, Q5_K_M, Q6_K and Q8_0 has, tensor for
//! tensor, the type llama.cpp chose and the bytes it wrote (sha256), in llama.cpp's order; and
//! the runtime on each file matches llama.cpp's logits and greedy continuations on its own file
//! with the tolerances of `llamacpp_parity.rs` (both golden prompts on Q4_K_M, the first on the
//! others; the fixtures hold both for all four).

mod common;

use common::*;
use llama_extract::quantize::{FileType, quantize_file};
use llama_extract::{GgufFile, LlamaTokenizer, QuantLlama, WeightFormat};
use sha2::Digest;

fn requantize_and_check(ftype: FileType) {
    let source = GgufFile::open(model_asset(SMOLLM2)).unwrap();
    let dir = std::env::temp_dir().join(format!("whispers-requant-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("SmolLM2-135M-Instruct.{}.gguf", ftype.name()));
    let report = quantize_file(&source, ftype, &path, &mut |_, _, _| {}).unwrap();

    let golden = json("requant/tensors.json");
    let golden = &golden[ftype.name()];
    let file = GgufFile::open(&path).unwrap();
    let want = golden["tensors"].as_array().unwrap();
    assert_eq!(file.tensors.len(), want.len(), "{ftype:?}: tensor count");
    for (t, w) in file.tensors.iter().zip(want) {
        assert_eq!(t.name, w[0].as_str().unwrap(), "{ftype:?}: tensor order");
        assert_eq!(t.ggml_type.name(), w[1].as_str().unwrap(), "{ftype:?}: {}", t.name);
        let hex: String = sha2::Sha256::digest(file.tensor_data(t)).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, w[2].as_str().unwrap(), "{ftype:?}: {} bytes differ from llama.cpp's", t.name);
    }
    for (ty, n) in golden["types"].as_object().unwrap() {
        assert_eq!(report.types.get(ty).copied(), n.as_u64().map(|n| n as usize), "{ftype:?}: {ty}");
    }
    assert_eq!(file.u64("general.file_type").unwrap(), u64::from(ftype.id()));

    let tok = LlamaTokenizer::from_gguf(&file).unwrap();
    let model = QuantLlama::from_gguf(&file, WeightFormat::AsLoaded).unwrap().with_threads(2).unwrap();
    // Both prompts for the common Q4_K_M; the short one for the others (CI time).
    let prompts: &[&str] =
        if ftype == FileType::Q4_K_M { &["p1_capital_chatml", "p2_emotion_chatml"] } else { &["p1_capital_chatml"] };
    for name in prompts {
        check_prompt_in(&model, &tok, &format!("requant/{}/", ftype.name()), name);
    }
    drop(file);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn q4_k_m_equals_llama_quantize_and_runs_like_llama_cpp() {
    requantize_and_check(FileType::Q4_K_M);
}

#[test]
fn q5_k_m_equals_llama_quantize_and_runs_like_llama_cpp() {
    requantize_and_check(FileType::Q5_K_M);
}

#[test]
fn q6_k_equals_llama_quantize_and_runs_like_llama_cpp() {
    requantize_and_check(FileType::Q6_K);
}

#[test]
fn q8_0_equals_llama_quantize_and_runs_like_llama_cpp() {
    requantize_and_check(FileType::Q8_0);
}
