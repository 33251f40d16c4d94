//! Quick, Draw! ndjson: one JSON object per line with `word`, `key_id`, `recognized`,
//! `countrycode` and `drawing`. Simplified files hold strokes `[[x…],[y…]]` in 0–255; raw files
//! `[[x…],[y…],[t…]]` in any float range, which are simplified as Google did.

use super::simplify::simplify_raw;
use super::{check_strokes, Collector, Drawing, LoadError, Problem, Stroke, MAX_COORDINATE};
use serde_json::Value;
use std::io::BufRead;
use std::path::Path;

pub(crate) fn read(path: &Path, c: &mut Collector) -> Result<(), LoadError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| LoadError::Input {
        path: name.clone(),
        message: e.to_string(),
    })?;
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| LoadError::Input {
            path: name.clone(),
            message: format!("line {}: {e}", i + 1),
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed = parse_line(&line).map_err(|message| Problem {
            file: name.clone(),
            line: i + 1,
            message,
        });
        if let Ok(d) = &parsed {
            if !c.wants_class(&d.word) {
                continue;
            }
        }
        c.offer(parsed)?;
    }
    Ok(())
}

/// Parses one ndjson line into a drawing in the simplified frame.
pub fn parse_line(line: &str) -> Result<Drawing, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("not a JSON object ({e})"))?;
    let word = v["word"].as_str().ok_or("missing `word`")?.to_string();
    let key_id = match &v["key_id"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err("missing `key_id`".into()),
    };
    let strokes = parse_drawing(&v["drawing"])?;
    Ok(Drawing {
        word,
        key_id,
        recognized: v["recognized"].as_bool().unwrap_or(true),
        countrycode: v["countrycode"].as_str().unwrap_or("").to_string(),
        strokes,
    })
}

/// Parses a drawing's strokes in the ndjson form, `[[[x…],[y…]], …]` (simplified, 0–255) or
/// `[[[x…],[y…],[t…]], …]` (raw, simplified here as Google did), into the simplified frame.
/// `recur predict` reads ndjson files through it and the server reads request drawings, so both
/// answer the same drawing alike.
pub fn parse_drawing(drawing: &Value) -> Result<Vec<Stroke>, String> {
    let (strokes, raw) = parse_strokes(drawing)?;
    simplified(strokes, raw)
}

/// Parses a drawing given as JSON text in the ndjson form (see [`parse_drawing`]), as the
/// Python package takes drawings.
pub fn parse_drawing_text(text: &str) -> Result<Vec<Stroke>, String> {
    let drawing: Value = serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?;
    parse_drawing(&drawing)
}

/// A drawing read by [`parse_strokes`] in the simplified frame: checked, simplified as Google
/// did when `raw`, empty strokes dropped.
pub fn simplified(mut strokes: Vec<Stroke>, raw: bool) -> Result<Vec<Stroke>, String> {
    check_strokes(&strokes, MAX_COORDINATE)?;
    if raw {
        strokes = simplify_raw(&strokes)?;
    }
    strokes.retain(|s| !s.is_empty());
    Ok(strokes)
}

/// Reads strokes in the ndjson form as they are, and whether they are raw (times given, or
/// coordinates that are not the simplified frame's whole numbers in 0–255): strokes sent in
/// parts (a drawing streamed stroke by stroke) are joined first and simplified whole.
pub fn parse_strokes(drawing: &Value) -> Result<(Vec<Stroke>, bool), String> {
    let strokes_json = drawing.as_array().ok_or("missing `drawing` (a list of strokes)")?;
    let mut strokes: Vec<Stroke> = Vec::with_capacity(strokes_json.len());
    let mut raw = false;
    for (i, s) in strokes_json.iter().enumerate() {
        let arrays = s
            .as_array()
            .filter(|a| a.len() == 2 || a.len() == 3)
            .ok_or(format!("stroke {i} is not [[x…],[y…]] or [[x…],[y…],[t…]]"))?;
        let axis = |k: usize| -> Result<Vec<f32>, String> {
            arrays[k]
                .as_array()
                .ok_or(format!("stroke {i}: coordinates are not a list"))?
                .iter()
                .map(|n| {
                    n.as_f64()
                        .map(|f| f as f32)
                        .ok_or(format!("stroke {i}: a coordinate is not a number"))
                })
                .collect()
        };
        let (x, y) = (axis(0)?, axis(1)?);
        if x.len() != y.len() {
            return Err(format!("stroke {i} has {} x but {} y values", x.len(), y.len()));
        }
        raw |= arrays.len() == 3 || x.iter().chain(&y).any(|v| v.fract() != 0.0 || *v < 0.0 || *v > 255.0);
        strokes.push(x.into_iter().zip(y).map(|(x, y)| [x, y]).collect());
    }
    Ok((strokes, raw))
}

/// One drawing as a simplified ndjson line.
pub fn to_line(d: &Drawing) -> String {
    let strokes: Vec<Value> = d
        .strokes
        .iter()
        .map(|s| {
            let xs: Vec<i64> = s.iter().map(|p| p[0].round() as i64).collect();
            let ys: Vec<i64> = s.iter().map(|p| p[1].round() as i64).collect();
            serde_json::json!([xs, ys])
        })
        .collect();
    serde_json::json!({
        "word": d.word, "countrycode": d.countrycode, "timestamp": "", "recognized": d.recognized,
        "key_id": d.key_id, "drawing": strokes
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_drawing_text_names_what_is_wrong() {
        let strokes = parse_drawing_text("[[[0, 10, 20], [5, 5, 30]]]").unwrap();
        assert_eq!(strokes, vec![vec![[0.0, 5.0], [10.0, 5.0], [20.0, 30.0]]]);
        let cases = [
            ("[[[0, 1], [2", "not JSON"),
            ("[[0, 1], [2, 3]]", "stroke 0: coordinates are not a list"),
            ("[[[0, 1]]]", "stroke 0 is not [[x…],[y…]]"),
            ("[]", "empty drawing (no points)"),
            ("{\"x\": 1}", "missing `drawing` (a list of strokes)"),
        ];
        for (text, expected) in cases {
            let message = parse_drawing_text(text).unwrap_err();
            assert!(message.contains(expected), "{text}: {message}");
        }
    }
}
