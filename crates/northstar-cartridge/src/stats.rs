//! Small statistics: means, Welch's t-test and confidence interval, the Student-t
//! distribution (from `statrs`), a percentile bootstrap and a seeded generator so every result
//! is reproducible.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// Arithmetic mean; `NaN` for an empty slice.
pub fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Unbiased sample variance; `NaN` with fewer than two values.
pub fn variance(x: &[f64]) -> f64 {
    if x.len() < 2 {
        return f64::NAN;
    }
    let m = mean(x);
    x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (x.len() - 1) as f64
}

/// Student's t with `df` degrees of freedom (`None` for a non-positive or NaN `df`).
fn students_t(df: f64) -> Option<StudentsT> {
    if df.is_nan() || df <= 0.0 {
        return None;
    }
    StudentsT::new(0.0, 1.0, df).ok()
}

/// CDF of Student's t with `df` degrees of freedom (`statrs`).
pub fn student_t_cdf(t: f64, df: f64) -> f64 {
    match students_t(df) {
        Some(d) if !t.is_nan() => d.cdf(t),
        _ => f64::NAN,
    }
}

/// Two-sided p-value of `|t|` under Student's t with `df` degrees of freedom, computed on the
/// upper tail (`statrs`'s survival function) so very small p-values keep their precision.
pub fn student_t_two_sided_p(t: f64, df: f64) -> f64 {
    match students_t(df) {
        Some(d) if !t.is_nan() => (2.0 * d.sf(t.abs())).min(1.0),
        _ => f64::NAN,
    }
}

/// Inverse CDF of Student's t (`statrs`).
pub fn student_t_quantile(p: f64, df: f64) -> f64 {
    match students_t(df) {
        Some(d) if (0.0..=1.0).contains(&p) => d.inverse_cdf(p),
        _ => f64::NAN,
    }
}

/// Result of Welch's unequal-variance t-test of `b` against `a`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Welch {
    /// `mean(b) - mean(a)`.
    pub diff: f64,
    /// Standard error of the difference.
    pub std_err: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    /// Two-sided p-value of "the means are equal".
    pub p_value: f64,
}

/// Welch's t-test; `None` when either side has fewer than two values. Two constant samples
/// with different means give `p_value == 0`; with equal means, `1`.
pub fn welch(a: &[f64], b: &[f64]) -> Option<Welch> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (va, vb) = (variance(a) / a.len() as f64, variance(b) / b.len() as f64);
    let diff = mean(b) - mean(a);
    let se2 = va + vb;
    if se2 == 0.0 {
        let p = if diff == 0.0 { 1.0 } else { 0.0 };
        return Some(Welch {
            diff,
            std_err: 0.0,
            df: (a.len() + b.len() - 2) as f64,
            p_value: p,
        });
    }
    let df = se2 * se2
        / (va * va / (a.len() - 1) as f64 + vb * vb / (b.len() - 1) as f64).max(f64::MIN_POSITIVE);
    let t = diff / se2.sqrt();
    let p_value = (2.0 * (1.0 - student_t_cdf(t.abs(), df))).clamp(0.0, 1.0);
    Some(Welch {
        diff,
        std_err: se2.sqrt(),
        df,
        p_value,
    })
}

/// A confidence interval.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    /// Lower bound.
    pub lower: f64,
    /// Point estimate.
    pub estimate: f64,
    /// Upper bound.
    pub upper: f64,
}

/// Welch confidence interval of the *relative* change of the mean from `before` to `after`
/// (`mean(after) / mean(before) - 1`), at `confidence` (e.g. 0.95). The difference's interval
/// is divided by the baseline mean, which ignores the baseline mean's own uncertainty: fine
/// when the baseline has many samples, which the minimum-sample rule ensures.
pub fn welch_relative_ci(before: &[f64], after: &[f64], confidence: f64) -> Option<Interval> {
    let w = welch(before, after)?;
    let base = mean(before);
    if !(base.is_finite() && base > 0.0) {
        return None;
    }
    let q = student_t_quantile(0.5 + confidence / 2.0, w.df);
    let half = q * w.std_err;
    Some(Interval {
        lower: (w.diff - half) / base,
        estimate: w.diff / base,
        upper: (w.diff + half) / base,
    })
}

/// SplitMix64: a tiny seeded generator, so bootstraps and synthetic data are reproducible.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform index in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.next_f64(); // (0, 1]: ln is finite
        let u2 = self.next_f64();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

/// Percentile-bootstrap confidence interval of the relative change of the mean, resampling
/// each side independently (criterion's approach for the change between two runs).
pub fn bootstrap_relative_ci(
    before: &[f64],
    after: &[f64],
    confidence: f64,
    resamples: usize,
    seed: u64,
) -> Option<Interval> {
    if before.len() < 2 || after.len() < 2 || resamples < 10 {
        return None;
    }
    let (mb, ma) = (mean(before), mean(after));
    if !(mb.is_finite() && mb > 0.0 && ma.is_finite()) {
        return None;
    }
    let mut rng = SplitMix64::new(seed);
    let resample_mean = |x: &[f64], rng: &mut SplitMix64| {
        (0..x.len()).map(|_| x[rng.below(x.len())]).sum::<f64>() / x.len() as f64
    };
    let mut stats: Vec<f64> = (0..resamples)
        .map(|_| {
            let b = resample_mean(before, &mut rng);
            let a = resample_mean(after, &mut rng);
            a / b - 1.0
        })
        .collect();
    stats.sort_by(f64::total_cmp);
    let alpha = (1.0 - confidence) / 2.0;
    let at = |q: f64| stats[((q * (resamples - 1) as f64).round() as usize).min(resamples - 1)];
    Some(Interval {
        lower: at(alpha),
        estimate: ma / mb - 1.0,
        upper: at(1.0 - alpha),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_cdf_matches_tables() {
        // Two-sided 5% critical values from standard t tables.
        assert!((student_t_cdf(2.228, 10.0) - 0.975).abs() < 1e-4);
        assert!((student_t_cdf(1.96, 1e6) - 0.975).abs() < 1e-4);
        assert!((student_t_cdf(12.706, 1.0) - 0.975).abs() < 1e-4);
        assert!((student_t_cdf(0.0, 5.0) - 0.5).abs() < 1e-12);
        assert!((student_t_quantile(0.975, 10.0) - 2.228).abs() < 1e-3);
        // More table values: one-sided 0.995 / 0.9995 quantiles, and tail p-values.
        assert!((student_t_quantile(0.995, 5.0) - 4.032).abs() < 1e-3);
        assert!((student_t_quantile(0.9995, 20.0) - 3.850).abs() < 1e-3);
        assert!((student_t_quantile(0.025, 10.0) + 2.228).abs() < 1e-3);
        assert!((student_t_two_sided_p(2.228, 10.0) - 0.05).abs() < 1e-4);
        assert!((student_t_two_sided_p(3.850, 20.0) - 0.001).abs() < 1e-5);
        // Far tail: p of t = 20 with 10 df is 2.2e-9 (precision kept, not rounded to 0).
        let far = student_t_two_sided_p(20.0, 10.0);
        assert!(far > 1e-9 && far < 4e-9, "{far}");
        assert!(student_t_cdf(1.0, 0.0).is_nan() && student_t_quantile(1.5, 3.0).is_nan());
    }

    #[test]
    fn welch_separates_clear_shifts_and_not_equal_samples() {
        let a = [10.0, 10.2, 9.8, 10.1, 9.9, 10.0];
        let b = [12.0, 12.2, 11.8, 12.1, 11.9, 12.0];
        assert!(welch(&a, &b).unwrap().p_value < 1e-6);
        assert!(welch(&a, &a).unwrap().p_value > 0.99);
        assert!(welch(&a[..1], &b).is_none());
    }

    #[test]
    fn relative_cis_cover_the_true_shift() {
        let mut rng = SplitMix64::new(7);
        let before: Vec<f64> = (0..200).map(|_| 100.0 + rng.normal()).collect();
        let after: Vec<f64> = (0..200).map(|_| 120.0 + rng.normal()).collect();
        for ci in [
            welch_relative_ci(&before, &after, 0.95).unwrap(),
            bootstrap_relative_ci(&before, &after, 0.95, 1000, 1).unwrap(),
        ] {
            assert!(ci.lower < 0.2 && 0.2 < ci.upper, "{ci:?}");
            assert!(ci.upper - ci.lower < 0.01, "{ci:?}");
        }
    }

    #[test]
    fn generator_is_seeded_and_roughly_normal() {
        let mut a = SplitMix64::new(3);
        let mut b = SplitMix64::new(3);
        assert_eq!(a.next_u64(), b.next_u64());
        let x: Vec<f64> = (0..20_000).map(|_| a.normal()).collect();
        assert!(mean(&x).abs() < 0.03);
        assert!((variance(&x) - 1.0).abs() < 0.05);
    }
}
