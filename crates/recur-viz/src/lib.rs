//! recur's pictures. Everything is drawn as SVG (text stays text, files stay small and
//! diffable); [`write_picture`] rasterises to PNG when the file name asks for it.

pub mod chart;
pub mod frame;
pub mod heatmap;
pub mod sketch;

pub use chart::{Band, Line, LineChart};
pub use heatmap::attention_svg;
use std::path::Path;

/// A picture that cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum VizError {
    /// Unsupported file type.
    #[error("{0}: pictures are written as .svg or .png")]
    Format(String),
    /// Rendering failed.
    #[error("cannot render {path}: {message}")]
    Render {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// Writing failed.
    #[error("cannot write {path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The cause, written in the message (so not a `source`: see `NnError::Io`).
        error: std::io::Error,
    },
}

/// Escapes text for SVG.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Most pixels a PNG may have (about 256 MB of RGBA): a grid of thousands of drawings or a
/// picture sized by hostile input is refused instead of exhausting the machine.
pub const MAX_PIXELS: u64 = 64 << 20;

/// Rasterises SVG text to PNG bytes, with the system's fonts for the labels. Pictures over
/// [`MAX_PIXELS`] are refused before any pixel is allocated.
pub fn svg_to_png(svg: &str) -> Result<Vec<u8>, String> {
    use resvg::{tiny_skia, usvg};
    let mut options = usvg::Options::default();
    options.fontdb_mut().load_system_fonts();
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| e.to_string())?;
    let size = tree.size().to_int_size();
    let pixels = u64::from(size.width()) * u64::from(size.height());
    if pixels > MAX_PIXELS {
        return Err(format!(
            "a {}×{} picture has {pixels} pixels, more than the {MAX_PIXELS} recur draws (write .svg, or draw fewer)",
            size.width(),
            size.height()
        ));
    }
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).ok_or("the picture has no area")?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap.encode_png().map_err(|e| e.to_string())
}

/// Writes `svg` to `path` as SVG or PNG (by extension), atomically.
pub fn write_picture(path: &Path, svg: &str) -> Result<(), VizError> {
    let name = path.display().to_string();
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let bytes = match ext.as_deref() {
        Some("svg") => svg.as_bytes().to_vec(),
        Some("png") => svg_to_png(svg).map_err(|message| VizError::Render {
            path: name.clone(),
            message,
        })?,
        _ => return Err(VizError::Format(name)),
    };
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let io = |source| VizError::Io {
        path: name.clone(),
        error: source,
    };
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}
