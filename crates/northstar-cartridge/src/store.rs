//! What the cartridge needs from a store, and the two stores it runs on: the real
//! [`EventManager`] and an in-memory one for tests and dry runs.

use crate::error::CartridgeError;
pub use crate::sample::SampleRecord;
use crate::user_metric::UserMetric;
use northstar_core::events::PerfRegression;
use northstar_core::recorder::RecordError;
use northstar_core::{Event, EventType, Visibility};
use northstar_store::{EventManager, Query, StoreError, Viewer};
use std::sync::Mutex;

/// A perf regression read back from a store (owned).
#[derive(Clone, Debug, PartialEq)]
pub struct RegressionRecord {
    /// Metric name.
    pub metric_name: String,
    /// Baseline value.
    pub baseline_value: f64,
    /// Current value.
    pub current_value: f64,
    /// Regression percent.
    pub regression_percent: f32,
    /// Severity name.
    pub severity: String,
    /// Suspected cause.
    pub likely_cause: Option<String>,
    /// Related commits.
    pub correlated_commits: Vec<String>,
}

/// Which perf samples to read: one metric (or all), a time window, and who is looking.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SampleFilter {
    /// Only this metric (all when `None`).
    pub metric: Option<String>,
    /// Only samples stored at or after this time, Unix ns.
    pub since: Option<u64>,
    /// Only samples stored at or before this time (inclusive), Unix ns.
    pub until: Option<u64>,
    /// Who reads: [`Viewer::System`] (the default) is the operator's view and sees every
    /// sample; an actor sees public samples, its own private ones and its team's team ones,
    /// exactly as the store's `query` decides.
    pub viewer: Viewer,
}

impl SampleFilter {
    /// Every sample of `metric` (all metrics when `None`), as the operator sees them.
    pub fn metric(metric: Option<&str>) -> Self {
        Self {
            metric: metric.map(str::to_string),
            ..Self::default()
        }
    }

    fn admits_time(&self, t: u64) -> bool {
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t <= u)
    }
}

/// The store operations the cartridge uses (the contract's `EventManager` subset).
pub trait MetricStore {
    /// Records a perf sample (the spec's `recordPerfSample`).
    fn record_perf_sample(
        &self,
        metric_name: &str,
        value: f64,
        unit: &str,
        dimensions: &[(&str, &str)],
        commit_range: Option<&str>,
        session_ids: &[u64],
    ) -> Result<(), StoreError>;
    /// Records a `perf_regression` event.
    fn record_regression(&self, regression: &PerfRegression<'_>) -> Result<(), StoreError>;
    /// Every stored perf sample of `metric` (all metrics when `None`), in timestamp order,
    /// as the operator sees them.
    fn perf_samples(&self, metric: Option<&str>) -> Result<Vec<SampleRecord>, StoreError> {
        self.perf_samples_where(&SampleFilter::metric(metric))
    }
    /// The perf samples `filter` admits (and its viewer may see), in timestamp order.
    fn perf_samples_where(&self, filter: &SampleFilter) -> Result<Vec<SampleRecord>, StoreError>;
    /// The samples of a user-defined event's numeric field ([`UserMetric`]) whose events
    /// `filter`'s time window and viewer admit (`filter.metric` is not looked at), in
    /// timestamp order. A store without user events has none (the default).
    fn user_samples(
        &self,
        metric: &UserMetric,
        filter: &SampleFilter,
    ) -> Result<Vec<SampleRecord>, CartridgeError> {
        let _ = (metric, filter);
        Ok(Vec::new())
    }
}

/// What was recorded just before must be visible: drains the rings first (a read-only
/// store has no flusher and nothing pending).
fn drain(em: &EventManager) -> Result<(), StoreError> {
    match em.flush() {
        Ok(()) | Err(StoreError::ReadOnly) => Ok(()),
        Err(e) => Err(e),
    }
}

impl MetricStore for EventManager {
    fn record_perf_sample(
        &self,
        metric_name: &str,
        value: f64,
        unit: &str,
        dimensions: &[(&str, &str)],
        commit_range: Option<&str>,
        session_ids: &[u64],
    ) -> Result<(), StoreError> {
        let once = || {
            EventManager::record_perf_sample(
                self,
                metric_name,
                value,
                unit,
                dimensions,
                commit_range,
                session_ids,
            )
        };
        match once() {
            // A full ring during a bulk import: let the flusher drain it, then try once more.
            // (A limit's refusal is final: retrying would not change it.)
            Err(StoreError::NotRecorded(RecordError::Full)) => {
                self.flush()?;
                once()
            }
            r => r,
        }
    }

    fn record_regression(&self, regression: &PerfRegression<'_>) -> Result<(), StoreError> {
        self.record(0, Visibility::Public, regression)
    }

    fn perf_samples_where(&self, filter: &SampleFilter) -> Result<Vec<SampleRecord>, StoreError> {
        let metric = filter.metric.as_deref();
        drain(self)?;
        let q = Query {
            event_types: vec![EventType::PerfSample],
            start_time: filter.since,
            end_time: filter.until,
            viewer: filter.viewer,
            ..Query::default()
        };
        // The whole store's blocks are read, checked and decoded on every core (a week of
        // history is bound by the disk, not the decoder); each thread keeps what it found,
        // sorted afterwards into the order a query returns (timestamp, then event id).
        type Found = Vec<(u64, u64, Result<SampleRecord, StoreError>)>;
        let (summary, parts) = self.scan_with(&q, 0, Found::new, |out, id, r| match r.event() {
            Ok(Event::PerfSample(p)) => {
                if metric.is_none_or(|m| m == p.metric_name) {
                    let s = SampleRecord::from_payload(r.timestamp(), &p);
                    out.push((r.timestamp(), id, Ok(s)));
                }
            }
            Ok(_) => {}
            Err(e) => out.push((
                r.timestamp(),
                id,
                Err(StoreError::Corrupt {
                    path: std::path::PathBuf::from(format!("event {id}")),
                    offset: 0,
                    reason: format!("perf_sample payload does not decode: {e}"),
                }),
            )),
        })?;
        // A damaged block may have held samples: an error, never a silently shorter series.
        if let Some(e) = summary.damage_error() {
            return Err(e);
        }
        let mut found: Found = parts.into_iter().flatten().collect();
        found.sort_unstable_by_key(|&(ts, id, _)| (ts, id));
        found.into_iter().map(|(_, _, s)| s).collect()
    }

    fn user_samples(
        &self,
        metric: &UserMetric,
        filter: &SampleFilter,
    ) -> Result<Vec<SampleRecord>, CartridgeError> {
        drain(self)?;
        let q = Query {
            user_types: vec![metric.event.clone()],
            start_time: filter.since,
            end_time: filter.until,
            viewer: filter.viewer,
            ..Query::default()
        };
        let mut out = Vec::new();
        // One schema without the field as a number, kept for the error message.
        let mut without = None;
        for ev in self.query_iter(&q)? {
            let ev = ev?;
            let Some(schema) = &ev.user else { continue };
            match metric.sample(ev.timestamp, schema, &ev.payload) {
                Ok(Some(s)) => out.push(s),
                Ok(None) => {
                    if without.is_none() {
                        without = Some(schema.clone());
                    }
                }
                Err(reason) => {
                    return Err(CartridgeError::Metric {
                        metric: metric.to_string(),
                        reason,
                    })
                }
            }
        }
        if let (true, Some(schema)) = (out.is_empty(), without) {
            let has_field = schema
                .definition()
                .fields
                .iter()
                .any(|(n, _)| n == metric.field);
            // Only absent optionals: no samples, not an error.
            if !has_field || !crate::user_metric::numeric_fields(&schema).contains(&metric.field) {
                return Err(CartridgeError::Metric {
                    metric: metric.to_string(),
                    reason: format!(
                        "{} has no numeric field {:?} (its numeric fields: {})",
                        metric.event,
                        metric.field,
                        crate::user_metric::numeric_fields(&schema).join(", ")
                    ),
                });
            }
        }
        Ok(out)
    }
}

/// An in-memory store: for tests, and for running detection on data not (yet) in a store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    samples: Mutex<Vec<SampleRecord>>,
    regressions: Mutex<Vec<RegressionRecord>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a sample with an explicit timestamp (synthetic histories).
    pub fn push(&self, sample: SampleRecord) {
        let mut s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let at = s.partition_point(|x| x.timestamp <= sample.timestamp);
        s.insert(at, sample);
    }

    /// The regressions recorded so far.
    pub fn regressions(&self) -> Vec<RegressionRecord> {
        self.regressions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl MetricStore for MemoryStore {
    fn record_perf_sample(
        &self,
        metric_name: &str,
        value: f64,
        unit: &str,
        dimensions: &[(&str, &str)],
        commit_range: Option<&str>,
        session_ids: &[u64],
    ) -> Result<(), StoreError> {
        let mut s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let timestamp = s.last().map_or(1, |l| l.timestamp + 1);
        s.push(SampleRecord {
            timestamp,
            metric_name: metric_name.to_string(),
            value,
            unit: unit.to_string(),
            dimensions: dimensions
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            commit_range: commit_range.map(str::to_string),
            session_ids: session_ids.to_vec(),
        });
        Ok(())
    }

    fn record_regression(&self, r: &PerfRegression<'_>) -> Result<(), StoreError> {
        self.regressions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(RegressionRecord {
                metric_name: r.metric_name.to_string(),
                baseline_value: r.baseline_value,
                current_value: r.current_value,
                regression_percent: r.regression_percent,
                severity: r.severity.name().to_string(),
                likely_cause: r.likely_cause.map(str::to_string),
                correlated_commits: r.correlated_commits.iter().map(str::to_string).collect(),
            });
        Ok(())
    }

    /// Every sample here is public: the viewer sees them all.
    fn perf_samples_where(&self, filter: &SampleFilter) -> Result<Vec<SampleRecord>, StoreError> {
        let s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        Ok(s.iter()
            .filter(|x| filter.metric.as_deref().is_none_or(|m| m == x.metric_name))
            .filter(|x| filter.admits_time(x.timestamp))
            .cloned()
            .collect())
    }
}
