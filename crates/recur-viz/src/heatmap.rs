//! Heat maps: a grid of shaded cells with labelled rows and columns under a title, each axis
//! named. Attention weights (one row per output token, one column per source token) and
//! confusion matrices are drawn with it.

use crate::escape;
use crate::frame::{self, text_width, visible_token};
use std::fmt::Write;

/// A grid of cells, each shaded from white (0) to `color` (1).
#[derive(Clone, Debug, Default)]
pub struct Heatmap {
    /// Title above the grid.
    pub title: String,
    /// What the rows are (down the left side), e.g. "true class".
    pub row_title: String,
    /// What the columns are (above the grid), e.g. "predicted class".
    pub column_title: String,
    /// Row labels, top to bottom.
    pub rows: Vec<String>,
    /// Column labels, left to right.
    pub columns: Vec<String>,
    /// `shades[row][column]` in 0..=1 (clamped); missing cells are left out.
    pub shades: Vec<Vec<f64>>,
    /// Text written in a cell (same shape as `shades`; empty or missing: none).
    pub cell_text: Vec<Vec<String>>,
    /// Side of a cell in pixels.
    pub cell: f64,
    /// RGB colour of a full cell.
    pub color: [u8; 3],
    /// Draw spaces in labels as `␣` (tokens, where a space is itself a token), not as gaps
    /// (names such as "paint can").
    pub show_spaces: bool,
}

/// Space left of the row labels, for the rows' axis title.
const ROW_TITLE_SPACE: f64 = 28.0;
/// Height of the title's line.
const TITLE_SPACE: f64 = 34.0;
/// Height of the columns' axis title line.
const COLUMN_TITLE_SPACE: f64 = 22.0;
/// Gap between a label and the grid.
const GAP: f64 = 6.0;
/// Margin right of and below the grid.
const MARGIN: f64 = 16.0;
/// Narrowest a heat map is drawn, so its title has room.
const MIN_WIDTH: f64 = 360.0;

impl Heatmap {
    /// Size of the row and column labels: about 45% of a cell, between 4 and 16 pixels.
    fn label_size(&self) -> f64 {
        (self.cell * 0.45).clamp(4.0, 16.0)
    }

    /// Whether the column labels are too wide to stand upright in their cells (then they are
    /// drawn slanted).
    fn slanted(&self, columns: &[String]) -> bool {
        columns
            .iter()
            .any(|c| text_width(c, self.label_size()) > self.cell - 2.0)
    }

    /// The heat map as an SVG document.
    pub fn to_svg(&self) -> String {
        let font = self.label_size();
        let shown = |labels: &[String]| -> Vec<String> {
            match self.show_spaces {
                true => labels.iter().map(|l| visible_token(l)).collect(),
                false => labels.to_vec(),
            }
        };
        let (rows, columns) = (shown(&self.rows), shown(&self.columns));
        let widest = |labels: &[String]| labels.iter().map(|l| text_width(l, font)).fold(0.0, f64::max);
        let slanted = self.slanted(&columns);
        // A label slanted 60° rises sin 60° ≈ 0.87 of its length.
        let column_labels = if slanted { widest(&columns) * 0.87 } else { font } + GAP;
        let left = ROW_TITLE_SPACE + widest(&rows) + GAP;
        let top = TITLE_SPACE + COLUMN_TITLE_SPACE + column_labels;
        let (grid_w, grid_h) = (self.cell * columns.len() as f64, self.cell * rows.len() as f64);
        // A slanted label leans right by cos 60° = half its length, past the grid at the end.
        let lean = |j: usize, label: &String| {
            (j as f64 + 0.5) * self.cell + font * 0.35 + 0.5 * text_width(label, font) - grid_w
        };
        let overhang = match slanted {
            true => columns.iter().enumerate().map(|(j, c)| lean(j, c)).fold(0.0, f64::max),
            false => 0.0,
        };
        let width = (left + grid_w + overhang.max(0.0) + MARGIN).max(MIN_WIDTH);
        let height = top + grid_h + MARGIN;
        let mut s = frame::open(width, height, font);
        s += &frame::title(&self.title, width / 2.0, 24.0, width - 16.0);
        // Each axis title is centred on its side of the grid, shrunk to stay in the picture.
        let room = |at: f64, size: f64| 2.0 * at.min(size - at) - 8.0;
        let (column_x, row_y) = (left + grid_w / 2.0, top + grid_h / 2.0);
        let column_title_y = TITLE_SPACE + 15.0;
        s += &frame::axis_title(
            &self.column_title,
            column_x,
            column_title_y,
            room(column_x, width),
            false,
        );
        s += &frame::axis_title(&self.row_title, 18.0, row_y, room(row_y, height), true);
        for (j, label) in columns.iter().enumerate() {
            let x = left + (j as f64 + 0.5) * self.cell;
            let y = top - GAP;
            let _ = if slanted {
                writeln!(
                    s,
                    "<text transform=\"translate({:.1},{y:.1}) rotate(-60)\">{}</text>",
                    x + font * 0.35,
                    escape(label)
                )
            } else {
                writeln!(
                    s,
                    "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"middle\">{}</text>",
                    escape(label)
                )
            };
        }
        for (i, label) in rows.iter().enumerate() {
            let y = top + i as f64 * self.cell;
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                left - GAP,
                y + self.cell / 2.0 + font * 0.35,
                escape(label)
            );
            self.draw_row(&mut s, i, left, y);
        }
        s + "</svg>\n"
    }

    /// Row `i`'s cells, their top-left corner at `(left, y)`.
    fn draw_row(&self, s: &mut String, i: usize, left: f64, y: f64) {
        let shades = self.shades.get(i).map(Vec::as_slice).unwrap_or(&[]);
        for (j, &v) in shades.iter().enumerate().take(self.columns.len()) {
            let v = if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 };
            let shade = |full: u8| (255.0 - (255.0 - f64::from(full)) * v).round() as u8;
            let [r, g, b] = self.color;
            let x = left + j as f64 * self.cell;
            let cell = self.cell;
            let _ = write!(
                s,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{cell:.1}\" height=\"{cell:.1}\" \
                 fill=\"rgb({},{},{})\" stroke=\"#ddd\"/>",
                shade(r),
                shade(g),
                shade(b)
            );
            let text = self.cell_text.get(i).and_then(|t| t.get(j)).map_or("", String::as_str);
            if !text.is_empty() {
                // White on dark cells, black on light ones.
                let ink = if v > 0.5 { "white" } else { "black" };
                let size = frame::fitted_size(text, self.label_size() * 0.85, cell - 2.0);
                let _ = write!(
                    s,
                    "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"{size:.1}\" fill=\"{ink}\">{}</text>",
                    x + cell / 2.0,
                    y + cell / 2.0 + size * 0.35,
                    escape(text)
                );
            }
            s.push('\n');
        }
    }
}

/// Side of an attention map's cell: room for a three-character phoneme such as `AH0` upright.
const ATTENTION_CELL: f64 = 40.0;

/// The heat map of attention weights `weights[row][col]`, the output tokens (`rows`) down the
/// left and the source tokens (`cols`) along the top, spaces drawn as `␣`; weights of 0.1 and
/// more are written in their cells.
pub fn attention_svg(rows: &[String], cols: &[String], weights: &[Vec<f32>]) -> String {
    let shades: Vec<Vec<f64>> = weights
        .iter()
        .map(|r| r.iter().map(|&w| f64::from(w)).collect())
        .collect();
    let cell_text = shades
        .iter()
        .map(|r| {
            r.iter()
                .map(|&w| {
                    if w >= 0.1 {
                        format!("{w:.2}").trim_start_matches('0').to_string()
                    } else {
                        String::new()
                    }
                })
                .collect()
        })
        .collect();
    Heatmap {
        title: "Attention weights (each output token's row sums to 1)".into(),
        row_title: "output tokens".into(),
        column_title: "source tokens".into(),
        rows: rows.to_vec(),
        columns: cols.to_vec(),
        shades,
        cell_text,
        cell: ATTENTION_CELL,
        color: [8, 48, 107],
        show_spaces: true,
    }
    .to_svg()
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

    #[test]
    fn attention_map_names_its_axes_and_shows_spaces() {
        let svg = attention_svg(
            &["1".into(), "</s>".into()],
            &["M".into(), " ".into(), "3".into()],
            &[vec![0.8, 0.1, 0.1], vec![0.2, 0.3, 0.5]],
        );
        assert!(
            svg.contains("class=\"title\"") && svg.contains(">Attention weights "),
            "{svg}"
        );
        assert!(svg.contains(">source tokens</text>") && svg.contains(">output tokens</text>"));
        assert!(svg.contains(">␣</text>"), "the space token is drawn as ␣");
        assert!(svg.contains(">.80</text>"), "weights are written in their cells");
    }

    /// Slanted column labels at the right end of a confusion-sized grid stay in the picture.
    #[test]
    fn heatmap_slanted_labels_at_the_right_end_stay_inside() {
        let mut names = vec!["cat".to_string(); 11];
        names.push("television".into());
        let svg = Heatmap {
            rows: names.clone(),
            columns: names,
            shades: vec![vec![0.5; 12]; 12],
            cell: 36.0,
            ..Heatmap::default()
        }
        .to_svg();
        let width: f64 = svg
            .split("width=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let grid_right = svg
            .rsplit("<rect x=\"")
            .next()
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .parse::<f64>()
            .unwrap()
            + 36.0;
        // The last label starts at its column's middle and leans right by half its length.
        let label_end = grid_right - 18.0 + 0.35 * 16.0 + 0.5 * text_width("television", 16.0);
        assert!(width >= label_end, "{width} vs {label_end}");
    }

    /// A G2P map of a long word stays readable: cells of 40 pixels, labels upright.
    #[test]
    fn attention_map_for_g2p_is_large_enough_to_read() {
        let letters: Vec<String> = "pronunciation".chars().map(String::from).collect();
        let phonemes: Vec<String> = "P R OW0 N AH2 N S IY0 EY1 SH AH0 N </s>"
            .split(' ')
            .map(String::from)
            .collect();
        let weights = vec![vec![1.0 / 13.0; 13]; phonemes.len()];
        let svg = attention_svg(&phonemes, &letters, &weights);
        assert!(svg.contains("width=\"40.0\" height=\"40.0\""));
        assert!(!svg.contains("rotate(-60)"), "single letters stand upright");
        let png = crate::svg_to_png(&svg).unwrap();
        assert!(png.len() > 1000);
    }
}
