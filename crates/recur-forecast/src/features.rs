//! From a daily series to model input: one feature row per day and the windows cut from it.
//!
//! A day's row holds the scaled value, the covariates and the calendar features asked for. A
//! covariate is either only observed (a measurement such as the weather: the row holds the
//! day's own value, so a forecast sees it up to its origin and no further) or known in advance
//! (a calendar, a timetable, a planned event: the row holds its values for each of the next
//! `horizon` days, so the step that forecasts those days knows what kind of days they are).
//! Numbers are standardised, text columns one-hot. Scaling uses the training range only and is kept in an [`Encoding`], so a saved model
//! encodes new data exactly as it was trained.

use recur_core::Seq;
use recur_data::dates::{civil, day_number, weekday};
use recur_data::{holidays, Covariate, DailySeries};
use recur_nn::{NnError, Result};
use recur_train::{Batch, Targets};
use serde::{Deserialize, Serialize};

/// A feature computed from the date alone, so it is known for any day ahead.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Calendar {
    /// The day of the week, one-hot (7 features).
    Weekday,
    /// The day of the year as a point on the unit circle (sin, cos): the season, smoothly.
    Yearday,
    /// A flag for each of the next `horizon` days: a public holiday of the country (code).
    Holidays(String),
}

impl Calendar {
    /// Names accepted among `--covariates`, computed from the date rather than read.
    pub const NAMES: &'static str = "weekday, yearday, holidays:US";

    /// The calendar feature a covariate name asks for; `None` when it names a CSV column.
    pub fn parse(name: &str) -> Option<Result<Calendar>> {
        match name {
            "weekday" => Some(Ok(Calendar::Weekday)),
            "yearday" => Some(Ok(Calendar::Yearday)),
            _ => name.strip_prefix("holidays:").map(|country| {
                if holidays::COUNTRIES.contains(&country) {
                    Ok(Calendar::Holidays(country.to_string()))
                } else {
                    Err(NnError::Setting(format!(
                        "no public holidays known for `{country}` (known: {})",
                        holidays::COUNTRIES.join(", ")
                    )))
                }
            }),
        }
    }

    /// The name `parse` reads back.
    pub fn name(&self) -> String {
        match self {
            Calendar::Weekday => "weekday".into(),
            Calendar::Yearday => "yearday".into(),
            Calendar::Holidays(c) => format!("holidays:{c}"),
        }
    }

    /// Features per day.
    fn width(&self, horizon: usize) -> usize {
        match self {
            Calendar::Weekday => 7,
            Calendar::Yearday => 2,
            Calendar::Holidays(_) => horizon,
        }
    }

    /// This feature's values for `day` (a day number), appended to `row`.
    fn push(&self, day: i64, horizon: usize, row: &mut Vec<f32>) {
        match self {
            Calendar::Weekday => row.extend((0..7).map(|k| f32::from(u8::from(weekday(day) == k)))),
            Calendar::Yearday => {
                let (year, _, _) = civil(day);
                let phase = std::f64::consts::TAU * (day - day_number(year, 1, 1)) as f64 / 365.25;
                row.extend([phase.sin() as f32, phase.cos() as f32]);
            }
            Calendar::Holidays(country) => row.extend(
                (1..=horizon as i64)
                    .map(|ahead| f32::from(u8::from(holidays::is_holiday(country, day + ahead).unwrap_or(false)))),
            ),
        }
    }
}

/// How feature rows are built.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeatureSpec {
    /// Days forecast from each origin.
    pub horizon: usize,
    /// Days of history the model sees.
    pub window: usize,
    /// Features computed from the date.
    pub calendar: Vec<Calendar>,
    /// Measure each window's values and targets from the mean of its last week, so the model
    /// learns shapes rather than levels (the level is added back to the forecasts).
    pub relative: bool,
    /// The covariate columns known in advance (their values for the days forecast are used);
    /// the others are only observed (used up to the forecast's origin). `None` in a model saved
    /// before covariates were declared: its text columns were known, its numbers observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known: Option<Vec<String>>,
}

impl FeatureSpec {
    /// Whether the covariate `name` is known in advance (`categorical`: a text column).
    pub fn is_known(&self, name: &str, categorical: bool) -> bool {
        match &self.known {
            Some(known) => known.iter().any(|k| k == name),
            None => categorical,
        }
    }
}

/// Whether a model emits one forecast per window (its last state) or one per step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputKind {
    /// `[batch, horizon]`: trained on the window's end only.
    Vector,
    /// `[batch, window, horizon]`: every step forecasts the days after it.
    Sequence,
}

/// How one covariate column becomes features.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnEncoding {
    /// Observed numbers, standardised with the training range's mean and deviation.
    Numeric {
        /// Mean subtracted.
        mean: f64,
        /// Divisor.
        scale: f64,
    },
    /// Categories known in advance, one-hot in this order.
    Categorical {
        /// The categories seen in training.
        names: Vec<String>,
    },
}

impl ColumnEncoding {
    /// Whether the column holds text (categories).
    pub fn is_categorical(&self) -> bool {
        matches!(self, ColumnEncoding::Categorical { .. })
    }
}

/// The scaling of the value and the encoding of each covariate, fitted on the training range.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Encoding {
    /// Mean subtracted from the value.
    pub mean: f64,
    /// Divisor of the value.
    pub scale: f64,
    /// The covariate columns by name, in the order their features appear.
    pub columns: Vec<(String, ColumnEncoding)>,
}

fn mean_and_scale(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, if var > 0.0 { var.sqrt() } else { 1.0 })
}

impl Encoding {
    /// Fits the scaling on days `..train_end` (exclusive).
    pub fn fit(series: &DailySeries, train_end: usize) -> Self {
        let (mean, scale) = mean_and_scale(&series.values[..train_end]);
        let columns = series
            .covariates
            .iter()
            .map(|(name, cov)| {
                let e = match cov {
                    Covariate::Numeric(v) => {
                        let (mean, scale) = mean_and_scale(&v[..train_end]);
                        ColumnEncoding::Numeric { mean, scale }
                    }
                    Covariate::Categorical(_, names) => ColumnEncoding::Categorical { names: names.clone() },
                };
                (name.clone(), e)
            })
            .collect();
        Encoding { mean, scale, columns }
    }

    /// Features per day under `spec`.
    pub fn width(&self, spec: &FeatureSpec) -> usize {
        let covariates: usize = self
            .columns
            .iter()
            .map(|(name, c)| {
                let per_day = match c {
                    ColumnEncoding::Numeric { .. } => 1,
                    ColumnEncoding::Categorical { names } => names.len(),
                };
                let days = if spec.is_known(name, c.is_categorical()) {
                    spec.horizon
                } else {
                    1
                };
                per_day * days
            })
            .sum();
        1 + covariates + spec.calendar.iter().map(|c| c.width(spec.horizon)).sum::<usize>()
    }
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
    /// The scaling used.
    pub encoding: Encoding,
    /// The spec these were built with.
    pub spec: FeatureSpec,
}

/// A categorical column's indices mapped onto the encoding's category order.
fn category_indices(name: &str, index: &[usize], names: &[String], known: &[String]) -> Result<Vec<Option<usize>>> {
    let map: Vec<Option<usize>> = names.iter().map(|n| known.iter().position(|k| k == n)).collect();
    if let Some(new) = names.iter().zip(&map).find(|(_, m)| m.is_none()).map(|(n, _)| n) {
        return Err(NnError::Setting(format!(
            "covariate `{name}` has the category `{new}`, which training never saw (it knows {})",
            known.join(", ")
        )));
    }
    Ok(index.iter().map(|&i| map[i]).collect())
}

impl Features {
    /// Builds the rows of `series` with a fitted encoding; its covariates must be the encoding's
    /// columns, in order.
    pub fn new(series: &DailySeries, encoding: &Encoding, spec: FeatureSpec) -> Result<Self> {
        let days = series.values.len();
        let names: Vec<&str> = series.covariates.iter().map(|(n, _)| n.as_str()).collect();
        let expected: Vec<&str> = encoding.columns.iter().map(|(n, _)| n.as_str()).collect();
        if names != expected {
            return Err(NnError::Setting(format!(
                "the series has the covariates [{}] but the model was trained with [{}]",
                names.join(", "),
                expected.join(", ")
            )));
        }
        let (mean, scale) = (encoding.mean, encoding.scale);
        let scaled: Vec<f32> = series.values.iter().map(|v| ((v - mean) / scale) as f32).collect();
        let mut columns: Vec<Vec<f32>> = vec![scaled.clone()];
        for ((name, cov), (_, enc)) in series.covariates.iter().zip(&encoding.columns) {
            // The days a row holds: the day itself (observed) or each of the next `horizon`.
            let ahead = match spec.is_known(name, enc.is_categorical()) {
                true => 1..=spec.horizon,
                false => 0..=0,
            };
            match (cov, enc) {
                (Covariate::Numeric(v), ColumnEncoding::Numeric { mean, scale }) => {
                    for a in ahead {
                        columns.push(
                            (0..days)
                                .map(|d| v.get(d + a).map_or(0.0, |x| ((x - mean) / scale) as f32))
                                .collect(),
                        );
                    }
                }
                (Covariate::Categorical(index, names), ColumnEncoding::Categorical { names: known }) => {
                    let index = category_indices(name, index, names, known)?;
                    for a in ahead {
                        for k in 0..known.len() {
                            columns.push(
                                (0..days)
                                    .map(|d| index.get(d + a).map_or(0.0, |&c| f32::from(u8::from(c == Some(k)))))
                                    .collect(),
                            );
                        }
                    }
                }
                _ => {
                    return Err(NnError::Setting(format!(
                        "covariate `{name}` is {} here but was {} in training",
                        kind(cov),
                        match enc {
                            ColumnEncoding::Numeric { .. } => "numeric",
                            ColumnEncoding::Categorical { .. } => "text (categories)",
                        }
                    )))
                }
            }
        }
        let mut calendar = Vec::new();
        let calendar_width: usize = spec.calendar.iter().map(|c| c.width(spec.horizon)).sum();
        let base = columns.len();
        let width = base + calendar_width;
        let mut rows = vec![0.0; days * width];
        for (j, col) in columns.iter().enumerate() {
            for (d, v) in col.iter().enumerate() {
                rows[d * width + j] = *v;
            }
        }
        for d in 0..days {
            calendar.clear();
            for c in &spec.calendar {
                c.push(series.day(d), spec.horizon, &mut calendar);
            }
            rows[d * width + base..(d + 1) * width].copy_from_slice(&calendar);
        }
        Ok(Features {
            rows,
            width,
            scaled,
            encoding: encoding.clone(),
            spec,
        })
    }

    /// A model output for the window ending at `end` back in the series' units.
    pub fn unscale(&self, v: f32, end: usize) -> f64 {
        (v + self.level(end)) as f64 * self.encoding.scale + self.encoding.mean
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
    /// days past the series give 0 (inference on the days ahead reads no targets).
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
            more_inputs: Vec::new(),
        }
    }
}

fn kind(cov: &Covariate) -> &'static str {
    match cov {
        Covariate::Numeric(_) => "numeric",
        Covariate::Categorical(..) => "text (categories)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recur_data::series::{parse_daily_csv, synthetic_daily_csv};
    use recur_data::SeriesSpec;

    fn series(csv: &str, covariates: &[&str]) -> DailySeries {
        let spec = SeriesSpec {
            date_col: "date".into(),
            value_col: "value".into(),
            covariates: covariates.iter().map(|s| s.to_string()).collect(),
            strict: false,
        };
        parse_daily_csv(csv, "t.csv", &spec).unwrap()
    }

    #[test]
    fn calendar_features_and_category_mapping() {
        let s = series(&synthetic_daily_csv("2019-01-01", 40, 1), &["day_type"]);
        let enc = Encoding::fit(&s, 30);
        let spec = FeatureSpec {
            horizon: 2,
            window: 7,
            calendar: vec![Calendar::Weekday, Calendar::Yearday, Calendar::Holidays("US".into())],
            relative: false,
            known: None,
        };
        let f = Features::new(&s, &enc, spec.clone()).unwrap();
        assert_eq!(f.width, enc.width(&spec));
        assert_eq!(f.width, 1 + 3 * 2 + 7 + 2 + 2);
        // 2019-01-01 is a Tuesday (weekday 1) and a holiday: the day before has the flag ahead 1.
        let row = |d: usize| &f.rows[d * f.width..(d + 1) * f.width];
        assert_eq!(&row(0)[7..14], &[0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        assert_eq!(row(0)[14], 0.0, "sin of day 0 of the year");
        // 2019-01-21 (MLK day) is 1 and 2 days after 01-20 and 01-19.
        assert_eq!(&row(19)[16..], &[1.0, 0.0]);
        assert_eq!(&row(18)[16..], &[0.0, 1.0]);
        // A later CSV knowing only some categories maps them onto the training order.
        let later = series("date,day_type,value\n2020-01-01,W,5\n2020-01-02,W,6\n", &["day_type"]);
        let g = Features::new(
            &later,
            &enc,
            FeatureSpec {
                calendar: vec![],
                ..spec.clone()
            },
        )
        .unwrap();
        let w_index = match &enc.columns[0].1 {
            ColumnEncoding::Categorical { names } => names.iter().position(|n| n == "W").unwrap(),
            ColumnEncoding::Numeric { .. } => unreachable!(),
        };
        assert_eq!(g.rows[1 + w_index], 1.0);
        let odd = series("date,day_type,value\n2020-01-01,X,5\n2020-01-02,W,6\n", &["day_type"]);
        let e = Features::new(&odd, &enc, spec).unwrap_err().to_string();
        assert!(e.contains("the category `X`, which training never saw"), "{e}");
        assert!(matches!(Calendar::parse("holidays:FR"), Some(Err(_))));
        assert_eq!(Calendar::parse("holidays:US").unwrap().unwrap().name(), "holidays:US");
        assert!(Calendar::parse("day_type").is_none());
    }
}
