//! The firmware's code path on the host: the same `ControlLoop` the timer interrupt runs and the
//! same link encoder the idle loop runs, over a `StaticRing` and a simulated clock. The bytes
//! the "UART" received are decoded as `northstar ingest` decodes them, and every event the
//! loop attempted is accounted for: stored, or counted as dropped by the ring.

use std::sync::atomic::{AtomicU64, Ordering};

use northstar_core::clock::Clock;
use northstar_core::events::Event;
use northstar_core::record::decode_record;
use northstar_core::ring::StaticRing;
use northstar_firmware::app::{millivolts, on_timer, stub_adc, BURST, BURST_EVERY, SNAPSHOT_EVERY};
use northstar_firmware::device::{ticks_to_ns, Device, DONE};
use northstar_firmware::{bench, RING_BYTES, STEPS};
use northstar_link::decoder::{Decoder, Item};
use northstar_link::Sink;

const HZ: u64 = 16_000_000;

/// A clock that advances 100 ticks per read.
struct SimClock(AtomicU64);

impl Clock for SimClock {
    fn now_ticks(&self) -> u64 {
        self.0.fetch_add(100, Ordering::Relaxed)
    }
    fn ticks_to_unix_nanos(&self, ticks: u64) -> u64 {
        ticks_to_ns(ticks, HZ)
    }
    fn ticks_to_nanos(&self, ticks: u64) -> u64 {
        ticks_to_ns(ticks, HZ)
    }
}

#[derive(Default)]
struct Wire(Vec<u8>);

impl Sink for Wire {
    fn write(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

#[test]
fn every_attempted_event_is_stored_or_counted_as_dropped() {
    static CLOCK: SimClock = SimClock(AtomicU64::new(0));
    let ring: &'static StaticRing<RING_BYTES> = Box::leak(Box::new(StaticRing::new()));
    let (mut app, mut device) = Device::start(ring, &CLOCK, HZ).expect("first start");
    assert!(
        Device::start(ring, &CLOCK, HZ).is_none(),
        "the ring splits once"
    );

    let costs = bench::measure(&CLOCK, HZ);
    assert_eq!(costs.refused, 0);
    assert_eq!(bench::record(app.telemetry(), &costs, "host"), 4);

    // The "interrupt" runs one step, the "idle loop" drains after each, as on the device.
    let mut wire = Wire::default();
    device.link().hello(&mut wire);
    let mut attempted = 4u64;
    while on_timer(&mut app) {
        let step = app.iteration() - 1;
        attempted += 2 + u64::from(step % SNAPSHOT_EVERY == 0);
        if step % BURST_EVERY == BURST_EVERY - 1 {
            attempted += u64::from(BURST);
        }
        device.pump_for_test(&mut wire);
    }
    assert!(DONE.load(Ordering::Acquire));
    assert_eq!(app.iteration(), STEPS);
    let counters = ring.ring().counters();
    device.link().sync(&counters, &mut wire, true);

    // Every attempt is either in the ring's pushed count or its drops; bursts overflowed it.
    assert_eq!(counters.pushed + counters.lost(), attempted);
    assert!(
        counters.dropped_full > 0,
        "the bursts should overflow the ring"
    );

    let mut decoder = Decoder::new(Some(HZ), Some(0), 0);
    let mut adc = Vec::new();
    let mut stored = 0u64;
    let mut end = None;
    decoder.feed(&wire.0, &mut |item| match item {
        Item::Record(bytes) => {
            stored += 1;
            let view = decode_record(&bytes).unwrap();
            if let Ok(Event::PerfSample(p)) = view.event() {
                let channel = p.dimensions.iter().next().map(|(_, v)| v);
                if p.metric_name == "adc_millivolts" && channel != Some("burst") {
                    adc.push(p.value);
                }
            }
        }
        Item::End(c) => end = Some(c),
        Item::Problem(p) => panic!("{p}"),
        _ => {}
    });
    let end = end.expect("END frame");
    assert_eq!(stored, counters.pushed);
    assert_eq!(end.records_sent, stored);
    assert_eq!(end.device_lost(), counters.lost());
    // The per-step samples carry the stub ADC's readings, in step order.
    let expected: Vec<f64> = (0..STEPS)
        .map(|s| f64::from(millivolts(stub_adc(s).adc_raw)))
        .collect();
    assert_eq!(adc, expected);
}
