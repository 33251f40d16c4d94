//! `recur forecast --model DIR --csv F`: forecast the `horizon` days after the data's last value
//! (or after `--from DATE`) with a model saved by `recur forecast --out DIR`, reading the CSV
//! with the columns, covariates and scaling it was trained with.

use super::forecast::{split_covariates, ForecastArgs};
use anyhow::{bail, Context, Result};
use recur_data::{dates, read_daily_csv, SeriesSpec};
use recur_forecast::{Forecaster, SeriesColumns};
use std::path::Path;

/// How far (in training standard deviations) the last window's mean may lie from the training
/// mean before the data is taken for another series than the model's.
const FOREIGN_LEVEL: f64 = 10.0;

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
    let (forecaster, columns) =
        Forecaster::load(dir).with_context(|| format!("cannot load the forecasting model in {}", dir.display()))?;
    check_settings(args, dir, &forecaster, &columns)?;
    let Some(csv) = &args.csv else {
        bail!("--model {} forecasts a series: give it with --csv", dir.display());
    };
    let (csv_columns, _) = split_covariates(&columns.covariates)?;
    let spec = SeriesSpec {
        date_col: columns.date_col.clone(),
        value_col: columns.value_col.clone(),
        covariates: csv_columns,
        strict: args.strict,
    };
    let series = read_daily_csv(csv, &spec)?;
    if !args.json {
        for note in &series.notes {
            recur_core::stderr_line!("note: {note}");
        }
    }
    let last = match &args.from {
        None => series.observed - 1,
        Some(text) => {
            let day = dates::parse(text).map_err(|e| anyhow::anyhow!("--from: {e}"))?;
            match series.index_of(day) {
                Some(i) if i < series.observed => i,
                _ => bail!(
                    "--from {}: {} has values for {}..{}",
                    dates::format(day),
                    csv.display(),
                    dates::format(series.first_day),
                    dates::format(series.day(series.observed - 1))
                ),
            }
        }
    };
    let window = &series.values[(last + 1).saturating_sub(forecaster.spec.window)..=last];
    let level = window.iter().sum::<f64>() / window.len() as f64;
    let (mean, scale) = (forecaster.encoding.mean, forecaster.encoding.scale);
    if (level - mean).abs() > FOREIGN_LEVEL * scale {
        bail!(
            "`{}` in {} averages {level:.1} over the last {} days, far outside the series the model in {} \
             was trained on (mean {mean:.1}, deviation {scale:.1}): is this that series?",
            columns.value_col,
            csv.display(),
            window.len(),
            dir.display()
        );
    }
    let threads = args.threads.max(1);
    let forecast = forecaster
        .forecast_after(&series, last, threads)
        .with_context(|| format!("cannot forecast {}", csv.display()))?;
    let days: Vec<i64> = (1..=forecast.len() as i64).map(|k| series.day(last) + k).collect();
    let train_until = dates::parse(&columns.train_until)
        .map_err(|e| anyhow::anyhow!("{}: the saved training end: {e}", dir.display()))?;
    let band: Option<Vec<(f64, f64)>> = forecaster
        .half_widths_after(&series, last, train_until, threads)
        .with_context(|| format!("cannot calibrate the intervals on {}", csv.display()))?
        .map(|widths| forecast.iter().zip(&widths).map(|(f, w)| (f - w, f + w)).collect());
    if let Some(path) = &args.plot {
        let interval = forecaster
            .interval
            .as_ref()
            .zip(band.as_deref())
            .map(|(i, b)| (i.level, b));
        super::forecast_plot::plot_ahead(path, &series, last, &forecast, interval, &columns.value_col)?;
    }
    let level = forecaster.interval.as_ref().map(|i| i.level);
    super::write_stdout(|out| {
        if args.json {
            let line = serde_json::json!({
                "model": args.model,
                "value": columns.value_col,
                "last_day": dates::format(series.day(last)),
                "dates": days.iter().map(|d| dates::format(*d)).collect::<Vec<_>>(),
                "forecast": forecast,
                "interval": band.as_ref().map(|b| serde_json::json!({
                    "level": level,
                    "lower": b.iter().map(|x| x.0).collect::<Vec<_>>(),
                    "upper": b.iter().map(|x| x.1).collect::<Vec<_>>(),
                })),
            });
            return writeln!(out, "{line}");
        }
        writeln!(
            out,
            "{} after {} (model trained until {}):",
            columns.value_col,
            dates::format(series.day(last)),
            columns.train_until
        )?;
        let names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        match level {
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
        for (k, (d, f)) in days.iter().zip(&forecast).enumerate() {
            let mut line = format!("{} {:>4} {f:>12.1}", dates::format(*d), names[dates::weekday(*d)]);
            if let Some(b) = &band {
                line += &format!(" {:>12.1} {:>12.1}", b[k].0, b[k].1);
            }
            writeln!(out, "{line}")?;
        }
        Ok(())
    })
}
