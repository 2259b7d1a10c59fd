//! GGUF tensor types and their block geometry.

use crate::QuantError;

/// The ggml tensor types this crate reads (ids as in GGUF's `ggml_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum GgmlType {
    /// 32-bit float (id 0).
    F32,
    /// IEEE half float (id 1).
    F16,
    /// 32 values: f16 scale, 4-bit codes centred on 8 (id 2).
    Q4_0,
    /// 32 values: f16 scale and minimum, 4-bit codes (id 3).
    Q4_1,
    /// 32 values: f16 scale, 5-bit codes centred on 16 (id 6).
    Q5_0,
    /// 32 values: f16 scale and minimum, 5-bit codes (id 7).
    Q5_1,
    /// 32 values: f16 scale, 8-bit codes (id 8).
    Q8_0,
    /// 32 values: f16 scale and scaled sum, 8-bit codes; activations only (id 9).
    Q8_1,
    /// 256-value super-block, 2-bit codes with 4-bit sub-scales and minimums (id 10).
    Q2_K,
    /// 256-value super-block, 3-bit codes with 6-bit sub-scales (id 11).
    Q3_K,
    /// 256-value super-block, 4-bit codes with 6-bit sub-scales and minimums (id 12).
    Q4_K,
    /// 256-value super-block, 5-bit codes with 6-bit sub-scales and minimums (id 13).
    Q5_K,
    /// 256-value super-block, 6-bit codes with 8-bit sub-scales (id 14).
    Q6_K,
    /// 256-value super-block, f32 scale, 8-bit codes and 16-value sums; activations only (id 15).
    Q8_K,
    /// 32 values: f16 scale, 4-bit indices into a non-linear table (id 20).
    IQ4_NL,
    /// 256-value super-block of IQ4_NL codes with 6-bit sub-scales (id 23).
    IQ4_XS,
    /// bfloat16 (id 30).
    BF16,
}

impl GgmlType {
    /// Every block type model files store weights in (not the 8-bit activation formats Q8_1 and
    /// Q8_K, not the float types).
    pub const QUANTIZED: [GgmlType; 12] = [
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q8_0,
        GgmlType::Q2_K,
        GgmlType::Q3_K,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
        GgmlType::IQ4_NL,
        GgmlType::IQ4_XS,
    ];

    /// The type for a GGUF `ggml_type` id.
    pub fn from_id(id: u32) -> Result<Self, QuantError> {
        Ok(match id {
            0 => GgmlType::F32,
            1 => GgmlType::F16,
            2 => GgmlType::Q4_0,
            3 => GgmlType::Q4_1,
            6 => GgmlType::Q5_0,
            7 => GgmlType::Q5_1,
            8 => GgmlType::Q8_0,
            9 => GgmlType::Q8_1,
            10 => GgmlType::Q2_K,
            11 => GgmlType::Q3_K,
            12 => GgmlType::Q4_K,
            13 => GgmlType::Q5_K,
            14 => GgmlType::Q6_K,
            15 => GgmlType::Q8_K,
            20 => GgmlType::IQ4_NL,
            23 => GgmlType::IQ4_XS,
            30 => GgmlType::BF16,
            other => return Err(QuantError::UnsupportedType(format!("ggml_type id {other}"))),
        })
    }

    /// The type's id in GGUF's `ggml_type`.
    pub fn id(self) -> u32 {
        match self {
            GgmlType::F32 => 0,
            GgmlType::F16 => 1,
            GgmlType::Q4_0 => 2,
            GgmlType::Q4_1 => 3,
            GgmlType::Q5_0 => 6,
            GgmlType::Q5_1 => 7,
            GgmlType::Q8_0 => 8,
            GgmlType::Q8_1 => 9,
            GgmlType::Q2_K => 10,
            GgmlType::Q3_K => 11,
            GgmlType::Q4_K => 12,
            GgmlType::Q5_K => 13,
            GgmlType::Q6_K => 14,
            GgmlType::Q8_K => 15,
            GgmlType::IQ4_NL => 20,
            GgmlType::IQ4_XS => 23,
            GgmlType::BF16 => 30,
        }
    }

    /// Elements per block.
    pub fn block_size(self) -> usize {
        match self {
            GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => 1,
            GgmlType::Q4_0
            | GgmlType::Q4_1
            | GgmlType::Q5_0
            | GgmlType::Q5_1
            | GgmlType::Q8_0
            | GgmlType::Q8_1
            | GgmlType::IQ4_NL => 32,
            GgmlType::Q2_K
            | GgmlType::Q3_K
            | GgmlType::Q4_K
            | GgmlType::Q5_K
            | GgmlType::Q6_K
            | GgmlType::Q8_K
            | GgmlType::IQ4_XS => 256,
        }
    }

    /// Bytes per block.
    pub fn type_size(self) -> usize {
        match self {
            GgmlType::F32 => 4,
            GgmlType::F16 | GgmlType::BF16 => 2,
            GgmlType::Q4_0 => 18,
            GgmlType::Q4_1 => 20,
            GgmlType::Q5_0 => 22,
            GgmlType::Q5_1 => 24,
            GgmlType::Q8_0 => 34,
            GgmlType::Q8_1 => 36,
            GgmlType::Q2_K => 84,
            GgmlType::Q3_K => 110,
            GgmlType::Q4_K => 144,
            GgmlType::Q5_K => 176,
            GgmlType::Q6_K => 210,
            GgmlType::Q8_K => 292,
            GgmlType::IQ4_NL => 18,
            GgmlType::IQ4_XS => 136,
        }
    }

    /// Storage cost in bits per weight.
    pub fn bits_per_weight(self) -> f64 {
        self.type_size() as f64 * 8.0 / self.block_size() as f64
    }

    /// Bytes for a row of `n` elements; an error unless `n` is a whole number of blocks.
    pub fn row_bytes(self, n: usize) -> Result<usize, QuantError> {
        if !n.is_multiple_of(self.block_size()) {
            return Err(QuantError::Shape(format!(
                "{self:?} needs rows that are a multiple of {} elements, got {n}",
                self.block_size()
            )));
        }
        (n / self.block_size())
            .checked_mul(self.type_size())
            .ok_or_else(|| QuantError::Shape(format!("row of {n} elements overflows")))
    }

    /// The type's name as ggml writes it (`"Q5_K"`).
    pub fn name(self) -> &'static str {
        match self {
            GgmlType::F32 => "F32",
            GgmlType::F16 => "F16",
            GgmlType::Q4_0 => "Q4_0",
            GgmlType::Q4_1 => "Q4_1",
            GgmlType::Q5_0 => "Q5_0",
            GgmlType::Q5_1 => "Q5_1",
            GgmlType::Q8_0 => "Q8_0",
            GgmlType::Q8_1 => "Q8_1",
            GgmlType::Q2_K => "Q2_K",
            GgmlType::Q3_K => "Q3_K",
            GgmlType::Q4_K => "Q4_K",
            GgmlType::Q5_K => "Q5_K",
            GgmlType::Q6_K => "Q6_K",
            GgmlType::Q8_K => "Q8_K",
            GgmlType::IQ4_NL => "IQ4_NL",
            GgmlType::IQ4_XS => "IQ4_XS",
            GgmlType::BF16 => "BF16",
        }
    }
}
