//! Start times and call sites of the layer's open spans, keyed by span id, so the close record
//! carries the span's duration and is written without asking the registry for the span's
//! metadata. A fixed table of atomics (no allocation, no lock): a span id hashes to a run of
//! [`PROBE`] slots; a span whose run is full (more than that many open spans collide, or more
//! than [`OPEN`] spans are open at once) gets no start time, and its close record says
//! `duration` is absent (`None`) rather than a wrong value.

use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use crate::site::Site;

const OPEN: usize = 1 << 14;
const PROBE: usize = 16;

struct Slot {
    id: AtomicU64,
    start: AtomicU64,
    site: AtomicPtr<Site>,
}

static SLOTS: [Slot; OPEN] = [const {
    Slot {
        id: AtomicU64::new(0),
        start: AtomicU64::new(0),
        site: AtomicPtr::new(std::ptr::null_mut()),
    }
}; OPEN];

#[inline(always)]
fn home(id: u64) -> usize {
    (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize & (OPEN - 1)
}

/// Remembers the start ticks and call site of span `id` (non-zero). Returns whether it found
/// room.
#[inline]
pub(crate) fn open(id: u64, start: u64, site: &'static Site) -> bool {
    let h = home(id);
    for k in 0..PROBE {
        let s = &SLOTS[(h + k) & (OPEN - 1)];
        if s.id.load(Ordering::Relaxed) == 0 {
            // The start first: the id's Release store publishes it.
            if s.id
                .compare_exchange(0, u64::MAX, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                s.start.store(start, Ordering::Relaxed);
                s.site
                    .store(site as *const Site as *mut Site, Ordering::Relaxed);
                s.id.store(id, Ordering::Release);
                return true;
            }
        }
    }
    false
}

/// Takes the start ticks and call site of span `id` out of the table, if it was there.
#[inline]
pub(crate) fn close(id: u64) -> Option<(u64, &'static Site)> {
    let h = home(id);
    for k in 0..PROBE {
        let s = &SLOTS[(h + k) & (OPEN - 1)];
        if s.id.load(Ordering::Acquire) == id {
            let start = s.start.load(Ordering::Relaxed);
            let site = s.site.load(Ordering::Relaxed);
            s.id.store(0, Ordering::Release);
            // SAFETY: `site` was set from a `&'static Site` (a leaked box, never freed or
            // mutated) before the id's Release store, which the Acquire load above saw.
            return (!site.is_null()).then(|| (start, unsafe { &*site }));
        }
    }
    None
}

/// The call site of open span `id`, if it is in the table.
#[inline]
pub(crate) fn site(id: u64) -> Option<&'static Site> {
    let h = home(id);
    (0..PROBE)
        .map(|k| &SLOTS[(h + k) & (OPEN - 1)])
        .find(|s| s.id.load(Ordering::Acquire) == id)
        .and_then(|s| {
            let p = s.site.load(Ordering::Relaxed);
            // SAFETY: as in `close`.
            (!p.is_null()).then(|| unsafe { &*p })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a_site() -> &'static Site {
        crate::live::tests::a_site()
    }

    #[test]
    fn open_then_close_returns_the_start_once() {
        let site = a_site();
        assert!(open(0xdead_0001, 42, site));
        assert_eq!(self::site(0xdead_0001), Some(site));
        assert_eq!(close(0xdead_0001), Some((42, site)));
        assert_eq!(close(0xdead_0001), None);
    }

    #[test]
    fn a_full_run_refuses_instead_of_overwriting() {
        // Ids with the same home slot: find PROBE + 1 of them.
        let base = 0x5eed_0000u64;
        let h = home(base);
        let ids: Vec<u64> = (base..).filter(|&i| home(i) == h).take(PROBE + 1).collect();
        for (n, &id) in ids[..PROBE].iter().enumerate() {
            assert!(open(id, n as u64 + 1, a_site()), "slot {n}");
        }
        assert!(!open(ids[PROBE], 99, a_site()));
        for (n, &id) in ids[..PROBE].iter().enumerate() {
            assert_eq!(close(id), Some((n as u64 + 1, a_site())));
        }
    }
}
