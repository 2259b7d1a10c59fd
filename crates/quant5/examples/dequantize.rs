//! Decodes raw blocks (or an Algorithm 2 file) back to a 2-D f32 `.npy`.
//!
//! ```text
//! cargo run --release -p quant5 --example dequantize -- <in.bin> <format> <rows> <cols> <out.npy>
//! ```
//! `format`: q5_0, q5_1, q5_k, q4_0, q4_1, q8_0, q6_k, f16, bf16, f32 or alg2.

use npyz::WriterBuilder;
use quant5::{Alg2Tensor, GgmlType, QuantizedMatrix};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, format, rows, cols, output] = args.as_slice() else {
        eprintln!("usage: dequantize <in.bin> <format> <rows> <cols> <out.npy>");
        return ExitCode::from(2);
    };
    match run(input, format, rows, cols, output) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(input: &str, format: &str, rows: &str, cols: &str, output: &str) -> Result<(), String> {
    let rows: usize = rows.parse().map_err(|_| format!("rows `{rows}` is not a number"))?;
    let cols: usize = cols.parse().map_err(|_| format!("cols `{cols}` is not a number"))?;
    let bytes = std::fs::read(input).map_err(|e| format!("{input}: {e}"))?;
    let values = if format == "alg2" {
        let t = Alg2Tensor::from_bytes(&bytes).map_err(|e| format!("{input}: {e}"))?;
        if t.len != rows * cols {
            return Err(format!("{input} holds {} values, not {rows}×{cols}", t.len));
        }
        t.dequantize()
    } else {
        let t = match format {
            "q5_0" => GgmlType::Q5_0,
            "q5_1" => GgmlType::Q5_1,
            "q5_k" => GgmlType::Q5_K,
            "q4_0" => GgmlType::Q4_0,
            "q4_1" => GgmlType::Q4_1,
            "q8_0" => GgmlType::Q8_0,
            "q6_k" => GgmlType::Q6_K,
            "f16" => GgmlType::F16,
            "bf16" => GgmlType::BF16,
            "f32" => GgmlType::F32,
            other => return Err(format!("unknown format `{other}`")),
        };
        QuantizedMatrix::from_bytes(t, rows, cols, bytes)
            .map_err(|e| format!("{input}: {e}"))?
            .dequantize()
            .map_err(|e| e.to_string())?
    };
    let mut out = Vec::new();
    {
        let mut w = npyz::WriteOptions::new()
            .default_dtype()
            .shape(&[rows as u64, cols as u64])
            .writer(&mut out)
            .begin_nd()
            .map_err(|e| e.to_string())?;
        w.extend(values.iter().copied()).map_err(|e| e.to_string())?;
        w.finish().map_err(|e| e.to_string())?;
    }
    std::fs::write(output, out).map_err(|e| format!("{output}: {e}"))
}
