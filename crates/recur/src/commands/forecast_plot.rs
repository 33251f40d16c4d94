//! The chart of `recur forecast --plot`: the actual series over the validation range and the
//! eight weeks before it, the model's forecasts one and `horizon` days ahead, and the
//! seasonal-naive forecast one day ahead.

use anyhow::Result;
use recur_data::{dates, DailySeries};
use recur_forecast::Forecast;
use recur_viz::{write_picture, Line, LineChart};
use std::path::Path;

/// Writes the chart to `path` (.svg or .png).
pub fn plot(path: &Path, series: &DailySeries, result: &Forecast, value_name: &str) -> Result<()> {
    let first_origin = result.origins[0];
    let last_day = result.origins[result.origins.len() - 1] + result.forecasts[0].len() - 1;
    let start = first_origin.saturating_sub(56);
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
    let line = |name: String, points, color: &str, dashed, width| Line {
        name,
        points,
        color: color.into(),
        dashed,
        width,
    };
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
    let chart = LineChart {
        title: format!(
            "{value_name}: forecasts from {} origins (mean MAE {:.0})",
            result.origins.len(),
            result.errors.mean_mae
        ),
        x_label: "date".into(),
        y_label: value_name.into(),
        lines,
        x_tick_text: Some(|v| dates::format(v.round() as i64)),
        markers: vec![(x(first_origin), "validation".into())],
    };
    write_picture(path, &chart.to_svg())?;
    Ok(())
}
