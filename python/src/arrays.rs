//! numpy arrays as the library's [`NpyArray`]s, the form `recur fit`/`recur run` read from
//! `.npy` files and the server from requests, so the package's arrays meet the very same
//! checks (shapes, lengths, infinite values, labels) with the very same messages.
//!
//! Copies: a C-ordered float32 or float64 array is read straight from numpy's buffer into
//! the one `Vec` the library reads it from; aeon's `[n, channels, time]` is transposed
//! during that same pass (numpy makes no copy of its own). Outputs move into numpy without a
//! copy.

use numpy::ndarray::ArrayViewD;
use numpy::{Element, IntoPyArray, PyArrayDyn, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use recur_data::npy::{NpyArray, NpyData};

/// The values and shape of `view` in C order, `[n, time, channels]`: aeon's `[n, channels,
/// time]` (`channels_first`) turned around while copied.
fn c_order<T: Element + Copy>(mut view: ArrayViewD<'_, T>, channels_first: bool) -> (Vec<usize>, Vec<T>) {
    if channels_first && view.ndim() == 3 {
        view.swap_axes(1, 2);
    }
    let shape = view.shape().to_vec();
    let values = match view.as_slice() {
        Some(contiguous) => contiguous.to_vec(),
        None => view.iter().copied().collect(),
    };
    (shape, values)
}

/// The sequences `x` (float32 or float64, `[n, time, channels]` or `[n, time]`; aeon's
/// `[n, channels, time]` with `channels_first`) as an [`NpyArray`].
pub fn input_array(x: &Bound<'_, PyAny>, channels_first: bool) -> PyResult<NpyArray> {
    if let Ok(a) = x.extract::<PyReadonlyArrayDyn<'_, f32>>() {
        let (shape, values) = c_order(a.as_array(), channels_first);
        return Ok(NpyArray {
            shape,
            data: NpyData::F32(values),
        });
    }
    if let Ok(a) = x.extract::<PyReadonlyArrayDyn<'_, f64>>() {
        let (shape, values) = c_order(a.as_array(), channels_first);
        return Ok(NpyArray {
            shape,
            data: NpyData::F64(values),
        });
    }
    Err(PyTypeError::new_err(format!(
        "X must hold float32 or float64 values, not {}",
        dtype_name(x)
    )))
}

/// Targets: int64 class indices `[n]`, or float64 values `[n]` or `[n, k]`.
pub fn target_array(y: &Bound<'_, PyAny>) -> PyResult<NpyArray> {
    if let Ok(a) = y.extract::<PyReadonlyArrayDyn<'_, i64>>() {
        let (shape, values) = c_order(a.as_array(), false);
        return Ok(NpyArray {
            shape,
            data: NpyData::I64(values),
        });
    }
    if let Ok(a) = y.extract::<PyReadonlyArrayDyn<'_, f64>>() {
        let (shape, values) = c_order(a.as_array(), false);
        return Ok(NpyArray {
            shape,
            data: NpyData::F64(values),
        });
    }
    Err(PyTypeError::new_err(format!(
        "y must hold int64 class indices or float64 values, not {}",
        dtype_name(y)
    )))
}

/// Each sequence's valid steps, int64 `[n]`.
pub fn lengths_array(lengths: &Bound<'_, PyAny>) -> PyResult<NpyArray> {
    let a = lengths
        .extract::<PyReadonlyArrayDyn<'_, i64>>()
        .map_err(|_| PyTypeError::new_err(format!("lengths must be int64, not {}", dtype_name(lengths))))?;
    let (shape, values) = c_order(a.as_array(), false);
    Ok(NpyArray {
        shape,
        data: NpyData::I64(values),
    })
}

/// A row-major array of `shape` moved into numpy (no copy).
pub fn to_numpy<'py>(py: Python<'py>, shape: Vec<usize>, values: Vec<f32>) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    let array = numpy::ndarray::ArrayD::from_shape_vec(shape, values)
        .map_err(|e| PyValueError::new_err(format!("output of an unexpected shape: {e}")))?;
    Ok(array.into_pyarray(py))
}

/// Sequences of their own lengths (each `[steps, channels]`) moved into numpy arrays.
pub fn sequences_to_numpy<'py>(
    py: Python<'py>,
    series: Vec<Vec<f32>>,
    dims: usize,
) -> PyResult<Vec<Bound<'py, PyArrayDyn<f32>>>> {
    series
        .into_iter()
        .map(|s| {
            let steps = s.len() / dims.max(1);
            to_numpy(py, vec![steps, dims], s)
        })
        .collect()
}

/// numpy's name of an object's element type (or its Python type when it is no array).
fn dtype_name(x: &Bound<'_, PyAny>) -> String {
    match x.cast::<numpy::PyUntypedArray>() {
        Ok(a) => a.dtype().to_string(),
        Err(_) => x
            .get_type()
            .name()
            .map_or_else(|_| "an unknown type".into(), |n| n.to_string()),
    }
}
