//! The charts of `recur forecast --plot`. Scoring a test range: the actual series over the range
//! and the eight weeks before it, the model's forecasts one and `horizon` days ahead (the
//! one-day forecasts' interval shaded), and the seasonal-naive forecast one day ahead.
//! Forecasting ahead with a saved model: the last eight weeks and the forecast with its band.

use anyhow::Result;
use recur_data::{dates, DailySeries};
use recur_forecast::{Band as Interval, Forecast};
use recur_viz::frame::significant;
use recur_viz::{write_picture, Band, Line, LineChart};
use std::path::Path;

/// Days of history drawn before the first forecast.
const HISTORY: usize = 56;

fn line(name: String, points: Vec<(f64, f64)>, color: &str, dashed: bool, width: f64) -> Line {
    Line {
        name,
        points,
        color: color.into(),
        dashed,
        width,
        right_axis: false,
    }
}

/// The band of an interval of nominal coverage `level`; its legend says where the ends were
/// clipped at the series' `floor` and why.
fn band(level: f64, floor: Option<f64>, points: Vec<(f64, f64, f64)>) -> Band {
    let clipped = match floor {
        Some(floor) => format!(", clipped at {floor} (never below it in training)"),
        None => String::new(),
    };
    Band {
        name: format!("{:.0}% interval{clipped}", 100.0 * level),
        points,
        color: "#1f77b4".into(),
    }
}

/// Writes the chart of a scored run to `path` (.svg or .png).
pub fn plot(path: &Path, series: &DailySeries, result: &Forecast, value_name: &str) -> Result<()> {
    let first_origin = result.origins[0];
    let last_day = result.origins[result.origins.len() - 1] + result.forecasts[0].len() - 1;
    let start = first_origin.saturating_sub(HISTORY);
    let x = |i: usize| series.day(i) as f64;
    let at = |h: usize, forecasts: &[Vec<f64>]| -> Vec<(f64, f64)> {
        result
            .origins
            .iter()
            .zip(forecasts)
            .filter_map(|(&o, f)| f.get(h).map(|v| (x(o + h), *v)))
            .collect()
    };
    let horizon = result.forecasts[0].len();
    let mut lines = vec![
        line(
            "actual".into(),
            (start..=last_day).map(|i| (x(i), series.values[i])).collect(),
            "#222",
            false,
            1.6,
        ),
        line(
            "model, 1 day ahead".into(),
            at(0, &result.forecasts),
            "#1f77b4",
            false,
            1.4,
        ),
    ];
    if horizon > 1 {
        lines.push(line(
            format!("model, {horizon} days ahead"),
            at(horizon - 1, &result.forecasts),
            "#ff7f0e",
            false,
            1.2,
        ));
    }
    if let Some((_, f, _)) = result.baselines.iter().find(|(n, _, _)| *n == "seasonal_naive") {
        lines.push(line("seasonal naive, 1 day ahead".into(), at(0, f), "#999", true, 1.2));
    }
    let bands = result
        .forecaster
        .interval
        .iter()
        .map(|interval| {
            let points = (0..result.origins.len())
                .filter_map(|i| {
                    let (lower, upper) = result.interval_bounds(i, 0)?;
                    Some((x(result.origins[i]), lower, upper))
                })
                .collect();
            band(interval.level, interval.floor, points)
        })
        .collect();
    let chart = LineChart {
        title: format!(
            "{value_name}: forecasts from {} origins (mean MAE {})",
            result.origins.len(),
            significant(result.errors.mean_mae, 3)
        ),
        x_label: "date".into(),
        y_label: value_name.into(),
        lines,
        bands,
        x_tick_text: Some(|v| dates::format(v.round() as i64)),
        markers: vec![(x(first_origin), "test".into())],
        ..LineChart::default()
    };
    write_picture(path, &chart.to_svg())?;
    Ok(())
}

/// Writes the chart of a forecast of the days after index `last` to `path` (.svg or .png),
/// with its interval if there is one.
pub fn plot_ahead(
    path: &Path,
    series: &DailySeries,
    last: usize,
    forecast: &[f64],
    interval: Option<&Interval>,
    value_name: &str,
) -> Result<()> {
    let x = |i: usize| series.day(i) as f64;
    let ahead = |k: usize| (series.day(last) + 1 + k as i64) as f64;
    let start = (last + 1).saturating_sub(HISTORY);
    // The forecast line starts at the last value so the two lines join.
    let points = std::iter::once((x(last), series.values[last]))
        .chain(forecast.iter().enumerate().map(|(k, f)| (ahead(k), *f)))
        .collect();
    let lines = vec![
        line(
            "actual".into(),
            (start..=last).map(|i| (x(i), series.values[i])).collect(),
            "#222",
            false,
            1.6,
        ),
        line("forecast".into(), points, "#1f77b4", false, 1.8),
    ];
    let bands = interval
        .map(|i| {
            let points = i.lower.iter().zip(&i.upper).enumerate();
            band(
                i.level,
                i.floor,
                points.map(|(k, (lo, hi))| (ahead(k), *lo, *hi)).collect(),
            )
        })
        .into_iter()
        .collect();
    let chart = LineChart {
        title: format!("{value_name}: forecast after {}", dates::format(series.day(last))),
        x_label: "date".into(),
        y_label: value_name.into(),
        lines,
        bands,
        x_tick_text: Some(|v| dates::format(v.round() as i64)),
        markers: vec![(x(last), "last value".into())],
        ..LineChart::default()
    };
    write_picture(path, &chart.to_svg())?;
    Ok(())
}
