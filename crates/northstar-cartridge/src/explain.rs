//! Verdicts in words a person reads: the direction ("slower", "worse"), values with their
//! units, the commits, how sure and against what noise. The CLI prints these lines and the
//! cartridge records them as the `likely_cause` of `perf_regression` events, so both say the
//! same thing.

use crate::detect::{DetectConfig, Finding, Mode, Verdict};
use crate::kind::MetricKind;
use crate::segment::NoiseSource;

/// A value with its unit, scaled for reading: times in ns/µs/ms/s, rates with k/M/G, bytes
/// in KiB/MiB/GiB; other units are appended as recorded.
pub fn format_value(v: f64, unit: &str) -> String {
    if !v.is_finite() {
        return format!("{v} {unit}").trim_end().to_string();
    }
    let u = unit.trim();
    let ns_per = match u {
        "ns" | "nanoseconds" => Some(1.0),
        "us" | "µs" | "μs" => Some(1e3),
        "ms" => Some(1e6),
        "s" | "sec" | "secs" | "seconds" => Some(1e9),
        _ => None,
    };
    if let Some(f) = ns_per {
        let ns = v * f;
        let a = ns.abs();
        return if a >= 1e9 {
            format!("{} s", sig(ns / 1e9))
        } else if a >= 1e6 {
            format!("{} ms", sig(ns / 1e6))
        } else if a >= 1e3 {
            format!("{} µs", sig(ns / 1e3))
        } else {
            format!("{} ns", sig(ns))
        };
    }
    if u == "bytes" || u == "B" {
        let a = v.abs();
        return if a >= 1024.0 * 1024.0 * 1024.0 {
            format!("{} GiB", sig(v / (1024.0 * 1024.0 * 1024.0)))
        } else if a >= 1024.0 * 1024.0 {
            format!("{} MiB", sig(v / (1024.0 * 1024.0)))
        } else if a >= 1024.0 {
            format!("{} KiB", sig(v / 1024.0))
        } else {
            format!("{} bytes", sig(v))
        };
    }
    let a = v.abs();
    let (scaled, prefix) = if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    match (prefix, u) {
        ("", "") => sig(scaled),
        (p, "") => format!("{}{p}", sig(scaled)),
        (p, u) => format!("{}{p} {u}", sig(scaled)),
    }
}

/// Four significant digits, without trailing zeros.
fn sig(v: f64) -> String {
    let a = v.abs();
    let decimals = if a >= 1000.0 {
        0
    } else if a >= 100.0 {
        1
    } else if a >= 10.0 {
        2
    } else {
        3
    };
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A change of a value as a person says it: `"38% slower"`, `"2.9x faster"` (from the
/// ratio current / baseline and the metric's kind).
pub fn change_words(ratio: f64, kind: MetricKind) -> String {
    let Some(worse_up) = kind.higher_is_worse() else {
        return format!("{:+.1}%", (ratio - 1.0) * 100.0);
    };
    let worse = (ratio > 1.0) == worse_up;
    let word = if worse {
        kind.worse_word()
    } else {
        kind.better_word()
    };
    // Say how much of the value changed: a throughput that halves is "50% slower", one
    // that triples "3x faster"; a latency that doubles is "2x slower".
    let big = if ratio >= 1.0 { ratio } else { 1.0 / ratio };
    if big >= 2.0 {
        let x = format!("{big:.2}");
        format!("{}x {word}", x.trim_end_matches('0').trim_end_matches('.'))
    } else {
        let pct = (ratio - 1.0).abs() * 100.0;
        format!("{pct:.1}% {word}")
    }
}

/// The value's change in percent (`+12.3%`), signed as the value moved.
pub fn percent(ratio: f64) -> String {
    format!("{:+.1}%", (ratio - 1.0) * 100.0)
}

fn p_words(p: f64) -> String {
    if p < 1e-4 {
        "p < 0.0001".into()
    } else if p < 1e-3 {
        // `sig` keeps three decimals below 10, which would print 0.0003 as "0".
        format!("p = {p:.4}")
    } else {
        format!("p = {}", sig(p))
    }
}

fn noise_words(f: &Finding, unit: &str) -> String {
    match f.noise {
        Some((n, true, src)) => format!(
            "noise ±{n:.1}% per run ({})",
            match src {
                NoiseSource::BetweenRuns => "between runs",
                NoiseSource::WithinRuns => "within runs",
            }
        ),
        Some((n, false, _)) => format!("noise ±{} per run", format_value(n, unit)),
        None => String::new(),
    }
}

fn commits_words(f: &Finding) -> String {
    match (&f.commit_before, &f.commit_after) {
        (Some(b), Some(a)) => format!("between {b} (last before) and {a} (first after)"),
        (None, Some(a)) => format!("from {a} on"),
        _ => "at an unrecorded commit".into(),
    }
}

/// One line that explains a verdict: which commits, how big, how sure, against what noise.
pub fn explain(
    series: &str,
    kind: MetricKind,
    unit: &str,
    verdict: &Verdict,
    config: &DetectConfig,
) -> String {
    match verdict {
        Verdict::Regression(f) | Verdict::Improvement(f) => {
            let what = change_words(f.ratio(), kind);
            let values = format!(
                "{} -> {}",
                format_value(f.baseline, unit),
                format_value(f.current, unit)
            );
            match (config.mode, f.status) {
                (Mode::NoiseAware, Some(status)) => {
                    let ci = f.ratio_ci.map_or(String::new(), |(lo, hi)| {
                        format!(
                            ", {:.0}% interval {}..{}",
                            config.confidence * 100.0,
                            percent(lo),
                            percent(hi)
                        )
                    });
                    let sure = if matches!(verdict, Verdict::Regression(_)) {
                        format!("{}: ", status.name())
                    } else {
                        String::new()
                    };
                    format!(
                        "{series}: {sure}{what} ({values}{ci}) {}; {} {} after vs {} before, {}, {}",
                        commits_words(f),
                        f.runs.1,
                        if f.runs.1 == 1 { "run" } else { "runs" },
                        f.runs.0,
                        p_words(f.p_value.unwrap_or(f64::NAN)),
                        noise_words(f, unit)
                    )
                }
                _ => format!(
                    "{series}: {what} ({values}): the latest run ({}) against the mean of the {} runs before it, spec rule {}",
                    f.commit_after.as_deref().unwrap_or("no commit recorded"),
                    f.runs.0,
                    kind.spec_factor().map_or("none".into(), |x| format!("x{x}"))
                ),
            }
        }
        Verdict::WithinNoise { ci_percent } => match ci_percent {
            Some((lo, est, hi)) => format!(
                "{series}: a real change of {est:+.1}% ({lo:+.1}%..{hi:+.1}%, positive = {}) that stays under the {}% threshold",
                kind.worse_word(),
                kind.spec_threshold_percent()
                    .unwrap_or(0.0)
                    .max(config.threshold_percent)
            ),
            None => format!("{series}: a change within the noise"),
        },
        Verdict::NoChange => format!("{series}: no change stands out of the noise"),
        Verdict::InsufficientData { reason } => format!("{series}: not enough data ({reason})"),
        Verdict::UnknownKind => format!(
            "{series}: kind unknown, so neither direction counts as worse: record it with a kind=<kind> dimension or pass --kind"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_carry_their_units() {
        assert_eq!(format_value(22_282_240.0, "ns"), "22.28 ms");
        assert_eq!(format_value(6_596_794.18, "ops/sec"), "6.597M ops/sec");
        assert_eq!(format_value(1536.0, "bytes"), "1.5 KiB");
        assert_eq!(format_value(12.0, "count"), "12 count");
        assert_eq!(format_value(0.5, ""), "0.5");
    }

    #[test]
    fn a_single_run_after_the_change_is_one_run() {
        let finding = |after: usize| Finding {
            baseline: 100.0,
            current: 130.0,
            regression_percent: 30.0,
            ci_percent: Some((12.0, 50.0)),
            ratio_ci: Some((1.12, 1.5)),
            status: Some(crate::detect::Status::Suspected),
            p_value: Some(0.002),
            noise: Some((5.0, true, NoiseSource::BetweenRuns)),
            runs: (6, after),
            index: 6,
            commit_before: Some("c5".into()),
            commit_after: Some("c6".into()),
        };
        let line = |after| {
            explain(
                "lat",
                MetricKind::Latency,
                "ns",
                &Verdict::Regression(finding(after)),
                &DetectConfig::default(),
            )
        };
        let one = line(1);
        assert!(
            one.contains("; 1 run after vs 6 before, p = 0.002"),
            "{one}"
        );
        assert!(
            one.starts_with("lat: suspected: 30.0% slower (100 ns -> 130 ns, 95% interval +12.0%..+50.0%) between c5 (last before) and c6 (first after)"),
            "{one}"
        );
        assert!(one.ends_with("noise ±5.0% per run (between runs)"), "{one}");
        assert!(line(2).contains("; 2 runs after vs 6 before"));
        let mut small = finding(3);
        small.p_value = Some(0.00031);
        let small = explain(
            "lat",
            MetricKind::Latency,
            "ns",
            &Verdict::Regression(small),
            &DetectConfig::default(),
        );
        assert!(small.contains(", p = 0.0003,"), "{small}");
    }

    #[test]
    fn changes_are_said_in_words_of_the_kind() {
        assert_eq!(change_words(3.026, MetricKind::Throughput), "3.03x faster");
        assert_eq!(change_words(0.5, MetricKind::Throughput), "2x slower");
        assert_eq!(change_words(1.2, MetricKind::Latency), "20.0% slower");
        assert_eq!(change_words(0.9, MetricKind::P99Latency), "10.0% faster");
        assert_eq!(change_words(1.5, MetricKind::Cost), "50.0% worse");
        assert_eq!(change_words(0.8, MetricKind::ErrorRate), "20.0% better");
    }
}
