//! A forecaster served: a daily series in (one input per column the model was trained on: the
//! dates as `BYTES`, the values as `FP64` or `FP32`, covariates as numbers or, for
//! categories, `BYTES`), the horizon's days, values
//! and interval out, through the very [`ForecastPredictor`] that `recur forecast --model`
//! calls. The columns are laid out as the CSV that command reads and read by the same reader,
//! so gaps, repeated days and bad dates are noted or refused alike.

use crate::error::ApiError;
use crate::tensor::{described, output, InferRequest};
use recur_data::{dates, parse_daily_csv, SeriesSpec};
use recur_forecast::ForecastPredictor;
use serde_json::{json, Value};

/// The model's inputs (its CSV columns), outputs and settings, for `GET /v2/models/{name}`.
pub fn metadata(predictor: &ForecastPredictor, spec: &SeriesSpec) -> Value {
    let mut inputs = vec![
        described(&spec.date_col, "BYTES", &[-1]),
        described(&spec.value_col, "FP64", &[-1]),
    ];
    // A covariate is numbers (FP64) or categories (BYTES), as its CSV column is.
    inputs.extend(spec.covariates.iter().map(|c| described(c, "FP64", &[-1])));
    let horizon = predictor.forecaster.spec.horizon as i64;
    let mut outputs = vec![
        described("date", "BYTES", &[horizon]),
        described("forecast", "FP64", &[horizon]),
    ];
    let level = predictor.forecaster.interval.as_ref().map(|i| i.level);
    if level.is_some() {
        outputs.extend([
            described("lower", "FP64", &[horizon]),
            described("upper", "FP64", &[horizon]),
        ]);
    }
    json!({
        "inputs": inputs,
        "outputs": outputs,
        "parameters": {
            "kind": "forecast", "horizon": horizon, "window": predictor.forecaster.spec.window,
            "value": spec.value_col, "trained_until": predictor.columns.train_until, "level": level,
        },
    })
}

/// Answers a request: the `horizon` days after the series' last value (or after the
/// parameter `from`, a date), their forecast and, for a model trained with one, the interval.
/// The value column may be shorter than the dates: the later days carry only covariates known
/// in advance, as the CSV's rows without a value do.
pub fn infer(predictor: &ForecastPredictor, spec: &SeriesSpec, request: &InferRequest) -> Result<Vec<Value>, ApiError> {
    let mut known: Vec<&str> = vec![&spec.date_col, &spec.value_col];
    known.extend(spec.covariates.iter().map(String::as_str));
    request.only_inputs(&known)?;
    let days = request
        .required(&spec.date_col, "BYTES [n], the days as YYYY-MM-DD")?
        .texts()?;
    let mut columns = vec![days
        .iter()
        .map(|d| cell(&spec.date_col, d))
        .collect::<Result<Vec<_>, _>>()?];
    for (k, name) in known.iter().enumerate().skip(1) {
        let tensor = request.required(name, "[n], one value per day")?;
        let cells: Vec<String> = if tensor.datatype == "BYTES" && k > 1 {
            // A covariate of categories (`weekday`, `holiday`), written as the CSV's text.
            tensor
                .texts()?
                .iter()
                .map(|t| cell(name, t))
                .collect::<Result<_, _>>()?
        } else {
            let (dims, values) = tensor.doubles()?;
            if dims.len() != 1 {
                return Err(ApiError::bad_request(format!(
                    "input `{name}` must have shape [n], not {dims:?}"
                )));
            }
            values.iter().map(|v| v.to_string()).collect()
        };
        if cells.len() > days.len() {
            return Err(ApiError::bad_request(format!(
                "input `{name}` has {} values for {} dates",
                cells.len(),
                days.len()
            )));
        }
        columns.push(cells);
    }
    let csv = as_csv(&known, &columns);
    let series = parse_daily_csv(&csv, "request", spec).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let from = match request.parameters.get("from") {
        None => None,
        Some(v) => Some(
            v.as_str()
                .ok_or("not a string")
                .and_then(|t| dates::parse(t).map_err(|_| "not a date"))
                .map_err(|e| ApiError::bad_request(format!("parameter `from` ({v}): {e}; give YYYY-MM-DD")))?,
        ),
    };
    let last = ForecastPredictor::last_day(&series, from)?;
    let ahead = predictor.forecast(&series, last, 1)?;
    let h = ahead.days.len();
    let days: Vec<String> = ahead.days.iter().map(|d| dates::format(*d)).collect();
    let mut answer = vec![
        output("date", "BYTES", &[h], json!(days)),
        output("forecast", "FP64", &[h], json!(ahead.forecast)),
    ];
    if let Some(band) = &ahead.interval {
        answer.push(output("lower", "FP64", &[h], json!(band.lower)));
        answer.push(output("upper", "FP64", &[h], json!(band.upper)));
    }
    Ok(answer)
}

/// A text cell of input `name`, refused where it would break the CSV it is written into.
fn cell(name: &str, text: &str) -> Result<String, ApiError> {
    if text.contains([',', '\n', '\r', '"']) {
        return Err(ApiError::bad_request(format!(
            "input `{name}`: {text:?} holds a comma, quote or line break"
        )));
    }
    Ok(text.to_string())
}

/// The columns as the CSV `recur forecast` reads: a header of `names`, a row per date (the
/// first column), a cell left empty past a column's end (days ahead, with no value yet).
fn as_csv(names: &[&str], columns: &[Vec<String>]) -> String {
    let mut csv = names.join(",") + "\n";
    let rows = columns.first().map_or(0, Vec::len);
    for i in 0..rows {
        let row: Vec<&str> = columns.iter().map(|c| c.get(i).map_or("", String::as_str)).collect();
        csv.push_str(&row.join(","));
        csv.push('\n');
    }
    csv
}
