//! The observability cartridge: metrics under the spec's three limits, regression detection
//! over the store's perf samples, the benchmark runner's hook and criterion ingestion.

use crate::criterion::{self, Benchmark, CriterionError};
use crate::detect::{self, DetectConfig, Mode, Point, ShiftAt, Verdict};
pub use crate::error::CartridgeError;
use crate::explain::explain;
use crate::kind::MetricKind;
use crate::limiter::{RateLimiter, Sampler};
use crate::segment::SegmentConfig;
use crate::store::{MetricStore, SampleFilter, SampleRecord};
use northstar_core::events::{CorrelationHints, PerfRegression, PerfSample, Severity, TimeWindow};
use northstar_core::{List, Payload};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The spec's `ObservabilityCartridge.Config`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CartridgeConfig {
    /// Largest encoded perf_sample payload accepted, in bytes.
    pub max_metric_payload_size: usize,
    /// Fraction of samples kept (1.0 = no sampling).
    pub sampling_rate: f64,
    /// Samples per second admitted per metric (token bucket, bursts of one second).
    pub rate_limit_per_sec: u32,
}

impl Default for CartridgeConfig {
    /// The spec's example: 4096 bytes, no sampling, 100 per second.
    fn default() -> Self {
        Self {
            max_metric_payload_size: 4096,
            sampling_rate: 1.0,
            rate_limit_per_sec: 100,
        }
    }
}

/// What `record_metric` did with a sample. Refusals are counted, not errors: the hot path
/// must not fail because a limit did its job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Recorded.
    Recorded,
    /// Refused: the encoded payload exceeds `max_metric_payload_size`.
    Oversize,
    /// Skipped by the sampler.
    SampledOut,
    /// Refused by the metric's token bucket.
    RateLimited,
}

/// The cartridge's counters (monotonic).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CartridgeStats {
    /// Samples recorded through `record_metric`.
    pub recorded: u64,
    /// Refused as oversize.
    pub oversize: u64,
    /// Skipped by sampling.
    pub sampled_out: u64,
    /// Refused by rate limiting.
    pub rate_limited: u64,
}

#[derive(Default)]
struct Counters {
    recorded: AtomicU64,
    oversize: AtomicU64,
    sampled_out: AtomicU64,
    rate_limited: AtomicU64,
}

/// One series: a metric with one set of dimensions (sorted by key).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesKey {
    /// Metric name.
    pub metric_name: String,
    /// Dimensions, sorted by key.
    pub dimensions: Vec<(String, String)>,
}

impl std::fmt::Display for SeriesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.metric_name)?;
        if !self.dimensions.is_empty() {
            let d: Vec<String> = self
                .dimensions
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            write!(f, "{{{}}}", d.join(","))?;
        }
        Ok(())
    }
}

/// A series read from the store.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Which series.
    pub key: SeriesKey,
    /// Unit of its samples (of the last sample, if they differ).
    pub unit: String,
    /// Its kind (explicit, or inferred from name and unit).
    pub kind: MetricKind,
    /// Its samples, in time order.
    pub points: Vec<Point>,
}

/// A regression alert: the spec's fields, plus the series and the evidence.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// Metric name.
    pub metric_name: String,
    /// The series' dimensions: baselines are never shared between dimension sets.
    pub dimensions: Vec<(String, String)>,
    /// The metric's kind.
    pub kind: MetricKind,
    /// Which detector raised it.
    pub mode: Mode,
    /// Baseline value.
    pub baseline_value: f64,
    /// Current value.
    pub current_value: f64,
    /// Regression in percent (positive: worse).
    pub regression_percent: f64,
    /// The spec's band: minor < 20%, moderate 20–50%, severe > 50%.
    pub severity: Severity,
    /// Unix nanoseconds.
    pub detected_at: u64,
    /// A human-readable account of the evidence.
    pub likely_cause: Option<String>,
    /// The commits at the edge of the shift.
    pub correlated_commits: Vec<String>,
    /// `"<last good>..<first bad>"`, when known.
    pub commit_range: Option<String>,
    /// Noise mode: interval of the regression percent.
    pub ci_percent: Option<(f64, f64)>,
}

/// A series' verdict, for reports that also show what did not alert ("within noise").
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesVerdict {
    /// The series (key, unit, kind and samples).
    pub series: Series,
    /// The verdict.
    pub verdict: Verdict,
    /// The verdict in one line a person reads ([`explain`]).
    pub explanation: String,
}

impl SeriesVerdict {
    /// The series' key.
    pub fn key(&self) -> &SeriesKey {
        &self.series.key
    }

    /// The series' kind.
    pub fn kind(&self) -> MetricKind {
        self.series.kind
    }
}

/// Change points of one series, for plotting.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesShifts {
    /// The series.
    pub key: SeriesKey,
    /// The shifts, in time order.
    pub shifts: Vec<ShiftAt>,
}

/// The spec's `BenchmarkCompleteContext`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BenchmarkComplete<'a> {
    /// Throughput of the run.
    pub ops_per_sec: f64,
    /// p99 latency of the run, nanoseconds.
    pub p99_latency_ns: f64,
    /// Dimensions, e.g. `benchmark=btree_point_get`.
    pub dimensions: &'a [(&'a str, &'a str)],
    /// The commit range measured.
    pub commit_range: Option<&'a str>,
}

/// Which criterion format was ingested.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CriterionSource {
    /// `cargo criterion --message-format=json` lines.
    Messages,
    /// `target/criterion/<id>/new/*.json`.
    Directory,
}

/// What an ingestion recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct IngestReport {
    /// File or directory read.
    pub path: PathBuf,
    /// Format read.
    pub source: CriterionSource,
    /// Commit attached to every sample.
    pub commit: Option<String>,
    /// Per benchmark: id, group, samples recorded (time and, if declared, throughput).
    pub benchmarks: Vec<IngestedBenchmark>,
    /// Message reasons skipped because unknown (newer cargo-criterion), with counts.
    pub unknown_reasons: Vec<(String, usize)>,
}

/// One ingested benchmark.
#[derive(Clone, Debug, PartialEq)]
pub struct IngestedBenchmark {
    /// Full id.
    pub id: String,
    /// Group.
    pub group: String,
    /// Samples recorded (each metric counted).
    pub samples: usize,
    /// Mean time per iteration over the samples, nanoseconds.
    pub mean_ns: f64,
}

/// Metric of criterion's per-iteration times.
pub const CRITERION_TIME_METRIC: &str = "benchmark_time_per_iter_ns";
/// Metric of criterion's declared throughput.
pub const CRITERION_THROUGHPUT_METRIC: &str = "benchmark_throughput";

/// The observability cartridge over a store.
pub struct ObservabilityCartridge<'s, S: MetricStore> {
    store: &'s S,
    config: CartridgeConfig,
    limiter: Box<RateLimiter>,
    sampler: Sampler,
    counters: Counters,
    kinds: RwLock<HashMap<String, MetricKind>>,
    detect: RwLock<DetectConfig>,
    epoch: Instant,
}

/// Shows the configuration and the counters; the store, limiter and metric tables are left out
/// (the store need not be `Debug`, and the tables sit behind locks).
impl<S: MetricStore> std::fmt::Debug for ObservabilityCartridge<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObservabilityCartridge")
            .field("config", &self.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

fn unix_now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl<'s, S: MetricStore> ObservabilityCartridge<'s, S> {
    /// The spec's `ObservabilityCartridge.init(event_manager, config)`. Detection defaults to
    /// the noise-aware mode.
    pub fn init(store: &'s S, config: CartridgeConfig) -> Result<Self, CartridgeError> {
        if !(0.0..=1.0).contains(&config.sampling_rate) {
            return Err(CartridgeError::Config(format!(
                "sampling_rate {} is not within 0.0..=1.0",
                config.sampling_rate
            )));
        }
        if config.rate_limit_per_sec == 0 {
            return Err(CartridgeError::Config(
                "rate_limit_per_sec must be at least 1".into(),
            ));
        }
        if config.max_metric_payload_size == 0 {
            return Err(CartridgeError::Config(
                "max_metric_payload_size must be at least 1".into(),
            ));
        }
        Ok(Self {
            store,
            config,
            limiter: Box::new(RateLimiter::new(config.rate_limit_per_sec)),
            sampler: Sampler::new(config.sampling_rate),
            counters: Counters::default(),
            kinds: RwLock::new(HashMap::new()),
            detect: RwLock::new(DetectConfig::default()),
            epoch: Instant::now(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> CartridgeConfig {
        self.config
    }

    /// The counters.
    pub fn stats(&self) -> CartridgeStats {
        CartridgeStats {
            recorded: self.counters.recorded.load(Ordering::Relaxed),
            oversize: self.counters.oversize.load(Ordering::Relaxed),
            sampled_out: self.counters.sampled_out.load(Ordering::Relaxed),
            rate_limited: self.counters.rate_limited.load(Ordering::Relaxed),
        }
    }

    /// Records a metric (the spec's `recordMetric`) under the three limits, in this order: the
    /// payload size (a sample too large is never admitted), sampling (so skipped samples do not
    /// spend tokens), then the metric's token bucket.
    pub fn record_metric(
        &self,
        name: &str,
        value: f64,
        unit: &str,
        dimensions: &[(&str, &str)],
        hints: CorrelationHints<'_>,
    ) -> Result<Outcome, CartridgeError> {
        let now = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.record_metric_at(now, name, value, unit, dimensions, hints)
    }

    /// [`record_metric`](Self::record_metric) at an explicit monotonic time (nanoseconds
    /// since the cartridge started), for deterministic tests of the rate limit.
    pub fn record_metric_at(
        &self,
        now_ns: u64,
        name: &str,
        value: f64,
        unit: &str,
        dimensions: &[(&str, &str)],
        hints: CorrelationHints<'_>,
    ) -> Result<Outcome, CartridgeError> {
        validate(name, value)?;
        let sample = PerfSample {
            metric_name: name,
            dimensions: List::from(dimensions),
            value,
            unit,
            timestamp_window: TimeWindow { start: 0, end: 0 },
            correlation_hints: hints,
        };
        if sample.encoded_len() > self.config.max_metric_payload_size {
            self.counters.oversize.fetch_add(1, Ordering::Relaxed);
            return Ok(Outcome::Oversize);
        }
        if !self.sampler.keep() {
            self.counters.sampled_out.fetch_add(1, Ordering::Relaxed);
            return Ok(Outcome::SampledOut);
        }
        if !self.limiter.try_acquire(name, now_ns) {
            self.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
            return Ok(Outcome::RateLimited);
        }
        // A caller's slice goes straight through; only an already-encoded list is collected.
        let collected: Vec<u64>;
        let sessions: &[u64] = match hints.session_ids {
            List::Slice(ids) => ids,
            encoded => {
                collected = encoded.iter().collect();
                &collected
            }
        };
        self.store.record_perf_sample(
            name,
            value,
            unit,
            dimensions,
            hints.commit_range,
            sessions,
        )?;
        self.counters.recorded.fetch_add(1, Ordering::Relaxed);
        Ok(Outcome::Recorded)
    }

    /// Sets a metric's kind explicitly (overrides inference from name and unit).
    pub fn set_metric_kind(&self, metric: &str, kind: MetricKind) {
        self.kinds
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(metric.to_string(), kind);
    }

    /// The kind of a metric: explicit if set, else inferred.
    pub fn metric_kind(&self, metric: &str, unit: &str) -> MetricKind {
        let explicit = self
            .kinds
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(metric)
            .copied();
        explicit.unwrap_or_else(|| MetricKind::classify(metric, unit))
    }

    /// Sets the detection settings (mode, minimum samples, interval method...).
    pub fn set_detect_config(&self, config: DetectConfig) {
        *self.detect.write().unwrap_or_else(|e| e.into_inner()) = config;
    }

    /// The detection settings.
    pub fn detect_config(&self) -> DetectConfig {
        *self.detect.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Every series of `metric` (all metrics when `None`), one per set of dimensions.
    pub fn series(&self, metric: Option<&str>) -> Result<Vec<Series>, CartridgeError> {
        self.series_where(&SampleFilter::metric(metric))
    }

    /// Every series of the samples `filter` admits and its viewer may see. The kind of a
    /// series: set with [`set_metric_kind`](Self::set_metric_kind), else recorded with the
    /// samples (a `kind=<name>` dimension), else inferred from name and unit.
    ///
    /// A metric named `EVENT.FIELD` (or `EVENT.FIELD{DIM,...}`) also reads the numeric field
    /// `FIELD` of the user-defined events named `EVENT` ([`UserMetric`]).
    ///
    /// [`UserMetric`]: crate::UserMetric
    pub fn series_where(&self, filter: &SampleFilter) -> Result<Vec<Series>, CartridgeError> {
        let mut samples = self.store.perf_samples_where(filter)?;
        if let Some(um) = filter
            .metric
            .as_deref()
            .and_then(crate::user_metric::UserMetric::parse)
        {
            samples.extend(self.store.user_samples(&um, filter)?);
        }
        let explicit = self.kinds.read().unwrap_or_else(|e| e.into_inner()).clone();
        Ok(group_series(samples, |m, u, recorded| {
            explicit
                .get(m)
                .copied()
                .or(recorded)
                .unwrap_or_else(|| MetricKind::classify(m, u))
        }))
    }

    /// The spec's `detectRegressions(metric, threshold_percent)` with the cartridge's mode
    /// (noise-aware unless set): one alert per regressed series of `metric`, each also recorded
    /// as a `perf_regression` event.
    pub fn detect_regressions(
        &self,
        metric: &str,
        threshold_percent: f64,
    ) -> Result<Vec<Alert>, CartridgeError> {
        let config = DetectConfig {
            threshold_percent,
            ..self.detect_config()
        };
        self.detect_with(Some(metric), &config)
    }

    /// Detection over `metric` (all metrics when `None`) with explicit settings; alerts are
    /// recorded as `perf_regression` events.
    pub fn detect_with(
        &self,
        metric: Option<&str>,
        config: &DetectConfig,
    ) -> Result<Vec<Alert>, CartridgeError> {
        let verdicts = self.assess(metric, config)?;
        let detected_at = unix_now_ns();
        let alerts = alerts_of(&verdicts, config.mode, detected_at);
        for a in &alerts {
            let commits: Vec<&str> = a.correlated_commits.iter().map(String::as_str).collect();
            self.store.record_regression(&PerfRegression {
                metric_name: &a.metric_name,
                baseline_value: a.baseline_value,
                current_value: a.current_value,
                regression_percent: a.regression_percent as f32,
                severity: a.severity,
                detected_at: i64::try_from(a.detected_at).unwrap_or(i64::MAX),
                likely_cause: a.likely_cause.as_deref(),
                correlated_commits: List::from(commits.as_slice()),
            })?;
        }
        Ok(alerts)
    }

    /// Every series' verdict, alerting or not (nothing is recorded).
    pub fn assess(
        &self,
        metric: Option<&str>,
        config: &DetectConfig,
    ) -> Result<Vec<SeriesVerdict>, CartridgeError> {
        self.assess_where(&SampleFilter::metric(metric), config)
    }

    /// Every verdict over the series `filter` admits (nothing is recorded): what
    /// `northstar regressions` prints.
    pub fn assess_where(
        &self,
        filter: &SampleFilter,
        config: &DetectConfig,
    ) -> Result<Vec<SeriesVerdict>, CartridgeError> {
        Ok(self
            .series_where(filter)?
            .into_iter()
            .map(|s| assess_series(s, config))
            .collect())
    }

    /// Change points of every series of `metric` (all when `None`), with commits, for plotting.
    pub fn change_points(
        &self,
        metric: Option<&str>,
        config: &SegmentConfig,
    ) -> Result<Vec<SeriesShifts>, CartridgeError> {
        Ok(self
            .series(metric)?
            .into_iter()
            .map(|s| SeriesShifts {
                shifts: detect::shifts(&s.points, config),
                key: s.key,
            })
            .collect())
    }

    /// The spec's `on_benchmark_complete` hook: records `benchmark_ops_per_sec` and
    /// `benchmark_p99_latency_ns`. Benchmark results go straight to the store, as in the spec:
    /// they are neither sampled nor rate limited, but the payload limit holds.
    pub fn on_benchmark_complete(&self, ctx: &BenchmarkComplete<'_>) -> Result<(), CartridgeError> {
        // Each sample carries its kind (a `kind` dimension), so readers need not guess it.
        let with_kind = |kind: MetricKind| {
            let mut d: Vec<(&str, &str)> = ctx
                .dimensions
                .iter()
                .copied()
                .filter(|(k, _)| *k != KIND_DIMENSION)
                .collect();
            d.push((KIND_DIMENSION, kind.name()));
            d
        };
        self.record_direct(
            "benchmark_ops_per_sec",
            ctx.ops_per_sec,
            "ops/sec",
            &with_kind(MetricKind::Throughput),
            ctx.commit_range,
        )?;
        self.record_direct(
            "benchmark_p99_latency_ns",
            ctx.p99_latency_ns,
            "ns",
            &with_kind(MetricKind::P99Latency),
            ctx.commit_range,
        )
    }

    fn record_direct(
        &self,
        name: &str,
        value: f64,
        unit: &str,
        dims: &[(&str, &str)],
        commit: Option<&str>,
    ) -> Result<(), CartridgeError> {
        validate(name, value)?;
        let probe = PerfSample {
            metric_name: name,
            dimensions: List::from(dims),
            value,
            unit,
            timestamp_window: TimeWindow { start: 0, end: 0 },
            correlation_hints: CorrelationHints {
                commit_range: commit,
                session_ids: List::EMPTY,
            },
        };
        if probe.encoded_len() > self.config.max_metric_payload_size {
            self.counters.oversize.fetch_add(1, Ordering::Relaxed);
            return Err(CartridgeError::Metric {
                metric: name.to_string(),
                reason: format!(
                    "payload of {} bytes exceeds max_metric_payload_size {}",
                    probe.encoded_len(),
                    self.config.max_metric_payload_size
                ),
            });
        }
        self.store
            .record_perf_sample(name, value, unit, dims, commit, &[])?;
        Ok(())
    }

    /// Ingests criterion output: `path` is either a `cargo criterion --message-format=json`
    /// file, or a directory (normally `target/criterion`) of criterion's own JSON files.
    pub fn ingest_criterion(
        &self,
        path: &Path,
        commit: Option<&str>,
    ) -> Result<IngestReport, CartridgeError> {
        let (source, benchmarks, unknown_reasons) = if path.is_dir() {
            (
                CriterionSource::Directory,
                criterion::read_criterion_dir(path)?,
                Vec::new(),
            )
        } else {
            let text = std::fs::read_to_string(path).map_err(|source| CriterionError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            let m = criterion::parse_messages(&text, path)?;
            (CriterionSource::Messages, m.benchmarks, m.unknown_reasons)
        };
        let mut report = IngestReport {
            path: path.to_path_buf(),
            source,
            commit: commit.map(str::to_string),
            benchmarks: Vec::new(),
            unknown_reasons,
        };
        for b in &benchmarks {
            report.benchmarks.push(self.ingest_benchmark(b, commit)?);
        }
        Ok(report)
    }

    fn ingest_benchmark(
        &self,
        b: &Benchmark,
        commit: Option<&str>,
    ) -> Result<IngestedBenchmark, CartridgeError> {
        let mut dims: Vec<(&str, &str)> = vec![("benchmark", &b.id), ("group", &b.group)];
        if let Some(f) = &b.function {
            dims.push(("function", f));
        }
        if let Some(p) = &b.parameter {
            dims.push(("parameter", p));
        }
        dims.push(("source", "criterion"));
        let mut samples = 0;
        for &ns in &b.per_iter_ns {
            self.record_direct(CRITERION_TIME_METRIC, ns, "ns", &dims, commit)?;
            samples += 1;
            if let Some(t) = b.throughput {
                let (per_iter, unit) = t.per_iteration();
                if ns > 0.0 {
                    self.record_direct(
                        CRITERION_THROUGHPUT_METRIC,
                        per_iter as f64 * 1e9 / ns,
                        unit,
                        &dims,
                        commit,
                    )?;
                    samples += 1;
                }
            }
        }
        // The run's summary through the spec's benchmark-runner hook: ops/sec from the mean
        // time per iteration, p99 latency from the samples (nearest rank).
        let mean_ns = crate::stats::mean(&b.per_iter_ns);
        if mean_ns > 0.0 && mean_ns.is_finite() {
            let mut sorted = b.per_iter_ns.clone();
            sorted.sort_by(f64::total_cmp);
            let rank = ((sorted.len() as f64 * 0.99).ceil() as usize).clamp(1, sorted.len());
            self.on_benchmark_complete(&BenchmarkComplete {
                ops_per_sec: 1e9 / mean_ns,
                p99_latency_ns: sorted[rank - 1],
                dimensions: &dims,
                commit_range: commit,
            })?;
            samples += 2;
        }
        Ok(IngestedBenchmark {
            id: b.id.clone(),
            group: b.group.clone(),
            samples,
            mean_ns,
        })
    }
}

fn validate(name: &str, value: f64) -> Result<(), CartridgeError> {
    if name.is_empty() {
        return Err(CartridgeError::Metric {
            metric: String::new(),
            reason: "empty metric name".into(),
        });
    }
    if !value.is_finite() {
        return Err(CartridgeError::Metric {
            metric: name.to_string(),
            reason: format!("value {value} is not finite"),
        });
    }
    Ok(())
}

/// The dimension that records a sample's kind (`kind=latency`): read into
/// [`Series::kind`], not part of the series' key.
pub const KIND_DIMENSION: &str = "kind";

/// Groups samples into series by (metric, sorted dimensions), keeping time order.
/// `kind_of(metric, unit, recorded)` decides each series' kind, `recorded` being the kind
/// its samples carry in a [`KIND_DIMENSION`] dimension (the latest one).
pub fn group_series(
    samples: Vec<SampleRecord>,
    kind_of: impl Fn(&str, &str, Option<MetricKind>) -> MetricKind,
) -> Vec<Series> {
    type Entry = (String, Option<MetricKind>, Vec<Point>);
    let mut map: BTreeMap<SeriesKey, Entry> = BTreeMap::new();
    for s in samples {
        let mut recorded = None;
        let mut dims: Vec<(String, String)> = Vec::with_capacity(s.dimensions.len());
        for (k, v) in s.dimensions {
            if k == KIND_DIMENSION {
                recorded = MetricKind::from_name(&v).or(recorded);
            } else {
                dims.push((k, v));
            }
        }
        dims.sort();
        let key = SeriesKey {
            metric_name: s.metric_name,
            dimensions: dims,
        };
        let entry = map.entry(key).or_default();
        entry.0 = s.unit;
        entry.1 = recorded.or(entry.1);
        entry.2.push(Point {
            timestamp: s.timestamp,
            value: s.value,
            commit: s.commit_range,
        });
    }
    map.into_iter()
        .map(|(key, (unit, recorded, mut points))| {
            points.sort_by_key(|p| p.timestamp); // stable: equal timestamps keep store order
            Series {
                kind: kind_of(&key.metric_name, &unit, recorded),
                key,
                unit,
                points,
            }
        })
        .collect()
}

/// The verdict on one series, with its explanation: the one implementation behind
/// `detectRegressions`, `northstar regressions` and `northstar plot`.
pub fn assess_series(series: Series, config: &DetectConfig) -> SeriesVerdict {
    let verdict = detect::detect(&series.points, series.kind, config);
    let explanation = explain(
        &series.key.to_string(),
        series.kind,
        &series.unit,
        &verdict,
        config,
    );
    SeriesVerdict {
        series,
        verdict,
        explanation,
    }
}

/// The alerts among verdicts (regressions only), in the spec's shape.
pub fn alerts_of(verdicts: &[SeriesVerdict], mode: Mode, detected_at: u64) -> Vec<Alert> {
    verdicts
        .iter()
        .filter_map(|v| match &v.verdict {
            Verdict::Regression(f) => Some(Alert {
                metric_name: v.series.key.metric_name.clone(),
                dimensions: v.series.key.dimensions.clone(),
                kind: v.series.kind,
                mode,
                baseline_value: f.baseline,
                current_value: f.current,
                regression_percent: f.regression_percent,
                severity: Severity::from_percent(f.regression_percent),
                detected_at,
                likely_cause: Some(v.explanation.clone()),
                correlated_commits: f.correlated_commits(),
                commit_range: f.commit_range(),
                ci_percent: f.ci_percent,
            }),
            _ => None,
        })
        .collect()
}
