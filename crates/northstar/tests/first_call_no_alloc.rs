//! The first macro call of a process allocates nothing (issue 9): no `northstar::init`, no
//! warm-up, the very first thing `main` does is record. Also the first call of every other macro
//! kind, and the first event of a new thread. A store opened afterwards drains every one of them.
//!
//! Two counters: a Rust global allocator, and (glibc) `malloc`/`calloc`/`realloc`/`memalign`
//! replaced in this binary and forwarded to glibc's own, which also sees what glibc allocates
//! for itself (e.g. `__cxa_thread_atexit_impl`, behind a `thread_local!` with a destructor).
//! Only allocations made by the measuring thread while it measures are counted.
//!
//! Its own binary with `harness = false`: a fresh process whose `main` starts with a macro call.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use northstar::events::AgentSessionEnded;
use northstar::{event, operation, perf_sample};

static RUST_ALLOCS: AtomicU64 = AtomicU64::new(0);
static C_ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static MEASURING: Cell<bool> = const { Cell::new(false) };
}

fn measuring() -> bool {
    MEASURING.with(Cell::get)
}

struct Counting;

// SAFETY: delegates to the system allocator unchanged; counting touches only an atomic and a
// const thread-local without a destructor.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if measuring() {
            RUST_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if measuring() {
            RUST_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if measuring() {
            RUST_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's arguments.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// glibc's allocator entry points, replaced for the whole process (glibc supports replacing
/// `malloc`; these forward to its own implementation).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod c_malloc {
    use super::{measuring, C_ALLOCS};
    use std::ffi::c_void;
    use std::sync::atomic::Ordering;

    extern "C" {
        fn __libc_malloc(size: usize) -> *mut c_void;
        fn __libc_calloc(n: usize, size: usize) -> *mut c_void;
        fn __libc_realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
        fn __libc_memalign(align: usize, size: usize) -> *mut c_void;
    }

    fn count() {
        if measuring() {
            C_ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[no_mangle]
    unsafe extern "C" fn malloc(size: usize) -> *mut c_void {
        count();
        // SAFETY: glibc's own malloc, same contract.
        unsafe { __libc_malloc(size) }
    }

    #[no_mangle]
    unsafe extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
        count();
        // SAFETY: glibc's own calloc, same contract.
        unsafe { __libc_calloc(n, size) }
    }

    #[no_mangle]
    unsafe extern "C" fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void {
        count();
        // SAFETY: glibc's own realloc, same contract (the pointer came from glibc's allocator).
        unsafe { __libc_realloc(ptr, size) }
    }

    #[no_mangle]
    unsafe extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
        count();
        // SAFETY: glibc's own memalign, same contract.
        unsafe { __libc_memalign(align, size) }
    }

    #[no_mangle]
    unsafe extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
        count();
        // SAFETY: glibc's own memalign accepts every alignment aligned_alloc does.
        unsafe { __libc_memalign(align, size) }
    }

    #[no_mangle]
    unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> i32 {
        count();
        if !align.is_power_of_two() || !align.is_multiple_of(std::mem::size_of::<usize>()) {
            return libc::EINVAL;
        }
        // SAFETY: glibc's own memalign with a valid alignment.
        let p = unsafe { __libc_memalign(align, size) };
        if p.is_null() {
            return libc::ENOMEM;
        }
        // SAFETY: the caller passes a valid out-pointer.
        unsafe { *out = p };
        0
    }
}

/// Allocations (Rust, C) made by `f` on this thread.
fn allocations_of(f: impl FnOnce()) -> (u64, u64) {
    let (r0, c0) = (
        RUST_ALLOCS.load(Ordering::Relaxed),
        C_ALLOCS.load(Ordering::Relaxed),
    );
    MEASURING.with(|m| m.set(true));
    f();
    MEASURING.with(|m| m.set(false));
    (
        RUST_ALLOCS.load(Ordering::Relaxed) - r0,
        C_ALLOCS.load(Ordering::Relaxed) - c0,
    )
}

fn main() {
    if cfg!(feature = "off") {
        return; // instrumentation off: nothing is recorded, nothing to check
    }
    // The very first action of the process: a macro call, no init.
    let first = allocations_of(|| event!(AgentSessionEnded { session_id: 1 }));
    let mut failures = Vec::new();
    let mut check = |what: &str, (rust, c): (u64, u64)| {
        println!("{what}: {rust} Rust allocations, {c} C allocations");
        if rust != 0 || c != 0 {
            failures.push(format!("{what}: {rust} Rust + {c} C allocations"));
        }
    };
    check("first event! of the process (spec type)", first);
    check(
        "first user event! (registers its call site)",
        allocations_of(|| event!("kv.wal_sync", bytes = 4096u64, unit = static "bytes")),
    );
    check(
        "first perf_sample!",
        allocations_of(|| perf_sample!("get_latency_ns", 812, "ns", "mode" => "read")),
    );
    check(
        "first rate-limited perf_sample!",
        allocations_of(|| perf_sample!(rate = 1000; "queue_depth", 3, "items")),
    );
    check(
        "first operation!",
        allocations_of(|| {
            let _op = operation!("get", "btree", "user:42", agent = 1, session = 2);
        }),
    );
    let on_thread = std::thread::spawn(|| allocations_of(|| event!("kv.thread_first", n = 7u64)))
        .join()
        .expect("recording thread");
    check("a new thread's first event!", on_thread);

    // A store opened now drains everything recorded before it, the exited thread's ring too.
    let dir = tempfile::tempdir().expect("temp dir");
    let guard = northstar::init(dir.path()).expect("init");
    let report = guard.close().expect("close");
    let stored = northstar::EventManager::open_read_only(dir.path())
        .expect("open the store")
        .query(&northstar::store::Query::default())
        .expect("query");
    let mut names: Vec<String> = stored.iter().map(|e| e.type_name().to_owned()).collect();
    names.sort();
    println!("stored: {names:?}; {report:?}");
    let mut expected = vec![
        "agent_operation",
        "agent_session_ended",
        "kv.thread_first",
        "kv.wal_sync",
        "perf_sample",
        "perf_sample",
    ];
    expected.sort();
    assert_eq!(names, expected, "every first call was stored");
    assert_eq!((report.recorded, report.lost), (6, 0));
    assert!(failures.is_empty(), "first calls allocated: {failures:#?}");

    // The counters can see what they claim to: a box (both), and the first access of a
    // thread-local with a destructor (glibc's `__cxa_thread_atexit_impl`, C only).
    let (rust, c) = allocations_of(|| drop(std::hint::black_box(Box::new(1u64))));
    assert!(rust >= 1 && c >= 1, "a Box is counted: {rust} Rust, {c} C");
    struct WithDrop(u8);
    impl Drop for WithDrop {
        fn drop(&mut self) {
            std::hint::black_box(self.0);
        }
    }
    thread_local! { static HAS_DTOR: WithDrop = const { WithDrop(1) }; }
    let (rust, c) = std::thread::spawn(|| {
        allocations_of(|| {
            HAS_DTOR.with(|v| {
                std::hint::black_box(v.0);
            })
        })
    })
    .join()
    .expect("thread");
    println!("first access of a thread-local with a destructor: {rust} Rust, {c} C allocations");
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    assert!(
        c >= 1,
        "glibc's allocation for a thread-local destructor is counted"
    );
    println!("ok: no first call allocated, and a store drained all six events");
}
