//! Quick, Draw! drawings from every format the dataset ships in: simplified and raw ndjson,
//! Google's binary `.bin`, and sketch-rnn `.npz` (stroke-3 arrays inside Python pickles).
//!
//! Inputs may be files, folders or glob patterns. The label is the drawing's `word` (file names
//! lie: `bycicle.ndjson` holds bicycles); `.npz` files have no words, so their stem is used.
//! A bad drawing is reported with its file and line and skipped (or fatal with `strict`).

pub mod binary;
pub mod download;
pub mod ndjson;
pub mod npz;
pub mod simplify;
pub mod strokes;
pub mod synth;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One stroke: absolute `[x, y]` points in drawing order.
pub type Stroke = Vec<[f32; 2]>;

/// A drawing and its metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Drawing {
    /// The class label.
    pub word: String,
    /// Unique id (the split is decided by its hash).
    pub key_id: String,
    /// Whether the game recognised it.
    pub recognized: bool,
    /// Two-letter country code ("" if unknown).
    pub countrycode: String,
    /// Strokes in the simplified 0–255 frame.
    pub strokes: Vec<Stroke>,
}

impl Drawing {
    /// Number of points over all strokes.
    pub fn points(&self) -> usize {
        self.strokes.iter().map(Vec::len).sum()
    }
}

/// Which drawings to keep.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Keep only these words (all if empty).
    pub classes: Vec<String>,
    /// At most this many drawings per word (first ones in file order).
    pub max_per_class: Option<usize>,
    /// Skip drawings the game did not recognise.
    pub recognized_only: bool,
    /// Stop at the first bad drawing instead of skipping it.
    pub strict: bool,
}

/// A drawing that could not be used.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    /// The file.
    pub file: String,
    /// 1-based line (ndjson) or record number (other formats).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

/// An input that cannot be read at all, or a bad drawing under `strict`.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Unreadable or unsupported file, or a pattern that matches nothing.
    #[error("{path}: {message}")]
    Input {
        /// The file or pattern.
        path: String,
        /// Why.
        message: String,
    },
    /// A bad drawing with `strict`.
    #[error("{0} (stopping: --strict)")]
    Strict(Problem),
}

/// What loading found.
#[derive(Clone, Debug, Default)]
pub struct LoadReport {
    /// Files read.
    pub files: usize,
    /// Drawings kept.
    pub kept: usize,
    /// Bad drawings skipped.
    pub skipped: usize,
    /// The first few problems, for the user.
    pub problems: Vec<Problem>,
}

/// Drawings collected under the options; formats call [`Collector::offer`] per drawing.
pub(crate) struct Collector<'a> {
    options: &'a LoadOptions,
    per_class: HashMap<String, usize>,
    drawings: Vec<Drawing>,
    report: LoadReport,
}

impl Collector<'_> {
    /// Takes a parsed drawing (kept if the options allow) or its problem (skipped and counted,
    /// or an error under `strict`).
    pub(crate) fn offer(&mut self, item: Result<Drawing, Problem>) -> Result<(), LoadError> {
        match item {
            Err(p) if self.options.strict => Err(LoadError::Strict(p)),
            Err(p) => {
                self.report.skipped += 1;
                if self.report.problems.len() < 20 {
                    self.report.problems.push(p);
                }
                Ok(())
            }
            Ok(d) => {
                let o = self.options;
                if (o.recognized_only && !d.recognized) || (!o.classes.is_empty() && !o.classes.contains(&d.word)) {
                    return Ok(());
                }
                let n = self.per_class.entry(d.word.clone()).or_default();
                if o.max_per_class.is_none_or(|m| *n < m) {
                    *n += 1;
                    self.drawings.push(d);
                }
                Ok(())
            }
        }
    }

    /// True while drawings of `word` are still wanted (readers skip or stop early otherwise).
    pub(crate) fn wants_class(&self, word: &str) -> bool {
        let o = self.options;
        (o.classes.is_empty() || o.classes.iter().any(|c| c == word))
            && o.max_per_class
                .is_none_or(|m| self.per_class.get(word).is_none_or(|n| *n < m))
    }
}

/// The Quick, Draw! word that a file of one class names by its stem: `alarm-clock.npz` and
/// `alarm_clock.bin` hold `alarm clock` (Google's words have spaces, file names often not).
pub fn word_of_stem(stem: &str) -> String {
    stem.replace(['_', '-'], " ")
}

/// Most points one drawing may have when read. The published drawings have at most a few
/// thousand (raw) or a few hundred (simplified); far longer ones would make a single model step
/// sequence, picture or simplification run away with time and memory, so they are skipped and
/// counted like any other bad drawing.
pub const MAX_POINTS: usize = 20_000;

/// Refuses a drawing of more than [`MAX_POINTS`] points, or of none.
pub fn check_points(strokes: &[Stroke]) -> Result<(), String> {
    let points: usize = strokes.iter().map(Vec::len).sum();
    if points == 0 {
        return Err("empty drawing (no points)".into());
    }
    if points > MAX_POINTS {
        return Err(format!(
            "{points} points, more than the {MAX_POINTS} a drawing may have"
        ));
    }
    Ok(())
}

/// Largest coordinate magnitude accepted in raw ink or stroke-3 offsets summed up (canvases
/// are a few thousand pixels).
pub const MAX_COORDINATE: f32 = 1e6;

/// Checks points for absurd values (not finite, or beyond `limit` in magnitude) and counts.
pub fn check_strokes(strokes: &[Stroke], limit: f32) -> Result<(), String> {
    check_points(strokes)?;
    for (i, s) in strokes.iter().enumerate() {
        if let Some(p) = s
            .iter()
            .find(|p| !(p[0].is_finite() && p[1].is_finite()) || p[0].abs() > limit || p[1].abs() > limit)
        {
            return Err(format!("stroke {i}: absurd coordinate ({}, {})", p[0], p[1]));
        }
    }
    Ok(())
}

/// Expands files, folders (their `.ndjson`, `.bin` and `.npz` files, sorted) and glob patterns.
pub fn expand_inputs(inputs: &[String]) -> Result<Vec<PathBuf>, LoadError> {
    let mut files = Vec::new();
    for input in inputs {
        let path = Path::new(input);
        if path.is_dir() {
            let entries = std::fs::read_dir(path).map_err(|e| LoadError::Input {
                path: input.clone(),
                message: e.to_string(),
            })?;
            let mut found: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file() && format_of(p).is_some())
                .collect();
            found.sort();
            if found.is_empty() {
                return Err(LoadError::Input {
                    path: input.clone(),
                    message: "no .ndjson, .bin or .npz files in this folder".into(),
                });
            }
            files.extend(found);
        } else if path.is_file() {
            files.push(path.to_path_buf());
        } else if input.contains(['*', '?', '[']) {
            let matches: Vec<PathBuf> = glob::glob(input)
                .map_err(|e| LoadError::Input {
                    path: input.clone(),
                    message: format!("bad pattern: {e}"),
                })?
                .filter_map(Result::ok)
                .filter(|p| p.is_file())
                .collect();
            if matches.is_empty() {
                return Err(LoadError::Input {
                    path: input.clone(),
                    message: "the pattern matches no file".into(),
                });
            }
            files.extend(matches);
        } else {
            return Err(LoadError::Input {
                path: input.clone(),
                message: "no such file or folder".into(),
            });
        }
    }
    Ok(files)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Ndjson,
    Binary,
    Npz,
}

fn format_of(path: &Path) -> Option<Format> {
    match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
        "ndjson" | "jsonl" => Some(Format::Ndjson),
        "bin" => Some(Format::Binary),
        "npz" => Some(Format::Npz),
        _ => None,
    }
}

/// Loads drawings from files, folders or globs.
pub fn load(inputs: &[String], options: &LoadOptions) -> Result<(Vec<Drawing>, LoadReport), LoadError> {
    let files = expand_inputs(inputs)?;
    let mut c = Collector {
        options,
        per_class: HashMap::new(),
        drawings: Vec::new(),
        report: LoadReport::default(),
    };
    for file in &files {
        let name = file.display().to_string();
        let unreadable = |message: String| LoadError::Input {
            path: name.clone(),
            message,
        };
        match format_of(file) {
            Some(Format::Ndjson) => ndjson::read(file, &mut c)?,
            Some(Format::Binary) => binary::read(file, &mut c)?,
            Some(Format::Npz) => npz::read(file, &mut c)?,
            None => return Err(unreadable("unsupported file type (use .ndjson, .bin or .npz)".into())),
        }
        c.report.files += 1;
    }
    c.report.kept = c.drawings.len();
    Ok((c.drawings, c.report))
}
