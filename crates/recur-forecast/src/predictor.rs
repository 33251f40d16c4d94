//! [`ForecastPredictor`]: a saved forecaster ready to answer — the days after a series' last
//! value (or after a chosen day) with their interval — for any front end: the command line,
//! a server, a Python module.

use crate::features::Calendar;
use crate::forecaster::{Forecaster, SeriesColumns};
use recur_data::{dates, DailySeries, SeriesSpec};
use recur_nn::{NnError, Result};
use std::path::{Path, PathBuf};

/// How far (in training standard deviations) the last window's mean may lie from the training
/// mean before the data is taken for another series than the model's.
const FOREIGN_LEVEL: f64 = 10.0;

/// A saved forecaster with the columns it was trained on.
pub struct ForecastPredictor {
    /// The models, scaling and interval.
    pub forecaster: Forecaster,
    /// The series' columns and last training day.
    pub columns: SeriesColumns,
    /// Where it was loaded from (named in errors).
    dir: PathBuf,
}

/// The forecast of the days after `last_day`.
#[derive(Clone, Debug, PartialEq)]
pub struct Ahead {
    /// The last day the model saw (index into the series).
    pub last: usize,
    /// The days forecast (day numbers, see [`recur_data::dates`]).
    pub days: Vec<i64>,
    /// One value per day, in the series' units.
    pub forecast: Vec<f64>,
    /// The prediction interval, where the model was trained with one.
    pub interval: Option<Band>,
}

/// A prediction interval around a forecast.
#[derive(Clone, Debug, PartialEq)]
pub struct Band {
    /// Nominal coverage, e.g. 0.8.
    pub level: f64,
    /// Low end per day.
    pub lower: Vec<f64>,
    /// High end per day.
    pub upper: Vec<f64>,
    /// The value the ends were raised to where they fell below it: 0 for a series never
    /// negative in training (see [`crate::Interval::floor`]).
    pub floor: Option<f64>,
}

/// The covariates `--covariates` asks for: CSV columns, each declared known in advance
/// (`known:COL`) or only observed (`observed:COL`), and calendar features.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Covariates {
    /// The CSV columns to read, in the order given.
    pub columns: Vec<String>,
    /// Those of them known in advance.
    pub known: Vec<String>,
    /// Features computed from the date (known in advance by nature).
    pub calendar: Vec<Calendar>,
}

/// Reads covariate names: calendar features (`weekday`, `yearday`, `holidays:US`) and CSV
/// columns declared `known:COL` or `observed:COL`. A column of neither kind is refused: fed as
/// if known, a measurement such as the weather would hand the forecast the very days it
/// forecasts.
pub fn split_covariates(names: &[String]) -> Result<Covariates> {
    let mut out = Covariates::default();
    for name in names {
        if let Some(c) = Calendar::parse(name) {
            out.calendar.push(c?);
            continue;
        }
        match name.split_once(':') {
            Some(("known", column)) if !column.is_empty() => {
                out.columns.push(column.to_string());
                out.known.push(column.to_string());
            }
            Some(("observed", column)) if !column.is_empty() => out.columns.push(column.to_string()),
            Some(("known" | "observed", _)) => {
                return Err(NnError::Setting(format!(
                    "covariate `{name}` names no column: write it as `{name}COLUMN`"
                )))
            }
            Some((kind, column)) => {
                return Err(NnError::Setting(format!(
                    "covariate `{name}`: `{kind}` is not a kind of covariate; {}",
                    declare(column)
                )))
            }
            None => {
                return Err(NnError::Setting(format!(
                    "covariate `{name}` is neither a calendar feature ({}) nor declared; {}",
                    Calendar::NAMES,
                    declare(name)
                )))
            }
        }
    }
    Ok(out)
}

/// How to declare the column `name`.
fn declare(name: &str) -> String {
    format!(
        "say `known:{name}` if its values are known in advance (a calendar, a timetable, planned \
         events: those of the days forecast are used) or `observed:{name}` if they are only \
         measured (the weather: used up to the forecast's origin)"
    )
}

impl ForecastPredictor {
    /// Loads the forecaster saved in `dir` (by `recur forecast --out`).
    pub fn load(dir: &Path) -> Result<Self> {
        let (forecaster, columns) = Forecaster::load(dir)?;
        Ok(ForecastPredictor {
            forecaster,
            columns,
            dir: dir.to_path_buf(),
        })
    }

    /// How to read a series for it: the columns it was trained on (`strict`: refuse a CSV
    /// with gaps or repeated days instead of noting them).
    pub fn series_spec(&self, strict: bool) -> Result<SeriesSpec> {
        let covariates = split_covariates(&self.columns.covariates)?;
        Ok(SeriesSpec {
            date_col: self.columns.date_col.clone(),
            value_col: self.columns.value_col.clone(),
            covariates: covariates.columns,
            strict,
        })
    }

    /// Forecasts the horizon after the day at index `last` ([`ForecastPredictor::last_day`]) on
    /// `threads` cores. A series whose level lies far from the training series' is refused as
    /// another series.
    pub fn forecast(&self, series: &DailySeries, last: usize, threads: usize) -> Result<Ahead> {
        self.check_level(series, last)?;
        let forecaster = &self.forecaster;
        let forecast = forecaster.forecast_after(series, last, threads)?;
        let days: Vec<i64> = (1..=forecast.len() as i64).map(|k| series.day(last) + k).collect();
        let train_until = dates::parse(&self.columns.train_until)
            .map_err(|e| NnError::Config(format!("{}: the saved training end: {e}", self.dir.display())))?;
        let interval = forecaster
            .half_widths_after(series, last, train_until, threads)?
            .zip(forecaster.interval.as_ref())
            .map(|(widths, i)| {
                let (lower, upper) = forecast.iter().zip(&widths).map(|(&f, &w)| i.bounds(f, w)).unzip();
                Band {
                    level: i.level,
                    lower,
                    upper,
                    floor: i.floor,
                }
            });
        Ok(Ahead {
            last,
            days,
            forecast,
            interval,
        })
    }

    /// The index of the last day the model sees: day `from` (a day number, see
    /// [`recur_data::dates`]), which must have a value, or the series' last value.
    pub fn last_day(series: &DailySeries, from: Option<i64>) -> Result<usize> {
        let Some(day) = from else {
            return Ok(series.observed - 1);
        };
        match series.index_of(day) {
            Some(i) if i < series.observed => Ok(i),
            _ => Err(NnError::Input(format!(
                "no value on {} to forecast from: the series has values for {}..{}",
                dates::format(day),
                dates::format(series.first_day),
                dates::format(series.day(series.observed - 1))
            ))),
        }
    }

    /// Refuses a series whose last window averages far from the training series' level.
    fn check_level(&self, series: &DailySeries, last: usize) -> Result<()> {
        let window = &series.values[(last + 1).saturating_sub(self.forecaster.spec.window)..=last];
        let level = window.iter().sum::<f64>() / window.len() as f64;
        let (mean, scale) = (self.forecaster.encoding.mean, self.forecaster.encoding.scale);
        if (level - mean).abs() > FOREIGN_LEVEL * scale {
            return Err(NnError::Input(format!(
                "`{}` averages {level:.1} over the last {} days, far outside the series the model in {} \
                 was trained on (mean {mean:.1}, deviation {scale:.1}): is this that series?",
                self.columns.value_col,
                window.len(),
                self.dir.display()
            )));
        }
        Ok(())
    }
}
