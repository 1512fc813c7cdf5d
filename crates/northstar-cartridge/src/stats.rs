//! Small, dependency-free statistics: means, Welch's t-test and confidence interval, the
//! Student-t distribution, a percentile bootstrap and a seeded generator so every result is
//! reproducible.

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

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, 9 terms; ~1e-15 relative).
fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection keeps the series in its accurate range.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// Continued fraction of the incomplete beta (modified Lentz).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    let (qab, qap, qam) = (a + b, a + 1.0, a - 1.0);
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..300 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        d = if d.abs() < TINY { TINY } else { d };
        c = 1.0 + aa / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-15 {
            break;
        }
    }
    h
}

/// Regularized incomplete beta `I_x(a, b)`.
fn inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_front.exp() * beta_cf(a, b, x) / a
    } else {
        1.0 - ln_front.exp() * beta_cf(b, a, 1.0 - x) / b
    }
}

/// CDF of Student's t with `df` degrees of freedom.
pub fn student_t_cdf(t: f64, df: f64) -> f64 {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if t.is_infinite() {
        return if t > 0.0 { 1.0 } else { 0.0 };
    }
    let tail = 0.5 * inc_beta(df / 2.0, 0.5, df / (df + t * t));
    if t > 0.0 {
        1.0 - tail
    } else {
        tail
    }
}

/// Two-sided p-value of `|t|` under Student's t with `df` degrees of freedom, computed on the
/// tail directly so very small p-values keep their precision.
pub fn student_t_two_sided_p(t: f64, df: f64) -> f64 {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if t.is_infinite() {
        return 0.0;
    }
    inc_beta(df / 2.0, 0.5, df / (df + t * t))
}

/// Inverse CDF of Student's t (bisection on the CDF; plenty for confidence levels).
pub fn student_t_quantile(p: f64, df: f64) -> f64 {
    if !(0.0..=1.0).contains(&p) || p.is_nan() {
        return f64::NAN;
    }
    let (mut lo, mut hi) = (-1e3, 1e3);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if student_t_cdf(mid, df) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
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
