//! Dequantization throughput per format, and matrix–vector products on the quantized blocks
//! for Llama-3-8B projection shapes (4096×4096, 14336×4096) and SmolLM2's 576×1536, with 1 and
//! 2 threads, for every block type, beside candle-core 0.11's quantized matmul on the same bytes
//! in the same group where candle has the type (with the `candle-comparison` feature, so CI does
//! not build candle). candle 0.11 runs its products on a pool of its own sized once per process
//! (see `candle_threads`): one thread unless `CANDLE_NUM_THREADS` says otherwise. Every quantized
//! format is also measured with its rows packed in 16-row panels
//! (`pack_row_panels`). Per-row int8 (`Int8Matrix`) runs on the same shapes, and on an
//! encoder-window product beside f32 gemm. `read_bandwidth` sums a 48 MiB buffer (a Q6_K
//! 14336×4096 matrix's size) and a 192 MiB one: the most bytes per second one core streams,
//! the roof for the 14336×4096 products of the wider formats.
//!
//! `RUSTFLAGS="-C target-cpu=native" cargo bench -p quant5 --bench quant --features candle-comparison`

#[cfg(feature = "candle-comparison")]
use candle_core::quantized::{QMatMul, QStorage, QTensor};
#[cfg(feature = "candle-comparison")]
use candle_core::{Device, Module, Tensor};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
mod common;

use common::random_matrix;
#[cfg(feature = "candle-comparison")]
use common::{candle_dtype, candle_threads};
#[cfg(feature = "candle-comparison")]
use quant5::QuantizedMatrix;
use quant5::{GgmlType, Int8Matrix, dequantize_row};
use std::hint::black_box;
use std::time::Duration;

/// candle's quantized matmul on the same bytes, where candle has the type, on
/// [`candle_threads`] threads. The `QMatMul` is built once, outside the timing (candle 0.11
/// repacks Q4_K, Q6_K and Q8_0 weights then, as our panels are made once at load).
#[cfg(feature = "candle-comparison")]
fn bench_candle(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    m: &QuantizedMatrix,
    x: &[f32],
) {
    let Some(dtype) = candle_dtype(m.ggml_type) else { return };
    let threads = candle_threads();
    let storage =
        QStorage::from_data(std::borrow::Cow::Borrowed(&m.bytes), &Device::Cpu, dtype).expect("candle storage");
    let qt = QTensor::new(storage, (m.rows, m.cols)).expect("candle qtensor");
    let mm = QMatMul::from_qtensor(qt).expect("candle qmatmul");
    let xt = Tensor::from_slice(x, (1, m.cols), &Device::Cpu).expect("tensor");
    group.bench_function(BenchmarkId::new(format!("candle_{}", m.ggml_type.name()), format!("{threads}t")), |b| {
        b.iter(|| mm.forward(black_box(&xt)).expect("forward"))
    });
}

fn dequantize(c: &mut Criterion) {
    let (rows, cols) = (1024, 4096);
    let mut group = c.benchmark_group("dequantize_1024x4096");
    group.throughput(Throughput::Bytes((rows * cols * 4) as u64));
    group.measurement_time(Duration::from_secs(2));
    for t in GgmlType::QUANTIZED {
        let m = random_matrix(t, rows, cols);
        let mut out = vec![0f32; cols];
        group.bench_function(t.name(), |b| {
            b.iter(|| {
                for r in 0..rows {
                    dequantize_row(t, m.row(r), &mut out).expect("valid");
                }
                black_box(out[0])
            })
        });
    }
    group.finish();
}

fn matvec(c: &mut Criterion) {
    for (rows, cols) in [(4096usize, 4096usize), (14336, 4096), (576, 1536)] {
        let mut group = c.benchmark_group(format!("matvec_{rows}x{cols}"));
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(2));
        let x: Vec<f32> = (0..cols).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
        for t in GgmlType::QUANTIZED {
            if !cols.is_multiple_of(t.block_size()) {
                continue;
            }
            let m = random_matrix(t, rows, cols);
            // Throughput as bytes of weights streamed per product.
            group.throughput(Throughput::Bytes(m.bytes.len() as u64));
            for threads in [1usize, 2] {
                let mut y = vec![0f32; rows];
                group.bench_function(BenchmarkId::new(format!("whispers_{}", t.name()), format!("{threads}t")), |b| {
                    b.iter(|| m.matvec_into(black_box(&x), &mut y, threads).expect("shapes match"))
                });
            }
            // Every quantized format repacked into 16-row panels (AVX-512 VNNI CPUs only); the
            // block bytes stay as they were, for candle below.
            let mut m = m;
            if m.pack_row_panels() {
                for threads in [1usize, 2] {
                    let mut y = vec![0f32; rows];
                    let id = BenchmarkId::new(format!("whispers_{}_panels", t.name()), format!("{threads}t"));
                    group.bench_function(id, |b| {
                        b.iter(|| m.matvec_into(black_box(&x), &mut y, threads).expect("shapes match"))
                    });
                }
            }
            #[cfg(feature = "candle-comparison")]
            bench_candle(&mut group, &m, &x);
        }
        // Per-row int8 (CTranslate2's scheme; the ASR's 8-bit mode) on the same shapes.
        let w: Vec<f32> = (0..rows * cols).map(|i| ((i * 7919) % 2003) as f32 / 1000.0 - 1.0).collect();
        let m = Int8Matrix::quantize(rows, cols, &w).expect("finite weights");
        group.throughput(Throughput::Bytes(m.bytes() as u64));
        for threads in [1usize, 2] {
            let mut y = vec![0f32; rows];
            group.bench_function(BenchmarkId::new("whispers_int8_rows", format!("{threads}t")), |b| {
                b.iter(|| m.matmul_into(black_box(&x), 1, &mut y, threads).expect("shapes match"))
            });
        }
        group.finish();
    }
}

/// Many rows of `X` at once (a Whisper encoder window: 1,500 frames through its 384→1536 MLP
/// matrix), per-row int8 against f32 `gemm` on the same data.
fn int8_matmul(c: &mut Criterion) {
    let (n, rows, cols) = (1500usize, 1536usize, 384usize);
    let mut group = c.benchmark_group(format!("matmul_{n}x{cols}_by_{rows}x{cols}"));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements((n * rows * cols) as u64));
    let w: Vec<f32> = (0..rows * cols).map(|i| ((i * 7919) % 2003) as f32 / 1000.0 - 1.0).collect();
    let x: Vec<f32> = (0..n * cols).map(|i| ((i * 104_729) % 1999) as f32 / 1000.0 - 1.0).collect();
    let m = Int8Matrix::quantize(rows, cols, &w).expect("finite weights");
    let mut y = vec![0f32; n * rows];
    group.bench_function("whispers_int8_rows", |b| {
        b.iter(|| m.matmul_into(black_box(&x), n, &mut y, 1).expect("shapes match"))
    });
    group.bench_function("gemm_f32", |b| {
        b.iter(|| {
            // SAFETY: x is n×cols, w rows×cols, y n×rows, all row-major with these strides.
            unsafe {
                gemm::gemm(
                    n,
                    rows,
                    cols,
                    y.as_mut_ptr(),
                    1,
                    rows as isize,
                    false,
                    black_box(x.as_ptr()),
                    1,
                    cols as isize,
                    w.as_ptr(),
                    cols as isize,
                    1,
                    0.0,
                    1.0,
                    false,
                    false,
                    false,
                    gemm::Parallelism::None,
                )
            }
        })
    });
    group.finish();
}

/// One core reading 48 MiB (as wide as a Q6_K 14336×4096 matrix; part of it stays in a 32 MiB L3
/// from one pass to the next) and 192 MiB (memory alone) into an integer sum: what a product
/// that streams its weights can reach at best — from 4 KiB pages (a `Vec`, as candle's weights
/// are) and, on Linux, from 2 MiB pages (as quant5's panels are, see `src/page_buffer.rs`).
fn read_bandwidth(c: &mut Criterion) {
    let mut group = c.benchmark_group("read_bandwidth");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(2));
    for mib in [48usize, 192] {
        let words: Vec<u64> = (0..mib << 17).map(|i| i as u64 * 0x9E37_79B9).collect();
        group.throughput(Throughput::Bytes((words.len() * 8) as u64));
        // An integer sum: the compiler vectorises it (wide loads, several accumulators).
        group.bench_function(BenchmarkId::new(format!("{mib}MiB"), "1t"), |b| {
            b.iter(|| black_box(&words).iter().fold(0u64, |sum, &w| sum.wrapping_add(w)))
        });
        #[cfg(target_os = "linux")]
        {
            let huge = common::HugePageWords::copy_of(&words);
            group.bench_function(BenchmarkId::new(format!("{mib}MiB_2MiB_pages"), "1t"), |b| {
                b.iter(|| black_box(huge.words()).iter().fold(0u64, |sum, &w| sum.wrapping_add(w)))
            });
        }
    }
    group.finish();
}

criterion_group!(benches, dequantize, matvec, int8_matmul, read_bandwidth);
criterion_main!(benches);
