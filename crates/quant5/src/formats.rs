//! Every stored format as a type: a `#[repr(C)]` block laid out byte for byte as ggml's
//! `block_*` struct (sizes asserted at compile time, as candle and ggml do), and one
//! [`BlockFormat`] impl per format tying the block to the activation format its dot product
//! reads. A row of Q5_1 blocks can only be dotted with Q8_1 activations: pairing it with any
//! other activation does not compile.
//!
//! [`for_type`] is the one place a run-time [`GgmlType`] becomes a format type; decoding,
//! encoding and the products go through it.
//!
//! Scales are kept as their little-endian bytes (`[u8; 2]`) so every block has alignment 1 and
//! casts from any byte offset of a mapped file (bytemuck checks only the length).
//!
//! ```
//! use bytemuck::Zeroable;
//! use quant5::formats::{BlockFormat, BlockQ5_1};
//! use quant5::kernels::quantize_q8_1;
//!
//! let ramp: Vec<f32> = (0..32).map(|i| i as f32 / 31.0).collect(); // sums to 16
//! let mut block = BlockQ5_1::zeroed();
//! BlockQ5_1::encode(&ramp, &mut block);
//! let dot = BlockQ5_1::dot_portable(&[block], &quantize_q8_1(&[1.0; 32]));
//! assert!((dot - 16.0).abs() < 0.02);
//! ```
//!
//! The same row against Q8_0 activations (Q4_0's and Q5_0's partner) is a type error:
//!
//! ```compile_fail
//! use bytemuck::Zeroable;
//! use quant5::formats::{BlockFormat, BlockQ5_1};
//! use quant5::kernels::quantize_q8_0;
//!
//! let block = BlockQ5_1::zeroed();
//! BlockQ5_1::dot_portable(&[block], &quantize_q8_0(&[1.0; 32]));
//! ```

use bytemuck::{Pod, Zeroable};

use crate::QuantError;
use crate::blocks::{self, QK, QK_K};
use crate::ggml_type::GgmlType;
use crate::kernels::{self, Q8_0, Q8_1, Q8KBlock};

/// A stored block format: its block type, the activation it pairs with, its codecs and its
/// row dot product.
pub trait BlockFormat: Pod + Send + Sync {
    /// The ggml type id this block is.
    const TYPE: GgmlType;
    /// Values one block holds.
    const VALUES: usize;
    /// What a row of these blocks is dotted with: Q8_0, Q8_1 or Q8_K blocks, or plain f32.
    type Act: Copy + Send + Sync;
    /// The block's values into `out` (`VALUES` long).
    fn decode(&self, out: &mut [f32]);
    /// `x` (`VALUES` long) into this block, byte-exact with ggml's reference encoder.
    fn encode(x: &[f32], out: &mut Self);
    /// Activations of one row, in the format this block pairs with (`x.len()` a multiple of
    /// `VALUES`, finite).
    fn quantize_activations(x: &[f32]) -> Vec<Self::Act>;
    /// The portable row dot product: the reference the SIMD kernels are tested against.
    fn dot_portable(row: &[Self], act: &[Self::Act]) -> f32;
    /// The fastest row dot product this CPU runs (SIMD where there is a kernel for it).
    fn dot_fn() -> fn(&[Self], &[Self::Act]) -> f32 {
        Self::dot_portable
    }
    /// A kernel dotting one row with two rows of activations at once (each weight block
    /// unpacked once), bit-identical to two calls of [`Self::dot_fn`]'s kernel; `None` where
    /// there is none.
    fn dot_pair_fn() -> Option<DotPair<Self>> {
        None
    }
    /// A kernel dotting two weight rows with one row of activations (a decoding step: each
    /// activation block loaded once), bit-identical to two calls of [`Self::dot_fn`]'s kernel;
    /// `None` where there is none.
    fn dot_rows_fn() -> Option<DotRows<Self>> {
        None
    }
    /// A kernel for a prompt chunk: weight rows in tiles of [`TILE_ROWS`] and rows of
    /// activations in tiles of [`TILE_TOKENS`] (each weight block unpacked once per call and
    /// used for every token, each activation block once for every row), every output
    /// bit-identical to [`Self::dot_fn`]'s kernel; `None` where this CPU or format has none.
    fn dot_tile_fn() -> Option<DotTile<Self>> {
        None
    }
}

/// Weight rows per tile of a [`DotTile`] kernel.
pub const TILE_ROWS: usize = 4;
/// Rows of activations per tile of a [`DotTile`] kernel.
pub const TILE_TOKENS: usize = 4;

/// `(rows, per_row, acts, out, stride)`: the weight rows (`per_row` blocks each) dotted with
/// every row of activations into `out[t · stride + r]` (Y's layout, `stride ≥` the row count),
/// for the rows and tokens that fill whole tiles (the first `⌊rows / TILE_ROWS⌋ · TILE_ROWS`
/// rows and `⌊n / TILE_TOKENS⌋ · TILE_TOKENS` tokens); the other outputs are left as they were.
/// Shapes that do not fit — `rows` not whole rows of `per_row` blocks, an activation row shorter
/// than `per_row`, `stride` below the row count or `out` shorter than `n` rows of `stride` —
/// leave all of `out` as it was (`QuantizedMatrix` only passes shapes that fit).
pub type DotTile<B> = fn(&[B], usize, &[Vec<<B as BlockFormat>::Act>], &mut [f32], usize);

/// A row dot product with two rows of activations: `[row · a, row · b]`.
pub type DotPair<B> = fn(&[B], &[<B as BlockFormat>::Act], &[<B as BlockFormat>::Act]) -> [f32; 2];

/// Two weight rows dotted with one row of activations: `[r0 · a, r1 · a]`.
pub type DotRows<B> = fn(&[B], &[B], &[<B as BlockFormat>::Act]) -> [f32; 2];

/// Something to do with a format chosen at run time: [`for_type`] calls
/// [`call`](Self::call) with the block type of a [`GgmlType`].
pub trait FormatFn {
    /// What the call returns.
    type Output;
    /// Runs with the format `B`.
    fn call<B: BlockFormat>(self) -> Self::Output;
}

/// Runs `f` with the block type of `t`: the one dispatch from a run-time type to the format
/// types. Q8_1 and Q8_K are activation formats, never stored: an error.
pub fn for_type<F: FormatFn>(t: GgmlType, f: F) -> Result<F::Output, QuantError> {
    Ok(match t {
        GgmlType::F32 => f.call::<F32Value>(),
        GgmlType::F16 => f.call::<F16Value>(),
        GgmlType::BF16 => f.call::<BF16Value>(),
        GgmlType::Q4_0 => f.call::<BlockQ4_0>(),
        GgmlType::Q4_1 => f.call::<BlockQ4_1>(),
        GgmlType::Q5_0 => f.call::<BlockQ5_0>(),
        GgmlType::Q5_1 => f.call::<BlockQ5_1>(),
        GgmlType::Q8_0 => f.call::<BlockQ8_0>(),
        GgmlType::Q2_K => f.call::<BlockQ2K>(),
        GgmlType::Q3_K => f.call::<BlockQ3K>(),
        GgmlType::Q4_K => f.call::<BlockQ4K>(),
        GgmlType::Q5_K => f.call::<BlockQ5K>(),
        GgmlType::Q6_K => f.call::<BlockQ6K>(),
        GgmlType::IQ4_NL => f.call::<BlockIQ4NL>(),
        GgmlType::IQ4_XS => f.call::<BlockIQ4XS>(),
        GgmlType::Q8_1 | GgmlType::Q8_K => {
            return Err(QuantError::UnsupportedType(format!("{} is an activation format, not stored", t.name())));
        }
    })
}

/// Blocks of `B` viewed in `bytes` (any alignment; the length must be whole blocks).
pub fn cast_blocks<B: BlockFormat>(bytes: &[u8]) -> Result<&[B], QuantError> {
    bytemuck::try_cast_slice(bytes).map_err(|_| {
        QuantError::Shape(format!(
            "{} bytes are not whole {} blocks of {}",
            bytes.len(),
            B::TYPE.name(),
            size_of::<B>()
        ))
    })
}

/// [`cast_blocks`], mutable.
pub fn cast_blocks_mut<B: BlockFormat>(bytes: &mut [u8]) -> Result<&mut [B], QuantError> {
    let len = bytes.len();
    bytemuck::try_cast_slice_mut(bytes).map_err(|_| {
        QuantError::Shape(format!("{len} bytes are not whole {} blocks of {}", B::TYPE.name(), size_of::<B>()))
    })
}

/// Declares a block struct of byte fields with its ggml size checked at compile time.
macro_rules! block {
    ($(#[$doc:meta])* $name:ident = $size:literal { $($(#[$fdoc:meta])* $field:ident: $ty:ty),* $(,)? }) => {
        $(#[$doc])*
        #[repr(C)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
        pub struct $name {
            $($(#[$fdoc])* pub $field: $ty),*
        }
        const _: () = assert!(size_of::<$name>() == $size);
    };
}

block!(
    /// ggml `block_q4_0`: 32 values, `d·(q − 8)`.
    BlockQ4_0 = 18 {
        /// Scale (f16, little-endian).
        d: [u8; 2],
        /// 4-bit codes, low nibbles values 0–15, high nibbles 16–31.
        qs: [u8; QK / 2],
    }
);
block!(
    /// ggml `block_q4_1`: 32 values, `d·q + m`.
    BlockQ4_1 = 20 {
        /// Scale (f16).
        d: [u8; 2],
        /// Offset (f16).
        m: [u8; 2],
        /// 4-bit codes.
        qs: [u8; QK / 2],
    }
);
block!(
    /// ggml `block_q5_0`: 32 values, `d·(q − 16)`.
    BlockQ5_0 = 22 {
        /// Scale (f16).
        d: [u8; 2],
        /// The fifth bit of each code.
        qh: [u8; 4],
        /// Low four bits of each code.
        qs: [u8; QK / 2],
    }
);
block!(
    /// ggml `block_q5_1`: 32 values, `d·q + m`.
    BlockQ5_1 = 24 {
        /// Scale (f16).
        d: [u8; 2],
        /// Offset (f16).
        m: [u8; 2],
        /// The fifth bit of each code.
        qh: [u8; 4],
        /// Low four bits of each code.
        qs: [u8; QK / 2],
    }
);
block!(
    /// ggml `block_q8_0`: 32 values, `d·q`.
    BlockQ8_0 = 34 {
        /// Scale (f16).
        d: [u8; 2],
        /// Signed 8-bit codes.
        qs: [i8; QK],
    }
);
block!(
    /// ggml `block_iq4_nl`: 32 values, `d·T[q]` with the non-linear table [`blocks::IQ4_VALUES`].
    BlockIQ4NL = 18 {
        /// Scale (f16).
        d: [u8; 2],
        /// 4-bit table indices.
        qs: [u8; QK / 2],
    }
);
block!(
    /// ggml `block_q2_K`: 256 values in 16 groups with 4-bit scales and minimums.
    BlockQ2K = 84 {
        /// Per group: scale (low nibble) and minimum (high nibble).
        scales: [u8; QK_K / 16],
        /// 2-bit codes.
        qs: [u8; QK_K / 4],
        /// Super-block scale (f16).
        d: [u8; 2],
        /// Super-block scale of the minimums (f16).
        dmin: [u8; 2],
    }
);
block!(
    /// ggml `block_q3_K`: 256 values, signed 3-bit codes, 6-bit group scales.
    BlockQ3K = 110 {
        /// The high bit of each code.
        hmask: [u8; QK_K / 8],
        /// Low two bits of each code.
        qs: [u8; QK_K / 4],
        /// Sixteen 6-bit scales, packed.
        scales: [u8; 12],
        /// Super-block scale (f16).
        d: [u8; 2],
    }
);
block!(
    /// ggml `block_q4_K`: 256 values in 8 sub-blocks with 6-bit scales and minimums.
    BlockQ4K = 144 {
        /// Super-block scale (f16).
        d: [u8; 2],
        /// Super-block scale of the minimums (f16).
        dmin: [u8; 2],
        /// Eight 6-bit scales and eight 6-bit minimums, packed.
        scales: [u8; 12],
        /// 4-bit codes.
        qs: [u8; QK_K / 2],
    }
);
block!(
    /// ggml `block_q5_K`: 256 values in 8 sub-blocks with 6-bit scales and minimums.
    BlockQ5K = 176 {
        /// Super-block scale (f16).
        d: [u8; 2],
        /// Super-block scale of the minimums (f16).
        dmin: [u8; 2],
        /// Eight 6-bit scales and eight 6-bit minimums, packed.
        scales: [u8; 12],
        /// The fifth bit of each code.
        qh: [u8; QK_K / 8],
        /// Low four bits of each code.
        qs: [u8; QK_K / 2],
    }
);
block!(
    /// ggml `block_q6_K`: 256 values, 6-bit codes, 8-bit group scales.
    BlockQ6K = 210 {
        /// Low four bits of each code.
        ql: [u8; QK_K / 2],
        /// High two bits of each code.
        qh: [u8; QK_K / 4],
        /// Sixteen signed group scales.
        scales: [i8; QK_K / 16],
        /// Super-block scale (f16).
        d: [u8; 2],
    }
);
block!(
    /// ggml `block_iq4_xs`: 256 values, 4-bit table indices, 6-bit sub-block scales.
    BlockIQ4XS = 136 {
        /// Super-block scale (f16).
        d: [u8; 2],
        /// High two bits of the eight scales (u16, little-endian).
        scales_h: [u8; 2],
        /// Low four bits of the eight scales.
        scales_l: [u8; QK_K / 64],
        /// 4-bit table indices.
        qs: [u8; QK_K / 2],
    }
);
block!(
    /// One f32 value (GGML_TYPE_F32), little-endian.
    F32Value = 4 {
        /// The bytes.
        bytes: [u8; 4],
    }
);
block!(
    /// One IEEE binary16 value (GGML_TYPE_F16), little-endian.
    F16Value = 2 {
        /// The bytes.
        bytes: [u8; 2],
    }
);
block!(
    /// One bfloat16 value (GGML_TYPE_BF16), little-endian.
    BF16Value = 2 {
        /// The bytes.
        bytes: [u8; 2],
    }
);

/// Implements [`BlockFormat`] from the byte-level codecs and kernels.
macro_rules! format {
    ($block:ty, $t:ident, $values:expr, $act:ty, $decode:path, $encode:expr, $quantize:expr, $dot:path, $simd:ident, pair: $pair:ident, rows: $rows:ident, tile: $tile:ident) => {
        impl BlockFormat for $block {
            const TYPE: GgmlType = GgmlType::$t;
            const VALUES: usize = $values;
            type Act = $act;
            fn decode(&self, out: &mut [f32]) {
                $decode(bytemuck::bytes_of(self), out)
            }
            fn encode(x: &[f32], out: &mut Self) {
                if let Ok(x) = x.try_into() {
                    $encode(x, bytemuck::bytes_of_mut(out))
                }
            }
            fn quantize_activations(x: &[f32]) -> Vec<$act> {
                $quantize(x)
            }
            fn dot_portable(row: &[Self], act: &[$act]) -> f32 {
                $dot(row, act)
            }
            fn dot_fn() -> fn(&[Self], &[$act]) -> f32 {
                #[cfg(target_arch = "x86_64")]
                if simd::available() {
                    return simd::$simd;
                }
                Self::dot_portable
            }
            fn dot_pair_fn() -> Option<DotPair<Self>> {
                simd::pair::$pair()
            }
            fn dot_rows_fn() -> Option<DotRows<Self>> {
                simd::rows::$rows()
            }
            fn dot_tile_fn() -> Option<DotTile<Self>> {
                simd::tile::$tile()
            }
        }
    };
}

/// Implements [`BlockFormat`] for a float element type (f32 activations, no SIMD kernel).
macro_rules! float_format {
    ($value:ty, $t:ident, $decode:path, $encode:expr, $dot:path) => {
        impl BlockFormat for $value {
            const TYPE: GgmlType = GgmlType::$t;
            const VALUES: usize = 1;
            type Act = f32;
            fn decode(&self, out: &mut [f32]) {
                $decode(bytemuck::bytes_of(self), out)
            }
            fn encode(x: &[f32], out: &mut Self) {
                if let Some(&v) = x.first() {
                    out.bytes = $encode(v);
                }
            }
            fn quantize_activations(x: &[f32]) -> Vec<f32> {
                x.to_vec()
            }
            fn dot_portable(row: &[Self], act: &[f32]) -> f32 {
                $dot(bytemuck::cast_slice(row), act)
            }
        }
    };
}

fn q8_0(x: &[f32]) -> Vec<Q8_0> {
    kernels::quantize_q8_0(x)
}
fn q8_1(x: &[f32]) -> Vec<Q8_1> {
    kernels::quantize_q8_1(x)
}
fn q8_k(x: &[f32]) -> Vec<Q8KBlock> {
    kernels::quantize_q8k(x)
}

format!(BlockQ4_0, Q4_0, QK, Q8_0, blocks::decode_q4_0, blocks::encode_q4_0, q8_0, kernels::dot_q4_0, q4_0, pair: q4_0, rows: none, tile: none);
format!(BlockQ4_1, Q4_1, QK, Q8_1, blocks::decode_q4_1, blocks::encode_q4_1, q8_1, kernels::dot_q4_1, q4_1, pair: q4_1, rows: q4_1, tile: none);
format!(BlockQ5_0, Q5_0, QK, Q8_0, blocks::decode_q5_0, blocks::encode_q5_0, q8_0, kernels::dot_q5_0, q5_0, pair: q5_0, rows: q5_0, tile: q5_0);
format!(BlockQ5_1, Q5_1, QK, Q8_1, blocks::decode_q5_1, blocks::encode_q5_1, q8_1, kernels::dot_q5_1, q5_1, pair: q5_1, rows: none, tile: none);
format!(
    BlockQ8_0,
    Q8_0,
    QK,
    Q8_0,
    blocks::decode_q8_0,
    |x: &[f32; QK], out: &mut [u8]| blocks::encode_q8_0(x, out),
    q8_0,
    kernels::dot_q8_0,
    q8_0,
    pair: q8_0,
    rows: q8_0,
    tile: q8_0
);
format!(
    BlockIQ4NL,
    IQ4_NL,
    QK,
    Q8_0,
    blocks::decode_iq4_nl,
    blocks::encode_iq4_nl,
    q8_0,
    kernels::dot_iq4_nl,
    iq4_nl,
    pair: iq4_nl,
    rows: none,
    tile: none
);
format!(BlockQ2K, Q2_K, QK_K, Q8KBlock, blocks::decode_q2_k, blocks::encode_q2_k, q8_k, kernels::dot_q2_k, q2_k, pair: q2_k, rows: none, tile: none);
format!(BlockQ3K, Q3_K, QK_K, Q8KBlock, blocks::decode_q3_k, blocks::encode_q3_k, q8_k, kernels::dot_q3_k, q3_k, pair: q3_k, rows: none, tile: none);
format!(BlockQ4K, Q4_K, QK_K, Q8KBlock, blocks::decode_q4_k, blocks::encode_q4_k, q8_k, kernels::dot_q4_k, q4_k, pair: q4_k, rows: none, tile: q4_k);
format!(BlockQ5K, Q5_K, QK_K, Q8KBlock, blocks::decode_q5_k, blocks::encode_q5_k, q8_k, kernels::dot_q5_k, q5_k, pair: q5_k, rows: none, tile: q5_k);
format!(BlockQ6K, Q6_K, QK_K, Q8KBlock, blocks::decode_q6_k, blocks::encode_q6_k, q8_k, kernels::dot_q6_k, q6_k, pair: q6_k, rows: none, tile: q6_k);
format!(
    BlockIQ4XS,
    IQ4_XS,
    QK_K,
    Q8KBlock,
    blocks::decode_iq4_xs,
    blocks::encode_iq4_xs,
    q8_k,
    kernels::dot_iq4_xs,
    iq4_xs,
    pair: iq4_xs,
    rows: none,
    tile: none
);
float_format!(F32Value, F32, blocks::decode_f32, f32::to_le_bytes, kernels::dot_f32);
float_format!(F16Value, F16, blocks::decode_f16, |v| half::f16::from_f32(v).to_le_bytes(), kernels::dot_f16);
float_format!(BF16Value, BF16, blocks::decode_bf16, |v| half::bf16::from_f32(v).to_le_bytes(), kernels::dot_bf16);

/// No SIMD kernels off x86-64: every format takes the portable path.
#[cfg(not(target_arch = "x86_64"))]
mod simd {
    macro_rules! no_kernels {
        ($($name:ident),*) => {$(
            pub(in super::super) fn $name<B>() -> Option<B> {
                None
            }
        )*};
    }
    pub(super) mod pair {
        no_kernels!(q4_0, q4_1, q5_0, q5_1, q8_0, iq4_nl, q2_k, q3_k, q4_k, q5_k, q6_k, iq4_xs);
    }
    pub(super) mod rows {
        no_kernels!(none, q4_1, q5_0, q8_0);
    }
    pub(super) mod tile {
        no_kernels!(none, q5_0, q8_0, q4_k, q5_k, q6_k);
    }
}

/// The AVX2 + FMA + F16C kernels behind the typed signatures.
#[cfg(target_arch = "x86_64")]
mod simd {
    use super::*;
    use crate::kernels_avx2 as k;

    /// Whether this CPU runs the AVX2 kernels (std caches the detection).
    pub(super) fn available() -> bool {
        std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c")
    }

    macro_rules! wrap {
        ($($name:ident = $kernel:ident: $block:ty, $act:ty;)*) => {$(
            pub(super) fn $name(row: &[$block], act: &[$act]) -> f32 {
                // SAFETY: `dot_fn` hands these out only after `available()` detected AVX2, FMA
                // and F16C.
                unsafe { k::$kernel(bytemuck::cast_slice(row), act) }
            }
        )*};
    }

    /// Q4_0's row kernel: the `vpdpbusd` one where the CPU has AVX-512 VNNI (a cached flag per
    /// call), bit-identical to the AVX2 one.
    pub(super) fn q4_0(row: &[BlockQ4_0], act: &[Q8_0]) -> f32 {
        let row = bytemuck::cast_slice(row);
        if crate::kernels_vnni::available() {
            // SAFETY: AVX-512 F/BW/DQ/VL and VNNI, AVX2, FMA and F16C were detected.
            return unsafe { k::dot_q4_0_vnni(row, act) };
        }
        // SAFETY: `dot_fn` hands this out only after `available()` detected AVX2, FMA and F16C.
        unsafe { k::dot_q4_0(row, act) }
    }

    wrap! {
        q4_1 = dot_q4_1: BlockQ4_1, Q8_1;
        q5_0 = dot_q5_0: BlockQ5_0, Q8_0;
        q5_1 = dot_q5_1: BlockQ5_1, Q8_1;
        q8_0 = dot_q8_0: BlockQ8_0, Q8_0;
        iq4_nl = dot_iq4_nl: BlockIQ4NL, Q8_0;
        q2_k = dot_q2_k: BlockQ2K, Q8KBlock;
        q3_k = dot_q3_k: BlockQ3K, Q8KBlock;
        q4_k = dot_q4_k: BlockQ4K, Q8KBlock;
        q5_k = dot_q5_k: BlockQ5K, Q8KBlock;
        q6_k = dot_q6_k: BlockQ6K, Q8KBlock;
        iq4_xs = dot_iq4_xs: BlockIQ4XS, Q8KBlock;
    }

    /// The two-row kernels (two rows of activations, one weight row: a prompt chunk), where a
    /// format has one.
    pub(super) mod pair {
        use super::*;

        macro_rules! wrap_pair {
            ($($name:ident = $kernel:ident: $block:ty, $act:ty;)*) => {$(
                pub(in super::super) fn $name() -> Option<DotPair<$block>> {
                    fn kernel(row: &[$block], a0: &[$act], a1: &[$act]) -> [f32; 2] {
                        // SAFETY: handed out only after `available()` detected AVX2, FMA and F16C.
                        unsafe { k::$kernel(bytemuck::cast_slice(row), a0, a1) }
                    }
                    available().then_some(kernel as DotPair<$block>)
                }
            )*};
        }

        wrap_pair! {
            q4_0 = dot_q4_0_pair: BlockQ4_0, Q8_0;
            q4_1 = dot_q4_1_pair: BlockQ4_1, Q8_1;
            q5_0 = dot_q5_0_pair: BlockQ5_0, Q8_0;
            q5_1 = dot_q5_1_pair: BlockQ5_1, Q8_1;
            q8_0 = dot_q8_0_pair: BlockQ8_0, Q8_0;
            iq4_nl = dot_iq4_nl_pair: BlockIQ4NL, Q8_0;
            q2_k = dot_q2_k_pair: BlockQ2K, Q8KBlock;
            q3_k = dot_q3_k_pair: BlockQ3K, Q8KBlock;
            q4_k = dot_q4_k_pair: BlockQ4K, Q8KBlock;
            q5_k = dot_q5_k_pair: BlockQ5K, Q8KBlock;
            q6_k = dot_q6_k_pair: BlockQ6K, Q8KBlock;
            iq4_xs = dot_iq4_xs_pair: BlockIQ4XS, Q8KBlock;
        }
    }

    /// The two-weight-row kernels (one row of activations: a decoding step), where a format
    /// has one.
    pub(super) mod rows {
        use super::*;

        macro_rules! wrap_rows {
            ($($name:ident = $kernel:ident: $block:ty, $act:ty;)*) => {$(
                pub(in super::super) fn $name() -> Option<DotRows<$block>> {
                    fn kernel(r0: &[$block], r1: &[$block], act: &[$act]) -> [f32; 2] {
                        // SAFETY: handed out only after `available()` detected AVX2, FMA and F16C.
                        unsafe { k::$kernel(bytemuck::cast_slice(r0), bytemuck::cast_slice(r1), act) }
                    }
                    available().then_some(kernel as DotRows<$block>)
                }
            )*};
        }

        pub(in super::super) fn none<B>() -> Option<B> {
            None
        }

        wrap_rows! {
            q4_1 = dot_q4_1_rows: BlockQ4_1, Q8_1;
            q5_0 = dot_q5_0_rows: BlockQ5_0, Q8_0;
            q8_0 = dot_q8_0_rows: BlockQ8_0, Q8_0;
        }
    }

    /// The prompt tiles (AVX-512 VNNI), where a format has them.
    pub(super) mod tile {
        use super::*;
        use crate::kernels_vnni as v;

        /// The 32-value formats, Q2_K, Q3_K and IQ4_XS have no tiles: their prompts run on the 16-row panels
        /// (`pack_row_panels`) or the two-token kernel, both in their one-sum-per-block order.
        pub(in super::super) fn none<B>() -> Option<B> {
            None
        }

        macro_rules! wrap_tile {
            ($($name:ident = $kernel:ident: $block:ty, $act:ty;)*) => {$(
                pub(in super::super) fn $name() -> Option<DotTile<$block>> {
                    fn kernel(rows: &[$block], per_row: usize, acts: &[Vec<$act>], out: &mut [f32], stride: usize) {
                        // SAFETY: handed out only after `v::available()` detected AVX-512
                        // F/BW/DQ/VL and VNNI, AVX2, FMA and F16C.
                        unsafe { v::$kernel(rows, per_row, acts, out, stride) }
                    }
                    v::available().then_some(kernel as DotTile<$block>)
                }
            )*};
        }

        wrap_tile! {
            q4_k = tiles_q4_k: BlockQ4K, Q8KBlock;
            q5_k = tiles_q5_k: BlockQ5K, Q8KBlock;
            q6_k = tiles_q6_k: BlockQ6K, Q8KBlock;
        }

        /// The AVX2 tiles of Q8_0 and Q5_0 (`kernels_avx2::tiles_q8_0`), for CPUs without
        /// AVX-512 VNNI: there the 16-row panels take these formats' prompts; here a weight
        /// block is otherwise unpacked once per two tokens (llama.cpp's AVX2 tiles were 1.2–1.7×
        /// ahead of the two-token kernel on Zen 3).
        macro_rules! wrap_avx2_tile {
            ($($name:ident = $kernel:ident: $block:ty, $act:ty;)*) => {$(
                pub(in super::super) fn $name() -> Option<DotTile<$block>> {
                    fn kernel(rows: &[$block], per_row: usize, acts: &[Vec<$act>], out: &mut [f32], stride: usize) {
                        // SAFETY: handed out only after `available()` detected AVX2, FMA and F16C.
                        unsafe { k::$kernel(bytemuck::cast_slice(rows), per_row, acts, out, stride) }
                    }
                    (available() && !v::available()).then_some(kernel as DotTile<$block>)
                }
            )*};
        }

        wrap_avx2_tile! {
            q5_0 = tiles_q5_0: BlockQ5_0, Q8_0;
            q8_0 = tiles_q8_0: BlockQ8_0, Q8_0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Sizes;
    impl FormatFn for Sizes {
        type Output = (usize, usize, GgmlType);
        fn call<B: BlockFormat>(self) -> Self::Output {
            (size_of::<B>(), B::VALUES, B::TYPE)
        }
    }

    #[test]
    fn every_block_type_has_its_ggml_size_and_type() {
        for t in GgmlType::QUANTIZED.into_iter().chain([GgmlType::F32, GgmlType::F16, GgmlType::BF16]) {
            let (size, values, ty) = for_type(t, Sizes).unwrap();
            assert_eq!((size, values, ty), (t.type_size(), t.block_size(), t), "{t:?}");
        }
        assert!(for_type(GgmlType::Q8_K, Sizes).is_err());
    }
}
