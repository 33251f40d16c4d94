//! What every picture shares: the SVG document's opening, titles and axis titles sized to fit,
//! numbers rounded for people, and tokens drawn with their spaces visible.

use crate::escape;

/// The font of every picture's text.
const FONT_FAMILY: &str = "DejaVu Sans, Arial, sans-serif";

/// Size of a picture's title.
pub const TITLE_SIZE: f64 = 17.0;

/// Size of an axis title.
pub const AXIS_TITLE_SIZE: f64 = 14.0;

/// Smallest font a title or axis title is shrunk to.
const SMALLEST: f64 = 8.0;

/// The opening of an SVG document `width`×`height` pixels on white, its text `font_size` pixels.
pub fn open(width: f64, height: f64, font_size: f64) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"{FONT_FAMILY}\" font-size=\"{font_size:.1}\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    )
}

/// About how wide `text` is at `font_size` (DejaVu Sans averages under 0.62 em a character):
/// enough to keep labels inside their picture without measuring glyphs.
pub fn text_width(text: &str, font_size: f64) -> f64 {
    text.chars().count() as f64 * 0.62 * font_size
}

/// The font size, at most `size`, at which `text` fits in `width` pixels (never below 8, where
/// text stops being readable anyway).
pub fn fitted_size(text: &str, size: f64, width: f64) -> f64 {
    let natural = text_width(text, size);
    if natural <= width {
        size
    } else {
        (size * width / natural).max(SMALLEST)
    }
}

/// A picture's title, centred on `x` with its baseline at `y`, shrunk to fit `width`.
pub fn title(text: &str, x: f64, y: f64, width: f64) -> String {
    let size = fitted_size(text, TITLE_SIZE, width);
    format!(
        "<text class=\"title\" x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"middle\" font-size=\"{size:.1}\" \
         font-weight=\"bold\">{}</text>\n",
        escape(text)
    )
}

/// An axis title centred on `(x, y)` and shrunk to fit `length`: read left to right, or
/// bottom to top along a vertical axis (`vertical`).
pub fn axis_title(text: &str, x: f64, y: f64, length: f64, vertical: bool) -> String {
    let size = fitted_size(text, AXIS_TITLE_SIZE, length);
    let place = if vertical {
        format!("transform=\"translate({x:.1},{y:.1}) rotate(-90)\"")
    } else {
        format!("x=\"{x:.1}\" y=\"{y:.1}\"")
    };
    format!(
        "<text class=\"axis-title\" {place} text-anchor=\"middle\" font-size=\"{size:.1}\">{}</text>\n",
        escape(text)
    )
}

/// A token as drawn: a space as `␣` (U+2423) and a tab as `⇥`, so tokens that are or hold
/// white space are seen, and an empty token as `∅`.
pub fn visible_token(token: &str) -> String {
    if token.is_empty() {
        return "∅".into();
    }
    token.replace(' ', "␣").replace('\t', "⇥")
}

/// `value` to `digits` significant figures (at least 1), with `k` for thousands and `M` for
/// millions: 87978.5 → `88.0k`, 273.54 → `274`, 0.012345 → `0.0123`. For figures in titles,
/// where more digits than the measurement holds only distract.
pub fn significant(value: f64, digits: usize) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let (scaled, suffix) = match value.abs() {
        a if a >= 999_500.0 => (value / 1e6, "M"),
        a if a >= 999.5 => (value / 1e3, "k"),
        _ => (value, ""),
    };
    if scaled == 0.0 {
        return "0".into();
    }
    let decimals = |v: f64| (digits.max(1) as i64 - 1 - v.abs().log10().floor() as i64).clamp(0, 12) as usize;
    // Rounding may carry into the next power of ten (0.9997 → 1.00), which then needs a
    // decimal fewer.
    let first = decimals(scaled);
    let rounded: f64 = format!("{scaled:.first$}").parse().unwrap_or(scaled);
    let places = decimals(rounded);
    format!("{rounded:.places$}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn significant_rounds_to_three_figures() {
        assert_eq!(significant(87978.5, 3), "88.0k");
        assert_eq!(significant(273.5431, 3), "274");
        assert_eq!(significant(0.012345, 3), "0.0123");
        assert_eq!(significant(1_234_567.0, 3), "1.23M");
        assert_eq!(significant(999.7, 3), "1.00k");
        assert_eq!(significant(-4.5678, 3), "-4.57");
        assert_eq!(significant(0.0, 3), "0");
    }

    #[test]
    fn tokens_show_their_spaces() {
        assert_eq!(visible_token(" "), "␣");
        assert_eq!(visible_token("a b"), "a␣b");
        assert_eq!(visible_token(""), "∅");
        assert_eq!(visible_token("AH0"), "AH0");
    }

    #[test]
    fn long_titles_shrink_to_fit() {
        let long = "x".repeat(60);
        assert!(text_width(&long, fitted_size(&long, TITLE_SIZE, 500.0)) <= 500.0 + 1e-9);
        assert_eq!(fitted_size("short", TITLE_SIZE, 500.0), TITLE_SIZE);
    }
}
