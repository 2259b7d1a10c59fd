//! Our panel products beside candle-core 0.11's quantized matmul, 1 thread, the two timed in
//! turn: on a shared host whose memory rate drifts by a third from one minute to the next,
//! criterion's back-to-back groups can time the two libraries in different conditions (the
//! same cell has measured 1.2× and 1.9× on one day). Each round times a few products of every
//! implementation, one after the other, and keeps each one's fastest; the table gives the
//! median over rounds of each time and of the per-round ratio. The same rounds time one core
//! summing 192 MiB from 4 KiB pages (a `Vec`, as candle keeps its weights) and from 2 MiB pages
//! (as quant5 keeps its panels on Linux): the roofs of the 14336×4096 products.
//!
//! `RUSTFLAGS="-C target-cpu=native" cargo bench -p quant5 --bench matvec_alternating --features candle-comparison`
//! (`-- 14336` for that shape only, `-- Q6_K` for one format; `ROUNDS=n` for more rounds).

mod common;

use candle_core::quantized::{QMatMul, QStorage, QTensor};
use candle_core::{Device, Module, Tensor};
use common::{candle_dtype, candle_threads, random_matrix};
use quant5::GgmlType;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Products per implementation per round (the fastest counts).
const CALLS: usize = 4;

/// The fastest of [`CALLS`] runs of `f`.
fn fastest(f: &mut dyn FnMut()) -> Duration {
    (0..CALLS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f.as_str()));
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(15).max(1);
    assert_eq!(candle_threads(), 1, "run with CANDLE_NUM_THREADS unset or 1");

    println!("| product | ours µs | candle µs | candle / ours (median of rounds) | ours GB/s |");
    println!("|---|---|---|---|---|");
    for (rows, cols) in [(4096usize, 4096usize), (14336, 4096)] {
        let x: Vec<f32> = (0..cols).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
        for t in GgmlType::QUANTIZED {
            let name = format!("{rows}x{cols} {}", t.name());
            let Some(dtype) = candle_dtype(t) else { continue };
            if !wanted(&name) {
                continue;
            }
            let mut m = random_matrix(t, rows, cols);
            let storage =
                QStorage::from_data(std::borrow::Cow::Borrowed(&m.bytes), &Device::Cpu, dtype).expect("candle storage");
            let mm = QMatMul::from_qtensor(QTensor::new(storage, (rows, cols)).expect("qtensor")).expect("qmatmul");
            let xt = Tensor::from_slice(&x, (1, cols), &Device::Cpu).expect("tensor");
            let packed = m.pack_row_panels();
            let mut y = vec![0f32; rows];
            let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..rounds {
                let a = fastest(&mut || m.matvec_into(black_box(&x), &mut y, 1).expect("shapes"));
                let b = fastest(&mut || {
                    black_box(mm.forward(black_box(&xt)).expect("forward"));
                });
                ours.push(a.as_secs_f64() * 1e6);
                theirs.push(b.as_secs_f64() * 1e6);
                ratios.push(b.as_secs_f64() / a.as_secs_f64());
            }
            let ours_us = median(ours);
            println!(
                "| {name}{} | {ours_us:.0} | {:.0} | {:.2}× | {:.1} |",
                if packed { "" } else { " (rows)" },
                median(theirs),
                median(ratios),
                m.bytes.len() as f64 / ours_us / 1e3
            );
        }
    }

    if wanted("read") {
        let words: Vec<u64> = (0..192usize << 17).map(|i| i as u64 * 0x9E37_79B9).collect();
        let sum = |w: &[u64]| black_box(w).iter().fold(0u64, |s, &v| s.wrapping_add(v));
        #[cfg(target_os = "linux")]
        let copy = common::HugePageWords::copy_of(&words);
        #[cfg(target_os = "linux")]
        let huge = copy.words();
        #[cfg(not(target_os = "linux"))]
        let huge: &[u64] = &words;
        let (mut small, mut large) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            small.push(fastest(&mut || {
                black_box(sum(&words));
            }));
            large.push(fastest(&mut || {
                black_box(sum(huge));
            }));
        }
        let rate =
            |v: Vec<Duration>| (words.len() * 8) as f64 / median(v.iter().map(Duration::as_secs_f64).collect()) / 1e9;
        println!(
            "\nread 192 MiB, 1 core: {:.1} GB/s from 4 KiB pages, {:.1} GB/s from 2 MiB pages",
            rate(small),
            rate(large)
        );
    }
}
