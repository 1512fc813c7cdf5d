//! The consumer side: drain the ring from the idle loop, check and count every record, forward
//! its bytes unchanged to the host link.

use northstar_core::record::decode_record;
use northstar_core::ring::{Consumer, Drained};
use northstar_core::EventType;

use crate::link::Sink;

/// What the drain loop has seen so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Records decoded, per event type, indexed like [`EventType::ALL`].
    pub per_type: [u32; EventType::ALL.len()],
    /// Records whose framing did not decode (cannot happen with an intact ring).
    pub bad_records: u32,
    /// Records whose framing decoded but whose payload did not.
    pub bad_payloads: u32,
    /// Records the link refused (cannot happen: the drain is budgeted to the link's room).
    pub link_refused: u32,
    /// Bytes forwarded to the link.
    pub forwarded_bytes: u64,
}

impl Tally {
    /// Nothing seen yet (`const`, for a `static`).
    pub const fn new() -> Self {
        Self {
            per_type: [0; EventType::ALL.len()],
            bad_records: 0,
            bad_payloads: 0,
            link_refused: 0,
            forwarded_bytes: 0,
        }
    }

    /// Records seen of type `ty`.
    pub fn count(&self, ty: EventType) -> u32 {
        EventType::ALL
            .iter()
            .position(|t| *t == ty)
            .map_or(0, |i| self.per_type[i])
    }

    /// Well-formed records seen, all types together.
    pub fn total(&self) -> u64 {
        self.per_type.iter().map(|&n| u64::from(n)).sum()
    }

    /// Checks one record fully (framing and payload) and counts it.
    pub fn observe(&mut self, bytes: &[u8]) {
        match decode_record(bytes) {
            Ok(view) => match view.event() {
                Ok(event) => {
                    if let Some(i) = EventType::ALL.iter().position(|t| *t == event.event_type()) {
                        self.per_type[i] = self.per_type[i].saturating_add(1);
                    }
                }
                Err(_) => self.bad_payloads = self.bad_payloads.saturating_add(1),
            },
            Err(_) => self.bad_records = self.bad_records.saturating_add(1),
        }
    }
}

/// One pass of the drain loop: hands published records to `link`, as many as it is sure to
/// have room for, and tallies them. Returns what left the ring.
///
/// The ring's `drain` stops *after* the record that crosses its byte budget, so the budget is
/// the link's free room minus the largest record the ring can hold: every record taken from the
/// ring fits the link. When the link has less room than that, nothing is drained (the records
/// wait in the ring; if the ring fills meanwhile, new events are dropped and counted there).
pub fn drain_to_link<S: Sink>(
    consumer: &mut Consumer<'_>,
    link: &mut S,
    tally: &mut Tally,
) -> Drained {
    let max_record = consumer.ring().max_record_len();
    let free = link.free();
    if free < max_record {
        return Drained::default();
    }
    let budget = free - max_record + 1;
    consumer.drain(budget, |bytes| {
        tally.observe(bytes);
        match link.write(bytes) {
            Ok(()) => tally.forwarded_bytes += bytes.len() as u64,
            Err(_) => tally.link_refused = tally.link_refused.saturating_add(1),
        }
    })
}
