//! 3D convolution over a clip (PyTorch `Conv3d`, Keras `Conv3D`): the kernel spans time, rows
//! and columns of a sequence of frames, weight `[out, in, kt, kh, kw]` as PyTorch stores it,
//! frames channels last as Keras stores them.
//!
//! Each clip is convolved as if it stood alone: along time, `same` pads each clip at its own
//! ends (so a clip keeps its length, ⌈len/s⌉ with strides) and `valid` shortens it to
//! ⌊(len − span)/s⌋ + 1 steps; a clip's padded steps are never read, so a padded batch gives
//! what each clip gives alone. Over rows and columns the padding is `conv2d`'s.
//!
//! Lowered onto the GEMM as `conv2d` is, one time tap at a time: each source frame's 2D im2col
//! rows ([`Lowering`]) are built once per chunk of a clip's output steps, and for each time tap
//! `j` the output steps whose tap-`j` frames are real take `rows · W_jᵀ` in one product (at
//! stride 1 their source frames are consecutive, so their rows are one block), straight into
//! their place in the output. A tap that falls outside the clip adds nothing, which is its
//! zero padding. Building a frame's rows once rather than once per time tap (a 3D im2col)
//! copies a third as much for a kernel 3 steps long.

use crate::activation::Activation;
use crate::conv1d::ConvGeometry;
use crate::conv2d::lowering::{activated, add_taps_outermost, taps_outermost, Lowering};
use crate::conv2d::{check_im2col, conv_parameter_count, one, output_frame, Padding2d, Size3, Window2d};
use crate::init;
use crate::layer::{add_column_sums, bias_rows, no_input_grad, Ctx, Layer, Param, Tape};
use crate::spec::{size, LayerSpec};
use recur_core::{matmul, Float, Frame, Rng, Seq, Shape, Transpose};
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
        let kernel = self.kernel_size.check("kernel_size")?;
        self.strides.check("strides")?;
        self.dilation_rate.check("dilation_rate")?;
        let out = output_frame(self.window().frame.output_size(frame)?, self.filters)?;
        check_im2col(out, &kernel, frame, "step")?;
        Ok(Shape::frames(out, true))
    }
    fn parameter_count(&self, input: Shape) -> u64 {
        conv_parameter_count(input, &self.kernel_size.get(), self.filters)
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

/// The most im2col values one block of a clip's output steps builds at once (32 MB of f32).
/// Unlike `conv2d`'s chunks these stay large: a block lowers its source frames once for all
/// of its time taps, and a block of few steps lowers the frames at its edges again for the
/// next (smaller blocks measured slower on the c3d's training step).
const BLOCK_VALUES: usize = 1 << 23;

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

    /// Taps of one filter over time, rows and columns.
    fn taps(&self) -> usize {
        self.time.kernel_size * self.lowering.part_len() / self.lowering.input.channels
    }

    /// Values of one filter laid out `[tap, in]`: a frame's part of the taps for every time
    /// tap (tap `j`'s part starts at `j · part_len`).
    fn row_len(&self) -> usize {
        self.time.kernel_size * self.lowering.part_len()
    }

    /// Rows of one output step.
    fn step_rows(&self) -> usize {
        self.lowering.output.pixels()
    }

    /// The blocks of output steps lowered at once: `(clip, its output steps)`, each clip's
    /// real output steps in chunks whose source frames' im2col rows are about
    /// [`BLOCK_VALUES`].
    fn blocks(&self, lengths: &[usize]) -> Vec<(usize, Range<usize>)> {
        let per_step = self.step_rows() * self.lowering.part_len() * self.time.strides;
        let per_chunk = (BLOCK_VALUES / per_step.max(1)).max(1);
        let mut blocks = Vec::new();
        for (b, &len) in lengths.iter().enumerate() {
            let steps = self.time.output_len(len);
            for start in (0..steps).step_by(per_chunk) {
                blocks.push((b, start..(start + per_chunk).min(steps)));
            }
        }
        blocks
    }

    /// The real frames that output `steps` of a clip of `len` steps read.
    fn sources(&self, len: usize, steps: &Range<usize>) -> Range<usize> {
        let g = self.time;
        let left = g.left_pad(len);
        let first = (steps.start * g.strides).saturating_sub(left);
        let end = ((steps.end - 1) * g.strides + (g.kernel_size - 1) * g.dilation_rate + 1).saturating_sub(left);
        first.min(len)..end.min(len)
    }

    /// Calls `f(time tap, output steps, their first source frame)` for every run of output
    /// steps in `steps` whose source frames for that tap are real and consecutive, so that
    /// their rows are one block of the source frames' im2col rows: a tap's whole range at
    /// stride 1, each step alone at larger strides.
    fn each_tap_run(&self, len: usize, steps: &Range<usize>, mut f: impl FnMut(usize, Range<usize>, usize)) {
        let g = self.time;
        let left = g.left_pad(len) as isize;
        let source = |t: usize, j: usize| (t * g.strides + j * g.dilation_rate) as isize - left;
        for j in 0..g.kernel_size {
            let real: Vec<usize> = steps
                .clone()
                .filter(|&t| (0..len as isize).contains(&source(t, j)))
                .collect();
            let (Some(&first), Some(&last)) = (real.first(), real.last()) else {
                continue;
            };
            if g.strides == 1 {
                f(j, first..last + 1, source(first, j) as usize);
            } else {
                real.iter().for_each(|&t| f(j, t..t + 1, source(t, j) as usize));
            }
        }
    }
}

/// What one block's products need: its rows, the weight as `[out, tap, in]`, and the block's
/// place (`first` output step, its `sources`' first frame).
struct TapProducts<'a, T> {
    rows: &'a [T],
    w: &'a [T],
    first_step: usize,
    first_source: usize,
}

impl<T: Float> Conv3d<T> {
    /// `out += rows · W_jᵀ` over every tap run of a block: its output steps' values (`out`
    /// holds the block's steps) from the source frames' rows.
    fn tap_forward(&self, block: &TapProducts<T>, len: usize, steps: &Range<usize>, out: &mut [T]) {
        let (part, row_len, filters) = (self.lowering.part_len(), self.row_len(), self.bias.len());
        let pixels = self.step_rows();
        self.each_tap_run(len, steps, |j, run, src| {
            let m = run.len() * pixels;
            let a = &block.rows[(src - block.first_source) * pixels * part..];
            let c = &mut out[(run.start - block.first_step) * pixels * filters..];
            #[rustfmt::skip]
            matmul(m, filters, part, a, part, Transpose::No, &block.w[j * part..], row_len, Transpose::Yes, c, filters, true);
        });
    }

    /// The backward of [`Conv3d::tap_forward`] given the block's output gradient `g`: adds
    /// `gᵀ·rows` into `dw` (`[out, tap, in]`), and `g·W_j` into `drows` when given.
    fn tap_backward(
        &self,
        block: &TapProducts<T>,
        len: usize,
        steps: &Range<usize>,
        g: &[T],
        dw: &mut [T],
        mut drows: Option<&mut [T]>,
    ) {
        let (part, row_len, filters) = (self.lowering.part_len(), self.row_len(), self.bias.len());
        let pixels = self.step_rows();
        self.each_tap_run(len, steps, |j, run, src| {
            let m = run.len() * pixels;
            let at = (src - block.first_source) * pixels * part;
            let g = &g[(run.start - block.first_step) * pixels * filters..][..m * filters];
            #[rustfmt::skip]
            matmul(filters, part, m, g, filters, Transpose::Yes, &block.rows[at..], part, Transpose::No, &mut dw[j * part..], row_len, true);
            if let Some(d) = drows.as_deref_mut() {
                #[rustfmt::skip]
                matmul(m, part, filters, g, filters, Transpose::No, &block.w[j * part..], row_len, Transpose::No, &mut d[at..], part, true);
            }
        });
    }

    /// The im2col rows of clip `b`'s frames `sources` into `rows` (one row of the frame's
    /// taps per output pixel).
    fn im2col(&self, x: &Seq<T>, b: usize, sources: &Range<usize>, rows: &mut Vec<T>) {
        let part = self.lowering.part_len();
        rows.resize(sources.len() * self.step_rows() * part, T::ZERO);
        let frames = &x.data[x.offset(b, sources.start)..x.offset(b, sources.end)];
        self.lowering.im2col(frames, rows);
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
            data: bias_rows(x.batch * out_time * self.step_rows(), &self.bias.value),
            batch: x.batch,
            time: out_time,
            features: per_out,
            lengths: x.lengths.iter().map(|&l| self.time.output_len(l)).collect(),
            sequential: true,
        };
        y.zero_padding();
        let w = taps_outermost(&self.weight.value, self.lowering.input.channels, self.taps());
        let keep_z = ctx.training && self.activation.needs_input();
        let mut z = vec![T::ZERO; if keep_z { y.data.len() } else { 0 }];
        let mut rows = Vec::new();
        for (b, steps) in self.blocks(&x.lengths) {
            let sources = self.sources(x.lengths[b], &steps);
            self.im2col(&x, b, &sources, &mut rows);
            let block = TapProducts {
                rows: &rows,
                w: &w,
                first_step: steps.start,
                first_source: sources.start,
            };
            let at = self.out_range(b, &steps, out_time);
            let z = keep_z.then(|| &mut z[at.clone()]);
            let out = &mut y.data[at];
            activated(out, self.activation, z, |out| {
                self.tap_forward(&block, x.lengths[b], &steps, out)
            });
        }
        let tape = Tape::when(ctx.training, || Conv3dTape {
            x,
            z,
            y: self.activation.kept_output(&y.data),
        });
        (y, tape)
    }

    fn backward(&mut self, tape: Tape, mut dy: Seq<T>, input_grad: bool) -> Seq<T> {
        let cache: Conv3dTape<T> = tape.take("conv3d");
        self.activation.backward(&cache.z, &cache.y, &mut dy.data);
        dy.zero_padding();
        let (c, taps) = (self.lowering.input.channels, self.taps());
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
            let len = cache.x.lengths[b];
            let sources = self.sources(len, &steps);
            self.im2col(&cache.x, b, &sources, &mut rows);
            let block = TapProducts {
                rows: &rows,
                w: &w,
                first_step: steps.start,
                first_source: sources.start,
            };
            let g = &dy.data[self.out_range(b, &steps, dy.time)];
            add_column_sums(g, self.bias.len(), &mut self.bias.grad);
            drows.clear();
            drows.resize(if input_grad { rows.len() } else { 0 }, T::ZERO);
            let d = input_grad.then_some(drows.as_mut_slice());
            self.tap_backward(&block, len, &steps, g, &mut dw, d);
            if input_grad {
                let frames = dx.offset(b, sources.start)..dx.offset(b, sources.end);
                self.lowering.col2im(&drows, &mut dx.data[frames]);
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
