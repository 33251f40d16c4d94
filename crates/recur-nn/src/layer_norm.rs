//! Layer normalisation over the features of each step (PyTorch `LayerNorm`).

use crate::layer::{valid_rows, Ctx, Layer, Param, Tape};
use crate::spec::LayerSpec;
use recur_core::{Float, Rng, Seq, Shape};
use serde::{Deserialize, Serialize};

/// Layer normalisation's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerNormConfig {
    /// Added to the variance.
    #[serde(default = "crate::batch_norm::default_epsilon")]
    pub epsilon: f64,
}

impl LayerSpec for LayerNormConfig {
    fn kind(&self) -> &'static str {
        "layer_norm"
    }
    fn output_shape(&self, input: Shape) -> Result<Shape, String> {
        if self.epsilon <= 0.0 {
            return Err("epsilon must be positive".into());
        }
        Ok(input)
    }
    fn parameter_count(&self, input: Shape) -> u64 {
        2 * input.features as u64
    }
    fn build<T: Float>(&self, input: Shape, _rng: &mut Rng) -> Box<dyn Layer<T>> {
        Box::new(LayerNorm::new(input, self.epsilon))
    }
    fn applies_per_step(&self) -> bool {
        true
    }
}

/// Layer normalisation with learnable scale (`weight`) and shift (`bias`).
#[derive(Clone)]
pub struct LayerNorm<T> {
    weight: Param<T>,
    bias: Param<T>,
    epsilon: f64,
    input: Shape,
}

impl<T: Float> LayerNorm<T> {
    /// Identity-initialised normalisation.
    pub fn new(input: Shape, epsilon: f64) -> Self {
        let f = input.features;
        LayerNorm {
            weight: Param::new("weight", &[f], vec![T::ONE; f]),
            bias: Param::new("bias", &[f], vec![T::ZERO; f]),
            epsilon,
            input,
        }
    }
}

impl<T: Float> Layer<T> for LayerNorm<T> {
    fn kind(&self) -> &'static str {
        "layer_norm"
    }
    fn output_shape(&self) -> Shape {
        self.input
    }

    fn forward(&self, x: Seq<T>, ctx: &mut Ctx) -> (Seq<T>, Tape) {
        let f = x.features;
        let n = T::from_f64(f as f64);
        let mut x_hat = x;
        let mut inv_std = vec![T::ZERO; x_hat.batch * x_hat.time];
        let rows: Vec<usize> = valid_rows(&x_hat).collect();
        for &row in &rows {
            let v = &mut x_hat.data[row * f..(row + 1) * f];
            let mean = v.iter().copied().sum::<T>() / n;
            let var = v.iter().map(|&a| (a - mean) * (a - mean)).sum::<T>() / n;
            let inv = T::ONE / (var + T::from_f64(self.epsilon)).sqrt();
            v.iter_mut().for_each(|a| *a = (*a - mean) * inv);
            inv_std[row] = inv;
        }
        let mut y = x_hat.clone();
        for &row in &rows {
            for j in 0..f {
                y.data[row * f + j] = x_hat.data[row * f + j] * self.weight.value[j] + self.bias.value[j];
            }
        }
        (y, Tape::when(ctx.training, || (x_hat, inv_std)))
    }

    fn backward(&mut self, tape: Tape, dy: Seq<T>, _input_grad: bool) -> Seq<T> {
        let (x_hat, inv_std): (Seq<T>, Vec<T>) = tape.take("layer_norm");
        let f = dy.features;
        let n = T::from_f64(f as f64);
        let mut dx = Seq::zeros_like(&dy, f);
        for row in valid_rows(&dy) {
            let (g, xh) = (&dy.data[row * f..(row + 1) * f], &x_hat.data[row * f..(row + 1) * f]);
            let (mut mean_d, mut mean_dx) = (T::ZERO, T::ZERO);
            for j in 0..f {
                self.weight.grad[j] += g[j] * xh[j];
                self.bias.grad[j] += g[j];
                let d = g[j] * self.weight.value[j];
                mean_d += d;
                mean_dx += d * xh[j];
            }
            mean_d /= n;
            mean_dx /= n;
            for j in 0..f {
                let d = g[j] * self.weight.value[j];
                dx.data[row * f + j] = inv_std[row] * (d - mean_d - xh[j] * mean_dx);
            }
        }
        dx
    }

    fn params(&self) -> Vec<&Param<T>> {
        vec![&self.weight, &self.bias]
    }
    fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        vec![&mut self.weight, &mut self.bias]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradients, check_padding_matches_alone, random_seq};

    fn layer() -> LayerNorm<f64> {
        let mut ln = LayerNorm::new(Shape::new(4, true), 1e-5);
        ln.weight.value = vec![0.5, 1.5, -1.0, 2.0];
        ln.bias.value = vec![0.1, -0.2, 0.3, 0.0];
        ln
    }

    #[test]
    fn gradients_match_finite_differences() {
        check_gradients(&mut layer(), &random_seq(2, 3, 4, &[3, 2], 1), 1e-5);
    }

    #[test]
    fn padded_batch_matches_each_sequence_alone() {
        check_padding_matches_alone(&mut layer(), &random_seq(3, 5, 4, &[5, 2, 4], 2));
    }
}
