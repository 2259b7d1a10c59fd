#![allow(clippy::needless_range_loop)]
//! Decoders on blocks with known values, block dot products against "dequantize, then f32
//! matmul", packing round trips and typed errors.

use half::{bf16, f16};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use quant5::{GgmlType, Granularity, QuantError, QuantizedMatrix, dequantize_row, pack5, quantize_alg2, unpack5};

fn f16b(v: f32) -> [u8; 2] {
    f16::from_f32(v).to_le_bytes()
}

/// Every format with a dot kernel (one-row, pair and tile).
const KERNEL_TYPES: [GgmlType; 12] = [
    GgmlType::Q4_0,
    GgmlType::Q4_1,
    GgmlType::Q5_0,
    GgmlType::Q5_1,
    GgmlType::Q8_0,
    GgmlType::IQ4_NL,
    GgmlType::Q2_K,
    GgmlType::Q3_K,
    GgmlType::Q4_K,
    GgmlType::Q5_K,
    GgmlType::Q6_K,
    GgmlType::IQ4_XS,
];

#[test]
fn q4_0_q4_1_q8_0_decoders_on_constructed_blocks() {
    // Q4_0: d = 0.5, nibbles q[e] = e mod 16 → (q − 8)·0.5.
    let mut b = f16b(0.5).to_vec();
    b.extend((0..16).map(|j| (j as u8) | (((15 - j) as u8) << 4)));
    let mut out = [0f32; 32];
    dequantize_row(GgmlType::Q4_0, &b, &mut out).unwrap();
    for j in 0..16 {
        assert_eq!(out[j], (j as f32 - 8.0) * 0.5);
        assert_eq!(out[j + 16], ((15 - j) as f32 - 8.0) * 0.5);
    }
    // Q4_1: d = 0.25, m = −1 → q·0.25 − 1.
    let mut b = f16b(0.25).to_vec();
    b.extend(f16b(-1.0));
    b.extend((0..16).map(|j| (j as u8) | (3 << 4)));
    dequantize_row(GgmlType::Q4_1, &b, &mut out).unwrap();
    assert_eq!(out[5], 5.0 * 0.25 - 1.0);
    assert_eq!(out[21], 3.0 * 0.25 - 1.0);
    // Q8_0: d = 2^-7, q = −128..127 subset.
    let mut b = f16b(1.0 / 128.0).to_vec();
    b.extend((0..32).map(|j| ((j * 8 - 128) as i8) as u8));
    dequantize_row(GgmlType::Q8_0, &b, &mut out).unwrap();
    for j in 0..32 {
        assert_eq!(out[j], (j as f32 * 8.0 - 128.0) / 128.0);
    }
}

#[test]
fn q6_k_decoder_on_constructed_block() {
    // Every 6-bit code q_e = e mod 64, scales[k] = k − 8 (signed), d = 0.5.
    let code = |e: usize| (e % 64) as u8;
    let mut ql = [0u8; 128];
    let mut qh = [0u8; 64];
    for half in 0..2 {
        for l in 0..32 {
            let base = 128 * half;
            let (c1, c2, c3, c4) = (code(base + l), code(base + l + 32), code(base + l + 64), code(base + l + 96));
            ql[64 * half + l] = (c1 & 0xF) | ((c3 & 0xF) << 4);
            ql[64 * half + l + 32] = (c2 & 0xF) | ((c4 & 0xF) << 4);
            qh[32 * half + l] = (c1 >> 4) | ((c2 >> 4) << 2) | ((c3 >> 4) << 4) | ((c4 >> 4) << 6);
        }
    }
    let scales: Vec<u8> = (0..16).map(|k| (k as i8 - 8) as u8).collect();
    let mut b = ql.to_vec();
    b.extend(qh);
    b.extend(&scales);
    b.extend(f16b(0.5));
    let mut out = [0f32; 256];
    dequantize_row(GgmlType::Q6_K, &b, &mut out).unwrap();
    for e in 0..256 {
        let scale = (e / 16) as f32 - 8.0;
        assert_eq!(out[e], 0.5 * scale * (code(e) as f32 - 32.0), "element {e}");
    }
}

#[test]
fn float_types_round_trip() {
    let x: Vec<f32> = (0..64).map(|i| (i as f32 - 31.5) * 0.37).collect();
    for t in [GgmlType::F32, GgmlType::F16, GgmlType::BF16] {
        let q = QuantizedMatrix::quantize(t, 2, 32, &x).unwrap();
        let back = q.dequantize().unwrap();
        for (a, b) in x.iter().zip(&back) {
            let want = match t {
                GgmlType::F16 => f16::from_f32(*a).to_f32(),
                GgmlType::BF16 => bf16::from_f32(*a).to_f32(),
                _ => *a,
            };
            assert_eq!(*b, want, "{t:?}");
        }
    }
}

fn test_matrix(rows: usize, cols: usize, seed: u64) -> Vec<f32> {
    let mut s = seed | 1;
    (0..rows * cols)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.2
        })
        .collect()
}

/// The reference path: dequantize the weights, then an f64 matvec.
fn reference(q: &QuantizedMatrix, x: &[f32]) -> Vec<f32> {
    let w = q.dequantize().unwrap();
    (0..q.rows)
        .map(|r| w[r * q.cols..(r + 1) * q.cols].iter().zip(x).map(|(a, b)| *a as f64 * *b as f64).sum::<f64>() as f32)
        .collect()
}

#[test]
fn kernels_agree_with_dequantize_then_matmul() {
    // Tolerance: the kernels quantize x to 8 bits (relative step 1/127 of each block's max), so
    // the error per row is bounded by Σ|w|·|x|max/254 plus f32 rounding; we check it relative
    // to Σ|w·x| with ggml's own per-element budget (≤ 2 % of the mean |w·x| term).
    for t in GgmlType::QUANTIZED.into_iter().chain([GgmlType::F32, GgmlType::F16, GgmlType::BF16]) {
        for (rows, cols) in [(8, 256), (64, 512), (3, 4096)] {
            let w = test_matrix(rows, cols, 11);
            let x = test_matrix(1, cols, 29);
            let q = QuantizedMatrix::quantize(t, rows, cols, &w).unwrap();
            let want = reference(&q, &x);
            for threads in [1, 2, 3] {
                let got = q.matvec(&x, threads).unwrap();
                let wq = q.dequantize().unwrap();
                for r in 0..rows {
                    let mag: f32 = wq[r * cols..(r + 1) * cols].iter().zip(&x).map(|(a, b)| (a * b).abs()).sum();
                    let tol = if matches!(t, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16) { 1e-5 } else { 0.02 };
                    assert!(
                        (got[r] - want[r]).abs() <= tol * mag + 1e-6,
                        "{t:?} {rows}x{cols} row {r}: {} vs {}",
                        got[r],
                        want[r]
                    );
                }
            }
        }
    }
}

#[test]
fn q4_1_and_q6_k_kernels_on_decoded_blocks() {
    // No encoders for these (files bring them): build valid blocks byte-wise.
    let mut s: u64 = 99;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 32) as u8
    };
    let cols = 512;
    let mut q41 = Vec::new();
    for _ in 0..cols / 32 {
        q41.extend(f16b(0.01));
        q41.extend(f16b(-0.08));
        q41.extend((0..16).map(|_| rnd()));
    }
    let mut q6k = Vec::new();
    for _ in 0..cols / 256 {
        q6k.extend((0..192).map(|_| rnd()));
        q6k.extend((0..16).map(|_| rnd() % 64));
        q6k.extend(f16b(0.003));
    }
    let x = test_matrix(1, cols, 3);
    for (t, bytes) in [(GgmlType::Q4_1, q41), (GgmlType::Q6_K, q6k)] {
        let q = QuantizedMatrix::from_bytes(t, 1, cols, bytes).unwrap();
        let got = q.matvec(&x, 1).unwrap()[0];
        let want = reference(&q, &x)[0];
        let w = q.dequantize().unwrap();
        let mag: f32 = w.iter().zip(&x).map(|(a, b)| (a * b).abs()).sum();
        assert!((got - want).abs() <= 0.02 * mag, "{t:?}: {got} vs {want}");
    }
}

#[test]
fn block_dot_products_do_not_depend_on_how_rows_of_x_are_batched() {
    // Every format, batches of 1 to 7 rows (odd and even: the two-row kernels and their
    // remainder): each output is bit-identical to the one-row product.
    let (rows, cols) = (24, 512);
    for t in GgmlType::QUANTIZED {
        let q = QuantizedMatrix::quantize(t, rows, cols, &test_matrix(rows, cols, 9)).unwrap();
        for n in 1..=7 {
            let x = test_matrix(n, cols, 40 + n as u64);
            let mut y = vec![0f32; n * rows];
            q.matmul_block_dots_into(&x, n, &mut y, 1).unwrap();
            for i in 0..n {
                let alone = q.matvec(&x[i * cols..(i + 1) * cols], 1).unwrap();
                let got: Vec<u32> = y[i * rows..(i + 1) * rows].iter().map(|v| v.to_bits()).collect();
                assert_eq!(got, alone.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), "{t:?} n={n} row {i}");
            }
        }
    }
}

#[test]
fn decoding_products_do_not_depend_on_how_weight_rows_are_paired() {
    // One row of X (a decoding step) goes through the two-weight-row kernels where a format
    // has them: every output, paired or the odd one out, is bit-identical to the one-row dot.
    let cols = 512;
    for t in GgmlType::QUANTIZED {
        for rows in [1, 2, 7, 24] {
            let q = QuantizedMatrix::quantize(t, rows, cols, &test_matrix(rows, cols, 21)).unwrap();
            let x = test_matrix(1, cols, 8);
            for threads in [1, 2] {
                let got = q.matvec(&x, threads).unwrap();
                for (r, g) in got.iter().enumerate() {
                    let alone = quant5::kernels::row_dot(t, q.row(r), &x, false).unwrap();
                    assert_eq!(g.to_bits(), alone.to_bits(), "{t:?} {rows} rows, row {r}, {threads} threads");
                }
            }
        }
    }
}

#[test]
fn row_panels_give_the_same_bits_as_the_row_kernels() {
    // The 32-value formats: rows 16, 35 (two panels and three rows left to the row kernel) and 601
    // (split across threads); 1, 3, 7, 9 and 18 blocks per row (no, one and two whole groups of
    // eight, with and without a last partial group). The K-quants and IQ4_XS: 1, 2, 3 and 9
    // super-blocks per row. One row of X (decoding) and several (a prompt: up to 37 tokens, more than one
    // pass of Q5_0's 16-token kernel), on rayon and on spinning pools: every output the same
    // bits as the matrix without panels.
    let pool = quant5::SpinPool::new(2).unwrap();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let cases = [
        (GgmlType::Q8_0, [(16, 32), (35, 96), (35, 224), (601, 288), (64, 576)]),
        (GgmlType::Q5_0, [(16, 32), (35, 96), (35, 224), (601, 288), (64, 576)]),
        (GgmlType::IQ4_NL, [(16, 32), (35, 96), (35, 224), (601, 288), (64, 576)]),
        (GgmlType::Q4_1, [(16, 32), (35, 96), (35, 224), (601, 288), (64, 576)]),
        (GgmlType::Q4_0, [(16, 32), (35, 96), (35, 224), (601, 288), (64, 576)]),
        (GgmlType::Q5_1, [(16, 32), (35, 96), (35, 224), (601, 288), (64, 576)]),
        (GgmlType::Q4_K, [(16, 256), (35, 512), (35, 768), (601, 256), (64, 2304)]),
        (GgmlType::Q5_K, [(16, 256), (35, 512), (35, 768), (601, 256), (64, 2304)]),
        (GgmlType::Q6_K, [(16, 256), (35, 512), (35, 768), (601, 256), (64, 2304)]),
        (GgmlType::Q2_K, [(16, 256), (35, 512), (35, 768), (601, 256), (64, 2304)]),
        (GgmlType::Q3_K, [(16, 256), (35, 512), (35, 768), (601, 256), (64, 2304)]),
        (GgmlType::IQ4_XS, [(16, 256), (35, 512), (35, 768), (601, 256), (64, 2304)]),
    ];
    for (t, shapes) in cases {
        for (rows, cols) in shapes {
            let plain = QuantizedMatrix::quantize(t, rows, cols, &test_matrix(rows, cols, 77)).unwrap();
            let mut packed = plain.clone();
            if !packed.pack_row_panels() {
                assert!(!std::arch::is_x86_feature_detected!("avx512vnni"), "a VNNI CPU packs {t:?}");
                return;
            }
            assert_eq!(packed, plain, "panels do not change the matrix");
            for n in [1, 2, 5, 9, 37] {
                let x = test_matrix(n, cols, 90 + n as u64);
                let mut want = vec![0f32; n * rows];
                plain.matmul_block_dots_into(&x, n, &mut want, 1).unwrap();
                for threads in [1, 2, 3] {
                    let mut got = vec![f32::NAN; n * rows];
                    packed.matmul_block_dots_into(&x, n, &mut got, threads).unwrap();
                    assert_eq!(bits(&got), bits(&want), "{t:?} {rows}x{cols} n={n} on {threads} threads");
                }
                let mut got = vec![f32::NAN; n * rows];
                packed.matmul_block_dots_on(&x, n, &mut got, &pool).unwrap();
                assert_eq!(bits(&got), bits(&want), "{t:?} {rows}x{cols} n={n} on a spin pool");
            }
        }
    }
    let mut f16 = QuantizedMatrix::quantize(GgmlType::F16, 32, 64, &test_matrix(32, 64, 3)).unwrap();
    assert!(!f16.pack_row_panels(), "F16 has no panels");
}

#[test]
fn block_products_on_a_spin_pool_equal_the_single_thread_ones() {
    // 601×512 weights (large enough to split; an odd row count, so the weight-row pairs and
    // the shares do not line up), one row of X (decoding: split by weight rows) and five and
    // nine (a prompt: split by tokens, in shares of whole tiles): the same bits on 1, 2 and 3
    // spinning threads as on one thread.
    let (rows, cols) = (601, 512);
    let pools: Vec<quant5::SpinPool> = [1, 2, 3].map(|t| quant5::SpinPool::new(t).unwrap()).into();
    for t in KERNEL_TYPES {
        let q = QuantizedMatrix::quantize(t, rows, cols, &test_matrix(rows, cols, 5)).unwrap();
        assert!(!q.splits_across_threads(4, 2), "one tile of tokens is one share");
        for n in [1, 5, 9] {
            assert!(q.splits_across_threads(n, 2));
            let x = test_matrix(n, cols, 70 + n as u64);
            let mut want = vec![0f32; n * rows];
            q.matmul_block_dots_into(&x, n, &mut want, 1).unwrap();
            for pool in &pools {
                let mut got = vec![f32::NAN; n * rows];
                q.matmul_block_dots_on(&x, n, &mut got, pool).unwrap();
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&got), bits(&want), "{t:?} n={n} on {} threads", pool.threads());
            }
        }
    }
}

#[test]
fn matmul_widens_panels_for_many_rows_and_uses_the_block_kernels_for_few() {
    // From GEMM_MIN_TOKENS rows of X on, products run on the exactly dequantized weights in f32
    // (no activation quantization): within f32 rounding of the f64 reference. Below, each row is
    // the integer matvec. Either way the result does not depend on the thread count.
    // 600×512 weights: large enough that the block-dot path splits rows across threads.
    for (t, rows) in [(GgmlType::Q8_0, 40), (GgmlType::Q5_K, 40), (GgmlType::Q5_0, 40), (GgmlType::Q8_0, 600)] {
        let cols = 512;
        let q = QuantizedMatrix::quantize(t, rows, cols, &test_matrix(rows, cols, 5)).unwrap();
        assert_eq!(q.splits_across_threads(1, 2), rows == 600, "{t:?} {rows}×{cols}");
        for n in [1, quant5::GEMM_MIN_TOKENS - 1, quant5::GEMM_MIN_TOKENS, 37] {
            let x = test_matrix(n, cols, 17 + n as u64);
            let got = q.matmul(&x, n, 1).unwrap();
            assert_eq!(got.len(), n * rows);
            for threads in [2, 3] {
                assert_eq!(q.matmul(&x, n, threads).unwrap(), got, "{t:?} n={n} threads={threads}");
            }
            for i in 0..n {
                let xi = &x[i * cols..(i + 1) * cols];
                let row = &got[i * rows..(i + 1) * rows];
                if n < quant5::GEMM_MIN_TOKENS {
                    assert_eq!(row, q.matvec(xi, 1).unwrap().as_slice(), "{t:?} n={n} row {i}");
                } else {
                    for (r, (g, w)) in row.iter().zip(reference(&q, xi)).enumerate() {
                        assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{t:?} n={n} [{i},{r}]: {g} vs {w}");
                    }
                }
            }
        }
        assert!(matches!(q.matmul(&[0.0; 100], 2, 1), Err(QuantError::Shape(_))));
        let mut y = vec![0f32; 3];
        assert!(matches!(q.matmul_into(&vec![0.0; 2 * cols], 2, &mut y, 1), Err(QuantError::Shape(_))));
    }
}

#[test]
fn shape_errors_are_typed() {
    let w = vec![0.1f32; 3 * 40];
    assert!(matches!(QuantizedMatrix::quantize(GgmlType::Q5_0, 3, 40, &w), Err(QuantError::Shape(_))));
    assert!(matches!(QuantizedMatrix::quantize(GgmlType::Q5_K, 1, 96, &w[..96]), Err(QuantError::Shape(_))));
    assert!(matches!(
        QuantizedMatrix::from_bytes(GgmlType::Q5_0, 2, 32, vec![0; 43]),
        Err(QuantError::Truncated { .. })
    ));
    let q = QuantizedMatrix::quantize(GgmlType::Q5_0, 1, 32, &w[..32]).unwrap();
    assert!(q.matvec(&[0.0; 31], 1).is_err());
    let mut bad = w[..32].to_vec();
    bad[3] = f32::NAN;
    assert!(matches!(QuantizedMatrix::quantize(GgmlType::Q5_1, 1, 32, &bad), Err(QuantError::NonFinite { index: 3 })));
    assert!(q.matvec(&bad, 1).is_err());
    // IQ2_XXS (16) and the retired Q4_2 (4) are not read; every type this crate reads round-trips its id.
    assert!(GgmlType::from_id(16).is_err() && GgmlType::from_id(4).is_err());
    for id in [0, 1, 2, 3, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 20, 23, 30] {
        assert_eq!(GgmlType::from_id(id).unwrap().id(), id);
    }
}

#[test]
fn alg2_granularities() {
    let w: Vec<f32> = (0..64).map(|i| if i < 32 { i as f32 * 0.01 } else { 10.0 + i as f32 }).collect();
    let per_tensor = quantize_alg2(&w, Granularity::PerTensor).unwrap();
    let per_group = quantize_alg2(&w, Granularity::PerGroup { size: 32 }).unwrap();
    let per_row = quantize_alg2(&w, Granularity::PerRow { cols: 32 }).unwrap();
    assert_eq!(per_group.params.len(), 2);
    assert_eq!((&per_group.params, &per_group.codes), (&per_row.params, &per_row.codes));
    let err = |t: &quant5::Alg2Tensor| t.dequantize().iter().zip(&w).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(err(&per_group) < err(&per_tensor) / 10.0, "groups adapt to local range");
    // Constant tensors are defined: codes 0, values exact.
    let c = quantize_alg2(&[0.75; 16], Granularity::PerTensor).unwrap();
    assert!(c.codes.iter().all(|&q| q == 0));
    assert!(c.dequantize().iter().all(|&v| v == 0.75));
    assert!(quantize_alg2(&w, Granularity::PerGroup { size: 7 }).is_err());
    assert!(quantize_alg2(&[f32::INFINITY], Granularity::PerTensor).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn pack5_round_trips(codes in prop::collection::vec(0u8..32, 0..200)) {
        let packed = pack5(&codes);
        prop_assert_eq!(packed.len(), codes.len().div_ceil(8) * 5);
        prop_assert_eq!(unpack5(&packed, codes.len()).unwrap(), codes);
    }

    #[test]
    fn alg2_error_is_at_most_half_a_step(w in prop::collection::vec(-10.0f32..10.0, 1..300)) {
        let t = quantize_alg2(&w, Granularity::PerTensor).unwrap();
        let p = t.params[0];
        for (a, b) in t.dequantize().iter().zip(&w) {
            // Half a step, plus the zero-point rounding (≤ half a step) and f32 slack.
            prop_assert!((a - b).abs() <= p.scale * 1.0 + 1e-5, "{} vs {}", a, b);
        }
    }
}

#[test]
fn unpack_rejects_short_input() {
    assert!(matches!(unpack5(&[0; 4], 8), Err(QuantError::Truncated { expected: 5, got: 4 })));
}

#[test]
fn alg2_file_round_trips_and_rejects_lying_headers() {
    let w: Vec<f32> = (0..100).map(|i| (i as f32 * 0.37).sin()).collect();
    for g in [Granularity::PerTensor, Granularity::PerGroup { size: 20 }, Granularity::PerRow { cols: 50 }] {
        let t = quantize_alg2(&w, g).unwrap();
        let bytes = t.to_bytes();
        assert_eq!(quant5::Alg2Tensor::from_bytes(&bytes).unwrap(), t);
    }
    let bytes = quantize_alg2(&w, Granularity::PerTensor).unwrap().to_bytes();
    // A header claiming 2^60 values must fail on the size check, not allocate.
    let mut lie = bytes.clone();
    lie[20..28].copy_from_slice(&(1u64 << 60).to_le_bytes());
    assert!(quant5::Alg2Tensor::from_bytes(&lie).is_err());
    let mut lie = bytes.clone();
    lie[28..36].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(quant5::Alg2Tensor::from_bytes(&lie).is_err());
    assert!(quant5::Alg2Tensor::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    assert!(quant5::Alg2Tensor::from_bytes(b"nope").is_err());
}

#[test]
fn simd_kernels_match_the_portable_reference() {
    use quant5::kernels::row_dot;
    let mut s: u64 = 0xDEAD_BEEF;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    for t in GgmlType::QUANTIZED {
        let cols = 4096;
        for trial in 0..20 {
            // Random valid blocks: any bit pattern is valid once the f16 scales are sane.
            let mut row: Vec<u8> = (0..t.row_bytes(cols).unwrap()).map(|_| (rnd() >> 24) as u8).collect();
            for b in row.chunks_exact_mut(t.type_size()) {
                let (d_at, m_at) = match t {
                    GgmlType::Q6_K => (208, None),
                    GgmlType::Q3_K => (108, None),
                    GgmlType::Q2_K => (80, Some(82)),
                    GgmlType::Q5_K | GgmlType::Q4_K => (0, Some(2)),
                    GgmlType::Q5_1 | GgmlType::Q4_1 => (0, Some(2)),
                    _ => (0, None),
                };
                let d = ((rnd() % 1000) as f32 + 1.0) * 1e-5 * if rnd() % 2 == 0 { 1.0 } else { -1.0 };
                b[d_at..d_at + 2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
                if let Some(m) = m_at {
                    b[m..m + 2].copy_from_slice(&f16::from_f32((rnd() % 1000) as f32 * 1e-5).to_le_bytes());
                }
            }
            let x: Vec<f32> = (0..cols)
                .map(|_| ((rnd() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * if trial % 3 == 0 { 100.0 } else { 1.0 })
                .collect();
            let fast = row_dot(t, &row, &x, false).unwrap();
            let reference = row_dot(t, &row, &x, true).unwrap();
            let w = QuantizedMatrix::from_bytes(t, 1, cols, row.clone()).unwrap().dequantize().unwrap();
            let mag: f32 = w.iter().zip(&x).map(|(a, b)| (a * b).abs()).sum::<f32>().max(1e-20);
            assert!((fast - reference).abs() <= 1e-5 * mag, "{t:?} trial {trial}: {fast} vs {reference} (mag {mag})");
        }
    }
}

#[test]
fn matrices_can_borrow_their_blocks_from_a_shared_buffer() {
    use quant5::{BlockBytes, SharedBuffer};
    let w = test_matrix(4, 64, 3);
    let owned = QuantizedMatrix::quantize(GgmlType::Q8_0, 4, 64, &w).unwrap();
    // The blocks in the middle of a larger buffer, as a tensor sits in a mapped GGUF file.
    let mut file = vec![0xAAu8; 100];
    file.extend_from_slice(&owned.bytes);
    file.extend_from_slice(&[0x55; 7]);
    let buffer: SharedBuffer = std::sync::Arc::new(file);
    let bytes = BlockBytes::shared(buffer.clone(), 100..100 + owned.bytes.len()).unwrap();
    assert!(bytes.is_shared());
    let shared = QuantizedMatrix::from_bytes(GgmlType::Q8_0, 4, 64, bytes).unwrap();
    assert_eq!(shared, owned);
    let x = test_matrix(1, 64, 5);
    assert_eq!(shared.matvec(&x, 1).unwrap(), owned.matvec(&x, 1).unwrap());
    // Ranges outside the buffer are refused, not sliced.
    assert!(BlockBytes::shared(buffer.clone(), 100..10_000).is_none());
    let short = BlockBytes::shared(buffer, 100..101).unwrap();
    assert!(matches!(QuantizedMatrix::from_bytes(GgmlType::Q8_0, 4, 64, short), Err(QuantError::Truncated { .. })));
}

#[test]
fn prompt_tiles_equal_single_dots_bit_for_bit() {
    // Every quantized format runs prompts through tiles of 4 weight rows × 4 rows of X
    // where the CPU has AVX-512 VNNI, Q8_0 and Q5_0 where it has AVX2 only. Random block bits (Q8_0 codes of −128 included; any
    // K-quant scale bits), row lengths with 3, 16 and 18 blocks (no whole group of four; whole
    // groups; a tail of two) or 1, 2 and 6 super-blocks, row and token counts around the tile:
    // every output equals the one-row kernel's, bit for bit.
    let mut s: u64 = 0x5EED_1234;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    // On a CPU with the instructions the tiles must be in use, or this test compares the
    // two-row kernels with themselves.
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512dq")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx512vnni")
    {
        use quant5::formats::{
            BlockFormat, BlockIQ4NL, BlockIQ4XS, BlockQ2K, BlockQ3K, BlockQ4_0, BlockQ4_1, BlockQ4K, BlockQ5_0,
            BlockQ5_1, BlockQ5K, BlockQ6K, BlockQ8_0,
        };
        assert!(BlockQ4_0::dot_tile_fn().is_none() && BlockQ4_1::dot_tile_fn().is_none());
        assert!(BlockQ5_0::dot_tile_fn().is_none() && BlockQ5_1::dot_tile_fn().is_none());
        assert!(BlockIQ4NL::dot_tile_fn().is_none() && BlockIQ4XS::dot_tile_fn().is_none());
        // Q4_1's, Q8_0's, Q5_0's, IQ4_NL's, Q2_K's, Q3_K's and IQ4_XS's prompts run on their row
        // panels or the two-token kernel.
        assert!(BlockQ2K::dot_tile_fn().is_none() && BlockQ3K::dot_tile_fn().is_none());
        assert!(BlockQ8_0::dot_tile_fn().is_none() && BlockQ4K::dot_tile_fn().is_some());
        assert!(BlockQ5K::dot_tile_fn().is_some() && BlockQ6K::dot_tile_fn().is_some());
    } else if std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
        && std::arch::is_x86_feature_detected!("f16c")
    {
        // Without VNNI, Q8_0 and Q5_0 (most of a Q4_K_M file whose rows are not whole
        // super-blocks) have AVX2 tiles; the others run on the two-token kernels.
        use quant5::formats::{BlockFormat, BlockQ4_1, BlockQ4K, BlockQ5_0, BlockQ8_0};
        assert!(BlockQ8_0::dot_tile_fn().is_some() && BlockQ5_0::dot_tile_fn().is_some());
        assert!(BlockQ4_1::dot_tile_fn().is_none() && BlockQ4K::dot_tile_fn().is_none());
    }
    for t in KERNEL_TYPES {
        let widths: &[usize] = if t.block_size() == 256 { &[256, 512, 1536] } else { &[96, 512, 576] };
        for &cols in widths {
            for rows in [4, 7, 9, 37] {
                let mut bytes: Vec<u8> = (0..rows * t.row_bytes(cols).unwrap()).map(|_| (rnd() >> 24) as u8).collect();
                for b in bytes.chunks_exact_mut(t.type_size()) {
                    let d = ((rnd() % 1000) as f32 + 1.0) * 1e-4 * if rnd() % 2 == 0 { 1.0 } else { -1.0 };
                    let (d_at, m_at) = match t {
                        GgmlType::Q6_K => (208, None),
                        GgmlType::Q3_K => (108, None),
                        GgmlType::Q2_K => (80, Some(82)),
                        GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4_K | GgmlType::Q5_K => (0, Some(2)),
                        _ => (0, None),
                    };
                    b[d_at..d_at + 2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
                    if let Some(m) = m_at {
                        b[m..m + 2].copy_from_slice(&f16::from_f32((rnd() % 1000) as f32 * -1e-4).to_le_bytes());
                    }
                }
                let q = QuantizedMatrix::from_bytes(t, rows, cols, bytes).unwrap();
                // 27 tokens of 37 rows of 512 or 576 are large enough to split across two
                // threads (16 + 11 tokens: whole tiles and remainders in both shares).
                for n in [4, 5, 8, 11, 27] {
                    let x: Vec<f32> = (0..n * cols)
                        .map(|i| ((rnd() >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * (1 + i % 7) as f32)
                        .collect();
                    for threads in [1, 2] {
                        let mut y = vec![f32::NAN; n * rows];
                        q.matmul_block_dots_into(&x, n, &mut y, threads).unwrap();
                        for i in 0..n {
                            for r in 0..rows {
                                let alone =
                                    quant5::kernels::row_dot(t, q.row(r), &x[i * cols..(i + 1) * cols], false).unwrap();
                                assert_eq!(
                                    y[i * rows + r].to_bits(),
                                    alone.to_bits(),
                                    "{t:?} cols {cols} rows {rows} n {n} token {i} row {r}: {} vs {alone}",
                                    y[i * rows + r]
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}
