//! A training run's progress heard from Python: Ctrl-C is checked on every event, and the
//! user's callback (if any) gets each event as a dict; either one raising stops the run at its
//! next step, and the exception is raised once the run has returned.

use pyo3::prelude::*;
use pyo3::types::PyDict;
use recur_train::{Event, Reporter};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Hears a run's events on the training thread: checks for Ctrl-C and calls the user's
/// callback with each event as a dict; either one raising stops the run at its next step.
pub struct Listener {
    callback: Option<Arc<Py<PyAny>>>,
    stop: Arc<AtomicBool>,
    raised: Arc<Mutex<Option<PyErr>>>,
}

impl Listener {
    pub fn new(callback: Option<Py<PyAny>>) -> Self {
        Listener {
            callback: callback.map(Arc::new),
            stop: Arc::new(AtomicBool::new(false)),
            raised: Arc::new(Mutex::new(None)),
        }
    }

    /// The reporter the run is given.
    pub fn reporter(&self) -> Reporter {
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

    /// The run's `result`, unless Ctrl-C or the callback's own exception stopped it: then that
    /// exception, which wins over the stop it caused.
    pub fn outcome<T>(&self, result: PyResult<T>) -> PyResult<T> {
        match self.raised() {
            Some(e) => Err(e),
            None => result,
        }
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
