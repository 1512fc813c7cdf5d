//! Performance history: `ingest-criterion`, `regressions`, `plot`.
//!
//! A series is one metric with one set of dimensions, its perf samples in time order.
//! Samples that carry the same `correlation_hints.commit_range` form a run (one commit, or one
//! demo run), which is how the detectors group a baseline against the current state.

use super::{open_read, store_err};
use crate::cli::{FailOn, Format, Mode};
use crate::error::{CliError, CliResult};
use crate::output::trim_float;
use crate::plot::{render_svg, Marker, MarkerKind, Series as PlotSeries};
use northstar_cartridge::detect::{detect, runs, shifts, DetectConfig, Point, Verdict};
use northstar_cartridge::MetricKind;
use northstar_core::events::Severity;
use northstar_store::{EventManager, StoreConfig};
use serde_json::json;
use std::path::{Path, PathBuf};

/// One metric under one set of dimensions.
#[derive(Clone, Debug)]
pub struct Series {
    /// Metric name.
    pub metric: String,
    /// Unit of the latest sample.
    pub unit: String,
    /// Dimensions, sorted by key.
    pub dims: Vec<(String, String)>,
    /// Samples in time order.
    pub points: Vec<Point>,
}

impl Series {
    /// `k=v,k=v` (or `-` without dimensions).
    pub fn dims_label(&self) -> String {
        if self.dims.is_empty() {
            return "-".into();
        }
        self.dims
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Every perf-sample series in the store (only `metric`'s when given), grouped by the
/// cartridge exactly as its detectors group them. An undecodable sample is an error, not a
/// silent gap in the history.
pub fn load_series(em: &EventManager, metric: Option<&str>) -> CliResult<Vec<Series>> {
    use northstar_cartridge::cartridge::group_series;
    use northstar_cartridge::MetricStore;
    let samples = em
        .perf_samples(metric)
        .map_err(|e| store_err(em.dir(), "query failed in", e))?;
    Ok(group_series(samples, MetricKind::classify)
        .into_iter()
        .map(|s| Series {
            metric: s.key.metric_name,
            unit: s.unit,
            dims: s.key.dimensions,
            points: s.points,
        })
        .collect())
}

/// The detector's verdict on one series, flattened for output.
pub struct Outcome {
    /// The series.
    pub series: Series,
    /// Its kind (direction of "worse").
    pub kind: MetricKind,
    /// The verdict.
    pub verdict: Verdict,
}

impl Outcome {
    /// Severity of a regression, if this is one.
    pub fn severity(&self) -> Option<Severity> {
        match &self.verdict {
            Verdict::Regression(f) => Some(Severity::from_percent(f.regression_percent)),
            _ => None,
        }
    }

    fn verdict_name(&self) -> &'static str {
        match self.verdict {
            Verdict::Regression(_) => "regression",
            Verdict::Improvement(_) => "improvement",
            Verdict::WithinNoise { .. } => "within noise",
            Verdict::NoChange => "no change",
            Verdict::InsufficientData { .. } => "insufficient data",
            Verdict::UnknownKind => "unknown kind",
        }
    }

    fn json(&self) -> serde_json::Value {
        let mut o = json!({
            "metric_name": self.series.metric,
            "dimensions": {},
            "unit": self.series.unit,
            "kind": format!("{:?}", self.kind).to_lowercase(),
            "samples": self.series.points.len(),
            "verdict": self.verdict_name(),
        });
        let dims: serde_json::Map<String, serde_json::Value> = self
            .series
            .dims
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        o["dimensions"] = serde_json::Value::Object(dims);
        match &self.verdict {
            Verdict::Regression(f) | Verdict::Improvement(f) => {
                o["baseline_value"] = json!(f.baseline);
                o["current_value"] = json!(f.current);
                o["regression_percent"] = json!(f.regression_percent);
                o["ci_percent"] = json!(f.ci_percent.map(|(a, b)| [a, b]));
                o["correlated_commits"] = json!(f.correlated_commits());
                if let Some(s) = self.severity() {
                    o["severity"] = json!(s.name());
                }
            }
            Verdict::WithinNoise { ci_percent } => {
                o["ci_percent"] = json!(ci_percent.map(|(a, b, c)| [a, b, c]));
            }
            Verdict::InsufficientData { reason } => o["reason"] = json!(reason),
            _ => {}
        }
        o
    }

    fn row(&self) -> Vec<String> {
        let (base, cur, change, sev, commits) = match &self.verdict {
            Verdict::Regression(f) | Verdict::Improvement(f) => (
                trim_float(f.baseline),
                trim_float(f.current),
                match f.ci_percent {
                    Some((lo, hi)) => format!("{:+.1}% [{lo:+.1}, {hi:+.1}]", f.regression_percent),
                    None => format!("{:+.1}%", f.regression_percent),
                },
                self.severity().map_or("-", |s| s.name()).to_string(),
                f.commit_range().unwrap_or_else(|| "-".into()),
            ),
            Verdict::WithinNoise {
                ci_percent: Some((lo, est, hi)),
            } => (
                "-".into(),
                "-".into(),
                format!("{est:+.1}% [{lo:+.1}, {hi:+.1}]"),
                "-".into(),
                "-".into(),
            ),
            Verdict::InsufficientData { reason } => (
                "-".into(),
                "-".into(),
                reason.clone(),
                "-".into(),
                "-".into(),
            ),
            _ => ("-".into(), "-".into(), "-".into(), "-".into(), "-".into()),
        };
        vec![
            self.series.metric.clone(),
            self.series.dims_label(),
            self.series.points.len().to_string(),
            self.verdict_name().to_string(),
            base,
            cur,
            change,
            sev,
            commits,
        ]
    }
}

/// Runs the detector over every series.
pub fn detect_all(series: Vec<Series>, config: &DetectConfig) -> Vec<Outcome> {
    series
        .into_iter()
        .map(|s| {
            let kind = MetricKind::classify(&s.metric, &s.unit);
            let verdict = detect(&s.points, kind, config);
            Outcome {
                series: s,
                kind,
                verdict,
            }
        })
        .collect()
}

/// The detector settings for the command-line flags.
pub fn detect_config(mode: Mode, threshold: Option<f64>) -> CliResult<DetectConfig> {
    if let Some(t) = threshold {
        if !t.is_finite() || t < 0.0 {
            return Err(CliError::usage(format!(
                "--threshold {t}: expected a non-negative percentage"
            )));
        }
    }
    Ok(DetectConfig {
        mode: match mode {
            Mode::Spec => northstar_cartridge::Mode::Spec,
            Mode::NoiseAware => northstar_cartridge::Mode::NoiseAware,
        },
        threshold_percent: threshold.unwrap_or(0.0),
        ..DetectConfig::default()
    })
}

/// Column headers of [`Outcome::row`].
pub const REGRESSION_HEADERS: [&str; 9] = [
    "METRIC",
    "DIMENSIONS",
    "SAMPLES",
    "VERDICT",
    "BASELINE",
    "CURRENT",
    "CHANGE [CI]",
    "SEVERITY",
    "COMMITS",
];

/// Prints outcomes as a table or JSON lines.
pub fn print_outcomes(outcomes: &[Outcome], format: Format) -> CliResult {
    match format {
        Format::Json => {
            for o in outcomes {
                outln!("{}", o.json())?;
            }
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = outcomes.iter().map(Outcome::row).collect();
            out!("{}", crate::table::render(&REGRESSION_HEADERS, &rows))?;
        }
    }
    Ok(())
}

/// `northstar regressions`.
pub fn regressions(
    dir: &Path,
    metric: Option<String>,
    threshold: Option<f64>,
    mode: Mode,
    fail_on: Option<FailOn>,
    format: Format,
) -> CliResult {
    let config = detect_config(mode, threshold)?;
    let em = open_read(dir)?;
    let series = load_series(&em, metric.as_deref())?;
    if series.is_empty() {
        return Err(CliError::usage(match metric {
            Some(m) => format!("no perf samples of metric {m:?} in {}", dir.display()),
            None => format!("no perf samples in {}", dir.display()),
        }));
    }
    let outcomes = detect_all(series, &config);
    print_outcomes(&outcomes, format)?;
    let worst = outcomes
        .iter()
        .filter_map(Outcome::severity)
        .max_by_key(|s| *s as u8);
    let n = outcomes.iter().filter(|o| o.severity().is_some()).count();
    if format == Format::Table {
        eprintln!("{} series, {n} regressions", outcomes.len());
    }
    if let (Some(bar), Some(w)) = (fail_on, worst) {
        let level = match w {
            Severity::Minor => FailOn::Minor,
            Severity::Moderate => FailOn::Moderate,
            Severity::Severe => FailOn::Severe,
        };
        if level >= bar {
            return Err(CliError::Finding(format!(
                "{n} regressions, the worst {} (--fail-on {bar:?})",
                w.name()
            )));
        }
    }
    Ok(())
}

/// `northstar plot`: one line per dimension set through each run's mean, a whisker for the
/// run's spread, regressions and change points marked.
pub fn plot(dir: &Path, metric: &str, out: &Path) -> CliResult {
    let em = open_read(dir)?;
    let series = load_series(&em, Some(metric))?;
    if series.is_empty() {
        return Err(CliError::usage(format!(
            "no perf samples of metric {metric:?} in {}",
            dir.display()
        )));
    }
    let unit = series.last().map(|s| s.unit.clone()).unwrap_or_default();
    let config = DetectConfig::default();
    let mut plot_series = Vec::new();
    let mut markers = Vec::new();
    for (i, s) in series.iter().enumerate() {
        let rs = runs(&s.points);
        let run_of = |idx: usize| {
            rs.iter()
                .position(|&(a, b)| a <= idx && idx < b)
                .unwrap_or(0)
        };
        let mut points = Vec::new();
        let mut spread = Vec::new();
        for &(a, b) in &rs {
            let vals: Vec<f64> = s.points[a..b].iter().map(|p| p.value).collect();
            let mean = vals.iter().sum::<f64>() / vals.len() as f64;
            let t = s.points[a].timestamp;
            points.push((t, mean));
            if vals.len() > 1 {
                let lo = vals.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                spread.push((t, lo, hi));
            }
        }
        let kind = MetricKind::classify(&s.metric, &s.unit);
        if let Verdict::Regression(f) = detect(&s.points, kind, &config) {
            markers.push(Marker {
                series: i,
                timestamp: s.points[rs[run_of(f.index)].0].timestamp,
                kind: MarkerKind::Regression,
                text: format!(
                    "{:+.0}% {}",
                    f.regression_percent,
                    Severity::from_percent(f.regression_percent).name()
                ),
            });
        }
        for sh in shifts(&s.points, &config.change_points) {
            markers.push(Marker {
                series: i,
                timestamp: s.points[rs[run_of(sh.change.index)].0].timestamp,
                kind: MarkerKind::ChangePoint,
                text: format!(
                    "shift {} → {}",
                    trim_float(sh.change.mean_before),
                    trim_float(sh.change.mean_after)
                ),
            });
        }
        plot_series.push(PlotSeries {
            label: s.dims_label(),
            points,
            spread,
        });
    }
    let svg = render_svg(metric, &unit, &plot_series, &markers);
    std::fs::write(out, svg)
        .map_err(|e| CliError::usage(format!("cannot write {}: {e}", out.display())))?;
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    eprintln!(
        "wrote {} ({}, {})",
        out.display(),
        plural(plot_series.len(), "dimension set"),
        plural(markers.len(), "marker")
    );
    Ok(())
}

/// `northstar ingest-criterion`: the cartridge reads criterion's output and records each
/// benchmark's samples, its ops/sec and its p99 (`northstar_cartridge::ObservabilityCartridge::ingest_criterion`).
pub fn ingest(
    dir: &Path,
    criterion_dir: Option<PathBuf>,
    messages: Option<PathBuf>,
    commit: Option<String>,
) -> CliResult {
    use northstar_cartridge::{CartridgeConfig, ObservabilityCartridge};
    let source = messages
        .unwrap_or_else(|| criterion_dir.unwrap_or_else(|| PathBuf::from("target/criterion")));
    // Check the input before opening (and so creating) the store.
    if let Err(e) = std::fs::metadata(&source) {
        return Err(CliError::usage(format!(
            "cannot read {}: {e}",
            source.display()
        )));
    }
    let em = EventManager::open(dir, StoreConfig::default())
        .map_err(|e| store_err(dir, "cannot open", e))?;
    let cartridge = ObservabilityCartridge::init(&em, CartridgeConfig::default())
        .map_err(|e| CliError::usage(e.to_string()))?;
    let report = cartridge
        .ingest_criterion(&source, commit.as_deref())
        .map_err(|e| CliError::usage(e.to_string()))?;
    drop(cartridge);
    em.close()
        .map_err(|e| store_err(dir, "closing failed for", e))?;
    for (reason, n) in &report.unknown_reasons {
        eprintln!("northstar: skipped {n} messages with unknown reason {reason:?}");
    }
    let samples: usize = report.benchmarks.iter().map(|b| b.samples).sum();
    outln!(
        "ingested {} benchmarks as {samples} perf samples into {}{}",
        report.benchmarks.len(),
        dir.display(),
        commit.map(|c| format!(" (commit {c})")).unwrap_or_default()
    )?;
    Ok(())
}
