//! The quantized CPU path against llama.cpp on SmolLM2-135M-Instruct Q4_1 (goldens from
//! llama-cpp-python 0.3.36, F32 KV cache). Tolerances are those the golden README justifies for
//! an implementation that is not a bit-exact port of ggml's kernels: top-1 equal wherever
//! llama.cpp's margin ≥ 1.0 and at ≥ 90 % of positions; logits at llama.cpp's top-10 ids within
//! 3.0 (max) / 0.3 (mean); last-position logits over the vocabulary within 1.5 / 0.25.
//!
//! Greedy decoding: free-running generation (KV cache, one token at a time) must reproduce
//! llama.cpp's 32 ids up to the first step where our teacher-forced top-1 differs from
//! llama.cpp's — and such a step must be a near-tie for llama.cpp (margin < 1.0, asserted
//! above). Only a bit-exact port of ggml's kernels could promise all 32 ids at margins of
//! 0.01–0.2 logits (golden README §A.3); how many matched is printed and reported.

mod common;

use common::*;
use llama_extract::{GenerateOptions, GgufFile, LlamaTokenizer, QuantLlama, QuantSession, WeightFormat, generate};

#[test]
fn quantized_path_matches_llama_cpp_on_smollm2() {
    let file = GgufFile::open(model_asset(SMOLLM2)).unwrap();
    let tok = LlamaTokenizer::from_gguf(&file).unwrap();
    let model = QuantLlama::from_gguf(&file, WeightFormat::AsLoaded).unwrap().with_threads(2).unwrap();
    // The weights are borrowed from the mapped file, not copied beside it.
    assert!(model.embed().bytes.is_shared());
    assert!(
        model
            .blocks()
            .iter()
            .all(|b| [&b.wq, &b.wk, &b.wv, &b.wo, &b.w_gate, &b.w_up, &b.w_down].iter().all(|m| m.bytes.is_shared()))
    );
    for name in ["p1_capital_chatml", "p2_emotion_chatml", "p3_long_plain"] {
        check_prompt(&model, &tok, name);
    }
    // The first greedy answer, as text, stopping at <|im_end|>.
    let g = json("p1_capital_chatml.json");
    let prompt = tok.encode(g["prompt"].as_str().unwrap(), true).unwrap();
    let out = answer(&model, &tok, &prompt);
    assert_eq!(out.text, "The capital of France is Paris.");
    assert_eq!(out.stop, llama_extract::StopReason::StopToken(2));
}

#[test]
fn context_overflow_is_an_error_not_a_truncation() {
    let file = GgufFile::open(model_asset(SMOLLM2)).unwrap();
    let tok = LlamaTokenizer::from_gguf(&file).unwrap();
    let model = QuantLlama::from_gguf(&file, WeightFormat::AsLoaded).unwrap();
    let mut session = QuantSession::new(&model, 8);
    let prompt = tok.encode("one two three four five", true).unwrap();
    let err = generate(
        &mut session,
        &tok,
        &prompt,
        &GenerateOptions { max_new_tokens: 10, ..Default::default() },
        &mut |_, _| true,
    )
    .unwrap_err();
    assert!(matches!(err, llama_extract::LlamaError::ContextOverflow { limit: 8, .. }), "{err}");
    let mut cache = model.new_cache(4);
    assert!(model.forward(&prompt, &mut cache).is_err());
    assert!(model.forward(&[60_000], &mut model.new_cache(4)).is_err(), "token id beyond the vocabulary");
}

#[test]
fn chunked_prefill_equals_token_by_token_decoding() {
    let file = GgufFile::open(model_asset(SMOLLM2)).unwrap();
    let model = QuantLlama::from_gguf(&file, WeightFormat::AsLoaded).unwrap().with_threads(2).unwrap();
    // 601 tokens: one 512-token chunk and one of 89, against 601 single-token steps.
    let prompt = ids(&json("p3_long_plain.json")["prompt_ids"]);
    let at_once = model.forward(&prompt, &mut model.new_cache(prompt.len())).unwrap();
    let mut cache = model.new_cache(prompt.len());
    let mut last = Vec::new();
    for &t in &prompt {
        last = model.forward(&[t], &mut cache).unwrap();
    }
    assert_eq!(at_once, last);
    // Three threads split the products and the attention rows unevenly: still the same bits.
    let three = model.with_threads(3).unwrap();
    assert_eq!(three.forward(&prompt, &mut three.new_cache(prompt.len())).unwrap(), last);
}

/// An f16 KV cache (llama.cpp's default) holds half the bytes, still matches llama.cpp's
/// goldens at the same tolerances, and keeps the f32 cache's invariant: a chunked prefill gives
/// the bits of token-by-token decoding.
#[test]
fn an_f16_cache_is_half_the_size_and_answers_as_llama_cpp_does() {
    let file = GgufFile::open(model_asset(SMOLLM2)).unwrap();
    let tok = LlamaTokenizer::from_gguf(&file).unwrap();
    let f32_model = QuantLlama::from_gguf(&file, WeightFormat::AsLoaded).unwrap().with_threads(2).unwrap();
    let model = f32_model.clone().with_kv_precision(llama_extract::KvPrecision::F16);
    for name in ["p1_capital_chatml", "p2_emotion_chatml", "p3_long_plain"] {
        check_prompt(&model, &tok, name);
    }
    let prompt = ids(&json("p3_long_plain.json")["prompt_ids"]);
    let mut cache = model.new_cache(prompt.len());
    let at_once = model.forward(&prompt, &mut cache).unwrap();
    let mut f32_cache = f32_model.new_cache(prompt.len());
    let f32_logits = f32_model.forward(&prompt, &mut f32_cache).unwrap();
    assert_eq!(cache.precision(), llama_extract::KvPrecision::F16);
    assert_eq!(2 * cache.bytes_used(), f32_cache.bytes_used());
    // Rounding keys and values to f16 moves the logits by less than our distance to llama.cpp
    // (full vocabulary above: max 0.4–0.9, mean 0.07–0.22). Measured: max 0.51, mean 0.11.
    assert_ne!(at_once, f32_logits);
    let moved: Vec<f32> = at_once.iter().zip(&f32_logits).map(|(a, b)| (a - b).abs()).collect();
    let (worst, mean) = (moved.iter().fold(0f32, |m, &d| m.max(d)), moved.iter().sum::<f32>() / moved.len() as f32);
    println!("f16 against f32 cache, last position of p3: max |Δ| {worst:.3} mean {mean:.3}");
    assert!(worst < 1.0 && mean < 0.2, "f16 cache moved the logits by max {worst}, mean {mean}");
    let mut cache = model.new_cache(prompt.len());
    let mut last = Vec::new();
    for &t in &prompt {
        last = model.forward(&[t], &mut cache).unwrap();
    }
    assert_eq!(at_once, last);
}

/// With the project's LoRA adapter served at run time, a prompt's adapter updates are split
/// across the threads by rows: 1, 2 and 3 threads and token-by-token decoding give the same bits.
#[test]
fn an_adapted_model_gives_the_same_bits_on_any_number_of_threads() {
    let file = GgufFile::open(model_asset(SMOLLM2)).unwrap();
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/adapters/smollm2-135m-extraction");
    let mut model = QuantLlama::from_gguf(&file, WeightFormat::AsLoaded).unwrap();
    model.apply_adapter(&lora::LoraAdapter::load(&dir).unwrap()).unwrap();
    let prompt = ids(&json("p3_long_plain.json")["prompt_ids"])[..77].to_vec();
    let mut cache = model.new_cache(prompt.len());
    let mut last = Vec::new();
    for &t in &prompt {
        last = model.forward(&[t], &mut cache).unwrap();
    }
    let plain = QuantLlama::from_gguf(&file, WeightFormat::AsLoaded).unwrap();
    assert_ne!(
        plain.forward(&prompt, &mut plain.new_cache(prompt.len())).unwrap(),
        last,
        "the adapter changes the logits"
    );
    for threads in [1, 2, 3] {
        let m = model.clone().with_threads(threads).unwrap();
        assert_eq!(m.forward(&prompt, &mut m.new_cache(prompt.len())).unwrap(), last, "{threads} threads");
    }
}

#[test]
fn requantized_5bit_models_still_answer_and_stop_strings_cut_the_text() {
    let file = GgufFile::open(model_asset(SMOLLM2)).unwrap();
    let tok = LlamaTokenizer::from_gguf(&file).unwrap();
    let g = json("p1_capital_chatml.json");
    let prompt = tok.encode(g["prompt"].as_str().unwrap(), true).unwrap();
    for ty in [quant5::GgmlType::Q5_0, quant5::GgmlType::Q5_K] {
        let model = QuantLlama::from_gguf(&file, WeightFormat::Requantize(ty)).unwrap().with_threads(2).unwrap();
        // 576-wide rows cannot hold 256-element super-blocks: Q5_K falls back to Q5_1.
        assert_eq!(model.blocks()[0].wq.ggml_type, llama_extract::runtime::quant_model::fallback_type(ty, 576));
        // Re-quantizing 4-bit weights to 5 bits adds a little noise; the answer survives.
        assert_eq!(answer(&model, &tok, &prompt).text, "The capital of France is Paris.", "{ty:?}");
        // The prompt's top-1 predictions mostly agree with llama.cpp's on the original file.
        let mut agree = 0;
        let mut n = 0;
        model
            .forward_each(
                &prompt,
                &mut model.new_cache(prompt.len()),
                |i, _, l| {
                    n += 1;
                    if llama_extract::runtime::generate::argmax(l) as u32
                        == g["prompt_top10"][i][0][0].as_u64().unwrap() as u32
                    {
                        agree += 1;
                    }
                },
                true,
            )
            .unwrap();
        assert!(agree * 10 >= n * 8, "{ty:?}: {agree}/{n}");
    }
    let model = QuantLlama::from_gguf(&file, WeightFormat::AsLoaded).unwrap();
    let mut session = QuantSession::new(&model, 64);
    let mut streamed = String::new();
    let opts = GenerateOptions { max_new_tokens: 20, stop_strings: vec![" Paris".into()], ..Default::default() };
    let out = generate(&mut session, &tok, &prompt, &opts, &mut |_, piece| {
        streamed.push_str(piece);
        true
    })
    .unwrap();
    assert_eq!(out.text, "The capital of France is");
    assert_eq!(out.stop, llama_extract::StopReason::StopString(" Paris".into()));
    assert!(streamed.starts_with("The capital of France is"));
}

#[test]
fn a_rewound_cache_answers_as_a_fresh_one() {
    let file = GgufFile::open(model_asset(SMOLLM2)).unwrap();
    let model = QuantLlama::from_gguf(&file, WeightFormat::AsLoaded).unwrap();
    let prompt = ids(&json("p1_capital_chatml.json")["prompt_ids"]);
    let (shared, tail) = prompt.split_at(prompt.len() - 3);
    // Fed the shared part, then other tokens that are taken back, then the tail: the cache
    // must hold exactly what a fresh one fed `prompt` holds (positions written after the
    // rewind replace the discarded ones in every head).
    let mut cache = model.new_cache(prompt.len() + 8);
    model.forward(shared, &mut cache).unwrap();
    model.forward(&[504, 1045, 28, 7, 900], &mut cache).unwrap();
    cache.truncate(shared.len());
    // A clone holds the same positions: fed the same tail, it answers the same.
    let mut cloned = cache.clone();
    let rewound = model.forward(tail, &mut cache).unwrap();
    let fresh = model.forward(&prompt, &mut model.new_cache(prompt.len())).unwrap();
    assert_eq!(rewound, fresh);
    assert_eq!(model.forward(tail, &mut cloned).unwrap(), fresh);
    // Cleared, it starts again from nothing.
    cache.clear();
    assert_eq!(model.forward(&prompt, &mut cache).unwrap(), fresh);
}
