//! Each recur layer as ONNX nodes. Every sequence value in the graph keeps recur's padding
//! rule (steps past a sequence's length are zero), so a padded batch gives what each sequence
//! gives alone, as in recur: a layer that could write into the padding is followed by a mask.

use crate::builder::{Attr, GraphBuilder};
use crate::frames;
use crate::recurrent::{recurrent, CellKind};
use crate::{ExportError, Result};
use recur_core::Shape;
use recur_nn::conv1d::{Conv1dConfig, Padding};
use recur_nn::{Activation, LayerConfig, Param, PoolMode};
use std::collections::HashMap;

/// A value flowing through the exported graph: its ONNX name, recur's shape for it and, for a
/// sequence, the name of its int32 `[batch]` lengths.
#[derive(Clone, Debug)]
pub struct Value {
    /// The ONNX value's name.
    pub name: String,
    /// Features per step, and whether there is a time axis.
    pub shape: Shape,
    /// The lengths of a sequence value (None for one vector per sequence).
    pub lengths: Option<String>,
}

impl Value {
    /// The lengths of a sequence value; a layer that needs a time axis has had its input
    /// checked by recur's planner, so a vector here is a bug in the exporter.
    pub(crate) fn lengths(&self) -> Result<&str> {
        self.lengths
            .as_deref()
            .ok_or_else(|| ExportError("a layer that needs a time axis met a vector".into()))
    }
}

/// One layer's tensors, looked up by PyTorch's name under the layer's prefix.
pub struct LayerParams<'a> {
    /// The layer's checkpoint prefix (its node name).
    pub prefix: &'a str,
    /// Every tensor of the model by its full name.
    pub all: &'a HashMap<String, &'a Param<f32>>,
}

impl<'a> LayerParams<'a> {
    /// The tensor `{prefix}.{name}`.
    pub fn get(&self, name: &str) -> Result<&'a Param<f32>> {
        let full = format!("{}.{name}", self.prefix);
        self.all
            .get(&full)
            .copied()
            .ok_or_else(|| ExportError(format!("the model has no tensor `{full}`")))
    }

    /// Adds the tensor `{prefix}.{name}` as a constant as it is stored (PyTorch's layout).
    pub(crate) fn constant(&self, b: &mut GraphBuilder, name: &str) -> Result<String> {
        let p = self.get(name)?;
        Ok(b.floats(&format!("{}.{name}", self.prefix), &p.shape, &p.value))
    }
}

/// Writes the nodes of one layer reading `x`; `opset` picks between operator versions. A
/// layer with no ONNX form is refused with its name and kind.
pub fn emit_layer(b: &mut GraphBuilder, config: &LayerConfig, p: &LayerParams, x: Value, opset: i64) -> Result<Value> {
    let refuse = || {
        Err(ExportError(format!(
            "{} ({}) has no ONNX form in recur's exporter",
            p.prefix,
            config.summary_kind()
        )))
    };
    let keep_shape = |name: String, x: &Value| Value { name, ..x.clone() };
    let out = match config {
        LayerConfig::Dropout(_) => return Ok(x),
        LayerConfig::Dense(c) => dense(b, p, &x, c.units, c.activation)?,
        LayerConfig::Activation(c) => keep_shape(b.activation(&x.name, c.activation), &x),
        LayerConfig::Conv1d(c) => conv1d(b, p, &x, c)?,
        LayerConfig::BatchNorm(c) => batch_norm(b, p, &x, c.epsilon)?,
        LayerConfig::LayerNorm(c) => {
            let (weight, bias) = (p.constant(b, "weight")?, p.constant(b, "bias")?);
            let attrs = vec![Attr::Int("axis", -1), Attr::Float("epsilon", c.epsilon as f32)];
            keep_shape(b.node("LayerNormalization", &[&x.name, &weight, &bias], attrs), &x)
        }
        LayerConfig::Embedding(c) => embedding(b, p, &x, c.output_dim)?,
        LayerConfig::GlobalSumPool(_) => pool(b, &x, PoolMode::Sum, opset)?,
        LayerConfig::GlobalMeanPool(_) => pool(b, &x, PoolMode::Mean, opset)?,
        LayerConfig::GlobalMaxPool(_) => pool(b, &x, PoolMode::Max, opset)?,
        LayerConfig::Lstm(c) => recurrent(b, p, &x, c, CellKind::Lstm)?,
        LayerConfig::Gru(c) => recurrent(b, p, &x, c, CellKind::Gru)?,
        LayerConfig::SimpleRnn(c) => recurrent(b, p, &x, c, CellKind::Rnn)?,
        LayerConfig::GatedActivation(_) => gated_halves(b, &x),
        LayerConfig::RepeatVector(c) => repeat_vector(b, &x, c.n),
        LayerConfig::TimeDistributed(c) if c.layer.applies_per_step() && x.shape.frame.is_none() => {
            return emit_layer(b, &c.layer, p, x, opset)
        }
        LayerConfig::TimeDistributed(c) => frames::per_frame(b, &c.layer, p, &x, opset)?,
        LayerConfig::Conv3d(c) => frames::conv3d(b, p, &x, c)?,
        LayerConfig::MaxPool3d(c) => frames::max_pool3d(b, p, &x, &c.0)?,
        LayerConfig::GlobalAvgPool3d(_) => frames::global_pool3d(b, &x, false, opset)?,
        LayerConfig::GlobalMaxPool3d(_) => frames::global_pool3d(b, &x, true, opset)?,
        // A frame layer outside `time_distributed` reads one frame per sequence, which no
        // exported input gives; a mean over a clip's windows counts each window's real frames.
        LayerConfig::Conv2d(_)
        | LayerConfig::MaxPool2d(_)
        | LayerConfig::AvgPool2d(_)
        | LayerConfig::GlobalAvgPool2d(_)
        | LayerConfig::GlobalMaxPool2d(_)
        | LayerConfig::AvgPool3d(_) => return refuse(),
        LayerConfig::Minirocket(o) => crate::minirocket::minirocket(b, p, &x, o)?,
    };
    Ok(match &out.lengths {
        Some(lengths) => Value {
            name: b.zero_padding(&out.name, lengths),
            ..out.clone()
        },
        None => out,
    })
}

/// `act(x · Wᵀ + b)` as MatMul + Add, for steps (`[batch, time, in]`) and vectors alike.
fn dense(b: &mut GraphBuilder, p: &LayerParams, x: &Value, units: usize, activation: Activation) -> Result<Value> {
    let z = linear(b, &x.name, p.prefix, p.get("weight")?, Some(p.get("bias")?));
    Ok(Value {
        name: b.activation(&z, activation),
        shape: Shape::new(units, x.shape.sequential),
        lengths: x.lengths.clone(),
    })
}

/// `x · Wᵀ (+ b)` for a PyTorch `Linear`'s `weight` (`[out, in]`) and optional `bias`, over
/// the last axis of `x`; the constants are named under `prefix`. Returns the result's name.
pub fn linear(b: &mut GraphBuilder, x: &str, prefix: &str, weight: &Param<f32>, bias: Option<&Param<f32>>) -> String {
    let (units, inputs) = (weight.shape[0], weight.shape[1]);
    // PyTorch stores `[out, in]`; MatMul wants `[in, out]`.
    let mut transposed = vec![0.0f32; inputs * units];
    for (o, row) in weight.value.chunks_exact(inputs).enumerate() {
        for (i, &v) in row.iter().enumerate() {
            transposed[i * units + o] = v;
        }
    }
    let weight = b.floats(&format!("{prefix}.weight_t"), &[inputs, units], &transposed);
    let product = b.node("MatMul", &[x, &weight], vec![]);
    match bias {
        Some(bias) => {
            let bias = b.floats(&format!("{prefix}.bias"), &bias.shape, &bias.value);
            b.node("Add", &[&product, &bias], vec![])
        }
        None => product,
    }
}

/// ONNX `Conv` over the time axis, and the output lengths computed from the input's. recur
/// pads each sequence as if it stood alone; on a zero-padded batch fixed pads do the same,
/// except for `same` with strides above 1 (see [`strided_same_conv`]).
fn conv1d(b: &mut GraphBuilder, p: &LayerParams, x: &Value, c: &Conv1dConfig) -> Result<Value> {
    let span = c.dilation_rate * (c.kernel_size - 1) + 1;
    let lengths = x.lengths()?;
    let (weight, bias) = (p.constant(b, "weight")?, p.constant(b, "bias")?);
    let channels_first = b.node("Transpose", &[&x.name], vec![Attr::Ints("perm", vec![0, 2, 1])]);
    let conv = |b: &mut GraphBuilder, strides: usize, (left, right): (usize, usize)| {
        let attrs = vec![
            Attr::Ints("kernel_shape", vec![c.kernel_size as i64]),
            Attr::Ints("strides", vec![strides as i64]),
            Attr::Ints("dilations", vec![c.dilation_rate as i64]),
            Attr::Ints("pads", vec![left as i64, right as i64]),
        ];
        let z = b.node("Conv", &[&channels_first, &weight, &bias], attrs);
        b.node("Transpose", &[&z], vec![Attr::Ints("perm", vec![0, 2, 1])])
    };
    let z = match c.padding {
        Padding::Same if c.strides > 1 => {
            let every_shift = conv(b, 1, (span - 1, span - 1));
            strided_same_conv(b, &every_shift, lengths, c.strides, span, c.filters)
        }
        Padding::Valid => conv(b, c.strides, (0, 0)),
        Padding::Causal => conv(b, c.strides, (span - 1, 0)),
        Padding::Same => conv(b, c.strides, ((span - 1) / 2, span - 1 - (span - 1) / 2)),
    };
    Ok(Value {
        name: b.activation(&z, c.activation),
        shape: Shape::new(c.filters, true),
        lengths: Some(conv_lengths(b, lengths, c.padding, c.strides, span)),
    })
}

/// Output lengths: `valid` ⌊(L − span)/s⌋ + 1 (0 when L < span), `same` and `causal` ⌈L/s⌉.
pub(crate) fn conv_lengths(
    b: &mut GraphBuilder,
    lengths: &str,
    padding: Padding,
    strides: usize,
    span: usize,
) -> String {
    if strides == 1 && padding != Padding::Valid {
        return lengths.to_string();
    }
    let s = b.int32_scalar(strides as i32);
    match padding {
        Padding::Valid => {
            let shift = b.int32_scalar(strides as i32 - span as i32);
            let shifted = b.node("Add", &[lengths, &shift], vec![]);
            let zero = b.int32_scalar(0);
            let shifted = b.node("Max", &[&shifted, &zero], vec![]);
            b.node("Div", &[&shifted, &s], vec![])
        }
        Padding::Same | Padding::Causal => {
            let shift = b.int32_scalar(strides as i32 - 1);
            let shifted = b.node("Add", &[lengths, &shift], vec![]);
            b.node("Div", &[&shifted, &s], vec![])
        }
    }
}

/// `same` padding with strides: recur pads sequence `b` on the left by `left_b = ⌊total_b/2⌋`,
/// `total_b = max((⌈L_b/s⌉ − 1)·s + span − L_b, 0)` (TensorFlow's rule), which depends on
/// each length, so no one `pads` fits a batch. `every_shift` is the stride-1 convolution
/// (`[batch, time + span − 1, filters]`) with `span − 1` zeros on both sides; output step `t`
/// of sequence `b` is its step `t·s + span − 1 − left_b`, picked with `GatherElements`.
fn strided_same_conv(
    b: &mut GraphBuilder,
    every_shift: &str,
    lengths: &str,
    strides: usize,
    span: usize,
    filters: usize,
) -> String {
    let int = |b: &mut GraphBuilder, v: usize| b.int64_scalar(v as i64);
    let (zero, one, two, s, span_c) = (int(b, 0), int(b, 1), int(b, 2), int(b, strides), int(b, span));
    let (s_less_one, span_less_one) = (int(b, strides - 1), int(b, span - 1));
    let len = b.node("Cast", &[lengths], vec![Attr::Int("to", crate::proto::INT64 as i64)]);
    let rounded = b.node("Add", &[&len, &s_less_one], vec![]);
    let out_len = b.node("Div", &[&rounded, &s], vec![]);
    let covered = b.node("Sub", &[&out_len, &one], vec![]);
    let covered = b.node("Mul", &[&covered, &s], vec![]);
    let covered = b.node("Add", &[&covered, &span_c], vec![]);
    let total = b.node("Sub", &[&covered, &len], vec![]);
    let total = b.node("Max", &[&total, &zero], vec![]);
    let left = b.node("Div", &[&total, &two], vec![]);
    let offset = b.node("Sub", &[&span_less_one, &left], vec![]);
    let axis1 = b.int64s(&[1]);
    let offset = b.node("Unsqueeze", &[&offset, &axis1], vec![]);
    // Output steps ⌈T_padded/s⌉ = ⌈(U − span + 1)/s⌉ for the U steps of `every_shift`.
    let steps = b.node(
        "Shape",
        &[every_shift],
        vec![Attr::Int("start", 1), Attr::Int("end", 2)],
    );
    let axis0 = b.int64s(&[0]);
    let steps = b.node("Squeeze", &[&steps, &axis0], vec![]);
    let last = b.node("Sub", &[&steps, &one], vec![]);
    let out_steps = b.node("Add", &[&steps, &s], vec![]);
    let out_steps = b.node("Sub", &[&out_steps, &span_c], vec![]);
    let out_steps = b.node("Div", &[&out_steps, &s], vec![]);
    let out_steps = b.node("Unsqueeze", &[&out_steps, &axis0], vec![]);
    let t = b.indices(&out_steps);
    let t = b.node("Mul", &[&t, &s], vec![]);
    let index = b.node("Add", &[&t, &offset], vec![]);
    // Padded output steps may point past the end; they are masked afterwards.
    let index = b.node("Min", &[&index, &last], vec![]);
    let axis2 = b.int64s(&[2]);
    let index = b.node("Unsqueeze", &[&index, &axis2], vec![]);
    let width = b.int64s(&[1, 1, filters as i64]);
    let index = b.node("Expand", &[&index, &width], vec![]);
    b.node("GatherElements", &[every_shift, &index], vec![Attr::Int("axis", 1)])
}

/// Inference-mode batch normalisation folded into one scale and shift per feature (computed
/// in f64 from the running statistics, as PyTorch's `eval()` uses them).
fn batch_norm(b: &mut GraphBuilder, p: &LayerParams, x: &Value, epsilon: f64) -> Result<Value> {
    let (weight, bias) = (p.get("weight")?, p.get("bias")?);
    let (mean, var) = (p.get("running_mean")?, p.get("running_var")?);
    let scale: Vec<f64> = (0..weight.len())
        .map(|j| weight.value[j] as f64 / (var.value[j] as f64 + epsilon).sqrt())
        .collect();
    let shift: Vec<f32> = (0..weight.len())
        .map(|j| (bias.value[j] as f64 - mean.value[j] as f64 * scale[j]) as f32)
        .collect();
    let scale: Vec<f32> = scale.into_iter().map(|s| s as f32).collect();
    // Over frames the statistics are per channel, repeated over each frame's pixels.
    let (scale, shift) = (frames::per_pixel(scale, x.shape), frames::per_pixel(shift, x.shape));
    let width = scale.len();
    let scale = b.floats(&format!("{}.scale", p.prefix), &[width], &scale);
    let shift = b.floats(&format!("{}.shift", p.prefix), &[width], &shift);
    let scaled = b.node("Mul", &[&x.name, &scale], vec![]);
    Ok(Value {
        name: b.node("Add", &[&scaled, &shift], vec![]),
        ..x.clone()
    })
}

/// The token id in each step's one feature, looked up in the table with `Gather`.
fn embedding(b: &mut GraphBuilder, p: &LayerParams, x: &Value, width: usize) -> Result<Value> {
    let table = p.constant(b, "weight")?;
    let last = b.int64s(&[-1]);
    let ids = b.node("Squeeze", &[&x.name, &last], vec![]);
    let ids = b.node("Cast", &[&ids], vec![Attr::Int("to", crate::proto::INT64 as i64)]);
    Ok(Value {
        name: b.node("Gather", &[&table, &ids], vec![Attr::Int("axis", 0)]),
        shape: Shape::new(width, x.shape.sequential),
        lengths: x.lengths.clone(),
    })
}

/// Sum, mean or max of each feature over a sequence's real steps. The input's padding is
/// zero, so the sum needs no mask; max fills the padding with the lowest float first.
fn pool(b: &mut GraphBuilder, x: &Value, mode: PoolMode, opset: i64) -> Result<Value> {
    let lengths = x.lengths()?;
    let name = match mode {
        PoolMode::Sum | PoolMode::Mean => {
            let time = b.int64s(&[1]);
            let sum = b.node("ReduceSum", &[&x.name, &time], vec![Attr::Int("keepdims", 0)]);
            if mode == PoolMode::Sum {
                sum
            } else {
                // recur leaves an empty sequence's mean at zero; dividing by max(L, 1) agrees.
                let one = b.int32_scalar(1);
                let count = b.node("Max", &[lengths, &one], vec![]);
                let count = b.node("Cast", &[&count], vec![Attr::Int("to", crate::proto::FLOAT as i64)]);
                let axis = b.int64s(&[1]);
                let count = b.node("Unsqueeze", &[&count, &axis], vec![]);
                b.node("Div", &[&sum, &count], vec![])
            }
        }
        PoolMode::Max => {
            let mask = b.step_mask(&x.name, lengths);
            let axis = b.int64s(&[2]);
            let mask = b.node("Unsqueeze", &[&mask, &axis], vec![]);
            let lowest = b.floats("lowest", &[], &[f32::MIN]);
            let masked = b.node("Where", &[&mask, &x.name, &lowest], vec![]);
            reduce_max(b, &masked, &[1], opset)
        }
    };
    Ok(Value {
        name,
        shape: Shape::new(x.shape.features, false),
        lengths: None,
    })
}

/// The max of `x` over `axes`, which are dropped.
pub(crate) fn reduce_max(b: &mut GraphBuilder, x: &str, axes: &[i64], opset: i64) -> String {
    let keep = Attr::Int("keepdims", 0);
    // Opset 18 moved ReduceMax's axes from an attribute to an input.
    if opset >= 18 {
        let axes = b.int64s(axes);
        b.node("ReduceMax", &[x, &axes], vec![keep])
    } else {
        b.node("ReduceMax", &[x], vec![Attr::Ints("axes", axes.to_vec()), keep])
    }
}

/// WaveNet's gate on one input: `tanh(a) · sigmoid(b)` of its halves `[a, b]`.
fn gated_halves(b: &mut GraphBuilder, x: &Value) -> Value {
    let half = x.shape.features / 2;
    let axis = b.int64s(&[-1]);
    let (zero, middle, end) = (b.int64s(&[0]), b.int64s(&[half as i64]), b.int64s(&[2 * half as i64]));
    let first = b.node("Slice", &[&x.name, &zero, &middle, &axis], vec![]);
    let second = b.node("Slice", &[&x.name, &middle, &end, &axis], vec![]);
    Value {
        name: gate(b, &first, &second),
        shape: Shape::new(half, x.shape.sequential),
        lengths: x.lengths.clone(),
    }
}

/// `tanh(a) · sigmoid(b)`.
pub fn gate(b: &mut GraphBuilder, a: &str, gate: &str) -> String {
    let a = b.node("Tanh", &[a], vec![]);
    let gate = b.node("Sigmoid", &[gate], vec![]);
    b.node("Mul", &[&a, &gate], vec![])
}

/// A vector repeated `n` times into a sequence of `n` steps, every sequence `n` long.
fn repeat_vector(b: &mut GraphBuilder, x: &Value, n: usize) -> Value {
    let axis = b.int64s(&[1]);
    let steps = b.node("Unsqueeze", &[&x.name, &axis], vec![]);
    let target = b.int64s(&[1, n as i64, 1]);
    let batch = b.node("Shape", &[&x.name], vec![Attr::Int("start", 0), Attr::Int("end", 1)]);
    let n = b.int32_scalar(n as i32);
    Value {
        name: b.node("Expand", &[&steps, &target], vec![]),
        shape: Shape::new(x.shape.features, true),
        lengths: Some(b.node("Expand", &[&n, &batch], vec![])),
    }
}
