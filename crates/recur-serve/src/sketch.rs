//! A sketch classifier served: drawings in (`drawing`, `BYTES` `[n]`, each Quick, Draw!'s JSON
//! strokes), the `top` classes and their probabilities out, through the very
//! [`SketchPredictor::predict`] that `recur predict` calls.

use crate::error::ApiError;
use crate::tensor::{described, output, InferRequest};
use recur_data::quickdraw::ndjson::{parse_drawing, parse_strokes};
use recur_data::quickdraw::Stroke;
use recur_sketch::SketchPredictor;
use serde_json::{json, Value};
use std::borrow::Cow;

/// The name of a sketch classifier's one input.
pub const DRAWING_INPUT: &str = "drawing";

/// Classes answered per drawing when the request's `parameters` name no `top`.
pub const DEFAULT_TOP: usize = 5;

/// The model's inputs, outputs and classes, for `GET /v2/models/{name}`.
pub fn metadata(predictor: &SketchPredictor) -> Value {
    json!({
        "inputs": [described(DRAWING_INPUT, "BYTES", &[-1])],
        "outputs": [described("classes", "BYTES", &[-1, -1]), described("probabilities", "FP32", &[-1, -1])],
        "parameters": {"kind": "sketch", "classes": predictor.classes(), "top": DEFAULT_TOP},
    })
}

/// Reads a request: its drawings and how many classes to answer for each.
pub fn read(predictor: &SketchPredictor, request: &InferRequest) -> Result<(Vec<Vec<Stroke>>, usize), ApiError> {
    let drawings = drawing_values(request)?
        .into_iter()
        .enumerate()
        .map(|(i, v)| read_drawing(v).map_err(|e| ApiError::bad_request(format!("drawing {i}: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((drawings, top(predictor, request)?))
}

/// Reads a part of a drawing sent in a session: its strokes as sent, whether they are raw
/// ink, and how many classes to answer.
pub fn read_part(predictor: &SketchPredictor, request: &InferRequest) -> Result<(Vec<Stroke>, bool, usize), ApiError> {
    let values = drawing_values(request)?;
    if values.len() != 1 {
        return Err(ApiError::bad_request(format!(
            "a session takes one drawing's new strokes at a time (shape [1]), not {}",
            values.len()
        )));
    }
    let (strokes, raw) = strokes_value(values[0])
        .and_then(|v| parse_strokes(&v))
        .map_err(|e| ApiError::bad_request(format!("drawing 0: {e}")))?;
    Ok((strokes, raw, top(predictor, request)?))
}

/// The request's drawings as JSON values (text or inline), at least one.
fn drawing_values(request: &InferRequest) -> Result<Vec<&Value>, ApiError> {
    request.only_inputs(&[DRAWING_INPUT])?;
    let tensor = request.required(DRAWING_INPUT, "BYTES [n], one drawing each")?;
    tensor.expect_datatype("BYTES")?;
    let (dims, count) = tensor.dims()?;
    if dims.len() != 1 || count == 0 {
        return Err(ApiError::bad_request(format!(
            "input `{DRAWING_INPUT}` must have shape [n] with n ≥ 1 drawings, not {dims:?}"
        )));
    }
    tensor.elements(count)
}

/// The classes to answer per drawing: the request's `top`, at most the model's classes.
fn top(predictor: &SketchPredictor, request: &InferRequest) -> Result<usize, ApiError> {
    let top = request.whole_parameter("top", 1, DEFAULT_TOP)?;
    Ok(top.min(predictor.classes().len()))
}

/// The model's one call over a batch of drawings (requests batched together) on at most
/// `threads` threads: every class's probability for each.
pub fn probabilities(
    predictor: &SketchPredictor,
    drawings: Vec<Vec<Stroke>>,
    threads: usize,
) -> Result<Vec<Vec<f64>>, ApiError> {
    Ok(predictor.probabilities(&drawings, threads)?)
}

/// The answer to a request: each drawing's `top` most probable classes, most probable first.
pub fn answer(predictor: &SketchPredictor, probabilities: &[Vec<f64>], top: usize) -> Vec<Value> {
    let rankings: Vec<_> = probabilities.iter().map(|p| predictor.rank(p, top)).collect();
    let classes: Vec<&str> = rankings.iter().flatten().map(|g| g.class.as_str()).collect();
    // FP32, as declared: each probability rounded to the nearest f32.
    let probabilities: Vec<f32> = rankings.iter().flatten().map(|g| g.probability as f32).collect();
    let shape = [rankings.len(), top];
    vec![
        output("classes", "BYTES", &shape, json!(classes)),
        output("probabilities", "FP32", &shape, json!(probabilities)),
    ]
}

/// One drawing: its strokes as a JSON string (the protocol's BYTES) or inline JSON, read as
/// `recur predict` reads an ndjson line's `drawing`.
fn read_drawing(v: &Value) -> Result<Vec<Stroke>, String> {
    parse_drawing(&*strokes_value(v)?)
}

/// A drawing's strokes as JSON: parsed from text (the protocol's BYTES), or given inline.
fn strokes_value(v: &Value) -> Result<Cow<'_, Value>, String> {
    match v {
        Value::String(text) => serde_json::from_str(text)
            .map(Cow::Owned)
            .map_err(|e| format!("not JSON strokes ({e})")),
        inline => Ok(Cow::Borrowed(inline)),
    }
}
