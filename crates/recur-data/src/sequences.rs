//! Labelled sets of variable-length multivariate sequences, the input of sequence classification
//! and regression: read from sktime/aeon `.ts` files (see [`crate::ts`]) or from `.npy` arrays
//! (a padded `x`, optional `lengths`, and `y`).

use crate::npy::{read_npy, NpyArray, NpyData, NpyError};
use std::path::Path;

/// The largest class index accepted from an integer label array; anything above is taken for a
/// mistake (e.g. an id column) rather than a real class, and refused before allocating names.
pub const MAX_CLASS_LABEL: usize = 1_000_000;

/// A labelled set of variable-length multivariate sequences.
#[derive(Clone, Debug, PartialEq)]
pub struct SequenceSet {
    /// Features per step.
    pub dims: usize,
    /// Each sequence's values, step-major `[len, dims]` flattened; NaN marks a missing value.
    pub series: Vec<Vec<f32>>,
    /// What to predict.
    pub targets: SequenceTargets,
    /// Where it came from (the file path), for messages.
    pub source: String,
}

/// What is predicted from each sequence.
#[derive(Clone, Debug, PartialEq)]
pub enum SequenceTargets {
    /// One class per sequence; `names[k]` is class k's label as written in the file
    /// (.ts: the order of the `@classLabel true ...` list; npy: "0".."K-1" for K = max label + 1).
    Classes {
        /// Class index per sequence.
        labels: Vec<usize>,
        /// Class names by index.
        names: Vec<String>,
    },
    /// `width` real values per sequence (regression), row-major `[n, width]`.
    Values {
        /// Values per sequence.
        width: usize,
        /// All values, `[n, width]`.
        values: Vec<f32>,
    },
    /// One class per real step (per-step tagging): `labels[i].len()` == steps of sequence i.
    StepClasses {
        /// Class index per step, per sequence.
        labels: Vec<Vec<usize>>,
        /// Class names by index.
        names: Vec<String>,
    },
    /// `width` real values per real step (seq→seq regression): `values[i].len()` == steps_i * width.
    StepValues {
        /// Values per step.
        width: usize,
        /// Per sequence, step-major `[steps_i, width]`.
        values: Vec<Vec<f32>>,
    },
}

impl SequenceTargets {
    /// Class names, for the two classification kinds; `None` for regression.
    pub fn class_names(&self) -> Option<&[String]> {
        match self {
            Self::Classes { names, .. } | Self::StepClasses { names, .. } => Some(names),
            Self::Values { .. } | Self::StepValues { .. } => None,
        }
    }

    /// Whether there is one target per step rather than one per sequence.
    pub fn per_step(&self) -> bool {
        matches!(self, Self::StepClasses { .. } | Self::StepValues { .. })
    }
}

impl SequenceSet {
    /// Number of sequences.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    /// Whether there are no sequences.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    /// Steps of sequence i.
    pub fn steps(&self, i: usize) -> usize {
        self.series[i].len() / self.dims.max(1)
    }

    /// Longest sequence.
    pub fn max_steps(&self) -> usize {
        (0..self.len()).map(|i| self.steps(i)).max().unwrap_or(0)
    }

    /// Shortest sequence.
    pub fn min_steps(&self) -> usize {
        (0..self.len()).map(|i| self.steps(i)).min().unwrap_or(0)
    }
}

/// Why a sequence set could not be read: always names the file, and the line (1-based) where
/// there is one.
#[derive(Debug, thiserror::Error)]
pub enum SequenceError {
    /// The file could not be read.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error, written in the message (so not a `source`: see `NnError::Io`).
        error: std::io::Error,
    },
    /// An `.npy` file is unreadable or malformed.
    #[error(transparent)]
    Npy(#[from] NpyError),
    /// A problem on one line of a text file.
    #[error("{path}: line {line}: {message}")]
    Line {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A problem with the file as a whole (a missing header, array shapes that do not agree, ...).
    #[error("{path}: {message}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Reads a labelled set from `.npy` files: `x` float32/float64 `[batch, time, features]` (or
/// `[batch, time]` = one feature); `lengths` optional int32/int64 `[batch]`, each in 1..=time
/// (without it every sequence is `time` steps long); `y` int `[batch]` → Classes, float `[batch]`
/// or `[batch, out]` → Values, int `[batch, time]` → StepClasses, float `[batch, time, out]` →
/// StepValues (positions beyond a sequence's length are ignored).
pub fn read_npy_set(x: &Path, lengths: Option<&Path>, y: &Path) -> Result<SequenceSet, SequenceError> {
    let xa = read_npy(x)?;
    let la = lengths.map(read_npy).transpose()?;
    let ya = read_npy(y)?;
    let xn = x.display().to_string();
    let ln = lengths.map(|p| p.display().to_string()).unwrap_or_default();
    let yn = y.display().to_string();
    build(&xa, la.as_ref(), &ya, [&xn, &ln, &yn])
}

/// Builds a labelled set from loaded arrays (see [`read_npy_set`] for the shapes); `source` names
/// where they came from, and messages name the arrays as `x`, `lengths` and `y` within it.
pub fn from_npy_arrays(
    x: &NpyArray,
    lengths: Option<&NpyArray>,
    y: &NpyArray,
    source: &str,
) -> Result<SequenceSet, SequenceError> {
    let names = ["x", "lengths", "y"].map(|n| format!("{source} ({n})"));
    build(x, lengths, y, [&names[0], &names[1], &names[2]]).map(|mut set| {
        set.source = source.to_string();
        set
    })
}

/// Floats of an array as f32, or `None` for an integer array.
fn floats(a: &NpyArray) -> Option<Vec<f32>> {
    match &a.data {
        NpyData::F32(v) => Some(v.clone()),
        NpyData::F64(v) => Some(v.iter().map(|&x| x as f32).collect()),
        NpyData::I32(_) | NpyData::I64(_) => None,
    }
}

/// Integers of an array as i64, or `None` for a float array.
fn ints(a: &NpyArray) -> Option<Vec<i64>> {
    match &a.data {
        NpyData::I32(v) => Some(v.iter().map(|&x| x as i64).collect()),
        NpyData::I64(v) => Some(v.clone()),
        NpyData::F32(_) | NpyData::F64(_) => None,
    }
}

/// Checks that an array holds as many values as its shape says (arrays built by hand may not).
fn consistent(a: &NpyArray, name: &str) -> Result<(), SequenceError> {
    let held = match &a.data {
        NpyData::F32(v) => v.len(),
        NpyData::F64(v) => v.len(),
        NpyData::I32(v) => v.len(),
        NpyData::I64(v) => v.len(),
    };
    let wanted = a.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    if wanted != Some(held) {
        return Err(format_err(
            name,
            format!("shape {:?} does not match its {held} values", a.shape),
        ));
    }
    Ok(())
}

/// Checks a class label and turns it into an index.
fn class_index(v: i64, file: &str, at: &str) -> Result<usize, SequenceError> {
    if v < 0 || v as u64 > MAX_CLASS_LABEL as u64 {
        return Err(format_err(
            file,
            format!("label {v} at {at} is not a class index (expected 0..={MAX_CLASS_LABEL})"),
        ));
    }
    Ok(v as usize)
}

/// A file-level error.
fn format_err(path: &str, message: String) -> SequenceError {
    SequenceError::Format {
        path: path.to_string(),
        message,
    }
}

/// Names "0".."K-1" for the classes seen in `labels` (K = largest + 1).
fn index_names<'a>(labels: impl Iterator<Item = &'a usize>) -> Vec<String> {
    let classes = labels.max().map_or(0, |&m| m + 1);
    (0..classes).map(|k| k.to_string()).collect()
}

/// The checks and conversion behind [`read_npy_set`] and [`from_npy_arrays`]; `names` are how
/// messages refer to x, lengths and y.
fn build(
    x: &NpyArray,
    lengths: Option<&NpyArray>,
    y: &NpyArray,
    names: [&str; 3],
) -> Result<SequenceSet, SequenceError> {
    let [xn, ln, yn] = names;
    for (a, n) in [(Some(x), xn), (lengths, ln), (Some(y), yn)] {
        if let Some(a) = a {
            consistent(a, n)?;
        }
    }
    let xv = floats(x).ok_or_else(|| format_err(xn, format!("x must be float32 or float64, not {}", x.dtype())))?;
    let (batch, time, dims) = match x.shape[..] {
        [b, t] => (b, t, 1),
        [b, t, f] => (b, t, f),
        _ => {
            return Err(format_err(
                xn,
                format!(
                    "x must be [batch, time, features] or [batch, time], not shape {:?}",
                    x.shape
                ),
            ))
        }
    };
    if batch == 0 || time == 0 || dims == 0 {
        return Err(format_err(
            xn,
            format!("x has an empty dimension (shape {:?})", x.shape),
        ));
    }
    if let Some(i) = xv.iter().position(|v| v.is_infinite()) {
        let (b, rest) = (i / (time * dims), i % (time * dims));
        return Err(format_err(
            xn,
            format!(
                "x[{b}, {}, {}] is infinite (NaN marks a missing value; Inf is refused)",
                rest / dims,
                rest % dims
            ),
        ));
    }
    let lens: Vec<usize> = match lengths {
        None => vec![time; batch],
        Some(l) => {
            let lv =
                ints(l).ok_or_else(|| format_err(ln, format!("lengths must be int32 or int64, not {}", l.dtype())))?;
            if l.shape != [batch] {
                return Err(format_err(
                    ln,
                    format!("lengths must have shape [{batch}] to match x, not {:?}", l.shape),
                ));
            }
            lv.iter()
                .enumerate()
                .map(|(i, &n)| {
                    if n < 1 || n as u64 > time as u64 {
                        Err(format_err(ln, format!("lengths[{i}] = {n} is outside 1..={time}")))
                    } else {
                        Ok(n as usize)
                    }
                })
                .collect::<Result<_, _>>()?
        }
    };
    if y.shape.first() != Some(&batch) {
        return Err(format_err(
            yn,
            format!(
                "y has shape {:?}, but its first dimension must be the batch size {batch} of x",
                y.shape
            ),
        ));
    }
    let targets = match (ints(y), floats(y), &y.shape[..]) {
        (Some(v), _, [_]) => {
            let labels = v
                .iter()
                .enumerate()
                .map(|(i, &c)| class_index(c, yn, &format!("y[{i}]")))
                .collect::<Result<Vec<_>, _>>()?;
            let names = index_names(labels.iter());
            SequenceTargets::Classes { labels, names }
        }
        (Some(v), _, [_, t]) if *t == time => {
            let labels = (0..batch)
                .map(|b| {
                    (0..lens[b])
                        .map(|s| class_index(v[b * time + s], yn, &format!("y[{b}, {s}]")))
                        .collect::<Result<Vec<_>, _>>()
                })
                .collect::<Result<Vec<_>, _>>()?;
            let names = index_names(labels.iter().flatten());
            SequenceTargets::StepClasses { labels, names }
        }
        (None, Some(v), [_]) | (None, Some(v), [_, _]) => {
            let width = y.shape.get(1).copied().unwrap_or(1);
            if width == 0 {
                return Err(format_err(yn, "y has no target columns".into()));
            }
            if let Some(i) = v.iter().position(|t| !t.is_finite()) {
                return Err(format_err(
                    yn,
                    format!("y[{}, {}] is {} (targets must be finite)", i / width, i % width, v[i]),
                ));
            }
            SequenceTargets::Values { width, values: v }
        }
        (None, Some(v), [_, t, w]) if *t == time && *w > 0 => {
            let width = *w;
            let values = (0..batch)
                .map(|b| {
                    let row = &v[b * time * width..(b * time + lens[b]) * width];
                    match row.iter().position(|t| !t.is_finite()) {
                        Some(i) => Err(format_err(
                            yn,
                            format!(
                                "y[{b}, {}, {}] is {} (targets within a sequence must be finite)",
                                i / width,
                                i % width,
                                row[i]
                            ),
                        )),
                        None => Ok(row.to_vec()),
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            SequenceTargets::StepValues { width, values }
        }
        _ => {
            return Err(format_err(
                yn,
                format!(
                    "y of {} with shape {:?} is not a target for x of shape {:?}: use int [batch] (classes), \
                     float [batch] or [batch, out] (values), int [batch, time] (a class per step) or \
                     float [batch, time, out] (values per step)",
                    y.dtype(),
                    y.shape,
                    x.shape
                ),
            ))
        }
    };
    let series = (0..batch)
        .map(|b| xv[b * time * dims..(b * time + lens[b]) * dims].to_vec())
        .collect();
    Ok(SequenceSet {
        dims,
        series,
        targets,
        source: xn.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(shape: &[usize], v: Vec<f32>) -> NpyArray {
        NpyArray {
            shape: shape.to_vec(),
            data: NpyData::F32(v),
        }
    }

    fn i64s(shape: &[usize], v: Vec<i64>) -> NpyArray {
        NpyArray {
            shape: shape.to_vec(),
            data: NpyData::I64(v),
        }
    }

    /// x `[2, 3, 2]` holding 0..12.
    fn x() -> NpyArray {
        f32s(&[2, 3, 2], (0..12).map(|v| v as f32).collect())
    }

    /// The message of a build that must fail.
    fn error(x: &NpyArray, lengths: Option<&NpyArray>, y: &NpyArray) -> String {
        from_npy_arrays(x, lengths, y, "set").unwrap_err().to_string()
    }

    #[test]
    fn sequence_set_classes_with_lengths() {
        let lengths = NpyArray {
            shape: vec![2],
            data: NpyData::I32(vec![2, 3]),
        };
        let set = from_npy_arrays(&x(), Some(&lengths), &i64s(&[2], vec![1, 4]), "set").unwrap();
        assert_eq!(
            (set.len(), set.dims, set.steps(0), set.steps(1), set.max_steps()),
            (2, 2, 2, 3, 3)
        );
        assert_eq!(set.series[0], vec![0.0, 1.0, 2.0, 3.0]);
        assert_eq!(set.series[1], vec![6.0, 7.0, 8.0, 9.0, 10.0, 11.0]);
        let names: Vec<String> = (0..5).map(|k| k.to_string()).collect();
        assert_eq!(
            set.targets,
            SequenceTargets::Classes {
                labels: vec![1, 4],
                names
            }
        );
        assert_eq!(set.source, "set");
        assert!(!set.targets.per_step());
    }

    #[test]
    fn sequence_set_rank2_x_and_values() {
        let x = NpyArray {
            shape: vec![2, 3],
            data: NpyData::F64(vec![1.0, 2.0, f64::NAN, 4.0, 5.0, 6.0]),
        };
        let set = from_npy_arrays(&x, None, &f32s(&[2], vec![0.5, -1.0]), "set").unwrap();
        assert_eq!((set.dims, set.steps(0)), (1, 3));
        assert!(set.series[0][2].is_nan(), "NaN in x is a missing value");
        assert_eq!(
            set.targets,
            SequenceTargets::Values {
                width: 1,
                values: vec![0.5, -1.0]
            }
        );
        let set = from_npy_arrays(&x, None, &f32s(&[2, 2], vec![1.0, 2.0, 3.0, 4.0]), "set").unwrap();
        assert_eq!(
            set.targets,
            SequenceTargets::Values {
                width: 2,
                values: vec![1.0, 2.0, 3.0, 4.0]
            }
        );
    }

    #[test]
    fn sequence_set_per_step_targets_ignore_padding() {
        let lengths = i64s(&[2], vec![1, 3]);
        // Padding labels (-1) and padding values (NaN) beyond a sequence's length are ignored.
        let y = i64s(&[2, 3], vec![2, -1, -1, 0, 1, 0]);
        let set = from_npy_arrays(&x(), Some(&lengths), &y, "set").unwrap();
        let names = vec!["0".to_string(), "1".into(), "2".into()];
        assert_eq!(
            set.targets,
            SequenceTargets::StepClasses {
                labels: vec![vec![2], vec![0, 1, 0]],
                names
            }
        );
        assert!(set.targets.per_step());
        let y = f32s(&[2, 3, 1], vec![0.5, f32::NAN, f32::NAN, 1.0, 2.0, 3.0]);
        let set = from_npy_arrays(&x(), Some(&lengths), &y, "set").unwrap();
        assert_eq!(
            set.targets,
            SequenceTargets::StepValues {
                width: 1,
                values: vec![vec![0.5], vec![1.0, 2.0, 3.0]]
            }
        );
    }

    #[test]
    fn sequence_set_npy_errors() {
        let y = i64s(&[2], vec![0, 1]);
        let err = error(&i64s(&[2, 3], vec![0; 6]), None, &y);
        assert!(
            err.contains("set (x): x must be float32 or float64, not int64"),
            "{err}"
        );
        let err = error(&f32s(&[12], vec![0.0; 12]), None, &y);
        assert!(err.contains("x must be [batch, time, features]"), "{err}");
        let err = error(&f32s(&[0, 3], vec![]), None, &y);
        assert!(err.contains("empty dimension"), "{err}");
        let mut inf = x();
        if let NpyData::F32(v) = &mut inf.data {
            v[9] = f32::INFINITY;
        }
        let err = error(&inf, None, &y);
        assert!(err.contains("x[1, 1, 1] is infinite"), "{err}");
        let err = error(&f32s(&[2, 3, 2], vec![0.0; 5]), None, &y);
        assert!(err.contains("does not match its 5 values"), "{err}");
        let err = error(&x(), Some(&i64s(&[2], vec![1, 4])), &y);
        assert!(err.contains("set (lengths): lengths[1] = 4 is outside 1..=3"), "{err}");
        let err = error(&x(), Some(&i64s(&[2], vec![0, 1])), &y);
        assert!(err.contains("lengths[0] = 0"), "{err}");
        let err = error(&x(), Some(&i64s(&[3], vec![1, 1, 1])), &y);
        assert!(err.contains("lengths must have shape [2]"), "{err}");
        let err = error(&x(), Some(&f32s(&[2], vec![1.0, 1.0])), &y);
        assert!(err.contains("lengths must be int32 or int64, not float32"), "{err}");
        let err = error(&x(), None, &i64s(&[3], vec![0, 1, 2]));
        assert!(
            err.contains("set (y): y has shape [3], but its first dimension must be the batch size 2"),
            "{err}"
        );
        let err = error(&x(), None, &i64s(&[2], vec![0, -1]));
        assert!(err.contains("label -1 at y[1] is not a class index"), "{err}");
        let err = error(&x(), None, &i64s(&[2], vec![0, 1 << 40]));
        assert!(err.contains("is not a class index"), "{err}");
        let err = error(&x(), None, &f32s(&[2], vec![0.0, f32::NAN]));
        assert!(err.contains("y[1, 0] is NaN"), "{err}");
        let err = error(&x(), None, &f32s(&[2], vec![f32::INFINITY, 0.0]));
        assert!(err.contains("y[0, 0] is inf"), "{err}");
        let err = error(&x(), None, &i64s(&[2, 3, 1], vec![0; 6]));
        assert!(err.contains("y of int64 with shape [2, 3, 1] is not a target"), "{err}");
        let err = error(&x(), None, &i64s(&[2, 4], vec![0; 8]));
        assert!(err.contains("is not a target"), "{err}");
        let err = error(&x(), None, &f32s(&[2, 3, 1], vec![0.0, 1.0, f32::NAN, 0.0, 0.0, 0.0]));
        assert!(err.contains("y[0, 2, 0] is NaN"), "{err}");
        let err = error(&x(), None, &i64s(&[2, 3], vec![0, 0, -2, 0, 0, 0]));
        assert!(err.contains("label -2 at y[0, 2]"), "{err}");
    }
}
