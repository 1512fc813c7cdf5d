//! What kind of metric a series is, which decides the direction that counts as "worse" and the
//! spec's fixed regression rule.

use std::fmt;

/// The kind of a metric: which direction is a regression, and the spec's rule for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// Higher is better (ops/sec, bytes/sec). Spec: regressed when current < baseline * 0.95.
    Throughput,
    /// Lower is better. Spec: regressed when current > baseline * 1.10.
    Latency,
    /// A p99 latency, noisier than a mean. Spec: regressed when current > baseline * 1.15.
    P99Latency,
    /// An error rate. Spec: regressed when current > baseline * 1.5.
    ErrorRate,
    /// Lower is better, with no rule of the spec: counts and sizes (allocations, fsyncs,
    /// bytes). Never inferred: recorded with the sample (a `kind=cost` dimension) or set.
    /// The noise-aware mode flags it from 10% up; the spec mode has no rule for it.
    Cost,
    /// Neither name nor unit says which direction is worse; set the kind explicitly.
    Unknown,
}

impl MetricKind {
    /// Every kind, for listings.
    pub const ALL: [MetricKind; 6] = [
        Self::Throughput,
        Self::Latency,
        Self::P99Latency,
        Self::ErrorRate,
        Self::Cost,
        Self::Unknown,
    ];

    /// Infers the kind from the metric's name and unit, the way the spec's metric names read:
    /// error rates first (an `errors/sec` unit must not pass for throughput), then p99, then
    /// rates (`ops/sec`, `*_per_sec`, `throughput`), then latencies (`*_latency_*`, a time unit).
    pub fn classify(name: &str, unit: &str) -> Self {
        let n = name.to_ascii_lowercase();
        let u = unit.trim().to_ascii_lowercase();
        if n.contains("error_rate")
            || n.contains("err_rate")
            || n.contains("errors")
            || n == "error"
        {
            return Self::ErrorRate;
        }
        if n.contains("p99") {
            return Self::P99Latency;
        }
        let rate_unit = u.ends_with("/s") || u.ends_with("/sec") || u.ends_with("ps") && u != "ops";
        if rate_unit
            || n.contains("per_sec")
            || n.contains("throughput")
            || n.contains("qps")
            || n.contains("rps")
        {
            return Self::Throughput;
        }
        let time_unit = matches!(
            u.as_str(),
            "ns" | "us" | "µs" | "μs" | "ms" | "s" | "sec" | "secs" | "seconds" | "nanoseconds"
        );
        if n.contains("latency") || n.contains("duration") || n.ends_with("_time") || time_unit {
            return Self::Latency;
        }
        Self::Unknown
    }

    /// The spec's factor: the current value regresses when it crosses `baseline * factor`.
    pub fn spec_factor(self) -> Option<f64> {
        match self {
            Self::Throughput => Some(0.95),
            Self::Latency => Some(1.10),
            Self::P99Latency => Some(1.15),
            Self::ErrorRate => Some(1.5),
            Self::Cost | Self::Unknown => None,
        }
    }

    /// The spec's rule as a percentage of degradation (5, 10, 15, 50), and 10 for
    /// [`MetricKind::Cost`] (no spec rule; the noise-aware mode's floor).
    pub fn spec_threshold_percent(self) -> Option<f64> {
        match self {
            Self::Cost => Some(10.0),
            _ => self.spec_factor().map(|f| ((f - 1.0) * 100.0).abs()),
        }
    }

    /// What a change in the worse direction is called ("slower", "worse").
    pub fn worse_word(self) -> &'static str {
        match self {
            Self::Throughput | Self::Latency | Self::P99Latency => "slower",
            Self::ErrorRate | Self::Cost | Self::Unknown => "worse",
        }
    }

    /// What a change in the better direction is called ("faster", "better").
    pub fn better_word(self) -> &'static str {
        match self {
            Self::Throughput | Self::Latency | Self::P99Latency => "faster",
            Self::ErrorRate | Self::Cost | Self::Unknown => "better",
        }
    }

    /// Whether a higher value is worse; `None` for [`MetricKind::Unknown`].
    pub fn higher_is_worse(self) -> Option<bool> {
        match self {
            Self::Throughput => Some(false),
            Self::Latency | Self::P99Latency | Self::ErrorRate | Self::Cost => Some(true),
            Self::Unknown => None,
        }
    }

    /// How much worse `current` is than `baseline`, in percent (negative: better). `None` when
    /// the kind is unknown or the baseline is not a positive finite number.
    pub fn regression_percent(self, baseline: f64, current: f64) -> Option<f64> {
        let worse_up = self.higher_is_worse()?;
        if !(baseline.is_finite() && baseline > 0.0 && current.is_finite()) {
            return None;
        }
        let change = (current / baseline - 1.0) * 100.0;
        Some(if worse_up { change } else { -change })
    }

    /// The spec's rule, verbatim: throughput `current < baseline * 0.95`, latency
    /// `current > baseline * 1.10`, p99 `current > baseline * 1.15`, error rate
    /// `current > baseline * 1.5`.
    pub fn spec_regressed(self, baseline: f64, current: f64) -> bool {
        match (self.spec_factor(), self.higher_is_worse()) {
            (Some(f), Some(true)) => current > baseline * f,
            (Some(f), Some(false)) => current < baseline * f,
            _ => false,
        }
    }

    /// Stable lowercase name (for the CLI and JSON).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Throughput => "throughput",
            Self::Latency => "latency",
            Self::P99Latency => "p99",
            Self::ErrorRate => "error_rate",
            Self::Cost => "cost",
            Self::Unknown => "unknown",
        }
    }

    /// Parses [`MetricKind::name`].
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

impl fmt::Display for MetricKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_spec_metric_names() {
        assert_eq!(
            MetricKind::classify("benchmark_ops_per_sec", "ops/sec"),
            MetricKind::Throughput
        );
        assert_eq!(
            MetricKind::classify("benchmark_throughput", ""),
            MetricKind::Throughput
        );
        assert_eq!(
            MetricKind::classify("benchmark_p99_latency_ns", "ns"),
            MetricKind::P99Latency
        );
        assert_eq!(
            MetricKind::classify("latency_p99_ns", "ns"),
            MetricKind::P99Latency
        );
        assert_eq!(
            MetricKind::classify("operation_latency_ms", "ms"),
            MetricKind::Latency
        );
        assert_eq!(
            MetricKind::classify("latency_ms", "ms"),
            MetricKind::Latency
        );
        assert_eq!(
            MetricKind::classify("commit_duration", ""),
            MetricKind::Latency
        );
        assert_eq!(
            MetricKind::classify("request_error_rate", "%"),
            MetricKind::ErrorRate
        );
        assert_eq!(
            MetricKind::classify("http_errors", "errors/sec"),
            MetricKind::ErrorRate
        );
        assert_eq!(
            MetricKind::classify("read_bw", "bytes/s"),
            MetricKind::Throughput
        );
        assert_eq!(MetricKind::classify("fsync_count", ""), MetricKind::Unknown);
        assert_eq!(
            MetricKind::classify("alloc_bytes", "bytes"),
            MetricKind::Unknown
        );
    }

    #[test]
    fn spec_rules_fire_just_past_the_spec_factors() {
        use MetricKind::*;
        assert!(!Throughput.spec_regressed(100.0, 95.1));
        assert!(Throughput.spec_regressed(100.0, 94.9));
        assert!(!Latency.spec_regressed(100.0, 109.9));
        assert!(Latency.spec_regressed(100.0, 110.1));
        assert!(!P99Latency.spec_regressed(100.0, 114.9));
        assert!(P99Latency.spec_regressed(100.0, 115.1));
        assert!(!ErrorRate.spec_regressed(2.0, 3.0));
        assert!(ErrorRate.spec_regressed(2.0, 3.01));
        assert!(!Unknown.spec_regressed(1.0, 1e9));
    }

    #[test]
    fn regression_percent_is_positive_when_worse() {
        let t = MetricKind::Throughput
            .regression_percent(200.0, 150.0)
            .unwrap();
        assert!((t - 25.0).abs() < 1e-9);
        let l = MetricKind::Latency
            .regression_percent(100.0, 160.0)
            .unwrap();
        assert!((l - 60.0).abs() < 1e-9);
        assert!(MetricKind::Latency.regression_percent(100.0, 90.0).unwrap() < 0.0);
        assert_eq!(MetricKind::Latency.regression_percent(0.0, 1.0), None);
        assert_eq!(MetricKind::Unknown.regression_percent(1.0, 2.0), None);
    }

    #[test]
    fn names_round_trip() {
        for k in MetricKind::ALL {
            assert_eq!(MetricKind::from_name(k.name()), Some(k));
        }
        assert_eq!(MetricKind::from_name("nope"), None);
    }
}
