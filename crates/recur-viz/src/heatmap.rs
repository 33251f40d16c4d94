//! A heat map of attention weights: one row per output token, one column per source token,
//! each cell as dark as its weight (every row sums to 1 over the source).

use crate::escape;
use std::fmt::Write;

const CELL: usize = 28;
const MARGIN: usize = 90;

/// The SVG of `weights[row][col]` with the output tokens down the left and the source tokens
/// along the top.
pub fn attention_svg(rows: &[String], cols: &[String], weights: &[Vec<f32>]) -> String {
    let (w, h) = (MARGIN + cols.len() * CELL + 10, MARGIN + rows.len() * CELL + 10);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"13\">\n<rect width=\"{w}\" height=\"{h}\" fill=\"white\"/>\n"
    );
    for (j, c) in cols.iter().enumerate() {
        let x = MARGIN + j * CELL + CELL / 2;
        let _ = writeln!(
            svg,
            "<text x=\"{x}\" y=\"{}\" text-anchor=\"start\" transform=\"rotate(-60 {x} {})\">{}</text>",
            MARGIN - 6,
            MARGIN - 6,
            escape(c)
        );
    }
    for (i, r) in rows.iter().enumerate() {
        let y = MARGIN + i * CELL;
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            MARGIN - 6,
            y + CELL / 2 + 5,
            escape(r)
        );
        for (j, &v) in weights
            .get(i)
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .enumerate()
            .take(cols.len())
        {
            // White for 0, dark blue for 1.
            let shade = |full: f32| (255.0 - (255.0 - full) * v.clamp(0.0, 1.0)).round() as u8;
            let _ = writeln!(
                svg,
                "<rect x=\"{}\" y=\"{y}\" width=\"{CELL}\" height=\"{CELL}\" fill=\"rgb({},{},{})\" stroke=\"#ddd\"/>",
                MARGIN + j * CELL,
                shade(8.0),
                shade(48.0),
                shade(107.0)
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attention_heatmap_has_a_cell_per_weight_and_escapes_labels() {
        let svg = attention_svg(
            &["a".into(), "</s>".into()],
            &["x".into(), "&".into()],
            &[vec![0.9, 0.1], vec![0.5, 0.5]],
        );
        assert_eq!(svg.matches("<rect x=").count(), 4);
        assert!(svg.contains("&lt;/s&gt;") && svg.contains("&amp;"));
        assert!(crate::svg_to_png(&svg).is_ok());
    }
}
