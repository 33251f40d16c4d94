//! 2D convolution over a frame (PyTorch `Conv2d`, Keras `Conv2D`), weight `[out, in, kh, kw]`
//! as PyTorch stores it, frames channels last as Keras stores them.
//!
//! im2col + one GEMM per chunk of frames ([`lowering`]): each output pixel's row gathers its
//! taps, and `rows · Wᵀ` gives every filter at every pixel, channels last again. The rows are rebuilt in
//! backward rather than kept: a frame CNN's rows are `kh·kw` times its input. `same` pads as
//! TensorFlow does (the odd zero on the bottom and right); `valid` does not pad.

use crate::activation::{Activation, Kept};
use crate::conv1d::{ConvGeometry, Padding};
use crate::init;
use crate::layer::{bias_like, no_input_grad, Ctx, Layer, Param, Tape};
use crate::spec::{at_most_width, size, LayerSpec};
use lowering::{add_taps_outermost, lowered_backward, lowered_forward, taps_outermost, Lowering};
use recur_core::{Float, Frame, Rng, Seq, Shape};
use serde::{Deserialize, Serialize};

/// A size given for every axis (`3`) or per axis (`[3, 5]`), as Keras takes `kernel_size`,
/// `strides` and `pool_size`: [`Size2`] over a frame's rows and columns, [`Size3`] over a
/// clip's time, rows and columns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Size<const N: usize> {
    /// The same along every axis.
    All(usize),
    /// One per axis, outermost first.
    Each([usize; N]),
}

/// `[rows, columns]`.
pub type Size2 = Size<2>;
/// `[time, rows, columns]`.
pub type Size3 = Size<3>;

impl<const N: usize> Serialize for Size<N> {
    /// As written: a number, or the list.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Size::All(v) => v.serialize(s),
            Size::Each(v) => v.as_slice().serialize(s),
        }
    }
}

impl<'de, const N: usize> Deserialize<'de> for Size<N> {
    /// A number or a list of N; anything else is refused saying what is wanted (serde's own
    /// message names neither).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let axes = if N == 3 {
            "[time, rows, columns] ([3, 3, 3])"
        } else {
            "[rows, columns] ([3, 5])"
        };
        let value = serde_json::Value::deserialize(d)?;
        let wanted = || {
            serde::de::Error::custom(format!(
                "kernel_size, strides, dilation_rate and pool_size are a whole number (3) or {axes}, not {value}"
            ))
        };
        let size = |v: &serde_json::Value| v.as_u64().and_then(|n| usize::try_from(n).ok());
        match &value {
            serde_json::Value::Array(list) => {
                let sizes: Option<Vec<usize>> = list.iter().map(size).collect();
                let each = sizes.and_then(|v| <[usize; N]>::try_from(v).ok());
                each.map(Size::Each).ok_or_else(wanted)
            }
            v => size(v).map(Size::All).ok_or_else(wanted),
        }
    }
}

impl<const N: usize> Size<N> {
    /// One size per axis.
    pub fn get(self) -> [usize; N] {
        match self {
            Size::All(v) => [v; N],
            Size::Each(v) => v,
        }
    }

    /// Checks every size is at least 1 and within recur's bounds.
    pub fn check(self, name: &str) -> Result<[usize; N], String> {
        for v in self.get() {
            size(name, v)?;
        }
        Ok(self.get())
    }
}

/// How a frame's edges are padded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding2d {
    /// No padding: each axis gives ⌊(n − span)/s⌋ + 1 outputs.
    #[default]
    Valid,
    /// ⌈n/s⌉ outputs per axis, input centred (TensorFlow's rule).
    Same,
}

/// The geometry of a 2D window over a frame: one [`ConvGeometry`] per axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window2d {
    /// Along rows (height).
    pub rows: ConvGeometry,
    /// Along columns (width).
    pub cols: ConvGeometry,
}

impl Window2d {
    /// A window of `kernel` taps, `strides` apart, `dilation` between taps.
    pub fn new(kernel: [usize; 2], strides: [usize; 2], dilation: [usize; 2], padding: Padding2d) -> Self {
        let padding = match padding {
            Padding2d::Valid => Padding::Valid,
            Padding2d::Same => Padding::Same,
        };
        let axis = |a: usize| ConvGeometry {
            kernel_size: kernel[a],
            strides: strides[a],
            dilation_rate: dilation[a],
            padding,
        };
        Window2d {
            rows: axis(0),
            cols: axis(1),
        }
    }

    /// Output rows and columns for an input frame, or why there are none.
    pub fn output_size(&self, input: Frame) -> Result<[usize; 2], String> {
        let out = [self.rows.output_len(input.height), self.cols.output_len(input.width)];
        if out.contains(&0) {
            return Err(format!(
                "its window does not fit in a {}×{} frame",
                input.height, input.width
            ));
        }
        Ok(out)
    }
}

/// A 2D convolution's settings, as Keras's `Conv2D` names them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conv2dConfig {
    /// Output channels.
    pub filters: usize,
    /// Taps per axis.
    pub kernel_size: Size2,
    /// Step between outputs.
    #[serde(default = "one")]
    pub strides: Size2,
    /// Spacing between taps.
    #[serde(default = "one")]
    pub dilation_rate: Size2,
    /// `valid` or `same`.
    #[serde(default)]
    pub padding: Padding2d,
    /// Fused activation.
    #[serde(default)]
    pub activation: Activation,
}

/// The default stride and dilation, along every axis.
pub(crate) fn one<const N: usize>() -> Size<N> {
    Size::All(1)
}

/// The frame a frame layer is given, or why it cannot take its input.
pub fn input_frame(input: Shape) -> Result<Frame, String> {
    match (input.frame, input.sequential) {
        (Some(f), false) => Ok(f),
        (Some(_), true) => {
            Err("takes one frame at a time: wrap it in time_distributed to apply it to every step".into())
        }
        (None, _) => Err(format!(
            "takes frames [height, width, channels], but its input is {} features (give the model an input_shape)",
            input.features
        )),
    }
}

/// The frame a frame layer gives, `[rows, columns]` of `channels`, refused when one frame would
/// pass the widest row recur takes.
pub(crate) fn output_frame([height, width]: [usize; 2], channels: usize) -> Result<Frame, String> {
    let out = Frame {
        height,
        width,
        channels,
    };
    at_most_width("output values per frame", out.len())?;
    Ok(out)
}

/// Refuses a convolution whose im2col rows for one output frame (`per` names it: a `frame`, or a
/// `conv3d` output `step`) would pass [`MAX_IM2COL`]: the rows are built at once, so this is
/// refused here, before anything is allocated, rather than by the allocator.
pub(crate) fn check_im2col(out: Frame, kernel: &[usize], input: Frame, per: &str) -> Result<(), String> {
    let taps: u64 = kernel.iter().map(|&k| k as u64).product();
    let rows = (out.pixels() as u64).saturating_mul(taps.saturating_mul(input.channels as u64));
    if rows > MAX_IM2COL {
        let kernel: Vec<String> = kernel.iter().map(usize::to_string).collect();
        return Err(format!(
            "its {} kernel over {}×{}×{} frames needs {rows} im2col values per {per}; recur builds at most {MAX_IM2COL}",
            kernel.join("×"),
            input.height,
            input.width,
            input.channels
        ));
    }
    Ok(())
}

/// A convolution's parameter count: per filter, one weight per kernel tap and input channel, and
/// a bias.
pub(crate) fn conv_parameter_count(input: Shape, kernel: &[usize], filters: usize) -> u64 {
    let taps: u64 = kernel.iter().map(|&k| k as u64).product();
    let channels = input.frame.map_or(input.features, |f| f.channels) as u64;
    channels
        .saturating_mul(taps)
        .saturating_add(1)
        .saturating_mul(filters as u64)
}

impl Conv2dConfig {
    fn window(&self) -> Window2d {
        Window2d::new(
            self.kernel_size.get(),
            self.strides.get(),
            self.dilation_rate.get(),
            self.padding,
        )
    }
}

impl LayerSpec for Conv2dConfig {
    fn kind(&self) -> &'static str {
        "conv2d"
    }
    fn output_shape(&self, input: Shape) -> Result<Shape, String> {
        let frame = input_frame(input)?;
        size("filters", self.filters)?;
        let kernel = self.kernel_size.check("kernel_size")?;
        self.strides.check("strides")?;
        self.dilation_rate.check("dilation_rate")?;
        let out = output_frame(self.window().output_size(frame)?, self.filters)?;
        check_im2col(out, &kernel, frame, "frame")?;
        Ok(Shape::frames(out, false))
    }
    fn parameter_count(&self, input: Shape) -> u64 {
        conv_parameter_count(input, &self.kernel_size.get(), self.filters)
    }
    fn build<T: Float>(&self, input: Shape, rng: &mut Rng) -> Box<dyn Layer<T>> {
        Box::new(Conv2d::new(input, self.filters, self.window(), self.activation, rng))
    }
    fn takes_frames(&self) -> bool {
        true
    }
}

/// A 2D convolution with an optional fused activation.
#[derive(Clone)]
pub struct Conv2d<T> {
    weight: Param<T>,
    bias: Param<T>,
    lowering: Lowering,
    activation: Activation,
}

/// What backward needs: the input frames (the im2col rows are rebuilt from them) and the
/// values the activation's backward reads.
struct Conv2dTape<T> {
    x: Seq<T>,
    kept: Kept<T>,
}

/// The most im2col values one frame (or one `conv3d` output step) may need (1 GiB of f32): a
/// 512×512 output with a 3×3 kernel over 64 channels needs 151 M.
pub(crate) const MAX_IM2COL: u64 = 1 << 28;

/// The most im2col values built at once (1 MB of f32): frames are convolved in chunks of
/// about this size, so memory stays flat however large the batch, and a chunk's rows are still
/// in the core's cache when its GEMM reads them (32 MB chunks trained the frame model of
/// `bench/video_frame_lstm.json` 1.5× slower).
pub(crate) const CHUNK_VALUES: usize = 1 << 18;

impl<T: Float> Conv2d<T> {
    /// A Glorot-uniform initialised convolution (Keras's default) with `filters` outputs.
    /// `input` must be a frame shape (the spec checks it first).
    pub fn new(input: Shape, filters: usize, window: Window2d, activation: Activation, rng: &mut Rng) -> Self {
        let frame = input.frame.expect("conv2d is built for frames");
        let (kh, kw, c) = (window.rows.kernel_size, window.cols.kernel_size, frame.channels);
        let taps = kh * kw;
        let w = init::glorot_uniform(filters * taps, c * taps, filters * c * taps, rng);
        let output = Frame {
            height: window.rows.output_len(frame.height),
            width: window.cols.output_len(frame.width),
            channels: filters,
        };
        Conv2d {
            weight: Param::new("weight", &[filters, c, kh, kw], w),
            bias: Param::new("bias", &[filters], vec![T::ZERO; filters]),
            lowering: Lowering {
                window,
                input: frame,
                output,
            },
            activation,
        }
    }

    fn taps(&self) -> usize {
        self.lowering.window.rows.kernel_size * self.lowering.window.cols.kernel_size
    }

    /// Frames per chunk, so that a chunk's im2col rows stay near [`CHUNK_VALUES`].
    fn frames_per_chunk(&self) -> usize {
        (CHUNK_VALUES / (self.lowering.output.pixels() * self.lowering.part_len()).max(1)).max(1)
    }
}

impl<T: Float> Layer<T> for Conv2d<T> {
    fn kind(&self) -> &'static str {
        "conv2d"
    }

    fn output_shape(&self) -> Shape {
        Shape::frames(self.lowering.output, false)
    }

    fn forward(&self, x: Seq<T>, ctx: &mut Ctx) -> (Seq<T>, Tape) {
        let (per_in, per_out) = (self.lowering.input.len(), self.lowering.output.len());
        let w = taps_outermost(&self.weight.value, self.lowering.input.channels, self.taps());
        let chunk = self.frames_per_chunk();
        let mut y = bias_like(&x, per_out, &self.bias.value);
        let row_len = self.lowering.part_len();
        let keep_z = ctx.training && self.activation.needs_input();
        let mut z = vec![T::ZERO; if keep_z { y.data.len() } else { 0 }];
        let mut z_chunks = z.chunks_mut(chunk * per_out);
        let mut rows = Vec::new();
        for (frames, out) in x.data.chunks(chunk * per_in).zip(y.data.chunks_mut(chunk * per_out)) {
            rows.resize(out.len() / self.bias.len() * row_len, T::ZERO);
            self.lowering.im2col(frames, &mut rows);
            let z = z_chunks.next();
            lowered_forward(&rows, row_len, &w, self.activation, out, z);
        }
        y.zero_padding();
        let tape = Tape::when(ctx.training, || Conv2dTape {
            x,
            kept: self.activation.keep(z, &y.data),
        });
        (y, tape)
    }

    fn backward(&mut self, tape: Tape, mut dy: Seq<T>, input_grad: bool) -> Seq<T> {
        let cache: Conv2dTape<T> = tape.take("conv2d");
        cache.kept.backward(&mut dy.data);
        dy.zero_padding();
        let (per_in, per_out) = (self.lowering.input.len(), self.lowering.output.len());
        let (row_len, chunk, c) = (
            self.lowering.part_len(),
            self.frames_per_chunk(),
            self.lowering.input.channels,
        );
        let taps = self.taps();
        let w = taps_outermost(&self.weight.value, c, taps);
        let mut dw = vec![T::ZERO; self.weight.len()];
        let mut dx = if input_grad {
            Seq::zeros_like(&dy, per_in)
        } else {
            no_input_grad(&dy, per_in)
        };
        let (mut rows, mut drows) = (Vec::new(), Vec::new());
        let chunks = cache.x.data.chunks(chunk * per_in).zip(dy.data.chunks(chunk * per_out));
        for (i, (frames, g)) in chunks.enumerate() {
            rows.resize(g.len() / self.bias.len() * row_len, T::ZERO);
            self.lowering.im2col(frames, &mut rows);
            let d = input_grad.then_some(&mut drows);
            lowered_backward(&rows, row_len, &w, g, &mut dw, &mut self.bias.grad, d);
            if input_grad {
                let start = i * chunk * per_in;
                self.lowering.col2im(&drows, &mut dx.data[start..start + frames.len()]);
            }
        }
        add_taps_outermost(&mut self.weight.grad, &dw, c, taps);
        dx
    }

    fn params(&self) -> Vec<&Param<T>> {
        vec![&self.weight, &self.bias]
    }

    fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        vec![&mut self.weight, &mut self.bias]
    }

    fn forward_flops_per_step(&self) -> usize {
        2 * self.lowering.output.len() * self.lowering.part_len()
    }
}

pub(crate) mod lowering;

#[cfg(test)]
pub(crate) mod tests;
