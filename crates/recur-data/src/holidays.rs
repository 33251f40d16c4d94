//! Public holidays computed by rule, so calendars work offline and for any year.
//!
//! Only the United States' federal holidays are known (no maintained Rust crate computes them
//! offline without pulling in a date library): New Year's Day, Martin Luther King Jr. Day (from
//! 1986), Presidents' Day, Memorial Day, Juneteenth (from 2021), Independence Day, Labor Day,
//! Columbus Day, Veterans Day, Thanksgiving and Christmas, with the Monday-holiday rules in force
//! since 1971. A fixed-date holiday on a Saturday is also observed the Friday before, on a Sunday
//! the Monday after; both the date itself and the observed day count as holidays.

use crate::dates::{day_number, weekday};

/// Country codes whose holidays are known.
pub const COUNTRIES: [&str; 1] = ["US"];

/// The nth (1-based) `wd` (0 = Monday) of a month.
fn nth_weekday(year: i64, month: u32, wd: usize, n: i64) -> i64 {
    let first = day_number(year, month, 1);
    first + (wd as i64 - weekday(first) as i64).rem_euclid(7) + 7 * (n - 1)
}

/// The last `wd` (0 = Monday) of a month with `days` days.
fn last_weekday(year: i64, month: u32, days: u32, wd: usize) -> i64 {
    let last = day_number(year, month, days);
    last - (weekday(last) as i64 - wd as i64).rem_euclid(7)
}

/// The US federal holidays of `year` (dates and observed days).
fn us_federal(year: i64) -> Vec<i64> {
    const MONDAY: usize = 0;
    const THURSDAY: usize = 3;
    let mut fixed = vec![(1, 1), (7, 4), (11, 11), (12, 25)];
    if year >= 2021 {
        fixed.push((6, 19));
    }
    let mut days = vec![
        nth_weekday(year, 2, MONDAY, 3),
        last_weekday(year, 5, 31, MONDAY),
        nth_weekday(year, 9, MONDAY, 1),
        nth_weekday(year, 10, MONDAY, 2),
        nth_weekday(year, 11, THURSDAY, 4),
    ];
    if year >= 1986 {
        days.push(nth_weekday(year, 1, MONDAY, 3));
    }
    for (month, dom) in fixed {
        let d = day_number(year, month, dom);
        days.push(d);
        match weekday(d) {
            5 => days.push(d - 1),
            6 => days.push(d + 1),
            _ => {}
        }
    }
    days
}

/// Whether `day` (a day number) is a public holiday, or the observed day of one, in `country`
/// (one of [`COUNTRIES`]); `None` for a country whose holidays are unknown.
pub fn is_holiday(country: &str, day: i64) -> Option<bool> {
    match country {
        "US" => {
            let (year, _, _) = crate::dates::civil(day);
            // New Year's Day on a Saturday is observed on the 31st of December before.
            Some(us_federal(year).contains(&day) || us_federal(year + 1).contains(&day))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dates::parse;

    fn us(date: &str) -> bool {
        is_holiday("US", parse(date).unwrap()).unwrap()
    }

    #[test]
    fn us_holidays_by_rule_match_the_calendar() {
        // 2019: MLK 01-21, Presidents' 02-18, Memorial 05-27, Labor 09-02, Columbus 10-14,
        // Thanksgiving 11-28.
        for d in [
            "2019-01-01",
            "2019-01-21",
            "2019-02-18",
            "2019-05-27",
            "2019-07-04",
            "2019-09-02",
            "2019-10-14",
            "2019-11-11",
            "2019-11-28",
            "2019-12-25",
        ] {
            assert!(us(d), "{d}");
        }
        for d in ["2019-01-02", "2019-05-20", "2019-06-19", "2019-11-21", "1985-01-21"] {
            assert!(!us(d), "{d}");
        }
        // Observed days: 2021-12-25 was a Saturday, 2022-01-01 too (observed 2021-12-31);
        // 2017-01-01 a Sunday (observed 01-02); Juneteenth from 2021.
        for d in ["2021-12-24", "2021-12-31", "2017-01-02", "2021-06-18", "2023-06-19"] {
            assert!(us(d), "{d}");
        }
        assert_eq!(is_holiday("FR", 0), None);
    }
}
