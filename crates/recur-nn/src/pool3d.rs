//! Pooling over a clip: `max_pool3d` and `avg_pool3d` over windows of time, rows and columns
//! (PyTorch `MaxPool3d` / `AvgPool3d`, Keras `MaxPooling3D` / `AveragePooling3D`), and
//! `global_avg_pool3d` / `global_max_pool3d` over each clip's real steps and pixels, which give
//! one vector of channels per clip (Keras `GlobalAveragePooling3D`).
//!
//! A window's cells along rows and columns are `max_pool2d`'s, over the window's frames; along
//! time each clip is pooled as if it stood alone (its own length decides its output steps and
//! `same` padding), so a padded batch gives what each clip gives alone. Padding is never part
//! of a window: a mean is over the window's real cells (PyTorch's `count_include_pad=False`).

use crate::batch_norm::{channel_rows, FrameLayout};
use crate::conv1d::ConvGeometry;
use crate::conv2d::{output_frame, Padding2d, Size3};
use crate::conv3d::{input_clip, Window3d};
use crate::layer::{Ctx, Layer, Tape};
use crate::pool2d::{pool_config, window_span, Pool2d, Pool2dMode};
use crate::pooling::{GlobalPool, PoolMode};
use crate::spec::{settingless_layer, LayerSpec};
use recur_core::{Float, Frame, Rng, Seq, Shape};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// A windowed 3D pooling's settings, as Keras names them; sizes are a number or
/// `[time, rows, columns]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool3dConfig {
    /// Window steps, rows and columns.
    #[serde(default = "two")]
    pub pool_size: Size3,
    /// Step between windows (default: the window, so windows do not overlap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strides: Option<Size3>,
    /// `valid` or `same`, along every axis.
    #[serde(default)]
    pub padding: Padding2d,
}

fn two() -> Size3 {
    Size3::All(2)
}

impl Pool3dConfig {
    fn window(&self) -> Window3d {
        let size = self.pool_size.get();
        let strides = self.strides.map_or(size, Size3::get);
        Window3d::new(size, strides, [1; 3], self.padding)
    }

    fn output_shape(&self, input: Shape) -> Result<Shape, String> {
        let frame = input_clip(input)?;
        self.pool_size.check("pool_size")?;
        if let Some(s) = self.strides {
            s.check("strides")?;
        }
        let out = output_frame(self.window().frame.output_size(frame)?, frame.channels)?;
        Ok(Shape::frames(out, true))
    }
}

pool_config!(
    /// `max_pool3d`'s settings.
    MaxPool3dConfig(Pool3dConfig),
    "max_pool3d",
    |settings, frame| Pool3d::new(frame, settings.window(), Pool2dMode::Max)
);
pool_config!(
    /// `avg_pool3d`'s settings.
    AvgPool3dConfig(Pool3dConfig),
    "avg_pool3d",
    |settings, frame| Pool3d::new(frame, settings.window(), Pool2dMode::Avg)
);

settingless_layer!(
    /// `global_avg_pool3d`: the mean of each channel over a clip's real steps and pixels.
    GlobalAvgPool3dConfig,
    "global_avg_pool3d",
    frames: true,
    |input| shape: Ok(Shape::vector(input_clip(input)?.channels)),
    build: GlobalPool3d::new(input, PoolMode::Mean)
);
settingless_layer!(
    /// `global_max_pool3d`: the max of each channel over a clip's real steps and pixels.
    GlobalMaxPool3dConfig,
    "global_max_pool3d",
    frames: true,
    |input| shape: Ok(Shape::vector(input_clip(input)?.channels)),
    build: GlobalPool3d::new(input, PoolMode::Max)
);

/// Pooling over windows of time, rows and columns of each clip, channel by channel.
#[derive(Clone)]
pub struct Pool3d<T> {
    /// Over rows and columns of the window's frames.
    frame: Pool2d<T>,
    time: ConvGeometry,
    mode: Pool2dMode,
    input: Frame,
    output: Frame,
}

/// What backward needs: the input's time axis and lengths, and of a max the index each output
/// came from, counted from the first frame of its window (a mean needs no more: its windows'
/// counts are known from the geometry).
struct Pool3dTape {
    from: Vec<u32>,
    time: usize,
    lengths: Vec<usize>,
}

impl<T: Float> Pool3d<T> {
    /// Pooling of clips of `input` frames over `window`.
    pub fn new(input: Frame, window: Window3d, mode: Pool2dMode) -> Self {
        let output = Frame {
            height: window.frame.rows.output_len(input.height),
            width: window.frame.cols.output_len(input.width),
            channels: input.channels,
        };
        Pool3d {
            frame: Pool2d::new(input, window.frame, mode, false),
            time: window.time,
            mode,
            input,
            output,
        }
    }

    /// Calls `f(clip, output step, its window's real steps)` for every real output step.
    fn each_window(&self, lengths: &[usize], mut f: impl FnMut(usize, usize, Range<usize>)) {
        for (b, &len) in lengths.iter().enumerate() {
            let pad = self.time.left_pad(len);
            for t in 0..self.time.output_len(len) {
                f(b, t, window_span(t, self.time, pad, len));
            }
        }
    }
}

impl<T: Float> Layer<T> for Pool3d<T> {
    fn kind(&self) -> &'static str {
        match self.mode {
            Pool2dMode::Max => "max_pool3d",
            Pool2dMode::Avg => "avg_pool3d",
        }
    }

    fn output_shape(&self) -> Shape {
        Shape::frames(self.output, true)
    }

    fn forward(&self, x: Seq<T>, ctx: &mut Ctx) -> (Seq<T>, Tape) {
        let out_time = self.time.output_len(x.time).max(1);
        let per_out = self.output.len();
        let mut y = Seq {
            data: vec![T::ZERO; x.batch * out_time * per_out],
            batch: x.batch,
            time: out_time,
            features: per_out,
            lengths: x.lengths.iter().map(|&l| self.time.output_len(l)).collect(),
            sequential: true,
        };
        let keep_from = self.mode == Pool2dMode::Max && ctx.training;
        let mut from = vec![0u32; if keep_from { y.data.len() } else { 0 }];
        self.each_window(&x.lengths, |b, t, steps| {
            let xs = &x.data[x.offset(b, steps.start)..x.offset(b, steps.end)];
            let at = y.offset(b, t)..y.offset(b, t) + per_out;
            match self.mode {
                Pool2dMode::Max => {
                    let from = keep_from.then(|| &mut from[at.clone()]);
                    self.frame.max_frames(xs, steps.len(), &mut y.data[at], from)
                }
                Pool2dMode::Avg => self.frame.avg_frames(xs, steps.len(), &mut y.data[at]),
            }
        });
        let tape = Tape::when(ctx.training, || Pool3dTape {
            from,
            time: x.time,
            lengths: x.lengths,
        });
        (y, tape)
    }

    fn backward(&mut self, tape: Tape, dy: Seq<T>, input_grad: bool) -> Seq<T> {
        let tape: Pool3dTape = tape.take(self.kind());
        let (per_in, per_out) = (self.input.len(), self.output.len());
        let like = Seq {
            data: Vec::new(),
            batch: dy.batch,
            time: tape.time,
            features: per_in,
            lengths: tape.lengths,
            sequential: true,
        };
        if !input_grad {
            return like;
        }
        let mut dx = Seq::zeros_like(&like, per_in);
        self.each_window(&like.lengths, |b, t, steps| {
            let out = dy.offset(b, t)..dy.offset(b, t) + per_out;
            let d = &mut dx.data[like.offset(b, steps.start)..like.offset(b, steps.end)];
            match self.mode {
                Pool2dMode::Max => {
                    let from = &tape.from[out.clone()];
                    from.iter().zip(&dy.data[out]).for_each(|(&i, &v)| d[i as usize] += v);
                }
                Pool2dMode::Avg => self.frame.avg_frames_backward(&dy.data[out], steps.len(), d),
            }
        });
        dx
    }

    fn forward_flops_per_step(&self) -> usize {
        self.output.len() * self.time.kernel_size / self.time.strides
    }
}

/// A global pooling over each clip's real steps and pixels: the clips as rows of channels
/// (each clip's real pixels first, as batch norm lays them out), pooled over time.
#[derive(Clone)]
pub struct GlobalPool3d<T> {
    rows: GlobalPool<T>,
    mode: PoolMode,
    channels: usize,
}

impl<T: Float> GlobalPool3d<T> {
    /// `mode` over clips of `input` frames.
    pub fn new(input: Shape, mode: PoolMode) -> Self {
        let channels = input.frame.expect("pooling is built for frames").channels;
        GlobalPool3d {
            rows: GlobalPool::new(Shape::sequence(channels), mode),
            mode,
            channels,
        }
    }
}

impl<T: Float> Layer<T> for GlobalPool3d<T> {
    fn kind(&self) -> &'static str {
        match self.mode {
            PoolMode::Max => "global_max_pool3d",
            _ => "global_avg_pool3d",
        }
    }

    fn output_shape(&self) -> Shape {
        Shape::vector(self.channels)
    }

    fn forward(&self, x: Seq<T>, ctx: &mut Ctx) -> (Seq<T>, Tape) {
        let (rows, layout) = channel_rows(x, self.channels);
        let (y, tape) = self.rows.forward(rows, ctx);
        (y, Tape::when(ctx.training, || (tape, layout)))
    }

    fn backward(&mut self, tape: Tape, dy: Seq<T>, input_grad: bool) -> Seq<T> {
        let (tape, layout): (Tape, FrameLayout) = tape.take(self.kind());
        layout.restore(self.rows.backward(tape, dy, input_grad))
    }
}

#[cfg(test)]
mod tests;
