//! Line charts: several named series over a shared x axis, with axes, ticks and a legend.

use crate::escape;
use std::fmt::Write;

/// One series of a chart.
#[derive(Clone, Debug)]
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

/// A line chart.
#[derive(Clone, Debug, Default)]
pub struct LineChart {
    /// Title above the plot.
    pub title: String,
    /// Label under the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// The series, drawn in order.
    pub lines: Vec<Line>,
    /// Shaded bands, drawn under the lines.
    pub bands: Vec<Band>,
    /// Text of the tick at x (default: the number).
    pub x_tick_text: Option<fn(f64) -> String>,
    /// Vertical marker lines with labels, e.g. where validation starts.
    pub markers: Vec<(f64, String)>,
}

const WIDTH: f64 = 1000.0;
const HEIGHT: f64 = 520.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;

/// About five "nice" tick values (1, 2 or 5 × 10^k apart) covering `lo..hi`.
pub fn nice_ticks(lo: f64, hi: f64) -> Vec<f64> {
    if hi.partial_cmp(&lo) != Some(std::cmp::Ordering::Greater) {
        return vec![lo];
    }
    let raw = (hi - lo) / 5.0;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag);
    let mut t = (lo / step).ceil() * step;
    let mut ticks = Vec::new();
    while t <= hi + step * 1e-9 {
        ticks.push(t);
        t += step;
    }
    ticks
}

fn number(v: f64) -> String {
    if v.abs() >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if v.abs() >= 1e3 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    // A tick a rounding error below zero reads as 0, not -0.
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

impl LineChart {
    /// The chart as an SVG document.
    pub fn to_svg(&self) -> String {
        let band_points = self
            .bands
            .iter()
            .flat_map(|b| b.points.iter().flat_map(|&(x, lo, hi)| [(x, lo), (x, hi)]));
        let points = self
            .lines
            .iter()
            .flat_map(|l| l.points.iter().copied())
            .chain(band_points)
            .filter(|p| p.0.is_finite() && p.1.is_finite());
        let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
        for (x, y) in points {
            (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
        }
        if !x0.is_finite() {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        let pad = ((y1 - y0) * 0.05).max(1e-9);
        let (y0, y1) = (y0 - pad, y1 + pad);
        let x1 = if x1 > x0 { x1 } else { x0 + 1.0 };
        let (pw, ph) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
        let sx = |x: f64| LEFT + (x - x0) / (x1 - x0) * pw;
        let sy = |y: f64| TOP + (1.0 - (y - y0) / (y1 - y0)) * ph;
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
             font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"13\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <text x=\"{}\" y=\"28\" text-anchor=\"middle\" font-size=\"17\">{}</text>\n",
            WIDTH / 2.0,
            escape(&self.title)
        );
        for t in nice_ticks(y0, y1) {
            let y = sy(t);
            let _ = writeln!(
                s,
                "<line x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e5e5e5\"/>\
                 <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                WIDTH - RIGHT,
                LEFT - 6.0,
                y + 4.0,
                number(t)
            );
        }
        for t in nice_ticks(x0, x1) {
            let x = sx(t);
            let label = self.x_tick_text.map_or_else(|| number(t), |f| f(t));
            let _ = writeln!(
                s,
                "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{TOP}\" y2=\"{}\" stroke=\"#f0f0f0\"/>\
                 <text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                HEIGHT - BOTTOM,
                HEIGHT - BOTTOM + 18.0,
                escape(&label)
            );
        }
        for (x, label) in &self.markers {
            let x = sx(*x);
            let _ = writeln!(
                s,
                "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{TOP}\" y2=\"{}\" stroke=\"#888\" stroke-dasharray=\"2,3\"/>\
                 <text x=\"{:.1}\" y=\"{}\" fill=\"#555\">{}</text>",
                HEIGHT - BOTTOM,
                x + 4.0,
                TOP + 14.0,
                escape(label)
            );
        }
        let _ = writeln!(
            s,
            "<rect x=\"{LEFT}\" y=\"{TOP}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#333\"/>\n\
             <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n\
             <text transform=\"translate(18,{}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
            LEFT + pw / 2.0,
            HEIGHT - 15.0,
            escape(&self.x_label),
            TOP + ph / 2.0,
            escape(&self.y_label)
        );
        for band in &self.bands {
            let finite = || {
                band.points
                    .iter()
                    .filter(|p| p.0.is_finite() && p.1.is_finite() && p.2.is_finite())
            };
            let outline: Vec<String> = finite()
                .map(|&(x, _, hi)| format!("{:.1},{:.1}", sx(x), sy(hi)))
                .chain(finite().rev().map(|&(x, lo, _)| format!("{:.1},{:.1}", sx(x), sy(lo))))
                .collect();
            let _ = writeln!(
                s,
                "<polygon points=\"{}\" fill=\"{}\" fill-opacity=\"0.22\" stroke=\"none\"/>",
                outline.join(" "),
                escape(&band.color)
            );
        }
        for line in &self.lines {
            let mut d = String::new();
            let mut pen_down = false;
            for &(x, y) in &line.points {
                if !(x.is_finite() && y.is_finite()) {
                    pen_down = false;
                    continue;
                }
                let _ = write!(d, "{}{:.1},{:.1} ", if pen_down { "L" } else { "M" }, sx(x), sy(y));
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
        let legend: Vec<(&str, &str, &str)> = self
            .lines
            .iter()
            .map(|l| {
                (
                    l.name.as_str(),
                    l.color.as_str(),
                    if l.dashed { " stroke-dasharray=\"6,4\"" } else { "" },
                )
            })
            .chain(self.bands.iter().map(|b| {
                (
                    b.name.as_str(),
                    b.color.as_str(),
                    " stroke-opacity=\"0.3\" stroke-width=\"10\"",
                )
            }))
            .collect();
        let longest = legend.iter().map(|l| l.0.chars().count()).max().unwrap_or(0);
        let _ = writeln!(
            s,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"white\" fill-opacity=\"0.85\" stroke=\"#ccc\"/>",
            LEFT + 6.0,
            TOP + 5.0,
            44.0 + 7.5 * longest as f64,
            18.0 * legend.len() as f64 + 4.0
        );
        for (i, (name, color, style)) in legend.iter().enumerate() {
            let y = TOP + 16.0 + 18.0 * i as f64;
            let x = LEFT + 12.0;
            // A band shows as a wide translucent stroke, which sets its own width.
            let width = if style.contains("stroke-width") {
                ""
            } else {
                " stroke-width=\"3\""
            };
            let _ = writeln!(
                s,
                "<line x1=\"{x}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"{}\"{width}{style}/>\
                 <text x=\"{}\" y=\"{}\">{}</text>",
                x + 24.0,
                escape(color),
                x + 30.0,
                y + 4.0,
                escape(name)
            );
        }
        s + "</svg>\n"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(nice_ticks(0.0, 10.0), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(nice_ticks(130_000.0, 760_000.0), vec![200e3, 400e3, 600e3]);
        assert_eq!(number(250_000.0), "250k");
        assert_eq!(number(-1e-9), "0");
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
}
