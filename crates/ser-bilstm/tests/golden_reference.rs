//! Parity with the PyTorch reference (`mser`): parameter counts, logits in both forward modes,
//! state-dict round trips and the per-batch learning rate, against `../shared/golden/ser`.

mod support;

use burn::module::Module;
use burn::tensor::{Tensor, TensorData};
use ser_bilstm::{
    BaseModel, BaseModelConfig, BiLstmClassifier, BiLstmClassifierConfig, CpuBackend, ForwardMode, LrSchedule,
    StateDict,
};
use support::{fixture, reference_basemodel, reference_bilstm, reference_inputs, shared_golden};

type B = CpuBackend;

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn input_tensor(d: usize) -> Tensor<B, 2> {
    let (x, _) = reference_inputs(d);
    Tensor::from_data(TensorData::new(x, [32, d]), &Default::default())
}

#[test]
fn regenerated_checkpoints_equal_the_golden_files() {
    // The checkpoints are rebuilt from their numpy seeds (tests/support/numpy_rng.rs); where the
    // shared golden folder is present, prove the rebuild is the file, bit for bit.
    for (name, dict) in [
        ("bilstm_d768", reference_bilstm(768)),
        ("bilstm_d312", reference_bilstm(312)),
        ("basemodel_d768", reference_basemodel(768)),
        ("basemodel_d312", reference_basemodel(312)),
    ] {
        let Some(path) = shared_golden(&format!("{name}.safetensors")) else {
            eprintln!("shared golden folder absent: {name} not cross-checked");
            continue;
        };
        assert_eq!(StateDict::load(path).unwrap(), dict, "{name}");
    }
}

#[test]
fn parameter_counts_are_the_papers() {
    let device = Default::default();
    assert_eq!(BiLstmClassifierConfig::new(768, 8).init::<B>(&device).num_params(), 2_104_072);
    assert_eq!(BiLstmClassifierConfig::new(312, 8).init::<B>(&device).num_params(), 1_870_600);
    assert_eq!(BaseModelConfig::new(768, 8).init::<B>(&device).num_params(), 198_920);
    assert_eq!(BaseModelConfig::new(312, 8).init::<B>(&device).num_params(), 82_184);
    // And the reference state dicts hold exactly as many values.
    assert_eq!(reference_bilstm(768).num_values(), 2_104_072);
    assert_eq!(reference_basemodel(312).num_values(), 82_184);
}

#[test]
fn bilstm_logits_match_in_eval_and_batch_as_time_modes() {
    let device = Default::default();
    for d in [768, 312] {
        let dict = reference_bilstm(d);
        let model = BiLstmClassifier::<B>::from_state_dict(&dict, &device).unwrap();
        let expected = StateDict::load(fixture(&format!("bilstm_d{d}.expected.safetensors"))).unwrap();
        for (mode, key) in [(ForwardMode::Independent, "eval"), (ForwardMode::BatchAsTime, "batch_as_time")] {
            let logits = model.forward(input_tensor(d), mode).into_data().to_vec::<f32>().unwrap();
            let want = &expected.tensors[&format!("logits.{key}")].values;
            let err = max_abs_diff(&logits, want);
            println!("bilstm d={d} {key}: max |Δlogit| = {err:.2e}");
            assert!(err <= 1e-5, "bilstm d={d} {key}: {err}");
        }
        // The two modes really differ (the quirk is not a no-op on this data).
        let e = &expected.tensors["logits.eval"].values;
        let t = &expected.tensors["logits.batch_as_time"].values;
        assert!(max_abs_diff(e, t) > 1e-2);
    }
}

#[test]
fn basemodel_logits_match() {
    let device = Default::default();
    for d in [768, 312] {
        let model = BaseModel::<B>::from_state_dict(&reference_basemodel(d), &device).unwrap();
        let expected = StateDict::load(fixture(&format!("basemodel_d{d}.expected.safetensors"))).unwrap();
        let logits = model.forward(input_tensor(d)).into_data().to_vec::<f32>().unwrap();
        let err = max_abs_diff(&logits, &expected.tensors["logits"].values);
        println!("basemodel d={d}: max |Δlogit| = {err:.2e}");
        assert!(err <= 1e-5, "basemodel d={d}: {err}");
    }
}

#[test]
fn export_restores_the_reference_names_and_values_exactly() {
    use ser_bilstm::EmotionModel;
    let device = Default::default();
    let dict = reference_bilstm(312);
    let model = BiLstmClassifier::<B>::from_state_dict(&dict, &device).unwrap();
    assert_eq!(model.to_state_dict().unwrap(), dict);
    let bytes = model.to_state_dict().unwrap().to_safetensors(None).unwrap();
    assert_eq!(StateDict::from_safetensors(&bytes).unwrap(), dict);
    let base = reference_basemodel(768);
    assert_eq!(BaseModel::<B>::from_state_dict(&base, &device).unwrap().to_state_dict().unwrap(), base);
}

#[test]
fn wrong_checkpoints_are_typed_errors() {
    let device = Default::default();
    let mut dict = reference_bilstm(312);
    dict.tensors.get_mut("lstm.weight_hh_l0_reverse").unwrap().shape = vec![1024, 255];
    let err = BiLstmClassifier::<B>::from_state_dict(&dict, &device).unwrap_err().to_string();
    assert!(err.contains("lstm.weight_hh_l0_reverse") && err.contains("shape"), "{err}");
    let mut dict = reference_bilstm(312);
    dict.tensors.remove("fc1.bias");
    assert!(BiLstmClassifier::<B>::from_state_dict(&dict, &device).unwrap_err().to_string().contains("fc1.bias"));
    // A BaseModel checkpoint is not silently loaded as a BiLSTM, nor the other way round.
    assert!(BiLstmClassifier::<B>::from_state_dict(&reference_basemodel(312), &device).is_err());
    let mut mixed = reference_basemodel(312);
    mixed.tensors.insert("fc0.weight".into(), reference_bilstm(312).tensors["fc0.weight"].clone());
    assert!(BaseModel::<B>::from_state_dict(&mixed, &device).unwrap_err().to_string().contains("unexpected"));
    assert!(StateDict::from_safetensors(b"not a safetensors file").is_err());
}

#[test]
fn learning_rate_per_batch_is_the_references_exactly() {
    let bytes = std::fs::read(fixture("lr_per_batch_60x41.npy")).unwrap();
    let golden: Vec<f64> = npyz::NpyFile::new(&bytes[..]).unwrap().into_vec().unwrap();
    assert_eq!(golden.len(), 60 * 41);
    let schedule = LrSchedule::reference(60, 41);
    for (k, &want) in golden.iter().enumerate() {
        assert_eq!(schedule.lr_for_batch(k, true).to_bits(), want.to_bits(), "batch {k}");
    }
}
