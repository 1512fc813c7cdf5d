//! Criterion benchmarks live in benches/*.rs; what several of them record is here.

use northstar_core::events::{CorrelationHints, PerfSample, TimeWindow};
use northstar_core::List;

/// The benches' standard store record: a `perf_sample` of 95 bytes on disk (no dimensions,
/// no hints), its value `i`.
pub fn perf95(i: u64) -> PerfSample<'static> {
    PerfSample {
        metric_name: "btree_get_latency_ns",
        dimensions: List::EMPTY,
        value: i as f64,
        unit: "ns",
        timestamp_window: TimeWindow { start: 0, end: 0 },
        correlation_hints: CorrelationHints::NONE,
    }
}
