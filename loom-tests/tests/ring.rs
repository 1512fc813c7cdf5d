//! Loom models of the SPSC byte ring: publish and consume, wrap (padding record and short-gap
//! skip), and a full ring's exact drop counting. In each model a producer thread and a consumer
//! thread run concurrently; every byte goes through loom's tracked `UnsafeCell`, so a read that
//! is not ordered after the write it observes (a missing Release/Acquire) fails the model.
#![cfg(loom)]
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod common;

use common::{drain_checked, leak_ring, model, push_tagged, Tally};
use loom::thread;
use northstar_core::record::FRAMING_LEN;
use northstar_core::ring::{PushError, StaticRing};

/// Pushes `(tag, payload_len)` records in order from a new thread; returns each result.
fn spawn_producer<const N: usize>(
    ring: &'static StaticRing<N>,
    records: &'static [(u8, usize)],
) -> thread::JoinHandle<Vec<Result<(), PushError>>> {
    thread::spawn(move || {
        // SAFETY: this thread is the ring's only producer while it runs.
        let mut p = unsafe { ring.ring().producer() };
        records
            .iter()
            .map(|&(tag, len)| push_tagged(&mut p, tag, len))
            .collect()
    })
}

/// Drains `times` times from a new thread; returns the records seen and the bytes consumed.
fn spawn_consumer<const N: usize>(
    ring: &'static StaticRing<N>,
    times: usize,
) -> thread::JoinHandle<(Vec<(u8, usize)>, usize)> {
    thread::spawn(move || {
        // SAFETY: this thread is the ring's only consumer while it runs.
        let mut c = unsafe { ring.ring().consumer() };
        let mut seen = Vec::new();
        let bytes = (0..times).map(|_| drain_checked(&mut c, &mut seen)).sum();
        (seen, bytes)
    })
}

/// Joins both sides, drains what is left on this thread, and checks the contract: the records
/// seen are exactly the ones whose push succeeded, intact, in push order, none twice; the
/// counters match (`setup` records were pushed before the threads started). Returns (accepted
/// records, records the concurrent consumer saw, bytes consumed after the setup).
fn finish<const N: usize>(
    ring: &'static StaticRing<N>,
    setup: u64,
    records: &[(u8, usize)],
    producer: thread::JoinHandle<Vec<Result<(), PushError>>>,
    consumer: thread::JoinHandle<(Vec<(u8, usize)>, usize)>,
) -> (Vec<(u8, usize)>, usize, usize) {
    let results = producer.join().expect("producer");
    let (mut seen, mut bytes) = consumer.join().expect("consumer");
    let concurrently_seen = seen.len();
    // SAFETY: both threads are joined; this is now the only consumer.
    let mut c = unsafe { ring.ring().consumer() };
    bytes += drain_checked(&mut c, &mut seen);
    assert!(ring.ring().is_empty(), "final drain consumed everything");

    for r in &results {
        assert!(
            matches!(r, Ok(()) | Err(PushError::Full)),
            "unexpected {r:?}"
        );
    }
    let accepted: Vec<(u8, usize)> = records
        .iter()
        .zip(&results)
        .filter(|(_, r)| r.is_ok())
        .map(|(rec, _)| *rec)
        .collect();
    assert_eq!(
        seen, accepted,
        "records out == records accepted, in order, once"
    );

    let counters = ring.ring().counters();
    assert_eq!(counters.pushed, setup + accepted.len() as u64);
    assert_eq!(
        counters.dropped_full,
        (records.len() - accepted.len()) as u64
    );
    assert_eq!(
        counters.pushed + counters.dropped_full,
        setup + records.len() as u64
    );
    (accepted, concurrently_seen, bytes)
}

/// Three records of distinct sizes and contents (120 of 128 bytes, so none is dropped) while the
/// consumer drains twice: each comes out intact, in order, exactly once.
#[test]
fn publish_and_consume_concurrently() {
    const RECORDS: &[(u8, usize)] = &[(1, 8), (2, 0), (3, 16)];
    let partial = Tally::default();
    let t = partial.clone();
    model("publish_and_consume_concurrently", 3, move || {
        let ring = leak_ring::<128>();
        let producer = spawn_producer(ring, RECORDS);
        let consumer = spawn_consumer(ring, 2);
        let (accepted, concurrently_seen, bytes) = finish(ring, 0, RECORDS, producer, consumer);
        assert_eq!(accepted, RECORDS, "a ring with room never drops");
        assert_eq!(
            bytes,
            3 * FRAMING_LEN + 24,
            "no padding before the first wrap"
        );
        if concurrently_seen > 0 && concurrently_seen < RECORDS.len() {
            t.hit();
        }
    });
    assert!(
        partial.get() > 0,
        "some execution drained part of the stream mid-flight"
    );
}

/// Moves a fresh ring's positions forward by pushing and draining `records` records of
/// `payload_len` on this thread, before the model's threads start.
fn advance<const N: usize>(ring: &'static StaticRing<N>, records: usize, payload_len: usize) {
    // SAFETY: no other thread exists yet; this thread is the only producer and consumer.
    let (mut p, mut c) = unsafe { (ring.ring().producer(), ring.ring().consumer()) };
    for tag in 0..records {
        push_tagged(&mut p, 100 + tag as u8, payload_len).expect("setup push");
    }
    let mut seen = Vec::new();
    drain_checked(&mut c, &mut seen);
    assert_eq!(seen.len(), records);
}

/// Wrap with a padding record: with both positions at 96 of 128, a 40-byte record leaves a
/// 32-byte gap at the end, which the producer marks with a padding record before writing at 0.
/// The third record (88..128) overwrites the padding, so it may only be written after the
/// consumer has read the padding and published its head past it.
#[test]
fn wrap_with_padding_record() {
    const RECORDS: &[(u8, usize)] = &[(3, 8), (4, 16), (5, 8)];
    let (reused, dropped) = (Tally::default(), Tally::default());
    let (r, d) = (reused.clone(), dropped.clone());
    model("wrap_with_padding_record", 2, move || {
        let ring = leak_ring::<128>();
        advance(ring, 2, 16); // two 48-byte records: positions at 96
        let producer = spawn_producer(ring, RECORDS);
        let consumer = spawn_consumer(ring, 2);
        let (accepted, _, bytes) = finish(ring, 2, RECORDS, producer, consumer);
        assert_eq!(&accepted[..2], &RECORDS[..2], "room for the first two");
        let padding = 32;
        let records: usize = accepted.iter().map(|(_, len)| FRAMING_LEN + len).sum();
        assert_eq!(bytes, padding + records, "padding consumed, not handed out");
        if accepted.len() == 3 {
            r.hit();
        } else {
            d.hit();
        }
    });
    assert!(
        reused.get() > 0,
        "some execution reused the padding's bytes"
    );
    assert!(dropped.get() > 0, "some execution found the ring full");
}

/// Wrap with a short gap: with both positions at 112 of 128, a 56-byte record leaves 16
/// bytes at the end, too few for a padding record; both sides skip them without a marker. The
/// third record wraps again and overwrites the first, so it needs the consumer's head past it.
#[test]
fn wrap_with_short_gap_skip() {
    const RECORDS: &[(u8, usize)] = &[(3, 24), (4, 24), (5, 24)];
    let (reused, dropped) = (Tally::default(), Tally::default());
    let (r, d) = (reused.clone(), dropped.clone());
    model("wrap_with_short_gap_skip", 2, move || {
        let ring = leak_ring::<128>();
        advance(ring, 2, 24); // two 56-byte records: positions at 112
        let producer = spawn_producer(ring, RECORDS);
        let consumer = spawn_consumer(ring, 2);
        let (accepted, _, bytes) = finish(ring, 2, RECORDS, producer, consumer);
        assert_eq!(&accepted[..2], &RECORDS[..2], "room for the first two");
        let gaps = if accepted.len() == 3 { 2 * 16 } else { 16 };
        assert_eq!(
            bytes,
            gaps + accepted.len() * 56,
            "gaps skipped by both sides"
        );
        if accepted.len() == 3 {
            r.hit();
        } else {
            d.hit();
        }
    });
    assert!(
        reused.get() > 0,
        "some execution reused the first record's bytes"
    );
    assert!(dropped.get() > 0, "some execution found the ring full");
}

/// A 64-byte ring holds two 32-byte records. Four attempts while the consumer drains once:
/// every attempt is either pushed or counted as dropped, and the consumer sees exactly the
/// pushed ones.
#[test]
fn full_ring_counts_drops_exactly() {
    const RECORDS: &[(u8, usize)] = &[(1, 0), (2, 0), (3, 0), (4, 0)];
    let (reused, dropped) = (Tally::default(), Tally::default());
    let (r, d) = (reused.clone(), dropped.clone());
    model("full_ring_counts_drops_exactly", 3, move || {
        let ring = leak_ring::<64>();
        let producer = spawn_producer(ring, RECORDS);
        let consumer = spawn_consumer(ring, 1);
        let (accepted, _, _) = finish(ring, 0, RECORDS, producer, consumer);
        assert!(
            accepted.len() >= 2,
            "an empty 64-byte ring takes two records"
        );
        if accepted.len() > 2 {
            r.hit();
        }
        if accepted.len() < RECORDS.len() {
            d.hit();
        }
    });
    assert!(reused.get() > 0, "some execution pushed into drained space");
    assert!(dropped.get() > 0, "some execution dropped");
}

/// A longer stream than the ring holds (248 bytes of records of four sizes through 128 bytes,
/// so both padding and short gaps occur, depending on the interleaving) while the consumer
/// drains three times: whatever was accepted comes out intact, in order, once; the rest is
/// counted as dropped.
#[test]
fn long_stream_across_wraps() {
    const RECORDS: &[(u8, usize)] = &[(1, 8), (2, 0), (3, 16), (4, 8), (5, 0), (6, 24)];
    let (refilled, some_dropped) = (Tally::default(), Tally::default());
    let (a, d) = (refilled.clone(), some_dropped.clone());
    model("long_stream_across_wraps", 2, move || {
        let ring = leak_ring::<128>();
        let producer = spawn_producer(ring, RECORDS);
        let consumer = spawn_consumer(ring, 3);
        let (accepted, _, bytes) = finish(ring, 0, RECORDS, producer, consumer);
        let records: usize = accepted.iter().map(|(_, len)| FRAMING_LEN + len).sum();
        assert!(bytes >= records, "consumed bytes cover the records");
        if records > 128 {
            a.hit();
        }
        if accepted.len() < RECORDS.len() {
            d.hit();
        }
    });
    assert!(
        refilled.get() > 0,
        "some execution pushed into space drained mid-stream"
    );
    assert!(some_dropped.get() > 0, "some execution dropped");
}
