//! Against the ggml / gguf-py / numpy goldens (`tests/fixtures`): Q5_0 and Q5_1 bytes exact and
//! decodes bit-exact, Q5_K decode bit-exact on 12 hand-made blocks and encode byte-exact with
//! `quantize_row_q5_K_ref`, Algorithm 2 codes exact and values bit-exact; Q4_0, Q8_0, Q2_K, Q3_K,
//! Q4_K, Q6_K, IQ4_NL and IQ4_XS encoders byte-exact and decoders bit-exact with libggml.

use quant5::{GgmlType, Granularity, QuantizedMatrix, dequantize_row, quantize_alg2};
use std::path::{Path, PathBuf};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

fn npy_f32(rel: &str) -> (Vec<f32>, Vec<usize>) {
    let bytes = std::fs::read(fixture(rel)).unwrap();
    let npy = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = npy.shape().iter().map(|&v| v as usize).collect();
    (npy.into_vec::<f32>().unwrap(), shape)
}

fn npy_u8(rel: &str) -> Vec<u8> {
    let bytes = std::fs::read(fixture(rel)).unwrap();
    npyz::NpyFile::new(&bytes[..]).unwrap().into_vec::<u8>().unwrap()
}

const MATRICES: [&str; 3] = ["w_64x256", "w_8x4096", "w_edge_8x256"];

fn check_format(t: GgmlType, dir: &str, ext: &str) {
    for m in MATRICES {
        let (w, shape) = npy_f32(&format!("matrices/{m}.npy"));
        let q = QuantizedMatrix::quantize(t, shape[0], shape[1], &w).unwrap();
        let golden = std::fs::read(fixture(&format!("{dir}/{m}.{ext}.bin"))).unwrap();
        if let Some(i) = q.bytes.iter().zip(&golden).position(|(a, b)| a != b) {
            panic!("{m} {ext}: first differing byte {i} (block {})", i / t.type_size());
        }
        assert_eq!(q.bytes.len(), golden.len());
        let (want, _) = npy_f32(&format!("{dir}/{m}.{ext}.dequant.npy"));
        let got = QuantizedMatrix::from_bytes(t, shape[0], shape[1], golden).unwrap().dequantize().unwrap();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&want), "{m} {ext}: decode not bit-exact");
    }
}

#[test]
fn q5_0_bytes_and_decode_exact() {
    check_format(GgmlType::Q5_0, "q5_0", "q5_0");
}

#[test]
fn q5_1_bytes_and_decode_exact() {
    check_format(GgmlType::Q5_1, "q5_1", "q5_1");
}

#[test]
fn q5_k_bytes_and_decode_exact() {
    check_format(GgmlType::Q5_K, "q5_k", "q5_k");
}

#[test]
fn q5_k_decoder_blocks_bit_exact() {
    let bytes = std::fs::read(fixture("q5_k_blocks/q5_k_blocks.bin")).unwrap();
    let (want, _) = npy_f32("q5_k_blocks/q5_k_blocks.dequant.npy");
    let mut got = vec![0f32; 12 * 256];
    for (i, (b, o)) in bytes.chunks_exact(176).zip(got.chunks_exact_mut(256)).enumerate() {
        dequantize_row(GgmlType::Q5_K, b, o).unwrap_or_else(|e| panic!("block {i}: {e}"));
    }
    for i in 0..12 {
        let a: Vec<u32> = got[256 * i..256 * (i + 1)].iter().map(|v| v.to_bits()).collect();
        let b: Vec<u32> = want[256 * i..256 * (i + 1)].iter().map(|v| v.to_bits()).collect();
        assert_eq!(a, b, "block {i}");
    }
}

#[test]
fn gguf_readme_one_block_examples() {
    let x: Vec<f32> = (0..32).map(|i| -1.0 + 2.0 * i as f32 / 31.0).collect();
    let q = QuantizedMatrix::quantize(GgmlType::Q5_0, 1, 32, &x).unwrap();
    let hex: String = q.bytes.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, "002c0000ffff102132435465768798a9bacbdcedfeff");
    let q = QuantizedMatrix::quantize(GgmlType::Q5_1, 1, 32, &x).unwrap();
    let hex: String = q.bytes.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, "212c00bc0000ffff00112233445566778899aabbccddeeff");
}

#[test]
fn alg2_codes_exact_values_bit_exact() {
    for m in ["w_64x256", "w_8x4096", "w_edge_8x256", "alg2_ties_1x16", "alg2_ties_b_1x16"] {
        let (w, _) = npy_f32(&format!("matrices/{m}.npy"));
        let t = quantize_alg2(&w, Granularity::PerTensor).unwrap();
        assert_eq!(t.codes, npy_u8(&format!("alg2/{m}.alg2_q.npy")), "{m} codes");
        let (want, _) = npy_f32(&format!("alg2/{m}.alg2_dequant.npy"));
        let got = t.dequantize();
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&got), bits(&want), "{m} values");
    }
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(fixture("quant.json")).unwrap()).unwrap();
    let (w, _) = npy_f32("matrices/alg2_ties_1x16.npy");
    let t = quantize_alg2(&w, Granularity::PerTensor).unwrap();
    assert_eq!(t.params[0].zero, 14.0, "round half to even, not away");
    assert_eq!(t.params[0].zero as i64, meta["alg2"]["alg2_ties_1x16"]["Z"].as_i64().unwrap());
    let (w, _) = npy_f32("matrices/w_64x256.npy");
    let t = quantize_alg2(&w, Granularity::PerTensor).unwrap();
    assert_eq!(format!("{:#x}", t.params[0].scale.to_bits()), "0x3c4c6d91");
}

/// K-quants, Q4_0 and IQ4 against libggml (`fixtures/kquants`, from
/// `make_kquant_fixtures.py`): our encoder's bytes equal `ggml_quantize_chunk`'s on the three
/// shared matrices, and decoding ggml's bytes gives its values bit for bit (compared directly on
/// the edge matrix, by sha256 of the float32 bytes on the two larger ones).
fn check_kquant(t: GgmlType) {
    use sha2::Digest;
    let digests: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("kquants/dequant_sha256.json")).unwrap()).unwrap();
    let ext = t.name().to_lowercase();
    for m in MATRICES {
        let (w, shape) = npy_f32(&format!("matrices/{m}.npy"));
        let golden = std::fs::read(fixture(&format!("kquants/{m}.{ext}.bin"))).unwrap();
        let q = QuantizedMatrix::quantize(t, shape[0], shape[1], &w).unwrap();
        assert_eq!(q.bytes.len(), golden.len(), "{m} {ext}: size");
        if let Some(i) = q.bytes.iter().zip(&golden).position(|(a, b)| a != b) {
            let block = i / t.type_size();
            panic!("{m} {ext}: first differing byte {i} (block {block}, byte {} of it)", i % t.type_size());
        }
        let got = QuantizedMatrix::from_bytes(t, shape[0], shape[1], golden).unwrap().dequantize().unwrap();
        let bytes: Vec<u8> = got.iter().flat_map(|v| v.to_le_bytes()).collect();
        if m == "w_edge_8x256" {
            let (want, _) = npy_f32(&format!("kquants/{m}.{ext}.dequant.npy"));
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&want), "{m} {ext}: decode not bit-exact");
        } else {
            let want = digests[format!("{m}.{ext}")].as_str().unwrap();
            let hex: String = sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, want, "{m} {ext}: decode not bit-exact");
        }
    }
}

#[test]
fn q4_0_bytes_and_decode_exact() {
    check_kquant(GgmlType::Q4_0);
}

#[test]
fn q8_0_bytes_and_decode_exact() {
    check_kquant(GgmlType::Q8_0);
}

#[test]
fn q2_k_bytes_and_decode_exact() {
    check_kquant(GgmlType::Q2_K);
}

#[test]
fn q3_k_bytes_and_decode_exact() {
    check_kquant(GgmlType::Q3_K);
}

#[test]
fn q4_k_bytes_and_decode_exact() {
    check_kquant(GgmlType::Q4_K);
}

#[test]
fn q6_k_bytes_and_decode_exact() {
    check_kquant(GgmlType::Q6_K);
}

#[test]
fn iq4_nl_bytes_and_decode_exact() {
    check_kquant(GgmlType::IQ4_NL);
}

#[test]
fn iq4_xs_bytes_and_decode_exact() {
    check_kquant(GgmlType::IQ4_XS);
}
