//! Helpers shared by the loom models: a model runner with a preemption bound, records whose
//! every byte is derived from a tag (so a torn or stale byte is detected), and a tally of what
//! happened across executions (so a model can prove its interesting interleavings ran).

#![allow(dead_code)] // each test binary uses a different subset

use std::sync::atomic::{AtomicUsize, Ordering as StdOrdering};
use std::sync::Arc as StdArc;

use northstar_core::record::decode_record;
use northstar_core::ring::{Consumer, Producer, PushError, StaticRing};
use northstar_core::{EventType, Visibility};

/// Runs `f` under every interleaving loom explores. `LOOM_MAX_PREEMPTIONS` wins when set;
/// otherwise `default_preemptions` keeps a plain `cargo test` from running unbounded.
/// Returns how many executions loom ran.
pub fn model<F>(name: &str, default_preemptions: usize, f: F) -> usize
where
    F: Fn() + Sync + Send + 'static,
{
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = Some(default_preemptions);
    }
    let runs = StdArc::new(AtomicUsize::new(0));
    let counter = runs.clone();
    let started = std::time::Instant::now();
    builder.check(move || {
        counter.fetch_add(1, StdOrdering::Relaxed);
        f();
    });
    let runs = runs.load(StdOrdering::Relaxed);
    eprintln!(
        "{name}: {runs} executions, preemption bound {:?}, {:.2?}",
        builder.preemption_bound,
        started.elapsed()
    );
    runs
}

/// Counts, across executions, how often something happened. Plain std atomics: loom does not
/// track them, and they are only read after `model` returns.
#[derive(Clone, Default)]
pub struct Tally(StdArc<AtomicUsize>);

impl Tally {
    /// One more.
    pub fn hit(&self) {
        self.0.fetch_add(1, StdOrdering::Relaxed);
    }

    /// How many so far.
    pub fn get(&self) -> usize {
        self.0.load(StdOrdering::Relaxed)
    }
}

/// A ring for one model execution. Leaked so the loom threads can borrow it for `'static`
/// (a few hundred bytes per execution; the test process is short-lived).
pub fn leak_ring<const N: usize>() -> &'static StaticRing<N> {
    Box::leak(Box::new(StaticRing::<N>::new()))
}

/// The payload byte `i` of the record tagged `tag`.
fn payload_byte(tag: u8, i: usize) -> u8 {
    tag.wrapping_mul(37).wrapping_add(i as u8) ^ 0x5a
}

/// Pushes a record of `FRAMING_LEN + payload_len` bytes whose header and payload are all
/// derived from `tag` (the producer writes the header and trailer; the payload is ours).
pub fn push_tagged(p: &mut Producer<'_>, tag: u8, payload_len: usize) -> Result<(), PushError> {
    p.push_payload(
        EventType::PerfSample,
        Visibility::Team,
        u64::from(tag) * 1_000_003,
        u64::from(tag) + 7_000,
        payload_len,
        |payload| {
            for (i, b) in payload.iter_mut().enumerate() {
                *b = payload_byte(tag, i);
            }
        },
    )
}

/// Checks that `bytes` is exactly one intact record written by [`push_tagged`] and returns its
/// tag and payload length. Panics (failing the model) on any torn or stale byte.
pub fn check_tagged(bytes: &[u8]) -> (u8, usize) {
    let view = decode_record(bytes).unwrap_or_else(|e| panic!("torn record: {e}"));
    assert_eq!(
        view.bytes().len(),
        bytes.len(),
        "record spans the slice handed out"
    );
    assert_eq!(view.event_type(), Some(EventType::PerfSample));
    assert_eq!(view.visibility(), Visibility::Team);
    let tag = view
        .actor_id()
        .checked_sub(7_000)
        .and_then(|t| u8::try_from(t).ok())
        .unwrap_or_else(|| panic!("actor {} is no tag's", view.actor_id()));
    assert_eq!(
        view.timestamp(),
        u64::from(tag) * 1_000_003,
        "timestamp of {tag}"
    );
    for (i, b) in view.payload().iter().enumerate() {
        assert_eq!(*b, payload_byte(tag, i), "payload byte {i} of record {tag}");
    }
    (tag, view.payload().len())
}

/// Drains everything published, checking each record; appends `(tag, payload_len)` to `out`
/// and returns the ring bytes consumed (records and padding).
pub fn drain_checked(c: &mut Consumer<'_>, out: &mut Vec<(u8, usize)>) -> usize {
    c.drain(usize::MAX, |bytes| out.push(check_tagged(bytes)))
        .bytes
}
