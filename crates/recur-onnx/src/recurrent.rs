//! LSTM, GRU and SimpleRNN as ONNX's `LSTM`, `GRU` and `RNN` operators, each sequence's
//! length given through `sequence_lens`, so the reverse direction starts at each sequence's
//! own end and the last state is taken at its last real step, as recur does.
//!
//! recur keeps PyTorch's tensors and gate order; ONNX orders the gate blocks differently:
//! LSTM i, f, g, o (PyTorch) → i, o, f, c (ONNX); GRU r, z, n → z, r, h, with
//! `linear_before_reset = 1` because PyTorch applies the reset gate to `W_hn h + b_hn`.

use crate::builder::{Attr, GraphBuilder, Recurrence};
use crate::layers::{LayerParams, Value};
use crate::{ExportError, Result};
use recur_core::Shape;
use recur_nn::recurrent::RecurrentOptions;

/// Which recurrent cell a layer runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellKind {
    /// LSTM.
    Lstm,
    /// GRU (PyTorch's formulation).
    Gru,
    /// Elman RNN with tanh.
    Rnn,
}

impl CellKind {
    /// The ONNX operator.
    fn op(self) -> &'static str {
        match self {
            CellKind::Lstm => "LSTM",
            CellKind::Gru => "GRU",
            CellKind::Rnn => "RNN",
        }
    }

    /// For each ONNX gate block, the PyTorch block it is taken from.
    fn onnx_order(self) -> &'static [usize] {
        match self {
            CellKind::Lstm => &[0, 3, 1, 2],
            CellKind::Gru => &[1, 0, 2],
            CellKind::Rnn => &[0],
        }
    }
}

/// `values` (`[gates·h, width]`, PyTorch's block order) with its blocks in ONNX's order.
fn reorder_blocks(values: &[f32], h: usize, width: usize, order: &[usize]) -> Vec<f32> {
    let block = h * width;
    order
        .iter()
        .flat_map(|&k| values[k * block..(k + 1) * block].iter().copied())
        .collect()
}

/// The weights of the directions `dirs` (0 forward, 1 reverse) stacked as ONNX wants them:
/// `W [dirs, gates·h, in]`, `R [dirs, gates·h, h]` and `B [dirs, 2·gates·h]` (input biases,
/// then recurrent ones).
fn stacked_weights(
    p: &LayerParams,
    kind: CellKind,
    h: usize,
    inputs: usize,
    dirs: std::ops::Range<usize>,
) -> Result<[Vec<f32>; 3]> {
    let order = kind.onnx_order();
    let [mut w, mut r, mut bias] = [Vec::new(), Vec::new(), Vec::new()];
    for d in dirs {
        let suffix = if d == 0 { "" } else { "_reverse" };
        let get = |name: &str| p.get(&format!("{name}_l0{suffix}"));
        w.extend(reorder_blocks(&get("weight_ih")?.value, h, inputs, order));
        r.extend(reorder_blocks(&get("weight_hh")?.value, h, h, order));
        bias.extend(reorder_blocks(&get("bias_ih")?.value, h, 1, order));
        bias.extend(reorder_blocks(&get("bias_hh")?.value, h, 1, order));
    }
    Ok([w, r, bias])
}

/// One recurrent layer reading `x` (`[batch, time, in]`): every step's output
/// (`return_sequences`) or the last state, directions side by side (forward first).
pub fn recurrent(
    b: &mut GraphBuilder,
    p: &LayerParams,
    x: &Value,
    options: &RecurrentOptions,
    kind: CellKind,
) -> Result<Value> {
    let lengths = x
        .lengths
        .as_deref()
        .ok_or_else(|| ExportError(format!("{}: a recurrent layer needs a sequence", p.prefix)))?;
    let (h, inputs) = (options.units, x.shape.features);
    let dirs = if options.bidirectional { 2 } else { 1 };
    let gates = kind.onnx_order().len();
    if b.recurrence == Recurrence::Scan {
        return crate::scan::recurrent(b, p, (x, lengths), options, kind);
    }
    let [w, r, bias] = stacked_weights(p, kind, h, inputs, 0..dirs)?;
    let w = b.floats(&format!("{}.W", p.prefix), &[dirs, gates * h, inputs], &w);
    let r = b.floats(&format!("{}.R", p.prefix), &[dirs, gates * h, h], &r);
    let bias = b.floats(&format!("{}.B", p.prefix), &[dirs, 2 * gates * h], &bias);
    // ONNX's recurrent operators read time first: X [time, batch, in].
    let time_first = b.node("Transpose", &[&x.name], vec![Attr::Ints("perm", vec![1, 0, 2])]);
    let direction = if options.bidirectional {
        "bidirectional"
    } else {
        "forward"
    };
    let mut attrs = vec![Attr::Int("hidden_size", h as i64), Attr::Str("direction", direction)];
    if kind == CellKind::Gru {
        attrs.push(Attr::Int("linear_before_reset", 1));
    }
    let (all_steps, last) = (b.fresh("Y"), b.fresh("Y_h"));
    b.node_outputs(
        kind.op(),
        &[&time_first, &w, &r, &bias, lengths],
        attrs,
        &[&all_steps, &last],
    );
    let width = Shape::new(h * dirs, options.return_sequences);
    if options.return_sequences {
        // Y [time, dirs, batch, h] → [batch, time, dirs·h].
        let y = b.node("Transpose", &[&all_steps], vec![Attr::Ints("perm", vec![2, 0, 1, 3])]);
        let shape = b.int64s(&[0, 0, -1]);
        Ok(Value {
            name: b.node("Reshape", &[&y, &shape], vec![]),
            shape: width,
            lengths: x.lengths.clone(),
        })
    } else {
        // Y_h [dirs, batch, h] → [batch, dirs·h].
        let y = b.node("Transpose", &[&last], vec![Attr::Ints("perm", vec![1, 0, 2])]);
        let shape = b.int64s(&[0, -1]);
        Ok(Value {
            name: b.node("Reshape", &[&y, &shape], vec![]),
            shape: width,
            lengths: None,
        })
    }
}

/// One step of direction `direction` (0 forward, 1 reverse) of a recurrent layer, as a
/// decoder (or a [`Recurrence::Scan`] loop) takes it: `x` `[batch, inputs]` (the input and
/// its width) from the state `h` (and `c`, for an LSTM) `[batch, units]`; returns the new `h`
/// (and `c`). It is the layer's own ONNX operator over a sequence of one step, so the gate
/// order and GRU's `linear_before_reset` are the same as for whole sequences.
pub fn one_step(
    b: &mut GraphBuilder,
    p: &LayerParams,
    (kind, direction): (CellKind, usize),
    (x, inputs): (&str, usize),
    state: (&str, Option<&str>),
    units: usize,
) -> Result<(String, Option<String>)> {
    let gates = kind.onnx_order().len();
    let [w, r, bias] = stacked_weights(p, kind, units, inputs, direction..direction + 1)?;
    let w = b.floats(&format!("{}.W", p.prefix), &[1, gates * units, inputs], &w);
    let r = b.floats(&format!("{}.R", p.prefix), &[1, gates * units, units], &r);
    let bias = b.floats(&format!("{}.B", p.prefix), &[1, 2 * gates * units], &bias);
    let axis0 = b.int64s(&[0]);
    // ONNX's recurrent operators read X [time, batch, in] and states [dirs, batch, units].
    let x = b.node("Unsqueeze", &[x, &axis0], vec![]);
    let h = b.node("Unsqueeze", &[state.0, &axis0], vec![]);
    let c = state.1.map(|c| b.node("Unsqueeze", &[c, &axis0], vec![]));
    let mut attrs = vec![Attr::Int("hidden_size", units as i64)];
    if kind == CellKind::Gru {
        attrs.push(Attr::Int("linear_before_reset", 1));
    }
    let (h_next, c_next) = (b.fresh("Y_h"), b.fresh("Y_c"));
    let mut inputs = vec![x.as_str(), w.as_str(), r.as_str(), bias.as_str(), "", h.as_str()];
    let mut outputs = vec!["", h_next.as_str()];
    if let Some(c) = &c {
        inputs.push(c.as_str());
        outputs.push(c_next.as_str());
    }
    b.node_outputs(kind.op(), &inputs, attrs, &outputs);
    let h_next = b.node("Squeeze", &[&h_next, &axis0], vec![]);
    let c_next = c.map(|_| b.node("Squeeze", &[&c_next, &axis0], vec![]));
    Ok((h_next, c_next))
}
