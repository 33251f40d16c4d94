//! `fit_sequences`: `recur fit` from Python. The arrays become the library's sequence set,
//! the config and settings a [`FitRequest`], and [`recur_fit::fit_sequences`] trains and
//! saves the model with the GIL released, as the command line's `recur fit` does; Ctrl-C and
//! an optional progress callback are heard between steps.

use crate::arrays::{input_array, lengths_array, target_array};
use crate::errors::{from_data, from_nn, guarded};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use recur_data::sequences::{from_npy_arrays, InputLayout, SequenceSet, SequenceTargets};
use recur_fit::history::{summary_line, write_histories};
use recur_fit::{split_config, FitJob, FitRequest};
use recur_train::{Event, Reporter};
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

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
    // Ctrl-C, or the callback's own exception, wins over the stop it caused.
    match listener.raised() {
        Some(e) => Err(e),
        None => trained,
    }
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

/// Hears a run's events on the training thread: checks for Ctrl-C and calls the user's
/// callback with each event as a dict; either one raising stops the run at its next step.
struct Listener {
    callback: Option<Arc<Py<PyAny>>>,
    stop: Arc<AtomicBool>,
    raised: Arc<Mutex<Option<PyErr>>>,
}

impl Listener {
    fn new(callback: Option<Py<PyAny>>) -> Self {
        Listener {
            callback: callback.map(Arc::new),
            stop: Arc::new(AtomicBool::new(false)),
            raised: Arc::new(Mutex::new(None)),
        }
    }

    /// The reporter the run is given.
    fn reporter(&self) -> Reporter {
        let (callback, stop, raised) = (self.callback.clone(), self.stop.clone(), self.raised.clone());
        Reporter::new(move |event| {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let heard = Python::attach(|py| {
                py.check_signals()?;
                match &callback {
                    Some(f) => f.call1(py, (event_dict(py, &event)?,)).map(drop),
                    None => Ok(()),
                }
            });
            if let Err(e) = heard {
                if let Ok(mut slot) = raised.lock() {
                    *slot = Some(e);
                }
                stop.store(true, Ordering::Relaxed);
            }
        })
        .with_stop(self.stop.clone())
    }

    /// The exception that stopped the run, if one did.
    fn raised(&self) -> Option<PyErr> {
        self.raised.lock().ok().and_then(|mut slot| slot.take())
    }
}

/// An event as the dict the callback gets: `{"event": "epoch_ended", "epoch": 3, ...}`.
fn event_dict<'py>(py: Python<'py>, event: &Event) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    match event {
        Event::EpochStarted {
            epoch,
            epochs,
            batches,
            clock,
        } => {
            d.set_item("event", "epoch_started")?;
            d.set_item("epoch", epoch)?;
            // None for a run that trains until its time limit (none of the estimators' runs).
            d.set_item("epochs", epochs)?;
            d.set_item("batches", batches)?;
            if let Some(clock) = clock {
                d.set_item("elapsed_seconds", clock.elapsed)?;
                d.set_item("limit_seconds", clock.limit)?;
            }
        }
        Event::Batch { done, loss } => {
            d.set_item("event", "batch")?;
            d.set_item("done", done)?;
            d.set_item("loss", loss)?;
        }
        Event::EpochEnded {
            record,
            epochs,
            improved,
        } => {
            d.set_item("event", "epoch_ended")?;
            d.set_item("epoch", record.epoch)?;
            d.set_item("epochs", epochs)?;
            d.set_item("loss", record.loss)?;
            d.set_item("improved", improved)?;
            let metrics = PyDict::new(py);
            for (name, value) in record.metrics.iter() {
                metrics.set_item(name, value)?;
            }
            d.set_item("metrics", metrics)?;
        }
        Event::Resumed { epochs_done, .. } => {
            d.set_item("event", "resumed")?;
            d.set_item("epochs_done", epochs_done)?;
        }
        Event::Note(line) => {
            d.set_item("event", "note")?;
            d.set_item("text", line)?;
        }
    }
    Ok(d)
}
