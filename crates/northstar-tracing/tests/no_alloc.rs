//! No allocation per event or span once a callsite has been seen, through the layer (on
//! `Registry`) and through the bridge's own subscriber: a counting global allocator counts the
//! allocations of this thread while it records tracing events (three fields, a message with
//! arguments, a `Debug` value) and spans (new, enter, record, exit, close), with a store
//! draining the rings on its own thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use tracing_subscriber::prelude::*;

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
thread_local! {
    static COUNT_HERE: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: every call is forwarded to `System`, which upholds the `GlobalAlloc` contract; the
// counting is a relaxed atomic add and a const thread-local read (no allocation).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNT_HERE.try_with(Cell::get).unwrap_or(false) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNT_HERE.try_with(Cell::get).unwrap_or(false) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's arguments.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[derive(Debug)]
#[allow(dead_code)]
struct Key(u32, &'static str);

fn workload(i: u64) {
    tracing::info!(
        bytes = i,
        shard = "s1",
        ok = i.is_multiple_of(2),
        "flushed {} pages",
        i % 7
    );
    tracing::warn!(key = ?Key(i as u32, "k"), "debug value");
    let span = tracing::info_span!(
        "request",
        id = i,
        path = "/kv",
        hits = tracing::field::Empty
    );
    {
        let _g = span.enter();
        span.record("hits", i * 2);
        tracing::debug!(depth = 3u64, "inside");
    }
    drop(span);
}

/// Runs the workload under `dispatch`: warm-up calls first (callsites, type variants, the
/// thread's ring, the registry's pages), then counts the allocations of 20 000 calls.
fn allocations_under(dispatch: tracing::Dispatch) -> u64 {
    tracing::dispatcher::with_default(&dispatch, || {
        for i in 0..1000 {
            workload(i);
        }
        let before = ALLOCS.load(Ordering::Relaxed);
        COUNT_HERE.with(|c| c.set(true));
        for i in 0..20_000 {
            workload(i);
        }
        COUNT_HERE.with(|c| c.set(false));
        ALLOCS.load(Ordering::Relaxed) - before
    })
}

#[test]
fn events_and_spans_do_not_allocate_after_the_first() {
    let dir = tempfile::tempdir().unwrap();
    // Rings large enough for a whole run (about 10 MB of records each): what this test checks
    // is allocation and completeness, not whether the flusher keeps up with a debug build on a
    // busy machine (with 4 MiB rings, the default then, it did not, once, and counted the loss).
    let guard = northstar::Builder::new(dir.path())
        .recorder(northstar::RecorderConfig {
            rings: 4,
            ring_bytes: 64 << 20,
            ..northstar::RecorderConfig::default()
        })
        .init()
        .unwrap();
    let layer = allocations_under(tracing::Dispatch::new(
        tracing_subscriber::registry().with(northstar_tracing::layer()),
    ));
    guard.flush().unwrap();
    let subscriber = allocations_under(tracing::Dispatch::new(northstar_tracing::subscriber()));
    let report = guard.close().unwrap();
    assert_eq!(layer, 0, "allocations on the recording thread, layer");
    assert_eq!(
        subscriber, 0,
        "allocations on the recording thread, subscriber"
    );
    // And everything was recorded: 3 events and 3 span records (begin, record, end) per call,
    // under each.
    assert_eq!(report.lost, 0, "{report:?}");
    let store = northstar_store::EventManager::open_read_only(dir.path()).unwrap();
    let n = store
        .query(&northstar_store::Query::default())
        .unwrap()
        .len();
    assert_eq!(n, 2 * 21_000 * 6);
}
