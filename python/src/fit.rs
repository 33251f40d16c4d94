//! `fit_sequences`: `recur fit` from Python. The arrays become the library's sequence set,
//! the config and settings a [`FitRequest`], and [`recur_fit::fit_sequences`] trains and
//! saves the model with the GIL released, as the command line's `recur fit` does; Ctrl-C and
//! an optional progress callback are heard between steps.

use crate::arrays::{input_array, lengths_array, target_array};
use crate::errors::{from_data, from_nn, guarded};
use crate::progress::Listener;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use recur_data::sequences::{from_npy_arrays, InputLayout, SequenceSet, SequenceTargets};
use recur_fit::history::{summary_line, write_histories};
use recur_fit::{split_config, FitJob, FitRequest};
use serde_json::{json, Map, Value};
use std::path::PathBuf;

/// Trains a model on `x` (`[n, time, channels]` or `[n, time]` float32/float64, with
/// optional int64 `lengths`) and `y` (int64 class indices named by `class_names`, or float64
/// values), writing it to the directory `out` as `recur fit --out` does. `config` is a
/// model config's JSON text (its `training` section included), `training` a JSON object of
/// settings laid over that section. Returns `recur fit`'s summary line.
#[pyfunction]
#[pyo3(signature = (x, y, out, *, lengths=None, class_names=None, channels_first=false, config=None, training="{}", progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn fit_sequences(
    py: Python<'_>,
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    out: PathBuf,
    lengths: Option<&Bound<'_, PyAny>>,
    class_names: Option<Vec<String>>,
    channels_first: bool,
    config: Option<&str>,
    training: &str,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let request = fit_request(config, training)?;
    let set = training_set(x, y, lengths, class_names, channels_first)?;
    let config = request.model_config(&set).map_err(from_nn)?;
    let listener = Listener::new(progress);
    let job = FitJob {
        train: &set,
        val: None,
        config,
        settings: request.settings,
        out: out.clone(),
        resume: false,
        progress: listener.reporter(),
        rank_local: false,
        groups: None,
    };
    let trained = py.detach(|| {
        guarded(|| {
            let outcome = recur_fit::fit_sequences(&job).map_err(from_nn)?;
            write_histories(&out, &outcome).map_err(from_nn)?;
            Ok(summary_line(&out, &outcome))
        })
    });
    listener.outcome(trained)
}

/// The config's model and its `training` section with `training` (a JSON object) laid over
/// it, checked as `recur fit` checks them; the package fits models of one sequence input.
fn fit_request(config: Option<&str>, training: &str) -> PyResult<FitRequest> {
    let given: Map<String, Value> = serde_json::from_str(training)
        .map_err(|e| PyValueError::new_err(format!("training settings: not a JSON object ({e})")))?;
    let (model, section) = match config {
        Some(text) => {
            let (model, section) = split_config(text, "config").map_err(from_nn)?;
            (Some((model, "config".to_string())), section)
        }
        None => (None, json!({})),
    };
    let mut merged = match section {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    merged.extend(given);
    let request = FitRequest::new(model, Value::Object(merged)).map_err(from_nn)?;
    let specs = request.input_specs().map_err(from_nn)?;
    if specs.len() != 1 || specs[0].layout != InputLayout::Sequences {
        return Err(PyValueError::new_err(
            "config: the Python estimators fit models of one sequence input; train a model of several \
             inputs with `recur fit --x ... --x ...` and open it with recur.load",
        ));
    }
    Ok(request)
}

/// The labelled set of `x` and `y`, read by the library's array reader (the checks and
/// messages of `recur fit --x/--y`), its classes named `class_names`.
fn training_set(
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    lengths: Option<&Bound<'_, PyAny>>,
    class_names: Option<Vec<String>>,
    channels_first: bool,
) -> PyResult<SequenceSet> {
    let x = input_array(x, channels_first)?;
    let y = target_array(y)?;
    let lengths = lengths.map(lengths_array).transpose()?;
    let mut set = from_npy_arrays(&x, lengths.as_ref(), &y, "X").map_err(from_data)?;
    if let (Some(given), SequenceTargets::Classes { names, .. }) = (class_names, &mut set.targets) {
        if given.len() != names.len() {
            return Err(PyValueError::new_err(format!(
                "y: {} class names for {} classes",
                given.len(),
                names.len()
            )));
        }
        *names = given;
    }
    Ok(set)
}
