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

use northstar_core::user::{dynamic, Callsite, FieldType, Meta, OPTIONAL};

use tracing_core::Metadata;

/// Slots of type variants cached per call site, compared on every record.
const SLOTS: usize = 8;
/// A slot being filled (never a schema id: ids are table indices, far below it).
const CLAIMED: u32 = u32::MAX;

struct Slot {
    /// The schema id; 0 while the slot is empty. Published last (Release): a reader that
    /// sees an id sees the key words written before it.
    id: AtomicU32,
    lo: AtomicU64,
    hi: AtomicU64,
}

/// The type of a field the event did not give a value for (a span's `field::Empty`): an
/// optional `u8`, absent (one zero byte).
pub(crate) const ABSENT: u8 = FieldType::U8 as u8 | OPTIONAL;
/// The bridge's field types as codes (0: absent), so a record's list of types is two
/// words built while the values are visited: [`Key`].
pub(crate) const CODES: [u8; 7] = [
    ABSENT,
    FieldType::U64 as u8,
    FieldType::I64 as u8,
    FieldType::F64 as u8,
    FieldType::Bool as u8,
    FieldType::Str as u8,
    FieldType::Bytes as u8,
];
pub(crate) const CODE_U64: u64 = 1;
pub(crate) const CODE_I64: u64 = 2;
pub(crate) const CODE_F64: u64 = 3;
pub(crate) const CODE_BOOL: u64 = 4;
pub(crate) const CODE_STR: u64 = 5;
pub(crate) const CODE_BYTES: u64 = 6;
/// The exact list of a record's tracing field types (the bridge's own fields are fixed per
/// [`Variants`]): field `i`'s code (4 bits, [`CODES`]) at bit `4 * (i % 16)` of word `i / 16`.
/// No hash, no collision: tracing's 32 fields take the 128 bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    pub(crate) lo: u64,
    pub(crate) hi: u64,
}

impl Key {
    /// Sets field `i`'s code (`i` < 32, the field's code still 0).
    #[inline(always)]
    pub(crate) fn set(&mut self, i: usize, code: u64) {
        let bits = code << (4 * (i & 15));
        if i < 16 {
            self.lo |= bits;
        } else {
            self.hi |= bits;
        }
    }

    /// Field `i`'s code.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> u64 {
        let w = if i < 16 { self.lo } else { self.hi };
        w >> (4 * (i & 15)) & 15
    }

    /// The key of a list of type bytes (the two-pass path's [`crate::fields::Shape`]);
    /// `None` for a type the bridge never writes, or more than 32 fields.
    pub(crate) fn of_types(types: &[u8]) -> Option<Self> {
        if types.len() > 32 {
            return None;
        }
        let mut k = Self::default();
        for (i, &t) in types.iter().enumerate() {
            let code = CODES.iter().position(|&c| c == t)?;
            k.set(i, code as u64);
        }
        Some(k)
    }
}

/// The schema ids of one Northstar call site, one per list of field types seen.
pub(crate) struct Variants {
    callsite: &'static Callsite,
    /// The bridge's own `u64` fields before the tracing fields.
    extra: usize,
    /// The tracing fields.
    fields: usize,
    slots: [Slot; SLOTS],
    /// Variants beyond the slots (a call site whose fields change types more than `SLOTS`
    /// times: never in ordinary tracing code). The only lock, and only in that case.
    overflow: Mutex<HashMap<Key, u32>>,
}

impl Variants {
    fn new(meta: Meta, extra: usize) -> Self {
        let meta: &'static Meta = Box::leak(Box::new(meta));
        Self {
            callsite: Box::leak(Box::new(Callsite::new(meta))),
            extra,
            fields: meta.fields.len() - extra,
            slots: std::array::from_fn(|_| Slot {
                id: AtomicU32::new(0),
                lo: AtomicU64::new(0),
                hi: AtomicU64::new(0),
            }),
            overflow: Mutex::new(HashMap::new()),
        }
    }

    /// The schema id for values of these types: a few atomic loads once this list of types
    /// was seen; registers it otherwise (cold, allocates once).
    #[inline(always)]
    pub(crate) fn id(&self, key: Key) -> Option<u32> {
        for s in &self.slots {
            let id = s.id.load(Ordering::Acquire);
            if id == 0 {
                // Slots fill in order: no later one is taken.
                break;
            }
            if s.lo.load(Ordering::Relaxed) == key.lo
                && s.hi.load(Ordering::Relaxed) == key.hi
                && id != CLAIMED
            {
                return Some(id);
            }
        }
        self.register(key)
    }

    #[cold]
    #[inline(never)]
    fn register(&self, key: Key) -> Option<u32> {
        if let Ok(map) = self.overflow.lock() {
            if let Some(&id) = map.get(&key) {
                return Some(id);
            }
        }
        let mut types = vec![FieldType::U64 as u8; self.extra];
        types.extend(
            (0..self.fields).map(|i| CODES.get(key.get(i) as usize).copied().unwrap_or(ABSENT)),
        );
        let types: &'static [u8] = Box::leak(types.into_boxed_slice());
        // Finds the id when another thread registered the same list meanwhile.
        let id = dynamic::register(self.callsite, types).ok()?;
        for s in &self.slots {
            if s.id
                .compare_exchange(0, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                s.lo.store(key.lo, Ordering::Relaxed);
                s.hi.store(key.hi, Ordering::Relaxed);
                s.id.store(id, Ordering::Release);
                return Some(id);
            }
            if s.id.load(Ordering::Acquire) == id {
                // Another thread cached the same list meanwhile: nothing more to do.
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
                main: Variants::new(
                    meta_for(md, BEGIN_EXTRA, "span_begin", true),
                    BEGIN_EXTRA.len(),
                ),
                update: Some(Variants::new(
                    meta_for(md, RECORD_EXTRA, "span_record", true),
                    RECORD_EXTRA.len(),
                )),
                end,
            }
        } else {
            Self {
                md,
                kind: Kind::Event,
                main: Variants::new(meta_for(md, EVENT_EXTRA, "event", true), EVENT_EXTRA.len()),
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
