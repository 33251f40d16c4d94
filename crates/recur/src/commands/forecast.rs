//! `recur forecast`: train a model on a daily series and score its multi-day forecasts against
//! the naive and seasonal-naive baselines (optionally saving it), or, with `--model DIR` naming a
//! saved model, forecast the days after the data's last value.

use anyhow::{bail, Context, Result};
use clap::Args;
use recur_core::parallel::default_threads;
use recur_data::series::{parse_daily_csv, synthetic_daily_csv};
use recur_data::{dates, read_daily_csv, DailySeries, SeriesSpec};
use recur_forecast::settings::{
    BATCH_SIZE, EARLY_STOP_DAYS, EPOCHS, HORIZON, INTERVAL_ADAPT, INTERVAL_DAYS, LEARNING_RATE, PATIENCE, SEED, WINDOW,
};
use recur_forecast::{models, split_covariates, Forecast, ForecastLoss, ForecastSettings, Forecaster, SeriesColumns};
use recur_nn::model_dir::CONFIG_FILE;
use recur_nn::Precision;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Arguments of `recur forecast`.
#[derive(Args)]
pub struct ForecastArgs {
    /// Daily series as CSV with a header row (default: a generated series with weekly and
    /// yearly seasonality and a `day_type` column, 2012-01-01..2019-12-31). Rows after the last
    /// value with the value left empty give covariates for the days ahead.
    #[arg(long)]
    pub(crate) csv: Option<PathBuf>,
    /// Column holding dates (YYYY-MM-DD or MM/DD/YYYY) [default: date].
    #[arg(long)]
    pub(crate) date_col: Option<String>,
    /// Column to forecast [default: value].
    #[arg(long)]
    pub(crate) value_col: Option<String>,
    /// Other inputs, comma-separated: CSV columns declared `known:COL` (known in advance, e.g.
    /// a W/A/U day type or planned events: given for the days being forecast, which the model
    /// then sees) or `observed:COL` (measured, e.g. the weather: used up to the forecast's
    /// origin only), numbers standardised and text one-hot; and calendar features computed
    /// from the date: `weekday` (one-hot), `yearday` (sin/cos of the day of the year),
    /// `holidays:US` (US federal holidays ahead).
    #[arg(long, value_delimiter = ',')]
    pub(crate) covariates: Vec<String>,
    /// Feed windows as they are, not relative to the mean of their last week (by default the
    /// model learns shapes, and the level is added back).
    #[arg(long)]
    pub(crate) absolute: bool,
    /// Days to forecast from each origin [default: 7].
    #[arg(long)]
    pub(crate) horizon: Option<usize>,
    /// Last day of the training range.
    #[arg(long)]
    train_until: Option<String>,
    /// Last day of the scored (test) range: it is only scored, never used to choose anything.
    #[arg(long, alias = "val-until")]
    test_until: Option<String>,
    /// First forecast origin scored [default: the day after --train-until].
    #[arg(long)]
    test_from: Option<String>,
    /// Days at the end of the training range that early stopping and the intervals' first
    /// calibration are measured on (the model is not trained on their windows).
    #[arg(long, default_value_t = EARLY_STOP_DAYS, value_parser = super::whole::<usize>)]
    early_stop_days: usize,
    /// A preset (seq2seq, linear, seq2vec, conv-gru, wavenet, dilated-cnn), a model config file,
    /// or a directory saved with --out (then forecast the days after the data's last value).
    #[arg(long, default_value = models::PRESETS[0])]
    pub(crate) model: String,
    /// Units of the preset's recurrent layer (seq2seq, seq2vec, conv-gru) [default: 64].
    #[arg(long, value_parser = super::whole::<usize>)]
    units: Option<usize>,
    /// Days of history the model sees [default: 56].
    #[arg(long)]
    pub(crate) window: Option<usize>,
    /// Most training epochs.
    #[arg(long, default_value_t = EPOCHS, value_parser = super::at_least_one)]
    epochs: usize,
    /// Stop after this many epochs without a better early-stopping MAE.
    #[arg(long, default_value_t = PATIENCE, value_parser = super::whole::<usize>)]
    patience: usize,
    /// Windows per batch.
    #[arg(long, default_value_t = BATCH_SIZE, value_parser = super::whole::<usize>)]
    batch_size: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = LEARNING_RATE, value_parser = super::positive)]
    lr: f64,
    /// Training loss on the scaled targets: mae (L1: the median, which the MAE scores; chosen
    /// on 2016–2018, see docs/forecasting.md), huber (δ = 1 scaled unit) or mse.
    #[arg(long, default_value = "mae")]
    loss: ForecastLoss,
    /// Seed for initialisation and shuffling (ensemble member k uses seed + k).
    #[arg(long, default_value_t = SEED, value_parser = super::whole::<u64>)]
    seed: u64,
    /// Train this many models with successive seeds and average their forecasts.
    #[arg(long, default_value_t = 1, value_parser = super::whole::<usize>)]
    ensemble: usize,
    /// Prediction intervals of this nominal coverage (e.g. 0.8): conformal, per horizon, from the
    /// absolute errors of recent forecasts whose targets are known at each origin (see
    /// --interval-days); their coverage is reported.
    #[arg(long)]
    interval: Option<f64>,
    /// Origins whose errors calibrate each interval: the last ones whose targets are known when
    /// it is made; the early-stopping days' at first, then, as days pass after the training
    /// range, the model's own forecasts of them.
    #[arg(long, default_value_t = INTERVAL_DAYS, value_parser = super::whole::<usize>)]
    interval_days: usize,
    /// How far each known miss or hit of an interval after the training range moves the level
    /// of later ones (adaptive conformal inference: a miss raises it by this times 1 − level, a
    /// hit lowers it by this times level), so coverage over time tends to the nominal; 0 keeps
    /// the level fixed.
    #[arg(long, default_value_t = INTERVAL_ADAPT)]
    interval_adapt: f64,
    /// Once early stopping has chosen the epochs, train each model again from the start on every
    /// training window, the early-stopping days' included, for that many epochs (intervals and
    /// the reported early-stopping MAE stay those of the first fit).
    #[arg(long)]
    refit: bool,
    /// Calibrate the intervals on every ensemble member's early-stopping errors pooled, not on
    /// the ensemble mean's (whose smaller errors give narrower intervals).
    #[arg(long)]
    member_residuals: bool,
    /// Cores to train on.
    #[arg(long, default_value_t = default_threads())]
    pub(crate) threads: usize,
    /// With --model DIR: the number format of the saved model's weight products.
    #[command(flatten)]
    pub(crate) precision: super::PrecisionArg,
    /// Refuse missing days and non-numeric cells instead of interpolating them.
    #[arg(long)]
    pub(crate) strict: bool,
    /// Print one line of JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    /// Write every forecast as CSV (origin, target day, horizon, actual, model, baselines).
    #[arg(long)]
    forecasts: Option<PathBuf>,
    /// Draw history, forecasts and the seasonal-naive baseline (.png or .svg).
    #[arg(long)]
    pub(crate) plot: Option<PathBuf>,
    /// Save the trained model, its scaling and settings into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Replace a model already saved in --out.
    #[arg(long)]
    force: bool,
    /// With a saved --model: forecast the days after this date instead of after the last value.
    #[arg(long)]
    pub(crate) from: Option<String>,
    /// No progress bar or per-epoch lines.
    #[arg(long)]
    quiet: bool,
}

impl ForecastArgs {
    /// Flags that only make sense when training, named for the error when a saved model is used.
    pub(crate) fn training_flags(&self) -> Vec<&'static str> {
        [
            ("--train-until", self.train_until.is_some()),
            ("--test-until", self.test_until.is_some()),
            ("--test-from", self.test_from.is_some()),
            ("--out", self.out.is_some()),
            ("--forecasts", self.forecasts.is_some()),
            ("--interval", self.interval.is_some()),
            ("--interval-days", self.interval_days != INTERVAL_DAYS),
            ("--interval-adapt", self.interval_adapt != INTERVAL_ADAPT),
            ("--ensemble", self.ensemble != 1),
            ("--refit", self.refit),
            ("--member-residuals", self.member_residuals),
            ("--loss", self.loss != ForecastLoss::Mae),
            ("--units", self.units.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }
}

/// Runs `recur forecast` to train a model (`--model` naming a saved one forecasts with it
/// instead: [`super::forecast_use::forecast_ahead`]).
pub fn forecast(args: ForecastArgs) -> Result<()> {
    check_forecast_args(&args)?;
    let settings = settings(&args);
    let covariates = split_covariates(&args.covariates)?;
    let spec = SeriesSpec {
        date_col: args.date_col.clone().unwrap_or("date".into()),
        value_col: args.value_col.clone().unwrap_or("value".into()),
        covariates: covariates.columns.clone(),
        strict: args.strict,
    };
    let (series, train_until, test_until) = read_series(&args, &spec)?;
    let day = |text: &str, flag: &str| dates::parse(text).map_err(|e| anyhow::anyhow!("{flag}: {e}"));
    if let Some(out) = &args.out {
        if !args.force && (Forecaster::is_saved(out) || out.join(CONFIG_FILE).exists()) {
            bail!("{} already holds a model; add --force to replace it", out.display());
        }
    }
    let range = (
        day(&train_until, "--train-until")?,
        args.test_from.as_deref().map(|d| day(d, "--test-from")).transpose()?,
        day(&test_until, "--test-until")?,
    );
    let progress = crate::progress::reporter(args.quiet || args.json);
    let options = settings.options(&series, range, progress, super::flag_name)?;
    let result = recur_forecast::run(&series, &options).context("forecasting failed")?;
    write_outputs(&args, &spec, &series, &result, options.train_until)
}

/// The training settings the flags give (the library's defaults for those not given).
fn settings(args: &ForecastArgs) -> ForecastSettings {
    ForecastSettings {
        covariates: args.covariates.clone(),
        absolute: args.absolute,
        horizon: args.horizon.unwrap_or(HORIZON),
        window: args.window.unwrap_or(WINDOW),
        early_stop_days: args.early_stop_days,
        model: args.model.clone(),
        units: args.units,
        epochs: args.epochs,
        patience: args.patience,
        batch_size: args.batch_size,
        lr: args.lr,
        loss: args.loss,
        seed: args.seed,
        ensemble: args.ensemble,
        interval: args.interval,
        interval_days: args.interval_days,
        interval_adapt: args.interval_adapt,
        refit: args.refit,
        member_residuals: args.member_residuals,
        threads: args.threads,
    }
}

/// Refuses flags that cannot train a model (the settings themselves are checked by the
/// library, naming the flag).
fn check_forecast_args(args: &ForecastArgs) -> Result<()> {
    if args.precision.precision != Precision::Fp32 {
        bail!("--precision runs a saved model (--model DIR); training is always fp32");
    }
    if Path::new(&args.model).is_dir() {
        super::kind::expect(Path::new(&args.model), &[super::kind::Kind::Forecast])?;
        bail!(
            "{} is a directory without a saved forecasting model (forecast.json)",
            args.model
        );
    }
    if args.from.is_some() {
        bail!("--from forecasts with a saved model: give its directory as --model");
    }
    Ok(())
}

/// The series (`--csv`, or the generated one) with its training and test ends as given; its
/// notes (interpolated cells) go to stderr unless the output is JSON.
fn read_series(args: &ForecastArgs, spec: &SeriesSpec) -> Result<(DailySeries, String, String)> {
    let (series, train_until, test_until) = match &args.csv {
        Some(path) => {
            let (Some(t), Some(v)) = (&args.train_until, &args.test_until) else {
                bail!("--csv needs --train-until and --test-until");
            };
            (read_daily_csv(path, spec)?, t.clone(), v.clone())
        }
        None => {
            let csv = synthetic_daily_csv("2012-01-01", 2922, args.seed);
            let t = args.train_until.clone().unwrap_or("2018-12-31".into());
            let v = args.test_until.clone().unwrap_or("2019-06-30".into());
            (parse_daily_csv(&csv, "generated series", spec)?, t, v)
        }
    };
    if !args.json {
        for note in &series.notes {
            recur_core::stderr_line!("note: {note}");
        }
    }
    Ok((series, train_until, test_until))
}

/// Saves the model (`--out`), writes the forecasts (`--forecasts`) and the chart (`--plot`),
/// and prints the scores.
fn write_outputs(
    args: &ForecastArgs,
    spec: &SeriesSpec,
    series: &DailySeries,
    result: &Forecast,
    train_until: i64,
) -> Result<()> {
    if let Some(out) = &args.out {
        let columns = SeriesColumns {
            date_col: spec.date_col.clone(),
            value_col: spec.value_col.clone(),
            covariates: args.covariates.clone(),
            train_until: dates::format(train_until),
        };
        result
            .forecaster
            .save(out, &columns)
            .with_context(|| format!("cannot save the model into {}", out.display()))?;
    }
    if let Some(path) = &args.forecasts {
        write_forecasts(path, series, result)?;
    }
    if let Some(path) = &args.plot {
        crate::commands::forecast_plot::plot(path, series, result, &spec.value_col)?;
    }
    super::write_stdout(|out| {
        if args.json {
            writeln!(out, "{}", json_line(&args.model, args.refit, result))
        } else {
            print_table(out, &args.model, series, result)
        }
    })
}

fn write_forecasts(path: &Path, series: &DailySeries, r: &Forecast) -> Result<()> {
    let mut out = String::from("origin,date,horizon,actual,forecast");
    if r.half_widths.is_some() {
        out += ",lower,upper";
    }
    for (name, _, _) in &r.baselines {
        out += &format!(",{name}");
    }
    out.push('\n');
    for (i, &origin) in r.origins.iter().enumerate() {
        for (h, f) in r.forecasts[i].iter().enumerate() {
            let day = origin + h;
            out += &format!(
                "{},{},{},{},{f:.1}",
                dates::format(series.day(origin)),
                dates::format(series.day(day)),
                h + 1,
                series.values[day]
            );
            if let Some((lower, upper)) = r.interval_bounds(i, h) {
                out += &format!(",{lower:.1},{upper:.1}");
            }
            for (_, b, _) in &r.baselines {
                out += &format!(",{:.1}", b[i][h]);
            }
            out.push('\n');
        }
    }
    recur_nn::model_dir::write_atomic(path, out.as_bytes())?;
    Ok(())
}

fn json_line(model: &str, refit: bool, r: &Forecast) -> serde_json::Value {
    let mut baselines = serde_json::Map::new();
    for (name, _, e) in &r.baselines {
        baselines.insert(
            name.to_string(),
            serde_json::json!({"mae": e.mae, "mean_mae": e.mean_mae, "mape": e.mape, "mean_mape": e.mean_mape}),
        );
    }
    let interval = r.forecaster.interval.as_ref().map(|i| {
        let widths = r.half_widths.as_deref().unwrap_or_default();
        let mean_half_width: Vec<f64> = (0..i.half_width.len())
            .map(|h| widths.iter().map(|w| w[h]).sum::<f64>() / widths.len().max(1) as f64)
            .collect();
        serde_json::json!({
            "level": i.level,
            "days": i.days,
            "half_width": i.half_width,
            "mean_half_width": mean_half_width,
            "coverage": r.coverage.as_ref().map(|c| &c.per_horizon),
            "mean_coverage": r.coverage.as_ref().map(|c| c.mean),
            "floor": i.floor,
        })
    });
    serde_json::json!({
        "model": model,
        "mae": r.errors.mae,
        "mean_mae": r.errors.mean_mae,
        "mape": r.errors.mape,
        "mean_mape": r.errors.mean_mape,
        "origins": r.origins.len(),
        "early_stop_mae": r.early_stop_errors.mae,
        "early_stop_mean_mae": r.early_stop_errors.mean_mae,
        "interval": interval,
        "members": r.epochs.len(),
        "refit": refit,
        "epochs": r.epochs[0],
        "best_epoch": r.best_epochs[0],
        "best_epochs": r.best_epochs,
        "baselines": baselines,
    })
}

fn print_table(out: &mut dyn Write, model: &str, series: &DailySeries, r: &Forecast) -> std::io::Result<()> {
    let (first, last) = (r.origins[0], r.origins[r.origins.len() - 1]);
    let members = if r.epochs.len() > 1 {
        format!(", ensemble of {}", r.epochs.len())
    } else {
        String::new()
    };
    writeln!(
        out,
        "{model}{members}: {} forecast origins {}..{}, best epoch {} of {} (chosen on the training range's \
         last days: mean MAE {:.1})",
        r.origins.len(),
        dates::format(series.day(first)),
        dates::format(series.day(last)),
        r.best_epochs[0],
        r.epochs[0],
        r.early_stop_errors.mean_mae
    )?;
    let cover = r
        .forecaster
        .interval
        .as_ref()
        .map(|i| format!("{:.0}% cover", 100.0 * i.level));
    let mut header = format!("{:>8} {:>12} {:>8}", "horizon", "MAE", "MAPE %");
    if let Some(c) = &cover {
        header += &format!(" {c:>10}");
    }
    for (name, _, _) in &r.baselines {
        header += &format!(" {:>16}", format!("{name} MAE"));
    }
    writeln!(out, "{header}")?;
    let mut row = |label: String, mae: f64, mape: f64, covered: Option<f64>, base: Vec<f64>| {
        let mut line = format!("{label:>8} {mae:>12.1} {mape:>8.2}");
        if let Some(c) = covered {
            line += &format!(" {:>10.1}", 100.0 * c);
        }
        for b in base {
            line += &format!(" {b:>16.1}");
        }
        writeln!(out, "{line}")
    };
    for h in 0..r.errors.mae.len() {
        let base = r.baselines.iter().map(|(_, _, e)| e.mae[h]).collect();
        let covered = r.coverage.as_ref().map(|c| c.per_horizon[h]);
        row(format!("+{}", h + 1), r.errors.mae[h], r.errors.mape[h], covered, base)?;
    }
    let base = r.baselines.iter().map(|(_, _, e)| e.mean_mae).collect();
    let covered = r.coverage.as_ref().map(|c| c.mean);
    row("mean".into(), r.errors.mean_mae, r.errors.mean_mape, covered, base)
}
