//! The single-producer/single-consumer byte ring: the hot path.
//!
//! Records are written contiguously, never split across the end of the buffer. Positions are
//! free-running byte counters (`usize`, wrapping); the offset in the buffer is
//! `position & (capacity - 1)`. At the end of the buffer, a record that does not fit is
//! preceded by a *padding record* (a header whose type byte is 0) covering the rest of the
//! buffer; a gap shorter than a minimal record (32 bytes) is skipped by both sides without a
//! marker.
//!
//! The producer publishes with one `Release` store of `tail`; the consumer reads `tail` with
//! `Acquire`, reads records in place and publishes its own position (`head`) once per batch.
//! Each side keeps a cached copy of the other's position and reloads it only when the cache
//! says the ring is full (producer) or empty (consumer), so in steady state the producer does
//! not touch the consumer's cache line at all. A full ring drops the new record and counts it:
//! it never blocks.

use crossbeam_utils::CachePadded;
use zerocopy::{FromZeros, IntoBytes};

use crate::event_type::{EventType, Visibility};
use crate::events::Payload;
use crate::record::{EventHeader, FRAMING_LEN, HEADER_LEN, MAX_PAYLOAD_LEN};
#[cfg(northstar_cas)]
use crate::sync::AtomicU8;
use crate::sync::{bump_single_writer, const_fn, AtomicUsize, Ordering, UnsafeCell};

/// Largest record the loom build can stage (loom models use small records).
#[cfg(loom)]
const LOOM_SCRATCH: usize = 128;

/// Why a record was not pushed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushError {
    /// The ring has no room: the record was dropped and counted.
    Full,
    /// The record is larger than the ring's [`Ring::max_record_len`]: refused and counted.
    TooLarge {
        /// Length of the refused record.
        len: usize,
        /// Largest record this ring accepts.
        max: usize,
    },
}

impl core::fmt::Display for PushError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Full => f.write_str("ring full: event dropped"),
            Self::TooLarge { len, max } => {
                write!(
                    f,
                    "record of {len} bytes exceeds the ring's maximum of {max}"
                )
            }
        }
    }
}

/// A refusal decided before the ring (by the limits), counted on the producer's ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The payload exceeded the payload limit.
    Oversize,
    /// The metric's token bucket was empty.
    RateLimited,
    /// The sampler skipped the event.
    SampledOut,
    /// Lost before reaching this process: a device's full ring or a damaged link frame,
    /// reported by the device and counted here on import (`northstar ingest`). Counted with
    /// [`Counters::dropped_full`].
    Upstream,
}

/// Monotonic counters of one ring (or summed over a registry). Each is written by one producer
/// at a time and read by anyone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Records published.
    pub pushed: u64,
    /// Records dropped because the ring was full.
    pub dropped_full: u64,
    /// Events refused as too large (payload limit or ring size).
    pub oversize: u64,
    /// Events refused by rate limiting.
    pub rate_limited: u64,
    /// Events skipped by sampling.
    pub sampled_out: u64,
}

impl Counters {
    /// Every event that was not stored in a ring: dropped or refused.
    pub fn lost(&self) -> u64 {
        self.dropped_full + self.oversize + self.rate_limited + self.sampled_out
    }

    /// Adds another set of counters.
    pub fn add(&mut self, other: &Counters) {
        self.pushed += other.pushed;
        self.dropped_full += other.dropped_full;
        self.oversize += other.oversize;
        self.rate_limited += other.rate_limited;
        self.sampled_out += other.sampled_out;
    }
}

/// The producer's side: its published position, its private cache of the consumer's
/// position, its sequence number and its counters. One cache line, written only by the
/// producer.
struct ProducerSide {
    tail: AtomicUsize,
    cached_head: AtomicUsize,
    seq: AtomicUsize,
    pushed: AtomicUsize,
    dropped_full: AtomicUsize,
    oversize: AtomicUsize,
    rate_limited: AtomicUsize,
    sampled_out: AtomicUsize,
}

/// The consumer's side: its published position. One cache line, written only by the consumer.
struct ConsumerSide {
    head: AtomicUsize,
}

/// The shared state of a ring: positions and counters, each side on its own cache line.
/// Storage is separate ([`RingStorage`] or any `&[UnsafeCell<u8>]`) so registries can carve
/// many rings out of one region and size them at run time.
pub struct RingControl {
    producer: CachePadded<ProducerSide>,
    consumer: CachePadded<ConsumerSide>,
}

impl core::fmt::Debug for RingControl {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RingControl")
            .field("tail", &self.producer.tail.load(Ordering::Relaxed))
            .field("head", &self.consumer.head.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl RingControl {
    const_fn! {
        /// A fresh, empty control block.
        pub fn new() -> Self {
            Self {
                producer: CachePadded::new(ProducerSide {
                    tail: AtomicUsize::new(0),
                    cached_head: AtomicUsize::new(0),
                    seq: AtomicUsize::new(0),
                    pushed: AtomicUsize::new(0),
                    dropped_full: AtomicUsize::new(0),
                    oversize: AtomicUsize::new(0),
                    rate_limited: AtomicUsize::new(0),
                    sampled_out: AtomicUsize::new(0),
                }),
                consumer: CachePadded::new(ConsumerSide { head: AtomicUsize::new(0) }),
            }
        }
    }
}

impl Default for RingControl {
    fn default() -> Self {
        Self::new()
    }
}

/// Byte storage for one ring, usable as a `static` (firmware needs no heap).
pub struct RingStorage<const N: usize> {
    cells: [UnsafeCell<u8>; N],
}

/// Shows the size only: the bytes belong to the ring's producer and consumer.
impl<const N: usize> core::fmt::Debug for RingStorage<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RingStorage")
            .field("len", &N)
            .finish_non_exhaustive()
    }
}

// SAFETY: the cells are only accessed through a `Ring`, whose producer/consumer protocol gives
// each byte a single writer at a time and orders writes before reads (Release/Acquire).
unsafe impl<const N: usize> Sync for RingStorage<N> {}

impl<const N: usize> RingStorage<N> {
    /// Zeroed storage.
    #[cfg(not(loom))]
    pub const fn new() -> Self {
        Self {
            cells: [const { UnsafeCell::new(0) }; N],
        }
    }

    /// Zeroed storage.
    #[cfg(loom)]
    pub fn new() -> Self {
        Self {
            cells: core::array::from_fn(|_| UnsafeCell::new(0)),
        }
    }

    /// The cells, as a slice.
    pub const fn cells(&self) -> &[UnsafeCell<u8>] {
        &self.cells
    }
}

impl<const N: usize> Default for RingStorage<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// A ring with its own control block and storage, for a `static`:
/// `static RING: StaticRing<4096> = StaticRing::new();`
///
/// Its two ends come from a safe constructor: [`StaticRing::split`] on a `&'static` ring (once
/// per program; a taken flag refuses a second call) or [`StaticRing::split_mut`] on a `&mut`
/// ring (the borrow makes the handles unique). [`Ring::producer`] and [`Ring::consumer`] remain
/// for the rare case where neither fits (the caller then argues uniqueness).
pub struct StaticRing<const N: usize> {
    control: RingControl,
    storage: RingStorage<N>,
    /// Set by the first [`StaticRing::split`]; never cleared (the handles are `'static`).
    #[cfg(northstar_cas)]
    split_taken: AtomicU8,
}

impl<const N: usize> core::fmt::Debug for StaticRing<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut d = f.debug_struct("StaticRing");
        d.field("ring", &self.ring());
        #[cfg(northstar_cas)]
        d.field(
            "split_taken",
            &(self.split_taken.load(Ordering::Relaxed) != 0),
        );
        d.finish()
    }
}

impl<const N: usize> StaticRing<N> {
    const_fn! {
        /// An empty ring. `N` must be a power of two of at least 64 bytes (checked at compile
        /// time when used in a `static`).
        pub fn new() -> Self {
            assert!(N.is_power_of_two() && N >= 2 * FRAMING_LEN, "ring capacity must be a power of two >= 64");
            Self {
                control: RingControl::new(),
                storage: RingStorage::new(),
                #[cfg(northstar_cas)]
                split_taken: AtomicU8::new(0),
            }
        }
    }

    /// The ring view.
    pub fn ring(&self) -> Ring<'_> {
        Ring {
            control: &self.control,
            cells: self.storage.cells(),
            mask: N - 1,
        }
    }

    /// The ring's producer and consumer, the first time this is called; `None` afterwards.
    ///
    /// The handles live as long as the program (`'static`), so a taken flag, set by one atomic
    /// swap, makes them unique: no `unsafe` and no uniqueness argument in the firmware. Needs
    /// compare-and-swap: on targets without it (thumbv6m, riscv32imc) enable the core's
    /// `critical-section` feature, or use [`StaticRing::split_mut`].
    ///
    /// ```
    /// use northstar_core::ring::StaticRing;
    /// static RING: StaticRing<1024> = StaticRing::new();
    /// let (producer, consumer) = RING.split().expect("first split");
    /// assert!(RING.split().is_none());
    /// # drop((producer, consumer));
    /// ```
    #[cfg(northstar_cas)]
    pub fn split(&'static self) -> Option<(Producer<'static>, Consumer<'static>)> {
        if self.split_taken.swap(1, Ordering::AcqRel) != 0 {
            return None;
        }
        let ring = self.ring();
        // SAFETY: the swap above returned 0 exactly once in the program's life (the flag is
        // never cleared), so these are the only producer and consumer `split` ever makes; the
        // unchecked constructors are documented as the caller's own responsibility and
        // `split_mut` needs a `&mut` that cannot coexist with this `&'static`.
        Some(unsafe { (ring.producer(), ring.consumer()) })
    }

    /// The ring's producer and consumer, borrowing the ring exclusively for as long as either
    /// lives (heapless's `Queue::split`). Works on every target, CAS or not; with a
    /// `&'static mut StaticRing` (from `static_cell` or `cortex_m::singleton!`) the handles are
    /// `'static`.
    ///
    /// ```
    /// use northstar_core::ring::StaticRing;
    /// let mut ring = StaticRing::<1024>::new();
    /// let (mut producer, mut consumer) = ring.split_mut();
    /// # let _ = (&mut producer, &mut consumer);
    /// ```
    pub fn split_mut(&mut self) -> (Producer<'_>, Consumer<'_>) {
        let ring = self.ring();
        // SAFETY: `&mut self` is held for the handles' lifetime, so no other `split_mut` or
        // `split` (which needs `&'static self`) can run while they exist, and the ring view
        // they share is only reachable through them.
        unsafe { (ring.producer(), ring.consumer()) }
    }
}

impl<const N: usize> Default for StaticRing<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// Why storage cannot back a ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadCapacity(pub usize);

impl core::fmt::Display for BadCapacity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ring capacity {} is not a power of two >= 64", self.0)
    }
}

/// A view of one ring: its control block and its storage. Cheap to copy.
#[derive(Clone, Copy)]
pub struct Ring<'a> {
    control: &'a RingControl,
    cells: &'a [UnsafeCell<u8>],
    mask: usize,
}

/// Shows the capacity, the published length and the counters, never the bytes (they may be
/// being written).
impl core::fmt::Debug for Ring<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Ring")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .field("counters", &self.counters())
            .finish()
    }
}

impl<'a> Ring<'a> {
    /// A ring over `cells`, whose length must be a power of two of at least 64 bytes.
    pub fn new(control: &'a RingControl, cells: &'a [UnsafeCell<u8>]) -> Result<Self, BadCapacity> {
        let n = cells.len();
        if n.is_power_of_two() && n >= 2 * FRAMING_LEN {
            Ok(Self {
                control,
                cells,
                mask: n - 1,
            })
        } else {
            Err(BadCapacity(n))
        }
    }

    /// A ring over cells whose length the caller has already validated (a power of two of at
    /// least 64 bytes). A wrong length could not cause memory unsafety (every access takes a
    /// bounds-checked sub-slice of the cells), only wrong positions.
    #[cfg(northstar_cas)]
    #[inline(always)]
    pub(crate) fn from_parts(control: &'a RingControl, cells: &'a [UnsafeCell<u8>]) -> Self {
        debug_assert!(cells.len().is_power_of_two() && cells.len() >= 2 * FRAMING_LEN);
        Self {
            control,
            cells,
            mask: cells.len().wrapping_sub(1),
        }
    }

    /// The ring's control block and cells, as [`Ring::from_parts`] takes them back (the
    /// recorder keeps a thread's ring this way, resolved once at claim).
    #[cfg(all(feature = "std", northstar_cas))]
    #[inline(always)]
    pub(crate) fn parts(&self) -> (&'a RingControl, &'a [UnsafeCell<u8>]) {
        (self.control, self.cells)
    }

    /// Capacity in bytes.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.mask + 1
    }

    /// The largest record this ring always accepts when empty: half its capacity (a record
    /// that wraps costs the skipped tail plus itself), and never more than the header's
    /// payload-length field can describe.
    #[inline]
    pub fn max_record_len(&self) -> usize {
        (self.capacity() / 2).min(MAX_PAYLOAD_LEN + FRAMING_LEN)
    }

    /// Bytes published and not yet consumed.
    pub fn len(&self) -> usize {
        let head = self.control.consumer.head.load(Ordering::Acquire);
        let tail = self.control.producer.tail.load(Ordering::Acquire);
        tail.wrapping_sub(head)
    }

    /// Whether every published record has been consumed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// This ring's counters.
    pub fn counters(&self) -> Counters {
        let p = &self.control.producer;
        let get = |c: &AtomicUsize| c.load(Ordering::Relaxed) as u64;
        Counters {
            pushed: get(&p.pushed),
            dropped_full: get(&p.dropped_full),
            oversize: get(&p.oversize),
            rate_limited: get(&p.rate_limited),
            sampled_out: get(&p.sampled_out),
        }
    }

    /// The producer handle, unchecked: prefer [`StaticRing::split`] or
    /// [`StaticRing::split_mut`], which need no `unsafe`. This is for rings over storage carved
    /// at run time (the registry) and other cases where the caller enforces uniqueness itself.
    ///
    /// # Safety
    ///
    /// At most one `Producer` of this ring may exist at a time, on any thread (a registry's
    /// claim or a firmware's single producer context guarantees it).
    pub unsafe fn producer(&self) -> Producer<'a> {
        Producer { ring: *self }
    }

    /// Reloads the producer's cached copy of the consumer position: a new owner of a reused
    /// ring must not trust the previous owner's cache. Called by the registry on claim, before
    /// the new producer exists.
    #[cfg(northstar_cas)]
    pub(crate) fn reset_cached_head(&self) {
        let head = self.control.consumer.head.load(Ordering::Acquire);
        self.control
            .producer
            .cached_head
            .store(head, Ordering::Relaxed);
    }

    /// The consumer handle, unchecked: prefer [`StaticRing::split`] or
    /// [`StaticRing::split_mut`].
    ///
    /// # Safety
    ///
    /// At most one `Consumer` of this ring may exist at a time, on any thread.
    pub unsafe fn consumer(&self) -> Consumer<'a> {
        Consumer { ring: *self }
    }

    /// The cells at `offset..offset + len`, bounds-checked against the storage itself, so
    /// memory safety never depends on the position arithmetic being right.
    #[cfg(not(loom))]
    #[inline(always)]
    fn region(&self, offset: usize, len: usize) -> &'a [UnsafeCell<u8>] {
        &self.cells[offset..offset + len]
    }
}

/// The producing end of a ring. Not `Clone`: there is one.
pub struct Producer<'a> {
    ring: Ring<'a>,
}

impl core::fmt::Debug for Producer<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Producer")
            .field("ring", &self.ring)
            .finish()
    }
}

// SAFETY: a `Producer` is its ring's only writer (every constructor guarantees uniqueness);
// moving it to another thread or an interrupt context moves that role with it. The storage it
// shares with the consumer is accessed only under the ring's Release/Acquire protocol (the
// argument that makes `RingStorage` `Sync`), and the control block is atomics.
unsafe impl Send for Producer<'_> {}

impl<'a> Producer<'a> {
    /// The ring this producer writes.
    pub fn ring(&self) -> Ring<'a> {
        self.ring
    }

    /// Counts a refusal decided before the ring (limits, sampling).
    #[inline]
    pub fn count(&mut self, refusal: Refusal) {
        let p = &self.ring.control.producer;
        bump_single_writer(match refusal {
            Refusal::Oversize => &p.oversize,
            Refusal::RateLimited => &p.rate_limited,
            Refusal::SampledOut => &p.sampled_out,
            Refusal::Upstream => &p.dropped_full,
        });
    }

    /// The next producer sequence number (stored in ring records' `event_seq`).
    #[inline(always)]
    fn next_seq(&mut self) -> u32 {
        let seq = &self.ring.control.producer.seq;
        let s = seq.load(Ordering::Relaxed);
        seq.store(s.wrapping_add(1), Ordering::Relaxed);
        s as u32
    }

    /// Reserves `len` contiguous bytes, lets `fill` write them, and publishes them with one
    /// `Release` store. `fill` must write a whole record of exactly `len` bytes. On a full ring
    /// the record is dropped and counted; `fill` is not called.
    ///
    /// Crate-private: a header written here is trusted by the consumer's walk, so only the
    /// crate's own encoders (which build it with [`EventHeader::new`] or a type byte the crate
    /// defines, and the length they reserve) may call it. Outside code uses
    /// [`Producer::record`] or [`Producer::push_payload`], which write the framing themselves:
    ///
    /// ```compile_fail
    /// # use northstar_core::ring::StaticRing;
    /// let mut ring = StaticRing::<1024>::new();
    /// let (mut producer, _consumer) = ring.split_mut();
    /// // A forged header would make the consumer skip or misread records.
    /// producer.push_with(64, |out| out.fill(0xff));
    /// ```
    #[inline(always)]
    pub(crate) fn push_with(
        &mut self,
        len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<(), PushError> {
        let ring = self.ring;
        let p = &ring.control.producer;
        let tail = p.tail.load(Ordering::Relaxed);
        let offset = tail & ring.mask;
        let end = offset.wrapping_add(len);
        // The common case: a record of an accepted length (`max_record_len`, as two compares
        // the compiler can fold for a known length) that fits before the end of the
        // buffer (`offset <= end <= cells.len()`: the very compares of the write's bounds check,
        // which the compiler then drops as already decided), with room by the cached consumer
        // position. Everything else (a refusal, a wrap and its padding, a reload of the
        // consumer's position, a full ring) is decided out of line by `reserve_slow`, with the
        // same checks as before in the same order.
        let (start, next_tail) = if len <= ring.capacity() / 2
            && (FRAMING_LEN..=MAX_PAYLOAD_LEN + FRAMING_LEN).contains(&len)
            && offset <= end
            && end <= ring.cells.len()
            && tail.wrapping_sub(p.cached_head.load(Ordering::Relaxed)) + len <= ring.capacity()
        {
            (offset, tail.wrapping_add(len))
        } else {
            self.reserve_slow(len, tail)?
        };
        self.write(start, len, fill);
        p.tail.store(next_tail, Ordering::Release);
        bump_single_writer(&p.pushed);
        Ok(())
    }

    /// [`Producer::push_with`] off its fast path: refuses (and counts) a record of a length the
    /// ring does not take, places the record at the start of the buffer when it does not fit
    /// before the end (marking the skipped end with a padding record when it can hold one),
    /// reloads the consumer's position when the cached one says there is no room, and drops
    /// (and counts) the record when there is still none. Returns where to write the record and
    /// the tail to publish after it. Not generic, so one copy serves every call site.
    #[cold]
    #[inline(never)]
    fn reserve_slow(&mut self, len: usize, tail: usize) -> Result<(usize, usize), PushError> {
        let ring = self.ring;
        let p = &ring.control.producer;
        let max = ring.max_record_len();
        if len > max || len < FRAMING_LEN {
            bump_single_writer(&p.oversize);
            return Err(PushError::TooLarge { len, max });
        }
        let cap = ring.capacity();
        let offset = tail & ring.mask;
        let room_to_end = cap - offset;
        let (skip, start) = if room_to_end >= len {
            (0, offset)
        } else {
            (room_to_end, 0)
        };
        let needed = skip + len;

        let mut head = p.cached_head.load(Ordering::Relaxed);
        if tail.wrapping_sub(head) + needed > cap {
            head = ring.control.consumer.head.load(Ordering::Acquire);
            p.cached_head.store(head, Ordering::Relaxed);
            if tail.wrapping_sub(head) + needed > cap {
                bump_single_writer(&p.dropped_full);
                return Err(PushError::Full);
            }
        }

        if skip >= FRAMING_LEN {
            // Mark the unused end of the buffer so the consumer jumps to the start.
            let pad = padding_header(skip);
            self.write(offset, pad.as_bytes().len(), |dst| {
                dst.copy_from_slice(pad.as_bytes())
            });
        }
        Ok((start, tail.wrapping_add(needed)))
    }

    /// Writes `len` bytes at buffer offset `start` through `fill`.
    #[cfg(not(loom))]
    #[inline(always)]
    fn write(&mut self, start: usize, len: usize, fill: impl FnOnce(&mut [u8])) {
        let cells = self.ring.region(start, len);
        // SAFETY: the cells are in bounds (a checked sub-slice) and lie between the published
        // tail and the consumer's head, so the consumer does not read them until the Release
        // store that follows; `&mut self` makes this the only producer writing; `UnsafeCell<u8>`
        // has the layout of `u8`, and the cells stay borrowed for the slice's lifetime.
        let dst = unsafe {
            core::slice::from_raw_parts_mut(UnsafeCell::raw_get(cells.as_ptr()), cells.len())
        };
        fill(dst);
    }

    /// Writes through a scratch buffer so loom sees each byte written through its cell.
    #[cfg(loom)]
    fn write(&mut self, start: usize, len: usize, fill: impl FnOnce(&mut [u8])) {
        let mut scratch = [0u8; LOOM_SCRATCH];
        fill(&mut scratch[..len]);
        for (i, b) in scratch[..len].iter().enumerate() {
            // SAFETY: as in the non-loom write: the producer owns this unpublished region.
            self.ring.cells[start + i].with_mut(|p| unsafe { *p = *b });
        }
    }

    /// Encodes and pushes one event: header (with `timestamp` as raw clock ticks), payload
    /// encoded in place, trailer. No allocation, no copy of the payload through a temporary.
    #[inline(always)]
    pub fn record<'p, P: Payload<'p>>(
        &mut self,
        timestamp: u64,
        actor_id: u64,
        visibility: Visibility,
        payload: &P,
    ) -> Result<(), PushError> {
        self.record_sized(
            timestamp,
            actor_id,
            visibility,
            payload,
            payload.encoded_len(),
        )
    }

    /// [`Producer::record`] with the payload's `encoded_len` already computed.
    #[inline(always)]
    pub fn record_sized<'p, P: Payload<'p>>(
        &mut self,
        timestamp: u64,
        actor_id: u64,
        visibility: Visibility,
        payload: &P,
        payload_len: usize,
    ) -> Result<(), PushError> {
        self.push_payload(
            P::EVENT_TYPE,
            visibility,
            timestamp,
            actor_id,
            payload_len,
            |dst| {
                // The length was computed by the same payload, so this cannot fail; if it ever
                // did, the record would fail its own decode rather than corrupt the ring.
                let _ = payload.encode_into(dst);
            },
        )
    }

    /// Pushes one record of `event_type` whose payload `fill` writes in place. The producer
    /// writes the header (from `event_type`, `visibility`, the timestamp in raw ticks, the
    /// actor, its own sequence number and `payload_len`) and the trailer itself, and hands
    /// `fill` exactly the `payload_len` payload bytes: safe code cannot publish a malformed
    /// frame. The payload bytes are not checked here (a reader's `Event::decode` does that).
    ///
    /// ```
    /// use northstar_core::event_type::{EventType, Visibility};
    /// use northstar_core::record::decode_record;
    /// use northstar_core::ring::StaticRing;
    ///
    /// let mut ring = StaticRing::<1024>::new();
    /// let (mut producer, mut consumer) = ring.split_mut();
    /// // An AgentSessionEnded payload is its session id, a little-endian u64.
    /// producer
    ///     .push_payload(EventType::AgentSessionEnded, Visibility::Team, 5, 7, 8, |dst| {
    ///         dst.copy_from_slice(&42u64.to_le_bytes())
    ///     })
    ///     .unwrap();
    /// consumer.drain(usize::MAX, |bytes| {
    ///     let view = decode_record(bytes).unwrap();
    ///     assert_eq!(view.event_type(), Some(EventType::AgentSessionEnded));
    ///     assert_eq!(view.payload(), &42u64.to_le_bytes()[..]);
    /// });
    /// ```
    #[inline(always)]
    pub fn push_payload(
        &mut self,
        event_type: EventType,
        visibility: Visibility,
        timestamp: u64,
        actor_id: u64,
        payload_len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<(), PushError> {
        if payload_len > MAX_PAYLOAD_LEN {
            bump_single_writer(&self.ring.control.producer.oversize);
            return Err(PushError::TooLarge {
                len: payload_len.saturating_add(FRAMING_LEN),
                max: self.ring.max_record_len(),
            });
        }
        let seq = self.next_seq();
        let header = EventHeader::new(
            event_type,
            visibility,
            timestamp,
            actor_id,
            seq,
            payload_len,
        );
        self.push_with(FRAMING_LEN + payload_len, |out| {
            crate::record::write_record(out, &header, fill)
        })
    }
}

/// The header of a padding record covering `len` bytes (type byte 0, never a real event).
#[inline]
fn padding_header(len: usize) -> EventHeader {
    let mut h = EventHeader::new_zeroed();
    h.packed
        .set((len - FRAMING_LEN) as u32 & MAX_PAYLOAD_LEN as u32);
    h
}

/// What one drain consumed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drained {
    /// Records handed to the callback.
    pub records: usize,
    /// Bytes of ring consumed (records and padding).
    pub bytes: usize,
}

impl Drained {
    /// Adds another drain's totals.
    pub fn add(&mut self, other: Drained) {
        self.records += other.records;
        self.bytes += other.bytes;
    }
}

/// The consuming end of a ring. Not `Clone`: there is one.
pub struct Consumer<'a> {
    ring: Ring<'a>,
}

impl core::fmt::Debug for Consumer<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Consumer")
            .field("ring", &self.ring)
            .finish()
    }
}

// SAFETY: as for `Producer`: the consumer is the ring's only reader of published records and
// only writer of `head`, whichever thread it runs on.
unsafe impl Send for Consumer<'_> {}

impl<'a> Consumer<'a> {
    /// The ring this consumer reads.
    pub fn ring(&self) -> Ring<'a> {
        self.ring
    }

    /// Hands every published record, up to about `max_bytes`, to `f` in place (a slice of the
    /// ring itself: header, payload and trailer, timestamps in raw ticks), then publishes the
    /// new consumer position once. Returns what was consumed.
    pub fn drain(&mut self, max_bytes: usize, mut f: impl FnMut(&[u8])) -> Drained {
        let ring = self.ring;
        let control = ring.control;
        let cap = ring.capacity();
        let start_head = control.consumer.head.load(Ordering::Relaxed);
        let tail = control.producer.tail.load(Ordering::Acquire);
        let mut head = start_head;
        let mut records = 0;
        while head != tail && head.wrapping_sub(start_head) < max_bytes {
            let offset = head & ring.mask;
            let room_to_end = cap - offset;
            let available = tail.wrapping_sub(head);
            if room_to_end < FRAMING_LEN {
                head = head.wrapping_add(room_to_end);
                continue;
            }
            let mut header = EventHeader::new_zeroed();
            self.read(offset, HEADER_LEN, |src| {
                header.as_mut_bytes().copy_from_slice(src)
            });
            let len = header.record_len();
            if len > room_to_end || len > available {
                // Only a producer bug could write this; skip what is published rather than
                // read outside the record.
                debug_assert!(false, "malformed ring record");
                head = tail;
                break;
            }
            if header.type_byte() != 0 {
                self.read(offset, len, &mut f);
                records += 1;
            }
            head = head.wrapping_add(len);
        }
        if head != start_head {
            control.consumer.head.store(head, Ordering::Release);
        }
        Drained {
            records,
            bytes: head.wrapping_sub(start_head),
        }
    }

    /// Hands the published bytes at `offset..offset + len` to `f`.
    #[cfg(not(loom))]
    #[inline(always)]
    fn read(&self, offset: usize, len: usize, f: impl FnOnce(&[u8])) {
        let cells = self.ring.region(offset, len);
        // SAFETY: the cells are in bounds (a checked sub-slice) and lie between head and the
        // tail loaded with Acquire, so the producer's writes to them happened before, and it
        // will not write them again until the consumer publishes a head past them;
        // `UnsafeCell<u8>` has the layout of `u8`.
        let src = unsafe {
            core::slice::from_raw_parts(
                UnsafeCell::raw_get(cells.as_ptr()).cast_const(),
                cells.len(),
            )
        };
        f(src);
    }

    /// Reads through a scratch buffer so loom sees each byte read through its cell.
    #[cfg(loom)]
    fn read(&self, offset: usize, len: usize, f: impl FnOnce(&[u8])) {
        let mut scratch = [0u8; LOOM_SCRATCH];
        for (i, b) in scratch[..len].iter_mut().enumerate() {
            // SAFETY: as in the non-loom read: the region is published and not being written.
            *b = self.ring.cells[offset + i].with(|p| unsafe { *p });
        }
        f(&scratch[..len]);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::events::AgentSessionEnded;
    use crate::record::decode_record;

    fn push_n(p: &mut Producer<'_>, n: usize, tag: u64) -> usize {
        (0..n)
            .filter(|i| {
                p.record(
                    tag + *i as u64,
                    7,
                    Visibility::Team,
                    &AgentSessionEnded {
                        session_id: *i as u64,
                    },
                )
                .is_ok()
            })
            .count()
    }

    #[test]
    fn records_round_trip_in_order_across_many_wraps() {
        let ring = StaticRing::<256>::new();
        // SAFETY: this test is the only producer and the only consumer.
        let (mut p, mut c) = unsafe { (ring.ring().producer(), ring.ring().consumer()) };
        let mut next_expected = 0u64;
        let mut pushed = 0u64;
        let mut attempts = 0u64;
        for round in 0..200 {
            // Vary the record size so the padding and short-gap paths are both taken.
            let n = 1 + round % 5;
            for _ in 0..n {
                let md = [("k", "v"); 3];
                let meta: &[(&str, &str)] = &md[..round % 4];
                let ev = crate::events::AgentSessionStarted {
                    session_id: pushed,
                    agent_version: "1",
                    session_purpose: if round % 2 == 0 {
                        "x"
                    } else {
                        "longer purpose"
                    },
                    metadata: meta.into(),
                };
                attempts += 1;
                if p.record(pushed, 1, Visibility::Public, &ev).is_ok() {
                    pushed += 1;
                }
            }
            c.drain(usize::MAX, |bytes| {
                let view = decode_record(bytes).expect("well-formed record");
                assert_eq!(view.timestamp(), next_expected);
                next_expected += 1;
            });
        }
        // Every record pushed came out, in order; every other attempt was counted as dropped.
        assert_eq!(next_expected, pushed);
        assert!(pushed > 300, "pushed {pushed}");
        let counters = ring.ring().counters();
        assert_eq!(counters.pushed, pushed);
        assert_eq!(counters.dropped_full, attempts - pushed);
    }

    #[test]
    fn full_ring_drops_and_counts_exactly() {
        let ring = StaticRing::<1024>::new();
        // SAFETY: single producer and consumer in this test.
        let (mut p, mut c) = unsafe { (ring.ring().producer(), ring.ring().consumer()) };
        let ok = push_n(&mut p, 100, 0);
        let counters = ring.ring().counters();
        assert_eq!(counters.pushed as usize, ok);
        assert_eq!(counters.dropped_full as usize, 100 - ok);
        assert!(ok > 0 && ok < 100);
        let drained = c.drain(usize::MAX, |_| {});
        assert_eq!(drained.records, ok);
        // After draining there is room again.
        assert_eq!(push_n(&mut p, 1, 0), 1);
    }

    #[test]
    fn oversize_records_are_refused_and_counted() {
        let ring = StaticRing::<128>::new();
        // SAFETY: single producer in this test.
        let mut p = unsafe { ring.ring().producer() };
        assert_eq!(
            p.push_with(65, |_| unreachable!()),
            Err(PushError::TooLarge { len: 65, max: 64 })
        );
        assert_eq!(ring.ring().counters().oversize, 1);
    }

    /// The lengths at the edges of `push_with`'s fast-path test (one unsigned compare for
    /// `FRAMING_LEN..=max_record_len`) and of its room-to-end test: shorter than the framing and
    /// longer than the maximum are refused and counted, the maximum itself and a record that
    /// ends exactly at the end of the buffer are taken, and one that would cross it wraps.
    #[test]
    fn push_with_length_and_room_edges() {
        let ring = StaticRing::<128>::new();
        // SAFETY: single producer and consumer in this test.
        let (mut p, mut c) = unsafe { (ring.ring().producer(), ring.ring().consumer()) };
        let framed = |out: &mut [u8]| {
            let header = EventHeader::new(
                EventType::AgentSessionEnded,
                Visibility::Team,
                0,
                0,
                0,
                out.len() - FRAMING_LEN,
            );
            crate::record::write_record(out, &header, |dst| dst.fill(7));
        };
        for len in [0, 1, FRAMING_LEN - 1, 65, usize::MAX] {
            assert!(
                matches!(
                    p.push_with(len, |_| unreachable!()),
                    Err(PushError::TooLarge { .. })
                ),
                "{len}"
            );
        }
        assert_eq!(ring.ring().counters().oversize, 5);
        // 64 (the maximum) then 64: the second ends exactly at the end of the buffer.
        assert_eq!(p.push_with(64, framed), Ok(()));
        assert_eq!(p.push_with(64, framed), Ok(()));
        assert_eq!(p.push_with(FRAMING_LEN, framed), Err(PushError::Full));
        assert_eq!(
            c.drain(usize::MAX, |_| {}),
            Drained {
                records: 2,
                bytes: 128
            }
        );
        // Tail at 128 (offset 0): 40 bytes, then 64 (88 left before the end), then 33 at
        // offset 104 crosses the end: the 24 bytes left are skipped (too short for a padding
        // record) and the record goes to the start.
        assert_eq!(p.push_with(40, framed), Ok(()));
        assert_eq!(p.push_with(64, framed), Ok(()));
        assert_eq!(c.drain(usize::MAX, |_| {}).records, 2);
        assert_eq!(p.push_with(FRAMING_LEN + 1, framed), Ok(()));
        let drained = c.drain(usize::MAX, |bytes| assert_eq!(bytes.len(), FRAMING_LEN + 1));
        assert_eq!(
            drained,
            Drained {
                records: 1,
                bytes: 24 + FRAMING_LEN + 1
            }
        );
        // Offset 33: 40 bytes, then 64 at offset 73 crosses the end with 55 bytes left: a
        // padding record covers them (not handed to the drain) and the record goes to the start.
        assert_eq!(p.push_with(40, framed), Ok(()));
        assert_eq!(c.drain(usize::MAX, |_| {}).records, 1);
        assert_eq!(p.push_with(64, framed), Ok(()));
        let drained = c.drain(usize::MAX, |bytes| assert_eq!(bytes.len(), 64));
        assert_eq!(
            drained,
            Drained {
                records: 1,
                bytes: 55 + 64
            }
        );
        let counters = ring.ring().counters();
        assert_eq!((counters.pushed, counters.dropped_full), (7, 1));
    }

    #[test]
    fn push_payload_writes_the_framing_itself() {
        let mut ring = StaticRing::<256>::new();
        let (mut p, mut c) = ring.split_mut();
        p.push_payload(
            EventType::PerfSample,
            Visibility::Public,
            11,
            22,
            5,
            |dst| {
                assert_eq!(dst.len(), 5, "the closure sees the payload only");
                dst.fill(0xff);
            },
        )
        .unwrap();
        // Larger than the ring takes (and than the header can describe): refused and counted,
        // the closure never called.
        for len in [128, MAX_PAYLOAD_LEN + 1, usize::MAX - 4] {
            assert!(matches!(
                p.push_payload(EventType::PerfSample, Visibility::Public, 0, 0, len, |_| {
                    unreachable!()
                }),
                Err(PushError::TooLarge { .. })
            ));
        }
        assert_eq!(p.ring().counters().oversize, 3);
        let mut seen = 0;
        c.drain(usize::MAX, |bytes| {
            let view = decode_record(bytes).unwrap();
            assert_eq!(view.event_type(), Some(EventType::PerfSample));
            assert_eq!(view.visibility(), Visibility::Public);
            assert_eq!((view.timestamp(), view.actor_id()), (11, 22));
            assert_eq!(view.payload(), &[0xff; 5][..]);
            seen += 1;
        });
        assert_eq!(seen, 1);
    }

    #[test]
    fn drain_respects_its_byte_budget_and_publishes_once() {
        let ring = StaticRing::<4096>::new();
        // SAFETY: single producer and consumer in this test.
        let (mut p, mut c) = unsafe { (ring.ring().producer(), ring.ring().consumer()) };
        assert_eq!(push_n(&mut p, 10, 0), 10);
        let first = c.drain(1, |_| {});
        assert_eq!(first.records, 1);
        let rest = c.drain(usize::MAX, |_| {});
        assert_eq!(rest.records, 9);
        assert!(ring.ring().is_empty());
    }

    #[test]
    fn split_hands_out_the_two_ends_once() {
        static RING: StaticRing<256> = StaticRing::new();
        let (mut p, mut c) = RING.split().expect("the first split succeeds");
        assert!(RING.split().is_none(), "a second split must be refused");
        assert!(RING.split().is_none(), "and stays refused");
        assert_eq!(push_n(&mut p, 3, 40), 3);
        let mut stamps = [0u64; 3];
        let mut n = 0;
        let drained = c.drain(usize::MAX, |bytes| {
            stamps[n] = decode_record(bytes)
                .expect("well-formed record")
                .timestamp();
            n += 1;
        });
        assert_eq!(drained.records, 3);
        assert_eq!(stamps, [40, 41, 42]);
    }

    #[test]
    fn split_mut_handles_share_one_ring() {
        let mut ring = StaticRing::<256>::new();
        {
            let (mut p, mut c) = ring.split_mut();
            assert_eq!(push_n(&mut p, 2, 0), 2);
            assert_eq!(c.drain(usize::MAX, |_| {}).records, 2);
            assert_eq!(push_n(&mut p, 1, 0), 1);
        }
        // The borrow has ended: a new pair continues where the first left off.
        let (_, mut c) = ring.split_mut();
        assert_eq!(c.drain(usize::MAX, |_| {}).records, 1);
        assert_eq!(ring.ring().counters().pushed, 3);
    }

    #[test]
    fn split_handles_move_to_other_threads() {
        let mut ring = StaticRing::<1024>::new();
        let (mut p, mut c) = ring.split_mut();
        let got = std::thread::scope(|s| {
            s.spawn(move || {
                for i in 0..500 {
                    while p
                        .record(i, 1, Visibility::Team, &AgentSessionEnded { session_id: i })
                        .is_err()
                    {
                        std::thread::yield_now();
                    }
                }
            });
            s.spawn(move || {
                let mut next = 0u64;
                while next < 500 {
                    c.drain(usize::MAX, |bytes| {
                        assert_eq!(decode_record(bytes).unwrap().timestamp(), next);
                        next += 1;
                    });
                }
                next
            })
            .join()
            .unwrap()
        });
        assert_eq!(got, 500);
    }

    #[test]
    fn bad_capacity_is_refused() {
        let control = RingControl::new();
        let storage = RingStorage::<100>::new();
        assert_eq!(
            Ring::new(&control, storage.cells()).err(),
            Some(BadCapacity(100))
        );
    }
}
