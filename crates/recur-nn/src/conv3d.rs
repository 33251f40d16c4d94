//! 3D convolution over a clip (PyTorch `Conv3d`, Keras `Conv3D`): the kernel spans time, rows
//! and columns of a sequence of frames, weight `[out, in, kt, kh, kw]` as PyTorch stores it,
//! frames channels last as Keras stores them.
//!
//! Each clip is convolved as if it stood alone: along time, `same` pads each clip at its own
//! ends (so a clip keeps its length, ⌈len/s⌉ with strides) and `valid` shortens it to
//! ⌊(len − span)/s⌋ + 1 steps; a clip's padded steps are never read, so a padded batch gives
//! what each clip gives alone. Over rows and columns the padding is `conv2d`'s.
//!
//! Lowered onto the GEMM as `conv2d` is: an output step's im2col row for a pixel holds, for
//! each time tap, that source frame's 2D taps ([`Lowering`]), zeros where the tap falls
//! outside the clip; `rows · Wᵀ` then gives every filter at every pixel of every output step.
//! A clip's output steps are lowered in chunks, straight into its place in the output.

use crate::activation::Activation;
use crate::conv1d::ConvGeometry;
use crate::conv2d::lowering::{add_taps_outermost, lowered_backward, lowered_forward, taps_outermost, Lowering};
use crate::conv2d::{one, Padding2d, Size3, Window2d, CHUNK_VALUES, MAX_IM2COL};
use crate::init;
use crate::layer::{no_input_grad, Ctx, Layer, Param, Tape};
use crate::spec::{at_most_width, size, LayerSpec};
use recur_core::{Float, Frame, Rng, Seq, Shape};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// A 3D convolution's settings, as Keras's `Conv3D` names them; sizes are a number or
/// `[time, rows, columns]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conv3dConfig {
    /// Output channels.
    pub filters: usize,
    /// Taps per axis.
    pub kernel_size: Size3,
    /// Step between outputs.
    #[serde(default = "one")]
    pub strides: Size3,
    /// Spacing between taps.
    #[serde(default = "one")]
    pub dilation_rate: Size3,
    /// `valid` or `same`, along every axis.
    #[serde(default)]
    pub padding: Padding2d,
    /// Fused activation.
    #[serde(default)]
    pub activation: Activation,
}

/// The geometry of a 3D window over a clip: one along time, a [`Window2d`] over each frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window3d {
    /// Along time (each clip padded at its own ends).
    pub time: ConvGeometry,
    /// Over rows and columns.
    pub frame: Window2d,
}

impl Window3d {
    /// A window of `kernel` taps, `strides` apart, `dilation` between taps, each
    /// `[time, rows, columns]`.
    pub fn new(kernel: [usize; 3], strides: [usize; 3], dilation: [usize; 3], padding: Padding2d) -> Self {
        let frame = Window2d::new(
            [kernel[1], kernel[2]],
            [strides[1], strides[2]],
            [dilation[1], dilation[2]],
            padding,
        );
        let time = ConvGeometry {
            kernel_size: kernel[0],
            strides: strides[0],
            dilation_rate: dilation[0],
            padding: frame.rows.padding,
        };
        Window3d { time, frame }
    }

    /// The output steps of a clip of `len` real steps, and the padding before its first.
    pub fn steps(&self, len: usize) -> (usize, usize) {
        (self.time.output_len(len), self.time.left_pad(len))
    }
}

/// The frame of each step of a 3D layer's input, or why it cannot take its input.
pub(crate) fn input_clip(input: Shape) -> Result<Frame, String> {
    match (input.frame, input.sequential) {
        (Some(f), true) => Ok(f),
        (Some(_), false) => Err(
            "spans time as well as rows and columns, but its input is one frame per sequence (use it on the sequence of frames itself, not in time_distributed)"
                .into(),
        ),
        (None, _) => Err(format!(
            "takes a sequence of frames [height, width, channels], but its input is {} features (give the model an input_shape)",
            input.features
        )),
    }
}

impl Conv3dConfig {
    fn window(&self) -> Window3d {
        Window3d::new(
            self.kernel_size.get(),
            self.strides.get(),
            self.dilation_rate.get(),
            self.padding,
        )
    }
}

impl LayerSpec for Conv3dConfig {
    fn kind(&self) -> &'static str {
        "conv3d"
    }
    fn output_shape(&self, input: Shape) -> Result<Shape, String> {
        let frame = input_clip(input)?;
        size("filters", self.filters)?;
        let [kt, kh, kw] = self.kernel_size.check("kernel_size")?;
        self.strides.check("strides")?;
        self.dilation_rate.check("dilation_rate")?;
        let [height, width] = self.window().frame.output_size(frame)?;
        let out = Frame {
            height,
            width,
            channels: self.filters,
        };
        at_most_width("output values per frame", out.len())?;
        // One output step's im2col rows are built at once: refused here, before anything is
        // allocated, rather than by the allocator.
        let rows = (out.pixels() as u64).saturating_mul((kt * kh * kw) as u64 * frame.channels as u64);
        if rows > MAX_IM2COL {
            return Err(format!(
                "its {kt}×{kh}×{kw} kernel over {}×{}×{} frames needs {rows} im2col values per step; recur builds at most {MAX_IM2COL}",
                frame.height, frame.width, frame.channels
            ));
        }
        Ok(Shape::frames(out, true))
    }
    fn parameter_count(&self, input: Shape) -> u64 {
        let taps: u64 = self.kernel_size.get().iter().map(|&k| k as u64).product();
        let channels = input.frame.map_or(input.features, |f| f.channels) as u64;
        channels
            .saturating_mul(taps)
            .saturating_add(1)
            .saturating_mul(self.filters as u64)
    }
    fn build<T: Float>(&self, input: Shape, rng: &mut Rng) -> Box<dyn Layer<T>> {
        Box::new(Conv3d::new(input, self.filters, self.window(), self.activation, rng))
    }
    fn takes_frames(&self) -> bool {
        true
    }
}

/// A 3D convolution with an optional fused activation.
#[derive(Clone)]
pub struct Conv3d<T> {
    weight: Param<T>,
    bias: Param<T>,
    /// Along time.
    time: ConvGeometry,
    /// Over each source frame.
    lowering: Lowering,
    activation: Activation,
}

/// What backward needs: the input clips (the im2col rows are rebuilt from them) and the
/// activation's input and output.
struct Conv3dTape<T> {
    x: Seq<T>,
    z: Vec<T>,
    y: Vec<T>,
}

impl<T: Float> Conv3d<T> {
    /// A Glorot-uniform initialised convolution (Keras's default) with `filters` outputs.
    /// `input` must be a frame shape (the spec checks it first).
    pub fn new(input: Shape, filters: usize, window: Window3d, activation: Activation, rng: &mut Rng) -> Self {
        let frame = input.frame.expect("conv3d is built for frames");
        let (rows, cols) = (window.frame.rows, window.frame.cols);
        let (kt, kh, kw) = (window.time.kernel_size, rows.kernel_size, cols.kernel_size);
        let (taps, c) = (kt * kh * kw, frame.channels);
        let w = init::glorot_uniform(filters * taps, c * taps, filters * c * taps, rng);
        let output = Frame {
            height: rows.output_len(frame.height),
            width: cols.output_len(frame.width),
            channels: filters,
        };
        Conv3d {
            weight: Param::new("weight", &[filters, c, kt, kh, kw], w),
            bias: Param::new("bias", &[filters], vec![T::ZERO; filters]),
            time: window.time,
            lowering: Lowering {
                window: window.frame,
                input: frame,
                output,
            },
            activation,
        }
    }

    fn taps(&self) -> usize {
        self.time.kernel_size * self.lowering.part_len() / self.lowering.input.channels
    }

    /// Values in one im2col row: every time tap's frame part.
    fn row_len(&self) -> usize {
        self.time.kernel_size * self.lowering.part_len()
    }

    /// Rows of one output step.
    fn step_rows(&self) -> usize {
        self.lowering.output.pixels()
    }

    /// The blocks of output steps lowered at once: `(clip, its output steps)`, each clip's
    /// real output steps in chunks of about [`CHUNK_VALUES`] im2col values.
    fn blocks(&self, lengths: &[usize]) -> Vec<(usize, Range<usize>)> {
        let per_chunk = (CHUNK_VALUES / (self.step_rows() * self.row_len()).max(1)).max(1);
        let mut blocks = Vec::new();
        for (b, &len) in lengths.iter().enumerate() {
            let steps = self.time.output_len(len);
            for start in (0..steps).step_by(per_chunk) {
                blocks.push((b, start..(start + per_chunk).min(steps)));
            }
        }
        blocks
    }

    /// Calls `f(offset in the block's rows, source step)` for every time tap of every output
    /// step in `steps` of a clip of `len` real steps (`None`: the tap falls outside the clip).
    fn each_time_tap(&self, len: usize, steps: Range<usize>, mut f: impl FnMut(usize, Option<usize>)) {
        let g = self.time;
        let left = g.left_pad(len) as isize;
        let (step_values, part) = (self.step_rows() * self.row_len(), self.lowering.part_len());
        for (k, t) in steps.enumerate() {
            for j in 0..g.kernel_size {
                let src = (t * g.strides + j * g.dilation_rate) as isize - left;
                let inside = (0..len as isize).contains(&src).then_some(src as usize);
                f(k * step_values + j * part, inside);
            }
        }
    }

    /// The im2col rows of clip `b`'s output `steps` into `rows`.
    fn im2col(&self, x: &Seq<T>, b: usize, steps: Range<usize>, rows: &mut Vec<T>) {
        let row_len = self.row_len();
        rows.resize(steps.len() * self.step_rows() * row_len, T::ZERO);
        self.each_time_tap(x.lengths[b], steps, |at, src| match src {
            Some(t) => self.lowering.im2col(x.step(b, t), &mut rows[at..], row_len),
            None => self.lowering.zero_part(&mut rows[at..], row_len),
        });
    }

    /// The adjoint of [`Conv3d::im2col`]: adds `rows` back onto clip `b`'s steps in `dx`.
    fn col2im(&self, rows: &[T], dx: &mut Seq<T>, b: usize, steps: Range<usize>) {
        let row_len = self.row_len();
        self.each_time_tap(dx.lengths[b], steps, |at, src| {
            if let Some(t) = src {
                self.lowering.col2im(&rows[at..], dx.step_mut(b, t), row_len);
            }
        });
    }

    /// Where clip `b`'s output `steps` lie in an output of `out_time` steps.
    fn out_range(&self, b: usize, steps: &Range<usize>, out_time: usize) -> Range<usize> {
        let per_out = self.lowering.output.len();
        (b * out_time + steps.start) * per_out..(b * out_time + steps.end) * per_out
    }
}

impl<T: Float> Layer<T> for Conv3d<T> {
    fn kind(&self) -> &'static str {
        "conv3d"
    }

    fn output_shape(&self) -> Shape {
        Shape::frames(self.lowering.output, true)
    }

    fn forward(&self, x: Seq<T>, ctx: &mut Ctx) -> (Seq<T>, Tape) {
        let per_out = self.lowering.output.len();
        let out_time = self.time.output_len(x.time).max(1);
        let mut y = Seq {
            data: vec![T::ZERO; x.batch * out_time * per_out],
            batch: x.batch,
            time: out_time,
            features: per_out,
            lengths: x.lengths.iter().map(|&l| self.time.output_len(l)).collect(),
            sequential: true,
        };
        let w = taps_outermost(&self.weight.value, self.lowering.input.channels, self.taps());
        let keep_z = ctx.training && self.activation.needs_input();
        let mut z = vec![T::ZERO; if keep_z { y.data.len() } else { 0 }];
        let mut rows = Vec::new();
        for (b, steps) in self.blocks(&x.lengths) {
            self.im2col(&x, b, steps.clone(), &mut rows);
            let at = self.out_range(b, &steps, out_time);
            let z = keep_z.then(|| &mut z[at.clone()]);
            let out = &mut y.data[at];
            lowered_forward(&rows, self.row_len(), &w, &self.bias.value, self.activation, out, z);
        }
        let tape = Tape::when(ctx.training, || Conv3dTape {
            x,
            z,
            y: y.data.clone(),
        });
        (y, tape)
    }

    fn backward(&mut self, tape: Tape, mut dy: Seq<T>, input_grad: bool) -> Seq<T> {
        let cache: Conv3dTape<T> = tape.take("conv3d");
        self.activation.backward(&cache.z, &cache.y, &mut dy.data);
        dy.zero_padding();
        let (c, taps, row_len) = (self.lowering.input.channels, self.taps(), self.row_len());
        let w = taps_outermost(&self.weight.value, c, taps);
        let mut dw = vec![T::ZERO; self.weight.len()];
        let per_in = self.lowering.input.len();
        let mut dx = if input_grad {
            Seq::zeros_like(&cache.x, per_in)
        } else {
            no_input_grad(&cache.x, per_in)
        };
        let (mut rows, mut drows) = (Vec::new(), Vec::new());
        for (b, steps) in self.blocks(&cache.x.lengths) {
            self.im2col(&cache.x, b, steps.clone(), &mut rows);
            let g = &dy.data[self.out_range(b, &steps, dy.time)];
            let d = input_grad.then_some(&mut drows);
            lowered_backward(&rows, row_len, &w, g, &mut dw, &mut self.bias.grad, d);
            if input_grad {
                self.col2im(&drows, &mut dx, b, steps);
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
        2 * self.lowering.output.len() * self.row_len() / self.time.strides
    }
}

#[cfg(test)]
mod tests;
