//! Start times of open spans, keyed by span id, so the close record carries the span's
//! duration. A fixed table of atomics (no allocation, no lock): a span id hashes to a run of
//! [`PROBE`] slots; a span whose run is full (more than that many open spans collide, or more
//! than [`OPEN`] spans are open at once) gets no start time, and its close record says
//! `duration` is absent (`None`) rather than a wrong value.

use std::sync::atomic::{AtomicU64, Ordering};

const OPEN: usize = 1 << 14;
const PROBE: usize = 16;

struct Slot {
    id: AtomicU64,
    start: AtomicU64,
}

static SLOTS: [Slot; OPEN] = [const {
    Slot {
        id: AtomicU64::new(0),
        start: AtomicU64::new(0),
    }
}; OPEN];

#[inline(always)]
fn home(id: u64) -> usize {
    (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize & (OPEN - 1)
}

/// Remembers the start ticks of span `id` (non-zero). Returns whether it found room.
#[inline]
pub(crate) fn open(id: u64, start: u64) -> bool {
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
                s.id.store(id, Ordering::Release);
                return true;
            }
        }
    }
    false
}

/// Takes the start ticks of span `id` out of the table, if it was there.
#[inline]
pub(crate) fn close(id: u64) -> Option<u64> {
    let h = home(id);
    for k in 0..PROBE {
        let s = &SLOTS[(h + k) & (OPEN - 1)];
        if s.id.load(Ordering::Acquire) == id {
            let start = s.start.load(Ordering::Relaxed);
            s.id.store(0, Ordering::Release);
            return Some(start);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_then_close_returns_the_start_once() {
        assert!(open(0xdead_0001, 42));
        assert_eq!(close(0xdead_0001), Some(42));
        assert_eq!(close(0xdead_0001), None);
    }

    #[test]
    fn a_full_run_refuses_instead_of_overwriting() {
        // Ids with the same home slot: find PROBE + 1 of them.
        let base = 0x5eed_0000u64;
        let h = home(base);
        let ids: Vec<u64> = (base..).filter(|&i| home(i) == h).take(PROBE + 1).collect();
        for (n, &id) in ids[..PROBE].iter().enumerate() {
            assert!(open(id, n as u64 + 1), "slot {n}");
        }
        assert!(!open(ids[PROBE], 99));
        for (n, &id) in ids[..PROBE].iter().enumerate() {
            assert_eq!(close(id), Some(n as u64 + 1));
        }
    }
}
