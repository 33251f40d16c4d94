//! recur's forecasting: train a model on windows of a daily series and score its forecasts of
//! the next `horizon` days from every origin of a validation range, next to the naive and
//! seasonal-naive baselines.
//!
//! Origins are the validation days `d` whose `horizon` targets all fall inside the range; the
//! model sees the `window` days before `d`. Errors are in the series' own units.

pub mod evaluate;
pub mod features;
pub mod models;

pub use evaluate::{horizon_errors, naive, seasonal_naive, HorizonErrors};
pub use features::{FeatureSpec, Features, OutputKind};

use recur_core::{Rng, Seq};
use recur_data::{dates, DailySeries};
use recur_nn::{Model, ModelConfig, NnError, Result};
use recur_train::{fit, Clip, FitOptions, Goal, Loss, OptimizerConfig, Schedule, TrainConfig, Trainer};

/// Everything a forecasting run needs besides the series.
#[derive(Clone, Debug)]
pub struct ForecastOptions {
    /// Window, horizon and calendar features.
    pub spec: FeatureSpec,
    /// The model to train.
    pub model: ModelConfig,
    /// Last training day (day number).
    pub train_until: i64,
    /// Last validation day (day number).
    pub val_until: i64,
    /// Most epochs.
    pub epochs: usize,
    /// Epochs without a better validation MAE before stopping.
    pub patience: usize,
    /// Windows per batch.
    pub batch_size: usize,
    /// Adam's learning rate.
    pub learning_rate: f64,
    /// Seed for initialisation, shuffling and dropout.
    pub seed: u64,
    /// Cores to train on.
    pub threads: usize,
    /// Progress bar and a line per epoch on stderr.
    pub verbose: bool,
}

/// The outcome of a run.
#[derive(Clone, Debug)]
pub struct Forecast {
    /// Origins (indices into the series) of the validation forecasts.
    pub origins: Vec<usize>,
    /// The model's forecasts per origin, in the series' units.
    pub forecasts: Vec<Vec<f64>>,
    /// The model's errors.
    pub errors: HorizonErrors,
    /// `naive` and `seasonal_naive` forecasts per origin.
    pub baselines: Vec<(&'static str, Vec<Vec<f64>>, HorizonErrors)>,
    /// Epochs trained.
    pub epochs: usize,
    /// The epoch whose weights were kept.
    pub best_epoch: usize,
}

/// Day indices of the training range's end (exclusive) and the validation origins.
pub fn split(series: &DailySeries, options: &ForecastOptions) -> Result<(usize, Vec<usize>)> {
    let (w, h) = (options.spec.window, options.spec.horizon);
    let range = format!(
        "the data covers {}..{}",
        dates::format(series.first_day),
        dates::format(series.day(series.values.len() - 1))
    );
    let at = |day: i64, what: &str| {
        series
            .index_of(day)
            .ok_or_else(|| NnError::Config(format!("{what} {} is outside the data: {range}", dates::format(day))))
    };
    let train_end = at(options.train_until, "--train-until")? + 1;
    let val_last = at(options.val_until, "--val-until")?;
    if val_last < train_end + h - 1 {
        return Err(NnError::Config(format!(
            "the validation range {}..{} must hold at least the {h}-day horizon",
            dates::format(series.day(train_end)),
            dates::format(options.val_until)
        )));
    }
    if train_end < w + h + 1 {
        return Err(NnError::Config(format!(
            "too little history: {train_end} training days, a {w}-day window and a {h}-day horizon need at least {}",
            w + h + 1
        )));
    }
    Ok((train_end, (train_end..=val_last + 1 - h).collect()))
}

/// Trains the model on the training range and forecasts every validation origin.
pub fn run(series: &DailySeries, options: &ForecastOptions) -> Result<Forecast> {
    let (train_end, origins) = split(series, options)?;
    let (w, h) = (options.spec.window, options.spec.horizon);
    let features = Features::new(series, train_end, options.spec.clone());
    let kind = models::output_kind(&options.model, features.width, h)?;
    let model = Model::<f32>::new(options.model.clone(), options.seed)?;
    let mut trainer = Trainer::new(
        model,
        TrainConfig {
            loss: Loss::Huber { delta: 1.0 },
            optimizer: OptimizerConfig::adam(),
            clip: Some(Clip::GlobalNorm(1.0)),
            schedule: Schedule::Constant {
                lr: options.learning_rate,
            },
            threads: options.threads,
            seed: options.seed,
        },
    );
    let train_ends: Vec<usize> = (w - 1..train_end - h).collect();
    let val_ends: Vec<usize> = origins.iter().map(|o| o - 1).collect();
    let val_batch = features.batch(&val_ends, kind);
    let fit_options = FitOptions {
        epochs: options.epochs,
        monitor: "val_mae".into(),
        goal: Goal::Minimize,
        patience: Some(options.patience),
        out: None,
        resume: false,
        verbose: options.verbose,
    };
    let forecast_all = |t: &mut Trainer<f32>| -> Result<Vec<Vec<f64>>> {
        let y = t.predict(&val_batch.x)?;
        read_forecasts(&y, kind, &val_ends, &features)
    };
    let report = fit(
        &mut trainer,
        &fit_options,
        |epoch| {
            let mut ends = train_ends.clone();
            Rng::derive(options.seed, epoch as u64).shuffle(&mut ends);
            Ok(ends
                .chunks(options.batch_size.max(1))
                .map(|c| features.batch(c, kind))
                .collect())
        },
        |t| {
            let f = forecast_all(t)?;
            Ok(vec![(
                "val_mae".into(),
                horizon_errors(&series.values, &origins, &f).mean_mae,
            )])
        },
    )?;
    let forecasts = forecast_all(&mut trainer)?;
    let baselines = [
        ("naive", naive(&series.values, &origins, h)),
        ("seasonal_naive", seasonal_naive(&series.values, &origins, h)),
    ]
    .into_iter()
    .map(|(name, f)| {
        let e = horizon_errors(&series.values, &origins, &f);
        (name, f, e)
    })
    .collect();
    Ok(Forecast {
        errors: horizon_errors(&series.values, &origins, &forecasts),
        origins,
        forecasts,
        baselines,
        epochs: report.history.len(),
        best_epoch: report.best_epoch,
    })
}

/// The forecast of each window in the series' units: the last step of a sequence output.
fn read_forecasts(y: &Seq<f32>, kind: OutputKind, ends: &[usize], features: &Features) -> Result<Vec<Vec<f64>>> {
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
