//! recur's data readers for Python: the same parsers `recur fit --train` uses.

use crate::arrays::sequences_to_numpy;
use crate::errors::from_data;
use numpy::PyArrayDyn;
use pyo3::prelude::*;
use pyo3::types::PyList;
use recur_data::sequences::SequenceTargets;
use std::path::PathBuf;

/// Reads a UEA/UCR `.ts` file: the sequences (a list of float32 `[steps, channels]` arrays,
/// missing values NaN), and the targets: a list of class labels as the file writes them, or
/// float32 values `[n, k]` for regression; and the class names in the file's order.
#[pyfunction]
#[allow(clippy::type_complexity)]
pub fn read_ts<'py>(
    py: Python<'py>,
    path: PathBuf,
) -> PyResult<(Vec<Bound<'py, PyArrayDyn<f32>>>, Bound<'py, PyAny>, Vec<String>)> {
    let set = py.detach(|| recur_data::read_ts(&path)).map_err(from_data)?;
    let xs = sequences_to_numpy(py, set.series, set.dims)?;
    let (targets, names) = match set.targets {
        SequenceTargets::Classes { labels, names } => {
            let each: Vec<&str> = labels.iter().map(|&k| names[k].as_str()).collect();
            (PyList::new(py, each)?.into_any(), names.clone())
        }
        SequenceTargets::Values { width, values } => {
            let n = values.len() / width.max(1);
            (
                crate::arrays::to_numpy(py, vec![n, width], values)?.into_any(),
                Vec::new(),
            )
        }
        _ => {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "{}: per-step targets are read with recur fit --x/--y arrays",
                path.display()
            )))
        }
    };
    Ok((xs, targets, names))
}
