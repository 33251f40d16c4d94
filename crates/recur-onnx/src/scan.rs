//! Recurrent layers as a `Scan` loop over time ([`Recurrence::Scan`]), for runtimes whose
//! `LSTM`/`GRU`/`RNN` take `sequence_lens` only as a constant (tract 0.22): the loop's body is
//! one step of the layer's own operator (no `sequence_lens` needed), and each step's mask keeps
//! the state where a sequence has ended, as recur does:
//!
//! ```text
//! h_t = h_{t−1} + m_t·(step(x_t, h_{t−1}) − h_{t−1}),   y_t = m_t·step(x_t, h_{t−1})
//! ```
//!
//! (and the same for an LSTM's `c`). The reverse direction runs the same loop over each
//! sequence reversed within its own length, and its outputs are put back in order, so it too
//! starts at each sequence's own end.
//!
//! [`Recurrence::Scan`]: crate::builder::Recurrence::Scan

use crate::builder::{Attr, GraphBuilder};
use crate::layers::{LayerParams, Value};
use crate::proto::{GraphProto, FLOAT, INT64};
use crate::recurrent::{one_step, CellKind};
use crate::Result;
use recur_core::Shape;
use recur_nn::recurrent::RecurrentOptions;

/// One recurrent layer reading `x` (`[batch, time, in]`, its sequences of int32 `lengths`) as a
/// loop per direction: every step's output (`return_sequences`) or the last state, directions
/// side by side (forward first).
pub fn recurrent(
    b: &mut GraphBuilder,
    p: &LayerParams,
    (x, lengths): (&Value, &str),
    options: &RecurrentOptions,
    kind: CellKind,
) -> Result<Value> {
    let (units, inputs) = (options.units, x.shape.features);
    let mask = b.step_mask(&x.name, lengths);
    let mask = b.node("Cast", &[&mask], vec![Attr::Int("to", FLOAT as i64)]);
    let axis2 = b.int64s(&[2]);
    let mask = b.node("Unsqueeze", &[&mask, &axis2], vec![]);
    let zeros = zero_state(b, &x.name, units);
    let dirs = if options.bidirectional { 2 } else { 1 };
    let reversed = (dirs == 2).then(|| reversal(b, &x.name, lengths));
    let (mut steps, mut lasts) = (Vec::new(), Vec::new());
    for direction in 0..dirs {
        let input = match &reversed {
            Some(order) if direction == 1 => gather_steps(b, &x.name, order),
            _ => x.name.clone(),
        };
        let body = step_body(p, kind, direction, inputs, units)?;
        let (mut outputs, y) = (vec![b.fresh("h_last")], b.fresh("Y"));
        let mut states = vec![zeros.as_str()];
        if kind == CellKind::Lstm {
            outputs.push(b.fresh("c_last"));
            states.push(&zeros);
        }
        outputs.push(y.clone());
        let attrs = vec![
            Attr::Graph("body", body),
            Attr::Int("num_scan_inputs", 2),
            Attr::Ints("scan_input_axes", vec![1, 1]),
            Attr::Ints("scan_output_axes", vec![1]),
        ];
        let scan_inputs: Vec<&str> = states.iter().copied().chain([input.as_str(), mask.as_str()]).collect();
        let names: Vec<&str> = outputs.iter().map(String::as_str).collect();
        b.node_outputs("Scan", &scan_inputs, attrs, &names);
        steps.push(match &reversed {
            Some(order) if direction == 1 => gather_steps(b, &y, order),
            _ => y,
        });
        lasts.push(outputs[0].clone());
    }
    let width = Shape::new(units * dirs, options.return_sequences);
    let (parts, axis, lengths) = match options.return_sequences {
        true => (steps, 2, x.lengths.clone()),
        false => (lasts, 1, None),
    };
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let name = match parts.as_slice() {
        [one] => one.to_string(),
        _ => b.node("Concat", &parts, vec![Attr::Int("axis", axis)]),
    };
    Ok(Value {
        name,
        shape: width,
        lengths,
    })
}

/// The loop's body for one direction: state `h` (and `c`), then the step's `x` `[batch, in]`
/// and mask `m` `[batch, 1]` in; the kept state and the step's masked output out.
fn step_body(p: &LayerParams, kind: CellKind, direction: usize, inputs: usize, units: usize) -> Result<GraphProto> {
    let scope = format!("{}.scan{direction}/", p.prefix);
    let mut body = GraphBuilder::scoped(&scope);
    let name = |n: &str| format!("{scope}{n}");
    let (h, c, x, m) = (name("h"), name("c"), name("x"), name("m"));
    let lstm = kind == CellKind::Lstm;
    let (h_step, c_step) = one_step(
        &mut body,
        p,
        (kind, direction),
        (&x, inputs),
        (&h, lstm.then_some(c.as_str())),
        units,
    )?;
    let keep = |body: &mut GraphBuilder, before: &str, after: &str| {
        let change = body.node("Sub", &[after, before], vec![]);
        let change = body.node("Mul", &[&change, &m], vec![]);
        body.node("Add", &[before, &change], vec![])
    };
    let mut inputs = vec![GraphBuilder::unshaped_float(&h)];
    let mut outputs = vec![GraphBuilder::unshaped_float(&keep(&mut body, &h, &h_step))];
    if let Some(c_step) = c_step {
        inputs.push(GraphBuilder::unshaped_float(&c));
        outputs.push(GraphBuilder::unshaped_float(&keep(&mut body, &c, &c_step)));
    }
    inputs.extend([GraphBuilder::unshaped_float(&x), GraphBuilder::unshaped_float(&m)]);
    let y = body.node("Mul", &[&h_step, &m], vec![]);
    outputs.push(GraphBuilder::unshaped_float(&y));
    Ok(GraphProto {
        name: scope,
        input: inputs,
        output: outputs,
        node: body.nodes,
        initializer: body.initializers,
        ..Default::default()
    })
}

/// Zeros `[batch, units]`, the state a loop starts from, for the batch of `x`.
fn zero_state(b: &mut GraphBuilder, x: &str, units: usize) -> String {
    let batch = b.node("Shape", &[x], vec![Attr::Int("start", 0), Attr::Int("end", 1)]);
    let width = b.int64s(&[units as i64]);
    let shape = b.node("Concat", &[&batch, &width], vec![Attr::Int("axis", 0)]);
    let zero = b.floats("zero", &[], &[0.0]);
    b.node("Expand", &[&zero, &shape], vec![])
}

/// `[batch, time, 1]` int64: for each sequence, step `t` read from `length − 1 − t` on its real
/// steps and from `t` past them (zeros either way), which reverses each sequence within its
/// own length (and, applied twice, puts it back).
fn reversal(b: &mut GraphBuilder, x: &str, lengths: &str) -> String {
    let time = b.node("Shape", &[x], vec![Attr::Int("start", 1), Attr::Int("end", 2)]);
    let steps = b.indices(&time);
    let lengths = b.node("Cast", &[lengths], vec![Attr::Int("to", INT64 as i64)]);
    let axis1 = b.int64s(&[1]);
    let lengths = b.node("Unsqueeze", &[&lengths, &axis1], vec![]);
    let one = b.int64_scalar(1);
    let last = b.node("Sub", &[&lengths, &one], vec![]);
    let mirrored = b.node("Sub", &[&last, &steps], vec![]);
    let real = b.node("Less", &[&steps, &lengths], vec![]);
    let order = b.node("Where", &[&real, &mirrored, &steps], vec![]);
    let axis2 = b.int64s(&[2]);
    b.node("Unsqueeze", &[&order, &axis2], vec![])
}

/// `x` (`[batch, time, width]`) with its steps taken in `order` (from [`reversal`]).
fn gather_steps(b: &mut GraphBuilder, x: &str, order: &str) -> String {
    let shape = b.node("Shape", &[x], vec![]);
    let order = b.node("Expand", &[order, &shape], vec![]);
    b.node("GatherElements", &[x, &order], vec![Attr::Int("axis", 1)])
}
