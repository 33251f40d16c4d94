//! 2D convolution over a frame (PyTorch `Conv2d`, Keras `Conv2D`), weight `[out, in, kh, kw]`
//! as PyTorch stores it, frames channels last as Keras stores them.
//!
//! im2col + one GEMM per chunk of frames: each output pixel's row gathers its taps (row, column,
//! then channel, so a tap's channels are one contiguous copy of the channels-last input), and
//! `rows · Wᵀ` gives every filter at every pixel, channels last again. The rows are rebuilt in
//! backward rather than kept: a frame CNN's rows are `kh·kw` times its input. `same` pads as
//! TensorFlow does (the odd zero on the bottom and right); `valid` does not pad.

use crate::activation::Activation;
use crate::conv1d::{ConvGeometry, Padding};
use crate::init;
use crate::layer::{add_column_sums, no_input_grad, Ctx, Layer, Param, Tape};
use crate::spec::{at_most_width, size, LayerSpec};
use recur_core::{matmul, Float, Frame, Rng, Seq, Shape, Transpose};
use serde::{Deserialize, Serialize};

/// A size given for both axes (`3`) or per axis (`[3, 5]`: rows, then columns), as Keras
/// takes `kernel_size`, `strides` and `pool_size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Size2 {
    /// The same along rows and columns.
    Both(usize),
    /// `[rows, columns]`.
    Each([usize; 2]),
}

impl<'de> Deserialize<'de> for Size2 {
    /// A number or a pair; anything else is refused saying what is wanted (serde's own
    /// message for an untagged enum names neither).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let wanted = |got: &serde_json::Value| {
            serde::de::Error::custom(format!(
                "kernel_size, strides, dilation_rate and pool_size are a whole number (3) or \
                 [rows, columns] ([3, 5]), not {got}"
            ))
        };
        let value = serde_json::Value::deserialize(d)?;
        let size = |v: &serde_json::Value| v.as_u64().and_then(|n| usize::try_from(n).ok());
        match &value {
            serde_json::Value::Array(pair) => match pair.as_slice() {
                [a, b] => match (size(a), size(b)) {
                    (Some(a), Some(b)) => Ok(Size2::Each([a, b])),
                    _ => Err(wanted(&value)),
                },
                _ => Err(wanted(&value)),
            },
            v => size(v).map(Size2::Both).ok_or_else(|| wanted(&value)),
        }
    }
}

impl Size2 {
    /// `[rows, columns]`.
    pub fn get(self) -> [usize; 2] {
        match self {
            Size2::Both(v) => [v, v],
            Size2::Each(v) => v,
        }
    }

    /// Checks both sizes are at least 1 and within recur's bounds.
    pub fn check(self, name: &str) -> Result<[usize; 2], String> {
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

fn one() -> Size2 {
    Size2::Both(1)
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
        self.kernel_size.check("kernel_size")?;
        self.strides.check("strides")?;
        self.dilation_rate.check("dilation_rate")?;
        let [height, width] = self.window().output_size(frame)?;
        let out = Frame {
            height,
            width,
            channels: self.filters,
        };
        at_most_width("output values per frame", out.len())?;
        // Its im2col rows for one frame are built at once: refused here, before anything is
        // allocated, rather than by the allocator.
        let [kh, kw] = self.kernel_size.get();
        let rows = (out.pixels() as u64).saturating_mul((kh * kw * frame.channels) as u64);
        if rows > MAX_IM2COL {
            return Err(format!(
                "its {kh}×{kw} kernel over a {}×{}×{} frame needs {rows} im2col values per frame; recur builds at most {MAX_IM2COL}",
                frame.height, frame.width, frame.channels
            ));
        }
        Ok(Shape::frames(out, false))
    }
    fn parameter_count(&self, input: Shape) -> u64 {
        let [kh, kw] = self.kernel_size.get();
        let channels = input.frame.map_or(input.features, |f| f.channels) as u64;
        channels
            .saturating_mul(kh as u64)
            .saturating_mul(kw as u64)
            .saturating_add(1)
            .saturating_mul(self.filters as u64)
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
    window: Window2d,
    activation: Activation,
    input: Frame,
    output: Frame,
}

/// What backward needs: the input frames (the im2col rows are rebuilt from them) and the
/// activation's input and output.
struct Conv2dTape<T> {
    x: Seq<T>,
    z: Vec<T>,
    y: Vec<T>,
}

/// The most im2col values one frame may need (1 GiB of f32): a 512×512 output with a 3×3
/// kernel over 64 channels needs 151 M.
const MAX_IM2COL: u64 = 1 << 28;

/// The most im2col values built at once (32 MB of f32): frames are convolved in chunks of
/// about this size, so memory stays flat however large the batch.
const CHUNK_VALUES: usize = 1 << 23;

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
            window,
            activation,
            input: frame,
            output,
        }
    }

    fn taps(&self) -> usize {
        self.window.rows.kernel_size * self.window.cols.kernel_size
    }

    /// Values in one im2col row: every tap's channels.
    fn row_len(&self) -> usize {
        self.taps() * self.input.channels
    }

    /// The weight as `[out, tap, in]`, the layout of the im2col rows.
    fn taps_outermost(&self) -> Vec<T> {
        let (taps, c) = (self.taps(), self.input.channels);
        let mut w = vec![T::ZERO; self.weight.len()];
        for (o, filter) in self.weight.value.chunks_exact(c * taps).enumerate() {
            for (ch, kernel) in filter.chunks_exact(taps).enumerate() {
                for (tap, &v) in kernel.iter().enumerate() {
                    w[(o * taps + tap) * c + ch] = v;
                }
            }
        }
        w
    }

    /// Adds a gradient laid out `[out, tap, in]` into the weight's (`[out, in, tap]`).
    fn add_weight_grad(&mut self, g: &[T]) {
        let (taps, c) = (self.taps(), self.input.channels);
        for (o, filter) in self.weight.grad.chunks_exact_mut(c * taps).enumerate() {
            for (ch, kernel) in filter.chunks_exact_mut(taps).enumerate() {
                for (tap, v) in kernel.iter_mut().enumerate() {
                    *v += g[(o * taps + tap) * c + ch];
                }
            }
        }
    }

    /// Frames per chunk, so that a chunk's im2col rows stay near [`CHUNK_VALUES`].
    fn frames_per_chunk(&self) -> usize {
        (CHUNK_VALUES / (self.output.pixels() * self.row_len()).max(1)).max(1)
    }

    /// The im2col rows of `frames` (channels last, one after another) into `rows`; a kernel
    /// row whose taps all fall inside the frame is one copy (taps are adjacent pixels, and a
    /// pixel's channels are adjacent values).
    fn im2col(&self, frames: &[T], rows: &mut [T]) {
        let c = self.input.channels;
        self.each_kernel_row(frames.len(), |frame, out, src| {
            let n = out.len();
            match src {
                KernelRow::Inside(at) => rows[out].copy_from_slice(&frames[frame + at..frame + at + n]),
                KernelRow::Padding => rows[out].fill(T::ZERO),
                KernelRow::Edge(edge) => {
                    for (j, dst) in rows[out].chunks_exact_mut(c).enumerate() {
                        match self.tap(edge, j) {
                            Some(at) => dst.copy_from_slice(&frames[frame + at..frame + at + c]),
                            None => dst.fill(T::ZERO),
                        }
                    }
                }
            }
        });
    }

    /// The adjoint of [`Conv2d::im2col`]: adds each row value back onto the input value it came
    /// from.
    fn col2im(&self, rows: &[T], frames: &mut [T]) {
        let c = self.input.channels;
        let add = |dst: &mut [T], src: &[T]| dst.iter_mut().zip(src).for_each(|(d, &g)| *d += g);
        self.each_kernel_row(frames.len(), |frame, out, src| {
            let n = out.len();
            match src {
                KernelRow::Inside(at) => add(&mut frames[frame + at..frame + at + n], &rows[out]),
                KernelRow::Padding => {}
                KernelRow::Edge(edge) => {
                    for (j, src) in rows[out].chunks_exact(c).enumerate() {
                        if let Some(at) = self.tap(edge, j) {
                            add(&mut frames[frame + at..frame + at + c], src);
                        }
                    }
                }
            }
        });
    }

    /// Where tap `j` of a kernel row at a frame's edge reads, if inside the frame.
    fn tap(&self, (line, x0): (usize, isize), j: usize) -> Option<usize> {
        let x = x0 + (j * self.window.cols.dilation_rate) as isize;
        (0..self.input.width as isize)
            .contains(&x)
            .then(|| (line + x as usize) * self.input.channels)
    }

    /// Calls `f(frame offset, range in the rows, source)` for every kernel row of every output
    /// pixel of the `values / frame size` frames: where in the frame its taps read.
    fn each_kernel_row(&self, values: usize, mut f: impl FnMut(usize, std::ops::Range<usize>, KernelRow)) {
        let (r, col, input) = (self.window.rows, self.window.cols, self.input);
        let (c, row_len, kw) = (input.channels, self.row_len(), col.kernel_size);
        let (top, left) = (r.left_pad(input.height) as isize, col.left_pad(input.width) as isize);
        let (out_h, out_w) = (self.output.height, self.output.width);
        for n in 0..values / input.len() {
            let (frame, first_row) = (n * input.len(), n * self.output.pixels() * row_len);
            for oy in 0..out_h {
                for ox in 0..out_w {
                    let x0 = (ox * col.strides) as isize - left;
                    let last = x0 + ((kw - 1) * col.dilation_rate) as isize;
                    let whole = col.dilation_rate == 1 && x0 >= 0 && last < input.width as isize;
                    let row = first_row + (oy * out_w + ox) * row_len;
                    for i in 0..r.kernel_size {
                        let out = row + i * kw * c..row + (i + 1) * kw * c;
                        let y = (oy * r.strides + i * r.dilation_rate) as isize - top;
                        let source = if y < 0 || y >= input.height as isize {
                            KernelRow::Padding
                        } else if whole {
                            KernelRow::Inside((y as usize * input.width + x0 as usize) * c)
                        } else {
                            KernelRow::Edge((y as usize * input.width, x0))
                        };
                        f(frame, out, source);
                    }
                }
            }
        }
    }
}

/// Where one kernel row of one output pixel reads: its taps side by side in the frame (from
/// this offset), all in padding, or tap by tap (at the frame's left or right edge, or dilated:
/// the row's first pixel and the first tap's column).
#[derive(Clone, Copy)]
enum KernelRow {
    Inside(usize),
    Padding,
    Edge((usize, isize)),
}

impl<T: Float> Layer<T> for Conv2d<T> {
    fn kind(&self) -> &'static str {
        "conv2d"
    }

    fn output_shape(&self) -> Shape {
        Shape::frames(self.output, false)
    }

    fn forward(&self, x: Seq<T>, ctx: &mut Ctx) -> (Seq<T>, Tape) {
        let (per_in, per_out) = (self.input.len(), self.output.len());
        let w = self.taps_outermost();
        let chunk = self.frames_per_chunk();
        let mut y = Seq::zeros_like(&x, per_out);
        let (filters, row_len) = (self.output.channels, self.row_len());
        let keep_z = ctx.training && self.activation.needs_input();
        let mut z = Vec::new();
        let mut rows = Vec::new();
        for (frames, out) in x.data.chunks(chunk * per_in).zip(y.data.chunks_mut(chunk * per_out)) {
            let pixels = out.len() / filters;
            rows.resize(pixels * row_len, T::ZERO);
            self.im2col(frames, &mut rows);
            // y = act(rows·Wᵀ + b), the product accumulated onto the bias, straight into the
            // output.
            out.chunks_exact_mut(filters)
                .for_each(|pixel| pixel.copy_from_slice(&self.bias.value));
            #[rustfmt::skip]
            matmul(pixels, filters, row_len, &rows, row_len, Transpose::No, &w, row_len, Transpose::Yes, out, filters, true);
            if keep_z {
                z.extend_from_slice(out);
            }
            self.activation.apply(out);
        }
        y.zero_padding();
        let tape = Tape::when(ctx.training, || Conv2dTape {
            x,
            z,
            y: y.data.clone(),
        });
        (y, tape)
    }

    fn backward(&mut self, tape: Tape, mut dy: Seq<T>, input_grad: bool) -> Seq<T> {
        let cache: Conv2dTape<T> = tape.take("conv2d");
        self.activation.backward(&cache.z, &cache.y, &mut dy.data);
        dy.zero_padding();
        let (per_in, per_out, filters) = (self.input.len(), self.output.len(), self.output.channels);
        let (row_len, chunk) = (self.row_len(), self.frames_per_chunk());
        let w = self.taps_outermost();
        let mut dw = vec![T::ZERO; self.weight.len()];
        let mut dx = if input_grad {
            Seq::zeros_like(&dy, per_in)
        } else {
            no_input_grad(&dy, per_in)
        };
        let (mut rows, mut drows) = (Vec::new(), Vec::new());
        for (i, (frames, g)) in cache
            .x
            .data
            .chunks(chunk * per_in)
            .zip(dy.data.chunks(chunk * per_out))
            .enumerate()
        {
            let pixels = g.len() / filters;
            rows.resize(pixels * row_len, T::ZERO);
            self.im2col(frames, &mut rows);
            #[rustfmt::skip]
            matmul(filters, row_len, pixels, g, filters, Transpose::Yes, &rows, row_len, Transpose::No, &mut dw, row_len, true);
            add_column_sums(g, filters, &mut self.bias.grad);
            if input_grad {
                drows.resize(pixels * row_len, T::ZERO);
                #[rustfmt::skip]
                matmul(pixels, row_len, filters, g, filters, Transpose::No, &w, row_len, Transpose::No, &mut drows, row_len, false);
                let start = i * chunk * per_in;
                self.col2im(&drows, &mut dx.data[start..start + frames.len()]);
            }
        }
        self.add_weight_grad(&dw);
        dx
    }

    fn params(&self) -> Vec<&Param<T>> {
        vec![&self.weight, &self.bias]
    }

    fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        vec![&mut self.weight, &mut self.bias]
    }

    fn forward_flops_per_step(&self) -> usize {
        2 * self.output.len() * self.row_len()
    }
}

#[cfg(test)]
pub(crate) mod tests;
