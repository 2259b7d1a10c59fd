//! Shared by the tests that need the fetched model assets.
#![allow(dead_code)]

use std::path::PathBuf;

use llama_extract::{GenerateOptions, LlamaTokenizer, QuantLlama, QuantSession, Sampling, generate};

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// A file from the model cache; a missing file fails the test with the command that fetches it
/// (the README's test command runs that script first, so nothing is skipped silently).
pub fn model_asset(name: &str) -> PathBuf {
    let p = llama_extract::models_dir().join(name);
    assert!(p.exists(), "{} is missing: run `bash scripts/fetch-models.sh` (or set WHISPERS_MODELS)", p.display());
    p
}

pub const SMOLLM2: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
pub const LLAMA3_TOKENIZER: &str = "llama3-tokenizer.json";

pub fn json(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture(name)).unwrap()).unwrap()
}

pub fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

pub fn top10(v: &serde_json::Value) -> Vec<Vec<(u32, f32)>> {
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

pub fn margins(v: &serde_json::Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|m| m.as_f64().unwrap() as f32).collect()
}

/// A short greedy answer that stops at the end-of-turn token.
pub fn answer(model: &QuantLlama, tok: &LlamaTokenizer, prompt: &[u32]) -> llama_extract::Generation {
    let mut session = QuantSession::new(model, 64);
    let opts = GenerateOptions { max_new_tokens: 20, ..Default::default() };
    generate(&mut session, tok, prompt, &opts, &mut |_, _| true).unwrap()
}

/// llama.cpp's golden `{dir}{name}.json` (and `{dir}{name}.last_logits.f32.npy` where there is
/// one) against `model`, with the tolerances of the module docs of `llamacpp_parity.rs`.
pub fn check_prompt_in(model: &QuantLlama, tok: &LlamaTokenizer, dir: &str, name: &str) {
    let g = json(&format!("{dir}{name}.json"));
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
        let ours = llama_extract::runtime::generate::argmax(row) as u32;
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

    if let Ok(bytes) = std::fs::read(fixture(&format!("{dir}{name}.last_logits.f32.npy"))) {
        let last: Vec<f32> = npyz::NpyFile::new(&bytes[..]).unwrap().into_vec().unwrap();
        let ours = &rows[n - 1];
        let (mx, mean) =
            last.iter().zip(ours).fold((0f32, 0f64), |(m, s), (a, b)| (m.max((a - b).abs()), s + (a - b).abs() as f64));
        let mean = mean / last.len() as f64;
        println!("{name}: last prompt position, full vocabulary max |Δ| {mx:.3} mean {mean:.3}");
        assert!(mx <= 1.5 && mean <= 0.25, "{name}: last logits max {mx} mean {mean}");
    }

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

/// [`check_prompt_in`] for the Q4_1 goldens at the fixtures' top level.
pub fn check_prompt(model: &QuantLlama, tok: &LlamaTokenizer, name: &str) {
    check_prompt_in(model, tok, "", name);
}
