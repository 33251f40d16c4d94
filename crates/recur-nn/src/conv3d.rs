//! 3D convolution over a clip (PyTorch `Conv3d`, Keras `Conv3D`): the kernel spans time, rows
//! and columns of a sequence of frames, weight `[out, in, kt, kh, kw]` as PyTorch stores it,
//! frames channels last as Keras stores them.
//!
//! Each clip is convolved as if it stood alone: along time, `same` pads each clip at its own
//! ends (so a clip keeps its length, ⌈len/s⌉ with strides) and `valid` shortens it to
//! ⌊(len − span)/s⌋ + 1 steps; a clip's padded steps are never read, so a padded batch gives
//! what each clip gives alone. Over rows and columns the padding is `conv2d`'s.
//!
//! Lowered onto the GEMM as `conv2d` is, a source frame at a time: each real frame's 2D im2col
//! rows ([`Lowering`]) are built once, and each time tap `j` through which an output step reads
//! that frame adds `rows · W_jᵀ` straight into that step of the output (backward: `gᵀ·rows`
//! into the tap's weight gradient and `g·W_j` into the rows' gradient, then col2im). A tap
//! that falls outside the clip adds nothing, which is its zero padding. One frame's rows and
//! the few output steps they feed stay in the core's cache while their products run; lowering
//! whole clips at once left the products reading from memory (the c3d of
//! `bench/video_c3d.json` trained 1.2× faster this way), and a 3D im2col would copy each frame
//! once per time tap.

use crate::activation::{Activation, Kept};
use crate::conv1d::ConvGeometry;
use crate::conv2d::lowering::{add_taps_outermost, taps_outermost, Lowering};
use crate::conv2d::{check_im2col, conv_parameter_count, one, output_frame, Padding2d, Size3, Window2d};
use crate::init;
use crate::layer::{add_column_sums, bias_rows, no_input_grad, Ctx, Layer, Param, Tape};
use crate::spec::{size, LayerSpec};
use recur_core::{matmul, Float, Frame, Rng, Seq, Shape, Transpose};
use serde::{Deserialize, Serialize};

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

/// What backward needs: the input clips (the im2col rows are rebuilt from them) and the
/// values the activation's backward reads.
struct Conv3dTape<T> {
    x: Seq<T>,
    kept: Kept<T>,
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

    /// The sizes of one frame's products: a tap's part of an im2col row, a whole row (every
    /// tap), the filters and the output pixels of a step.
    fn product_sizes(&self) -> (usize, usize, usize, usize) {
        let filters = self.bias.len();
        (self.lowering.part_len(), self.row_len(), filters, self.step_rows())
    }

    /// Calls `f(frame, taps)` for every real frame `s` of a clip of `len` steps that some
    /// output step reads, `taps` holding each `(time tap j, output step t)` whose tap `j`
    /// reads frame `s`. Taps falling outside the clip are never listed: they add nothing,
    /// which is the clip's own zero padding.
    fn each_source(&self, len: usize, mut f: impl FnMut(usize, &[(usize, usize)])) {
        let g = self.time;
        let (out_len, left) = (g.output_len(len), g.left_pad(len));
        let mut taps = Vec::with_capacity(g.kernel_size);
        for s in 0..len {
            taps.clear();
            for j in 0..g.kernel_size {
                // Output step t reads frame t·stride + j·dilation − left through tap j.
                let Some(at) = (s + left).checked_sub(j * g.dilation_rate) else {
                    continue;
                };
                if at % g.strides == 0 && at / g.strides < out_len {
                    taps.push((j, at / g.strides));
                }
            }
            if !taps.is_empty() {
                f(s, &taps);
            }
        }
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
        // Padded steps keep the bias until the activation has run: no product touches them,
        // and the one zeroing after the activation clears them.
        let w = taps_outermost(&self.weight.value, self.lowering.input.channels, self.taps());
        let (part, row_len, filters, pixels) = self.product_sizes();
        let mut rows = vec![T::ZERO; pixels * part];
        for b in 0..x.batch {
            self.each_source(x.lengths[b], |s, taps| {
                self.lowering.im2col(x.step(b, s), &mut rows);
                for &(j, t) in taps {
                    let out = y.step_mut(b, t);
                    #[rustfmt::skip]
                    matmul(pixels, filters, part, &rows, part, Transpose::No, &w[j * part..], row_len, Transpose::Yes, out, filters, true);
                }
            });
        }
        let z = if ctx.training && self.activation.needs_input() {
            y.data.clone()
        } else {
            Vec::new()
        };
        self.activation.apply(&mut y.data);
        y.zero_padding();
        let tape = Tape::when(ctx.training, || Conv3dTape {
            x,
            kept: self.activation.keep(z, &y.data),
        });
        (y, tape)
    }

    fn backward(&mut self, tape: Tape, mut dy: Seq<T>, input_grad: bool) -> Seq<T> {
        let cache: Conv3dTape<T> = tape.take("conv3d");
        cache.kept.backward(&mut dy.data);
        dy.zero_padding();
        let (c, taps) = (self.lowering.input.channels, self.taps());
        let w = taps_outermost(&self.weight.value, c, taps);
        let (part, row_len, filters, pixels) = self.product_sizes();
        let mut dw = vec![T::ZERO; self.weight.len()];
        let per_in = self.lowering.input.len();
        let mut dx = if input_grad {
            Seq::zeros_like(&cache.x, per_in)
        } else {
            no_input_grad(&cache.x, per_in)
        };
        // Padded steps of dy are zero, so the whole of it sums to the real steps' total.
        add_column_sums(&dy.data, filters, &mut self.bias.grad);
        let mut rows = vec![T::ZERO; pixels * part];
        let mut drows = vec![T::ZERO; if input_grad { pixels * part } else { 0 }];
        for b in 0..cache.x.batch {
            self.each_source(cache.x.lengths[b], |s, taps| {
                self.lowering.im2col(cache.x.step(b, s), &mut rows);
                for (i, &(j, t)) in taps.iter().enumerate() {
                    let g = dy.step(b, t);
                    #[rustfmt::skip]
                    matmul(filters, part, pixels, g, filters, Transpose::Yes, &rows, part, Transpose::No, &mut dw[j * part..], row_len, true);
                    if input_grad {
                        // The frame's first tap sets its rows' gradient, the others add to it.
                        #[rustfmt::skip]
                        matmul(pixels, part, filters, g, filters, Transpose::No, &w[j * part..], row_len, Transpose::No, &mut drows, part, i > 0);
                    }
                }
                if input_grad {
                    self.lowering.col2im(&drows, dx.step_mut(b, s));
                }
            });
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
