//! Calendar dates as day numbers (days since 1970-01-01), parsed from the usual CSV spellings.
//! Day numbers make a daily series an array: consecutive days differ by one.

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn day_number(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `(year, month, day)` of a day number (inverse of [`day_number`]).
pub fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Day of the week, 0 = Monday … 6 = Sunday.
pub fn weekday(days: i64) -> usize {
    // 1970-01-01 was a Thursday.
    (days + 3).rem_euclid(7) as usize
}

/// ISO spelling `YYYY-MM-DD`.
pub fn format(days: i64) -> String {
    let (y, m, d) = civil(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Parses `YYYY-MM-DD`, `YYYY/MM/DD` or US-style `MM/DD/YYYY` (a time after a space or `T` is
/// ignored). Returns a message naming what is wrong.
pub fn parse(text: &str) -> Result<i64, String> {
    let date = text.trim().split([' ', 'T']).next().unwrap_or("");
    let parts: Vec<&str> = date.split(['-', '/']).collect();
    let bad = || format!("`{text}` is not a date (expected YYYY-MM-DD or MM/DD/YYYY)");
    if parts.len() != 3 {
        return Err(bad());
    }
    let num = |s: &str| s.parse::<i64>().map_err(|_| bad());
    let (y, m, d) = if parts[0].len() == 4 {
        (num(parts[0])?, num(parts[1])?, num(parts[2])?)
    } else if parts[2].len() == 4 && date.contains('/') {
        (num(parts[2])?, num(parts[0])?, num(parts[1])?)
    } else {
        return Err(bad());
    };
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m as u32) as i64 {
        return Err(format!("`{text}` is not a valid calendar date"));
    }
    Ok(day_number(y, m as u32, d as u32))
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_known_days() {
        assert_eq!(day_number(1970, 1, 1), 0);
        assert_eq!(parse("2019-01-01"), parse("01/01/2019"));
        assert_eq!(format(parse("02/29/2020").unwrap()), "2020-02-29");
        assert_eq!(weekday(parse("2026-11-22").unwrap()), 6, "a Sunday");
        for d in -800_000..800_000i64 {
            if d % 997 == 0 {
                let (y, m, dd) = civil(d);
                assert_eq!(day_number(y, m, dd), d);
            }
        }
    }

    #[test]
    fn bad_dates_are_named() {
        assert!(parse("2019-02-30").unwrap_err().contains("not a valid calendar date"));
        assert!(parse("yesterday").unwrap_err().contains("`yesterday` is not a date"));
        assert!(parse("1/2/19").is_err());
    }
}
