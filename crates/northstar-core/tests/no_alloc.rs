//! The hot path never allocates: a counting global allocator sees zero allocations over a
//! million macro calls (after the thread's first event, which claims its ring), nor over user
//! events and interned `perf_sample!`/`operation!` call sites that register themselves inside
//! the measured window.
#![cfg(not(feature = "off"))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use northstar_core::events::{AgentSessionEnded, ReviewNote};
use northstar_core::recorder::{Recorder, RecorderConfig};
use northstar_core::{event, operation, perf_sample, List};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Only allocations made by the measuring thread count (the test harness allocates too).
    static MEASURING: Cell<bool> = const { Cell::new(false) };
}

// SAFETY: delegates to the system allocator unchanged; counting touches only an atomic and a
// const thread-local without a destructor.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if MEASURING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if MEASURING.with(Cell::get) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's arguments.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn a_million_macro_calls_allocate_nothing() {
    Recorder::configure_global(RecorderConfig {
        rings: 4,
        ring_bytes: 1 << 20,
        ..Default::default()
    })
    .unwrap();
    let recorder = Recorder::global();
    let mut drainer = recorder.drainer().expect("sole drainer");
    // First event on this thread: claims the ring (may allocate once).
    perf_sample!("warm_up", 1, "ns");
    let mut drained = drainer.drain(usize::MAX, |_, _| {}).records as u64;

    MEASURING.with(|m| m.set(true));
    let key = "user:42";
    for i in 0..1_000_000u64 {
        match i % 4 {
            0 => {
                perf_sample!("get_latency_ns", i, "ns", "benchmark" => "btree_point_get", "mode" => "read")
            }
            1 => event!(AgentSessionEnded { session_id: i }, actor = 7),
            2 => {
                let _op = operation!("get", "btree", key, agent = 1, session = 100);
            }
            _ => event!(
                ReviewNote {
                    target_type: "commit",
                    target_id: "abc",
                    note_text: "ok",
                    references: List::EMPTY,
                    created_at: 0
                },
                actor = 42,
                visibility = Team
            ),
        }
        // Drain now and then, in place: the consumer side does not allocate either.
        if i % 4096 == 0 {
            drained += drainer
                .drain(usize::MAX, |_, record| assert!(record.len() >= 32))
                .records as u64;
        }
    }
    // User-defined events, first call of each call site included: registering a call site
    // (fetch_add, table store, CAS) allocates nothing either.
    let file = "wal.log";
    for i in 0..100_000u64 {
        event!("kv.wal_sync", bytes = i, ratio = 0.5f64, file = file, unit = static "bytes");
        if i % 3 == 0 {
            event!(
                "kv.btree_split",
                depth = (i % 7) as u8,
                key = key,
                found = Some(i)
            );
        }
        if i % 4096 == 0 {
            drained += drainer.drain(usize::MAX, |_, _| {}).records as u64;
        }
    }
    // Interned perf_sample!/operation! call sites with run-time strings and a rate limit, each
    // registering on its first call inside the window; the drain side expands every interned
    // record into a stack buffer (what the flusher does): no allocation on either side.
    let thread = "worker-7";
    let mut expanded = [0u8; 512];
    let mut expanded_count = 0u64;
    for i in 0..10_000u64 {
        perf_sample!(key, i, "ns", "op" => "get", "thread" => thread);
        perf_sample!(rate = 1_000_000; "limited", i, file, "thread" => thread);
        let mut op = operation!(file, "wal", key, agent = 3, session = i);
        if i % 2 == 0 {
            op.fail();
        }
        drop(op);
        if i % 1024 == 0 {
            drained += drainer
                .drain(usize::MAX, |_, record| {
                    if let Ok(x) = northstar_core::__private::interned::Interned::parse(record) {
                        assert!(x
                            .write_record(&mut expanded, |t| {
                                northstar_core::clock::Clock::ticks_to_nanos(recorder.clock(), t)
                            })
                            .is_ok());
                        expanded_count += 1;
                    }
                })
                .records as u64;
        }
    }
    drained += drainer.drain(usize::MAX, |_, _| {}).records as u64;
    MEASURING.with(|m| m.set(false));
    assert!(expanded_count > 0, "interned records were expanded");

    assert_eq!(
        ALLOCATIONS.load(Ordering::Relaxed),
        0,
        "allocations on the hot path"
    );
    let c = recorder.counters();
    assert_eq!(
        c.pushed + c.lost(),
        1_000_001 + 100_000 + 33_334 + 30_000,
        "every call is stored or counted: {c:?}"
    );
    assert_eq!(drained, c.pushed, "every published record was drained");
    assert!(
        c.pushed > 900_000,
        "the ring kept up with periodic draining: {c:?}"
    );
}
