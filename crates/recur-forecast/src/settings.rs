//! The settings of a forecasting run with their defaults, as `recur forecast` and the Python
//! package's `Forecaster` both take them, and their checks and translation into the
//! [`ForecastOptions`] of a series: one definition for every front end, so the same settings
//! train the same model from either.

use crate::{models, split_covariates, Encoding, FeatureSpec, ForecastOptions};
use recur_data::DailySeries;
use recur_nn::model_dir::read_config;
use recur_nn::{NnError, Result};
use recur_train::{Loss, Reporter};
use serde::Deserialize;
use std::path::Path;
use std::str::FromStr;

/// Days forecast from each origin unless told.
pub const HORIZON: usize = 7;
/// Days of history the model sees unless told.
pub const WINDOW: usize = 56;
/// Days at the end of the training range that early stopping and the intervals' first
/// calibration are measured on, unless told.
pub const EARLY_STOP_DAYS: usize = 56;
/// Most training epochs unless told.
pub const EPOCHS: usize = 100;
/// Epochs without a better early-stopping MAE before stopping, unless told.
pub const PATIENCE: usize = 10;
/// Windows per batch unless told.
pub const BATCH_SIZE: usize = 32;
/// Adam's learning rate unless told.
pub const LEARNING_RATE: f64 = 1e-3;
/// The seed unless told.
pub const SEED: u64 = 42;
/// Origins whose errors calibrate each interval unless told: the early-stopping days'.
pub const INTERVAL_DAYS: usize = EARLY_STOP_DAYS;
/// How far a miss or hit moves the intervals' level unless told, chosen on 2016–2018
/// (docs/forecasting.md).
pub const INTERVAL_ADAPT: f64 = 0.05;

/// The training losses forecasting offers, on the scaled targets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForecastLoss {
    /// Mean absolute error (L1: the median, which the MAE scores; chosen on 2016–2018).
    #[default]
    Mae,
    /// Huber with δ = 1 scaled unit: quadratic for all but outlying errors.
    Huber,
    /// Mean squared error.
    Mse,
}

impl ForecastLoss {
    /// The trainer's loss.
    pub fn loss(self) -> Loss {
        match self {
            ForecastLoss::Huber => Loss::Huber { delta: 1.0 },
            ForecastLoss::Mae => Loss::Mae,
            ForecastLoss::Mse => Loss::Mse,
        }
    }
}

impl FromStr for ForecastLoss {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text {
            "mae" => Ok(ForecastLoss::Mae),
            "huber" => Ok(ForecastLoss::Huber),
            "mse" => Ok(ForecastLoss::Mse),
            _ => Err(format!("`{text}` is not a loss: mae, huber or mse")),
        }
    }
}

/// A forecasting run's settings; read from JSON (the Python package), every field is optional
/// and takes its default. `recur forecast`'s flags of the same names (`-` for `_`) set them.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ForecastSettings {
    /// Covariates: `known:COL`, `observed:COL`, `weekday`, `yearday`, `holidays:US`.
    pub covariates: Vec<String>,
    /// Feed windows as they are rather than relative to their last week's mean.
    pub absolute: bool,
    /// Days forecast from each origin.
    pub horizon: usize,
    /// Days of history the model sees.
    pub window: usize,
    /// Days at the training range's end that early stopping is measured on.
    pub early_stop_days: usize,
    /// A preset name ([`models::PRESETS`]) or a model config file.
    pub model: String,
    /// Units of a recurrent preset's layer.
    pub units: Option<usize>,
    /// Most epochs.
    pub epochs: usize,
    /// Epochs without a better early-stopping MAE before stopping.
    pub patience: usize,
    /// Windows per batch.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// The training loss.
    pub loss: ForecastLoss,
    /// Seed (ensemble member k uses seed + k).
    pub seed: u64,
    /// Models trained with successive seeds and averaged.
    pub ensemble: usize,
    /// Nominal coverage of prediction intervals, e.g. 0.8.
    pub interval: Option<f64>,
    /// Origins whose errors calibrate each interval.
    pub interval_days: usize,
    /// How far each known miss or hit moves the intervals' level.
    pub interval_adapt: f64,
    /// Train again on every training window for the epochs early stopping chose.
    pub refit: bool,
    /// Calibrate intervals on every member's errors pooled.
    pub member_residuals: bool,
    /// Cores to train on.
    pub threads: usize,
}

impl Default for ForecastSettings {
    fn default() -> Self {
        ForecastSettings {
            covariates: Vec::new(),
            absolute: false,
            horizon: HORIZON,
            window: WINDOW,
            early_stop_days: EARLY_STOP_DAYS,
            model: models::PRESETS[0].to_string(),
            units: None,
            epochs: EPOCHS,
            patience: PATIENCE,
            batch_size: BATCH_SIZE,
            lr: LEARNING_RATE,
            loss: ForecastLoss::Mae,
            seed: SEED,
            ensemble: 1,
            interval: None,
            interval_days: INTERVAL_DAYS,
            interval_adapt: INTERVAL_ADAPT,
            refit: false,
            member_residuals: false,
            threads: recur_core::parallel::default_threads(),
        }
    }
}

impl ForecastSettings {
    /// Refuses settings that cannot work; `name` spells a setting as the front end's user
    /// gives it (`interval_days` or `--interval-days`).
    pub fn check(&self, name: impl Fn(&str) -> String) -> Result<()> {
        let bad = |message: String| Err(NnError::Setting(message));
        if self.horizon == 0 || self.window == 0 {
            return bad(format!("{} and {} must be at least 1", name("horizon"), name("window")));
        }
        if self.epochs == 0 {
            return bad(format!("{} must be at least 1", name("epochs")));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad(format!("{} must be a positive number", name("lr")));
        }
        if self.interval.is_some_and(|l| !(l > 0.0 && l < 1.0)) {
            return bad(format!("{} is a coverage between 0 and 1, e.g. 0.8", name("interval")));
        }
        if self.interval_days == 0 {
            return bad(format!("{} must be at least 1", name("interval_days")));
        }
        if !(0.0..=1.0).contains(&self.interval_adapt) {
            return bad(format!(
                "{} is a step between 0 and 1, e.g. 0.05",
                name("interval_adapt")
            ));
        }
        Ok(())
    }

    /// The options of a run on `series` training until day `train_until` and scoring up to
    /// `test_until` (day numbers; [`crate::fit_forecaster`] reads neither test field), checked (see
    /// [`ForecastSettings::check`]): the preset, or the model config file, sized for the
    /// series' features.
    pub fn options(
        &self,
        series: &DailySeries,
        (train_until, test_from, test_until): (i64, Option<i64>, i64),
        progress: Reporter,
        name: impl Fn(&str) -> String,
    ) -> Result<ForecastOptions> {
        self.check(&name)?;
        let covariates = split_covariates(&self.covariates)?;
        let spec = FeatureSpec {
            horizon: self.horizon,
            window: self.window,
            calendar: covariates.calendar,
            relative: !self.absolute,
            known: (!covariates.columns.is_empty()).then_some(covariates.known),
        };
        let width = Encoding::fit(series, 1).width(&spec);
        let model = if Path::new(&self.model).is_file() {
            if self.units.is_some() {
                return Err(NnError::Setting(format!(
                    "{} sizes a preset; a model config file sets its own units",
                    name("units")
                )));
            }
            read_config(Path::new(&self.model))?
        } else {
            models::preset(&self.model, width, self.window, self.horizon, self.units)?
        };
        Ok(ForecastOptions {
            spec,
            model,
            train_until,
            test_from,
            test_until,
            early_stop_days: self.early_stop_days,
            epochs: self.epochs,
            patience: self.patience,
            batch_size: self.batch_size,
            learning_rate: self.lr,
            loss: self.loss.loss(),
            seed: self.seed,
            ensemble: self.ensemble.max(1),
            interval: self.interval,
            interval_days: self.interval_days,
            interval_adapt: self.interval_adapt,
            refit: self.refit,
            member_residuals: self.member_residuals,
            threads: self.threads.max(1),
            progress,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_from_json_take_the_command_line_defaults() {
        let given: ForecastSettings = serde_json::from_str(r#"{"horizon": 3, "loss": "huber"}"#).unwrap();
        let expected = ForecastSettings {
            horizon: 3,
            loss: ForecastLoss::Huber,
            ..ForecastSettings::default()
        };
        assert_eq!(given, expected);
        assert_eq!(
            (given.window, given.epochs, given.seed, given.model.as_str()),
            (56, 100, 42, "seq2seq")
        );
        let unknown = serde_json::from_str::<ForecastSettings>(r#"{"horizn": 3}"#).unwrap_err();
        assert!(unknown.to_string().contains("unknown field `horizn`"), "{unknown}");
    }

    #[test]
    fn settings_checks_name_the_setting_as_the_front_end_spells_it() {
        let bad = ForecastSettings {
            interval_days: 0,
            ..ForecastSettings::default()
        };
        let flag = |s: &str| format!("--{}", s.replace('_', "-"));
        assert!(bad
            .check(flag)
            .unwrap_err()
            .to_string()
            .contains("--interval-days must be at least 1"));
        assert!(bad
            .check(str::to_string)
            .unwrap_err()
            .to_string()
            .contains("interval_days must be at least 1"));
        assert_eq!("mse".parse::<ForecastLoss>(), Ok(ForecastLoss::Mse));
        assert!("l1".parse::<ForecastLoss>().unwrap_err().contains("mae, huber or mse"));
    }
}
