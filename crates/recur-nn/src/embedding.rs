//! Embedding lookup (PyTorch `Embedding`, weight `[input_dim, output_dim]`). The input has one
//! feature per step holding the token id.

use crate::layer::{valid_rows, Ctx, Layer, Param, Tape};
use crate::precision::{InferencePath, Precision};
use crate::spec::{size, LayerSpec};
use recur_core::{Float, Rng, Seq, Shape};
use serde::{Deserialize, Serialize};

/// An embedding table's settings, as Keras names them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingConfig {
    /// Vocabulary size.
    pub input_dim: usize,
    /// Vector width.
    pub output_dim: usize,
}

impl LayerSpec for EmbeddingConfig {
    fn kind(&self) -> &'static str {
        "embedding"
    }
    fn output_shape(&self, input: Shape) -> Result<Shape, String> {
        size("input_dim", self.input_dim)?;
        size("output_dim", self.output_dim)?;
        if input.features != 1 {
            return Err(format!(
                "takes one token id per step, but its input has {} features",
                input.features
            ));
        }
        Ok(Shape::new(self.output_dim, input.sequential))
    }
    fn parameter_count(&self, _input: Shape) -> u64 {
        (self.input_dim as u64).saturating_mul(self.output_dim as u64)
    }
    fn build<T: Float>(&self, input: Shape, rng: &mut Rng) -> Box<dyn Layer<T>> {
        Box::new(Embedding::new(input, self.input_dim, self.output_dim, rng))
    }
    fn applies_per_step(&self) -> bool {
        true
    }
}

/// A table of `input_dim` learnable vectors of `output_dim` values.
#[derive(Clone)]
pub struct Embedding<T> {
    weight: Param<T>,
    input: Shape,
}

impl<T: Float> Embedding<T> {
    /// A table initialised uniformly in ±0.05 (Keras's default).
    pub fn new(input: Shape, input_dim: usize, output_dim: usize, rng: &mut Rng) -> Self {
        let w = (0..input_dim * output_dim)
            .map(|_| T::from_f64(rng.uniform_range(-0.05, 0.05)))
            .collect();
        Embedding {
            weight: Param::new("weight", &[input_dim, output_dim], w),
            input,
        }
    }

    /// Checks that every real step holds an integer id inside the table.
    fn check_ids(&self, x: &Seq<T>) -> Result<(), String> {
        let n = self.weight.shape[0];
        for row in valid_rows(x) {
            let v = x.data[row].to_f64();
            if v.fract() != 0.0 || v < 0.0 || v >= n as f64 {
                return Err(format!(
                    "embedding: token id {v} at sequence {}, step {} is not an integer in 0..{n}",
                    row / x.time,
                    row % x.time
                ));
            }
        }
        Ok(())
    }

    fn dim(&self) -> usize {
        self.weight.shape[1]
    }
}

impl<T: Float> Layer<T> for Embedding<T> {
    fn kind(&self) -> &'static str {
        "embedding"
    }
    fn output_shape(&self) -> Shape {
        Shape::new(self.dim(), self.input.sequential)
    }
    fn forward(&self, x: Seq<T>, ctx: &mut Ctx) -> (Seq<T>, Tape) {
        let d = self.dim();
        let mut y = Seq::zeros_like(&x, d);
        for row in valid_rows(&x) {
            let id = x.data[row].to_f64() as usize;
            y.data[row * d..(row + 1) * d].copy_from_slice(&self.weight.value[id * d..(id + 1) * d]);
        }
        (y, Tape::when(ctx.training, || x))
    }
    fn backward(&mut self, tape: Tape, dy: Seq<T>, _input_grad: bool) -> Seq<T> {
        let ids: Seq<T> = tape.take("embedding");
        let d = self.dim();
        for row in valid_rows(&ids) {
            let id = ids.data[row].to_f64() as usize;
            for j in 0..d {
                self.weight.grad[id * d + j] += dy.data[row * d + j];
            }
        }
        // Ids are discrete: no gradient flows to the input.
        Seq::zeros_like(&ids, ids.features)
    }
    fn params(&self) -> Vec<&Param<T>> {
        vec![&self.weight]
    }
    fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        vec![&mut self.weight]
    }
    fn forward_flops_per_step(&self) -> usize {
        0
    }
    /// A lookup copies rows exactly: nothing to reduce.
    fn prepare_inference(&mut self, _precision: Precision) -> InferencePath {
        InferencePath::NoProducts
    }
    fn check_input(&self, x: &Seq<T>) -> Result<(), String> {
        self.check_ids(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_param_gradients;

    #[test]
    fn gradients_match_finite_differences() {
        let x = Seq::new(vec![0.0, 2.0, 2.0, 1.0, 3.0, 0.0], 2, 3, 1, vec![3, 2]).unwrap();
        let mut e = Embedding::<f64>::new(x.shape(), 4, 3, &mut Rng::new(1));
        check_param_gradients(&mut e, &x, 1e-6);
        assert!(e.check_ids(&x).is_ok());
        let bad = Seq::new(vec![0.0, 4.0, 1.5], 1, 3, 1, vec![3]).unwrap();
        assert!(e.check_ids(&bad).unwrap_err().contains("token id 4"));
    }
}
