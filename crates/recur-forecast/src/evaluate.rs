//! Forecast errors per horizon, and the two baselines every run is compared with.

use serde::Serialize;

/// Mean absolute (and percentage) error for each horizon and their means.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HorizonErrors {
    /// MAE at horizons 1..=H, in the series' units.
    pub mae: Vec<f64>,
    /// Mean of `mae`.
    pub mean_mae: f64,
    /// MAPE (%) at horizons 1..=H.
    pub mape: Vec<f64>,
    /// Mean of `mape`.
    pub mean_mape: f64,
}

/// Errors of `forecasts[o][h]` against `actual[origins[o] + h]`.
pub fn horizon_errors(actual: &[f64], origins: &[usize], forecasts: &[Vec<f64>]) -> HorizonErrors {
    let horizon = forecasts.first().map_or(0, Vec::len);
    let n = origins.len().max(1) as f64;
    let mut mae = vec![0.0; horizon];
    let mut mape = vec![0.0; horizon];
    for (&origin, forecast) in origins.iter().zip(forecasts) {
        for (h, f) in forecast.iter().enumerate() {
            let a = actual[origin + h];
            let e = (f - a).abs();
            mae[h] += e / n;
            mape[h] += if a != 0.0 { 100.0 * e / a.abs() / n } else { 0.0 };
        }
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    HorizonErrors {
        mean_mae: mean(&mae),
        mean_mape: mean(&mape),
        mae,
        mape,
    }
}

/// How often the actual values fell inside forecast ± half-width.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Coverage {
    /// Share (0..1) of origins covered at horizons 1..=H.
    pub per_horizon: Vec<f64>,
    /// Share over all origins and horizons.
    pub mean: f64,
}

/// Coverage of the intervals `forecasts[o][h] ± half_widths[o][h]` of `actual[origins[o] + h]`.
pub fn coverage(actual: &[f64], origins: &[usize], forecasts: &[Vec<f64>], half_widths: &[Vec<f64>]) -> Coverage {
    let n = origins.len().max(1) as f64;
    let mut per_horizon = vec![0.0; forecasts.first().map_or(0, Vec::len)];
    for ((&origin, forecast), widths) in origins.iter().zip(forecasts).zip(half_widths) {
        for (h, (f, w)) in forecast.iter().zip(widths).enumerate() {
            if (actual[origin + h] - f).abs() <= *w {
                per_horizon[h] += 1.0 / n;
            }
        }
    }
    let mean = per_horizon.iter().sum::<f64>() / per_horizon.len().max(1) as f64;
    Coverage { per_horizon, mean }
}

/// Naive forecast: every horizon repeats the last known value (the day before the origin).
pub fn naive(values: &[f64], origins: &[usize], horizon: usize) -> Vec<Vec<f64>> {
    origins.iter().map(|&o| vec![values[o - 1]; horizon]).collect()
}

/// Seasonal naive forecast: each day repeats the same weekday of the last known week.
pub fn seasonal_naive(values: &[f64], origins: &[usize], horizon: usize) -> Vec<Vec<f64>> {
    origins
        .iter()
        .map(|&o| (0..horizon).map(|h| values[o + h - 7 * (h / 7 + 1)]).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baselines_and_errors() {
        let values: Vec<f64> = (0..30).map(|i| (i % 7) as f64 * 10.0 + 100.0).collect();
        let origins = vec![14, 20];
        let seasonal = seasonal_naive(&values, &origins, 7);
        let e = horizon_errors(&values, &origins, &seasonal);
        assert_eq!(e.mean_mae, 0.0, "a purely weekly series is forecast exactly");
        let naive = naive(&values, &origins, 2);
        assert_eq!(naive[0], vec![values[13]; 2]);
        let e = horizon_errors(&values, &origins, &naive);
        // Origin 14 (weekday 0, 100) after 13 (weekday 6, 160): errors 60 and 50; origin 20
        // (weekday 6, 160) after 19 (weekday 5, 150): errors 10 and 50 (value 100 at day 21).
        assert_eq!(e.mae, vec![35.0, 50.0]);
        let c = coverage(&values, &origins, &naive, &[vec![40.0, 50.0], vec![40.0, 50.0]]);
        assert_eq!(c.per_horizon, vec![0.5, 1.0]);
        assert_eq!(c.mean, 0.75);
    }
}
