//! LoRA fine-tuning of the f32 decoder (SmolLM2 truncated to 4 layers so it runs in seconds):
//! the held-out loss falls, runs are reproducible for a seed, only adapters change, adapter
//! checkpoints are PEFT files, and over-long pairs are refused rather than truncated. The same
//! holds over a frozen 5-bit (Q5_1) base, which keeps the f32 model's predictions and a fifth
//! of its weight bytes.

mod common;

use common::*;
use llama_extract::runtime::weights::WeightSet;
use llama_extract::train::sft::{SftConfig, encode_pair, finetune, synthetic_pairs};
use llama_extract::{BurnLlama, GgufFile, LlamaConfig, LlamaTokenizer};
use quant5::GgmlType;

type Train = burn::backend::Autodiff<burn::backend::Flex>;

/// burn's CPU random generator is process-global; seeded runs take turns.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn adapter_values(model: &mut BurnLlama<Train>, config: &lora::LoraConfig) -> Vec<f32> {
    model
        .adapter(config)
        .unwrap()
        .modules
        .values()
        .flat_map(|p| p.a.data.iter().chain(&p.b.data).copied().collect::<Vec<_>>())
        .collect()
}

#[test]
fn finetuning_lowers_held_out_loss_reproducibly() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let file = GgufFile::open(model_asset(SMOLLM2)).unwrap();
    let tok = LlamaTokenizer::from_gguf(&file).unwrap();
    let config = LlamaConfig { n_layers: 4, ..LlamaConfig::from_gguf(&file).unwrap() };
    let train: Vec<_> = synthetic_pairs(16, 1).iter().map(|p| encode_pair(&tok, p, 256).unwrap()).collect();
    let eval: Vec<_> = synthetic_pairs(6, 2).iter().map(|p| encode_pair(&tok, p, 256).unwrap()).collect();
    let lora_config = lora::LoraConfig::new(8, 16.0, &["q_proj", "v_proj"]);
    let sft = SftConfig { epochs: 2, lr: 5e-3, warmup_steps: 2, grad_accum: 4, seed: 3, ..SftConfig::default() };
    let device = Default::default();
    let run = |dir: Option<&std::path::Path>| {
        let mut model = BurnLlama::<Train>::from_weights(config.clone(), &WeightSet::Gguf(&file), &device).unwrap();
        // Adapter initialisation draws from burn's generator: seed it first.
        <Train as burn::tensor::backend::Backend>::seed(&device, 7);
        model.attach_lora(&lora_config, &device);
        finetune(model, &lora_config, &train, &eval, &sft, dir, &mut |_| {}, &device).unwrap()
    };
    let dir = std::env::temp_dir().join(format!("sft-{}", std::process::id()));
    let (mut a, report) = run(Some(&dir));
    let (first, last) = (report.eval[0].1, report.eval.last().unwrap().1);
    println!("eval loss {first:.4} → {last:.4} over {} steps", report.steps);
    assert_eq!(report.steps, 8);
    assert!(last < first * 0.8, "held-out loss {first} → {last}");
    let (mut b, _) = run(None);
    assert_eq!(adapter_values(&mut a, &lora_config), adapter_values(&mut b, &lora_config), "same seed, same adapters");
    let saved = lora::LoraAdapter::load(dir.join("final")).unwrap();
    assert_eq!(saved.modules.len(), 8);
    assert!(dir.join("step_4").join("adapter_model.safetensors").exists());
    // The frozen base did not move: a fresh model with the saved adapter gives a's outputs.
    let mut c =
        BurnLlama::<burn::backend::Flex>::from_weights(config.clone(), &WeightSet::Gguf(&file), &device).unwrap();
    c.load_adapter(&saved, &device).unwrap();
    let valid = burn::module::AutodiffModule::valid(&a);
    let x = &eval[0].ids;
    let la = valid.forward(x, &mut valid.new_cache(x.len())).unwrap().into_data().to_vec::<f32>().unwrap();
    let lc = c.forward(x, &mut c.new_cache(x.len())).unwrap().into_data().to_vec::<f32>().unwrap();
    assert!(la.iter().zip(&lc).all(|(p, q)| (p - q).abs() < 1e-4));
    std::fs::remove_dir_all(&dir).unwrap();

    let long = llama_extract::train::sft::SftPair { system: None, prompt: "word ".repeat(300), response: "{}".into() };
    assert!(matches!(encode_pair(&tok, &long, 256), Err(llama_extract::LlamaError::ContextOverflow { .. })));
}

#[test]
fn finetuning_over_a_5_bit_base_lowers_held_out_loss() {
    let _turn = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let file = GgufFile::open(model_asset(SMOLLM2)).unwrap();
    let tok = LlamaTokenizer::from_gguf(&file).unwrap();
    let config = LlamaConfig { n_layers: 4, ..LlamaConfig::from_gguf(&file).unwrap() };
    let weights = WeightSet::Gguf(&file);
    let device = Default::default();
    let f32_model = BurnLlama::<burn::backend::Flex>::from_weights(config.clone(), &weights, &device).unwrap();
    let q5 =
        BurnLlama::<burn::backend::Flex>::from_weights_quantized(config.clone(), &weights, GgmlType::Q5_1, &device)
            .unwrap();
    assert_eq!(q5.parameter_counts(), f32_model.parameter_counts());
    let (qb, fb) = (q5.frozen_bytes(), f32_model.frozen_bytes());
    println!("frozen weights: Q5_1 {qb} bytes, f32 {fb} bytes");
    assert!((qb as f64) < 0.2 * fb as f64, "{qb} vs {fb}");
    // The quantized-base path itself is exact: with F32 "blocks" it is the f32 model.
    let eval: Vec<_> = synthetic_pairs(6, 2).iter().map(|p| encode_pair(&tok, p, 256).unwrap()).collect();
    let x = &eval[0].ids;
    let logits = |m: &BurnLlama<burn::backend::Flex>| -> Vec<f32> {
        m.forward(x, &mut m.new_cache(x.len())).unwrap().into_data().to_vec::<f32>().unwrap()
    };
    let exact =
        BurnLlama::<burn::backend::Flex>::from_weights_quantized(config.clone(), &weights, GgmlType::F32, &device)
            .unwrap();
    let (lf, le, lq) = (logits(&f32_model), logits(&exact), logits(&q5));
    let max = lf.iter().zip(&le).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max);
    assert!(max <= 1e-3, "F32 blocks vs f32 model: max |Δ logit| {max}");
    // Q5_1 requantization error is small next to the logits themselves.
    let rms = |v: &mut dyn Iterator<Item = f32>| {
        let (s, n) = v.fold((0f64, 0usize), |(s, n), d| (s + (d as f64).powi(2), n + 1));
        (s / n as f64).sqrt()
    };
    let err = rms(&mut lf.iter().zip(&lq).map(|(p, q)| p - q));
    let scale = rms(&mut lf.iter().copied());
    println!("Q5_1 base vs f32: logit RMS error {err:.3} against logit RMS {scale:.3}");
    assert!(err < 0.1 * scale, "{err} vs {scale}");

    let train: Vec<_> = synthetic_pairs(16, 1).iter().map(|p| encode_pair(&tok, p, 256).unwrap()).collect();
    let lora_config = lora::LoraConfig::new(8, 16.0, &["q_proj", "v_proj"]);
    let sft = SftConfig { epochs: 2, lr: 5e-3, warmup_steps: 2, grad_accum: 4, seed: 3, ..SftConfig::default() };
    let mut model =
        BurnLlama::<Train>::from_weights_quantized(config.clone(), &weights, GgmlType::Q5_1, &device).unwrap();
    <Train as burn::tensor::backend::Backend>::seed(&device, 7);
    model.attach_lora(&lora_config, &device);
    let (_, report) = finetune(model, &lora_config, &train, &eval, &sft, None, &mut |_| {}, &device).unwrap();
    let (first, last) = (report.eval[0].1, report.eval.last().unwrap().1);
    println!("5-bit base: eval loss {first:.4} → {last:.4} over {} steps", report.steps);
    assert!(last < first * 0.8, "held-out loss {first} → {last}");
}
