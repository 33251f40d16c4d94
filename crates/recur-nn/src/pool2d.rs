//! Pooling over a frame: `max_pool2d` and `avg_pool2d` over windows (PyTorch `MaxPool2d` /
//! `AvgPool2d`, Keras `MaxPooling2D` / `AveragePooling2D`), and `global_avg_pool2d` /
//! `global_max_pool2d` over the whole frame, which give one vector of channels (Keras
//! `GlobalAveragePooling2D`), the way from frames to the vectors a recurrent layer reads.
//! A global pool is a window the size of the frame. `same` padding never counts padded cells:
//! an average is over the window's real cells (as Keras, and PyTorch's
//! `count_include_pad=False`), and a max never picks padding.

use crate::conv2d::{input_frame, Padding2d, Size2, Window2d};
use crate::layer::{no_input_grad, Ctx, Layer, Tape};
use crate::spec::{at_most_width, LayerSpec};
use recur_core::{Float, Frame, Rng, Seq, Shape};
use serde::{Deserialize, Serialize};

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
    Size2::Both(2)
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
        let [height, width] = self.window().output_size(frame)?;
        let out = Frame {
            height,
            width,
            channels: frame.channels,
        };
        at_most_width("output values per frame", out.len())?;
        Ok(Shape::frames(out, false))
    }
}

/// A windowed pooling type: its settings are [`Pool2dConfig`], its mode fixed by its type.
macro_rules! pool2d_config {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $mode:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Pool2dConfig);

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
                let frame = input.frame.expect("pooling is built for frames");
                Box::new(Pool2d::new(frame, self.0.window(), $mode, false))
            }
            fn takes_frames(&self) -> bool {
                true
            }
        }
    };
}

pool2d_config!(
    /// `max_pool2d`'s settings.
    MaxPool2dConfig,
    "max_pool2d",
    Pool2dMode::Max
);
pool2d_config!(
    /// `avg_pool2d`'s settings.
    AvgPool2dConfig,
    "avg_pool2d",
    Pool2dMode::Avg
);

/// A global pooling over a frame: no settings, its mode fixed by its type.
macro_rules! global_pool2d_config {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $mode:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct $name {}

        impl LayerSpec for $name {
            fn kind(&self) -> &'static str {
                $kind
            }
            fn output_shape(&self, input: Shape) -> Result<Shape, String> {
                Ok(Shape::vector(input_frame(input)?.channels))
            }
            fn parameter_count(&self, _input: Shape) -> u64 {
                0
            }
            fn build<T: Float>(&self, input: Shape, _rng: &mut Rng) -> Box<dyn Layer<T>> {
                let frame = input.frame.expect("pooling is built for frames");
                let whole = Window2d::new([frame.height, frame.width], [1, 1], [1, 1], Padding2d::Valid);
                Box::new(Pool2d::new(frame, whole, $mode, true))
            }
            fn takes_frames(&self) -> bool {
                true
            }
        }
    };
}

global_pool2d_config!(
    /// `global_avg_pool2d`: the mean of each channel over the frame.
    GlobalAvgPool2dConfig,
    "global_avg_pool2d",
    Pool2dMode::Avg
);
global_pool2d_config!(
    /// `global_max_pool2d`: the max of each channel over the frame.
    GlobalMaxPool2dConfig,
    "global_max_pool2d",
    Pool2dMode::Max
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

/// What backward needs: for a max, the input index each output came from; for a mean, each
/// output pixel's count of real cells.
enum PoolTape {
    Max(Vec<u32>),
    Avg(Vec<u32>),
}

impl<T: Float> Pool2d<T> {
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

    /// Max over each window of one frame; `from` receives each output's input index.
    fn max_frame(&self, x: &[T], y: &mut [T], from: &mut [u32]) {
        let c = self.input.channels;
        y.fill(T::from_f64(f64::NEG_INFINITY));
        self.window.for_each_tap(self.input, |out, _, source| {
            if let Some(p) = source {
                for ch in 0..c {
                    let v = x[p * c + ch];
                    if v > y[out * c + ch] {
                        y[out * c + ch] = v;
                        from[out * c + ch] = (p * c + ch) as u32;
                    }
                }
            }
        });
    }

    /// Mean over each window's real cells of one frame; `counts` receives each output pixel's.
    fn avg_frame(&self, x: &[T], y: &mut [T], counts: &mut [u32]) {
        let c = self.input.channels;
        self.window.for_each_tap(self.input, |out, _, source| {
            if let Some(p) = source {
                counts[out] += 1;
                for ch in 0..c {
                    y[out * c + ch] += x[p * c + ch];
                }
            }
        });
        for (pixel, &n) in y.chunks_exact_mut(c).zip(counts.iter()) {
            let inv = T::ONE / T::from_f64(n.max(1) as f64);
            pixel.iter_mut().for_each(|v| *v *= inv);
        }
    }
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
        let (per_in, per_out, pixels) = (self.input.len(), self.output.len(), self.output.pixels());
        let mut y = Seq::zeros_like(&x, per_out);
        let frames = x.data.chunks_exact(per_in).zip(y.data.chunks_exact_mut(per_out));
        let tape = match self.mode {
            Pool2dMode::Max => {
                let mut from = vec![0u32; x.batch * per_out];
                for ((xf, yf), ff) in frames.zip(from.chunks_exact_mut(per_out)) {
                    self.max_frame(xf, yf, ff);
                }
                // A window wholly in padding (none with these geometries) gives zero, not -inf.
                y.data.iter_mut().filter(|v| !v.is_finite()).for_each(|v| *v = T::ZERO);
                PoolTape::Max(from)
            }
            Pool2dMode::Avg => {
                let mut counts = vec![0u32; x.batch * pixels];
                for ((xf, yf), cf) in frames.zip(counts.chunks_exact_mut(pixels)) {
                    self.avg_frame(xf, yf, cf);
                }
                PoolTape::Avg(counts)
            }
        };
        y.zero_padding();
        let per_batch = x.batch;
        (y, Tape::when(ctx.training, || (tape, per_batch)))
    }

    fn backward(&mut self, tape: Tape, dy: Seq<T>, input_grad: bool) -> Seq<T> {
        let (tape, batch): (PoolTape, usize) = tape.take(self.kind());
        let (per_in, per_out, c) = (self.input.len(), self.output.len(), self.input.channels);
        if !input_grad {
            return no_input_grad(&dy, per_in);
        }
        let mut dx = Seq::zeros_like(&dy, per_in);
        for b in 0..batch {
            let (g, d) = (
                &dy.data[b * per_out..(b + 1) * per_out],
                &mut dx.data[b * per_in..(b + 1) * per_in],
            );
            match &tape {
                PoolTape::Max(from) => {
                    for (&i, &v) in from[b * per_out..(b + 1) * per_out].iter().zip(g) {
                        d[i as usize] += v;
                    }
                }
                PoolTape::Avg(counts) => {
                    let counts = &counts[b * self.output.pixels()..(b + 1) * self.output.pixels()];
                    self.window.for_each_tap(self.input, |out, _, source| {
                        if let Some(p) = source {
                            let inv = T::ONE / T::from_f64(counts[out].max(1) as f64);
                            for ch in 0..c {
                                d[p * c + ch] += g[out * c + ch] * inv;
                            }
                        }
                    });
                }
            }
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
