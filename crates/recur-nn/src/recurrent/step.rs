//! One step at a time, as a decoder or a beam search runs a recurrent layer (Candle's
//! `RNN::step`): state in, state out, the weights laid out once in [`StepWeights`] rather
//! than on every call. [`Stepping::step_train`] and [`Stepping::step_backward_deferred`] are the
//! same step for training a decoder whose next input depends on its last output (input feeding),
//! which the fused whole-sequence loop cannot run.

use super::cells::{Cell, StepBack, StepGrads, StepIn, StepOut};
use super::{Recurrent, RnnState};
use crate::layer::{add_column_sums, bias_rows, transpose, Layer};
use recur_core::math::dispatch;
use recur_core::{matmul, Float, Transpose};

/// A unidirectional layer's weights prepared for stepping. The first `ahead` input features
/// may be known for every step before the first (a decoder's embeddings under teacher
/// forcing): their product with `W_ih` is then taken for all steps at once
/// ([`Stepping::project_ahead`]) and a step only multiplies the rest of its input and its
/// state, in one product, by `[W_ih[:, ahead..] | W_hh]ᵀ`, laid out `[rest + units,
/// gates·units]` here so that the per-step product reads it in place.
pub struct StepWeights<T> {
    ahead: usize,
    w_step_t: Vec<T>,
    /// Bias of the input projection (plus `b_hh` for fused cells).
    bias_x: Vec<T>,
}

impl<T: Float, C: Cell> Recurrent<T, C> {
    /// The next state, the activated gates and (cells that keep them apart) the recurrent
    /// projection. Cells that fuse their projections take the rest of the input and the state
    /// through one product, `[x | h]·[W_ih[:, ahead..] | W_hh]ᵀ`.
    fn step_inner(
        &self,
        weights: &StepWeights<T>,
        xw: &mut [T],
        x: &[T],
        state: &RnnState<T>,
    ) -> (RnnState<T>, Vec<T>, Vec<T>) {
        let (h, n_in) = (self.options.units, self.input.features);
        let gh = C::GATES * h;
        let batch = state.h.len() / h.max(1);
        let rest = n_in - weights.ahead;
        assert_eq!(xw.len(), batch * gh, "one projected row per state row");
        assert_eq!(x.len(), batch * rest, "the step input is the part not projected ahead");
        // Each product adds `rows × k` inputs times `k` rows of the laid-out weights to `out`.
        let product = |a: &[T], k: usize, w: &[T], out: &mut [T]| {
            matmul(batch, gh, k, a, k, Transpose::No, w, gh, Transpose::No, out, gh, true)
        };
        let hw = if C::FUSED_PROJECTIONS {
            let mut xh = Vec::with_capacity(batch * (rest + h));
            for b in 0..batch {
                xh.extend_from_slice(&x[b * rest..(b + 1) * rest]);
                xh.extend_from_slice(&state.h[b * h..(b + 1) * h]);
            }
            product(&xh, rest + h, &weights.w_step_t, xw);
            Vec::new()
        } else {
            product(x, rest, &weights.w_step_t, xw);
            let mut hw = bias_rows(batch, &self.dirs[0].b_hh.value);
            product(&state.h, h, &weights.w_step_t[rest * gh..], &mut hw);
            hw
        };
        let mut next = self.zero_state(batch);
        let mut gates = xw.to_vec();
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
                    let x = StepIn {
                        hw: hw_row,
                        h_prev: &state.h[s.clone()],
                        c_prev: cp,
                    };
                    let written = StepOut {
                        gates: &mut gates[r],
                        h: &mut next.h[s],
                        c: co,
                    };
                    C::forward(h, x, written);
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
/// [`Stepping::step_backward_deferred`]): each step's inputs and starting states, and the
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

/// What [`Stepping::step_backward_deferred`] needs from one [`Stepping::step_train`].
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
    /// Lays the weights out for [`Stepping::step`], the first `ahead` input features to be
    /// projected by [`Stepping::project_ahead`] (0: none); a bidirectional layer cannot step
    /// (its second direction reads the sequence from the end).
    fn step_weights(&self, ahead: usize) -> Result<StepWeights<T>, String>;
    /// The all-zero state of a batch.
    fn zero_state(&self, batch: usize) -> RnnState<T>;
    /// The input projection of `rows` rows of the features known ahead (`x_ahead`, `[rows,
    /// ahead]`, nothing when `ahead` is 0): `[rows, gates·units]`, biases included, what
    /// [`Stepping::step`] takes for each of those rows.
    fn project_ahead(&self, weights: &StepWeights<T>, rows: usize, x_ahead: &[T]) -> Vec<T>;
    /// One step for a batch: `projected` is the batch's rows of [`Stepping::project_ahead`]
    /// (overwritten), `x` the rest of its input (`[batch, input − ahead]`), `state` the state
    /// before the step (`[batch, units]` each); returns the state after it, whose `h` is the
    /// step's output.
    fn step(&self, weights: &StepWeights<T>, projected: &mut [T], x: &[T], state: &RnnState<T>) -> RnnState<T>;
    /// [`Stepping::step`] for training: also returns what
    /// [`Stepping::step_backward_deferred`] needs.
    fn step_train(
        &self,
        weights: &StepWeights<T>,
        projected: &mut [T],
        x: &[T],
        state: &RnnState<T>,
    ) -> (RnnState<T>, StepTape<T>);
    /// Back-propagates one [`Stepping::step_train`] given the gradient reaching the state it
    /// returned (`dc` empty for cells without a memory cell): returns the gradient of the
    /// step's input `x` (the part not projected ahead) and of the state it started from, and
    /// leaves the weight gradients in `grads`, to be added by
    /// [`Stepping::add_step_gradients`] after the last step: one large product per weight for
    /// a whole decoding instead of one per step over a few rows.
    fn step_backward_deferred(
        &self,
        tape: StepTape<T>,
        dh: &[T],
        dc: &[T],
        grads: &mut StepGradients<T>,
    ) -> (Vec<T>, RnnState<T>);
    /// Adds the weight gradients that [`Stepping::step_backward_deferred`] left in `grads`,
    /// over every step at once: `dW_ih += dxwᵀ·[x_ahead | x]`, `dW_hh += d_recᵀ·h_prev` and
    /// the biases. `x_ahead` holds the features projected ahead of the same rows, stacked in
    /// the order the steps went back (nothing when none were); returns their gradient, in
    /// that order.
    fn add_step_gradients(&mut self, grads: StepGradients<T>, x_ahead: &[T]) -> Vec<T>;
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
    fn step_weights(&self, ahead: usize) -> Result<StepWeights<T>, String> {
        let [dir] = &self.dirs[..] else {
            return Err(format!("a bidirectional {} cannot run step by step", C::KIND));
        };
        let (h, gh, n_in) = (self.options.units, C::GATES * self.options.units, self.input.features);
        if ahead > n_in {
            return Err(format!(
                "{ahead} input features projected ahead, but the input has {n_in}"
            ));
        }
        let rest = n_in - ahead;
        let mut w_step_t = vec![T::ZERO; (rest + h) * gh];
        transpose(gh, rest, &dir.w_ih.value[ahead..], n_in, &mut w_step_t, gh);
        transpose(gh, h, &dir.w_hh.value, h, &mut w_step_t[rest * gh..], gh);
        let mut bias_x = dir.b_ih.value.clone();
        if C::FUSED_PROJECTIONS {
            bias_x.iter_mut().zip(&dir.b_hh.value).for_each(|(a, &b)| *a += b);
        }
        Ok(StepWeights {
            ahead,
            w_step_t,
            bias_x,
        })
    }
    fn zero_state(&self, batch: usize) -> RnnState<T> {
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
    fn project_ahead(&self, weights: &StepWeights<T>, rows: usize, x_ahead: &[T]) -> Vec<T> {
        let (gh, n_in, ahead) = (C::GATES * self.options.units, self.input.features, weights.ahead);
        let mut xw = bias_rows(rows, &weights.bias_x);
        matmul(
            rows,
            gh,
            ahead,
            x_ahead,
            ahead,
            Transpose::No,
            &self.dirs[0].w_ih.value,
            n_in,
            Transpose::Yes,
            &mut xw,
            gh,
            true,
        );
        xw
    }
    fn step(&self, weights: &StepWeights<T>, projected: &mut [T], x: &[T], state: &RnnState<T>) -> RnnState<T> {
        self.step_inner(weights, projected, x, state).0
    }
    fn step_train(
        &self,
        weights: &StepWeights<T>,
        projected: &mut [T],
        x: &[T],
        state: &RnnState<T>,
    ) -> (RnnState<T>, StepTape<T>) {
        let (next, gates, hw) = self.step_inner(weights, projected, x, state);
        let tape = StepTape {
            x: x.to_vec(),
            prev: state.clone(),
            c_out: next.c.clone(),
            gates,
            hw,
        };
        (next, tape)
    }
    fn step_backward_deferred(
        &self,
        tape: StepTape<T>,
        dh: &[T],
        dc: &[T],
        grads: &mut StepGradients<T>,
    ) -> (Vec<T>, RnnState<T>) {
        let (h, n_in) = (self.options.units, self.input.features);
        let gh = C::GATES * h;
        let batch = tape.prev.h.len() / h.max(1);
        let rest = tape.x.len().checked_div(batch).unwrap_or(0);
        let mut dxw = vec![T::ZERO; batch * gh];
        let mut dhw = vec![T::ZERO; if C::FUSED_PROJECTIONS { 0 } else { batch * gh }];
        let mut d_prev = self.zero_state(batch);
        cell_backward_rows::<T, C>(h, &tape, (dh, dc), (&mut dxw, &mut dhw), &mut d_prev);
        let dir = &self.dirs[0];
        let d_rec = if C::FUSED_PROJECTIONS { &dxw } else { &dhw };
        // h·W_hhᵀ and x·W_ih[:, ahead..]ᵀ: dh_prev += d_rec·W_hh, dx = dxw·W_ih[:, ahead..].
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
        let mut dx = vec![T::ZERO; batch * rest];
        matmul(
            batch,
            rest,
            gh,
            &dxw,
            gh,
            Transpose::No,
            &dir.w_ih.value[n_in - rest..],
            n_in,
            Transpose::No,
            &mut dx,
            rest,
            false,
        );
        grads.inputs.extend_from_slice(&tape.x);
        grads.states.extend_from_slice(&tape.prev.h);
        grads.d_inputs.extend_from_slice(&dxw);
        grads.d_states.extend_from_slice(&dhw);
        (dx, d_prev)
    }
    fn add_step_gradients(&mut self, grads: StepGradients<T>, x_ahead: &[T]) -> Vec<T> {
        let (h, n_in) = (self.options.units, self.input.features);
        let gh = C::GATES * h;
        let rows = grads.d_inputs.len() / gh.max(1);
        if rows == 0 {
            return Vec::new();
        }
        let (ahead, rest) = (x_ahead.len() / rows, grads.inputs.len() / rows);
        assert_eq!(
            ahead + rest,
            n_in,
            "features projected ahead and stepped make the input"
        );
        let dir = &mut self.dirs[0];
        let d_rec = if C::FUSED_PROJECTIONS {
            &grads.d_inputs
        } else {
            &grads.d_states
        };
        dir.add_recurrent_weight_grad(d_rec, &grads.states, rows);
        for (x, width, offset) in [(x_ahead, ahead, 0), (&grads.inputs[..], rest, ahead)] {
            matmul(
                gh,
                width,
                rows,
                &grads.d_inputs,
                gh,
                Transpose::Yes,
                x,
                width,
                Transpose::No,
                &mut dir.w_ih.grad[offset..],
                n_in,
                true,
            );
        }
        add_column_sums(&grads.d_inputs, gh, &mut dir.b_ih.grad);
        add_column_sums(d_rec, gh, &mut dir.b_hh.grad);
        let mut d_ahead = vec![T::ZERO; rows * ahead];
        matmul(
            rows,
            ahead,
            gh,
            &grads.d_inputs,
            gh,
            Transpose::No,
            &dir.w_ih.value,
            n_in,
            Transpose::No,
            &mut d_ahead,
            ahead,
            false,
        );
        d_ahead
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

/// The cell's backward over each of a step's rows: the gradients of the gate
/// pre-activations (`dxw`, and `dhw` for cells whose recurrent product is kept apart) and of
/// the previous cell state, from the gradients `dh`, `dc` reaching the step's output.
fn cell_backward_rows<T: Float, C: Cell>(
    h: usize,
    tape: &StepTape<T>,
    (dh, dc): (&[T], &[T]),
    (dxw, dhw): (&mut [T], &mut [T]),
    d_prev: &mut RnnState<T>,
) {
    let gh = C::GATES * h;
    let batch = tape.prev.h.len() / h.max(1);
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
                let back = StepBack {
                    gates: &tape.gates[r.clone()],
                    hw,
                    h_prev: &tape.prev.h[s.clone()],
                    c_prev: cp,
                    c_out: co,
                    dh: &dh[s.clone()],
                    dc: dcb,
                };
                let grads = StepGrads {
                    dxw: &mut dxw[r],
                    dhw: dhw_row,
                    dh_prev: &mut d_prev.h[s],
                    dc_prev: dcp,
                };
                C::backward(h, back, grads);
            }
        },
    );
}
