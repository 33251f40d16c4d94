//! 1D convolution over time (PyTorch `Conv1d`, Keras `Conv1D`), weight `[out, in, kernel]`.
//!
//! Implemented as im2col + one GEMM. Each sequence is convolved as if it stood alone, zero
//! padded at its own end: `same` and `causal` padding, and output lengths, are computed per
//! sequence. `same` with strides > 1 pads like TensorFlow (the odd zero goes on the right).

use crate::activation::affine_forward;
use crate::activation::{Activation, Kept};
use crate::init;
use crate::layer::{add_column_sums, Ctx, Layer, Param, Tape};
use crate::precision::{pack, InferencePath, Precision};
use crate::spec::{needs_time, size, LayerSpec};
use recur_core::lowp::PackedWeights;
use recur_core::{matmul, Float, Rng, Seq, Shape, Transpose};
use serde::{Deserialize, Serialize};

/// A 1D convolution's settings, as Keras's `Conv1D` names them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conv1dConfig {
    /// Output channels.
    pub filters: usize,
    /// Taps.
    pub kernel_size: usize,
    /// Step between outputs.
    #[serde(default = "one")]
    pub strides: usize,
    /// Spacing between taps.
    #[serde(default = "one")]
    pub dilation_rate: usize,
    /// `valid`, `same` or `causal`.
    #[serde(default)]
    pub padding: Padding,
    /// Fused activation.
    #[serde(default)]
    pub activation: Activation,
}

/// The default stride and dilation.
pub(crate) fn one() -> usize {
    1
}

impl LayerSpec for Conv1dConfig {
    fn kind(&self) -> &'static str {
        "conv1d"
    }
    fn output_shape(&self, input: Shape) -> Result<Shape, String> {
        needs_time(input)?;
        size("filters", self.filters)?;
        size("kernel_size", self.kernel_size)?;
        size("strides", self.strides)?;
        size("dilation_rate", self.dilation_rate)?;
        Ok(Shape::new(self.filters, true))
    }
    fn parameter_count(&self, input: Shape) -> u64 {
        (input.features as u64)
            .saturating_mul(self.kernel_size as u64)
            .saturating_add(1)
            .saturating_mul(self.filters as u64)
    }
    fn build<T: Float>(&self, input: Shape, rng: &mut Rng) -> Box<dyn Layer<T>> {
        let geometry = ConvGeometry {
            kernel_size: self.kernel_size,
            strides: self.strides,
            dilation_rate: self.dilation_rate,
            padding: self.padding,
        };
        Box::new(Conv1d::new(input, self.filters, geometry, self.activation, rng))
    }
}

/// How the time axis is padded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Padding {
    /// No padding: output length ⌊(L − d(k−1) − 1)/s⌋ + 1.
    #[default]
    Valid,
    /// Output length ⌈L/s⌉, input centred (TensorFlow's rule).
    Same,
    /// Output length ⌈L/s⌉, all padding on the left: step t sees no future input.
    Causal,
}

/// Geometry of a convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Taps.
    pub kernel_size: usize,
    /// Step between outputs.
    pub strides: usize,
    /// Spacing between taps.
    pub dilation_rate: usize,
    /// Padding rule.
    pub padding: Padding,
}

impl ConvGeometry {
    fn span(&self) -> usize {
        self.dilation_rate * (self.kernel_size - 1) + 1
    }

    /// Output length for an input of `len` steps.
    pub fn output_len(&self, len: usize) -> usize {
        match self.padding {
            Padding::Valid if len < self.span() => 0,
            Padding::Valid => (len - self.span()) / self.strides + 1,
            Padding::Same | Padding::Causal => len.div_ceil(self.strides),
        }
    }

    /// Zeros added before the first step of a sequence of `len` steps.
    pub fn left_pad(&self, len: usize) -> usize {
        match self.padding {
            Padding::Valid => 0,
            Padding::Causal => self.span() - 1,
            Padding::Same => {
                let out = self.output_len(len);
                let total = ((out.max(1) - 1) * self.strides + self.span()).saturating_sub(len);
                total / 2
            }
        }
    }
}

/// A 1D convolution with an optional fused activation.
#[derive(Clone)]
pub struct Conv1d<T> {
    weight: Param<T>,
    bias: Param<T>,
    geometry: ConvGeometry,
    activation: Activation,
    input: Shape,
    /// The weight as `[out, k, in]` (the im2col rows' layout), packed for reduced-precision
    /// inference, once prepared.
    packed: Option<PackedWeights>,
}

/// What backward needs: the im2col rows, the values the activation's backward reads, and the input's
/// time axis and lengths.
struct ConvTape<T> {
    cols: Vec<T>,
    kept: Kept<T>,
    in_time: usize,
    in_lengths: Vec<usize>,
}

impl<T: Float> Conv1d<T> {
    /// A Glorot-uniform initialised convolution with `filters` output channels.
    pub fn new(input: Shape, filters: usize, geometry: ConvGeometry, activation: Activation, rng: &mut Rng) -> Self {
        let (c_in, k) = (input.features, geometry.kernel_size);
        let w = init::glorot_uniform(filters * k, c_in * k, filters * c_in * k, rng);
        Conv1d {
            weight: Param::new("weight", &[filters, c_in, k], w),
            bias: Param::new("bias", &[filters], vec![T::ZERO; filters]),
            geometry,
            activation,
            input,
            packed: None,
        }
    }

    /// The weight as `[out, k, in]`: the layout of the im2col rows.
    fn taps_outermost(&self) -> Vec<T> {
        let (c_out, c_in, k) = (self.bias.len(), self.input.features, self.geometry.kernel_size);
        let mut w = vec![T::ZERO; c_out * k * c_in];
        for (o, filter) in self.weight.value.chunks_exact(c_in * k).enumerate() {
            for (c, taps) in filter.chunks_exact(k).enumerate() {
                for (j, &v) in taps.iter().enumerate() {
                    w[(o * k + j) * c_in + c] = v;
                }
            }
        }
        w
    }

    /// For each output row, the input step each tap reads (None when it falls in padding).
    fn for_each_tap(&self, x_time: usize, lengths: &[usize], out_time: usize, mut f: impl FnMut(usize, usize, usize)) {
        let g = self.geometry;
        for (b, &len) in lengths.iter().enumerate() {
            let left = g.left_pad(len) as isize;
            for t in 0..g.output_len(len) {
                for j in 0..g.kernel_size {
                    let src = (t * g.strides + j * g.dilation_rate) as isize - left;
                    if src >= 0 && (src as usize) < len {
                        f(b * out_time + t, b * x_time + src as usize, j);
                    }
                }
            }
        }
    }
}

impl<T: Float> Layer<T> for Conv1d<T> {
    fn kind(&self) -> &'static str {
        "conv1d"
    }

    fn output_shape(&self) -> Shape {
        Shape::new(self.bias.len(), true)
    }

    fn forward(&self, x: Seq<T>, ctx: &mut Ctx) -> (Seq<T>, Tape) {
        let (c_in, k, c_out) = (x.features, self.geometry.kernel_size, self.bias.len());
        let out_time = self.geometry.output_len(x.time).max(1);
        let out_lengths: Vec<usize> = x.lengths.iter().map(|&l| self.geometry.output_len(l)).collect();
        let rows = x.batch * out_time;
        let width = c_in * k;
        // im2col with the taps outermost in each row, so every tap is one contiguous copy of
        // an input step; the weight is permuted to match ([out, k, in] instead of [out, in, k]).
        let mut cols = vec![T::ZERO; rows * width];
        self.for_each_tap(x.time, &x.lengths, out_time, |row, src, j| {
            cols[row * width + j * c_in..row * width + (j + 1) * c_in]
                .copy_from_slice(&x.data[src * c_in..(src + 1) * c_in]);
        });
        let (data, z) = affine_forward(
            &cols,
            &self.taps_outermost(),
            self.packed.as_ref().filter(|_| !ctx.training),
            &self.bias.value,
            self.activation,
            ctx.training,
        );
        let mut y = Seq {
            data,
            batch: x.batch,
            time: out_time,
            features: c_out,
            lengths: out_lengths,
            sequential: true,
        };
        y.zero_padding();
        let tape = Tape::when(ctx.training, || ConvTape {
            cols,
            kept: self.activation.keep(z, &y.data),
            in_time: x.time,
            in_lengths: x.lengths,
        });
        (y, tape)
    }

    fn backward(&mut self, tape: Tape, mut dy: Seq<T>, input_grad: bool) -> Seq<T> {
        let cache: ConvTape<T> = tape.take("conv1d");
        let (c_in, k, c_out) = (self.input.features, self.geometry.kernel_size, self.bias.len());
        let (rows, width) = (dy.batch * dy.time, c_in * k);
        cache.kept.backward(&mut dy.data);
        dy.zero_padding();
        // Weight gradient in the permuted layout, then added back in PyTorch's.
        let mut d_weight = vec![T::ZERO; c_out * width];
        matmul(
            c_out,
            width,
            rows,
            &dy.data,
            c_out,
            Transpose::Yes,
            &cache.cols,
            width,
            Transpose::No,
            &mut d_weight,
            width,
            false,
        );
        for (o, row) in d_weight.chunks_exact(width).enumerate() {
            for (j, tap) in row.chunks_exact(c_in).enumerate() {
                for (c, &g) in tap.iter().enumerate() {
                    self.weight.grad[(o * c_in + c) * k + j] += g;
                }
            }
        }
        add_column_sums(&dy.data, c_out, &mut self.bias.grad);
        let like = Seq {
            data: Vec::new(),
            batch: dy.batch,
            time: cache.in_time,
            features: c_in,
            lengths: cache.in_lengths.clone(),
            sequential: true,
        };
        if !input_grad {
            return like;
        }
        let mut dcols = vec![T::ZERO; rows * width];
        matmul(
            rows,
            width,
            c_out,
            &dy.data,
            c_out,
            Transpose::No,
            &self.taps_outermost(),
            width,
            Transpose::No,
            &mut dcols,
            width,
            false,
        );
        let mut dx = Seq::zeros_like(&like, c_in);
        self.for_each_tap(cache.in_time, &cache.in_lengths, dy.time, |row, src, j| {
            let taps = &dcols[row * width + j * c_in..row * width + (j + 1) * c_in];
            for (d, &g) in dx.data[src * c_in..(src + 1) * c_in].iter_mut().zip(taps) {
                *d += g;
            }
        });
        dx
    }

    fn params(&self) -> Vec<&Param<T>> {
        vec![&self.weight, &self.bias]
    }
    fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        self.packed = None;
        vec![&mut self.weight, &mut self.bias]
    }
    fn prepare_inference(&mut self, precision: Precision) -> InferencePath {
        let (c_out, width) = (self.bias.len(), self.input.features * self.geometry.kernel_size);
        self.packed = pack(precision, &self.taps_outermost(), c_out, width);
        InferencePath::AtPrecision
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradients, check_padding_matches_alone, random_seq};

    fn conv(k: usize, s: usize, d: usize, padding: Padding, act: Activation) -> Conv1d<f64> {
        let geometry = ConvGeometry {
            kernel_size: k,
            strides: s,
            dilation_rate: d,
            padding,
        };
        Conv1d::new(Shape::new(2, true), 3, geometry, act, &mut Rng::new(4))
    }

    #[test]
    fn output_lengths_follow_keras() {
        let g = |k, s, d, p| ConvGeometry {
            kernel_size: k,
            strides: s,
            dilation_rate: d,
            padding: p,
        };
        assert_eq!(g(3, 1, 1, Padding::Valid).output_len(10), 8);
        assert_eq!(g(3, 2, 2, Padding::Valid).output_len(10), 3);
        assert_eq!(g(5, 2, 1, Padding::Same).output_len(10), 5);
        assert_eq!(g(4, 2, 1, Padding::Same).left_pad(10), 1); // total 2: 1 left, 1 right
        assert_eq!(g(4, 3, 1, Padding::Same).left_pad(10), 1); // total 3: 1 left, 2 right
        assert_eq!(g(3, 1, 2, Padding::Causal).left_pad(10), 4);
    }

    #[test]
    fn gradients_match_finite_differences() {
        for (k, s, d, p) in [
            (3, 1, 1, Padding::Same),
            (4, 2, 1, Padding::Same),
            (3, 2, 2, Padding::Valid),
            (2, 1, 3, Padding::Causal),
        ] {
            let mut layer = conv(k, s, d, p, Activation::Tanh);
            check_gradients(&mut layer, &random_seq(2, 9, 2, &[9, 6], 5), 1e-5);
        }
    }

    #[test]
    fn padded_batch_matches_each_sequence_alone() {
        for (k, s, d, p) in [
            (5, 1, 1, Padding::Same),
            (4, 2, 1, Padding::Same),
            (3, 3, 1, Padding::Same),
            (3, 1, 2, Padding::Causal),
            (3, 2, 1, Padding::Valid),
        ] {
            let mut layer = conv(k, s, d, p, Activation::Relu);
            check_padding_matches_alone(&mut layer, &random_seq(3, 11, 2, &[11, 7, 8], 6));
        }
    }
}
