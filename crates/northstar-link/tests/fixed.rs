//! The fixed-event encoder writes the very frames the general encoder writes, so the same host
//! decoder reads them; a new actor gets a new template; a record of another type is counted as
//! lost on the link, not dropped silently.

use northstar_core::events::{AgentSessionEnded, AgentSessionStarted};
use northstar_core::record::decode_record;
use northstar_core::ring::StaticRing;
use northstar_core::{List, Visibility};
use northstar_link::decoder::{Decoder, DeviceCounters, Item, Problem};
use northstar_link::{FixedEncoder, LinkEncoder, Sink};

const HZ: u64 = 16_000_000;

#[derive(Default)]
struct Wire {
    bytes: Vec<u8>,
    frames: Vec<usize>,
}

impl Sink for Wire {
    fn write(&mut self, bytes: &[u8]) {
        self.frames.push(bytes.len());
        self.bytes.extend_from_slice(bytes);
    }
}

fn decode(bytes: &[u8]) -> (Vec<Vec<u8>>, Vec<Problem>, Option<DeviceCounters>) {
    let mut dec = Decoder::new(Some(HZ), None, 0);
    let mut records = Vec::new();
    let mut problems = Vec::new();
    let mut end = None;
    dec.feed(bytes, &mut |item| match item {
        Item::Record(r) => records.push(r),
        Item::Problem(p) => problems.push(p),
        Item::End(c) => end = Some(c),
        _ => {}
    });
    (records, problems, end)
}

/// Session ids and tick steps that exercise 1- to 10-byte varints and negative deltas.
fn session(i: u64) -> (u64, u64) {
    let ticks = if i == 40 { 5 } else { i * i * 977 + (i << 30) };
    (ticks, i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (i % 64))
}

#[test]
fn the_fixed_encoder_writes_the_general_encoders_bytes_and_the_host_reads_them_back() {
    let ring: &'static StaticRing<1024> = Box::leak(Box::new(StaticRing::new()));
    let (mut producer, mut consumer) = ring.split().unwrap();
    // The same records, one at a time, through both encoders.
    let mut fixed = FixedEncoder::<AgentSessionEnded>::new(HZ, 0);
    let mut general = LinkEncoder::<256, 16, 128, 136>::new(HZ, 0);
    let (mut a, mut b) = (Wire::default(), Wire::default());
    let mut expected = Vec::new();
    for i in 0..100 {
        let (ticks, id) = session(i);
        producer
            .record(
                ticks,
                7,
                Visibility::Team,
                &AgentSessionEnded { session_id: id },
            )
            .unwrap();
        expected.push((ticks, id));
        consumer.drain(usize::MAX, |r| {
            fixed.send_record(r, &mut a);
            general.send_record(r, &mut b);
        });
    }
    let c = ring.ring().counters();
    fixed.sync(&c, &mut a, true);
    general.sync(&c, &mut b, true);
    assert_eq!(a.frames, b.frames);
    assert_eq!(a.bytes, b.bytes, "the same frames, byte for byte");
    assert_eq!(fixed.stats(), general.stats());

    let (records, problems, end) = decode(&a.bytes);
    assert_eq!(problems, vec![]);
    assert_eq!(end.unwrap().records_sent, 100);
    assert_eq!(records.len(), 100);
    for (got, (ticks, id)) in records.iter().zip(&expected) {
        let view = decode_record(got).unwrap();
        let ns = (u128::from(*ticks) * 1_000_000_000 / u128::from(HZ)) as u64;
        assert_eq!(view.timestamp(), ns);
        assert_eq!(view.actor_id(), 7);
        assert_eq!(view.visibility(), Visibility::Team);
        let mut payload = [0u8; 8];
        payload.copy_from_slice(view.payload());
        assert_eq!(u64::from_le_bytes(payload), *id);
    }
}

#[test]
fn a_new_actor_or_visibility_gets_a_new_template_and_another_type_is_counted_as_lost() {
    static RING: StaticRing<1024> = StaticRing::new();
    let (mut producer, mut consumer) = RING.split().unwrap();
    let mut enc = FixedEncoder::<AgentSessionEnded>::new(HZ, 0);
    let mut wire = Wire::default();
    let ended = |s| AgentSessionEnded { session_id: s };
    let started = AgentSessionStarted {
        session_id: 9,
        agent_version: "a",
        session_purpose: "m",
        metadata: List::EMPTY,
    };
    producer.record(10, 1, Visibility::Team, &ended(1)).unwrap();
    producer.record(20, 2, Visibility::Team, &ended(2)).unwrap();
    producer
        .record(30, 2, Visibility::Private, &ended(3))
        .unwrap();
    producer
        .record(35, 2, Visibility::Private, &started)
        .unwrap();
    producer.record(40, 1, Visibility::Team, &ended(4)).unwrap();
    enc.pump(&mut consumer, &mut wire);
    enc.sync(&RING.ring().counters(), &mut wire, true);
    let s = enc.stats();
    assert_eq!((s.records_sent, s.link_dropped, s.templates), (4, 1, 4));

    let (records, problems, end) = decode(&wire.bytes);
    assert_eq!(problems, vec![]);
    let end = end.unwrap();
    assert_eq!((end.pushed, end.records_sent, end.link_dropped), (5, 4, 1));
    let got: Vec<(u64, Visibility, Vec<u8>)> = records
        .iter()
        .map(|r| {
            let v = decode_record(r).unwrap();
            (v.actor_id(), v.visibility(), v.payload().to_vec())
        })
        .collect();
    let want = |a, v, s: u64| (a, v, s.to_le_bytes().to_vec());
    assert_eq!(
        got,
        vec![
            want(1, Visibility::Team, 1),
            want(2, Visibility::Team, 2),
            want(2, Visibility::Private, 3),
            want(1, Visibility::Team, 4),
        ]
    );
}
