//! Line charts: several named series over a shared x axis, with axes, ticks and a legend; a
//! second y axis on the right for series in other units.

use crate::escape;
use crate::frame::{self, text_width};
use std::fmt::Write;

/// One series of a chart.
#[derive(Clone, Debug, Default)]
pub struct Line {
    /// Legend label.
    pub name: String,
    /// `(x, y)` points; a `NaN` y breaks the line.
    pub points: Vec<(f64, f64)>,
    /// CSS colour.
    pub color: String,
    /// Dashed stroke.
    pub dashed: bool,
    /// Stroke width in pixels.
    pub width: f64,
    /// Read against the right-hand axis ([`LineChart::y2_label`]) rather than the left one:
    /// for a series in other units than the rest, such as an error in the data's units beside a
    /// loss on standardised values, which would otherwise flatten one of them to a line.
    pub right_axis: bool,
}

/// A shaded band between a lower and an upper line, e.g. a prediction interval.
#[derive(Clone, Debug)]
pub struct Band {
    /// Legend label.
    pub name: String,
    /// `(x, low, high)` points in x order.
    pub points: Vec<(f64, f64, f64)>,
    /// CSS colour (drawn translucent).
    pub color: String,
}

/// A line chart: a title, the plot with both axes named, and the legend under the plot, where
/// it covers no line.
#[derive(Clone, Debug, Default)]
pub struct LineChart {
    /// Title above the plot.
    pub title: String,
    /// Label under the x axis.
    pub x_label: String,
    /// Label of the (left) y axis.
    pub y_label: String,
    /// Label of the right-hand y axis, drawn when a line has `right_axis`.
    pub y2_label: String,
    /// The series, drawn in order.
    pub lines: Vec<Line>,
    /// Shaded bands, drawn under the lines (against the left axis).
    pub bands: Vec<Band>,
    /// Text of the tick at x (default: the number).
    pub x_tick_text: Option<fn(f64) -> String>,
    /// Vertical marker lines with labels, e.g. where validation starts.
    pub markers: Vec<(f64, String)>,
}

const WIDTH: f64 = 1000.0;
const PLOT_HEIGHT: f64 = 400.0;
const TOP: f64 = 46.0;
/// Size of tick labels and legend entries.
const FONT: f64 = 13.0;
/// Room for a vertical axis title beside its tick labels.
const AXIS_TITLE_ROOM: f64 = 30.0;
/// Height of a legend row.
const LEGEND_ROW: f64 = 20.0;
/// Legend swatch length and the gap after it.
const SWATCH: f64 = 24.0;

/// The tick step covering `lo..hi` in about five steps of 1, 2 or 5 × 10^k.
fn tick_step(lo: f64, hi: f64) -> f64 {
    let raw = (hi - lo) / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
}

/// About five "nice" tick values (1, 2 or 5 × 10^k apart) covering `lo..hi`.
pub fn nice_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return vec![lo];
    }
    let step = tick_step(lo, hi);
    let mut t = (lo / step).ceil() * step;
    let mut ticks = Vec::new();
    while t <= hi + step * 1e-9 {
        ticks.push(t);
        t += step;
    }
    ticks
}

/// A tick's text, with as many decimals as the ticks' `step` needs (a loss axis from 0.001
/// to 0.004 reads 0.001, 0.002…, not 0, 0, …), thousands as `k` and millions as `M`.
fn tick_text(v: f64, step: f64) -> String {
    let (div, suffix) = match v.abs() {
        a if a >= 1e6 => (1e6, "M"),
        a if a >= 1e3 => (1e3, "k"),
        _ => (1.0, ""),
    };
    let decimals = (-(step / div).log10().floor()).clamp(0.0, 9.0) as usize;
    let s = format!("{:.decimals$}", v / div);
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    // A tick a rounding error below zero reads as 0, not -0.
    if s == "-0" {
        "0".into()
    } else {
        format!("{s}{suffix}")
    }
}

/// A value axis: the data range padded by 5%, its ticks, and where it lies on the page
/// (`top` pixel for `hi`, `bottom` for `lo`).
struct Axis {
    lo: f64,
    hi: f64,
    ticks: Vec<(f64, String)>,
    top: f64,
    bottom: f64,
}

impl Axis {
    /// The axis over `values` (finite ones; 0..1 when there are none).
    fn over(values: impl Iterator<Item = f64>, top: f64, bottom: f64) -> Axis {
        let (lo, hi) = values
            .filter(|v| v.is_finite())
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
        let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
        let pad = ((hi - lo) * 0.05).max(1e-9);
        let (lo, hi) = (lo - pad, hi + pad);
        let step = tick_step(lo, hi);
        let ticks = nice_ticks(lo, hi)
            .into_iter()
            .map(|t| (t, tick_text(t, step)))
            .collect();
        Axis {
            lo,
            hi,
            ticks,
            top,
            bottom,
        }
    }

    fn at(&self, v: f64) -> f64 {
        self.bottom - (v - self.lo) / (self.hi - self.lo) * (self.bottom - self.top)
    }

    /// Width of the widest tick label.
    fn label_width(&self) -> f64 {
        self.ticks.iter().map(|(_, t)| text_width(t, FONT)).fold(0.0, f64::max)
    }
}

/// Where the chart's parts go.
struct Layout {
    left: f64,
    right: f64,
    height: f64,
    /// Baseline of the legend's first row.
    legend_top: f64,
    /// Each legend entry's `(x, row)`.
    legend_at: Vec<(f64, usize)>,
}

/// A legend entry: its label, colour and the stroke style of its swatch.
struct Entry {
    name: String,
    color: String,
    style: &'static str,
}
/// The x axis: the data range and where it lies on the page.
struct XAxis {
    lo: f64,
    hi: f64,
    left: f64,
    right: f64,
}

impl XAxis {
    fn at(&self, x: f64) -> f64 {
        self.left + (x - self.lo) / (self.hi - self.lo) * (self.right - self.left)
    }
}

impl LineChart {
    fn has_right_axis(&self) -> bool {
        self.lines.iter().any(|l| l.right_axis)
    }

    /// The legend's entries: the lines (those read on the right-hand axis say so), then the
    /// bands as wide translucent strokes.
    fn legend(&self) -> Vec<Entry> {
        let both = self.has_right_axis() && self.lines.iter().any(|l| !l.right_axis);
        let lines = self.lines.iter().map(|l| Entry {
            name: match both && l.right_axis {
                true => format!("{} (right axis)", l.name),
                false => l.name.clone(),
            },
            color: l.color.clone(),
            style: if l.dashed {
                " stroke-width=\"3\" stroke-dasharray=\"6,4\""
            } else {
                " stroke-width=\"3\""
            },
        });
        let bands = self.bands.iter().map(|b| Entry {
            name: b.name.clone(),
            color: b.color.clone(),
            style: " stroke-opacity=\"0.3\" stroke-width=\"10\"",
        });
        lines.chain(bands).collect()
    }

    /// The left axis (lines not on the right, and the bands) and the right one, if any line is
    /// read on it.
    fn value_axes(&self, top: f64, bottom: f64) -> (Axis, Option<Axis>) {
        let on = |right: bool| {
            self.lines
                .iter()
                .filter(move |l| l.right_axis == right)
                .flat_map(|l| l.points.iter().map(|p| p.1))
        };
        let bands = self.bands.iter().flat_map(|b| b.points.iter().flat_map(|p| [p.1, p.2]));
        let left = Axis::over(on(false).chain(bands), top, bottom);
        let right = self.has_right_axis().then(|| Axis::over(on(true), top, bottom));
        (left, right)
    }

    /// The x range of every finite point (0..1 when there are none; never empty).
    fn x_range(&self) -> (f64, f64) {
        let xs = self
            .lines
            .iter()
            .flat_map(|l| l.points.iter().map(|p| p.0))
            .chain(self.bands.iter().flat_map(|b| b.points.iter().map(|p| p.0)))
            .filter(|x| x.is_finite());
        let (lo, hi) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(x), hi.max(x)));
        match (lo.is_finite(), hi > lo) {
            (false, _) => (0.0, 1.0),
            (true, true) => (lo, hi),
            (true, false) => (lo, lo + 1.0),
        }
    }

    /// Margins sized to the tick labels, so none is cut off, and the legend flowed into rows
    /// under the x axis's title.
    fn layout(left_axis: &Axis, right_axis: Option<&Axis>, legend: &[Entry]) -> Layout {
        let left = AXIS_TITLE_ROOM + left_axis.label_width() + 10.0;
        let right = right_axis.map_or(24.0, |a| a.label_width() + 10.0 + AXIS_TITLE_ROOM);
        let (mut x, mut row, mut legend_at) = (left, 0, Vec::new());
        for entry in legend {
            let w = SWATCH + 6.0 + text_width(&entry.name, FONT) + 20.0;
            if x + w > WIDTH - right && x > left {
                (x, row) = (left, row + 1);
            }
            legend_at.push((x, row));
            x += w;
        }
        let rows = if legend.is_empty() { 0 } else { row + 1 };
        let legend_top = TOP + PLOT_HEIGHT + 70.0;
        Layout {
            left,
            right,
            height: legend_top + rows as f64 * LEGEND_ROW,
            legend_top,
            legend_at,
        }
    }

    /// The chart as an SVG document.
    pub fn to_svg(&self) -> String {
        let bottom = TOP + PLOT_HEIGHT;
        let (left_axis, right_axis) = self.value_axes(TOP, bottom);
        let legend = self.legend();
        let layout = Self::layout(&left_axis, right_axis.as_ref(), &legend);
        let (lo, hi) = self.x_range();
        let x_axis = XAxis {
            lo,
            hi,
            left: layout.left,
            right: WIDTH - layout.right,
        };
        let mut s = frame::open(WIDTH, layout.height, FONT);
        s += &frame::title(&self.title, WIDTH / 2.0, 28.0, WIDTH - 20.0);
        draw_value_ticks(&mut s, &left_axis, &x_axis, false);
        if let Some(axis) = &right_axis {
            draw_value_ticks(&mut s, axis, &x_axis, true);
        }
        self.draw_x_ticks(&mut s, &x_axis, bottom);
        self.draw_markers(&mut s, &x_axis, bottom);
        let (plot_w, middle) = (x_axis.right - x_axis.left, TOP + PLOT_HEIGHT / 2.0);
        let _ = writeln!(
            s,
            "<rect x=\"{:.1}\" y=\"{TOP}\" width=\"{plot_w:.1}\" height=\"{PLOT_HEIGHT}\" fill=\"none\" stroke=\"#333\"/>",
            x_axis.left
        );
        s += &frame::axis_title(&self.x_label, x_axis.left + plot_w / 2.0, bottom + 44.0, plot_w, false);
        s += &frame::axis_title(&self.y_label, 16.0, middle, PLOT_HEIGHT, true);
        if right_axis.is_some() {
            s += &frame::axis_title(&self.y2_label, WIDTH - 12.0, middle, PLOT_HEIGHT, true);
        }
        self.draw_bands(&mut s, &x_axis, &left_axis);
        for line in &self.lines {
            let axis = match (&right_axis, line.right_axis) {
                (Some(right), true) => right,
                _ => &left_axis,
            };
            draw_line(&mut s, line, &x_axis, axis);
        }
        draw_legend(&mut s, &legend, &layout);
        s + "</svg>\n"
    }

    /// The x ticks with their grid lines; a label at either end is kept inside the picture.
    fn draw_x_ticks(&self, s: &mut String, x_axis: &XAxis, bottom: f64) {
        for t in nice_ticks(x_axis.lo, x_axis.hi) {
            let x = x_axis.at(t);
            let step = tick_step(x_axis.lo, x_axis.hi);
            let label = self.x_tick_text.map_or_else(|| tick_text(t, step), |f| f(t));
            let half = text_width(&label, FONT) / 2.0;
            let text_x = x.clamp(half + 2.0, WIDTH - half - 2.0);
            let _ = writeln!(
                s,
                "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{TOP}\" y2=\"{bottom}\" stroke=\"#f0f0f0\"/>\
                 <text x=\"{text_x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                bottom + 18.0,
                escape(&label)
            );
        }
    }

    /// The markers; a label near the right edge is written left of its line, not off the plot.
    fn draw_markers(&self, s: &mut String, x_axis: &XAxis, bottom: f64) {
        for (x, label) in &self.markers {
            let x = x_axis.at(*x);
            let near_right = x + 4.0 + text_width(label, FONT) > x_axis.right;
            let (text_x, anchor) = if near_right {
                (x - 4.0, "end")
            } else {
                (x + 4.0, "start")
            };
            let _ = writeln!(
                s,
                "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{TOP}\" y2=\"{bottom}\" stroke=\"#888\" stroke-dasharray=\"2,3\"/>\
                 <text x=\"{text_x:.1}\" y=\"{}\" text-anchor=\"{anchor}\" fill=\"#555\">{}</text>",
                TOP + 14.0,
                escape(label)
            );
        }
    }

    fn draw_bands(&self, s: &mut String, x_axis: &XAxis, axis: &Axis) {
        for band in &self.bands {
            let finite = || {
                band.points
                    .iter()
                    .filter(|p| p.0.is_finite() && p.1.is_finite() && p.2.is_finite())
            };
            let outline: Vec<String> = finite()
                .map(|&(x, _, hi)| format!("{:.1},{:.1}", x_axis.at(x), axis.at(hi)))
                .chain(
                    finite()
                        .rev()
                        .map(|&(x, lo, _)| format!("{:.1},{:.1}", x_axis.at(x), axis.at(lo))),
                )
                .collect();
            let _ = writeln!(
                s,
                "<polygon points=\"{}\" fill=\"{}\" fill-opacity=\"0.22\" stroke=\"none\"/>",
                outline.join(" "),
                escape(&band.color)
            );
        }
    }
}

/// An axis's ticks: on the left with grid lines across the plot, or on the right (`right`)
/// with tick marks only.
fn draw_value_ticks(s: &mut String, axis: &Axis, x_axis: &XAxis, right: bool) {
    for (t, label) in &axis.ticks {
        let y = axis.at(*t);
        let _ = if right {
            writeln!(
                s,
                "<line x1=\"{0:.1}\" x2=\"{1:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#333\"/>\
                 <text x=\"{2:.1}\" y=\"{3:.1}\" text-anchor=\"start\">{4}</text>",
                x_axis.right,
                x_axis.right + 5.0,
                x_axis.right + 8.0,
                y + 4.0,
                escape(label)
            )
        } else {
            writeln!(
                s,
                "<line x1=\"{0:.1}\" x2=\"{1:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e5e5e5\"/>\
                 <text x=\"{2:.1}\" y=\"{3:.1}\" text-anchor=\"end\">{4}</text>",
                x_axis.left,
                x_axis.right,
                x_axis.left - 6.0,
                y + 4.0,
                escape(label)
            )
        };
    }
}

/// A line read against `axis`; a non-finite point lifts the pen.
fn draw_line(s: &mut String, line: &Line, x_axis: &XAxis, axis: &Axis) {
    let mut d = String::new();
    let mut pen_down = false;
    for &(x, y) in &line.points {
        if !(x.is_finite() && y.is_finite()) {
            pen_down = false;
            continue;
        }
        let _ = write!(
            d,
            "{}{:.1},{:.1} ",
            if pen_down { "L" } else { "M" },
            x_axis.at(x),
            axis.at(y)
        );
        pen_down = true;
    }
    let dash = if line.dashed { " stroke-dasharray=\"6,4\"" } else { "" };
    let _ = writeln!(
        s,
        "<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\"{dash}/>",
        d.trim_end(),
        escape(&line.color),
        line.width
    );
}

/// The legend under the plot, each entry a swatch and its label.
fn draw_legend(s: &mut String, legend: &[Entry], layout: &Layout) {
    for (entry, &(x, row)) in legend.iter().zip(&layout.legend_at) {
        let y = layout.legend_top + row as f64 * LEGEND_ROW;
        let _ = writeln!(
            s,
            "<line x1=\"{x:.1}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{}\"{}/>\
             <text class=\"legend\" x=\"{:.1}\" y=\"{y:.1}\">{}</text>",
            x + SWATCH,
            y - 4.0,
            y - 4.0,
            escape(&entry.color),
            entry.style,
            x + SWATCH + 6.0,
            escape(&entry.name)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(nice_ticks(0.0, 10.0), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(nice_ticks(130_000.0, 760_000.0), vec![200e3, 400e3, 600e3]);
        assert_eq!(tick_text(250_000.0, 200_000.0), "250k");
        assert_eq!(tick_text(-1e-9, 1.0), "0");
        assert_eq!(tick_text(0.0015, 0.0005), "0.0015");
    }

    #[test]
    fn renders_svg_and_png() {
        let chart = LineChart {
            title: "a <test>".into(),
            lines: vec![Line {
                name: "y".into(),
                points: vec![(0.0, 1.0), (1.0, f64::NAN), (2.0, 3.0), (3.0, 2.0)],
                color: "steelblue".into(),
                dashed: false,
                width: 1.5,
                right_axis: false,
            }],
            bands: vec![Band {
                name: "80% interval".into(),
                points: vec![(0.0, 0.5, 1.5), (3.0, 1.0, 4.0)],
                color: "steelblue".into(),
            }],
            ..LineChart::default()
        };
        let svg = chart.to_svg();
        assert!(svg.contains("a &lt;test&gt;") && svg.contains("M") && svg.contains("</svg>"));
        assert!(svg.contains("<polygon") && svg.contains("80% interval"));
        let png = crate::svg_to_png(&svg).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }

    fn line(name: &str, points: Vec<(f64, f64)>, right_axis: bool) -> Line {
        Line {
            name: name.into(),
            points,
            color: "#1f77b4".into(),
            width: 2.0,
            right_axis,
            ..Line::default()
        }
    }

    /// A standardised loss (about 0.05) and an MAE in the data's units (about 300) share a
    /// chart: the MAE is read on a second axis of its own, so neither is flattened.
    #[test]
    fn chart_of_standardised_loss_and_mae_gets_a_second_axis() {
        let chart = LineChart {
            title: "Learning curve".into(),
            x_label: "epoch".into(),
            y_label: "loss (standardised)".into(),
            y2_label: "MAE (data units)".into(),
            lines: vec![
                line("training loss", vec![(1.0, 0.09), (2.0, 0.05)], false),
                line("val_mae", vec![(1.0, 1100.0), (2.0, 290.0)], true),
            ],
            ..LineChart::default()
        };
        let svg = chart.to_svg();
        assert!(svg.contains(">MAE (data units)</text>") && svg.contains(">loss (standardised)</text>"));
        assert!(svg.contains(">val_mae (right axis)</text>"), "{svg}");
        // The right axis's ticks are in the MAE's range, the left one's in the loss's.
        assert!(svg.contains("text-anchor=\"start\">1k</text>"), "{svg}");
        assert!(svg.contains("text-anchor=\"end\">0.06</text>"), "{svg}");
        assert!(crate::svg_to_png(&svg).is_ok());
    }

    #[test]
    fn chart_has_title_axis_titles_and_no_second_axis_unasked() {
        let chart = LineChart {
            title: "T".into(),
            x_label: "epoch".into(),
            y_label: "loss".into(),
            y2_label: "unused".into(),
            lines: vec![line("training loss", vec![(1.0, 0.002), (2.0, 0.001)], false)],
            ..LineChart::default()
        };
        let svg = chart.to_svg();
        assert!(svg.contains("class=\"title\"") && svg.contains(">T</text>"));
        assert!(svg.contains(">epoch</text>") && svg.contains(">loss</text>"));
        assert!(!svg.contains("unused") && !svg.contains("right axis"));
        // Ticks of a small loss keep their decimals instead of all reading 0.
        assert!(
            svg.contains(">0.0015</text>") || svg.contains(">0.0012</text>"),
            "{svg}"
        );
    }

    /// The number in the attribute `attribute` (e.g. `y="`) first met in `svg`.
    fn first_number_after(svg: &str, attribute: &str) -> f64 {
        let value = svg.split(attribute).nth(1).unwrap().split('"').next().unwrap();
        value.parse().unwrap()
    }

    /// The legend is drawn under the plot, where it covers no line, whatever its length.
    #[test]
    fn chart_legend_sits_below_the_plot() {
        let lines = (0..8)
            .map(|k| {
                line(
                    &format!("a rather long series name {k}"),
                    vec![(0.0, k as f64), (1.0, 1.0)],
                    false,
                )
            })
            .collect();
        let svg = LineChart {
            lines,
            ..LineChart::default()
        }
        .to_svg();
        let plot_bottom = TOP + PLOT_HEIGHT;
        for part in svg.split("<text class=\"legend\"").skip(1) {
            let y = first_number_after(part, "y=\"");
            assert!(y > plot_bottom + 40.0, "legend entry at {y}");
        }
        assert_eq!(svg.matches("class=\"legend\"").count(), 8);
        let height = first_number_after(&svg, "height=\"");
        assert!(
            height > plot_bottom + 70.0 + 20.0,
            "the legend's rows make the picture taller"
        );
    }

    /// A marker at the right edge is labelled left of its line, inside the plot.
    #[test]
    fn chart_marker_label_at_the_right_edge_stays_inside() {
        let svg = LineChart {
            lines: vec![line("y", vec![(0.0, 0.0), (10.0, 1.0)], false)],
            markers: vec![(10.0, "last value".into())],
            ..LineChart::default()
        }
        .to_svg();
        assert!(
            svg.contains("text-anchor=\"end\" fill=\"#555\">last value</text>"),
            "{svg}"
        );
    }
}
