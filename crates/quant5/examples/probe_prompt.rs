use quant5::{GgmlType, QuantizedMatrix};
use std::time::Instant;
fn main() {
    let (rows, cols, n) = (4096usize, 4096usize, 64usize);
    let w: Vec<f32> = (0..rows * cols).map(|i| (((i * 7919) % 2003) as f32 / 1000.0 - 1.0)).collect();
    let x: Vec<f32> = (0..n * cols).map(|i| (((i * 31) % 1000) as f32 / 1000.0 - 0.5)).collect();
    for t in [GgmlType::Q2_K, GgmlType::Q3_K, GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K] {
        let mut m = QuantizedMatrix::quantize(t, rows, cols, &w).unwrap();
        let packed = m.pack_row_panels();
        let mut y = vec![0f32; n * rows];
        let mut best = f64::MAX;
        for _ in 0..15 {
            let s = Instant::now();
            m.matmul_block_dots_into(&x, n, &mut y, 1).unwrap();
            best = best.min(s.elapsed().as_secs_f64());
        }
        println!("{t:?} packed={packed} {n} tokens: {:.2} ms ({:.1} µs/token)", best * 1e3, best * 1e6 / n as f64);
    }
}
