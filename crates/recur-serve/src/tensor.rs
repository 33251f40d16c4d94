//! The Open Inference Protocol's (KServe v2) JSON tensors: an inference request's inputs read
//! and checked (name, datatype, shape against the data), and the answer's outputs built.

use crate::error::ApiError;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// An inference request body, `POST /v2/models/{name}/infer`.
#[derive(Debug, Deserialize)]
pub struct InferRequest {
    /// The caller's id for the request, echoed in the answer.
    #[serde(default)]
    pub id: Option<String>,
    /// The input tensors.
    pub inputs: Vec<InputTensor>,
    /// Request settings (`top` for a sketch classifier).
    #[serde(default)]
    pub parameters: Map<String, Value>,
    /// The outputs to answer with (every one when none are named).
    #[serde(default)]
    pub outputs: Vec<RequestedOutput>,
}

/// One output a request asks for by name.
#[derive(Debug, Deserialize)]
pub struct RequestedOutput {
    /// The model's name for the output.
    pub name: String,
}

/// One input tensor of a request.
#[derive(Debug, Deserialize)]
pub struct InputTensor {
    /// The model's name for the input.
    pub name: String,
    /// Dimensions, outermost first.
    pub shape: Vec<u64>,
    /// The element type (`FP32`, `INT64`, `BYTES`).
    pub datatype: String,
    /// The elements in row-major order (flat, or nested as the shape says).
    pub data: Value,
}

impl InferRequest {
    /// Reads a request body: a clear 400 for a body that is not JSON (NaN and Infinity are
    /// not JSON numbers) and for JSON that is not an inference request.
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        serde_json::from_slice(body).map_err(|e| {
            if e.is_data() {
                ApiError::bad_request(format!("the body is not an inference request: {e}"))
            } else {
                ApiError::bad_request(format!(
                    "the body is not valid JSON ({e}); numbers must be finite (JSON has no NaN or Infinity)"
                ))
            }
        })
    }

    /// The input named `name`, if given.
    pub fn input(&self, name: &str) -> Option<&InputTensor> {
        self.inputs.iter().find(|t| t.name == name)
    }

    /// The input named `name`, or a 400 saying what it should hold.
    pub fn required(&self, name: &str, holds: &str) -> Result<&InputTensor, ApiError> {
        self.input(name)
            .ok_or_else(|| ApiError::bad_request(format!("missing input `{name}` ({holds})")))
    }

    /// Parameter `name` as a whole number of at least `least`, or `default` when absent.
    pub fn whole_parameter(&self, name: &str, least: u64, default: usize) -> Result<usize, ApiError> {
        match self.parameters.get(name) {
            None => Ok(default),
            Some(v) => v
                .as_u64()
                .filter(|&k| k >= least)
                .and_then(|k| usize::try_from(k).ok())
                .ok_or_else(|| {
                    ApiError::bad_request(format!("parameter `{name}` must be a whole number ≥ {least}, not {v}"))
                }),
        }
    }

    /// The names of the outputs asked for, each one of the model's `answers`; `None` when
    /// the request names none (every output is answered). A name the model does not answer
    /// is a 400 that lists the ones it does.
    pub fn wanted_outputs(&self, answers: &[String]) -> Result<Option<Vec<String>>, ApiError> {
        if self.outputs.is_empty() {
            return Ok(None);
        }
        match self.outputs.iter().find(|o| !answers.contains(&o.name)) {
            Some(o) => Err(ApiError::bad_request(format!(
                "unknown output `{}`: the model answers {}",
                o.name,
                answers.iter().map(|a| format!("`{a}`")).collect::<Vec<_>>().join(", ")
            ))),
            None => Ok(Some(self.outputs.iter().map(|o| o.name.clone()).collect())),
        }
    }

    /// Refuses inputs other than `known` (a misspelt name would otherwise be ignored).
    pub fn only_inputs(&self, known: &[&str]) -> Result<(), ApiError> {
        match self.inputs.iter().find(|t| !known.contains(&t.name.as_str())) {
            Some(t) => Err(ApiError::bad_request(format!(
                "unknown input `{}`: the model reads {}",
                t.name,
                known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
            ))),
            None => Ok(()),
        }
    }
}

impl InputTensor {
    /// The shape as sizes, refusing one whose element count overflows.
    pub fn dims(&self) -> Result<(Vec<usize>, usize), ApiError> {
        let dims: Option<Vec<usize>> = self.shape.iter().map(|&d| usize::try_from(d).ok()).collect();
        let count = dims
            .as_ref()
            .and_then(|d| d.iter().try_fold(1usize, |n, &x| n.checked_mul(x)));
        match (dims, count) {
            (Some(d), Some(c)) => Ok((d, c)),
            _ => Err(ApiError::bad_request(format!(
                "input `{}`: shape {:?} is too large",
                self.name, self.shape
            ))),
        }
    }

    /// Refuses a datatype other than `wanted`.
    pub fn expect_datatype(&self, wanted: &str) -> Result<(), ApiError> {
        if self.datatype == wanted {
            Ok(())
        } else {
            Err(ApiError::bad_request(format!(
                "input `{}` must be {wanted}, not {}",
                self.name, self.datatype
            )))
        }
    }

    /// The elements in row-major order, checked against the shape's count: numbers flattened
    /// from nested lists; `BYTES` elements the items of a flat list (an item may be inline
    /// JSON, which is not flattened).
    pub fn elements(&self, count: usize) -> Result<Vec<&Value>, ApiError> {
        let mut flat = Vec::new();
        match (&self.data, self.datatype.as_str()) {
            (Value::Array(items), "BYTES") => flat.extend(items),
            (data, _) => flatten(data, &mut flat),
        }
        if flat.len() != count {
            return Err(ApiError::bad_request(format!(
                "input `{}`: shape {:?} holds {count} values, the data has {}",
                self.name,
                self.shape,
                flat.len()
            )));
        }
        Ok(flat)
    }

    /// An `FP32` tensor's shape and values (a number too large for f32 becomes infinite, which
    /// the model's input checks refuse by position).
    pub fn floats(&self) -> Result<(Vec<usize>, Vec<f32>), ApiError> {
        self.expect_datatype("FP32")?;
        let (dims, values) = self.numbers()?;
        Ok((dims, values.into_iter().map(|v| v as f32).collect()))
    }

    /// An `FP32` or `FP64` tensor's shape and values, as f64.
    pub fn doubles(&self) -> Result<(Vec<usize>, Vec<f64>), ApiError> {
        if self.datatype != "FP32" {
            self.expect_datatype("FP64")?;
        }
        self.numbers()
    }

    /// The shape and the numbers of the data, whatever the declared number type.
    fn numbers(&self) -> Result<(Vec<usize>, Vec<f64>), ApiError> {
        let (dims, count) = self.dims()?;
        let values = self
            .elements(count)?
            .into_iter()
            .enumerate()
            .map(|(i, v)| v.as_f64().ok_or_else(|| self.not_a_number(i, v)))
            .collect::<Result<_, _>>()?;
        Ok((dims, values))
    }

    /// A `BYTES` tensor of shape `[n]` as its `n` strings (at least one).
    pub fn texts(&self) -> Result<Vec<&str>, ApiError> {
        self.expect_datatype("BYTES")?;
        let (dims, count) = self.dims()?;
        if dims.len() != 1 || count == 0 {
            return Err(ApiError::bad_request(format!(
                "input `{}` must have shape [n] with n ≥ 1, not {dims:?}",
                self.name
            )));
        }
        self.elements(count)?
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str().ok_or_else(|| {
                    ApiError::bad_request(format!("input `{}`: element {i} ({v}) is not a string", self.name))
                })
            })
            .collect()
    }

    /// An `INT64` tensor's shape and values.
    pub fn ints(&self) -> Result<(Vec<usize>, Vec<i64>), ApiError> {
        self.expect_datatype("INT64")?;
        let (dims, count) = self.dims()?;
        let values = self
            .elements(count)?
            .into_iter()
            .enumerate()
            .map(|(i, v)| v.as_i64().ok_or_else(|| self.not_a_number(i, v)))
            .collect::<Result<_, _>>()?;
        Ok((dims, values))
    }

    fn not_a_number(&self, i: usize, v: &Value) -> ApiError {
        ApiError::bad_request(format!(
            "input `{}`: element {i} ({v}) is not a {} number",
            self.name, self.datatype
        ))
    }
}

/// Collects the leaves of nested arrays in order.
fn flatten<'a>(v: &'a Value, into: &mut Vec<&'a Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|item| flatten(item, into)),
        leaf => into.push(leaf),
    }
}

/// An output tensor of the answer.
pub fn output(name: &str, datatype: &str, shape: &[usize], data: Value) -> Value {
    json!({"name": name, "datatype": datatype, "shape": shape, "data": data})
}

/// A tensor's description in a model's metadata (`-1` for a size the request chooses).
pub fn described(name: &str, datatype: &str, shape: &[i64]) -> Value {
    json!({"name": name, "datatype": datatype, "shape": shape})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(datatype: &str, shape: &[u64], data: Value) -> InputTensor {
        InputTensor {
            name: "x".into(),
            shape: shape.to_vec(),
            datatype: datatype.into(),
            data,
        }
    }

    #[test]
    fn tensor_data_may_be_flat_or_nested_and_must_fill_the_shape() {
        assert_eq!(
            tensor("FP32", &[2, 2], json!([[1, 2], [3, 4.5]])).floats().unwrap(),
            (vec![2, 2], vec![1.0, 2.0, 3.0, 4.5])
        );
        assert_eq!(tensor("INT64", &[2], json!([3, 4])).ints().unwrap().1, vec![3, 4]);
        let e = tensor("FP32", &[3], json!([1, 2])).floats().unwrap_err().message;
        assert!(e.contains("shape [3] holds 3 values, the data has 2"), "{e}");
        let e = tensor("INT64", &[1], json!([1.5])).ints().unwrap_err().message;
        assert!(e.contains("element 0 (1.5) is not a INT64 number"), "{e}");
    }

    #[test]
    fn tensor_shape_that_overflows_is_refused_before_allocating() {
        let e = tensor("FP32", &[u64::MAX, 4], json!([])).floats().unwrap_err().message;
        assert!(e.contains("is too large"), "{e}");
    }

    #[test]
    fn bytes_elements_keep_inline_json_whole() {
        let t = tensor("BYTES", &[2], json!([[[[1, 2], [3, 4]]], "[[[5],[6]]]"]));
        assert_eq!(t.elements(2).unwrap().len(), 2);
    }

    #[test]
    fn outputs_asked_for_are_the_models_or_a_400_naming_them() {
        let answers = ["classes".to_string(), "probabilities".to_string()];
        let none = InferRequest::parse(br#"{"inputs": []}"#).unwrap();
        assert_eq!(none.wanted_outputs(&answers).unwrap(), None);
        let one = InferRequest::parse(br#"{"inputs": [], "outputs": [{"name": "probabilities"}]}"#).unwrap();
        assert_eq!(
            one.wanted_outputs(&answers).unwrap(),
            Some(vec!["probabilities".to_string()])
        );
        let bad = InferRequest::parse(br#"{"inputs": [], "outputs": [{"name": "scores"}]}"#).unwrap();
        let e = bad.wanted_outputs(&answers).unwrap_err().message;
        assert_eq!(
            e,
            "unknown output `scores`: the model answers `classes`, `probabilities`"
        );
    }

    #[test]
    fn a_body_with_nan_is_told_json_has_none() {
        let e = InferRequest::parse(b"{\"inputs\": [NaN]}").unwrap_err().message;
        assert!(e.contains("not valid JSON") && e.contains("no NaN"), "{e}");
        let e = InferRequest::parse(b"{\"outputs\": []}").unwrap_err().message;
        assert!(e.contains("not an inference request: missing field `inputs`"), "{e}");
    }
}
