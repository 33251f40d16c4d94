//! The native half of recur's Python package (`recur._recur`): numpy arrays in, the library
//! crates' fit and predictors called exactly as `recur fit`, `recur run`, `recur eval` and
//! `recur forecast` call them, numpy arrays out. The estimators users see are the thin Python classes in
//! `recur/`; everything they learn or answer comes from here.

mod arrays;
mod errors;
mod fit;
mod forecast;
mod predictor;
mod progress;
mod readers;
mod seq2seq;
mod sketch;

use pyo3::prelude::*;

/// The module `recur._recur`.
#[pymodule]
fn _recur(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(fit::fit_sequences, m)?)?;
    m.add_function(wrap_pyfunction!(readers::read_ts, m)?)?;
    m.add_function(wrap_pyfunction!(readers::read_quickdraw, m)?)?;
    m.add_function(wrap_pyfunction!(default_threads, m)?)?;
    m.add_class::<predictor::Predictor>()?;
    m.add_function(wrap_pyfunction!(forecast::fit_forecaster_csv, m)?)?;
    m.add_class::<forecast::ForecastModel>()?;
    m.add_function(wrap_pyfunction!(seq2seq::fit_seq2seq, m)?)?;
    m.add_class::<seq2seq::Seq2SeqModel>()?;
    m.add_function(wrap_pyfunction!(sketch::fit_sketches, m)?)?;
    m.add_function(wrap_pyfunction!(sketch::is_sketch_model, m)?)?;
    m.add_class::<sketch::SketchModel>()?;
    m.add_function(wrap_pyfunction!(readers::make_doodles, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

/// The cores recur uses when not told (all of the machine's).
#[pyfunction]
fn default_threads() -> usize {
    recur_core::parallel::default_threads()
}
