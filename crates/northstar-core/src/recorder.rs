//! The std recorder: rings claimed per thread through a thread-local, the TSC clock, and the
//! spec's limits in front of the ring. This is what the macros call.
//!
//! The hot path is [`Recorder::record`]: one `const` thread-local load to find the thread's
//! ring, the limits, one clock read, then [`Producer::record`]. The first event of a thread
//! claims a ring (one compare-and-swap) and registers a thread-exit destructor that retires it;
//! that one-time step may allocate, every later event does not.

use std::boxed::Box;
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread_local;
use std::vec;
use std::vec::Vec;

use crate::clock::{Clock, StdClock};
use crate::event_type::Visibility;
use crate::events::{Event, Payload};
use crate::limits::{FastRng, PayloadLimit, Sampler, TokenBucket};
use crate::registry::{Drainer, Registry, RegistryError, Slot};
use crate::ring::{Counters, Producer, PushError, Refusal};
use crate::sync::UnsafeCell;

mod dynamic;
mod interned;

/// Default number of rings (threads that can record at once).
pub const DEFAULT_RINGS: usize = 32;
/// Default bytes per ring: 4 MiB, so a ring holds a spec-maximum 1 MiB payload (a ring takes
/// records up to half its size) and about 40 ms of events at 1 million 100-byte events/s.
pub const DEFAULT_RING_BYTES: usize = 4 << 20;

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
    _slots: OwnedSlice<Slot>,
    _storage: OwnedSlice<UnsafeCell<u8>>,
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

/// Records events into per-thread rings. Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct Recorder {
    inner: Arc<Inner>,
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);
static GLOBAL: OnceLock<Recorder> = OnceLock::new();

thread_local! {
    /// The thread's current (recorder id, slot): read on every event, no destructor.
    static CURRENT: Cell<(usize, usize)> = const { Cell::new((0, 0)) };
    /// The thread's sampling generator.
    static RNG: Cell<FastRng> = const { Cell::new(FastRng::new(0)) };
    /// Every ring this thread claimed; dropping retires them (thread exit).
    static CLAIMS: RefCell<Vec<ThreadClaim>> = const { RefCell::new(Vec::new()) };
}

struct ThreadClaim {
    recorder: Arc<Inner>,
    slot: usize,
}

impl Drop for ThreadClaim {
    fn drop(&mut self) {
        let id = self.recorder.id;
        let slot = self.slot;
        let _ = CURRENT.try_with(|c| {
            if c.get() == (id, slot) {
                c.set((0, 0));
            }
        });
        // SAFETY: this thread claimed `slot` (it is in CLAIMS) and, CURRENT being cleared, will
        // not use its producer again.
        unsafe { self.recorder.registry.retire(slot) };
    }
}

impl Recorder {
    /// A recorder with its own rings.
    pub fn new(config: RecorderConfig) -> Result<Self, ConfigError> {
        let rings = config.rings;
        let slots = OwnedSlice::new((0..rings).map(|_| Slot::new()).collect());
        let bytes = rings.checked_mul(config.ring_bytes).unwrap_or(0);
        // Zeroed allocation: pages are mapped lazily, so untouched ring memory costs nothing.
        let zeroed: Box<[u8]> = vec![0u8; bytes].into_boxed_slice();
        // SAFETY: `UnsafeCell<u8>` is `repr(transparent)` over `u8`, so the slice layouts are
        // identical; the box's ownership moves to the new pointer.
        let storage = OwnedSlice::new(unsafe {
            Box::from_raw(Box::into_raw(zeroed) as *mut [UnsafeCell<u8>])
        });
        // SAFETY: `Inner` keeps both slices alive for as long as the registry, which is declared
        // first and so dropped before them; no `'static` reference escapes: every accessor ties
        // its result to `&self`.
        let (slots_ref, storage_ref) = unsafe { (slots.as_static(), storage.as_static()) };
        let registry = Registry::new(slots_ref, storage_ref).map_err(ConfigError::Registry)?;
        Ok(Self {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                registry,
                _slots: slots,
                _storage: storage,
                clock: StdClock::new(),
                payload_limit: config.payload_limit,
                sampler: Sampler::new(config.sampling_rate),
                config,
                no_ring: AtomicU64::new(0),
            }),
        })
    }

    /// The process-wide recorder the macros use, created with the default config (or the one
    /// given to [`Recorder::configure_global`]) on first use.
    #[inline(always)]
    pub fn global() -> &'static Recorder {
        GLOBAL.get_or_init(|| {
            at_exit::install();
            Recorder::new(RecorderConfig::default()).expect("default recorder config is valid")
        })
    }

    /// The global recorder if something has created it (never creates it).
    pub fn global_if_created() -> Option<&'static Recorder> {
        GLOBAL.get()
    }

    /// Whether a drainer (a store's flusher) currently holds this recorder's rings.
    pub fn is_drained_by_store(&self) -> bool {
        self.inner.registry.has_drainer()
    }

    /// Sets the global recorder's config; fails once the global recorder exists.
    pub fn configure_global(config: RecorderConfig) -> Result<(), ConfigError> {
        // Check first: building a recorder allocates rings and calibrates the clock.
        if GLOBAL.get().is_some() {
            return Err(ConfigError::AlreadyInitialized);
        }
        at_exit::install();
        let recorder = Recorder::new(config)?;
        GLOBAL
            .set(recorder)
            .map_err(|_| ConfigError::AlreadyInitialized)
    }

    /// The config this recorder was built with.
    pub fn config(&self) -> &RecorderConfig {
        &self.inner.config
    }

    /// The clock stamping records (ring records carry its raw ticks).
    pub fn clock(&self) -> &StdClock {
        &self.inner.clock
    }

    /// The registry of rings.
    pub fn registry(&self) -> &Registry<'_> {
        &self.inner.registry
    }

    /// The one consumer of every ring (the flusher), or `None` while another exists.
    pub fn drainer(&self) -> Option<Drainer<'_>> {
        self.inner.registry.drainer()
    }

    /// Counters over every ring, plus events lost for want of a ring (in `dropped_full`).
    pub fn counters(&self) -> Counters {
        let mut c = self.inner.registry.counters();
        c.dropped_full += self.inner.no_ring.load(Ordering::Relaxed);
        c
    }

    /// Claims a ring for the calling thread now, so its first event pays nothing extra.
    pub fn register_thread(&self) -> Result<(), RecordError> {
        self.slot().map(|_| ())
    }

    /// The calling thread's slot, claiming one on first use.
    #[inline(always)]
    fn slot(&self) -> Result<usize, RecordError> {
        let (id, slot) = CURRENT.with(Cell::get);
        if id == self.inner.id {
            Ok(slot)
        } else {
            self.claim_slow()
        }
    }

    #[cold]
    #[inline(never)]
    fn claim_slow(&self) -> Result<usize, RecordError> {
        let result = self.claim_uncounted();
        if result.is_err() {
            self.inner.no_ring.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    /// Claims a ring for this thread (or finds its claim); a failure is not counted (the
    /// caller counts the event it could not record).
    #[cold]
    #[inline(never)]
    fn claim_uncounted(&self) -> Result<usize, RecordError> {
        let claimed = CLAIMS.try_with(|claims| {
            let mut claims = claims.borrow_mut();
            let slot = match claims.iter().find(|c| c.recorder.id == self.inner.id) {
                Some(c) => c.slot,
                None => {
                    let Some(claim) = self.inner.registry.claim() else {
                        return Err(RecordError::NoRing);
                    };
                    let slot = claim.into_index();
                    claims.push(ThreadClaim {
                        recorder: Arc::clone(&self.inner),
                        slot,
                    });
                    let seed = (slot as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
                        ^ self.inner.clock.now_ticks();
                    RNG.with(|r| r.set(FastRng::new(seed)));
                    slot
                }
            };
            CURRENT.with(|c| c.set((self.inner.id, slot)));
            Ok(slot)
        });
        claimed.unwrap_or(Err(RecordError::ThreadExiting))
    }

    #[inline(always)]
    fn producer(&self) -> Result<Producer<'_>, RecordError> {
        let slot = self.slot()?;
        // SAFETY: `slot` was claimed by this thread (CURRENT only ever holds this thread's own
        // claims, and is cleared before a claim is retired), and producers are only used
        // within one call on this thread.
        Ok(unsafe { self.inner.registry.producer_of(slot) })
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
        let inner = &*self.inner;
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
        let inner = &*self.inner;
        let Ok(id) = callsite.id::<V>() else {
            // The id table is full: refused and counted, never recorded with a wrong schema.
            producer.count(Refusal::Oversize);
            return Err(RecordError::Refused(Refusal::Oversize));
        };
        if !inner.sampler.keeps_all() && !self.sample() {
            producer.count(Refusal::SampledOut);
            return Err(RecordError::Refused(Refusal::SampledOut));
        }
        let len = 4 + values.encoded_len();
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
                    w.put(&id.to_le_bytes());
                    values.encode(&mut w);
                    // Sized by the same values: cannot overflow; if it ever did, the record
                    // would fail its own decode rather than corrupt the ring.
                    let _ = w.finish(len);
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
        let now_ns = self
            .inner
            .clock
            .ticks_to_nanos(self.inner.clock.now_ticks());
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
        macro_rules! each {
            ($($ty:ident),*) => {
                match event { $(Event::$ty(p) => self.record(actor_id, visibility, p),)* }
            };
        }
        each!(
            AgentSessionStarted,
            AgentSessionEnded,
            AgentOperation,
            ReviewNote,
            ReviewSummary,
            PerfSample,
            PerfRegression,
            DebugSession,
            DebugSnapshot,
            VcsCommit,
            VcsBranch
        )
    }

    fn sample(&self) -> bool {
        RNG.with(|cell| {
            let mut rng = cell.get();
            let keep = self.inner.sampler.keep(&mut rng);
            cell.set(rng);
            keep
        })
    }

    /// Raw clock ticks now (for scope guards measuring durations).
    #[inline(always)]
    pub fn now_ticks(&self) -> u64 {
        self.inner.clock.now_ticks()
    }
}

/// The process-exit check of the global recorder: events the macros recorded that no store
/// took out of the rings are reported on stderr, once, so a program that records without
/// storing (no `northstar::init`, or a store draining a private recorder) is never silent.
mod at_exit {
    use super::GLOBAL;
    use std::sync::atomic::{AtomicBool, Ordering};

    static INSTALLED: AtomicBool = AtomicBool::new(false);
    static DISABLED: AtomicBool = AtomicBool::new(false);

    /// Registers the exit check once (cold: runs when the global recorder is created).
    pub(super) fn install() {
        if INSTALLED.swap(true, Ordering::AcqRel) {
            return;
        }
        #[cfg(unix)]
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
        let r = GLOBAL.get()?;
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

thread_local! {
    static NEXT_OPERATION: Cell<u64> = const { Cell::new(0) };
}

/// The high bits of an operation id taken on a thread that has no ring of this recorder (all
/// rings taken, or the thread exiting): its operation cannot be recorded anyway.
const NO_RING_OPERATION_PREFIX: u64 = (1 << 24) - 1;

impl Recorder {
    /// A fresh operation id for this thread: the thread's ring slot in the high 24 bits, a
    /// per-thread counter in the low 40, so ids from different threads never collide while each
    /// holds its ring. The thread's ring is claimed first (as its first record would claim it),
    /// so a thread's first operation carries its own slot, not slot 0 of a thread that has not
    /// recorded yet.
    #[inline(always)]
    pub fn next_operation_id(&self) -> u64 {
        let prefix = match CURRENT.with(Cell::get) {
            (id, slot) if id == self.inner.id => slot as u64,
            _ => self
                .claim_uncounted()
                .map_or(NO_RING_OPERATION_PREFIX, |slot| slot as u64),
        };
        let n = NEXT_OPERATION.with(|c| {
            let n = c.get().wrapping_add(1);
            c.set(n);
            n
        });
        (prefix << 40) | (n & ((1 << 40) - 1))
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
