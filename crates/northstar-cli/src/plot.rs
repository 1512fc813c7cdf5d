//! A metric's history as a hand-written SVG: one line per dimension set, each labelled at its
//! end (no legend to hunt for), regressions marked with a red triangle and their percentage,
//! change points with a dashed vertical line, and labelled time and value axes.

use crate::timespec::format_rfc3339;
use std::fmt::Write;

/// One dimension set's history.
#[derive(Clone, Debug)]
pub struct Series {
    /// Label drawn at the line's end, e.g. `benchmark=kv_get threads=4`.
    pub label: String,
    /// `(timestamp Unix ns, value)`, in time order.
    pub points: Vec<(u64, f64)>,
    /// Optional spread at some points: `(timestamp, min, max)`, drawn as a whisker.
    pub spread: Vec<(u64, f64, f64)>,
}

/// What a marker shows.
#[derive(Clone, Debug, PartialEq)]
pub enum MarkerKind {
    /// A regression of the point at `timestamp`; the text says how large.
    Regression,
    /// A change point: the series' level shifts from this point on.
    ChangePoint,
}

/// A marked point of a series.
#[derive(Clone, Debug)]
pub struct Marker {
    /// Index into the series slice.
    pub series: usize,
    /// Timestamp of the marked point.
    pub timestamp: u64,
    /// Regression or change point.
    pub kind: MarkerKind,
    /// Short text drawn beside the marker, e.g. `+23% moderate`.
    pub text: String,
}

const W: f64 = 1060.0;
const H: f64 = 540.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 330.0;
const TOP: f64 = 70.0;
const BOTTOM: f64 = 70.0;
const PALETTE: [&str; 8] = [
    "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2", "#7f7f7f",
];

/// Text as XML character data: markup characters escaped, and characters XML 1.0 forbids
/// (and every other control character but line feed, as in the terminal) written out as `\xNN`, so
/// the SVG stays well-formed whatever a metric name or dimension holds.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push(c),
            c if (c as u32) < 0x20 || c as u32 == 0x7f || ('\u{80}'..='\u{9f}').contains(&c) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Tick values covering `[lo, hi]` at a 1/2/5 x 10^k step, about `n` of them.
fn nice_ticks(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let span = (hi - lo).max(f64::MIN_POSITIVE);
    let raw = span / n as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut out = Vec::new();
    while t <= hi + step * 1e-9 && out.len() < 50 {
        out.push(t);
        t += step;
    }
    out
}

fn fmt_value(v: f64) -> String {
    let trim = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    let a = v.abs();
    if a < 1e-9 {
        return "0".into();
    }
    if a >= 1e4 {
        let (d, suffix) = if a >= 1e9 {
            (1e9, "G")
        } else if a >= 1e6 {
            (1e6, "M")
        } else {
            (1e3, "k")
        };
        return trim(format!("{:.3}", v / d)) + suffix;
    }
    if a == a.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Renders the chart. `unit` labels the value axis.
pub fn render_svg(metric: &str, unit: &str, series: &[Series], markers: &[Marker]) -> String {
    let pts = series.iter().flat_map(|s| s.points.iter());
    let (mut t0, mut t1, mut v0, mut v1) = (u64::MAX, 0u64, f64::INFINITY, f64::NEG_INFINITY);
    let spreads = series
        .iter()
        .flat_map(|s| s.spread.iter().flat_map(|&(t, lo, hi)| [(t, lo), (t, hi)]));
    let all: Vec<(u64, f64)> = pts.copied().chain(spreads).collect();
    for &(t, v) in all.iter().filter(|p| p.1.is_finite()) {
        t0 = t0.min(t);
        t1 = t1.max(t);
        v0 = v0.min(v);
        v1 = v1.max(v);
    }
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let n_reg = markers
        .iter()
        .filter(|m| m.kind == MarkerKind::Regression)
        .count();
    let n_cp = markers.len() - n_reg;
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="28" font-size="18" font-weight="bold">{}</text>"#,
        esc(metric)
    );
    let _ = writeln!(
        svg,
        r##"<text x="{LEFT}" y="48" fill="#555">{} dimension set{}, {} points; <tspan fill="#d62728">▲ regression</tspan> ({n_reg}), ┆ change point ({n_cp})</text>"##,
        series.len(),
        if series.len() == 1 { "" } else { "s" },
        series.iter().map(|s| s.points.len()).sum::<usize>()
    );
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    if t0 > t1 {
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle" font-size="16">no samples of this metric</text></svg>"#,
            W / 2.0,
            H / 2.0
        );
        return svg;
    }
    // Values spanning more than two orders of magnitude (a commit's milliseconds beside a
    // get's nanoseconds) get a logarithmic axis, or the small series flatten onto zero.
    let log_scale = v0 > 0.0 && v1 / v0 > 100.0;
    let (v0, v1) = if log_scale {
        (v0.log10() - 0.1, v1.log10() + 0.1)
    } else {
        // Value range with 8% headroom; a flat series gets a visible band.
        let pad = if v1 > v0 {
            (v1 - v0) * 0.08
        } else {
            v0.abs().max(1.0) * 0.1
        };
        (v0 - pad, v1 + pad)
    };
    let scale = |v: f64| {
        if log_scale {
            v.max(f64::MIN_POSITIVE).log10()
        } else {
            v
        }
    };
    let (t0f, t1f) = (t0 as f64, t1 as f64);
    let x = |t: u64| -> f64 {
        if t1 > t0 {
            LEFT + (t as f64 - t0f) / (t1f - t0f) * pw
        } else {
            LEFT + pw / 2.0
        }
    };
    let y = |v: f64| -> f64 { TOP + ph - (scale(v) - v0) / (v1 - v0) * ph };

    // Axes and grid.
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="#333"/>"##
    );
    let ticks: Vec<f64> = if log_scale {
        // 1, 2 and 5 times each power of ten in range.
        let (lo, hi) = (v0.floor() as i32, v1.ceil() as i32);
        (lo..=hi)
            .flat_map(|e| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(e)))
            .filter(|v| (v0..=v1).contains(&v.log10()))
            .collect()
    } else {
        nice_ticks(v0, v1, 6)
    };
    for v in ticks {
        let yy = y(v);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + pw,
            LEFT - 6.0,
            yy + 4.0,
            fmt_value(v)
        );
    }
    let span = t1.saturating_sub(t0);
    let time_label = |t: u64| -> String {
        let s = format_rfc3339(t);
        if span > 86_400_000_000_000 {
            s[..10].to_string() // date
        } else if span > 60_000_000_000 {
            s[11..16].to_string() // HH:MM
        } else if span > 10_000_000_000 || t == t0 {
            s[11..19].to_string() // HH:MM:SS
        } else {
            // Short histories (a demo run, a test): later ticks are offsets from the first, so
            // ticks less than a second (or a millisecond) apart never read the same.
            format!("+{}", crate::output::human_ns((t - t0) as f64))
        }
    };
    if t1 > t0 {
        for i in 0..=5u64 {
            let t = t0 + span / 5 * i;
            let xx = x(t);
            let _ = writeln!(
                svg,
                r##"<line x1="{xx:.1}" y1="{:.1}" x2="{xx:.1}" y2="{:.1}" stroke="#333"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                TOP + ph,
                TOP + ph + 5.0,
                TOP + ph + 20.0,
                time_label(t)
            );
        }
    } else {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            x(t0),
            TOP + ph + 20.0,
            time_label(t0)
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">time (UTC), from {}</text>"#,
        LEFT + pw / 2.0,
        H - 22.0,
        &format_rfc3339(t0)[..19]
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate(22 {:.1}) rotate(-90)" text-anchor="middle">{} ({}){}</text>"#,
        TOP + ph / 2.0,
        esc(metric),
        esc(if unit.is_empty() { "value" } else { unit }),
        if log_scale { ", log scale" } else { "" }
    );

    // Change points under the lines.
    for m in markers.iter().filter(|m| m.kind == MarkerKind::ChangePoint) {
        let color = PALETTE[m.series % PALETTE.len()];
        let xx = x(m.timestamp);
        let _ = writeln!(
            svg,
            r#"<line x1="{xx:.1}" y1="{TOP}" x2="{xx:.1}" y2="{:.1}" stroke="{color}" stroke-dasharray="5 4" stroke-width="1.5"/><text x="{:.1}" y="{:.1}" fill="{color}" font-size="11">{}</text>"#,
            TOP + ph,
            xx + 3.0,
            TOP + ph - 6.0,
            esc(&m.text)
        );
    }

    // Lines, points, and each line's label at its right end.
    let mut labels: Vec<(f64, usize)> = Vec::new();
    for (i, s) in series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let finite: Vec<_> = s.points.iter().filter(|p| p.1.is_finite()).collect();
        let path: Vec<String> = finite
            .iter()
            .map(|&&(t, v)| format!("{:.1},{:.1}", x(t), y(v)))
            .collect();
        for &(t, lo, hi) in s
            .spread
            .iter()
            .filter(|w| w.1.is_finite() && w.2.is_finite())
        {
            let _ = writeln!(
                svg,
                r#"<line x1="{xx:.1}" y1="{:.1}" x2="{xx:.1}" y2="{:.1}" stroke="{color}" stroke-opacity="0.45" stroke-width="6" stroke-linecap="round"/>"#,
                y(lo),
                y(hi),
                xx = x(t)
            );
        }
        if path.len() > 1 {
            let _ = writeln!(
                svg,
                r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"/>"#,
                path.join(" ")
            );
        }
        for &&(t, v) in &finite {
            let _ = writeln!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"><title>{} {} = {}</title></circle>"#,
                x(t),
                y(v),
                esc(&s.label),
                format_rfc3339(t),
                v
            );
        }
        if let Some(&&(_, v)) = finite.last() {
            labels.push((y(v), i));
        }
    }
    // Spread the end labels so they never overlap (at least 15 px apart).
    labels.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut prev = f64::NEG_INFINITY;
    for (ly, i) in &mut labels {
        *ly = ly.max(prev + 15.0);
        prev = *ly;
        let s = &series[*i];
        let color = PALETTE[*i % PALETTE.len()];
        let last = s.points.iter().rev().find(|p| p.1.is_finite());
        if let Some(&(t, v)) = last {
            let _ = writeln!(
                svg,
                r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{color}" stroke-width="0.8"/><text x="{:.1}" y="{:.1}" fill="{color}">{} ({})</text>"#,
                x(t) + 4.0,
                y(v),
                LEFT + pw + 8.0,
                *ly - 4.0,
                LEFT + pw + 10.0,
                *ly,
                esc(&s.label),
                fmt_value(v)
            );
        }
    }

    // Regressions on top.
    for m in markers.iter().filter(|m| m.kind == MarkerKind::Regression) {
        let Some(s) = series.get(m.series) else {
            continue;
        };
        let Some(&(t, v)) = s.points.iter().find(|p| p.0 == m.timestamp) else {
            continue;
        };
        let (xx, yy) = (x(t), y(v));
        let _ = writeln!(
            svg,
            r##"<path d="M{xx:.1},{:.1} l-7,12 h14 z" fill="#d62728" stroke="white"/><text x="{xx:.1}" y="{:.1}" fill="#d62728" font-weight="bold" text-anchor="middle">{}</text>"##,
            yy - 20.0,
            yy - 24.0,
            esc(&m.text)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_holds_every_series_label_and_marker() {
        let series = vec![
            Series {
                label: "benchmark=kv_get".into(),
                points: vec![
                    (1_000_000_000, 100.0),
                    (2_000_000_000, 102.0),
                    (3_000_000_000, 140.0),
                ],
                spread: vec![],
            },
            Series {
                label: "benchmark=kv_put <&>".into(),
                points: vec![(1_500_000_000, 300.0)],
                spread: vec![(1_500_000_000, 250.0, 380.0)],
            },
        ];
        let markers = vec![
            Marker {
                series: 0,
                timestamp: 3_000_000_000,
                kind: MarkerKind::Regression,
                text: "+37% moderate".into(),
            },
            Marker {
                series: 0,
                timestamp: 3_000_000_000,
                kind: MarkerKind::ChangePoint,
                text: "change".into(),
            },
        ];
        let svg = render_svg("benchmark_p99_latency_ns", "ns", &series, &markers);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("benchmark=kv_get (140)"));
        assert!(
            svg.contains("benchmark=kv_put &lt;&amp;&gt; (300)"),
            "labels are escaped"
        );
        assert!(svg.contains("+37% moderate"));
        assert!(svg.contains("stroke-dasharray"));
        assert_eq!(svg.matches("<circle").count(), 4);
        assert!(svg.contains("(ns)"));
    }

    #[test]
    fn empty_and_single_point_charts_render() {
        assert!(render_svg("m", "", &[], &[]).contains("no samples"));
        let one = [Series {
            label: "x".into(),
            points: vec![(5, 1.0)],
            spread: vec![],
        }];
        let svg = render_svg("m", "", &one, &[]);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn time_ticks_of_a_sub_second_history_are_distinct() {
        let t0 = 1_795_789_079_200_000_000u64;
        let series = [Series {
            label: "x".into(),
            points: (0..4)
                .map(|i| (t0 + i * 150_000_000, 1.0 + i as f64))
                .collect(),
            spread: vec![],
        }];
        let svg = render_svg("m", "ns", &series, &[]);
        // 450 ms in five steps: the first tick is the clock time, the rest offsets from it.
        for tick in [
            "+90.00ms",
            "+180.00ms",
            "+270.00ms",
            "+360.00ms",
            "+450.00ms",
        ] {
            assert!(svg.contains(&format!(">{tick}<")), "missing tick {tick}");
        }
    }

    #[test]
    fn values_spanning_orders_of_magnitude_get_a_log_axis() {
        let series = [
            Series {
                label: "get".into(),
                points: vec![(1, 250.0), (2, 260.0)],
                spread: vec![],
            },
            Series {
                label: "commit".into(),
                points: vec![(1, 2.5e6), (2, 2.9e6)],
                spread: vec![],
            },
        ];
        let svg = render_svg("p99", "ns", &series, &[]);
        assert!(svg.contains("(ns), log scale"));
        // Decade ticks, and the small series is drawn well clear of the large one.
        for tick in [">1000<", ">10k<", ">100k<", ">1M<"] {
            assert!(svg.contains(tick), "missing tick {tick}");
        }
        let cy = |label: &str| -> f64 {
            let at = svg.find(&format!("<title>{label} ")).unwrap();
            let circle = &svg[..at];
            let cy = &circle[circle.rfind("cy=\"").unwrap() + 4..];
            cy[..cy.find('"').unwrap()].parse().unwrap()
        };
        assert!(
            cy("get") - cy("commit") > 150.0,
            "get {} commit {}",
            cy("get"),
            cy("commit")
        );
        // A narrow range stays linear.
        let narrow = [Series {
            label: "x".into(),
            points: vec![(1, 100.0), (2, 180.0)],
            spread: vec![],
        }];
        assert!(!render_svg("m", "ns", &narrow, &[]).contains("log scale"));
    }

    #[test]
    fn ticks_are_round_numbers_in_range() {
        let t = nice_ticks(0.0, 97.0, 5);
        assert_eq!(t, vec![0.0, 20.0, 40.0, 60.0, 80.0]);
    }
}
