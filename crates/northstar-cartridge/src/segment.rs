//! Change points with a noise estimate pooled over the whole history: the noise-aware detector.
//!
//! The unit of a history is the **run** (consecutive samples of one commit, see
//! [`runs`]); each run is summarised by its mean. Runs are compared on the
//! log scale when every value is positive, so a shift is a ratio (`+20%` is the same step at any
//! level, and an interval of a ratio can never cross -100%), and multiplicative noise has one
//! spread along the whole history; the exception is a history of 8 runs or more whose level
//! stays within a factor of 2 and whose residuals are more symmetric on the linear scale
//! (noise symmetric around the level, which the logarithm would skew).
//!
//! 1. **Noise**: the spread of a run mean is estimated once for the whole history, robustly
//!    (median absolute successive difference, which a level shift moves by one term only), then
//!    refined as the pooled spread of the runs around their segment's level once the segments
//!    are known. With too few runs for that (fewer than [`MIN_NOISE_DF`] degrees of freedom),
//!    the spread of the samples inside the runs is used instead (criterion's many samples per
//!    run).
//! 2. **Segments**: binary segmentation. In a segment, every split is scored by the
//!    standardised difference of the two sides' levels, `t = Δ / (σ·√(1/m + 1/k))` (the
//!    likelihood-ratio statistic of one mean shift under Gaussian noise of spread σ). σ is the
//!    noise *given that split*: the runs' spread around the two sides' levels, pooled with the
//!    spread inside the segments outside (at least [`MIN_LOCAL_DF`] degrees of freedom, else
//!    the history's pooled noise; a single newest run always uses the pooled noise). A noise
//!    estimate taken before the split would count a real, not yet cut shift as noise and hide
//!    it. The best split is accepted when its two-sided Student-t p-value, multiplied by the
//!    effective number of splits tried (`1 + 2·ln(splits)`: neighbouring splits are strongly
//!    correlated), is below `max_p_value`. A run at the edge of a cut then moves to the side whose median level
//!    it is nearer. Segments are at least
//!    `min_segment` runs long, except the newest one, which may be a single run: a shift can
//!    be **suspected** on the first run after it.
//! 3. The caller ([`detect`](crate::detect)) judges the latest change point against the
//!    threshold and reports it as suspected or confirmed.

use crate::point::{runs, Point};
use crate::stats::{mean, student_t_quantile, student_t_two_sided_p};

/// Fewest degrees of freedom of the between-run noise estimate before it is trusted over the
/// spread inside the runs.
pub const MIN_NOISE_DF: usize = 3;

/// Fewest degrees of freedom of the noise measured given a split (the spread around the two
/// sides' levels, pooled with the segments outside) before a split is judged against it rather
/// than against the history's pooled noise: with fewer, the best of many splits finds a
/// spuriously small spread too often.
pub const MIN_LOCAL_DF: f64 = 10.0;

/// Tuning of the segmentation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SegmentConfig {
    /// A split is accepted when its p-value times the effective number of candidate splits is
    /// below this.
    pub max_p_value: f64,
    /// Each segment but the newest needs at least this many runs.
    pub min_segment: usize,
}

impl Default for SegmentConfig {
    fn default() -> Self {
        Self {
            max_p_value: 0.01,
            min_segment: 2,
        }
    }
}

/// Where the noise estimate came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoiseSource {
    /// The spread of run means around their segment's level, pooled over the history.
    BetweenRuns,
    /// The spread of the samples inside the runs (too few runs for the other).
    WithinRuns,
}

/// The pooled noise of a history.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Noise {
    /// Standard deviation of one run mean (log scale when [`Segmentation::log_scale`]).
    pub sigma: f64,
    /// Degrees of freedom of the estimate.
    pub df: f64,
    /// How it was estimated.
    pub source: NoiseSource,
}

impl Noise {
    /// The noise as a percentage of the level (log scale) or in the values' unit (linear).
    pub fn relative_percent(&self, log_scale: bool) -> Option<f64> {
        log_scale.then(|| (self.sigma.exp() - 1.0) * 100.0)
    }
}

/// One accepted change point.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shift {
    /// Index of the first run after the change.
    pub run: usize,
    /// Index of the first sample after the change.
    pub index: usize,
    /// Runs `[start, run)` form the level before the change.
    pub before_runs: (usize, usize),
    /// Runs `[run, end)` form the level after the change.
    pub after_runs: (usize, usize),
    /// Level before (geometric mean of the run means on the log scale, else their mean).
    pub level_before: f64,
    /// Level after.
    pub level_after: f64,
    /// Difference of the levels on the working scale (log ratio, or value difference).
    pub diff: f64,
    /// Standard error of `diff`.
    pub std_error: f64,
    /// Two-sided p-value of the split, corrected for the number of splits tried.
    pub p_value: f64,
}

impl Shift {
    /// The change as a ratio `after / before`, with its interval at `confidence` (on the log
    /// scale, so the interval of a ratio stays positive). `None` on the linear scale with a
    /// non-positive level before.
    pub fn ratio_interval(&self, seg: &Segmentation, confidence: f64) -> Option<(f64, f64, f64)> {
        let t = student_t_quantile(0.5 + confidence / 2.0, seg.noise.df.max(1.0));
        let (lo, hi) = (
            self.diff - t * self.std_error,
            self.diff + t * self.std_error,
        );
        if seg.log_scale {
            Some((lo.exp(), self.diff.exp(), hi.exp()))
        } else if self.level_before > 0.0 {
            let b = self.level_before;
            Some(((b + lo) / b, (b + self.diff) / b, (b + hi) / b))
        } else {
            None
        }
    }
}

/// A history cut into segments of one level each.
#[derive(Clone, Debug, PartialEq)]
pub struct Segmentation {
    /// `(start, end)` sample ranges of the runs.
    pub runs: Vec<(usize, usize)>,
    /// Whether the comparison is on the log scale (every value positive).
    pub log_scale: bool,
    /// The run means on the working scale.
    pub levels: Vec<f64>,
    /// The noise estimate (`None`: not enough data to estimate any).
    pub noise: Noise,
    /// The accepted change points, in time order.
    pub shifts: Vec<Shift>,
}

/// Why a history cannot be segmented.
#[derive(Clone, Debug, PartialEq)]
pub enum SegmentError {
    /// A value is NaN or infinite.
    NotFinite,
    /// Too few runs or samples to estimate the noise.
    TooShort {
        /// Runs in the history.
        runs: usize,
    },
}

/// Cuts `points` into segments (see the module documentation).
pub fn segment(points: &[Point], config: &SegmentConfig) -> Result<Segmentation, SegmentError> {
    if points.iter().any(|p| !p.value.is_finite()) {
        return Err(SegmentError::NotFinite);
    }
    let runs = runs(points);
    let positive = points.iter().all(|p| p.value > 0.0);
    let raw: Vec<f64> = runs
        .iter()
        .map(|&(a, b)| mean(&values(points, a, b)))
        .collect();
    let log_scale = positive && prefers_log_scale(&raw);
    let f = |v: f64| if log_scale { v.ln() } else { v };
    let levels: Vec<f64> = raw.iter().map(|&v| f(v)).collect();
    let n = levels.len();
    if n < 2 {
        return Err(SegmentError::TooShort { runs: n });
    }
    // Initial noise: robust successive differences (a shift moves one difference only).
    let initial = if n >= MIN_NOISE_DF + 2 {
        let mut d: Vec<f64> = levels.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
        d.sort_by(f64::total_cmp);
        // Median of |N(0, 2σ²)| is 0.6745·√2·σ.
        let med = d[d.len() / 2];
        Some(Noise {
            sigma: med / (0.674_489_75 * std::f64::consts::SQRT_2),
            df: (n - 1) as f64 * 0.37, // efficiency of the median for the normal
            source: NoiseSource::BetweenRuns,
        })
    } else {
        None
    };
    let within = within_run_noise(points, &runs, log_scale);
    let mut noise = match (initial, within) {
        (Some(b), _) => b,
        (None, Some(w)) => w,
        (None, None) => return Err(SegmentError::TooShort { runs: n }),
    };
    let floor = floor_sigma(&levels);
    noise.sigma = noise.sigma.max(floor);
    let mut cuts = binary_segmentation(&levels, &noise, config);
    if noise.source == NoiseSource::BetweenRuns {
        // Refine: the pooled spread around the segments' levels, then segment once more.
        if let Some(pooled) = pooled_noise(&levels, &cuts) {
            noise = Noise {
                sigma: pooled.sigma.max(floor),
                ..pooled
            };
            cuts = binary_segmentation(&levels, &noise, config);
        }
    }
    let shifts = describe(&runs, &levels, &cuts, &noise, log_scale);
    Ok(Segmentation {
        runs,
        log_scale,
        levels,
        noise,
        shifts,
    })
}

/// Whether the run means are compared on the log scale (they are all positive): yes, unless
/// the history is long enough to tell (8 runs), its level stays within a factor of 2 (over
/// a wider range, noise that grows with the level is the bigger error of a linear scale), and
/// its residuals are more symmetric on the linear scale than on the log scale. Noise that is
/// symmetric around the level (as in the synthetic histories of docs/REGRESSION.md) gets a
/// long lower tail from the logarithm at 10-15% noise, which the Student-t test reads as
/// extra noise; right-skewed noise (typical of timings) is made symmetric by it. With 24 runs
/// the choice is right about 6 times in 10; it matters only where the noise is large.
fn prefers_log_scale(raw: &[f64]) -> bool {
    let n = raw.len();
    if n < 8 {
        return true;
    }
    let centres: Vec<f64> = (2..n - 2).map(|i| median(&raw[i - 2..=i + 2])).collect();
    let (lo, hi) = centres
        .iter()
        .fold((f64::INFINITY, 0.0f64), |(l, h), &c| (l.min(c), h.max(c)));
    if hi > 2.0 * lo {
        return true;
    }
    let logs: Vec<f64> = raw.iter().map(|v| v.ln()).collect();
    match (skewness(raw), skewness(&logs)) {
        (Some(linear), Some(log)) => linear.abs() >= log.abs(),
        _ => true,
    }
}

/// Skewness of the residuals around the running median of five (interior runs only).
fn skewness(levels: &[f64]) -> Option<f64> {
    let n = levels.len();
    if n < 8 {
        return None;
    }
    let r: Vec<f64> = (2..n - 2)
        .map(|i| levels[i] - median(&levels[i - 2..=i + 2]))
        .collect();
    let m = mean(&r);
    let m2 = r.iter().map(|x| (x - m).powi(2)).sum::<f64>() / r.len() as f64;
    let m3 = r.iter().map(|x| (x - m).powi(3)).sum::<f64>() / r.len() as f64;
    (m2 > 0.0).then(|| m3 / m2.powf(1.5))
}

fn values(points: &[Point], a: usize, b: usize) -> Vec<f64> {
    points[a..b].iter().map(|p| p.value).collect()
}

/// A spread no measurement can beat (rounding of the values), so a constant history does not
/// turn every difference into an infinitely significant one.
fn floor_sigma(levels: &[f64]) -> f64 {
    let scale = levels.iter().map(|v| v.abs()).fold(0.0, f64::max);
    (scale * 1e-12).max(1e-300)
}

/// The spread of a run mean from the samples inside the runs (pooled variance / mean run size).
fn within_run_noise(points: &[Point], runs: &[(usize, usize)], log_scale: bool) -> Option<Noise> {
    let f = |v: f64| if log_scale { v.ln() } else { v };
    let (mut ss, mut df, mut count) = (0.0, 0usize, 0usize);
    for &(a, b) in runs {
        if b - a < 2 {
            continue;
        }
        let v: Vec<f64> = points[a..b].iter().map(|p| f(p.value)).collect();
        let m = mean(&v);
        ss += v.iter().map(|x| (x - m) * (x - m)).sum::<f64>();
        df += b - a - 1;
        count += b - a;
    }
    if df < 2 {
        return None;
    }
    let per_run = count as f64 / runs.iter().filter(|(a, b)| b - a >= 2).count() as f64;
    Some(Noise {
        sigma: (ss / df as f64 / per_run).sqrt(),
        df: df as f64,
        source: NoiseSource::WithinRuns,
    })
}

/// Spread of the levels from their successive differences, leaving out the differences that
/// cross a cut: `σ² = Σ d² / (2·count)`. Unlike the spread around the segments' means, it does
/// not shrink when the segmentation over-fits.
fn pooled_noise(levels: &[f64], cuts: &[usize]) -> Option<Noise> {
    let (mut ss, mut count) = (0.0, 0usize);
    for i in 1..levels.len() {
        if cuts.binary_search(&i).is_ok() {
            continue;
        }
        let d = levels[i] - levels[i - 1];
        ss += d * d;
        count += 1;
    }
    // The mean square successive difference has about 2/3 of the degrees of freedom of the
    // variance with the same number of terms.
    let df = (count as f64 * 2.0 / 3.0).floor();
    (df >= MIN_NOISE_DF as f64).then(|| Noise {
        sigma: (ss / (2.0 * count as f64)).sqrt(),
        df,
        source: NoiseSource::BetweenRuns,
    })
}

/// How many independent tests `splits` candidate splits of one segment are worth. Neighbouring
/// splits share all but one run, so their statistics are strongly correlated and Bonferroni's
/// `splits` is far too strict; the effective number of a scan grows like the logarithm of its
/// length. `1 + 2·ln(splits)` keeps the rate of alarms on flat synthetic histories at the
/// nominal `max_p_value` order (see docs/REGRESSION.md).
fn effective_tests(splits: usize) -> f64 {
    1.0 + 2.0 * (splits.max(1) as f64).ln()
}

/// The best split of `levels[a..b]`: `(cut, p-value corrected for the splits tried)`.
fn best_split(
    levels: &[f64],
    a: usize,
    b: usize,
    noise: &Noise,
    config: &SegmentConfig,
    newest: bool,
    outside: (f64, f64),
) -> Option<(usize, f64)> {
    // With the noise measured inside the runs (many samples each), one run is a baseline;
    // with one sample per run, `min_segment` runs guard against a single outlier.
    let min = match noise.source {
        NoiseSource::WithinRuns => 1,
        NoiseSource::BetweenRuns => config.min_segment.max(1),
    };
    let min_right = if newest { 1 } else { min };
    if b - a < min + min_right {
        return None;
    }
    let total: f64 = levels[a..b].iter().sum();
    let mut left = levels[a..a + min].iter().sum::<f64>();
    let mut best: Option<(usize, f64)> = None;
    let mut tried = 0usize;
    for t in a + min..=b - min_right {
        if t > a + min {
            left += levels[t - 1];
        }
        let (m, k) = ((t - a) as f64, (b - t) as f64);
        let diff = (total - left) / k - left / m;
        // The noise given this split: the runs' spread around the two sides' levels, pooled
        // with the spread of the segments outside. A shift not yet cut inflates a noise
        // estimate taken over the whole history; measured given the split, it does not. A
        // single newest run has no spread of its own to give, so it is judged against the
        // history's pooled noise (an outlier there must beat the noise, not hide in it).
        let (sigma, df) = if noise.source == NoiseSource::BetweenRuns && b - t >= 2 {
            let ml = left / m;
            let mr = (total - left) / k;
            let ss: f64 = levels[a..t]
                .iter()
                .map(|x| (x - ml) * (x - ml))
                .sum::<f64>()
                + levels[t..b]
                    .iter()
                    .map(|x| (x - mr) * (x - mr))
                    .sum::<f64>();
            let df_in = (b - a) as f64 - 2.0;
            let (s2o, dfo) = outside;
            let dft = df_in + dfo;
            if dft < MIN_LOCAL_DF {
                (noise.sigma, noise.df)
            } else {
                (((ss + s2o * dfo) / dft).sqrt().max(noise.sigma * 1e-6), dft)
            }
        } else {
            (noise.sigma, noise.df)
        };
        let z = (diff / (sigma * (1.0 / m + 1.0 / k).sqrt())).abs();
        tried += 1;
        let p = student_t_two_sided_p(z, df.max(1.0));
        if best.is_none_or(|(_, bp)| p < bp) {
            best = Some((t, p));
        }
    }
    best.map(|(t, p)| {
        let p = p * effective_tests(tried);
        (t, p.min(1.0))
    })
}

fn binary_segmentation(levels: &[f64], noise: &Noise, config: &SegmentConfig) -> Vec<usize> {
    let mut cuts: Vec<usize> = Vec::new();
    let mut pending = vec![(0, levels.len())];
    while let Some((a, b)) = pending.pop() {
        let newest = b == levels.len();
        let outside = outside_noise(levels, &cuts, a, b);
        if let Some((t, p)) = best_split(levels, a, b, noise, config, newest, outside) {
            if p < config.max_p_value {
                cuts.push(t);
                pending.push((a, t));
                pending.push((t, b));
            }
        }
    }
    cuts.sort_unstable();
    refine(levels, &mut cuts, config);
    cuts
}

/// The noise outside `[a, b)`: `(variance, degrees of freedom)` from the residuals of the
/// segments the cuts found so far delimit (0 degrees of freedom when there are none).
fn outside_noise(levels: &[f64], cuts: &[usize], a: usize, b: usize) -> (f64, f64) {
    let mut bounds: Vec<usize> = cuts.to_vec();
    bounds.push(0);
    bounds.push(levels.len());
    bounds.sort_unstable();
    bounds.dedup();
    let (mut ss, mut df) = (0.0, 0.0);
    for w in bounds.windows(2) {
        let (s, e) = (w[0], w[1]);
        if s >= a && e <= b {
            continue;
        }
        if e - s < 2 {
            continue;
        }
        let m = mean(&levels[s..e]);
        ss += levels[s..e].iter().map(|x| (x - m) * (x - m)).sum::<f64>();
        df += (e - s - 1) as f64;
    }
    if df > 0.0 {
        (ss / df, df)
    } else {
        (0.0, 0.0)
    }
}

fn median(x: &[f64]) -> f64 {
    let mut v = x.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Moves each cut by one run where the run at its edge is nearer the other side's level, each
/// level taken as the median of its side without that run: the split that maximises `z` is
/// pulled towards a run halfway between the two levels (a mean counts it on both sides),
/// while medians are not.
fn refine(levels: &[f64], cuts: &mut [usize], config: &SegmentConfig) {
    let min = config.min_segment.max(1);
    for i in 0..cuts.len() {
        let a = if i == 0 { 0 } else { cuts[i - 1] };
        let b = cuts.get(i + 1).copied().unwrap_or(levels.len());
        let min_right = if b == levels.len() { 1 } else { min };
        let c = cuts[i];
        // The last run before the cut.
        if c - a > min {
            let (before, after) = (median(&levels[a..c - 1]), median(&levels[c..b]));
            let x = levels[c - 1];
            if (x - after).abs() < (x - before).abs() {
                cuts[i] = c - 1;
                continue;
            }
        }
        // The first run after the cut.
        if b - c > min_right {
            let (before, after) = (median(&levels[a..c]), median(&levels[c + 1..b]));
            let x = levels[c];
            if (x - before).abs() < (x - after).abs() {
                cuts[i] = c + 1;
            }
        }
    }
}

fn describe(
    runs: &[(usize, usize)],
    levels: &[f64],
    cuts: &[usize],
    noise: &Noise,
    log_scale: bool,
) -> Vec<Shift> {
    let back = |v: f64| if log_scale { v.exp() } else { v };
    (0..cuts.len())
        .map(|i| {
            let start = if i == 0 { 0 } else { cuts[i - 1] };
            let end = cuts.get(i + 1).copied().unwrap_or(levels.len());
            let c = cuts[i];
            let (before, after) = (&levels[start..c], &levels[c..end]);
            let (mb, ma) = (mean(before), mean(after));
            let se = noise.sigma * (1.0 / before.len() as f64 + 1.0 / after.len() as f64).sqrt();
            let p = student_t_two_sided_p((ma - mb).abs() / se, noise.df.max(1.0));
            Shift {
                run: c,
                index: runs[c].0,
                before_runs: (start, c),
                after_runs: (c, end),
                level_before: back(mb),
                level_after: back(ma),
                diff: ma - mb,
                std_error: se,
                p_value: p,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::SplitMix64;

    /// Share of 200 histories of 24 runs (level 100, a +30% step at run 12 in half of them)
    /// for which the log scale is chosen, with noise drawn by `noise`.
    fn log_share(noise: impl Fn(&mut SplitMix64) -> f64) -> f64 {
        let mut rng = SplitMix64::new(7);
        let chosen = (0..200)
            .filter(|h| {
                let raw: Vec<f64> = (0..24)
                    .map(|i| {
                        let level = if h % 2 == 1 && i >= 12 { 130.0 } else { 100.0 };
                        level * noise(&mut rng)
                    })
                    .collect();
                prefers_log_scale(&raw)
            })
            .count();
        chosen as f64 / 200.0
    }

    #[test]
    fn the_scale_follows_the_shape_of_the_noise() {
        // With 24 runs the skewness of the residuals is a weak witness: the right scale is
        // chosen about 6 times in 10 (seed 7: 0.585 both ways), against 5 for a coin.
        // Noise symmetric around the level (15%): the logarithm would skew it.
        let symmetric = log_share(|r| 1.0 + 0.15 * r.normal());
        // Right-skewed noise (log-normal, 15%): the logarithm makes it symmetric.
        let skewed = log_share(|r| (0.15 * r.normal()).exp());
        assert!(
            symmetric < 0.45 && skewed > 0.55,
            "log scale chosen for {symmetric} of the symmetric, {skewed} of the skewed"
        );
        // A level that more than doubles: always the log scale (noise that grows with the
        // level), and short histories too.
        let mut rng = SplitMix64::new(3);
        let wide: Vec<f64> = (0..24)
            .map(|i| if i < 12 { 100.0 } else { 300.0 } * (1.0 + 0.05 * rng.normal()))
            .collect();
        assert!(prefers_log_scale(&wide));
        assert!(prefers_log_scale(&[100.0, 90.0, 130.0, 70.0, 100.0]));
    }
}
