//! `Predictor`: a model directory written by `recur fit` (or by the package, which writes the
//! same), answering numpy arrays through [`FitPredictor`] as `recur run` answers `.npy`
//! files.

use crate::arrays::{input_array, lengths_array, to_numpy};
use crate::errors::{from_data, from_nn, guarded};
use numpy::PyArrayDyn;
use pyo3::prelude::*;
use recur_data::sequences::from_input_arrays;
use recur_fit::FitPredictor;
use recur_nn::Precision;
use std::path::PathBuf;

/// A model trained by `recur fit`, loaded from its directory.
#[pyclass(frozen, module = "recur._recur")]
pub struct Predictor {
    inner: FitPredictor,
    dir: PathBuf,
}

#[pymethods]
impl Predictor {
    /// Loads the model in `dir` (and its ensemble members), prepared for fp32 inference as
    /// `recur run` prepares it.
    #[new]
    fn new(dir: PathBuf) -> PyResult<Self> {
        let mut inner = FitPredictor::load(&dir).map_err(from_nn)?;
        inner.prepare_inference(Precision::Fp32);
        Ok(Predictor { inner, dir })
    }

    /// The directory it was loaded from.
    #[getter]
    fn dir(&self) -> PathBuf {
        self.dir.clone()
    }

    /// Class names in the model's order (empty for a regressor).
    #[getter]
    fn classes(&self) -> Vec<String> {
        self.inner.classes().to_vec()
    }

    /// `classify`, `regress`, `tag_steps` or `regress_steps`.
    #[getter]
    fn task(&self) -> String {
        let task = self.inner.meta().task;
        serde_json::to_value(task)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_else(|| task.describe().to_string())
    }

    /// Channels per step the model reads.
    #[getter]
    fn channels(&self) -> usize {
        self.inner.meta().first.dims
    }

    /// Outputs per sequence (or step): classes or values.
    #[getter]
    fn outputs(&self) -> usize {
        self.inner.outputs()
    }

    /// Ensemble members (1 for one model).
    #[getter]
    fn members(&self) -> usize {
        self.inner.members()
    }

    /// Class probabilities or values for `x` (`[n, time, channels]` or `[n, time]`, aeon's
    /// `[n, channels, time]` with `channels_first`; int64 `lengths` when padded): `[n, k]`,
    /// or `[n, time, k]` for per-step models, as `recur run` writes them.
    #[pyo3(signature = (x, *, lengths=None, channels_first=false, threads=None))]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        lengths: Option<&Bound<'py, PyAny>>,
        channels_first: bool,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        let array = input_array(x, channels_first)?;
        let lengths = lengths.map(lengths_array).transpose()?;
        let set = from_input_arrays(&[array], self.inner.input_specs(), lengths.as_ref(), "X").map_err(from_data)?;
        let threads = threads.unwrap_or_else(recur_core::parallel::default_threads);
        let (shape, values) = py.detach(|| {
            guarded(|| {
                let outputs = self.inner.predict(&set, threads).map_err(from_nn)?;
                Ok(self.inner.outputs_array(&outputs))
            })
        })?;
        to_numpy(py, shape, values)
    }
}
