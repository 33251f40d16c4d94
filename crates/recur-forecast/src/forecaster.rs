//! A trained forecaster: its ensemble members, the encoding of the data they were trained on,
//! and the interval half-widths. It forecasts windows of a series, forecasts the days after a
//! series' last value, and is saved to / loaded from a model directory.
//!
//! A saved forecaster is a model directory (member 0's `config.json` and `model.safetensors`,
//! further members in `members/k`) with `forecast.json` beside them: the series' columns, the
//! feature settings, the scaling and the interval, so new data is encoded exactly as in training.

use crate::features::{Encoding, FeatureSpec, Features, OutputKind};
use crate::interval::{origin_errors, Interval, LaterErrors, OriginErrors};
use crate::models::output_kind;
use recur_core::Seq;
use recur_data::{dates, Covariate, DailySeries};
use recur_nn::model_dir::{self, member_dir, write_atomic};
use recur_nn::{prepare_models, Model, NnError, Precision, Result};
use recur_train::predict_parallel;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The settings file beside the model in a saved forecaster's directory.
pub const SETTINGS_FILE: &str = "forecast.json";

/// Marks a settings file as recur's, so another JSON file is refused by name.
const FORMAT: &str = "recur-forecast-1";

/// What identifies the series and settings a forecaster was trained on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesColumns {
    /// The date column.
    pub date_col: String,
    /// The forecast column.
    pub value_col: String,
    /// The covariates as given (CSV columns and calendar names).
    pub covariates: Vec<String>,
    /// Last training day.
    pub train_until: String,
}

/// `forecast.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Settings {
    format: String,
    columns: SeriesColumns,
    spec: FeatureSpec,
    encoding: Encoding,
    interval: Option<Interval>,
    members: usize,
}

/// A trained forecaster.
#[derive(Clone)]
pub struct Forecaster {
    /// Ensemble members; their forecasts are averaged.
    pub members: Vec<Model<f32>>,
    /// Scaling and covariate encoding fitted on the training range.
    pub encoding: Encoding,
    /// Window, horizon, calendar features.
    pub spec: FeatureSpec,
    /// Prediction intervals, if asked for.
    pub interval: Option<Interval>,
}

impl Forecaster {
    /// How the members' output is read (checked against the features' width).
    fn kind(&self) -> Result<OutputKind> {
        let width = self.encoding.width(&self.spec);
        let mut kinds = self
            .members
            .iter()
            .map(|m| output_kind(m.config(), width, self.spec.horizon));
        let first = kinds
            .next()
            .unwrap_or_else(|| Err(NnError::Config("a forecaster needs a model".into())))?;
        for k in kinds {
            if k? != first {
                return Err(NnError::Config(
                    "the ensemble's members read their output differently".into(),
                ));
            }
        }
        Ok(first)
    }

    /// Each member's forecast (`[member][window][horizon]`), in the series' units, of the windows
    /// ending on `ends`.
    pub fn member_forecasts(&self, features: &Features, ends: &[usize], threads: usize) -> Result<Vec<Vec<Vec<f64>>>> {
        let kind = self.kind()?;
        let batch = features.batch(ends, kind);
        self.members
            .iter()
            .map(|model| read_forecasts(&predict_parallel(model, &batch.x, threads)?, kind, ends, features))
            .collect()
    }

    /// The members' mean forecast, in the series' units, of the windows ending on `ends`.
    pub fn predict(&self, features: &Features, ends: &[usize], threads: usize) -> Result<Vec<Vec<f64>>> {
        let members = self.member_forecasts(features, ends, threads)?;
        Ok(mean_forecast(&members))
    }

    /// The interval's half-widths for the forecast of the days after index `last`: calibrated on
    /// the saved (early-stopping) errors, then on this forecaster's own errors at the origins
    /// after the training range (`train_until`, a day number) whose targets are known by `last`,
    /// whose misses also adapt the level. A forecast from inside the training range gets the
    /// saved half-widths. `None` without intervals.
    pub fn half_widths_after(
        &self,
        series: &DailySeries,
        last: usize,
        train_until: i64,
        threads: usize,
    ) -> Result<Option<Vec<f64>>> {
        let Some(interval) = &self.interval else {
            return Ok(None);
        };
        let origin = last + 1;
        let after_training = usize::try_from(train_until + 1 - series.first_day).unwrap_or(0);
        if origin <= after_training {
            // A forecast from inside the training range: no later error is known, and the
            // calibration's own days may lie after it.
            return Ok(Some(interval.half_width.clone()));
        }
        let origins: Vec<usize> = (after_training.max(self.spec.window)..origin).collect();
        let mut later = if origins.is_empty() {
            LaterErrors::default()
        } else {
            let features = Features::new(series, &self.encoding, self.spec.clone())?;
            let ends: Vec<usize> = origins.iter().map(|o| o - 1).collect();
            let members = self.member_forecasts(&features, &ends, threads)?;
            let mean = mean_forecast(&members);
            later_errors(series, &origins, &members, &mean, origin, interval.pooled)
        };
        later.issued.push(OriginErrors {
            origin: series.day(origin),
            errors: vec![f64::NAN; self.spec.horizon],
        });
        Ok(interval.half_widths_along(&later).pop())
    }

    /// Forecasts the `horizon` days after the day at index `last` (the last one the model may
    /// see), which must be observed. Covariates known in advance must have rows for the days
    /// ahead.
    pub fn forecast_after(&self, series: &DailySeries, last: usize, threads: usize) -> Result<Vec<f64>> {
        let (w, h) = (self.spec.window, self.spec.horizon);
        let day = |i: usize| dates::format(series.day(i));
        if last >= series.observed {
            return Err(NnError::Config(format!(
                "{} has no value: the data's last value is on {}",
                day(last),
                day(series.observed - 1)
            )));
        }
        if last + 1 < w {
            return Err(NnError::Config(format!(
                "the model sees {w} days before the forecast, but the data holds {} up to {}",
                last + 1,
                day(last)
            )));
        }
        let ahead_last = series.day(last) + h as i64;
        for (name, cov) in &series.covariates {
            let known = self.spec.is_known(name, matches!(cov, Covariate::Categorical(..)));
            if known && series.day(series.values.len() - 1) < ahead_last {
                return Err(NnError::Config(format!(
                    "covariate `{name}` is needed for the days forecast, {}..{}, but the data ends on {}: \
                     add rows for those days with `{name}` filled and the value left empty",
                    dates::format(series.day(last) + 1),
                    dates::format(ahead_last),
                    day(series.values.len() - 1)
                )));
            }
        }
        let features = Features::new(series, &self.encoding, self.spec.clone())?;
        Ok(self.predict(&features, &[last], threads)?.swap_remove(0))
    }

    /// Saves the forecaster into `dir` with the series' columns (`forecast.json` last, so a
    /// directory holding it is complete).
    pub fn save(&self, dir: &Path, columns: &SeriesColumns) -> Result<()> {
        for (k, model) in self.members.iter().enumerate() {
            model_dir::save(model, &member_dir(dir, k))?;
        }
        let settings = Settings {
            format: FORMAT.into(),
            columns: columns.clone(),
            spec: self.spec.clone(),
            encoding: self.encoding.clone(),
            interval: self.interval.clone(),
            members: self.members.len(),
        };
        let text = serde_json::to_string_pretty(&settings).map_err(|e| NnError::Config(e.to_string()))?;
        write_atomic(&dir.join(SETTINGS_FILE), text.as_bytes())
    }

    /// Whether `dir` holds a saved forecaster.
    pub fn is_saved(dir: &Path) -> bool {
        dir.join(SETTINGS_FILE).is_file()
    }

    /// The text of a saved forecaster's `forecast.json`, checked by loading the forecaster
    /// first: what an exported network carries so that a caller can build its input windows.
    pub fn settings_json(dir: &Path) -> Result<String> {
        Self::load(dir)?;
        let path = dir.join(SETTINGS_FILE);
        std::fs::read_to_string(&path).map_err(|source| NnError::Io {
            path: path.display().to_string(),
            error: source,
        })
    }

    /// Prepares every member for inference at `precision` (see
    /// [`recur_nn::Model::prepare_inference`]); returns the layers that run in fp32.
    pub fn prepare_inference(&mut self, precision: Precision) -> Vec<String> {
        prepare_models(&mut self.members, precision)
    }

    /// Loads a saved forecaster and the columns it was trained on.
    pub fn load(dir: &Path) -> Result<(Forecaster, SeriesColumns)> {
        let path = dir.join(SETTINGS_FILE);
        let bad = |message: String| NnError::Config(format!("{}: {message}", path.display()));
        let text = std::fs::read_to_string(&path).map_err(|source| NnError::Io {
            path: path.display().to_string(),
            error: source,
        })?;
        let settings: Settings = serde_json::from_str(&text).map_err(|e| {
            bad(format!(
                "not the settings of a model saved by `recur forecast --out` ({e})"
            ))
        })?;
        if settings.format != FORMAT {
            return Err(bad(format!("format `{}`, expected `{FORMAT}`", settings.format)));
        }
        if settings.members == 0 || settings.members > 1000 {
            return Err(bad(format!("{} ensemble members", settings.members)));
        }
        let horizon = settings.spec.horizon;
        if let Some(why) = settings.interval.as_ref().and_then(|i| i.fault(horizon)) {
            return Err(bad(why));
        }
        let members = (0..settings.members)
            .map(|k| model_dir::load::<f32>(&member_dir(dir, k)))
            .collect::<Result<Vec<_>>>()?;
        let mut settings = settings;
        declare_legacy_covariates(&mut settings);
        let forecaster = Forecaster {
            members,
            encoding: settings.encoding,
            spec: settings.spec,
            interval: settings.interval,
        };
        forecaster.kind().map_err(|e| bad(e.to_string()))?;
        Ok((forecaster, settings.columns))
    }
}

/// Declares the covariate columns of a model saved before covariates were declared as they
/// were used then: text columns known in advance, numbers observed.
fn declare_legacy_covariates(settings: &mut Settings) {
    if settings.spec.known.is_some() {
        return;
    }
    let mut known = Vec::new();
    for name in &mut settings.columns.covariates {
        let Some((_, encoding)) = settings.encoding.columns.iter().find(|(column, _)| column == name) else {
            continue;
        };
        if encoding.is_categorical() {
            known.push(name.clone());
            *name = format!("known:{name}");
        } else {
            *name = format!("observed:{name}");
        }
    }
    settings.spec.known = Some(known);
}

/// The errors of the forecasts made at `origins` (increasing; `members[member][origin]` and
/// their `mean`): the mean's, and the rows to calibrate on (the same, or with `pooled` a row per
/// member and origin). Days from index `known` on are hidden (NaN).
pub(crate) fn later_errors(
    series: &DailySeries,
    origins: &[usize],
    members: &[Vec<Vec<f64>>],
    mean: &[Vec<f64>],
    known: usize,
    pooled: bool,
) -> LaterErrors {
    let errors = |f: &[Vec<f64>]| origin_errors(&series.values, origins, f, known, |i| series.day(i));
    let issued = errors(mean);
    let rows = if pooled {
        let per_member: Vec<Vec<OriginErrors>> = members.iter().map(|f| errors(f)).collect();
        (0..origins.len())
            .flat_map(|i| per_member.iter().map(move |m| m[i].clone()))
            .collect()
    } else {
        issued.clone()
    };
    LaterErrors { issued, rows }
}

/// The mean over members of `forecasts[member][window][horizon]`.
pub(crate) fn mean_forecast(forecasts: &[Vec<Vec<f64>>]) -> Vec<Vec<f64>> {
    let k = forecasts.len().max(1) as f64;
    let mut sum = forecasts.first().cloned().unwrap_or_default();
    sum.iter_mut().flatten().for_each(|v| *v = 0.0);
    for member in forecasts {
        for (s, f) in sum.iter_mut().zip(member) {
            s.iter_mut().zip(f).for_each(|(s, f)| *s += f);
        }
    }
    sum.iter_mut().flatten().for_each(|v| *v /= k);
    sum
}

/// The forecast of each window in the series' units: the last step of a sequence output.
pub(crate) fn read_forecasts(
    y: &Seq<f32>,
    kind: OutputKind,
    ends: &[usize],
    features: &Features,
) -> Result<Vec<Vec<f64>>> {
    let window = features.spec.window;
    let step = match kind {
        OutputKind::Vector => 0,
        OutputKind::Sequence if y.time == window => window - 1,
        OutputKind::Sequence => {
            return Err(NnError::Config(format!(
                "a model with sequence output must keep the window's {window} steps (it gives {}); \
                 use causal or same padding and stride 1",
                y.time
            )))
        }
    };
    Ok((0..y.batch)
        .map(|b| y.step(b, step).iter().map(|&v| features.unscale(v, ends[b])).collect())
        .collect())
}
