//! recur's data readers for Python: the same parsers `recur fit --train` uses.

use crate::arrays::sequences_to_numpy;
use crate::errors::from_data;
use numpy::PyArrayDyn;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use recur_data::quickdraw::{self, LoadError, LoadOptions};
use recur_data::sequences::SequenceTargets;
use std::path::PathBuf;

/// Reads a UEA/UCR `.ts` file: the sequences (a list of float32 `[steps, channels]` arrays,
/// missing values NaN), and the targets: a list of class labels as the file writes them, or
/// float32 values `[n, k]` for regression.
#[pyfunction]
#[allow(clippy::type_complexity)]
pub fn read_ts<'py>(py: Python<'py>, path: PathBuf) -> PyResult<(Vec<Bound<'py, PyArrayDyn<f32>>>, Bound<'py, PyAny>)> {
    let set = py.detach(|| recur_data::read_ts(&path)).map_err(from_data)?;
    let xs = sequences_to_numpy(py, set.series, set.dims)?;
    let targets = match set.targets {
        SequenceTargets::Classes { labels, names } => {
            let each: Vec<&str> = labels.iter().map(|&k| names[k].as_str()).collect();
            PyList::new(py, each)?.into_any()
        }
        SequenceTargets::Values { width, values } => {
            let n = values.len() / width.max(1);
            crate::arrays::to_numpy(py, vec![n, width], values)?.into_any()
        }
        _ => {
            return Err(PyValueError::new_err(format!(
                "{}: per-step targets are read with recur fit --x/--y arrays",
                path.display()
            )))
        }
    };
    Ok((xs, targets))
}

/// Reads Quick, Draw! drawings (`.ndjson`, `.bin` or `.npz` files, folders or globs) as
/// `recur sketch` loads them: each a dict of `word`, `key_id`, `recognized`, `countrycode`
/// and `strokes` (float32 `[points, 2]` arrays of absolute x, y); returns them with the
/// number of bad drawings skipped and the first problems (`strict` raises on the first one).
#[pyfunction]
#[pyo3(signature = (inputs, *, classes=Vec::new(), max_per_class=None, recognized_only=false, strict=false))]
#[allow(clippy::type_complexity)]
pub fn read_quickdraw<'py>(
    py: Python<'py>,
    inputs: Vec<String>,
    classes: Vec<String>,
    max_per_class: Option<usize>,
    recognized_only: bool,
    strict: bool,
) -> PyResult<(Vec<Bound<'py, PyDict>>, usize, Vec<String>)> {
    let options = LoadOptions {
        classes,
        max_per_class,
        recognized_only,
        strict,
    };
    let (drawings, report) = py.detach(|| quickdraw::load(&inputs, &options)).map_err(|e| match e {
        LoadError::Input { .. } => PyOSError::new_err(e.to_string()),
        LoadError::Strict(_) => PyValueError::new_err(e.to_string()),
    })?;
    let dicts = drawing_dicts(py, drawings)?;
    let problems = report.problems.iter().map(ToString::to_string).collect();
    Ok((dicts, report.skipped, problems))
}

/// The generated doodles `recur demo` and `recur data synth` make: `per_class` drawings of
/// each of their 12 classes, interleaved, reproducible from `seed`, as dicts like
/// [`read_quickdraw`]'s.
#[pyfunction]
#[pyo3(signature = (per_class, *, seed=1))]
pub fn make_doodles(py: Python<'_>, per_class: usize, seed: u64) -> PyResult<Vec<Bound<'_, PyDict>>> {
    // Bounded before generating: each doodle is a few dozen points.
    const MOST: usize = 100_000;
    if per_class > MOST {
        return Err(PyValueError::new_err(format!(
            "per_class={per_class} is more than the {MOST} doodles per class made here"
        )));
    }
    drawing_dicts(py, quickdraw::synth::generate(per_class, seed))
}

/// Drawings as dicts of `word`, `key_id`, `recognized`, `countrycode` and `strokes` (float32
/// `[points, 2]` arrays).
fn drawing_dicts(py: Python<'_>, drawings: Vec<quickdraw::Drawing>) -> PyResult<Vec<Bound<'_, PyDict>>> {
    drawings
        .into_iter()
        .map(|d| {
            let dict = PyDict::new(py);
            dict.set_item("word", d.word)?;
            dict.set_item("key_id", d.key_id)?;
            dict.set_item("recognized", d.recognized)?;
            dict.set_item("countrycode", d.countrycode)?;
            let strokes: Vec<Vec<f32>> = d.strokes.iter().map(|s| s.as_flattened().to_vec()).collect();
            dict.set_item("strokes", sequences_to_numpy(py, strokes, 2)?)?;
            Ok(dict)
        })
        .collect()
}
