//! A seq2seq model as two ONNX graphs, as fairseq and Hugging Face's exporters split them:
//! the **encoder** (source → memory and the decoder's initial state) and **one decoder step**
//! (previous token and state → next-token log-probabilities and the new state). The search
//! (greedy or beam) stays in the caller, which loops over the step graph.
//!
//! Encoder: inputs `x` float32 `[batch, time, 1]` (source token ids, padded) and `lengths`
//! int32 `[batch]`; outputs `memory` `[batch, time, memory_width]`, `memory_lengths`, `h0`
//! (and `c0` for an LSTM) `[batch, decoder_units]`: the bridge `tanh(W·s + b)` of the forward
//! direction's last real step and the backward direction's first, as recur computes it.
//!
//! Decoder step: inputs `token` int64 `[batch]`, `h` (and `c`), `feed` (the last attentional
//! state, zeros before the first step; only with input feeding), `memory` and
//! `memory_lengths`; outputs `log_probs` `[batch, target_vocab]`, `h_out` (and `c_out`),
//! `feed_out` and `attention` `[batch, time]` (zero on the padding).
//!
//! Both files carry the settings (`recur_seq2seq`) and the two vocabularies (`source_vocab`,
//! `target_vocab`, JSON lists whose index is the token id; ids 0–3 are `<pad>`, `<s>`, `</s>`,
//! `<unk>`) in their metadata, so a caller can tokenise and detokenise without recur.

use crate::builder::{Attr, GraphBuilder};
use crate::layers::{linear, LayerParams, Value};
use crate::proto::{GraphProto, ModelProto, INT32, INT64};
use crate::recurrent::{one_step, CellKind};
use crate::{
    check_opset, emit_model, graph_output, model_proto, to_json, value_info, Axis, ExportError, ExportOptions, Result,
    BATCH,
};
use recur_nn::{AttentionKind, Param};
use recur_seq2seq::{CellKind as Seq2SeqCell, Translator};
use std::collections::HashMap;

/// The two graphs of an exported seq2seq model.
pub struct Seq2SeqExport {
    /// Source to memory and initial state.
    pub encoder: ModelProto,
    /// One decoder step.
    pub decoder: ModelProto,
}

/// Exports a trained seq2seq model as its encoder and its decoder step, as `options` say (the
/// decoder step's recurrence is one step of its operator either way).
pub fn export_seq2seq(t: &Translator, options: ExportOptions) -> Result<Seq2SeqExport> {
    let opset = options.opset;
    check_opset(opset)?;
    let named: HashMap<String, &Param<f32>> = t.model.named_params().into_iter().collect();
    let params = Params(&named);
    let metadata = vec![
        ("recur_seq2seq".to_string(), to_json(&t.settings)?),
        ("source_vocab".to_string(), to_json(&t.source.tokens())?),
        ("target_vocab".to_string(), to_json(&t.target.tokens())?),
    ];
    Ok(Seq2SeqExport {
        encoder: model_proto(encoder_graph(t, &params, options)?, opset, metadata.clone()),
        decoder: model_proto(decoder_graph(t, &params)?, opset, metadata),
    })
}

/// The model's tensors by their full names.
struct Params<'a>(&'a HashMap<String, &'a Param<f32>>);

impl<'a> Params<'a> {
    fn get(&self, name: &str) -> Result<&'a Param<f32>> {
        self.0
            .get(name)
            .copied()
            .ok_or_else(|| ExportError(format!("the seq2seq model has no tensor `{name}`")))
    }
}

/// Whether the recurrent state carries a memory cell, and the exporter's cell kind.
fn cell(t: &Translator) -> (CellKind, bool) {
    match t.settings.model.cell {
        Seq2SeqCell::Lstm => (CellKind::Lstm, true),
        Seq2SeqCell::Gru => (CellKind::Gru, false),
    }
}

fn encoder_graph(t: &Translator, params: &Params, options: ExportOptions) -> Result<GraphProto> {
    let config = &t.settings.model;
    let mut b = GraphBuilder::writing(options.recurrence);
    let mut graph = named_graph("recur_seq2seq_encoder");
    let outputs = emit_model(&mut b, &mut graph, t.model.encoder(), "encoder.", options.opset)?;
    let (_, memory) = outputs
        .into_iter()
        .next()
        .ok_or_else(|| ExportError("the encoder has no output".into()))?;
    let lengths = memory
        .lengths
        .clone()
        .ok_or_else(|| ExportError("the encoder's output is not a sequence".into()))?;
    graph_output(&mut b, &mut graph, "memory", &memory);
    // The forward direction's last real step: GatherND picks step `length − 1` of each row.
    let last = b.node("Cast", &[&lengths], vec![Attr::Int("to", INT64 as i64)]);
    let one = b.int64_scalar(1);
    let last = b.node("Sub", &[&last, &one], vec![]);
    let axis1 = b.int64s(&[1]);
    let last = b.node("Unsqueeze", &[&last, &axis1], vec![]);
    let last = b.node("GatherND", &[&memory.name, &last], vec![Attr::Int("batch_dims", 1)]);
    let summary = if config.bidirectional {
        // The backward direction's state after reading the whole source sits at step 0.
        let zero = b.int64_scalar(0);
        let first = b.node("Gather", &[&memory.name, &zero], vec![Attr::Int("axis", 1)]);
        let units = config.encoder_units as i64;
        let forward = slice_last(&mut b, &last, 0, units);
        let backward = slice_last(&mut b, &first, units, 2 * units);
        b.node("Concat", &[&forward, &backward], vec![Attr::Int("axis", -1)])
    } else {
        last
    };
    let bridged = linear(
        &mut b,
        &summary,
        "bridge",
        params.get("bridge.weight")?,
        Some(params.get("bridge.bias")?),
    );
    let bridged = b.node("Tanh", &[&bridged], vec![]);
    let hd = config.decoder_units as i64;
    let (_, has_cell) = cell(t);
    let h0 = slice_last(&mut b, &bridged, 0, hd);
    name_output(&mut b, &mut graph, &h0, "h0", config.decoder_units);
    if has_cell {
        let c0 = slice_last(&mut b, &bridged, hd, 2 * hd);
        name_output(&mut b, &mut graph, &c0, "c0", config.decoder_units);
    }
    Ok(finish(graph, b))
}

fn decoder_graph(t: &Translator, params: &Params) -> Result<GraphProto> {
    let config = &t.settings.model;
    let (hd, mem) = (config.decoder_units, config.memory_width());
    let (kind, has_cell) = cell(t);
    let (mut b, mut graph) = (GraphBuilder::default(), named_graph("recur_seq2seq_decoder_step"));
    graph.input.push(value_info("token", INT64, &[BATCH]));
    let state = [BATCH, Axis::Fixed(hd)];
    graph.input.push(value_info("h", crate::proto::FLOAT, &state));
    if has_cell {
        graph.input.push(value_info("c", crate::proto::FLOAT, &state));
    }
    if config.input_feeding {
        graph.input.push(value_info("feed", crate::proto::FLOAT, &state));
    }
    let memory_axes = [BATCH, Axis::Named("time"), Axis::Fixed(mem)];
    graph
        .input
        .push(value_info("memory", crate::proto::FLOAT, &memory_axes));
    graph.input.push(value_info("memory_lengths", INT32, &[BATCH]));

    let table = params.get("decoder.embedding.weight")?;
    let table = b.floats("decoder.embedding.weight", &table.shape, &table.value);
    let embedded = b.node("Gather", &[&table, "token"], vec![Attr::Int("axis", 0)]);
    let x = match config.input_feeding {
        true => b.node("Concat", &[&embedded, "feed"], vec![Attr::Int("axis", -1)]),
        false => embedded,
    };
    let rnn = LayerParams {
        prefix: "decoder.rnn",
        all: params.0,
    };
    let c_in = has_cell.then_some("c");
    let (h, c) = one_step(&mut b, &rnn, (kind, 0), (&x, config.decoder_input()), ("h", c_in), hd)?;
    let (context, weights) = attend(&mut b, t, params, &h)?;
    let joined = b.node("Concat", &[&context, &h], vec![Attr::Int("axis", -1)]);
    let out = linear(
        &mut b,
        &joined,
        "decoder.linear_out",
        params.get("decoder.linear_out.weight")?,
        None,
    );
    let out = b.node("Tanh", &[&out], vec![]);
    let logits = linear(
        &mut b,
        &out,
        "generator",
        params.get("generator.weight")?,
        Some(params.get("generator.bias")?),
    );
    let log_probs = b.node("LogSoftmax", &[&logits], vec![Attr::Int("axis", -1)]);
    name_output(&mut b, &mut graph, &log_probs, "log_probs", config.target_vocab);
    name_output(&mut b, &mut graph, &h, "h_out", hd);
    if let Some(c) = c {
        name_output(&mut b, &mut graph, &c, "c_out", hd);
    }
    name_output(&mut b, &mut graph, &out, "feed_out", hd);
    b.node_outputs("Identity", &[&weights], vec![], &["attention"]);
    let attention_axes = [BATCH, Axis::Named("time")];
    graph
        .output
        .push(value_info("attention", crate::proto::FLOAT, &attention_axes));
    Ok(finish(graph, b))
}

/// Attention of the query `h` over `memory` (padding masked): the context `[batch,
/// memory_width]` and the weights `[batch, time]`.
fn attend(b: &mut GraphBuilder, t: &Translator, params: &Params, h: &str) -> Result<(String, String)> {
    let kind = AttentionKind::from_name(&t.settings.model.attention)
        .ok_or_else(|| ExportError(format!("unknown attention `{}`", t.settings.model.attention)))?;
    let last = b.int64s(&[-1]);
    let scores = match kind {
        AttentionKind::Dot | AttentionKind::General => {
            let query = match kind {
                AttentionKind::General => {
                    let w = params.get("decoder.attention.linear_in.weight")?;
                    linear(b, h, "decoder.attention.linear_in", w, None)
                }
                _ => h.to_string(),
            };
            // memory [batch, time, m] · query [batch, m, 1] → [batch, time].
            let query = b.node("Unsqueeze", &[&query, &last], vec![]);
            let scores = b.node("MatMul", &["memory", &query], vec![]);
            b.node("Squeeze", &[&scores, &last], vec![])
        }
        AttentionKind::Additive => {
            let get = |name: &str| params.get(&format!("decoder.attention.{name}"));
            let query = linear(
                b,
                h,
                "decoder.attention.linear_query",
                get("linear_query.weight")?,
                Some(get("linear_query.bias")?),
            );
            let keys = linear(
                b,
                "memory",
                "decoder.attention.linear_context",
                get("linear_context.weight")?,
                None,
            );
            let axis1 = b.int64s(&[1]);
            let query = b.node("Unsqueeze", &[&query, &axis1], vec![]);
            let summed = b.node("Add", &[&keys, &query], vec![]);
            let summed = b.node("Tanh", &[&summed], vec![]);
            let scores = linear(b, &summed, "decoder.attention.v", get("v.weight")?, None);
            b.node("Squeeze", &[&scores, &last], vec![])
        }
    };
    // Padded source steps get the lowest float, so exactly zero weight after the softmax.
    let mask = b.step_mask("memory", "memory_lengths");
    let lowest = b.floats("lowest", &[], &[f32::MIN]);
    let scores = b.node("Where", &[&mask, &scores, &lowest], vec![]);
    let weights = b.node("Softmax", &[&scores], vec![Attr::Int("axis", -1)]);
    let axis1 = b.int64s(&[1]);
    let rows = b.node("Unsqueeze", &[&weights, &axis1], vec![]);
    let context = b.node("MatMul", &[&rows, "memory"], vec![]);
    Ok((b.node("Squeeze", &[&context, &axis1], vec![]), weights))
}

/// Elements `start..end` of the last axis of `x`.
fn slice_last(b: &mut GraphBuilder, x: &str, start: i64, end: i64) -> String {
    let (starts, ends, axes) = (b.int64s(&[start]), b.int64s(&[end]), b.int64s(&[-1]));
    b.node("Slice", &[x, &starts, &ends, &axes], vec![])
}

/// Names the `[batch, width]` value `x` as the graph output `name`.
fn name_output(b: &mut GraphBuilder, graph: &mut GraphProto, x: &str, name: &str, width: usize) {
    let value = Value {
        name: x.to_string(),
        shape: recur_core::Shape::new(width, false),
        lengths: None,
    };
    graph_output(b, graph, name, &value);
}

fn named_graph(name: &str) -> GraphProto {
    GraphProto {
        name: name.into(),
        ..Default::default()
    }
}

fn finish(mut graph: GraphProto, b: GraphBuilder) -> GraphProto {
    graph.node = b.nodes;
    graph.initializer = b.initializers;
    graph
}
