//! Quantizes a 2-D f32 `.npy` matrix and writes the raw blocks.
//!
//! ```text
//! cargo run --release -p quant5 --example quantize -- <in.npy> <q5_0|q5_1|q5_k|alg2> <out.bin>
//! ```
//! GGUF formats are written in GGUF tensor-data layout (rows of blocks, no header). `alg2`
//! writes the self-describing Algorithm 2 file documented at `quant5::Alg2Tensor::to_bytes`
//! (per-tensor scale and zero point, codes packed 8 per 5 bytes).

use quant5::{GgmlType, Granularity, QuantizedMatrix, quantize_alg2};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, format, output] = args.as_slice() else {
        eprintln!("usage: quantize <in.npy> <q5_0|q5_1|q5_k|alg2> <out.bin>");
        return ExitCode::from(2);
    };
    match run(input, format, output) {
        Ok(msg) => {
            eprintln!("{msg}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn read_npy_2d(path: &str) -> Result<(Vec<f32>, usize, usize), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let npy = npyz::NpyFile::new(&bytes[..]).map_err(|e| format!("{path}: {e}"))?;
    let shape = npy.shape().to_vec();
    let [rows, cols] = shape[..] else {
        return Err(format!("{path}: expected a 2-D array, got shape {shape:?}"));
    };
    if npy.order() == npyz::Order::Fortran {
        return Err(format!("{path}: Fortran-ordered arrays are not supported; save with np.ascontiguousarray"));
    }
    let data = npy.into_vec::<f32>().map_err(|e| format!("{path}: expected little-endian f32 data: {e}"))?;
    Ok((data, rows as usize, cols as usize))
}

fn run(input: &str, format: &str, output: &str) -> Result<String, String> {
    let (data, rows, cols) = read_npy_2d(input)?;
    let bytes = match format {
        "alg2" => quantize_alg2(&data, Granularity::PerTensor).map_err(|e| e.to_string())?.to_bytes(),
        _ => {
            let t = match format {
                "q5_0" => GgmlType::Q5_0,
                "q5_1" => GgmlType::Q5_1,
                "q5_k" => GgmlType::Q5_K,
                other => return Err(format!("unknown format `{other}` (q5_0, q5_1, q5_k, alg2)")),
            };
            QuantizedMatrix::quantize(t, rows, cols, &data).map_err(|e| e.to_string())?.bytes.to_vec()
        }
    };
    std::fs::write(output, &bytes).map_err(|e| format!("{output}: {e}"))?;
    Ok(format!(
        "{input}: {rows}×{cols} f32 -> {output}: {format}, {} bytes ({:.3} bits/weight)",
        bytes.len(),
        bytes.len() as f64 * 8.0 / (rows * cols) as f64
    ))
}
