//! The PEFT-format golden adapter (`../shared/golden/lora`): config and tensors load, merge
//! into the base reproduces the golden merged weights (plain and rsLoRA) within 1e-6 with
//! untargeted weights bit-identical, the unmerged forward matches within 1e-5, merge/unmerge
//! restore the base, and files round-trip exactly.

use std::path::PathBuf;

use burn::module::Param;
use burn::nn::LinearConfig;
use burn::tensor::{Tensor, TensorData};
use lora::{CpuBackend, FrozenBase, LoraAdapter, LoraConfig, LoraLinear, WeightFile};

type B = CpuBackend;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn merge_reproduces_the_golden_weights() {
    for (dir, merged, scaling) in
        [("adapter", "merged_weights.safetensors", 2.0), ("adapter_rslora", "merged_weights_rslora.safetensors", 4.0)]
    {
        let adapter = LoraAdapter::load(fixture(dir)).unwrap();
        assert_eq!(adapter.config.scaling(), scaling);
        assert_eq!(adapter.modules.len(), 4);
        let base = WeightFile::load(fixture("base_weights.safetensors")).unwrap();
        let want = WeightFile::load(fixture(merged)).unwrap();
        let mut w = base.clone();
        assert_eq!(adapter.merge_into(&mut w, false).unwrap(), 4);
        for (key, t) in &w.tensors {
            let d = max_diff(&t.values, &want.tensors[key].values);
            if key.contains("q_proj") || key.contains("v_proj") {
                assert!(d <= 1e-6, "{dir} {key}: {d}");
            } else {
                assert_eq!(t.values, base.tensors[key].values, "{key} is not targeted and must not change");
            }
        }
        adapter.merge_into(&mut w, true).unwrap();
        for (key, t) in &w.tensors {
            assert!(max_diff(&t.values, &base.tensors[key].values) <= 1e-6, "unmerge {key}");
        }
    }
}

fn lora_layer(base: &WeightFile, adapter: &LoraAdapter, module: &str) -> LoraLinear<B> {
    let device = Default::default();
    let w = &base.tensors[&format!("{module}.weight")];
    let (out, inp) = (w.shape[0], w.shape[1]);
    let mut linear = LinearConfig::new(inp, out).with_bias(false).init::<B>(&device);
    linear.weight = Param::from_tensor(
        Tensor::<B, 2>::from_data(TensorData::new(w.values.clone(), [out, inp]), &device).transpose(),
    );
    let mut layer = LoraLinear::new(linear);
    layer.attach_pair(&adapter.modules[module], &adapter.config, &device).unwrap();
    layer
}

fn dense_weight(layer: &LoraLinear<B>) -> Vec<f32> {
    match &layer.base {
        FrozenBase::Dense(l) => l.weight.val().into_data().to_vec::<f32>().unwrap(),
        FrozenBase::Quant(_) => panic!("built over an f32 base"),
    }
}

#[test]
fn unmerged_forward_matches_and_merge_unmerge_restore_the_layer() {
    let device = Default::default();
    let base = WeightFile::load(fixture("base_weights.safetensors")).unwrap();
    let expected = WeightFile::load(fixture("expected_forward.safetensors")).unwrap();
    let x = &expected.tensors["x"];
    let x = Tensor::<B, 2>::from_data(TensorData::new(x.values.clone(), [5, 64]), &device);
    for (dir, prefix) in [("adapter", "y"), ("adapter_rslora", "y_rslora")] {
        let adapter = LoraAdapter::load(fixture(dir)).unwrap();
        for layer_index in 0..2 {
            for proj in ["q_proj", "v_proj"] {
                let module = format!("model.layers.{layer_index}.self_attn.{proj}");
                let mut layer = lora_layer(&base, &adapter, &module);
                let want = &expected.tensors[&format!("{prefix}.{layer_index}.{proj}")].values;
                let y = layer.forward(x.clone()).into_data().to_vec::<f32>().unwrap();
                assert!(max_diff(&y, want) <= 1e-5, "{dir} {module}: {}", max_diff(&y, want));
                let w0 = dense_weight(&layer);
                layer.merge();
                let merged = layer.forward(x.clone()).into_data().to_vec::<f32>().unwrap();
                assert!(max_diff(&merged, want) <= 1e-5, "merged forward {module}");
                layer.unmerge();
                let w1 = dense_weight(&layer);
                assert!(max_diff(&w0, &w1) <= 1e-6, "merge then unmerge restores the base");
                assert_eq!(layer.pair().unwrap().unwrap(), adapter.modules[&module], "factors read back exactly");
            }
        }
    }
}

#[test]
fn files_round_trip_exactly_and_the_config_keeps_every_field() {
    let adapter = LoraAdapter::load(fixture("adapter")).unwrap();
    let dir = std::env::temp_dir().join(format!("lora-rt-{}", std::process::id()));
    adapter.save(&dir).unwrap();
    assert_eq!(LoraAdapter::load(&dir).unwrap(), adapter);
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("adapter/adapter_config.json")).unwrap()).unwrap();
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("adapter_config.json")).unwrap()).unwrap();
    assert_eq!(written, original);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_adapters_name_the_key() {
    let config = LoraConfig::load(fixture("adapter/adapter_config.json")).unwrap();
    let bytes = std::fs::read(fixture("adapter/adapter_model.safetensors")).unwrap();
    // Drop one B: the error names the missing key.
    let mut good = LoraAdapter::from_safetensors(config.clone(), &bytes).unwrap();
    let module = "model.layers.1.self_attn.v_proj";
    let mut broken = good.clone();
    broken.modules.get_mut(module).unwrap().b.rows = 31;
    broken.modules.get_mut(module).unwrap().b.data.truncate(31 * 4);
    let mut base = WeightFile::load(fixture("base_weights.safetensors")).unwrap();
    let e = broken.merge_into(&mut base, false).unwrap_err().to_string();
    assert!(e.contains("model.layers.1.self_attn.v_proj.weight") && e.contains("shape"), "{e}");
    // A module outside target_modules is refused on load.
    let mut narrow = config.clone();
    narrow.target_modules = lora::TargetModules::List(vec!["q_proj".into()]);
    let e = LoraAdapter::from_safetensors(narrow, &bytes).unwrap_err().to_string();
    assert!(e.contains("v_proj") && e.contains("target_modules"), "{e}");
    // A rank that disagrees with r.
    let mut r8 = config.clone();
    r8.r = 8;
    let e = LoraAdapter::from_safetensors(r8, &bytes).unwrap_err().to_string();
    assert!(e.contains("lora_A.weight") && e.contains("rank 4"), "{e}");
    // Unknown keys.
    good.modules.clear();
    let junk = {
        let data = [0u8; 16];
        let v = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2, 2], &data).unwrap();
        safetensors::serialize(vec![("base_model.model.model.embed_tokens.lora_embedding_A".to_string(), v)], None)
            .unwrap()
    };
    let e = LoraAdapter::from_safetensors(config, &junk).unwrap_err().to_string();
    assert!(e.contains("lora_embedding_A"), "{e}");
}
