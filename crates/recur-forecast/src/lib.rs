//! recur's forecasting: train a model on windows of a daily series and score its forecasts of
//! the next `horizon` days from every origin of a test range, next to the naive and
//! seasonal-naive baselines.
//!
//! Nothing after the training range chooses anything: early stopping (and the intervals' first
//! calibration) uses the last `early_stop_days` of the training range, whose windows the model
//! is not trained on (an optional refit then trains on every training window for the epochs
//! chosen); the test range is only scored, and its errors, once known, recalibrate the intervals
//! of later origins as a forecaster in production would (see [`interval`]). Origins are the test
//! days `d` whose `horizon` targets all fall inside the range; the model sees the `window` days
//! before `d`. Errors are in the series' own units.

pub mod evaluate;
pub mod features;
pub mod forecaster;
pub mod interval;
pub mod models;
pub mod predictor;
pub mod settings;

pub use evaluate::{coverage, horizon_errors, naive, seasonal_naive, Coverage, HorizonErrors};
pub use features::{Calendar, ColumnEncoding, Encoding, FeatureSpec, Features, OutputKind};
pub use forecaster::{Forecaster, SeriesColumns};
pub use interval::{Interval, LaterErrors, OriginErrors};
pub use predictor::{split_covariates, Ahead, Band, ForecastPredictor};
pub use settings::{ForecastLoss, ForecastSettings};

use forecaster::{later_errors, mean_forecast, read_forecasts};
use recur_core::Rng;
use recur_data::{dates, DailySeries};
use recur_nn::{Model, ModelConfig, NnError, Result};
use recur_train::ensemble::train_members;
use recur_train::{
    fit, Batch, Clip, FitOptions, Goal, Loss, OptimizerConfig, Reporter, Schedule, TrainConfig, Trainer,
};

/// Everything a forecasting run needs besides the series.
#[derive(Clone, Debug)]
pub struct ForecastOptions {
    /// Window, horizon and calendar features.
    pub spec: FeatureSpec,
    /// The model to train.
    pub model: ModelConfig,
    /// Last training day (day number).
    pub train_until: i64,
    /// First forecast origin scored (day number; default the day after `train_until`).
    pub test_from: Option<i64>,
    /// Last day of the scored range (day number).
    pub test_until: i64,
    /// Days at the end of the training range held out for early stopping and intervals.
    pub early_stop_days: usize,
    /// Most epochs.
    pub epochs: usize,
    /// Epochs without a better early-stopping MAE before stopping.
    pub patience: usize,
    /// Windows per batch.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// The training objective on the scaled targets.
    pub loss: Loss,
    /// Seed for initialisation, shuffling and dropout (member `k` of an ensemble: `seed + k`).
    pub seed: u64,
    /// Models trained with successive seeds whose forecasts are averaged.
    pub ensemble: usize,
    /// Nominal coverage of conformal prediction intervals, e.g. 0.8.
    pub interval: Option<f64>,
    /// Origins whose errors calibrate each interval: the most recent ones whose targets are
    /// known at the forecast's origin (the early-stopping days' at first, then the scored
    /// range's own as its days pass).
    pub interval_days: usize,
    /// How far each known miss or hit of an interval after the training range moves the level
    /// of the later ones (adaptive conformal inference; 0 keeps it fixed).
    pub interval_adapt: f64,
    /// Once early stopping has chosen a member's epochs, train it again from its initial weights
    /// on every training window, the early-stopping days' included, for that many epochs. The
    /// early-stopping errors and the intervals stay those of the first fit (made on days it did
    /// not train on).
    pub refit: bool,
    /// Calibrate the intervals on every member's early-stopping errors pooled, rather than on
    /// the ensemble mean's (the same for one model).
    pub member_residuals: bool,
    /// Cores to train on.
    pub threads: usize,
    /// Where progress goes (epochs, batches, notes).
    pub progress: Reporter,
}

/// The outcome of a run.
#[derive(Clone)]
pub struct Forecast {
    /// Origins (indices into the series) of the scored forecasts.
    pub origins: Vec<usize>,
    /// The model's forecasts per origin, in the series' units.
    pub forecasts: Vec<Vec<f64>>,
    /// The model's errors.
    pub errors: HorizonErrors,
    /// The model's errors on the early-stopping origins (inside the training range): the figure
    /// to compare settings by.
    pub early_stop_errors: HorizonErrors,
    /// The intervals' half-widths per scored origin and horizon, each calibrated on the errors
    /// known at its origin.
    pub half_widths: Option<Vec<Vec<f64>>>,
    /// How often the scored range fell inside the intervals.
    pub coverage: Option<Coverage>,
    /// `naive` and `seasonal_naive` forecasts per origin.
    pub baselines: Vec<(&'static str, Vec<Vec<f64>>, HorizonErrors)>,
    /// Epochs trained, per ensemble member.
    pub epochs: Vec<usize>,
    /// The epoch whose weights were kept, per ensemble member (with `refit`, the epochs the
    /// member was trained again for).
    pub best_epochs: Vec<usize>,
    /// The trained models, their encoding and intervals.
    pub forecaster: Forecaster,
}

impl Forecast {
    /// The interval `(lower, upper)` around the forecast at scored origin `i` (an index into
    /// `origins`) and horizon `h` (from 0), clipped at the series' floor (see
    /// [`Interval::floor`]); `None` without intervals.
    pub fn interval_bounds(&self, i: usize, h: usize) -> Option<(f64, f64)> {
        let interval = self.forecaster.interval.as_ref()?;
        let half_width = *self.half_widths.as_ref()?.get(i)?.get(h)?;
        Some(interval.bounds(*self.forecasts.get(i)?.get(h)?, half_width))
    }
}

/// Where a run's days go, as indices into the series.
#[derive(Clone, Debug, PartialEq)]
pub struct Split {
    /// End (exclusive) of the training range: scaling is fitted on `..train_end`.
    pub train_end: usize,
    /// Origins of the early-stopping forecasts: the training range's last days.
    pub early_stop: Vec<usize>,
    /// Scored origins.
    pub origins: Vec<usize>,
}

/// The day index `day` of `series` if it has a value there, else an error naming `what`.
fn observed_index(series: &DailySeries, day: i64, what: &str) -> Result<usize> {
    series.index_of(day).filter(|&i| i < series.observed).ok_or_else(|| {
        NnError::Setting(format!(
            "{what} {} is outside the data: the data has values for {}..{}",
            dates::format(day),
            dates::format(series.first_day),
            dates::format(series.day(series.observed - 1))
        ))
    })
}

/// The training range: its end (exclusive) and its early-stopping origins, checked to hold a
/// window, a horizon and the early-stopping days.
fn training_range(series: &DailySeries, options: &ForecastOptions) -> Result<(usize, Vec<usize>)> {
    let (w, h, e) = (options.spec.window, options.spec.horizon, options.early_stop_days);
    let train_end = observed_index(series, options.train_until, "--train-until")? + 1;
    if e < h {
        return Err(NnError::Setting(format!(
            "--early-stop-days {e} must be at least the horizon ({h}): early stopping scores forecasts \
             whose targets lie inside the training range"
        )));
    }
    if train_end < w + h + e + 1 {
        return Err(NnError::Setting(format!(
            "too little history: {train_end} training days; a {w}-day window, a {h}-day horizon and \
             {e} early-stopping days need at least {}",
            w + h + e + 1
        )));
    }
    Ok((train_end, (train_end - e..=train_end - h).collect()))
}

/// Splits the series: training windows, early-stopping origins at the training range's end,
/// scored origins after it.
pub fn split(series: &DailySeries, options: &ForecastOptions) -> Result<Split> {
    let h = options.spec.horizon;
    let (train_end, early_stop) = training_range(series, options)?;
    let test_last = observed_index(series, options.test_until, "--test-until")?;
    let first = match options.test_from {
        Some(day) if day <= options.train_until => {
            return Err(NnError::Setting(format!(
                "--test-from {} must come after --train-until {}: scored days are never trained on",
                dates::format(day),
                dates::format(options.train_until)
            )))
        }
        Some(day) => observed_index(series, day, "--test-from")?,
        None => train_end,
    };
    if test_last + 1 < first + h {
        return Err(NnError::Setting(format!(
            "the scored range {}..{} must hold at least the {h}-day horizon",
            dates::format(series.day(first)),
            dates::format(options.test_until)
        )));
    }
    Ok(Split {
        train_end,
        early_stop,
        origins: (first..=test_last + 1 - h).collect(),
    })
}

/// A trainer for one ensemble member: the options' loss, Adam with clipping, a constant rate.
fn trainer(options: &ForecastOptions, seed: u64) -> Result<Trainer<Model<f32>>> {
    Ok(Trainer::new(
        Model::<f32>::new(options.model.clone(), seed)?,
        TrainConfig {
            loss: options.loss,
            optimizer: OptimizerConfig::adam(),
            clip: Some(Clip::GlobalNorm(1.0)),
            schedule: Schedule::Constant {
                lr: options.learning_rate,
            },
            threads: options.threads,
            seed,
        },
    ))
}

/// The batches of a 0-based epoch: the windows ending on `ends`, shuffled by seed and epoch.
fn epoch_batches(
    features: &Features,
    ends: &[usize],
    kind: OutputKind,
    options: &ForecastOptions,
    seed: u64,
    epoch: usize,
) -> Vec<Batch<f32>> {
    let mut ends = ends.to_vec();
    Rng::derive(seed, epoch as u64).shuffle(&mut ends);
    ends.chunks(options.batch_size.max(1))
        .map(|c| features.batch(c, kind))
        .collect()
}

/// A forecaster trained on a series' training range, and how its training went.
#[derive(Clone)]
pub struct Trained {
    /// The trained models, their encoding and intervals.
    pub forecaster: Forecaster,
    /// Epochs trained, per ensemble member.
    pub epochs: Vec<usize>,
    /// The epoch whose weights were kept, per ensemble member (with `refit`, the epochs the
    /// member was trained again for).
    pub best_epochs: Vec<usize>,
    /// The first fit's errors on the early-stopping origins (inside the training range).
    pub early_stop_errors: HorizonErrors,
}

/// Trains a forecaster on every day of `series` up to `options.train_until` as [`run`] trains
/// it (early stopping on the range's last days, intervals calibrated there), scoring nothing
/// after it: `options.test_from` and `options.test_until` are not read. What a forecaster
/// for the days after the data is trained with.
pub fn fit_forecaster(series: &DailySeries, options: &ForecastOptions) -> Result<Trained> {
    let (train_end, early_stop) = training_range(series, options)?;
    Ok(train(series, options, train_end, &early_stop)?.0)
}

/// Trains the model (an ensemble of `options.ensemble`) on the days before `train_end`,
/// stopping early on the forecasts from `early_stop` (and, with `refit`, trains it again on the
/// whole range for the epochs chosen); returns it with the series' features.
fn train(
    series: &DailySeries,
    options: &ForecastOptions,
    train_end: usize,
    early_stop: &[usize],
) -> Result<(Trained, Features)> {
    let (w, h) = (options.spec.window, options.spec.horizon);
    let encoding = Encoding::fit(series, train_end);
    let features = Features::new(series, &encoding, options.spec.clone())?;
    let kind = models::output_kind(&options.model, features.width, h)?;
    // Training windows' targets end before the first early-stopping origin; a refit's end on the
    // last training day.
    let train_ends: Vec<usize> = (w - 1..early_stop[0] - h).collect();
    let all_ends: Vec<usize> = (w - 1..train_end - h).collect();
    let early_ends: Vec<usize> = early_stop.iter().map(|o| o - 1).collect();
    let early_batch = features.batch(&early_ends, kind);
    let trained = train_members(options.ensemble, options.seed, None, false, &options.progress, |m| {
        let seed = m.seed;
        let mut trainer = trainer(options, seed)?;
        let fit_options = FitOptions {
            epochs: options.epochs,
            monitor: "early_stop_mae".into(),
            goal: Goal::Minimize,
            patience: Some(options.patience),
            out: None,
            resume: false,
            progress: options.progress.clone(),
            ..FitOptions::default()
        };
        let report = fit(
            &mut trainer,
            &fit_options,
            |epoch| Ok(epoch_batches(&features, &train_ends, kind, options, seed, epoch)),
            |t| {
                let y = t.predict(&early_batch.x)?;
                let f = read_forecasts(&y, kind, &early_ends, &features)?;
                Ok(vec![(
                    "early_stop_mae".into(),
                    horizon_errors(&series.values, early_stop, &f).mean_mae,
                )])
            },
        )?;
        let refit = match options.refit {
            true => Some(refit(options, &features, &all_ends, kind, seed, report.best_epoch)?),
            false => None,
        };
        Ok((trainer.model, refit, report.history.len(), report.best_epoch))
    })?;
    let (mut members, mut refits, mut epochs, mut best_epochs) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (model, refit, ran, best) in trained {
        members.push(model);
        refits.extend(refit);
        epochs.push(ran);
        best_epochs.push(best);
    }
    let mut forecaster = Forecaster {
        members,
        encoding,
        spec: options.spec.clone(),
        interval: None,
    };
    // Early-stopping errors and the intervals' first calibration come from the first fit: the
    // refit trained on those days.
    let early_members = forecaster.member_forecasts(&features, &early_ends, options.threads)?;
    let early = mean_forecast(&early_members);
    forecaster.interval = first_interval(series, options, (train_end, early_stop), &early_members, &early);
    if options.refit {
        forecaster.members = refits;
    }
    let trained = Trained {
        forecaster,
        epochs,
        best_epochs,
        early_stop_errors: horizon_errors(&series.values, early_stop, &early),
    };
    Ok((trained, features))
}

/// Trains the model (an ensemble of `options.ensemble`) on the training range, stopping early
/// on its last days (and, with `refit`, trains it again on the whole range for the epochs chosen),
/// and forecasts every scored origin.
pub fn run(series: &DailySeries, options: &ForecastOptions) -> Result<Forecast> {
    let split = split(series, options)?;
    let h = options.spec.horizon;
    let (trained, features) = train(series, options, split.train_end, &split.early_stop)?;
    let forecaster = trained.forecaster;
    let origins = split.origins;
    // With intervals every origin after the training range is forecast, scored or not: each
    // recalibrates the intervals after it once its targets are known. The scored ones are the
    // last of them.
    let last = origins[origins.len() - 1];
    let from = if forecaster.interval.is_some() {
        split.train_end
    } else {
        origins[0]
    };
    let forecast_origins: Vec<usize> = (from..=last).collect();
    let ends: Vec<usize> = forecast_origins.iter().map(|o| o - 1).collect();
    let members = forecaster.member_forecasts(&features, &ends, options.threads)?;
    let all = mean_forecast(&members);
    let scored = origins[0] - from;
    let half_widths = forecaster.interval.as_ref().map(|interval| {
        let later = later_errors(series, &forecast_origins, &members, &all, last + h, interval.pooled);
        interval.half_widths_along(&later).split_off(scored)
    });
    let forecasts = all[scored..].to_vec();
    let baselines = baselines(series, &origins, h);
    Ok(Forecast {
        errors: horizon_errors(&series.values, &origins, &forecasts),
        early_stop_errors: trained.early_stop_errors,
        coverage: half_widths
            .as_ref()
            .map(|w| coverage(&series.values, &origins, &forecasts, w)),
        half_widths,
        origins,
        forecasts,
        baselines,
        epochs: trained.epochs,
        best_epochs: trained.best_epochs,
        forecaster,
    })
}

/// The intervals calibrated on the first fit's early-stopping errors (`early_members` and
/// their mean `early`), if asked for.
fn first_interval(
    series: &DailySeries,
    options: &ForecastOptions,
    (train_end, early_stop): (usize, &[usize]),
    early_members: &[Vec<Vec<f64>>],
    early: &[Vec<f64>],
) -> Option<Interval> {
    let level = options.interval?;
    let pooled = options.member_residuals;
    let calibration = later_errors(series, early_stop, early_members, early, train_end, pooled);
    let interval = Interval::new(
        level,
        options.interval_days,
        options.interval_adapt,
        calibration.rows,
        pooled,
    );
    Some(Interval {
        floor: Interval::floor_of(&series.values[..train_end]),
        ..interval
    })
}

/// The naive and seasonal-naive forecasts at `origins` with their errors.
fn baselines(series: &DailySeries, origins: &[usize], h: usize) -> Vec<(&'static str, Vec<Vec<f64>>, HorizonErrors)> {
    [
        ("naive", naive(&series.values, origins, h)),
        ("seasonal_naive", seasonal_naive(&series.values, origins, h)),
    ]
    .into_iter()
    .map(|(name, f)| {
        let e = horizon_errors(&series.values, origins, &f);
        (name, f, e)
    })
    .collect()
}

/// Trains a member again from its initial weights (`seed`) on the windows ending on `ends` for
/// `epochs` epochs, its batches shuffled as in the first fit.
fn refit(
    options: &ForecastOptions,
    features: &Features,
    ends: &[usize],
    kind: OutputKind,
    seed: u64,
    epochs: usize,
) -> Result<Model<f32>> {
    let mut trainer = trainer(options, seed)?;
    for epoch in 0..epochs {
        let mut loss = 0.0;
        let mut count = 0;
        for batch in epoch_batches(features, ends, kind, options, seed, epoch) {
            let s = trainer.train_step(&batch.x, &batch.targets)?;
            loss += s.loss * s.count as f64;
            count += s.count;
        }
        options.progress.note(&format!(
            "refit epoch {}/{epochs}: loss {:.4} on every training window",
            epoch + 1,
            loss / count.max(1) as f64
        ));
    }
    Ok(trainer.model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use recur_data::series::{parse_daily_csv, synthetic_daily_csv};
    use recur_data::SeriesSpec;

    fn series() -> DailySeries {
        let spec = SeriesSpec {
            date_col: "date".into(),
            value_col: "value".into(),
            covariates: vec!["day_type".into()],
            strict: true,
        };
        parse_daily_csv(&synthetic_daily_csv("2015-01-01", 400, 3), "synthetic", &spec).unwrap()
    }

    fn options(series: &DailySeries) -> ForecastOptions {
        let spec = FeatureSpec {
            horizon: 7,
            window: 21,
            calendar: vec![Calendar::Weekday],
            relative: true,
            known: Some(vec!["day_type".into()]),
        };
        let width = Encoding::fit(series, 1).width(&spec);
        ForecastOptions {
            model: models::preset("linear", width, 21, 7, None).unwrap(),
            spec,
            train_until: series.day(299),
            test_from: None,
            test_until: series.day(399),
            early_stop_days: 28,
            epochs: 4,
            loss: Loss::Mae,
            patience: 2,
            batch_size: 32,
            learning_rate: 1e-2,
            seed: 5,
            ensemble: 2,
            interval: Some(0.8),
            interval_days: 28,
            interval_adapt: 0.05,
            refit: false,
            member_residuals: false,
            threads: 1,
            progress: Reporter::silent(),
        }
    }

    /// `fit_forecaster` trains the very forecaster `run` trains on the same training range,
    /// and reads nothing after it (the scored range's settings included).
    #[test]
    fn fit_forecaster_trains_what_run_trains_without_a_test_range() {
        let s = series();
        let o = options(&s);
        let ran = run(&s, &o).unwrap();
        let mut cut = s.clone();
        cut.values.truncate(300);
        cut.observed = 300;
        for (_, c) in &mut cut.covariates {
            if let recur_data::Covariate::Categorical(days, _) = c {
                days.truncate(300);
            }
        }
        let fitted = fit_forecaster(
            &cut,
            &ForecastOptions {
                test_until: i64::MAX,
                ..o
            },
        )
        .unwrap();
        assert_eq!((fitted.epochs, fitted.best_epochs), (ran.epochs, ran.best_epochs));
        assert_eq!(fitted.early_stop_errors.mae, ran.early_stop_errors.mae);
        assert_eq!(fitted.forecaster.interval, ran.forecaster.interval);
        let ahead = |f: &Forecaster| f.forecast_after(&s, 299, 1).unwrap();
        assert_eq!(ahead(&fitted.forecaster), ahead(&ran.forecaster));
    }

    /// Changing the values after a day `d` of the test range changes no forecast made at an
    /// origin whose window and targets end before `d`, with or without a refit: the test range
    /// chooses nothing.
    #[test]
    fn forecast_no_peeking_past_the_training_range() {
        let s = series();
        for refit in [false, true] {
            let o = ForecastOptions { refit, ..options(&s) };
            let a = run(&s, &o).unwrap();
            let d = 350;
            let mut changed = s.clone();
            changed.values[d..].iter_mut().for_each(|v| *v *= 1.7);
            let b = run(&changed, &o).unwrap();
            assert_eq!(a.origins, b.origins);
            let mut same = 0;
            for (i, &origin) in a.origins.iter().enumerate() {
                if origin + 7 <= d {
                    assert_eq!(a.forecasts[i], b.forecasts[i], "origin {origin}, refit {refit}");
                    let widths = |r: &Forecast| r.half_widths.as_ref().unwrap()[i].clone();
                    assert_eq!(widths(&a), widths(&b), "origin {origin}, refit {refit}");
                    same += 1;
                }
            }
            assert_eq!(same, d - 300 - 6);
            assert_eq!(a.best_epochs, b.best_epochs);
            assert_eq!(a.forecaster.interval, b.forecaster.interval);
            let last = a.origins.len() - 1;
            assert_ne!(a.forecasts[last], b.forecasts[last], "later windows see the change");
            assert_ne!(a.errors, b.errors);
        }
    }

    /// The series with a numeric covariate as well, and forecast options declaring both
    /// covariates known (`true`) or observed.
    fn with_covariates(known: bool) -> (DailySeries, ForecastOptions) {
        let mut s = series();
        let temp = (0..s.values.len()).map(|d| (d as f64 * 0.3).sin() * 10.0).collect();
        s.covariates.push(("temp".into(), recur_data::Covariate::Numeric(temp)));
        let mut o = options(&s);
        o.spec.known = Some(if known {
            vec!["day_type".into(), "temp".into()]
        } else {
            vec![]
        });
        let width = Encoding::fit(&s, 1).width(&o.spec);
        o.model = models::preset("linear", width, 21, 7, None).unwrap();
        (s, o)
    }

    /// The series with every covariate changed from day `d` on (the values kept).
    fn covariates_changed_from(s: &DailySeries, d: usize) -> DailySeries {
        let mut changed = s.clone();
        for (_, cov) in &mut changed.covariates {
            match cov {
                recur_data::Covariate::Numeric(v) => v[d..].iter_mut().for_each(|x| *x = -3.0 * *x + 7.0),
                recur_data::Covariate::Categorical(index, names) => {
                    let n = names.len();
                    index[d..].iter_mut().for_each(|i| *i = (*i + 1) % n);
                }
            }
        }
        changed
    }

    /// Observed covariates are used up to the forecast's origin and no further: changing them
    /// from day `d` on changes no forecast made before `d` (not even those of the days after
    /// it), while the same change to covariates declared known moves the forecasts of the
    /// week before `d`, whose days ahead they describe.
    #[test]
    fn forecast_no_peeking_at_observed_covariates() {
        let d = 350;
        for known in [false, true] {
            let (s, o) = with_covariates(known);
            let a = run(&s, &o).unwrap();
            let b = run(&covariates_changed_from(&s, d), &o).unwrap();
            assert_eq!(a.origins, b.origins);
            let moved: Vec<usize> = a
                .origins
                .iter()
                .enumerate()
                .filter(|&(i, _)| a.forecasts[i] != b.forecasts[i])
                .map(|(_, &origin)| origin)
                .collect();
            let first_moved = moved.first().copied().unwrap_or(usize::MAX);
            if known {
                assert!(
                    first_moved < d && first_moved + 7 > d,
                    "known: first moved {first_moved}"
                );
            } else {
                // The first forecast to move is made after seeing day d (its origin is d + 1).
                assert_eq!(first_moved, d + 1, "observed: {moved:?}");
            }
        }
    }

    /// A refit trains on the early-stopping days: swapping two of their values (the scaling
    /// stays the same) moves forecasts whose windows do not hold them, which nothing else does.
    /// Its early-stopping errors and intervals are the first fit's.
    #[test]
    fn forecast_refit_trains_on_the_early_stopping_days() {
        let s = series();
        let mut swapped = s.clone();
        swapped.values.swap(280, 285);
        // Origins from 307 on see the 21 days from 286: neither swapped day.
        let far = |r: &Forecast| -> Vec<Vec<f64>> {
            r.origins
                .iter()
                .zip(&r.forecasts)
                .filter(|(&origin, _)| origin >= 307)
                .map(|(_, f)| f.clone())
                .collect()
        };
        let o = options(&s);
        let (a, b) = (run(&s, &o).unwrap(), run(&swapped, &o).unwrap());
        assert_eq!(a.forecaster.encoding, b.forecaster.encoding);
        assert_eq!(a.best_epochs, b.best_epochs);
        assert_eq!(
            far(&a),
            far(&b),
            "without a refit the early-stopping days are not trained on"
        );
        let o = ForecastOptions { refit: true, ..o };
        let (c, d) = (run(&s, &o).unwrap(), run(&swapped, &o).unwrap());
        assert_ne!(far(&c), far(&d), "the refit trains on the early-stopping days");
        assert_ne!(far(&a), far(&c));
        assert_eq!(
            (&c.best_epochs, &c.early_stop_errors),
            (&a.best_epochs, &a.early_stop_errors)
        );
        assert_eq!(c.forecaster.interval, a.forecaster.interval);
    }

    /// Intervals from the members' pooled early-stopping errors: for one model the same as the
    /// ensemble mean's; for two, no wider than the wider member's own interval.
    #[test]
    fn forecast_member_residuals_pool_the_members_errors() {
        let s = series();
        let o = ForecastOptions {
            ensemble: 1,
            ..options(&s)
        };
        let half_width = |o: &ForecastOptions| run(&s, o).unwrap().forecaster.interval.unwrap().half_width;
        let pooled = ForecastOptions {
            member_residuals: true,
            ..o.clone()
        };
        assert_eq!(half_width(&o), half_width(&pooled));
        let own: Vec<Vec<f64>> = [5, 6]
            .map(|seed| half_width(&ForecastOptions { seed, ..o.clone() }))
            .into();
        let two = half_width(&ForecastOptions { ensemble: 2, ..pooled });
        let mean = half_width(&ForecastOptions { ensemble: 2, ..o });
        assert_ne!(two, mean);
        for h in 0..7 {
            assert!(two[h] <= own[0][h].max(own[1][h]), "horizon {}", h + 1);
        }
    }

    #[test]
    fn forecast_split_refuses_overlaps_and_short_ranges() {
        let s = series();
        let mut o = options(&s);
        let split = split(&s, &o).unwrap();
        assert_eq!(split.early_stop, (272..=293).collect::<Vec<_>>());
        assert_eq!((split.origins[0], *split.origins.last().unwrap()), (300, 393));
        o.test_from = Some(s.day(299));
        let e = super::split(&s, &o).unwrap_err().to_string();
        assert!(
            e.contains("--test-from 2015-10-27 must come after --train-until"),
            "{e}"
        );
        o.test_from = Some(s.day(320));
        assert_eq!(super::split(&s, &o).unwrap().origins[0], 320);
        o.early_stop_days = 3;
        assert!(super::split(&s, &o)
            .unwrap_err()
            .to_string()
            .contains("at least the horizon"));
        o.early_stop_days = 280;
        assert!(super::split(&s, &o)
            .unwrap_err()
            .to_string()
            .contains("too little history"));
    }

    /// A series never negative in training (counts) gets its intervals clipped at 0: no lower
    /// bound below 0 where the symmetric intervals reach below it. The same series moved below
    /// 0 keeps them symmetric.
    #[test]
    fn forecast_intervals_of_a_non_negative_series_stay_at_or_above_zero() {
        let mut s = series();
        let low = s.values.iter().copied().fold(f64::INFINITY, f64::min);
        s.values.iter_mut().for_each(|v| *v -= low);
        let r = run(&s, &options(&s)).unwrap();
        assert_eq!(r.forecaster.interval.as_ref().unwrap().floor, Some(0.0));
        let widths = r.half_widths.as_ref().unwrap();
        let mut clipped = 0;
        for (i, forecast) in r.forecasts.iter().enumerate() {
            for (h, f) in forecast.iter().enumerate() {
                let (lower, upper) = r.interval_bounds(i, h).unwrap();
                assert!(lower >= 0.0 && upper >= lower, "{lower}..{upper}");
                clipped += usize::from(f - widths[i][h] < 0.0);
            }
        }
        assert!(
            clipped > 0,
            "no symmetric interval reached below 0: the test shows nothing"
        );
        s.values.iter_mut().for_each(|v| *v -= 1.0);
        let shifted = run(&s, &options(&s)).unwrap();
        assert_eq!(shifted.forecaster.interval.unwrap().floor, None);
    }

    #[test]
    fn forecast_intervals_cover_and_forecaster_saves_and_forecasts_ahead() {
        let s = series();
        let r = run(&s, &options(&s)).unwrap();
        let interval = r.forecaster.interval.clone().unwrap();
        assert_eq!(interval.half_width.len(), 7);
        assert!(r.coverage.unwrap().mean > 0.5);
        let dir = std::env::temp_dir().join(format!("recur-forecaster-{}", std::process::id()));
        let columns = SeriesColumns {
            date_col: "date".into(),
            value_col: "value".into(),
            covariates: vec!["known:day_type".into(), "weekday".into()],
            train_until: "2015-10-27".into(),
        };
        // A model saved before covariates were declared loads with its text column known.
        let mut legacy = r.forecaster.clone();
        legacy.spec.known = None;
        let bare = SeriesColumns {
            covariates: vec!["day_type".into(), "weekday".into()],
            ..columns.clone()
        };
        legacy.save(&dir, &bare).unwrap();
        let (loaded, cols) = Forecaster::load(&dir).unwrap();
        assert_eq!((cols, loaded.spec), (columns.clone(), r.forecaster.spec.clone()));
        r.forecaster.save(&dir, &columns).unwrap();
        let (loaded, cols) = Forecaster::load(&dir).unwrap();
        assert_eq!(cols, columns);
        assert_eq!(loaded.members.len(), 2);
        // The forecast at the last scored origin, remade by the loaded forecaster (alone, not in
        // a batch: the products' summation order may differ in the last bits).
        let last = *r.origins.last().unwrap();
        let again = loaded.forecast_after(&s, last - 1, 1).unwrap();
        for (a, b) in again.iter().zip(r.forecasts.last().unwrap()) {
            assert!((a - b).abs() < 1e-6 * b.abs(), "{a} vs {b}");
        }
        // The loaded forecaster recalibrates its intervals on its own errors after the training
        // range as the run did: the same half-widths at the last scored origin.
        let widths = loaded.half_widths_after(&s, last - 1, s.day(299), 1).unwrap().unwrap();
        for (a, b) in widths.iter().zip(r.half_widths.as_ref().unwrap().last().unwrap()) {
            assert!((a - b).abs() < 1e-6 * b.abs(), "{a} vs {b}");
        }
        assert_ne!(widths, interval.half_width, "recalibrated on the scored range's errors");
        // Without data after the training range, the saved calibration alone.
        let trained = loaded.half_widths_after(&s, 299, s.day(299), 1).unwrap().unwrap();
        assert_eq!(trained, interval.half_width);
        let inside = loaded.half_widths_after(&s, 250, s.day(299), 1).unwrap().unwrap();
        assert_eq!(inside, interval.half_width);
        // After the last day there are no day types for the days ahead.
        let e = loaded.forecast_after(&s, 399, 1).unwrap_err().to_string();
        assert!(
            e.contains("covariate `day_type` is needed for the days forecast"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
