//! `recur forecast`: train a model on a daily series and score its multi-day forecasts against
//! the naive and seasonal-naive baselines.

use anyhow::{bail, Context, Result};
use clap::Args;
use recur_core::parallel::default_threads;
use recur_data::series::{parse_daily_csv, synthetic_daily_csv};
use recur_data::{dates, read_daily_csv, SeriesSpec};
use recur_forecast::{models, FeatureSpec, Forecast, ForecastOptions};
use recur_nn::model_dir::read_config;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Arguments of `recur forecast`.
#[derive(Args)]
pub struct ForecastArgs {
    /// Daily series as CSV with a header row (default: a generated series with weekly and
    /// yearly seasonality and a `day_type` column, 2012-01-01..2019-12-31).
    #[arg(long)]
    csv: Option<PathBuf>,
    /// Column holding dates (YYYY-MM-DD or MM/DD/YYYY).
    #[arg(long, default_value = "date")]
    date_col: String,
    /// Column to forecast.
    #[arg(long, default_value = "value")]
    value_col: String,
    /// Other columns to feed the model, comma-separated. Numeric columns are used up to the
    /// forecast origin; text columns (e.g. a W/A/U day type) are categories known in advance,
    /// given for the days being forecast.
    #[arg(long, value_delimiter = ',')]
    covariates: Vec<String>,
    /// Add the day of the week (one-hot) to the inputs.
    #[arg(long)]
    calendar: bool,
    /// Feed windows as they are, not relative to the mean of their last week (by default the
    /// model learns shapes, and the level is added back).
    #[arg(long)]
    absolute: bool,
    /// Days to forecast from each origin.
    #[arg(long, default_value_t = 7)]
    horizon: usize,
    /// Last day of the training range.
    #[arg(long)]
    train_until: Option<String>,
    /// Last day of the validation range (forecast origins and early stopping).
    #[arg(long)]
    val_until: Option<String>,
    /// A preset (seq2seq, linear, seq2vec, conv-gru, wavenet, dilated-cnn) or a model config file.
    #[arg(long, default_value = models::PRESETS[0])]
    model: String,
    /// Days of history the model sees.
    #[arg(long, default_value_t = 56)]
    window: usize,
    /// Most training epochs.
    #[arg(long, default_value_t = 100)]
    epochs: usize,
    /// Stop after this many epochs without a better validation MAE.
    #[arg(long, default_value_t = 10)]
    patience: usize,
    /// Windows per batch.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Seed for initialisation and shuffling.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Cores to train on.
    #[arg(long, default_value_t = default_threads())]
    threads: usize,
    /// Refuse missing days and non-numeric cells instead of interpolating them.
    #[arg(long)]
    strict: bool,
    /// Print one line of JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Write every forecast as CSV (origin, target day, horizon, actual, model, baselines).
    #[arg(long)]
    forecasts: Option<PathBuf>,
    /// Draw history, forecasts and the seasonal-naive baseline (.png or .svg).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// No progress bar or per-epoch lines.
    #[arg(long)]
    quiet: bool,
}

/// Runs `recur forecast`.
pub fn forecast(args: ForecastArgs) -> Result<()> {
    if args.horizon == 0 || args.window == 0 {
        bail!("--horizon and --window must be at least 1");
    }
    let spec = SeriesSpec {
        date_col: args.date_col.clone(),
        value_col: args.value_col.clone(),
        covariates: args.covariates.clone(),
        strict: args.strict,
    };
    let (series, train_until, val_until) = match &args.csv {
        Some(path) => {
            let (Some(t), Some(v)) = (&args.train_until, &args.val_until) else {
                bail!("--csv needs --train-until and --val-until");
            };
            (read_daily_csv(path, &spec)?, t.clone(), v.clone())
        }
        None => {
            let csv = synthetic_daily_csv("2012-01-01", 2922, args.seed);
            let t = args.train_until.clone().unwrap_or("2018-12-31".into());
            let v = args.val_until.clone().unwrap_or("2019-06-30".into());
            (parse_daily_csv(&csv, "generated series", &spec)?, t, v)
        }
    };
    if !args.json {
        for note in &series.notes {
            eprintln!("note: {note}");
        }
    }
    let day = |text: &str, flag: &str| dates::parse(text).map_err(|e| anyhow::anyhow!("{flag}: {e}"));
    let feature_spec = FeatureSpec {
        horizon: args.horizon,
        window: args.window,
        calendar: args.calendar,
        relative: !args.absolute,
    };
    let width = recur_forecast::Features::new(&series, 1, feature_spec.clone()).width;
    let model = if Path::new(&args.model).is_file() {
        read_config(Path::new(&args.model))?
    } else {
        models::preset(&args.model, width, args.window, args.horizon)?
    };
    let options = ForecastOptions {
        spec: feature_spec,
        model,
        train_until: day(&train_until, "--train-until")?,
        val_until: day(&val_until, "--val-until")?,
        epochs: args.epochs,
        patience: args.patience,
        batch_size: args.batch_size,
        learning_rate: args.lr,
        seed: args.seed,
        threads: args.threads.max(1),
        verbose: !args.quiet && !args.json,
    };
    let result = recur_forecast::run(&series, &options).context("forecasting failed")?;
    if let Some(path) = &args.forecasts {
        write_forecasts(path, &series, &result)?;
    }
    if let Some(path) = &args.plot {
        crate::commands::forecast_plot::plot(path, &series, &result, &args.value_col)?;
    }
    super::write_stdout(|out| {
        if args.json {
            writeln!(out, "{}", json_line(&args.model, &result))
        } else {
            print_table(out, &args.model, &series, &result)
        }
    })
}

fn write_forecasts(path: &Path, series: &recur_data::DailySeries, r: &Forecast) -> Result<()> {
    let mut out = String::from("origin,date,horizon,actual,forecast");
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
            for (_, b, _) in &r.baselines {
                out += &format!(",{:.1}", b[i][h]);
            }
            out.push('\n');
        }
    }
    recur_nn::model_dir::write_atomic(path, out.as_bytes())?;
    Ok(())
}

fn json_line(model: &str, r: &Forecast) -> serde_json::Value {
    let mut baselines = serde_json::Map::new();
    for (name, _, e) in &r.baselines {
        baselines.insert(
            name.to_string(),
            serde_json::json!({"mae": e.mae, "mean_mae": e.mean_mae, "mape": e.mape, "mean_mape": e.mean_mape}),
        );
    }
    serde_json::json!({
        "model": model,
        "mae": r.errors.mae,
        "mean_mae": r.errors.mean_mae,
        "mape": r.errors.mape,
        "mean_mape": r.errors.mean_mape,
        "origins": r.origins.len(),
        "epochs": r.epochs,
        "best_epoch": r.best_epoch,
        "baselines": baselines,
    })
}

fn print_table(
    out: &mut dyn Write,
    model: &str,
    series: &recur_data::DailySeries,
    r: &Forecast,
) -> std::io::Result<()> {
    let (first, last) = (r.origins[0], r.origins[r.origins.len() - 1]);
    writeln!(
        out,
        "{model}: {} forecast origins {}..{}, best epoch {} of {}",
        r.origins.len(),
        dates::format(series.day(first)),
        dates::format(series.day(last)),
        r.best_epoch,
        r.epochs
    )?;
    let mut header = format!("{:>8} {:>12} {:>8}", "horizon", "MAE", "MAPE %");
    for (name, _, _) in &r.baselines {
        header += &format!(" {:>16}", format!("{name} MAE"));
    }
    writeln!(out, "{header}")?;
    let mut row = |label: String, mae: f64, mape: f64, base: Vec<f64>| {
        let mut line = format!("{label:>8} {mae:>12.1} {mape:>8.2}");
        for b in base {
            line += &format!(" {b:>16.1}");
        }
        writeln!(out, "{line}")
    };
    for h in 0..r.errors.mae.len() {
        let base = r.baselines.iter().map(|(_, _, e)| e.mae[h]).collect();
        row(format!("+{}", h + 1), r.errors.mae[h], r.errors.mape[h], base)?;
    }
    let base = r.baselines.iter().map(|(_, _, e)| e.mean_mae).collect();
    row("mean".into(), r.errors.mean_mae, r.errors.mean_mape, base)
}
