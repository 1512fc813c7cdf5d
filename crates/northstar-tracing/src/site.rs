//! Per-callsite state: the interned schema(s) of one tracing callsite, found from its
//! `&'static Metadata` without a lock.
//!
//! A tracing callsite becomes one Northstar call site (a `user::Callsite` whose `Meta` holds
//! the callsite's name, the bridge's own fields, then tracing's field names, and the constants
//! `level` and `target`). tracing's field *types* are only known when values are visited, so
//! each (call site, list of types seen) gets its own schema id, registered on the cold path
//! the first time that list is seen ([`Variants`]), and cached in a few atomic slots that the
//! hot path compares against.

use std::collections::HashMap;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use northstar_core::user::{dynamic, Callsite, Meta};
use tracing_core::Metadata;

/// Slots of type variants cached per call site, compared on every record.
const SLOTS: usize = 8;
/// A slot being filled (never a real key: keys are remapped away from 0 and this).
const RESERVED: u64 = u64::MAX;

struct Slot {
    key: AtomicU64,
    id: AtomicU32,
}

/// The schema ids of one Northstar call site, one per list of field types seen.
pub(crate) struct Variants {
    callsite: &'static Callsite,
    slots: [Slot; SLOTS],
    /// Variants beyond the slots (a call site whose fields change types more than `SLOTS`
    /// times: never in ordinary tracing code). The only lock, and only in that case.
    overflow: Mutex<HashMap<u64, u32>>,
}

/// Type lists of at most this many bytes are their own key (packed); longer ones are hashed.
pub(crate) const PACKED: usize = 7;

/// The key of a list of type bytes, never 0 or [`RESERVED`]: for at most [`PACKED`] types the
/// bytes themselves with the length in the top byte (`0x40 | len`: exact, no collision);
/// longer lists a digest (FNV-1a with the length) with the top bit set, so the two kinds never
/// meet. [`crate::fields::Inline::key`] computes the same key with one load.
#[inline(always)]
pub(crate) fn key_of(types: &[u8]) -> u64 {
    if types.len() <= PACKED {
        let mut v = 0u64;
        for (k, &t) in types.iter().enumerate() {
            v |= (t as u64) << (8 * k);
        }
        return v | (0x40 | types.len() as u64) << 56;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ types.len() as u64;
    for &t in types {
        h ^= t as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    match h | 1 << 63 {
        RESERVED => RESERVED - 1,
        h => h,
    }
}

impl Variants {
    fn new(meta: Meta) -> Self {
        let meta: &'static Meta = Box::leak(Box::new(meta));
        Self {
            callsite: Box::leak(Box::new(Callsite::new(meta))),
            slots: std::array::from_fn(|_| Slot {
                key: AtomicU64::new(0),
                id: AtomicU32::new(0),
            }),
            overflow: Mutex::new(HashMap::new()),
        }
    }

    /// The schema id for values of these types (`key == key_of(types)`): a few atomic loads
    /// once this list of types was seen; registers it otherwise (cold, allocates once).
    #[inline(always)]
    pub(crate) fn id(&self, key: u64, types: &[u8]) -> Option<u32> {
        for s in &self.slots {
            if s.key.load(Ordering::Acquire) == key {
                return Some(s.id.load(Ordering::Relaxed));
            }
        }
        self.register(key, types)
    }

    #[cold]
    #[inline(never)]
    fn register(&self, key: u64, types: &[u8]) -> Option<u32> {
        if let Ok(map) = self.overflow.lock() {
            if let Some(&id) = map.get(&key) {
                return Some(id);
            }
        }
        let types: &'static [u8] = Box::leak(types.to_vec().into_boxed_slice());
        let id = dynamic::register(self.callsite, types).ok()?;
        for s in &self.slots {
            if s.key
                .compare_exchange(0, RESERVED, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                s.id.store(id, Ordering::Relaxed);
                s.key.store(key, Ordering::Release);
                return Some(id);
            }
            if s.key.load(Ordering::Acquire) == key {
                // Another thread cached the same list meanwhile: same types, same id
                // (`register` found it), nothing more to do.
                return Some(id);
            }
        }
        if let Ok(mut map) = self.overflow.lock() {
            map.insert(key, id);
        }
        Some(id)
    }
}

/// What kind of tracing callsite a site is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Event,
    Span,
}

/// Everything the bridge keeps for one tracing callsite.
pub(crate) struct Site {
    /// The tracing callsite's metadata.
    pub(crate) md: &'static Metadata<'static>,
    pub(crate) kind: Kind,
    /// Events: the event's record. Spans: the record at creation (`span_begin`).
    pub(crate) main: Variants,
    /// Spans only: values recorded later with `Span::record` (`span_record`).
    pub(crate) update: Option<Variants>,
    /// Spans only: the close record's schema id (`span_end`, fixed types).
    pub(crate) end: u32,
}

/// The bridge's own fields of an event record.
pub(crate) const EVENT_EXTRA: &[&str] = &["thread", "span"];
/// The bridge's own fields of a span's creation record.
pub(crate) const BEGIN_EXTRA: &[&str] = &["span_id", "parent", "thread"];
/// The bridge's own fields of a span's later-values record.
pub(crate) const RECORD_EXTRA: &[&str] = &["span_id", "thread"];
/// The fields of a span's close record.
pub(crate) const END_FIELDS: &[&str] = &["span_id", "thread", "duration"];
pub(crate) static END_TYPES: [u8; 3] = [
    northstar_core::user::FieldType::U64 as u8,
    northstar_core::user::FieldType::U64 as u8,
    northstar_core::user::FieldType::DurationNs as u8 | northstar_core::user::OPTIONAL,
];

fn meta_for(
    md: &'static Metadata<'static>,
    extra: &[&'static str],
    kind: &'static str,
    with_fields: bool,
) -> Meta {
    let mut fields: Vec<&'static str> = extra.to_vec();
    if with_fields {
        fields.extend(md.fields().iter().map(|f| f.name()));
    }
    let consts: Vec<(&'static str, &'static str)> = vec![
        ("kind", kind),
        ("level", md.level().as_str()),
        ("target", md.target()),
    ];
    Meta {
        name: md.name(),
        fields: Box::leak(fields.into_boxed_slice()),
        consts: Box::leak(consts.into_boxed_slice()),
    }
}

impl Site {
    fn new(md: &'static Metadata<'static>) -> Self {
        if md.is_span() {
            let end_meta: &'static Meta =
                Box::leak(Box::new(meta_for(md, END_FIELDS, "span_end", false)));
            let end_cs: &'static Callsite = Box::leak(Box::new(Callsite::new(end_meta)));
            let end = dynamic::register(end_cs, &END_TYPES).unwrap_or(0);
            Self {
                md,
                kind: Kind::Span,
                main: Variants::new(meta_for(md, BEGIN_EXTRA, "span_begin", true)),
                update: Some(Variants::new(meta_for(
                    md,
                    RECORD_EXTRA,
                    "span_record",
                    true,
                ))),
                end,
            }
        } else {
            Self {
                md,
                kind: Kind::Event,
                main: Variants::new(meta_for(md, EVENT_EXTRA, "event", true)),
                update: None,
                end: 0,
            }
        }
    }
}

// Sites are leaked and never move: identity is the address.
impl PartialEq for Site {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}
impl Eq for Site {}
impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Site")
            .field("name", &self.md.name())
            .finish()
    }
}

// ------------------------------------------------------------------- the lock-free table

/// Slots of the table from metadata to site (open addressing, never removed).
const TABLE: usize = 1 << 14;

struct Entry {
    md: AtomicPtr<Metadata<'static>>,
    site: AtomicPtr<Site>,
}

static ENTRIES: [Entry; TABLE] = [const {
    Entry {
        md: AtomicPtr::new(std::ptr::null_mut()),
        site: AtomicPtr::new(std::ptr::null_mut()),
    }
}; TABLE];
/// Serialises inserts (cold: `register_callsite`); lookups never take it.
static INSERT: Mutex<()> = Mutex::new(());

#[inline(always)]
fn start(md: &Metadata<'_>) -> usize {
    let p = md as *const Metadata<'_> as usize as u64;
    ((p >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 50) as usize & (TABLE - 1)
}

/// The site of a callsite, if registered. Lock-free: a probe of atomic loads.
#[inline(always)]
pub(crate) fn find(md: &Metadata<'_>) -> Option<&'static Site> {
    let target = md as *const Metadata<'_> as *mut Metadata<'static>;
    let mut i = start(md);
    for _ in 0..TABLE {
        let e = &ENTRIES[i];
        let p = e.md.load(Ordering::Acquire);
        if p == target {
            let s = e.site.load(Ordering::Acquire);
            // SAFETY: a non-null `site` was stored (Release) from a leaked `Box<Site>`, which
            // lives for the rest of the program and is only read through shared references.
            return (!s.is_null()).then(|| unsafe { &*s });
        }
        if p.is_null() {
            return None;
        }
        i = (i + 1) & (TABLE - 1);
    }
    None
}

/// The site of a callsite, creating it on first sight (cold: allocates once per callsite).
/// `None` when the table is full.
pub(crate) fn intern(md: &'static Metadata<'static>) -> Option<&'static Site> {
    if let Some(s) = find(md) {
        return Some(s);
    }
    let _guard = INSERT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = find(md) {
        return Some(s);
    }
    let target = md as *const Metadata<'static> as *mut Metadata<'static>;
    let mut i = start(md);
    for _ in 0..TABLE {
        let e = &ENTRIES[i];
        if e.md.load(Ordering::Acquire).is_null() {
            let site: &'static mut Site = Box::leak(Box::new(Site::new(md)));
            // The site first, then the key: a reader that sees the key finds the site (or
            // null for an instant, which it treats as not registered yet).
            e.site.store(site, Ordering::Release);
            e.md.store(target, Ordering::Release);
            return Some(site);
        }
        i = (i + 1) & (TABLE - 1);
    }
    None
}
