//! The std recorder: rings claimed per thread, the TSC clock, and the spec's limits in front of
//! the ring. This is what the macros call.
//!
//! The hot path is [`Recorder::record`]: one `const` thread-local load to find the thread's
//! ring, the limits, one clock read, then [`Producer::record`].
//!
//! # The first call
//!
//! The first macro call of a process, and the first event of each thread, are on the hot path
//! too: no allocation, no lock, no system call, no wait.
//!
//! - The global recorder ([`Recorder::global`]) is a `static`: its ring table and its
//!   [`GLOBAL_RINGS`] x [`GLOBAL_RING_BYTES`] of ring memory are zero-initialised statics (in
//!   `.bss`: the OS maps the pages on first touch, untouched ring memory costs nothing), built
//!   at compile time. Nothing is created on first use. [`Recorder::configure_global`] (what
//!   `northstar::init`'s `Builder::recorder` calls) may still replace it by a recorder of
//!   another size, before anything recorded.
//! - A thread's first event claims a ring (one compare-and-swap) and notes the claim in a
//!   fixed array of a `const` thread-local without a destructor ([`MAX_THREAD_RECORDERS`]
//!   recorders per thread). The claim is retired at thread exit by a POSIX thread-specific
//!   key's destructor: `pthread_key_create` (once per process, a compare-and-swap in libc)
//!   and `pthread_setspecific` (once per thread) neither allocate, lock nor call the kernel
//!   while the key is one of the first 32 of the process. A Rust `thread_local!` with a
//!   destructor would instead register it through glibc's `__cxa_thread_atexit_impl`, which
//!   takes the dynamic loader's lock and `calloc`s outside Rust's allocator.
//! - The global clock is [`StdClock::lazy`]: the first reading picks its source (one CPUID
//!   instruction); its anchor is taken before `main` (Linux: an `.init_array` constructor,
//!   which also registers the exit check with `atexit`) or else by the first conversion, which
//!   reads the clocks through the vDSO; the consumer calibrates the TSC rate.
//! - A user event's call site registers itself in a static table (`crate::user`).
//!
//! Caveats, off the common case: a thread-specific key numbered 32 or more makes glibc
//! `calloc` a second-level key table on the thread's first event; on targets other than Linux,
//! the exit check is registered by the global recorder's first claim (`atexit` takes a lock);
//! off Unix, the thread-exit hook is a `thread_local!` destructor; and a library `dlopen`ed at
//! run time gets its thread-locals from glibc's `__tls_get_addr`, which allocates them on a
//! thread's first access.

use core::ptr::NonNull;
use std::boxed::Box;
use std::cell::{Cell, RefCell};
#[cfg(not(loom))]
use std::sync::atomic::AtomicU8;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
#[cfg(not(loom))]
use std::sync::OnceLock;
#[cfg(test)]
use std::vec::Vec;

use crate::clock::{Clock, StdClock};
use crate::event_type::Visibility;
use crate::events::{Event, Payload, WithPayload};
use crate::limits::{FastRng, PayloadLimit, Sampler, TokenBucket};
use crate::registry::{Drainer, Registry, RegistryError, Slot};
use crate::ring::{Counters, Producer, PushError, Refusal, Ring, RingControl};
use crate::sync::UnsafeCell;

mod dynamic;
mod interned;

/// Default number of rings (threads that can record at once).
pub const DEFAULT_RINGS: usize = 32;
/// Default bytes per ring on 64-bit targets: 32 MiB, about 150 ms of 44-byte `perf_sample!`
/// records at 5 million a second and 35 ms of 95-byte records at 10 million. What a ring must
/// ride out is the flusher not running at all, and on a host that caps a VM's or container's
/// CPU time (a quota per 100 ms period) that is a core taken away for up to 100 ms whenever
/// both cores are busy: 16 MiB rings (76 ms at 5 M/s) dropped events in every run that met
/// such a pause (docs/PERFORMANCE.md, "The host's CPU quota", and "Ring size" before it). A
/// ring's memory is only mapped as it is written, so a thread that records little costs
/// little; a thread that keeps recording keeps its whole ring resident.
/// `RecorderConfig::ring_bytes` chooses another size.
#[cfg(target_pointer_width = "64")]
pub const DEFAULT_RING_BYTES: usize = 32 << 20;
/// Default bytes per ring on 32-bit targets: 4 MiB (32 rings of 32 MiB would take a quarter
/// of the address space). Either size holds a spec-maximum 1 MiB payload (a ring takes records up
/// to half its size).
#[cfg(not(target_pointer_width = "64"))]
pub const DEFAULT_RING_BYTES: usize = 4 << 20;

/// Rings of the built-in global recorder (fixed at compile time; `configure_global` replaces
/// the recorder to change it).
#[cfg(not(loom))]
pub const GLOBAL_RINGS: usize = DEFAULT_RINGS;
/// Bytes per ring of the built-in global recorder: [`GLOBAL_RINGS`] x 32 MiB = 1 GiB of
/// zero-initialised static memory (`.bss`, address space only), mapped by the OS page by page
/// as rings are written (4 MiB rings, 128 MiB, on 32-bit targets).
#[cfg(not(loom))]
pub const GLOBAL_RING_BYTES: usize = DEFAULT_RING_BYTES;
/// Rings of the global recorder under `--cfg loom` (one per loom thread; loom allows four).
#[cfg(loom)]
pub const GLOBAL_RINGS: usize = 4;
/// Bytes per ring of the global recorder under `--cfg loom`: every byte is a loom cell, so
/// rings are small (about ten events per thread between drains; records up to 128 bytes).
#[cfg(loom)]
pub const GLOBAL_RING_BYTES: usize = 1024;

/// Recorders a thread can hold a ring of at once. A thread's claim on a recorder dropped by
/// everyone else is let go to make room; past that, the event is dropped and counted (as for
/// [`RecordError::NoRing`]).
pub const MAX_THREAD_RECORDERS: usize = 16;

/// How a recorder is sized and limited.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecorderConfig {
    /// Rings, one per recording thread at a time.
    pub rings: usize,
    /// Bytes per ring (a power of two >= 64). Total ring memory is `rings * ring_bytes`.
    pub ring_bytes: usize,
    /// Largest payload accepted (the spec: 1 MiB).
    pub payload_limit: PayloadLimit,
    /// Fraction of events kept (the spec: 1.0 keeps everything).
    pub sampling_rate: f64,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        Self {
            rings: DEFAULT_RINGS,
            ring_bytes: DEFAULT_RING_BYTES,
            payload_limit: PayloadLimit::default(),
            sampling_rate: 1.0,
        }
    }
}

/// Why an event was not recorded. Every case is also counted (see [`Recorder::counters`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// Refused by a limit (payload size, rate, sampling).
    Refused(Refusal),
    /// The thread's ring was full: dropped.
    Full,
    /// The record is larger than a ring can hold.
    TooLarge {
        /// Record length.
        len: usize,
        /// Ring maximum.
        max: usize,
    },
    /// Every ring is claimed by another thread.
    NoRing,
    /// The thread is exiting and its ring was already released.
    ThreadExiting,
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(r) => write!(f, "event refused: {r:?}"),
            Self::Full => f.write_str("ring full: event dropped"),
            Self::TooLarge { len, max } => {
                write!(f, "record of {len} bytes exceeds the ring maximum {max}")
            }
            Self::NoRing => f.write_str("every ring is claimed: event dropped"),
            Self::ThreadExiting => f.write_str("thread is exiting: event dropped"),
        }
    }
}

impl std::error::Error for RecordError {}

impl From<PushError> for RecordError {
    fn from(e: PushError) -> Self {
        match e {
            PushError::Full => Self::Full,
            PushError::TooLarge { len, max } => Self::TooLarge { len, max },
        }
    }
}

/// Why a recorder could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// Bad ring sizes.
    Registry(RegistryError),
    /// The global recorder was already initialised.
    AlreadyInitialized,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Registry(e) => write!(f, "bad recorder config: {e}"),
            Self::AlreadyInitialized => f.write_str("the global recorder is already initialised"),
        }
    }
}

impl std::error::Error for ConfigError {}

struct Inner {
    id: usize,
    // Borrows `_slots` and `_storage`: declared first so it is dropped first.
    registry: Registry<'static>,
    /// `None` for the built-in global recorder, whose storage is static.
    _slots: Option<OwnedSlice<Slot>>,
    _storage: Option<OwnedSlice<UnsafeCell<u8>>>,
    clock: StdClock,
    payload_limit: PayloadLimit,
    sampler: Sampler,
    config: RecorderConfig,
    no_ring: AtomicU64,
}

// SAFETY: the storage cells are reached only through the registry, whose claims (one producer
// per slot) and drainer (one consumer) follow the ring's Release/Acquire protocol; every other
// field is Sync.
unsafe impl Sync for Inner {}
// SAFETY: as for Sync: nothing in Inner is tied to a thread.
unsafe impl Send for Inner {}

/// A heap slice owned through a raw pointer, so that moving its owner does not assert unique
/// access to the contents (as moving a `Box` does): the registry keeps `'static` references
/// into it for the owner's whole life. Miri's aliasing model rejects the `Box` version.
struct OwnedSlice<T>(core::ptr::NonNull<[T]>);

impl<T> OwnedSlice<T> {
    fn new(boxed: Box<[T]>) -> Self {
        Self(core::ptr::NonNull::from(Box::leak(boxed)))
    }

    /// A reference that outlives `self`'s borrow.
    ///
    /// # Safety
    /// The caller must not use the reference after `self` is dropped.
    unsafe fn as_static(&self) -> &'static [T] {
        // SAFETY: the pointer came from a leaked `Box` and stays valid until `drop`; the caller
        // promises not to use the reference past that.
        unsafe { self.0.as_ref() }
    }
}

impl<T> Drop for OwnedSlice<T> {
    fn drop(&mut self) {
        // SAFETY: the pointer came from `Box::leak` in `new` and is freed only here, once.
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

/// `bytes` zeroed cells on the heap. Zeroed allocation: pages are mapped lazily, so untouched
/// ring memory costs nothing.
#[cfg(not(loom))]
fn zeroed_cells(bytes: usize) -> Box<[UnsafeCell<u8>]> {
    let zeroed: Box<[u8]> = std::vec![0u8; bytes].into_boxed_slice();
    // SAFETY: `UnsafeCell<u8>` is `repr(transparent)` over `u8`, so the slice layouts are
    // identical; the box's ownership moves to the new pointer.
    unsafe { Box::from_raw(Box::into_raw(zeroed) as *mut [UnsafeCell<u8>]) }
}

/// Loom's cells are tracked objects, not bytes: built one by one.
#[cfg(loom)]
fn zeroed_cells(bytes: usize) -> Box<[UnsafeCell<u8>]> {
    (0..bytes).map(|_| UnsafeCell::new(0)).collect()
}

/// Records events into per-thread rings. Cheap to clone (a pointer, plus an `Arc` count for a
/// recorder built by [`Recorder::new`]; the built-in global recorder is a `static`).
pub struct Recorder {
    inner: core::ptr::NonNull<Inner>,
    /// Keeps a heap recorder alive; `None` for the static global one.
    owner: Option<Arc<Inner>>,
}

impl core::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Recorder")
            .field("global", &self.owner.is_none())
            .finish_non_exhaustive()
    }
}

// SAFETY: `inner` points at an `Inner` (Sync and Send) that lives as long as `owner` (or
// forever, for the static one); the pointer is only ever read.
unsafe impl Sync for Recorder {}
// SAFETY: as for Sync.
unsafe impl Send for Recorder {}

impl Clone for Recorder {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner,
            owner: self.owner.clone(),
        }
    }
}

/// The built-in global recorder's id; [`Recorder::new`] hands out the ids after it.
const GLOBAL_ID: usize = 1;
static NEXT_ID: AtomicUsize = AtomicUsize::new(GLOBAL_ID + 1);

/// `GLOBAL_STATE` bits: the built-in recorder has had a ring claimed; it was replaced by
/// `configure_global`.
#[cfg(not(loom))]
const SEALED: u8 = 1;
#[cfg(not(loom))]
const REPLACED: u8 = 2;
#[cfg(not(loom))]
static GLOBAL_STATE: AtomicU8 = AtomicU8::new(0);
/// The recorder `configure_global` put in place of the built-in one.
#[cfg(not(loom))]
static CONFIGURED: OnceLock<Recorder> = OnceLock::new();

/// The built-in global recorder: every part `const`-built, its ring memory zero-initialised.
#[cfg(not(loom))]
mod builtin {
    use super::*;
    use core::mem::MaybeUninit;

    /// `N` zeroed bytes seen as cells. Built from a `MaybeUninit<[u8; N]>` rather than an
    /// array of cells: compile-time evaluation of a 128 MiB array of cells takes a minute, of a
    /// zeroed byte array a second (the 1 GiB one of 32 MiB rings did not slow the build).
    pub(super) struct ZeroedCells<const N: usize>(core::cell::UnsafeCell<MaybeUninit<[u8; N]>>);

    // SAFETY: the bytes are only reached through the registry's rings, whose producer/consumer
    // protocol gives each byte a single writer at a time and orders writes before reads.
    unsafe impl<const N: usize> Sync for ZeroedCells<N> {}

    impl<const N: usize> ZeroedCells<N> {
        pub(super) const fn new() -> Self {
            Self(core::cell::UnsafeCell::new(MaybeUninit::zeroed()))
        }

        pub(super) const fn cells(&'static self) -> &'static [UnsafeCell<u8>] {
            // SAFETY: the `N` bytes are initialised (zeroed) and live forever (a static);
            // `UnsafeCell<u8>` is `repr(transparent)` over `u8`, and the outer `UnsafeCell`
            // makes writing through the cells sound.
            unsafe { core::slice::from_raw_parts(self.0.get() as *const UnsafeCell<u8>, N) }
        }
    }

    static SLOTS: [Slot; GLOBAL_RINGS] = [const { Slot::new() }; GLOBAL_RINGS];
    static STORAGE: ZeroedCells<{ GLOBAL_RINGS * GLOBAL_RING_BYTES }> = ZeroedCells::new();
    const _: () = assert!(GLOBAL_RING_BYTES.is_power_of_two() && GLOBAL_RING_BYTES >= 64);

    pub(super) static INNER: Inner = Inner {
        id: GLOBAL_ID,
        registry: Registry::new_unchecked_sizes(&SLOTS, STORAGE.cells(), GLOBAL_RING_BYTES),
        _slots: None,
        _storage: None,
        clock: StdClock::lazy(),
        payload_limit: PayloadLimit(crate::limits::DEFAULT_PAYLOAD_LIMIT),
        sampler: Sampler::new(1.0),
        config: RecorderConfig {
            rings: GLOBAL_RINGS,
            ring_bytes: GLOBAL_RING_BYTES,
            payload_limit: PayloadLimit(crate::limits::DEFAULT_PAYLOAD_LIMIT),
            sampling_rate: 1.0,
        },
        no_ring: AtomicU64::new(0),
    };

    pub(super) static BUILTIN: Recorder = Recorder {
        inner: core::ptr::NonNull::from_ref(&INNER),
        owner: None,
    };

    /// Runs before `main` (an ELF constructor): registers the exit check and anchors the
    /// global clock, so neither happens on a macro call. In this module so that it is linked
    /// whenever the built-in recorder is.
    /// Not with `off`: nothing records, and the constructor would keep the recorder linked.
    #[cfg(all(any(target_os = "linux", target_os = "android"), not(feature = "off")))]
    #[used]
    #[link_section = ".init_array"]
    static AT_START: extern "C" fn() = at_start;

    #[cfg(all(any(target_os = "linux", target_os = "android"), not(feature = "off")))]
    extern "C" fn at_start() {
        super::at_exit::install();
        INNER.clock.anchor_now();
    }
}

#[cfg(loom)]
loom::lazy_static! {
    /// Under loom the global recorder is built in every explored execution (loom's atomics
    /// and cells are not `const`, and each execution starts afresh).
    static ref LOOM_GLOBAL: Recorder = Recorder::new(RecorderConfig {
        rings: GLOBAL_RINGS,
        ring_bytes: GLOBAL_RING_BYTES,
        ..RecorderConfig::default()
    })
    .expect("the loom global recorder's config is valid");
}

/// Thread-locals: `const`, without destructors (a destructor would be registered through
/// glibc's allocating `__cxa_thread_atexit_impl`); loom's per-model-thread ones under loom.
macro_rules! thread_locals {
    ($($(#[$m:meta])* static $name:ident: $t:ty = $init:expr;)*) => {
        #[cfg(not(loom))]
        std::thread_local! { $($(#[$m])* static $name: $t = const { $init };)* }
        #[cfg(loom)]
        loom::thread_local! { $($(#[$m])* static $name: $t = $init;)* }
    };
}

#[cfg(not(loom))]
type ClaimsCell = RefCell<core::mem::ManuallyDrop<Claims>>;
#[cfg(loom)]
type ClaimsCell = RefCell<Claims>;

#[cfg(not(loom))]
const fn new_claims() -> ClaimsCell {
    RefCell::new(core::mem::ManuallyDrop::new(Claims::EMPTY))
}
#[cfg(loom)]
fn new_claims() -> ClaimsCell {
    RefCell::new(Claims::EMPTY)
}

/// The thread's current ring: the recorder and slot it belongs to and, resolved once when the
/// thread claimed it, where that ring's control block and cells are, so an event reaches its
/// ring without a slot lookup (no multiply, no bounds checks against the registry's tables).
#[derive(Clone, Copy)]
struct Current {
    /// The recorder's id ([`Inner::id`], never reused; 0: none).
    id: usize,
    /// The claimed slot.
    slot: usize,
    /// The slot's ring control block, in the recorder's registry (dangling while `id` is 0).
    control: NonNull<RingControl>,
    /// The first of the slot's `cells_len` ring cells, in the recorder's registry storage
    /// (dangling while `id` is 0).
    cells: NonNull<UnsafeCell<u8>>,
    cells_len: usize,
}

impl Current {
    const NONE: Self = Self {
        id: 0,
        slot: 0,
        control: NonNull::dangling(),
        cells: NonNull::dangling(),
        cells_len: 0,
    };

    /// The recorder id and the slot. (What the thread-local hands out when the ring is not
    /// needed: plain integers, which the compiler need not test for a null pointer.)
    #[inline(always)]
    fn key(&self) -> (usize, usize) {
        (self.id, self.slot)
    }

    /// The entry for `slot` of the recorder `id`, whose ring is `ring`.
    fn new(id: usize, slot: usize, ring: Ring<'_>) -> Self {
        let (control, cells) = ring.parts();
        Self {
            id,
            slot,
            control: NonNull::from(control),
            // A slice's pointer is never null (dangling, never read, for an empty one).
            cells: NonNull::from(cells).cast(),
            cells_len: cells.len(),
        }
    }
}

thread_locals! {
    /// The thread's current ring ([`Current`]): read on every event.
    static CURRENT: Cell<Current> = Cell::new(Current::NONE);
    /// The thread's sampling generator.
    static RNG: Cell<FastRng> = Cell::new(FastRng::new(0));
    /// Every ring this thread claimed; retired at thread exit (`thread_exit`).
    static CLAIMS: ClaimsCell = new_claims();
    static NEXT_OPERATION: Cell<u64> = Cell::new(0);
}

/// The rings a thread holds, one per recorder.
struct Claims {
    list: [Option<ThreadClaim>; MAX_THREAD_RECORDERS],
    /// Whether the thread-exit hook is armed.
    armed: bool,
}

impl Claims {
    #[allow(clippy::declare_interior_mutable_const)]
    const EMPTY: Self = Self {
        list: [const { None }; MAX_THREAD_RECORDERS],
        armed: false,
    };

    /// A free entry, letting go of a claim on a recorder no one else holds if need be.
    fn free_entry(&mut self) -> Option<usize> {
        if let Some(i) = self.list.iter().position(Option::is_none) {
            return Some(i);
        }
        let dead = self.list.iter().position(|c| {
            c.as_ref()
                .and_then(|c| c.recorder.owner.as_ref())
                .is_some_and(|arc| Arc::strong_count(arc) == 1)
        })?;
        self.list[dead] = None;
        Some(dead)
    }
}

struct ThreadClaim {
    recorder: Recorder,
    slot: usize,
}

impl Drop for ThreadClaim {
    fn drop(&mut self) {
        let id = self.recorder.inner().id;
        let slot = self.slot;
        let _ = CURRENT.try_with(|c| {
            if c.get().key() == (id, slot) {
                c.set(Current::NONE);
            }
        });
        // The next owner of this slot numbers its operations past ours (ids carry the slot).
        if let Ok(n) = NEXT_OPERATION.try_with(Cell::get) {
            let floor = ((n & OPERATION_COUNTER_MASK) >> 8) as usize + 1;
            self.recorder
                .inner()
                .registry
                .set_operation_floor(slot, floor);
        }
        // SAFETY: this thread claimed `slot` (it is in CLAIMS) and, CURRENT being cleared, will
        // not use its producer again.
        unsafe { self.recorder.inner().registry.retire(slot) };
    }
}

/// Lets go of every ring the calling thread holds (its exit).
#[cfg_attr(loom, allow(dead_code))]
fn retire_thread_claims() {
    let _ = CLAIMS.try_with(|claims| {
        if let Ok(mut claims) = claims.try_borrow_mut() {
            for claim in claims.list.iter_mut() {
                drop(claim.take());
            }
            claims.armed = false;
        }
    });
}

/// The thread-exit hook that retires a thread's rings.
#[cfg(all(unix, not(loom)))]
mod thread_exit {
    use core::ffi::c_void;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// The process's key, plus one (0: not created yet).
    static KEY: AtomicUsize = AtomicUsize::new(0);

    fn key() -> Option<libc::pthread_key_t> {
        let k = KEY.load(Ordering::Acquire);
        if k != 0 {
            return Some((k - 1) as libc::pthread_key_t);
        }
        let mut new: libc::pthread_key_t = 0;
        // SAFETY: `new` is a valid out-pointer; `on_exit` is an `extern "C"` function that
        // never unwinds.
        if unsafe { libc::pthread_key_create(&mut new, Some(on_exit)) } != 0 {
            return None;
        }
        match KEY.compare_exchange(0, new as usize + 1, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => Some(new),
            Err(winner) => {
                // Another thread created one first: use it, give ours back.
                // SAFETY: `new` was created just above and never given a value.
                unsafe { libc::pthread_key_delete(new) };
                Some((winner - 1) as libc::pthread_key_t)
            }
        }
    }

    /// Arms the calling thread's exit hook; `false` if the key cannot be had.
    pub(super) fn arm() -> bool {
        let Some(key) = key() else {
            return false;
        };
        // A non-null value is what makes the destructor run; it is never dereferenced.
        // SAFETY: `key` is a live key of this process.
        unsafe {
            libc::pthread_setspecific(
                key,
                core::ptr::NonNull::<u8>::dangling().as_ptr() as *const c_void,
            ) == 0
        }
    }

    /// Runs at thread exit, after the thread's Rust `thread_local!` destructors (which may
    /// still record): the thread-locals it reads are `const` and have no destructor, so they
    /// are still valid.
    extern "C" fn on_exit(_: *mut c_void) {
        super::retire_thread_claims();
    }
}

/// Off Unix: a `thread_local!` destructor (allocates on some platforms; see the module docs).
#[cfg(all(not(unix), not(loom)))]
mod thread_exit {
    struct Hook;
    impl Drop for Hook {
        fn drop(&mut self) {
            super::retire_thread_claims();
        }
    }
    std::thread_local! { static HOOK: Hook = const { Hook }; }

    pub(super) fn arm() -> bool {
        HOOK.try_with(|_| ()).is_ok()
    }
}

/// Under loom the claims are in a loom thread-local, dropped when the model's thread ends.
#[cfg(loom)]
mod thread_exit {
    pub(super) fn arm() -> bool {
        true
    }
}

impl Recorder {
    #[inline(always)]
    fn inner(&self) -> &Inner {
        // SAFETY: `inner` points at the static built-in recorder or at the `Arc` that `owner`
        // keeps alive for as long as `self`.
        unsafe { self.inner.as_ref() }
    }

    /// Whether two handles are the same recorder.
    pub fn same_as(&self, other: &Recorder) -> bool {
        self.inner == other.inner
    }

    /// Checks a config as [`Recorder::new`] would, without allocating.
    fn check_config(config: &RecorderConfig) -> Result<(), ConfigError> {
        let bad = ConfigError::Registry(RegistryError::BadRingSize {
            storage: config.rings.saturating_mul(config.ring_bytes),
            slots: config.rings,
        });
        if config.rings == 0 {
            return Err(ConfigError::Registry(RegistryError::NoSlots));
        }
        if !config.ring_bytes.is_power_of_two()
            || config.ring_bytes < 64
            || config.rings.checked_mul(config.ring_bytes).is_none()
        {
            return Err(bad);
        }
        Ok(())
    }

    /// A recorder with its own rings.
    pub fn new(config: RecorderConfig) -> Result<Self, ConfigError> {
        Self::check_config(&config)?;
        let rings = config.rings;
        let slots = OwnedSlice::new((0..rings).map(|_| Slot::new()).collect());
        let bytes = rings.checked_mul(config.ring_bytes).unwrap_or(0);
        let storage = OwnedSlice::new(zeroed_cells(bytes));
        // SAFETY: `Inner` keeps both slices alive for as long as the registry, which is declared
        // first and so dropped before them; no `'static` reference escapes: every accessor ties
        // its result to `&self`.
        let (slots_ref, storage_ref) = unsafe { (slots.as_static(), storage.as_static()) };
        let registry = Registry::new(slots_ref, storage_ref).map_err(ConfigError::Registry)?;
        let inner = Arc::new(Inner {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            registry,
            _slots: Some(slots),
            _storage: Some(storage),
            // Under loom, no calibration sleep in every explored execution: the clock is not
            // what a model checks.
            #[cfg(not(loom))]
            clock: StdClock::new(),
            #[cfg(loom)]
            clock: StdClock::lazy(),
            payload_limit: config.payload_limit,
            sampler: Sampler::new(config.sampling_rate),
            config,
            no_ring: AtomicU64::new(0),
        });
        Ok(Self {
            inner: core::ptr::NonNull::from(&*inner),
            owner: Some(inner),
        })
    }

    /// The process-wide recorder the macros use: the built-in static one (sized
    /// [`GLOBAL_RINGS`] x [`GLOBAL_RING_BYTES`]), or the one [`Recorder::configure_global`]
    /// put in its place. Never creates anything: no allocation, no lock, no system call.
    #[inline(always)]
    pub fn global() -> &'static Recorder {
        #[cfg(not(loom))]
        {
            match CONFIGURED.get() {
                Some(configured) => configured,
                None => &builtin::BUILTIN,
            }
        }
        #[cfg(loom)]
        {
            &LOOM_GLOBAL
        }
    }

    /// The global recorder if something has recorded into it or configured it.
    pub fn global_if_created() -> Option<&'static Recorder> {
        #[cfg(not(loom))]
        {
            if let Some(configured) = CONFIGURED.get() {
                return Some(configured);
            }
            (GLOBAL_STATE.load(Ordering::Acquire) & SEALED != 0).then_some(&builtin::BUILTIN)
        }
        #[cfg(loom)]
        {
            Some(&LOOM_GLOBAL)
        }
    }

    /// Whether a drainer (a store's flusher) currently holds this recorder's rings.
    pub fn is_drained_by_store(&self) -> bool {
        self.inner().registry.has_drainer()
    }

    /// Puts a recorder built with `config` in place of the built-in global one; fails once
    /// anything has recorded into the global recorder, or once it was configured.
    #[cfg(not(loom))]
    pub fn configure_global(config: RecorderConfig) -> Result<(), ConfigError> {
        // Check first: building a recorder allocates rings and calibrates the clock.
        Self::check_config(&config)?;
        if GLOBAL_STATE
            .compare_exchange(0, REPLACED, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(ConfigError::AlreadyInitialized);
        }
        let recorder = Recorder::new(config)?;
        CONFIGURED
            .set(recorder)
            .map_err(|_| ConfigError::AlreadyInitialized)
    }

    /// Under loom the global recorder is rebuilt in every execution with the loom sizes: it
    /// cannot be configured.
    #[cfg(loom)]
    pub fn configure_global(_config: RecorderConfig) -> Result<(), ConfigError> {
        Err(ConfigError::AlreadyInitialized)
    }

    /// The config this recorder was built with.
    pub fn config(&self) -> &RecorderConfig {
        &self.inner().config
    }

    /// The clock stamping records (ring records carry its raw ticks).
    pub fn clock(&self) -> &StdClock {
        &self.inner().clock
    }

    /// The registry of rings.
    pub fn registry(&self) -> &Registry<'_> {
        &self.inner().registry
    }

    /// The one consumer of every ring (the flusher), or `None` while another exists.
    pub fn drainer(&self) -> Option<Drainer<'_>> {
        self.inner().registry.drainer()
    }

    /// Counters over every ring, plus events lost for want of a ring (in `dropped_full`).
    pub fn counters(&self) -> Counters {
        let mut c = self.inner().registry.counters();
        c.dropped_full += self.inner().no_ring.load(Ordering::Relaxed);
        c
    }

    /// Claims a ring for the calling thread now, so its first event pays nothing extra.
    pub fn register_thread(&self) -> Result<(), RecordError> {
        self.producer().map(|_| ())
    }

    #[cold]
    #[inline(never)]
    fn claim_slow(&self) -> Result<usize, RecordError> {
        let result = self.claim_uncounted();
        if result.is_err() {
            self.inner().no_ring.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// Claims a ring for this thread (or finds its claim); a failure is not counted (the
    /// caller counts the event it could not record). No allocation, no lock, no system call.
    #[cold]
    #[inline(never)]
    fn claim_uncounted(&self) -> Result<usize, RecordError> {
        let id = self.inner().id;
        let claimed = CLAIMS.try_with(|claims| {
            // Busy only if a thread-exit hook is retiring this thread's claims right now.
            let Ok(mut claims) = claims.try_borrow_mut() else {
                return Err(RecordError::ThreadExiting);
            };
            let found = claims
                .list
                .iter()
                .flatten()
                .find(|c| c.recorder.inner().id == id)
                .map(|c| c.slot);
            let slot = match found {
                Some(slot) => slot,
                None => {
                    let entry = claims.free_entry().ok_or(RecordError::NoRing)?;
                    if !claims.armed {
                        claims.armed = thread_exit::arm();
                        if !claims.armed {
                            // No way to retire a ring at this thread's exit: do not take one.
                            return Err(RecordError::NoRing);
                        }
                    }
                    if id == GLOBAL_ID {
                        self.seal_builtin()?;
                    }
                    let claim = self.inner().registry.claim().ok_or(RecordError::NoRing)?;
                    let slot = claim.into_index();
                    // Continue past the operation ids the slot's earlier owners handed out.
                    let floor = (self.inner().registry.operation_floor(slot) as u64) << 8;
                    NEXT_OPERATION.with(|c| c.set(c.get().max(floor)));
                    claims.list[entry] = Some(ThreadClaim {
                        recorder: self.clone(),
                        slot,
                    });
                    let seed = (slot as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                        ^ self.inner().clock.now_ticks();
                    RNG.with(|r| r.set(FastRng::new(seed)));
                    slot
                }
            };
            let ring = self.inner().registry.ring(slot);
            CURRENT.with(|c| c.set(Current::new(id, slot, ring)));
            Ok(slot)
        });
        claimed.unwrap_or(Err(RecordError::ThreadExiting))
    }

    /// Marks the built-in global recorder as in use, so `configure_global` can no longer
    /// replace it; fails if it was replaced (by a `configure_global` racing this thread's
    /// first event, which found the built-in recorder just before).
    #[cfg(not(loom))]
    fn seal_builtin(&self) -> Result<(), RecordError> {
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        at_exit::install();
        if GLOBAL_STATE.load(Ordering::Relaxed) & SEALED == 0
            && GLOBAL_STATE.fetch_or(SEALED, Ordering::AcqRel) & REPLACED != 0
        {
            return Err(RecordError::NoRing);
        }
        Ok(())
    }

    #[cfg(loom)]
    fn seal_builtin(&self) -> Result<(), RecordError> {
        Ok(())
    }

    /// The producer of the calling thread's ring, claiming one on first use.
    #[inline(always)]
    fn producer(&self) -> Result<Producer<'_>, RecordError> {
        let id = self.inner().id;
        let mut current = CURRENT.with(Cell::get);
        if current.id != id {
            // Claims a ring (or finds this thread's) and makes it current. The cold call
            // returns no producer: the one below is built from the thread-local on both paths,
            // so the hot path keeps it in registers.
            self.claim_slow()?;
            current = CURRENT.with(Cell::get);
            if current.id != id {
                return Err(RecordError::NoRing);
            }
        }
        // SAFETY: `current` was set by this thread's claim of `current.slot` of the recorder
        // with this id, from that slot's ring in the recorder's registry (`claim_uncounted`).
        // Ids are never reused, so the recorder is `self`, whose `Inner` (registry slots and
        // ring storage included) lives at least as long as the borrow of `self`: `control` and
        // the `cells_len` cells at `cells` are valid for `'_`, and are what the registry handed
        // out (a slot's control block and its share of the storage, sizes validated when the
        // registry was built). CURRENT only ever holds this thread's own claims and is cleared
        // before a claim is retired, so the thread still owns the slot, and producers are only
        // used within one call on this thread: this is the ring's only producer.
        Ok(unsafe {
            let cells = core::slice::from_raw_parts(current.cells.as_ptr(), current.cells_len);
            Ring::from_parts(current.control.as_ref(), cells).producer()
        })
    }

    /// Records an event: checks sampling and the payload limit, stamps it with the clock and
    /// writes it into the thread's ring. Never blocks; every failure is counted.
    #[inline(always)]
    pub fn record<'p, P: Payload<'p>>(
        &self,
        actor_id: u64,
        visibility: Visibility,
        payload: &P,
    ) -> Result<(), RecordError> {
        let mut producer = self.producer()?;
        let inner = self.inner();
        if !inner.sampler.keeps_all() && !self.sample() {
            producer.count(Refusal::SampledOut);
            return Err(RecordError::Refused(Refusal::SampledOut));
        }
        let len = payload.encoded_len();
        if !inner.payload_limit.allows(len) {
            producer.count(Refusal::Oversize);
            return Err(RecordError::Refused(Refusal::Oversize));
        }
        let ticks = inner.clock.now_ticks();
        producer
            .record_sized(ticks, actor_id, visibility, payload, len)
            .map_err(RecordError::from)
    }

    /// Records a user-defined event (what `event!("name", field = value, ...)` calls): the
    /// call site's schema id and the values, nothing else. The call site registers itself on
    /// its first call without a lock, an allocation or a wait (`crate::user`).
    #[inline(always)]
    pub fn record_user<V: crate::user::Values + ?Sized>(
        &self,
        callsite: &'static crate::user::Callsite,
        actor_id: u64,
        visibility: Visibility,
        values: &V,
    ) -> Result<(), RecordError> {
        let mut producer = self.producer()?;
        let Ok(id) = callsite.id::<V>() else {
            // The id table is full: refused and counted, never recorded with a wrong schema.
            producer.count(Refusal::Oversize);
            return Err(RecordError::Refused(Refusal::Oversize));
        };
        // Sized by the same values: the encoding cannot overflow; if it ever did, the record
        // would fail its own decode rather than corrupt the ring.
        self.push_user(
            producer,
            id,
            actor_id,
            visibility,
            values.encoded_len(),
            |w| values.encode(w),
        )
    }

    /// The one push path of every user record (`record_user` and `record_user_dyn`): sampling,
    /// the payload limit, then `[header | schema id | values | trailer]` written in place,
    /// `fill` writing the `values_len` bytes of values.
    #[inline(always)]
    fn push_user(
        &self,
        mut producer: Producer<'_>,
        schema_id: u32,
        actor_id: u64,
        visibility: Visibility,
        values_len: usize,
        fill: impl FnOnce(&mut crate::codec::Writer<'_>),
    ) -> Result<(), RecordError> {
        let inner = self.inner();
        if !inner.sampler.keeps_all() && !self.sample() {
            producer.count(Refusal::SampledOut);
            return Err(RecordError::Refused(Refusal::SampledOut));
        }
        let len = 4 + values_len;
        if !inner.payload_limit.allows(len) || len > crate::record::MAX_PAYLOAD_LEN {
            producer.count(Refusal::Oversize);
            return Err(RecordError::Refused(Refusal::Oversize));
        }
        let ticks = inner.clock.now_ticks();
        let header = crate::record::EventHeader::with_type_byte(
            crate::user::USER_TYPE_BYTE,
            visibility,
            ticks,
            actor_id,
            0,
            len,
        );
        producer
            .push_with(crate::record::FRAMING_LEN + len, |out| {
                crate::record::write_record(out, &header, |dst| {
                    let mut w = crate::codec::Writer::new(dst);
                    w.put(&schema_id.to_le_bytes());
                    fill(&mut w);
                })
            })
            .map_err(RecordError::from)
    }

    /// Like [`Recorder::record`], after taking a token from `bucket` (a per-metric or
    /// per-call-site rate limit).
    #[inline]
    pub fn record_limited<'p, P: Payload<'p>>(
        &self,
        bucket: &TokenBucket,
        actor_id: u64,
        visibility: Visibility,
        payload: &P,
    ) -> Result<(), RecordError> {
        let clock = &self.inner().clock;
        let now_ns = clock.ticks_to_nanos(clock.now_ticks());
        if !bucket.try_acquire(now_ns) {
            self.count(Refusal::RateLimited)?;
            return Err(RecordError::Refused(Refusal::RateLimited));
        }
        self.record(actor_id, visibility, payload)
    }

    /// Counts a refusal decided by the caller (e.g. a cartridge's own limits) on the calling
    /// thread's ring.
    pub fn count(&self, refusal: Refusal) -> Result<(), RecordError> {
        self.producer()?.count(refusal);
        Ok(())
    }

    /// Records any decoded or built event.
    pub fn record_event(
        &self,
        actor_id: u64,
        visibility: Visibility,
        event: &Event<'_>,
    ) -> Result<(), RecordError> {
        struct Record<'r> {
            recorder: &'r Recorder,
            actor_id: u64,
            visibility: Visibility,
        }
        impl WithPayload for Record<'_> {
            type Output = Result<(), RecordError>;
            fn call<'p, P: Payload<'p>>(self, payload: &P) -> Self::Output {
                self.recorder
                    .record(self.actor_id, self.visibility, payload)
            }
        }
        event.with_payload(Record {
            recorder: self,
            actor_id,
            visibility,
        })
    }

    fn sample(&self) -> bool {
        RNG.with(|cell| {
            let mut rng = cell.get();
            let keep = self.inner().sampler.keep(&mut rng);
            cell.set(rng);
            keep
        })
    }

    /// Raw clock ticks now (for scope guards measuring durations).
    #[inline(always)]
    pub fn now_ticks(&self) -> u64 {
        self.inner().clock.now_ticks()
    }
}

/// The process-exit check of the global recorder: events the macros recorded that no store
/// took out of the rings are reported on stderr, once, so a program that records without
/// storing (no `northstar::init`, or a store draining a private recorder) is never silent.
// Under loom nothing registers the check (the global recorder lives in one execution).
// With `off` on Linux nothing installs it either (no constructor, see `builtin`).
#[cfg_attr(any(loom, feature = "off"), allow(dead_code))]
mod at_exit {
    use std::sync::atomic::{AtomicBool, Ordering};

    static INSTALLED: AtomicBool = AtomicBool::new(false);
    static DISABLED: AtomicBool = AtomicBool::new(false);

    /// Registers the exit check once (before `main` on Linux, see `builtin`; else on the
    /// built-in recorder's first claim).
    pub(super) fn install() {
        if INSTALLED.swap(true, Ordering::AcqRel) {
            return;
        }
        // Miri runs the `.init_array` constructor but has no `atexit`.
        #[cfg(all(unix, not(miri)))]
        // SAFETY: `check` is an `extern "C" fn()` that never unwinds (it catches nothing and
        // calls nothing that panics: formatting to stderr ignores errors).
        unsafe {
            libc::atexit(check);
        }
    }

    /// Turns the exit warning off (a program that records on purpose without storing).
    pub fn disable_warning() {
        DISABLED.store(true, Ordering::Relaxed);
    }

    /// What the exit check would say now: `Some(message)` when the global recorder's rings
    /// hold events no store took, or events were lost (dropped or refused).
    pub fn report() -> Option<std::string::String> {
        let r = super::Recorder::global_if_created()?;
        let c = r.counters();
        let reg = r.registry();
        // Not `is_drained`: a retired ring the flusher emptied may wait for its next pass to
        // be freed; what matters here is whether any ring still holds records.
        let pending = (0..reg.slot_count()).any(|i| !reg.ring(i).is_empty());
        if !pending && c.lost() == 0 {
            return None;
        }
        let stored_by = if r.is_drained_by_store() {
            "a store is draining the rings but had not taken them all"
        } else {
            "no store drains the global recorder (call northstar::init(dir) and keep its guard)"
        };
        Some(std::format!(
            "northstar: {} events recorded by the macros, {} dropped or refused; {}: {}",
            c.pushed,
            c.lost(),
            if pending {
                "events are still in the rings and will not be stored"
            } else {
                "every recorded event was taken by a store"
            },
            stored_by
        ))
    }

    #[cfg(unix)]
    #[cfg_attr(miri, allow(dead_code))]
    extern "C" fn check() {
        if DISABLED.load(Ordering::Relaxed) {
            return;
        }
        if let Some(msg) = report() {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "{msg}");
        }
    }
}

pub use at_exit::{disable_warning as disable_exit_warning, report as exit_report};

/// The high bits of an operation id taken on a thread that has no ring of this recorder (all
/// rings taken, or the thread exiting): its operation cannot be recorded anyway.
const NO_RING_OPERATION_PREFIX: u64 = (1 << 24) - 1;

/// The low 40 bits of an operation id: the counter. A thread continues the counter of the slot
/// it claims (`Registry::operation_floor`), so a reused slot never repeats an id.
const OPERATION_COUNTER_MASK: u64 = (1 << 40) - 1;

impl Recorder {
    /// A fresh operation id for this thread: the thread's ring slot in the high 24 bits, a
    /// counter in the low 40, so ids from different threads never collide while each holds its
    /// ring, and a thread that takes over a slot continues its earlier owners' counter. The thread's ring is claimed first (as its first record would claim it),
    /// so a thread's first operation carries its own slot, not slot 0 of a thread that has not
    /// recorded yet.
    #[inline(always)]
    pub fn next_operation_id(&self) -> u64 {
        let prefix = match CURRENT.with(|c| c.get().key()) {
            (id, slot) if id == self.inner().id => slot as u64,
            _ => self
                .claim_uncounted()
                .map_or(NO_RING_OPERATION_PREFIX, |slot| slot as u64),
        };
        let n = NEXT_OPERATION.with(|c| {
            let n = c.get().wrapping_add(1);
            c.set(n);
            n
        });
        (prefix << 40) | (n & OPERATION_COUNTER_MASK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::AgentSessionEnded;

    fn small() -> Recorder {
        Recorder::new(RecorderConfig {
            rings: 2,
            ring_bytes: 4096,
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn a_thread_releases_its_ring_on_exit_after_it_is_drained() {
        let recorder = small();
        let mut drainer = recorder.drainer().unwrap();
        for round in 0..5u64 {
            // Two threads at a time fill both rings, then exit.
            let handles: Vec<_> = (0..2)
                .map(|t| {
                    let r = recorder.clone();
                    std::thread::spawn(move || {
                        for i in 0..10 {
                            r.record(
                                t,
                                Visibility::Public,
                                &AgentSessionEnded {
                                    session_id: round * 100 + i,
                                },
                            )
                            .unwrap();
                        }
                    })
                })
                .collect();
            handles.into_iter().for_each(|h| h.join().unwrap());
            // Exited threads' rings are retired, not free: nothing recorded is lost.
            assert_eq!(recorder.registry().active(), 0);
            let mut seen = 0;
            drainer.drain(usize::MAX, |_, _| seen += 1);
            assert_eq!(
                seen, 20,
                "round {round}: every event of the exited threads drained"
            );
        }
        // Five rounds of two threads through two rings: slots were reused.
        assert_eq!(recorder.counters().pushed, 100);
        assert!(recorder.registry().is_drained());
    }

    #[test]
    fn a_reused_slot_never_repeats_an_operation_id() {
        // One ring: every thread below takes over the same slot after the last one exited.
        let recorder = Recorder::new(RecorderConfig {
            rings: 1,
            ring_bytes: 4096,
            ..Default::default()
        })
        .unwrap();
        let mut drainer = recorder.drainer().unwrap();
        let mut seen = std::collections::HashSet::new();
        for round in 0..4 {
            let r = recorder.clone();
            let ids = std::thread::spawn(move || {
                // A record claims the slot, as a thread's first event would.
                r.record(1, Visibility::Public, &AgentSessionEnded { session_id: 1 })
                    .unwrap();
                (0..300).map(|_| r.next_operation_id()).collect::<Vec<_>>()
            })
            .join()
            .unwrap();
            drainer.drain(usize::MAX, |_, _| {});
            assert!(
                recorder.registry().is_drained(),
                "round {round}: slot freed"
            );
            for id in ids {
                assert_eq!(id >> 40, 0, "the only slot");
                assert!(
                    seen.insert(id),
                    "round {round}: operation id {id:#x} repeated"
                );
            }
        }
    }

    /// The thread's ring is cached per thread (`Current`) with the recorder's id: a thread
    /// that alternates between recorders must write each event into the ring of the recorder
    /// it was recorded with, and a recorder built after another was dropped (possibly at the
    /// same address) must not inherit the dropped one's cached ring.
    #[test]
    fn a_thread_writes_each_recorders_events_into_that_recorders_ring() {
        let drain_ids = |r: &Recorder| {
            let mut ids = Vec::new();
            r.drainer().unwrap().drain(usize::MAX, |_, bytes| {
                let view = crate::record::decode_record(bytes).unwrap();
                ids.push(view.actor_id());
            });
            ids
        };
        let a = small();
        let b = small();
        for i in 0..6u64 {
            let r = if i % 3 == 0 { &a } else { &b };
            r.record(i, Visibility::Public, &AgentSessionEnded { session_id: i })
                .unwrap();
        }
        assert_eq!(drain_ids(&a), [0, 3]);
        assert_eq!(drain_ids(&b), [1, 2, 4, 5]);
        // More rounds than a thread holds claims (`MAX_THREAD_RECORDERS`): the claims of
        // dropped recorders are let go, so their memory is freed and may be reused.
        for round in 0..MAX_THREAD_RECORDERS as u64 + 4 {
            let c = small();
            c.record(
                round,
                Visibility::Public,
                &AgentSessionEnded { session_id: round },
            )
            .unwrap();
            assert_eq!(drain_ids(&c), [round], "round {round}");
            assert_eq!(c.counters().pushed, 1, "round {round}");
            drop(c);
        }
        assert_eq!(a.counters().pushed, 2);
        assert_eq!(b.counters().pushed, 4);
    }

    #[test]
    fn every_ring_claimed_means_no_ring_and_is_counted() {
        let recorder = Recorder::new(RecorderConfig {
            rings: 1,
            ring_bytes: 4096,
            ..Default::default()
        })
        .unwrap();
        recorder.register_thread().unwrap();
        let r = recorder.clone();
        let err = std::thread::spawn(move || {
            r.record(1, Visibility::Public, &AgentSessionEnded { session_id: 1 })
        })
        .join()
        .unwrap();
        assert_eq!(err, Err(RecordError::NoRing));
        assert_eq!(recorder.counters().dropped_full, 1);
    }

    #[test]
    #[cfg_attr(
        miri,
        ignore = "a 1-per-second bucket refills between two calls under Miri's slow interpretation"
    )]
    fn limits_refuse_and_count() {
        let recorder = Recorder::new(RecorderConfig {
            rings: 1,
            ring_bytes: 4096,
            payload_limit: PayloadLimit(4),
            sampling_rate: 1.0,
        })
        .unwrap();
        let big = AgentSessionEnded { session_id: 1 }; // 8-byte payload > 4-byte limit
        assert_eq!(
            recorder.record(0, Visibility::Public, &big),
            Err(RecordError::Refused(Refusal::Oversize))
        );
        let bucket = TokenBucket::new(1, 1);
        let sampled = Recorder::new(RecorderConfig {
            rings: 1,
            ring_bytes: 4096,
            sampling_rate: 0.0,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            sampled.record(0, Visibility::Public, &big),
            Err(RecordError::Refused(Refusal::SampledOut))
        );
        let limited = small();
        assert!(limited
            .record_limited(&bucket, 0, Visibility::Public, &big)
            .is_ok());
        assert_eq!(
            limited.record_limited(&bucket, 0, Visibility::Public, &big),
            Err(RecordError::Refused(Refusal::RateLimited))
        );
        assert_eq!(recorder.counters().oversize, 1);
        assert_eq!(sampled.counters().sampled_out, 1);
        let c = limited.counters();
        assert_eq!((c.pushed, c.rate_limited), (1, 1));
    }
}
