//! Performance history: `ingest-criterion`, `regressions`, `plot`.
//!
//! A series is one metric with one set of dimensions, its perf samples in time order.
//! Samples that carry the same `correlation_hints.commit_range` form a run (one commit, or one
//! demo run), which is how the detectors group a baseline against the current state.

use super::{open_read, store_err};
use crate::cli::{FailOn, Format, Mode};
use crate::error::{CliError, CliResult};
use crate::plot::{render, ImageFormat, Marker, MarkerKind, Series as PlotSeries};
use crate::timespec::{now_unix_ns, parse_time};
use northstar_cartridge::cartridge::{assess_series, group_series, SeriesVerdict};
use northstar_cartridge::detect::{runs, shifts, DetectConfig, Verdict};
use northstar_cartridge::explain::{change_words, format_value, percent};
use northstar_cartridge::{
    CartridgeConfig, MetricKind, MetricStore, ObservabilityCartridge, SampleFilter, Series,
};
use northstar_core::events::Severity;
use northstar_store::{EventManager, StoreConfig, Viewer};
use serde_json::json;
use std::path::{Path, PathBuf};

/// A series' verdict with its explanation (the cartridge's [`SeriesVerdict`]).
pub type Outcome = SeriesVerdict;

/// What `regressions` and `plot` read: which samples, seen by whom, with which kinds.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Only this metric.
    pub metric: Option<String>,
    /// `--since` (RFC 3339, Unix ns or an age).
    pub since: Option<String>,
    /// `--until`, inclusive.
    pub until: Option<String>,
    /// `--viewer`: None is the operator's view (every sample).
    pub viewer: Option<u64>,
    /// `--kind METRIC=KIND` overrides.
    pub kinds: Vec<String>,
}

impl Selection {
    /// From the command-line flags.
    pub fn new(metric: Option<String>, w: crate::cli::PerfWindow) -> Self {
        Self {
            metric,
            since: w.since,
            until: w.until,
            viewer: w.viewer,
            kinds: w.kinds,
        }
    }

    fn filter(&self) -> CliResult<SampleFilter> {
        let now = now_unix_ns();
        let time = |flag: &str, v: &Option<String>| -> CliResult<Option<u64>> {
            v.as_deref()
                .map(|s| {
                    parse_time(s, now).map_err(|e| CliError::usage(format!("{flag} {s:?}: {e}")))
                })
                .transpose()
        };
        Ok(SampleFilter {
            metric: self.metric.clone(),
            since: time("--since", &self.since)?,
            until: time("--until", &self.until)?,
            viewer: self
                .viewer
                .map_or(Viewer::System, |actor_id| Viewer::Actor { actor_id }),
        })
    }

    fn kind_overrides(&self) -> CliResult<Vec<(String, MetricKind)>> {
        self.kinds
            .iter()
            .map(|k| {
                let (m, kind) = k.split_once('=').ok_or_else(|| {
                    CliError::usage(format!("--kind {k:?}: expected METRIC=KIND"))
                })?;
                let kind = MetricKind::from_name(kind).ok_or_else(|| {
                    let names: Vec<&str> = MetricKind::ALL.iter().map(|k| k.name()).collect();
                    CliError::usage(format!(
                        "--kind {k:?}: unknown kind {kind:?} (expected one of: {})",
                        names.join(", ")
                    ))
                })?;
                Ok((m.to_string(), kind))
            })
            .collect()
    }

    /// The cartridge's verdict on every selected series.
    fn assess(&self, em: &EventManager, config: &DetectConfig) -> CliResult<Vec<Outcome>> {
        let filter = self.filter()?;
        let overrides = self.kind_overrides()?;
        let cartridge = ObservabilityCartridge::init(em, CartridgeConfig::default())
            .map_err(|e| CliError::usage(e.to_string()))?;
        for (m, k) in &overrides {
            cartridge.set_metric_kind(m, *k);
        }
        cartridge
            .assess_where(&filter, config)
            .map_err(|e| CliError::usage(format!("{}: {e}", em.dir().display())))
    }
}

/// Every perf-sample series in the store (only `metric`'s when given), as the operator sees
/// them, grouped and classified by the cartridge. An undecodable sample is an error, not a
/// silent gap in the history.
pub fn load_series(em: &EventManager, metric: Option<&str>) -> CliResult<Vec<Series>> {
    let samples = em
        .perf_samples(metric)
        .map_err(|e| store_err(em.dir(), "query failed in", e))?;
    Ok(group_series(samples, |m, u, recorded| {
        recorded.unwrap_or_else(|| MetricKind::classify(m, u))
    }))
}

/// The cartridge's verdict on every series.
pub fn detect_all(series: Vec<Series>, config: &DetectConfig) -> Vec<Outcome> {
    series
        .into_iter()
        .map(|s| assess_series(s, config))
        .collect()
}

fn dims_label(s: &Series) -> String {
    if s.key.dimensions.is_empty() {
        return "-".into();
    }
    s.key
        .dimensions
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn severity(o: &Outcome) -> Option<Severity> {
    match &o.verdict {
        Verdict::Regression(f) => Some(Severity::from_percent(f.regression_percent)),
        _ => None,
    }
}

fn verdict_name(o: &Outcome) -> String {
    match &o.verdict {
        Verdict::Regression(f) => match f.status {
            Some(s) => format!("regression ({})", s.name()),
            None => "regression".into(),
        },
        Verdict::Improvement(_) => "improvement".into(),
        Verdict::WithinNoise { .. } => "within noise".into(),
        Verdict::NoChange => "no change".into(),
        Verdict::InsufficientData { .. } => "insufficient data".into(),
        Verdict::UnknownKind => "unknown kind".into(),
    }
}

fn outcome_json(o: &Outcome) -> serde_json::Value {
    let s = &o.series;
    let dims: serde_json::Map<String, serde_json::Value> = s
        .key
        .dimensions
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    let mut j = json!({
        "metric_name": s.key.metric_name,
        "dimensions": dims,
        "unit": s.unit,
        "kind": s.kind.name(),
        "samples": s.points.len(),
        "verdict": verdict_name(o),
        "explanation": o.explanation,
    });
    match &o.verdict {
        Verdict::Regression(f) | Verdict::Improvement(f) => {
            j["baseline_value"] = json!(f.baseline);
            j["current_value"] = json!(f.current);
            j["ratio"] = json!(f.ratio());
            j["ratio_ci"] = json!(f.ratio_ci.map(|(a, b)| [a, b]));
            j["regression_percent"] = json!(f.regression_percent);
            j["ci_percent"] = json!(f.ci_percent.map(|(a, b)| [a, b]));
            j["status"] = json!(f.status.map(|s| s.name()));
            j["p_value"] = json!(f.p_value);
            j["noise_percent"] = json!(f.noise.and_then(|(n, rel, _)| rel.then_some(n)));
            j["commit_before"] = json!(f.commit_before);
            j["commit_after"] = json!(f.commit_after);
            j["correlated_commits"] = json!(f.correlated_commits());
            if let Some(sev) = severity(o) {
                j["severity"] = json!(sev.name());
            }
        }
        Verdict::WithinNoise { ci_percent } => {
            j["ci_percent"] = json!(ci_percent.map(|(a, b, c)| [a, b, c]));
        }
        Verdict::InsufficientData { reason } => j["reason"] = json!(reason),
        _ => {}
    }
    j
}

fn outcome_row(o: &Outcome) -> Vec<String> {
    let s = &o.series;
    let dash = || "-".to_string();
    let (base, cur, change, commits) = match &o.verdict {
        Verdict::Regression(f) | Verdict::Improvement(f) => (
            format_value(f.baseline, &s.unit),
            format_value(f.current, &s.unit),
            match f.ratio_ci {
                Some((lo, hi)) => format!(
                    "{} [{}, {}]",
                    change_words(f.ratio(), s.kind),
                    percent(lo),
                    percent(hi)
                ),
                None => change_words(f.ratio(), s.kind),
            },
            f.commit_range().unwrap_or_else(dash),
        ),
        Verdict::WithinNoise {
            ci_percent: Some((lo, est, hi)),
        } => (
            dash(),
            dash(),
            format!("{est:+.1}% {} [{lo:+.1}, {hi:+.1}]", s.kind.worse_word()),
            dash(),
        ),
        Verdict::InsufficientData { reason } => (dash(), dash(), reason.clone(), dash()),
        _ => (dash(), dash(), dash(), dash()),
    };
    vec![
        s.key.metric_name.clone(),
        dims_label(s),
        s.kind.name().to_string(),
        s.points.len().to_string(),
        verdict_name(o),
        base,
        cur,
        change,
        severity(o).map_or("-", |v| v.name()).to_string(),
        commits,
    ]
}

/// Column headers of the regressions table.
pub const REGRESSION_HEADERS: [&str; 10] = [
    "METRIC",
    "DIMENSIONS",
    "KIND",
    "SAMPLES",
    "VERDICT",
    "BEFORE",
    "AFTER",
    "CHANGE [95% CI]",
    "SEVERITY",
    "COMMITS",
];

/// Prints outcomes as a table (then one explaining line per regression and improvement) or
/// as JSON lines.
pub fn print_outcomes(outcomes: &[Outcome], format: Format) -> CliResult {
    match format {
        Format::Json => {
            for o in outcomes {
                outln!("{}", outcome_json(o))?;
            }
        }
        Format::Table => {
            let rows: Vec<Vec<String>> = outcomes.iter().map(outcome_row).collect();
            out!("{}", crate::table::render(&REGRESSION_HEADERS, &rows))?;
            let explained: Vec<&Outcome> = outcomes
                .iter()
                .filter(|o| matches!(o.verdict, Verdict::Regression(_) | Verdict::Improvement(_)))
                .collect();
            if !explained.is_empty() {
                outln!()?;
                for o in explained {
                    outln!("{}", crate::output::escape_text(&o.explanation))?;
                }
            }
        }
    }
    Ok(())
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

fn no_samples(dir: &Path, sel: &Selection) -> CliError {
    let who = sel
        .viewer
        .map(|v| format!(" visible to viewer {v}"))
        .unwrap_or_default();
    CliError::usage(match &sel.metric {
        Some(m) if northstar_cartridge::UserMetric::parse(m).is_some() => format!(
            "no perf samples of metric {m:?} and no user events of that name{who} in {}",
            dir.display()
        ),
        Some(m) => format!("no perf samples of metric {m:?}{who} in {}", dir.display()),
        None => format!("no perf samples{who} in {}", dir.display()),
    })
}

/// `northstar regressions`.
pub fn regressions(
    dir: &Path,
    sel: &Selection,
    threshold: Option<f64>,
    mode: Mode,
    fail_on: Option<FailOn>,
    format: Format,
) -> CliResult {
    let config = detect_config(mode, threshold)?;
    let em = open_read(dir)?;
    let outcomes = sel.assess(&em, &config)?;
    if outcomes.is_empty() {
        return Err(no_samples(dir, sel));
    }
    print_outcomes(&outcomes, format)?;
    let worst = outcomes
        .iter()
        .filter_map(severity)
        .max_by_key(|s| *s as u8);
    let n = outcomes.iter().filter(|o| severity(o).is_some()).count();
    if format == Format::Table {
        crate::note!("{} series, {n} regressions", outcomes.len());
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
/// run's spread, the cartridge's regressions and change points marked; SVG or PNG by the output
/// file's extension.
pub fn plot(dir: &Path, sel: &Selection, out: &Path) -> CliResult {
    // Check the file name before reading the store: a bad one fails fast.
    let format = ImageFormat::from_path(out).map_err(|e| CliError::usage(e.to_string()))?;
    let em = open_read(dir)?;
    let config = DetectConfig::default();
    let outcomes = sel.assess(&em, &config)?;
    if outcomes.is_empty() {
        return Err(no_samples(dir, sel));
    }
    let metric = sel.metric.clone().unwrap_or_default();
    let unit = outcomes
        .last()
        .map(|o| o.series.unit.clone())
        .unwrap_or_default();
    let plot_series: Vec<PlotSeries> = outcomes.iter().map(run_means).collect();
    let markers: Vec<Marker> = outcomes
        .iter()
        .enumerate()
        .flat_map(|(i, o)| outcome_markers(i, o, &config))
        .collect();
    let image = render(format, &metric, &unit, &plot_series, &markers)
        .map_err(|e| CliError::usage(e.to_string()))?;
    std::fs::write(out, image)
        .map_err(|e| CliError::usage(format!("cannot write {}: {e}", out.display())))?;
    let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
    crate::note!(
        "wrote {} ({}, {})",
        out.display(),
        plural(plot_series.len(), "dimension set"),
        plural(markers.len(), "marker")
    );
    Ok(())
}

/// A series as the plot draws it: each run's mean at the run's first timestamp, and the run's
/// minimum and maximum as a whisker when it has more than one sample.
fn run_means(o: &Outcome) -> PlotSeries {
    let s = &o.series;
    let mut points = Vec::new();
    let mut spread = Vec::new();
    for (a, b) in runs(&s.points) {
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
    PlotSeries {
        label: dims_label(s),
        points,
        spread,
    }
}

/// The cartridge's regression (if any) and change points of series `i`, as plot markers.
fn outcome_markers(i: usize, o: &Outcome, config: &DetectConfig) -> Vec<Marker> {
    let s = &o.series;
    let mut markers = Vec::new();
    if let Verdict::Regression(f) = &o.verdict {
        markers.push(Marker {
            series: i,
            timestamp: s.points[f.index].timestamp,
            kind: MarkerKind::Regression,
            text: format!(
                "{} {}{}",
                change_words(f.ratio(), s.kind),
                Severity::from_percent(f.regression_percent).name(),
                f.status
                    .map(|st| format!(" ({})", st.name()))
                    .unwrap_or_default()
            ),
        });
    }
    for sh in shifts(&s.points, &config.segments) {
        markers.push(Marker {
            series: i,
            timestamp: sh.timestamp,
            kind: MarkerKind::ChangePoint,
            text: format!(
                "{} -> {}",
                format_value(sh.levels.0, &s.unit),
                format_value(sh.levels.1, &s.unit)
            ),
        });
    }
    markers
}

/// `northstar ingest-criterion`: the cartridge reads criterion's output and records each
/// benchmark's samples, its ops/sec and its p99 (`northstar_cartridge::ObservabilityCartridge::ingest_criterion`).
pub fn ingest(
    dir: &Path,
    criterion_dir: Option<PathBuf>,
    messages: Option<PathBuf>,
    commit: Option<String>,
) -> CliResult {
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
        crate::note!("northstar: skipped {n} messages with unknown reason {reason:?}");
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
