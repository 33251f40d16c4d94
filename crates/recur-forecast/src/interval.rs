//! Conformal prediction intervals, calibrated on a rolling window of recent errors.
//!
//! A forecast made at an origin (its first forecast day) is given `forecast ± half-width` per
//! horizon, where the half-width is the `⌈(n+1)·level⌉`-th smallest of the `n` most recent
//! absolute errors at that horizon whose targets were already known at the origin. At first
//! those are the early-stopping days' errors (forecasts on days the model was not trained on);
//! as days pass after the training range, the model's own forecasts of them replace the oldest.
//! Why rolling: errors change with the season (holidays, winter storms), so bands calibrated on
//! the few weeks before the training range ends are too wide or too narrow for the spring after
//! it; recent errors follow the season, as a practitioner recalibrating on the last weeks would.
//!
//! The level itself adapts (adaptive conformal inference, Gibbs & Candès 2021): after the
//! training range each known miss of an earlier interval raises the level used by `adapt·(1 −
//! level)` and each hit lowers it by `adapt·level`, so the share covered over time tends to the
//! nominal one even where a rolling window lags the season.

use serde::{Deserialize, Serialize};

/// The signed errors (forecast − actual) of one forecast, per horizon, and its origin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OriginErrors {
    /// The origin's day number (its first forecast day).
    pub origin: i64,
    /// Errors at horizons 1..=H (NaN where the target is not known).
    pub errors: Vec<f64>,
}

/// Symmetric prediction intervals: the forecast plus or minus a half-width per horizon.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Nominal coverage, e.g. 0.8.
    pub level: f64,
    /// How many recent origins' errors each interval is calibrated on.
    #[serde(default)]
    pub days: usize,
    /// How far each miss or hit after the training range moves the level (0: fixed).
    #[serde(default)]
    pub adapt: f64,
    /// The calibration errors at the end of the training range (the early-stopping forecasts'
    /// most recent ones, one row per origin, or per member and origin when the members' errors
    /// are pooled), in origin order.
    #[serde(default)]
    pub calibration: Vec<OriginErrors>,
    /// Whether a row is one member's error (the members' errors pooled) rather than the
    /// ensemble mean's; later errors are taken the same way.
    #[serde(default)]
    pub pooled: bool,
    /// Half-widths at horizons 1..=H for a forecast made right after the training range, in the
    /// series' units.
    pub half_width: Vec<f64>,
    /// The value no interval reaches below: 0 for a series never negative in its training range
    /// (counts such as boardings, where a band below 0 would show impossible days); `None` for
    /// one that goes negative, and for models saved before floors were kept.
    #[serde(default)]
    pub floor: Option<f64>,
}

/// Errors of forecasts made after the training range, in origin order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LaterErrors {
    /// The forecasts' errors, one row per origin: whether they missed moves the level.
    pub issued: Vec<OriginErrors>,
    /// The rows to calibrate on: the same, or with pooled members a row per member and origin.
    pub rows: Vec<OriginErrors>,
}

impl Interval {
    /// Intervals of nominal coverage `level` calibrated on `calibration` (in origin order),
    /// keeping the rows of the last `days` origins (and a horizon's more, which later origins
    /// still read at the longer horizons).
    pub fn new(level: f64, days: usize, adapt: f64, calibration: Vec<OriginErrors>, pooled: bool) -> Interval {
        let horizon = calibration.first().map_or(0, |r| r.errors.len());
        let last = calibration.last().map_or(0, |r| r.origin);
        // Saturating: a window longer than any series keeps every row.
        let span = i64::try_from(days.saturating_add(horizon)).unwrap_or(i64::MAX);
        let keep_from = last.saturating_sub(span);
        let calibration: Vec<OriginErrors> = calibration.into_iter().filter(|r| r.origin > keep_from).collect();
        let mut interval = Interval {
            level,
            days,
            adapt,
            calibration,
            pooled,
            half_width: Vec::new(),
            floor: None,
        };
        let first = last + horizon as i64;
        let half_width = (0..horizon).map(|h| interval.width(first, h, level, &[])).collect();
        interval.half_width = half_width;
        interval
    }

    /// The floor for a series whose training values are `training`: 0 when none is negative
    /// (missing values, NaN, are passed over), else none.
    pub fn floor_of(training: &[f64]) -> Option<f64> {
        training
            .iter()
            .filter(|v| !v.is_nan())
            .all(|&v| v >= 0.0)
            .then_some(0.0)
    }

    /// The interval `(lower, upper)` around `forecast` with `half_width`, both ends raised to
    /// the floor where they fall below it.
    pub fn bounds(&self, forecast: f64, half_width: f64) -> (f64, f64) {
        let (lower, upper) = (forecast - half_width, forecast + half_width);
        match self.floor {
            Some(floor) => (lower.max(floor), upper.max(floor)),
            None => (lower, upper),
        }
    }

    /// What makes a saved interval unusable for `horizon`-day forecasts (a hand-edited or
    /// foreign settings file), or `None`.
    pub fn fault(&self, horizon: usize) -> Option<String> {
        if self.half_width.len() != horizon {
            return Some(format!("the interval does not give {horizon} half-widths"));
        }
        if self.calibration.iter().any(|r| r.errors.len() != horizon) {
            return Some(format!(
                "the interval's calibration errors are not {horizon} per origin"
            ));
        }
        // Fixed intervals (saved before rolling calibration) have neither rows nor days.
        let rolling = self.calibration.is_empty() || self.days > 0;
        if !(self.level > 0.0 && self.level < 1.0 && (0.0..=1.0).contains(&self.adapt) && rolling) {
            return Some(format!(
                "the interval's level {}, step {} or {} calibration days are out of range",
                self.level, self.adapt, self.days
            ));
        }
        None
    }

    /// Half-widths per horizon at each origin of `later.issued`: at horizon `h` (from 0), the
    /// conformal quantile of the errors of the last `days` origins `o` with `o + h < origin`
    /// (the calibration rows, then `later.rows`), at the level adapted to the misses of the
    /// issued intervals known by then. An interval saved before rolling calibration keeps its
    /// fixed half-widths.
    pub fn half_widths_along(&self, later: &LaterErrors) -> Vec<Vec<f64>> {
        if self.calibration.is_empty() {
            return vec![self.half_width.clone(); later.issued.len()];
        }
        let columns: Vec<Vec<f64>> = (0..self.half_width.len())
            .map(|h| self.adapted_widths(h, later))
            .collect();
        (0..later.issued.len())
            .map(|i| columns.iter().map(|c| c[i]).collect())
            .collect()
    }

    /// The horizon-`h` half-widths at each issued origin, the level moved by the misses and hits
    /// of the issued intervals whose targets are known at that origin.
    fn adapted_widths(&self, h: usize, later: &LaterErrors) -> Vec<f64> {
        let mut widths: Vec<f64> = Vec::with_capacity(later.issued.len());
        let (mut shift, mut known) = (0.0, 0);
        for row in &later.issued {
            while known < widths.len() && later.issued[known].origin + (h as i64) < row.origin {
                let error = later.issued[known].errors[h];
                if !error.is_nan() {
                    let missed = if error.abs() > widths[known] { 1.0 } else { 0.0 };
                    shift += missed - (1.0 - self.level);
                }
                known += 1;
            }
            widths.push(self.width(row.origin, h, self.level + self.adapt * shift, &later.rows));
        }
        widths
    }

    /// The conformal quantile at `level` of the horizon-`h` errors of the last `days` origins
    /// before `origin` whose targets are known (calibration rows, then `later`).
    fn width(&self, origin: i64, h: usize, level: f64, later: &[OriginErrors]) -> f64 {
        let known = |rows: &[OriginErrors]| rows.partition_point(|r| r.origin + (h as i64) < origin);
        let rows = self.calibration[..known(&self.calibration)]
            .iter()
            .chain(&later[..known(later)])
            .rev();
        let (mut errors, mut origins, mut previous) = (Vec::new(), 0, None);
        for row in rows {
            if previous != Some(row.origin) {
                if origins == self.days {
                    break;
                }
                origins += 1;
                previous = Some(row.origin);
            }
            errors.push(row.errors[h].abs());
        }
        conformal_quantile(level.clamp(0.0, 1.0), errors)
    }
}

/// The `⌈(n+1)·level⌉`-th smallest of `n` absolute errors (the largest when that rank exceeds
/// `n`): split-conformal intervals cover a new error with probability at least `level` when the
/// errors are exchangeable.
pub fn conformal_quantile(level: f64, mut errors: Vec<f64>) -> f64 {
    let n = errors.len();
    if n == 0 {
        return f64::INFINITY;
    }
    let rank = (((n + 1) as f64 * level).ceil() as usize).clamp(1, n) - 1;
    errors.sort_by(f64::total_cmp);
    errors[rank]
}

/// Each origin's signed errors: `forecasts[o][h] − actual[origins[o] + h]`, NaN for days
/// at or after `known` (whose values the forecaster may not read).
pub fn origin_errors(
    actual: &[f64],
    origins: &[usize],
    forecasts: &[Vec<f64>],
    known: usize,
    day: impl Fn(usize) -> i64,
) -> Vec<OriginErrors> {
    origins
        .iter()
        .zip(forecasts)
        .map(|(&o, f)| OriginErrors {
            origin: day(o),
            errors: f
                .iter()
                .enumerate()
                .map(|(h, v)| if o + h < known { v - actual[o + h] } else { f64::NAN })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(origins: std::ops::Range<i64>, error: impl Fn(i64) -> f64) -> Vec<OriginErrors> {
        origins
            .map(|o| OriginErrors {
                origin: o,
                errors: vec![error(o), 2.0 * error(o)],
            })
            .collect()
    }

    #[test]
    fn interval_quantile_is_the_conformal_rank() {
        // n = 9: rank ⌈10·0.8⌉ = 8, the 8th smallest.
        let errors: Vec<f64> = (1..=9).rev().map(f64::from).collect();
        assert_eq!(conformal_quantile(0.8, errors), 8.0);
        assert_eq!(conformal_quantile(0.99, vec![1.0, 3.0]), 3.0);
        assert_eq!(conformal_quantile(0.8, Vec::new()), f64::INFINITY);
    }

    fn issued(rows: Vec<OriginErrors>) -> LaterErrors {
        LaterErrors {
            issued: rows.clone(),
            rows,
        }
    }

    /// Only errors whose targets are known at the origin count, the last `days` origins of them,
    /// calibration rows first and then later ones.
    #[test]
    fn interval_rolls_over_known_errors_only() {
        // Early-stopping origins 0..10 with error 1; later origins 20..31 with error 100 + o.
        let interval = Interval::new(0.5, 4, 0.0, rows(0..10, |_| 1.0), false);
        // Rows kept: the last 4 + 2 origins.
        assert_eq!(interval.calibration.len(), 6);
        assert_eq!(interval.half_width, vec![1.0, 2.0]);
        let widths = interval.half_widths_along(&issued(rows(20..31, |o| 100.0 + o as f64)));
        // At origin 20 no later error is known yet.
        assert_eq!(widths[0], vec![1.0, 2.0]);
        // At 22, horizon 1 knows origins 20 and 21 (errors 120, 121) beside 8 and 9 (1, 1): the
        // rank-⌈5·0.5⌉ = 3rd smallest is 120. Horizon 2 knows only origin 20 (2·120) beside
        // 9, 8 and 7 (2 each).
        assert_eq!(widths[2], vec![120.0, 2.0]);
        // At 30 both horizons see only later origins: 26..29 at horizon 1, 25..28 at horizon 2.
        assert_eq!(widths[10], vec![128.0, 2.0 * 127.0]);
        // A window longer than any series keeps every row, without overflowing.
        let all = Interval::new(0.5, usize::MAX, 0.0, rows(0..10, |o| o as f64), false);
        assert_eq!(all.calibration.len(), 10);
        assert_eq!(all.half_width, vec![5.0, 10.0]);
    }

    /// Pooled members give several rows per origin; `days` counts origins, not rows.
    #[test]
    fn interval_counts_origins_not_rows() {
        let mut pooled = Vec::new();
        for o in 0..10 {
            for member in 0..3 {
                pooled.push(OriginErrors {
                    origin: o,
                    errors: vec![(10 * o + member) as f64],
                });
            }
        }
        let interval = Interval::new(1.0, 2, 0.0, pooled, true);
        // Origins 8 and 9 (six rows): the largest is 92.
        assert_eq!(interval.half_width, vec![92.0]);
        let at_nine = OriginErrors {
            origin: 9,
            errors: vec![f64::NAN],
        };
        assert_eq!(interval.half_widths_along(&issued(vec![at_nine])), vec![vec![82.0]]);
    }

    /// Adaptive conformal inference: a miss raises the level used after it is known, a hit
    /// lowers it again.
    #[test]
    fn interval_level_adapts_to_misses_and_hits() {
        let calibration: Vec<OriginErrors> = (0..9)
            .map(|o| OriginErrors {
                origin: o,
                errors: vec![(o + 1) as f64],
            })
            .collect();
        // Origin 10 misses (7 against a width of 5), origin 11 is covered (0).
        let later = issued(
            [(10, 7.0), (11, 0.0), (12, f64::NAN)]
                .map(|(origin, e)| OriginErrors {
                    origin,
                    errors: vec![e],
                })
                .into(),
        );
        let widths = |adapt: f64| -> Vec<f64> {
            Interval::new(0.5, 100, adapt, calibration.clone(), false)
                .half_widths_along(&later)
                .concat()
        };
        // Fixed level 0.5: ranks ⌈10·0.5⌉ = 5 of 1..9, ⌈11·0.5⌉ = 6 of {1..9, 7}, ⌈12·0.5⌉ = 6
        // of {0, 1..9, 7}.
        assert_eq!(widths(0.0), vec![5.0, 6.0, 5.0]);
        // After the miss the level is 0.5 + 0.1·0.5 = 0.55: rank ⌈11·0.55⌉ = 7; after the hit
        // it is back to 0.5.
        assert_eq!(widths(0.1), vec![5.0, 7.0, 5.0]);
    }

    /// A series never negative in training (counts) gets intervals clipped at 0; one that goes
    /// negative keeps its symmetric intervals.
    #[test]
    fn interval_of_a_non_negative_series_is_clipped_at_zero() {
        assert_eq!(Interval::floor_of(&[3.0, 0.0, f64::NAN, 7.0]), Some(0.0));
        assert_eq!(Interval::floor_of(&[3.0, -0.5, 7.0]), None);
        let mut interval = Interval::new(0.8, 4, 0.0, rows(0..10, |_| 1.0), false);
        assert_eq!(interval.bounds(1.0, 3.0), (-2.0, 4.0));
        interval.floor = Some(0.0);
        assert_eq!(interval.bounds(1.0, 3.0), (0.0, 4.0));
        assert_eq!(interval.bounds(-5.0, 3.0), (0.0, 0.0), "a forecast below the floor");
        assert_eq!(
            interval.bounds(10.0, 3.0),
            (7.0, 13.0),
            "bands above the floor are untouched"
        );
    }

    /// A saved interval that cannot be used is named, whatever field is wrong.
    #[test]
    fn interval_faults_are_named() {
        let good = Interval::new(0.8, 4, 0.05, rows(0..10, |o| o as f64), false);
        assert_eq!(good.fault(2), None);
        assert_eq!(good.fault(3).unwrap(), "the interval does not give 3 half-widths");
        let mut short = good.clone();
        short.calibration[0].errors.pop();
        assert_eq!(
            short.fault(2).unwrap(),
            "the interval's calibration errors are not 2 per origin"
        );
        for bad in [
            Interval {
                level: 1.5,
                ..good.clone()
            },
            Interval {
                adapt: -0.1,
                ..good.clone()
            },
            Interval {
                days: 0,
                ..good.clone()
            },
            Interval {
                level: f64::NAN,
                ..good.clone()
            },
        ] {
            assert!(bad.fault(2).unwrap().contains("are out of range"), "{bad:?}");
        }
        // A fixed interval saved before rolling calibration: no rows and no days, still usable.
        let fixed = Interval {
            days: 0,
            calibration: Vec::new(),
            ..good
        };
        assert_eq!(fixed.fault(2), None);
    }

    #[test]
    fn interval_origin_errors_hide_unknown_days() {
        let actual = [1.0, 2.0, 3.0, 4.0];
        let e = origin_errors(&actual, &[1, 2], &[vec![2.5, 3.5], vec![3.0, 9.0]], 3, |i| {
            100 + i as i64
        });
        assert_eq!(
            e[0],
            OriginErrors {
                origin: 101,
                errors: vec![0.5, 0.5]
            }
        );
        assert_eq!(e[1].origin, 102);
        assert_eq!(e[1].errors[0], 0.0);
        assert!(e[1].errors[1].is_nan());
    }
}
