//! The feature passes allocate per call, not per frame (issue #21): ten times the frames cost
//! a handful more allocations (vectors that grow by doubling), not one or more per frame.

use audio_dsp::features::{custom_feature, log_mel};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call goes straight to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn chirp(seconds: usize) -> Vec<f32> {
    (0..seconds * 16_000).map(|n| 0.3 * (n as f32 * 0.01 + (n as f32 * 1e-4).powi(2)).sin()).collect()
}

fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    f();
    ALLOCATIONS.load(Ordering::Relaxed) - before
}

#[test]
fn ten_times_the_frames_cost_no_allocation_per_frame() {
    let (short, long) = (chirp(1), chirp(10)); // 32 and 313 frames of 2048 / 512
    // The first call builds the thread's filter banks and FFT plans.
    custom_feature(&short, 16_000).unwrap();
    log_mel(&short, 16_000).unwrap();
    let (a, b) =
        (allocations(|| drop(custom_feature(&short, 16_000))), allocations(|| drop(custom_feature(&long, 16_000))));
    assert!(b < a + 16, "custom_feature: {a} allocations for 32 frames, {b} for 313");
    let (a, b) = (allocations(|| drop(log_mel(&short, 16_000))), allocations(|| drop(log_mel(&long, 16_000))));
    assert!(b < a + 16, "log_mel: {a} allocations for 101 frames, {b} for 1,001");
}
