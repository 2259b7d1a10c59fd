//! LoRA fine-tuning of the f32 decoder (SmolLM2 truncated to 4 layers so it runs in seconds):
//! the held-out loss falls, runs are reproducible for a seed, only adapters change, adapter
//! checkpoints are PEFT files, and over-long pairs are refused rather than truncated.

mod common;

use common::*;
use llama_extract::finetune::{SftConfig, encode_pair, finetune, synthetic_pairs};
use llama_extract::weights::WeightSet;
use llama_extract::{BurnLlama, GgufFile, LlamaConfig, LlamaTokenizer};

type Train = burn::backend::Autodiff<burn::backend::Flex>;

/// burn's CPU random generator is process-global; seeded runs take turns.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn adapter_values(model: &mut BurnLlama<Train>, config: &lora::LoraConfig) -> Vec<f32> {
    model
        .adapter(config)
        .unwrap()
        .modules
        .values()
        .flat_map(|p| p.a.values.iter().chain(&p.b.values).copied().collect::<Vec<_>>())
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

    let long = llama_extract::finetune::SftPair { prompt: "word ".repeat(300), response: "{}".into() };
    assert!(matches!(encode_pair(&tok, &long, 256), Err(llama_extract::LlamaError::ContextOverflow { .. })));
}
