//! Batch normalisation over features (PyTorch `BatchNorm1d`). Training statistics are taken
//! over the real steps only, so padding never shifts them; running mean and (unbiased)
//! variance are updated PyTorch's way and used at inference. The running update is applied
//! when the step's backward consumes the tape, which keeps forward a shared `&self` call; a
//! training step always runs both, so the statistics are those PyTorch's forward would keep.

use crate::layer::{no_input_grad, Ctx, Layer, Param, Tape};
use crate::spec::LayerSpec;
use recur_core::math::dispatch;
use recur_core::{Float, Rng, Seq, Shape};
use serde::{Deserialize, Serialize};

/// Batch normalisation's settings (PyTorch's defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchNormConfig {
    /// Added to the variance.
    #[serde(default = "default_epsilon")]
    pub epsilon: f64,
    /// Running-statistics update rate (PyTorch's convention).
    #[serde(default = "default_momentum")]
    pub momentum: f64,
}

/// PyTorch's and Keras's ε for the normalisation layers.
pub(crate) fn default_epsilon() -> f64 {
    1e-5
}
fn default_momentum() -> f64 {
    0.1
}

/// The values normalised together: each frame's channels, or each step's features.
fn normalised_width(input: Shape) -> usize {
    input.frame.map_or(input.features, |f| f.channels)
}

impl LayerSpec for BatchNormConfig {
    fn kind(&self) -> &'static str {
        "batch_norm"
    }
    fn output_shape(&self, input: Shape) -> Result<Shape, String> {
        if self.epsilon <= 0.0 || !(0.0..=1.0).contains(&self.momentum) {
            return Err("epsilon must be positive and momentum in [0, 1]".into());
        }
        Ok(input)
    }
    fn parameter_count(&self, input: Shape) -> u64 {
        4 * normalised_width(input) as u64 + 1
    }
    fn build<T: Float>(&self, input: Shape, _rng: &mut Rng) -> Box<dyn Layer<T>> {
        Box::new(BatchNorm::new(input, self.epsilon, self.momentum))
    }
    fn takes_frames(&self) -> bool {
        true
    }
    fn applies_per_step(&self) -> bool {
        true
    }
}

/// Batch normalisation with learnable scale (`weight`) and shift (`bias`).
#[derive(Clone)]
pub struct BatchNorm<T> {
    weight: Param<T>,
    bias: Param<T>,
    running_mean: Param<T>,
    running_var: Param<T>,
    /// Kept for PyTorch's state_dict (`num_batches_tracked`, stored as an integer).
    batches_tracked: Param<T>,
    epsilon: f64,
    momentum: f64,
    input: Shape,
}

/// The layout of a batch of frames, put back by [`FrameLayout::restore`] after normalising
/// (or pooling) it as rows of channels.
pub(crate) struct FrameLayout {
    time: usize,
    features: usize,
    lengths: Vec<usize>,
    sequential: bool,
}

/// A batch of frames as a batch of `channels`-wide rows, each sequence's real pixels first
/// (frames are channels last, so this moves nothing): BatchNorm2d's statistics per channel
/// over every real pixel are then those this layer takes per feature over real steps.
pub(crate) fn channel_rows<T: Float>(x: Seq<T>, channels: usize) -> (Seq<T>, FrameLayout) {
    let pixels = x.features / channels;
    let layout = FrameLayout {
        time: x.time,
        features: x.features,
        lengths: x.lengths.clone(),
        sequential: x.sequential,
    };
    let rows = Seq {
        data: x.data,
        batch: x.batch,
        time: x.time * pixels,
        features: channels,
        lengths: x.lengths.iter().map(|l| l * pixels).collect(),
        sequential: true,
    };
    (rows, layout)
}

impl FrameLayout {
    /// `rows` (as [`channel_rows`] laid them out) back in the frames' layout.
    pub(crate) fn restore<T: Float>(self, rows: Seq<T>) -> Seq<T> {
        Seq {
            data: rows.data,
            batch: rows.batch,
            time: self.time,
            features: self.features,
            lengths: self.lengths,
            sequential: self.sequential,
        }
    }
}

/// What backward needs (the input, from which it computes x̂ again as forward did), and the
/// batch statistics the running averages take in.
struct BnTape<T> {
    x: Seq<T>,
    mean: Vec<T>,
    inv_std: Vec<T>,
    /// The batch's mean and unbiased variance (None when it had no real step).
    batch_stats: Option<(Vec<f64>, Vec<f64>)>,
}

/// Values per block of the per-feature loops: whole copies of the features, about 512
/// values, so that a loop over a block runs as long vector operations however few features a
/// row has (a frame's 16 channels gave loops too short to vectorise).
fn tile_len(features: usize) -> usize {
    features * (512 / features.max(1)).max(1)
}

/// `v` repeated to [`tile_len`] values, lined up with a block of rows.
fn tiled<T: Copy>(v: &[T]) -> Vec<T> {
    v.iter().copied().cycle().take(tile_len(v.len())).collect()
}

/// Per-feature totals of a [`tiled`] accumulator.
fn fold_tiles<T: Float>(tiles: &[T], features: usize) -> Vec<T> {
    let mut out = vec![T::ZERO; features];
    for tile in tiles.chunks_exact(features) {
        out.iter_mut().zip(tile).for_each(|(o, &v)| *o += v);
    }
    out
}

/// Where each sequence's real steps lie in `seq.data` (one run per sequence).
fn valid_spans<T: Float>(seq: &Seq<T>) -> impl Iterator<Item = std::ops::Range<usize>> + '_ {
    let row = seq.time * seq.features;
    (0..seq.batch).map(move |b| b * row..b * row + seq.lengths[b] * seq.features)
}

/// Each feature's mean and (biased) variance over the real steps, summed in f64 (a long batch
/// of f32 would lose digits) in one pass: the values are taken relative to the first real
/// step's, so the sum of squares does not cancel when the mean is large beside the spread.
fn batch_statistics<T: Float>(x: &Seq<T>) -> (Vec<f64>, Vec<f64>) {
    let f = x.features;
    let first = valid_spans(x).find(|s| !s.is_empty()).map_or(0, |s| s.start);
    let origin: Vec<f64> = x.data[first..first + f].iter().map(|v| v.to_f64()).collect();
    let origin = tiled(&origin);
    let (mut s1, mut s2) = (vec![0.0f64; origin.len()], vec![0.0f64; origin.len()]);
    dispatch(
        #[inline(always)]
        || {
            for span in valid_spans(x) {
                for block in x.data[span].chunks(origin.len()) {
                    for (((a, b), &v), &o) in s1.iter_mut().zip(s2.iter_mut()).zip(block).zip(&origin) {
                        let d = v.to_f64() - o;
                        *a += d;
                        *b += d * d;
                    }
                }
            }
        },
    );
    let count = x.valid_steps() as f64;
    let (s1, s2) = (fold_tiles(&s1, f), fold_tiles(&s2, f));
    let mean = s1.iter().zip(&origin).map(|(s, o)| o + s / count).collect();
    let var = s1
        .iter()
        .zip(&s2)
        .map(|(s, q)| (q / count - (s / count).powi(2)).max(0.0))
        .collect();
    (mean, var)
}

impl<T: Float> BatchNorm<T> {
    /// Identity-initialised normalisation; `momentum` in PyTorch's convention (0.1 default).
    /// Over frames the statistics are per channel (PyTorch `BatchNorm2d`).
    pub fn new(input: Shape, epsilon: f64, momentum: f64) -> Self {
        let f = normalised_width(input);
        BatchNorm {
            weight: Param::new("weight", &[f], vec![T::ONE; f]),
            bias: Param::new("bias", &[f], vec![T::ZERO; f]),
            running_mean: Param::buffer("running_mean", &[f], vec![T::ZERO; f]),
            running_var: Param::buffer("running_var", &[f], vec![T::ONE; f]),
            batches_tracked: Param::buffer("num_batches_tracked", &[], vec![T::ZERO]),
            epsilon,
            momentum,
            input,
        }
    }
}

impl<T: Float> Layer<T> for BatchNorm<T> {
    fn kind(&self) -> &'static str {
        "batch_norm"
    }
    fn output_shape(&self) -> Shape {
        self.input
    }

    fn forward(&self, x: Seq<T>, ctx: &mut Ctx) -> (Seq<T>, Tape) {
        if x.features != self.weight.len() {
            let (rows, layout) = channel_rows(x, self.weight.len());
            let (y, tape) = self.forward(rows, ctx);
            return (layout.restore(y), tape);
        }
        let eps = T::from_f64(self.epsilon);
        let (mean, inv_std, batch_stats) = if ctx.training && x.valid_steps() > 0 {
            let (mean, var) = batch_statistics(&x);
            let count = x.valid_steps();
            let unbias = count as f64 / (count.max(2) - 1) as f64;
            let inv: Vec<T> = var.iter().map(|v| T::ONE / (T::from_f64(*v) + eps).sqrt()).collect();
            let batch_mean = mean.iter().copied().map(T::from_f64).collect();
            let stats = (mean, var.iter().map(|v| v * unbias).collect());
            (batch_mean, inv, Some(stats))
        } else {
            let inv: Vec<T> = self
                .running_var
                .value
                .iter()
                .map(|&v| T::ONE / (v + eps).sqrt())
                .collect();
            (self.running_mean.value.clone(), inv, None)
        };
        // y = (x − mean)·inv_std·w + b, as one multiply-add per value.
        let (weight, bias) = (&self.weight.value, &self.bias.value);
        let scale: Vec<T> = inv_std.iter().zip(weight).map(|(&inv, &w)| inv * w).collect();
        let shift: Vec<T> = scale
            .iter()
            .zip(&mean)
            .zip(bias)
            .map(|((&s, &m), &b)| b - m * s)
            .collect();
        let (scale, shift) = (tiled(&scale), tiled(&shift));
        let mut y = Vec::with_capacity(x.data.len());
        dispatch(
            #[inline(always)]
            || {
                for block in x.data.chunks(scale.len()) {
                    y.extend(block.iter().zip(&scale).zip(&shift).map(|((&v, &s), &t)| v * s + t));
                }
            },
        );
        let mut y = Seq {
            data: y,
            batch: x.batch,
            time: x.time,
            features: x.features,
            lengths: x.lengths.clone(),
            sequential: x.sequential,
        };
        y.zero_padding();
        let tape = Tape::when(ctx.training, || BnTape {
            x,
            mean,
            inv_std,
            batch_stats,
        });
        (y, tape)
    }

    fn backward(&mut self, tape: Tape, dy: Seq<T>, input_grad: bool) -> Seq<T> {
        if dy.features != self.weight.len() {
            let (rows, layout) = channel_rows(dy, self.weight.len());
            return layout.restore(self.backward(tape, rows, input_grad));
        }
        let cache: BnTape<T> = tape.take("batch_norm");
        if let Some((mean, var)) = &cache.batch_stats {
            let m = self.momentum;
            for j in 0..mean.len() {
                let rm = &mut self.running_mean.value[j];
                *rm = T::from_f64((1.0 - m) * rm.to_f64() + m * mean[j]);
                let rv = &mut self.running_var.value[j];
                *rv = T::from_f64((1.0 - m) * rv.to_f64() + m * var[j]);
            }
            self.batches_tracked.value[0] += T::ONE;
        }
        let f = dy.features;
        let n = T::from_f64(dy.valid_steps().max(1) as f64);
        let (mean, inv) = (tiled(&cache.mean), tiled(&cache.inv_std));
        let mut dx = dy;
        let (mut sum_dy, mut sum_dy_xhat) = (vec![T::ZERO; mean.len()], vec![T::ZERO; mean.len()]);
        dispatch(
            #[inline(always)]
            || {
                for span in valid_spans(&dx) {
                    let blocks = dx.data[span.clone()]
                        .chunks(mean.len())
                        .zip(cache.x.data[span].chunks(mean.len()));
                    for (g, x) in blocks {
                        let sums = sum_dy.iter_mut().zip(sum_dy_xhat.iter_mut());
                        for ((((s1, s2), &g), &x), (&m, &inv)) in sums.zip(g).zip(x).zip(mean.iter().zip(&inv)) {
                            *s1 += g;
                            *s2 += g * ((x - m) * inv);
                        }
                    }
                }
            },
        );
        let (sum_dy, sum_dy_xhat) = (fold_tiles(&sum_dy, f), fold_tiles(&sum_dy_xhat, f));
        for j in 0..f {
            self.weight.grad[j] += sum_dy_xhat[j];
            self.bias.grad[j] += sum_dy[j];
        }
        if !input_grad {
            return no_input_grad(&dx, f);
        }
        // dx = w·inv_std/n · (n·dy − Σdy − x̂·Σdy·x̂), per feature, in place of dy.
        let scale: Vec<T> = self
            .weight
            .value
            .iter()
            .zip(&cache.inv_std)
            .map(|(&w, &inv)| w * inv / n)
            .collect();
        let (scale, s1, s2) = (tiled(&scale), tiled(&sum_dy), tiled(&sum_dy_xhat));
        dispatch(
            #[inline(always)]
            || {
                let spans: Vec<_> = valid_spans(&dx).collect();
                for span in spans {
                    let blocks = dx.data[span.clone()]
                        .chunks_mut(mean.len())
                        .zip(cache.x.data[span].chunks(mean.len()));
                    for (g, x) in blocks {
                        let per_feature = scale.iter().zip(&s1).zip(&s2).zip(mean.iter().zip(&inv));
                        for ((g, &x), (((&a, &s1), &s2), (&m, &inv))) in g.iter_mut().zip(x).zip(per_feature) {
                            *g = a * (n * *g - s1 - (x - m) * inv * s2);
                        }
                    }
                }
            },
        );
        dx.zero_padding();
        dx
    }

    fn params(&self) -> Vec<&Param<T>> {
        vec![
            &self.weight,
            &self.bias,
            &self.running_mean,
            &self.running_var,
            &self.batches_tracked,
        ]
    }
    fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        vec![
            &mut self.weight,
            &mut self.bias,
            &mut self.running_mean,
            &mut self.running_var,
            &mut self.batches_tracked,
        ]
    }
    fn forward_flops_per_step(&self) -> usize {
        4 * self.input.features
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{assert_close, check_gradients, random_seq};
    use recur_core::Rng;

    fn layer() -> BatchNorm<f64> {
        let mut bn = BatchNorm::new(Shape::new(3, true), 1e-5, 0.1);
        bn.weight.value = vec![0.5, 1.5, -1.0];
        bn.bias.value = vec![0.1, -0.2, 0.3];
        bn
    }

    #[test]
    fn gradients_match_finite_differences() {
        check_gradients(&mut layer(), &random_seq(3, 4, 3, &[4, 2, 3], 1), 1e-5);
    }

    /// Statistics over a padded batch equal those over its real steps laid end to end.
    #[test]
    fn statistics_skip_padding() {
        let x = random_seq(2, 5, 3, &[5, 2], 2);
        let mut packed = Vec::new();
        for b in 0..2 {
            for t in 0..x.lengths[b] {
                packed.extend_from_slice(x.step(b, t));
            }
        }
        let packed = Seq::new(packed, 1, 7, 3, vec![7]).unwrap();
        let mut rng = Rng::new(0);
        let (mut a, mut b) = (layer(), layer());
        let mut train = |layer: &mut BatchNorm<f64>, x: Seq<f64>| {
            let (y, tape) = layer.forward(x, &mut Ctx::new(true, &mut rng));
            // The running statistics take the batch in when the step's backward runs.
            layer.backward(tape, Seq::zeros_like(&y, y.features), false);
            y
        };
        let ya = train(&mut a, x.clone());
        let yb = train(&mut b, packed);
        assert_close(ya.step(1, 1), yb.step(0, 6), "normalised output");
        assert_close(&a.running_var.value, &b.running_var.value, "running variance");
        assert!(ya.step(1, 3).iter().all(|&v| v == 0.0), "padding stays zero");
    }

    /// The one-pass statistics of f32 values far from zero (a mean 10⁴ times their spread)
    /// equal the two-pass ones in f64, over more rows than one block of the per-feature loop.
    #[test]
    fn statistics_hold_for_values_far_from_zero() {
        let (rows, f) = (1000, 3);
        let mut rng = Rng::new(5);
        let data: Vec<f32> = (0..rows * f)
            .map(|_| 1e4 + rng.uniform_range(-1.0, 1.0) as f32)
            .collect();
        let x = Seq::new(data.clone(), 1, rows, f, vec![rows]).unwrap();
        let (mean, var) = batch_statistics(&x);
        for j in 0..f {
            let column: Vec<f64> = data.iter().skip(j).step_by(f).map(|&v| v as f64).collect();
            let m = column.iter().sum::<f64>() / rows as f64;
            let v = column.iter().map(|c| (c - m).powi(2)).sum::<f64>() / rows as f64;
            assert!(
                (mean[j] - m).abs() < 1e-9 && (var[j] - v).abs() < 1e-9 * v,
                "feature {j}: {} {}",
                mean[j],
                var[j]
            );
        }
    }
}
