//! [`GraphBuilder`]: appends ONNX nodes and constants under fresh names, and the few
//! sub-graphs every layer needs (a padding mask from lengths, an activation).

use crate::proto::{
    attribute_type, AttributeProto, GraphProto, NodeProto, TensorProto, TensorTypeProto, TypeProto, ValueInfoProto,
    FLOAT, INT32, INT64,
};
use recur_nn::activation::Activation;

/// A node's setting, converted to an [`AttributeProto`] by [`GraphBuilder::node`].
pub enum Attr<'a> {
    /// An integer.
    Int(&'a str, i64),
    /// A float.
    Float(&'a str, f32),
    /// A string.
    Str(&'a str, &'a str),
    /// A list of integers.
    Ints(&'a str, Vec<i64>),
    /// A sub-graph.
    Graph(&'a str, GraphProto),
}

impl Attr<'_> {
    fn proto(self) -> AttributeProto {
        let mut a = AttributeProto::default();
        match self {
            Attr::Int(name, v) => (a.name, a.r#type, a.i) = (name.into(), attribute_type::INT, Some(v)),
            Attr::Float(name, v) => (a.name, a.r#type, a.f) = (name.into(), attribute_type::FLOAT, Some(v)),
            Attr::Str(name, v) => {
                (a.name, a.r#type, a.s) = (name.into(), attribute_type::STRING, Some(v.as_bytes().to_vec()))
            }
            Attr::Ints(name, v) => (a.name, a.r#type, a.ints) = (name.into(), attribute_type::INTS, v),
            Attr::Graph(name, g) => (a.name, a.r#type, a.g) = (name.into(), attribute_type::GRAPH, Some(Box::new(g))),
        }
        a
    }
}

/// How recurrent layers are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Recurrence {
    /// ONNX's `LSTM`/`GRU`/`RNN` operators, each sequence's length through `sequence_lens`:
    /// the form runtimes with fused recurrent kernels (ONNX Runtime, OpenVINO) run fastest.
    #[default]
    Operators,
    /// A `Scan` loop over time whose body is one step of the same operator, the state kept
    /// past each sequence's end: for runtimes whose recurrent operators take `sequence_lens`
    /// only as a constant (tract), which then run padded batches too.
    Scan,
}

/// The nodes and constants of a graph under construction. Every value gets a fresh name
/// (`{prefix}/{op}_{n}`), so layers never clash whatever their node names.
#[derive(Default)]
pub struct GraphBuilder {
    /// Nodes in the order they were added (each after what it reads).
    pub nodes: Vec<NodeProto>,
    /// Constants.
    pub initializers: Vec<TensorProto>,
    /// How the graph's recurrent layers are written.
    pub recurrence: Recurrence,
    count: usize,
    /// Put before every name: a sub-graph's names must differ from its outer graph's.
    scope: String,
}

impl GraphBuilder {
    /// A builder for a whole graph whose recurrent layers are written as `recurrence` says.
    pub fn writing(recurrence: Recurrence) -> Self {
        GraphBuilder {
            recurrence,
            ..Default::default()
        }
    }

    /// A builder for a sub-graph whose names all start with `scope`.
    pub fn scoped(scope: &str) -> Self {
        GraphBuilder {
            scope: scope.into(),
            ..Default::default()
        }
    }

    /// A name no other value of the graph has.
    pub fn fresh(&mut self, hint: &str) -> String {
        self.count += 1;
        format!("{}{hint}_{}", self.scope, self.count)
    }

    /// Appends a one-output node and returns its output's name.
    pub fn node(&mut self, op: &str, inputs: &[&str], attrs: Vec<Attr>) -> String {
        let out = self.fresh(op);
        self.node_outputs(op, inputs, attrs, &[&out]);
        out
    }

    /// Appends a node writing the given outputs (an empty name skips an optional one).
    pub fn node_outputs(&mut self, op: &str, inputs: &[&str], attrs: Vec<Attr>, outputs: &[&str]) {
        let name = format!("{}{op}_node_{}", self.scope, self.nodes.len());
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.iter().map(|s| s.to_string()).collect(),
            name,
            op_type: op.into(),
            attribute: attrs.into_iter().map(Attr::proto).collect(),
        });
    }

    /// Adds a float32 constant and returns its name.
    pub fn floats(&mut self, hint: &str, dims: &[usize], values: &[f32]) -> String {
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.constant(hint, dims, FLOAT, raw)
    }

    /// Adds an int64 constant (shapes, axes, indices) and returns its name.
    pub fn int64s(&mut self, values: &[i64]) -> String {
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.constant("ints", &[values.len()], INT64, raw)
    }

    /// Adds an int32 scalar constant (arithmetic on lengths) and returns its name.
    pub fn int32_scalar(&mut self, value: i32) -> String {
        self.constant("int", &[], INT32, value.to_le_bytes().to_vec())
    }

    fn constant(&mut self, hint: &str, dims: &[usize], data_type: i32, raw_data: Vec<u8>) -> String {
        let name = self.fresh(hint);
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type,
            name: name.clone(),
            raw_data,
        });
        name
    }

    /// `[batch, time]` booleans, true on the real steps of a `[batch, time, …]` value `x`
    /// whose sequences have the int32 `lengths`.
    pub fn step_mask(&mut self, x: &str, lengths: &str) -> String {
        let time = self.node("Shape", &[x], vec![Attr::Int("start", 1), Attr::Int("end", 2)]);
        let steps = self.indices(&time);
        let lengths = self.node("Cast", &[lengths], vec![Attr::Int("to", INT64 as i64)]);
        let axis1 = self.int64s(&[1]);
        let lengths = self.node("Unsqueeze", &[&lengths, &axis1], vec![]);
        self.node("Less", &[&steps, &lengths], vec![])
    }

    /// `0, 1, …, n − 1` (int64 `[n]`) for `count`, the one-element int64 tensor `[n]` (as
    /// `Shape` gives a dimension). Written as a running sum of ones rather than ONNX's `Range`:
    /// tract's shape inference types `Range`'s output as its symbolic size type and then cannot
    /// unify it with the int64 it is compared with, while ONNX Runtime and tract both run this.
    pub fn indices(&mut self, count: &str) -> String {
        let one = self.int64s(&[1]);
        let ones = self.node("Expand", &[&one, count], vec![]);
        let axis0 = self.int64_scalar(0);
        let counted = self.node("CumSum", &[&ones, &axis0], vec![]);
        self.node("Sub", &[&counted, &one], vec![])
    }

    /// A float32 value of a loop body, left unshaped: tract will not unify a named batch axis
    /// there with the batch it is given.
    pub fn unshaped_float(name: &str) -> ValueInfoProto {
        ValueInfoProto {
            name: name.into(),
            r#type: Some(TypeProto {
                tensor_type: Some(TensorTypeProto {
                    elem_type: FLOAT,
                    shape: None,
                }),
            }),
            doc_string: String::new(),
        }
    }

    /// Adds an int64 scalar constant and returns its name.
    pub fn int64_scalar(&mut self, value: i64) -> String {
        self.constant("int", &[], INT64, value.to_le_bytes().to_vec())
    }

    /// `x` (`[batch, time, features]`) with the steps past each sequence's length set to
    /// zero, the padding rule recur's own values keep.
    pub fn zero_padding(&mut self, x: &str, lengths: &str) -> String {
        let mask = self.step_mask(x, lengths);
        let mask = self.node("Cast", &[&mask], vec![Attr::Int("to", FLOAT as i64)]);
        let axis2 = self.int64s(&[2]);
        let mask = self.node("Unsqueeze", &[&mask, &axis2], vec![]);
        self.node("Mul", &[x, &mask], vec![])
    }

    /// `activation(x)`, element-wise. GELU is written out in its exact erf form (ONNX's own
    /// `Gelu` arrives only in opset 20).
    pub fn activation(&mut self, x: &str, activation: Activation) -> String {
        match activation {
            Activation::Linear => x.to_string(),
            Activation::Relu => self.node("Relu", &[x], vec![]),
            Activation::Tanh => self.node("Tanh", &[x], vec![]),
            Activation::Sigmoid => self.node("Sigmoid", &[x], vec![]),
            Activation::Gelu => {
                let root2 = self.floats("sqrt2", &[], &[std::f32::consts::SQRT_2]);
                let (half, one) = (self.floats("half", &[], &[0.5]), self.floats("one", &[], &[1.0]));
                let scaled = self.node("Div", &[x, &root2], vec![]);
                let erf = self.node("Erf", &[&scaled], vec![]);
                let cdf = self.node("Add", &[&erf, &one], vec![]);
                let cdf = self.node("Mul", &[&cdf, &half], vec![]);
                self.node("Mul", &[x, &cdf], vec![])
            }
        }
    }
}
