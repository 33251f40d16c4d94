//! Daily time series from CSV: one row per day, a date column, a value column and optional
//! covariate columns. Cleaning is reported, never silent: exact duplicate rows are dropped, rows
//! are sorted by date, and missing days or non-numeric cells are filled by linear interpolation
//! (or refused with `strict`). Covariates whose cells are numbers are treated as observed series;
//! text columns (like a `day_type` of W/A/U) as categories known in advance, e.g. calendars.
//! Rows after the last value whose value cell is empty carry those categories for the days
//! ahead: the series is observed up to its last value and extends past it for covariates only.

use crate::dates;
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

/// A problem that stops a series from being read.
#[derive(Debug, thiserror::Error)]
pub enum SeriesError {
    /// The file cannot be opened or parsed as CSV.
    #[error("{path}: {message}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// The contents are unusable.
    #[error("{path}: {message}")]
    Content {
        /// The file.
        path: String,
        /// What is wrong, with line numbers where they help.
        message: String,
    },
}

/// A covariate column after reading.
#[derive(Clone, Debug, PartialEq)]
pub enum Covariate {
    /// A number per day.
    Numeric(Vec<f64>),
    /// Category index per day and the category names.
    Categorical(Vec<usize>, Vec<String>),
}

/// A gap-free daily series.
#[derive(Clone, Debug)]
pub struct DailySeries {
    /// Day number of the first value.
    pub first_day: i64,
    /// The forecast target, one value per day; days from `observed` on have no value (they
    /// repeat the last one and must not be used as data).
    pub values: Vec<f64>,
    /// Days with a value: rows after the last value only carry covariates for the days ahead.
    pub observed: usize,
    /// Covariates by column name, day-aligned with `values`.
    pub covariates: Vec<(String, Covariate)>,
    /// What the reader cleaned (duplicates dropped, days filled, …), for the user to see.
    pub notes: Vec<String>,
}

impl DailySeries {
    /// Index of a day number in the series, if inside it.
    pub fn index_of(&self, day: i64) -> Option<usize> {
        let i = day - self.first_day;
        (0..self.values.len() as i64).contains(&i).then_some(i as usize)
    }

    /// Day number at an index.
    pub fn day(&self, index: usize) -> i64 {
        self.first_day + index as i64
    }
}

/// Reading options.
#[derive(Clone, Debug, Default)]
pub struct SeriesSpec {
    /// Name of the date column.
    pub date_col: String,
    /// Name of the value column.
    pub value_col: String,
    /// Names of covariate columns.
    pub covariates: Vec<String>,
    /// Refuse gaps and non-numeric cells instead of filling them.
    pub strict: bool,
}

/// Reads a daily series from a CSV file.
pub fn read_daily_csv(path: &Path, spec: &SeriesSpec) -> Result<DailySeries, SeriesError> {
    let text = std::fs::read_to_string(path).map_err(|e| SeriesError::File {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    parse_daily_csv(&text, &path.display().to_string(), spec)
}

/// Parses CSV text (with a header row) into a daily series; `path` names it in messages.
pub fn parse_daily_csv(text: &str, path: &str, spec: &SeriesSpec) -> Result<DailySeries, SeriesError> {
    let content = |message: String| SeriesError::Content {
        path: path.to_string(),
        message,
    };
    let read = read_rows(text, path, spec)?;
    let rows = &read.rows;
    let (Some(&first_day), Some(&end_day)) = (rows.keys().next(), rows.keys().next_back()) else {
        return Err(content("no data rows".into()));
    };
    check_gaps(rows).map_err(content)?;
    let days = check_span(rows, first_day, end_day).map_err(content)?;
    // Trailing rows with an empty value cell are covariates for the days ahead, not missing data.
    let last_value_day = rows
        .iter()
        .rev()
        .find(|(_, (_, f))| !f[0].is_empty())
        .map(|(d, _)| *d)
        .ok_or_else(|| content(format!("column `{}` has no values", spec.value_col)))?;
    let observed = (last_value_day - first_day + 1) as usize;
    let mut notes = Vec::new();
    if observed < days {
        notes.push(format!(
            "{} days after the last value ({}) give covariates only, for forecasting the days ahead",
            days - observed,
            dates::format(last_value_day)
        ));
    }
    if read.duplicates > 0 {
        notes.push(format!("dropped {} exact duplicate rows", read.duplicates));
    }
    if read.unsorted {
        notes.push("rows were not in date order; sorted".into());
    }
    let missing_days = days - rows.len();
    if missing_days > 0 {
        let gaps = describe_gaps(rows, first_day, end_day);
        if spec.strict {
            return Err(content(format!("{missing_days} missing days: {gaps}")));
        }
        notes.push(format!("filled {missing_days} missing days by interpolation: {gaps}"));
    }
    let column_cells = |k: usize| -> Vec<Option<(usize, &str)>> {
        (0..days)
            .map(|i| {
                rows.get(&(first_day + i as i64))
                    .map(|(line, f)| (*line, f[k].as_str()))
            })
            .collect()
    };
    let mut values =
        numeric_column(&column_cells(0)[..observed], &spec.value_col, spec.strict, &mut notes).map_err(content)?;
    let last = values[observed - 1];
    values.resize(days, last);
    let mut covariates = Vec::new();
    for (k, name) in spec.covariates.iter().enumerate() {
        let cov = covariate_column(&column_cells(k + 1), name, spec.strict, &mut notes).map_err(content)?;
        covariates.push((name.clone(), cov));
    }
    Ok(DailySeries {
        first_day,
        values,
        observed,
        covariates,
        notes,
    })
}

/// A CSV's rows by day (each its line and its value and covariate cells), exact duplicates
/// dropped and counted, conflicting ones refused.
struct Rows {
    rows: BTreeMap<i64, (usize, Vec<String>)>,
    duplicates: usize,
    /// Whether the rows came out of date order.
    unsorted: bool,
}

fn read_rows(text: &str, path: &str, spec: &SeriesSpec) -> Result<Rows, SeriesError> {
    let content = |message: String| SeriesError::Content {
        path: path.to_string(),
        message,
    };
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| SeriesError::File {
            path: path.to_string(),
            message: format!("not readable as CSV ({e})"),
        })?
        .iter()
        .map(str::to_string)
        .collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| content(format!("no column `{name}` (columns: {})", header.join(", "))))
    };
    let date_i = column(&spec.date_col)?;
    let value_i = column(&spec.value_col)?;
    let cov_i: Vec<usize> = spec.covariates.iter().map(|c| column(c)).collect::<Result<_, _>>()?;
    let mut read = Rows {
        rows: BTreeMap::new(),
        duplicates: 0,
        unsorted: false,
    };
    let mut last_day = i64::MIN;
    for (n, record) in reader.records().enumerate() {
        let line = n + 2;
        let record = record.map_err(|e| content(format!("line {line}: {e}")))?;
        let cell = |i: usize| record.get(i).unwrap_or("").to_string();
        let day = dates::parse(&cell(date_i)).map_err(|e| content(format!("line {line}: {e}")))?;
        let fields: Vec<String> = std::iter::once(value_i)
            .chain(cov_i.iter().copied())
            .map(cell)
            .collect();
        read.unsorted |= day < last_day;
        last_day = day;
        match read.rows.get(&day) {
            Some((_, existing)) if *existing == fields => read.duplicates += 1,
            Some((first, _)) => {
                return Err(content(format!(
                    "lines {first} and {line} give different rows for {}",
                    dates::format(day)
                )))
            }
            None => {
                read.rows.insert(day, (line, fields));
            }
        }
    }
    Ok(read)
}

/// The days from `first_day` to `end_day`, refused when more than [`MAX_DAYS`] or when more
/// than half of them have no row.
fn check_span(rows: &BTreeMap<i64, (usize, Vec<String>)>, first_day: i64, end_day: i64) -> Result<usize, String> {
    let days = (end_day - first_day + 1) as usize;
    if days > MAX_DAYS {
        return Err(format!(
            "{} to {} is {days} days, more than the {MAX_DAYS} a daily series may span",
            dates::format(first_day),
            dates::format(end_day)
        ));
    }
    if days - rows.len() > rows.len() {
        return Err(format!(
            "{} of {days} days between {} and {} have no row: more than half would be invented \
             by interpolation (is this daily data?)",
            days - rows.len(),
            dates::format(first_day),
            dates::format(end_day)
        ));
    }
    Ok(days)
}

/// A covariate column: numeric when at least nine in ten of its cells are numbers, else
/// categorical.
fn covariate_column(
    cells: &[Option<(usize, &str)>],
    name: &str,
    strict: bool,
    notes: &mut Vec<String>,
) -> Result<Covariate, String> {
    let present: Vec<&str> = cells.iter().flatten().map(|(_, s)| *s).collect();
    let numbers = present
        .iter()
        .filter(|s| s.parse::<f64>().is_ok_and(f64::is_finite))
        .count();
    Ok(if numbers * 10 >= present.len() * 9 {
        Covariate::Numeric(numeric_column(cells, name, strict, notes)?)
    } else {
        categorical_column(cells)
    })
}

/// Longest run of missing days filled by interpolation: a month. A longer gap is almost always a
/// mistyped date (`01/01/1000` among 2019's rows made 371,817 days of invented values, a wrong
/// month invents weeks), and interpolating months of a daily series would invent its seasons.
pub const MAX_GAP_DAYS: i64 = 31;

/// Most days a series may span (about 270 years): windows over a longer one would not fit in
/// memory, and no daily record is that long.
pub const MAX_DAYS: usize = 100_000;

/// Refuses a gap between consecutive dates longer than [`MAX_GAP_DAYS`], naming both rows.
fn check_gaps(rows: &BTreeMap<i64, (usize, Vec<String>)>) -> Result<(), String> {
    for ((a, (line_a, _)), (b, (line_b, _))) in rows.iter().zip(rows.iter().skip(1)) {
        let missing = b - a - 1;
        if missing > MAX_GAP_DAYS {
            return Err(format!(
                "{missing} days without data between {} (line {line_a}) and {} (line {line_b}); \
                 gaps over {MAX_GAP_DAYS} days are not filled (a mistyped date?)",
                dates::format(*a),
                dates::format(*b)
            ));
        }
    }
    Ok(())
}

fn describe_gaps(rows: &BTreeMap<i64, (usize, Vec<String>)>, first: i64, end: i64) -> String {
    let mut gaps = Vec::new();
    let mut prev = first;
    for &d in rows.keys().skip(1) {
        if d > prev + 1 {
            gaps.push(format!("{}..{}", dates::format(prev + 1), dates::format(d - 1)));
        }
        prev = d;
    }
    debug_assert_eq!(prev, end);
    let more = gaps.len().saturating_sub(5);
    gaps.truncate(5);
    gaps.join(", ")
        + &if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
}

/// Numbers of one column; absent or non-numeric cells are interpolated (or an error if strict).
fn numeric_column(
    cells: &[Option<(usize, &str)>],
    name: &str,
    strict: bool,
    notes: &mut Vec<String>,
) -> Result<Vec<f64>, String> {
    let mut bad = Vec::new();
    let parsed: Vec<Option<f64>> = cells
        .iter()
        .map(|c| match c {
            None => None,
            Some((line, s)) => match s.parse::<f64>() {
                Ok(v) if v.is_finite() => Some(v),
                _ => {
                    bad.push(format!("line {line} `{s}`"));
                    None
                }
            },
        })
        .collect();
    if !bad.is_empty() {
        let count = bad.len();
        bad.truncate(5);
        let list = bad.join(", ");
        if strict {
            return Err(format!("{count} non-numeric cells in column `{name}`: {list}"));
        }
        notes.push(format!(
            "column `{name}`: interpolated {count} non-numeric cells ({list})"
        ));
    }
    interpolate(&parsed).ok_or_else(|| format!("column `{name}` has no numeric values"))
}

/// Linear interpolation over `None`s; ends take the nearest known value.
fn interpolate(values: &[Option<f64>]) -> Option<Vec<f64>> {
    let known: Vec<(usize, f64)> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| v.map(|v| (i, v)))
        .collect();
    let (&(first_i, first_v), &(last_i, last_v)) = (known.first()?, known.last()?);
    let mut out = vec![0.0; values.len()];
    out[..first_i].fill(first_v);
    out[last_i..].fill(last_v);
    for w in known.windows(2) {
        let ((a, va), (b, vb)) = (w[0], w[1]);
        for (i, o) in out.iter_mut().enumerate().take(b + 1).skip(a) {
            *o = va + (vb - va) * (i - a) as f64 / (b - a) as f64;
        }
    }
    Some(out)
}

/// Category per day (sorted names); a missing day repeats the day a week before, else the last.
fn categorical_column(cells: &[Option<(usize, &str)>]) -> Covariate {
    let names: Vec<String> = {
        let set: HashSet<&str> = cells.iter().flatten().map(|(_, s)| *s).collect();
        let mut v: Vec<String> = set.into_iter().map(str::to_string).collect();
        v.sort();
        v
    };
    let mut index = Vec::with_capacity(cells.len());
    for (i, c) in cells.iter().enumerate() {
        let k = match c {
            Some((_, s)) => names.iter().position(|n| n == s).unwrap_or(0),
            None if i >= 7 => index[i - 7],
            None => index.last().copied().unwrap_or(0),
        };
        index.push(k);
    }
    Covariate::Categorical(index, names)
}

/// A generated daily series as CSV (`date,day_type,value`): trend, weekly and yearly seasonality,
/// holidays that behave like Sundays, and noise. recur's embedded default for forecasting.
pub fn synthetic_daily_csv(first: &str, days: usize, seed: u64) -> String {
    let start = dates::parse(first).unwrap_or(0);
    let mut rng = recur_core::Rng::new(seed);
    let mut out = String::from("date,day_type,value\n");
    let weekly = [1.0, 1.02, 1.03, 1.02, 0.97, 0.55, 0.40];
    for i in 0..days {
        let day = start + i as i64;
        let (_, month, dom) = dates::civil(day);
        let holiday = matches!((month, dom), (1, 1) | (7, 4) | (12, 25) | (11, 27));
        let wd = dates::weekday(day);
        let day_type = if holiday || wd == 6 {
            "U"
        } else if wd == 5 {
            "A"
        } else {
            "W"
        };
        let level = if holiday { weekly[6] } else { weekly[wd] };
        let year_phase = 2.0 * std::f64::consts::PI * (day.rem_euclid(365) as f64) / 365.25;
        let trend = 1.0 + 0.05 * i as f64 / 365.0;
        let value = 100_000.0 * trend * level * (1.0 + 0.12 * year_phase.sin()) * (1.0 + 0.04 * rng.normal());
        out += &format!("{},{day_type},{:.0}\n", dates::format(day), value.max(0.0));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(covariates: &[&str], strict: bool) -> SeriesSpec {
        SeriesSpec {
            date_col: "date".into(),
            value_col: "v".into(),
            covariates: covariates.iter().map(|s| s.to_string()).collect(),
            strict,
        }
    }

    #[test]
    fn cleans_duplicates_order_and_gaps() {
        let csv = "date,kind,v,temp\n01/03/2020,W,30,1\n01/01/2020,U,10,x\n01/01/2020,U,10,x\n01/05/2020,W,50,5\n";
        let s = parse_daily_csv(csv, "t.csv", &spec(&["kind", "temp"], false)).unwrap();
        assert_eq!(s.first_day, dates::parse("2020-01-01").unwrap());
        assert_eq!(s.values, vec![10.0, 20.0, 30.0, 40.0, 50.0]);
        assert!(matches!(&s.covariates[0].1, Covariate::Categorical(i, n) if n == &["U", "W"] && i[..3] == [0, 0, 1]));
        assert!(s.notes.iter().any(|n| n.contains("1 exact duplicate")), "{:?}", s.notes);
        assert!(s.notes.iter().any(|n| n.contains("2 missing days")), "{:?}", s.notes);
        let strict = parse_daily_csv(csv, "t.csv", &spec(&[], true)).unwrap_err().to_string();
        assert!(
            strict.contains("2 missing days: 2020-01-02..2020-01-02, 2020-01-04..2020-01-04"),
            "{strict}"
        );
    }

    #[test]
    fn bad_input_is_named() {
        let e = |csv: &str, s: SeriesSpec| parse_daily_csv(csv, "t.csv", &s).unwrap_err().to_string();
        assert!(e("date,v\n", spec(&["nope"], false)).contains("no column `nope` (columns: date, v)"));
        assert!(e("date,v\n2020-13-01,4\n", spec(&[], false)).contains("line 2: `2020-13-01` is not a valid"));
        assert!(e("date,v\n2020-01-01,4\n2020-01-01,5\n", spec(&[], false)).contains("lines 2 and 3"));
        assert!(e("date,v\n2020-01-01,4\n2020-01-02,n/a\n", spec(&[], true)).contains("line 3 `n/a`"));
        assert!(e("date,v\n", spec(&[], false)).contains("no data rows"));
    }

    #[test]
    fn synthetic_series_reads_back() {
        let csv = synthetic_daily_csv("2015-01-01", 800, 1);
        let mut s = spec(&["day_type"], true);
        s.value_col = "value".into();
        let series = parse_daily_csv(&csv, "synthetic", &s).unwrap();
        assert_eq!(series.values.len(), 800);
        assert!(series.notes.is_empty());
    }

    /// One mistyped date (`01/01/1000`) used to be silently filled with 371,817 invented days.
    #[test]
    fn series_gap_over_a_year_is_an_error_naming_dates_and_lines() {
        let csv = "date,v\n2019-01-01,1\n01/01/1000,2\n2019-01-02,3\n";
        let e = parse_daily_csv(csv, "t.csv", &spec(&[], false))
            .unwrap_err()
            .to_string();
        assert!(e.contains("between 1000-01-01 (line 3) and 2019-01-01 (line 2)"), "{e}");
        let e = parse_daily_csv("date,v\n+999-01-01,1\n2019-01-01,2\n", "t.csv", &spec(&[], false));
        assert!(e.unwrap_err().to_string().contains("(line 2)"));
        let e = |csv: &str| {
            parse_daily_csv(csv, "t.csv", &spec(&[], false))
                .unwrap_err()
                .to_string()
        };
        assert!(e("date,v\n2019-01-01,1\n2020-01-02,2\n").contains("365 days without data"));
        // A month typed wrong (03 for 01) leaves two months without rows: refused, not filled.
        let e2 = e("date,v\n2019-01-01,1\n2019-01-02,2\n2019-03-03,3\n2019-03-04,4\n");
        assert!(
            e2.contains("59 days without data between 2019-01-02 (line 3) and 2019-03-03 (line 4)"),
            "{e2}"
        );
        // Rows every 30 days for 300 years: no single gap is too long, but the span is.
        let centuries: String = (0..3700)
            .map(|i| format!("{},1\n", dates::format(-100_000 + 30 * i)))
            .collect();
        assert!(e(&format!("date,v\n{centuries}")).contains("more than the 100000"));
        let weekly: String = (1..=28).step_by(7).map(|d| format!("2019-02-{d:02},{d}\n")).collect();
        assert!(e(&format!("date,v\n{weekly}")).contains("is this daily data?"));
    }

    #[test]
    fn series_rows_after_the_last_value_carry_covariates_ahead() {
        let csv = "date,kind,v\n2020-01-01,W,1\n2020-01-02,A,2\n2020-01-03,U,\n2020-01-04,W,\n";
        let s = parse_daily_csv(csv, "t.csv", &spec(&["kind"], true)).unwrap();
        assert_eq!((s.observed, s.values.len()), (2, 4));
        assert!(matches!(&s.covariates[0].1, Covariate::Categorical(i, _) if i.len() == 4));
        assert!(
            s.notes[0].contains("2 days after the last value (2020-01-02)"),
            "{:?}",
            s.notes
        );
        let e = parse_daily_csv("date,v\n2020-01-01,\n", "t.csv", &spec(&[], false)).unwrap_err();
        assert!(e.to_string().contains("column `v` has no values"), "{e}");
    }
}
