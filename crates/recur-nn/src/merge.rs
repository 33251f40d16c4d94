//! Merges: layer-free nodes that combine several inputs of a graph (Keras's `Add`,
//! `Multiply`, `Concatenate`, and WaveNet's gate `tanh(a) · sigmoid(b)` of two inputs).
//!
//! Sequences merged step by step must line up: the same time axis and the same lengths (they
//! come from the same input through length-preserving layers). Padded steps stay zero, and so
//! do their gradients.

use crate::gated::{gate, gate_gradients, Gates};
use recur_core::{Float, Seq, Shape};

/// A merge of two or more inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merge {
    /// Element-wise sum.
    Add,
    /// Element-wise product.
    Multiply,
    /// Features side by side, in input order.
    Concatenate,
    /// `tanh(first) · sigmoid(second)`.
    Gated,
}

/// What a merge's backward needs.
pub struct MergeTape<T> {
    /// The inputs, which the product rule needs (multiply).
    inputs: Vec<Seq<T>>,
    /// Each input's width (concatenate).
    widths: Vec<usize>,
    /// The gate's activations (gated).
    gates: Option<Gates<T>>,
}

impl Merge {
    /// The merge a config `type` names, given how many inputs the node has (a one-input
    /// `gated_activation` is the layer that splits its input in halves).
    pub fn from_type(kind: &str, inputs: usize) -> Option<Merge> {
        match kind {
            "add" => Some(Merge::Add),
            "multiply" => Some(Merge::Multiply),
            "concatenate" => Some(Merge::Concatenate),
            "gated_activation" if inputs == 2 => Some(Merge::Gated),
            _ => None,
        }
    }

    /// The config `type`.
    pub fn kind(self) -> &'static str {
        match self {
            Merge::Add => "add",
            Merge::Multiply => "multiply",
            Merge::Concatenate => "concatenate",
            Merge::Gated => "gated_activation",
        }
    }

    /// Checks the input shapes and returns the output shape.
    pub fn output_shape(self, inputs: &[Shape]) -> Result<Shape, String> {
        let Some(&first) = inputs.first() else {
            return Err(format!("{} needs inputs", self.kind()));
        };
        match self {
            Merge::Gated if inputs.len() != 2 => return Err("gated_activation takes two inputs".into()),
            _ if inputs.len() < 2 => return Err(format!("{} takes two or more inputs", self.kind())),
            _ => {}
        }
        if let Some(other) = inputs.iter().find(|s| s.sequential != first.sequential) {
            return Err(format!(
                "{} cannot merge a sequence with one vector per sequence ({} and {})",
                self.kind(),
                crate::spec::describe(first),
                crate::spec::describe(*other)
            ));
        }
        if self == Merge::Concatenate {
            return Ok(Shape::new(inputs.iter().map(|s| s.features).sum(), first.sequential));
        }
        if let Some(other) = inputs.iter().find(|s| s.features != first.features) {
            return Err(format!(
                "{} needs inputs of one width, got {} and {} features",
                self.kind(),
                first.features,
                other.features
            ));
        }
        Ok(first)
    }

    /// Merges `xs`; fails when sequences do not line up step by step. `training` keeps what
    /// backward needs.
    pub fn forward<T: Float>(self, xs: Vec<Seq<T>>, training: bool) -> Result<(Seq<T>, Option<MergeTape<T>>), String> {
        let first = &xs[0];
        if let Some(other) = xs
            .iter()
            .find(|x| x.batch != first.batch || x.time != first.time || x.lengths != first.lengths)
        {
            return Err(format!(
                "{} needs inputs that line up step by step, but one has batch {} and lengths {:?}, another batch {} and lengths {:?}",
                self.kind(),
                first.batch,
                first.lengths,
                other.batch,
                other.lengths
            ));
        }
        let y = match self {
            Merge::Add => {
                let mut y = first.clone();
                for x in &xs[1..] {
                    y.data.iter_mut().zip(&x.data).for_each(|(a, &b)| *a += b);
                }
                y
            }
            Merge::Multiply => {
                let mut y = first.clone();
                for x in &xs[1..] {
                    y.data.iter_mut().zip(&x.data).for_each(|(a, &b)| *a *= b);
                }
                y
            }
            Merge::Concatenate => {
                let width: usize = xs.iter().map(|x| x.features).sum();
                let mut y = Seq::zeros_like(first, width);
                for row in 0..first.batch * first.time {
                    let mut at = row * width;
                    for x in &xs {
                        let f = x.features;
                        y.data[at..at + f].copy_from_slice(&x.data[row * f..(row + 1) * f]);
                        at += f;
                    }
                }
                y
            }
            Merge::Gated => {
                let mut xs = xs.into_iter();
                let (a, b) = (xs.next(), xs.next());
                let (y, gates) = gate(a.expect("two inputs"), b.expect("two inputs"));
                let tape = training.then(|| MergeTape {
                    inputs: Vec::new(),
                    widths: Vec::new(),
                    gates: Some(gates),
                });
                return Ok((y, tape));
            }
        };
        let widths = xs.iter().map(|x| x.features).collect();
        let inputs = if self == Merge::Multiply { xs } else { Vec::new() };
        Ok((
            y,
            training.then_some(MergeTape {
                inputs,
                widths,
                gates: None,
            }),
        ))
    }

    /// The gradient of each input, given the output's gradient `dy`, for `n` inputs.
    pub fn backward<T: Float>(self, tape: MergeTape<T>, dy: Seq<T>, n: usize) -> Vec<Seq<T>> {
        match self {
            Merge::Add => vec![dy; n],
            Merge::Multiply => (0..n)
                .map(|i| {
                    let mut g = dy.clone();
                    for (j, x) in tape.inputs.iter().enumerate() {
                        if j != i {
                            g.data.iter_mut().zip(&x.data).for_each(|(a, &b)| *a *= b);
                        }
                    }
                    g
                })
                .collect(),
            Merge::Concatenate => {
                let width = dy.features;
                let mut offset = 0;
                tape.widths
                    .iter()
                    .map(|&f| {
                        let mut g = Seq::zeros_like(&dy, f);
                        for row in 0..dy.batch * dy.time {
                            g.data[row * f..(row + 1) * f]
                                .copy_from_slice(&dy.data[row * width + offset..row * width + offset + f]);
                        }
                        offset += f;
                        g
                    })
                    .collect()
            }
            Merge::Gated => {
                let gates = tape.gates.expect("a gated merge's tape holds its gates");
                let (da, db) = gate_gradients(&gates, dy);
                vec![da, db]
            }
        }
    }
}
