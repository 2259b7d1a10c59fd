//! Properties of the GGUF 5-bit block formats over generated weights (proptest; failing seeds
//! are saved to `properties.proptest-regressions` beside this file and replayed first).

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use quant5::{GgmlType, QuantizedMatrix};

/// Rows of weights with per-row scale and offset, so blocks see very different ranges.
fn weights(block: usize) -> impl Strategy<Value = (usize, usize, Vec<f32>)> {
    (1usize..4, 1usize..4, -3i32..3, -1.0f32..1.0).prop_flat_map(move |(rows, blocks, exp, offset)| {
        let cols = blocks * block;
        let scale = 10f32.powi(exp);
        prop::collection::vec(-1.0f32..1.0, rows * cols)
            .prop_map(move |v| (rows, cols, v.into_iter().map(|x| (x + offset) * scale).collect()))
    })
}

/// Largest round-trip error a block may show. Q5_0/Q5_1 (32 values): half a step of the block's
/// 5-bit grid (a full step for Q5_0, whose grid is one-sided: −16d … 15d). Q5_K (256 values) has
/// no such guarantee: ggml's encoder (ours is byte-exact with it, see `golden.rs`) fits each
/// 32-value sub-block by minimising a squared error weighted by |x| + rms, so it may clip the
/// values of smallest magnitude at the top of the grid, and its 6-bit scales and minimums are
/// relative to the super-block's largest. The worst seen over 40,000 random super-blocks was
/// 1.9 steps of the super-block's range, and one proptest draw reached 2.1 (saved in the
/// regressions file); three steps still catches a packing or sign bug, which is off by far more.
/// Plus f16 rounding of the stored scales and offsets.
fn block_bound(t: GgmlType, block: &[f32]) -> f32 {
    let max = block.iter().copied().fold(f32::MIN, f32::max);
    let min = block.iter().copied().fold(f32::MAX, f32::min);
    let amax = max.abs().max(min.abs());
    let f16_slack = 2e-3 * amax + 1e-6;
    match t {
        GgmlType::Q5_0 => amax / 16.0 + f16_slack,
        GgmlType::Q5_1 => 0.5 * (max - min) / 31.0 + f16_slack,
        _ => 3.0 * q5_k_step(block) + f16_slack,
    }
}

/// One step of a Q5_K super-block's grid: its range (with zero in it, as ggml's minimums are
/// never positive) over 31.
fn q5_k_step(block: &[f32]) -> f32 {
    let max = block.iter().copied().fold(f32::MIN, f32::max);
    let min = block.iter().copied().fold(f32::MAX, f32::min);
    (max - min.min(0.0)) / 31.0
}

fn check_round_trip(t: GgmlType, rows: usize, cols: usize, w: &[f32]) -> Result<(), TestCaseError> {
    let q = QuantizedMatrix::quantize(t, rows, cols, w).unwrap();
    prop_assert_eq!(q.bytes.len(), rows * t.row_bytes(cols).unwrap());
    let back = q.dequantize().unwrap();
    let block_len = if t == GgmlType::Q5_K { 256 } else { 32 };
    for (i, (block, got)) in w.chunks(block_len).zip(back.chunks(block_len)).enumerate() {
        let bound = block_bound(t, block);
        for (a, b) in block.iter().zip(got) {
            prop_assert!((a - b).abs() <= bound, "{t:?} block {i}: {a} came back as {b} (bound {bound})");
        }
        if t == GgmlType::Q5_K {
            // Clipping is the exception, not the rule: over the whole super-block the error stays
            // under one step in RMS (worst seen 0.77; a uniform grid gives 0.29).
            let sum_sq: f64 = block.iter().zip(got).map(|(a, b)| f64::from(a - b).powi(2)).sum();
            let rms = (sum_sq / block.len() as f64).sqrt() as f32;
            let step = q5_k_step(block) + 1e-6;
            prop_assert!(rms <= step, "Q5_K block {i}: RMS error {rms} over one step {step}");
        }
    }
    // Reading the bytes back as a matrix gives the same values.
    let again = QuantizedMatrix::from_bytes(t, rows, cols, q.bytes.clone()).unwrap();
    prop_assert_eq!(again.dequantize().unwrap(), back);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn q5_0_round_trip_error_is_bounded((rows, cols, w) in weights(32)) {
        check_round_trip(GgmlType::Q5_0, rows, cols, &w)?;
    }

    #[test]
    fn q5_1_round_trip_error_is_bounded((rows, cols, w) in weights(32)) {
        check_round_trip(GgmlType::Q5_1, rows, cols, &w)?;
    }

    #[test]
    fn q5_k_round_trip_error_is_bounded((rows, cols, w) in weights(256)) {
        check_round_trip(GgmlType::Q5_K, rows, cols, &w)?;
    }

    #[test]
    fn matvec_is_the_same_on_one_thread_or_several((rows, cols, w) in weights(32), seed in any::<u16>()) {
        // Enough rows that the threaded path is taken (it is skipped for small products).
        let rows_big = rows * 2048;
        let w_big: Vec<f32> = w.iter().cycle().take(rows_big * cols).copied().collect();
        let q = QuantizedMatrix::quantize(GgmlType::Q5_1, rows_big, cols, &w_big).unwrap();
        let x: Vec<f32> = (0..cols).map(|i| ((i as u32 * 7 + seed as u32) % 13) as f32 / 6.0 - 1.0).collect();
        prop_assert_eq!(q.matvec(&x, 1).unwrap(), q.matvec(&x, 2).unwrap());
    }
}
