//! WaveNet's gated activation as a layer: each step's features are two halves `[a, b]` and
//! the output is `tanh(a) · sigmoid(b)`, half as wide. (With two inputs, the same gate is the
//! `gated_activation` merge.)

use crate::activation::Activation;
use crate::layer::{Ctx, Layer, Tape};
use crate::spec::LayerSpec;
use recur_core::{Float, Rng, Seq, Shape};
use serde::{Deserialize, Serialize};

/// `gated_activation` has no settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatedActivationConfig {}

impl LayerSpec for GatedActivationConfig {
    fn kind(&self) -> &'static str {
        "gated_activation"
    }
    fn output_shape(&self, input: Shape) -> Result<Shape, String> {
        if !input.features.is_multiple_of(2) {
            return Err(format!(
                "splits each step into two halves, but its input has {} features",
                input.features
            ));
        }
        Ok(Shape::new(input.features / 2, input.sequential))
    }
    fn parameter_count(&self, _input: Shape) -> u64 {
        0
    }
    fn build<T: Float>(&self, input: Shape, _rng: &mut Rng) -> Box<dyn Layer<T>> {
        Box::new(GatedActivation::new(input))
    }
    fn applies_per_step(&self) -> bool {
        true
    }
}

/// The gate over the two halves of each step.
#[derive(Clone)]
pub struct GatedActivation<T> {
    input: Shape,
    _values: std::marker::PhantomData<T>,
}

impl<T: Float> GatedActivation<T> {
    /// A gate over inputs of an even width.
    pub fn new(input: Shape) -> Self {
        GatedActivation {
            input,
            _values: std::marker::PhantomData,
        }
    }
}

impl<T: Float> Layer<T> for GatedActivation<T> {
    fn kind(&self) -> &'static str {
        "gated_activation"
    }
    fn output_shape(&self) -> Shape {
        Shape::new(self.input.features / 2, self.input.sequential)
    }
    fn forward(&self, x: Seq<T>, ctx: &mut Ctx) -> (Seq<T>, Tape) {
        let half = x.features / 2;
        let (mut a, mut b) = (Seq::zeros_like(&x, half), Seq::zeros_like(&x, half));
        for (row, src) in x.data.chunks_exact(2 * half).enumerate() {
            a.data[row * half..(row + 1) * half].copy_from_slice(&src[..half]);
            b.data[row * half..(row + 1) * half].copy_from_slice(&src[half..]);
        }
        let (y, gates) = gate(a, b);
        (y, Tape::when(ctx.training, || gates))
    }
    fn backward(&mut self, tape: Tape, dy: Seq<T>, _input_grad: bool) -> Seq<T> {
        let gates: Gates<T> = tape.take("gated_activation");
        let half = dy.features;
        let (da, db) = gate_gradients(&gates, dy);
        let mut dx = Seq::zeros_like(&da, 2 * half);
        for (row, d) in dx.data.chunks_exact_mut(2 * half).enumerate() {
            d[..half].copy_from_slice(&da.data[row * half..(row + 1) * half]);
            d[half..].copy_from_slice(&db.data[row * half..(row + 1) * half]);
        }
        dx
    }
}

/// `tanh(a)` and `sigmoid(b)`, what the gate's gradient needs.
pub struct Gates<T> {
    tanh: Seq<T>,
    sigmoid: Seq<T>,
}

/// `tanh(a) · sigmoid(b)` with padding kept at zero (the layer and the two-input merge).
pub fn gate<T: Float>(mut a: Seq<T>, mut b: Seq<T>) -> (Seq<T>, Gates<T>) {
    Activation::Tanh.apply(&mut a.data);
    Activation::Sigmoid.apply(&mut b.data);
    let mut y = a.clone();
    y.data.iter_mut().zip(&b.data).for_each(|(v, &g)| *v *= g);
    y.zero_padding();
    (y, Gates { tanh: a, sigmoid: b })
}

/// The gradients of `a` and `b` given the gate output's gradient `dy`.
pub fn gate_gradients<T: Float>(gates: &Gates<T>, dy: Seq<T>) -> (Seq<T>, Seq<T>) {
    let (mut da, mut db) = (dy.clone(), dy);
    for (i, (a, b)) in da.data.iter_mut().zip(db.data.iter_mut()).enumerate() {
        let (t, g, d) = (gates.tanh.data[i], gates.sigmoid.data[i], *a);
        *a = d * g * (T::ONE - t * t);
        *b = d * t * g * (T::ONE - g);
    }
    (da, db)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradients, check_padding_matches_alone, random_seq};

    fn gate() -> GatedActivation<f64> {
        GatedActivation::new(Shape::new(4, true))
    }

    #[test]
    fn gated_activation_gradients_match_finite_differences() {
        check_gradients(&mut gate(), &random_seq(2, 3, 4, &[3, 2], 1), 1e-6);
    }

    #[test]
    fn gated_activation_padded_batch_matches_each_sequence_alone() {
        check_padding_matches_alone(&mut gate(), &random_seq(3, 5, 4, &[5, 2, 4], 2));
    }
}
