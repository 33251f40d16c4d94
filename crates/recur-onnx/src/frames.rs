//! Sequences of image frames as ONNX nodes. A frame value flows as `[batch, time, height ·
//! width · channels]` (recur's channels-last layout, flattened), so the padding rule and the
//! per-step layers (activations, batch normalisation) work on it as on any sequence. A layer
//! over one frame (`time_distributed` `conv2d` and pools) folds time into the batch
//! (`[batch · time, channels, height, width]`, ONNX's layout); a layer over a clip (`conv3d`,
//! the 3-D pools) reads `[batch, channels, time, height, width]`. Frames past a clip's length
//! are zero, as recur's are, so a convolution over time reads what recur's own zero padding
//! gives; a max over time fills them with the lowest float first.

use crate::builder::{Attr, GraphBuilder};
use crate::layers::{reduce_max, LayerParams, Value};
use crate::{ExportError, Result};
use recur_core::{Frame, Shape};
use recur_nn::conv1d::{ConvGeometry, Padding};
use recur_nn::conv2d::{Conv2dConfig, Window2d};
use recur_nn::conv3d::{Conv3dConfig, Window3d};
use recur_nn::pool2d::Pool2dConfig;
use recur_nn::pool3d::Pool3dConfig;
use recur_nn::LayerConfig;

/// The frame of a value, or why a frame layer cannot read it.
fn frame_of(x: &Value) -> Result<Frame> {
    x.shape
        .frame
        .ok_or_else(|| ExportError("a frame layer met a value that is not frames".into()))
}

/// `(before, after)` zeros along one axis of `n` cells, as recur pads it (`same`: TensorFlow's
/// split, the odd one after).
fn pads(g: &ConvGeometry, n: usize) -> (i64, i64) {
    let span = g.dilation_rate * (g.kernel_size - 1) + 1;
    let out = g.output_len(n);
    let total = ((out.max(1) - 1) * g.strides + span).saturating_sub(n);
    let before = g.left_pad(n);
    (before as i64, (total - before) as i64)
}

/// Kernel, stride, dilation and pads attributes of a window over a frame, behind `time`'s
/// (before, after) pads and sizes for a clip.
fn window_attrs(window: &Window2d, frame: Frame, time: Option<(&ConvGeometry, (i64, i64))>) -> Vec<Attr<'static>> {
    let (rows, cols) = (pads(&window.rows, frame.height), pads(&window.cols, frame.width));
    let mut axes = vec![(&window.rows, rows), (&window.cols, cols)];
    if let Some(t) = time {
        axes.insert(0, t);
    }
    let each = |f: &dyn Fn(&ConvGeometry) -> usize| axes.iter().map(|(g, _)| f(g) as i64).collect::<Vec<_>>();
    let mut pads: Vec<i64> = axes.iter().map(|(_, p)| p.0).collect();
    pads.extend(axes.iter().map(|(_, p)| p.1));
    vec![
        Attr::Ints("kernel_shape", each(&|g| g.kernel_size)),
        Attr::Ints("strides", each(&|g| g.strides)),
        Attr::Ints("dilations", each(&|g| g.dilation_rate)),
        Attr::Ints("pads", pads),
    ]
}

/// `[batch, time, frame values]` as `[batch · time, channels, height, width]`.
fn to_images(b: &mut GraphBuilder, x: &str, f: Frame) -> String {
    let shape = b.int64s(&[-1, f.height as i64, f.width as i64, f.channels as i64]);
    let images = b.node("Reshape", &[x, &shape], vec![]);
    b.node("Transpose", &[&images], vec![Attr::Ints("perm", vec![0, 3, 1, 2])])
}

/// `[batch · time, …]` values back as `[batch, time, width]`, the batch and time of `like`.
fn fold_time_back(b: &mut GraphBuilder, y: &str, like: &str, width: usize) -> String {
    let batch_time = b.node("Shape", &[like], vec![Attr::Int("start", 0), Attr::Int("end", 2)]);
    let width = b.int64s(&[width as i64]);
    let shape = b.node("Concat", &[&batch_time, &width], vec![Attr::Int("axis", 0)]);
    b.node("Reshape", &[y, &shape], vec![])
}

/// A frame layer under `time_distributed`, every frame on its own.
pub fn per_frame(b: &mut GraphBuilder, layer: &LayerConfig, p: &LayerParams, x: &Value, opset: i64) -> Result<Value> {
    let f = frame_of(x)?;
    let out = layer
        .output_shape(Shape::frames(f, false))
        .map_err(|e| ExportError(format!("{}: {e}", p.prefix)))?;
    let images = to_images(b, &x.name, f);
    let y = match layer {
        LayerConfig::Conv2d(c) => conv2d(b, p, &images, f, c)?,
        LayerConfig::MaxPool2d(c) => pool2d(b, &images, f, &c.0, "MaxPool"),
        LayerConfig::AvgPool2d(c) => pool2d(b, &images, f, &c.0, "AveragePool"),
        LayerConfig::GlobalAvgPool2d(_) => {
            let axes = b.int64s(&[2, 3]);
            let sum = b.node("ReduceSum", &[&images, &axes], vec![Attr::Int("keepdims", 0)]);
            let pixels = b.floats("pixels", &[], &[f.pixels() as f32]);
            b.node("Div", &[&sum, &pixels], vec![])
        }
        LayerConfig::GlobalMaxPool2d(_) => reduce_max(b, &images, &[2, 3], opset),
        _ => {
            return Err(ExportError(format!(
                "{} (time_distributed {}) has no ONNX form in recur's exporter",
                p.prefix,
                layer.summary_kind()
            )))
        }
    };
    let y = match out.frame {
        Some(_) => b.node("Transpose", &[&y], vec![Attr::Ints("perm", vec![0, 2, 3, 1])]),
        None => y,
    };
    Ok(Value {
        name: fold_time_back(b, &y, &x.name, out.features),
        shape: Shape {
            sequential: true,
            ..out
        },
        lengths: x.lengths.clone(),
    })
}

fn conv2d(b: &mut GraphBuilder, p: &LayerParams, images: &str, f: Frame, c: &Conv2dConfig) -> Result<String> {
    let window = Window2d::new(c.kernel_size.get(), c.strides.get(), c.dilation_rate.get(), c.padding);
    let (weight, bias) = (p.constant(b, "weight")?, p.constant(b, "bias")?);
    let z = b.node("Conv", &[images, &weight, &bias], window_attrs(&window, f, None));
    Ok(b.activation(&z, c.activation))
}

fn pool2d(b: &mut GraphBuilder, images: &str, f: Frame, c: &Pool2dConfig, op: &str) -> String {
    let size = c.pool_size.get();
    let window = Window2d::new(size, c.strides.map_or(size, |s| s.get()), [1, 1], c.padding);
    b.node(op, &[images], pool_attrs(window_attrs(&window, f, None), op))
}

/// A pool's attributes: a window's less `dilations` (ONNX's `MaxPool` takes them, its
/// `AveragePool` not before opset 19), and for a mean the rule that padding is not counted.
fn pool_attrs(mut attrs: Vec<Attr<'static>>, op: &str) -> Vec<Attr<'static>> {
    attrs.retain(|a| !matches!(a, Attr::Ints("dilations", _)));
    if op == "AveragePool" {
        attrs.push(Attr::Int("count_include_pad", 0));
    }
    attrs
}

/// `[batch, time, frame values]` as `[batch, channels, time, height, width]`.
fn to_clips(b: &mut GraphBuilder, x: &str, f: Frame) -> String {
    let shape = b.int64s(&[0, 0, f.height as i64, f.width as i64, f.channels as i64]);
    let clips = b.node("Reshape", &[x, &shape], vec![]);
    b.node("Transpose", &[&clips], vec![Attr::Ints("perm", vec![0, 4, 1, 2, 3])])
}

/// `[batch, channels, time, height, width]` back as `[batch, time, frame values]`.
fn from_clips(b: &mut GraphBuilder, y: &str, f: Frame) -> String {
    let frames = b.node("Transpose", &[y], vec![Attr::Ints("perm", vec![0, 2, 3, 4, 1])]);
    let shape = b.int64s(&[0, 0, f.len() as i64]);
    b.node("Reshape", &[&frames, &shape], vec![])
}

/// The time axis's pads: recur pads each clip at its own ends, which one `pads` matches when
/// every length gets the same zeros before its first frame (always at stride 1, and for
/// windows no longer than two strides); the zeros after are enough for the batch's longest
/// clip, whose extra output steps are cut by [`cut_time`].
fn time_pads(g: &ConvGeometry, prefix: &str, kind: &str) -> Result<(i64, i64)> {
    let span = g.dilation_rate * (g.kernel_size - 1) + 1;
    let before = g.left_pad(1);
    if (1..=span + 2 * g.strides).any(|len| g.left_pad(len) != before) {
        return Err(ExportError(format!(
            "{prefix} ({kind}): `same` padding over time with {} steps of stride pads each clip by its own \
             length, which no one ONNX `pads` does; recur's exporter does not write it",
            g.strides
        )));
    }
    Ok(match g.padding {
        Padding::Valid => (0, 0),
        _ => (before as i64, (span - 1) as i64),
    })
}

/// `y` (`[batch, channels, time', …]`) cut to the output steps recur gives the batch's
/// `time` input steps: `⌈time/s⌉` for `same`, `⌊(time − span)/s⌋ + 1` for `valid`.
fn cut_time(b: &mut GraphBuilder, y: &str, clips: &str, g: &ConvGeometry) -> String {
    if g.padding == Padding::Valid {
        return y.to_string();
    }
    let time = b.node("Shape", &[clips], vec![Attr::Int("start", 2), Attr::Int("end", 3)]);
    let s = b.int64s(&[g.strides as i64]);
    let rounded = b.int64s(&[g.strides as i64 - 1]);
    let time = b.node("Add", &[&time, &rounded], vec![]);
    let steps = b.node("Div", &[&time, &s], vec![]);
    let (zero, axis) = (b.int64s(&[0]), b.int64s(&[2]));
    b.node("Slice", &[y, &zero, &steps, &axis], vec![])
}

/// A 3-D convolution over each clip.
pub fn conv3d(b: &mut GraphBuilder, p: &LayerParams, x: &Value, c: &Conv3dConfig) -> Result<Value> {
    let window = Window3d::new(c.kernel_size.get(), c.strides.get(), c.dilation_rate.get(), c.padding);
    let (weight, bias) = (p.constant(b, "weight")?, p.constant(b, "bias")?);
    let (f, time) = (frame_of(x)?, &window.time);
    let attrs = window_attrs(&window.frame, f, Some((time, time_pads(time, p.prefix, "conv3d")?)));
    let clips = to_clips(b, &x.name, f);
    let z = b.node("Conv", &[&clips, &weight, &bias], attrs);
    let z = cut_time(b, &z, &clips, time);
    let z = b.activation(&z, c.activation);
    let out = Frame {
        channels: c.filters,
        ..window_output(&window.frame, f)?
    };
    clip_value(b, &z, x, out, time)
}

/// The frame a window gives, or why it gives none.
fn window_output(window: &Window2d, f: Frame) -> Result<Frame> {
    let [height, width] = window.output_size(f).map_err(ExportError)?;
    Ok(Frame { height, width, ..f })
}

/// `y` (`[batch, channels, time, height, width]`) as the sequence value of frames `out`,
/// with the lengths the time window `g` gives the input's.
fn clip_value(b: &mut GraphBuilder, y: &str, x: &Value, out: Frame, g: &ConvGeometry) -> Result<Value> {
    let span = g.dilation_rate * (g.kernel_size - 1) + 1;
    let lengths = crate::layers::conv_lengths(b, x.lengths()?, g.padding, g.strides, span);
    Ok(Value {
        name: from_clips(b, y, out),
        shape: Shape::frames(out, true),
        lengths: Some(lengths),
    })
}

/// A windowed max over each clip's time, rows and columns (a mean is refused: its count of a
/// window's real frames at a clip's end has no one ONNX operator).
pub fn max_pool3d(b: &mut GraphBuilder, p: &LayerParams, x: &Value, c: &Pool3dConfig) -> Result<Value> {
    let size = c.pool_size.get();
    let window = Window3d::new(size, c.strides.map_or(size, |s| s.get()), [1; 3], c.padding);
    let (f, time) = (frame_of(x)?, &window.time);
    let attrs = window_attrs(&window.frame, f, Some((time, time_pads(time, p.prefix, "max_pool3d")?)));
    let filled = lowest_past_the_end(b, x)?;
    let clips = to_clips(b, &filled, f);
    let y = b.node("MaxPool", &[&clips], pool_attrs(attrs, "MaxPool"));
    let y = cut_time(b, &y, &clips, time);
    clip_value(b, &y, x, window_output(&window.frame, f)?, time)
}

/// `x` with the lowest float at the steps past each sequence's length, so a max never picks
/// them.
fn lowest_past_the_end(b: &mut GraphBuilder, x: &Value) -> Result<String> {
    let mask = b.step_mask(&x.name, x.lengths()?);
    let axis = b.int64s(&[2]);
    let mask = b.node("Unsqueeze", &[&mask, &axis], vec![]);
    let lowest = b.floats("lowest", &[], &[f32::MIN]);
    Ok(b.node("Where", &[&mask, &x.name, &lowest], vec![]))
}

/// The mean (`max` false) or max of each channel over each clip's real frames and pixels.
pub fn global_pool3d(b: &mut GraphBuilder, x: &Value, max: bool, opset: i64) -> Result<Value> {
    let f = frame_of(x)?;
    let source = if max {
        lowest_past_the_end(b, x)?
    } else {
        x.name.clone()
    };
    let shape = b.int64s(&[0, -1, f.channels as i64]);
    let pixels = b.node("Reshape", &[&source, &shape], vec![]);
    let name = if max {
        reduce_max(b, &pixels, &[1], opset)
    } else {
        // Padding is zero, so the sum needs no mask; an empty clip's mean stays zero.
        let axes = b.int64s(&[1]);
        let sum = b.node("ReduceSum", &[&pixels, &axes], vec![Attr::Int("keepdims", 0)]);
        let one = b.int32_scalar(1);
        let count = b.node("Max", &[x.lengths()?, &one], vec![]);
        let count = b.node("Cast", &[&count], vec![Attr::Int("to", crate::proto::FLOAT as i64)]);
        let per_frame = b.floats("pixels", &[], &[f.pixels() as f32]);
        let count = b.node("Mul", &[&count, &per_frame], vec![]);
        let axis = b.int64s(&[1]);
        let count = b.node("Unsqueeze", &[&count, &axis], vec![]);
        b.node("Div", &[&sum, &count], vec![])
    };
    Ok(Value {
        name,
        shape: Shape::new(f.channels, false),
        lengths: None,
    })
}

/// Frames normalised per channel: a per-channel `scale` or `shift` repeated over the pixels
/// of `x`'s frames (channels last), or as it is for a vector of features.
pub fn per_pixel(values: Vec<f32>, shape: Shape) -> Vec<f32> {
    match shape.frame {
        Some(f) => values.iter().copied().cycle().take(f.len()).collect(),
        None => values,
    }
}
