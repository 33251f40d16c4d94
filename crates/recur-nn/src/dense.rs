//! Dense (PyTorch `Linear`): `y = act(x·Wᵀ + b)`, applied to every real step of a sequence or
//! to each vector. Weight layout `[out, in]` as in PyTorch.

use crate::activation::affine_forward;
use crate::activation::{Activation, Kept};
use crate::init;
use crate::layer::{add_column_sums, no_input_grad, Ctx, Layer, Param, Tape};
use crate::precision::{pack, InferencePath, Precision};
use crate::spec::{size, LayerSpec};
use recur_core::lowp::PackedWeights;
use recur_core::{matmul, Float, Rng, Seq, Shape, Transpose};
use serde::{Deserialize, Serialize};

/// A dense layer's settings (`{"type": "dense", "units": 64, "activation": "relu"}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenseConfig {
    /// Output width.
    pub units: usize,
    /// Fused activation.
    #[serde(default)]
    pub activation: Activation,
}

impl LayerSpec for DenseConfig {
    fn kind(&self) -> &'static str {
        "dense"
    }
    fn output_shape(&self, input: Shape) -> Result<Shape, String> {
        size("units", self.units)?;
        Ok(Shape::new(self.units, input.sequential))
    }
    fn parameter_count(&self, input: Shape) -> u64 {
        (input.features as u64 + 1) * self.units as u64
    }
    fn build<T: Float>(&self, input: Shape, rng: &mut Rng) -> Box<dyn Layer<T>> {
        Box::new(Dense::new(input, self.units, self.activation, rng))
    }
    fn applies_per_step(&self) -> bool {
        true
    }
}

/// A fully connected layer with an optional fused activation.
#[derive(Clone)]
pub struct Dense<T> {
    weight: Param<T>,
    bias: Param<T>,
    activation: Activation,
    input: Shape,
    /// The weight packed for reduced-precision inference, once prepared.
    packed: Option<PackedWeights>,
}

/// What backward needs: the input, and the values the activation's backward reads.
struct DenseTape<T> {
    x: Seq<T>,
    kept: Kept<T>,
}

impl<T: Float> Dense<T> {
    /// A Glorot-uniform initialised layer mapping `input.features` to `units`.
    pub fn new(input: Shape, units: usize, activation: Activation, rng: &mut Rng) -> Self {
        let weight = init::glorot_uniform(units, input.features, units * input.features, rng);
        Dense {
            weight: Param::new("weight", &[units, input.features], weight),
            bias: Param::new("bias", &[units], vec![T::ZERO; units]),
            activation,
            input,
            packed: None,
        }
    }

    fn units(&self) -> usize {
        self.bias.len()
    }
}

impl<T: Float> Layer<T> for Dense<T> {
    fn kind(&self) -> &'static str {
        "dense"
    }

    fn output_shape(&self) -> Shape {
        Shape::new(self.units(), self.input.sequential)
    }

    fn forward(&self, x: Seq<T>, ctx: &mut Ctx) -> (Seq<T>, Tape) {
        let n_out = self.units();
        let mut y = Seq::zeros_like(&x, n_out);
        let (data, z) = affine_forward(
            &x.data,
            &self.weight.value,
            self.packed.as_ref().filter(|_| !ctx.training),
            &self.bias.value,
            self.activation,
            ctx.training,
        );
        y.data = data;
        y.zero_padding();
        let tape = Tape::when(ctx.training, || DenseTape {
            x,
            kept: self.activation.keep(z, &y.data),
        });
        (y, tape)
    }

    fn backward(&mut self, tape: Tape, mut dy: Seq<T>, input_grad: bool) -> Seq<T> {
        let cache: DenseTape<T> = tape.take("dense");
        let (rows, n_in, n_out) = (dy.batch * dy.time, self.input.features, self.units());
        cache.kept.backward(&mut dy.data);
        dy.zero_padding();
        matmul(
            n_out,
            n_in,
            rows,
            &dy.data,
            n_out,
            Transpose::Yes,
            &cache.x.data,
            n_in,
            Transpose::No,
            &mut self.weight.grad,
            n_in,
            true,
        );
        add_column_sums(&dy.data, n_out, &mut self.bias.grad);
        if !input_grad {
            return no_input_grad(&dy, n_in);
        }
        let mut dx = Seq::zeros_like(&dy, n_in);
        matmul(
            rows,
            n_in,
            n_out,
            &dy.data,
            n_out,
            Transpose::No,
            &self.weight.value,
            n_in,
            Transpose::No,
            &mut dx.data,
            n_in,
            false,
        );
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
        self.packed = pack(precision, &self.weight.value, self.units(), self.input.features);
        InferencePath::AtPrecision
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradients, check_padding_matches_alone, random_seq};

    #[test]
    fn gradients_match_finite_differences() {
        for act in [Activation::Linear, Activation::Tanh, Activation::Relu] {
            let mut layer = Dense::<f64>::new(Shape::new(3, true), 4, act, &mut Rng::new(1));
            check_gradients(&mut layer, &random_seq(2, 3, 3, &[3, 2], 2), 1e-5);
        }
    }

    #[test]
    fn padded_batch_matches_each_sequence_alone() {
        let mut layer = Dense::<f64>::new(Shape::new(3, true), 4, Activation::Tanh, &mut Rng::new(1));
        check_padding_matches_alone(&mut layer, &random_seq(3, 5, 3, &[5, 2, 4], 3));
    }
}
