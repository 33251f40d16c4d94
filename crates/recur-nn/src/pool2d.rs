//! Pooling over a frame: `max_pool2d` and `avg_pool2d` over windows (PyTorch `MaxPool2d` /
//! `AvgPool2d`, Keras `MaxPooling2D` / `AveragePooling2D`), and `global_avg_pool2d` /
//! `global_max_pool2d` over the whole frame, which give one vector of channels (Keras
//! `GlobalAveragePooling2D`), the way from frames to the vectors a recurrent layer reads.
//! A global pool is a window the size of the frame. `same` padding never counts padded cells:
//! an average is over the window's real cells (as Keras, and PyTorch's
//! `count_include_pad=False`), and a max never picks padding.

use crate::conv1d::ConvGeometry;
use crate::conv2d::{input_frame, output_frame, Padding2d, Size2, Window2d};
use crate::layer::{no_input_grad, Ctx, Layer, Tape};
use crate::spec::{settingless_layer, LayerSpec};
use recur_core::math::dispatch;
use recur_core::{Float, Frame, Rng, Seq, Shape};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// How a window's values are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pool2dMode {
    /// The largest value (its gradient goes to that value alone, the first on ties).
    Max,
    /// The mean of the window's real cells.
    Avg,
}

/// A windowed pooling's settings, as Keras names them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool2dConfig {
    /// Window rows and columns.
    #[serde(default = "two")]
    pub pool_size: Size2,
    /// Step between windows (default: the window, so windows do not overlap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strides: Option<Size2>,
    /// `valid` or `same`.
    #[serde(default)]
    pub padding: Padding2d,
}

fn two() -> Size2 {
    Size2::All(2)
}

impl Pool2dConfig {
    fn window(&self) -> Window2d {
        let size = self.pool_size.get();
        let strides = self.strides.map_or(size, Size2::get);
        Window2d::new(size, strides, [1, 1], self.padding)
    }

    fn output_shape(&self, input: Shape) -> Result<Shape, String> {
        let frame = input_frame(input)?;
        self.pool_size.check("pool_size")?;
        if let Some(s) = self.strides {
            s.check("strides")?;
        }
        let out = output_frame(self.window().output_size(frame)?, frame.channels)?;
        Ok(Shape::frames(out, false))
    }
}

/// A windowed pooling type: its settings (`$settings`, whose `output_shape` checks them) are
/// shared by its max and mean, its layer built by `$build` from the settings and input frame.
macro_rules! pool_config {
    ($(#[$doc:meta])* $name:ident($settings:ty), $kind:literal, |$s:ident, $frame:ident| $build:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub $settings);

        impl LayerSpec for $name {
            fn kind(&self) -> &'static str {
                $kind
            }
            fn output_shape(&self, input: Shape) -> Result<Shape, String> {
                self.0.output_shape(input)
            }
            fn parameter_count(&self, _input: Shape) -> u64 {
                0
            }
            fn build<T: Float>(&self, input: Shape, _rng: &mut Rng) -> Box<dyn Layer<T>> {
                let ($s, $frame) = (&self.0, input.frame.expect("pooling is built for frames"));
                Box::new($build)
            }
            fn takes_frames(&self) -> bool {
                true
            }
        }
    };
}
pub(crate) use pool_config;

pool_config!(
    /// `max_pool2d`'s settings.
    MaxPool2dConfig(Pool2dConfig),
    "max_pool2d",
    |settings, frame| Pool2d::new(frame, settings.window(), Pool2dMode::Max, false)
);
pool_config!(
    /// `avg_pool2d`'s settings.
    AvgPool2dConfig(Pool2dConfig),
    "avg_pool2d",
    |settings, frame| Pool2d::new(frame, settings.window(), Pool2dMode::Avg, false)
);

settingless_layer!(
    /// `global_avg_pool2d`: the mean of each channel over the frame.
    GlobalAvgPool2dConfig,
    "global_avg_pool2d",
    frames: true,
    |input| shape: Ok(Shape::vector(input_frame(input)?.channels)),
    build: Pool2d::whole_frame(input, Pool2dMode::Avg)
);
settingless_layer!(
    /// `global_max_pool2d`: the max of each channel over the frame.
    GlobalMaxPool2dConfig,
    "global_max_pool2d",
    frames: true,
    |input| shape: Ok(Shape::vector(input_frame(input)?.channels)),
    build: Pool2d::whole_frame(input, Pool2dMode::Max)
);

/// Pooling over windows of each frame, channel by channel.
#[derive(Clone)]
pub struct Pool2d<T> {
    window: Window2d,
    mode: Pool2dMode,
    input: Frame,
    output: Frame,
    /// True for a global pool, whose output is a vector of channels rather than a 1×1 frame.
    global: bool,
    _values: std::marker::PhantomData<T>,
}

/// What backward needs of a max: the input index each output came from (a mean needs
/// nothing: its windows' counts are known from the geometry).
struct MaxFrom(Vec<u32>);

impl<T: Float> Pool2d<T> {
    /// A global pooling: one window the size of the `input` frame, giving a vector.
    pub fn whole_frame(input: Shape, mode: Pool2dMode) -> Self {
        let frame = input.frame.expect("pooling is built for frames");
        let whole = Window2d::new([frame.height, frame.width], [1, 1], [1, 1], Padding2d::Valid);
        Pool2d::new(frame, whole, mode, true)
    }

    /// Pooling of `input` frames over `window`.
    pub fn new(input: Frame, window: Window2d, mode: Pool2dMode, global: bool) -> Self {
        let output = Frame {
            height: window.rows.output_len(input.height),
            width: window.cols.output_len(input.width),
            channels: input.channels,
        };
        Pool2d {
            window,
            mode,
            input,
            output,
            global,
            _values: std::marker::PhantomData,
        }
    }

    /// Calls `f(output pixel, rows, columns)` with the real cells of every window of a frame
    /// (padding is never part of a window).
    #[inline(always)]
    fn each_window(&self, mut f: impl FnMut(usize, Range<usize>, Range<usize>)) {
        let (r, c) = (self.window.rows, self.window.cols);
        let (top, left) = (r.left_pad(self.input.height), c.left_pad(self.input.width));
        for oy in 0..self.output.height {
            let rows = window_span(oy, r, top, self.input.height);
            for ox in 0..self.output.width {
                f(
                    oy * self.output.width + ox,
                    rows.clone(),
                    window_span(ox, c, left, self.input.width),
                );
            }
        }
    }

    /// Calls `f(offset)` for each of a window's real cells (`rows` × `cols`) in `frames`
    /// consecutive frames (a `max_pool3d` window spans several), in order.
    #[inline(always)]
    fn for_each_cell(&self, frames: usize, rows: Range<usize>, cols: Range<usize>, mut f: impl FnMut(usize)) {
        let (c, width, per_frame) = (self.input.channels, self.input.width, self.input.len());
        for n in 0..frames {
            for yy in rows.clone() {
                for xx in cols.clone() {
                    f(n * per_frame + (yy * width + xx) * c);
                }
            }
        }
    }

    /// Max over each window of `frames` consecutive frames `x` into one output frame `y`;
    /// `from` (when training) receives each output's index in `x`, the first on ties. The
    /// comparison selects rather than branches (each channel keeps the offset of its best cell),
    /// so the channel loop vectorises.
    pub(crate) fn max_frames(&self, x: &[T], frames: usize, y: &mut [T], from: Option<&mut [u32]>) {
        let c = self.input.channels;
        let mut best_cell = vec![0u32; c];
        let mut from = from;
        dispatch(
            #[inline(always)]
            || {
                // The closures are inlined into the kernel compiled for the CPU's vector unit.
                self.each_window(
                    #[inline(always)]
                    |out, rows, cols| {
                        let o = &mut y[out * c..(out + 1) * c];
                        // Every window has a real cell: the first starts the max (and stands for a
                        // window of NaN, whose comparisons all fail).
                        let first = (rows.start * self.input.width + cols.start) * c;
                        o.copy_from_slice(&x[first..first + c]);
                        best_cell.fill(first as u32);
                        self.for_each_cell(
                            frames,
                            rows,
                            cols,
                            #[inline(always)]
                            |p| {
                                let cell = p as u32;
                                for ((best, at), &v) in o.iter_mut().zip(best_cell.iter_mut()).zip(&x[p..p + c]) {
                                    let better = v > *best;
                                    *best = if better { v } else { *best };
                                    *at = if better { cell } else { *at };
                                }
                            },
                        );
                        if let Some(from) = from.as_deref_mut() {
                            let from = &mut from[out * c..(out + 1) * c];
                            for (ch, (f, &at)) in from.iter_mut().zip(&best_cell).enumerate() {
                                *f = at + ch as u32;
                            }
                        }
                    },
                )
            },
        );
    }

    /// Mean over each window's real cells of `frames` consecutive frames `x`.
    pub(crate) fn avg_frames(&self, x: &[T], frames: usize, y: &mut [T]) {
        let c = self.input.channels;
        self.each_window(|out, rows, cols| {
            let o = &mut y[out * c..(out + 1) * c];
            let inv = T::ONE / T::from_f64((frames * rows.len() * cols.len()).max(1) as f64);
            self.for_each_cell(frames, rows, cols, |p| {
                o.iter_mut().zip(&x[p..p + c]).for_each(|(s, &v)| *s += v);
            });
            o.iter_mut().for_each(|v| *v *= inv);
        });
    }

    /// The backward of [`Pool2d::avg_frames`]: each output's gradient shared over its cells.
    pub(crate) fn avg_frames_backward(&self, g: &[T], frames: usize, d: &mut [T]) {
        let c = self.input.channels;
        self.each_window(|out, rows, cols| {
            let inv = T::ONE / T::from_f64((frames * rows.len() * cols.len()).max(1) as f64);
            let g = &g[out * c..(out + 1) * c];
            self.for_each_cell(frames, rows, cols, |p| {
                d[p..p + c].iter_mut().zip(g).for_each(|(d, &g)| *d += g * inv);
            });
        });
    }
}

/// The real cells of output `o`'s window along one axis of `n` cells, `pad` of padding before
/// the first (padding is never part of a window).
pub(crate) fn window_span(o: usize, g: ConvGeometry, pad: usize, n: usize) -> Range<usize> {
    let start = (o * g.strides).saturating_sub(pad);
    start..(o * g.strides + g.kernel_size).saturating_sub(pad).min(n)
}

impl<T: Float> Layer<T> for Pool2d<T> {
    fn kind(&self) -> &'static str {
        match (self.mode, self.global) {
            (Pool2dMode::Max, false) => "max_pool2d",
            (Pool2dMode::Avg, false) => "avg_pool2d",
            (Pool2dMode::Max, true) => "global_max_pool2d",
            (Pool2dMode::Avg, true) => "global_avg_pool2d",
        }
    }

    fn output_shape(&self) -> Shape {
        if self.global {
            Shape::vector(self.output.channels)
        } else {
            Shape::frames(self.output, false)
        }
    }

    fn forward(&self, x: Seq<T>, ctx: &mut Ctx) -> (Seq<T>, Tape) {
        let (per_in, per_out) = (self.input.len(), self.output.len());
        let mut y = Seq::zeros_like(&x, per_out);
        let frames = x.data.chunks_exact(per_in).zip(y.data.chunks_exact_mut(per_out));
        let mut from = match (self.mode, ctx.training) {
            (Pool2dMode::Max, true) => vec![0u32; x.batch * per_out],
            _ => Vec::new(),
        };
        match self.mode {
            Pool2dMode::Max => {
                let mut from_frames = from.chunks_exact_mut(per_out);
                for (xf, yf) in frames {
                    self.max_frames(xf, 1, yf, from_frames.next());
                }
            }
            Pool2dMode::Avg => frames.for_each(|(xf, yf)| self.avg_frames(xf, 1, yf)),
        }
        y.zero_padding();
        (y, Tape::when(ctx.training, || MaxFrom(from)))
    }

    fn backward(&mut self, tape: Tape, dy: Seq<T>, input_grad: bool) -> Seq<T> {
        let MaxFrom(from) = tape.take(self.kind());
        let (per_in, per_out) = (self.input.len(), self.output.len());
        if !input_grad {
            return no_input_grad(&dy, per_in);
        }
        let mut dx = Seq::zeros_like(&dy, per_in);
        let frames = dy.data.chunks_exact(per_out).zip(dx.data.chunks_exact_mut(per_in));
        match self.mode {
            Pool2dMode::Max => {
                for ((g, d), from) in frames.zip(from.chunks_exact(per_out)) {
                    for (&i, &v) in from.iter().zip(g) {
                        d[i as usize] += v;
                    }
                }
            }
            Pool2dMode::Avg => frames.for_each(|(g, d)| self.avg_frames_backward(g, 1, d)),
        }
        dx.zero_padding();
        dx
    }

    fn forward_flops_per_step(&self) -> usize {
        self.output.len() * self.window.rows.kernel_size * self.window.cols.kernel_size
    }
}

#[cfg(test)]
mod tests;
