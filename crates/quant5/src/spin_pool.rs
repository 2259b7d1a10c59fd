//! [`SpinPool`]: fork-join over threads that poll for work between jobs.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::QuantError;

/// One call's work: run with the part number, `0..threads`.
type Job<'a> = dyn Fn(usize) + Sync + 'a;

/// How long an idle worker polls for the next job before it sleeps: longer than the gap between
/// two products of one token (attention, norms, sampling, a grammar mask), far shorter than a
/// pause a user would notice on a busy machine.
const SPIN_FOR: Duration = Duration::from_millis(2);

/// After this long idle a worker yields its core between polls.
const YIELD_AFTER: Duration = Duration::from_micros(100);

/// State shared by the caller and the workers.
#[derive(Default)]
struct Shared {
    /// Bumped once per job; a worker runs the job of every epoch it has not seen.
    epoch: AtomicUsize,
    /// Points at the caller's `&Job` while the job runs.
    job: AtomicPtr<()>,
    /// Workers done with the current job.
    finished: AtomicUsize,
    /// A worker's part panicked (re-raised by the caller).
    panicked: AtomicBool,
    stop: AtomicBool,
    /// Workers asleep (or about to be) on `wake`.
    sleepers: AtomicUsize,
    sleep_lock: Mutex<()>,
    wake: Condvar,
}

/// A fork-join pool for many tiny parallel steps: its workers poll for the next job for up to
/// 2 ms before they sleep, so handing out a job costs an atomic store, not a wake-up.
///
/// Decoding one token of a small model is a few hundred matrix-vector products of tens of
/// microseconds each. Through a rayon pool every product parks and wakes threads (the caller
/// blocks on `install`, a worker wakes, another steals the second half): measured at 13–18 % of
/// a two-thread decode of SmolLM2-135M (issue #19). llama.cpp's thread pool avoids this the
/// same way: workers poll for the next job and only sleep after a while without one. No
/// well-kept crate offers a spinning scoped fork-join pool (rayon's workers sleep within
/// microseconds by design), so this is the one place the project hand-writes one; it is ~150
/// lines and its one `unsafe` (erasing the job's lifetime) is guarded by waiting for every
/// worker before [`SpinPool::run`] returns or unwinds.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// let pool = quant5::SpinPool::new(2).unwrap();
/// let sum = AtomicUsize::new(0);
/// pool.run(&|part| {
///     sum.fetch_add(part + 1, Ordering::Relaxed);
/// });
/// assert_eq!(sum.into_inner(), 1 + 2);
/// ```
///
/// It has `threads − 1` workers; the calling thread runs part 0.
pub struct SpinPool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// One job at a time when the pool is shared between threads.
    running: Mutex<()>,
}

impl std::fmt::Debug for SpinPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SpinPool({})", self.threads())
    }
}

impl SpinPool {
    /// A pool running every job on `threads` threads (the caller's and `threads − 1` workers).
    pub fn new(threads: usize) -> Result<Self, QuantError> {
        let shared = Arc::new(Shared::default());
        let workers = (1..threads.max(1))
            .map(|part| {
                let shared = shared.clone();
                std::thread::Builder::new()
                    .name(format!("quant5-spin-{part}"))
                    .spawn(move || work(&shared, part))
                    .map_err(|e| QuantError::Threads(e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { shared, workers, running: Mutex::new(()) })
    }

    /// Threads each job runs on.
    pub fn threads(&self) -> usize {
        self.workers.len() + 1
    }

    /// Runs `job(part)` for every `part` in `0..threads()`, part 0 on the calling thread, and
    /// returns when all are done. A panic in any part is re-raised here. Jobs from several
    /// threads take turns; a job must not run another job on the same pool (it would wait for
    /// itself).
    pub fn run(&self, job: &Job<'_>) {
        let n = self.workers.len();
        if n == 0 {
            return job(0);
        }
        let _one_at_a_time = self.running.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let s = &*self.shared;
        let job_ref: &Job<'_> = job;
        s.finished.store(0, Ordering::Relaxed);
        s.panicked.store(false, Ordering::Relaxed);
        s.job.store(&job_ref as *const &Job<'_> as *mut (), Ordering::Relaxed);
        s.epoch.fetch_add(1, Ordering::SeqCst);
        if s.sleepers.load(Ordering::SeqCst) > 0 {
            let _g = s.sleep_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            s.wake.notify_all();
        }
        /// Waits for the workers even if part 0 unwinds: they hold a pointer to `job_ref`.
        struct WaitForWorkers<'a>(&'a Shared, usize);
        impl Drop for WaitForWorkers<'_> {
            fn drop(&mut self) {
                let mut spins = 0u32;
                while self.0.finished.load(Ordering::Acquire) < self.1 {
                    spins += 1;
                    if spins.is_multiple_of(1024) {
                        std::thread::yield_now();
                    } else {
                        std::hint::spin_loop();
                    }
                }
            }
        }
        let wait = WaitForWorkers(s, n);
        job(0);
        drop(wait);
        if s.panicked.swap(false, Ordering::Relaxed) {
            panic!("a part of a SpinPool job panicked");
        }
    }
}

impl SpinPool {
    /// Splits `data` into chunks of `chunk_len` values and runs `job(index, chunk)` for every
    /// chunk, part `p` taking chunks `p`, `p + threads()`, …: how a caller hands each thread
    /// its own share of an output. Returns when all are done.
    pub fn run_chunks<T: Send>(&self, data: &mut [T], chunk_len: usize, job: &(dyn Fn(usize, &mut [T]) + Sync)) {
        // One lock per chunk, each taken by exactly one part (uncontended): it turns the
        // shared `&` the parts receive back into that chunk's `&mut` without `unsafe`.
        let chunks: Vec<Mutex<&mut [T]>> = data.chunks_mut(chunk_len.max(1)).map(Mutex::new).collect();
        let threads = self.threads();
        self.run(&|part| {
            for (index, chunk) in chunks.iter().enumerate().skip(part).step_by(threads) {
                job(index, &mut chunk.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
            }
        });
    }
}

impl Drop for SpinPool {
    fn drop(&mut self) {
        let s = &*self.shared;
        s.stop.store(true, Ordering::SeqCst);
        {
            let _g = s.sleep_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            s.wake.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// A worker: waits (spinning, then asleep) for each new epoch and runs its part of the job.
fn work(s: &Shared, part: usize) {
    let mut seen = 0usize;
    loop {
        let mut idle_since: Option<Instant> = None;
        let mut spins = 0u32;
        loop {
            if s.stop.load(Ordering::Acquire) {
                return;
            }
            let epoch = s.epoch.load(Ordering::Acquire);
            if epoch != seen {
                seen = epoch;
                break;
            }
            spins = spins.wrapping_add(1);
            if !spins.is_multiple_of(256) {
                std::hint::spin_loop();
                continue;
            }
            let idle = idle_since.get_or_insert_with(Instant::now).elapsed();
            if idle < SPIN_FOR {
                if idle > YIELD_AFTER {
                    // Past the gaps of one token: let other threads run first when the cores
                    // are oversubscribed (parallel tests, other work), at ~1 µs a check.
                    std::thread::yield_now();
                }
                continue;
            }
            // Asleep until the next job. Sleepers are counted under the lock before the epoch
            // is checked again, and `run` bumps the epoch before it reads the count (both
            // SeqCst), so a job published meanwhile either is seen here or wakes this thread.
            let mut g = s.sleep_lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            s.sleepers.fetch_add(1, Ordering::SeqCst);
            while s.epoch.load(Ordering::SeqCst) == seen && !s.stop.load(Ordering::SeqCst) {
                g = s.wake.wait(g).unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            s.sleepers.fetch_sub(1, Ordering::SeqCst);
            idle_since = None;
        }
        // SAFETY: `run` stored a pointer to its `&Job` before bumping the epoch (the Acquire
        // load above sees it) and does not return or unwind before this worker has counted
        // itself finished below, so the job outlives this use.
        let job: &Job<'_> = unsafe { *(s.job.load(Ordering::Relaxed) as *const &Job<'_>) };
        if catch_unwind(AssertUnwindSafe(|| job(part))).is_err() {
            s.panicked.store(true, Ordering::Relaxed);
        }
        s.finished.fetch_add(1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn every_part_runs_once_per_job_across_many_jobs_and_sleeps() {
        let pool = SpinPool::new(3).unwrap();
        let hits: Vec<AtomicU64> = (0..3).map(|_| AtomicU64::new(0)).collect();
        for round in 0..2000 {
            if round == 1000 {
                // Long enough for the workers to fall asleep; the next job must wake them.
                std::thread::sleep(SPIN_FOR * 3);
            }
            pool.run(&|part| {
                hits[part].fetch_add(1, Ordering::Relaxed);
            });
        }
        assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 2000));
        // Borrowed, mutable output: each chunk once, however many chunks per thread.
        let mut out = vec![0usize; 14];
        pool.run_chunks(&mut out, 4, &|index, chunk| chunk.iter_mut().for_each(|v| *v += index + 1));
        assert_eq!(out, [1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4]);
        let mut few = vec![0usize; 3];
        pool.run_chunks(&mut few, 2, &|index, chunk| chunk.iter_mut().for_each(|v| *v += index + 1));
        assert_eq!(few, [1, 1, 2]);
    }

    #[test]
    fn a_panicking_part_is_reraised_and_the_pool_keeps_working() {
        let pool = SpinPool::new(2).unwrap();
        let r = catch_unwind(AssertUnwindSafe(|| pool.run(&|part| assert!(part == 0, "part {part}"))));
        assert!(r.is_err());
        let r = catch_unwind(AssertUnwindSafe(|| pool.run(&|part| assert!(part == 1, "part {part}"))));
        assert!(r.is_err());
        let count = AtomicUsize::new(0);
        pool.run(&|_| {
            count.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(count.into_inner(), 2);
        assert_eq!(SpinPool::new(1).unwrap().threads(), 1);
    }
}
