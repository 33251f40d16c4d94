//! The date-format task of *Hands-On Machine Learning* (ch. 16): a date written the way people
//! write it ("April 22, 2019", "22 apr 2019", "04/22/2019" …) → its ISO form "2019-04-22".
//! Generated, so it needs no download; a small model learns it to ~100% exact match.

use crate::pairs::Pair;
use crate::vocab::Tokenizer;
use recur_core::Rng;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// One way of writing a date (shown for 2019-04-22).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DateStyle {
    /// "April 22, 2019"
    MonthDayYear,
    /// "22 April 2019"
    DayMonthYear,
    /// "Apr 22, 2019"
    AbbrevMonthDayYear,
    /// "22 Apr 2019"
    DayAbbrevMonthYear,
    /// "04/22/2019"
    Numeric,
    /// "2019 April 22"
    YearMonthDay,
}

impl DateStyle {
    /// Every style, in the order [`generate_dates`] draws from.
    pub const ALL: [DateStyle; 6] = [
        DateStyle::MonthDayYear,
        DateStyle::DayMonthYear,
        DateStyle::AbbrevMonthDayYear,
        DateStyle::DayAbbrevMonthYear,
        DateStyle::Numeric,
        DateStyle::YearMonthDay,
    ];

    /// The date written in this style (`month` 1..=12); `lowercase` writes the month's name in
    /// lower case ("april 22, 2019").
    pub fn write(&self, year: u32, month: u32, day: u32, lowercase: bool) -> String {
        let full = MONTHS[(month.clamp(1, 12) - 1) as usize];
        let name = |abbrev: bool| {
            let n = if abbrev { &full[..3] } else { full };
            if lowercase {
                n.to_lowercase()
            } else {
                n.to_string()
            }
        };
        match self {
            DateStyle::MonthDayYear => format!("{} {day}, {year}", name(false)),
            DateStyle::DayMonthYear => format!("{day} {} {year}", name(false)),
            DateStyle::AbbrevMonthDayYear => format!("{} {day}, {year}", name(true)),
            DateStyle::DayAbbrevMonthYear => format!("{day} {} {year}", name(true)),
            DateStyle::Numeric => format!("{month:02}/{day:02}/{year}"),
            DateStyle::YearMonthDay => format!("{year} {} {day}", name(false)),
        }
    }
}

/// Days in `month` (1..=12) of `year` in the proleptic Gregorian calendar.
fn days_in_month(year: u32, month: u32) -> u32 {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// `n` random valid dates of the years 1000–9999 as (written, ISO) pairs, e.g.
/// ("April 22, 2019", "2019-04-22"): a uniform year and month, a uniform day of that month, a
/// uniform style of [`DateStyle::ALL`], the month's name in lower case one time in four. The
/// same seed always gives the same dates.
pub fn generate_dates(n: usize, seed: u64) -> Vec<(String, String)> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            let year = 1000 + rng.below(9000) as u32;
            let month = 1 + rng.below(12) as u32;
            let day = 1 + rng.below(days_in_month(year, month) as usize) as u32;
            let style = DateStyle::ALL[rng.below(DateStyle::ALL.len())];
            let lowercase = rng.below(4) == 0;
            (
                style.write(year, month, day, lowercase),
                format!("{year:04}-{month:02}-{day:02}"),
            )
        })
        .collect()
}

/// Generated date pairs trained on when no pairs are given, unless told.
pub const DATES: usize = 20_000;
/// Most generated date pairs (each is a few dozen bytes; far more than the task needs).
pub const MAX_DATES: usize = 10_000_000;

/// Refuses a number of generated date pairs outside 1..=[`MAX_DATES`]; `name` is the setting
/// as the user gives it.
pub fn check_date_count(n: usize, name: &str) -> Result<(), recur_nn::NnError> {
    let wrong = |message: String| Err(recur_nn::NnError::Setting(message));
    match n {
        0 => wrong(format!("{name} must be at least 1")),
        n if n > MAX_DATES => wrong(format!("{name} must be at most {MAX_DATES}, got {n}")),
        _ => Ok(()),
    }
}

/// [`generate_dates`] as character-level pairs (line = 1-based index), ready for a vocabulary.
pub fn date_pairs(n: usize, seed: u64) -> Vec<Pair> {
    generate_dates(n, seed)
        .into_iter()
        .enumerate()
        .map(|(i, (s, t))| Pair {
            source: Tokenizer::Chars.tokenize(&s),
            target: Tokenizer::Chars.tokenize(&t),
            line: i + 1,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_styles_write_the_same_day() {
        let all: Vec<String> = DateStyle::ALL.iter().map(|s| s.write(2019, 4, 22, false)).collect();
        assert_eq!(
            all,
            [
                "April 22, 2019",
                "22 April 2019",
                "Apr 22, 2019",
                "22 Apr 2019",
                "04/22/2019",
                "2019 April 22"
            ]
        );
        assert_eq!(DateStyle::AbbrevMonthDayYear.write(1000, 9, 3, true), "sep 3, 1000");
        assert_eq!(DateStyle::Numeric.write(1000, 9, 3, true), "09/03/1000");
    }

    #[test]
    fn dates_are_valid_varied_and_deterministic() {
        let d = generate_dates(5000, 3);
        assert_eq!(d, generate_dates(5000, 3));
        assert_ne!(d, generate_dates(5000, 4));
        let mut lower = 0;
        let mut numeric = 0;
        for (src, iso) in &d {
            let parts: Vec<u32> = iso.split('-').map(|p| p.parse().unwrap()).collect();
            let (y, m, day) = (parts[0], parts[1], parts[2]);
            assert!((1000..=9999).contains(&y) && (1..=12).contains(&m), "{iso}");
            assert!(day >= 1 && day <= days_in_month(y, m), "{iso}");
            assert_eq!(iso.len(), 10);
            assert!(
                src.contains(&y.to_string()) && src.contains(&day.to_string()),
                "{src} {iso}"
            );
            lower += usize::from(MONTHS.iter().any(|m| src.contains(&m[..3].to_lowercase())));
            numeric += usize::from(src.contains('/'));
        }
        assert!(lower > 500 && numeric > 500, "{lower} {numeric}");
        assert!(d.iter().any(|(_, iso)| iso.ends_with("-02-29")), "leap days occur");
        let p = date_pairs(3, 3);
        assert_eq!(
            (p[0].source.concat(), p[0].target.concat(), p[2].line),
            (d[0].0.clone(), d[0].1.clone(), 3)
        );
    }

    #[test]
    fn dates_leap_years_follow_the_gregorian_rule() {
        assert_eq!([2000, 1900, 2024, 2023].map(|y| days_in_month(y, 2)), [29, 28, 29, 28]);
        assert_eq!(days_in_month(2023, 11), 30);
    }
}
