//! A `recur fit` model served: one `FP32` tensor per model input (`[n, time, channels]`, or
//! `[n, features]` for a static input) and optional `lengths` (`INT64` `[n]`) in;
//! `probabilities` and `classes` (a classifier) or `values` (a regressor) out, through the very
//! [`FitPredictor`] calls and array layout of `recur run`. Requests arriving together are
//! joined sequence by sequence into one call, as sketch requests are.

use crate::error::ApiError;
use crate::tensor::{described, output, InferRequest, InputTensor};
use recur_data::npy::{NpyArray, NpyData};
use recur_data::sequences::{from_input_arrays, InputLayout, InputSeries, InputSpec, SequenceSet, SequenceTargets};
use recur_fit::evaluate::argmax;
use recur_fit::{FitPredictor, InputMeta};
use serde_json::{json, Value};

/// The name of the optional input giving each sequence's valid steps.
pub const LENGTHS_INPUT: &str = "lengths";

/// How a request names a model input: the config's name, or `x` (as `--x`) for a model of one
/// unnamed sequence input.
fn input_name(spec: &InputSpec) -> &str {
    spec.name.as_deref().unwrap_or("x")
}

/// The model's inputs, outputs and classes, for `GET /v2/models/{name}`.
pub fn metadata(predictor: &FitPredictor) -> Value {
    let mut inputs: Vec<Value> = predictor
        .input_specs()
        .iter()
        .zip(predictor.meta().inputs())
        .map(|(spec, meta)| {
            let dims = meta.dims as i64;
            let shape: &[i64] = match spec.layout {
                InputLayout::Sequences => &[-1, -1, dims],
                InputLayout::Vectors => &[-1, dims],
            };
            described(input_name(spec), "FP32", shape)
        })
        .collect();
    let sequences = predictor
        .input_specs()
        .iter()
        .any(|s| s.layout == InputLayout::Sequences);
    if sequences {
        inputs.push(described(LENGTHS_INPUT, "INT64", &[-1]));
    }
    let task = predictor.meta().task;
    let k = predictor.outputs() as i64;
    let shape: &[i64] = if task.per_step() { &[-1, -1, k] } else { &[-1, k] };
    let outputs = if !task.is_classification() {
        vec![described("values", "FP32", shape)]
    } else if task.per_step() {
        vec![described("probabilities", "FP32", shape)]
    } else {
        vec![
            described("probabilities", "FP32", shape),
            described("classes", "BYTES", &[-1]),
        ]
    };
    json!({
        "inputs": inputs,
        "outputs": outputs,
        "parameters": {"kind": "fit", "classes": predictor.classes(), "optional_inputs": if sequences { vec![LENGTHS_INPUT] } else { vec![] }},
    })
}

/// One sequence (or vector) of a request: its values for every model input, in the model's
/// order, step-major and already cut to its length. Requests arriving together are joined as
/// these, whatever each one's time axis.
pub struct FitExample(Vec<Vec<f32>>);

/// Reads a request into its examples, checked against the model as `recur run` checks its
/// arrays: a bad request is refused on its own, never failing the batch it would have joined.
pub fn read(predictor: &FitPredictor, request: &InferRequest) -> Result<Vec<FitExample>, ApiError> {
    let specs = predictor.input_specs();
    let mut known: Vec<&str> = specs.iter().map(input_name).collect();
    known.push(LENGTHS_INPUT);
    request.only_inputs(&known)?;
    let arrays = specs
        .iter()
        .map(|spec| {
            let name = input_name(spec);
            let tensor = request.input(name).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "missing input `{name}` (the model reads {})",
                    known[..specs.len()].join(", ")
                ))
            })?;
            let (shape, values) = tensor.floats()?;
            Ok(NpyArray {
                shape,
                data: NpyData::F32(values),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let lengths = request.input(LENGTHS_INPUT).map(lengths_array).transpose()?;
    let set = from_input_arrays(&arrays, specs, lengths.as_ref(), "request")
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    predictor.check(&set)?;
    Ok(examples_of(set))
}

/// A set's examples, each with its values for every input.
fn examples_of(set: SequenceSet) -> Vec<FitExample> {
    let mut more: Vec<_> = set.more_inputs.into_iter().map(|m| m.series.into_iter()).collect();
    set.series
        .into_iter()
        .map(|first| {
            let rest = more.iter_mut().map(|m| m.next().unwrap_or_default());
            FitExample(std::iter::once(first).chain(rest).collect())
        })
        .collect()
}

/// The model's one call over a batch of examples (requests batched together) on at most
/// `threads` threads: each one's outputs, as [`FitPredictor::predict`] gives them.
pub fn outputs(predictor: &FitPredictor, examples: Vec<FitExample>, threads: usize) -> Result<Vec<Vec<f64>>, ApiError> {
    let inputs: Vec<&InputMeta> = predictor.meta().inputs().collect();
    let mut columns: Vec<Vec<Vec<f32>>> = inputs.iter().map(|_| Vec::with_capacity(examples.len())).collect();
    for FitExample(values) in examples {
        columns.iter_mut().zip(values).for_each(|(column, v)| column.push(v));
    }
    let mut series = inputs.iter().zip(columns).map(|(meta, series)| InputSeries {
        dims: meta.dims,
        series,
        sequential: meta.sequential,
        source: "request".into(),
    });
    let Some(first) = series.next() else {
        return Err(ApiError::internal("the model has no inputs"));
    };
    let set = SequenceSet {
        dims: first.dims,
        series: first.series,
        targets: SequenceTargets::Values {
            width: 0,
            values: Vec::new(),
        },
        source: first.source,
        sequential: first.sequential,
        more_inputs: series.collect(),
    };
    Ok(predictor.predict(&set, threads)?)
}

/// The answer to a request from its examples' outputs, as `recur run` writes them:
/// `probabilities` and `classes` (a classifier) or `values`, per sequence or per step.
pub fn answer(predictor: &FitPredictor, outputs: &[Vec<f64>]) -> Vec<Value> {
    let (shape, data) = predictor.outputs_array(outputs);
    let task = predictor.meta().task;
    if !task.is_classification() {
        return vec![output("values", "FP32", &shape, json!(data))];
    }
    let mut answer = vec![output("probabilities", "FP32", &shape, json!(data))];
    if !task.per_step() {
        let classes: Vec<&str> = outputs
            .iter()
            .map(|p| predictor.classes().get(argmax(p)).map_or("", String::as_str))
            .collect();
        answer.push(output("classes", "BYTES", &[outputs.len()], json!(classes)));
    }
    answer
}

/// The `lengths` tensor as the array `recur run --lengths` reads.
fn lengths_array(tensor: &InputTensor) -> Result<NpyArray, ApiError> {
    let (shape, values) = tensor.ints()?;
    Ok(NpyArray {
        shape,
        data: NpyData::I64(values),
    })
}
