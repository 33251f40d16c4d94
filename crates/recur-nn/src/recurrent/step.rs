//! One step at a time, as a decoder or a beam search runs a recurrent layer (Candle's
//! `RNN::step`): state in, state out, the weights laid out once in [`StepWeights`] rather
//! than on every call. [`Recurrent::step_train`] and [`Recurrent::step_backward`] are the same
//! step for training a decoder whose next input depends on its last output (input feeding),
//! which the fused whole-sequence loop cannot run.

use super::cells::Cell;
use super::{Recurrent, RnnState};
use crate::layer::{add_column_sums, bias_rows, Layer};
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
        // In tiles, so that both the rows read and the columns written stay in cache (a
        // training decoder lays its weights out again after every update).
        const TILE: usize = 32;
        for r0 in (0..gh).step_by(TILE) {
            for c0 in (0..h).step_by(TILE) {
                for r in r0..(r0 + TILE).min(gh) {
                    let row = &dir.w_hh.value[r * h..(r + 1) * h];
                    for c in c0..(c0 + TILE).min(h) {
                        w_hh_t[c * gh + r] = row[c];
                    }
                }
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
        self.step_inner(weights, x, state).0
    }

    /// [`Recurrent::step`] for training: also returns what [`Recurrent::step_backward`] needs.
    pub fn step_train(&self, weights: &StepWeights<T>, x: &[T], state: &RnnState<T>) -> (RnnState<T>, StepTape<T>) {
        let (next, gates, hw) = self.step_inner(weights, x, state);
        let tape = StepTape {
            x: x.to_vec(),
            prev: state.clone(),
            c_out: next.c.clone(),
            gates,
            hw,
        };
        (next, tape)
    }

    /// Back-propagates one [`Recurrent::step_train`] given the gradient reaching the state it
    /// returned (`dc` empty for cells without a memory cell): adds the weight gradients and
    /// returns the gradient of the step's input `x` and of the state it started from.
    pub fn step_backward(&mut self, tape: StepTape<T>, dh: &[T], dc: &[T]) -> (Vec<T>, RnnState<T>) {
        let mut grads = StepGradients::default();
        let out = self.step_backward_deferred(tape, dh, dc, &mut grads);
        self.add_step_gradients(grads);
        out
    }

    /// [`Recurrent::step_backward`] with the weight gradients left in `grads`, to be added by
    /// [`Recurrent::add_step_gradients`] after the last step: one large product per weight for
    /// a whole decoding instead of one per step over a few rows.
    pub fn step_backward_deferred(
        &self,
        tape: StepTape<T>,
        dh: &[T],
        dc: &[T],
        grads: &mut StepGradients<T>,
    ) -> (Vec<T>, RnnState<T>) {
        let (h, n_in) = (self.options.units, self.input.features);
        let gh = C::GATES * h;
        let batch = tape.prev.h.len() / h.max(1);
        let mut dxw = vec![T::ZERO; batch * gh];
        let mut dhw = vec![T::ZERO; if C::FUSED_PROJECTIONS { 0 } else { batch * gh }];
        let mut d_prev = self.zero_state(batch);
        dispatch(
            #[inline(always)]
            || {
                for b in 0..batch {
                    let (r, s) = (b * gh..(b + 1) * gh, b * h..(b + 1) * h);
                    let (cp, co, dcb, dcp): (&[T], &[T], &[T], &mut [T]) = if C::HAS_CELL_STATE {
                        (
                            &tape.prev.c[s.clone()],
                            &tape.c_out[s.clone()],
                            &dc[s.clone()],
                            &mut d_prev.c[s.clone()],
                        )
                    } else {
                        (&[], &[], &[], &mut [])
                    };
                    let (hw, dhw_row): (&[T], &mut [T]) = if C::FUSED_PROJECTIONS {
                        (&[], &mut [])
                    } else {
                        (&tape.hw[r.clone()], &mut dhw[r.clone()])
                    };
                    C::backward(
                        h,
                        &tape.gates[r.clone()],
                        hw,
                        &tape.prev.h[s.clone()],
                        cp,
                        co,
                        &dh[s.clone()],
                        dcb,
                        &mut dxw[r],
                        dhw_row,
                        &mut d_prev.h[s],
                        dcp,
                    );
                }
            },
        );
        let dir = &self.dirs[0];
        let d_rec = if C::FUSED_PROJECTIONS { &dxw } else { &dhw };
        // h·W_hhᵀ and x·W_ihᵀ: dh_prev += d_rec·W_hh, dx = dxw·W_ih.
        matmul(
            batch,
            h,
            gh,
            d_rec,
            gh,
            Transpose::No,
            &dir.w_hh.value,
            h,
            Transpose::No,
            &mut d_prev.h,
            h,
            true,
        );
        let mut dx = vec![T::ZERO; batch * n_in];
        matmul(
            batch,
            n_in,
            gh,
            &dxw,
            gh,
            Transpose::No,
            &dir.w_ih.value,
            n_in,
            Transpose::No,
            &mut dx,
            n_in,
            false,
        );
        grads.inputs.extend_from_slice(&tape.x);
        grads.states.extend_from_slice(&tape.prev.h);
        grads.d_inputs.extend_from_slice(&dxw);
        grads.d_states.extend_from_slice(&dhw);
        (dx, d_prev)
    }

    /// Adds the weight gradients that [`Recurrent::step_backward_deferred`] left in `grads`:
    /// `dW_ih += dxwᵀ·x`, `dW_hh += d_recᵀ·h_prev` and the biases, over every step at once.
    pub fn add_step_gradients(&mut self, grads: StepGradients<T>) {
        let (h, n_in) = (self.options.units, self.input.features);
        let gh = C::GATES * h;
        let rows = grads.d_inputs.len() / gh.max(1);
        if rows == 0 {
            return;
        }
        let dir = &mut self.dirs[0];
        let d_rec = if C::FUSED_PROJECTIONS {
            &grads.d_inputs
        } else {
            &grads.d_states
        };
        matmul(
            gh,
            h,
            rows,
            d_rec,
            gh,
            Transpose::Yes,
            &grads.states,
            h,
            Transpose::No,
            &mut dir.w_hh.grad,
            h,
            true,
        );
        matmul(
            gh,
            n_in,
            rows,
            &grads.d_inputs,
            gh,
            Transpose::Yes,
            &grads.inputs,
            n_in,
            Transpose::No,
            &mut dir.w_ih.grad,
            n_in,
            true,
        );
        add_column_sums(&grads.d_inputs, gh, &mut dir.b_ih.grad);
        add_column_sums(d_rec, gh, &mut dir.b_hh.grad);
    }

    /// The next state, the activated gates and (cells that keep them apart) the recurrent
    /// projection.
    fn step_inner(&self, weights: &StepWeights<T>, x: &[T], state: &RnnState<T>) -> (RnnState<T>, Vec<T>, Vec<T>) {
        let dir = &self.dirs[0];
        let (h, n_in) = (self.options.units, self.input.features);
        let gh = C::GATES * h;
        let batch = state.h.len() / h.max(1);
        let mut xw = bias_rows(batch, &weights.bias_x);
        matmul(
            batch,
            gh,
            n_in,
            x,
            n_in,
            Transpose::No,
            &dir.w_ih.value,
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
        let mut gates = vec![T::ZERO; batch * gh];
        dispatch(
            #[inline(always)]
            || {
                for b in 0..batch {
                    let (r, s) = (b * gh..(b + 1) * gh, b * h..(b + 1) * h);
                    let hw_row: &[T] = if C::FUSED_PROJECTIONS { &[] } else { &hw[r.clone()] };
                    let (cp, co): (&[T], &mut [T]) = if C::HAS_CELL_STATE {
                        (&state.c[s.clone()], &mut next.c[s.clone()])
                    } else {
                        (&[], &mut [])
                    };
                    C::forward(
                        h,
                        &xw[r.clone()],
                        hw_row,
                        &state.h[s.clone()],
                        cp,
                        &mut gates[r],
                        &mut next.h[s],
                        co,
                    );
                }
            },
        );
        (next, gates, hw)
    }

    /// The input width of one step.
    pub fn input_features(&self) -> usize {
        self.input.features
    }
}

/// Weight gradients of several steps waiting to be added (see
/// [`Recurrent::step_backward_deferred`]): each step's inputs and starting states, and the
/// gradients of its input and recurrent projections, stacked row after row.
pub struct StepGradients<T> {
    inputs: Vec<T>,
    states: Vec<T>,
    d_inputs: Vec<T>,
    d_states: Vec<T>,
}

impl<T> Default for StepGradients<T> {
    fn default() -> Self {
        StepGradients {
            inputs: Vec::new(),
            states: Vec::new(),
            d_inputs: Vec::new(),
            d_states: Vec::new(),
        }
    }
}

/// What [`Recurrent::step_backward`] needs from one [`Recurrent::step_train`].
pub struct StepTape<T> {
    x: Vec<T>,
    prev: RnnState<T>,
    c_out: Vec<T>,
    gates: Vec<T>,
    hw: Vec<T>,
}

/// A unidirectional recurrent layer run step by step, whatever its cell: what a decoder holds
/// (`Box<dyn Stepping<T>>` for an LSTM or a GRU chosen by config).
pub trait Stepping<T: Float>: Layer<T> {
    /// Hidden units.
    fn units(&self) -> usize;
    /// Whether the state carries a memory cell `c` (LSTM).
    fn has_cell_state(&self) -> bool;
    /// See [`Recurrent::step_weights`].
    fn step_weights(&self) -> Result<StepWeights<T>, String>;
    /// See [`Recurrent::zero_state`].
    fn zero_state(&self, batch: usize) -> RnnState<T>;
    /// See [`Recurrent::step`].
    fn step(&self, weights: &StepWeights<T>, x: &[T], state: &RnnState<T>) -> RnnState<T>;
    /// See [`Recurrent::step_train`].
    fn step_train(&self, weights: &StepWeights<T>, x: &[T], state: &RnnState<T>) -> (RnnState<T>, StepTape<T>);
    /// See [`Recurrent::step_backward`].
    fn step_backward(&mut self, tape: StepTape<T>, dh: &[T], dc: &[T]) -> (Vec<T>, RnnState<T>);
    /// See [`Recurrent::step_backward_deferred`].
    fn step_backward_deferred(
        &self,
        tape: StepTape<T>,
        dh: &[T],
        dc: &[T],
        grads: &mut StepGradients<T>,
    ) -> (Vec<T>, RnnState<T>);
    /// See [`Recurrent::add_step_gradients`].
    fn add_step_gradients(&mut self, grads: StepGradients<T>);
    /// A boxed copy.
    fn clone_stepping(&self) -> Box<dyn Stepping<T>>;
}

impl<T: Float, C: Cell> Stepping<T> for Recurrent<T, C> {
    fn units(&self) -> usize {
        self.options.units
    }
    fn has_cell_state(&self) -> bool {
        C::HAS_CELL_STATE
    }
    fn step_weights(&self) -> Result<StepWeights<T>, String> {
        Recurrent::step_weights(self)
    }
    fn zero_state(&self, batch: usize) -> RnnState<T> {
        Recurrent::zero_state(self, batch)
    }
    fn step(&self, weights: &StepWeights<T>, x: &[T], state: &RnnState<T>) -> RnnState<T> {
        Recurrent::step(self, weights, x, state)
    }
    fn step_train(&self, weights: &StepWeights<T>, x: &[T], state: &RnnState<T>) -> (RnnState<T>, StepTape<T>) {
        Recurrent::step_train(self, weights, x, state)
    }
    fn step_backward(&mut self, tape: StepTape<T>, dh: &[T], dc: &[T]) -> (Vec<T>, RnnState<T>) {
        Recurrent::step_backward(self, tape, dh, dc)
    }
    fn step_backward_deferred(
        &self,
        tape: StepTape<T>,
        dh: &[T],
        dc: &[T],
        grads: &mut StepGradients<T>,
    ) -> (Vec<T>, RnnState<T>) {
        Recurrent::step_backward_deferred(self, tape, dh, dc, grads)
    }
    fn add_step_gradients(&mut self, grads: StepGradients<T>) {
        Recurrent::add_step_gradients(self, grads)
    }
    fn clone_stepping(&self) -> Box<dyn Stepping<T>> {
        Box::new(self.clone())
    }
}

impl<T: Float> Clone for Box<dyn Stepping<T>> {
    fn clone(&self) -> Self {
        self.clone_stepping()
    }
}
