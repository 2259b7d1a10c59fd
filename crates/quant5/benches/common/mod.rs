//! What the `quant` and `matvec_alternating` benches share: random matrices, and candle's types
//! and thread count.
#![allow(dead_code)]

#[cfg(feature = "candle-comparison")]
use candle_core::quantized::GgmlDType;
use half::f16;
use quant5::{GgmlType, QuantizedMatrix};

/// Random but valid blocks (every code pattern is valid; scales set to sane f16 values).
pub fn random_matrix(t: GgmlType, rows: usize, cols: usize) -> QuantizedMatrix {
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15 ^ (rows * 31 + cols) as u64;
    let mut rnd = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut bytes: Vec<u8> =
        (0..rows * t.row_bytes(cols).expect("whole blocks")).map(|_| (rnd() >> 24) as u8).collect();
    // Where each type keeps its f16 scale and (for the asymmetric ones) its f16 min.
    let (d_at, m_at) = match t {
        GgmlType::Q6_K => (208, None),
        GgmlType::Q3_K => (108, None),
        GgmlType::Q2_K => (80, Some(82)),
        GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4_K | GgmlType::Q5_K => (0, Some(2)),
        _ => (0, None),
    };
    for b in bytes.chunks_exact_mut(t.type_size()) {
        b[d_at..d_at + 2].copy_from_slice(&f16::from_f32(((rnd() % 1000) as f32 + 1.0) * 1e-5).to_le_bytes());
        if let Some(m) = m_at {
            b[m..m + 2].copy_from_slice(&f16::from_f32((rnd() % 1000) as f32 * 1e-5).to_le_bytes());
        }
    }
    QuantizedMatrix::from_bytes(t, rows, cols, bytes).expect("sized to fit")
}

#[cfg(feature = "candle-comparison")]
pub fn candle_dtype(t: GgmlType) -> Option<GgmlDType> {
    Some(match t {
        GgmlType::Q4_0 => GgmlDType::Q4_0,
        GgmlType::Q4_1 => GgmlDType::Q4_1,
        GgmlType::Q5_0 => GgmlDType::Q5_0,
        GgmlType::Q5_1 => GgmlDType::Q5_1,
        GgmlType::Q8_0 => GgmlDType::Q8_0,
        GgmlType::Q2_K => GgmlDType::Q2K,
        GgmlType::Q3_K => GgmlDType::Q3K,
        GgmlType::Q4_K => GgmlDType::Q4K,
        GgmlType::Q5_K => GgmlDType::Q5K,
        GgmlType::Q6_K => GgmlDType::Q6K,
        _ => return None,
    })
}

/// How many threads candle's products use. candle 0.11 runs them on its own pool, sized once
/// from `CANDLE_NUM_THREADS` (else `RAYON_NUM_THREADS`, else every core) — a rayon pool around
/// the call does not limit it — so the count is fixed per process: 1 unless the variable says
/// otherwise (`CANDLE_NUM_THREADS=2 cargo bench … -- 'candle_.*/2t'` for two).
#[cfg(feature = "candle-comparison")]
pub fn candle_threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| match std::env::var("CANDLE_NUM_THREADS").ok().and_then(|s| s.parse().ok()) {
        Some(n) if n > 0 => n,
        _ => {
            // SAFETY: called before candle's first product and before this bench starts any
            // thread that reads the environment (criterion runs benchmarks on this thread).
            unsafe { std::env::set_var("CANDLE_NUM_THREADS", "1") };
            1
        }
    })
}

/// A copy of `words` on 2 MiB pages (the mapping advised before its first write, so the kernel
/// backs it with huge pages from the start), as quant5 keeps its panels on Linux.
#[cfg(target_os = "linux")]
pub struct HugePageWords {
    map: memmap2::MmapMut,
    at: usize,
    len: usize,
}

#[cfg(target_os = "linux")]
impl HugePageWords {
    pub fn copy_of(words: &[u64]) -> Self {
        let bytes = std::mem::size_of_val(words);
        let mut map = memmap2::MmapOptions::new().len(bytes + (2 << 20)).map_anon().expect("anonymous map");
        let at = (map.as_ptr() as usize).next_multiple_of(2 << 20) - map.as_ptr() as usize;
        map.advise_range(memmap2::Advice::HugePage, at, bytes).expect("madvise");
        map[at..at + bytes].copy_from_slice(bytemuck::cast_slice(words));
        Self { map, at, len: words.len() }
    }

    pub fn words(&self) -> &[u64] {
        bytemuck::cast_slice(&self.map[self.at..self.at + self.len * 8])
    }
}
