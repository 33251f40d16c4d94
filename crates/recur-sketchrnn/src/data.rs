//! Drawings as sketch-rnn reads them: raw stroke-3 rows `[dx, dy, pen_lifted]` (the pen lifted
//! after a stroke's last point), from a sketch-rnn `.npz` (its `train`, `valid` and `test`
//! arrays) or a folder of them, or a folder of Quick, Draw! ndjson files; one class per file,
//! named by the file's stem (`alarm-clock.npz` draws `alarm-clock`). Files without splits
//! (ndjson, an `.npz` of one `sketches` array) are split 90/5/5 by position.
//!
//! Then what Magenta's `DataLoader` does before training: offsets clipped to ±1000 (its
//! `limit`, which removes large gaps), drawings longer than `N_max` dropped and counted, and
//! offsets divided by the training set's standard deviation (kept in the model, so that samples
//! come back in the data's units).

use crate::error::{input, Result};
use recur_data::quickdraw::npz::read_stroke3;
use recur_data::quickdraw::{ndjson, Stroke};
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Magenta's `limit`: offsets are clipped to this magnitude (large gaps shortened).
pub const OFFSET_CLIP: f32 = 1000.0;
/// An offset beyond this is not a pen movement but broken data, refused rather than clipped.
pub const HUGE_OFFSET: f32 = 1.0e5;
/// The longest drawing sketch-rnn trains on by default (Magenta's `max_seq_len`).
pub const DEFAULT_MAX_LEN: usize = 250;
/// A file without splits (ndjson, an `.npz` of one array) sends its drawing at position `p` to
/// `valid` when `p` modulo this is `HELD - 2`, to `test` when it is `HELD - 1` (a fixed 90/5/5
/// split, the same on every run).
const HELD: usize = 20;

/// One drawing: its class and its stroke-3 rows.
#[derive(Clone, Debug, PartialEq)]
pub struct Sketch {
    /// Index into the classes of its [`Splits`].
    pub class: usize,
    /// `[dx, dy, pen_lifted]` per point.
    pub points: Vec<[f32; 3]>,
}

impl Sketch {
    /// A drawing from stroke-3 rows, refusing one of fewer than two points and offsets that are
    /// not finite or absurdly large, and clipping the rest to ±[`OFFSET_CLIP`] as Magenta does.
    pub fn new(class: usize, mut points: Vec<[f32; 3]>) -> std::result::Result<Self, String> {
        if points.len() < 2 {
            return Err(format!(
                "a drawing of {} point{}: sketch-rnn needs at least two",
                points.len(),
                if points.len() == 1 { "" } else { "s" }
            ));
        }
        for (i, p) in points.iter_mut().enumerate() {
            if !p.iter().all(|v| v.is_finite()) {
                return Err(format!("point {}: a value is not a number ({:?})", i + 1, p));
            }
            if p[0].abs() > HUGE_OFFSET || p[1].abs() > HUGE_OFFSET {
                return Err(format!(
                    "point {}: offset ({}, {}) is huge (more than {HUGE_OFFSET} in magnitude)",
                    i + 1,
                    p[0],
                    p[1]
                ));
            }
            p[0] = p[0].clamp(-OFFSET_CLIP, OFFSET_CLIP);
            p[1] = p[1].clamp(-OFFSET_CLIP, OFFSET_CLIP);
            p[2] = if p[2] > 0.5 { 1.0 } else { 0.0 };
        }
        Ok(Sketch { class, points })
    }
}

/// A data set's classes and its three splits (a split the data lacks is empty).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Splits {
    /// Class names, from the file stems, in file order.
    pub classes: Vec<String>,
    /// Training drawings.
    pub train: Vec<Sketch>,
    /// Validation drawings.
    pub valid: Vec<Sketch>,
    /// Test drawings.
    pub test: Vec<Sketch>,
}

impl Splits {
    /// The split named `name` (`train`, `valid` or `test`), refusing other names and an empty
    /// split, naming `source`.
    pub fn split(&self, name: &str, source: &Path) -> Result<&[Sketch]> {
        let set = match name {
            "train" => &self.train,
            "valid" => &self.valid,
            "test" => &self.test,
            other => return Err(input(format!("unknown split `{other}`: use train, valid or test"))),
        };
        if set.is_empty() {
            return Err(input(format!("{}: no `{name}` drawings in it", source.display())));
        }
        Ok(set)
    }

    /// Where the drawing at `position` of a file without splits goes: `valid` when the position
    /// modulo 20 is 18, `test` when it is 19, else `train`.
    fn by_position(&mut self, position: usize) -> &mut Vec<Sketch> {
        match position % HELD {
            r if r == HELD - 2 => &mut self.valid,
            r if r == HELD - 1 => &mut self.test,
            _ => &mut self.train,
        }
    }

    /// The longest drawing over every split, in points (Magenta's `N_max`).
    pub fn longest(&self) -> usize {
        [&self.train, &self.valid, &self.test]
            .into_iter()
            .flatten()
            .map(|s| s.points.len())
            .max()
            .unwrap_or(0)
    }
}

/// Reads `path`: one sketch-rnn `.npz`, or a folder of `.npz` or `.ndjson` files, one class per
/// file.
pub fn load(path: &Path) -> Result<Splits> {
    let files = data_files(path)?;
    let mut splits = Splits::default();
    for (class, file) in files.iter().enumerate() {
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("").to_string();
        splits.classes.push(stem);
        match file.extension().and_then(|e| e.to_str()) {
            Some("npz") => read_npz(file, class, &mut splits)?,
            _ => read_ndjson(file, class, &mut splits)?,
        }
    }
    if splits.train.is_empty() {
        return Err(input(format!("{}: no training drawings in it", path.display())));
    }
    Ok(splits)
}

/// The files `path` names: itself, or a folder's `.npz` and `.ndjson` files sorted by name
/// (one kind only, so that classes do not come twice).
fn data_files(path: &Path) -> Result<Vec<PathBuf>> {
    let is_data = |p: &Path| matches!(p.extension().and_then(|e| e.to_str()), Some("npz" | "ndjson"));
    if !path.is_dir() {
        if !path.exists() {
            return Err(input(format!("{}: no such file or folder", path.display())));
        }
        if !is_data(path) {
            return Err(input(format!(
                "{}: not a sketch-rnn .npz or a Quick, Draw! .ndjson file",
                path.display()
            )));
        }
        return Ok(vec![path.to_path_buf()]);
    }
    let entries = std::fs::read_dir(path).map_err(|e| input(format!("{}: {e}", path.display())))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_data(p))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(input(format!(
            "{}: no .npz or .ndjson files in this folder (one file per class)",
            path.display()
        )));
    }
    if files.iter().any(|f| f.extension() != files[0].extension()) {
        return Err(input(format!(
            "{}: holds both .npz and .ndjson files; keep one kind (one file per class)",
            path.display()
        )));
    }
    Ok(files)
}

/// A sketch-rnn `.npz`'s `train`, `valid` and `test` arrays as `class`; a file without them
/// (such as one array named `sketches`) has its drawings split 90/5/5 by position, as an
/// ndjson file's are.
fn read_npz(file: &Path, class: usize, splits: &mut Splits) -> Result<()> {
    let members = read_stroke3(file)?;
    let named = members
        .iter()
        .any(|m| matches!(m.name.as_str(), "train" | "valid" | "test"));
    let mut position = 0;
    for member in &members {
        for (i, drawing) in member.drawings.iter().enumerate() {
            let sketch = drawing
                .clone()
                .and_then(|rows| Sketch::new(class, rows))
                .map_err(|m| input(format!("{}[{}] drawing {}: {m}", file.display(), member.name, i + 1)))?;
            let set = match member.name.as_str() {
                "train" => &mut splits.train,
                "valid" => &mut splits.valid,
                "test" => &mut splits.test,
                _ if named => break,
                _ => {
                    position += 1;
                    splits.by_position(position - 1)
                }
            };
            set.push(sketch);
        }
    }
    Ok(())
}

/// A Quick, Draw! ndjson file's drawings as `class`, split 90/5/5 by line number.
fn read_ndjson(file: &Path, class: usize, splits: &mut Splits) -> Result<()> {
    let fail = |line: usize, m: String| input(format!("{}:{line}: {m}", file.display()));
    let reader = std::fs::File::open(file).map_err(|e| fail(0, e.to_string()))?;
    for (i, line) in std::io::BufReader::new(reader).lines().enumerate() {
        let line = line.map_err(|e| fail(i + 1, e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let drawing = ndjson::parse_line(&line).map_err(|m| fail(i + 1, m))?;
        let sketch = Sketch::new(class, stroke3_from_strokes(&drawing.strokes)).map_err(|m| fail(i + 1, m))?;
        splits.by_position(i).push(sketch);
    }
    Ok(())
}

/// Absolute strokes as stroke-3 rows, the first offset taken from the origin (Magenta's
/// `lines_to_strokes`).
pub fn stroke3_from_strokes(strokes: &[Stroke]) -> Vec<[f32; 3]> {
    let mut rows = Vec::new();
    let mut prev = [0.0f32, 0.0];
    for stroke in strokes {
        for (i, p) in stroke.iter().enumerate() {
            let lifted = if i + 1 == stroke.len() { 1.0 } else { 0.0 };
            rows.push([p[0] - prev[0], p[1] - prev[1], lifted]);
            prev = *p;
        }
    }
    rows
}

/// Drawings made ready for the network: at most `n_max` points (longer ones dropped and
/// counted) and offsets divided by `scale`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Prepared {
    /// The kept drawings, scaled.
    pub sketches: Vec<Sketch>,
    /// Drawings longer than `n_max`, left out.
    pub dropped: usize,
}

/// Keeps the drawings of at most `n_max` points and divides their offsets by `scale`.
pub fn prepare(sketches: &[Sketch], n_max: usize, scale: f32) -> Prepared {
    let mut out = Prepared::default();
    for s in sketches {
        if s.points.len() > n_max {
            out.dropped += 1;
            continue;
        }
        let points = s.points.iter().map(|p| [p[0] / scale, p[1] / scale, p[2]]).collect();
        out.sketches.push(Sketch { class: s.class, points });
    }
    out
}

/// The standard deviation of every `dx` and `dy` together over `sketches` (Magenta's
/// `calculate_normalizing_scale_factor`, numpy's population deviation about the mean), refusing
/// drawings that do not move.
pub fn offset_scale(sketches: &[Sketch]) -> Result<f32> {
    let (mut n, mut sum, mut sq) = (0.0f64, 0.0f64, 0.0f64);
    for p in sketches.iter().flat_map(|s| &s.points) {
        for v in [p[0] as f64, p[1] as f64] {
            n += 1.0;
            sum += v;
            sq += v * v;
        }
    }
    let mean = sum / n.max(1.0);
    let std = (sq / n.max(1.0) - mean * mean).max(0.0).sqrt();
    if std.is_nan() || std <= 1e-6 {
        return Err(input("the training drawings do not move (every offset is the same)"));
    }
    Ok(std as f32)
}

#[cfg(test)]
mod tests;
