//! A counting global allocator for the demo's allocation metrics (`alloc_count`,
//! `alloc_bytes`), which counts only while the demo's workload runs.
//!
//! The `northstar` binary installs [`CountingAlloc`] with `#[global_allocator]` (a global
//! allocator is chosen at link time, so the demo cannot bring its own at run time). Every other
//! command pays one relaxed load of a flag that is never written while they run (its cache
//! line stays shared in every core's cache) and a branch that always goes the same way; the
//! two atomic additions on shared counters, which made threads contend on one cache line,
//! happen only between [`count_while`]'s start and end. Without the allocator installed (unit
//! tests of other crates) the counts stay zero.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

/// Forwards to the system allocator; counts allocations and bytes only while [`count_while`]
/// runs.
#[derive(Debug)]
pub struct CountingAlloc;

#[inline]
fn note(bytes: usize) {
    if COUNTING.load(Relaxed) {
        ALLOCS.fetch_add(1, Relaxed);
        BYTES.fetch_add(bytes as u64, Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so the
// `GlobalAlloc` contract is upheld by `System`; the counters are plain relaxed atomics and
// `note` neither allocates nor panics.
unsafe impl GlobalAlloc for CountingAlloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller upholds `alloc`'s contract (non-zero size), passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as for `alloc`: the caller's contract, passed on unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (through the methods above) with `layout`,
        // as the caller guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: the caller upholds `realloc`'s contract for a block `System` allocated.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f` with counting on; returns its result and the allocations and bytes allocated by
/// every thread of the process meanwhile (0, 0 when [`CountingAlloc`] is not the global
/// allocator). Not meant to be nested or run twice at once: the demo runs one workload.
pub fn count_while<R>(f: impl FnOnce() -> R) -> (R, (u64, u64)) {
    let before = (ALLOCS.load(Relaxed), BYTES.load(Relaxed));
    COUNTING.store(true, Relaxed);
    let r = f();
    COUNTING.store(false, Relaxed);
    let after = (ALLOCS.load(Relaxed), BYTES.load(Relaxed));
    (r, (after.0 - before.0, after.1 - before.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[global_allocator]
    static ALLOC: CountingAlloc = CountingAlloc;

    #[test]
    fn counts_only_inside_count_while() {
        let outside = (ALLOCS.load(Relaxed), BYTES.load(Relaxed));
        let v: Vec<u8> = std::hint::black_box(Vec::with_capacity(4096));
        drop(v);
        assert_eq!(
            (ALLOCS.load(Relaxed), BYTES.load(Relaxed)),
            outside,
            "nothing is counted while counting is off"
        );
        let ((), (n, bytes)) = count_while(|| {
            let v: Vec<u8> = std::hint::black_box(Vec::with_capacity(4096));
            drop(v);
            let z = std::hint::black_box(vec![0u8; 1000]); // alloc_zeroed
            drop(z);
        });
        assert!(n >= 2 && bytes >= 5096, "{n} allocations, {bytes} bytes");
    }
}
