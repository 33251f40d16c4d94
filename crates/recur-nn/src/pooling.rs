//! Global pooling over time (masked): max, mean or sum of each feature over a sequence's
//! real steps, giving one vector per sequence.

use crate::layer::{Ctx, Layer, Tape};
use crate::spec::{needs_time, settingless_layer};
use recur_core::math::dispatch;
use recur_core::{Float, Seq, Shape};
use serde::{Deserialize, Serialize};

settingless_layer!(
    /// Masked max over time.
    GlobalMaxPoolConfig,
    "global_max_pool",
    frames: false,
    |input| shape: needs_time(input).map(|_| Shape::new(input.features, false)),
    build: GlobalPool::new(input, PoolMode::Max)
);
settingless_layer!(
    /// Masked mean over time.
    GlobalMeanPoolConfig,
    "global_mean_pool",
    frames: false,
    |input| shape: needs_time(input).map(|_| Shape::new(input.features, false)),
    build: GlobalPool::new(input, PoolMode::Mean)
);
settingless_layer!(
    /// Masked sum over time.
    GlobalSumPoolConfig,
    "global_sum_pool",
    frames: false,
    |input| shape: needs_time(input).map(|_| Shape::new(input.features, false)),
    build: GlobalPool::new(input, PoolMode::Sum)
);

/// How steps are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PoolMode {
    /// Largest value.
    Max,
    /// Average over real steps.
    Mean,
    /// Sum over real steps (the TensorFlow sketch tutorial's choice).
    Sum,
}

/// Global pooling over the time axis.
#[derive(Clone)]
pub struct GlobalPool<T> {
    mode: PoolMode,
    input: Shape,
    _values: std::marker::PhantomData<T>,
}

impl<T: Float> GlobalPool<T> {
    /// Pooling of the given kind.
    pub fn new(input: Shape, mode: PoolMode) -> Self {
        GlobalPool {
            mode,
            input,
            _values: std::marker::PhantomData,
        }
    }
}

impl<T: Float> Layer<T> for GlobalPool<T> {
    fn kind(&self) -> &'static str {
        match self.mode {
            PoolMode::Max => "global_max_pool",
            PoolMode::Mean => "global_mean_pool",
            PoolMode::Sum => "global_sum_pool",
        }
    }
    fn output_shape(&self) -> Shape {
        Shape::new(self.input.features, false)
    }
    fn forward(&self, x: Seq<T>, ctx: &mut Ctx) -> (Seq<T>, Tape) {
        let f = x.features;
        let mut out = vec![T::ZERO; x.batch * f];
        let mut argmax = vec![0usize; x.batch * f];
        let mode = self.mode;
        dispatch(
            #[inline(always)]
            || {
                for b in 0..x.batch {
                    let len = x.lengths[b];
                    let (o, arg) = (&mut out[b * f..(b + 1) * f], &mut argmax[b * f..(b + 1) * f]);
                    match mode {
                        PoolMode::Max if len > 0 => {
                            o.copy_from_slice(x.step(b, 0));
                            for t in 1..len {
                                for ((o, a), &v) in o.iter_mut().zip(arg.iter_mut()).zip(x.step(b, t)) {
                                    if v > *o {
                                        (*o, *a) = (v, t);
                                    }
                                }
                            }
                        }
                        PoolMode::Max => {}
                        PoolMode::Mean | PoolMode::Sum => {
                            for t in 0..len {
                                o.iter_mut().zip(x.step(b, t)).for_each(|(o, &v)| *o += v);
                            }
                        }
                    }
                    if mode == PoolMode::Mean && len > 0 {
                        let n = T::from_f64(len as f64);
                        o.iter_mut().for_each(|v| *v /= n);
                    }
                }
            },
        );
        let y = Seq {
            data: out,
            batch: x.batch,
            time: 1,
            features: f,
            lengths: vec![1; x.batch],
            sequential: false,
        };
        let tape = Tape::when(ctx.training, || (Seq::zeros_like(&x, f), argmax));
        (y, tape)
    }
    fn backward(&mut self, tape: Tape, dy: Seq<T>, _input_grad: bool) -> Seq<T> {
        let (mut dx, argmax): (Seq<T>, Vec<usize>) = tape.take("pooling");
        let f = dx.features;
        for b in 0..dx.batch {
            let len = dx.lengths[b];
            let g = &dy.data[b * f..(b + 1) * f];
            match self.mode {
                PoolMode::Max => {
                    for j in 0..f {
                        if len > 0 {
                            dx.step_mut(b, argmax[b * f + j])[j] = g[j];
                        }
                    }
                }
                PoolMode::Mean | PoolMode::Sum => {
                    let scale = if self.mode == PoolMode::Mean {
                        T::ONE / T::from_f64(len.max(1) as f64)
                    } else {
                        T::ONE
                    };
                    for t in 0..len {
                        dx.step_mut(b, t).iter_mut().zip(g).for_each(|(d, &g)| *d = g * scale);
                    }
                }
            }
        }
        dx
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradients, check_padding_matches_alone, random_seq};

    #[test]
    fn gradients_match_finite_differences() {
        for mode in [PoolMode::Max, PoolMode::Mean, PoolMode::Sum] {
            let mut p = GlobalPool::<f64>::new(Shape::new(3, true), mode);
            check_gradients(&mut p, &random_seq(2, 5, 3, &[5, 3], 1), 1e-6);
            check_padding_matches_alone(&mut p, &random_seq(3, 5, 3, &[5, 3, 1], 2));
        }
    }
}
