//! RepeatVector (Keras): one vector per sequence repeated `n` times into a sequence of `n`
//! steps, the bridge from an encoder's summary to a decoder that runs over time (vec→seq).

use crate::layer::{Ctx, Layer, Tape};
use crate::spec::{size, LayerSpec};
use recur_core::{Float, Rng, Seq, Shape};
use serde::{Deserialize, Serialize};

/// `repeat_vector`'s settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepeatVectorConfig {
    /// Steps of the output.
    pub n: usize,
}

impl LayerSpec for RepeatVectorConfig {
    fn kind(&self) -> &'static str {
        "repeat_vector"
    }
    fn output_shape(&self, input: Shape) -> Result<Shape, String> {
        size("n", self.n)?;
        if input.sequential {
            return Err("repeats one vector per sequence, but its input is a sequence".into());
        }
        Ok(Shape::new(input.features, true))
    }
    fn parameter_count(&self, _input: Shape) -> u64 {
        0
    }
    fn build<T: Float>(&self, input: Shape, _rng: &mut Rng) -> Box<dyn Layer<T>> {
        Box::new(RepeatVector::new(input, self.n))
    }
}

/// Repeats each input vector over `n` steps.
#[derive(Clone)]
pub struct RepeatVector<T> {
    n: usize,
    input: Shape,
    _values: std::marker::PhantomData<T>,
}

impl<T: Float> RepeatVector<T> {
    /// A layer producing `n` steps from each vector of `input.features` values.
    pub fn new(input: Shape, n: usize) -> Self {
        RepeatVector {
            n,
            input,
            _values: std::marker::PhantomData,
        }
    }
}

impl<T: Float> Layer<T> for RepeatVector<T> {
    fn kind(&self) -> &'static str {
        "repeat_vector"
    }
    fn output_shape(&self) -> Shape {
        Shape::new(self.input.features, true)
    }
    fn forward(&self, x: Seq<T>, ctx: &mut Ctx) -> (Seq<T>, Tape) {
        let f = x.features;
        let mut data = Vec::with_capacity(x.batch * self.n * f);
        for b in 0..x.batch {
            for _ in 0..self.n {
                data.extend_from_slice(&x.data[b * f..(b + 1) * f]);
            }
        }
        let y = Seq {
            data,
            batch: x.batch,
            time: self.n,
            features: f,
            lengths: vec![self.n; x.batch],
            sequential: true,
        };
        (y, Tape::when(ctx.training, || ()))
    }
    fn backward(&mut self, _tape: Tape, dy: Seq<T>, _input_grad: bool) -> Seq<T> {
        let f = dy.features;
        let mut dx = vec![T::ZERO; dy.batch * f];
        for b in 0..dy.batch {
            for t in 0..dy.lengths[b] {
                dx[b * f..(b + 1) * f]
                    .iter_mut()
                    .zip(dy.step(b, t))
                    .for_each(|(a, &g)| *a += g);
            }
        }
        Seq {
            data: dx,
            batch: dy.batch,
            time: 1,
            features: f,
            lengths: vec![1; dy.batch],
            sequential: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradients, random_seq};

    #[test]
    fn repeat_vector_gradients_match_finite_differences() {
        let shape = Shape::new(3, false);
        let mut x = random_seq(2, 1, 3, &[1, 1], 1);
        x.sequential = false;
        check_gradients(&mut RepeatVector::<f64>::new(shape, 4), &x, 1e-6);
    }
}
