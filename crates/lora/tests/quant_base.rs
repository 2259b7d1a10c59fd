//! A frozen 5-bit base (QLoRA): the golden adapter over a Q5_0 copy of the golden base gives
//! the same forward output and the same gradients (input, A, B) as over the dequantized f32
//! weight, merging into it yields an f32 layer that unmerges back to the dequantized base, and
//! a matrix that cannot serve as a base is refused with a typed error.

use std::path::PathBuf;
use std::sync::Arc;

use burn::backend::Autodiff;
use burn::module::Param;
use burn::nn::LinearConfig;
use burn::tensor::{Tensor, TensorData};
use lora::{CpuBackend, FrozenBase, LoraAdapter, LoraLinear, WeightFile};
use quant5::{GgmlType, QuantizedMatrix};

type B = CpuBackend;
type Ad = Autodiff<CpuBackend>;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

fn values<Bk: burn::tensor::backend::Backend, const D: usize>(t: Tensor<Bk, D>) -> Vec<f32> {
    t.into_data().to_vec::<f32>().unwrap()
}

const MODULE: &str = "model.layers.0.self_attn.q_proj";

/// The golden q_proj quantized to Q5_0, and the same weights dequantized (`[out, in]`).
fn q5_base() -> (Arc<QuantizedMatrix>, Vec<f32>, usize, usize) {
    let base = WeightFile::load(fixture("base_weights.safetensors")).unwrap();
    let w = &base.tensors[&format!("{MODULE}.weight")];
    let (out, inp) = (w.shape[0], w.shape[1]);
    let q = QuantizedMatrix::quantize(GgmlType::Q5_0, out, inp, &w.values).unwrap();
    let dq = q.dequantize().unwrap();
    assert!(max_diff(&dq, &w.values) > 0.0, "quantization must actually change the weights");
    (Arc::new(q), dq, out, inp)
}

fn layers<Bk: lora::QuantLinearBackend>() -> (LoraLinear<Bk>, LoraLinear<Bk>, Vec<f32>) {
    let device = Default::default();
    let adapter = LoraAdapter::load(fixture("adapter")).unwrap();
    let (q, dq, out, inp) = q5_base();
    let mut quant = LoraLinear::<Bk>::quantized(q).unwrap();
    let mut linear = LinearConfig::new(inp, out).with_bias(false).init::<Bk>(&device);
    let w = Tensor::<Bk, 2>::from_data(TensorData::new(dq.clone(), [out, inp]), &device).transpose();
    linear.weight = Param::from_tensor(Tensor::from_data(w.into_data(), &device));
    let mut dense = LoraLinear::new(linear);
    for l in [&mut quant, &mut dense] {
        l.attach_pair(&adapter.modules[MODULE], &adapter.config, &device).unwrap();
    }
    (quant, dense, dq)
}

fn input<Bk: burn::tensor::backend::Backend>() -> Tensor<Bk, 3> {
    let expected = WeightFile::load(fixture("expected_forward.safetensors")).unwrap();
    let x = expected.tensors["x"].values.clone();
    Tensor::from_data(TensorData::new(x, [1, 5, 64]), &Default::default())
}

#[test]
fn forward_over_a_5_bit_base_matches_the_dequantized_f32_base() {
    let (quant, dense, _) = layers::<B>();
    assert!(matches!(quant.base, FrozenBase::Quant(_)));
    assert_eq!(quant.base.size_bytes() * 32, 64 * 64 * 22, "Q5_0: 22 bytes per 32 weights");
    let (yq, yd) = (values(quant.forward(input())), values(dense.forward(input())));
    assert!(max_diff(&yq, &yd) <= 1e-5, "{}", max_diff(&yq, &yd));
}

#[test]
fn gradients_over_a_5_bit_base_match_the_f32_base() {
    let (quant, dense, _) = layers::<Ad>();
    let device = Default::default();
    let weights = Tensor::<Ad, 3>::from_data(
        TensorData::new((0..5 * 64).map(|i| ((i * 7919) % 17) as f32 / 17.0 - 0.5).collect(), [1, 5, 64]),
        &device,
    );
    let grads_of = |layer: &LoraLinear<Ad>| {
        let x = input::<Ad>().require_grad();
        let loss = (layer.forward(x.clone()) * weights.clone()).sum();
        let grads = loss.backward();
        let a = layer.adapter.as_ref().unwrap();
        (
            values(x.grad(&grads).unwrap()),
            values(a.lora_a.val().grad(&grads).unwrap()),
            values(a.lora_b.val().grad(&grads).unwrap()),
        )
    };
    let (gq, gd) = (grads_of(&quant), grads_of(&dense));
    assert!(gd.0.iter().any(|v| *v != 0.0));
    assert!(max_diff(&gq.0, &gd.0) <= 1e-5, "input gradient: {}", max_diff(&gq.0, &gd.0));
    assert!(max_diff(&gq.1, &gd.1) <= 1e-5, "A gradient: {}", max_diff(&gq.1, &gd.1));
    assert!(max_diff(&gq.2, &gd.2) <= 1e-5, "B gradient: {}", max_diff(&gq.2, &gd.2));
}

#[test]
fn merging_into_a_5_bit_base_gives_an_f32_layer_that_unmerges_to_the_dequantized_base() {
    let (mut quant, dense, dq) = layers::<B>();
    let want = values(dense.forward(input()));
    quant.merge();
    assert!(matches!(quant.base, FrozenBase::Dense(_)), "a merged 5-bit layer is f32");
    assert!(max_diff(&values(quant.forward(input())), &want) <= 1e-5);
    quant.unmerge();
    let FrozenBase::Dense(l) = &quant.base else { panic!("still f32") };
    let w = values(l.weight.val().transpose());
    assert!(max_diff(&w, &dq) <= 1e-6, "unmerge restores the dequantized base");
}

#[test]
fn matrices_that_cannot_be_a_base_are_refused() {
    let empty = QuantizedMatrix::from_bytes(GgmlType::Q5_0, 0, 32, vec![]).unwrap();
    let e = LoraLinear::<B>::quantized(Arc::new(empty)).unwrap_err().to_string();
    assert!(e.contains("empty"), "{e}");
}
