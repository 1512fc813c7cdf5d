//! A metric's history as a chart, drawn with `plotters` to SVG or PNG: one line per dimension
//! set (20 colours times 3 point shapes, so even 60 sets stay apart), a legend beside the chart
//! listing every set with its last value in the order the lines end, regressions marked with a
//! red triangle and change points with a dashed vertical line, each tagged (`R1`, `C2`) and
//! explained in a numbered list under the chart so marker texts never overlap, and labelled
//! time and value axes (logarithmic when the values span more than two orders of magnitude).
//!
//! Text is drawn with DejaVu Sans embedded in the binary (the `dejavu` crate), through
//! plotters' `ab_glyph` renderer: no system font library is needed.

use crate::timespec::format_rfc3339;
use plotters::coord::Shift;
use plotters::prelude::{
    BitMapBackend, ChartBuilder, Circle, Cross, DashedLineSeries, DrawingArea, DrawingBackend,
    IntoDrawingArea, IntoFont, LineSeries, PathElement, RGBColor, Rectangle, SVGBackend, Text,
    TriangleMarker, WHITE,
};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{Color, FontStyle, TextStyle};
use std::fmt::Write;
use std::path::Path;
use std::sync::OnceLock;

/// One dimension set's history.
#[derive(Clone, Debug)]
pub struct Series {
    /// Label of the line in the legend, e.g. `benchmark=kv_get threads=4`.
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
    /// Short text listed under the chart, e.g. `+23% moderate`.
    pub text: String,
}

/// The image formats `plot` writes, chosen by the output file's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    /// Scalable vector graphics (`.svg`).
    Svg,
    /// A PNG bitmap (`.png`).
    Png,
}

impl ImageFormat {
    /// The format a file name asks for: `.svg` or `.png` (any case); anything else is an error.
    pub fn from_path(path: &Path) -> Result<Self, PlotError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("svg") => Ok(Self::Svg),
            Some("png") => Ok(Self::Png),
            _ => Err(PlotError::UnknownFormat {
                path: crate::output::escape_text(&path.display().to_string()).into_owned(),
            }),
        }
    }
}

/// Why a chart could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlotError {
    /// The output file's name ends in neither `.svg` nor `.png`.
    #[error("{path}: unknown image format (expected a file name ending in .svg or .png)")]
    UnknownFormat {
        /// The file name, escaped for the terminal.
        path: String,
    },
    /// plotters refused to draw (e.g. the embedded font could not be read).
    #[error("drawing the chart failed: {0}")]
    Draw(String),
    /// The PNG encoder failed.
    #[error("encoding the PNG failed: {0}")]
    Png(#[from] png::EncodingError),
}

/// Renders the chart in `format`: the bytes of the file. `unit` labels the value axis.
pub fn render(
    format: ImageFormat,
    metric: &str,
    unit: &str,
    series: &[Series],
    markers: &[Marker],
) -> Result<Vec<u8>, PlotError> {
    match format {
        ImageFormat::Svg => render_svg(metric, unit, series, markers).map(String::into_bytes),
        ImageFormat::Png => render_png(metric, unit, series, markers),
    }
}

/// Renders the chart as an SVG document.
pub fn render_svg(
    metric: &str,
    unit: &str,
    series: &[Series],
    markers: &[Marker],
) -> Result<String, PlotError> {
    let chart = Chart::new(metric, unit, series, markers);
    let mut svg = String::new();
    {
        let root =
            SVGBackend::with_string(&mut svg, (chart.width, chart.height)).into_drawing_area();
        chart.draw(&root)?;
        root.present().map_err(draw_err)?;
    }
    Ok(svg)
}

/// Renders the chart as a PNG image (8-bit RGB).
pub fn render_png(
    metric: &str,
    unit: &str,
    series: &[Series],
    markers: &[Marker],
) -> Result<Vec<u8>, PlotError> {
    let chart = Chart::new(metric, unit, series, markers);
    let (w, h) = (chart.width, chart.height);
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        chart.draw(&root)?;
        root.present().map_err(draw_err)?;
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header()?;
    writer.write_image_data(&rgb)?;
    writer.finish()?;
    Ok(out)
}

/// Text as the chart shows it: characters XML 1.0 forbids (and every other control character
/// but line feed, as in the terminal) written out as `\xNN`, so the SVG stays well-formed and
/// the picture readable whatever a metric name or dimension holds. (The SVG backend escapes
/// markup characters itself.)
pub fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\n' => out.push(' '),
            c if (c as u32) < 0x20 || c as u32 == 0x7f || ('\u{80}'..='\u{9f}').contains(&c) => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// `s` cut to `max` characters, the cut marked with an ellipsis.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
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

fn draw_err(e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// Registers the embedded font with plotters once (its text renderer looks fonts up by family).
fn register_fonts() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
            .is_ok()
            && plotters::style::register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold())
                .is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(PlotError::Draw(
            "the embedded DejaVu Sans font could not be read".into(),
        ))
    }
}

/// Twenty colours that stay apart on white; with the three point shapes, 60 distinct lines.
const PALETTE: [RGBColor; 20] = [
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(0, 0, 128),
    RGBColor(0, 128, 128),
    RGBColor(128, 0, 128),
    RGBColor(170, 110, 40),
    RGBColor(60, 180, 75),
    RGBColor(0, 130, 200),
    RGBColor(245, 130, 48),
    RGBColor(145, 30, 180),
    RGBColor(70, 70, 70),
    RGBColor(128, 128, 0),
    RGBColor(0, 90, 50),
];
const RED: RGBColor = RGBColor(214, 39, 40);
const INK: RGBColor = RGBColor(51, 51, 51);
const GRID: RGBColor = RGBColor(229, 229, 229);

const WIDTH: u32 = 1200;
const LEFT: u32 = 90;
const LEGEND_W: u32 = 360;
const TOP: u32 = 70;
const X_AXIS: u32 = 60;
const MIN_PLOT_H: u32 = 400;
const ROW: u32 = 17;
const MAX_NOTES: usize = 40;

fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// One entry of the numbered list under the chart.
struct Note {
    tag: String,
    series: usize,
    text: String,
    kind: MarkerKind,
    timestamp: u64,
}

/// Everything the drawing needs, computed once from the inputs: sizes, ranges, tags.
struct Chart<'a> {
    metric: String,
    unit: String,
    series: &'a [Series],
    markers: &'a [Marker],
    width: u32,
    height: u32,
    plot_h: u32,
    /// First and last timestamp (equal for a single instant).
    t0: u64,
    t1: u64,
    /// The value axis' range, in log10 units on a log axis.
    y0: f64,
    y1: f64,
    log: bool,
    notes: Vec<Note>,
}

impl<'a> Chart<'a> {
    fn new(metric: &str, unit: &str, series: &'a [Series], markers: &'a [Marker]) -> Self {
        let (t0, t1, v0, v1) = data_range(series);
        // Values spanning more than two orders of magnitude (a commit's milliseconds beside a
        // get's nanoseconds) get a logarithmic axis, or the small series flatten onto zero.
        let log = v0 > 0.0 && v1 / v0 > 100.0;
        let (y0, y1) = if log {
            (v0.log10() - 0.1, v1.log10() + 0.1)
        } else {
            // 8% headroom; a flat series gets a visible band.
            let pad = if v1 > v0 {
                (v1 - v0) * 0.08
            } else {
                v0.abs().max(1.0) * 0.1
            };
            (v0 - pad, v1 + pad)
        };
        let notes = number_markers(series, markers);
        let plot_h = MIN_PLOT_H.max(series.len() as u32 * ROW + 40);
        let shown_notes = notes.len().min(MAX_NOTES) as u32 + u32::from(notes.len() > MAX_NOTES);
        let notes_h = if notes.is_empty() {
            10
        } else {
            30 + shown_notes * ROW
        };
        Self {
            metric: printable(metric),
            unit: printable(if unit.is_empty() { "value" } else { unit }),
            series,
            markers,
            width: WIDTH,
            height: TOP + plot_h + X_AXIS + notes_h,
            plot_h,
            t0,
            t1,
            y0,
            y1,
            log,
            notes,
        }
    }

    fn has_data(&self) -> bool {
        self.t0 <= self.t1
    }

    /// A value on the chart's y axis (log10 on a log axis).
    fn y(&self, v: f64) -> f64 {
        if self.log {
            v.max(f64::MIN_POSITIVE).log10()
        } else {
            v
        }
    }

    /// A timestamp on the chart's x axis: seconds after the first sample.
    fn x(&self, t: u64) -> f64 {
        t.saturating_sub(self.t0) as f64 / 1e9
    }

    fn x_range(&self) -> std::ops::Range<f64> {
        let span = self.x(self.t1);
        if span > 0.0 {
            0.0..span
        } else {
            -1.0..1.0
        }
    }

    /// An x tick's label: a date, a clock time, or (short histories) an offset from the first
    /// sample, so ticks less than a second apart never read the same.
    fn time_label(&self, x: f64) -> String {
        let span = self.t1.saturating_sub(self.t0);
        let t = self.t0.saturating_add((x.max(0.0) * 1e9).round() as u64);
        let s = format_rfc3339(t);
        if span > 86_400_000_000_000 {
            s[..10].to_string()
        } else if span > 60_000_000_000 {
            s[11..16].to_string()
        } else if span > 10_000_000_000 || t == self.t0 {
            s[11..19].to_string()
        } else {
            format!("+{}", crate::output::human_ns((t - self.t0) as f64))
        }
    }

    fn value_ticks(&self) -> Vec<f64> {
        if self.log {
            // 1, 2 and 5 times each power of ten in range.
            let (lo, hi) = (self.y0.floor() as i32, self.y1.ceil() as i32);
            (lo..=hi)
                .flat_map(|e| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(e)))
                .filter(|v| (self.y0..=self.y1).contains(&v.log10()))
                .collect()
        } else {
            nice_ticks(self.y0, self.y1, 6)
        }
    }

    /// Draws the whole chart on `root`, step by step.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        register_fonts()?;
        root.fill(&WHITE).map_err(draw_err)?;
        self.draw_header(root)?;
        if !self.has_data() {
            let style = TextStyle::from(("sans-serif", 18).into_font())
                .color(&INK)
                .pos(Pos::new(HPos::Center, VPos::Center));
            let at = (self.width as i32 / 2, (TOP + self.plot_h / 2) as i32);
            root.draw(&Text::new("no samples of this metric", at, style))
                .map_err(draw_err)?;
            return Ok(());
        }
        let plot_area = root.margin(TOP, self.height - TOP - self.plot_h - X_AXIS, 0, LEGEND_W);
        let mut chart = ChartBuilder::on(&plot_area)
            .x_label_area_size(X_AXIS)
            .y_label_area_size(LEFT)
            .margin_right(10)
            .build_cartesian_2d(self.x_range(), self.y0..self.y1)
            .map_err(draw_err)?;
        let label = |x: &f64| self.time_label(*x);
        let y_desc = format!(
            "{} ({}){}",
            self.metric,
            self.unit,
            if self.log { ", log scale" } else { "" }
        );
        let x_desc = format!("time (UTC), from {}", &format_rfc3339(self.t0)[..19]);
        chart
            .configure_mesh()
            .disable_y_mesh()
            .disable_x_mesh()
            .x_labels(6)
            .x_label_formatter(&label)
            .y_labels(0)
            .x_desc(x_desc)
            .y_desc(y_desc)
            .axis_style(INK)
            .label_style(("sans-serif", 13).into_font().color(&INK))
            .draw()
            .map_err(draw_err)?;
        self.draw_value_grid(root, &mut chart)?;
        self.draw_change_points(root, &mut chart)?;
        self.draw_lines(root, &mut chart)?;
        self.draw_regressions(root, &mut chart)?;
        self.draw_legend(root)?;
        self.draw_notes(root)
    }

    fn draw_header<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), PlotError> {
        let n_reg = self
            .markers
            .iter()
            .filter(|m| m.kind == MarkerKind::Regression)
            .count();
        let n_cp = self.markers.len() - n_reg;
        let points: usize = self.series.iter().map(|s| s.points.len()).sum();
        let n = self.series.len();
        let title = TextStyle::from(("sans-serif", 20, FontStyle::Bold).into_font()).color(&INK);
        root.draw(&Text::new(self.metric.clone(), (LEFT as i32, 14), title))
            .map_err(draw_err)?;
        let sub = format!(
            "{n} dimension set{}, {points} points; ▲ regression ({n_reg}), ┆ change point ({n_cp})",
            if n == 1 { "" } else { "s" },
        );
        let style = TextStyle::from(("sans-serif", 14).into_font()).color(&RGBColor(85, 85, 85));
        root.draw(&Text::new(sub, (LEFT as i32, 42), style))
            .map_err(draw_err)
    }

    /// Horizontal grid lines at round values, labelled on the left (decades and their 2 and 5
    /// multiples on a log axis).
    fn draw_value_grid<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        chart: &mut Chart2d<'_, DB>,
    ) -> Result<(), PlotError> {
        let xr = self.x_range();
        let style = TextStyle::from(("sans-serif", 13).into_font())
            .color(&INK)
            .pos(Pos::new(HPos::Right, VPos::Center));
        for v in self.value_ticks() {
            let y = if self.log { v.log10() } else { v };
            chart
                .draw_series(LineSeries::new([(xr.start, y), (xr.end, y)], GRID))
                .map_err(draw_err)?;
            let (px, py) = chart.backend_coord(&(xr.start, y));
            root.draw(&Text::new(fmt_value(v), (px - 8, py), style.clone()))
                .map_err(draw_err)?;
        }
        Ok(())
    }

    fn draw_change_points<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        chart: &mut Chart2d<'_, DB>,
    ) -> Result<(), PlotError> {
        for (k, note) in self
            .notes
            .iter()
            .filter(|n| n.kind == MarkerKind::ChangePoint)
            .enumerate()
        {
            let c = color(note.series);
            let x = self.x(note.timestamp);
            let line = [(x, self.y0), (x, self.y1)];
            chart
                .draw_series(DashedLineSeries::new(line, 6, 4, c.stroke_width(2)))
                .map_err(draw_err)?;
            // Tags of nearby change points are staggered over three rows.
            let (px, py) = chart.backend_coord(&(x, self.y1));
            let style = TextStyle::from(("sans-serif", 12, FontStyle::Bold).into_font()).color(&c);
            let at = (px + 3, py + 4 + (k % 3) as i32 * 14);
            root.draw(&Text::new(note.tag.clone(), at, style))
                .map_err(draw_err)?;
        }
        Ok(())
    }

    /// Each series: its spread whiskers, its line, and its points in the series' shape.
    fn draw_lines<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        chart: &mut Chart2d<'_, DB>,
    ) -> Result<(), PlotError> {
        for (i, s) in self.series.iter().enumerate() {
            let c = color(i);
            let whiskers = s
                .spread
                .iter()
                .filter(|w| w.1.is_finite() && w.2.is_finite())
                .map(|&(t, lo, hi)| {
                    let x = self.x(t);
                    PathElement::new(
                        vec![(x, self.y(lo)), (x, self.y(hi))],
                        c.mix(0.4).stroke_width(6),
                    )
                });
            chart.draw_series(whiskers).map_err(draw_err)?;
            let finite: Vec<(f64, f64)> = s
                .points
                .iter()
                .filter(|p| p.1.is_finite())
                .map(|&(t, v)| (self.x(t), self.y(v)))
                .collect();
            chart
                .draw_series(LineSeries::new(finite.iter().copied(), c.stroke_width(2)))
                .map_err(draw_err)?;
            for p in &finite {
                draw_point(root, i, chart.backend_coord(p))?;
            }
        }
        Ok(())
    }

    fn draw_regressions<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        chart: &mut Chart2d<'_, DB>,
    ) -> Result<(), PlotError> {
        for note in self
            .notes
            .iter()
            .filter(|n| n.kind == MarkerKind::Regression)
        {
            let Some(&(t, v)) = self.series[note.series]
                .points
                .iter()
                .find(|p| p.0 == note.timestamp && p.1.is_finite())
            else {
                continue;
            };
            let p = (self.x(t), self.y(v));
            chart
                .draw_series([TriangleMarker::new(p, 9, RED.filled())])
                .map_err(draw_err)?;
            let (px, py) = chart.backend_coord(&p);
            let style =
                TextStyle::from(("sans-serif", 13, FontStyle::Bold).into_font()).color(&RED);
            root.draw(&Text::new(note.tag.clone(), (px - 8, py - 30), style))
                .map_err(draw_err)?;
        }
        Ok(())
    }

    /// The legend beside the chart: every series' shape, label and last value, in the order
    /// the lines end (highest first), so the eye goes straight across.
    fn draw_legend<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), PlotError> {
        let mut order: Vec<(usize, Option<f64>)> = self
            .series
            .iter()
            .enumerate()
            .map(|(i, s)| {
                (
                    i,
                    s.points.iter().rev().find(|p| p.1.is_finite()).map(|p| p.1),
                )
            })
            .collect();
        order.sort_by(|a, b| match (a.1, b.1) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.0.cmp(&b.0),
        });
        let x0 = (self.width - LEGEND_W + 12) as i32;
        for (row, (i, last)) in order.into_iter().enumerate() {
            let y = (TOP + 8) as i32 + row as i32 * ROW as i32;
            let c = color(i);
            root.draw(&PathElement::new(
                vec![(x0, y), (x0 + 22, y)],
                c.stroke_width(2),
            ))
            .map_err(draw_err)?;
            draw_point(root, i, (x0 + 11, y))?;
            let value = last.map_or_else(|| "no value".to_string(), fmt_value);
            let text = format!("{} ({value})", clip(&printable(&self.series[i].label), 44));
            let style = TextStyle::from(("sans-serif", 13).into_font())
                .color(&c)
                .pos(Pos::new(HPos::Left, VPos::Center));
            root.draw(&Text::new(text, (x0 + 30, y), style))
                .map_err(draw_err)?;
        }
        Ok(())
    }

    /// The numbered list of regressions and change points under the chart.
    fn draw_notes<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
    ) -> Result<(), PlotError> {
        let y0 = (TOP + self.plot_h + X_AXIS + 14) as i32;
        for (row, note) in self.notes.iter().take(MAX_NOTES).enumerate() {
            let c = if note.kind == MarkerKind::Regression {
                RED
            } else {
                color(note.series)
            };
            let label = clip(&printable(&self.series[note.series].label), 60);
            let text = format!(
                "{}  {label}: {}",
                note.tag,
                clip(&printable(&note.text), 80)
            );
            let style = TextStyle::from(("sans-serif", 13).into_font()).color(&c);
            root.draw(&Text::new(
                text,
                (LEFT as i32, y0 + row as i32 * ROW as i32),
                style,
            ))
            .map_err(draw_err)?;
        }
        if self.notes.len() > MAX_NOTES {
            let text = format!(
                "... and {} more (`northstar regressions` lists every verdict)",
                self.notes.len() - MAX_NOTES
            );
            let style = TextStyle::from(("sans-serif", 13).into_font()).color(&INK);
            let y = y0 + MAX_NOTES as i32 * ROW as i32;
            root.draw(&Text::new(text, (LEFT as i32, y), style))
                .map_err(draw_err)?;
        }
        Ok(())
    }
}

type Chart2d<'c, DB> = plotters::chart::ChartContext<
    'c,
    DB,
    plotters::coord::cartesian::Cartesian2d<
        plotters::coord::types::RangedCoordf64,
        plotters::coord::types::RangedCoordf64,
    >,
>;

/// The time and value range of every finite point and whisker end; `(u64::MAX, 0, ..)` when
/// there is none.
fn data_range(series: &[Series]) -> (u64, u64, f64, f64) {
    let (mut t0, mut t1, mut v0, mut v1) = (u64::MAX, 0u64, f64::INFINITY, f64::NEG_INFINITY);
    let points = series.iter().flat_map(|s| s.points.iter().copied());
    let spreads = series
        .iter()
        .flat_map(|s| s.spread.iter().flat_map(|&(t, lo, hi)| [(t, lo), (t, hi)]));
    for (t, v) in points.chain(spreads).filter(|p| p.1.is_finite()) {
        t0 = t0.min(t);
        t1 = t1.max(t);
        v0 = v0.min(v);
        v1 = v1.max(v);
    }
    (t0, t1, v0, v1)
}

/// Tags markers in time order: `R1, R2, ...` for regressions, `C1, C2, ...` for change points.
fn number_markers(series: &[Series], markers: &[Marker]) -> Vec<Note> {
    let mut sorted: Vec<&Marker> = markers.iter().filter(|m| m.series < series.len()).collect();
    sorted.sort_by_key(|m| (m.kind == MarkerKind::ChangePoint, m.timestamp, m.series));
    let (mut r, mut c) = (0, 0);
    sorted
        .into_iter()
        .map(|m| {
            let tag = if m.kind == MarkerKind::Regression {
                r += 1;
                format!("R{r}")
            } else {
                c += 1;
                format!("C{c}")
            };
            Note {
                tag,
                series: m.series,
                text: m.text.clone(),
                kind: m.kind.clone(),
                timestamp: m.timestamp,
            }
        })
        .collect()
}

/// Series `i`'s point at backend pixel `(x, y)`: a filled circle, a filled square or a cross,
/// by `i` modulo 3.
fn draw_point<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    i: usize,
    (x, y): (i32, i32),
) -> Result<(), PlotError> {
    let c = color(i);
    match i % 3 {
        0 => root.draw(&Circle::new((x, y), 4, c.filled())),
        1 => root.draw(&Rectangle::new(
            [(x - 4, y - 4), (x + 4, y + 4)],
            c.filled(),
        )),
        _ => root.draw(&Cross::new((x, y), 4, c.stroke_width(2))),
    }
    .map_err(draw_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(label: &str, points: &[(u64, f64)]) -> Series {
        Series {
            label: label.into(),
            points: points.to_vec(),
            spread: vec![],
        }
    }

    /// Every `<text>` of a parsed SVG, trimmed; parsing fails on malformed XML.
    fn texts(svg: &str) -> Vec<String> {
        let doc = roxmltree::Document::parse(svg).expect("well-formed SVG");
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        doc.descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(|n| n.text().unwrap_or("").trim().to_string())
            .collect()
    }

    fn example() -> (Vec<Series>, Vec<Marker>) {
        let series = vec![
            series(
                "benchmark=kv_get",
                &[
                    (1_000_000_000, 100.0),
                    (2_000_000_000, 102.0),
                    (3_000_000_000, 140.0),
                ],
            ),
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
                text: "100 -> 140".into(),
            },
        ];
        (series, markers)
    }

    #[test]
    fn chart_holds_every_series_label_and_marker() {
        let (series, markers) = example();
        let svg = render_svg("benchmark_p99_latency_ns", "ns", &series, &markers).unwrap();
        let t = texts(&svg);
        let has = |s: &str| t.iter().any(|x| x == s);
        assert!(has("benchmark_p99_latency_ns"), "{t:?}");
        assert!(has("benchmark=kv_get (140)"), "{t:?}");
        assert!(has("benchmark=kv_put <&> (300)"), "{t:?}");
        assert!(
            svg.contains("benchmark=kv_put &lt;&amp;&gt;"),
            "escaped in the file"
        );
        assert!(has("R1") && has("C1"), "markers tagged on the chart: {t:?}");
        assert!(has("R1  benchmark=kv_get: +37% moderate"), "{t:?}");
        assert!(has("C1  benchmark=kv_get: 100 -> 140"), "{t:?}");
        assert!(has("benchmark_p99_latency_ns (ns)"), "value axis: {t:?}");
    }

    #[test]
    fn many_series_get_distinct_styles_and_legend_rows_that_do_not_overlap() {
        let series: Vec<Series> = (0..14u32)
            .map(|i| {
                let v = 100.0 + f64::from(i); // nearly equal: their line ends crowd together
                series(&format!("benchmark=b{i:02}"), &[(1, v), (2, v + 1.0)])
            })
            .collect();
        let svg = render_svg("m", "ns", &series, &[]).unwrap();
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let mut ys: Vec<f64> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter(|n| n.text().unwrap_or("").trim().starts_with("benchmark=b"))
            .map(|n| n.attribute("y").unwrap().parse().unwrap())
            .collect();
        assert_eq!(ys.len(), 14, "one legend row per series");
        ys.sort_by(f64::total_cmp);
        for w in ys.windows(2) {
            assert!(w[1] - w[0] >= 14.0, "legend rows overlap: {ys:?}");
        }
        let styles: std::collections::HashSet<(u8, u8, u8, usize)> = (0..14)
            .map(|i| {
                let c = color(i);
                (c.0, c.1, c.2, i % 3)
            })
            .collect();
        assert_eq!(
            styles.len(),
            14,
            "every series has its own colour and shape"
        );
        // The legend lists the highest line end first.
        let first = texts(&svg)
            .into_iter()
            .find(|s| s.starts_with("benchmark=b"))
            .unwrap();
        assert_eq!(first, "benchmark=b13 (114)");
    }

    #[test]
    fn empty_and_single_point_charts_render() {
        let t = texts(&render_svg("m", "", &[], &[]).unwrap());
        assert!(t.iter().any(|s| s == "no samples of this metric"), "{t:?}");
        let svg = render_svg("m", "", &[series("x", &[(5, 1.0)])], &[]).unwrap();
        texts(&svg);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn time_ticks_of_a_sub_second_history_are_distinct() {
        let t0 = 1_795_789_079_200_000_000u64;
        let points: Vec<(u64, f64)> = (0..4)
            .map(|i| (t0 + i * 150_000_000, 1.0 + i as f64))
            .collect();
        let svg = render_svg("m", "ns", &[series("x", &points)], &[]).unwrap();
        let ticks: Vec<String> = texts(&svg)
            .into_iter()
            .filter(|s| s.starts_with('+') || s == "03:37:59")
            .collect();
        // 450 ms: the first tick is the clock time, the rest offsets from it, all different.
        assert!(ticks.len() >= 4, "{ticks:?}");
        let unique: std::collections::HashSet<&String> = ticks.iter().collect();
        assert_eq!(unique.len(), ticks.len(), "{ticks:?}");
        assert!(ticks.iter().any(|s| s.ends_with("ms")), "{ticks:?}");
    }

    #[test]
    fn values_spanning_orders_of_magnitude_get_a_log_axis() {
        let both = [
            series("get", &[(1, 250.0), (2, 260.0)]),
            series("commit", &[(1, 2.5e6), (2, 2.9e6)]),
        ];
        let t = texts(&render_svg("p99", "ns", &both, &[]).unwrap());
        assert!(t.iter().any(|s| s == "p99 (ns), log scale"), "{t:?}");
        for tick in ["1000", "10k", "100k", "1M"] {
            assert!(t.iter().any(|s| s == tick), "missing tick {tick}: {t:?}");
        }
        // On the log axis the small series sits well clear of the large one.
        let chart = Chart::new("p99", "ns", &both, &[]);
        let frac = |v: f64| (chart.y(v) - chart.y0) / (chart.y1 - chart.y0);
        assert!(frac(2.5e6) - frac(260.0) > 0.5);
        // A narrow range stays linear.
        let narrow = [series("x", &[(1, 100.0), (2, 180.0)])];
        let t = texts(&render_svg("m", "ns", &narrow, &[]).unwrap());
        assert!(t.iter().any(|s| s == "m (ns)"), "{t:?}");
    }

    #[test]
    fn control_characters_are_shown_escaped() {
        let s = [series("bench=a\u{1b}]0;x\u{7}", &[(1, 1.0), (2, 2.0)])];
        let svg = render_svg("m\u{0}", "ns", &s, &[]).unwrap();
        assert!(!svg.chars().any(|c| c.is_control() && c != '\n'));
        let t = texts(&svg);
        assert!(t.iter().any(|s| s == "bench=a\\x1b]0;x\\x07 (2)"), "{t:?}");
    }

    #[test]
    fn png_is_a_real_png_of_the_chart() {
        let (series, markers) = example();
        let bytes = render_png("benchmark_p99_latency_ns", "ns", &series, &markers).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let chart = Chart::new("benchmark_p99_latency_ns", "ns", &series, &markers);
        let decoder = png::Decoder::new(std::io::Cursor::new(&bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (chart.width, chart.height));
        assert_eq!(info.color_type, png::ColorType::Rgb);
        let px: Vec<&[u8]> = buf[..info.buffer_size()].chunks(3).collect();
        let red = px.iter().filter(|p| **p == [RED.0, RED.1, RED.2]).count();
        assert!(
            red > 20,
            "the regression's red triangle and tag are drawn ({red} px)"
        );
        // Text is drawn too: another label changes the picture.
        let mut other = series.clone();
        other[0].label = "benchmark=kv_scan".into();
        assert_ne!(
            render_png("benchmark_p99_latency_ns", "ns", &other, &markers).unwrap(),
            bytes
        );
    }

    #[test]
    fn the_file_name_chooses_the_format() {
        assert_eq!(
            ImageFormat::from_path(Path::new("a/p.svg")).unwrap(),
            ImageFormat::Svg
        );
        assert_eq!(
            ImageFormat::from_path(Path::new("p.PNG")).unwrap(),
            ImageFormat::Png
        );
        for bad in ["p.jpg", "p", "p.svg.gz"] {
            let e = ImageFormat::from_path(Path::new(bad))
                .unwrap_err()
                .to_string();
            assert!(e.contains(bad) && e.contains(".svg or .png"), "{e}");
        }
    }

    #[test]
    fn ticks_are_round_numbers_in_range() {
        let t = nice_ticks(0.0, 97.0, 5);
        assert_eq!(t, vec![0.0, 20.0, 40.0, 60.0, 80.0]);
    }
}
