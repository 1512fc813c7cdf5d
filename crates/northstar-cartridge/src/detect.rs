//! Regression detection over one series (one metric, one set of dimensions), independent of the
//! store: the spec's fixed-percentage rules, and the noise-aware default.

use crate::kind::MetricKind;
pub use crate::point::{runs, Point};
use crate::segment::{segment, NoiseSource, SegmentConfig, SegmentError, Segmentation, Shift};
use crate::stats::mean;

/// Which detector to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Mode {
    /// The spec's heuristics: the latest run against a baseline, with fixed percentages.
    Spec,
    /// The default: change points over the history, then a confidence interval of the change
    /// that must lie wholly beyond the threshold.
    #[default]
    NoiseAware,
}

impl Mode {
    /// Stable name ("spec", "noise").
    pub const fn name(self) -> &'static str {
        match self {
            Self::Spec => "spec",
            Self::NoiseAware => "noise",
        }
    }

    /// Parses [`Mode::name`].
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "spec" => Some(Self::Spec),
            "noise" | "noise-aware" => Some(Self::NoiseAware),
            _ => None,
        }
    }
}

/// How sure a noise-aware regression is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The change is significant and its estimate is beyond the threshold, but its interval
    /// still reaches below the threshold, or only one run shows it: it may be confirmed or
    /// retracted by the next runs.
    Suspected,
    /// Two or more runs after the change, and the whole interval is beyond the threshold.
    Confirmed,
}

impl Status {
    /// Stable name ("suspected", "confirmed").
    pub const fn name(self) -> &'static str {
        match self {
            Self::Suspected => "suspected",
            Self::Confirmed => "confirmed",
        }
    }
}

/// Settings of both detectors.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DetectConfig {
    /// Which detector.
    pub mode: Mode,
    /// Minimum regression to report, in percent. The kind's spec threshold (5/10/15/50) is
    /// always the floor: the effective threshold is the larger of the two.
    pub threshold_percent: f64,
    /// Spec mode: how many runs before the latest form the baseline.
    pub baseline_runs: usize,
    /// Noise mode: confidence level of the interval of the change (criterion uses 0.95).
    pub confidence: f64,
    /// Noise mode: the segmentation.
    pub segments: SegmentConfig,
}

impl Default for DetectConfig {
    fn default() -> Self {
        Self {
            mode: Mode::NoiseAware,
            threshold_percent: 0.0,
            baseline_runs: 5,
            confidence: 0.95,
            segments: SegmentConfig::default(),
        }
    }
}

/// A regression found in one series (store-independent part of an alert).
#[derive(Clone, Debug, PartialEq)]
pub struct Finding {
    /// Baseline value (spec: mean of the baseline samples; noise: the level before the change).
    pub baseline: f64,
    /// Current value (spec: mean of the latest run; noise: the level after the change).
    pub current: f64,
    /// How much worse, in percent (positive = worse; for throughput, the lost fraction).
    pub regression_percent: f64,
    /// Noise mode: the interval of the regression percent (lower, upper).
    pub ci_percent: Option<(f64, f64)>,
    /// Noise mode: interval of the ratio current / baseline (lower, upper), computed on the
    /// log ratio so it never reaches zero.
    pub ratio_ci: Option<(f64, f64)>,
    /// Noise mode: suspected or confirmed.
    pub status: Option<Status>,
    /// Noise mode: p-value of the change (two-sided, against the pooled noise).
    pub p_value: Option<f64>,
    /// Noise mode: the noise of one run, in percent of the level (log scale, or linear scale
    /// with a positive level before the change: `true`), else in the values' unit (`false`),
    /// and how it was estimated.
    pub noise: Option<(f64, bool, NoiseSource)>,
    /// Runs in the baseline and after the change.
    pub runs: (usize, usize),
    /// Index of the first sample of the regressed regime.
    pub index: usize,
    /// Last commit before the shift, if known.
    pub commit_before: Option<String>,
    /// First commit after the shift, if known.
    pub commit_after: Option<String>,
}

impl Finding {
    /// The commits a reader should look at: the range `before..after` split into its ends.
    pub fn correlated_commits(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in [&self.commit_before, &self.commit_after]
            .into_iter()
            .flatten()
        {
            for part in c.split("..").filter(|p| !p.is_empty()) {
                if !out.iter().any(|o| o == part) {
                    out.push(part.to_string());
                }
            }
        }
        out
    }

    /// `"<last before>..<first after>"` when both are known.
    pub fn commit_range(&self) -> Option<String> {
        let tail = |c: &String| c.rsplit("..").next().unwrap_or(c).to_string();
        match (&self.commit_before, &self.commit_after) {
            (Some(b), Some(a)) => Some(format!("{}..{}", tail(b), tail(a))),
            (None, Some(a)) => Some(tail(a)),
            _ => None,
        }
    }

    /// The ratio current / baseline.
    pub fn ratio(&self) -> f64 {
        self.current / self.baseline
    }
}

/// The outcome for one series.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// A regression beyond the threshold.
    Regression(Finding),
    /// A real change, but an improvement.
    Improvement(Finding),
    /// A real, worse change, but its interval is not wholly beyond the threshold.
    WithinNoise {
        /// The regression percent's interval (lower, estimate, upper), when computed.
        ci_percent: Option<(f64, f64, f64)>,
    },
    /// Nothing stands out: no change point, or the latest run is within the rule.
    NoChange,
    /// Not enough samples (or runs) to decide.
    InsufficientData {
        /// What is missing.
        reason: String,
    },
    /// The metric's kind is unknown, so "worse" has no direction: set it explicitly.
    UnknownKind,
}

/// Detects a regression in one series with `config.mode`.
pub fn detect(points: &[Point], kind: MetricKind, config: &DetectConfig) -> Verdict {
    if kind.higher_is_worse().is_none() {
        return Verdict::UnknownKind;
    }
    match config.mode {
        Mode::Spec => detect_spec(points, kind, config),
        Mode::NoiseAware => detect_noise(points, kind, config),
    }
}

fn effective_threshold(kind: MetricKind, config: &DetectConfig) -> f64 {
    kind.spec_threshold_percent()
        .unwrap_or(0.0)
        .max(config.threshold_percent)
}

/// The spec's mode: the latest run's mean against the mean of the `baseline_runs` runs before it.
pub fn detect_spec(points: &[Point], kind: MetricKind, config: &DetectConfig) -> Verdict {
    let runs = runs(points);
    if runs.len() < 2 {
        return Verdict::InsufficientData {
            reason: "needs a baseline run and a current run".into(),
        };
    }
    let (cs, ce) = runs[runs.len() - 1];
    let first_base = runs.len().saturating_sub(1 + config.baseline_runs.max(1));
    let (bs, _) = runs[first_base];
    let values = |a: usize, b: usize| points[a..b].iter().map(|p| p.value).collect::<Vec<_>>();
    let (baseline, current) = (mean(&values(bs, cs)), mean(&values(cs, ce)));
    let Some(pct) = kind.regression_percent(baseline, current) else {
        return Verdict::InsufficientData {
            reason: format!("baseline {baseline} is not a positive number"),
        };
    };
    let finding = Finding {
        baseline,
        current,
        regression_percent: pct,
        ci_percent: None,
        ratio_ci: None,
        status: None,
        p_value: None,
        noise: None,
        runs: (runs.len() - 1 - first_base, 1),
        index: cs,
        commit_before: points[cs - 1].commit.clone(),
        commit_after: points[cs].commit.clone(),
    };
    if kind.spec_regressed(baseline, current) && pct >= config.threshold_percent {
        Verdict::Regression(finding)
    } else if pct < 0.0 && kind.spec_regressed(current, baseline) {
        Verdict::Improvement(finding)
    } else {
        Verdict::NoChange
    }
}

/// The noise-aware mode: cut the history into segments against a noise estimate pooled over
/// the whole history ([`segment`]), take the latest change point and judge it: a regression
/// when the change is significant and its estimate is beyond the threshold (suspected, or
/// confirmed once two runs show it and its whole interval is beyond the threshold).
pub fn detect_noise(points: &[Point], kind: MetricKind, config: &DetectConfig) -> Verdict {
    let seg = match segment(points, &config.segments) {
        Ok(s) => s,
        Err(SegmentError::NotFinite) => {
            return Verdict::InsufficientData {
                reason: "a value is not finite".into(),
            }
        }
        Err(SegmentError::TooShort { runs }) => {
            return Verdict::InsufficientData {
                reason: format!("{runs} runs; the noise cannot be estimated yet"),
            }
        }
    };
    match seg.shifts.last() {
        Some(last) => assess_shift(points, &seg, last, kind, config),
        None => Verdict::NoChange,
    }
}

/// Every regression in the history, oldest first: in the noise-aware mode each change point
/// judged as [`detect_noise`] judges the latest (so a regression followed by another change is
/// still named); in the spec mode the latest run's verdict.
pub fn regressions(points: &[Point], kind: MetricKind, config: &DetectConfig) -> Vec<Finding> {
    if kind.higher_is_worse().is_none() {
        return Vec::new();
    }
    match config.mode {
        Mode::Spec => match detect_spec(points, kind, config) {
            Verdict::Regression(f) => vec![f],
            _ => Vec::new(),
        },
        Mode::NoiseAware => {
            let Ok(seg) = segment(points, &config.segments) else {
                return Vec::new();
            };
            seg.shifts
                .iter()
                .filter_map(|s| match assess_shift(points, &seg, s, kind, config) {
                    Verdict::Regression(f) => Some(f),
                    _ => None,
                })
                .collect()
        }
    }
}

/// Judges one change point of a segmentation.
fn assess_shift(
    points: &[Point],
    seg: &Segmentation,
    shift: &Shift,
    kind: MetricKind,
    config: &DetectConfig,
) -> Verdict {
    let Some((rlo, rest, rhi)) = shift.ratio_interval(seg, config.confidence) else {
        return Verdict::InsufficientData {
            reason: "the level before the change is not a positive number".into(),
        };
    };
    let worse_up = kind.higher_is_worse() == Some(true);
    // As a regression percent (positive = worse).
    let pct = |r: f64| {
        if worse_up {
            (r - 1.0) * 100.0
        } else {
            (1.0 - r) * 100.0
        }
    };
    let (lo, est, hi) = if worse_up {
        (pct(rlo), pct(rest), pct(rhi))
    } else {
        (pct(rhi), pct(rest), pct(rlo))
    };
    let threshold = effective_threshold(kind, config);
    let runs_after = shift.after_runs.1 - shift.after_runs.0;
    let status = if lo > threshold && runs_after >= 2 {
        Status::Confirmed
    } else {
        Status::Suspected
    };
    let finding = Finding {
        baseline: shift.level_before,
        current: shift.level_after,
        regression_percent: est,
        ci_percent: Some((lo, hi)),
        ratio_ci: Some((rlo, rhi)),
        status: Some(status),
        p_value: Some(shift.p_value),
        noise: Some(match seg.noise.relative_percent(seg.log_scale) {
            Some(p) => (p, true, seg.noise.source),
            // Linear scale: as a percentage of the level before the change where it is
            // positive, so the line reads the same whichever scale was chosen.
            None if shift.level_before > 0.0 => (
                seg.noise.sigma / shift.level_before * 100.0,
                true,
                seg.noise.source,
            ),
            None => (seg.noise.sigma, false, seg.noise.source),
        }),
        runs: (shift.before_runs.1 - shift.before_runs.0, runs_after),
        index: shift.index,
        commit_before: points[shift.index - 1].commit.clone(),
        commit_after: points[shift.index].commit.clone(),
    };
    if est > threshold {
        Verdict::Regression(finding)
    } else if est < 0.0 {
        Verdict::Improvement(finding)
    } else {
        Verdict::WithinNoise {
            ci_percent: Some((lo, est, hi)),
        }
    }
}

/// A change point of a series with the commit range where the shift began (for plotting).
#[derive(Clone, Debug, PartialEq)]
pub struct ShiftAt {
    /// Index of the first sample after the shift.
    pub index: usize,
    /// Level before and after the shift.
    pub levels: (f64, f64),
    /// Timestamp of the first sample after the shift.
    pub timestamp: u64,
    /// Last commit before the shift.
    pub commit_before: Option<String>,
    /// First commit after the shift.
    pub commit_after: Option<String>,
}

/// All change points of a series, with their commits (the noise-aware mode's segmentation).
pub fn shifts(points: &[Point], config: &SegmentConfig) -> Vec<ShiftAt> {
    let Ok(seg) = segment(points, config) else {
        return Vec::new();
    };
    seg.shifts
        .iter()
        .map(|c| ShiftAt {
            index: c.index,
            levels: (c.level_before, c.level_after),
            timestamp: points[c.index].timestamp,
            commit_before: points[c.index - 1].commit.clone(),
            commit_after: points[c.index].commit.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::SplitMix64;

    /// `runs` commits of `per_run` samples; from commit `shift_at` the level is multiplied by
    /// `factor`.
    fn history(
        seed: u64,
        commits: usize,
        per_run: usize,
        sd: f64,
        shift_at: usize,
        factor: f64,
    ) -> Vec<Point> {
        let mut rng = SplitMix64::new(seed);
        let mut out = Vec::new();
        for c in 0..commits {
            let level = if c >= shift_at { 100.0 * factor } else { 100.0 };
            for _ in 0..per_run {
                out.push(Point {
                    timestamp: out.len() as u64,
                    value: level * (1.0 + sd * rng.normal()),
                    commit: Some(format!("c{c:02}")),
                });
            }
        }
        out
    }

    fn spec() -> DetectConfig {
        DetectConfig {
            mode: Mode::Spec,
            ..DetectConfig::default()
        }
    }

    #[test]
    fn spec_mode_flags_the_latest_run_with_severity_inputs() {
        let h = history(1, 8, 10, 0.001, 7, 1.30);
        match detect(&h, MetricKind::Latency, &spec()) {
            Verdict::Regression(f) => {
                assert!((f.regression_percent - 30.0).abs() < 1.0, "{f:?}");
                assert_eq!(f.commit_before.as_deref(), Some("c06"));
                assert_eq!(f.commit_after.as_deref(), Some("c07"));
                assert_eq!(f.commit_range().as_deref(), Some("c06..c07"));
            }
            v => panic!("{v:?}"),
        }
        // 8% slower latency is inside the spec's 10%.
        let h = history(1, 8, 10, 0.001, 7, 1.08);
        assert_eq!(detect(&h, MetricKind::Latency, &spec()), Verdict::NoChange);
        // But 8% less throughput is beyond the spec's 5%.
        let h = history(1, 8, 10, 0.001, 7, 0.92);
        assert!(matches!(
            detect(&h, MetricKind::Throughput, &spec()),
            Verdict::Regression(_)
        ));
        // A user threshold above the rule raises the bar.
        let cfg = DetectConfig {
            threshold_percent: 10.0,
            ..spec()
        };
        assert_eq!(detect(&h, MetricKind::Throughput, &cfg), Verdict::NoChange);
    }

    #[test]
    fn spec_mode_needs_two_runs_and_a_known_kind() {
        let h = history(1, 1, 10, 0.01, 99, 1.0);
        assert!(matches!(
            detect(&h, MetricKind::Latency, &spec()),
            Verdict::InsufficientData { .. }
        ));
        assert_eq!(
            detect(&h, MetricKind::Unknown, &spec()),
            Verdict::UnknownKind
        );
    }

    #[test]
    fn noise_mode_names_the_commit_range_of_a_clear_shift() {
        let h = history(2, 20, 10, 0.03, 12, 1.25);
        {
            let cfg = DetectConfig::default();
            match detect(&h, MetricKind::Latency, &cfg) {
                Verdict::Regression(f) => {
                    assert_eq!(f.index, 120);
                    assert_eq!(f.commit_range().as_deref(), Some("c11..c12"));
                    assert_eq!(
                        f.correlated_commits(),
                        vec!["c11".to_string(), "c12".to_string()]
                    );
                    let (lo, hi) = f.ci_percent.unwrap();
                    assert!(lo > 10.0 && lo < 25.0 && hi > 25.0, "{lo} {hi}");
                }
                v => panic!("{v:?}"),
            }
        }
    }

    #[test]
    fn noise_mode_reports_within_noise_below_the_threshold_and_suspects_before_confirming() {
        // A real 7% latency shift: significant, but below the 10% threshold.
        let h = history(3, 20, 10, 0.02, 10, 1.07);
        match detect(&h, MetricKind::Latency, &DetectConfig::default()) {
            Verdict::WithinNoise {
                ci_percent: Some((lo, est, hi)),
            } => assert!(lo > 0.0 && est < 10.0 && hi < 10.0, "{lo} {est} {hi}"),
            v => panic!("{v:?}"),
        }
        // A 30% shift seen on one run only: suspected; two more runs confirm it.
        let h = history(3, 21, 1, 0.01, 20, 1.30);
        match detect(&h, MetricKind::Latency, &DetectConfig::default()) {
            Verdict::Regression(f) => {
                assert_eq!(f.status, Some(Status::Suspected));
                assert_eq!(f.commit_range().as_deref(), Some("c19..c20"));
                assert_eq!(f.runs, (20, 1));
            }
            v => panic!("{v:?}"),
        }
        let h = history(3, 23, 1, 0.01, 20, 1.30);
        match detect(&h, MetricKind::Latency, &DetectConfig::default()) {
            Verdict::Regression(f) => {
                assert_eq!(f.status, Some(Status::Confirmed));
                let (lo, hi) = f.ci_percent.unwrap();
                assert!(lo > 10.0 && lo < 30.0 && hi > 30.0, "{lo} {hi}");
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn ratio_intervals_never_cross_minus_100_percent() {
        // Throughput tripling at 40% noise: a linear interval would reach below -100%.
        let h = history(7, 12, 1, 0.4, 6, 3.0);
        let seg = segment(&h, &SegmentConfig::default()).unwrap();
        for s in &seg.shifts {
            let (lo, est, hi) = s.ratio_interval(&seg, 0.95).unwrap();
            assert!(lo > 0.0 && lo <= est && est <= hi, "{lo} {est} {hi}");
        }
    }

    #[test]
    fn noise_mode_stays_quiet_where_spec_mode_cries_wolf() {
        // 15% noise, no shift at all: the spec's 5% throughput rule fires on some seed.
        let cfg_spec = spec();
        let cfg_noise = DetectConfig::default();
        let mut spec_alarms = 0;
        let mut noise_alarms = 0;
        for seed in 0..30 {
            let h = history(100 + seed, 12, 3, 0.15, usize::MAX, 1.0);
            spec_alarms += matches!(
                detect(&h, MetricKind::Throughput, &cfg_spec),
                Verdict::Regression(_)
            ) as u32;
            noise_alarms += matches!(
                detect(&h, MetricKind::Throughput, &cfg_noise),
                Verdict::Regression(_)
            ) as u32;
        }
        assert!(spec_alarms >= 5, "spec mode alarms: {spec_alarms}");
        assert_eq!(noise_alarms, 0);
    }

    #[test]
    fn noise_mode_reports_improvements_and_insufficient_data() {
        let h = history(4, 20, 10, 0.02, 10, 0.7);
        assert!(matches!(
            detect(&h, MetricKind::Latency, &DetectConfig::default()),
            Verdict::Improvement(_)
        ));
        let short = history(4, 3, 1, 0.02, 1, 2.0);
        assert!(matches!(
            detect(&short, MetricKind::Latency, &DetectConfig::default()),
            Verdict::InsufficientData { .. }
        ));
    }

    #[test]
    fn shifts_name_commits_for_plotting() {
        let h = history(5, 30, 5, 0.02, 20, 1.5);
        let s = shifts(&h, &SegmentConfig::default());
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].commit_before.as_deref(), Some("c19"));
        assert_eq!(s[0].commit_after.as_deref(), Some("c20"));
        assert_eq!(s[0].timestamp, 100);
    }
}
