//! The open spans of [`NorthstarSubscriber`](crate::NorthstarSubscriber): for each, its
//! reference count (tracing clones and drops span handles across threads), its start (clock
//! ticks) and its call site. A fixed table of atomics, no allocation, no lock: a span id
//! hashes to a run of [`PROBE`] slots. Span ids are a thread number and that thread's
//! counter, so one thread's consecutive spans land in consecutive slots (the same cache
//! lines, not a random line of the table per span).
//!
//! A span that finds no free slot in its run (more than [`OPEN`] spans open at once, or a run
//! full of long-lived spans) is not kept: it still gets its begin record, but no end record,
//! and the bridge counts it as refused (see the crate docs).

use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::site::Site;

/// Slots of the table.
pub(crate) const OPEN: usize = 1 << 16;
/// Slots probed from a span's home slot.
pub(crate) const PROBE: usize = 32;
/// A slot being filled (never a span id: ids of real threads have thread bits below it).
const CLAIMED: u64 = u64::MAX;

/// Bits of a span id holding the thread's counter; the thread number is above them.
pub(crate) const COUNTER_BITS: u32 = 44;
pub(crate) const COUNTER_MASK: u64 = (1 << COUNTER_BITS) - 1;

struct Slot {
    id: AtomicU64,
    refs: AtomicU64,
    start: AtomicU64,
    site: AtomicPtr<Site>,
}

static SLOTS: [Slot; OPEN] = [const {
    Slot {
        id: AtomicU64::new(0),
        refs: AtomicU64::new(0),
        start: AtomicU64::new(0),
        site: AtomicPtr::new(std::ptr::null_mut()),
    }
}; OPEN];

#[inline(always)]
fn home(id: u64) -> usize {
    let thread = id >> COUNTER_BITS;
    let offset = thread.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    ((id & COUNTER_MASK) ^ offset) as usize & (OPEN - 1)
}

#[inline(always)]
fn find(id: u64) -> Option<&'static Slot> {
    let h = home(id);
    // Not stopping at an empty slot: a span's slot may sit after one freed since.
    (0..PROBE)
        .map(|k| &SLOTS[(h + k) & (OPEN - 1)])
        .find(|s| s.id.load(Ordering::Acquire) == id)
}

/// Keeps span `id` (non-zero, not [`CLAIMED`]) with one reference. `false` when its run of
/// slots is full.
#[inline(always)]
pub(crate) fn open(id: u64, start: u64, site: &'static Site) -> bool {
    let h = home(id);
    for k in 0..PROBE {
        let s = &SLOTS[(h + k) & (OPEN - 1)];
        if s.id.load(Ordering::Relaxed) == 0
            && s.id
                .compare_exchange(0, CLAIMED, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            s.refs.store(1, Ordering::Relaxed);
            s.start.store(start, Ordering::Relaxed);
            s.site
                .store(site as *const Site as *mut Site, Ordering::Relaxed);
            // Publishes the fields above to whoever finds the id.
            s.id.store(id, Ordering::Release);
            return true;
        }
    }
    false
}

/// The call site of open span `id`.
#[inline(always)]
pub(crate) fn site(id: u64) -> Option<&'static Site> {
    let p = find(id)?.site.load(Ordering::Relaxed);
    // SAFETY: `site` is only ever set (before the id's Release store, which `find`'s Acquire
    // load saw) from a `&'static Site`: a leaked box, never freed or mutated.
    (!p.is_null()).then(|| unsafe { &*p })
}

/// One more reference to span `id` (a clone of its handle). `false` if it is not kept.
#[inline(always)]
pub(crate) fn clone(id: u64) -> bool {
    match find(id) {
        Some(s) => {
            s.refs.fetch_add(1, Ordering::Relaxed);
            true
        }
        None => false,
    }
}

/// What dropping one reference did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Release {
    /// Other references remain.
    Kept,
    /// That was the last: the span closed (start ticks and call site).
    Closed(u64, &'static Site),
    /// The span is not in the table.
    Unknown,
}

/// Drops one reference to span `id`; frees its slot with the last one.
#[inline(always)]
pub(crate) fn release(id: u64) -> Release {
    let Some(s) = find(id) else {
        return Release::Unknown;
    };
    // The last reference (the common case: a span dropped where it was made) needs no
    // read-modify-write: holding the only reference, no one else can clone or drop one
    // meanwhile, and the Acquire load sees every other holder's earlier release.
    if s.refs.load(Ordering::Acquire) != 1 && s.refs.fetch_sub(1, Ordering::AcqRel) != 1 {
        return Release::Kept;
    }
    let start = s.start.load(Ordering::Relaxed);
    let p = s.site.load(Ordering::Relaxed);
    s.id.store(0, Ordering::Release);
    if p.is_null() {
        return Release::Unknown;
    }
    // SAFETY: as in `site`: set from a `&'static Site` before the id was published.
    Release::Closed(start, unsafe { &*p })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn a_site() -> &'static Site {
        static CS: tracing_core::callsite::DefaultCallsite =
            tracing_core::callsite::DefaultCallsite::new(&META);
        static META: tracing_core::Metadata<'static> = tracing_core::metadata!(
            name: "live.test",
            target: "live",
            level: tracing_core::Level::INFO,
            fields: &["a"],
            callsite: &CS,
            kind: tracing_core::metadata::Kind::SPAN,
        );
        crate::site::intern(&META).unwrap()
    }

    #[test]
    fn references_close_the_span_once() {
        let site = a_site();
        let id = (7 << COUNTER_BITS) | 1;
        assert!(open(id, 42, site));
        assert_eq!(self::site(id), Some(site));
        assert!(clone(id));
        assert_eq!(release(id), Release::Kept);
        assert_eq!(release(id), Release::Closed(42, site));
        assert_eq!(release(id), Release::Unknown);
        assert!(!clone(id));
    }

    #[test]
    fn a_full_run_refuses_and_later_spans_are_found_past_freed_slots() {
        let site = a_site();
        let base = 9u64 << COUNTER_BITS;
        let h = home(base | 1);
        let ids: Vec<u64> = (1..)
            .map(|c| base | c)
            .filter(|&i| home(i) == h)
            .take(1)
            .chain(
                (1..)
                    .map(|c| (11u64 << COUNTER_BITS) | c)
                    .filter(|&i| home(i) == h)
                    .take(PROBE),
            )
            .collect();
        for (n, &id) in ids[..PROBE].iter().enumerate() {
            assert!(open(id, n as u64, site), "slot {n}");
        }
        assert!(!open(ids[PROBE], 99, site));
        // Free the first slot of the run: the others are still found behind it.
        assert_eq!(release(ids[0]), Release::Closed(0, site));
        for (n, &id) in ids[1..PROBE].iter().enumerate() {
            assert_eq!(release(id), Release::Closed(n as u64 + 1, site));
        }
    }
}
