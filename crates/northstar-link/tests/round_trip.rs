//! Ring records through the link encoder and back through the decoder: every event type comes
//! back byte for byte (timestamps converted), sizes meet their goals, and damage is counted.

use northstar_core::events::*;
use northstar_core::record::decode_record;
use northstar_core::ring::StaticRing;
use northstar_core::{Event, List, Visibility};
use northstar_link::decoder::{Decoder, DeviceCounters, Item, Problem};
use northstar_link::{LinkEncoder, Sink};

const HZ: u64 = 25_000_000;
const EPOCH: u64 = 1_700_000_000_000_000_000;

type Encoder = LinkEncoder<1024, 64, 512, 520>;

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

fn ns(ticks: u64) -> i64 {
    (EPOCH + (u128::from(ticks) * 1_000_000_000 / u128::from(HZ)) as u64) as i64
}

fn events(i: u64) -> Vec<Event<'static>> {
    let dims: &'static [(&str, &str)] = &[("channel", "adc0"), ("board", "rev-b")];
    let sessions: &'static [u64] = &[1, 2, 300_000];
    let frames: &'static [StackFrame<'static>] = &[StackFrame {
        function: "ControlLoop::step",
        file_path: "src/app.rs",
        line: 42,
    }];
    let bps: &'static [Breakpoint<'static>] = &[Breakpoint {
        file_path: "a.rs",
        line: 1,
        condition: Some("x > 1"),
        hit_count: 3,
    }];
    let long: &'static str = "a string longer than the forty-eight bytes the dictionary interns";
    vec![
        AgentSessionStarted {
            session_id: i,
            agent_version: "1.2",
            session_purpose: long,
            metadata: List::from(dims),
        }
        .into(),
        AgentSessionEnded { session_id: i }.into(),
        AgentOperation {
            session_id: 1,
            operation_type: "control_step",
            operation_id: i,
            target_type: "actuator",
            target_id: "pwm0",
            status: "completed",
            duration_ns: Some(-5),
            metadata: List::EMPTY,
        }
        .into(),
        ReviewNote {
            target_type: "file",
            target_id: "x",
            note_text: "ok",
            references: List::from(&["r1", "r2"][..]),
            created_at: ns(i) - 7,
        }
        .into(),
        ReviewSummary {
            target_type: "pr",
            target_id: "9",
            summary_text: "s",
            confidence: 0.25,
            model_id: "m",
            prompt_hash: None,
            created_at: -1,
        }
        .into(),
        PerfSample {
            metric_name: "adc_millivolts",
            dimensions: List::from(dims),
            value: if i.is_multiple_of(2) { 1650.0 } else { 0.1 },
            unit: "mV",
            timestamp_window: TimeWindow {
                start: ns(i * 1000) - 10_000_000,
                end: ns(i * 1000),
            },
            correlation_hints: CorrelationHints {
                commit_range: Some("a..b"),
                session_ids: List::from(sessions),
            },
        }
        .into(),
        PerfRegression {
            metric_name: "m",
            baseline_value: 1.5,
            current_value: f64::NAN,
            regression_percent: 30.0,
            severity: Severity::Moderate,
            detected_at: i64::MAX,
            likely_cause: None,
            correlated_commits: List::EMPTY,
        }
        .into(),
        DebugSession {
            tool: "gdb",
            session_id: 3,
            breakpoints: List::from(bps),
            stack_summary: None,
            references: DebugReferences {
                commit_ids: List::EMPTY,
                symbol_names: List::from(&["main"][..]),
            },
        }
        .into(),
        DebugSnapshot {
            session_id: 1,
            snapshot_id: i,
            reason: "periodic",
            thread_id: 0,
            frames: List::from(frames),
            variables: List::from(dims),
        }
        .into(),
        VcsCommit {
            commit_hash: "abc",
            commit_message: "m",
            changed_files: List::EMPTY,
            parent_commits: List::from(&["p"][..]),
            branch: "main",
            timestamp: i64::MIN,
        }
        .into(),
        VcsBranch {
            branch: "main",
            action: BranchAction::Updated,
            head_commit: "abc",
            base_branch: Some("dev"),
            ahead: u32::MAX,
            behind: 0,
        }
        .into(),
    ]
}

/// Pushes `rounds` of every event type through a ring and the encoder.
fn device_stream(rounds: u64) -> (Wire, Vec<(u64, Vec<u8>)>, DeviceCounters) {
    let ring: &'static StaticRing<4096> = Box::leak(Box::new(StaticRing::new()));
    let (mut producer, mut consumer) = ring.split().expect("first split");
    let mut enc = Encoder::new(HZ, EPOCH);
    let mut wire = Wire::default();
    let mut expected = Vec::new();
    for r in 0..rounds {
        for (k, ev) in events(r).iter().enumerate() {
            let ticks = 1_000 * r + k as u64 * 7;
            let mut payload = vec![0; ev.encoded_len()];
            ev.encode_into(&mut payload).unwrap();
            expected.push((ticks, payload));
            producer
                .record_event_for_test(ticks, ev)
                .expect("the ring has room: drained every round");
        }
        enc.pump(&mut consumer, &mut wire);
    }
    let c = ring.ring().counters();
    enc.sync(&c, &mut wire, true);
    let s = enc.stats();
    (
        wire,
        expected,
        DeviceCounters {
            records_sent: s.records_sent,
            pushed: c.pushed,
            ..Default::default()
        },
    )
}

trait RecordEvent {
    fn record_event_for_test(&mut self, ticks: u64, ev: &Event<'_>) -> Result<(), ()>;
}

impl RecordEvent for northstar_core::ring::Producer<'_> {
    fn record_event_for_test(&mut self, ticks: u64, ev: &Event<'_>) -> Result<(), ()> {
        macro_rules! rec {
            ($($t:ident),*) => {
                match ev {
                    $(Event::$t(p) => self.record(ticks, 0xC0FFEE, Visibility::Team, p),)*
                }
            };
        }
        rec!(
            AgentSessionStarted,
            AgentSessionEnded,
            AgentOperation,
            ReviewNote,
            ReviewSummary,
            PerfSample,
            PerfRegression,
            DebugSession,
            DebugSnapshot,
            VcsCommit,
            VcsBranch
        )
        .map_err(|_| ())
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

#[test]
fn every_event_type_comes_back_byte_for_byte_with_unix_timestamps() {
    let (wire, expected, device) = device_stream(40);
    let (records, problems, end) = decode(&wire.bytes);
    assert_eq!(problems, vec![]);
    let end = end.expect("END frame");
    assert_eq!(end.records_sent, device.records_sent);
    assert_eq!(end.pushed, expected.len() as u64);
    assert_eq!(records.len(), expected.len());
    for (got, (ticks, payload)) in records.iter().zip(&expected) {
        let view = decode_record(got).expect("a core record");
        assert_eq!(view.timestamp() as i64, ns(*ticks));
        assert_eq!(view.actor_id(), 0xC0FFEE);
        assert_eq!(view.visibility(), Visibility::Team);
        assert_eq!(view.payload(), &payload[..], "{:?}", view.event_type());
    }
    // The long string went inline; everything else was described by the dictionary.
    let raw = wire.bytes.len() as f64 / expected.len() as f64;
    assert!(raw < 40.0, "{raw} bytes per record");
}

#[test]
fn steady_state_sizes_meet_the_goals() {
    static RING: StaticRing<1024> = StaticRing::new();
    let (mut producer, mut consumer) = RING.split().unwrap();
    let mut enc = Encoder::new(HZ, 0);
    let mut wire = Wire::default();
    let dims = [("channel", "adc0"), ("board", "rev-b")];
    // A 100 Hz loop: 250 000 ticks between steps.
    let mut sizes = (0, 0);
    for step in 0u64..5 {
        let t = 250_000 * (step + 1);
        let now_ns = (t * 40) as i64;
        let before = wire.frames.len();
        producer
            .record(
                t,
                0xC0FFEE,
                Visibility::Team,
                &AgentSessionEnded { session_id: 1 },
            )
            .unwrap();
        enc.pump(&mut consumer, &mut wire);
        let fixed = *wire.frames.last().unwrap();
        let sample = PerfSample {
            metric_name: "adc_millivolts",
            dimensions: List::from(&dims[..]),
            value: 1650.0,
            unit: "mV",
            timestamp_window: TimeWindow {
                start: now_ns - 10_000_000,
                end: now_ns,
            },
            correlation_hints: CorrelationHints::NONE,
        };
        producer
            .record(t, 0xC0FFEE, Visibility::Team, &sample)
            .unwrap();
        enc.pump(&mut consumer, &mut wire);
        let perf = *wire.frames.last().unwrap();
        if step > 0 {
            assert_eq!(
                wire.frames.len() - before,
                2,
                "no definitions after the first step"
            );
            sizes = (fixed, perf);
        }
    }
    println!(
        "fixed event {} bytes, perf_sample {} bytes",
        sizes.0, sizes.1
    );
    assert!(sizes.0 <= 12, "fixed event {} bytes", sizes.0);
    assert!(sizes.1 <= 24, "perf_sample {} bytes", sizes.1);
}

#[test]
fn lost_bytes_cost_only_the_frames_they_hit_and_are_counted() {
    let (wire, expected, _) = device_stream(40);
    // Remove bytes well after the dictionary was sent, at several places.
    let mut damaged = wire.bytes.clone();
    let n = damaged.len();
    // Far enough apart that a SYNC (every 32 records) falls between two damaged frames.
    for at in [3 * n / 4, n / 2, n / 4] {
        damaged.remove(at);
    }
    let (records, problems, end) = decode(&damaged);
    let end = end.expect("END survives");
    assert!(!problems.is_empty());
    assert!(problems
        .iter()
        .any(|p| matches!(p, Problem::Corrupt { .. })));
    let lost = end.records_sent - records.len() as u64;
    // Each lost byte costs the one frame it hit: the records after it are timed backwards
    // from the next SYNC.
    assert!((1..=3).contains(&lost), "lost {lost} of {}", expected.len());
    // Every record that came back is one the device sent, with its right time.
    for got in &records {
        let view = decode_record(got).unwrap();
        assert!(expected
            .iter()
            .any(|(t, p)| ns(*t) == view.timestamp() as i64 && p[..] == *view.payload()));
    }
}

#[test]
fn truncated_and_garbage_streams_are_reported_not_fatal() {
    let (wire, _, _) = device_stream(3);
    for cut in [1, 7, wire.bytes.len() / 2, wire.bytes.len() - 1] {
        let mut dec = Decoder::new(None, None, 0);
        dec.feed(&wire.bytes[..cut], &mut |_| {});
        assert!(
            dec.pending() > 0 || cut == 0,
            "a cut frame stays pending at {cut}"
        );
    }
    let garbage: Vec<u8> = (0..5000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let (records, problems, _) = decode(&garbage);
    assert!(records.is_empty());
    assert!(!problems.is_empty());
}

#[test]
fn a_template_too_large_for_the_frame_never_leaves_a_dangling_id() {
    // Frames of 64 bytes: a debug snapshot's template (schema and shape) does not fit, so its
    // records go RAW or are counted as link drops, and the dictionary never refers to it.
    let ring: &'static StaticRing<4096> = Box::leak(Box::new(StaticRing::new()));
    let (mut producer, mut consumer) = ring.split().unwrap();
    let mut enc = LinkEncoder::<256, 16, 64, 70>::new(HZ, 0);
    let mut wire = Wire::default();
    let frames: &[StackFrame<'_>] = &[StackFrame {
        function: "a",
        file_path: "b",
        line: 1,
    }; 30];
    for i in 0..3u64 {
        let snapshot = DebugSnapshot {
            session_id: 1,
            snapshot_id: i,
            reason: "r",
            thread_id: 0,
            frames: List::from(frames),
            variables: List::EMPTY,
        };
        producer.record(i, 1, Visibility::Team, &snapshot).unwrap();
        producer
            .record(i, 1, Visibility::Team, &AgentSessionEnded { session_id: i })
            .unwrap();
        enc.pump(&mut consumer, &mut wire);
    }
    enc.sync(&ring.ring().counters(), &mut wire, true);
    let stats = enc.stats();
    assert_eq!(stats.records_sent + stats.link_dropped, 6);
    let (records, problems, end) = decode(&wire.bytes);
    assert_eq!(problems, vec![], "no record refers to an unsent template");
    assert_eq!(records.len() as u64, end.unwrap().records_sent);
}
