//! The f32 burn path: against the independent numpy f32 forward pass of the goldens (weights
//! dequantized by gguf-py; tolerance 1e-3 on the top-10 logits, golden README §A.3), against the
//! quantized path run on f32 weights (same semantics, so they agree to f32 rounding), and the HF
//! safetensors loader (sharded, Q/K rows in rotate-half order) against the GGUF it was made from.

mod common;

use common::*;
use llama_extract::runtime::weights::{SafetensorsCheckpoint, WeightSet};
use llama_extract::{
    BurnLlama, BurnSession, CpuBackend, GenerateOptions, GgufFile, LlamaConfig, QuantLlama, Sampling, WeightFormat,
    generate,
};
use quant5::GgmlType;

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

#[test]
fn burn_f32_path_matches_the_numpy_reference() {
    let file = GgufFile::open(model_asset(SMOLLM2)).unwrap();
    let config = LlamaConfig::from_gguf(&file).unwrap();
    let device = Default::default();
    let model = BurnLlama::<CpuBackend>::from_weights(config, &WeightSet::Gguf(&file), &device).unwrap();
    for name in ["p1_capital_chatml", "p2_emotion_chatml", "p3_long_plain"] {
        let g = json(&format!("{name}.numpy_f32.json"));
        let prompt = ids(&g["prompt_ids"]);
        let greedy = ids(&g["greedy"]["ids"]);
        let mut feed = prompt.clone();
        feed.extend(&greedy[..31]);
        let mut cache = model.new_cache(feed.len());
        let logits = model.forward(&feed, &mut cache).unwrap();
        let vocab = logits.dims()[1];
        let values = logits.into_data().to_vec::<f32>().unwrap();
        let mut refs: Vec<&serde_json::Value> = g["prompt_top10"].as_array().unwrap().iter().collect();
        refs.extend(g["greedy"]["step_top10"].as_array().unwrap().iter().skip(1));
        let mut margins: Vec<f64> =
            g["prompt_top1_margin"].as_array().unwrap().iter().map(|m| m.as_f64().unwrap()).collect();
        margins.extend(g["greedy"]["step_top1_margin"].as_array().unwrap().iter().skip(1).map(|m| m.as_f64().unwrap()));
        let mut max_d = 0f32;
        for (pos, want) in refs.iter().enumerate() {
            let row = &values[pos * vocab..(pos + 1) * vocab];
            let top: Vec<(u32, f32)> = want
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_u64().unwrap() as u32, p[1].as_f64().unwrap() as f32))
                .collect();
            for &(id, l) in &top {
                max_d = max_d.max((row[id as usize] - l).abs());
            }
            if margins[pos] >= 1e-3 {
                assert_eq!(llama_extract::runtime::generate::argmax(row) as u32, top[0].0, "{name} position {pos}");
            }
        }
        println!("{name}: {} positions, top-10 logits max |Δ| vs numpy f32 = {max_d:.2e}", refs.len());
        assert!(max_d <= 1e-3, "{name}: {max_d}");
        // Greedy with the f32 path's KV cache, one token at a time.
        let mut session = BurnSession::new(&model, prompt.len() + 32);
        let opts = GenerateOptions {
            max_new_tokens: 32,
            sampling: Sampling::greedy(),
            stop_strings: vec![],
            stop_on_eos: false,
        };
        let out = generate(
            &mut session,
            &llama_extract::LlamaTokenizer::from_gguf(&file).unwrap(),
            &prompt,
            &opts,
            &mut |_, _| true,
        )
        .unwrap();
        assert_eq!(out.tokens, greedy, "{name}: greedy");
    }
}

fn two_layer_config(file: &GgufFile) -> LlamaConfig {
    LlamaConfig { n_layers: 2, ..LlamaConfig::from_gguf(file).unwrap() }
}

#[test]
fn both_paths_agree_on_f32_weights() {
    let file = GgufFile::open(model_asset(SMOLLM2)).unwrap();
    let config = two_layer_config(&file);
    let quant =
        QuantLlama::from_weights(config.clone(), &WeightSet::Gguf(&file), WeightFormat::Requantize(GgmlType::F32))
            .unwrap();
    let burn = BurnLlama::<CpuBackend>::from_weights(config, &WeightSet::Gguf(&file), &Default::default()).unwrap();
    let prompt: Vec<u32> = ids(&json("p2_emotion_chatml.json")["prompt_ids"]);
    let mut rows = Vec::new();
    quant.forward_each(&prompt, &mut quant.new_cache(prompt.len()), |_, _, l| rows.push(l.to_vec()), true).unwrap();
    let b = burn.forward(&prompt, &mut burn.new_cache(prompt.len())).unwrap().into_data().to_vec::<f32>().unwrap();
    let q: Vec<f32> = rows.concat();
    let max = q.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    println!("quantized path on f32 weights vs burn f32: max |Δ logit| {max:.2e} over {} positions", prompt.len());
    assert!(max <= 1e-3, "{max}");
}

/// Writes the first two layers of the GGUF as an HF checkpoint: f32, HF names, rotate-half
/// Q/K rows, two shards with an index.
fn export_hf(file: &GgufFile, dir: &std::path::Path) {
    let c = two_layer_config(file);
    let w = WeightSet::Gguf(file);
    let hd = c.head_dim;
    let inverse_permute = |values: Vec<f32>, heads: usize, cols: usize| {
        let mut out = vec![0f32; values.len()];
        for h in 0..heads {
            for j in 0..hd / 2 {
                for (src, dst) in [(2 * j, j), (2 * j + 1, j + hd / 2)] {
                    let (s, d) = ((h * hd + src) * cols, (h * hd + dst) * cols);
                    out[d..d + cols].copy_from_slice(&values[s..s + cols]);
                }
            }
        }
        out
    };
    let h = c.hidden_size;
    let mut tensors: Vec<(String, Vec<usize>, Vec<f32>)> = Vec::new();
    let mut mat = |gguf: &str, hf: String, rows: usize, cols: usize, heads: Option<usize>| {
        let v = w.matrix(gguf, rows, cols).unwrap().dequantize().unwrap();
        let v = match heads {
            Some(n) => inverse_permute(v, n, cols),
            None => v,
        };
        tensors.push((hf, if rows == 1 { vec![cols] } else { vec![rows, cols] }, v));
    };
    mat("token_embd.weight", "model.embed_tokens.weight".into(), c.vocab_size, h, None);
    mat("output_norm.weight", "model.norm.weight".into(), 1, h, None);
    for i in 0..2 {
        let (q, kv, ff) = (c.n_heads * hd, c.n_kv_heads * hd, c.intermediate_size);
        let p = format!("model.layers.{i}");
        mat(&format!("blk.{i}.attn_norm.weight"), format!("{p}.input_layernorm.weight"), 1, h, None);
        mat(&format!("blk.{i}.ffn_norm.weight"), format!("{p}.post_attention_layernorm.weight"), 1, h, None);
        mat(&format!("blk.{i}.attn_q.weight"), format!("{p}.self_attn.q_proj.weight"), q, h, Some(c.n_heads));
        mat(&format!("blk.{i}.attn_k.weight"), format!("{p}.self_attn.k_proj.weight"), kv, h, Some(c.n_kv_heads));
        mat(&format!("blk.{i}.attn_v.weight"), format!("{p}.self_attn.v_proj.weight"), kv, h, None);
        mat(&format!("blk.{i}.attn_output.weight"), format!("{p}.self_attn.o_proj.weight"), h, q, None);
        mat(&format!("blk.{i}.ffn_gate.weight"), format!("{p}.mlp.gate_proj.weight"), ff, h, None);
        mat(&format!("blk.{i}.ffn_up.weight"), format!("{p}.mlp.up_proj.weight"), ff, h, None);
        mat(&format!("blk.{i}.ffn_down.weight"), format!("{p}.mlp.down_proj.weight"), h, ff, None);
    }
    let mut weight_map = serde_json::Map::new();
    for (shard, part) in tensors.chunks(tensors.len() / 2 + 1).enumerate() {
        let name = format!("model-0000{}-of-00002.safetensors", shard + 1);
        let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = part
            .iter()
            .map(|(n, s, v)| (n.clone(), s.clone(), v.iter().flat_map(|x| x.to_le_bytes()).collect()))
            .collect();
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bytes
            .iter()
            .map(|(n, s, b)| {
                (n.clone(), safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), b).unwrap())
            })
            .collect();
        std::fs::write(dir.join(&name), safetensors::serialize(views, None).unwrap()).unwrap();
        for (n, _, _) in part {
            weight_map.insert(n.clone(), serde_json::Value::String(name.clone()));
        }
    }
    std::fs::write(dir.join("model.safetensors.index.json"), serde_json::json!({"weight_map": weight_map}).to_string())
        .unwrap();
    let config = serde_json::json!({
        "model_type": "llama", "vocab_size": c.vocab_size, "hidden_size": h, "intermediate_size": c.intermediate_size,
        "num_hidden_layers": 2, "num_attention_heads": c.n_heads, "num_key_value_heads": c.n_kv_heads,
        "rms_norm_eps": c.rms_norm_eps, "rope_theta": c.rope_theta, "max_position_embeddings": c.context_length,
        "tie_word_embeddings": true
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
}

#[test]
fn hf_safetensors_checkpoint_loads_to_the_same_model() {
    let file = GgufFile::open(model_asset(SMOLLM2)).unwrap();
    let dir = std::env::temp_dir().join(format!("llama-hf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    export_hf(&file, &dir);
    let ckpt = SafetensorsCheckpoint::open(&dir).unwrap();
    assert_eq!(ckpt.config, LlamaConfig { rope_freq_divisors: None, ..two_layer_config(&file) });
    let from_hf =
        QuantLlama::from_weights(ckpt.config.clone(), &WeightSet::Safetensors(&ckpt), WeightFormat::AsLoaded).unwrap();
    let from_gguf = QuantLlama::from_weights(
        two_layer_config(&file),
        &WeightSet::Gguf(&file),
        WeightFormat::Requantize(GgmlType::F32),
    )
    .unwrap();
    let prompt = ids(&json("p1_capital_chatml.json")["prompt_ids"]);
    let a = from_hf.forward(&prompt, &mut from_hf.new_cache(32)).unwrap();
    let b = from_gguf.forward(&prompt, &mut from_gguf.new_cache(32)).unwrap();
    assert_eq!(a, b, "same weights after the Q/K permutation, same logits bit for bit");
    // A shape that does not fit is an error naming the tensor.
    let mut bad = two_layer_config(&file);
    bad.intermediate_size += 32;
    let e =
        QuantLlama::from_weights(bad, &WeightSet::Safetensors(&ckpt), WeightFormat::AsLoaded).unwrap_err().to_string();
    assert!(e.contains("mlp.gate_proj"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn lora_adapters_attach_by_name_start_as_no_ops_and_round_trip_through_peft_files() {
    let file = GgufFile::open(model_asset(SMOLLM2)).unwrap();
    let device = Default::default();
    let mut model =
        BurnLlama::<CpuBackend>::from_weights(two_layer_config(&file), &WeightSet::Gguf(&file), &device).unwrap();
    let prompt = ids(&json("p1_capital_chatml.json")["prompt_ids"]);
    let before = model.forward(&prompt, &mut model.new_cache(32)).unwrap().into_data().to_vec::<f32>().unwrap();
    let config = lora::LoraConfig::new(8, 16.0, &["q_proj", "v_proj"]);
    assert_eq!(model.attach_lora(&config, &device), 4, "q and v in each of two layers");
    let (trainable, total) = model.parameter_counts();
    // r·(in + out) per adapted module: q 576→576, v 576→192.
    assert_eq!(trainable, 2 * (8 * (576 + 576) + 8 * (576 + 192)));
    assert!(total > trainable * 100);
    let fresh = model.forward(&prompt, &mut model.new_cache(32)).unwrap().into_data().to_vec::<f32>().unwrap();
    assert_eq!(before, fresh, "B = 0: a fresh adapter changes nothing");

    // Give the adapters non-zero B, save as PEFT, load into a clean model: same outputs.
    for (_, layer) in model.projections_mut() {
        if let Some(a) = &mut layer.adapter {
            let b = a.lora_b.val();
            a.lora_b = burn::module::Param::from_tensor(b.ones_like() * 0.01);
        }
    }
    let adapted = model.forward(&prompt, &mut model.new_cache(32)).unwrap().into_data().to_vec::<f32>().unwrap();
    assert!(adapted.iter().zip(&before).any(|(a, b)| (a - b).abs() > 1e-3));
    let dir = std::env::temp_dir().join(format!("llama-lora-{}", std::process::id()));
    model.adapter(&config).unwrap().save(&dir).unwrap();
    let mut other =
        BurnLlama::<CpuBackend>::from_weights(two_layer_config(&file), &WeightSet::Gguf(&file), &device).unwrap();
    other.load_adapter(&lora::LoraAdapter::load(&dir).unwrap(), &device).unwrap();
    let reloaded = other.forward(&prompt, &mut other.new_cache(32)).unwrap().into_data().to_vec::<f32>().unwrap();
    let max = adapted.iter().zip(&reloaded).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(max <= 1e-5, "{max}");
    // The quantized decoder serves the same adapter unmerged (Q/K lora_B rows permuted to its
    // RoPE order): on f32 weights it agrees with the f32 path.
    let mut quant = QuantLlama::from_weights(
        two_layer_config(&file),
        &WeightSet::Gguf(&file),
        WeightFormat::Requantize(GgmlType::F32),
    )
    .unwrap();
    quant.apply_adapter(&lora::LoraAdapter::load(&dir).unwrap()).unwrap();
    let mut rows = Vec::new();
    quant.forward_each(&prompt, &mut quant.new_cache(32), |_, _, l| rows.push(l.to_vec()), true).unwrap();
    let max = rows.concat().iter().zip(&reloaded).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    println!("quantized path with run-time adapter vs f32 path with adapter: max |Δ| {max:.2e}");
    assert!(max <= 1e-3, "{max}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn peft_adapters_export_to_llama_cpp_gguf() {
    let file = GgufFile::open(model_asset(SMOLLM2)).unwrap();
    let config = LlamaConfig::from_gguf(&file).unwrap();
    // A small adapter with recognisable values.
    let lora_config = lora::LoraConfig::new(2, 8.0, &["q_proj", "v_proj"]);
    let pair = |inp: usize, out: usize| lora::LoraPair {
        a: lora::Matrix { rows: 2, cols: inp, data: (0..2 * inp).map(|i| i as f32).collect() },
        b: lora::Matrix { rows: out, cols: 2, data: (0..out * 2).map(|i| i as f32).collect() },
    };
    let mut modules = std::collections::BTreeMap::new();
    modules.insert("model.layers.0.self_attn.q_proj".to_string(), pair(576, 576));
    modules.insert("model.layers.0.self_attn.v_proj".to_string(), pair(576, 192));
    let adapter = lora::LoraAdapter { config: lora_config, modules };
    let g = GgufFile::from_bytes(llama_extract::train::lora_gguf::lora_gguf_bytes(&adapter, &config).unwrap()).unwrap();
    assert_eq!(g.str("general.type").unwrap(), "adapter");
    assert_eq!(g.str("adapter.type").unwrap(), "lora");
    assert_eq!(g.f64_opt("adapter.lora.alpha").unwrap(), Some(8.0));
    let a = g.tensor("blk.0.attn_q.weight.lora_a").unwrap();
    assert_eq!(a.dims, [576, 2]);
    let b = g.tensor("blk.0.attn_q.weight.lora_b").unwrap();
    assert_eq!(b.dims, [2, 576]);
    let bv: Vec<f32> = g.tensor_data(b).chunks_exact(4).map(|x| f32::from_le_bytes(x.try_into().unwrap())).collect();
    // Row 1 of the GGUF lora_b is HF row head_dim/2 = 32 (RoPE permutation), row 2 is HF row 1.
    assert_eq!(&bv[2..4], &[64.0, 65.0]);
    assert_eq!(&bv[4..6], &[2.0, 3.0]);
    let vb = g.tensor("blk.0.attn_v.weight.lora_b").unwrap();
    assert_eq!(vb.dims, [2, 192]);
    let vv: Vec<f32> = g.tensor_data(vb).chunks_exact(4).map(|x| f32::from_le_bytes(x.try_into().unwrap())).collect();
    assert_eq!(&vv[2..4], &[2.0, 3.0], "v_proj is not permuted");
    // An adapter made for another model is refused, naming the module.
    let mut wrong = adapter.clone();
    wrong.modules.insert("model.layers.0.self_attn.k_proj".into(), pair(64, 32));
    let e = llama_extract::train::lora_gguf::lora_gguf_bytes(&wrong, &config).unwrap_err().to_string();
    assert!(e.contains("k_proj") && e.contains("576"), "{e}");
}
