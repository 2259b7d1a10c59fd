//! Zeroed, cache-line-aligned storage for repacked weights, on 2 MiB pages where the system
//! lends them.
//!
//! Why: a matrix product streams its weights from memory once per token, and with 4 KiB
//! pages one core does not reach the memory's rate. The hardware prefetchers stop at every
//! 4 KiB boundary and, in a virtual machine, each TLB miss is a two-level page walk. On the
//! 2-core Zen 4 VM the docs measure on, a plain sum of a 192 MiB buffer read 16–20 GB/s from
//! 4 KiB pages and 28–31 GB/s from 2 MiB pages (`docs/quantization.md`).
//!
//! So buffers live in anonymous mappings advised `MADV_HUGEPAGE` *before* anything touches
//! them (a page faulted in at 4 KiB stays so until khugepaged gets to it):
//! - A large buffer ([`OWN_MAPPING`] or more) gets a mapping of its own, starting on a 2 MiB
//!   boundary; only the whole 2 MiB pages inside its data are advised, so it never holds more
//!   resident memory than its bytes.
//! - Smaller ones — most matrices of a small model, such as SmolLM2's 0.2–0.6 MB projections —
//!   are carved one after another from shared [`CHUNK`]-byte mappings, so that they share
//!   huge pages too. A chunk is unmapped when the last buffer carved from it is dropped; at
//!   most the huge page a chunk's last buffer ends in is resident beyond the bytes in use.
//!
//! Linux with transparent huge pages in `madvise` or `always` mode gets them; elsewhere, or if
//! a mapping fails, a buffer is a plain heap allocation. Every product gives the same bits
//! either way. `memmap2` (already the workspace's mapping crate) makes the mappings and gives
//! the advice.

/// A cache line (and a 512-bit load).
pub(crate) const LINE: usize = 64;

/// The storage unit: 64-byte aligned, so no 64-byte load of a panel straddles two lines.
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C, align(64))]
pub(crate) struct Line(pub(crate) [u8; LINE]);

/// A transparent huge page on x86-64 Linux.
#[cfg(target_os = "linux")]
const HUGE_PAGE: usize = 2 << 20;

/// Bytes of one shared mapping that small buffers are carved from.
#[cfg(target_os = "linux")]
const CHUNK: usize = 16 * HUGE_PAGE;

/// Buffers of this size or more get a mapping of their own.
#[cfg(target_os = "linux")]
const OWN_MAPPING: usize = CHUNK / 4;

/// `lines` zeroed cache lines.
pub(crate) struct PageBuffer {
    storage: Storage,
    lines: usize,
}

enum Storage {
    Heap(Vec<Line>),
    /// An anonymous mapping one huge page longer than the data, the data starting `offset`
    /// bytes in, on a 2 MiB boundary.
    #[cfg(target_os = "linux")]
    Own {
        map: memmap2::MmapMut,
        offset: usize,
    },
    /// Bytes `offset..offset + lines · 64` of a shared chunk, handed out to this buffer alone.
    #[cfg(target_os = "linux")]
    Carved {
        chunk: std::sync::Arc<chunks::Chunk>,
        offset: usize,
    },
}

impl PageBuffer {
    /// `lines` zeroed lines.
    pub(crate) fn zeroed(lines: usize) -> Self {
        #[cfg(target_os = "linux")]
        if let Some(bytes) = lines.checked_mul(LINE).filter(|&b| b > 0) {
            let storage = if bytes >= OWN_MAPPING { Self::own(bytes) } else { chunks::carve(bytes) };
            if let Some(storage) = storage {
                return Self { storage, lines };
            }
        }
        Self { storage: Storage::Heap(vec![Line([0; LINE]); lines]), lines }
    }

    #[cfg(target_os = "linux")]
    fn own(bytes: usize) -> Option<Storage> {
        let map = memmap2::MmapOptions::new().len(bytes.checked_add(HUGE_PAGE)?).map_anon().ok()?;
        let offset = (map.as_ptr() as usize).next_multiple_of(HUGE_PAGE) - map.as_ptr() as usize;
        // Advice refused (a kernel without THP) only leaves the pages at 4 KiB.
        let _ = map.advise_range(memmap2::Advice::HugePage, offset, bytes / HUGE_PAGE * HUGE_PAGE);
        Some(Storage::Own { map, offset })
    }

    /// Whether the buffer lies in a mapping advised onto huge pages (whether the kernel granted
    /// them shows in `/proc/self/smaps` as `AnonHugePages`).
    pub(crate) fn is_huge_page_mapped(&self) -> bool {
        match self.storage {
            Storage::Heap(_) => false,
            #[cfg(target_os = "linux")]
            Storage::Own { .. } | Storage::Carved { .. } => true,
        }
    }

    /// The lines.
    pub(crate) fn lines(&self) -> &[Line] {
        match &self.storage {
            Storage::Heap(v) => v,
            #[cfg(target_os = "linux")]
            Storage::Own { map, offset } => bytemuck::cast_slice(&map[*offset..*offset + self.lines * LINE]),
            // SAFETY: `carve` handed these bytes, inside the chunk, to this buffer alone.
            #[cfg(target_os = "linux")]
            Storage::Carved { chunk, offset } => unsafe { chunk.lines(*offset, self.lines) },
        }
    }

    /// The lines, to fill.
    pub(crate) fn lines_mut(&mut self) -> &mut [Line] {
        match &mut self.storage {
            Storage::Heap(v) => v,
            #[cfg(target_os = "linux")]
            Storage::Own { map, offset } => bytemuck::cast_slice_mut(&mut map[*offset..*offset + self.lines * LINE]),
            // SAFETY: as in `lines`, and `&mut self` excludes every other borrow of them.
            #[cfg(target_os = "linux")]
            Storage::Carved { chunk, offset } => unsafe { chunk.lines_mut(*offset, self.lines) },
        }
    }
}

impl std::fmt::Debug for PageBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageBuffer")
            .field("lines", &self.lines)
            .field("huge_page_mapped", &self.is_huge_page_mapped())
            .finish()
    }
}

/// The shared mappings small buffers are carved from.
#[cfg(target_os = "linux")]
mod chunks {
    use super::{CHUNK, HUGE_PAGE, LINE, Line, Storage};
    use std::sync::{Arc, Mutex, Weak};

    /// One shared mapping, [`CHUNK`] bytes from a 2 MiB boundary.
    pub(crate) struct Chunk {
        /// Owns the mapping; never read through after `start` was taken.
        _map: memmap2::MmapMut,
        /// The first byte of the usable part (2 MiB aligned).
        start: *mut u8,
    }

    // SAFETY: the chunk is only read and written through disjoint ranges, each handed out once
    // by `carve` to one `PageBuffer`, which borrows its own range as `&`/`&mut` like any owned
    // buffer; the mapping itself is plain memory, usable from any thread.
    unsafe impl Send for Chunk {}
    // SAFETY: as for `Send`.
    unsafe impl Sync for Chunk {}

    impl Chunk {
        fn map() -> Option<Self> {
            let mut map = memmap2::MmapOptions::new().len(CHUNK + HUGE_PAGE).map_anon().ok()?;
            let offset = (map.as_ptr() as usize).next_multiple_of(HUGE_PAGE) - map.as_ptr() as usize;
            let _ = map.advise_range(memmap2::Advice::HugePage, offset, CHUNK);
            // The pointer is taken from the mapping's only `&mut` borrow, before any other.
            let start = map[offset..].as_mut_ptr();
            Some(Self { _map: map, start })
        }

        /// # Safety
        /// `offset..offset + lines · 64` lies in the chunk and was handed to the caller alone.
        pub(crate) unsafe fn lines(&self, offset: usize, lines: usize) -> &[Line] {
            // SAFETY: in bounds and unshared (the caller's contract); `start + offset` is 64-byte
            // aligned (`start` is 2 MiB aligned, `offset` a multiple of 64); the bytes are
            // initialised (anonymous mappings read as zeros).
            unsafe { std::slice::from_raw_parts(self.start.add(offset).cast::<Line>(), lines) }
        }

        /// # Safety
        /// As [`lines`](Self::lines), and no other borrow of the range is alive.
        #[allow(clippy::mut_from_ref)]
        pub(crate) unsafe fn lines_mut(&self, offset: usize, lines: usize) -> &mut [Line] {
            // SAFETY: as in `lines`; the range is borrowed nowhere else (the caller's contract).
            unsafe { std::slice::from_raw_parts_mut(self.start.add(offset).cast::<Line>(), lines) }
        }
    }

    /// The chunk being filled and the first free byte in it.
    static CURRENT: Mutex<(Weak<Chunk>, usize)> = Mutex::new((Weak::new(), 0));

    /// `bytes` (a positive multiple of 64, less than a chunk) of a shared chunk, zeroed.
    pub(super) fn carve(bytes: usize) -> Option<Storage> {
        debug_assert!(bytes.is_multiple_of(LINE) && bytes > 0 && bytes <= CHUNK);
        // A poisoned lock only means another thread panicked while holding it; the pair is
        // still consistent (each field is written once, after the checks).
        let mut current = CURRENT.lock().unwrap_or_else(|e| e.into_inner());
        let (weak, used) = &mut *current;
        let chunk = match weak.upgrade() {
            Some(chunk) if CHUNK - *used >= bytes => chunk,
            _ => {
                let chunk = Arc::new(Chunk::map()?);
                *weak = Arc::downgrade(&chunk);
                *used = 0;
                chunk
            }
        };
        let offset = *used;
        *used += bytes;
        Some(Storage::Carved { chunk, offset })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_aligned_zeroed_disjoint_and_writable() {
        let mut bufs: Vec<PageBuffer> = [3usize, 0, 1, 5000, 20_000, (8 << 20) / LINE + 9, 40_000, 131_072]
            .into_iter()
            .map(PageBuffer::zeroed)
            .collect();
        for (i, b) in bufs.iter_mut().enumerate() {
            assert!(b.lines().iter().all(|l| l.0 == [0; LINE]), "buffer {i} not zeroed");
            assert_eq!(b.lines().as_ptr() as usize % LINE, 0);
            for l in b.lines_mut() {
                l.0 = [i as u8 + 1; LINE];
            }
        }
        // Writing one buffer touched no other.
        for (i, b) in bufs.iter().enumerate() {
            assert!(b.lines().iter().all(|l| l.0 == [i as u8 + 1; LINE]), "buffer {i} overwritten");
        }
        #[cfg(target_os = "linux")]
        {
            assert!(!bufs[1].is_huge_page_mapped(), "an empty buffer maps nothing");
            assert!(bufs[0].is_huge_page_mapped() && bufs[5].is_huge_page_mapped());
            // A buffer of its own starts on a huge page.
            assert_eq!(bufs[5].lines().as_ptr() as usize % HUGE_PAGE, 0);
        }
        // Dropped from another thread, and the chunks unmapped with their last buffer.
        std::thread::spawn(move || drop(bufs)).join().expect("drop");
        let again = PageBuffer::zeroed(7);
        assert!(again.lines().iter().all(|l| l.0 == [0; LINE]));
    }
}
