//! One step at a time, as a decoder or a beam search runs a recurrent layer (Candle's
//! `RNN::step`): state in, state out, the weights laid out once in [`StepWeights`] rather
//! than on every call. Inference only; training runs whole sequences through the fused loop.

use super::cells::Cell;
use super::{Recurrent, RnnState};
use crate::layer::bias_rows;
use recur_core::math::dispatch;
use recur_core::{matmul, Float, Transpose};

/// A unidirectional layer's weights prepared for stepping: `W_hhᵀ` laid out `[units,
/// gates·units]` for the per-step product, and the biases folded where the cell allows.
pub struct StepWeights<T> {
    w_hh_t: Vec<T>,
    /// Bias of the input projection (plus `b_hh` for fused cells).
    bias_x: Vec<T>,
}

impl<T: Float, C: Cell> Recurrent<T, C> {
    /// Lays the weights out for [`Recurrent::step`]; a bidirectional layer cannot step (its
    /// second direction reads the sequence from the end).
    pub fn step_weights(&self) -> Result<StepWeights<T>, String> {
        let [dir] = &self.dirs[..] else {
            return Err(format!("a bidirectional {} cannot run step by step", C::KIND));
        };
        let (h, gh) = (self.options.units, C::GATES * self.options.units);
        let mut w_hh_t = vec![T::ZERO; h * gh];
        for (r, row) in dir.w_hh.value.chunks_exact(h).enumerate() {
            for (c, &v) in row.iter().enumerate() {
                w_hh_t[c * gh + r] = v;
            }
        }
        let mut bias_x = dir.b_ih.value.clone();
        if C::FUSED_PROJECTIONS {
            bias_x.iter_mut().zip(&dir.b_hh.value).for_each(|(a, &b)| *a += b);
        }
        Ok(StepWeights { w_hh_t, bias_x })
    }

    /// The all-zero state of a batch.
    pub fn zero_state(&self, batch: usize) -> RnnState<T> {
        let n = batch * self.options.units;
        RnnState {
            h: vec![T::ZERO; n],
            c: if C::HAS_CELL_STATE {
                vec![T::ZERO; n]
            } else {
                Vec::new()
            },
        }
    }

    /// One step for a batch: `x` is `[batch, input]`, `state` the state before the step
    /// (`[batch, units]` each); returns the state after it, whose `h` is the step's output.
    pub fn step(&self, weights: &StepWeights<T>, x: &[T], state: &RnnState<T>) -> RnnState<T> {
        let dir = &self.dirs[0];
        let (h, n_in) = (self.options.units, self.input.features);
        let gh = C::GATES * h;
        let batch = state.h.len() / h.max(1);
        let mut xw = bias_rows(batch, &weights.bias_x);
        let w_ih = &dir.w_ih.value;
        matmul(
            batch,
            gh,
            n_in,
            x,
            n_in,
            Transpose::No,
            w_ih,
            n_in,
            Transpose::Yes,
            &mut xw,
            gh,
            true,
        );
        let mut hw = if C::FUSED_PROJECTIONS {
            Vec::new()
        } else {
            bias_rows(batch, &dir.b_hh.value)
        };
        let target = if C::FUSED_PROJECTIONS { &mut xw } else { &mut hw };
        matmul(
            batch,
            gh,
            h,
            &state.h,
            h,
            Transpose::No,
            &weights.w_hh_t,
            gh,
            Transpose::No,
            target,
            gh,
            true,
        );
        let mut next = self.zero_state(batch);
        let mut gates = vec![T::ZERO; gh];
        dispatch(
            #[inline(always)]
            || {
                for b in 0..batch {
                    let hw_row: &[T] = if C::FUSED_PROJECTIONS {
                        &[]
                    } else {
                        &hw[b * gh..(b + 1) * gh]
                    };
                    let (cp, co): (&[T], &mut [T]) = if C::HAS_CELL_STATE {
                        (&state.c[b * h..(b + 1) * h], &mut next.c[b * h..(b + 1) * h])
                    } else {
                        (&[], &mut [])
                    };
                    C::forward(
                        h,
                        &xw[b * gh..(b + 1) * gh],
                        hw_row,
                        &state.h[b * h..(b + 1) * h],
                        cp,
                        &mut gates,
                        &mut next.h[b * h..(b + 1) * h],
                        co,
                    );
                }
            },
        );
        next
    }
}
