//! Every quantized format's weights repacked into panels of 16 rows for AVX-512 VNNI, the layout
//! candle 0.11 and llama.cpp's CPU repack use: one `vpdpbusd` multiplies four codes of sixteen
//! rows by four activation codes, where the row-by-row kernels spend about a dozen instructions
//! per row and block. Each row's products are added in exactly the order of the row kernels, so
//! a matrix with panels gives the same bits as one without. One [`Panels`] type holds any
//! format; a [`PanelLayout`] per format says where a row's block goes and which kernel reads it.
//!
//! Q8_0 (`kernels_avx2::add_block_sums`: one integer sum per block, block `i` added into
//! accumulator `i mod 8`, the same final additions): a panel stores each block as 16 f16
//! scales (32 bytes) and then its 32 codes per row in eight groups of four, group-major:
//! `[group 0: row 0 codes 0–3, row 1 codes 0–3, …]` (512 bytes), every code stored plus 128
//! (an unsigned byte, as `vpdpbusd` wants its first operand); each activation block's
//! `128 · Σ codes` is subtracted again, exactly. A block costs eight `vpdpbusd`, one
//! conversion and one FMA for sixteen rows. The scales of all a panel's blocks come first, so
//! the codes start on a cache line ([`crate::page_buffer::Line`]). Q5_0 ([`Q5_0Layout`]) is multiplied the same way
//! after its codes are unpacked, once per block for up to sixteen prompt tokens.

use crate::formats::{BlockFormat, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8_0};
use crate::kernels::{Q8_0, Q8KBlock};
use crate::page_buffer::{LINE, PageBuffer};
use std::ops::Range;

/// Rows per panel: one 512-bit register of 32-bit sums.
pub(crate) const PANEL_ROWS: usize = 16;

/// How one format's blocks sit in a panel, its activations, and the kernel that reads them.
pub(crate) trait PanelLayout {
    /// The row format (its kernel takes the rows left over).
    type Block: BlockFormat;
    /// One row of activations as the panel kernel reads it.
    type Prepared: Send + Sync;
    /// Bytes of one block of one row.
    const ROW_BLOCK: usize;
    /// Bytes of one block of a panel (sixteen rows).
    const PANEL_BLOCK: usize;
    /// Bytes of a panel of `blocks` blocks: a whole number of cache lines, so that every
    /// panel starts on one (the storage does), and with it every 64-byte load of codes.
    fn panel_bytes(blocks: usize) -> usize {
        (blocks * Self::PANEL_BLOCK).next_multiple_of(LINE)
    }
    /// Copies row `r`'s block `b` (of a row of `blocks`) into its places in `panel`.
    fn place(block: &[u8], b: usize, blocks: usize, r: usize, panel: &mut [u8]);
    /// Quantizes one row of activations.
    fn prepare(x: &[f32]) -> Self::Prepared;
    /// The row format's activations in `p` (for the rows left over).
    fn acts(p: &Self::Prepared) -> &[<Self::Block as BlockFormat>::Act];
    /// One panel of `blocks` blocks against one row of activations into `out` (16 values).
    ///
    /// # Safety
    /// The CPU has AVX-512 F/BW/DQ/VL and VNNI, AVX2, FMA and F16C.
    unsafe fn dot_panel(panel: &[u8], blocks: usize, a: &Self::Prepared, out: &mut [f32]);
    /// [`dot_panel`](Self::dot_panel) for several rows of activations (a prompt), token `t`'s
    /// sixteen values into `out[t · stride..]`, each the same bits as one call. A format whose
    /// codes take unpacking overrides it to unpack each block once for all the tokens.
    ///
    /// # Safety
    /// As [`dot_panel`](Self::dot_panel).
    unsafe fn dot_panel_tokens(panel: &[u8], blocks: usize, acts: &[Self::Prepared], out: &mut [f32], stride: usize) {
        for (t, a) in acts.iter().enumerate() {
            // SAFETY: forwarded to the caller.
            unsafe { Self::dot_panel(panel, blocks, a, &mut out[t * stride..t * stride + PANEL_ROWS]) }
        }
    }
}

/// Reports the bytes of the row data already packed, a mebibyte or more at a time, so a caller
/// whose rows are a mapped file can let those pages go while a large matrix is still being
/// packed (rather than holding the matrix twice until the end).
struct Progress<'a> {
    report: &'a mut dyn FnMut(Range<usize>),
    from: usize,
}

impl Progress<'_> {
    fn upto(&mut self, end: usize, last: bool) {
        if end > self.from && (last || end - self.from >= 1 << 20) {
            (self.report)(self.from..end);
            self.from = end;
        }
    }
}

/// The whole panels of a matrix (the last `rows % 16` rows stay with the row kernels): per
/// panel, its blocks in row order, each laid out by `L`.
#[derive(Debug)]
pub(crate) struct Panels<L> {
    /// On 2 MiB pages where the system lends them: decoding streams the panels from memory.
    data: PageBuffer,
    /// Whole panels.
    panels: usize,
    /// Blocks per row.
    blocks: usize,
    layout: std::marker::PhantomData<fn() -> L>,
}

/// The panels of one matrix.
#[derive(Debug)]
pub(crate) enum RowPanels {
    Q8_0(Panels<Q8_0Layout>),
    Q5_0(Panels<Q5_0Layout>),
    Q4K(Panels<Q4KLayout>),
    Q5K(Panels<Q5KLayout>),
    Q6K(Panels<Q6KLayout>),
    Q2K(Panels<Q2KLayout>),
    Q3K(Panels<Q3KLayout>),
    IQ4NL(Panels<IQ4NLLayout>),
    IQ4XS(Panels<IQ4XSLayout>),
    Q4_1(Panels<Q4_1Layout>),
    Q4_0(Panels<Q4_0Layout>),
    Q5_1(Panels<Q5_1Layout>),
}

impl<L: PanelLayout> Panels<L> {
    /// Repacks `bytes` (`rows` rows of `blocks` blocks), reporting the bytes packed; `None`
    /// without AVX-512 VNNI (the only kernels that read panels) or without a whole panel.
    pub(crate) fn new(bytes: &[u8], rows: usize, blocks: usize, packed: &mut dyn FnMut(Range<usize>)) -> Option<Self> {
        if !crate::kernels_vnni::available() || rows < PANEL_ROWS || blocks == 0 {
            return None;
        }
        let row_bytes = blocks * L::ROW_BLOCK;
        if bytes.len() < rows * row_bytes {
            return None;
        }
        let panels = rows / PANEL_ROWS;
        let size = L::panel_bytes(blocks);
        let mut data = PageBuffer::zeroed(panels * size / LINE);
        let mut progress = Progress { report: packed, from: 0 };
        for (p, panel) in bytemuck::cast_slice_mut::<_, u8>(data.lines_mut()).chunks_exact_mut(size).enumerate() {
            progress.upto(p * PANEL_ROWS * row_bytes, false);
            for b in 0..blocks {
                for r in 0..PANEL_ROWS {
                    let at = (p * PANEL_ROWS + r) * row_bytes + b * L::ROW_BLOCK;
                    L::place(&bytes[at..at + L::ROW_BLOCK], b, blocks, r, panel);
                }
            }
        }
        progress.upto(panels * PANEL_ROWS * row_bytes, true);
        Some(Self { data, panels, blocks, layout: std::marker::PhantomData })
    }

    /// Whole panels.
    pub(crate) fn panels(&self) -> usize {
        self.panels
    }

    /// Rows `16 p .. 16 p + 16` of `W · a` into `out` (16 values each), for panels `p` in
    /// `panels`.
    pub(crate) fn dot_panels(&self, panels: Range<usize>, a: &L::Prepared, out: &mut [f32]) {
        assert!(
            panels.end <= self.panels && L::acts(a).len() >= self.blocks && out.len() >= panels.len() * PANEL_ROWS,
            "panel product shapes"
        );
        let size = L::panel_bytes(self.blocks);
        let data: &[u8] = bytemuck::cast_slice(self.data.lines());
        for (i, p) in panels.enumerate() {
            let (panel, out) = (&data[p * size..(p + 1) * size], &mut out[i * PANEL_ROWS..(i + 1) * PANEL_ROWS]);
            // SAFETY: panels exist only where `kernels_vnni::available()` detected AVX-512
            // F/BW/DQ/VL, VNNI, AVX2, FMA and F16C (`new`); a panel holds `blocks` blocks laid
            // out by `L`, and `a` at least as many (asserted above).
            unsafe { L::dot_panel(panel, self.blocks, a, out) }
        }
    }

    /// Rows `16 p .. 16 p + 16` of `W · a_t` for every row of activations `a_t` in `acts`,
    /// into `out[t · stride + 16 p ..][..16]`.
    pub(crate) fn dot_panel_tokens(&self, p: usize, acts: &[L::Prepared], out: &mut [f32], stride: usize) {
        assert!(
            p < self.panels
                && acts.iter().all(|a| L::acts(a).len() >= self.blocks)
                && (acts.is_empty() || out.len() >= (acts.len() - 1) * stride + (p + 1) * PANEL_ROWS),
            "panel product shapes"
        );
        let size = L::panel_bytes(self.blocks);
        let data: &[u8] = bytemuck::cast_slice(self.data.lines());
        // SAFETY: as in `dot_panels`; token t's outputs `t · stride + 16 p ..+ 16` lie in
        // `out` (asserted above).
        unsafe {
            L::dot_panel_tokens(&data[p * size..(p + 1) * size], self.blocks, acts, &mut out[p * PANEL_ROWS..], stride)
        }
    }
}

/// Bytes of one Q8_0 block (ggml's `block_q8_0`).
const Q8_0_BLOCK: usize = 34;
/// A Q8_0 panel block's sixteen f16 scales.
const Q8_0_SCALES: usize = 2 * PANEL_ROWS;
/// A Q8_0 panel block's codes: eight groups of four codes of sixteen rows, one 512-bit load each.
const Q8_0_CODES: usize = 32 * PANEL_ROWS;

/// Two Q8_0 panel blocks side by side: both blocks' scales (one cache line), then both blocks'
/// codes, so every load of codes starts on a line and no byte is padding (a block's scales
/// next to its own codes, 544 bytes, put every other block's codes half a line off; the
/// scales of a whole panel ahead of its codes made decoding, which streams the panels from
/// memory, 40 % slower on Zen 4).
const Q8_0_PAIR: usize = 2 * (Q8_0_SCALES + Q8_0_CODES);

/// Block `b`'s scales and codes in a Q8_0 panel.
fn q8_0_at(b: usize) -> (usize, usize) {
    let pair = Q8_0_PAIR * (b / 2);
    (pair + Q8_0_SCALES * (b % 2), pair + 2 * Q8_0_SCALES + Q8_0_CODES * (b % 2))
}

/// Q8_0 in panels: the layout and order of the module docs.
#[derive(Debug)]
pub(crate) struct Q8_0Layout;

impl PanelLayout for Q8_0Layout {
    type Block = BlockQ8_0;
    /// The activations and each block's `−128 · Σ codes`, the offset of the stored codes
    /// taken back.
    type Prepared = (Vec<Q8_0>, Vec<i32>);
    const ROW_BLOCK: usize = Q8_0_BLOCK;
    /// 16 f16 scales and 16 × 32 codes.
    const PANEL_BLOCK: usize = Q8_0_SCALES + Q8_0_CODES;

    fn panel_bytes(blocks: usize) -> usize {
        blocks.div_ceil(2) * Q8_0_PAIR
    }

    fn place(block: &[u8], b: usize, _: usize, r: usize, panel: &mut [u8]) {
        let (scales_at, codes_at) = q8_0_at(b);
        panel[scales_at + 2 * r..scales_at + 2 * r + 2].copy_from_slice(&block[..2]);
        let codes = &mut panel[codes_at..codes_at + Q8_0_CODES];
        for g in 0..8 {
            for i in 0..4 {
                codes[g * 4 * PANEL_ROWS + 4 * r + i] = block[2 + 4 * g + i] ^ 0x80;
            }
        }
    }

    fn prepare(x: &[f32]) -> Self::Prepared {
        with_offsets(BlockQ8_0::quantize_activations(x), 128)
    }

    fn acts(p: &Self::Prepared) -> &[Q8_0] {
        &p.0
    }

    unsafe fn dot_panel(panel: &[u8], blocks: usize, a: &Self::Prepared, out: &mut [f32]) {
        assert!(a.1.len() >= a.0.len(), "one offset per activation block");
        // SAFETY: forwarded to the caller (AVX-512 VNNI present).
        unsafe { dot_panel_vnni(&panel[..Self::panel_bytes(blocks)], blocks, &a.0, &a.1, out) }
    }
}

/// Activation blocks with each block's `−bias · Σ codes`: the term that takes back the `bias`
/// by which stored codes exceed the true ones (Q8_0's +128, Q5_0's +16).
fn with_offsets(act: Vec<Q8_0>, bias: i32) -> (Vec<Q8_0>, Vec<i32>) {
    let offsets = act.iter().map(|y| -bias * y.qs.iter().map(|&q| q as i32).sum::<i32>()).collect();
    (act, offsets)
}

/// The row blocks the panels were made from (for tests).
#[cfg(test)]
fn unpack(p: &Panels<Q8_0Layout>) -> Vec<BlockQ8_0> {
    let size = Q8_0Layout::panel_bytes(p.blocks);
    let data: &[u8] = bytemuck::cast_slice(p.data.lines());
    let mut rows = vec![[0u8; Q8_0_BLOCK]; p.panels * PANEL_ROWS * p.blocks];
    for (panel, bytes) in data.chunks_exact(size).enumerate() {
        for b in 0..p.blocks {
            let (scales_at, codes_at) = q8_0_at(b);
            let (scales, codes) = (&bytes[scales_at..], &bytes[codes_at..]);
            for r in 0..PANEL_ROWS {
                let block = &mut rows[(panel * PANEL_ROWS + r) * p.blocks + b];
                block[..2].copy_from_slice(&scales[2 * r..2 * r + 2]);
                for g in 0..8 {
                    for i in 0..4 {
                        block[2 + 4 * g + i] = codes[g * 4 * PANEL_ROWS + 4 * r + i] ^ 0x80;
                    }
                }
            }
        }
    }
    rows.iter().map(|b| *bytemuck::from_bytes::<BlockQ8_0>(b)).collect()
}

/// One panel against one row of activations: see the module docs for the order of the sums.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")]
fn dot_panel_vnni(panel: &[u8], blocks: usize, act: &[Q8_0], offsets: &[i32], out: &mut [f32]) {
    use std::arch::x86_64::*;
    // Block `h` (0 or 1) of a pair: its scales and codes, then the product Q5_0 shares.
    let block = |pair: &[u8; Q8_0_PAIR], h: usize, y: &Q8_0, offset: i32| -> (__m512, __m512) {
        // SAFETY: `pair` is two blocks' 16 f16 scales, then their 8 groups of 64 codes each.
        let (d, codes) = unsafe {
            let scales = pair.as_ptr().add(Q8_0_SCALES * h);
            let codes = pair.as_ptr().add(2 * Q8_0_SCALES + Q8_0_CODES * h);
            let d = _mm512_cvtph_ps(_mm256_loadu_si256(scales.cast()));
            (d, std::array::from_fn(|g| _mm512_loadu_si512(codes.add(64 * g).cast())))
        };
        block_product(d, &codes, y, offset)
    };
    let (pairs, _) = panel.as_chunks::<Q8_0_PAIR>();
    let n = blocks.min(2 * pairs.len()).min(act.len()).min(offsets.len());
    let (groups, _) = pairs[..n / 2].as_chunks::<4>();
    let whole = 8 * groups.len();
    let mut acc = [_mm512_setzero_ps(); 8];
    // Whole groups of eight blocks with constant accumulator indices (kept in registers), then
    // the rest into accumulators 0, 1, … as the row kernels' zero-padded last group.
    for (g, group) in groups.iter().enumerate() {
        for k in 0..8 {
            let i = 8 * g + k;
            let (d, sum) = block(&group[k / 2], k % 2, &act[i], offsets[i]);
            acc[k] = _mm512_fmadd_ps(d, sum, acc[k]);
        }
    }
    for (k, a) in acc.iter_mut().enumerate() {
        let i = whole + k;
        if i < n {
            let (d, sum) = block(&pairs[i / 2], i % 2, &act[i], offsets[i]);
            *a = _mm512_fmadd_ps(d, sum, *a);
        }
    }
    close_eight(&acc, out);
}

/// Copies one row's sixteen nibble bytes `qs` into a 32-value panel block's lanes: lane `k` of
/// four bytes holds the sixteen rows' bytes `4 k ..+ 4` (row `r` at `64 k + 4 r`), so one
/// 64-byte load gives codes `4 k ..+ 4` in its low nibbles and `16 + 4 k ..+ 4` in its high
/// ones (ggml's packing kept; Q5_0, Q4_1, IQ4_NL and each IQ4_XS sub-block).
fn place_nibble_lanes(qs: &[u8], r: usize, nibbles: &mut [u8]) {
    for k in 0..4 {
        nibbles[64 * k + 4 * r..64 * k + 4 * r + 4].copy_from_slice(&qs[4 * k..4 * k + 4]);
    }
}

/// The activations (each block's `−bias · Σ a` beside it) and the one-token and sixteen-token
/// kernels of a layout that unpacks to Q8_0's codes ([`Unpacked`]), as `PanelLayout` methods.
macro_rules! unpacked_panel_kernels {
    ($block:ty, $bias:expr) => {
        fn prepare(x: &[f32]) -> Self::Prepared {
            with_offsets(<$block>::quantize_activations(x), $bias)
        }

        fn acts(p: &Self::Prepared) -> &[Q8_0] {
            &p.0
        }

        unsafe fn dot_panel(panel: &[u8], blocks: usize, a: &Self::Prepared, out: &mut [f32]) {
            // SAFETY: forwarded to the caller (AVX-512 VNNI present).
            unsafe { unpacked_panel_one_vnni::<Self>(panel, blocks, a, out) }
        }

        unsafe fn dot_panel_tokens(
            panel: &[u8],
            blocks: usize,
            acts: &[Self::Prepared],
            out: &mut [f32],
            stride: usize,
        ) {
            // SAFETY: forwarded to the caller (AVX-512 VNNI present).
            unsafe { unpacked_panel_vnni::<Self>(panel, blocks, acts, out, stride) }
        }
    };
}

/// Sets row `r`'s fifth bits `qh` (bit `j`: code `j`) in a 32-value block's eight 64-bit masks,
/// one per group of four codes (row `r`, code `i` of the group at bit `4 r + i`; Q5_0, Q5_1).
fn place_fifth_bits(qh: u32, r: usize, masks: &mut [u8]) {
    for g in 0..8 {
        for i in 0..4 {
            if qh >> (4 * g + i) & 1 == 1 {
                masks[8 * g + (4 * r + i) / 8] |= 1 << ((4 * r + i) % 8);
            }
        }
    }
}

/// Bytes of one Q5_0 block (ggml's `block_q5_0`).
const Q5_0_BLOCK: usize = 22;
/// A Q5_0 panel block's fifth bits: for each group of four codes, a 64-bit mask over the
/// group's 64 code bytes (row `r`, code `i` at bit `4 r + i`).
const Q5_0_MASKS: usize = 8 * 8;
/// A Q5_0 panel block's nibble bytes: for each lane `k` of four bytes, the sixteen rows'
/// bytes `4 k ..+ 4` of `qs` (low nibbles: codes `4 k ..+ 4`, high nibbles: codes
/// `16 + 4 k ..+ 4`, ggml's packing kept).
const Q5_0_NIBBLES: usize = 16 * PANEL_ROWS;

/// Two Q5_0 panel blocks side by side (as Q8_0's [`Q8_0_PAIR`]): both blocks' scales, both
/// blocks' masks, both blocks' nibbles — eleven cache lines, every load of nibbles on a line.
const Q5_0_PAIR: usize = 2 * (Q8_0_SCALES + Q5_0_MASKS + Q5_0_NIBBLES);

/// Block `b`'s scales, masks and nibbles in a Q5_0 panel.
fn q5_0_at(b: usize) -> (usize, usize, usize) {
    let (pair, h) = (Q5_0_PAIR * (b / 2), b % 2);
    let masks = pair + 2 * Q8_0_SCALES;
    let nibbles = masks + 2 * Q5_0_MASKS;
    (pair + Q8_0_SCALES * h, masks + Q5_0_MASKS * h, nibbles + Q5_0_NIBBLES * h)
}

/// Q5_0 in panels: per pair of blocks the sixteen f16 scales of each, then each block's eight
/// fifth-bit masks, then each block's nibbles — 22 bytes per row and block, as in the rows.
/// A block's codes are unpacked with two ands, a shift and eight masked byte adds, and
/// multiplied as Q8_0's are (the `−16` taken back by starting each block's sum at `−16 · Σ a`),
/// in the order of [`kernels_avx2::dot_q5_0`](crate::kernels_avx2).
#[derive(Debug)]
pub(crate) struct Q5_0Layout;

impl PanelLayout for Q5_0Layout {
    type Block = crate::formats::BlockQ5_0;
    /// The activations and each block's `−16 · Σ codes`.
    type Prepared = (Vec<Q8_0>, Vec<i32>);
    const ROW_BLOCK: usize = Q5_0_BLOCK;
    const PANEL_BLOCK: usize = Q8_0_SCALES + Q5_0_MASKS + Q5_0_NIBBLES;

    fn panel_bytes(blocks: usize) -> usize {
        blocks.div_ceil(2) * Q5_0_PAIR
    }

    fn place(block: &[u8], b: usize, _: usize, r: usize, panel: &mut [u8]) {
        let (scales_at, masks_at, nibbles_at) = q5_0_at(b);
        panel[scales_at + 2 * r..scales_at + 2 * r + 2].copy_from_slice(&block[..2]);
        let qh = u32::from_le_bytes([block[2], block[3], block[4], block[5]]);
        place_fifth_bits(qh, r, &mut panel[masks_at..masks_at + Q5_0_MASKS]);
        place_nibble_lanes(&block[6..22], r, &mut panel[nibbles_at..nibbles_at + Q5_0_NIBBLES]);
    }

    unpacked_panel_kernels!(crate::formats::BlockQ5_0, 16);
}

impl Unpacked for Q5_0Layout {
    unsafe fn unpack(panel: &[u8], b: usize) -> (std::arch::x86_64::__m512, [std::arch::x86_64::__m512i; 8]) {
        // SAFETY: forwarded to the caller.
        unsafe { q5_0_unpack(panel, b) }
    }
}

/// A 32-value format whose panel blocks unpack to Q8_0's (sixteen f32 weight scales, eight
/// groups of four unsigned codes of sixteen rows) and are multiplied as Q8_0's are, each block's
/// sum started at its activation block's offset: Q4_0, Q5_0 and IQ4_NL.
pub(crate) trait Unpacked: PanelLayout<Prepared = (Vec<Q8_0>, Vec<i32>)> {
    /// Block `b` of `panel`: its weight scales and codes.
    ///
    /// # Safety
    /// AVX-512 F/BW/VL and F16C; `panel` holds more than `b` blocks of this layout.
    unsafe fn unpack(panel: &[u8], b: usize) -> (std::arch::x86_64::__m512, [std::arch::x86_64::__m512i; 8]);
}

/// Q4_0 in panels: IQ4_NL's layout (a block is two bytes of scale and sixteen of nibbles in
/// both); the nibbles are the codes plus 8, unsigned already, and each block's sum starts at
/// `−8 · Σ a`, in the order of `kernels_avx2::dot_q4_0`.
#[derive(Debug)]
pub(crate) struct Q4_0Layout;

impl PanelLayout for Q4_0Layout {
    type Block = crate::formats::BlockQ4_0;
    /// The activations and each block's `−8 · Σ codes`.
    type Prepared = (Vec<Q8_0>, Vec<i32>);
    const ROW_BLOCK: usize = IQ4_NL_BLOCK;
    const PANEL_BLOCK: usize = Q8_0_SCALES + Q5_0_NIBBLES;

    fn panel_bytes(blocks: usize) -> usize {
        IQ4NLLayout::panel_bytes(blocks)
    }

    fn place(block: &[u8], b: usize, blocks: usize, r: usize, panel: &mut [u8]) {
        IQ4NLLayout::place(block, b, blocks, r, panel)
    }

    unpacked_panel_kernels!(crate::formats::BlockQ4_0, 8);
}

impl Unpacked for Q4_0Layout {
    unsafe fn unpack(panel: &[u8], b: usize) -> (std::arch::x86_64::__m512, [std::arch::x86_64::__m512i; 8]) {
        // SAFETY: forwarded to the caller.
        unsafe { nibble_block::<false>(panel, b) }
    }
}

/// Bytes of one Q4_1 block (ggml's `block_q4_1`).
const Q4_1_BLOCK: usize = 20;
/// Two Q4_1 panel blocks side by side: both blocks' sixteen f16 scales, both blocks' sixteen
/// f16 minimums (one line each), then both blocks' nibbles laid out as Q5_0's
/// ([`Q5_0_NIBBLES`]) — ten lines, the rows' bytes.
const Q4_1_PAIR: usize = 2 * (2 * Q8_0_SCALES + Q5_0_NIBBLES);
const _: () = assert!(Q4_1_PAIR.is_multiple_of(LINE) && (4 * Q8_0_SCALES).is_multiple_of(LINE));

/// Block `b`'s scales, minimums, (no) masks and nibbles in a Q4_1 panel.
fn q4_1_at(b: usize) -> (usize, usize, usize, usize) {
    let (pair, h) = (Q4_1_PAIR * (b / 2), b % 2);
    let nibbles = pair + 4 * Q8_0_SCALES + Q5_0_NIBBLES * h;
    (pair + Q8_0_SCALES * h, pair + 2 * Q8_0_SCALES + Q8_0_SCALES * h, nibbles, nibbles)
}

/// Bytes of one Q5_1 block (ggml's `block_q5_1`).
const Q5_1_BLOCK: usize = 24;
/// Two Q5_1 panel blocks side by side: Q4_1's scales and minimums, then both blocks' fifth bits
/// as Q5_0's masks ([`Q5_0_MASKS`]), then both blocks' nibbles — twelve lines, the rows' bytes.
const Q5_1_PAIR: usize = 2 * (2 * Q8_0_SCALES + Q5_0_MASKS + Q5_0_NIBBLES);
const _: () = assert!(Q5_1_PAIR.is_multiple_of(LINE) && (4 * Q8_0_SCALES + 2 * Q5_0_MASKS).is_multiple_of(LINE));

/// Block `b`'s scales, minimums, masks and nibbles in a Q5_1 panel.
fn q5_1_at(b: usize) -> (usize, usize, usize, usize) {
    let (pair, h) = (Q5_1_PAIR * (b / 2), b % 2);
    let masks = pair + 4 * Q8_0_SCALES;
    let nibbles = masks + 2 * Q5_0_MASKS;
    (
        pair + Q8_0_SCALES * h,
        pair + 2 * Q8_0_SCALES + Q8_0_SCALES * h,
        masks + Q5_0_MASKS * h,
        nibbles + Q5_0_NIBBLES * h,
    )
}

/// Q5_1 in panels: Q4_1's layout and kernel with each block's fifth bits as Q5_0's masks
/// between the minimums and the nibbles, added by masked byte adds, in the order of
/// `kernels_avx2::dot_q5_1`.
#[derive(Debug)]
pub(crate) struct Q5_1Layout;

/// The `PanelLayout` of Q4_1 (`FIFTH = false`) or Q5_1: their blocks differ only in Q5_1's
/// fifth bits (`qh` between the minimum and the nibbles), their panels in its masks.
macro_rules! minimum_layout {
    ($layout:ty, $block:ty, $bytes:expr, $fifth:literal, $pair:expr, $at:ident) => {
        impl PanelLayout for $layout {
            type Block = $block;
            type Prepared = Vec<crate::kernels::Q8_1>;
            const ROW_BLOCK: usize = $bytes;
            const PANEL_BLOCK: usize = $pair / 2;

            fn panel_bytes(blocks: usize) -> usize {
                blocks.div_ceil(2) * $pair
            }

            fn place(block: &[u8], b: usize, _: usize, r: usize, panel: &mut [u8]) {
                let (scales_at, mins_at, masks_at, nibbles_at) = $at(b);
                panel[scales_at + 2 * r..scales_at + 2 * r + 2].copy_from_slice(&block[..2]);
                panel[mins_at + 2 * r..mins_at + 2 * r + 2].copy_from_slice(&block[2..4]);
                let codes = if $fifth {
                    let qh = u32::from_le_bytes([block[4], block[5], block[6], block[7]]);
                    place_fifth_bits(qh, r, &mut panel[masks_at..masks_at + Q5_0_MASKS]);
                    8
                } else {
                    4
                };
                place_nibble_lanes(&block[codes..codes + 16], r, &mut panel[nibbles_at..nibbles_at + Q5_0_NIBBLES]);
            }

            fn prepare(x: &[f32]) -> Self::Prepared {
                <$block>::quantize_activations(x)
            }

            fn acts(p: &Self::Prepared) -> &[crate::kernels::Q8_1] {
                p
            }

            unsafe fn dot_panel(panel: &[u8], blocks: usize, a: &Self::Prepared, out: &mut [f32]) {
                // SAFETY: forwarded to the caller (AVX-512 VNNI present).
                unsafe { q4_1_panel_one_vnni::<$fifth>(panel, blocks, a, out) }
            }

            unsafe fn dot_panel_tokens(
                panel: &[u8],
                blocks: usize,
                acts: &[Self::Prepared],
                out: &mut [f32],
                stride: usize,
            ) {
                // SAFETY: forwarded to the caller (AVX-512 VNNI present).
                unsafe { q4_1_panel_vnni::<BLOCK_TOKENS, $fifth>(panel, blocks, acts, out, stride) }
            }
        }
    };
}

minimum_layout!(Q5_1Layout, crate::formats::BlockQ5_1, Q5_1_BLOCK, true, Q5_1_PAIR, q5_1_at);

/// Q4_1 in panels: per pair of blocks the sixteen f16 scales of each, the sixteen f16 minimums
/// of each, then each block's nibbles (Q5_0's lanes). A block's nibbles are its codes (unsigned,
/// as `vpdpbusd` takes them), multiplied as Q8_0's are; the minimum terms `m · s` go into one
/// f32 sum per row in block order, as in `kernels_avx2::dot_q4_1`.
#[derive(Debug)]
pub(crate) struct Q4_1Layout;

minimum_layout!(Q4_1Layout, crate::formats::BlockQ4_1, Q4_1_BLOCK, false, Q4_1_PAIR, q4_1_at);

/// Block `b` of a Q4_1 (`FIFTH = false`) or Q5_1 panel: its weight scales, its minimums (f32)
/// and its codes as eight groups of four unsigned codes of sixteen rows.
///
/// # Safety
/// AVX-512 F/BW and F16C; `panel` holds more than `b` blocks of the layout.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn minimum_unpack<const FIFTH: bool>(
    panel: &[u8],
    b: usize,
) -> (std::arch::x86_64::__m512, std::arch::x86_64::__m512, [std::arch::x86_64::__m512i; 8]) {
    use std::arch::x86_64::*;
    let (low4, sixteen) = (_mm512_set1_epi8(0x0F), _mm512_set1_epi8(16));
    let (scales_at, mins_at, masks_at, nibbles_at) = if FIFTH { q5_1_at(b) } else { q4_1_at(b) };
    // SAFETY: block `b`'s scales, minimums, masks and nibbles lie within `panel` (the caller's
    // promise).
    unsafe {
        let p = panel.as_ptr();
        let d = _mm512_cvtph_ps(_mm256_loadu_si256(p.add(scales_at).cast()));
        let m = _mm512_cvtph_ps(_mm256_loadu_si256(p.add(mins_at).cast()));
        let mask = |g: usize| p.add(masks_at + 8 * g).cast::<u64>().read_unaligned();
        let mut codes = [_mm512_setzero_si512(); 8];
        for k in 0..4 {
            let raw = _mm512_loadu_si512(p.add(nibbles_at + 64 * k).cast());
            codes[k] = _mm512_and_si512(raw, low4);
            codes[k + 4] = _mm512_and_si512(_mm512_srli_epi16::<4>(raw), low4);
            if FIFTH {
                codes[k] = _mm512_mask_add_epi8(codes[k], mask(k), codes[k], sixteen);
                codes[k + 4] = _mm512_mask_add_epi8(codes[k + 4], mask(k + 4), codes[k + 4], sixteen);
            }
        }
        (d, m, codes)
    }
}

/// One Q4_1 or Q5_1 panel against one row of activations (decoding), the eight accumulators in
/// registers: [`q4_1_panel_vnni`]'s order and bits. (Its accumulator `b mod 8`, indexed at run
/// time, lived on the stack: a load and a store per block, which made the Q5_1 product
/// 2–3× slower than Q5_0's.)
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")]
fn q4_1_panel_one_vnni<const FIFTH: bool>(panel: &[u8], blocks: usize, act: &[crate::kernels::Q8_1], out: &mut [f32]) {
    use std::arch::x86_64::*;
    let bytes = if FIFTH { Q5_1Layout::panel_bytes(blocks) } else { Q4_1Layout::panel_bytes(blocks) };
    assert!(panel.len() >= bytes && act.len() >= blocks && out.len() >= PANEL_ROWS, "Q4_1 or Q5_1 panel shapes");
    // `acc[0]` is block `b`'s accumulator (`b mod 8` in the closing's order): the eight
    // rotate by one each block, so a loop over the blocks holds them in registers (an array
    // indexed by `b mod 8` lived on the stack; unrolled by eight, the loop streams the panel
    // from memory more slowly).
    let mut acc = [_mm512_setzero_ps(); 8];
    let mut mins = _mm512_setzero_ps();
    for (b, y) in act.iter().enumerate().take(blocks) {
        // SAFETY: AVX-512 (this function's features); `b < blocks` and the panel's size was
        // checked above.
        let (d, m, codes) = unsafe { minimum_unpack::<FIFTH>(panel, b) };
        let (d, sum) = codes_product(d, &codes, y.d, &y.qs, 0);
        acc = [acc[1], acc[2], acc[3], acc[4], acc[5], acc[6], acc[7], _mm512_fmadd_ps(d, sum, acc[0])];
        mins = _mm512_add_ps(mins, _mm512_mul_ps(m, _mm512_set1_ps(y.s)));
    }
    // `acc[i]` is now accumulator `(blocks + i) mod 8`.
    let acc: [__m512; 8] = std::array::from_fn(|k| acc[(k + 8 - blocks % 8) % 8]);
    // SAFETY: `out` holds at least 16 f32s (asserted).
    unsafe { _mm512_storeu_ps(out.as_mut_ptr(), _mm512_add_ps(closed_eight(&acc), mins)) };
}

/// One Q4_1 panel against rows of activations, `T` at a time (sixteen for a prompt): each
/// block's nibbles are unpacked once for all of them; each token's sums in `dot_q4_1`'s order
/// (block `i` into accumulator `i mod 8`, the same closing, the minimum terms added last).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")]
fn q4_1_panel_vnni<const T: usize, const FIFTH: bool>(
    panel: &[u8],
    blocks: usize,
    acts: &[Vec<crate::kernels::Q8_1>],
    out: &mut [f32],
    stride: usize,
) {
    use std::arch::x86_64::*;
    let bytes = if FIFTH { Q5_1Layout::panel_bytes(blocks) } else { Q4_1Layout::panel_bytes(blocks) };
    assert!(panel.len() >= bytes, "Q4_1 or Q5_1 panel size");
    assert!(acts.iter().all(|a| a.len() >= blocks), "activation blocks");
    for (chunk, acts) in acts.chunks(T).enumerate() {
        let mut acc = [[_mm512_setzero_ps(); 8]; T];
        let mut mins = [_mm512_setzero_ps(); T];
        for b in 0..blocks {
            // SAFETY: AVX-512 (this function's features); `b < blocks` and the panel's size
            // was checked above.
            let (d, m, codes) = unsafe { minimum_unpack::<FIFTH>(panel, b) };
            for ((acc, mins), y) in acc.iter_mut().zip(&mut mins).zip(acts) {
                let y = &y[b];
                let (d, sum) = codes_product(d, &codes, y.d, &y.qs, 0);
                acc[b % 8] = _mm512_fmadd_ps(d, sum, acc[b % 8]);
                *mins = _mm512_add_ps(*mins, _mm512_mul_ps(m, _mm512_set1_ps(y.s)));
            }
        }
        for (t, (acc, mins)) in acc.iter().zip(&mins).enumerate().take(acts.len()) {
            let out = &mut out[(chunk * T + t) * stride..][..PANEL_ROWS];
            // SAFETY: `out` holds 16 f32s.
            unsafe { _mm512_storeu_ps(out.as_mut_ptr(), _mm512_add_ps(closed_eight(acc), *mins)) };
        }
    }
}

/// Bytes of one IQ4_NL block (ggml's `block_iq4_nl`).
const IQ4_NL_BLOCK: usize = 18;
/// Two IQ4_NL panel blocks side by side: both blocks' sixteen f16 scales (one cache line), then
/// both blocks' nibbles laid out as Q5_0's ([`Q5_0_NIBBLES`]) — nine lines, the rows' bytes.
const IQ4_NL_PAIR: usize = 2 * (Q8_0_SCALES + Q5_0_NIBBLES);
const _: () = assert!(IQ4_NL_PAIR.is_multiple_of(LINE) && (2 * Q8_0_SCALES).is_multiple_of(LINE));

/// Block `b`'s scales and nibbles in an IQ4_NL panel.
fn iq4_nl_at(b: usize) -> (usize, usize) {
    let (pair, h) = (IQ4_NL_PAIR * (b / 2), b % 2);
    (pair + Q8_0_SCALES * h, pair + 2 * Q8_0_SCALES + Q5_0_NIBBLES * h)
}

/// IQ4_NL in panels: per pair of blocks the sixteen f16 scales of each, then each block's
/// nibbles (Q5_0's lanes). A block's codes are looked up in the table plus 128 (`vpshufb`: an
/// unsigned byte for `vpdpbusd`) and multiplied as Q8_0's are, the `+128` taken back by starting
/// each block's sum at `−128 · Σ a`, in the order of `kernels_avx2::dot_iq4_nl`.
#[derive(Debug)]
pub(crate) struct IQ4NLLayout;

impl PanelLayout for IQ4NLLayout {
    type Block = crate::formats::BlockIQ4NL;
    /// The activations and each block's `−128 · Σ codes`.
    type Prepared = (Vec<Q8_0>, Vec<i32>);
    const ROW_BLOCK: usize = IQ4_NL_BLOCK;
    const PANEL_BLOCK: usize = Q8_0_SCALES + Q5_0_NIBBLES;

    fn panel_bytes(blocks: usize) -> usize {
        blocks.div_ceil(2) * IQ4_NL_PAIR
    }

    fn place(block: &[u8], b: usize, _: usize, r: usize, panel: &mut [u8]) {
        let (scales_at, nibbles_at) = iq4_nl_at(b);
        panel[scales_at + 2 * r..scales_at + 2 * r + 2].copy_from_slice(&block[..2]);
        place_nibble_lanes(&block[2..18], r, &mut panel[nibbles_at..nibbles_at + Q5_0_NIBBLES]);
    }

    unpacked_panel_kernels!(crate::formats::BlockIQ4NL, 128);
}

impl Unpacked for IQ4NLLayout {
    unsafe fn unpack(panel: &[u8], b: usize) -> (std::arch::x86_64::__m512, [std::arch::x86_64::__m512i; 8]) {
        // SAFETY: forwarded to the caller.
        unsafe { nibble_block::<true>(panel, b) }
    }
}

/// Block `b` of a Q4_0 or IQ4_NL panel (IQ4_NL's layout): its weight scales and its nibbles as
/// Q8_0's eight groups of codes — for IQ4_NL (`TABLE`) looked up in the table plus 128.
///
/// # Safety
/// AVX-512 F/BW and F16C; `panel` holds more than `b` blocks of that layout.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn nibble_block<const TABLE: bool>(
    panel: &[u8],
    b: usize,
) -> (std::arch::x86_64::__m512, [std::arch::x86_64::__m512i; 8]) {
    use std::arch::x86_64::*;
    let (scales_at, nibbles_at) = iq4_nl_at(b);
    let (low4, table) = (_mm512_set1_epi8(0x0F), iq4_table_plus_128());
    let code = |n: __m512i| if TABLE { _mm512_shuffle_epi8(table, n) } else { n };
    // SAFETY: block `b`'s scales and nibbles lie within `panel` (the caller's promise).
    unsafe {
        let d = _mm512_cvtph_ps(_mm256_loadu_si256(panel.as_ptr().add(scales_at).cast()));
        let nibbles = panel.as_ptr().add(nibbles_at);
        let mut codes = [_mm512_setzero_si512(); 8];
        for k in 0..4 {
            let raw = _mm512_loadu_si512(nibbles.add(64 * k).cast());
            codes[k] = code(_mm512_and_si512(raw, low4));
            codes[k + 4] = code(_mm512_and_si512(_mm512_srli_epi16::<4>(raw), low4));
        }
        (d, codes)
    }
}

/// The IQ4 table plus 128 (unsigned bytes, `vpdpbusd`'s first operand) in all four 128-bit lanes,
/// for `vpshufb` lookups by nibble.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")]
fn iq4_table_plus_128() -> std::arch::x86_64::__m512i {
    let bytes: [u8; 16] = std::array::from_fn(|i| (crate::blocks::IQ4_VALUES[i] as u8) ^ 0x80);
    // SAFETY: 16 readable bytes; unaligned load.
    let lane = unsafe { std::arch::x86_64::_mm_loadu_si128(bytes.as_ptr().cast()) };
    std::arch::x86_64::_mm512_broadcast_i32x4(lane)
}

/// Tokens a 32-value panel kernel call (Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL) accumulates at once:
/// each block is unpacked once for all of them (their sums live in an 8 KiB array).
const BLOCK_TOKENS: usize = 16;

/// Block `b` of a Q5_0 panel: its sixteen weight scales and its 32 codes of sixteen rows as
/// eight groups of four (unsigned bytes, as `vpdpbusd` takes them).
///
/// # Safety
/// AVX-512 F/BW and F16C; `panel` holds more than `b` blocks laid out as [`Q5_0Layout`] says.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn q5_0_unpack(panel: &[u8], b: usize) -> (std::arch::x86_64::__m512, [std::arch::x86_64::__m512i; 8]) {
    use std::arch::x86_64::*;
    let (scales_at, masks_at, nibbles_at) = q5_0_at(b);
    let (low4, sixteen) = (_mm512_set1_epi8(0x0F), _mm512_set1_epi8(16));
    // SAFETY: block `b`'s scales, masks and nibbles lie within `panel` (the caller's promise).
    unsafe {
        let d = _mm512_cvtph_ps(_mm256_loadu_si256(panel.as_ptr().add(scales_at).cast()));
        let masks = panel.as_ptr().add(masks_at);
        let nibbles = panel.as_ptr().add(nibbles_at);
        let mut codes = [_mm512_setzero_si512(); 8];
        for k in 0..4 {
            let raw = _mm512_loadu_si512(nibbles.add(64 * k).cast());
            let (lo, hi) = (_mm512_and_si512(raw, low4), _mm512_and_si512(_mm512_srli_epi16::<4>(raw), low4));
            let mask = |g: usize| masks.add(8 * g).cast::<u64>().read_unaligned();
            codes[k] = _mm512_mask_add_epi8(lo, mask(k), lo, sixteen);
            codes[k + 4] = _mm512_mask_add_epi8(hi, mask(k + 4), hi, sixteen);
        }
        (d, codes)
    }
}

/// One token's product with one Q8_0 or Q5_0 panel block (its sixteen f16 weight scales as
/// f32, its codes as eight groups of four unsigned bytes): `d_w · d_a` and the sixteen rows'
/// integer sums from `offset` (`−128 · Σ a` or `−16 · Σ a`), converted — eight `vpdpbusd` in
/// two chains of four, for latency.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")]
fn block_product(
    d: std::arch::x86_64::__m512,
    codes: &[std::arch::x86_64::__m512i; 8],
    y: &Q8_0,
    offset: i32,
) -> (std::arch::x86_64::__m512, std::arch::x86_64::__m512) {
    codes_product(d, codes, y.d, &y.qs, offset)
}

/// [`block_product`] on an activation block's scale `yd` and codes `qs` (Q8_0's or Q8_1's).
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")]
fn codes_product(
    d: std::arch::x86_64::__m512,
    codes: &[std::arch::x86_64::__m512i; 8],
    yd: f32,
    qs: &[i8; 32],
    offset: i32,
) -> (std::arch::x86_64::__m512, std::arch::x86_64::__m512) {
    use std::arch::x86_64::*;
    let mut s = [_mm512_set1_epi32(offset), _mm512_setzero_si512()];
    for (g, code) in codes.iter().enumerate() {
        let a = &qs[4 * g..4 * g + 4];
        let a = _mm512_set1_epi32(i32::from_le_bytes([a[0] as u8, a[1] as u8, a[2] as u8, a[3] as u8]));
        s[g / 4] = _mm512_dpbusd_epi32(s[g / 4], *code, a);
    }
    (_mm512_mul_ps(d, _mm512_set1_ps(yd)), _mm512_cvtepi32_ps(_mm512_add_epi32(s[0], s[1])))
}

/// `hsum_ps`'s closing additions of eight accumulators, sixteen rows at a time, into `out`.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")]
fn close_eight(acc: &[std::arch::x86_64::__m512; 8], out: &mut [f32]) {
    let total = closed_eight(acc);
    let out = &mut out[..PANEL_ROWS];
    // SAFETY: `out` holds 16 f32s.
    unsafe { std::arch::x86_64::_mm512_storeu_ps(out.as_mut_ptr(), total) };
}

/// `hsum_ps`'s closing additions of eight accumulators, sixteen rows at a time.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")]
fn closed_eight(acc: &[std::arch::x86_64::__m512; 8]) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    let u: [__m512; 4] = std::array::from_fn(|i| _mm512_add_ps(acc[i], acc[i + 4]));
    _mm512_add_ps(_mm512_add_ps(u[0], u[2]), _mm512_add_ps(u[1], u[3]))
}

/// One Q4_0, Q5_0 or IQ4_NL panel against one row of activations (decoding), the accumulators in
/// registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")]
fn unpacked_panel_one_vnni<L: Unpacked>(
    panel: &[u8],
    blocks: usize,
    (act, offsets): &(Vec<Q8_0>, Vec<i32>),
    out: &mut [f32],
) {
    use std::arch::x86_64::*;
    assert!(panel.len() >= L::panel_bytes(blocks), "panel size");
    assert!(act.len() >= blocks && offsets.len() >= blocks, "activation blocks");
    let mut acc = [_mm512_setzero_ps(); 8];
    for g in 0..blocks / 8 {
        for (k, a) in acc.iter_mut().enumerate() {
            let b = 8 * g + k;
            // SAFETY: AVX-512 (this function's features); `b < blocks` and the panel's size
            // was checked above.
            let (d, codes) = unsafe { L::unpack(panel, b) };
            let (d, sum) = block_product(d, &codes, &act[b], offsets[b]);
            *a = _mm512_fmadd_ps(d, sum, *a);
        }
    }
    for (k, a) in acc.iter_mut().enumerate().take(blocks % 8) {
        let b = blocks / 8 * 8 + k;
        // SAFETY: as above.
        let (d, codes) = unsafe { L::unpack(panel, b) };
        let (d, sum) = block_product(d, &codes, &act[b], offsets[b]);
        *a = _mm512_fmadd_ps(d, sum, *a);
    }
    close_eight(&acc, out);
}

/// One Q4_0, Q5_0 or IQ4_NL panel against any number of rows of activations, sixteen at a time: each
/// block's codes are unpacked once and multiplied by every token's activations, each token's
/// sums in [`unpacked_panel_one_vnni`]'s order (block `i` into accumulator `i mod 8`, the same
/// closing).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")]
fn unpacked_panel_vnni<L: Unpacked>(
    panel: &[u8],
    blocks: usize,
    acts: &[(Vec<Q8_0>, Vec<i32>)],
    out: &mut [f32],
    stride: usize,
) {
    use std::arch::x86_64::*;
    assert!(panel.len() >= L::panel_bytes(blocks), "panel size");
    assert!(acts.iter().all(|a| a.0.len() >= blocks && a.1.len() >= blocks), "activation blocks");
    for (chunk, acts) in acts.chunks(BLOCK_TOKENS).enumerate() {
        let mut acc = [[_mm512_setzero_ps(); 8]; BLOCK_TOKENS];
        for b in 0..blocks {
            // SAFETY: AVX-512 (this function's features); `b < blocks` and the panel's size
            // was checked above.
            let (d, codes) = unsafe { L::unpack(panel, b) };
            for (acc, (y, offsets)) in acc.iter_mut().zip(acts) {
                let (d, sum) = block_product(d, &codes, &y[b], offsets[b]);
                acc[b % 8] = _mm512_fmadd_ps(d, sum, acc[b % 8]);
            }
        }
        for (t, acc) in acc.iter().take(acts.len()).enumerate() {
            close_eight(acc, &mut out[(chunk * BLOCK_TOKENS + t) * stride..]);
        }
    }
}

/// The activation and kernel methods of a super-block layout read with Q8_K activations:
/// `$one(panel, act, out)` for one token, `$tokens(panel, acts, out, stride)` for a prompt.
macro_rules! q8k_panel_methods {
    ($block:ty, $one:expr, $tokens:expr) => {
        fn prepare(x: &[f32]) -> Self::Prepared {
            <$block>::quantize_activations(x)
        }

        fn acts(p: &Self::Prepared) -> &[Q8KBlock] {
            p
        }

        unsafe fn dot_panel(panel: &[u8], _: usize, act: &Self::Prepared, out: &mut [f32]) {
            // SAFETY: forwarded to the caller (AVX-512 VNNI present).
            unsafe { $one(panel, act, out) }
        }

        unsafe fn dot_panel_tokens(panel: &[u8], _: usize, acts: &[Self::Prepared], out: &mut [f32], stride: usize) {
            // SAFETY: forwarded to the caller (AVX-512 VNNI present).
            unsafe { $tokens(panel, acts, out, stride) }
        }
    };
}

/// Bytes of one Q4_K super-block (ggml's `block_q4_K`).
const Q4K_BLOCK: usize = 144;
/// One super-block of a Q4_K panel: 16 `d`, 16 `dmin` (f16), the eight sub-block scales and
/// minimums of each row unpacked to bytes (`[sub-block][row]`), then the nibble bytes: for each
/// group `g` of 64 values and lane `j` of four, the sixteen rows' bytes `32 g + 4 j ..+ 4` (low
/// nibbles sub-block `2 g`, high nibbles `2 g + 1`: ggml's packing, kept).
const Q4K_PANEL_BLOCK: usize = 4 * PANEL_ROWS + 16 * PANEL_ROWS + 128 * PANEL_ROWS;
const Q4K_CODES: usize = 4 * PANEL_ROWS + 16 * PANEL_ROWS;

/// Bytes of one Q5_K super-block (ggml's `block_q5_K`).
const Q5K_BLOCK: usize = 176;
/// One super-block of a Q5_K panel: Q4_K's header, then per group `g` of 64 values Q4_K's
/// nibble bytes followed by the group's fifth bits as 64-bit byte masks, one per sub-block
/// `2 g + h` and lane `j` (row `r`, code `i` of the lane at bit `4 r + i`): 180 bytes per row
/// against 176. The masks sit right after the codes they belong to: read from a region of
/// their own, 2 KB ahead of the codes, they halved the speed of a product streamed from memory.
const Q5K_PANEL_BLOCK: usize = Q4K_CODES + 4 * Q5K_GROUP;
/// A Q5_K panel group: 512 bytes of nibbles, 128 of masks.
const Q5K_GROUP: usize = Q4K_GROUP + 2 * 8 * 8;
/// A Q4_K panel group of 64 values: 512 bytes of nibbles.
const Q4K_GROUP: usize = 8 * 4 * PANEL_ROWS;

/// Copies row `r`'s Q4_K or Q5_K super-block into its panel `slot`: `qs_at` is where the
/// block's nibbles start, `qh` its fifth bits (Q5_K only), `group` the bytes per group of 64
/// values in the panel.
fn place_k4(block: &[u8], qs_at: usize, qh: Option<&[u8]>, group: usize, r: usize, slot: &mut [u8]) {
    slot[2 * r..2 * r + 2].copy_from_slice(&block[0..2]);
    slot[2 * PANEL_ROWS + 2 * r..2 * PANEL_ROWS + 2 * r + 2].copy_from_slice(&block[2..4]);
    for sub in 0..8 {
        let (scale, min) = crate::blocks::scale_min_k4(sub, &block[4..16]);
        slot[4 * PANEL_ROWS + sub * PANEL_ROWS + r] = scale;
        slot[12 * PANEL_ROWS + sub * PANEL_ROWS + r] = min;
    }
    for g in 0..4 {
        for j in 0..8 {
            let to = Q4K_CODES + g * group + j * 4 * PANEL_ROWS + 4 * r;
            let from = qs_at + 32 * g + 4 * j;
            slot[to..to + 4].copy_from_slice(&block[from..from + 4]);
        }
    }
    if let Some(qh) = qh {
        for sub in 0..8 {
            for j in 0..8 {
                let (g, h) = (sub / 2, sub % 2);
                let mask = &mut slot[Q4K_CODES + g * group + Q4K_GROUP + 8 * (8 * h + j)..][..8];
                for i in 0..4 {
                    if qh[4 * j + i] >> sub & 1 == 1 {
                        mask[(4 * r + i) / 8] |= 1 << ((4 * r + i) % 8);
                    }
                }
            }
        }
    }
}

/// Q4_K in panels (see [`Panels`]).
///
/// The row kernel (`dot_q4_k`) keeps eight lanes per row, lane `j` summing, over the eight
/// sub-blocks, the sub-block's scale times the products of its values `4 j ..+ 4` (integers,
/// exact in any order), then one FMA per lane and super-block in order, the minimums apart in
/// one f32 sum; the panel kernel computes the same lanes for sixteen rows at once.
#[derive(Debug)]
pub(crate) struct Q4KLayout;

impl PanelLayout for Q4KLayout {
    type Block = BlockQ4K;
    type Prepared = Vec<Q8KBlock>;
    const ROW_BLOCK: usize = Q4K_BLOCK;
    const PANEL_BLOCK: usize = Q4K_PANEL_BLOCK;

    fn place(block: &[u8], b: usize, _: usize, r: usize, panel: &mut [u8]) {
        place_k4(block, 16, None, Q4K_GROUP, r, &mut panel[b * Q4K_PANEL_BLOCK..(b + 1) * Q4K_PANEL_BLOCK]);
    }

    q8k_panel_methods!(
        BlockQ4K,
        dot_q4k_panel_vnni::<false, Q4K_PANEL_BLOCK, Q4K_GROUP>,
        q4k_panel_tokens_vnni::<false, Q4K_PANEL_BLOCK, Q4K_GROUP>
    );
}

/// Q5_K in panels: Q4_K's layout and kernel, each code's fifth bit added by a masked byte add
/// (see [`Q5K_PANEL_BLOCK`]); the row kernel (`dot_q5_k`) has the same order as Q4_K's.
#[derive(Debug)]
pub(crate) struct Q5KLayout;

impl PanelLayout for Q5KLayout {
    type Block = BlockQ5K;
    type Prepared = Vec<Q8KBlock>;
    const ROW_BLOCK: usize = Q5K_BLOCK;
    const PANEL_BLOCK: usize = Q5K_PANEL_BLOCK;

    fn place(block: &[u8], b: usize, _: usize, r: usize, panel: &mut [u8]) {
        let slot = &mut panel[b * Q5K_PANEL_BLOCK..(b + 1) * Q5K_PANEL_BLOCK];
        place_k4(block, 48, Some(&block[16..48]), Q5K_GROUP, r, slot);
    }

    q8k_panel_methods!(
        BlockQ5K,
        dot_q4k_panel_vnni::<true, Q5K_PANEL_BLOCK, Q5K_GROUP>,
        q4k_panel_tokens_vnni::<true, Q5K_PANEL_BLOCK, Q5K_GROUP>
    );
}

/// One Q4_K panel against one row of activations, in `dot_q4_k`'s order (see [`Q4KLayout`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")]
fn dot_q4k_panel_vnni<const FIFTH: bool, const BLOCK: usize, const GROUP: usize>(
    panel: &[u8],
    act: &[Q8KBlock],
    out: &mut [f32],
) {
    use std::arch::x86_64::*;
    let (low4, sixteen) = (_mm512_set1_epi8(0x0F), _mm512_set1_epi8(16));
    let mut acc = _mm512_setzero_ps();
    let mut mins = _mm512_setzero_ps();
    for (slot, y) in panel.chunks_exact(BLOCK).zip(act) {
        let p = slot.as_ptr();
        // SAFETY: `slot` is BLOCK bytes, laid out as `Q4K_PANEL_BLOCK` (and for Q5_K
        // `Q5K_PANEL_BLOCK`) describes.
        unsafe {
            let dy = _mm512_set1_ps(y.d);
            let d = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256(p.cast())), dy);
            let dmin = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256(p.add(2 * PANEL_ROWS).cast())), dy);
            let byte_row = |at: usize| _mm512_cvtepu8_epi32(_mm_loadu_si128(p.add(at).cast()));
            // Σ minimum · (sum of the sub-block's activation codes), an integer per row.
            let mut msum = _mm512_setzero_si512();
            for sub in 0..8 {
                let bsum = y.bsums[2 * sub] as i32 + y.bsums[2 * sub + 1] as i32;
                let m = byte_row(12 * PANEL_ROWS + sub * PANEL_ROWS);
                msum = _mm512_add_epi32(msum, _mm512_mullo_epi32(m, _mm512_set1_epi32(bsum)));
            }
            // The super-block's whole sum per row: each sub-block's products summed by
            // `vpdpbusd` (two chains per sub-block), then scaled once.
            let mut isum = _mm512_setzero_si512();
            for g in 0..4 {
                let scale_lo = byte_row(4 * PANEL_ROWS + 2 * g * PANEL_ROWS);
                let scale_hi = byte_row(4 * PANEL_ROWS + (2 * g + 1) * PANEL_ROWS);
                let (mut p_lo, mut p_hi) = ([_mm512_setzero_si512(); 2], [_mm512_setzero_si512(); 2]);
                for j in 0..8 {
                    let w = _mm512_loadu_si512(p.add(Q4K_CODES + g * GROUP + j * 4 * PANEL_ROWS).cast());
                    let mut lo = _mm512_and_si512(w, low4);
                    let mut hi = _mm512_and_si512(_mm512_srli_epi16::<4>(w), low4);
                    if FIFTH {
                        let masks = p.add(Q4K_CODES + g * GROUP + Q4K_GROUP);
                        let mask = |h: usize| masks.add(8 * (8 * h + j)).cast::<u64>().read_unaligned();
                        lo = _mm512_mask_add_epi8(lo, mask(0), lo, sixteen);
                        hi = _mm512_mask_add_epi8(hi, mask(1), hi, sixteen);
                    }
                    let four = |at: usize| {
                        let q = &y.qs[at..at + 4];
                        _mm512_set1_epi32(i32::from_le_bytes([q[0] as u8, q[1] as u8, q[2] as u8, q[3] as u8]))
                    };
                    p_lo[j % 2] = _mm512_dpbusd_epi32(p_lo[j % 2], lo, four(64 * g + 4 * j));
                    p_hi[j % 2] = _mm512_dpbusd_epi32(p_hi[j % 2], hi, four(64 * g + 32 + 4 * j));
                }
                let p_lo = _mm512_mullo_epi32(_mm512_add_epi32(p_lo[0], p_lo[1]), scale_lo);
                let p_hi = _mm512_mullo_epi32(_mm512_add_epi32(p_hi[0], p_hi[1]), scale_hi);
                isum = _mm512_add_epi32(isum, _mm512_add_epi32(p_lo, p_hi));
            }
            acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(isum), acc);
            // `mins += dmin·y.d · msum`, as the row kernel's scalar sum.
            mins = _mm512_add_ps(mins, _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(msum)));
        }
    }
    let total = _mm512_sub_ps(acc, mins);
    assert!(out.len() >= PANEL_ROWS);
    // SAFETY: `out` holds at least 16 f32s (asserted).
    unsafe { _mm512_storeu_ps(out.as_mut_ptr(), total) };
}

/// Tokens a K-quant panel kernel call accumulates at once: each half-group's codes are
/// unpacked once into eight registers and multiplied by every token's activations, whose sums
/// stay in registers too.
const K_TOKENS: usize = 8;

/// Four activation codes `at ..+ 4` of `y` in every 32-bit lane (`vpdpbusd`'s second operand).
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")]
fn four_codes(y: &Q8KBlock, at: usize) -> std::arch::x86_64::__m512i {
    let q = &y.qs[at..at + 4];
    std::arch::x86_64::_mm512_set1_epi32(i32::from_le_bytes([q[0] as u8, q[1] as u8, q[2] as u8, q[3] as u8]))
}

/// One Q4_K (or Q5_K) panel against any number of rows of activations, [`K_TOKENS`] at a time:
/// each half-group of 32 values is unpacked once for all of them; each token's sums are the
/// integers of [`dot_q4k_panel_vnni`], scaled and added in its order (the same bits).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")]
fn q4k_panel_tokens_vnni<const FIFTH: bool, const BLOCK: usize, const GROUP: usize>(
    panel: &[u8],
    acts: &[Vec<Q8KBlock>],
    out: &mut [f32],
    stride: usize,
) {
    use std::arch::x86_64::*;
    let (low4, sixteen) = (_mm512_set1_epi8(0x0F), _mm512_set1_epi8(16));
    let blocks = panel.len() / BLOCK;
    assert!(acts.iter().all(|a| a.len() >= blocks), "activation blocks");
    for (chunk, acts) in acts.chunks(K_TOKENS).enumerate() {
        let mut acc = [_mm512_setzero_ps(); K_TOKENS];
        let mut mins = [_mm512_setzero_ps(); K_TOKENS];
        for (b, slot) in panel.chunks_exact(BLOCK).enumerate() {
            let p = slot.as_ptr();
            // SAFETY: `slot` is BLOCK bytes, laid out as `Q4K_PANEL_BLOCK` (and for Q5_K
            // `Q5K_PANEL_BLOCK`) describes.
            unsafe {
                let byte_row = |at: usize| _mm512_cvtepu8_epi32(_mm_loadu_si128(p.add(at).cast()));
                let mut isum = [_mm512_setzero_si512(); K_TOKENS];
                for g in 0..4 {
                    for h in 0..2 {
                        let scale = byte_row(4 * PANEL_ROWS + (2 * g + h) * PANEL_ROWS);
                        let codes: [__m512i; 8] = std::array::from_fn(|j| {
                            let w = _mm512_loadu_si512(p.add(Q4K_CODES + g * GROUP + j * 4 * PANEL_ROWS).cast());
                            let mut q = if h == 0 { w } else { _mm512_srli_epi16::<4>(w) };
                            q = _mm512_and_si512(q, low4);
                            if FIFTH {
                                let masks = p.add(Q4K_CODES + g * GROUP + Q4K_GROUP);
                                let mask = masks.add(8 * (8 * h + j)).cast::<u64>().read_unaligned();
                                q = _mm512_mask_add_epi8(q, mask, q, sixteen);
                            }
                            q
                        });
                        for (sum, y) in isum.iter_mut().zip(acts) {
                            let y = &y[b];
                            let mut chains = [_mm512_setzero_si512(); 2];
                            for (j, q) in codes.iter().enumerate() {
                                chains[j % 2] =
                                    _mm512_dpbusd_epi32(chains[j % 2], *q, four_codes(y, 64 * g + 32 * h + 4 * j));
                            }
                            let products = _mm512_mullo_epi32(_mm512_add_epi32(chains[0], chains[1]), scale);
                            *sum = _mm512_add_epi32(*sum, products);
                        }
                    }
                }
                let dw = _mm512_cvtph_ps(_mm256_loadu_si256(p.cast()));
                let dminw = _mm512_cvtph_ps(_mm256_loadu_si256(p.add(2 * PANEL_ROWS).cast()));
                let pairs = scale_pairs::<false, 4>(p, 12 * PANEL_ROWS);
                for (t, y) in acts.iter().enumerate() {
                    let y = &y[b];
                    let dy = _mm512_set1_ps(y.d);
                    // Σ minimum · (sum of the sub-block's 32 activation codes: at most 4,064,
                    // an i16), an integer per row.
                    let mut msum = _mm512_setzero_si512();
                    for (k, pair) in pairs.iter().enumerate() {
                        let bsum = |sub: usize| (y.bsums[2 * sub] + y.bsums[2 * sub + 1]) as u16 as u32;
                        let sums = (bsum(2 * k) | bsum(2 * k + 1) << 16) as i32;
                        msum = _mm512_dpwssd_epi32(msum, *pair, _mm512_set1_epi32(sums));
                    }
                    acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(dw, dy), _mm512_cvtepi32_ps(isum[t]), acc[t]);
                    mins[t] = _mm512_add_ps(mins[t], _mm512_mul_ps(_mm512_mul_ps(dminw, dy), _mm512_cvtepi32_ps(msum)));
                }
            }
        }
        for t in 0..acts.len() {
            let out = &mut out[(chunk * K_TOKENS + t) * stride..][..PANEL_ROWS];
            // SAFETY: `out` holds 16 f32s.
            unsafe { _mm512_storeu_ps(out.as_mut_ptr(), _mm512_sub_ps(acc[t], mins[t])) };
        }
    }
}

/// Bytes of one Q6_K super-block (ggml's `block_q6_K`).
const Q6K_BLOCK: usize = 210;
/// One super-block of a Q6_K panel: 16 `d` (f16), the sixteen i8 sub-block scales of each row
/// (`[sub-block][row]`), then per half `h` and lane `j` of four codes the sixteen rows' bytes
/// `64 h + 4 j ..+ 4` of `ql`, `64 h + 32 + 4 j ..+ 4` of `ql` and `4 j ..+ 4` of the half's
/// `qh` (ggml's 6-bit packing kept), the codes starting on a cache line after 32 bytes of
/// padding: 1 % more bytes than the rows, and no load of codes across two lines.
const Q6K_PANEL_BLOCK: usize = Q6K_CODES + 192 * PANEL_ROWS;
const Q6K_CODES: usize = (2 * PANEL_ROWS + 16 * PANEL_ROWS).next_multiple_of(LINE);

// Every 512-bit load of codes in a Q4_K or Q6_K panel block starts on a cache line.
const _: () = assert!(Q4K_PANEL_BLOCK.is_multiple_of(LINE) && Q4K_CODES.is_multiple_of(LINE));
const _: () = assert!(Q5K_PANEL_BLOCK.is_multiple_of(LINE) && Q5K_GROUP.is_multiple_of(LINE));
// Q8_0's and Q5_0's pairs of blocks are whole lines too, their codes after one line of scales.
const _: () = assert!(Q8_0_PAIR.is_multiple_of(LINE) && (2 * Q8_0_SCALES).is_multiple_of(LINE));
const _: () = assert!(Q5_0_PAIR.is_multiple_of(LINE) && (2 * (Q8_0_SCALES + Q5_0_MASKS)).is_multiple_of(LINE));
const _: () = assert!(Q4K_PANEL_BLOCK == Q4K_CODES + 4 * Q4K_GROUP);
const _: () = assert!(Q6K_PANEL_BLOCK.is_multiple_of(LINE) && Q6K_CODES.is_multiple_of(LINE));

/// Q6_K in panels (see [`Panels`]).
///
/// The row kernel (`dot_q6_k`) keeps eight lanes per row, lane `j` of each 32-code quarter
/// adding its sub-block's scale times the products of codes `4 j ..+ 4` (integers), then one
/// FMA per lane and super-block, the `−32` offsets apart in one f32 sum; the panel kernel
/// computes the same lanes for sixteen rows at once.
#[derive(Debug)]
pub(crate) struct Q6KLayout;

impl PanelLayout for Q6KLayout {
    type Block = BlockQ6K;
    type Prepared = Vec<Q8KBlock>;
    const ROW_BLOCK: usize = Q6K_BLOCK;
    const PANEL_BLOCK: usize = Q6K_PANEL_BLOCK;

    fn place(block: &[u8], b: usize, _: usize, r: usize, panel: &mut [u8]) {
        let slot = &mut panel[b * Q6K_PANEL_BLOCK..(b + 1) * Q6K_PANEL_BLOCK];
        slot[2 * r..2 * r + 2].copy_from_slice(&block[208..210]);
        for sub in 0..16 {
            slot[2 * PANEL_ROWS + sub * PANEL_ROWS + r] = block[192 + sub];
        }
        for h in 0..2 {
            for j in 0..8 {
                let group = Q6K_CODES + (8 * h + j) * 12 * PANEL_ROWS;
                for (k, from) in [64 * h + 4 * j, 64 * h + 32 + 4 * j, 128 + 32 * h + 4 * j].into_iter().enumerate() {
                    let to = group + k * 4 * PANEL_ROWS + 4 * r;
                    slot[to..to + 4].copy_from_slice(&block[from..from + 4]);
                }
            }
        }
    }

    q8k_panel_methods!(BlockQ6K, dot_q6k_panel_vnni, q6k_panel_tokens_vnni);
}

/// One Q6_K panel against one row of activations, in `dot_q6_k`'s order (see [`Q6KLayout`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")]
fn dot_q6k_panel_vnni(panel: &[u8], act: &[Q8KBlock], out: &mut [f32]) {
    use std::arch::x86_64::*;
    let (low4, three) = (_mm512_set1_epi8(0x0F), _mm512_set1_epi8(3));
    let mut acc = _mm512_setzero_ps();
    let mut offsets = _mm512_setzero_ps();
    for (slot, y) in panel.chunks_exact(Q6K_PANEL_BLOCK).zip(act) {
        let p = slot.as_ptr();
        // SAFETY: `slot` is Q6K_PANEL_BLOCK bytes, laid out as `Q6K_PANEL_BLOCK` describes.
        unsafe {
            let d = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256(p.cast())), _mm512_set1_ps(y.d));
            let scale =
                |sub: usize| _mm512_cvtepi8_epi32(_mm_loadu_si128(p.add(2 * PANEL_ROWS + sub * PANEL_ROWS).cast()));
            // Σ scale · (sum of the sub-block's activation codes), an integer per row.
            let mut offset = _mm512_setzero_si512();
            for sub in 0..16 {
                offset =
                    _mm512_add_epi32(offset, _mm512_mullo_epi32(scale(sub), _mm512_set1_epi32(y.bsums[sub] as i32)));
            }
            // Per row, each sub-block's products (sixteen codes: lanes `j` 0–3 or 4–7 of a
            // quarter) summed by `vpdpbusd`, then scaled once into the super-block's whole sum.
            let mut isum = _mm512_setzero_si512();
            for h in 0..2 {
                let scales: [__m512i; 8] = std::array::from_fn(|k| scale(8 * h + k));
                let mut sub = [_mm512_setzero_si512(); 8];
                for j in 0..8 {
                    let group = p.add(Q6K_CODES + (8 * h + j) * 12 * PANEL_ROWS);
                    let ql0 = _mm512_loadu_si512(group.cast());
                    let ql1 = _mm512_loadu_si512(group.add(4 * PANEL_ROWS).cast());
                    let qh = _mm512_loadu_si512(group.add(8 * PANEL_ROWS).cast());
                    let high = |bits: __m512i| _mm512_slli_epi16::<4>(_mm512_and_si512(bits, three));
                    let quarters = [
                        _mm512_or_si512(_mm512_and_si512(ql0, low4), high(qh)),
                        _mm512_or_si512(_mm512_and_si512(ql1, low4), high(_mm512_srli_epi16::<2>(qh))),
                        _mm512_or_si512(
                            _mm512_and_si512(_mm512_srli_epi16::<4>(ql0), low4),
                            high(_mm512_srli_epi16::<4>(qh)),
                        ),
                        _mm512_or_si512(
                            _mm512_and_si512(_mm512_srli_epi16::<4>(ql1), low4),
                            high(_mm512_srli_epi16::<6>(qh)),
                        ),
                    ];
                    for (quarter, q) in quarters.into_iter().enumerate() {
                        let at = 128 * h + 32 * quarter + 4 * j;
                        let a = &y.qs[at..at + 4];
                        let a = _mm512_set1_epi32(i32::from_le_bytes([a[0] as u8, a[1] as u8, a[2] as u8, a[3] as u8]));
                        let k = 2 * quarter + j / 4;
                        sub[k] = _mm512_dpbusd_epi32(sub[k], q, a);
                    }
                }
                for (sum, scale) in sub.iter().zip(&scales) {
                    isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(*sum, *scale));
                }
            }
            acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(isum), acc);
            // `offsets += d · (32 · offset)`, as the row kernel's scalar sum.
            offsets = _mm512_add_ps(offsets, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_slli_epi32::<5>(offset))));
        }
    }
    let total = _mm512_sub_ps(acc, offsets);
    assert!(out.len() >= PANEL_ROWS);
    // SAFETY: `out` holds at least 16 f32s (asserted).
    unsafe { _mm512_storeu_ps(out.as_mut_ptr(), total) };
}

/// Bytes of one Q2_K super-block (ggml's `block_q2_K`).
const Q2K_BLOCK: usize = 84;
/// Bytes of one Q3_K super-block (ggml's `block_q3_K`).
const Q3K_BLOCK: usize = 110;
/// The low two bits of one half (128 values) of a Q2_K or Q3_K panel block: for each lane `l`
/// of four values, the sixteen rows' bytes `32 h + 4 l ..+ 4` of `qs` (ggml's packing kept:
/// shifting by `2 j` gives the codes of values `128 h + 32 j + 4 l ..+ 4`). Eight 512-bit loads.
const K2_HALF_CODES: usize = 8 * 4 * PANEL_ROWS;
/// A Q3_K half's high bits: for each shift `j` and lane `l` a 64-bit mask over the code
/// vector's bytes (row `r`, code `i` at bit `4 r + i`).
const Q3K_HALF_MASKS: usize = 4 * 8 * 8;
/// One super-block of a Q2_K panel: 16 `d`, 16 `dmin` (f16), each sub-block's packed scale and
/// minimum byte of the sixteen rows (`[sub-block][row]`, as in the rows: scale in the low
/// nibble), then both halves' codes ([`K2_HALF_CODES`]) — 1,344 bytes, exactly the rows'.
const Q2K_PANEL_BLOCK: usize = Q2K_CODES + 2 * K2_HALF_CODES;
const Q2K_CODES: usize = Q2K_SCALES + 16 * PANEL_ROWS;
const Q2K_SCALES: usize = 4 * PANEL_ROWS;
/// One super-block of a Q3_K panel: 16 `d` (f16), the sixteen signed sub-block scales of each
/// row unpacked to bytes (`[sub-block][row]`), padding to a line, then per half its low two
/// bits as Q2_K's ([`K2_HALF_CODES`]) followed by its high bits ([`Q3K_HALF_MASKS`]), in the
/// order the kernel reads them (masks in a region of their own halved the speed of streaming
/// the panels from memory): 1,856 bytes against the rows' 1,760.
const Q3K_PANEL_BLOCK: usize = Q3K_CODES + 2 * Q3K_HALF;
const Q3K_CODES: usize = (2 * PANEL_ROWS + 16 * PANEL_ROWS).next_multiple_of(LINE);
const Q3K_HALF: usize = K2_HALF_CODES + Q3K_HALF_MASKS;

const _: () = assert!(Q2K_PANEL_BLOCK.is_multiple_of(LINE) && Q2K_CODES.is_multiple_of(LINE));
const _: () = assert!(Q3K_CODES.is_multiple_of(LINE) && Q3K_HALF.is_multiple_of(LINE));

/// Copies one row's `qs` (64 bytes of two-bit codes) into a Q2_K or Q3_K panel block's codes,
/// half `h`'s from `codes[h · half ..]`.
fn place_k2_codes(qs: &[u8], r: usize, half: usize, codes: &mut [u8]) {
    for h in 0..2 {
        for l in 0..8 {
            let to = h * half + l * 4 * PANEL_ROWS + 4 * r;
            codes[to..to + 4].copy_from_slice(&qs[32 * h + 4 * l..32 * h + 4 * l + 4]);
        }
    }
}

/// Q2_K in panels (see [`Panels`]).
///
/// The row kernel (`dot_q2_k`) sums a super-block's products times their sub-block scales as
/// one integer and adds it in Q8_0's order (super-block `i` into accumulator `i mod 8`, the
/// same closing), the minimums apart in one f32 sum; the panel kernel computes the same
/// integers for sixteen rows at once, each sub-block's sixteen products by four `vpdpbusd`
/// and one multiply by its scale.
#[derive(Debug)]
pub(crate) struct Q2KLayout;

impl PanelLayout for Q2KLayout {
    type Block = crate::formats::BlockQ2K;
    type Prepared = Vec<Q8KBlock>;
    const ROW_BLOCK: usize = Q2K_BLOCK;
    const PANEL_BLOCK: usize = Q2K_PANEL_BLOCK;

    fn place(block: &[u8], b: usize, _: usize, r: usize, panel: &mut [u8]) {
        let slot = &mut panel[b * Q2K_PANEL_BLOCK..(b + 1) * Q2K_PANEL_BLOCK];
        slot[2 * r..2 * r + 2].copy_from_slice(&block[80..82]);
        slot[2 * PANEL_ROWS + 2 * r..2 * PANEL_ROWS + 2 * r + 2].copy_from_slice(&block[82..84]);
        for sub in 0..16 {
            slot[Q2K_SCALES + sub * PANEL_ROWS + r] = block[sub];
        }
        place_k2_codes(&block[16..80], r, K2_HALF_CODES, &mut slot[Q2K_CODES..]);
    }

    q8k_panel_methods!(crate::formats::BlockQ2K, dot_k2_panel_vnni::<false>, k2_panel_tokens_vnni::<false>);
}

/// Q3_K in panels (see [`Panels`]): Q2_K's codes and kernel with each code's high bit added
/// by a masked byte add, signed scales, and `4 · Σ scale · Σ a` taken off as `dot_q3_k` does.
#[derive(Debug)]
pub(crate) struct Q3KLayout;

impl PanelLayout for Q3KLayout {
    type Block = crate::formats::BlockQ3K;
    type Prepared = Vec<Q8KBlock>;
    const ROW_BLOCK: usize = Q3K_BLOCK;
    const PANEL_BLOCK: usize = Q3K_PANEL_BLOCK;

    fn place(block: &[u8], b: usize, _: usize, r: usize, panel: &mut [u8]) {
        let slot = &mut panel[b * Q3K_PANEL_BLOCK..(b + 1) * Q3K_PANEL_BLOCK];
        slot[2 * r..2 * r + 2].copy_from_slice(&block[108..110]);
        for (sub, scale) in crate::blocks::q3_k_scales(&block[96..108]).into_iter().enumerate() {
            slot[2 * PANEL_ROWS + sub * PANEL_ROWS + r] = scale as u8;
        }
        let hmask = &block[0..32];
        for h in 0..2 {
            for j in 0..4 {
                for l in 0..8 {
                    let mask = &mut slot[Q3K_CODES + h * Q3K_HALF + K2_HALF_CODES + 8 * (8 * j + l)..][..8];
                    for i in 0..4 {
                        if hmask[4 * l + i] >> (4 * h + j) & 1 == 1 {
                            mask[(4 * r + i) / 8] |= 1 << ((4 * r + i) % 8);
                        }
                    }
                }
            }
        }
        place_k2_codes(&block[32..96], r, Q3K_HALF, &mut slot[Q3K_CODES..]);
    }

    q8k_panel_methods!(crate::formats::BlockQ3K, dot_k2_panel_vnni::<true>, k2_panel_tokens_vnni::<true>);
}

/// One Q2_K (`Q3 = false`) or Q3_K (`Q3 = true`) panel against one row of activations, in
/// `dot_q2_k`'s or `dot_q3_k`'s order (see [`Q2KLayout`], [`Q3KLayout`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")]
fn dot_k2_panel_vnni<const Q3: bool>(panel: &[u8], act: &[Q8KBlock], out: &mut [f32]) {
    use std::arch::x86_64::*;
    let (block, codes_at, half) =
        if Q3 { (Q3K_PANEL_BLOCK, Q3K_CODES, Q3K_HALF) } else { (Q2K_PANEL_BLOCK, Q2K_CODES, K2_HALF_CODES) };
    let (three, low4, four) = (_mm512_set1_epi8(3), _mm512_set1_epi32(0x0F), _mm512_set1_epi8(4));
    let mut acc = [_mm512_setzero_ps(); 8];
    let mut terms = _mm512_setzero_ps();
    for (i, (slot, y)) in panel.chunks_exact(block).zip(act).enumerate() {
        let p = slot.as_ptr();
        // SAFETY: `slot` is one panel block, laid out as `Q2K_PANEL_BLOCK` (or, for Q3_K,
        // `Q3K_PANEL_BLOCK`) describes.
        unsafe {
            let dy = _mm512_set1_ps(y.d);
            let d = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256(p.cast())), dy);
            // Sub-block scales, and Q2_K's minimums (the packed byte's high nibble).
            let byte_row = |sub: usize| {
                let at = if Q3 { 2 * PANEL_ROWS } else { Q2K_SCALES } + sub * PANEL_ROWS;
                let bytes = _mm_loadu_si128(p.add(at).cast());
                if Q3 { _mm512_cvtepi8_epi32(bytes) } else { _mm512_cvtepu8_epi32(bytes) }
            };
            let scale = |sub: usize| if Q3 { byte_row(sub) } else { _mm512_and_si512(byte_row(sub), low4) };
            // Σ minimum (Q2_K) or scale (Q3_K) · (sum of the sub-block's activation codes),
            // an integer per row.
            let mut tsum = _mm512_setzero_si512();
            for sub in 0..16 {
                let m = if Q3 { byte_row(sub) } else { _mm512_srli_epi32::<4>(byte_row(sub)) };
                tsum = _mm512_add_epi32(tsum, _mm512_mullo_epi32(m, _mm512_set1_epi32(y.bsums[sub] as i32)));
            }
            let mut isum = _mm512_setzero_si512();
            for h in 0..2 {
                let codes = p.add(codes_at + h * half);
                let raw: [__m512i; 8] =
                    std::array::from_fn(|l| _mm512_loadu_si512(codes.add(l * 4 * PANEL_ROWS).cast()));
                for j in 0..4 {
                    let shift = _mm_cvtsi32_si128(2 * j as i32);
                    let mut sums = [_mm512_setzero_si512(); 2];
                    for (l, raw) in raw.iter().enumerate() {
                        let mut q = _mm512_and_si512(_mm512_srl_epi16(*raw, shift), three);
                        if Q3 {
                            let mask = codes.add(K2_HALF_CODES + 8 * (8 * j + l)).cast::<u64>().read_unaligned();
                            q = _mm512_mask_add_epi8(q, mask, q, four);
                        }
                        let at = 128 * h + 32 * j + 4 * l;
                        let a = &y.qs[at..at + 4];
                        let a = _mm512_set1_epi32(i32::from_le_bytes([a[0] as u8, a[1] as u8, a[2] as u8, a[3] as u8]));
                        sums[l / 4] = _mm512_dpbusd_epi32(sums[l / 4], q, a);
                    }
                    let k = 8 * h + 2 * j;
                    isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(sums[0], scale(k)));
                    isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(sums[1], scale(k + 1)));
                }
            }
            acc[i % 8] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(isum), acc[i % 8]);
            terms = if Q3 {
                // `offsets += d · (4 · offset)`, as `dot_q3_k`'s scalar sum.
                _mm512_add_ps(terms, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_slli_epi32::<2>(tsum))))
            } else {
                // `mins += dmin · y.d · msum`, as `dot_q2_k`'s scalar sum.
                let dmin = _mm512_mul_ps(_mm512_cvtph_ps(_mm256_loadu_si256(p.add(2 * PANEL_ROWS).cast())), dy);
                _mm512_add_ps(terms, _mm512_mul_ps(dmin, _mm512_cvtepi32_ps(tsum)))
            };
        }
    }
    let total = _mm512_sub_ps(closed_eight(&acc), terms);
    assert!(out.len() >= PANEL_ROWS);
    // SAFETY: `out` holds at least 16 f32s (asserted).
    unsafe { _mm512_storeu_ps(out.as_mut_ptr(), total) };
}

/// Pairs of a K-quant panel block's `2 N` byte scales (`[sub-block][row]` from `at`; signed or
/// unsigned) as `vpdpwssd` takes them: vector `k` holds, for each row, scales `2 k` and
/// `2 k + 1` as two i16 — so `Σ scale · block sum` is `N` `vpdpwssd` per token instead of `2 N`
/// multiplies.
///
/// # Safety
/// AVX-512 F/BW; `p + at ..+ 32 N` is readable.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")]
unsafe fn scale_pairs<const SIGNED: bool, const N: usize>(p: *const u8, at: usize) -> [std::arch::x86_64::__m512i; N] {
    use std::arch::x86_64::*;
    std::array::from_fn(|k| {
        // SAFETY: rows `2 k` and `2 k + 1` of sixteen bytes lie in the caller's `32 N` bytes.
        let (even, odd) = unsafe {
            (
                _mm_loadu_si128(p.add(at + 2 * k * PANEL_ROWS).cast()),
                _mm_loadu_si128(p.add(at + (2 * k + 1) * PANEL_ROWS).cast()),
            )
        };
        let interleaved = _mm256_set_m128i(_mm_unpackhi_epi8(even, odd), _mm_unpacklo_epi8(even, odd));
        if SIGNED { _mm512_cvtepi8_epi16(interleaved) } else { _mm512_cvtepu8_epi16(interleaved) }
    })
}

/// One Q6_K panel against any number of rows of activations, [`K_TOKENS`] at a time: each
/// half's codes are assembled once per pair of quarters for all of them; each token's sums
/// are the integers of [`dot_q6k_panel_vnni`], scaled and added in its order (the same bits).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")]
fn q6k_panel_tokens_vnni(panel: &[u8], acts: &[Vec<Q8KBlock>], out: &mut [f32], stride: usize) {
    use std::arch::x86_64::*;
    let (low4, three) = (_mm512_set1_epi8(0x0F), _mm512_set1_epi8(3));
    let blocks = panel.len() / Q6K_PANEL_BLOCK;
    assert!(acts.iter().all(|a| a.len() >= blocks), "activation blocks");
    for (chunk, acts) in acts.chunks(K_TOKENS).enumerate() {
        let mut acc = [_mm512_setzero_ps(); K_TOKENS];
        let mut offsets = [_mm512_setzero_ps(); K_TOKENS];
        for (b, slot) in panel.chunks_exact(Q6K_PANEL_BLOCK).enumerate() {
            let p = slot.as_ptr();
            // SAFETY: `slot` is Q6K_PANEL_BLOCK bytes, laid out as `Q6K_PANEL_BLOCK` describes.
            unsafe {
                let scale =
                    |sub: usize| _mm512_cvtepi8_epi32(_mm_loadu_si128(p.add(2 * PANEL_ROWS + sub * PANEL_ROWS).cast()));
                let mut isum = [_mm512_setzero_si512(); K_TOKENS];
                for h in 0..2 {
                    for jh in 0..2 {
                        // Quarters (0, 1) use the low nibbles of `ql`, (2, 3) the high ones.
                        for qp in 0..2 {
                            let codes: [__m512i; 8] = std::array::from_fn(|i| {
                                let (j, q) = (4 * jh + i / 2, 2 * qp + i % 2);
                                let group = p.add(Q6K_CODES + (8 * h + j) * 12 * PANEL_ROWS);
                                let ql = _mm512_loadu_si512(group.add((q % 2) * 4 * PANEL_ROWS).cast());
                                let qh = _mm512_loadu_si512(group.add(8 * PANEL_ROWS).cast());
                                let low = if q < 2 { ql } else { _mm512_srli_epi16::<4>(ql) };
                                let high =
                                    _mm512_and_si512(_mm512_srl_epi16(qh, _mm_cvtsi32_si128(2 * q as i32)), three);
                                _mm512_or_si512(_mm512_and_si512(low, low4), _mm512_slli_epi16::<4>(high))
                            });
                            let scales = [scale(8 * h + 2 * (2 * qp) + jh), scale(8 * h + 2 * (2 * qp + 1) + jh)];
                            for (sum, y) in isum.iter_mut().zip(acts) {
                                let y = &y[b];
                                let mut quarters = [_mm512_setzero_si512(); 2];
                                for (i, c) in codes.iter().enumerate() {
                                    let (j, q) = (4 * jh + i / 2, 2 * qp + i % 2);
                                    let a = four_codes(y, 128 * h + 32 * q + 4 * j);
                                    quarters[i % 2] = _mm512_dpbusd_epi32(quarters[i % 2], *c, a);
                                }
                                let products = _mm512_add_epi32(
                                    _mm512_mullo_epi32(quarters[0], scales[0]),
                                    _mm512_mullo_epi32(quarters[1], scales[1]),
                                );
                                *sum = _mm512_add_epi32(*sum, products);
                            }
                        }
                    }
                }
                let dw = _mm512_cvtph_ps(_mm256_loadu_si256(p.cast()));
                let pairs = scale_pairs::<true, 8>(p, 2 * PANEL_ROWS);
                for (t, y) in acts.iter().enumerate() {
                    let y = &y[b];
                    // Σ scale · (sum of the sub-block's activation codes), an integer per row.
                    let mut offset = _mm512_setzero_si512();
                    for (k, pair) in pairs.iter().enumerate() {
                        let sums = (y.bsums[2 * k] as u16 as u32 | (y.bsums[2 * k + 1] as u16 as u32) << 16) as i32;
                        offset = _mm512_dpwssd_epi32(offset, *pair, _mm512_set1_epi32(sums));
                    }
                    let d = _mm512_mul_ps(dw, _mm512_set1_ps(y.d));
                    acc[t] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(isum[t]), acc[t]);
                    let offset = _mm512_cvtepi32_ps(_mm512_slli_epi32::<5>(offset));
                    offsets[t] = _mm512_add_ps(offsets[t], _mm512_mul_ps(d, offset));
                }
            }
        }
        for t in 0..acts.len() {
            let out = &mut out[(chunk * K_TOKENS + t) * stride..][..PANEL_ROWS];
            // SAFETY: `out` holds 16 f32s.
            unsafe { _mm512_storeu_ps(out.as_mut_ptr(), _mm512_sub_ps(acc[t], offsets[t])) };
        }
    }
}

/// One Q2_K or Q3_K panel against any number of rows of activations, [`K_TOKENS`] at a time:
/// each shift's eight code vectors are unpacked once for all of them; each token's sums are
/// the integers of [`dot_k2_panel_vnni`], scaled and added in its order (the same bits).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")]
fn k2_panel_tokens_vnni<const Q3: bool>(panel: &[u8], acts: &[Vec<Q8KBlock>], out: &mut [f32], stride: usize) {
    use std::arch::x86_64::*;
    let (block, codes_at, half) =
        if Q3 { (Q3K_PANEL_BLOCK, Q3K_CODES, Q3K_HALF) } else { (Q2K_PANEL_BLOCK, Q2K_CODES, K2_HALF_CODES) };
    let (three, low4, four) = (_mm512_set1_epi8(3), _mm512_set1_epi32(0x0F), _mm512_set1_epi8(4));
    let blocks = panel.len() / block;
    assert!(acts.iter().all(|a| a.len() >= blocks), "activation blocks");
    for (chunk, acts) in acts.chunks(K_TOKENS).enumerate() {
        let mut acc = [[_mm512_setzero_ps(); 8]; K_TOKENS];
        let mut terms = [_mm512_setzero_ps(); K_TOKENS];
        for (b, slot) in panel.chunks_exact(block).enumerate() {
            let p = slot.as_ptr();
            // SAFETY: `slot` is one panel block, laid out as `Q2K_PANEL_BLOCK` (or, for Q3_K,
            // `Q3K_PANEL_BLOCK`) describes.
            unsafe {
                let scales_at = if Q3 { 2 * PANEL_ROWS } else { Q2K_SCALES };
                let scale = |sub: usize| {
                    let bytes = _mm_loadu_si128(p.add(scales_at + sub * PANEL_ROWS).cast());
                    if Q3 { _mm512_cvtepi8_epi32(bytes) } else { _mm512_and_si512(_mm512_cvtepu8_epi32(bytes), low4) }
                };
                let mut isum = [_mm512_setzero_si512(); K_TOKENS];
                for h in 0..2 {
                    let codes = p.add(codes_at + h * half);
                    for j in 0..4 {
                        let shift = _mm_cvtsi32_si128(2 * j as i32);
                        let q: [__m512i; 8] = std::array::from_fn(|l| {
                            let raw = _mm512_loadu_si512(codes.add(l * 4 * PANEL_ROWS).cast());
                            let q = _mm512_and_si512(_mm512_srl_epi16(raw, shift), three);
                            if Q3 {
                                let mask = codes.add(K2_HALF_CODES + 8 * (8 * j + l)).cast::<u64>().read_unaligned();
                                _mm512_mask_add_epi8(q, mask, q, four)
                            } else {
                                q
                            }
                        });
                        let k = 8 * h + 2 * j;
                        let scales = [scale(k), scale(k + 1)];
                        for (sum, y) in isum.iter_mut().zip(acts) {
                            let y = &y[b];
                            let mut sums = [_mm512_setzero_si512(); 2];
                            for (l, q) in q.iter().enumerate() {
                                sums[l / 4] =
                                    _mm512_dpbusd_epi32(sums[l / 4], *q, four_codes(y, 128 * h + 32 * j + 4 * l));
                            }
                            *sum = _mm512_add_epi32(*sum, _mm512_mullo_epi32(sums[0], scales[0]));
                            *sum = _mm512_add_epi32(*sum, _mm512_mullo_epi32(sums[1], scales[1]));
                        }
                    }
                }
                let dw = _mm512_cvtph_ps(_mm256_loadu_si256(p.cast()));
                // Q2_K's `dmin` (Q3_K has none; the load is dropped there).
                let dminw = _mm512_cvtph_ps(_mm256_loadu_si256(p.add(2 * PANEL_ROWS).cast()));
                // Q3_K's scales, or Q2_K's minimums (the high nibbles), in pairs.
                let mut pairs =
                    if Q3 { scale_pairs::<true, 8>(p, scales_at) } else { scale_pairs::<false, 8>(p, scales_at) };
                if !Q3 {
                    for pair in &mut pairs {
                        *pair = _mm512_srli_epi16::<4>(*pair);
                    }
                }
                for (t, y) in acts.iter().enumerate() {
                    let y = &y[b];
                    let mut tsum = _mm512_setzero_si512();
                    for (k, pair) in pairs.iter().enumerate() {
                        let sums = (y.bsums[2 * k] as u16 as u32 | (y.bsums[2 * k + 1] as u16 as u32) << 16) as i32;
                        tsum = _mm512_dpwssd_epi32(tsum, *pair, _mm512_set1_epi32(sums));
                    }
                    let dy = _mm512_set1_ps(y.d);
                    let d = _mm512_mul_ps(dw, dy);
                    acc[t][b % 8] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(isum[t]), acc[t][b % 8]);
                    terms[t] = if Q3 {
                        _mm512_add_ps(terms[t], _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_slli_epi32::<2>(tsum))))
                    } else {
                        _mm512_add_ps(terms[t], _mm512_mul_ps(_mm512_mul_ps(dminw, dy), _mm512_cvtepi32_ps(tsum)))
                    };
                }
            }
        }
        for t in 0..acts.len() {
            let out = &mut out[(chunk * K_TOKENS + t) * stride..][..PANEL_ROWS];
            // SAFETY: `out` holds 16 f32s.
            unsafe { _mm512_storeu_ps(out.as_mut_ptr(), _mm512_sub_ps(closed_eight(&acc[t]), terms[t])) };
        }
    }
}

/// Bytes of one IQ4_XS super-block (ggml's `block_iq4_xs`).
const IQ4_XS_BLOCK: usize = 136;
/// One super-block of an IQ4_XS panel: 16 `d` (f16), the eight signed sub-block scales of each
/// row unpacked to bytes (`[sub-block][row]`), padding to a line, then each sub-block's nibbles
/// as an IQ4_NL block's ([`Q5_0_NIBBLES`] bytes): 2,240 bytes against the rows' 2,176.
const IQ4_XS_PANEL_BLOCK: usize = IQ4_XS_CODES + 8 * Q5_0_NIBBLES;
const IQ4_XS_CODES: usize = (2 * PANEL_ROWS + 8 * PANEL_ROWS).next_multiple_of(LINE);
const _: () = assert!(IQ4_XS_PANEL_BLOCK.is_multiple_of(LINE) && IQ4_XS_CODES.is_multiple_of(LINE));

/// IQ4_XS in panels (see [`Panels`]).
///
/// The row kernel (`dot_iq4_xs`) sums a super-block's products times their sub-block scales as
/// one integer and adds it in Q8_0's order (super-block `i` into accumulator `i mod 8`, the
/// same closing); the panel kernel computes the same integers for sixteen rows at once: each
/// sub-block's 32 table values plus 128 (`vpshufb`) by eight `vpdpbusd` started at
/// `−128 · Σ a`, then one multiply by its scale.
#[derive(Debug)]
pub(crate) struct IQ4XSLayout;

impl PanelLayout for IQ4XSLayout {
    type Block = crate::formats::BlockIQ4XS;
    type Prepared = Vec<Q8KBlock>;
    const ROW_BLOCK: usize = IQ4_XS_BLOCK;
    const PANEL_BLOCK: usize = IQ4_XS_PANEL_BLOCK;

    fn place(block: &[u8], b: usize, _: usize, r: usize, panel: &mut [u8]) {
        let slot = &mut panel[b * IQ4_XS_PANEL_BLOCK..(b + 1) * IQ4_XS_PANEL_BLOCK];
        slot[2 * r..2 * r + 2].copy_from_slice(&block[..2]);
        for ib in 0..8 {
            slot[2 * PANEL_ROWS + ib * PANEL_ROWS + r] = crate::blocks::iq4_xs_scale(block, ib) as i8 as u8;
            let nibbles = &mut slot[IQ4_XS_CODES + ib * Q5_0_NIBBLES..][..Q5_0_NIBBLES];
            place_nibble_lanes(&block[8 + 16 * ib..8 + 16 * ib + 16], r, nibbles);
        }
    }

    fn prepare(x: &[f32]) -> Self::Prepared {
        crate::formats::BlockIQ4XS::quantize_activations(x)
    }

    fn acts(p: &Self::Prepared) -> &[Q8KBlock] {
        p
    }

    unsafe fn dot_panel(panel: &[u8], _: usize, act: &Self::Prepared, out: &mut [f32]) {
        // SAFETY: forwarded to the caller (AVX-512 VNNI present).
        unsafe { iq4_xs_panel_vnni::<1>(panel, std::slice::from_ref(act), out, 0) }
    }

    unsafe fn dot_panel_tokens(panel: &[u8], _: usize, acts: &[Self::Prepared], out: &mut [f32], stride: usize) {
        // SAFETY: forwarded to the caller (AVX-512 VNNI present).
        unsafe { iq4_xs_panel_vnni::<K_TOKENS>(panel, acts, out, stride) }
    }
}

/// One IQ4_XS panel against rows of activations, `T` at a time (one to decode, [`K_TOKENS`] for
/// a prompt): each sub-block's codes are looked up once for all of them; each token's sums in
/// `dot_iq4_xs`'s order (see [`IQ4XSLayout`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vnni,avx2,fma,f16c")]
fn iq4_xs_panel_vnni<const T: usize>(panel: &[u8], acts: &[Vec<Q8KBlock>], out: &mut [f32], stride: usize) {
    use std::arch::x86_64::*;
    let (low4, table) = (_mm512_set1_epi8(0x0F), iq4_table_plus_128());
    let blocks = panel.len() / IQ4_XS_PANEL_BLOCK;
    assert!(acts.iter().all(|a| a.len() >= blocks), "activation blocks");
    for (chunk, acts) in acts.chunks(T).enumerate() {
        let mut acc = [[_mm512_setzero_ps(); 8]; T];
        for (b, slot) in panel.chunks_exact(IQ4_XS_PANEL_BLOCK).enumerate() {
            let p = slot.as_ptr();
            // SAFETY: `slot` is IQ4_XS_PANEL_BLOCK bytes, laid out as `IQ4_XS_PANEL_BLOCK` describes.
            unsafe {
                let mut isum = [_mm512_setzero_si512(); T];
                for ib in 0..8 {
                    let nibbles = p.add(IQ4_XS_CODES + ib * Q5_0_NIBBLES);
                    let mut codes = [_mm512_setzero_si512(); 8];
                    for k in 0..4 {
                        let raw = _mm512_loadu_si512(nibbles.add(64 * k).cast());
                        codes[k] = _mm512_shuffle_epi8(table, _mm512_and_si512(raw, low4));
                        codes[k + 4] = _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16::<4>(raw), low4));
                    }
                    let scale = _mm512_cvtepi8_epi32(_mm_loadu_si128(p.add(2 * PANEL_ROWS + ib * PANEL_ROWS).cast()));
                    for (sum, y) in isum.iter_mut().zip(acts) {
                        let y = &y[b];
                        let offset = -128 * (y.bsums[2 * ib] as i32 + y.bsums[2 * ib + 1] as i32);
                        let mut chains = [_mm512_set1_epi32(offset), _mm512_setzero_si512()];
                        for (g, code) in codes.iter().enumerate() {
                            chains[g / 4] = _mm512_dpbusd_epi32(chains[g / 4], *code, four_codes(y, 32 * ib + 4 * g));
                        }
                        *sum =
                            _mm512_add_epi32(*sum, _mm512_mullo_epi32(_mm512_add_epi32(chains[0], chains[1]), scale));
                    }
                }
                let dw = _mm512_cvtph_ps(_mm256_loadu_si256(p.cast()));
                for (t, y) in acts.iter().enumerate() {
                    let d = _mm512_mul_ps(dw, _mm512_set1_ps(y[b].d));
                    acc[t][b % 8] = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(isum[t]), acc[t][b % 8]);
                }
            }
        }
        for (t, acc) in acc.iter().enumerate().take(acts.len()) {
            let out = &mut out[(chunk * T + t) * stride..][..PANEL_ROWS];
            // SAFETY: `out` holds 16 f32s.
            unsafe { _mm512_storeu_ps(out.as_mut_ptr(), closed_eight(acc)) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_rows_are_reported_in_order_a_mebibyte_or_more_at_a_time() {
        let (rows, blocks) = (64, 1024); // four panels of 557 KB
        let bytes = vec![0u8; rows * blocks * Q8_0_BLOCK];
        let mut reported = Vec::new();
        if Panels::<Q8_0Layout>::new(&bytes, rows, blocks, &mut |r| reported.push(r)).is_none() {
            return; // no AVX-512 VNNI here
        }
        let panel = PANEL_ROWS * blocks * Q8_0_BLOCK;
        assert_eq!(reported, [0..2 * panel, 2 * panel..4 * panel]);
    }

    #[test]
    fn panels_hold_every_row_block() {
        let (rows, blocks) = (35, 7);
        let bytes: Vec<u8> = (0..rows * blocks * Q8_0_BLOCK).map(|i| (i * 7919 % 251) as u8).collect();
        let mut reported = Vec::new();
        let Some(p) = Panels::<Q8_0Layout>::new(&bytes, rows, blocks, &mut |r| reported.push(r)) else {
            return; // no AVX-512 VNNI here
        };
        assert_eq!(reported, vec![0..32 * blocks * Q8_0_BLOCK], "the packed rows, reported once");
        assert_eq!(p.panels, 2);
        let back = unpack(&p);
        assert_eq!(bytemuck::cast_slice::<_, u8>(&back), &bytes[..32 * blocks * Q8_0_BLOCK]);
    }
}
