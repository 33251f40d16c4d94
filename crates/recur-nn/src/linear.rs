//! [`Linear`]: a fully connected map on rows, `y = x·Wᵀ + b`, as PyTorch's `nn.Linear` holds
//! it (`weight` `[out, in]`, `bias` `[out]`). The part that models built from parts rather than a
//! layer stack use for their projections (the encoder–decoder's bridge, output projection and
//! generator), with its forward and backward side by side; [`crate::Dense`] is the same map as a
//! layer of a stack, with a fused activation.

use crate::init::glorot_uniform;
use crate::layer::{add_column_sums, bias_or_zero_rows, linear, linear_backward, transpose, Param};
use crate::precision::{add_input_grad_at, add_weight_grad_at, packed_product, training_pack, Precision};
use recur_core::lowp::KernelPath;
use recur_core::{matmul, Float, Rng, Transpose};

/// `y = x·Wᵀ (+ b)` over the rows of `x`.
#[derive(Clone, Debug)]
pub struct Linear<T> {
    /// `[outputs, inputs]`.
    pub weight: Param<T>,
    /// `[outputs]`, if the map has one (OpenNMT's output projection has none).
    pub bias: Option<Param<T>>,
}

impl<T: Float> Linear<T> {
    /// A Glorot-uniform weight (drawn from `rng`, as [`crate::Dense`] draws its own) and a zero
    /// bias if `bias`.
    pub fn glorot(inputs: usize, outputs: usize, bias: bool, rng: &mut Rng) -> Self {
        let weight = glorot_uniform(outputs, inputs, outputs * inputs, rng);
        Linear {
            weight: Param::new("weight", &[outputs, inputs], weight),
            bias: bias.then(|| Param::new("bias", &[outputs], vec![T::ZERO; outputs])),
        }
    }

    /// Values each row of the input holds.
    pub fn inputs(&self) -> usize {
        self.weight.shape[1]
    }

    /// Values each row of the output holds.
    pub fn outputs(&self) -> usize {
        self.weight.shape[0]
    }

    /// `x·Wᵀ + b` for every row of `x` (`[rows, inputs]` → `[rows, outputs]`).
    pub fn forward(&self, x: &[T]) -> Vec<T> {
        let bias = self.bias.as_ref().map(|b| b.value.as_slice());
        linear(x, self.inputs(), &self.weight.value, self.outputs(), bias)
    }

    /// [`Linear::forward`] in training with the product at `precision`: at bf16 the weight and
    /// the rows are rounded to bfloat16 and summed in f32 on the fastest kernel (mixed
    /// precision, as the recurrent layers' `set_training_precision`); fp32 and int8 (which is
    /// for inference), and f64 models, as [`Linear::forward`].
    pub fn forward_at(&self, precision: Precision, x: &[T]) -> Vec<T> {
        let (inputs, outputs) = (self.inputs(), self.outputs());
        let Some(w) = training_pack(precision, &self.weight.value, outputs, inputs) else {
            return self.forward(x);
        };
        let rows = x.len() / inputs.max(1);
        let mut y = bias_or_zero_rows(rows, outputs, self.bias.as_ref().map(|b| &b.value[..]));
        let ran = packed_product(Some(&w), KernelPath::AnyOrder, rows, x, inputs, &mut y, outputs, true);
        debug_assert!(ran, "packed weights on a model that is not f32");
        y
    }

    /// The backward of [`Linear::forward_at`] at the same `precision`.
    pub fn backward_at(&mut self, precision: Precision, x: &[T], dy: &[T], dx: &mut [T]) {
        let (inputs, outputs) = (self.inputs(), self.outputs());
        let rows = x.len() / inputs.max(1);
        if !add_weight_grad_at(precision, dy, outputs, x, inputs, rows, &mut self.weight.grad) {
            return self.backward(x, dy, dx);
        }
        if let Some(bias) = self.bias.as_mut() {
            add_column_sums(dy, outputs, &mut bias.grad);
        }
        let ran = add_input_grad_at(precision, dy, &self.weight.value, outputs, inputs, dx);
        debug_assert!(ran, "bf16 products on a model that is not f32");
    }

    /// `Wᵀ`, laid out `[inputs, outputs]`, for [`Linear::forward_transposed`].
    pub fn transposed_weight(&self) -> Vec<T> {
        let (inputs, outputs) = (self.inputs(), self.outputs());
        let mut w_t = vec![T::ZERO; inputs * outputs];
        transpose(outputs, inputs, &self.weight.value, inputs, &mut w_t, outputs);
        w_t
    }

    /// [`Linear::forward`] on `w_t` from [`Linear::transposed_weight`]: every row of the result
    /// is then the same bits whichever rows come with it. The product on `W` as stored does not
    /// promise that: the gemm crate orders a transposed operand's sums by the number of rows,
    /// so a sampler drawing several sequences at once would draw each a little differently
    /// than alone.
    pub fn forward_transposed(&self, x: &[T], w_t: &[T]) -> Vec<T> {
        let (inputs, outputs) = (self.inputs(), self.outputs());
        let rows = x.len() / inputs.max(1);
        let bias = self.bias.as_ref().map(|b| &b.value[..]);
        let mut y = bias_or_zero_rows(rows, outputs, bias);
        let (a, b) = (Transpose::No, Transpose::No);
        matmul(
            rows, outputs, inputs, x, inputs, a, w_t, outputs, b, &mut y, outputs, true,
        );
        y
    }

    /// The backward of [`Linear::forward`] on `x` given `dy`: adds into the weight's and bias's
    /// gradients and adds `dy·W` into `dx`.
    pub fn backward(&mut self, x: &[T], dy: &[T], dx: &mut [T]) {
        let (inputs, outputs) = (self.inputs(), self.outputs());
        linear_backward(x, inputs, dy, outputs, &mut self.weight, self.bias.as_mut(), dx);
    }

    /// Its tensors with their PyTorch names under `prefix` (`prefix.weight`, `prefix.bias`).
    pub fn named_params(&self, prefix: &str) -> Vec<(String, &Param<T>)> {
        let mut out = vec![(format!("{prefix}.weight"), &self.weight)];
        out.extend(self.bias.iter().map(|b| (format!("{prefix}.bias"), b)));
        out
    }

    /// Its tensors, mutable, in the order of [`Linear::named_params`].
    pub fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        let mut out = vec![&mut self.weight];
        out.extend(self.bias.as_mut());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// f64 finite differences of `sum(y ⊙ r)` for a random `r` against the backward's weight,
    /// bias and input gradients.
    #[test]
    fn linear_gradients_match_finite_differences() {
        let mut rng = Rng::new(3);
        let mut map = Linear::<f64>::glorot(4, 3, true, &mut rng);
        let x: Vec<f64> = (0..8).map(|i| (i as f64 * 0.7).sin()).collect();
        let r: Vec<f64> = (0..6).map(|i| (i as f64 * 1.3).cos()).collect();
        let objective = |m: &Linear<f64>, x: &[f64]| m.forward(x).iter().zip(&r).map(|(y, r)| y * r).sum::<f64>();
        map.weight.grad = vec![0.0; 12];
        map.bias.as_mut().unwrap().grad = vec![0.0; 3];
        let mut dx = vec![0.0; 8];
        map.backward(&x, &r, &mut dx);
        let h = 1e-6;
        for i in 0..12 {
            let mut up = map.clone();
            up.weight.value[i] += h;
            let mut down = map.clone();
            down.weight.value[i] -= h;
            let numeric = (objective(&up, &x) - objective(&down, &x)) / (2.0 * h);
            assert!((numeric - map.weight.grad[i]).abs() < 1e-8, "weight {i}");
        }
        for i in 0..3 {
            let mut up = map.clone();
            up.bias.as_mut().unwrap().value[i] += h;
            let numeric = (objective(&up, &x) - objective(&map, &x)) / h;
            assert!((numeric - map.bias.as_ref().unwrap().grad[i]).abs() < 1e-5, "bias {i}");
        }
        for i in 0..8 {
            let (mut up, mut down) = (x.clone(), x.clone());
            up[i] += h;
            down[i] -= h;
            let numeric = (objective(&map, &up) - objective(&map, &down)) / (2.0 * h);
            assert!((numeric - dx[i]).abs() < 1e-8, "input {i}");
        }
    }

    /// At bf16 the map, its weight and bias gradients and its input gradient are fp32's
    /// products of the operands rounded to bfloat16, up to the order of the f32 sums (rows
    /// enough for the tile unit's 16-row blocks).
    #[test]
    fn bf16_training_products_are_fp32_products_of_rounded_operands() {
        use recur_core::lowp::{bf16_bits, bf16_value};
        let round = |v: &[f32]| -> Vec<f32> { v.iter().map(|&x| bf16_value(bf16_bits(x))).collect() };
        let mut rng = Rng::new(4);
        let map = Linear::<f32>::glorot(70, 45, true, &mut rng);
        let x: Vec<f32> = (0..37 * 70).map(|i| (i as f32 * 0.37).sin()).collect();
        let dy: Vec<f32> = (0..37 * 45).map(|i| (i as f32 * 0.91).cos()).collect();
        let run = |precision: Precision, map: &Linear<f32>, x: &[f32], dy: &[f32]| {
            let mut m = map.clone();
            m.weight.grad = vec![0.0; 45 * 70];
            m.bias.as_mut().unwrap().grad = vec![0.0; 45];
            let y = m.forward_at(precision, x);
            let mut dx = vec![0.0; x.len()];
            m.backward_at(precision, x, dy, &mut dx);
            [y, m.weight.grad, m.bias.unwrap().grad, dx]
        };
        let bf16 = run(Precision::Bf16, &map, &x, &dy);
        let mut rounded = map.clone();
        rounded.weight.value = round(&map.weight.value);
        let (x_r, dy_r) = (round(&x), round(&dy));
        // Each product rounds only what it multiplies: the forward x and W, the weight gradient
        // dy and x, the input gradient dy and W; the bias gradient sums dy unrounded.
        let forward = run(Precision::Fp32, &rounded, &x_r, &dy);
        let backward = run(Precision::Fp32, &rounded, &x_r, &dy_r);
        let expected = [&forward[0], &backward[1], &forward[2], &backward[3]];
        for (name, (want, got)) in ["output", "weight", "bias", "input"]
            .iter()
            .zip(expected.iter().zip(&bf16))
        {
            let gap: f32 = want.iter().zip(got).map(|(x, y)| (x - y) * (x - y)).sum::<f32>().sqrt();
            let size: f32 = want.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!(gap <= 1e-5 * size, "{name}: gap {gap}, size {size}");
        }
        assert_ne!(run(Precision::Fp32, &map, &x, &dy)[1], bf16[1], "bf16 changed nothing");
    }
}
