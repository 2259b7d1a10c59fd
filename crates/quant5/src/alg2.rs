//! The paper's Algorithm 2: asymmetric min-max 5-bit quantization with an integer zero point,
//! per tensor (as published), per row, or per group of consecutive values, plus dense 5-bit
//! packing (8 codes in 5 bytes).
//!
//! In f32, in this order (numpy's, which the goldens follow): `S = (max − min) / 31`,
//! `Z = round(−min / S)`, `q = clip(round(w / S + Z), 0, 31)`, `w' = (q − Z)·S`, where `round`
//! is half-to-even (numpy and PyTorch), not half-away. The paper leaves a constant tensor
//! (S = 0) undefined; here its codes are 0 and every `w'` is the constant itself.

use crate::QuantError;

/// How many values share one (S, Z) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Granularity {
    /// One pair for the whole tensor (the paper).
    PerTensor,
    /// One pair per row of `cols` values.
    PerRow {
        /// Values per row.
        cols: usize,
    },
    /// One pair per `size` consecutive values (32 is the usual choice).
    PerGroup {
        /// Values per group.
        size: usize,
    },
}

/// Scale and zero point of one quantization group.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Alg2Params {
    /// Step between codes: (max − min) / 31.
    pub scale: f32,
    /// Integer-valued zero point (0..=31 for tensors that contain 0).
    pub zero: f32,
    /// The group minimum; only used for constant groups (scale 0), which dequantize to it.
    pub min: f32,
}

impl Alg2Params {
    /// Parameters for a group of values.
    pub fn fit(w: &[f32]) -> Self {
        let mn = w.iter().copied().fold(f32::INFINITY, f32::min);
        let mx = w.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        if w.is_empty() {
            return Self { scale: 0.0, zero: 0.0, min: 0.0 };
        }
        let scale = (mx - mn) / 31.0;
        if scale == 0.0 || !scale.is_finite() {
            return Self { scale: 0.0, zero: 0.0, min: mn };
        }
        Self { scale, zero: (-mn / scale).round_ties_even(), min: mn }
    }

    /// The 5-bit code of `w`.
    #[inline]
    pub fn quantize(&self, w: f32) -> u8 {
        if self.scale == 0.0 {
            return 0;
        }
        (w / self.scale + self.zero).round_ties_even().clamp(0.0, 31.0) as u8
    }

    /// The value a code stands for.
    #[inline]
    pub fn dequantize(&self, q: u8) -> f32 {
        if self.scale == 0.0 { self.min } else { (q as f32 - self.zero) * self.scale }
    }
}

/// A tensor quantized with Algorithm 2: one code per value and one parameter pair per group.
#[derive(Debug, Clone, PartialEq)]
pub struct Alg2Tensor {
    /// How values share parameter pairs.
    pub granularity: Granularity,
    /// Number of values.
    pub len: usize,
    /// One pair per group, in order.
    pub params: Vec<Alg2Params>,
    /// Codes 0..=31, one byte each (see [`pack5`] for the dense form).
    pub codes: Vec<u8>,
}

fn group_len(g: Granularity, len: usize) -> Result<usize, QuantError> {
    match g {
        Granularity::PerTensor => Ok(len.max(1)),
        Granularity::PerRow { cols } | Granularity::PerGroup { size: cols } => {
            if cols == 0 || !len.is_multiple_of(cols) {
                return Err(QuantError::Shape(format!("{len} values do not split into groups of {cols}")));
            }
            Ok(cols)
        }
    }
}

/// Quantizes `w` with Algorithm 2 at the given granularity.
pub fn quantize_alg2(w: &[f32], granularity: Granularity) -> Result<Alg2Tensor, QuantError> {
    if let Some(i) = w.iter().position(|v| !v.is_finite()) {
        return Err(QuantError::NonFinite { index: i });
    }
    let g = group_len(granularity, w.len())?;
    let mut params = Vec::with_capacity(w.len().div_ceil(g));
    let mut codes = Vec::with_capacity(w.len());
    for chunk in w.chunks(g) {
        let p = Alg2Params::fit(chunk);
        codes.extend(chunk.iter().map(|&v| p.quantize(v)));
        params.push(p);
    }
    Ok(Alg2Tensor { granularity, len: w.len(), params, codes })
}

impl Alg2Tensor {
    /// The reconstructed values `w'`.
    pub fn dequantize(&self) -> Vec<f32> {
        let g = group_len(self.granularity, self.len).unwrap_or(self.len.max(1));
        self.codes.chunks(g).zip(&self.params).flat_map(|(c, p)| c.iter().map(move |&q| p.dequantize(q))).collect()
    }

    /// Size of [`to_bytes`](Self::to_bytes)' output: 36-byte header, 12 bytes per group,
    /// 5 bytes per 8 codes.
    pub fn serialized_len(&self) -> usize {
        36 + self.params.len() * 12 + self.len.div_ceil(8) * 5
    }
}

/// Packs 5-bit codes densely: every 8 codes become 5 bytes (40 bits, little-endian bit order;
/// code `i` occupies bits `5i..5i+5` of its group). A final partial group is zero-padded.
pub fn pack5(codes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(codes.len().div_ceil(8) * 5);
    for chunk in codes.chunks(8) {
        let mut bits = 0u64;
        for (i, &c) in chunk.iter().enumerate() {
            bits |= ((c & 0x1F) as u64) << (5 * i);
        }
        out.extend_from_slice(&bits.to_le_bytes()[..5]);
    }
    out
}

/// Inverse of [`pack5`]: `n` codes from densely packed bytes.
pub fn unpack5(bytes: &[u8], n: usize) -> Result<Vec<u8>, QuantError> {
    let need = n.div_ceil(8) * 5;
    if bytes.len() < need {
        return Err(QuantError::Truncated { expected: need, got: bytes.len() });
    }
    let mut out = Vec::with_capacity(n);
    for group in bytes[..need].chunks_exact(5) {
        let mut b = [0u8; 8];
        b[..5].copy_from_slice(group);
        let bits = u64::from_le_bytes(b);
        for i in 0..8 {
            if out.len() == n {
                break;
            }
            out.push(((bits >> (5 * i)) & 0x1F) as u8);
        }
    }
    Ok(out)
}

/// Magic bytes of the self-describing Algorithm 2 file.
pub const ALG2_MAGIC: &[u8; 4] = b"Q5A2";

impl Alg2Tensor {
    /// Serialises as: `"Q5A2"`, u32 version (1), u32 granularity (0 tensor, 1 row, 2 group),
    /// u64 group length, u64 value count, u64 group count, then per group f32 scale, f32 zero,
    /// f32 min, then the codes packed with [`pack5`]. All little-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let (kind, g) = match self.granularity {
            Granularity::PerTensor => (0u32, self.len as u64),
            Granularity::PerRow { cols } => (1, cols as u64),
            Granularity::PerGroup { size } => (2, size as u64),
        };
        let mut out = Vec::with_capacity(36 + self.params.len() * 12 + self.len.div_ceil(8) * 5);
        out.extend_from_slice(ALG2_MAGIC);
        out.extend_from_slice(&1u32.to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&g.to_le_bytes());
        out.extend_from_slice(&(self.len as u64).to_le_bytes());
        out.extend_from_slice(&(self.params.len() as u64).to_le_bytes());
        for p in &self.params {
            out.extend_from_slice(&p.scale.to_le_bytes());
            out.extend_from_slice(&p.zero.to_le_bytes());
            out.extend_from_slice(&p.min.to_le_bytes());
        }
        out.extend(pack5(&self.codes));
        out
    }

    /// Parses [`to_bytes`](Self::to_bytes) output, checking every size against the input length
    /// before allocating.
    pub fn from_bytes(b: &[u8]) -> Result<Self, QuantError> {
        let bad = |why: &str| QuantError::Shape(format!("Algorithm 2 file: {why}"));
        if b.len() < 36 || &b[..4] != ALG2_MAGIC {
            return Err(bad("missing Q5A2 header"));
        }
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
        if u32_at(4) != 1 {
            return Err(bad("unknown version"));
        }
        let g = u64_at(12);
        let len = u64_at(20);
        let n_groups = u64_at(28);
        let params_bytes = n_groups.checked_mul(12).ok_or_else(|| bad("group count overflows"))?;
        let code_bytes = len.div_ceil(8).checked_mul(5).ok_or_else(|| bad("length overflows"))?;
        let total = 36u64
            .checked_add(params_bytes)
            .and_then(|v| v.checked_add(code_bytes))
            .ok_or_else(|| bad("size overflows"))?;
        if total != b.len() as u64 {
            return Err(QuantError::Truncated { expected: total as usize, got: b.len() });
        }
        let (len, g, n_groups) = (len as usize, g as usize, n_groups as usize);
        let granularity = match u32_at(8) {
            0 => Granularity::PerTensor,
            1 => Granularity::PerRow { cols: g },
            2 => Granularity::PerGroup { size: g },
            _ => return Err(bad("unknown granularity")),
        };
        if n_groups != len.div_ceil(group_len(granularity, len)?) {
            return Err(bad("group count does not match the length"));
        }
        let f = |i: usize| f32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let params = (0..n_groups)
            .map(|k| Alg2Params { scale: f(36 + 12 * k), zero: f(40 + 12 * k), min: f(44 + 12 * k) })
            .collect();
        let codes = unpack5(&b[36 + n_groups * 12..], len)?;
        Ok(Self { granularity, len, params, codes })
    }
}
