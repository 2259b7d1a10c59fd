//! Shared test helpers.
#![allow(dead_code)]

pub mod numpy_rng;

use std::collections::BTreeMap;
use std::path::PathBuf;

use ser_bilstm::checkpoint::{NamedTensor, StateDict};

use numpy_rng::NumpyRng;

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// The golden folder of the shared reference material, when this checkout has it beside it.
pub fn shared_golden(name: &str) -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/golden/ser").join(name);
    p.exists().then_some(p)
}

fn uniform(rng: &mut NumpyRng, dict: &mut StateDict, name: &str, bound: f64, shape: &[usize]) {
    let n = shape.iter().product();
    dict.tensors.insert(name.to_string(), NamedTensor { shape: shape.to_vec(), values: rng.uniform_f32(bound, n) });
}

fn linear(rng: &mut NumpyRng, dict: &mut StateDict, name: &str, fan_in: usize, fan_out: usize) {
    let b = 1.0 / (fan_in as f64).sqrt();
    uniform(rng, dict, &format!("{name}.weight"), b, &[fan_out, fan_in]);
    uniform(rng, dict, &format!("{name}.bias"), b, &[fan_out]);
}

/// `init_bilstm(seed, D)` of `ser_reference.py` (seeds 20768 / 20312).
pub fn reference_bilstm(d: usize) -> StateDict {
    let mut rng = NumpyRng::new(if d == 768 { 20768 } else { 20312 });
    let mut dict = StateDict { tensors: BTreeMap::new() };
    linear(&mut rng, &mut dict, "fc0", d, 512);
    for sfx in ["", "_reverse"] {
        uniform(&mut rng, &mut dict, &format!("lstm.weight_ih_l0{sfx}"), 0.0625, &[1024, 512]);
        uniform(&mut rng, &mut dict, &format!("lstm.weight_hh_l0{sfx}"), 0.0625, &[1024, 256]);
        uniform(&mut rng, &mut dict, &format!("lstm.bias_ih_l0{sfx}"), 0.0625, &[1024]);
        uniform(&mut rng, &mut dict, &format!("lstm.bias_hh_l0{sfx}"), 0.0625, &[1024]);
    }
    linear(&mut rng, &mut dict, "fc1", 512, 256);
    linear(&mut rng, &mut dict, "fc2", 256, 8);
    dict
}

/// `init_basemodel(seed, D)` of `ser_reference.py` (seeds 30768 / 30312).
pub fn reference_basemodel(d: usize) -> StateDict {
    let mut rng = NumpyRng::new(if d == 768 { 30768 } else { 30312 });
    let mut dict = StateDict { tensors: BTreeMap::new() };
    linear(&mut rng, &mut dict, "pre_net", d, 256);
    linear(&mut rng, &mut dict, "post_net", 256, 8);
    dict
}

/// `x [32, D]` f32 and `labels [32]` from `inputs_d{D}.safetensors`.
pub fn reference_inputs(d: usize) -> (Vec<f32>, Vec<i64>) {
    let bytes = std::fs::read(fixture(&format!("inputs_d{d}.safetensors"))).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let x = st.tensor("x").unwrap().data().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
    let labels = st
        .tensor("labels")
        .unwrap()
        .data()
        .chunks_exact(8)
        .map(|b| i64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    (x, labels)
}
