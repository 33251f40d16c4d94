//! `recur forecast --model DIR --csv F`: forecast the `horizon` days after the data's last value
//! (or after `--from DATE`) with a model saved by `recur forecast --out DIR`, reading the CSV
//! with the columns, covariates and scaling it was trained with.

use super::forecast::ForecastArgs;
use anyhow::{bail, Context, Result};
use recur_data::{dates, read_daily_csv};
use recur_forecast::{Ahead, ForecastPredictor, Forecaster, SeriesColumns};
use std::io::{self, Write};
use std::path::Path;

/// Refuses settings given on the command line that differ from the saved model's.
fn check_settings(args: &ForecastArgs, dir: &Path, f: &Forecaster, columns: &SeriesColumns) -> Result<()> {
    let training = args.training_flags();
    if !training.is_empty() {
        bail!(
            "{} train a model; --model {} is a saved one, which only forecasts (drop them, or give \
             a preset to train a new model)",
            training.join(", "),
            dir.display()
        );
    }
    let differ = |flag: &str, given: String, saved: String| {
        if given != saved {
            bail!(
                "{flag} {given} differs from the model in {}, trained with {flag} {saved}: \
                 that model belongs to another series or settings",
                dir.display()
            )
        }
        Ok(())
    };
    if let Some(c) = &args.date_col {
        differ("--date-col", c.clone(), columns.date_col.clone())?;
    }
    if let Some(c) = &args.value_col {
        differ("--value-col", c.clone(), columns.value_col.clone())?;
    }
    if !args.covariates.is_empty() {
        differ("--covariates", args.covariates.join(","), columns.covariates.join(","))?;
    }
    if let Some(h) = args.horizon {
        differ("--horizon", h.to_string(), f.spec.horizon.to_string())?;
    }
    if let Some(w) = args.window {
        differ("--window", w.to_string(), f.spec.window.to_string())?;
    }
    if args.absolute && f.spec.relative {
        bail!(
            "--absolute differs from the model in {}, trained relative to each window's last week",
            dir.display()
        );
    }
    Ok(())
}

/// Runs the forecast with a saved model.
pub fn forecast_ahead(args: &ForecastArgs) -> Result<()> {
    let dir = Path::new(&args.model);
    let mut predictor = ForecastPredictor::load(dir)
        .with_context(|| format!("cannot load the forecasting model in {}", dir.display()))?;
    args.precision.apply(|p| predictor.forecaster.prepare_inference(p));
    let (forecaster, columns) = (&predictor.forecaster, &predictor.columns);
    check_settings(args, dir, forecaster, columns)?;
    let Some(csv) = &args.csv else {
        bail!("--model {} forecasts a series: give it with --csv", dir.display());
    };
    let series = read_daily_csv(csv, &predictor.series_spec(args.strict)?)?;
    if !args.json {
        for note in &series.notes {
            recur_core::stderr_line!("note: {note}");
        }
    }
    let from = match &args.from {
        Some(text) => Some(dates::parse(text).map_err(|e| anyhow::anyhow!("--from: {e}"))?),
        None => None,
    };
    let last = ForecastPredictor::last_day(&series, from).map_err(|_| {
        anyhow::anyhow!(
            "--from {}: {} has values for {}..{}",
            dates::format(from.unwrap_or_default()),
            csv.display(),
            dates::format(series.first_day),
            dates::format(series.day(series.observed - 1))
        )
    })?;
    let ahead = predictor
        .forecast(&series, last, args.threads.max(1))
        .with_context(|| format!("cannot forecast {}", csv.display()))?;
    if let Some(path) = &args.plot {
        let interval = ahead.interval.as_ref();
        super::forecast_plot::plot_ahead(path, &series, last, &ahead.forecast, interval, &columns.value_col)?;
    }
    let last_day = series.day(last);
    super::write_stdout(|out| match args.json {
        true => write_ahead_json(out, &args.model, columns, last_day, &ahead),
        false => write_ahead_table(out, columns, last_day, &ahead),
    })
}

/// The forecast as one JSON line: the model, the value column, the last day, the dates, the
/// forecast and the interval (with its level and floor).
fn write_ahead_json(
    out: &mut dyn Write,
    model: &str,
    columns: &SeriesColumns,
    last_day: i64,
    ahead: &Ahead,
) -> io::Result<()> {
    let line = serde_json::json!({
        "model": model,
        "value": columns.value_col,
        "last_day": dates::format(last_day),
        "dates": ahead.days.iter().map(|d| dates::format(*d)).collect::<Vec<_>>(),
        "forecast": ahead.forecast,
        "interval": ahead.interval.as_ref().map(|b| serde_json::json!({
            "level": b.level,
            "lower": b.lower,
            "upper": b.upper,
            "floor": b.floor,
        })),
    });
    writeln!(out, "{line}")
}

/// The forecast as a table: one line a day with its weekday, the forecast and the interval.
fn write_ahead_table(out: &mut dyn Write, columns: &SeriesColumns, last_day: i64, ahead: &Ahead) -> io::Result<()> {
    writeln!(
        out,
        "{} after {} (model trained until {}):",
        columns.value_col,
        dates::format(last_day),
        columns.train_until
    )?;
    let band = ahead.interval.as_ref();
    let names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    match band.map(|b| b.level) {
        Some(l) => writeln!(
            out,
            "{:>10} {:>4} {:>12} {:>12} {:>12}",
            "date",
            "day",
            "forecast",
            format!("{:.0}% low", 100.0 * l),
            "high"
        )?,
        None => writeln!(out, "{:>10} {:>4} {:>12}", "date", "day", "forecast")?,
    }
    for (k, (d, f)) in ahead.days.iter().zip(&ahead.forecast).enumerate() {
        let mut line = format!("{} {:>4} {f:>12.1}", dates::format(*d), names[dates::weekday(*d)]);
        if let Some(b) = band {
            line += &format!(" {:>12.1} {:>12.1}", b.lower[k], b.upper[k]);
        }
        writeln!(out, "{line}")?;
    }
    if let Some(floor) = band.and_then(|b| b.floor) {
        writeln!(
            out,
            "(interval ends below {floor} raised to it: {} is never below {floor} in the training range)",
            columns.value_col
        )?;
    }
    Ok(())
}
