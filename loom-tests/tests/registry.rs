//! Loom models of the ring registry: concurrent claims never share a slot; a slot released
//! while the drainer drains is freed only once empty, then reused with no record lost and the
//! new owner's records after the old owner's.
#![cfg(loom)]
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod common;

use common::{check_tagged, model, push_tagged, Tally};
use loom::thread;
use northstar_core::registry::{Drainer, Registry, Slot};
use northstar_core::ring::RingStorage;

/// A registry of `slots` rings sharing `N` bytes, leaked so loom threads can borrow it for
/// `'static` (small, and the test process is short-lived).
fn leak_registry<const N: usize>(slots: usize) -> &'static Registry<'static> {
    let slots: &'static [Slot] = Box::leak((0..slots).map(|_| Slot::new()).collect());
    let storage: &'static RingStorage<N> = Box::leak(Box::new(RingStorage::new()));
    Box::leak(Box::new(
        Registry::new(slots, storage.cells()).expect("valid sizes"),
    ))
}

/// Drains once, checking every record; appends `(slot, tag)` to `seen`.
fn drain_into(d: &mut Drainer<'_>, seen: &mut Vec<(usize, u8)>) {
    d.drain(usize::MAX, |slot, bytes| {
        seen.push((slot, check_tagged(bytes).0))
    });
}

/// Three threads claim from two slots at once: exactly two succeed, on different slots, and
/// each one's record comes out of its own slot's ring. Once drained, both slots are free again.
#[test]
fn concurrent_claims_never_share_a_slot() {
    model("concurrent_claims_never_share_a_slot", 2, || {
        let reg = leak_registry::<128>(2);
        let claimer = |tag: u8| {
            move || {
                let mut claim = reg.claim()?;
                push_tagged(claim.producer(), tag, 0).expect("empty ring");
                // The claim drops here: the slot is retired, not yet free.
                Some((claim.index(), tag))
            }
        };
        let a = thread::spawn(claimer(1));
        let b = thread::spawn(claimer(2));
        let c = claimer(3)();
        let mut won: Vec<(usize, u8)> = [a.join().expect("a"), b.join().expect("b"), c]
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(won.len(), 2, "two slots, two winners: {won:?}");
        assert_ne!(won[0].0, won[1].0, "two claims got the same slot: {won:?}");

        let mut d = reg.drainer().expect("no other drainer");
        let mut seen = Vec::new();
        drain_into(&mut d, &mut seen);
        seen.sort_unstable();
        won.sort_unstable();
        assert_eq!(
            seen, won,
            "each record in the ring of the slot that pushed it"
        );
        assert!(reg.is_drained());
        assert_eq!(reg.counters().pushed, 2);
        let (x, y) = (reg.claim().expect("freed"), reg.claim().expect("freed"));
        assert_ne!(x.index(), y.index());
    });
}

/// One 64-byte slot. Its first owner fills it with two records and releases it while the
/// drainer drains concurrently; then another claim tries to reuse it. The claim succeeds only
/// once the drainer has emptied and freed the slot, and the new owner's records overwrite the
/// bytes the drainer read, so they must be ordered after those reads. Every record comes out
/// once, the new owner's after the old owner's.
#[test]
fn release_while_draining_then_reuse() {
    let (reused, not_yet) = (Tally::default(), Tally::default());
    let (r, n) = (reused.clone(), not_yet.clone());
    model("release_while_draining_then_reuse", 2, move || {
        let reg = leak_registry::<64>(1);
        let drainer = thread::spawn(move || {
            let mut d = reg.drainer().expect("the only drainer");
            let mut seen = Vec::new();
            drain_into(&mut d, &mut seen);
            drain_into(&mut d, &mut seen);
            seen
        });
        let first_owner = thread::spawn(move || {
            let mut claim = reg.claim().expect("the slot starts free");
            push_tagged(claim.producer(), 1, 0).expect("room");
            push_tagged(claim.producer(), 2, 0).expect("room");
        });
        first_owner.join().expect("first owner");

        let second = reg.claim().map(|mut claim| {
            assert_eq!(claim.index(), 0);
            // A slot is freed only when empty, so the new owner finds a whole ring.
            push_tagged(claim.producer(), 3, 0).expect("freed ring is empty");
            push_tagged(claim.producer(), 4, 0).expect("freed ring is empty");
        });

        let mut seen = drainer.join().expect("drainer");
        let mut d = reg.drainer().expect("the first drainer was dropped");
        drain_into(&mut d, &mut seen);
        assert!(reg.is_drained(), "everything drained and the slot freed");

        let mut expected = vec![(0, 1), (0, 2)];
        if second.is_some() {
            expected.extend([(0, 3), (0, 4)]);
            r.hit();
        } else {
            n.hit();
        }
        assert_eq!(seen, expected, "none lost, none twice, old owner's first");
        assert_eq!(reg.counters().pushed, expected.len() as u64);
        assert_eq!(reg.counters().dropped_full, 0);
    });
    assert!(reused.get() > 0, "some execution reused the slot");
    assert!(not_yet.get() > 0, "some execution found it not yet freed");
}
