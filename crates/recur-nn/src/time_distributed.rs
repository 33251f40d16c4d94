//! `time_distributed` (Keras `TimeDistributed`): a layer applied to every step of a sequence
//! on its own. A layer that already works per step (dense, activation, dropout, layer_norm,
//! batch_norm, gated_activation, embedding) is simply that layer, with the same tensors and
//! names. Any other layer that takes one value per sequence (a `conv2d` over a frame, a
//! pooling of a frame) runs on the sequence with time folded into the batch: the real steps of
//! every sequence become one batch of frames, padded steps are skipped (they cost nothing and
//! receive no gradient), and the results are laid back on the time axis.

use crate::config::LayerConfig;
use crate::layer::{no_input_grad, Ctx, Layer, Param, Tape};
use crate::precision::{InferencePath, Precision};
use crate::spec::LayerSpec;
use recur_core::{Float, Rng, Seq, Shape};
use serde::{Deserialize, Serialize};

/// `time_distributed`'s settings: the layer it applies to every step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeDistributedConfig {
    /// The per-step layer.
    pub layer: Box<LayerConfig>,
}

impl TimeDistributedConfig {
    /// Whether the inner layer runs on the sequence as it is (no folding): it works per step,
    /// and takes the step's value as it comes (a vector, or a frame it reads as one).
    fn per_step(&self, input: Shape) -> bool {
        self.layer.applies_per_step() && (input.frame.is_none() || self.layer.takes_frames())
    }

    /// The shape the inner layer is built for.
    fn inner_input(&self, input: Shape) -> Shape {
        if self.per_step(input) {
            input
        } else {
            input.with_sequential(false)
        }
    }
}

impl LayerSpec for TimeDistributedConfig {
    fn kind(&self) -> &'static str {
        self.layer.kind()
    }

    fn output_shape(&self, input: Shape) -> Result<Shape, String> {
        if self.per_step(input) {
            return self.layer.output_shape(input);
        }
        if !input.sequential {
            return Err("time_distributed applies its layer to every step of a sequence, but its input is one value per sequence".into());
        }
        let refused = |why: String| {
            format!(
                "time_distributed wraps a per-step layer (dense, activation, dropout, layer_norm, batch_norm, \
                 gated_activation, embedding) or a layer over one frame (conv2d, max_pool2d, avg_pool2d, \
                 global_avg_pool2d, global_max_pool2d); {} on one step: {why}",
                self.layer.kind()
            )
        };
        let out = self.layer.output_shape(self.inner_input(input)).map_err(refused)?;
        if out.sequential {
            return Err(refused("it gives a sequence".into()));
        }
        Ok(out.with_sequential(true))
    }

    fn parameter_count(&self, input: Shape) -> u64 {
        self.layer.parameter_count(self.inner_input(input))
    }

    fn build<T: Float>(&self, input: Shape, rng: &mut Rng) -> Box<dyn Layer<T>> {
        self.wrap(input, self.layer.build(self.inner_input(input), Some(rng)))
    }

    fn build_for_loading<T: Float>(&self, input: Shape) -> Box<dyn Layer<T>> {
        self.wrap(input, self.layer.build(self.inner_input(input), None))
    }

    fn takes_frames(&self) -> bool {
        true
    }

    fn applies_per_step(&self) -> bool {
        true
    }
}

impl TimeDistributedConfig {
    fn wrap<T: Float>(&self, input: Shape, inner: Box<dyn Layer<T>>) -> Box<dyn Layer<T>> {
        if self.per_step(input) {
            return inner;
        }
        let output = inner.output_shape().with_sequential(true);
        Box::new(TimeDistributed { inner, input, output })
    }
}

/// A layer over single values run on every real step of a sequence, time folded into the
/// batch.
pub struct TimeDistributed<T> {
    inner: Box<dyn Layer<T>>,
    input: Shape,
    output: Shape,
}

impl<T: Float> Clone for TimeDistributed<T> {
    fn clone(&self) -> Self {
        TimeDistributed {
            inner: self.inner.clone_box(),
            input: self.input,
            output: self.output,
        }
    }
}

/// What backward needs: the inner layer's tape and the sequence layout to fold `dy` by.
struct FoldTape {
    inner: Tape,
    time: usize,
    lengths: Vec<usize>,
}

/// The real steps of `x` as a batch of single values, in sequence and step order. A batch
/// without padding is the same memory, moved rather than copied.
fn fold<T: Float>(x: Seq<T>) -> Seq<T> {
    let steps = x.valid_steps();
    let data = if steps == x.batch * x.time {
        x.data
    } else {
        let mut data = Vec::with_capacity(steps * x.features);
        for b in 0..x.batch {
            let start = x.offset(b, 0);
            data.extend_from_slice(&x.data[start..start + x.lengths[b] * x.features]);
        }
        data
    };
    Seq {
        data,
        batch: steps,
        time: 1,
        features: x.features,
        lengths: vec![1; steps],
        sequential: false,
    }
}

/// The inverse of [`fold`]: values of the real steps laid back on a `[batch, time]` axis, zeros
/// at padded steps.
fn unfold<T: Float>(y: Seq<T>, time: usize, lengths: &[usize]) -> Seq<T> {
    let f = y.features;
    let data = if y.batch == lengths.len() * time {
        y.data
    } else {
        let mut data = vec![T::ZERO; lengths.len() * time * f];
        let mut read = 0;
        for (b, &len) in lengths.iter().enumerate() {
            let n = len * f;
            data[b * time * f..b * time * f + n].copy_from_slice(&y.data[read..read + n]);
            read += n;
        }
        data
    };
    Seq {
        data,
        batch: lengths.len(),
        time,
        features: f,
        lengths: lengths.to_vec(),
        sequential: true,
    }
}

impl<T: Float> Layer<T> for TimeDistributed<T> {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn output_shape(&self) -> Shape {
        self.output
    }

    fn forward(&self, x: Seq<T>, ctx: &mut Ctx) -> (Seq<T>, Tape) {
        let (time, lengths) = (x.time, x.lengths.clone());
        let (y, inner) = self.inner.forward(fold(x), ctx);
        let y = unfold(y, time, &lengths);
        let tape = Tape::when(ctx.training, || FoldTape { inner, time, lengths });
        (y, tape)
    }

    fn backward(&mut self, tape: Tape, dy: Seq<T>, input_grad: bool) -> Seq<T> {
        let tape: FoldTape = tape.take("time_distributed");
        let dx = self.inner.backward(tape.inner, fold(dy), input_grad);
        if !input_grad {
            let like = Seq {
                data: Vec::new(),
                batch: tape.lengths.len(),
                time: tape.time,
                features: self.input.features,
                lengths: tape.lengths,
                sequential: true,
            };
            return no_input_grad(&like, self.input.features);
        }
        unfold(dx, tape.time, &tape.lengths)
    }

    fn params(&self) -> Vec<&Param<T>> {
        self.inner.params()
    }

    fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        self.inner.params_mut()
    }

    fn prepare_inference(&mut self, precision: Precision) -> InferencePath {
        self.inner.prepare_inference(precision)
    }

    /// The inner layer checks the values themselves, which folding does not change; the
    /// sequence is handed over as it is rather than copied on every step.
    fn check_input(&self, x: &Seq<T>) -> Result<(), String> {
        self.inner.check_input(x)
    }

    fn forward_flops_per_step(&self) -> usize {
        self.inner.forward_flops_per_step()
    }
}
