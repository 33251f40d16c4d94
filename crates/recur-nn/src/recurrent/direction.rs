//! One direction of a recurrent layer: the fused forward and backward loops.
//!
//! Forward: one GEMM projects every step's input at once (`XW = X·W_ihᵀ + b_ih`), then each
//! step does one GEMM for the recurrent projection and one vectorised pass of gate math over
//! the batch. Backward mirrors it: one GEMM per step carries the gradient to the previous
//! state, and after the loop the weight gradients are two large GEMMs over all steps.
//! Padded steps carry the state through unchanged and pass gradients straight back.

use super::cells::{Cell, StepBack, StepGrads, StepIn, StepOut};
use crate::layer::{add_column_sums, bias_rows, transpose, Param};
use crate::precision::{pack, packed_product, Precision};
use recur_core::lowp::PackedWeights;
use recur_core::math::dispatch;
use recur_core::{matmul, Float, Transpose};

/// Weights of one direction, PyTorch names (`_reverse` suffix for the backward direction).
#[derive(Clone)]
pub struct Direction<T> {
    pub(crate) w_ih: Param<T>,
    pub(crate) w_hh: Param<T>,
    pub(crate) b_ih: Param<T>,
    pub(crate) b_hh: Param<T>,
    /// `W_ih` and `W_hh` packed for reduced-precision inference, once prepared.
    packed: Option<PackedDirection>,
}

/// A direction's two weight matrices in a reduced-precision format.
#[derive(Clone)]
struct PackedDirection {
    w_ih: PackedWeights,
    w_hh: PackedWeights,
}

/// What backward needs from one forward call, all `[batch, time, …]` row-major.
pub struct DirectionTape<T> {
    x: Vec<T>,
    lengths: Vec<usize>,
    time: usize,
    /// The recurrent projection, kept only for cells that need it apart (GRU).
    hw: Vec<T>,
    gates: Vec<T>,
    /// State entering each step, unmasked (what the gate math saw).
    h_prev: Vec<T>,
    /// State entering each step with the recurrent-dropout mask (what the GEMM saw).
    h_masked: Option<Vec<T>>,
    rec_mask: Option<Vec<T>>,
    c_prev: Vec<T>,
    c_out: Vec<T>,
}

/// The inputs of one direction's forward pass.
pub struct DirectionInput<'a, T> {
    /// `[batch, time, input]`, already reversed within lengths for the reverse direction.
    pub x: Vec<T>,
    /// Valid steps per sequence.
    pub lengths: &'a [usize],
    /// Padded time axis.
    pub time: usize,
    /// Initial `h` and `c`, `[batch, units]` each.
    pub h0: Vec<T>,
    /// Initial memory cell (LSTM); zeros otherwise.
    pub c0: Vec<T>,
    /// Recurrent-dropout mask, `[batch, units]`, already scaled.
    pub rec_mask: Option<Vec<T>>,
}

impl<T: Float> Direction<T> {
    /// A direction with the given tensors (names carry the `_reverse` suffix where due).
    pub fn new(w_ih: Param<T>, w_hh: Param<T>, b_ih: Param<T>, b_hh: Param<T>) -> Self {
        Direction {
            w_ih,
            w_hh,
            b_ih,
            b_hh,
            packed: None,
        }
    }

    /// The four tensors.
    pub fn params(&self) -> [&Param<T>; 4] {
        [&self.w_ih, &self.w_hh, &self.b_ih, &self.b_hh]
    }

    /// The four tensors, mutable. Drops the packed copy, which would go stale.
    pub fn params_mut(&mut self) -> [&mut Param<T>; 4] {
        self.packed = None;
        [&mut self.w_ih, &mut self.w_hh, &mut self.b_ih, &mut self.b_hh]
    }

    fn units(&self) -> usize {
        self.w_hh.shape[1]
    }

    /// Packs both weight matrices for inference at `precision` (fp32 drops the copies).
    pub fn prepare_inference(&mut self, precision: Precision) {
        let (gh, h, n_in) = (self.w_hh.shape[0], self.units(), self.w_ih.shape[1]);
        let w_ih = pack(precision, &self.w_ih.value, gh, n_in);
        let w_hh = pack(precision, &self.w_hh.value, gh, h);
        self.packed = w_ih.zip(w_hh).map(|(w_ih, w_hh)| PackedDirection { w_ih, w_hh });
    }

    /// `xw += x·W_ihᵀ` over all `rows` rows of `x` (every step of every sequence), on the
    /// packed copy `packed` when inference has one.
    fn project_inputs(&self, packed: Option<&PackedWeights>, rows: usize, x: &[T], xw: &mut [T]) {
        let (gh, n_in) = (self.w_ih.shape[0], self.w_ih.shape[1]);
        if !packed_product(packed, rows, x, n_in, xw, gh, true) {
            matmul(
                rows,
                gh,
                n_in,
                x,
                n_in,
                Transpose::No,
                &self.w_ih.value,
                n_in,
                Transpose::Yes,
                xw,
                gh,
                true,
            );
        }
    }

    /// Runs the direction. Returns the state after every step (`[batch, time, units]`,
    /// carried through padding, so step `time−1` holds each sequence's final state) and the
    /// final memory cell, and with `keep_cache` what backward needs.
    pub fn forward<C: Cell>(
        &self,
        input: DirectionInput<T>,
        keep_cache: bool,
    ) -> (Vec<T>, Vec<T>, Option<DirectionTape<T>>) {
        let DirectionInput {
            x,
            lengths,
            time,
            h0,
            c0,
            rec_mask,
        } = input;
        let (batch, h) = (lengths.len(), self.units());
        let gh = C::GATES * h;
        let rows = batch * time;
        // Every step's input projection in one GEMM, accumulated onto the bias (both biases
        // when the cell lets the recurrent projection fold in).
        let mut bias = self.b_ih.value.clone();
        if C::FUSED_PROJECTIONS {
            bias.iter_mut().zip(&self.b_hh.value).for_each(|(a, &b)| *a += b);
        }
        let mut xw = bias_rows(rows, &bias);
        // Inference runs both products on the packed copy when there is one.
        let packed = self.packed.as_ref().filter(|_| !keep_cache);
        self.project_inputs(packed.map(|p| &p.w_ih), rows, &x, &mut xw);
        let packed_hh = packed.map(|p| &p.w_hh);
        // Training keeps every step for backward; inference only needs the current step.
        let kept = if keep_cache { rows } else { batch };
        let at = |b: usize, t: usize| if keep_cache { b * time + t } else { b };
        let hw_at = |t: usize| if keep_cache { (t * gh, time * gh) } else { (0, gh) };
        // A separate recurrent projection only where the cell needs one (GRU).
        let mut hw = vec![T::ZERO; if C::FUSED_PROJECTIONS { 0 } else { kept * gh }];
        let mut gates = vec![T::ZERO; kept * gh];
        let mut out = vec![T::ZERO; rows * h];
        let mut h_prev = vec![T::ZERO; if keep_cache { rows * h } else { 0 }];
        let mut h_masked = rec_mask.as_ref().map(|_| vec![T::ZERO; rows * h]);
        let cell_rows = if C::HAS_CELL_STATE { kept * h } else { 0 };
        let (mut c_prev, mut c_out) = (vec![T::ZERO; cell_rows], vec![T::ZERO; cell_rows]);
        let (mut state_h, mut state_c) = (h0, c0);
        let b_hh = &self.b_hh.value;
        // W_hhᵀ laid out [H, GH]: gemm then reads it in place instead of re-packing the whole
        // recurrent matrix on every step (measured ≈1.3× on the per-step product).
        let mut w_hh_t = vec![T::ZERO; if packed.is_some() { 0 } else { h * gh }];
        if packed.is_none() {
            transpose(gh, h, &self.w_hh.value, h, &mut w_hh_t, gh);
        }
        for t in 0..time {
            if keep_cache {
                for b in 0..batch {
                    let row = (b * time + t) * h;
                    h_prev[row..row + h].copy_from_slice(&state_h[b * h..(b + 1) * h]);
                    if let (Some(hm), Some(mask)) = (h_masked.as_mut(), rec_mask.as_ref()) {
                        for j in 0..h {
                            hm[row + j] = state_h[b * h + j] * mask[b * h + j];
                        }
                    }
                }
            }
            let (gemm_in, in_ld) = match (&h_masked, keep_cache) {
                (Some(hm), _) => (&hm[t * h..], time * h),
                (None, true) => (&h_prev[t * h..], time * h),
                (None, false) => (&state_h[..], h),
            };
            // Fused cells: the recurrent product lands straight on this step's input projection.
            let (target, off, ld) = match C::FUSED_PROJECTIONS {
                true => (&mut xw, t * gh, time * gh),
                false => (&mut hw, hw_at(t).0, hw_at(t).1),
            };
            let target = &mut target[off..];
            if !packed_product(packed_hh, batch, gemm_in, in_ld, target, ld, C::FUSED_PROJECTIONS) {
                matmul(
                    batch,
                    gh,
                    h,
                    gemm_in,
                    in_ld,
                    Transpose::No,
                    &w_hh_t,
                    gh,
                    Transpose::No,
                    target,
                    ld,
                    C::FUSED_PROJECTIONS,
                );
            }
            dispatch(
                #[inline(always)]
                || {
                    for b in 0..batch {
                        let (r, s) = (at(b, t) * gh, (b * time + t) * h);
                        let c_at = at(b, t) * h;
                        let hw_row: &[T] = if C::FUSED_PROJECTIONS {
                            &[]
                        } else {
                            let row = &mut hw[r..r + gh];
                            row.iter_mut().zip(b_hh).for_each(|(v, &bias)| *v += bias);
                            row
                        };
                        let sh = &mut state_h[b * h..(b + 1) * h];
                        if t < lengths[b] {
                            let (cp, co) = if C::HAS_CELL_STATE {
                                let sc = &state_c[b * h..(b + 1) * h];
                                c_prev[c_at..c_at + h].copy_from_slice(sc);
                                (&c_prev[c_at..c_at + h], &mut c_out[c_at..c_at + h])
                            } else {
                                (&[][..], &mut [][..])
                            };
                            let xw_row = &xw[(b * time + t) * gh..(b * time + t + 1) * gh];
                            let x = StepIn {
                                xw: xw_row,
                                hw: hw_row,
                                h_prev: sh,
                                c_prev: cp,
                            };
                            let written = StepOut {
                                gates: &mut gates[r..r + gh],
                                h: &mut out[s..s + h],
                                c: co,
                            };
                            C::forward(h, x, written);
                            sh.copy_from_slice(&out[s..s + h]);
                            if C::HAS_CELL_STATE {
                                state_c[b * h..(b + 1) * h].copy_from_slice(&c_out[c_at..c_at + h]);
                            }
                        } else {
                            out[s..s + h].copy_from_slice(sh);
                            if C::HAS_CELL_STATE && keep_cache {
                                let sc = &state_c[b * h..(b + 1) * h];
                                c_prev[c_at..c_at + h].copy_from_slice(sc);
                                c_out[c_at..c_at + h].copy_from_slice(sc);
                            }
                        }
                    }
                },
            );
        }
        let tape = keep_cache.then(|| DirectionTape {
            x,
            lengths: lengths.to_vec(),
            time,
            hw,
            gates,
            h_prev,
            h_masked,
            rec_mask,
            c_prev,
            c_out,
        });
        (out, state_c, tape)
    }

    /// Back-propagates. `d_out` is the gradient reaching each step's state (`[batch, time,
    /// units]`; at padded steps it flows on to the last real step), `dh_final`/`dc_final`
    /// the gradient reaching the final state. Adds weight gradients; returns the gradient of
    /// the input `[batch, time, input]` (empty unless `input_grad`) and of the initial `h` and `c`.
    pub fn backward<C: Cell>(
        &mut self,
        cache: DirectionTape<T>,
        d_out: &[T],
        dh_final: Vec<T>,
        dc_final: Vec<T>,
        input_grad: bool,
    ) -> (Vec<T>, Vec<T>, Vec<T>) {
        let (batch, time, h, n_in) = (cache.lengths.len(), cache.time, self.units(), self.w_ih.shape[1]);
        let gh = C::GATES * h;
        let rows = batch * time;
        let mut dxw = vec![T::ZERO; rows * gh];
        // Fused cells give both projections the same gradient: `dxw` serves for both.
        let mut dhw = vec![T::ZERO; if C::FUSED_PROJECTIONS { 0 } else { rows * gh }];
        let (mut dh_carry, mut dc_carry) = (dh_final, dc_final);
        let mut dh_gemm = vec![T::ZERO; batch * h];
        let mut dh_step = vec![T::ZERO; h];
        let mut dc_prev = vec![T::ZERO; h];
        for t in (0..time).rev() {
            dispatch(
                #[inline(always)]
                || {
                    for b in 0..batch {
                        let (r, s) = ((b * time + t) * gh, (b * time + t) * h);
                        let carry = &mut dh_carry[b * h..(b + 1) * h];
                        for ((d, &o), &c) in dh_step.iter_mut().zip(&d_out[s..s + h]).zip(carry.iter()) {
                            *d = o + c;
                        }
                        if t < cache.lengths[b] {
                            let (cp, co, dc) = if C::HAS_CELL_STATE {
                                (
                                    &cache.c_prev[s..s + h],
                                    &cache.c_out[s..s + h],
                                    &dc_carry[b * h..(b + 1) * h],
                                )
                            } else {
                                (&[][..], &[][..], &[][..])
                            };
                            let (hw, dhw_row) = if C::FUSED_PROJECTIONS {
                                (&[][..], &mut [][..])
                            } else {
                                (&cache.hw[r..r + gh], &mut dhw[r..r + gh])
                            };
                            let back = StepBack {
                                gates: &cache.gates[r..r + gh],
                                hw,
                                h_prev: &cache.h_prev[s..s + h],
                                c_prev: cp,
                                c_out: co,
                                dh: &dh_step,
                                dc,
                            };
                            let grads = StepGrads {
                                dxw: &mut dxw[r..r + gh],
                                dhw: dhw_row,
                                dh_prev: carry,
                                dc_prev: &mut dc_prev,
                            };
                            C::backward(h, back, grads);
                            if C::HAS_CELL_STATE {
                                dc_carry[b * h..(b + 1) * h].copy_from_slice(&dc_prev[..h]);
                            }
                        } else {
                            carry.copy_from_slice(&dh_step);
                        }
                    }
                },
            );
            let d_rec = if C::FUSED_PROJECTIONS { &dxw } else { &dhw };
            // Padded rows have zero gradient, so the product adds nothing to their carry.
            matmul(
                batch,
                h,
                gh,
                &d_rec[t * gh..],
                time * gh,
                Transpose::No,
                &self.w_hh.value,
                h,
                Transpose::No,
                &mut dh_gemm,
                h,
                false,
            );
            dispatch(
                #[inline(always)]
                || match cache.rec_mask.as_ref() {
                    Some(mask) => dh_carry
                        .iter_mut()
                        .zip(&dh_gemm)
                        .zip(mask)
                        .for_each(|((c, &g), &m)| *c += g * m),
                    None => dh_carry.iter_mut().zip(&dh_gemm).for_each(|(c, &g)| *c += g),
                },
            );
        }
        let d_rec = if C::FUSED_PROJECTIONS { &dxw } else { &dhw };
        let h_in = cache.h_masked.as_deref().unwrap_or(&cache.h_prev);
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
        matmul(
            gh,
            n_in,
            rows,
            &dxw,
            gh,
            Transpose::Yes,
            &cache.x,
            n_in,
            Transpose::No,
            &mut self.w_ih.grad,
            n_in,
            true,
        );
        if C::FUSED_PROJECTIONS {
            let mut sums = vec![T::ZERO; gh];
            add_column_sums(&dxw, gh, &mut sums);
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
            add_column_sums(&dhw, gh, &mut self.b_hh.grad);
            add_column_sums(&dxw, gh, &mut self.b_ih.grad);
        }
        let mut dx = Vec::new();
        if input_grad {
            dx = vec![T::ZERO; rows * n_in];
            matmul(
                rows,
                n_in,
                gh,
                &dxw,
                gh,
                Transpose::No,
                &self.w_ih.value,
                n_in,
                Transpose::No,
                &mut dx,
                n_in,
                false,
            );
        }
        (dx, dh_carry, dc_carry)
    }
}
