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
        error: e,
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

impl Header {
    /// Whether all cases must have the same length: as declared, or, without `@equalLength`,
    /// when a `@seriesLength` is given.
    fn equal(&self) -> bool {
        self.equal_length.unwrap_or(self.series_length.is_some())
    }
}

/// One parsed case: values `[len, dims]` and its length.
struct Case {
    values: Vec<f32>,
    steps: usize,
}

/// Parses the text of a `.ts` file; `source` names it in messages.
pub fn parse_ts(text: &str, source: &str) -> Result<SequenceSet, SequenceError> {
    let place = Place(source);
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let header = read_header(&mut lines, place)?;
    let mut cases = Cases::new(&header, place)?;
    for (n, line) in lines {
        cases.add(n, line)?;
    }
    cases.finish()
}

/// The file a `.ts` text came from, for messages.
#[derive(Clone, Copy)]
struct Place<'a>(&'a str);

impl Place<'_> {
    /// An error at line `line`.
    fn at(self, line: usize, message: String) -> SequenceError {
        SequenceError::Line {
            path: self.0.to_string(),
            line,
            message,
        }
    }

    /// An error about the whole file.
    fn whole(self, message: String) -> SequenceError {
        SequenceError::Format {
            path: self.0.to_string(),
            message,
        }
    }
}

/// Reads the header lines up to and including `@data`.
fn read_header<'a>(lines: &mut impl Iterator<Item = (usize, &'a str)>, place: Place) -> Result<Header, SequenceError> {
    let mut header = Header::default();
    for (n, line) in lines {
        if !line.starts_with('@') {
            return Err(place.at(
                n,
                format!("expected a header line (`@...`) before @data, found `{}`", clip(line)),
            ));
        }
        if read_header_line(&mut header, line).map_err(|m| place.at(n, m))? {
            return Ok(header);
        }
    }
    Err(place.whole("no `@data` line: not a .ts file, or the header is incomplete".into()))
}

/// The cases read so far, checked against the header and the first case.
struct Cases<'h, 'p> {
    header: &'h Header,
    place: Place<'p>,
    /// The dimensions and the line that set them (0: the header).
    dims: Option<(usize, usize)>,
    /// With equal lengths, the first case's steps and its line.
    first_steps: Option<(usize, usize)>,
    series: Vec<Vec<f32>>,
    labels: Vec<usize>,
    values: Vec<f32>,
}

impl<'h, 'p> Cases<'h, 'p> {
    fn new(header: &'h Header, place: Place<'p>) -> Result<Self, SequenceError> {
        let dims_declared = match (header.univariate, header.dimensions) {
            (Some(true), Some(d)) if d != 1 => {
                return Err(place.whole(format!("the header says @univariate true but @dimensions {d}")))
            }
            (Some(true), _) => Some(1),
            (_, d) => d,
        };
        if header.classes.is_none() && !header.target {
            return Err(place.whole(
                "the header declares no target: neither `@classLabel true <labels>` nor `@targetLabel true`".into(),
            ));
        }
        Ok(Cases {
            header,
            place,
            dims: dims_declared.map(|d| (d, 0)),
            first_steps: None,
            series: Vec::new(),
            labels: Vec::new(),
            values: Vec::new(),
        })
    }

    /// Reads the case on line `n`.
    fn add(&mut self, n: usize, line: &str) -> Result<(), SequenceError> {
        let place = self.place;
        let at = |message: String| place.at(n, message);
        let mut fields: Vec<&str> = line.split(':').collect();
        let target = match fields.pop() {
            Some(t) if !fields.is_empty() => t.trim(),
            _ => return Err(at("expected the dimensions, then `:` and the case's target".into())),
        };
        match self.dims {
            Some((d, from)) if d != fields.len() => {
                let said = if from == 0 {
                    "the header declares".to_string()
                } else {
                    format!("the first case (line {from}) has")
                };
                return Err(at(format!("has {} dimensions, {said} {d}", fields.len())));
            }
            Some(_) => {}
            None => self.dims = Some((fields.len(), n)),
        }
        let case = parse_case(&fields, self.header).map_err(at)?;
        if self.header.equal() {
            self.check_equal_length(n, case.steps)?;
        }
        match &self.header.classes {
            Some(names) => match class_of(names, target) {
                Some(k) => self.labels.push(k),
                None => {
                    let listed = names.join(", ");
                    return Err(at(format!(
                        "label `{}` is not one of the declared classes {listed}",
                        clip(target)
                    )));
                }
            },
            None => match target.parse::<f32>() {
                Ok(v) if v.is_finite() => self.values.push(v),
                _ => return Err(at(format!("target `{}` is not a finite number", clip(target)))),
            },
        }
        self.series.push(case.values);
        Ok(())
    }

    /// With equal lengths declared, the case on line `n` must have `@seriesLength` steps and
    /// as many as the first case.
    fn check_equal_length(&mut self, n: usize, steps: usize) -> Result<(), SequenceError> {
        if let Some(len) = self.header.series_length.filter(|&l| l != steps) {
            return Err(self
                .place
                .at(n, format!("has {steps} values per dimension, @seriesLength says {len}")));
        }
        match self.first_steps {
            Some((len, from)) if len != steps => Err(self.place.at(
                n,
                format!(
                    "has {steps} values per dimension, but lengths are equal and the first case (line {from}) has {len}"
                ),
            )),
            Some(_) => Ok(()),
            None => {
                self.first_steps = Some((steps, n));
                Ok(())
            }
        }
    }

    fn finish(self) -> Result<SequenceSet, SequenceError> {
        let Some((dims, _)) = self.dims.filter(|_| !self.series.is_empty()) else {
            return Err(self.place.whole("no cases after @data".into()));
        };
        let targets = match &self.header.classes {
            Some(names) => SequenceTargets::Classes {
                labels: self.labels,
                names: names.clone(),
            },
            None => SequenceTargets::Values {
                width: 1,
                values: self.values,
            },
        };
        Ok(SequenceSet {
            dims,
            series: self.series,
            targets,
            source: self.place.0.to_string(),
            sequential: true,
            more_inputs: Vec::new(),
        })
    }
}

/// The index of a case's label among the declared classes. sktime and aeon compare labels
/// ignoring case, so a unique match that way counts too.
fn class_of(names: &[String], label: &str) -> Option<usize> {
    names.iter().position(|c| c == label).or_else(|| {
        let mut same = names.iter().enumerate().filter(|(_, c)| c.eq_ignore_ascii_case(label));
        same.next().filter(|_| same.next().is_none()).map(|(k, _)| k)
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

/// Parses a case's dimension fields into `[len, dims]` values. The case is as long as its
/// longest dimension without trailing missing values; in files of unequal length, missing values
/// beyond that are padding and dropped. Every dimension must reach that length.
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
        columns.push(column);
    }
    // A dimension's length without its trailing missing values (its own length when lengths
    // are declared equal, as padding is then impossible).
    let real = |c: &Vec<f32>| match header.equal() {
        true => c.len(),
        false => c.iter().rposition(|v| !v.is_nan()).map_or(0, |i| i + 1),
    };
    let (longest, steps) = columns
        .iter()
        .map(real)
        .enumerate()
        .fold((0, 0), |m, (d, n)| if n > m.1 { (d, n) } else { m });
    if steps == 0 {
        return Err("the case has no values (every value is missing)".into());
    }
    if let Some((d, c)) = columns.iter().enumerate().find(|(_, c)| c.len() < steps) {
        return Err(format!(
            "dimension {} has {} values, dimension {} has {steps}",
            d + 1,
            c.len(),
            longest + 1
        ));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    const CLASS_HEAD: &str = "@problemName t\n@timeStamps false\n@missing false\n@univariate true\n\
                              @equalLength false\n@classLabel true a b c\n@data\n";

    /// The message of a parse that must fail.
    fn error(text: &str) -> String {
        parse_ts(text, "f.ts").unwrap_err().to_string()
    }

    #[test]
    fn ts_reader_univariate_unequal_length() {
        let set = parse_ts(
            &format!("# a comment\n\n{CLASS_HEAD}1,2,3:b\n\n# between\n4.5,-1e-3:a\n"),
            "f.ts",
        )
        .unwrap();
        assert_eq!((set.dims, set.len(), set.max_steps()), (1, 2, 3));
        assert_eq!(set.series, vec![vec![1.0, 2.0, 3.0], vec![4.5, -0.001]]);
        assert_eq!(
            set.targets,
            SequenceTargets::Classes {
                labels: vec![1, 0],
                names: vec!["a".into(), "b".into(), "c".into()]
            }
        );
        assert_eq!(set.source, "f.ts");
        // Labels match the declared ones ignoring case when that is unambiguous.
        let set = parse_ts("@classLabel true Yes No\n@data\n1:yes\n2:No\n", "f.ts").unwrap();
        assert!(matches!(&set.targets, SequenceTargets::Classes { labels, .. } if labels == &[0, 1]));
        let err = error("@classLabel true a A\n@data\n1:a\n1:A\n2:b\n");
        assert!(err.contains("line 5: label `b`"), "{err}");
    }

    #[test]
    fn ts_reader_multivariate_is_step_major() {
        let text = "\u{feff}@PROBLEMNAME m\n@Univariate False\n@dimension 2\n@equalLength true\n@seriesLength 3\n\
                    @classLabel true x y\n@data\n1,2,3:10,20,30:y\r\n4,5,6:40,50,60:x\r\n";
        let set = parse_ts(text, "m.ts").unwrap();
        assert_eq!(set.dims, 2);
        assert_eq!(set.series[0], vec![1.0, 10.0, 2.0, 20.0, 3.0, 30.0]);
        assert_eq!((set.steps(0), set.steps(1)), (3, 3));
        assert!(matches!(&set.targets, SequenceTargets::Classes { labels, .. } if labels == &[1, 0]));
    }

    #[test]
    fn ts_reader_regression_target() {
        let text = "@problemName r\n@univariate true\n@targetLabel true\n@data\n1,2:0.5\n3:-2\n";
        let set = parse_ts(text, "r.ts").unwrap();
        assert_eq!(
            set.targets,
            SequenceTargets::Values {
                width: 1,
                values: vec![0.5, -2.0]
            }
        );
        assert!(error("@targetLabel true\n@data\n1,2:abc\n").contains("line 3: target `abc` is not a finite number"));
    }

    #[test]
    fn ts_reader_missing_values_and_trailing_padding() {
        let text = "@missing true\n@dimensions 2\n@equalLength false\n@classLabel true 1 2\n@data\n\
                    1,?,3,NaN:4,5,6,?:2\n1,nan:2,3:1\n";
        let set = parse_ts(text, "m.ts").unwrap();
        // Trailing missing values that pad a dimension are trimmed; inner ones stay as NaN.
        assert_eq!(set.steps(0), 3);
        let s = &set.series[0];
        assert_eq!((s[0], s[1], s[3], s[4], s[5]), (1.0, 4.0, 5.0, 3.0, 6.0));
        assert!(s[2].is_nan());
        assert_eq!(set.steps(1), 2);
        assert!(set.series[1][2].is_nan());
        // Missing values without `@missing true` are refused.
        let err = error(&format!("{CLASS_HEAD}1,?,3:a\n"));
        assert!(
            err.contains("f.ts: line 8: dimension 1 value 2 is missing (`?`)"),
            "{err}"
        );
    }

    #[test]
    fn ts_reader_header_errors() {
        let err = error("@problemName x\n@timeStamps true\n@classLabel true a\n@data\n1:a\n");
        assert!(err.contains("line 2") && err.contains("not supported"), "{err}");
        let err = error("@problemName x\n@classLabel true a\n1,2:a\n");
        assert!(err.contains("line 3: expected a header line"), "{err}");
        let err = error("@problemName x\n@classLabel true a\n");
        assert!(err.contains("f.ts: no `@data` line"), "{err}");
        let err = error("@dimensions two\n@classLabel true a\n@data\n");
        assert!(
            err.contains("line 1: `@dimensions` needs a positive whole number, found `two`"),
            "{err}"
        );
        let err = error("@missing maybe\n");
        assert!(err.contains("`@missing` needs `true` or `false`"), "{err}");
        let err = error("@classLabel true\n@data\n");
        assert!(err.contains("lists no class labels"), "{err}");
        let err = error("@classLabel true a b a\n@data\n");
        assert!(err.contains("lists `a` twice"), "{err}");
        let err = error("@colour blue\n");
        assert!(err.contains("line 1: unknown header `@colour`"), "{err}");
        let err = error("@classLabel false\n@data\n1,2\n");
        assert!(err.contains("declares no target"), "{err}");
        let err = error("@univariate true\n@dimensions 3\n@classLabel true a\n@data\n1:a\n");
        assert!(err.contains("@univariate true but @dimensions 3"), "{err}");
        let err = error("@classLabel true a\n@targetLabel true\n@data\n1:a\n");
        assert!(err.contains("both"), "{err}");
        let err = error(CLASS_HEAD);
        assert!(err.contains("no cases after @data"), "{err}");
    }

    #[test]
    fn ts_reader_case_errors() {
        let err = error(&format!("{CLASS_HEAD}1,2:x\n"));
        assert!(
            err.contains("f.ts: line 8: label `x` is not one of the declared classes a, b, c"),
            "{err}"
        );
        let err = error(&format!("{CLASS_HEAD}1,2:3:a\n"));
        assert!(err.contains("line 8: has 2 dimensions, the header declares 1"), "{err}");
        let err = error("@classLabel true a\n@data\n1:2:a\n1:a\n");
        assert!(
            err.contains("line 4: has 1 dimensions, the first case (line 3) has 2"),
            "{err}"
        );
        let err = error(&format!("{CLASS_HEAD}1,x,3:a\n"));
        assert!(
            err.contains("line 8: dimension 1 value 2: `x` is not a finite number"),
            "{err}"
        );
        let err = error(&format!("{CLASS_HEAD}1,inf:a\n"));
        assert!(err.contains("`inf` is not a finite number"), "{err}");
        let err = error(&format!("{CLASS_HEAD}1,,3:a\n"));
        assert!(err.contains("value 2: `` is not a finite number"), "{err}");
        let err = error(&format!("{CLASS_HEAD}1,2\n"));
        assert!(err.contains("line 8: expected the dimensions, then `:`"), "{err}");
        let err = error("@missing true\n@classLabel true a\n@data\n?,?:a\n");
        assert!(err.contains("line 4: the case has no values"), "{err}");
        let err = error("@dimensions 3\n@classLabel true a\n@data\n1,2,3:1,2,3:1,2:a\n");
        assert!(
            err.contains("line 4: dimension 3 has 2 values, dimension 1 has 3"),
            "{err}"
        );
        let err = error("@dimensions 2\n@classLabel true a\n@data\n1,2:1,2,3:a\n");
        assert!(
            err.contains("line 4: dimension 1 has 2 values, dimension 2 has 3"),
            "{err}"
        );
    }

    #[test]
    fn ts_reader_equal_length_errors() {
        let head = "@equalLength true\n@classLabel true a\n@data\n";
        let err = error(&format!("{head}1,2,3:a\n1,2:a\n"));
        let want = "line 5: has 2 values per dimension, but lengths are equal and the first case (line 4) has 3";
        assert!(err.contains(want), "{err}");
        let err = error("@equalLength true\n@seriesLength 4\n@classLabel true a\n@data\n1,2,3:a\n");
        assert!(
            err.contains("line 5: has 3 values per dimension, @seriesLength says 4"),
            "{err}"
        );
        // Without @equalLength, a @seriesLength makes lengths equal.
        let err = error("@seriesLength 2\n@classLabel true a\n@data\n1,2:a\n1,2,3:a\n");
        assert!(
            err.contains("line 5: has 3 values per dimension, @seriesLength says 2"),
            "{err}"
        );
        // Under @equalLength true a trailing missing value is data, not padding.
        let set = parse_ts(
            "@missing true\n@equalLength true\n@classLabel true a\n@data\n1,?:a\n",
            "f.ts",
        )
        .unwrap();
        assert_eq!(set.steps(0), 2);
    }

    #[test]
    fn ts_reader_file_errors_name_the_file() {
        let err = read_ts(Path::new("/nonexistent/dir/x.ts")).unwrap_err().to_string();
        assert!(err.starts_with("/nonexistent/dir/x.ts: "), "{err}");
    }
}
