#![allow(dead_code)]
use std::path::{Path, PathBuf};

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

/// Any f32/f64 npy as f64, in C (row-major) order even when the file is Fortran-ordered.
pub fn npy_f64(rel: &str) -> Vec<f64> {
    let bytes = std::fs::read(fixture(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let npy = npyz::NpyFile::new(&bytes[..]).expect("npy header");
    let shape = npy.shape().to_vec();
    let fortran = npy.order() == npyz::Order::Fortran;
    let data: Vec<f64> = match npy.dtype() {
        npyz::DType::Plain(t) if t.type_char() == npyz::TypeChar::Float && t.size_field() == 4 => {
            npy.into_vec::<f32>().expect("f32 data").into_iter().map(f64::from).collect()
        }
        _ => npy.into_vec::<f64>().expect("f64 data"),
    };
    if fortran && shape.len() == 2 {
        let (r, c) = (shape[0] as usize, shape[1] as usize);
        let mut out = vec![0.0; r * c];
        for i in 0..r {
            for j in 0..c {
                out[i * c + j] = data[j * r + i];
            }
        }
        return out;
    }
    data
}

pub fn npy_f32(rel: &str) -> Vec<f32> {
    let bytes = std::fs::read(fixture(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    npyz::NpyFile::new(&bytes[..]).expect("npy header").into_vec::<f32>().expect("f32 data")
}

/// (data, shape) of an f32 or f64 npy, as f64.
pub fn npy_shape(rel: &str) -> Vec<u64> {
    let bytes = std::fs::read(fixture(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    npyz::NpyFile::new(&bytes[..]).expect("npy header").shape().to_vec()
}

pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}
