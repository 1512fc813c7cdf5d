//! Interned `perf_sample!` and `operation!` call sites: the ring record carries the site id and
//! the run-time strings only, and expands to exactly the standard record the macros wrote before
//! (same payload bytes), whatever mix of literal and run-time strings the call has.
#![cfg(all(feature = "std", not(feature = "off")))]

use std::sync::Mutex;

use northstar_core::__private::interned::{self, InternError, Interned};
use northstar_core::events::{AgentOperation, CorrelationHints, PerfSample, TimeWindow};
use northstar_core::record::{decode_record, FRAMING_LEN};
use northstar_core::recorder::{Recorder, RecorderConfig};
use northstar_core::{operation, perf_sample, Event, EventType, List, Payload};

/// The tests share the global recorder: one at a time.
static ONE: Mutex<()> = Mutex::new(());

fn global() -> &'static Recorder {
    let _ = Recorder::configure_global(RecorderConfig {
        rings: 4,
        ring_bytes: 1 << 16,
        ..Default::default()
    });
    Recorder::global()
}

/// The global recorder's tick-to-nanosecond conversion (what the drain applies to an
/// operation's duration).
fn to_nanos(ticks: u64) -> u64 {
    use northstar_core::clock::Clock;
    global().clock().ticks_to_nanos(ticks)
}

/// Drains the global recorder: (ring record, expanded standard record).
fn drain() -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    global()
        .drainer()
        .expect("sole drainer")
        .drain(usize::MAX, |_, rec| {
            let i = Interned::parse(rec).expect("an interned record");
            let mut buf = vec![0u8; i.record_len()];
            let n = i.write_record(&mut buf, to_nanos).expect("expands");
            assert_eq!(n, buf.len());
            out.push((rec.to_vec(), buf));
        });
    out
}

fn perf<'a>(
    name: &'a str,
    value: f64,
    unit: &'a str,
    dims: &'a [(&'a str, &'a str)],
) -> PerfSample<'a> {
    PerfSample {
        metric_name: name,
        dimensions: List::Slice(dims),
        value,
        unit,
        timestamp_window: TimeWindow { start: 0, end: 0 },
        correlation_hints: CorrelationHints::NONE,
    }
}

/// The expanded record is a well-formed standard record whose payload is byte for byte the
/// standard encoding of `expected`.
fn assert_expands_to<'a, P: Payload<'a>>(expanded: &[u8], expected: &P) {
    let view = decode_record(expanded).expect("a standard record");
    assert_eq!(view.event_type(), Some(P::EVENT_TYPE));
    let mut want = vec![0u8; expected.encoded_len()];
    expected.encode_into(&mut want).unwrap();
    assert_eq!(
        view.payload(),
        &want[..],
        "payload bytes differ from the standard encoding"
    );
}

#[test]
fn literal_perf_sample_records_only_id_and_value_and_expands_to_the_standard_record() {
    let _one = ONE.lock().unwrap_or_else(|p| p.into_inner());
    let _ = drain();
    for i in 0..3u64 {
        perf_sample!("get_latency_ns", i, "ns", "benchmark" => "btree_point_get", "mode" => "read");
    }
    let recs = drain();
    assert_eq!(recs.len(), 3);
    for (i, (ring, expanded)) in recs.iter().enumerate() {
        // Header 24, site id 4, value 8, trailer 8: no string bytes at all.
        assert_eq!(ring.len(), FRAMING_LEN + 12);
        let dims = [("benchmark", "btree_point_get"), ("mode", "read")];
        assert_expands_to(expanded, &perf("get_latency_ns", i as f64, "ns", &dims));
        // Same timestamp and actor as the ring record.
        assert_eq!(&expanded[..16], &ring[..16]);
    }
}

#[test]
fn runtime_strings_are_copied_and_expand_in_place() {
    let _one = ONE.lock().unwrap_or_else(|p| p.into_inner());
    let _ = drain();
    let name = String::from("dyn_metric");
    let thread = String::from("worker-3");
    let op = "get";
    let unit = String::from("ops/sec");
    perf_sample!(&name, 2.5, "ns", "op" => op, "thread" => &thread);
    perf_sample!("fixed_name", 7, &unit, thread.as_str() => "literal", "k" => &thread);
    perf_sample!(name.as_str(), 1, unit.as_str());
    let recs = drain();
    assert_eq!(recs.len(), 3);
    // name (4+10), op value (4+3), thread value (4+8): 33 string bytes.
    assert_eq!(recs[0].0.len(), FRAMING_LEN + 12 + 33);
    assert_expands_to(
        &recs[0].1,
        &perf(
            "dyn_metric",
            2.5,
            "ns",
            &[("op", "get"), ("thread", "worker-3")],
        ),
    );
    assert_expands_to(
        &recs[1].1,
        &perf(
            "fixed_name",
            7.0,
            "ops/sec",
            &[("worker-3", "literal"), ("k", "worker-3")],
        ),
    );
    assert_expands_to(&recs[2].1, &perf("dyn_metric", 1.0, "ops/sec", &[]));
}

#[test]
fn rate_limited_perf_sample_is_interned_and_limited() {
    let _one = ONE.lock().unwrap_or_else(|p| p.into_inner());
    let _ = drain();
    let lost = global().counters().lost();
    for i in 0..10u64 {
        perf_sample!(rate = 2; "limited", i, "items", "q" => "a");
    }
    let recs = drain();
    assert!(!recs.is_empty() && recs.len() <= 3, "{} kept", recs.len());
    assert_expands_to(&recs[0].1, &perf("limited", 0.0, "items", &[("q", "a")]));
    assert!(global().counters().lost() >= lost + 7);
}

#[test]
fn operation_guards_expand_to_the_standard_agent_operation() {
    let _one = ONE.lock().unwrap_or_else(|p| p.into_inner());
    let _ = drain();
    let key = String::from("user:42");
    let before = global().now_ticks();
    let ids = {
        let a = operation!("get", "btree", key.as_str(), agent = 9, session = 100);
        let mut b = operation!("commit", "wal", "wal.log", agent = 9, session = 100);
        b.fail();
        let op = String::from("scan");
        let c = operation!(op.as_str(), "btree", &key);
        // A measurable duration for `a` (dropped last).
        std::thread::sleep(std::time::Duration::from_millis(2));
        [a.operation_id(), b.operation_id(), c.operation_id()]
    };
    let after = global().now_ticks();
    let recs = drain();
    assert_eq!(recs.len(), 3);
    // Dropped in reverse order: c, b, a.
    let expect = [
        ("scan", "btree", "user:42", "completed", ids[2], 0u64, 0u64),
        ("commit", "wal", "wal.log", "failed", ids[1], 9, 100),
        ("get", "btree", "user:42", "completed", ids[0], 9, 100),
    ];
    // Ring: header 24, id 4, session 8, op id 8, start ticks 8, status 1, trailer 8, run-time
    // strings.
    let ring_lens = [61 + (4 + 4) + (4 + 7), 61, 61 + (4 + 7)];
    for (((ring, expanded), e), ring_len) in recs.iter().zip(expect).zip(ring_lens) {
        assert_eq!(ring.len(), ring_len);
        // The ring record holds the start and end clock reads: end in the header's
        // timestamp, start at payload offset 20 (after site id, session, op id).
        let end = u64::from_le_bytes(ring[..8].try_into().unwrap());
        let start = u64::from_le_bytes(ring[44..52].try_into().unwrap());
        assert!(before <= start && start <= end && end <= after);
        assert_eq!(
            Interned::parse(ring).unwrap().duration_ticks(),
            Some(end - start)
        );
        let view = decode_record(expanded).unwrap();
        assert_eq!(view.actor_id(), e.5);
        // Same timestamp (the end-of-operation read) and actor as the ring record.
        assert_eq!(&expanded[..16], &ring[..16]);
        // Byte for byte the record the guard wrote before interning, its duration converted
        // from the same two clock reads with the clock's rate.
        let want = AgentOperation {
            session_id: e.6,
            operation_type: e.0,
            operation_id: e.4,
            target_type: e.1,
            target_id: e.2,
            status: e.3,
            duration_ns: Some(to_nanos(end - start) as i64),
            metadata: List::EMPTY,
        };
        assert_expands_to(expanded, &want);
    }
    // The slept-through operation lasted at least the sleep.
    let Ok(Event::AgentOperation(a)) = decode_record(&recs[2].1).unwrap().event() else {
        panic!("not an agent_operation");
    };
    assert!(a.duration_ns.unwrap() >= 2_000_000, "{:?}", a.duration_ns);
}

#[test]
fn operation_duration_is_the_drains_conversion_of_end_minus_start() {
    let _one = ONE.lock().unwrap_or_else(|p| p.into_inner());
    let _ = drain();
    drop(operation!("get", "btree", "k"));
    let mut raw = Vec::new();
    global()
        .drainer()
        .unwrap()
        .drain(usize::MAX, |_, r| raw.push(r.to_vec()));
    assert_eq!(raw.len(), 1);
    // A record with chosen clock reads: start 1000, end 1000 + 12 345 ticks; and one whose
    // end read is below its start (a clock that went back) converts the wrapped span exactly
    // as the guard's own `ticks_to_nanos(end.wrapping_sub(start)) as i64` did.
    for (start, end) in [(1000u64, 13_345u64), (5000, 4000)] {
        let mut rec = raw[0].clone();
        rec[..8].copy_from_slice(&end.to_le_bytes());
        rec[44..52].copy_from_slice(&start.to_le_bytes());
        let i = Interned::parse(&rec).unwrap();
        assert_eq!(i.duration_ticks(), Some(end.wrapping_sub(start)));
        for (conv, f) in [
            ("x3", (|t: u64| t.wrapping_mul(3)) as fn(u64) -> u64),
            ("half", |t: u64| t / 2),
        ] {
            let mut out = vec![0u8; i.record_len()];
            i.write_record(&mut out, f).unwrap();
            let want = AgentOperation {
                session_id: 0,
                operation_type: "get",
                operation_id: u64::from_le_bytes(rec[36..44].try_into().unwrap()),
                target_type: "btree",
                target_id: "k",
                status: "completed",
                duration_ns: Some(f(end.wrapping_sub(start)) as i64),
                metadata: List::EMPTY,
            };
            assert_expands_to(&out, &want);
            assert_eq!(
                &out[..8],
                &end.to_le_bytes(),
                "{conv}: stamped with the end read"
            );
        }
    }
    // A perf_sample never calls the conversion.
    perf_sample!("m", 1, "ns");
    global().drainer().unwrap().drain(usize::MAX, |_, r| {
        let i = Interned::parse(r).unwrap();
        assert_eq!(i.duration_ticks(), None);
        let mut out = vec![0u8; i.record_len()];
        i.write_record(&mut out, |_| panic!("no duration in a perf_sample"))
            .unwrap();
    });
}

#[test]
fn malformed_interned_records_are_typed_errors() {
    let _one = ONE.lock().unwrap_or_else(|p| p.into_inner());
    let _ = drain();
    perf_sample!("m", 1, "ns", "k" => "v");
    let key = "k1";
    drop(operation!("get", "t", key));
    let mut raw = Vec::new();
    global()
        .drainer()
        .unwrap()
        .drain(usize::MAX, |_, r| raw.push(r.to_vec()));
    assert_eq!(raw.len(), 2);
    for rec in &raw {
        assert!(interned::is_interned(rec));
        // Every truncation is refused, never a panic.
        for cut in 0..rec.len() {
            assert!(Interned::parse(&rec[..cut]).is_err());
        }
        // An unknown site id.
        let mut bad = rec.clone();
        bad[24..28].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(
            Interned::parse(&bad).unwrap_err(),
            InternError::UnknownSite(u32::MAX)
        );
        // A buffer too small for the expansion.
        let i = Interned::parse(rec).unwrap();
        let mut small = vec![0u8; i.record_len() - 1];
        assert!(matches!(
            i.write_record(&mut small, to_nanos),
            Err(InternError::Encode(_))
        ));
    }
    // A bad status byte in the operation record (offset 24 + 4 + 24).
    let mut bad = raw[1].clone();
    bad[52] = 7;
    assert!(matches!(
        Interned::parse(&bad),
        Err(InternError::Payload(_))
    ));
    // A standard record is not an interned one.
    let i = Interned::parse(&raw[0]).unwrap();
    assert_eq!(i.event_type(), EventType::PerfSample);
    let mut std_rec = vec![0u8; i.record_len()];
    i.write_record(&mut std_rec, to_nanos).unwrap();
    assert!(!interned::is_interned(&std_rec));
    assert_eq!(Interned::parse(&std_rec).unwrap_err(), InternError::Framing);
}
