//! The point of a 5-bit base: a training step must not hold the base in f32. With a heap
//! counter as the global allocator, a tracked forward through a large Q5_0 layer keeps only the
//! activations and a handle to the blocks alive until backward — not the 16 MiB f32 weight a
//! plain matmul against the dequantized weight would record for the input's gradient.
//! (Its own test binary: the counter sees every allocation of the process.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::backend::Autodiff;
use burn::tensor::{Tensor, TensorData};
use lora::{CpuBackend, LoraConfig, LoraLinear};
use quant5::{GgmlType, QuantizedMatrix};

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

type Ad = Autodiff<CpuBackend>;

#[test]
fn a_tracked_forward_does_not_keep_the_dequantized_weight() {
    let (out, inp) = (2048, 2048);
    let w: Vec<f32> = (0..out * inp).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
    let q = Arc::new(QuantizedMatrix::quantize(GgmlType::Q5_0, out, inp, &w).unwrap());
    drop(w);
    let device = Default::default();
    let mut layer = LoraLinear::<Ad>::quantized(q).unwrap();
    layer.attach(&LoraConfig::new(8, 16.0, &["q_proj"]), &device);
    let x = Tensor::<Ad, 2>::from_data(TensorData::new(vec![0.25f32; 4 * inp], [4, inp]), &device).require_grad();
    let f32_weight = out * inp * 4;
    // A first forward and backward allocate what the kernels keep for the process (gemm's
    // packing buffers, sized from the CPU's caches: 6.5 MB on a 2 MB-L2 Xeon); measure the
    // second, which holds only what the graph keeps.
    let warm = layer.forward(x.clone());
    drop(warm.sum().backward());
    let before = LIVE.load(Ordering::SeqCst);
    let y = layer.forward(x.clone());
    let held = LIVE.load(Ordering::SeqCst).saturating_sub(before);
    assert!(held < f32_weight / 4, "a pending graph holds {held} bytes; the f32 weight is {f32_weight}");
    // And the gradient still flows to the input and the adapter.
    let grads = y.sum().backward();
    assert!(x.grad(&grads).is_some());
    assert!(layer.adapter.as_ref().unwrap().lora_a.val().grad(&grads).is_some());
}
