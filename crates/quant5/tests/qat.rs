//! Quantization-aware training: the straight-through gradient, and training through the fake
//! quantizer lowering a model's 5-bit loss below the post-training quantization it starts from.

use burn::backend::{Autodiff, Flex};
use burn::module::{AutodiffModule, Module, Param};
use burn::optim::{AdamConfig, GradientsParams, Optimizer};
use burn::tensor::backend::Backend;
use burn::tensor::{Distribution, Tensor, TensorData};
use quant5::{Granularity, QatScheme, fake_quant, quantize_alg2};

type AB = Autodiff<Flex>;
type Inner = <AB as burn::tensor::backend::AutodiffBackend>::InnerBackend;

fn device() -> burn::tensor::Device<AB> {
    Default::default()
}

fn to_vec<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data().to_vec::<f32>().unwrap()
}

#[test]
fn forward_equals_algorithm_2_and_gradient_passes_straight_through() {
    let dev = device();
    let w = Tensor::<AB, 2>::random([8, 16], Distribution::Normal(0.0, 0.3), &dev).require_grad();
    let upstream = Tensor::<AB, 2>::random([8, 16], Distribution::Uniform(-1.0, 1.0), &dev);
    let out = fake_quant(w.clone(), QatScheme::PerTensor).unwrap();
    // Forward: exactly the Algorithm 2 reconstruction.
    let values = to_vec(w.clone().inner());
    let want = quantize_alg2(&values, Granularity::PerTensor).unwrap().dequantize();
    let got = to_vec(out.clone().inner());
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&got), bits(&want));
    // Backward: d(Σ upstream·fq(w))/dw = upstream where 0 ≤ w/S + Z ≤ 31, else 0 (the
    // extreme values can land just outside after Z is rounded).
    let grads = (out * upstream.clone()).sum().backward();
    let g = to_vec(w.grad(&grads).unwrap());
    let u = to_vec(upstream.inner());
    let p = quantize_alg2(&values, Granularity::PerTensor).unwrap().params[0];
    let mut inside = 0;
    for ((a, b), v) in g.iter().zip(&u).zip(&values) {
        let pos = v / p.scale + p.zero;
        let want = if (0.0..=31.0).contains(&pos) { *b } else { 0.0 };
        inside += usize::from((0.0..=31.0).contains(&pos));
        assert!((a - want).abs() < 1e-6, "{a} vs {want}");
    }
    assert!(inside * 10 >= values.len() * 9, "only values near the extremes fall outside: {inside}");
}

#[test]
fn per_group_and_clipped_ranges() {
    let dev = device();
    let data: Vec<f32> = (0..64).map(|i| (i as f32 - 32.0) / 10.0).collect();
    let w = Tensor::<AB, 1>::from_data(TensorData::new(data.clone(), [64]), &dev).require_grad();
    let out = fake_quant(w.clone(), QatScheme::PerGroup { size: 32 }).unwrap();
    let want = quantize_alg2(&data, Granularity::PerGroup { size: 32 }).unwrap().dequantize();
    for (a, b) in to_vec(out.inner()).iter().zip(&want) {
        assert!((a - b).abs() < 1e-6);
    }
    // A clipping range [−1, 1]: S = 2/31, Z = round(15.5) = 16, so w maps to w/S + 16 and the
    // codes cover [−1.03, 0.97]; values beyond are clamped and receive no gradient.
    let out = fake_quant(w.clone(), QatScheme::Range { lo: -1.0, hi: 1.0 }).unwrap();
    let grads = out.sum().backward();
    let g = to_vec(w.grad(&grads).unwrap());
    let s = 2.0f32 / 31.0;
    for (v, gv) in data.iter().zip(&g) {
        let pos = v / s + 16.0;
        let want = if (0.0..=31.0).contains(&pos) { 1.0 } else { 0.0 };
        assert_eq!(*gv, want, "value {v}");
    }
    assert_eq!(g.iter().filter(|&&x| x == 1.0).count(), 20, "-1.0..=0.9 pass");
    assert!(fake_quant(w.clone(), QatScheme::PerGroup { size: 7 }).is_err());
    assert!(fake_quant(w, QatScheme::Range { lo: 1.0, hi: -1.0 }).is_err());
}

#[derive(Module, Debug)]
struct Mlp<B: Backend> {
    w1: Param<Tensor<B, 2>>,
    b1: Param<Tensor<B, 1>>,
    w2: Param<Tensor<B, 2>>,
    b2: Param<Tensor<B, 1>>,
}

impl<B: Backend> Mlp<B> {
    fn new(dev: &burn::tensor::Device<B>) -> Self {
        Self {
            w1: Param::from_tensor(Tensor::random([8, 32], Distribution::Normal(0.0, 0.35), dev)),
            b1: Param::from_tensor(Tensor::zeros([32], dev)),
            w2: Param::from_tensor(Tensor::random([32, 1], Distribution::Normal(0.0, 0.18), dev)),
            b2: Param::from_tensor(Tensor::zeros([1], dev)),
        }
    }

    /// Forward pass; with `ranges`, both weight matrices are fake-quantized to 5 bits over the
    /// given (fixed) ranges.
    fn forward(&self, x: Tensor<B, 2>, ranges: Option<[(f32, f32); 2]>) -> Tensor<B, 2> {
        let q = |w: Tensor<B, 2>, i: usize| match ranges {
            Some(r) => fake_quant(w, QatScheme::Range { lo: r[i].0, hi: r[i].1 }).unwrap(),
            None => w,
        };
        let h = x.matmul(q(self.w1.val(), 0)) + self.b1.val().unsqueeze();
        burn::tensor::activation::tanh(h).matmul(q(self.w2.val(), 1)) + self.b2.val().unsqueeze()
    }

    /// Each weight matrix's (min, max): Algorithm 2's range.
    fn ranges(&self) -> [(f32, f32); 2] {
        let r = |t: Tensor<B, 2>| {
            let v = t.into_data().to_vec::<f32>().unwrap();
            (v.iter().copied().fold(f32::INFINITY, f32::min), v.iter().copied().fold(f32::NEG_INFINITY, f32::max))
        };
        [r(self.w1.val()), r(self.w2.val())]
    }

    /// The same network with both weight matrices replaced by their Algorithm 2 reconstruction.
    fn quantized(&self) -> Self {
        let q = |p: &Param<Tensor<B, 2>>| {
            let t = p.val();
            let shape = t.shape();
            let v =
                quantize_alg2(&t.into_data().to_vec::<f32>().unwrap(), Granularity::PerTensor).unwrap().dequantize();
            Param::from_tensor(Tensor::from_data(TensorData::new(v, shape), &self.w1.device()))
        };
        Self { w1: q(&self.w1), b1: self.b1.clone(), w2: q(&self.w2), b2: self.b2.clone() }
    }
}

fn mse<B: Backend>(a: Tensor<B, 2>, b: Tensor<B, 2>) -> f32 {
    (a - b).powf_scalar(2.0).mean().into_scalar().elem::<f32>()
}

use burn::tensor::ElementConversion;

/// Continues training `model` for `steps` full-batch Adam steps (learning rate decaying
/// linearly to ~0, which QAT needs to settle on the grid), with or without fake quant.
fn train(
    mut model: Mlp<AB>,
    steps: usize,
    ranges: Option<[(f32, f32); 2]>,
    lr: f64,
    x: &Tensor<AB, 2>,
    y: &Tensor<AB, 2>,
) -> Mlp<AB> {
    let mut optim = AdamConfig::new().init::<AB, Mlp<AB>>();
    for step in 0..steps {
        let lr = lr * (1.0 - step as f64 / steps as f64) + 1e-6;
        let loss = (model.forward(x.clone(), ranges) - y.clone()).powf_scalar(2.0).mean();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(lr, model, grads);
    }
    model
}

#[test]
fn qat_lowers_the_5_bit_loss_below_post_training_quantization_of_its_start() {
    // Regression with strongly correlated inputs, where rounding each weight on its own is far
    // from the best 5-bit solution and training through the quantizer can compensate. Several
    // seeds: one run of a small network is a chaotic trajectory, and a claim that held for one
    // seed only (QAT beating post-training quantization of a float model trained for the same
    // extra steps, which it does for 3 of 8 seeds here) would pass or fail with the last bit of
    // the matrix kernels. What holds for every seed is the straight-through estimator doing
    // its job: fine-tuning with fake quantization lowers the 5-bit model's loss well below
    // where post-training quantization of the same pretrained weights starts (by 15–55 %), for
    // all but at most one seed and on average.
    let mut runs = Vec::new();
    for (data_seed, init_seed) in [(1, 7), (2, 7), (3, 8), (4, 9)] {
        let dev = device();
        <AB as Backend>::seed(&dev, data_seed);
        let z = Tensor::<AB, 2>::random([1024, 8], Distribution::Uniform(-1.0, 1.0), &dev);
        let mixing = Tensor::<AB, 2>::random([8, 8], Distribution::Normal(0.0, 1.0), &dev);
        let x = z.matmul(mixing);
        let w_true = Tensor::<AB, 2>::random([8, 32], Distribution::Normal(0.0, 1.0), &dev);
        let v_true = Tensor::<AB, 2>::random([32, 1], Distribution::Normal(0.0, 0.5), &dev);
        let y = burn::tensor::activation::tanh(x.clone().matmul(w_true) * 0.3).matmul(v_true);

        // The usual recipe: train in float, then either quantize (post-training, Algorithm 2
        // per tensor) or fine-tune with fake quantization (QAT) and quantize. QAT freezes each
        // tensor's 5-bit range at the pretrained min/max: a range that follows the weights
        // would move the whole grid whenever an extreme weight moves.
        <AB as Backend>::seed(&dev, init_seed);
        let pretrained = train(Mlp::<AB>::new(&dev), 800, None, 1e-2, &x, &y);
        let ranges = pretrained.ranges();
        let start: Mlp<Inner> = pretrained.clone().valid();
        let float_model: Mlp<Inner> = train(pretrained.clone(), 800, None, 1e-3, &x, &y).valid();
        let qat_model: Mlp<Inner> = train(pretrained, 800, Some(ranges), 1e-3, &x, &y).valid();
        let (xi, yi) = (x.inner(), y.inner());
        let start_ptq_mse = mse(start.quantized().forward(xi.clone(), None), yi.clone());
        let float_mse = mse(float_model.forward(xi.clone(), None), yi.clone());
        let ptq_mse = mse(float_model.quantized().forward(xi.clone(), None), yi.clone());
        let qat_mse = mse(qat_model.forward(xi, Some(ranges)), yi);
        println!(
            "seeds {data_seed}/{init_seed}: 5-bit start {start_ptq_mse:.5}; after 800 more steps: float {float_mse:.5}, \
             float then post-training 5-bit {ptq_mse:.5}, QAT 5-bit {qat_mse:.5}"
        );
        assert!(ptq_mse > float_mse, "quantization should cost something");
        runs.push((start_ptq_mse, qat_mse));
    }
    // Most seeds improve by well over 10 %, and the mean by 10 %: one seed of four may wander
    // (on an AVX2-only Zen 3, whose float kernels round differently, seeds 3/8 ended 22 % above
    // their start while the others improved 45–55 %).
    let improved = runs.iter().filter(|(start, qat)| *qat < 0.9 * start).count();
    let mean = |f: fn(&(f32, f32)) -> f32| runs.iter().map(f).sum::<f32>() / runs.len() as f32;
    let (start_mean, qat_mean) = (mean(|r| r.0), mean(|r| r.1));
    assert!(improved >= 3, "QAT improved on the quantized start for {improved} of 4 seeds: {runs:?}");
    assert!(qat_mean < 0.9 * start_mean, "QAT mean {qat_mean} against the start's {start_mean}: {runs:?}");
}
