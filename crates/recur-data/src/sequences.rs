//! Labelled sets of variable-length multivariate sequences, the input of sequence classification
//! and regression: read from sktime/aeon `.ts` files (see [`crate::ts`]) or from `.npy` arrays
//! (a padded `x`, optional `lengths`, and `y`).

use crate::npy::{read_npy, NpyArray, NpyData, NpyError};
use std::path::Path;

/// The largest class index accepted from an integer label array; anything above is taken for a
/// mistake (e.g. an id column) rather than a real class, and refused before allocating names.
pub const MAX_CLASS_LABEL: usize = 1_000_000;

/// A labelled set of variable-length multivariate sequences: the values of a model's first
/// (for most models, only) input, the further inputs of a model with several, and the targets.
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
    /// Whether `series` holds sequences, or one vector of `dims` values per example (a model's
    /// static input, kept as one step).
    pub sequential: bool,
    /// The further inputs of a model with several, in its config's `inputs` order (empty for
    /// a one-input model).
    pub more_inputs: Vec<InputSeries>,
}

/// One further input of a model with several: each example's values.
#[derive(Clone, Debug, PartialEq)]
pub struct InputSeries {
    /// Features per step (per example, for vectors).
    pub dims: usize,
    /// Each example's values, step-major `[steps, dims]`; a vector is one step.
    pub series: Vec<Vec<f32>>,
    /// Sequences, or one vector per example.
    pub sequential: bool,
    /// Where it came from (the file path), for messages.
    pub source: String,
}

/// One input's values, borrowed from a [`SequenceSet`] (its first input or a further one), so
/// every input is read the same way.
#[derive(Clone, Copy, Debug)]
pub struct InputView<'a> {
    /// Features per step (per example, for vectors).
    pub dims: usize,
    /// Each example's values, step-major `[steps, dims]`; a vector is one step.
    pub series: &'a [Vec<f32>],
    /// Sequences, or one vector per example.
    pub sequential: bool,
    /// Where it came from, for messages.
    pub source: &'a str,
}

impl InputView<'_> {
    /// Steps of example i (1 for a vector).
    pub fn steps(&self, i: usize) -> usize {
        self.series[i].len() / self.dims.max(1)
    }
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

    /// Every input, in the model's order: the first, then the further ones.
    pub fn inputs(&self) -> Vec<InputView<'_>> {
        let first = InputView {
            dims: self.dims,
            series: &self.series,
            sequential: self.sequential,
            source: &self.source,
        };
        let more = self.more_inputs.iter().map(|m| InputView {
            dims: m.dims,
            series: &m.series,
            sequential: m.sequential,
            source: &m.source,
        });
        std::iter::once(first).chain(more).collect()
    }
}

/// How an `.npy` input array is read, as the model declares the input (never guessed from
/// the array: a 2-D array is a sequence of one feature for one input, vectors for another).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputLayout {
    /// Sequences: `[n, time, features]`, or `[n, time]` of one feature.
    Sequences,
    /// One vector per example: `[n, features]` (a model's static input).
    Vectors,
}

/// How a model reads one of its inputs from an array: the layout, and the config's name for
/// the input (named in errors; `None` for a model of one sequence input, whose messages need
/// none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputSpec {
    /// The config's name for the input.
    pub name: Option<String>,
    /// How the array is read.
    pub layout: InputLayout,
}

impl InputSpec {
    /// The one sequence input of a stack (and of the default model).
    pub fn one_sequence() -> Vec<InputSpec> {
        vec![InputSpec {
            name: None,
            layout: InputLayout::Sequences,
        }]
    }
}

/// One input array of a labelled set: the file, how it is read, and the model's name for the
/// input (named in errors; `None` for a one-input model).
#[derive(Clone, Copy, Debug)]
pub struct InputFile<'a> {
    /// The `.npy` file.
    pub path: &'a Path,
    /// How the model reads it.
    pub layout: InputLayout,
    /// The config's name for the input.
    pub name: Option<&'a str>,
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
    let input = InputFile {
        path: x,
        layout: InputLayout::Sequences,
        name: None,
    };
    read_npy_inputs(&[input], lengths, Some(y))
}

/// Reads a labelled set of a model's inputs from `.npy` files, each as its [`InputLayout`]
/// says: sequences as in [`read_npy_set`] (`lengths` applies to every sequence input), vectors
/// `[batch, features]`. Per-step targets have the first sequence input's steps, or, when every
/// input is a vector (vec→seq), `y`'s own `time` (all of it; `lengths` is then refused).
///
/// Without `y` (for prediction) the set has no targets: value targets of width 0.
pub fn read_npy_inputs(
    xs: &[InputFile],
    lengths: Option<&Path>,
    y: Option<&Path>,
) -> Result<SequenceSet, SequenceError> {
    let arrays = xs.iter().map(|x| read_npy(x.path)).collect::<Result<Vec<_>, _>>()?;
    let la = lengths.map(read_npy).transpose()?;
    let ya = y.map(read_npy).transpose()?;
    let names: Vec<String> = xs.iter().map(|x| x.path.display().to_string()).collect();
    let inputs: Vec<ArrayInput> = xs
        .iter()
        .zip(&arrays)
        .zip(&names)
        .map(|((x, array), file)| ArrayInput {
            array,
            layout: x.layout,
            file,
            name: x.name,
        })
        .collect();
    let ln = lengths.map(|p| p.display().to_string()).unwrap_or_default();
    let yn = y.map(|p| p.display().to_string()).unwrap_or_default();
    build_inputs(
        &inputs,
        la.as_ref().map(|l| (l, ln.as_str())),
        ya.as_ref().map(|y| (y, yn.as_str())),
    )
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
    let input = ArrayInput {
        array: x,
        layout: InputLayout::Sequences,
        file: &names[0],
        name: None,
    };
    build_inputs(&[input], lengths.map(|l| (l, names[1].as_str())), Some((y, &names[2]))).map(|mut set| {
        set.source = source.to_string();
        set
    })
}

/// Builds an unlabelled set (for prediction) from arrays already in memory, one per model input
/// in its order, each read as its spec says, with the optional lengths: the same checks as
/// [`read_npy_inputs`] (a server's request tensors go through them as `recur run`'s files do).
/// Messages name each array as `source (input `name`)` and the lengths as `source (lengths)`.
pub fn from_input_arrays(
    arrays: &[NpyArray],
    specs: &[InputSpec],
    lengths: Option<&NpyArray>,
    source: &str,
) -> Result<SequenceSet, SequenceError> {
    let names: Vec<String> = specs
        .iter()
        .map(|s| format!("{source} (input `{}`)", s.name.as_deref().unwrap_or("x")))
        .collect();
    let inputs: Vec<ArrayInput> = arrays
        .iter()
        .zip(specs)
        .zip(&names)
        .map(|((array, spec), file)| ArrayInput {
            array,
            layout: spec.layout,
            file,
            name: spec.name.as_deref(),
        })
        .collect();
    let lengths_name = format!("{source} (lengths)");
    build_inputs(&inputs, lengths.map(|l| (l, lengths_name.as_str())), None).map(|mut set| {
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

/// A loaded input array with how to read it and what to call it.
struct ArrayInput<'a> {
    array: &'a NpyArray,
    layout: InputLayout,
    /// The file, as messages name it.
    file: &'a str,
    /// The config's name for the input, if the model has several or a static one.
    name: Option<&'a str>,
}

/// An input array checked: its examples, steps (1 for vectors), features and values.
struct ReadInput {
    batch: usize,
    time: usize,
    dims: usize,
    values: Vec<f32>,
}

/// Checks an input array's type, shape and values as its layout says.
fn read_input(x: &ArrayInput) -> Result<ReadInput, SequenceError> {
    let (a, xn) = (x.array, x.file);
    consistent(a, xn)?;
    let which = x.name.map_or(String::new(), |n| format!("input `{n}`: "));
    let values =
        floats(a).ok_or_else(|| format_err(xn, format!("{which}x must be float32 or float64, not {}", a.dtype())))?;
    let (batch, time, dims) = match (x.layout, &a.shape[..]) {
        (InputLayout::Sequences, &[b, t]) => (b, t, 1),
        (InputLayout::Sequences, &[b, t, f]) => (b, t, f),
        (InputLayout::Vectors, &[b, f]) => (b, 1, f),
        (InputLayout::Sequences, _) => {
            return Err(format_err(
                xn,
                format!(
                    "{which}x must be [batch, time, features] or [batch, time], not shape {:?}",
                    a.shape
                ),
            ))
        }
        (InputLayout::Vectors, _) => {
            return Err(format_err(
                xn,
                format!(
                    "{which}the model takes one vector per example here, [batch, features], not shape {:?}",
                    a.shape
                ),
            ))
        }
    };
    if batch == 0 || time == 0 || dims == 0 {
        return Err(format_err(
            xn,
            format!("{which}x has an empty dimension (shape {:?})", a.shape),
        ));
    }
    if let Some(i) = values.iter().position(|v| v.is_infinite()) {
        let (b, rest) = (i / (time * dims), i % (time * dims));
        let at = match x.layout {
            InputLayout::Sequences => format!("x[{b}, {}, {}]", rest / dims, rest % dims),
            InputLayout::Vectors => format!("x[{b}, {rest}]"),
        };
        return Err(format_err(
            xn,
            format!("{which}{at} is infinite (NaN marks a missing value; Inf is refused)"),
        ));
    }
    Ok(ReadInput {
        batch,
        time,
        dims,
        values,
    })
}

/// The valid steps of each of `batch` sequences of `time` steps: all of them, or `lengths`.
fn read_lengths(lengths: Option<(&NpyArray, &str)>, batch: usize, time: usize) -> Result<Vec<usize>, SequenceError> {
    let Some((l, ln)) = lengths else {
        return Ok(vec![time; batch]);
    };
    consistent(l, ln)?;
    let lv = ints(l).ok_or_else(|| format_err(ln, format!("lengths must be int32 or int64, not {}", l.dtype())))?;
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
        .collect()
}

/// The checks and conversion behind [`read_npy_inputs`] and [`from_npy_arrays`]: the inputs
/// in the model's order, the optional lengths and targets, each with its name in messages.
fn build_inputs(
    inputs: &[ArrayInput],
    lengths: Option<(&NpyArray, &str)>,
    y: Option<(&NpyArray, &str)>,
) -> Result<SequenceSet, SequenceError> {
    let read = inputs.iter().map(read_input).collect::<Result<Vec<_>, _>>()?;
    let (Some(first), Some(x0)) = (read.first(), inputs.first()) else {
        return Err(format_err(y.map_or("", |y| y.1), "no input arrays were given".into()));
    };
    let batch = first.batch;
    check_same_batch(&read, inputs)?;
    // The first sequence input sets the steps that lengths and per-step targets count.
    let sequence = inputs.iter().position(|x| x.layout == InputLayout::Sequences);
    let (lens, time) = match sequence {
        Some(k) => (read_lengths(lengths, batch, read[k].time)?, Some(read[k].time)),
        None => {
            if let Some((_, ln)) = lengths {
                return Err(format_err(
                    ln,
                    "lengths count a sequence input's steps, and every input of this model is one vector per example"
                        .into(),
                ));
            }
            (Vec::new(), None)
        }
    };
    let targets = match y {
        Some(y) => read_targets(y, batch, time, &lens, &x0.array.shape)?,
        None => SequenceTargets::Values {
            width: 0,
            values: Vec::new(),
        },
    };
    if let (Some(t), Some((_, ln))) = (time, lengths) {
        check_shared_time(&read, inputs, t, ln)?;
    }
    // Without a lengths array every sequence is its whole time axis.
    let lens = lengths.map(|_| lens.as_slice());
    let more_inputs = read
        .iter()
        .zip(inputs)
        .skip(1)
        .map(|(r, x)| {
            let sequential = x.layout == InputLayout::Sequences;
            InputSeries {
                dims: r.dims,
                series: example_values(r, sequential, lens),
                sequential,
                source: x.file.to_string(),
            }
        })
        .collect();
    let sequential = x0.layout == InputLayout::Sequences;
    Ok(SequenceSet {
        dims: first.dims,
        series: example_values(first, sequential, lens),
        targets,
        source: x0.file.to_string(),
        sequential,
        more_inputs,
    })
}

/// Checks that every input holds as many examples as the first.
fn check_same_batch(read: &[ReadInput], inputs: &[ArrayInput]) -> Result<(), SequenceError> {
    let (Some(first), Some(x0)) = (read.first(), inputs.first()) else {
        return Ok(());
    };
    match read.iter().zip(inputs).skip(1).find(|(r, _)| r.batch != first.batch) {
        Some((r, x)) => Err(format_err(
            x.file,
            format!(
                "input `{}` has {} examples, but the first input ({}) has {}",
                x.name.unwrap_or("x"),
                r.batch,
                x0.file,
                first.batch
            ),
        )),
        None => Ok(()),
    }
}

/// One lengths array counts the steps of every sequence input, so they must share the first
/// one's time axis `time`; `ln` names the lengths in the message.
fn check_shared_time(read: &[ReadInput], inputs: &[ArrayInput], time: usize, ln: &str) -> Result<(), SequenceError> {
    match read
        .iter()
        .zip(inputs)
        .find(|(r, x)| x.layout == InputLayout::Sequences && r.time != time)
    {
        Some((_, x)) => Err(format_err(
            ln,
            format!(
                "one lengths array counts the steps of every sequence input, but input `{}` ({}) has a \
                 time axis other than the first's {time}",
                x.name.unwrap_or("x"),
                x.file
            ),
        )),
        None => Ok(()),
    }
}

/// Each example's values of one checked input: its valid steps (`lens`, or the whole time
/// axis without lengths) of a sequence, or its one step of a vector.
fn example_values(r: &ReadInput, sequential: bool, lens: Option<&[usize]>) -> Vec<Vec<f32>> {
    let row = r.time * r.dims;
    (0..r.batch)
        .map(|b| {
            let steps = match (sequential, lens) {
                (false, _) => 1,
                (true, Some(lens)) => lens[b],
                (true, None) => r.time,
            };
            r.values[b * row..b * row + steps * r.dims].to_vec()
        })
        .collect()
}

/// The targets `y` of `batch` examples. Per-step targets have `time` steps (those of the
/// first sequence input, of which `lens` are valid) or, with no sequence input, `y`'s own.
fn read_targets(
    y: (&NpyArray, &str),
    batch: usize,
    time: Option<usize>,
    lens: &[usize],
    x_shape: &[usize],
) -> Result<SequenceTargets, SequenceError> {
    let (y, yn) = y;
    consistent(y, yn)?;
    if y.shape.first() != Some(&batch) {
        return Err(format_err(
            yn,
            format!(
                "y has shape {:?}, but its first dimension must be the batch size {batch} of x",
                y.shape
            ),
        ));
    }
    // With no sequence input, y's own time is the steps of every example.
    let time = time.or_else(|| y.shape.get(1).copied()).unwrap_or(0);
    let steps = |b: usize| lens.get(b).copied().unwrap_or(time);
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
                    (0..steps(b))
                        .map(|s| class_index(v[b * time + s], yn, &format!("y[{b}, {s}]")))
                        .collect::<Result<Vec<_>, _>>()
                })
                .collect::<Result<Vec<_>, _>>()?;
            let names = index_names(labels.iter().flatten());
            SequenceTargets::StepClasses { labels, names }
        }
        (None, Some(v), [_]) | (None, Some(v), [_, _]) => value_targets(v, y.shape.get(1).copied().unwrap_or(1), yn)?,
        (None, Some(v), [_, t, w]) if *t == time && *w > 0 => {
            let width = *w;
            let values = (0..batch)
                .map(|b| step_values(&v[b * time * width..(b * time + steps(b)) * width], width, b, yn))
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
                    x_shape
                ),
            ))
        }
    };
    Ok(targets)
}

/// Real targets of `width` values per example, each finite.
fn value_targets(values: Vec<f32>, width: usize, yn: &str) -> Result<SequenceTargets, SequenceError> {
    if width == 0 {
        return Err(format_err(yn, "y has no target columns".into()));
    }
    if let Some(i) = values.iter().position(|t| !t.is_finite()) {
        return Err(format_err(
            yn,
            format!(
                "y[{}, {}] is {} (targets must be finite)",
                i / width,
                i % width,
                values[i]
            ),
        ));
    }
    Ok(SequenceTargets::Values { width, values })
}

/// Example `b`'s real targets per valid step (`row`, `[steps, width]`), each finite.
fn step_values(row: &[f32], width: usize, b: usize, yn: &str) -> Result<Vec<f32>, SequenceError> {
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
}

// The reading's cases are many; they live beside the reader.
#[cfg(test)]
mod tests;
