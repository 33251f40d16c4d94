//! A seq2seq model served: strings in (`text`, `BYTES` `[n]`), each one's n-best outputs and
//! their scores out, through the very [`Translator`] that `recur seq2seq predict` calls.

use crate::error::ApiError;
use crate::tensor::{described, output, InferRequest};
use recur_seq2seq::Translator;
use serde_json::{json, Value};

/// The name of a seq2seq model's one input.
pub const TEXT_INPUT: &str = "text";

/// Beam width when the request names none (as `recur seq2seq predict`).
const DEFAULT_BEAM: usize = 5;

/// GNMT length-penalty α when the request names none (as `recur seq2seq predict`).
const DEFAULT_ALPHA: f64 = 0.6;

/// The model's inputs, outputs and search defaults, for `GET /v2/models/{name}`.
pub fn metadata(translator: &Translator) -> Value {
    json!({
        "inputs": [described(TEXT_INPUT, "BYTES", &[-1])],
        "outputs": [described("outputs", "BYTES", &[-1, -1]), described("scores", "FP64", &[-1, -1])],
        "parameters": {
            "kind": "seq2seq", "beam": DEFAULT_BEAM, "nbest": 1, "alpha": DEFAULT_ALPHA,
            "max_len": translator.settings.max_target_len,
        },
    })
}

/// Answers a request: each string's `nbest` best outputs (texts joined as the target side is
/// tokenised) and their length-normalised scores, best first. Parameters `beam` (1: greedy),
/// `nbest`, `alpha`, `max_len` and `strict` (refuse tokens never seen in training) are those of
/// `recur seq2seq predict`.
pub fn infer(translator: &Translator, request: &InferRequest) -> Result<Vec<Value>, ApiError> {
    request.only_inputs(&[TEXT_INPUT])?;
    let texts = request.required(TEXT_INPUT, "BYTES [n], one string each")?.texts()?;
    let strict = match request.parameters.get("strict") {
        None => false,
        Some(v) => v
            .as_bool()
            .ok_or_else(|| ApiError::bad_request(format!("parameter `strict` must be true or false, not {v}")))?,
    };
    let sources = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            translator
                .encode(text, strict)
                .map_err(|e| ApiError::bad_request(format!("text {i}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let alpha = match request.parameters.get("alpha") {
        None => DEFAULT_ALPHA,
        Some(v) => v
            .as_f64()
            .filter(|a| *a >= 0.0)
            .ok_or_else(|| ApiError::bad_request(format!("parameter `alpha` must be a number ≥ 0, not {v}")))?,
    };
    let max_len = (request.parameters.contains_key("max_len"))
        .then(|| request.whole_parameter("max_len", 1, 1))
        .transpose()?;
    let beam = request.whole_parameter("beam", 1, DEFAULT_BEAM)?;
    let nbest = request.whole_parameter("nbest", 1, 1)?;
    let options = translator
        .search_options(beam, nbest, alpha, max_len, false)
        .map_err(|e| ApiError::bad_request(format!("parameter {e}")))?;
    let outputs = translator.translate(&sources, &options, 1)?;
    // The protocol's tensors are rectangular: a search that ended with fewer outputs than
    // asked fills the rest with "" and a null score.
    let k = options.nbest;
    let mut words = Vec::with_capacity(outputs.len() * k);
    let mut scores = Vec::with_capacity(outputs.len() * k);
    for hypotheses in &outputs {
        for j in 0..k {
            let best = hypotheses.get(j);
            words.push(json!(best.map_or("", |h| h.text.as_str())));
            scores.push(best.map_or(Value::Null, |h| json!(h.score)));
        }
    }
    let shape = [outputs.len(), k];
    Ok(vec![
        output("outputs", "BYTES", &shape, json!(words)),
        output("scores", "FP64", &shape, json!(scores)),
    ])
}
