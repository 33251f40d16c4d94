//! `recur forecast` from Python. A series comes as the CSV text `recur forecast --csv` reads
//! (the Python side writes it from a pandas Series or numpy arrays), so it meets the very
//! parser, cleaning and notes of the command line; [`ForecastSettings`] gives the settings and
//! their defaults as `recur forecast`'s flags do; [`recur_forecast::fit_forecaster`] trains on
//! the whole series and saves the directory `recur forecast --out` writes; [`ForecastModel`]
//! forecasts through the [`ForecastPredictor`] `recur forecast --model DIR` uses.

use crate::errors::{from_nn, from_series, guarded};
use crate::progress::Listener;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use recur_data::{dates, parse_daily_csv, DailySeries, SeriesSpec};
use recur_forecast::{fit_forecaster, split_covariates, ForecastPredictor, ForecastSettings, SeriesColumns};
use recur_nn::Precision;
use std::path::PathBuf;

/// The date column of the CSV the Python side writes.
const DATE_COL: &str = "date";
/// How the series is named in messages about it.
const SERIES_NAME: &str = "y";

/// Trains a forecaster on every day of the daily series `csv` (a `date` column, the values in
/// `value_col`, covariate columns; rows after the last value carry covariates only) with
/// `settings` (a JSON object of `recur forecast`'s settings, `_` for `-`; defaults for those
/// left out) and saves it into `out` as `recur forecast --out` does. Returns a summary line and
/// the reader's notes (days filled, ...).
#[pyfunction]
#[pyo3(signature = (csv, out, *, value_col, settings="{}", strict=false, progress=None))]
pub fn fit_forecaster_csv(
    py: Python<'_>,
    csv: &str,
    out: PathBuf,
    value_col: String,
    settings: &str,
    strict: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<(String, Vec<String>)> {
    let settings: ForecastSettings =
        serde_json::from_str(settings).map_err(|e| PyValueError::new_err(format!("forecaster settings: {e}")))?;
    let spec = SeriesSpec {
        date_col: DATE_COL.into(),
        value_col: value_col.clone(),
        covariates: split_covariates(&settings.covariates).map_err(from_nn)?.columns,
        strict,
    };
    let series = parse_daily_csv(csv, SERIES_NAME, &spec).map_err(from_series)?;
    let last = series.day(series.observed - 1);
    let listener = Listener::new(progress);
    let options = settings
        .options(&series, (last, None, last), listener.reporter(), str::to_string)
        .map_err(from_nn)?;
    let columns = SeriesColumns {
        date_col: DATE_COL.into(),
        value_col,
        covariates: settings.covariates.clone(),
        train_until: dates::format(last),
    };
    let trained = py.detach(|| {
        guarded(|| {
            let trained = fit_forecaster(&series, &options).map_err(from_nn)?;
            trained.forecaster.save(&out, &columns).map_err(from_nn)?;
            Ok(format!(
                "{}: trained on {}..{}, best epoch {} of {} (early-stopping mean MAE {:.1})",
                settings.model,
                dates::format(series.first_day),
                dates::format(last),
                trained.best_epochs[0],
                trained.epochs[0],
                trained.early_stop_errors.mean_mae
            ))
        })
    });
    Ok((listener.outcome(trained)?, series.notes))
}

/// A forecaster saved by `recur forecast --out` (or by the package, which writes the same).
#[pyclass(frozen, module = "recur._recur")]
pub struct ForecastModel {
    inner: ForecastPredictor,
    dir: PathBuf,
}

/// A forecast: the days (`YYYY-MM-DD`), the values, the interval's lower and upper ends (when
/// the model has intervals), and the reader's notes.
type Answer = (Vec<String>, Vec<f64>, Option<(Vec<f64>, Vec<f64>)>, Vec<String>);

#[pymethods]
impl ForecastModel {
    /// Loads the forecaster saved in `dir`, prepared for fp32 inference as `recur forecast
    /// --model` prepares it.
    #[new]
    fn new(dir: PathBuf) -> PyResult<Self> {
        let mut inner = ForecastPredictor::load(&dir).map_err(from_nn)?;
        inner.forecaster.prepare_inference(Precision::Fp32);
        Ok(ForecastModel { inner, dir })
    }

    /// The directory it was loaded from.
    #[getter]
    fn dir(&self) -> PathBuf {
        self.dir.clone()
    }

    /// Days forecast.
    #[getter]
    fn horizon(&self) -> usize {
        self.inner.forecaster.spec.horizon
    }

    /// Days of history the model sees.
    #[getter]
    fn window(&self) -> usize {
        self.inner.forecaster.spec.window
    }

    /// The CSV columns it reads: `(date, value, covariates as declared)`.
    #[getter]
    fn columns(&self) -> (String, String, Vec<String>) {
        let c = &self.inner.columns;
        (c.date_col.clone(), c.value_col.clone(), c.covariates.clone())
    }

    /// The last training day, `YYYY-MM-DD`.
    #[getter]
    fn train_until(&self) -> String {
        self.inner.columns.train_until.clone()
    }

    /// The intervals' nominal coverage, or None.
    #[getter]
    fn level(&self) -> Option<f64> {
        self.inner.forecaster.interval.as_ref().map(|i| i.level)
    }

    /// Forecasts the days after the last value of the series `csv` (in the columns of
    /// [`ForecastModel::columns`]), as `recur forecast --model DIR --csv` does.
    #[pyo3(signature = (csv, *, strict=false, threads=None))]
    fn forecast(&self, py: Python<'_>, csv: &str, strict: bool, threads: Option<usize>) -> PyResult<Answer> {
        let spec = self.inner.series_spec(strict).map_err(from_nn)?;
        let series: DailySeries = parse_daily_csv(csv, SERIES_NAME, &spec).map_err(from_series)?;
        let threads = threads.unwrap_or_else(recur_core::parallel::default_threads).max(1);
        let ahead = py.detach(|| {
            guarded(|| {
                let last = ForecastPredictor::last_day(&series, None).map_err(from_nn)?;
                self.inner.forecast(&series, last, threads).map_err(from_nn)
            })
        })?;
        let days = ahead.days.iter().map(|&d| dates::format(d)).collect();
        let band = ahead.interval.map(|b| (b.lower, b.upper));
        Ok((days, ahead.forecast, band, series.notes))
    }
}
