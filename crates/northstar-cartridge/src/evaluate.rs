//! Compares the two detection modes on synthetic noisy histories with known shifts: precision
//! and recall of each, per noise level (`cargo run --release -p northstar-cartridge --example
//! regression_eval`). The tables of `docs/REGRESSION.md` come from the same histories and
//! counting rule through `examples/regression_compare.rs` and `scripts/regression-compare`,
//! beside Apache Otava and E-Divisive.
//!
//! Each history is a latency metric over `commits` commits of `samples_per_commit` samples,
//! level 100 with Gaussian noise of `noise` (relative standard deviation). Half the histories
//! get a regression at a random commit in the middle third-to-end, of a random size in
//! `shift_range` percent. Detection runs as it would in CI: after every commit, on the history
//! so far. Every distinct commit an alert names (spec mode: the latest run; noise mode: the
//! first commit after the change point) counts once. An alert naming the shift commit or one of
//! the five after it detects the shift (duplicates within that window are not counted again);
//! any other named commit is a false alarm.

use crate::detect::{regressions, DetectConfig, Mode, Point};
use crate::kind::MetricKind;
use crate::stats::SplitMix64;
use std::collections::BTreeSet;

/// The evaluation's settings.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalConfig {
    /// Relative noise levels (standard deviation / level), e.g. 0.01 to 0.15.
    pub noise_levels: Vec<f64>,
    /// Histories per noise level (half with a shift).
    pub histories: usize,
    /// Commits per history.
    pub commits: usize,
    /// Samples per commit (criterion gives many; `on_benchmark_complete` one).
    pub samples_per_commit: usize,
    /// Size range of the injected regressions, percent.
    pub shift_range: (f64, f64),
    /// Seed of everything.
    pub seed: u64,
    /// Detection settings (the mode is set per row).
    pub detect: DetectConfig,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            noise_levels: vec![0.01, 0.02, 0.05, 0.10, 0.15],
            histories: 200,
            commits: 24,
            samples_per_commit: 5,
            shift_range: (15.0, 50.0),
            seed: 2024,
            detect: DetectConfig::default(),
        }
    }
}

/// One row of the comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct EvalRow {
    /// Relative noise level.
    pub noise: f64,
    /// Detector.
    pub mode: Mode,
    /// Histories with a shift.
    pub shifts: usize,
    /// Shifts detected at the right commit (or within [`TOLERANCE`] commits after).
    pub detected: usize,
    /// Alerts naming a commit where nothing changed.
    pub false_alarms: usize,
    /// Of those, alerts in histories with no shift at all.
    pub false_alarms_flat: usize,
    /// Per detected shift: commits between the shift and the first alert that names it.
    pub delays: Vec<usize>,
}

impl EvalRow {
    /// detected / (detected + false alarms); 1 when nothing was flagged.
    pub fn precision(&self) -> f64 {
        let flagged = self.detected + self.false_alarms;
        if flagged == 0 {
            1.0
        } else {
            self.detected as f64 / flagged as f64
        }
    }

    /// detected / shifts.
    pub fn recall(&self) -> f64 {
        if self.shifts == 0 {
            1.0
        } else {
            self.detected as f64 / self.shifts as f64
        }
    }

    /// Median of [`EvalRow::delays`] (`NaN` when nothing was detected).
    pub fn median_delay(&self) -> f64 {
        let mut d = self.delays.clone();
        d.sort_unstable();
        match d.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => d[n / 2] as f64,
            n => (d[n / 2 - 1] + d[n / 2]) as f64 / 2.0,
        }
    }
}

/// One synthetic history.
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    /// Relative noise level it was drawn with.
    pub noise: f64,
    /// The commit where the shift starts, if any.
    pub shift_at: Option<usize>,
    /// Size of the shift, percent (drawn for every history, applied only when shifted).
    pub shift_percent: f64,
    /// The samples; `commit` is the commit number.
    pub points: Vec<Point>,
}

fn history(rng: &mut SplitMix64, cfg: &EvalConfig, noise: f64, shifted: bool) -> History {
    let lo = cfg.commits / 3;
    let shift_at = shifted.then(|| lo + rng.below((cfg.commits - 1 - lo).max(1)));
    let size = cfg.shift_range.0 + rng.next_f64() * (cfg.shift_range.1 - cfg.shift_range.0);
    let mut points = Vec::with_capacity(cfg.commits * cfg.samples_per_commit);
    for c in 0..cfg.commits {
        let level = match shift_at {
            Some(s) if c >= s => 100.0 * (1.0 + size / 100.0),
            _ => 100.0,
        };
        for _ in 0..cfg.samples_per_commit {
            let v = level * (1.0 + noise * rng.normal());
            points.push(Point {
                timestamp: points.len() as u64,
                value: v.max(1e-9),
                commit: Some(format!("{c}")),
            });
        }
    }
    History {
        noise,
        shift_at,
        shift_percent: size,
        points,
    }
}

/// The histories of one noise level (the `li`-th of `cfg.noise_levels`): every other one
/// shifted.
pub fn histories(cfg: &EvalConfig, li: usize) -> Vec<History> {
    let noise = cfg.noise_levels[li];
    let mut rng = SplitMix64::new(cfg.seed ^ (li as u64).wrapping_mul(0x9E37_79B9));
    (0..cfg.histories)
        .map(|i| history(&mut rng, cfg, noise, i % 2 == 0))
        .collect()
}

/// Alerts raised when detecting after each commit: `(commit evaluated, commit named)`.
pub fn alerts(h: &History, cfg: &EvalConfig, mode: Mode) -> Vec<(usize, usize)> {
    let dc = DetectConfig { mode, ..cfg.detect };
    let mut out = Vec::new();
    for c in 1..cfg.commits {
        let upto = (c + 1) * cfg.samples_per_commit;
        for f in regressions(&h.points[..upto], MetricKind::Latency, &dc) {
            if let Some(n) = f.commit_after.as_deref().and_then(|s| s.parse().ok()) {
                out.push((c, n));
            }
        }
    }
    out
}

/// Commits after the shift within which an alert still counts as detecting it (the spec
/// mode's default baseline length, so its repeated alerts while the baseline catches up are
/// not counted as false).
pub const TOLERANCE: usize = 5;

/// Adds one history's alerts to a row, by the counting rule of the module documentation.
pub fn score(row: &mut EvalRow, shift_at: Option<usize>, alerts: &[(usize, usize)]) {
    let named: BTreeSet<usize> = alerts.iter().map(|&(_, n)| n).collect();
    match shift_at {
        Some(s) => {
            row.shifts += 1;
            let window = s..=s + TOLERANCE;
            if let Some(&(at, _)) = alerts.iter().find(|(_, n)| window.contains(n)) {
                row.detected += 1;
                row.delays.push(at - s);
            }
            row.false_alarms += named.iter().filter(|c| !window.contains(c)).count();
        }
        None => {
            row.false_alarms += named.len();
            row.false_alarms_flat += named.len();
        }
    }
}

/// Runs the comparison: one row per noise level and mode.
pub fn evaluate(cfg: &EvalConfig) -> Vec<EvalRow> {
    let mut rows = Vec::new();
    for (li, &noise) in cfg.noise_levels.iter().enumerate() {
        let hs = histories(cfg, li);
        for mode in [Mode::Spec, Mode::NoiseAware] {
            let mut row = EvalRow {
                noise,
                mode,
                shifts: 0,
                detected: 0,
                false_alarms: 0,
                false_alarms_flat: 0,
                delays: Vec::new(),
            };
            for h in &hs {
                score(&mut row, h.shift_at, &alerts(h, cfg, mode));
            }
            rows.push(row);
        }
    }
    rows
}

/// The rows as a Markdown table.
pub fn markdown(rows: &[EvalRow]) -> String {
    let mut s = String::from("| noise | mode | shifts | detected | false alarms (in flat histories) | precision | recall | median delay |\n|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        s += &format!(
            "| {:.0}% | {} | {} | {} | {} ({}) | {:.2} | {:.2} | {} |\n",
            r.noise * 100.0,
            r.mode.name(),
            r.shifts,
            r.detected,
            r.false_alarms,
            r.false_alarms_flat,
            r.precision(),
            r.recall(),
            r.median_delay()
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_aware_mode_keeps_its_precision_as_noise_grows() {
        let cfg = EvalConfig {
            noise_levels: vec![0.01, 0.15],
            histories: 40,
            ..EvalConfig::default()
        };
        let rows = evaluate(&cfg);
        let get = |noise: f64, mode| {
            rows.iter()
                .find(|r| r.noise == noise && r.mode == mode)
                .unwrap()
        };
        // Clean data: both modes find (nearly) every shift.
        assert!(get(0.01, Mode::Spec).recall() >= 0.9, "{rows:?}");
        assert!(get(0.01, Mode::NoiseAware).recall() >= 0.9, "{rows:?}");
        // 15% noise: the fixed percentage cries wolf, the noise-aware mode does not.
        let (spec, noise) = (get(0.15, Mode::Spec), get(0.15, Mode::NoiseAware));
        assert!(
            spec.false_alarms > 3 * noise.false_alarms.max(1),
            "{rows:?}"
        );
        assert!(noise.precision() > spec.precision(), "{rows:?}");
        assert!(noise.precision() >= 0.6, "{rows:?}");
    }

    /// The noise-aware rows of one sample count on the tuning set (seed 2024, the default
    /// levels and 200 histories per level: the histories of `regression_compare generate`).
    fn tuning_rows(samples_per_commit: usize) -> Vec<EvalRow> {
        let cfg = EvalConfig {
            samples_per_commit,
            ..EvalConfig::default()
        };
        (0..cfg.noise_levels.len())
            .map(|li| {
                let mut row = EvalRow {
                    noise: cfg.noise_levels[li],
                    mode: Mode::NoiseAware,
                    shifts: 0,
                    detected: 0,
                    false_alarms: 0,
                    false_alarms_flat: 0,
                    delays: Vec::new(),
                };
                for h in histories(&cfg, li) {
                    score(&mut row, h.shift_at, &alerts(&h, &cfg, Mode::NoiseAware));
                }
                row
            })
            .collect()
    }

    /// The cells of docs/REGRESSION.md where the noise-aware mode is at least the best of
    /// Apache Otava 0.8.0 and MongoDB's E-Divisive on the tuning set (seed 2024, where the
    /// detector's settings were chosen; the document's tables are on a held-out seed). The
    /// floors are the peers' best precision and best recall per cell, measured by
    /// scripts/regression-compare on these same histories.
    #[test]
    fn noise_aware_mode_meets_the_peers_where_the_comparison_says_it_does() {
        let one = tuning_rows(1);
        // One sample per commit, 1%, 2%, 5% noise: peers at best 1.00/1.00, 1.00/1.00,
        // 0.94/1.00; flagged on the first or second run after the shift.
        for (i, (p, r)) in [(1.0, 1.0), (1.0, 1.0), (0.94, 1.0)]
            .into_iter()
            .enumerate()
        {
            let row = &one[i];
            assert!(row.precision() >= p && row.recall() >= r, "{row:?}");
            assert!(row.median_delay() <= 1.0, "{row:?}");
        }
        // 15% noise: precision at least Otava's 0.61 (recall is behind E-Divisive's 0.65).
        assert!(one[4].precision() >= 0.61, "{:?}", one[4]);
        // Five samples per commit: every cell, peers at best 1.00/1.00 up to 5%, then
        // 0.96/1.00 and 0.88/0.97.
        let five = tuning_rows(5);
        let floors = [
            (1.0, 1.0),
            (1.0, 1.0),
            (1.0, 1.0),
            (0.96, 1.0),
            (0.88, 0.97),
        ];
        for (row, (p, r)) in five.iter().zip(floors) {
            assert!(row.precision() >= p && row.recall() >= r, "{row:?}");
        }
        assert!(
            five[..3].iter().all(|r| r.median_delay() <= 1.0),
            "{five:?}"
        );
    }

    #[test]
    fn table_has_a_row_per_level_and_mode() {
        let cfg = EvalConfig {
            noise_levels: vec![0.02],
            histories: 4,
            ..EvalConfig::default()
        };
        let md = markdown(&evaluate(&cfg));
        assert_eq!(md.lines().count(), 4);
        assert!(md.contains("| 2% | spec |") && md.contains("| 2% | noise |"));
    }
}
