//! The firmware's code path, run on the host: the same `ControlLoop::step` the SysTick handler
//! runs, the same `drain_to_link` the idle loop runs, over a `StaticRing` and a clock built from
//! the same `Wide32` widening of a (simulated) 32-bit cycle counter. What reaches the host link
//! is decoded again, as a host reading the device would, and compared field by field with what
//! each step was asked to record.

use std::sync::atomic::{AtomicU32, Ordering};

use northstar_core::clock::{Clock, CounterClock};
use northstar_core::events::Event;
use northstar_core::record::{decode_record, records, RecordView};
use northstar_core::ring::StaticRing;
use northstar_core::{EventType, PushError, Visibility};
use northstar_firmware::app::{
    ControlLoop, Reading, StepReport, BOOT_SESSION, CHANNELS, MV_PER_COUNT, SNAPSHOT_EVERY,
};
use northstar_firmware::clock::Wide32;
use northstar_firmware::drain::{drain_to_link, Tally};
use northstar_firmware::link::{LinkBuffer, Sink};
use northstar_firmware::telemetry::Telemetry;
use northstar_firmware::DEVICE_ID;

const HZ: u64 = 16_000_000;
/// Cycles between two clock reads of the simulated counter.
const STRIDE: u32 = 1_600;
/// Unix time of the simulated counter's zero, so conversions are visible in the windows.
const EPOCH_NS: u64 = 1_700_000_000_000_000_000;

/// A distinct ADC reading per step (13 is coprime with 4096), so every perf sample is
/// identifiable by its value.
fn reading(step: u32) -> Reading {
    Reading {
        adc_raw: ((step * 13 + 5) % 4096) as u16,
    }
}

/// One event a step attempted, as the test expects to find it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expected {
    Perf { step: u32 },
    Operation { step: u32 },
    Snapshot { step: u32 },
}

/// The events `report` says step `step` attempted, each with its verdict, in recording order.
fn attempted(step: u32, report: &StepReport) -> Vec<(Expected, Result<(), PushError>)> {
    let mut out = vec![
        (Expected::Perf { step }, report.perf),
        (Expected::Operation { step }, report.operation),
    ];
    assert_eq!(
        report.snapshot.is_some(),
        step.is_multiple_of(SNAPSHOT_EVERY),
        "step {step}: snapshot cadence"
    );
    if let Some(v) = report.snapshot {
        out.push((Expected::Snapshot { step }, v));
    }
    out
}

/// A simulated 32-bit cycle counter starting `reads_before_wrap` reads before it wraps, widened
/// by `Wide32` as on the device.
struct SimCounter {
    raw: AtomicU32,
    wide: Wide32,
}

impl SimCounter {
    fn new(reads_before_wrap: u32) -> Self {
        Self {
            raw: AtomicU32::new(0u32.wrapping_sub(reads_before_wrap * STRIDE)),
            wide: Wide32::new(),
        }
    }

    fn read(&self) -> u64 {
        self.wide
            .extend(self.raw.fetch_add(STRIDE, Ordering::Relaxed))
    }
}

/// Checks decoded records against the expected sequence, field by field. `prev_perf_end`
/// carries the previous sample's window end across calls (each window starts where the last
/// one ended).
struct Checker<'c, C: Clock> {
    clock: &'c C,
    expected: std::collections::VecDeque<Expected>,
    last_ts: u64,
    perf_ts: Option<(u32, u64)>,
    prev_perf_end: Option<i64>,
    checked: usize,
}

impl<'c, C: Clock> Checker<'c, C> {
    fn new(clock: &'c C) -> Self {
        Self {
            clock,
            expected: Default::default(),
            last_ts: 0,
            perf_ts: None,
            prev_perf_end: None,
            checked: 0,
        }
    }

    fn check(&mut self, view: &RecordView<'_>) {
        let want = self
            .expected
            .pop_front()
            .unwrap_or_else(|| panic!("unexpected extra record {view:?}"));
        assert_eq!(view.actor_id(), DEVICE_ID);
        assert_eq!(view.visibility(), Visibility::Team);
        let ts = view.timestamp();
        assert!(
            ts >= self.last_ts,
            "timestamps go backwards: {ts} after {}",
            self.last_ts
        );
        self.last_ts = ts;
        let event = view.event().expect("payload decodes");
        match (want, event) {
            (Expected::Perf { step }, Event::PerfSample(p)) => {
                let adc = reading(step).adc_raw;
                assert_eq!(p.metric_name, "adc_millivolts");
                assert_eq!(p.dimensions.len(), 2);
                assert_eq!(
                    p.dimensions.get("channel"),
                    Some(CHANNELS[step as usize % CHANNELS.len()])
                );
                assert_eq!(p.dimensions.get("board"), Some("rev-b"));
                assert_eq!(p.value, f64::from(adc) * MV_PER_COUNT, "step {step}");
                assert_eq!(p.unit, "mV");
                let end = p.timestamp_window.end;
                assert_eq!(end as u64, self.clock.ticks_to_unix_nanos(ts));
                assert!(p.timestamp_window.start < end);
                if let Some(prev) = self.prev_perf_end {
                    assert_eq!(p.timestamp_window.start, prev, "step {step}: windows chain");
                }
                self.prev_perf_end = Some(end);
                assert_eq!(p.correlation_hints.commit_range, None);
                assert!(p.correlation_hints.session_ids.is_empty());
                self.perf_ts = Some((step, ts));
            }
            (Expected::Operation { step }, Event::AgentOperation(op)) => {
                assert_eq!(op.session_id, BOOT_SESSION);
                assert_eq!(op.operation_type, "control_step");
                assert_eq!(op.operation_id, u64::from(step));
                assert_eq!(op.target_type, "actuator");
                assert_eq!(op.target_id, "pwm0");
                assert_eq!(op.status, "completed");
                assert_eq!(
                    op.metadata.get("channel"),
                    Some(CHANNELS[step as usize % CHANNELS.len()])
                );
                let duration = op.duration_ns.expect("duration measured");
                assert!(duration > 0);
                // When the step's perf sample is in the stream, the duration is exactly the
                // span between the two records' ticks.
                if let Some((perf_step, perf_ts)) = self.perf_ts {
                    if perf_step == step {
                        assert!(ts > perf_ts);
                        assert_eq!(duration as u64, self.clock.ticks_to_nanos(ts - perf_ts));
                    }
                }
            }
            (Expected::Snapshot { step }, Event::DebugSnapshot(s)) => {
                assert_eq!(s.session_id, BOOT_SESSION);
                assert_eq!(s.snapshot_id, u64::from(step / SNAPSHOT_EVERY));
                assert_eq!(s.reason, "periodic");
                assert_eq!(s.thread_id, 0);
                let frames: Vec<_> = s.frames.iter().map(|f| f.function).collect();
                assert_eq!(frames, ["ControlLoop::step", "SysTick"]);
                assert_eq!(
                    s.variables.get("iteration"),
                    Some(step.to_string().as_str())
                );
                assert_eq!(
                    s.variables.get("adc_raw"),
                    Some(reading(step).adc_raw.to_string().as_str())
                );
            }
            (want, got) => panic!("expected {want:?}, got {got:?}"),
        }
        self.checked += 1;
    }

    /// Decodes a host-link buffer (concatenated records) and checks every record in it.
    fn check_link(&mut self, bytes: &[u8]) {
        for rec in records(bytes) {
            let view = rec.expect("the link holds whole, well-formed records");
            self.check(&view);
        }
    }
}

#[test]
fn every_recorded_event_reaches_the_host_link_with_its_fields() {
    const STEPS: u32 = 400;
    static RING: StaticRing<4096> = StaticRing::new();
    // The counter wraps after 150 reads (75 steps): timestamps must stay monotonic across it.
    let counter = SimCounter::new(150);
    let clock = CounterClock::new(|| counter.read(), HZ, EPOCH_NS);
    // SAFETY: this test is the only user of RING and creates one producer and one consumer.
    let (producer, mut consumer) = unsafe { (RING.ring().producer(), RING.ring().consumer()) };
    let mut app = ControlLoop::new(Telemetry::new(producer, &clock, DEVICE_ID));
    let mut link = LinkBuffer::<4096>::new();
    let mut tally = Tally::default();
    let mut checker = Checker::new(&clock);
    let mut expected_counts = [0u32; 3];

    for step in 0..STEPS {
        let report = app.step(reading(step));
        for (ev, verdict) in attempted(step, &report) {
            assert_eq!(
                verdict,
                Ok(()),
                "step {step}: drained every step, the ring never fills"
            );
            expected_counts[match ev {
                Expected::Perf { .. } => 0,
                Expected::Operation { .. } => 1,
                Expected::Snapshot { .. } => 2,
            }] += 1;
            checker.expected.push_back(ev);
        }
        drain_to_link(&mut consumer, &mut link, &mut tally);
        if link.free() < RING.ring().max_record_len() {
            checker.check_link(link.as_bytes());
            link.clear();
        }
    }
    drain_to_link(&mut consumer, &mut link, &mut tally);
    checker.check_link(link.as_bytes());

    assert!(
        checker.expected.is_empty(),
        "missing: {:?}",
        checker.expected
    );
    let total: u32 = expected_counts.iter().sum();
    assert_eq!(checker.checked, total as usize);
    assert!(
        checker.last_ts > u64::from(u32::MAX),
        "the cycle counter wrapped"
    );
    assert_eq!(tally.count(EventType::PerfSample), expected_counts[0]);
    assert_eq!(tally.count(EventType::AgentOperation), expected_counts[1]);
    assert_eq!(tally.count(EventType::DebugSnapshot), expected_counts[2]);
    assert_eq!(tally.total(), u64::from(total));
    assert_eq!(
        (tally.bad_records, tally.bad_payloads, tally.link_refused),
        (0, 0, 0)
    );
    let counters = RING.ring().counters();
    assert_eq!(counters.pushed, u64::from(total));
    assert_eq!(counters.lost(), 0);
    assert!(RING.ring().is_empty());
}

#[test]
fn drops_on_a_full_ring_are_counted_exactly_and_recording_resumes() {
    static RING: StaticRing<1024> = StaticRing::new();
    let counter = SimCounter::new(1_000_000);
    let clock = CounterClock::new(|| counter.read(), HZ, EPOCH_NS);
    // SAFETY: this test is the only user of RING and creates one producer and one consumer.
    let (producer, mut consumer) = unsafe { (RING.ring().producer(), RING.ring().consumer()) };
    let mut app = ControlLoop::new(Telemetry::new(producer, &clock, DEVICE_ID));
    let mut link = LinkBuffer::<65536>::new();
    let mut tally = Tally::default();
    let mut checker = Checker::new(&clock);
    let mut ok = 0u64;
    let mut full = 0u64;
    let mut step = 0;

    // Phase 1: the consumer stalls (no drain) while 40 steps record into a 1 KiB ring.
    for _ in 0..40 {
        for (ev, verdict) in attempted(step, &app.step(reading(step))) {
            match verdict {
                Ok(()) => {
                    ok += 1;
                    checker.expected.push_back(ev);
                }
                Err(PushError::Full) => full += 1,
                Err(e) => panic!("step {step}: unexpected refusal {e:?}"),
            }
        }
        step += 1;
    }
    assert!(full > 0 && ok > 0, "the ring filled: ok {ok}, full {full}");
    let counters = RING.ring().counters();
    assert_eq!(counters.pushed, ok);
    assert_eq!(counters.dropped_full, full);
    assert_eq!(counters.lost(), full);

    // Phase 2: the drain catches up and delivers exactly the accepted events, in order.
    let drained = drain_to_link(&mut consumer, &mut link, &mut tally);
    assert_eq!(drained.records as u64, ok);
    check_with_gaps(&mut checker, link.as_bytes());
    link.clear();
    assert!(checker.expected.is_empty());

    // Phase 3: drained every step, recording resumes with no further loss.
    let before = RING.ring().counters();
    for _ in 0..100 {
        for (ev, verdict) in attempted(step, &app.step(reading(step))) {
            assert_eq!(verdict, Ok(()), "step {step}");
            checker.expected.push_back(ev);
        }
        drain_to_link(&mut consumer, &mut link, &mut tally);
        step += 1;
    }
    check_with_gaps(&mut checker, link.as_bytes());
    assert!(checker.expected.is_empty());
    let after = RING.ring().counters();
    assert_eq!(after.dropped_full, before.dropped_full);
    assert_eq!(after.pushed, tally.total());
    assert_eq!(
        (tally.bad_records, tally.bad_payloads, tally.link_refused),
        (0, 0, 0)
    );
}

/// Like `Checker::check_link`, but tolerates windows that do not chain where samples were
/// dropped: a window starts at the previous *step's* start, recorded or not.
fn check_with_gaps<C: Clock>(checker: &mut Checker<'_, C>, bytes: &[u8]) {
    for rec in records(bytes) {
        let view = rec.expect("well-formed record");
        if let Some(Expected::Perf { step }) = checker.expected.front().copied() {
            // Chain only to a sample of the immediately preceding step.
            if checker.perf_ts.map(|(s, _)| s + 1) != Some(step) {
                checker.prev_perf_end = None;
            }
        }
        checker.check(&view);
    }
}

#[test]
fn the_drain_never_takes_more_than_the_link_can_hold() {
    static RING: StaticRing<4096> = StaticRing::new();
    let counter = SimCounter::new(1_000_000);
    let clock = CounterClock::new(|| counter.read(), HZ, EPOCH_NS);
    // SAFETY: this test is the only user of RING and creates one producer and one consumer.
    let (producer, mut consumer) = unsafe { (RING.ring().producer(), RING.ring().consumer()) };
    let mut app = ControlLoop::new(Telemetry::new(producer, &clock, DEVICE_ID));
    let mut tally = Tally::default();
    let mut recorded = 0u64;
    for step in 0..12 {
        let (ok, lost) = app.step(reading(step)).tally();
        assert_eq!(lost, 0);
        recorded += u64::from(ok);
    }
    let max_record = RING.ring().max_record_len();

    // A link with less room than the largest record: nothing leaves the ring.
    let mut small = LinkBuffer::<2047>::new();
    assert!(small.free() < max_record);
    assert_eq!(
        drain_to_link(&mut consumer, &mut small, &mut tally).records,
        0
    );
    assert_eq!(RING.ring().counters().pushed, recorded);
    assert!(!RING.ring().is_empty());

    // A link with a little more room than that: each pass takes a few records, all of which fit.
    let mut link = LinkBuffer::<2300>::new();
    let mut passes = 0;
    let mut delivered = Vec::new();
    while !RING.ring().is_empty() {
        let d = drain_to_link(&mut consumer, &mut link, &mut tally);
        assert!(d.records > 0, "progress on every pass");
        assert!(link.as_bytes().len() <= 2300);
        for rec in records(link.as_bytes()) {
            delivered.push(rec.expect("whole record").bytes.to_vec());
        }
        link.clear();
        passes += 1;
    }
    assert!(passes > 1, "the budget split the backlog ({passes} pass)");
    assert_eq!(delivered.len() as u64, recorded);
    assert_eq!(tally.link_refused, 0);
    assert_eq!(tally.total(), recorded);
    // Delivered in recording order: ring timestamps never go backwards.
    let ts: Vec<u64> = delivered
        .iter()
        .map(|b| decode_record(b).expect("record").timestamp())
        .collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]));
}
