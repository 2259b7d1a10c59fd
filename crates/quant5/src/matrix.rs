//! Weights kept in their quantized blocks, with dequantization and products computed on the
//! blocks directly.

use crate::ggml_type::GgmlType;
use crate::kernels;
use crate::{QuantError, blocks};

/// Dequantizes one row of `n` elements of type `t` from `bytes` into `out`.
pub fn dequantize_row(t: GgmlType, bytes: &[u8], out: &mut [f32]) -> Result<(), QuantError> {
    let n = out.len();
    let need = t.row_bytes(n)?;
    if bytes.len() != need {
        return Err(QuantError::Truncated { expected: need, got: bytes.len() });
    }
    let (bs, ts) = (t.block_size(), t.type_size());
    let decode: fn(&[u8], &mut [f32]) = match t {
        GgmlType::F32 => blocks::decode_f32,
        GgmlType::F16 => blocks::decode_f16,
        GgmlType::BF16 => blocks::decode_bf16,
        GgmlType::Q4_0 => blocks::decode_q4_0,
        GgmlType::Q4_1 => blocks::decode_q4_1,
        GgmlType::Q5_0 => blocks::decode_q5_0,
        GgmlType::Q5_1 => blocks::decode_q5_1,
        GgmlType::Q8_0 => blocks::decode_q8_0,
        GgmlType::Q5_K => blocks::decode_q5_k,
        GgmlType::Q6_K => blocks::decode_q6_k,
        GgmlType::Q8_1 | GgmlType::Q8_K => {
            return Err(QuantError::UnsupportedType(format!("{} is an activation format, not stored", t.name())));
        }
    };
    if bs == 1 {
        decode(bytes, out);
    } else {
        for (b, o) in bytes.chunks_exact(ts).zip(out.chunks_exact_mut(bs)) {
            decode(b, o);
        }
    }
    Ok(())
}

/// Quantizes one row into blocks of `t` (Q5_0, Q5_1, Q5_K, Q8_0, F32, F16, BF16).
pub fn quantize_row(t: GgmlType, x: &[f32], out: &mut Vec<u8>) -> Result<(), QuantError> {
    let need = t.row_bytes(x.len())?;
    if let Some(i) = x.iter().position(|v| !v.is_finite()) {
        return Err(QuantError::NonFinite { index: i });
    }
    let start = out.len();
    out.resize(start + need, 0);
    let dst = &mut out[start..];
    let (bs, ts) = (t.block_size(), t.type_size());
    match t {
        GgmlType::Q5_0 => {
            for (xb, ob) in x.chunks_exact(bs).zip(dst.chunks_exact_mut(ts)) {
                blocks::encode_q5_0(xb.try_into().map_err(|_| QuantError::Shape("block".into()))?, ob);
            }
        }
        GgmlType::Q5_1 => {
            for (xb, ob) in x.chunks_exact(bs).zip(dst.chunks_exact_mut(ts)) {
                blocks::encode_q5_1(xb.try_into().map_err(|_| QuantError::Shape("block".into()))?, ob);
            }
        }
        GgmlType::Q5_K => {
            for (xb, ob) in x.chunks_exact(bs).zip(dst.chunks_exact_mut(ts)) {
                blocks::encode_q5_k(xb.try_into().map_err(|_| QuantError::Shape("block".into()))?, ob);
            }
        }
        GgmlType::Q8_0 => {
            for (xb, ob) in x.chunks_exact(bs).zip(dst.chunks_exact_mut(ts)) {
                blocks::encode_q8_0(xb, ob);
            }
        }
        GgmlType::F32 => {
            for (v, ob) in x.iter().zip(dst.chunks_exact_mut(4)) {
                ob.copy_from_slice(&v.to_le_bytes());
            }
        }
        GgmlType::F16 => {
            for (v, ob) in x.iter().zip(dst.chunks_exact_mut(2)) {
                ob.copy_from_slice(&half::f16::from_f32(*v).to_le_bytes());
            }
        }
        GgmlType::BF16 => {
            for (v, ob) in x.iter().zip(dst.chunks_exact_mut(2)) {
                ob.copy_from_slice(&half::bf16::from_f32(*v).to_le_bytes());
            }
        }
        other => {
            out.truncate(start);
            return Err(QuantError::UnsupportedType(format!("no encoder for {}", other.name())));
        }
    }
    Ok(())
}

/// The shared rayon pool with `threads` workers (built once per thread count).
fn thread_pool(threads: usize) -> Result<std::sync::Arc<rayon::ThreadPool>, QuantError> {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex, OnceLock};
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let pools = POOLS.get_or_init(|| Mutex::new(HashMap::new()));
    let mut pools = pools.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(p) = pools.get(&threads) {
        return Ok(p.clone());
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("quant5-matvec-{i}"))
        .build()
        .map_err(|e| QuantError::Threads(e.to_string()))?;
    let pool = Arc::new(pool);
    pools.insert(threads, pool.clone());
    Ok(pool)
}

/// A row-major weight matrix `[rows, cols]` kept in ggml blocks (GGUF tensor-data layout).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantizedMatrix {
    pub ggml_type: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub bytes: Vec<u8>,
}

impl QuantizedMatrix {
    /// Wraps existing block data, checking its size.
    pub fn from_bytes(ggml_type: GgmlType, rows: usize, cols: usize, bytes: Vec<u8>) -> Result<Self, QuantError> {
        let need = ggml_type
            .row_bytes(cols)?
            .checked_mul(rows)
            .ok_or_else(|| QuantError::Shape(format!("{rows}×{cols} overflows")))?;
        if bytes.len() != need {
            return Err(QuantError::Truncated { expected: need, got: bytes.len() });
        }
        Ok(Self { ggml_type, rows, cols, bytes })
    }

    /// Quantizes a row-major f32 matrix.
    pub fn quantize(ggml_type: GgmlType, rows: usize, cols: usize, data: &[f32]) -> Result<Self, QuantError> {
        if data.len() != rows * cols {
            return Err(QuantError::Shape(format!("{} values for a {rows}×{cols} matrix", data.len())));
        }
        let mut bytes = Vec::with_capacity(rows * ggml_type.row_bytes(cols)?);
        for r in 0..rows {
            quantize_row(ggml_type, &data[r * cols..(r + 1) * cols], &mut bytes)?;
        }
        Ok(Self { ggml_type, rows, cols, bytes })
    }

    pub fn row_bytes(&self) -> usize {
        self.bytes.len() / self.rows.max(1)
    }

    /// The bytes of row `r`.
    pub fn row(&self, r: usize) -> &[u8] {
        let rb = self.row_bytes();
        &self.bytes[r * rb..(r + 1) * rb]
    }

    /// The whole matrix as f32, row-major.
    pub fn dequantize(&self) -> Result<Vec<f32>, QuantError> {
        let mut out = vec![0f32; self.rows * self.cols];
        for r in 0..self.rows {
            dequantize_row(self.ggml_type, self.row(r), &mut out[r * self.cols..(r + 1) * self.cols])?;
        }
        Ok(out)
    }

    /// `y = W·x` on the quantized blocks: `x` is quantized once to the matching 8-bit
    /// activation format (as ggml does), then each row is an integer block dot product.
    /// Rows are split across up to `threads` threads.
    pub fn matvec(&self, x: &[f32], threads: usize) -> Result<Vec<f32>, QuantError> {
        let mut y = vec![0f32; self.rows];
        self.matvec_into(x, &mut y, threads)?;
        Ok(y)
    }

    /// [`matvec`](Self::matvec) into a caller-provided output of length `rows`.
    pub fn matvec_into(&self, x: &[f32], y: &mut [f32], threads: usize) -> Result<(), QuantError> {
        if x.len() != self.cols || y.len() != self.rows {
            return Err(QuantError::Shape(format!(
                "matvec of a {}×{} matrix with x of {} and y of {}",
                self.rows,
                self.cols,
                x.len(),
                y.len()
            )));
        }
        let act = kernels::Activation::quantize(self.ggml_type, x)?;
        let rb = self.row_bytes();
        let dot = kernels::row_dot_fn(self.ggml_type)?;
        let threads = threads.max(1).min(self.rows.max(1));
        // Small products are not worth waking a second thread.
        if threads == 1 || self.rows * self.cols < 1 << 18 {
            for (r, out) in y.iter_mut().enumerate() {
                *out = dot(&self.bytes[r * rb..(r + 1) * rb], &act);
            }
            return Ok(());
        }
        // A persistent pool per thread count: spawning threads per product would cost more than
        // a small product itself.
        let per = self.rows.div_ceil(threads);
        let bytes = &self.bytes;
        let act = &act;
        thread_pool(threads)?.install(|| {
            use rayon::prelude::*;
            y.par_chunks_mut(per).enumerate().for_each(|(i, chunk)| {
                for (k, out) in chunk.iter_mut().enumerate() {
                    let r = i * per + k;
                    *out = dot(&bytes[r * rb..(r + 1) * rb], act);
                }
            });
        });
        Ok(())
    }

    /// `Y = X·Wᵀ` for `X` of shape `[n, cols]` (row-major): `[n, rows]`.
    pub fn matmul(&self, x: &[f32], n: usize, threads: usize) -> Result<Vec<f32>, QuantError> {
        if x.len() != n * self.cols {
            return Err(QuantError::Shape(format!("{} values for X of {n}×{}", x.len(), self.cols)));
        }
        let mut out = vec![0f32; n * self.rows];
        for (xi, yi) in x.chunks_exact(self.cols.max(1)).zip(out.chunks_exact_mut(self.rows.max(1))) {
            self.matvec_into(xi, yi, threads)?;
        }
        Ok(out)
    }
}
