//! The hot path's cost, measured in the demo's own process: `perf_sample` events and
//! `operation` guards recorded into a private recorder's ring.

use northstar_core::codec::List;
use northstar_core::event;
use northstar_core::events::{CorrelationHints, PerfSample, TimeWindow};
use northstar_core::recorder::{Recorder, RecorderConfig};
use northstar_core::scope::OperationGuard;
use std::time::Instant;

/// Measures the hot path in isolation: batches of 1000 events recorded into a private
/// recorder's ring (drained between batches, outside the timing), the median batch divided by
/// its size. Returns ns per `perf_sample` event and per `operation` guard.
pub fn measure() -> (f64, f64) {
    let Ok(rec) = Recorder::new(RecorderConfig {
        rings: 1,
        ..RecorderConfig::default()
    }) else {
        return (f64::NAN, f64::NAN);
    };
    const BATCH: u32 = 1000;
    let dims = [("benchmark", "kv_get"), ("mode", "read")];
    let drain = || {
        if let Some(mut d) = rec.drainer() {
            d.drain(usize::MAX, |_, _| {});
        }
    };
    let mut per_sample = Vec::new();
    let mut per_op = Vec::new();
    for round in 0..20 {
        let t = Instant::now();
        for i in 0..BATCH {
            event!(to = &rec; PerfSample {
                metric_name: "latency_ns",
                dimensions: List::Slice(&dims),
                value: f64::from(i),
                unit: "ns",
                timestamp_window: TimeWindow { start: 0, end: 0 },
                correlation_hints: CorrelationHints::NONE,
            });
        }
        let el = t.elapsed();
        drain();
        let t = Instant::now();
        for _ in 0..BATCH {
            let _g = OperationGuard::start(&rec, 1, 2, "get", "btree", "user:00042");
        }
        let el2 = t.elapsed();
        drain();
        if round > 0 {
            // round 0 warms the ring's pages and the thread's claim
            per_sample.push(el.as_nanos() as f64 / f64::from(BATCH));
            per_op.push(el2.as_nanos() as f64 / f64::from(BATCH));
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (median(&mut per_sample), median(&mut per_op))
}
