//! The sktime/aeon `.ts` text format of the UCR/UEA time-series archives: `#` comments, `@key
//! value` header lines (keys case-insensitive), then `@data` and one case per line — dimensions
//! separated by `:`, values within a dimension by `,`, and the class label (`@classLabel true
//! ...`) or the regression target (`@targetLabel true`) as the last field. `?` or `NaN` is a
//! missing value, allowed only under `@missing true`. Time-stamped files are refused.

use crate::sequences::{SequenceError, SequenceSet, SequenceTargets};
use std::path::Path;

/// Reads a `.ts` file.
pub fn read_ts(path: &Path) -> Result<SequenceSet, SequenceError> {
    let source = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| SequenceError::Io {
        path: source.clone(),
        source: e,
    })?;
    parse_ts(&text, &source)
}

/// What the header lines declared.
#[derive(Default)]
struct Header {
    missing: bool,
    univariate: Option<bool>,
    dimensions: Option<usize>,
    equal_length: Option<bool>,
    series_length: Option<usize>,
    /// `Some(names)` under `@classLabel true`.
    classes: Option<Vec<String>>,
    target: bool,
}

/// One parsed case: values `[len, dims]`, its length and its target field.
struct Case {
    values: Vec<f32>,
    steps: usize,
}

/// Parses the text of a `.ts` file; `source` names it in messages.
pub fn parse_ts(text: &str, source: &str) -> Result<SequenceSet, SequenceError> {
    let at = |line: usize, message: String| SequenceError::Line {
        path: source.to_string(),
        line,
        message,
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
    let mut header = Header::default();
    let mut saw_data = false;
    for (n, line) in lines.by_ref() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !line.starts_with('@') {
            return Err(at(
                n,
                format!("expected a header line (`@...`) before @data, found `{}`", clip(line)),
            ));
        }
        if read_header_line(&mut header, line).map_err(|m| at(n, m))? {
            saw_data = true;
            break;
        }
    }
    if !saw_data {
        return Err(SequenceError::Format {
            path: source.to_string(),
            message: "no `@data` line: not a .ts file, or the header is incomplete".into(),
        });
    }
    let dims_declared = match (header.univariate, header.dimensions) {
        (Some(true), Some(d)) if d != 1 => {
            return Err(SequenceError::Format {
                path: source.to_string(),
                message: format!("the header says @univariate true but @dimensions {d}"),
            })
        }
        (Some(true), _) => Some(1),
        (_, d) => d,
    };
    if header.classes.is_none() && !header.target {
        return Err(SequenceError::Format {
            path: source.to_string(),
            message: "the header declares no target: neither `@classLabel true <labels>` nor `@targetLabel true`"
                .into(),
        });
    }
    let mut dims: Option<(usize, usize)> = dims_declared.map(|d| (d, 0));
    let mut first_steps: Option<(usize, usize)> = None;
    let mut series = Vec::new();
    let mut labels = Vec::new();
    let mut values = Vec::new();
    for (n, line) in lines {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut fields: Vec<&str> = line.split(':').collect();
        let target = if header.classes.is_some() || header.target {
            if fields.len() < 2 {
                return Err(at(n, "expected the dimensions, then `:` and the case's target".into()));
            }
            fields.pop().map(str::trim)
        } else {
            None
        };
        match dims {
            Some((d, from)) if d != fields.len() => {
                let said = if from == 0 {
                    "the header declares".to_string()
                } else {
                    format!("the first case (line {from}) has")
                };
                return Err(at(n, format!("has {} dimensions, {said} {d}", fields.len())));
            }
            Some(_) => {}
            None => dims = Some((fields.len(), n)),
        }
        let case = parse_case(&fields, &header).map_err(|m| at(n, m))?;
        if header.equal_length == Some(true) {
            if let Some(len) = header.series_length.filter(|&l| l != case.steps) {
                return Err(at(
                    n,
                    format!("has {} values per dimension, @seriesLength says {len}", case.steps),
                ));
            }
            match first_steps {
                Some((len, from)) if len != case.steps => {
                    return Err(at(
                        n,
                        format!(
                        "has {} values per dimension, but @equalLength true and the first case (line {from}) has {len}",
                        case.steps
                    ),
                    ))
                }
                Some(_) => {}
                None => first_steps = Some((case.steps, n)),
            }
        }
        match (&header.classes, target) {
            (Some(names), Some(t)) => match names.iter().position(|c| c == t) {
                Some(k) => labels.push(k),
                None => {
                    return Err(at(
                        n,
                        format!(
                            "label `{}` is not one of the declared classes {}",
                            clip(t),
                            names.join(", ")
                        ),
                    ))
                }
            },
            (None, Some(t)) => match t.parse::<f32>() {
                Ok(v) if v.is_finite() => values.push(v),
                _ => return Err(at(n, format!("target `{}` is not a finite number", clip(t)))),
            },
            (_, None) => {}
        }
        series.push(case.values);
    }
    let Some((dims, _)) = dims.filter(|_| !series.is_empty()) else {
        return Err(SequenceError::Format {
            path: source.to_string(),
            message: "no cases after @data".into(),
        });
    };
    let targets = match header.classes {
        Some(names) => SequenceTargets::Classes { labels, names },
        None => SequenceTargets::Values { width: 1, values },
    };
    Ok(SequenceSet {
        dims,
        series,
        targets,
        source: source.to_string(),
    })
}

/// Applies one header line; `Ok(true)` at `@data`.
fn read_header_line(h: &mut Header, line: &str) -> Result<bool, String> {
    let mut words = line.split_whitespace();
    let key = words.next().unwrap_or("@").to_ascii_lowercase();
    let rest: Vec<&str> = words.collect();
    let flag = |rest: &[&str]| match rest {
        [v] if v.eq_ignore_ascii_case("true") => Ok(true),
        [v] if v.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(format!(
            "`{key}` needs `true` or `false`, found `{}`",
            clip(&rest.join(" "))
        )),
    };
    let count = |rest: &[&str]| match rest {
        [v] => v
            .parse::<usize>()
            .ok()
            .filter(|&d| d > 0)
            .ok_or_else(|| format!("`{key}` needs a positive whole number, found `{}`", clip(v))),
        _ => Err(format!(
            "`{key}` needs a positive whole number, found `{}`",
            clip(&rest.join(" "))
        )),
    };
    match key.as_str() {
        "@problemname" => {}
        "@timestamps" => {
            if flag(&rest)? {
                return Err("`@timeStamps true` (time-stamped series) is not supported".into());
            }
        }
        "@missing" => h.missing = flag(&rest)?,
        "@univariate" => h.univariate = Some(flag(&rest)?),
        "@dimensions" | "@dimension" => h.dimensions = Some(count(&rest)?),
        "@equallength" => h.equal_length = Some(flag(&rest)?),
        "@serieslength" => h.series_length = Some(count(&rest)?),
        "@classlabel" => match rest.split_first() {
            Some((v, names)) if v.eq_ignore_ascii_case("true") => {
                if names.is_empty() {
                    return Err("`@classLabel true` lists no class labels".into());
                }
                if let Some(d) = names.iter().enumerate().find(|(i, c)| names[..*i].contains(c)) {
                    return Err(format!("`@classLabel` lists `{}` twice", clip(d.1)));
                }
                h.classes = Some(names.iter().map(|s| s.to_string()).collect());
            }
            _ => {
                flag(&rest)?;
                h.classes = None;
            }
        },
        "@targetlabel" => h.target = flag(&rest)?,
        "@data" => {
            if h.classes.is_some() && h.target {
                return Err("the header declares both `@classLabel true` and `@targetLabel true`".into());
            }
            return Ok(true);
        }
        _ => return Err(format!("unknown header `{}`", clip(&key))),
    }
    Ok(false)
}

/// Parses a case's dimension fields into `[len, dims]` values. Trailing missing values that pad
/// a dimension are trimmed in files of unequal length, so dimensions padded to a common width
/// line up; after that all dimensions must have the same length.
fn parse_case(fields: &[&str], header: &Header) -> Result<Case, String> {
    let mut columns: Vec<Vec<f32>> = Vec::with_capacity(fields.len());
    for (d, field) in fields.iter().enumerate() {
        let mut column = Vec::new();
        for (k, raw) in field.split(',').enumerate() {
            let raw = raw.trim();
            let v = if raw == "?" || raw.eq_ignore_ascii_case("nan") {
                if !header.missing {
                    return Err(format!(
                        "dimension {} value {} is missing (`{raw}`), but the header does not say `@missing true`",
                        d + 1,
                        k + 1
                    ));
                }
                f32::NAN
            } else {
                match raw.parse::<f32>() {
                    Ok(v) if v.is_finite() => v,
                    _ => {
                        return Err(format!(
                            "dimension {} value {}: `{}` is not a finite number",
                            d + 1,
                            k + 1,
                            clip(raw)
                        ))
                    }
                }
            };
            column.push(v);
        }
        if header.equal_length != Some(true) {
            while column.last().is_some_and(|v| v.is_nan()) {
                column.pop();
            }
        }
        if column.is_empty() {
            return Err(format!("dimension {} has no values", d + 1));
        }
        if let Some(first) = columns.first().filter(|c| c.len() != column.len()) {
            return Err(format!(
                "dimension {} has {} values, dimension 1 has {}",
                d + 1,
                column.len(),
                first.len()
            ));
        }
        columns.push(column);
    }
    let steps = columns.first().map_or(0, Vec::len);
    let mut values = Vec::with_capacity(steps * columns.len());
    for s in 0..steps {
        values.extend(columns.iter().map(|c| c[s]));
    }
    Ok(Case { values, steps })
}

/// A piece of file text short enough to quote in a message.
fn clip(s: &str) -> String {
    match s.char_indices().nth(40) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_string(),
    }
}
