//! Sketches as SVG, as sketch-rnn's `draw_strokes` and `make_grid_svg` draw them: one drawing,
//! or a grid of drawings each with a caption; and a confusion matrix as a heat map.

use crate::escape;
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
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{size}\" height=\"{size}\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{}</svg>\n",
        strokes_path(strokes, 0.0, 0.0, size)
    )
}

/// Drawings in a grid of `columns`, each captioned (captions may be empty).
pub fn grid_svg(items: &[(Strokes, String)], columns: usize, cell: f64) -> String {
    let columns = columns.clamp(1, items.len().max(1));
    let rows = items.len().div_ceil(columns).max(1);
    let caption = 18.0;
    let (w, h) = (columns as f64 * cell, rows as f64 * (cell + caption));
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    for (i, (strokes, label)) in items.iter().enumerate() {
        let (x, y) = ((i % columns) as f64 * cell, (i / columns) as f64 * (cell + caption));
        let _ = write!(
            s,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"#ddd\"/>\n{}",
            x + 2.0,
            y + 2.0,
            cell - 4.0,
            cell + caption - 4.0,
            strokes_path(strokes, x + 8.0, y + 6.0, cell - 16.0)
        );
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x + cell / 2.0,
            y + cell + caption - 8.0,
            escape(label)
        );
    }
    s + "</svg>\n"
}

/// A confusion matrix (rows: true class, columns: predicted) as a heat map of row shares.
pub fn confusion_svg(classes: &[String], counts: &[Vec<usize>]) -> String {
    let n = classes.len();
    let cell = (560.0 / n.max(1) as f64).clamp(4.0, 36.0);
    let label_w = 150.0;
    let size = label_w + cell * n as f64 + 20.0;
    let font = (cell * 0.4).clamp(3.0, 12.0);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{size:.0}\" height=\"{size:.0}\" \
         font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"{font:.1}\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    for (r, row) in counts.iter().enumerate() {
        let total: usize = row.iter().sum();
        let y = label_w + r as f64 * cell;
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            label_w - 4.0,
            y + cell * 0.65,
            escape(&classes[r])
        );
        for (c, &k) in row.iter().enumerate() {
            let share = if total > 0 { k as f64 / total as f64 } else { 0.0 };
            let shade = (255.0 * (1.0 - share)).round() as u8;
            let x = label_w + c as f64 * cell;
            let _ = write!(
                s,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{cell:.1}\" height=\"{cell:.1}\" fill=\"rgb({shade},{shade},255)\" stroke=\"#eee\"/>"
            );
            if k > 0 && cell >= 14.0 {
                let color = if share > 0.5 { "white" } else { "black" };
                let _ = write!(
                    s,
                    "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"{color}\">{k}</text>",
                    x + cell / 2.0,
                    y + cell * 0.65
                );
            }
            s.push('\n');
        }
    }
    for (c, name) in classes.iter().enumerate() {
        let x = label_w + c as f64 * cell + cell * 0.65;
        let _ = writeln!(
            s,
            "<text transform=\"translate({x:.1},{:.1}) rotate(-60)\">{}</text>",
            label_w - 4.0,
            escape(name)
        );
    }
    s + "</svg>\n"
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

    /// `render --grid --out x.png` of a huge grid used to ask tiny-skia for gigabytes.
    #[test]
    fn png_of_a_huge_picture_is_refused() {
        let items: Vec<(Strokes, String)> = vec![(vec![vec![[0.0, 0.0]]], String::new()); 6000];
        let e = crate::svg_to_png(&grid_svg(&items, 1, 120.0)).unwrap_err();
        assert!(e.contains("more than the"), "{e}");
    }
}
