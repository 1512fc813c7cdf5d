//! Replays the committed fuzz seeds on stable through the fuzz target's own function, and
//! (ignored) regenerates them: `cargo test -p northstar-link --test fuzz_seeds -- --ignored`.

use std::path::PathBuf;

use northstar_core::events::{
    AgentOperation, AgentSessionEnded, CorrelationHints, PerfSample, TimeWindow,
};
use northstar_core::ring::StaticRing;
use northstar_core::{List, Visibility};
use northstar_link::{LinkEncoder, Sink};

fn seed_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/link_decoder")
}

#[test]
fn committed_seeds_replay_cleanly() {
    let mut n = 0;
    for entry in std::fs::read_dir(seed_dir()).expect("seed directory exists") {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        northstar_link::fuzzing::link_decoder(&bytes);
        n += 1;
    }
    assert!(n >= 5, "expected the committed seeds, found {n}");
}

struct Wire(Vec<u8>);

impl Sink for Wire {
    fn write(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

/// A short device session: a few events of three types, counters, END.
fn stream() -> Vec<u8> {
    let ring: &'static StaticRing<2048> = Box::leak(Box::new(StaticRing::new()));
    let (mut p, mut c) = ring.split().unwrap();
    let mut enc = LinkEncoder::<256, 16, 256, 264>::new(16_000_000, 0);
    let mut wire = Wire(Vec::new());
    let dims = [("channel", "adc0"), ("board", "rev-b")];
    for i in 0..6u64 {
        let t = 160_000 * i;
        p.record(t, 7, Visibility::Team, &AgentSessionEnded { session_id: i })
            .unwrap();
        p.record(
            t + 5,
            7,
            Visibility::Team,
            &PerfSample {
                metric_name: "adc_millivolts",
                dimensions: List::from(&dims[..]),
                value: i as f64 * 0.5,
                unit: "mV",
                timestamp_window: TimeWindow {
                    start: (t * 62) as i64,
                    end: (t * 62 + 310) as i64,
                },
                correlation_hints: CorrelationHints::NONE,
            },
        )
        .unwrap();
        p.record(
            t + 9,
            7,
            Visibility::Public,
            &AgentOperation {
                session_id: 1,
                operation_type: "control_step",
                operation_id: i,
                target_type: "actuator",
                target_id: if i % 2 == 0 {
                    "pwm0"
                } else {
                    "a target id too long for the dictionary, sent inline"
                },
                status: "completed",
                duration_ns: Some(1200),
                metadata: List::EMPTY,
            },
        )
        .unwrap();
        enc.pump(&mut c, &mut wire);
    }
    enc.sync(&ring.ring().counters(), &mut wire, true);
    wire.0
}

#[test]
#[ignore = "writes fuzz/seeds/link_decoder; run by hand when the wire format changes"]
fn write_seeds() {
    let dir = seed_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let s = stream();
    std::fs::write(dir.join("session.bin"), &s).unwrap();
    std::fs::write(dir.join("truncated.bin"), &s[..s.len() * 2 / 3]).unwrap();
    let mut lost = s.clone();
    lost.remove(s.len() / 2);
    std::fs::write(dir.join("lost_byte.bin"), &lost).unwrap();
    let mut flipped = s.clone();
    flipped[s.len() / 3] ^= 0x40;
    std::fs::write(dir.join("flipped_bit.bin"), &flipped).unwrap();
    let mut twice = s.clone();
    twice.extend_from_slice(&s);
    std::fs::write(dir.join("two_connections.bin"), &twice).unwrap();
    // Without the HELLO (a host that connects late).
    let first_end = s.iter().position(|&b| b == 0).unwrap() + 1;
    std::fs::write(dir.join("no_hello.bin"), &s[first_end..]).unwrap();
}

#[test]
fn the_seed_session_decodes_without_problems() {
    use northstar_link::decoder::{Decoder, Item};
    let mut dec = Decoder::new(None, None, 0);
    let mut records = 0;
    dec.feed(&stream(), &mut |item| match item {
        Item::Record(_) => records += 1,
        Item::Problem(p) => panic!("{p}"),
        _ => {}
    });
    assert_eq!(records, 18);
}
