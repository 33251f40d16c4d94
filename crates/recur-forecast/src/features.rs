//! From a daily series to model input: one feature row per day and the windows cut from it.
//!
//! A day's row holds the scaled value, the scaled numeric covariates, optionally the weekday as a
//! one-hot, and, for every categorical covariate (known in advance), its one-hot for each of the
//! next `horizon` days, so the step that forecasts those days knows what kind of days they are.
//! Scaling uses the training range only.

use recur_core::Seq;
use recur_data::dates::weekday;
use recur_data::{Covariate, DailySeries};
use recur_train::{Batch, Targets};

/// How feature rows are built.
#[derive(Clone, Debug)]
pub struct FeatureSpec {
    /// Days forecast from each origin.
    pub horizon: usize,
    /// Days of history the model sees.
    pub window: usize,
    /// Add the weekday as a one-hot.
    pub calendar: bool,
    /// Measure each window's values and targets from the mean of its last week, so the model
    /// learns shapes rather than levels (the level is added back to the forecasts).
    pub relative: bool,
}

/// Whether a model emits one forecast per window (its last state) or one per step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputKind {
    /// `[batch, horizon]`: trained on the window's end only.
    Vector,
    /// `[batch, window, horizon]`: every step forecasts the days after it.
    Sequence,
}

/// Feature rows for every day of a series, and the target scaling.
#[derive(Clone, Debug)]
pub struct Features {
    /// `days × width` values, row-major.
    pub rows: Vec<f32>,
    /// Features per day.
    pub width: usize,
    /// Scaled targets, one per day (the scaled value itself).
    pub scaled: Vec<f32>,
    /// Mean subtracted from the target.
    pub mean: f64,
    /// Divisor of the target.
    pub scale: f64,
    /// The spec these were built with.
    pub spec: FeatureSpec,
}

fn mean_and_scale(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, if var > 0.0 { var.sqrt() } else { 1.0 })
}

impl Features {
    /// Builds the rows, scaling with statistics of days `..train_end` (exclusive).
    pub fn new(series: &DailySeries, train_end: usize, spec: FeatureSpec) -> Self {
        let days = series.values.len();
        let (mean, scale) = mean_and_scale(&series.values[..train_end]);
        let scaled: Vec<f32> = series.values.iter().map(|v| ((v - mean) / scale) as f32).collect();
        let mut columns: Vec<Vec<f32>> = vec![scaled.clone()];
        for (_, cov) in &series.covariates {
            match cov {
                Covariate::Numeric(v) => {
                    let (m, s) = mean_and_scale(&v[..train_end]);
                    columns.push(v.iter().map(|x| ((x - m) / s) as f32).collect());
                }
                Covariate::Categorical(index, names) => {
                    for ahead in 1..=spec.horizon {
                        for k in 0..names.len() {
                            columns.push(
                                (0..days)
                                    .map(|d| index.get(d + ahead).map_or(0.0, |&c| f32::from(u8::from(c == k))))
                                    .collect(),
                            );
                        }
                    }
                }
            }
        }
        if spec.calendar {
            for k in 0..7 {
                columns.push(
                    (0..days)
                        .map(|d| f32::from(u8::from(weekday(series.day(d)) == k)))
                        .collect(),
                );
            }
        }
        let width = columns.len();
        let mut rows = vec![0.0; days * width];
        for (j, col) in columns.iter().enumerate() {
            for (d, v) in col.iter().enumerate() {
                rows[d * width + j] = *v;
            }
        }
        Features {
            rows,
            width,
            scaled,
            mean,
            scale,
            spec,
        }
    }

    /// A model output for the window ending at `end` back in the series' units.
    pub fn unscale(&self, v: f32, end: usize) -> f64 {
        (v + self.level(end)) as f64 * self.scale + self.mean
    }

    /// The scaled level subtracted from the window ending at `end` (0 unless `relative`).
    fn level(&self, end: usize) -> f32 {
        if !self.spec.relative {
            return 0.0;
        }
        let week = &self.scaled[(end + 1).saturating_sub(7)..=end];
        week.iter().sum::<f32>() / week.len() as f32
    }

    /// A batch of windows ending on the given days (each window's last input day). Targets are
    /// the `horizon` days after the window's end (`Vector`) or after each step (`Sequence`);
    /// every target day must exist.
    pub fn batch(&self, ends: &[usize], kind: OutputKind) -> Batch<f32> {
        let (w, h, width) = (self.spec.window, self.spec.horizon, self.width);
        let mut x = Vec::with_capacity(ends.len() * w * width);
        let mut y = Vec::new();
        for &end in ends {
            let start = end + 1 - w;
            let level = self.level(end);
            let first = x.len();
            x.extend_from_slice(&self.rows[start * width..(end + 1) * width]);
            // Column 0 is the value.
            x[first..].iter_mut().step_by(width).for_each(|v| *v -= level);
            let target_steps = match kind {
                OutputKind::Vector => end..end + 1,
                OutputKind::Sequence => start..end + 1,
            };
            for t in target_steps {
                y.extend((1..=h).map(|k| self.scaled.get(t + k).copied().unwrap_or(0.0) - level));
            }
        }
        Batch {
            x: Seq::new(x, ends.len(), w, width, vec![w; ends.len()]).expect("window shapes are consistent"),
            targets: Targets::Values(y),
        }
    }
}
