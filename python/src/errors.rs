//! recur's errors as Python exceptions, with recur's message: a file that cannot be read is
//! an `OSError`, everything else the user gave wrong a `ValueError`; an interrupted run is
//! Python's own `KeyboardInterrupt`, and a panic (a bug in recur) a `RuntimeError` rather
//! than a crash of the interpreter.

use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyRuntimeError, PyValueError};
use pyo3::PyErr;
use recur_data::sequences::SequenceError;
use recur_nn::NnError;
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// An error of the model library as a Python exception.
pub fn from_nn(e: NnError) -> PyErr {
    match e {
        NnError::Io { .. } => PyOSError::new_err(e.to_string()),
        NnError::Interrupted => PyKeyboardInterrupt::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// An error of the data readers as a Python exception.
pub fn from_data(e: SequenceError) -> PyErr {
    match e {
        SequenceError::Io { .. } => PyOSError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// Runs `work`, turning a panic into a `RuntimeError` naming it (the interpreter goes on).
pub fn guarded<T>(work: impl FnOnce() -> Result<T, PyErr>) -> Result<T, PyErr> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|payload| {
        Err(PyRuntimeError::new_err(format!(
            "recur failed inside (a bug, please report it): {}",
            panic_message(payload.as_ref())
        )))
    })
}

/// The text a panic was raised with.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    match (payload.downcast_ref::<&str>(), payload.downcast_ref::<String>()) {
        (Some(s), _) => (*s).to_string(),
        (_, Some(s)) => s.clone(),
        _ => "a panic without a message".into(),
    }
}

/// An error of the daily-series reader as a Python exception (the series is the user's input).
pub fn from_series(e: recur_data::series::SeriesError) -> PyErr {
    PyValueError::new_err(e.to_string())
}
