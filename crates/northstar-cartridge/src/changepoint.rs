//! Change points over a metric's history: E-Divisive means (Matteson & James, 2014) picks the
//! split that maximises the energy distance between the two sides, and, as Hunter/Otava do,
//! a Student (Welch) t-test between the neighbouring segments decides significance instead of
//! E-Divisive's random permutation test, so the result is deterministic and fast.
//!
//! The procedure bisects recursively: among all current segments, take the candidate split
//! with the largest energy statistic; accept it if significant, and repeat; stop at the first
//! candidate that is not.

use crate::stats::{mean, welch};

/// Tuning of the change-point search.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChangePointConfig {
    /// A change point is accepted when the t-test p-value is below this (Hunter's default
    /// is 0.001).
    pub max_p_value: f64,
    /// Each side of a split needs at least this many points.
    pub min_segment: usize,
}

impl Default for ChangePointConfig {
    fn default() -> Self {
        Self {
            max_p_value: 0.001,
            min_segment: 5,
        }
    }
}

/// One change point: the series shifts at `index` (the first point of the new regime).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChangePoint {
    /// Index of the first point after the shift.
    pub index: usize,
    /// Mean of the segment before (back to the previous change point).
    pub mean_before: f64,
    /// Mean of the segment after (up to the next change point).
    pub mean_after: f64,
    /// Welch t-test p-value between the two segments.
    pub p_value: f64,
    /// Energy statistic of the split (larger: more distinct distributions).
    pub energy: f64,
}

/// Best split of `x` by the E-Divisive statistic `Q(τ) = m·n/(m+n) · Ê` with
/// `Ê = 2/(mn) Σ|xᵢ−yⱼ| − 1/C(m,2) Σ|xᵢ−xₖ| − 1/C(n,2) Σ|yⱼ−yₖ|` (α = 1). Incremental sums
/// make it O(len²). Returns `(τ, Q)` with both sides at least `min_seg` long.
fn best_split(x: &[f64], min_seg: usize) -> Option<(usize, f64)> {
    let n = x.len();
    let min_seg = min_seg.max(2);
    if n < 2 * min_seg {
        return None;
    }
    // Sums of |xi - xj| within left [0, t), within right [t, n), and across.
    let dist_to = |i: usize, range: std::ops::Range<usize>| -> f64 {
        range.map(|j| (x[i] - x[j]).abs()).sum()
    };
    let mut within_left = 0.0;
    for i in 0..min_seg {
        within_left += dist_to(i, 0..i);
    }
    let mut within_right = 0.0;
    for i in min_seg..n {
        within_right += dist_to(i, i + 1..n);
    }
    let mut across = 0.0;
    for i in 0..min_seg {
        across += dist_to(i, min_seg..n);
    }
    let mut best: Option<(usize, f64)> = None;
    let mut t = min_seg;
    loop {
        let (m, k) = (t as f64, (n - t) as f64);
        let e = 2.0 * across / (m * k)
            - within_left / (m * (m - 1.0) / 2.0)
            - within_right / (k * (k - 1.0) / 2.0);
        let q = m * k / (m + k) * e;
        if best.is_none_or(|(_, bq)| q > bq) {
            best = Some((t, q));
        }
        if t + 1 > n - min_seg {
            break;
        }
        // Move x[t] from the right side to the left side.
        let to_left = dist_to(t, 0..t);
        let to_right = dist_to(t, t + 1..n);
        within_left += to_left;
        within_right -= to_right;
        across += to_right - to_left;
        t += 1;
    }
    best
}

/// All significant change points of `x`, in index order.
pub fn change_points(x: &[f64], config: &ChangePointConfig) -> Vec<ChangePoint> {
    let mut cuts: Vec<usize> = Vec::new(); // sorted, interior indices
    if x.iter().any(|v| !v.is_finite()) {
        return Vec::new();
    }
    loop {
        let mut bounds = Vec::with_capacity(cuts.len() + 2);
        bounds.push(0);
        bounds.extend_from_slice(&cuts);
        bounds.push(x.len());
        let mut best: Option<(usize, f64)> = None;
        for w in bounds.windows(2) {
            let (a, b) = (w[0], w[1]);
            if let Some((t, q)) = best_split(&x[a..b], config.min_segment) {
                if best.is_none_or(|(_, bq)| q > bq) {
                    best = Some((a + t, q));
                }
            }
        }
        let Some((tau, _)) = best else { break };
        let (a, b) = segment_around(&cuts, tau, x.len());
        let significant =
            welch(&x[a..tau], &x[tau..b]).is_some_and(|w| w.p_value < config.max_p_value);
        if !significant {
            break;
        }
        let pos = cuts.partition_point(|&c| c < tau);
        cuts.insert(pos, tau);
    }
    // Describe each accepted point against its final neighbours.
    cuts.iter()
        .map(|&tau| {
            let (a, b) = segment_around(&cuts, tau, x.len());
            let (before, after) = (&x[a..tau], &x[tau..b]);
            let p_value = welch(before, after).map_or(f64::NAN, |w| w.p_value);
            let energy = best_split_energy_at(&x[a..b], tau - a);
            ChangePoint {
                index: tau,
                mean_before: mean(before),
                mean_after: mean(after),
                p_value,
                energy,
            }
        })
        .collect()
}

/// The segment `[a, b)` that contains `tau` as an interior split, between its neighbouring cuts.
fn segment_around(cuts: &[usize], tau: usize, len: usize) -> (usize, usize) {
    let a = cuts.iter().copied().filter(|&c| c < tau).max().unwrap_or(0);
    let b = cuts
        .iter()
        .copied()
        .filter(|&c| c > tau)
        .min()
        .unwrap_or(len);
    (a, b)
}

/// The energy statistic of splitting `x` at `t` (direct O(len²) evaluation).
fn best_split_energy_at(x: &[f64], t: usize) -> f64 {
    let (l, r) = x.split_at(t);
    let (m, k) = (l.len() as f64, r.len() as f64);
    if l.len() < 2 || r.len() < 2 {
        return 0.0;
    }
    let pair = |s: &[f64]| -> f64 {
        let mut sum = 0.0;
        for i in 0..s.len() {
            for j in i + 1..s.len() {
                sum += (s[i] - s[j]).abs();
            }
        }
        sum
    };
    let across: f64 = l
        .iter()
        .map(|a| r.iter().map(|b| (a - b).abs()).sum::<f64>())
        .sum();
    let e =
        2.0 * across / (m * k) - pair(l) / (m * (m - 1.0) / 2.0) - pair(r) / (k * (k - 1.0) / 2.0);
    m * k / (m + k) * e
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::SplitMix64;

    fn noisy(rng: &mut SplitMix64, level: f64, n: usize, sd: f64) -> Vec<f64> {
        (0..n).map(|_| level * (1.0 + sd * rng.normal())).collect()
    }

    #[test]
    fn incremental_energy_matches_direct_evaluation() {
        let mut rng = SplitMix64::new(11);
        let x = noisy(&mut rng, 100.0, 40, 0.2);
        let (t, q) = best_split(&x, 3).unwrap();
        assert!((q - best_split_energy_at(&x, t)).abs() < 1e-6 * q.abs().max(1.0));
        for s in 3..=37 {
            assert!(best_split_energy_at(&x, s) <= q + 1e-9);
        }
    }

    #[test]
    fn finds_a_single_shift_at_its_index() {
        let mut rng = SplitMix64::new(5);
        let mut x = noisy(&mut rng, 100.0, 60, 0.02);
        x.extend(noisy(&mut rng, 120.0, 40, 0.02));
        let cps = change_points(&x, &ChangePointConfig::default());
        assert_eq!(cps.len(), 1, "{cps:?}");
        assert_eq!(cps[0].index, 60);
        assert!(cps[0].mean_after > cps[0].mean_before * 1.15);
    }

    #[test]
    fn finds_two_shifts_and_none_in_pure_noise() {
        let mut rng = SplitMix64::new(9);
        let mut x = noisy(&mut rng, 100.0, 50, 0.03);
        x.extend(noisy(&mut rng, 130.0, 50, 0.03));
        x.extend(noisy(&mut rng, 100.0, 50, 0.03));
        let idx: Vec<usize> = change_points(&x, &ChangePointConfig::default())
            .iter()
            .map(|c| c.index)
            .collect();
        assert_eq!(idx, vec![50, 100]);
        let flat = noisy(&mut rng, 100.0, 150, 0.10);
        assert!(change_points(&flat, &ChangePointConfig::default()).is_empty());
    }

    #[test]
    fn short_or_non_finite_series_have_no_change_points() {
        let cfg = ChangePointConfig::default();
        assert!(change_points(&[1.0, 2.0, 3.0], &cfg).is_empty());
        let mut x = vec![1.0; 20];
        x.extend([5.0; 20]);
        x[3] = f64::NAN;
        assert!(change_points(&x, &cfg).is_empty());
    }
}
