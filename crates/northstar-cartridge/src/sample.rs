//! A perf sample read back from a store, as every series source (the stores, user-defined
//! events' numeric fields) hands it to the detectors.

use northstar_core::events::PerfSample;

/// A perf sample read back from a store (owned).
#[derive(Clone, Debug, PartialEq)]
pub struct SampleRecord {
    /// Store timestamp, Unix nanoseconds.
    pub timestamp: u64,
    /// Metric name.
    pub metric_name: String,
    /// Value.
    pub value: f64,
    /// Unit.
    pub unit: String,
    /// Dimensions, in recorded order.
    pub dimensions: Vec<(String, String)>,
    /// Commit range hint.
    pub commit_range: Option<String>,
    /// Session ids hint.
    pub session_ids: Vec<u64>,
}

impl SampleRecord {
    /// The owned copy of a perf sample stored at `timestamp`.
    pub(crate) fn from_payload(timestamp: u64, p: &PerfSample<'_>) -> Self {
        Self {
            timestamp,
            metric_name: p.metric_name.to_string(),
            value: p.value,
            unit: p.unit.to_string(),
            dimensions: p
                .dimensions
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            commit_range: p.correlation_hints.commit_range.map(str::to_string),
            session_ids: p.correlation_hints.session_ids.iter().collect(),
        }
    }
}
