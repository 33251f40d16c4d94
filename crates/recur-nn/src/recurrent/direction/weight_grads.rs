//! A direction's weight gradients, made once per backward pass from every step's
//! pre-activation gradients: products over all the pass's rows (`batch · time` of them).

use super::{Direction, DirectionTape};
use crate::layer::{add_column_sums, add_transposed};
use crate::precision::add_weight_grad_at;
use crate::recurrent::cells::Cell;
use recur_core::{matmul, Float, Transpose};

impl<T: Float> Direction<T> {
    /// Adds the weight and bias gradients of a whole backward pass: two large GEMMs over every
    /// step's pre-activation gradients (`dxw`, and `dhw` for unfused cells).
    pub(super) fn add_weight_grads<C: Cell>(&mut self, cache: &DirectionTape<T>, dxw: &[T], dhw: &[T]) {
        let gh = self.w_hh.shape[0];
        let rows = cache.lengths.len() * cache.time;
        let d_rec = if C::FUSED_PROJECTIONS { dxw } else { dhw };
        let h_in = cache.h_masked.as_deref().unwrap_or(&cache.h_prev);
        self.add_recurrent_weight_grad(d_rec, h_in, rows);
        self.add_input_weight_grad(dxw, &cache.x, rows);
        if C::FUSED_PROJECTIONS {
            let mut sums = vec![T::ZERO; gh];
            add_column_sums(dxw, gh, &mut sums);
            for (grad, &v) in self
                .b_ih
                .grad
                .iter_mut()
                .zip(&sums)
                .chain(self.b_hh.grad.iter_mut().zip(&sums))
            {
                *grad += v;
            }
        } else {
            add_column_sums(dhw, gh, &mut self.b_hh.grad);
            add_column_sums(dxw, gh, &mut self.b_ih.grad);
        }
    }

    /// The input's gradient `dX = dXW · W_ih`, every step at once.
    pub(super) fn input_gradient(&self, dxw: &[T]) -> Vec<T> {
        let (gh, n_in) = (self.w_ih.shape[0], self.w_ih.shape[1]);
        let rows = dxw.len() / gh.max(1);
        let mut dx = vec![T::ZERO; rows * n_in];
        matmul(
            rows,
            n_in,
            gh,
            dxw,
            gh,
            Transpose::No,
            &self.w_ih.value,
            n_in,
            Transpose::No,
            &mut dx,
            n_in,
            false,
        );
        dx
    }

    /// `dW_ih += dxwᵀ·x`, computed as its transpose `xᵀ·dxw` and added transposed: the inputs
    /// are often few (a drawing's 3 or 5 values a point), and the general GEMM ran the product
    /// with so few output columns at 11 GFLOP/s, its transpose (1,024 columns) at 50.
    fn add_input_weight_grad(&mut self, dxw: &[T], x: &[T], rows: usize) {
        let (gh, n_in) = (self.w_ih.shape[0], self.w_ih.shape[1]);
        let mut grad_t = vec![T::ZERO; n_in * gh];
        matmul(
            n_in,
            gh,
            rows,
            x,
            n_in,
            Transpose::Yes,
            dxw,
            gh,
            Transpose::No,
            &mut grad_t,
            gh,
            false,
        );
        add_transposed(&grad_t, n_in, gh, &mut self.w_ih.grad);
    }

    /// `dW_hh += d_recᵀ·h_in` over `rows` rows (steps of sequences): `d_rec` the gradients
    /// of the recurrent projection, `h_in` the states it read; at the training precision.
    pub(crate) fn add_recurrent_weight_grad(&mut self, d_rec: &[T], h_in: &[T], rows: usize) {
        let (gh, h) = (self.w_hh.shape[0], self.units());
        if add_weight_grad_at(self.training, d_rec, gh, h_in, h, rows, &mut self.w_hh.grad) {
            return;
        }
        matmul(
            gh,
            h,
            rows,
            d_rec,
            gh,
            Transpose::Yes,
            h_in,
            h,
            Transpose::No,
            &mut self.w_hh.grad,
            h,
            true,
        );
    }
}
