//! recur's models as ONNX files: [`export`] turns a [`Model`] (a stack or a graph) into an
//! ONNX [`ModelProto`](proto::ModelProto) that ONNX Runtime and other runtimes run.
//!
//! The graph reads what recur reads: each sequence input `x` as `[batch, time, features]`
//! float32, padded, with its int32 `lengths` `[batch]` (one `lengths` input for a model with
//! one sequence input, `{name}_lengths` for several), and each vector input as
//! `[batch, features]`. Padding is zeroed on the way in and kept zero, so a padded batch gives
//! what each sequence gives alone. An output that is a sequence comes with its lengths
//! (`{output}_lengths`): a strided or `valid` convolution shortens sequences.
//!
//! A classifier (a model with class names and one output per sequence) also gives
//! `probabilities`, the softmax of `y`, as recur's `run` and `predict` give them.
//!
//! Dropout is removed (inference), batch normalisation uses its running statistics, the
//! recurrent layers become ONNX's `LSTM`/`GRU`/`RNN` with `sequence_lens` (or, with
//! [`Recurrence::Scan`], a `Scan` loop over one step of them), and MiniRocket
//! becomes one `Conv` per dilation with its statistics over each sequence's steps (see
//! `minirocket.rs`). A layer with no ONNX form here (frames) is refused by name.

mod builder;
mod frames;
mod layers;
mod minirocket;
pub mod proto;
mod recurrent;
mod scan;
mod seq2seq;

pub use builder::Recurrence;
pub use seq2seq::{export_seq2seq, Seq2SeqExport};

use builder::{Attr, GraphBuilder};
use layers::{emit_layer, gate, LayerParams, Value};
use proto::{
    Dimension, GraphProto, ModelProto, OperatorSetIdProto, StringStringEntryProto, TensorShapeProto, TensorTypeProto,
    TypeProto, ValueInfoProto, FLOAT, INT32, INT64,
};
use recur_core::Shape;
use recur_nn::graph::{Source, Step};
use recur_nn::{Merge, Model};
use std::collections::HashMap;
use std::path::Path;

/// Why a model could not be exported, in words for the user.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ExportError(pub String);

/// The exporter's result type.
pub type Result<T> = std::result::Result<T, ExportError>;

/// The operator set written by default.
pub const DEFAULT_OPSET: i64 = 17;
/// The operator sets the exporter can write: 17 (the first with `LayerNormalization`) to 21.
pub const OPSETS: std::ops::RangeInclusive<i64> = 17..=21;

/// The IR version for an opset: the one ONNX released it with.
fn ir_version(opset: i64) -> i64 {
    match opset {
        ..=17 => 8,
        18..=20 => 9,
        _ => 10,
    }
}

/// What an export writes: the operator set, and how recurrent layers are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExportOptions {
    /// The ONNX operator set (one of [`OPSETS`]).
    pub opset: i64,
    /// ONNX's recurrent operators, or a loop over one step of them.
    pub recurrence: Recurrence,
}

impl Default for ExportOptions {
    /// Operator set 17 and ONNX's recurrent operators.
    fn default() -> Self {
        ExportOptions {
            opset: DEFAULT_OPSET,
            recurrence: Recurrence::Operators,
        }
    }
}

/// The ONNX model of `model` as `options` say, its class names and config kept in the file's
/// metadata (`classes`, one per line; `recur_config`, the config's JSON).
pub fn export(model: &Model<f32>, options: ExportOptions) -> Result<ModelProto> {
    check_opset(options.opset)?;
    let graph = build_graph(model, options)?;
    let config = model.config();
    let mut metadata = vec![("recur_config".to_string(), to_json(config)?)];
    if !config.classes.is_empty() {
        metadata.push(("classes".into(), config.classes.join("\n")));
    }
    Ok(model_proto(graph, options.opset, metadata))
}

/// Refuses an operator set the exporter does not write.
pub(crate) fn check_opset(opset: i64) -> Result<()> {
    if OPSETS.contains(&opset) {
        return Ok(());
    }
    Err(ExportError(format!(
        "opset {opset} is not one recur writes (use {} to {})",
        OPSETS.start(),
        OPSETS.end()
    )))
}

/// `value` as JSON text, for the file's metadata.
pub(crate) fn to_json(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(|e| ExportError(e.to_string()))
}

/// A model file around `graph`, with recur as its producer and `metadata` as key–value pairs.
pub(crate) fn model_proto(graph: GraphProto, opset: i64, metadata: Vec<(String, String)>) -> ModelProto {
    ModelProto {
        ir_version: ir_version(opset),
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: opset,
        }],
        producer_name: "recur".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: "exported by recur".into(),
        graph: Some(graph),
        metadata_props: metadata
            .into_iter()
            .map(|(key, value)| StringStringEntryProto { key, value })
            .collect(),
    }
}

/// Exports `model` and writes the file at `path` atomically (a temporary beside it, renamed);
/// returns what it wrote.
pub fn write(model: &Model<f32>, options: ExportOptions, path: &Path) -> Result<ModelProto> {
    let exported = export(model, options)?;
    write_proto(&exported, path)?;
    Ok(exported)
}

/// Writes an exported model at `path` atomically (a temporary beside it, renamed).
pub fn write_proto(model: &ModelProto, path: &Path) -> Result<()> {
    let bytes = prost::Message::encode_to_vec(model);
    recur_nn::model_dir::write_atomic(path, &bytes).map_err(|e| ExportError(e.to_string()))
}

/// One line per input and output of an exported model: `input x: float32 [batch, time, 3]`.
pub fn describe(model: &ModelProto) -> String {
    let Some(graph) = &model.graph else {
        return String::new();
    };
    let line = |role: &str, v: &ValueInfoProto| {
        let tensor = v.r#type.as_ref().and_then(|t| t.tensor_type.as_ref());
        let dtype = match tensor.map(|t| t.elem_type) {
            Some(FLOAT) => "float32",
            Some(INT32) => "int32",
            Some(INT64) => "int64",
            _ => "?",
        };
        let axes: Vec<String> = tensor
            .and_then(|t| t.shape.as_ref())
            .map(|s| {
                s.dim
                    .iter()
                    .map(|d| {
                        d.dim_param
                            .clone()
                            .unwrap_or_else(|| d.dim_value.unwrap_or(0).to_string())
                    })
                    .collect()
            })
            .unwrap_or_default();
        format!("{role} {}: {dtype} [{}]\n", v.name, axes.join(", "))
    };
    let inputs = graph.input.iter().map(|v| line("input", v));
    inputs.chain(graph.output.iter().map(|v| line("output", v))).collect()
}

/// The graph: inputs, every planned node in order, outputs.
fn build_graph(model: &Model<f32>, options: ExportOptions) -> Result<GraphProto> {
    let mut b = GraphBuilder::writing(options.recurrence);
    let mut graph = GraphProto {
        name: "recur".into(),
        ..Default::default()
    };
    let outputs = emit_model(&mut b, &mut graph, model, "", options.opset)?;
    for (name, value) in &outputs {
        graph_output(&mut b, &mut graph, name, value);
    }
    if let [(_, value)] = outputs.as_slice() {
        if !model.config().classes.is_empty() && !value.shape.sequential {
            // What recur's `run` and `predict` give a classifier's caller.
            let probabilities = Value {
                name: b.node("Softmax", &[&value.name], vec![Attr::Int("axis", -1)]),
                ..value.clone()
            };
            graph_output(&mut b, &mut graph, "probabilities", &probabilities);
        }
    }
    graph.node = b.nodes;
    graph.initializer = b.initializers;
    Ok(graph)
}

/// Declares `model`'s inputs on `graph` and appends its nodes to `b`, its tensors named under
/// `prefix` (`encoder.` for a seq2seq encoder, empty otherwise); returns each output's value
/// with the name it gets as a graph output (`y`, or each output node's name when several).
pub(crate) fn emit_model(
    b: &mut GraphBuilder,
    graph: &mut GraphProto,
    model: &Model<f32>,
    prefix: &str,
    opset: i64,
) -> Result<Vec<(String, Value)>> {
    let plan = model.plan();
    let all: HashMap<String, &recur_nn::Param<f32>> = model
        .named_params()
        .into_iter()
        .map(|(name, p)| (format!("{prefix}{name}"), p))
        .collect();
    let sequences = plan.inputs.iter().filter(|(_, s)| s.sequential).count();
    let mut inputs = Vec::new();
    for (name, shape) in &plan.inputs {
        let name = if plan.inputs.len() == 1 { "x" } else { name.as_str() };
        let lengths_name = if sequences == 1 {
            "lengths".to_string()
        } else {
            format!("{name}_lengths")
        };
        inputs.push(graph_input(b, graph, name, *shape, &lengths_name)?);
    }
    let mut values: Vec<Value> = Vec::with_capacity(plan.nodes.len());
    for node in &plan.nodes {
        let args: Vec<Value> = node
            .sources
            .iter()
            .map(|s| match *s {
                Source::Input(i) => inputs[i].clone(),
                Source::Node(n) => values[n].clone(),
            })
            .collect();
        let value = match &node.step {
            Step::Layer(l) => {
                let planned = &plan.layers[*l];
                let layer_prefix = format!("{prefix}{}", planned.prefix);
                let params = LayerParams {
                    prefix: &layer_prefix,
                    all: &all,
                };
                let x = args
                    .into_iter()
                    .next()
                    .ok_or_else(|| ExportError("a layer without input".into()))?;
                emit_layer(b, &planned.config, &params, x, opset)?
            }
            Step::Merge(m) => merge(b, *m, &args, node.shape),
        };
        values.push(value);
    }
    let name = |o: usize| match plan.outputs.len() {
        1 => "y".to_string(),
        _ => plan.nodes[o].name.clone(),
    };
    Ok(plan.outputs.iter().map(|&o| (name(o), values[o].clone())).collect())
}

/// Declares one model input (and its lengths, for a sequence) and returns the value layers
/// read: a sequence with its padding zeroed, whatever the caller left there.
fn graph_input(b: &mut GraphBuilder, graph: &mut GraphProto, name: &str, shape: Shape, lengths: &str) -> Result<Value> {
    if let (Some(frame), false) = (shape.frame, shape.sequential) {
        return Err(ExportError(format!(
            "input `{name}` holds one {}×{}×{} frame per example, which the ONNX exporter does not take",
            frame.height, frame.width, frame.channels
        )));
    }
    if let Some(f) = shape.frame {
        // Clips come as recur reads them, `[batch, time, height, width, channels]`, and flow
        // flattened to one row of values per frame.
        let axes = [
            BATCH,
            Axis::Named("time"),
            Axis::Fixed(f.height),
            Axis::Fixed(f.width),
            Axis::Fixed(f.channels),
        ];
        graph.input.push(value_info(name, FLOAT, &axes));
        graph.input.push(value_info(lengths, INT32, &[BATCH]));
        let flat = b.int64s(&[0, 0, f.len() as i64]);
        let flat = b.node("Reshape", &[name, &flat], vec![]);
        return Ok(Value {
            name: b.zero_padding(&flat, lengths),
            shape,
            lengths: Some(lengths.into()),
        });
    }
    if !shape.sequential {
        graph
            .input
            .push(value_info(name, FLOAT, &[BATCH, Axis::Fixed(shape.features)]));
        return Ok(Value {
            name: name.into(),
            shape,
            lengths: None,
        });
    }
    graph.input.push(value_info(
        name,
        FLOAT,
        &[BATCH, Axis::Named("time"), Axis::Fixed(shape.features)],
    ));
    graph.input.push(value_info(lengths, INT32, &[BATCH]));
    Ok(Value {
        name: b.zero_padding(name, lengths),
        shape,
        lengths: Some(lengths.into()),
    })
}

/// Names `value` as the graph output `name` (and `{name}_lengths` for a sequence).
pub(crate) fn graph_output(b: &mut GraphBuilder, graph: &mut GraphProto, name: &str, value: &Value) {
    b.node_outputs("Identity", &[&value.name], vec![], &[name]);
    let features = Axis::Fixed(value.shape.features);
    match &value.lengths {
        Some(lengths) => {
            let lengths_name = format!("{name}_lengths");
            b.node_outputs("Identity", &[lengths], vec![], &[&lengths_name]);
            // A convolution may shorten the time axis, so the output's has its own name.
            graph
                .output
                .push(value_info(name, FLOAT, &[BATCH, Axis::Named("output_time"), features]));
            graph.output.push(value_info(&lengths_name, INT32, &[BATCH]));
        }
        None => graph.output.push(value_info(name, FLOAT, &[BATCH, features])),
    }
}

/// Layer-free merges of several values; sequences merged share their lengths (recur's
/// planner checked that), and zero padding stays zero through each of them.
fn merge(b: &mut GraphBuilder, m: Merge, args: &[Value], shape: Shape) -> Value {
    let names: Vec<&str> = args.iter().map(|v| v.name.as_str()).collect();
    let name = match m {
        Merge::Add => b.node("Sum", &names, vec![]),
        Merge::Multiply => {
            let mut product = names[0].to_string();
            for other in &names[1..] {
                product = b.node("Mul", &[&product, other], vec![]);
            }
            product
        }
        Merge::Concatenate => b.node("Concat", &names, vec![Attr::Int("axis", -1)]),
        Merge::Gated => gate(b, names[0], names[1]),
    };
    Value {
        name,
        shape,
        lengths: args[0].lengths.clone(),
    }
}

pub(crate) const BATCH: Axis = Axis::Named("batch");

/// One axis of a declared input or output.
pub(crate) enum Axis {
    /// A symbolic size (`batch`, `time`).
    Named(&'static str),
    /// A fixed size.
    Fixed(usize),
}

pub(crate) fn value_info(name: &str, elem_type: i32, axes: &[Axis]) -> ValueInfoProto {
    let dim = axes
        .iter()
        .map(|a| match a {
            Axis::Named(name) => Dimension {
                dim_param: Some(name.to_string()),
                ..Default::default()
            },
            Axis::Fixed(n) => Dimension {
                dim_value: Some(*n as i64),
                ..Default::default()
            },
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type,
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
        doc_string: String::new(),
    }
}

#[cfg(test)]
mod tests;
