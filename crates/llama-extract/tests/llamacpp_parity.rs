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
use llama_extract::{
    GenerateOptions, GgufFile, LlamaTokenizer, QuantLlama, QuantSession, Sampling, WeightFormat, generate,
};

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

fn top10(v: &serde_json::Value) -> Vec<Vec<(u32, f32)>> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_u64().unwrap() as u32, p[1].as_f64().unwrap() as f32))
                .collect()
        })
        .collect()
}

fn margins(v: &serde_json::Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|m| m.as_f64().unwrap() as f32).collect()
}

/// A short greedy answer that stops at the end-of-turn token.
fn answer(model: &QuantLlama, tok: &LlamaTokenizer, prompt: &[u32]) -> llama_extract::Generation {
    let mut session = QuantSession::new(model, 64);
    let opts = GenerateOptions { max_new_tokens: 20, ..Default::default() };
    generate(&mut session, tok, prompt, &opts, &mut |_, _| true).unwrap()
}

fn check_prompt(model: &QuantLlama, tok: &LlamaTokenizer, name: &str) {
    let g = json(&format!("{name}.json"));
    let prompt_ids = ids(&g["prompt_ids"]);
    assert_eq!(tok.encode(g["prompt"].as_str().unwrap(), true).unwrap(), prompt_ids, "{name}: prompt ids");
    let greedy = ids(&g["greedy"]["ids"]);

    // Teacher-forced logits: every prompt position, then the positions of greedy ids 0..31.
    let mut feed = prompt_ids.clone();
    feed.extend(&greedy[..31]);
    let mut rows: Vec<Vec<f32>> = Vec::new();
    let mut cache = model.new_cache(feed.len());
    model.forward_each(&feed, &mut cache, |_, _, l| rows.push(l.to_vec()), true).unwrap();
    let n = prompt_ids.len();
    let mut refs = top10(&g["prompt_top10"]);
    let mut ref_margins = margins(&g["prompt_top1_margin"]);
    refs.extend(top10(&g["greedy"]["step_top10"]).into_iter().skip(1));
    ref_margins.extend(margins(&g["greedy"]["step_top1_margin"]).into_iter().skip(1));
    assert_eq!(rows.len(), refs.len());

    let (mut agree, mut max_d, mut sum_d, mut count) = (0, 0f32, 0f64, 0);
    let mut first_flip_step = None;
    for (pos, (row, want)) in rows.iter().zip(&refs).enumerate() {
        let ours = llama_extract::generate::argmax(row);
        if ours == want[0].0 {
            agree += 1;
        } else {
            if pos + 1 >= n && first_flip_step.is_none() {
                first_flip_step = Some(pos + 1 - n);
            }
            assert!(
                ref_margins[pos] < 1.0,
                "{name} position {pos}: top-1 {ours} vs {} with margin {}",
                want[0].0,
                ref_margins[pos]
            );
        }
        for &(id, logit) in want {
            let d = (row[id as usize] - logit).abs();
            max_d = max_d.max(d);
            sum_d += d as f64;
            count += 1;
        }
    }
    let mean_d = sum_d / count as f64;
    let share = agree as f64 / rows.len() as f64;
    println!("{name}: top-1 {agree}/{} = {share:.3}, top-10 logits max |Δ| {max_d:.3} mean {mean_d:.3}", rows.len());
    assert!(share >= 0.9, "{name}: top-1 agreement {share}");
    assert!(max_d <= 3.0 && mean_d <= 0.3, "{name}: top-10 |Δ| max {max_d} mean {mean_d}");

    let bytes = std::fs::read(fixture(&format!("{name}.last_logits.f32.npy"))).unwrap();
    let last: Vec<f32> = npyz::NpyFile::new(&bytes[..]).unwrap().into_vec().unwrap();
    let ours = &rows[n - 1];
    let (mx, mean) =
        last.iter().zip(ours).fold((0f32, 0f64), |(m, s), (a, b)| (m.max((a - b).abs()), s + (a - b).abs() as f64));
    let mean = mean / last.len() as f64;
    println!("{name}: last prompt position, full vocabulary max |Δ| {mx:.3} mean {mean:.3}");
    assert!(mx <= 1.5 && mean <= 0.25, "{name}: last logits max {mx} mean {mean}");

    // Greedy decoding with the KV cache.
    let mut session = QuantSession::new(model, n + 32);
    let opts =
        GenerateOptions { max_new_tokens: 32, sampling: Sampling::greedy(), stop_strings: vec![], stop_on_eos: false };
    let out = generate(&mut session, tok, &prompt_ids, &opts, &mut |_, _| true).unwrap();
    let same = out.tokens.iter().zip(&greedy).take_while(|(a, b)| a == b).count();
    let must = first_flip_step.unwrap_or(32);
    println!(
        "{name}: greedy ids identical for {same}/32 steps (first teacher-forced near-tie flip: {first_flip_step:?})"
    );
    assert!(same >= must, "{name}: greedy diverges at step {same}, before the first near-tie at {must}");
}

#[test]
fn quantized_path_matches_llama_cpp_on_smollm2() {
    let file = GgufFile::open(model_asset(SMOLLM2)).unwrap();
    let tok = LlamaTokenizer::from_gguf(&file).unwrap();
    let model = QuantLlama::from_gguf(&file, WeightFormat::AsLoaded).unwrap().with_threads(2).unwrap();
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
        assert_eq!(model.blocks[0].wq.ggml_type, llama_extract::model::fallback_type(ty, 576));
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
                    if llama_extract::generate::argmax(l) == g["prompt_top10"][i][0][0].as_u64().unwrap() as u32 {
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
