//! Sketches as SVG, as sketch-rnn's `draw_strokes` and `make_grid_svg` draw them: one drawing,
//! or a grid of drawings each with a caption; and a confusion matrix as a heat map.

use crate::escape;
use crate::frame;
use crate::heatmap::Heatmap;
use std::fmt::Write;

/// One drawing's strokes (absolute points).
pub type Strokes = Vec<Vec<[f32; 2]>>;

/// A path for the strokes, scaled into a `size`-pixel square at `(x, y)`.
fn strokes_path(strokes: &Strokes, x: f64, y: f64, size: f64) -> String {
    let pts = strokes.iter().flatten();
    let (mut x0, mut y0, mut x1, mut y1) = (f32::INFINITY, f32::INFINITY, f32::NEG_INFINITY, f32::NEG_INFINITY);
    for p in pts {
        (x0, y0, x1, y1) = (x0.min(p[0]), y0.min(p[1]), x1.max(p[0]), y1.max(p[1]));
    }
    if !x0.is_finite() {
        return String::new();
    }
    let extent = (x1 - x0).max(y1 - y0).max(1e-6) as f64;
    let scale = size * 0.9 / extent;
    let (ox, oy) = (
        x + (size - (x1 - x0) as f64 * scale) / 2.0,
        y + (size - (y1 - y0) as f64 * scale) / 2.0,
    );
    let mut d = String::new();
    for s in strokes {
        for (i, p) in s.iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1} ",
                if i == 0 { "M" } else { "L" },
                ox + (p[0] - x0) as f64 * scale,
                oy + (p[1] - y0) as f64 * scale
            );
        }
        if s.len() == 1 {
            d += "l0.1,0 ";
        }
    }
    format!(
        "<path d=\"{}\" fill=\"none\" stroke=\"black\" stroke-width=\"2\" stroke-linecap=\"round\" stroke-linejoin=\"round\"/>\n",
        d.trim_end()
    )
}

/// One drawing on a white square.
pub fn drawing_svg(strokes: &Strokes, size: f64) -> String {
    frame::open(size, size, 12.0) + &strokes_path(strokes, 0.0, 0.0, size) + "</svg>\n"
}

/// Drawings in a grid of `columns`, each captioned (captions may be empty).
pub fn grid_svg(items: &[(Strokes, String)], columns: usize, cell: f64) -> String {
    titled_grid(items, columns, cell, None)
}

/// Height of a grid's title line.
const GRID_TITLE: f64 = 34.0;

/// Drawings in a grid of `columns` under an optional title, each captioned.
fn titled_grid(items: &[(Strokes, String)], columns: usize, cell: f64, title: Option<&str>) -> String {
    let columns = columns.clamp(1, items.len().max(1));
    let rows = items.len().div_ceil(columns).max(1);
    let caption = 18.0;
    let top = if title.is_some() { GRID_TITLE } else { 0.0 };
    let (w, h) = (columns as f64 * cell, top + rows as f64 * (cell + caption));
    let mut s = frame::open(w, h, 12.0);
    if let Some(title) = title {
        s += &frame::title(title, w / 2.0, 24.0, w - 8.0);
    }
    for (i, (strokes, label)) in items.iter().enumerate() {
        let (x, y) = (
            (i % columns) as f64 * cell,
            top + (i / columns) as f64 * (cell + caption),
        );
        let _ = write!(
            s,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"#ddd\"/>\n{}",
            x + 2.0,
            y + 2.0,
            cell - 4.0,
            cell + caption - 4.0,
            strokes_path(strokes, x + 8.0, y + 6.0, cell - 16.0)
        );
        // A long caption shrinks to its cell rather than run into the next one.
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"{:.1}\">{}</text>",
            x + cell / 2.0,
            y + cell + caption - 8.0,
            frame::fitted_size(label, 12.0, cell - 8.0),
            escape(label)
        );
    }
    s + "</svg>\n"
}

/// The most confident mistakes of `mistakes_total` as a grid under a title, each captioned
/// `true → predicted confidence`; with no mistakes, a picture that says so (not a blank page).
pub fn mistakes_svg(items: &[(Strokes, String)], mistakes_total: usize) -> String {
    const COLUMNS: usize = 6;
    const CELL: f64 = 160.0;
    if items.is_empty() {
        let (w, h) = (COLUMNS as f64 * CELL, 140.0);
        return frame::open(w, h, 12.0)
            + &frame::title("Most confident mistakes", w / 2.0, 24.0, w - 8.0)
            + &format!(
                "<text class=\"empty\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"22\" \
                 fill=\"#555\">no mistakes</text>\n</svg>\n",
                w / 2.0,
                h / 2.0 + 20.0
            );
    }
    let title = format!(
        "Most confident mistakes (true → predicted, confidence): {} of {mistakes_total}",
        items.len()
    );
    titled_grid(items, COLUMNS, CELL, Some(&title))
}

/// A confusion matrix (rows: true class, columns: predicted) as a heat map of row shares, under
/// a title giving the share right.
pub fn confusion_svg(classes: &[String], counts: &[Vec<usize>]) -> String {
    let n = classes.len();
    let cell = (560.0 / n.max(1) as f64).clamp(4.0, 36.0);
    let total: usize = counts.iter().flatten().sum();
    let right: usize = counts.iter().enumerate().filter_map(|(i, row)| row.get(i)).sum();
    let shares = counts
        .iter()
        .map(|row| {
            let sum = row.iter().sum::<usize>().max(1) as f64;
            row.iter().map(|&k| k as f64 / sum).collect()
        })
        .collect();
    // Counts are written where a cell has room for them.
    let cell_text = counts
        .iter()
        .map(|row| {
            row.iter()
                .map(|&k| {
                    if k > 0 && cell >= 14.0 {
                        k.to_string()
                    } else {
                        String::new()
                    }
                })
                .collect()
        })
        .collect();
    Heatmap {
        title: format!(
            "Confusion matrix: {right} of {total} right ({:.1}%)",
            100.0 * right as f64 / total.max(1) as f64
        ),
        row_title: "true class".into(),
        column_title: "predicted class".into(),
        rows: classes.to_vec(),
        columns: classes.to_vec(),
        shades: shares,
        cell_text,
        cell,
        color: [0, 0, 255],
        show_spaces: false,
    }
    .to_svg()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_and_confusion_render() {
        let star: Strokes = vec![vec![[0.0, 0.0], [10.0, 10.0]], vec![[3.0, 3.0]]];
        let svg = grid_svg(&[(star.clone(), "star".into()), (star, "a & b".into())], 2, 100.0);
        assert!(svg.contains("a &amp; b") && svg.matches("<path").count() == 2);
        let m = confusion_svg(&["x".into(), "y".into()], &[vec![3, 1], vec![0, 4]]);
        assert!(m.contains(">3<") && crate::svg_to_png(&m).is_ok());
    }

    #[test]
    fn confusion_matrix_has_a_title_and_axis_titles() {
        let classes = ["paint can".to_string(), "cat".to_string()];
        let m = confusion_svg(&classes, &[vec![3, 1], vec![0, 4]]);
        assert!(m.contains(">Confusion matrix: 7 of 8 right (87.5%)</text>"), "{m}");
        assert!(m.contains(">true class</text>") && m.contains(">predicted class</text>"));
        assert!(m.contains(">paint can</text>"), "class names keep their spaces");
    }

    #[test]
    fn empty_mistakes_grid_says_no_mistakes() {
        let svg = mistakes_svg(&[], 0);
        assert!(svg.contains(">no mistakes</text>") && svg.contains(">Most confident mistakes</text>"));
        assert!(crate::svg_to_png(&svg).is_ok());
        let star: Strokes = vec![vec![[0.0, 0.0], [10.0, 10.0]]];
        let some = mistakes_svg(&[(star, "cat → dog 90%".into())], 12);
        assert!(some.contains("1 of 12") && !some.contains("no mistakes"));
    }

    /// `render --grid --out x.png` of a huge grid used to ask tiny-skia for gigabytes.
    #[test]
    fn png_of_a_huge_picture_is_refused() {
        let items: Vec<(Strokes, String)> = vec![(vec![vec![[0.0, 0.0]]], String::new()); 6000];
        let e = crate::svg_to_png(&grid_svg(&items, 1, 120.0)).unwrap_err();
        assert!(e.contains("more than the"), "{e}");
    }
}
