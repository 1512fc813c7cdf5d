//! Interned call sites of the spec's macros: [`perf_sample!`](crate::perf_sample) and
//! [`operation!`](crate::operation) record their literal strings (metric name, unit, dimension
//! keys and values; operation type, target type, target id) as a call-site id, not as bytes.
//!
//! # In the ring, and compact on disk
//!
//! A call site with a literal is a `static` [`Site`] pointing at a `static` [`PerfMeta`] or
//! [`OpMeta`], whose [`Slot`]s hold the literals (`Some`) or mark a run-time argument (`None`).
//! The hot path writes a ring record (type byte [`INTERNED_TYPE_BYTE`]) carrying the site id,
//! the numbers and only the run-time strings. The store's flusher keeps it compact on disk
//! ([`Interned::make_stored`], type byte [`STORED_TYPE_BYTE`], beside the site's definition in
//! each block), and its readers expand it with [`expand_payload`]; the capture API turns it
//! into the standard `perf_sample` or `agent_operation` record at once ([`Interned::parse`],
//! [`Interned::write_record`]). docs/DESIGN.md, "Interned spec call sites"; docs/FORMAT.md.
//!
//! Ring payload after the 24-byte header (all little-endian; `str` is `u32` length + UTF-8):
//!
//! | kind | fields |
//! |---|---|
//! | perf_sample | `site_id u32, value f64`, then each `None` slot in order `name, unit, key1, value1, ...` as `str` |
//! | agent_operation | `site_id u32, session_id u64, operation_id u64, start_ticks u64, status u8` (0 completed, 1 failed), then each `None` slot in order `operation_type, target_type, target_id` as `str` |
//!
//! An operation's record is stamped with the guard's end-of-operation clock read (the header's
//! timestamp, in ticks like every ring record) and carries its start-of-operation read: the
//! duration is `end - start` ticks, converted to nanoseconds by the drain with the clock's rate
//! ([`Interned::write_record`]'s `ticks_to_nanos`), so the guard does no float arithmetic.
//!
//! # Registration (the first call of a call site)
//!
//! Exactly as for user events (`crate::user`): [`Site::id`] is one `Acquire` load and a compare;
//! the first call takes an id from a global counter (`fetch_add`), stores the site in the id's
//! slot of a fixed static table with `Release`, and publishes the id in the site with a
//! compare-and-swap. A racing thread that loses uses the winner's id. No lock, no allocation, no
//! system call, no wait. When the table ([`MAX_SITES`]) is full the macro falls back to the
//! standard record: nothing is lost, it is only not interned.

use crate::codec::{DecodeError, EncodeError, Reader, Writer};
use crate::event_type::EventType;
use crate::record::{EventHeader, FRAMING_LEN, HEADER_LEN};
use crate::sync::{AtomicPtr, AtomicUsize, Ordering};
use zerocopy::{FromBytes, IntoBytes};

/// Record type byte of an interned spec record in a ring (never on disk: stored as
/// [`STORED_TYPE_BYTE`]).
pub const INTERNED_TYPE_BYTE: u8 = crate::user_bytes::INTERNED;

/// Record type byte of an interned spec record **stored** in a block (the store's disk form,
/// [`Interned::make_stored`]): the ring record with its timestamp in Unix nanoseconds and an
/// operation's start ticks replaced by its duration in nanoseconds. Only in blocks that also
/// hold the definition of its site (type byte [`SITE_DEFINITION_TYPE_BYTE`]).
pub const STORED_TYPE_BYTE: u8 = crate::user_bytes::STORED_INTERNED;

/// Record type byte of a stored call-site definition (the store's disk form): not an event.
pub const SITE_DEFINITION_TYPE_BYTE: u8 = crate::user_bytes::SITE_DEFINITION;

/// Ids the table can hand out (id 0 means "not registered").
#[cfg(feature = "std")]
pub const MAX_SITES: usize = 1 << 12;
/// Ids the table can hand out (id 0 means "not registered").
#[cfg(not(feature = "std"))]
pub const MAX_SITES: usize = 64;

/// One string of a call site: the literal (`Some`, interned) or a run-time argument (`None`,
/// copied into every record).
pub type Slot = Option<&'static str>;

/// The static strings of a `perf_sample!` call site.
#[derive(Debug)]
pub struct PerfMeta {
    /// Metric name.
    pub name: Slot,
    /// Unit.
    pub unit: Slot,
    /// Dimensions: key and value.
    pub dims: &'static [(Slot, Slot)],
}

/// The static strings of an `operation!` call site.
#[derive(Debug)]
pub struct OpMeta {
    /// Operation type (`"get"`).
    pub operation_type: Slot,
    /// Target type (`"btree"`).
    pub target_type: Slot,
    /// Target id.
    pub target_id: Slot,
}

/// What a call site records.
#[derive(Clone, Copy, Debug)]
pub enum SiteMeta {
    /// A `perf_sample`.
    Perf(&'static PerfMeta),
    /// An `agent_operation`.
    Operation(&'static OpMeta),
}

/// An interned call site: its static strings and, once registered, its id.
#[derive(Debug)]
pub struct Site {
    meta: SiteMeta,
    id: AtomicUsize,
}

impl Site {
    /// A `perf_sample!` call site, unregistered.
    #[cfg(not(loom))]
    pub const fn perf(meta: &'static PerfMeta) -> Self {
        Self {
            meta: SiteMeta::Perf(meta),
            id: AtomicUsize::new(0),
        }
    }

    /// An `operation!` call site, unregistered.
    #[cfg(not(loom))]
    pub const fn op(meta: &'static OpMeta) -> Self {
        Self {
            meta: SiteMeta::Operation(meta),
            id: AtomicUsize::new(0),
        }
    }

    /// A `perf_sample!` call site, unregistered (loom's atomics are not `const`).
    #[cfg(loom)]
    pub fn perf(meta: &'static PerfMeta) -> Self {
        Self {
            meta: SiteMeta::Perf(meta),
            id: AtomicUsize::new(0),
        }
    }

    /// An `operation!` call site, unregistered (loom's atomics are not `const`).
    #[cfg(loom)]
    pub fn op(meta: &'static OpMeta) -> Self {
        Self {
            meta: SiteMeta::Operation(meta),
            id: AtomicUsize::new(0),
        }
    }

    /// The site's static strings.
    pub fn meta(&self) -> SiteMeta {
        self.meta
    }

    /// The site's id, registering it on first use; `None` when the table is full.
    /// Hot path: one `Acquire` load and a compare.
    #[inline(always)]
    pub fn id(&'static self) -> Option<u32> {
        let id = self.id.load(Ordering::Acquire);
        if id != 0 {
            return Some(id as u32);
        }
        self.register()
    }

    #[cold]
    #[inline(never)]
    fn register(&'static self) -> Option<u32> {
        let table = table();
        // Once the table is full, stop taking ids (no counter growth on every call).
        if NEXT_ID.load(Ordering::Relaxed) >= table.len() {
            return None;
        }
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        if id >= table.len() {
            return None;
        }
        table[id].store(self as *const Site as *mut Site, Ordering::Release);
        match self
            .id
            .compare_exchange(0, id, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => Some(id as u32),
            // Another thread won: its table slot was written before its Release CAS, which
            // our Acquire read synchronises with. Our id stays a valid alias of this site.
            Err(winner) => Some(winner as u32),
        }
    }
}

#[cfg(not(loom))]
#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: AtomicPtr<Site> = AtomicPtr::new(core::ptr::null_mut());
#[cfg(not(loom))]
static TABLE: [AtomicPtr<Site>; MAX_SITES] = [EMPTY; MAX_SITES];
#[cfg(not(loom))]
static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

// Under loom, statics with atomics are built lazily and are fresh in every explored execution.
#[cfg(loom)]
loom::lazy_static! {
    static ref TABLE: [AtomicPtr<Site>; 8] =
        core::array::from_fn(|_| AtomicPtr::new(core::ptr::null_mut()));
    static ref NEXT_ID: AtomicUsize = AtomicUsize::new(1);
}

fn table() -> &'static [AtomicPtr<Site>] {
    &TABLE[..]
}

/// The site of a registered id (the drain's view of the table); `None` for an id never handed
/// out or not yet visible to this thread.
pub fn lookup(id: u32) -> Option<&'static Site> {
    let p = table().get(id as usize)?.load(Ordering::Acquire);
    // SAFETY: a non-null slot holds a pointer stored by `Site::register` from a
    // `&'static Site`: valid and immutable (but for its atomic id) for the whole program.
    unsafe { p.as_ref() }
}

// ------------------------------------------------------------------------ the hot path side

/// The strings of one `perf_sample!` call (literals and run-time values alike): what the
/// standard record would hold, and what the fallback path records.
#[derive(Clone, Copy, Debug)]
pub struct PerfArgs<'a, const N: usize> {
    /// Metric name.
    pub name: &'a str,
    /// Unit.
    pub unit: &'a str,
    /// Dimensions.
    pub dims: [(&'a str, &'a str); N],
}

#[inline(always)]
fn put_str(w: &mut Writer<'_>, s: &str) {
    w.put_len(s.len());
    w.put(s.as_bytes());
}

/// Writes `s` with its `u32` length prefix at the front of `out` and returns the rest (empty,
/// with nothing written, if it does not fit). A string of 4 to 16 bytes (a typical key) is
/// copied with two overlapping fixed-size moves instead of a call to `memcpy`.
#[inline(always)]
fn put_str_inline<'o>(out: &'o mut [u8], s: &str) -> &'o mut [u8] {
    let b = s.as_bytes();
    let n = b.len();
    let Ok(prefix) = u32::try_from(n) else {
        return &mut [];
    };
    let Some((dst, rest)) = out.split_at_mut_checked(4 + n) else {
        return &mut [];
    };
    let (len, dst) = dst.split_at_mut(4);
    len.copy_from_slice(&prefix.to_le_bytes());
    // Through integers: as `copy_from_slice`s, the compiler merged these fixed-size moves with
    // the `memcpy` of the last branch into one `memcpy` call of a variable length.
    if (8..=16).contains(&n) {
        let (first, last) = (load::<8>(b), load::<8>(&b[n - 8..]));
        dst[n - 8..].copy_from_slice(&u64::from_ne_bytes(last).to_ne_bytes());
        dst[..8].copy_from_slice(&u64::from_ne_bytes(first).to_ne_bytes());
    } else if (4..8).contains(&n) {
        let (first, last) = (load::<4>(b), load::<4>(&b[n - 4..]));
        dst[n - 4..].copy_from_slice(&u32::from_ne_bytes(last).to_ne_bytes());
        dst[..4].copy_from_slice(&u32::from_ne_bytes(first).to_ne_bytes());
    } else {
        dst.copy_from_slice(b);
    }
    rest
}

/// The first `N` bytes of `b` (zeros if it is shorter, which the callers rule out).
#[inline(always)]
fn load<const N: usize>(b: &[u8]) -> [u8; N] {
    b.first_chunk::<N>().copied().unwrap_or([0; N])
}

#[inline(always)]
fn dyn_len(slot: Slot, s: &str) -> usize {
    if slot.is_none() {
        4 + s.len()
    } else {
        0
    }
}

impl<const N: usize> PerfArgs<'_, N> {
    /// Payload bytes of the interned ring record for `meta`.
    #[inline(always)]
    pub fn ring_len(&self, meta: &PerfMeta) -> usize {
        let mut n = 4 + 8 + dyn_len(meta.name, self.name) + dyn_len(meta.unit, self.unit);
        for ((ks, vs), (k, v)) in meta.dims.iter().zip(&self.dims) {
            n += dyn_len(*ks, k) + dyn_len(*vs, v);
        }
        n
    }

    /// Payload bytes of the standard `perf_sample` record it expands to.
    #[inline(always)]
    pub fn standard_len(&self) -> usize {
        let mut n = PERF_FIXED + self.name.len() + self.unit.len();
        for (k, v) in &self.dims {
            n += 8 + k.len() + v.len();
        }
        n
    }

    /// Writes the interned ring payload.
    #[inline(always)]
    pub fn encode(&self, meta: &PerfMeta, id: u32, value: f64, w: &mut Writer<'_>) {
        w.put(&id.to_le_bytes());
        w.put(&value.to_le_bytes());
        if meta.name.is_none() {
            put_str(w, self.name);
        }
        if meta.unit.is_none() {
            put_str(w, self.unit);
        }
        for ((ks, vs), (k, v)) in meta.dims.iter().zip(&self.dims) {
            if ks.is_none() {
                put_str(w, k);
            }
            if vs.is_none() {
                put_str(w, v);
            }
        }
    }
}

/// The strings of one `operation!` guard.
#[derive(Clone, Copy, Debug)]
pub struct OpArgs<'a> {
    /// Operation type.
    pub operation_type: &'a str,
    /// Target type.
    pub target_type: &'a str,
    /// Target id.
    pub target_id: &'a str,
    /// Whether `.fail()` was called.
    pub failed: bool,
}

/// The standard status strings, by the ring's status byte.
const STATUS: [&str; 2] = ["completed", "failed"];

impl OpArgs<'_> {
    /// Payload bytes of the interned ring record for `meta`.
    #[inline(always)]
    pub fn ring_len(&self, meta: &OpMeta) -> usize {
        OP_RING_FIXED
            + dyn_len(meta.operation_type, self.operation_type)
            + dyn_len(meta.target_type, self.target_type)
            + dyn_len(meta.target_id, self.target_id)
    }

    /// Payload bytes of the standard `agent_operation` record it expands to.
    #[inline(always)]
    pub fn standard_len(&self) -> usize {
        // Saturating: a sum that cannot overflow tells the compiler, once the caller has
        // checked it against the payload limit, that no later length arithmetic on these
        // strings overflows either, so the encoding's overflow checks fold away.
        OP_FIXED
            .saturating_add(self.operation_type.len())
            .saturating_add(self.target_type.len())
            .saturating_add(self.target_id.len())
            .saturating_add(STATUS[self.failed as usize].len())
    }

    /// Writes the interned ring payload: `nums` are the session id, the operation id and the
    /// start-of-operation clock ticks. `out` must be exactly [`OpArgs::ring_len`] bytes (a
    /// shorter one gets a prefix of the record, never an out-of-bounds write).
    #[inline(always)]
    pub fn encode(&self, meta: &OpMeta, id: u32, nums: [u64; 3], out: &mut [u8]) {
        let mut fixed = [0u8; OP_RING_FIXED];
        fixed[..4].copy_from_slice(&id.to_le_bytes());
        fixed[4..12].copy_from_slice(&nums[0].to_le_bytes());
        fixed[12..20].copy_from_slice(&nums[1].to_le_bytes());
        fixed[20..28].copy_from_slice(&nums[2].to_le_bytes());
        fixed[28] = self.failed as u8;
        let Some((head, mut rest)) = out.split_at_mut_checked(OP_RING_FIXED) else {
            return;
        };
        head.copy_from_slice(&fixed);
        // Only the run-time strings; a literal's slot is `Some` and folds away in the macro's
        // inlined call.
        if meta.operation_type.is_none() {
            rest = put_str_inline(rest, self.operation_type);
        }
        if meta.target_type.is_none() {
            rest = put_str_inline(rest, self.target_type);
        }
        if meta.target_id.is_none() {
            put_str_inline(rest, self.target_id);
        }
    }
}

/// Standard `perf_sample` payload bytes besides the strings: name and unit prefixes (8), the
/// dimension count (4), value (8), window (16), no commit range (1), no sessions (4).
const PERF_FIXED: usize = 4 + 4 + 8 + 4 + 16 + 1 + 4;
/// Standard `agent_operation` payload bytes besides the strings: session (8), four string
/// prefixes (16), operation id (8), `Some(duration)` (9), empty metadata (4).
const OP_FIXED: usize = 8 + 16 + 8 + 9 + 4;
/// Interned `agent_operation` ring payload besides its run-time strings.
const OP_RING_FIXED: usize = 4 + 8 + 8 + 8 + 1;

// ------------------------------------------------------------------------------ the drain side

/// Why a ring record is not a well-formed interned record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InternError {
    /// The framing is wrong (short, wrong type byte, bad visibility, bad trailer).
    Framing,
    /// No site with this id is registered in this process.
    UnknownSite(u32),
    /// The payload does not match its site.
    Payload(DecodeError),
    /// The expanded record does not fit the header's length field or the buffer.
    Encode(EncodeError),
}

impl core::fmt::Display for InternError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Framing => f.write_str("malformed interned record framing"),
            Self::UnknownSite(id) => write!(f, "interned record of unknown call site {id}"),
            Self::Payload(e) => write!(f, "interned record does not match its call site: {e}"),
            Self::Encode(e) => write!(f, "interned record cannot be expanded: {e}"),
        }
    }
}

impl core::error::Error for InternError {}

impl From<DecodeError> for InternError {
    fn from(e: DecodeError) -> Self {
        Self::Payload(e)
    }
}

/// Whether a ring record (its first bytes) is an interned record.
#[inline]
pub fn is_interned(record: &[u8]) -> bool {
    match EventHeader::ref_from_prefix(record) {
        Ok((h, _)) => h.type_byte() == INTERNED_TYPE_BYTE,
        Err(_) => false,
    }
}

/// A checked interned ring record, ready to be expanded.
#[derive(Clone, Copy, Debug)]
pub struct Interned<'a> {
    header: &'a EventHeader,
    bytes: &'a [u8],
    site_id: u32,
    meta: SiteMeta,
    body: &'a [u8],
    standard_len: usize,
}

/// A call site's strings, borrowed from a `static` site ([`SiteMeta::shape`]) or from a
/// stored block's site definition (the store's disk form of interned records): what
/// [`expand_payload`] needs to rebuild the standard payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape<'m> {
    /// A `perf_sample` site.
    Perf {
        /// Metric name.
        name: Option<&'m str>,
        /// Unit.
        unit: Option<&'m str>,
        /// Dimensions: key and value.
        dims: &'m [(Option<&'m str>, Option<&'m str>)],
    },
    /// An `agent_operation` site.
    Operation {
        /// Operation type.
        operation_type: Option<&'m str>,
        /// Target type.
        target_type: Option<&'m str>,
        /// Target id.
        target_id: Option<&'m str>,
    },
}

impl Shape<'_> {
    /// The standard event type records of this site expand to.
    pub fn event_type(&self) -> EventType {
        match self {
            Shape::Perf { .. } => EventType::PerfSample,
            Shape::Operation { .. } => EventType::AgentOperation,
        }
    }
}

impl SiteMeta {
    /// The site's strings as a [`Shape`].
    pub fn shape(&self) -> Shape<'static> {
        match *self {
            SiteMeta::Perf(m) => Shape::Perf {
                name: m.name,
                unit: m.unit,
                dims: m.dims,
            },
            SiteMeta::Operation(m) => Shape::Operation {
                operation_type: m.operation_type,
                target_type: m.target_type,
                target_id: m.target_id,
            },
        }
    }
}

/// Offset, in an interned payload, of an operation's third number: the start ticks in a ring
/// record, the duration in nanoseconds in a stored one (after the site id, session and
/// operation id).
pub const OP_THIRD_NUMBER_AT: usize = 4 + 8 + 8;

/// A slot's string as bytes: the literal, or the run-time string's bytes from the record. A
/// run-time string's UTF-8 is not checked here: the standard record it lands in is checked
/// where every standard record's strings are, when its payload is decoded (the drain's ring
/// records come from `&str`s; a stored record's bytes are as trustworthy as a standard
/// record's).
#[inline(always)]
fn slot_str<'a>(slot: Option<&'a str>, r: &mut Reader<'a>) -> Result<&'a [u8], DecodeError> {
    match slot {
        Some(s) => Ok(s.as_bytes()),
        None => {
            let len = r.len_prefix()?;
            r.take(len)
        }
    }
}

/// Walks an interned payload's `body` (after the site id) with its site's `shape`, handing
/// each standard-payload piece to `out` in the standard order. An operation's `duration_ns` is
/// `duration(third number)`: the ring's start ticks become `ticks_to_nanos(end - start)`, a
/// stored record's nanoseconds are taken as they are. Validates everything; never panics;
/// allocates nothing. Shared by the drain (ring records) and the store's readers (stored ones).
/// Inlined, so the drain's length-only walk ([`expanded_len`]) compiles to additions.
#[inline(always)]
pub fn expand_payload(
    shape: Shape<'_>,
    body: &[u8],
    duration: impl FnOnce(u64) -> i64,
    mut out: impl FnMut(&[u8]),
) -> Result<(), DecodeError> {
    #[inline(always)]
    fn put_str(out: &mut impl FnMut(&[u8]), s: &[u8]) {
        out(&(s.len() as u32).to_le_bytes());
        out(s);
    }
    let mut r = Reader::new(body);
    match shape {
        Shape::Perf { name, unit, dims } => {
            let value: [u8; 8] = r.array()?;
            let name = slot_str(name, &mut r)?;
            let unit = slot_str(unit, &mut r)?;
            put_str(&mut out, name);
            out(&(dims.len() as u32).to_le_bytes());
            for (ks, vs) in dims {
                let k = slot_str(*ks, &mut r)?;
                let v = slot_str(*vs, &mut r)?;
                put_str(&mut out, k);
                put_str(&mut out, v);
            }
            out(&value);
            put_str(&mut out, unit);
            // Instant window {0, 0}, no commit range, no sessions.
            out(&[0u8; 16]);
            out(&[0u8; 5]);
        }
        Shape::Operation {
            operation_type,
            target_type,
            target_id,
        } => {
            let session: [u8; 8] = r.array()?;
            let op_id: [u8; 8] = r.array()?;
            let third = u64::from_le_bytes(r.array()?);
            let at = r.position();
            let status = match r.array::<1>()?[0] {
                b @ (0 | 1) => STATUS[b as usize],
                value => return Err(DecodeError::BadTag { at, value }),
            };
            let op = slot_str(operation_type, &mut r)?;
            let tt = slot_str(target_type, &mut r)?;
            let tid = slot_str(target_id, &mut r)?;
            out(&session);
            put_str(&mut out, op);
            out(&op_id);
            put_str(&mut out, tt);
            put_str(&mut out, tid);
            put_str(&mut out, status.as_bytes());
            out(&[1]);
            out(&duration(third).to_le_bytes());
            out(&[0u8; 4]);
        }
    }
    r.finish()
}

/// Length of the standard payload `body` expands to with `shape` (validating it as
/// [`expand_payload`] does).
#[inline]
pub fn expanded_len(shape: Shape<'_>, body: &[u8]) -> Result<usize, DecodeError> {
    let mut n = 0usize;
    expand_payload(shape, body, |_| 0, |b| n += b.len())?;
    Ok(n)
}

impl<'a> Interned<'a> {
    /// Checks an interned ring record: framing, a registered site, a payload matching it.
    pub fn parse(record: &'a [u8]) -> Result<Self, InternError> {
        let framed = crate::record::decode_framing(record).map_err(|_| InternError::Framing)?;
        let (header, payload) = (framed.header, framed.payload);
        if header.type_byte() != INTERNED_TYPE_BYTE || framed.bytes.len() != record.len() {
            return Err(InternError::Framing);
        }
        let mut r = Reader::new(payload);
        let id = u32::from_le_bytes(r.array()?);
        let site = lookup(id).ok_or(InternError::UnknownSite(id))?;
        let body = &payload[4..];
        let mut standard_len = 0usize;
        // Lengths only: the duration's 8 bytes do not depend on the conversion.
        expand_payload(site.meta.shape(), body, |_| 0, |b| standard_len += b.len())?;
        if standard_len > crate::record::MAX_PAYLOAD_LEN {
            return Err(InternError::Encode(EncodeError::TooLong));
        }
        Ok(Self {
            header,
            bytes: record,
            site_id: id,
            meta: site.meta,
            body,
            standard_len,
        })
    }

    /// The header's timestamp (clock ticks, as every ring record's).
    pub fn timestamp(&self) -> u64 {
        self.header.timestamp.get()
    }

    /// The id of its call site in this process.
    pub fn site_id(&self) -> u32 {
        self.site_id
    }

    /// Its call site's strings.
    pub fn site_meta(&self) -> SiteMeta {
        self.meta
    }

    /// Length of the stored form ([`Interned::write_stored`]): the ring record's own length.
    pub fn stored_len(&self) -> usize {
        self.header.record_len()
    }

    /// The ring record's bytes, as [`Interned::parse`] checked them.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Turns `copy`, a copy of [`Interned::bytes`] (the drain copies the ring record into its
    /// block, then calls this on the copy), into the record's stored form: type byte
    /// [`STORED_TYPE_BYTE`], and an operation's start ticks replaced by
    /// `ticks_to_nanos(end - start) as i64` (the duration the standard record would hold).
    /// Same length, same other header fields. Fails, changing nothing, if `copy` is not as
    /// long as the record.
    #[inline]
    pub fn make_stored(
        &self,
        copy: &mut [u8],
        ticks_to_nanos: impl FnOnce(u64) -> u64,
    ) -> Result<(), InternError> {
        if copy.len() != self.stored_len() {
            return Err(InternError::Framing);
        }
        let h = self.header;
        let header = EventHeader::with_type_byte(
            STORED_TYPE_BYTE,
            h.visibility().map_err(|_| InternError::Framing)?,
            h.timestamp.get(),
            h.actor_id.get(),
            h.event_seq.get(),
            4 + self.body.len(),
        );
        copy[..HEADER_LEN].copy_from_slice(header.as_bytes());
        if let Some(ticks) = self.duration_ticks() {
            let at = HEADER_LEN + OP_THIRD_NUMBER_AT;
            if let Some(third) = copy.get_mut(at..at + 8) {
                third.copy_from_slice(&(ticks_to_nanos(ticks) as i64).to_le_bytes());
            }
        }
        Ok(())
    }

    /// The standard event type it expands to.
    pub fn event_type(&self) -> EventType {
        match self.meta {
            SiteMeta::Perf(_) => EventType::PerfSample,
            SiteMeta::Operation(_) => EventType::AgentOperation,
        }
    }

    /// Length of the standard record (header, payload, trailer).
    pub fn record_len(&self) -> usize {
        FRAMING_LEN + self.standard_len
    }

    /// For an operation: its duration in clock ticks (end-of-operation timestamp minus the
    /// start recorded in the ring); `None` for a `perf_sample` or a payload too short.
    pub fn duration_ticks(&self) -> Option<u64> {
        match self.meta {
            SiteMeta::Perf(_) => None,
            SiteMeta::Operation(_) => {
                let start = self.body.get(16..24)?;
                let start = u64::from_le_bytes(start.try_into().ok()?);
                Some(self.header.timestamp.get().wrapping_sub(start))
            }
        }
    }

    /// Writes the standard record (same timestamp, actor, sequence and visibility) into
    /// `out`, which must be at least [`Interned::record_len`] bytes; returns the bytes written.
    /// `ticks_to_nanos` converts an operation's duration from the ticks of the clock that
    /// stamped the record (the recorder's: [`Clock::ticks_to_nanos`], or the drain's
    /// `TickConverter::nanos` snapshot of it); it is not called for a `perf_sample`.
    ///
    /// [`Clock::ticks_to_nanos`]: crate::clock::Clock::ticks_to_nanos
    pub fn write_record(
        &self,
        out: &mut [u8],
        ticks_to_nanos: impl FnOnce(u64) -> u64,
    ) -> Result<usize, InternError> {
        let total = self.record_len();
        let Some(out) = out.get_mut(..total) else {
            return Err(InternError::Encode(EncodeError::BufferTooSmall {
                needed: total,
                available: out.len(),
            }));
        };
        let h = self.header;
        let header = EventHeader::new(
            self.event_type(),
            h.visibility().map_err(|_| InternError::Framing)?,
            h.timestamp.get(),
            h.actor_id.get(),
            h.event_seq.get(),
            self.standard_len,
        );
        let mut result = Ok(());
        crate::record::write_record(out, &header, |dst| {
            let mut w = Writer::new(dst);
            // The guard's `duration_ns` before the conversion moved here: same expression.
            let end = h.timestamp.get();
            let duration = |start: u64| ticks_to_nanos(end.wrapping_sub(start)) as i64;
            result = expand_payload(self.meta.shape(), self.body, duration, |b| w.put(b))
                .map_err(InternError::from);
            if result.is_ok() {
                result = w
                    .finish(self.standard_len)
                    .map(|_| ())
                    .map_err(InternError::Encode);
            }
        });
        result.map(|()| total)
    }
}
