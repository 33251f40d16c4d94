//! Inverted dropout: in training each value is zeroed with probability `rate` and the rest
//! scaled by 1/(1−rate); at inference it is the identity.

use crate::layer::{Ctx, Layer, Tape};
use crate::spec::{rate, LayerSpec};
use recur_core::{Float, Rng, Seq, Shape};
use serde::{Deserialize, Serialize};

/// An inverted-dropout mask of `n` values: 0 with probability `rate`, else 1/(1−rate), one
/// uniform draw each in order. Every dropout in recur (this layer, the recurrent layers' input
/// and recurrent masks, the encoder–decoder's) draws its masks here, so a seed gives the same
/// masks wherever they are drawn.
pub fn inverted_mask<T: Float>(n: usize, rate: f64, rng: &mut Rng) -> Vec<T> {
    let keep = T::from_f64(1.0 / (1.0 - rate));
    (0..n)
        .map(|_| if rng.uniform() < rate { T::ZERO } else { keep })
        .collect()
}

/// Dropout's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropoutConfig {
    /// Probability of zeroing a value.
    pub rate: f64,
}

impl LayerSpec for DropoutConfig {
    fn kind(&self) -> &'static str {
        "dropout"
    }
    fn output_shape(&self, input: Shape) -> Result<Shape, String> {
        rate("rate", self.rate).map(|_| input)
    }
    fn parameter_count(&self, _input: Shape) -> u64 {
        0
    }
    fn build<T: Float>(&self, input: Shape, _rng: &mut Rng) -> Box<dyn Layer<T>> {
        Box::new(Dropout::new(input, self.rate))
    }
    fn takes_frames(&self) -> bool {
        true
    }
    fn applies_per_step(&self) -> bool {
        true
    }
}

/// Dropout on every value.
#[derive(Clone)]
pub struct Dropout<T> {
    rate: f64,
    input: Shape,
    _values: std::marker::PhantomData<T>,
}

impl<T: Float> Dropout<T> {
    /// Dropout with the given rate in [0, 1).
    pub fn new(input: Shape, rate: f64) -> Self {
        Dropout {
            rate,
            input,
            _values: std::marker::PhantomData,
        }
    }
}

impl<T: Float> Layer<T> for Dropout<T> {
    fn kind(&self) -> &'static str {
        "dropout"
    }
    fn output_shape(&self) -> Shape {
        self.input
    }
    fn forward(&self, mut x: Seq<T>, ctx: &mut Ctx) -> (Seq<T>, Tape) {
        if !ctx.training || self.rate == 0.0 {
            return (x, Tape::when(ctx.training, || None::<Vec<T>>));
        }
        let mask: Vec<T> = inverted_mask(x.data.len(), self.rate, ctx.rng);
        x.data.iter_mut().zip(&mask).for_each(|(v, m)| *v *= *m);
        (x, Tape::new(Some(mask)))
    }
    fn backward(&mut self, tape: Tape, mut dy: Seq<T>, _input_grad: bool) -> Seq<T> {
        if let Some(mask) = tape.take::<Option<Vec<T>>>("dropout") {
            dy.data.iter_mut().zip(&mask).for_each(|(g, m)| *g *= *m);
        }
        dy
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradients, random_seq};
    use recur_core::Rng;

    #[test]
    fn gradients_match_finite_differences() {
        check_gradients(
            &mut Dropout::<f64>::new(Shape::new(3, true), 0.4),
            &random_seq(2, 4, 3, &[4, 2], 1),
            1e-6,
        );
    }

    #[test]
    fn identity_at_inference_and_unbiased_in_training() {
        let x = Seq::new(vec![1.0f64; 20_000], 1, 20_000, 1, vec![20_000]).unwrap();
        let d = Dropout::new(x.shape(), 0.3);
        let mut rng = Rng::new(1);
        assert_eq!(d.forward(x.clone(), &mut Ctx::new(false, &mut rng)).0, x);
        let (y, _) = d.forward(x, &mut Ctx::new(true, &mut rng));
        let mean = y.data.iter().sum::<f64>() / 20_000.0;
        assert!((mean - 1.0).abs() < 0.03, "mean {mean}");
    }
}
