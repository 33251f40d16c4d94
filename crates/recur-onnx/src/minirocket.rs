//! MiniRocket as ONNX nodes: the fixed length-9 kernels of each dilation as one `Conv` (every
//! kernel a filter that weighs its channels −1 or 2 per tap and the other channels 0), each
//! convolution less its biases, and the statistics of the steps above them over each
//! sequence's valid steps, as recur counts them (`max(length, 9)` steps, zeros past the end):
//! the share of steps above (PPV) and, for MultiRocket's pooling, the mean excess (MPV), the
//! mean position (MIPV) and the longest run of steps above (LSPV, a `Scan` over time). The
//! comparison `conv − bias > 0` is the one recur makes (`conv > bias`): a float difference is
//! positive exactly when the first value is larger.

use crate::builder::{Attr, GraphBuilder};
use crate::layers::{LayerParams, Value};
use crate::proto::{GraphProto, FLOAT, INT64};
use crate::{ExportError, Result};
use recur_core::Shape;
use recur_nn::minirocket::{Combination, MiniRocket, MiniRocketOptions, Pooling, KERNELS, MIN_STEPS, TAPS};

/// The nodes of a MiniRocket layer reading the sequence `x` (`[batch, time, channels]`, zero
/// padded); its output is `[batch, features]`, the statistics in recur's blocks.
pub fn minirocket(b: &mut GraphBuilder, p: &LayerParams, x: &Value, options: &MiniRocketOptions) -> Result<Value> {
    let lengths = x.lengths()?;
    // The channel draws come from the config's seed: the same layer recur built.
    let layer = MiniRocket::<f32>::new(x.shape, options);
    let biases = &p.get("biases")?.value;
    if biases.len() != options.biases() {
        return Err(ExportError(format!(
            "{} holds {} biases, its config asks for {}",
            p.prefix,
            biases.len(),
            options.biases()
        )));
    }
    let channels_first = b.node("Transpose", &[&x.name], vec![Attr::Ints("perm", vec![0, 2, 1])]);
    let padded = pad_to_min_steps(b, &channels_first);
    let differences: Vec<String> = layer
        .combinations()
        .chunks(KERNELS)
        .map(|dilation| above_bias(b, p.prefix, &padded, dilation, x.shape.features, biases))
        .collect();
    let names: Vec<&str> = differences.iter().map(String::as_str).collect();
    let difference = b.node("Concat", &names, vec![Attr::Int("axis", 1)]);
    let steps = Steps::of(b, &padded, lengths);
    let positive = b.floats("zero", &[], &[0.0]);
    let above = b.node("Greater", &[&difference, &positive], vec![]);
    let above = b.node("And", &[&above, &steps.valid], vec![]);
    let above = b.node("Cast", &[&above], vec![Attr::Int("to", FLOAT as i64)]);
    let statistics = match layer.pooling() {
        Pooling::Ppv => ppv(b, &above, &steps),
        Pooling::Multi => multi(b, &above, &difference, &steps),
    };
    // recur leaves the features of an empty sequence at zero.
    let zero = b.int32_scalar(0);
    let nonempty = b.node("Greater", &[lengths, &zero], vec![]);
    let nonempty = b.node("Cast", &[&nonempty], vec![Attr::Int("to", FLOAT as i64)]);
    let axis1 = b.int64s(&[1]);
    let nonempty = b.node("Unsqueeze", &[&nonempty, &axis1], vec![]);
    Ok(Value {
        name: b.node("Mul", &[&statistics, &nonempty], vec![]),
        shape: Shape::new(options.output_features(), false),
        lengths: None,
    })
}

/// `x` (`[batch, channels, time]`) with zeros after the last step up to [`MIN_STEPS`] steps,
/// as recur sees a shorter sequence.
fn pad_to_min_steps(b: &mut GraphBuilder, x: &str) -> String {
    let time = b.node("Shape", &[x], vec![Attr::Int("start", 2), Attr::Int("end", 3)]);
    let least = b.int64s(&[MIN_STEPS as i64]);
    let missing = b.node("Sub", &[&least, &time], vec![]);
    let none = b.int64s(&[0]);
    let missing = b.node("Max", &[&missing, &none], vec![]);
    let before = b.int64s(&[0, 0, 0, 0, 0]);
    let pads = b.node("Concat", &[&before, &missing], vec![Attr::Int("axis", 0)]);
    b.node("Pad", &[x, &pads], vec![])
}

/// One dilation's 84 convolutions less each of their biases, `[batch, 84 × biases per
/// kernel, time]` in recur's feature order (kernel by kernel, each kernel's biases in turn).
fn above_bias(
    b: &mut GraphBuilder,
    prefix: &str,
    x: &str,
    dilation: &[Combination],
    channels: usize,
    biases: &[f32],
) -> String {
    let d = dilation[0].dilation;
    let mut weights = vec![0.0f32; KERNELS * channels * TAPS];
    for (k, combination) in dilation.iter().enumerate() {
        for &c in &combination.channels {
            let taps = &mut weights[(k * channels + c) * TAPS..(k * channels + c + 1) * TAPS];
            for (j, w) in taps.iter_mut().enumerate() {
                *w = if combination.taps.contains(&j) { 2.0 } else { -1.0 };
            }
        }
    }
    let weights = b.floats(&format!("{prefix}.kernels_d{d}"), &[KERNELS, channels, TAPS], &weights);
    let half = (TAPS / 2 * d) as i64;
    let attrs = vec![
        Attr::Ints("kernel_shape", vec![TAPS as i64]),
        Attr::Ints("dilations", vec![d as i64]),
        Attr::Ints("pads", vec![half, half]),
    ];
    let conv = b.node("Conv", &[x, &weights], attrs);
    let axis2 = b.int64s(&[2]);
    let conv = b.node("Unsqueeze", &[&conv, &axis2], vec![]);
    let per_kernel = dilation[0].features.len();
    let first = dilation[0].features.start;
    let own = &biases[first..first + KERNELS * per_kernel];
    let own = b.floats(&format!("{prefix}.biases_d{d}"), &[KERNELS, per_kernel, 1], own);
    let difference = b.node("Sub", &[&conv, &own], vec![]);
    let shape = b.int64s(&[0, (KERNELS * per_kernel) as i64, -1]);
    b.node("Reshape", &[&difference, &shape], vec![])
}

/// What the statistics need of each sequence's valid steps (the first `max(length, 9)`).
struct Steps {
    /// `[batch, 1, time]` booleans, true on valid steps.
    valid: String,
    /// `[batch, 1]` float counts of valid steps.
    count: String,
    /// `[time]` float step indices.
    index: String,
}

impl Steps {
    /// The valid steps of the sequences of `lengths` in `x` (`[batch, channels, time]`).
    fn of(b: &mut GraphBuilder, x: &str, lengths: &str) -> Steps {
        let time = b.node("Shape", &[x], vec![Attr::Int("start", 2), Attr::Int("end", 3)]);
        let index = b.indices(&time);
        let count = b.node("Cast", &[lengths], vec![Attr::Int("to", INT64 as i64)]);
        let least = b.int64_scalar(MIN_STEPS as i64);
        let count = b.node("Max", &[&count, &least], vec![]);
        let axis1 = b.int64s(&[1]);
        let count = b.node("Unsqueeze", &[&count, &axis1], vec![]);
        let valid = b.node("Less", &[&index, &count], vec![]);
        let valid = b.node("Unsqueeze", &[&valid, &axis1], vec![]);
        let to_float = || vec![Attr::Int("to", FLOAT as i64)];
        Steps {
            valid,
            count: b.node("Cast", &[&count], to_float()),
            index: b.node("Cast", &[&index], to_float()),
        }
    }
}

/// The sum over time of `x` (`[batch, features, time]`), `[batch, features]`.
fn sum_over_time(b: &mut GraphBuilder, x: &str) -> String {
    let axis2 = b.int64s(&[2]);
    b.node("ReduceSum", &[x, &axis2], vec![Attr::Int("keepdims", 0)])
}

/// The share of valid steps above each bias; `above` is 1 on them, 0 elsewhere.
fn ppv(b: &mut GraphBuilder, above: &str, steps: &Steps) -> String {
    let count = sum_over_time(b, above);
    b.node("Div", &[&count, &steps.count], vec![])
}

/// MultiRocket's four statistics, one block each: PPV, the mean excess over the bias
/// of the steps above it, their mean position as a share of the steps (−1 when there are
/// none), and the longest run of them as a share.
fn multi(b: &mut GraphBuilder, above: &str, difference: &str, steps: &Steps) -> String {
    let count = sum_over_time(b, above);
    let ppv = b.node("Div", &[&count, &steps.count], vec![]);
    let one = b.floats("one", &[], &[1.0]);
    let at_least_one = b.node("Max", &[&count, &one], vec![]);
    let excess = b.node("Mul", &[above, difference], vec![]);
    let excess = sum_over_time(b, &excess);
    let mpv = b.node("Div", &[&excess, &at_least_one], vec![]);
    let positions = b.node("Mul", &[above, &steps.index], vec![]);
    let positions = sum_over_time(b, &positions);
    let mean_position = b.node("Div", &[&positions, &at_least_one], vec![]);
    let mean_position = b.node("Div", &[&mean_position, &steps.count], vec![]);
    let zero = b.floats("zero", &[], &[0.0]);
    let any = b.node("Greater", &[&count, &zero], vec![]);
    let none = b.floats("minus_one", &[], &[-1.0]);
    let mipv = b.node("Where", &[&any, &mean_position, &none], vec![]);
    let longest = longest_run(b, above, &count);
    let lspv = b.node("Div", &[&longest, &steps.count], vec![]);
    b.node("Concat", &[&ppv, &mpv, &mipv, &lspv], vec![Attr::Int("axis", 1)])
}

/// The longest run of consecutive ones along time in `above` (`[batch, features, time]`), by
/// a `Scan` over its steps keeping the current run and the longest so far (`like` gives the
/// `[batch, features]` shape of the zeros they start from).
fn longest_run(b: &mut GraphBuilder, above: &str, like: &str) -> String {
    // `like` is finite, so this is zeros of its shape and type (ConstantOfShape's default
    // type, float32, is one tract reads as float64).
    let zeros = b.node("Sub", &[like, like], vec![]);
    let mut body = GraphBuilder::scoped("longest_run/");
    // The body's values are `[batch, features]`.
    let state = GraphBuilder::unshaped_float;
    let (run, longest, step) = ("longest_run/run", "longest_run/longest", "longest_run/step");
    let one = body.floats("one", &[], &[1.0]);
    let grown = body.node("Add", &[run, &one], vec![]);
    let next_run = body.node("Mul", &[&grown, step], vec![]);
    let next_longest = body.node("Max", &[longest, &next_run], vec![]);
    let graph = GraphProto {
        name: "longest_run".into(),
        input: vec![state(run), state(longest), state(step)],
        output: vec![state(&next_run), state(&next_longest)],
        node: body.nodes,
        initializer: body.initializers,
        ..Default::default()
    };
    let (last_run, longest) = (b.fresh("run"), b.fresh("longest"));
    let attrs = vec![
        Attr::Graph("body", graph),
        Attr::Int("num_scan_inputs", 1),
        Attr::Ints("scan_input_axes", vec![2]),
    ];
    b.node_outputs("Scan", &[&zeros, &zeros, above], attrs, &[&last_run, &longest]);
    longest
}
