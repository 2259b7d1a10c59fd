//! Where a matrix's block data lives: its own buffer, or a range of a shared one — a
//! memory-mapped model file — so a model loaded from disk is resident once, in the file's
//! pages, not copied into the heap beside them.

use std::ops::{Deref, Range};
use std::sync::Arc;

/// A buffer several matrices may borrow ranges of (a memory-mapped file, a `Vec`).
pub type SharedBuffer = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// Block data, owned or a range of a [`SharedBuffer`]; reads as `&[u8]`.
#[derive(Clone)]
pub struct BlockBytes(Repr);

#[derive(Clone)]
enum Repr {
    Owned(Vec<u8>),
    Shared { buffer: SharedBuffer, range: Range<usize> },
}

impl BlockBytes {
    /// `range` of `buffer`; `None` when the range is not inside the buffer.
    pub fn shared(buffer: SharedBuffer, range: Range<usize>) -> Option<Self> {
        let len = (*buffer).as_ref().len();
        (range.start <= range.end && range.end <= len).then_some(Self(Repr::Shared { buffer, range }))
    }

    /// Whether the bytes are borrowed from a shared buffer (not a private copy).
    pub fn is_shared(&self) -> bool {
        matches!(self.0, Repr::Shared { .. })
    }
}

impl Deref for BlockBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.0 {
            Repr::Owned(v) => v,
            // The range was checked against the buffer when this value was made, and the
            // buffer cannot shrink behind an `Arc`.
            Repr::Shared { buffer, range } => &(**buffer).as_ref()[range.clone()],
        }
    }
}

impl From<Vec<u8>> for BlockBytes {
    fn from(v: Vec<u8>) -> Self {
        Self(Repr::Owned(v))
    }
}

impl PartialEq for BlockBytes {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for BlockBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlockBytes({} bytes{})", self.len(), if self.is_shared() { ", shared" } else { "" })
    }
}
