//! One direction of a recurrent layer: the fused forward and backward loops.
//!
//! Forward: one GEMM projects every step's input at once (`XW = X·W_ihᵀ`), then each step
//! does one GEMM for the recurrent projection and one vectorised pass of gate math over the
//! batch, which adds the biases first. Backward mirrors it: one GEMM per step carries the
//! gradient to the previous state, and after the loop the weight gradients are two large GEMMs
//! over all steps.
//! Padded steps carry the state through unchanged and pass gradients straight back.

use super::cells::{Cell, StepBack, StepGrads, StepIn, StepOut};
use crate::layer::{transpose, Param};
use crate::precision::{pack_recurrent, packed_product, training_pack, Precision};
use recur_core::aligned::Aligned;
use recur_core::lowp::{Format, KernelPath, PackedWeights};
use recur_core::math::dispatch;
use recur_core::{matmul, Float, Transpose};
use std::borrow::Cow;

mod weight_grads;

/// Weights of one direction, PyTorch names (`_reverse` suffix for the backward direction).
#[derive(Clone)]
pub struct Direction<T> {
    pub(crate) w_ih: Param<T>,
    pub(crate) w_hh: Param<T>,
    pub(crate) b_ih: Param<T>,
    pub(crate) b_hh: Param<T>,
    /// `W_ih` and `W_hh` packed for inference, once prepared: at bf16 or int8, and at fp32 as
    /// f32 panels where the CPU has AVX-512 (a lone sequence's step streams the whole recurrent
    /// matrix for one row, 1.2× faster on them, and the general GEMM re-packs the input weights
    /// on every call; a batch of 32 sequences a thread ran about 3% slower on them than on the
    /// GEMM, but they are kept for every batch so that a sequence gets the same bits alone and
    /// in a batch).
    packed: Option<PackedDirection>,
    /// `W_hhᵀ` kept for fp32 inference, once prepared: transposing it on every call took 13%
    /// of a one-drawing request's time in a served sketch model.
    w_hh_t: Option<Aligned<T>>,
    /// The format of training's recurrent products: fp32 (the general GEMM), or bf16 with f32
    /// sums (see [`Direction::set_training_precision`]).
    training: Precision,
}

/// A direction's two weight matrices packed: in a reduced-precision format, or in f32 panels.
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
    /// Return the state after every step (training must: backward reads them); else just the
    /// last, `[batch, units]`, for inference of a layer that returns only its final state.
    pub every_state: bool,
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
            w_hh_t: None,
            training: Precision::Fp32,
        }
    }

    /// Sets the format of training's recurrent products: at bf16 each pass rounds `W_hh` and
    /// the states (forward) or gate gradients (backward) to bfloat16 and sums in f32 on the
    /// fastest kernel, Intel's AMX tile unit where the CPU has it, as PyTorch's autocast does
    /// on CPUs. The weights, their gradients and the gate math stay f32, so this is mixed
    /// precision. int8 is for inference only and trains as fp32, as do f64 models.
    pub fn set_training_precision(&mut self, precision: Precision) {
        self.training = precision;
    }

    /// `W` (`[n, k]`) packed for a training pass's products at the training precision, afresh
    /// each pass since the optimiser moved it; `None` at fp32 (the general GEMM runs them).
    fn training_pack(&self, w: &[T], n: usize, k: usize) -> Option<PackedWeights> {
        training_pack(self.training, w, n, k)
    }

    /// The four tensors.
    pub fn params(&self) -> [&Param<T>; 4] {
        [&self.w_ih, &self.w_hh, &self.b_ih, &self.b_hh]
    }

    /// The four tensors, mutable. Drops the packed and transposed copies, which would go stale.
    pub fn params_mut(&mut self) -> [&mut Param<T>; 4] {
        self.packed = None;
        self.w_hh_t = None;
        [&mut self.w_ih, &mut self.w_hh, &mut self.b_ih, &mut self.b_hh]
    }

    fn units(&self) -> usize {
        self.w_hh.shape[1]
    }

    /// Packs both weight matrices for inference: at bf16 or int8, and at fp32 as f32 panels
    /// where the CPU has AVX-512 (elsewhere fp32 keeps `W_hhᵀ` for the general GEMM).
    pub fn prepare_inference(&mut self, precision: Precision) {
        let (gh, h, n_in) = (self.w_hh.shape[0], self.units(), self.w_ih.shape[1]);
        let w_ih = pack_recurrent(precision, &self.w_ih.value, gh, n_in);
        let w_hh = pack_recurrent(precision, &self.w_hh.value, gh, h);
        self.packed = w_ih.zip(w_hh).map(|(w_ih, w_hh)| PackedDirection { w_ih, w_hh });
        self.w_hh_t = self.packed.is_none().then(|| self.w_hh_transposed());
    }

    /// `xw = x·W_ihᵀ` over all `rows` rows of `x` (every step of every sequence), on the
    /// packed copy `packed` when inference has one.
    fn project_inputs(&self, packed: Option<&PackedWeights>, rows: usize, x: &[T], xw: &mut [T]) {
        let (gh, n_in) = (self.w_ih.shape[0], self.w_ih.shape[1]);
        if !packed_product(packed, KernelPath::Detected, rows, x, n_in, xw, gh, false) {
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
                false,
            );
        }
    }

    /// Inference's input projections of steps `steps.first..` (`steps.span` of them, fewer at
    /// the end) into `xw`, step-major: on f32 panels a product a step, read from `x` in place;
    /// otherwise the span's inputs are gathered into a kept buffer, step by step, then
    /// projected in one product. Only the span's first `steps.span_rows` sequences are
    /// projected: those still running at its first step.
    fn project_span(&self, packed: Option<&PackedWeights>, steps: Steps, x: &[T], xw: &mut [T]) {
        let n_in = self.w_ih.shape[1];
        let (first, rows, time) = (steps.first, steps.span_rows, steps.time);
        if rows == 0 {
            return;
        }
        let last = (first + steps.span).min(time);
        // f32 panels are read where they lie: a product a step over the sequences' inputs
        // (`time · n_in` apart), no gathered copy. Packing them to bf16 or int8 copies them
        // anyway, and the larger product keeps more rows on AMX's 16-row tiles.
        if let Some(f32_panels) = packed.filter(|p| p.format() == Format::F32) {
            for t in first..last {
                let at = (t - first) * rows * steps.gh;
                packed_product(
                    Some(f32_panels),
                    KernelPath::Detected,
                    rows,
                    &x[t * n_in..],
                    time * n_in,
                    &mut xw[at..],
                    steps.gh,
                    false,
                );
            }
            return;
        }
        let mut gathered = recur_core::scratch::take((last - first) * rows * n_in);
        for (row, inputs) in gathered.chunks_exact_mut(n_in).enumerate() {
            let (t, b) = (first + row / rows, row % rows);
            inputs.copy_from_slice(&x[(b * time + t) * n_in..][..n_in]);
        }
        self.project_inputs(packed, (last - first) * rows, &gathered, xw);
        recur_core::scratch::give_back(gathered);
    }

    /// Runs the direction. Returns the state after every step (`[batch, time, units]`,
    /// carried through padding, so step `time−1` holds each sequence's final state; only that
    /// final state, `[batch, units]`, in inference without `every_state`) and the final memory
    /// cell, and with `keep_cache` what backward needs.
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
            every_state,
        } = input;
        debug_assert!(every_state || !keep_cache, "training keeps every step's state");
        let mut steps = Steps::new::<C>(lengths.len(), time, self.units(), keep_cache, every_state);
        // Inference skips the sequences that have ended: with the batch longest first (as
        // `predict_parallel` orders it) step `t` runs only the rows still going, as PyTorch's
        // packed sequences do; training runs every row, as backward expects.
        let running = |t: usize| match keep_cache {
            true => lengths.len(),
            false => running_rows(lengths, t),
        };
        let bias = self.step_bias::<C>();
        // Inference runs both products on the packed copy when there is one, and then projects
        // the inputs `span` steps at a time, each span into the thread's kept buffer (which the
        // product overwrites whole). Otherwise every step's input is projected in one product.
        let packed = self.packed.as_ref().filter(|_| !keep_cache);
        if packed.is_some() {
            steps.span = projection_span(steps.batch, steps.gh).min(time);
        }
        // Written in full before it is read (by the input projection), so a buffer kept on
        // this thread serves: training's is every step's (handed back after backward), and
        // zeroing 64 MB afresh for each pass took 3% of a sketch-rnn step.
        let mut xw = recur_core::scratch::take(match keep_cache {
            true => steps.rows() * steps.gh,
            false => steps.batch * steps.span * steps.gh,
        });
        if !steps.in_spans() {
            self.project_inputs(packed.map(|p| &p.w_ih), steps.rows(), &x, &mut xw);
        }
        let trained = keep_cache
            .then(|| self.training_pack(&self.w_hh.value, steps.gh, steps.h))
            .flatten();
        let recurrent = match (packed, &trained) {
            (Some(p), _) => Recurrent::Packed(&p.w_hh, KernelPath::Detected),
            (None, Some(w_hh)) => Recurrent::Packed(w_hh, KernelPath::AnyOrder),
            (None, None) => Recurrent::Transposed(
                self.w_hh_t
                    .as_ref()
                    .map_or_else(|| Cow::Owned(self.w_hh_transposed()), Cow::Borrowed),
            ),
        };
        let mut run = ForwardBuffers::new::<C>(steps, xw, h0, c0, rec_mask.is_some());
        for t in 0..time {
            if keep_cache {
                run.record_step_inputs(steps, t, rec_mask.as_deref());
            }
            let rows = running(t);
            if steps.in_spans() && t % steps.span == 0 {
                steps.first = t;
                steps.span_rows = rows;
                self.project_span(packed.map(|p| &p.w_ih), steps, &x, &mut run.xw);
            }
            run.add_recurrent_product::<C>(steps, t, rows, &recurrent);
            dispatch(
                #[inline(always)]
                || run.cells::<C>(steps, t, lengths, [&bias, &self.b_hh.value]),
            );
        }
        let ForwardBuffers {
            xw: gates,
            hw,
            out,
            h_prev,
            h_masked,
            c_prev,
            c_out,
            state_c,
            ..
        } = run;
        if !keep_cache {
            recur_core::scratch::give_back(gates);
            return (out, state_c, None);
        }
        let tape = Some(DirectionTape {
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

    /// The bias each step adds as its rows activate (both biases where the cell lets the
    /// recurrent projection fold in): filling every row with it first wrote the whole buffer
    /// once more (4–8% of inference).
    fn step_bias<C: Cell>(&self) -> Vec<T> {
        let mut bias = self.b_ih.value.clone();
        if C::FUSED_PROJECTIONS {
            bias.iter_mut().zip(&self.b_hh.value).for_each(|(a, &b)| *a += b);
        }
        bias
    }

    /// `W_hhᵀ` laid out `[H, GH]`: gemm then reads it in place instead of re-packing the whole
    /// recurrent matrix on every step (measured ≈1.3× on the per-step product).
    fn w_hh_transposed(&self) -> Aligned<T> {
        let (gh, h) = (self.w_hh.shape[0], self.w_hh.shape[1]);
        let mut w_hh_t = Aligned::zeroed(h * gh);
        transpose(gh, h, &self.w_hh.value, h, &mut w_hh_t, gh);
        w_hh_t
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
        let steps = Steps::new::<C>(cache.lengths.len(), cache.time, self.units(), true, true);
        let mut run = BackwardBuffers::new::<C>(steps, dh_final, dc_final);
        // The carry's product `d·W_hh` is `d·(W_hhᵀ)ᵀ`: packed, `W_hhᵀ` is its weight matrix.
        let w_hh_t = (self.training == Precision::Bf16)
            .then(|| self.training_pack(&self.w_hh_transposed(), steps.h, steps.gh))
            .flatten();
        for t in (0..steps.time).rev() {
            dispatch(
                #[inline(always)]
                || run.cells::<C>(steps, t, &cache, d_out),
            );
            run.carry_through_recurrence::<C>(steps, t, (&self.w_hh.value, w_hh_t.as_ref()), cache.rec_mask.as_deref());
        }
        self.add_weight_grads::<C>(&cache, &run.dxw, &run.dhw);
        let dx = if input_grad {
            self.input_gradient(&run.dxw)
        } else {
            Vec::new()
        };
        for buffer in [cache.gates, run.dxw, run.dhw] {
            recur_core::scratch::give_back(buffer);
        }
        (dx, run.dh_carry, run.dc_carry)
    }
}

/// Steps whose input projections inference on packed weights makes at a time: about 512 KiB
/// of them, so that they stay in the core's L2 cache until their steps read them. Made for the
/// whole sequence at once, they were written out to L3 and read back (an LSTM of 128 units
/// over 32 sequences of 100 steps: 6.5 MB a thread); spans of 256 KiB–1 MiB measured 1.05–1.14×
/// on int8 inference. Without packed weights (fp32 on CPUs without AVX-512) one product covers
/// every step: the gemm crate re-packs the weights on every call, and spans were no faster.
fn projection_span(batch: usize, gh: usize) -> usize {
    const BYTES: usize = 512 * 1024;
    (BYTES / (4 * batch * gh).max(1)).max(1)
}

/// The shape of one pass over a batch.
#[derive(Clone, Copy)]
struct Steps {
    batch: usize,
    time: usize,
    /// Units.
    h: usize,
    /// Gates × units: one row of projections.
    gh: usize,
    /// Training keeps every step for backward; inference only the current one.
    keep_cache: bool,
    /// The output holds the state after every step (`[batch, time, units]`), else after the
    /// last (`[batch, units]`: zeroing and writing a whole sequence's states for a layer that
    /// returns one of them cost a few percent of inference).
    every_state: bool,
    /// The input projections at hand: of steps `first..first + span` (`span` is `time` where
    /// they are made all at once).
    first: usize,
    span: usize,
    /// Sequences projected in the current span: those running at its first step.
    span_rows: usize,
}

impl Steps {
    /// A pass over `batch` sequences of `time` steps through a cell of `h` units, its inputs
    /// projected all at once until a span is set.
    fn new<C: Cell>(batch: usize, time: usize, h: usize, keep_cache: bool, every_state: bool) -> Self {
        Steps {
            batch,
            time,
            h,
            gh: C::GATES * h,
            keep_cache,
            every_state,
            first: 0,
            span: time,
            span_rows: batch,
        }
    }

    /// Rows of every step of every sequence.
    fn rows(&self) -> usize {
        self.batch * self.time
    }

    /// Rows kept of the per-step buffers (gates, cell states).
    fn kept(&self) -> usize {
        if self.keep_cache {
            self.rows()
        } else {
            self.batch
        }
    }

    /// Whether the input projections are made `span` steps at a time (else all at once).
    fn in_spans(&self) -> bool {
        self.span < self.time
    }

    /// The row of sequence `b` at step `t` in the input projections: `[batch, time]` when they
    /// are made all at once, `[span, span_rows]` from step `first` when made in spans.
    fn projection_row(&self, b: usize, t: usize) -> usize {
        if self.in_spans() {
            (t - self.first) * self.span_rows + b
        } else {
            b * self.time + t
        }
    }

    /// The output row of sequence `b`'s state after step `t`.
    fn state_row(&self, b: usize, t: usize) -> usize {
        if self.every_state {
            b * self.time + t
        } else {
            b
        }
    }

    /// The kept row of sequence `b` at step `t`.
    fn kept_row(&self, b: usize, t: usize) -> usize {
        if self.keep_cache {
            b * self.time + t
        } else {
            b
        }
    }
}

/// How many of the first sequences step `t` must run: up to the last one still going (all of
/// them, in a batch ordered longest first, are).
fn running_rows(lengths: &[usize], t: usize) -> usize {
    lengths.iter().rposition(|&len| len > t).map_or(0, |last| last + 1)
}

/// The recurrent weights as the per-step product reads them.
enum Recurrent<'a, T: Float> {
    /// A packed copy (inference's; or training's at bf16, on [`KernelPath::AnyOrder`]) and the
    /// kernel path its products take.
    Packed(&'a PackedWeights, KernelPath),
    /// `W_hhᵀ`, `[H, GH]`: kept since inference was prepared, or made for this call.
    Transposed(Cow<'a, Aligned<T>>),
}

/// What a forward pass writes as it goes: `[batch, time, …]` where every step is kept, one
/// row per sequence where only the current step is.
struct ForwardBuffers<T> {
    /// Input projections, every step; fused cells add the recurrent product here, and each
    /// step's cells add the biases and activate its rows in place, which backward keeps as the
    /// gates.
    xw: Vec<T>,
    /// Recurrent projections (unfused cells only).
    hw: Vec<T>,
    /// State after every step.
    out: Vec<T>,
    /// State entering each step (training).
    h_prev: Vec<T>,
    /// … with the recurrent-dropout mask applied.
    h_masked: Option<Vec<T>>,
    c_prev: Vec<T>,
    c_out: Vec<T>,
    /// The running state, one row per sequence.
    state_h: Vec<T>,
    state_c: Vec<T>,
}

impl<T: Float> ForwardBuffers<T> {
    fn new<C: Cell>(steps: Steps, xw: Vec<T>, h0: Vec<T>, c0: Vec<T>, masked: bool) -> Self {
        let (rows, kept, h, gh) = (steps.rows(), steps.kept(), steps.h, steps.gh);
        let cell_rows = if C::HAS_CELL_STATE { kept * h } else { 0 };
        ForwardBuffers {
            xw,
            // A separate recurrent projection only where the cell needs one (GRU).
            hw: vec![T::ZERO; if C::FUSED_PROJECTIONS { 0 } else { kept * gh }],
            out: vec![T::ZERO; if steps.every_state { rows * h } else { steps.batch * h }],
            h_prev: vec![T::ZERO; if steps.keep_cache { rows * h } else { 0 }],
            h_masked: masked.then(|| vec![T::ZERO; rows * h]),
            c_prev: vec![T::ZERO; cell_rows],
            c_out: vec![T::ZERO; cell_rows],
            state_h: h0,
            state_c: c0,
        }
    }

    /// Keeps the state entering step `t` (and its dropout-masked copy) for backward.
    fn record_step_inputs(&mut self, steps: Steps, t: usize, rec_mask: Option<&[T]>) {
        let h = steps.h;
        for b in 0..steps.batch {
            let row = (b * steps.time + t) * h;
            let state = &self.state_h[b * h..(b + 1) * h];
            self.h_prev[row..row + h].copy_from_slice(state);
            if let (Some(hm), Some(mask)) = (self.h_masked.as_mut(), rec_mask) {
                for ((m, &s), &k) in hm[row..row + h].iter_mut().zip(state).zip(&mask[b * h..]) {
                    *m = s * k;
                }
            }
        }
    }

    /// Step `t`'s recurrent product `h·W_hhᵀ` over the first `rows` sequences: fused cells add
    /// it straight onto the step's input projection, others write it apart.
    fn add_recurrent_product<C: Cell>(&mut self, steps: Steps, t: usize, rows: usize, recurrent: &Recurrent<T>) {
        let (h, gh, time) = (steps.h, steps.gh, steps.time);
        if rows == 0 {
            return;
        }
        let (gemm_in, in_ld) = match (&self.h_masked, steps.keep_cache) {
            (Some(hm), _) => (&hm[t * h..], time * h),
            (None, true) => (&self.h_prev[t * h..], time * h),
            (None, false) => (&self.state_h[..], h),
        };
        let (target, ld) = match (C::FUSED_PROJECTIONS, steps.keep_cache) {
            (true, _) if steps.in_spans() => (&mut self.xw[steps.projection_row(0, t) * gh..], gh),
            (true, _) => (&mut self.xw[t * gh..], time * gh),
            (false, true) => (&mut self.hw[t * gh..], time * gh),
            (false, false) => (&mut self.hw[..], gh),
        };
        let accumulate = C::FUSED_PROJECTIONS;
        match recurrent {
            &Recurrent::Packed(w, path) => {
                // Only f32 weights are ever packed, so the packed product always runs here.
                let ran = packed_product(Some(w), path, rows, gemm_in, in_ld, target, ld, accumulate);
                debug_assert!(ran, "packed recurrent weights on a pass that is not f32");
            }
            Recurrent::Transposed(w_hh_t) => matmul(
                rows,
                gh,
                h,
                gemm_in,
                in_ld,
                Transpose::No,
                w_hh_t,
                gh,
                Transpose::No,
                target,
                ld,
                accumulate,
            ),
        }
    }

    /// Step `t`'s gate math for every sequence, after adding the biases of the input and (for
    /// unfused cells) the recurrent projection; a padded step carries the state through.
    #[inline(always)]
    fn cells<C: Cell>(&mut self, steps: Steps, t: usize, lengths: &[usize], [b_x, b_hh]: [&[T]; 2]) {
        let (h, gh) = (steps.h, steps.gh);
        for (b, &len) in lengths.iter().enumerate() {
            let (r, s) = (steps.kept_row(b, t) * gh, steps.state_row(b, t) * h);
            let c_at = steps.kept_row(b, t) * h;
            let sh = &mut self.state_h[b * h..(b + 1) * h];
            if t >= len {
                self.out[s..s + h].copy_from_slice(sh);
                if C::HAS_CELL_STATE && steps.keep_cache {
                    let sc = &self.state_c[b * h..(b + 1) * h];
                    self.c_prev[c_at..c_at + h].copy_from_slice(sc);
                    self.c_out[c_at..c_at + h].copy_from_slice(sc);
                }
                continue;
            }
            let hw_row: &[T] = if C::FUSED_PROJECTIONS {
                &[]
            } else {
                let row = &mut self.hw[r..r + gh];
                row.iter_mut().zip(b_hh).for_each(|(v, &bias)| *v += bias);
                row
            };
            let (cp, co) = if C::HAS_CELL_STATE {
                let sc = &self.state_c[b * h..(b + 1) * h];
                self.c_prev[c_at..c_at + h].copy_from_slice(sc);
                (&self.c_prev[c_at..c_at + h], &mut self.c_out[c_at..c_at + h])
            } else {
                (&[][..], &mut [][..])
            };
            let x = StepIn {
                hw: hw_row,
                h_prev: sh,
                c_prev: cp,
            };
            let gates = &mut self.xw[steps.projection_row(b, t) * gh..][..gh];
            gates.iter_mut().zip(b_x).for_each(|(v, &bias)| *v += bias);
            let written = StepOut {
                gates,
                h: &mut self.out[s..s + h],
                c: co,
            };
            C::forward(h, x, written);
            sh.copy_from_slice(&self.out[s..s + h]);
            if C::HAS_CELL_STATE {
                self.state_c[b * h..(b + 1) * h].copy_from_slice(&self.c_out[c_at..c_at + h]);
            }
        }
    }
}

/// What a backward pass carries from step to step, and the pre-activation gradients of every
/// step it leaves for the weight gradients.
struct BackwardBuffers<T> {
    /// Gradient of the pre-activations as the input projection sees them, every step.
    dxw: Vec<T>,
    /// … as the recurrent projection sees them (unfused cells; fused ones share `dxw`).
    dhw: Vec<T>,
    /// Gradient reaching the state entering the step, one row per sequence.
    dh_carry: Vec<T>,
    dc_carry: Vec<T>,
    /// The recurrent product's share of `dh_carry`.
    dh_gemm: Vec<T>,
    /// Scratch rows for one sequence's step.
    dh_step: Vec<T>,
    dc_prev: Vec<T>,
}

impl<T: Float> BackwardBuffers<T> {
    fn new<C: Cell>(steps: Steps, dh_final: Vec<T>, dc_final: Vec<T>) -> Self {
        let (rows, h, gh) = (steps.rows(), steps.h, steps.gh);
        // Every row of `dxw` and `dhw` is written before it is read (by the step's cells, zeros
        // at padded steps), so buffers kept on this thread serve; backward hands them back.
        BackwardBuffers {
            dxw: recur_core::scratch::take(rows * gh),
            dhw: match C::FUSED_PROJECTIONS {
                true => Vec::new(),
                false => recur_core::scratch::take(rows * gh),
            },
            dh_carry: dh_final,
            dc_carry: dc_final,
            dh_gemm: vec![T::ZERO; steps.batch * h],
            dh_step: vec![T::ZERO; h],
            dc_prev: vec![T::ZERO; h],
        }
    }

    /// Step `t`'s gate math backward for every sequence; a padded step passes its gradient
    /// straight on to the step before.
    #[inline(always)]
    fn cells<C: Cell>(&mut self, steps: Steps, t: usize, cache: &DirectionTape<T>, d_out: &[T]) {
        let (h, gh, time) = (steps.h, steps.gh, steps.time);
        for (b, &len) in cache.lengths.iter().enumerate() {
            let (r, s) = ((b * time + t) * gh, (b * time + t) * h);
            let carry = &mut self.dh_carry[b * h..(b + 1) * h];
            for ((d, &o), &c) in self.dh_step.iter_mut().zip(&d_out[s..s + h]).zip(carry.iter()) {
                *d = o + c;
            }
            if t >= len {
                // A padded step's pre-activations get no gradient (the buffers are reused, so
                // the zeros are written here).
                carry.copy_from_slice(&self.dh_step);
                self.dxw[r..r + gh].fill(T::ZERO);
                if !C::FUSED_PROJECTIONS {
                    self.dhw[r..r + gh].fill(T::ZERO);
                }
                continue;
            }
            let (cp, co, dc) = if C::HAS_CELL_STATE {
                let dc = &self.dc_carry[b * h..(b + 1) * h];
                (&cache.c_prev[s..s + h], &cache.c_out[s..s + h], dc)
            } else {
                (&[][..], &[][..], &[][..])
            };
            let (hw, dhw_row) = if C::FUSED_PROJECTIONS {
                (&[][..], &mut [][..])
            } else {
                (&cache.hw[r..r + gh], &mut self.dhw[r..r + gh])
            };
            let back = StepBack {
                gates: &cache.gates[r..r + gh],
                hw,
                h_prev: &cache.h_prev[s..s + h],
                c_prev: cp,
                c_out: co,
                dh: &self.dh_step,
                dc,
            };
            let grads = StepGrads {
                dxw: &mut self.dxw[r..r + gh],
                dhw: dhw_row,
                dh_prev: carry,
                dc_prev: &mut self.dc_prev,
            };
            C::backward(h, back, grads);
            if C::HAS_CELL_STATE {
                self.dc_carry[b * h..(b + 1) * h].copy_from_slice(&self.dc_prev[..h]);
            }
        }
    }

    /// Carries step `t`'s gradient through the recurrent product to the state before it
    /// (through the dropout mask when there is one). Padded rows have zero gradient, so the
    /// product adds nothing to their carry.
    fn carry_through_recurrence<C: Cell>(
        &mut self,
        steps: Steps,
        t: usize,
        (w_hh, packed): (&[T], Option<&PackedWeights>),
        rec_mask: Option<&[T]>,
    ) {
        let (h, gh) = (steps.h, steps.gh);
        let d_rec = if C::FUSED_PROJECTIONS { &self.dxw } else { &self.dhw };
        let (d, ld) = (&d_rec[t * gh..], steps.time * gh);
        // `packed` is `W_hhᵀ` (training at bf16): `d·W_hh = d·(W_hhᵀ)ᵀ`.
        if !packed_product(
            packed,
            KernelPath::AnyOrder,
            steps.batch,
            d,
            ld,
            &mut self.dh_gemm,
            h,
            false,
        ) {
            matmul(
                steps.batch,
                h,
                gh,
                d,
                ld,
                Transpose::No,
                w_hh,
                h,
                Transpose::No,
                &mut self.dh_gemm,
                h,
                false,
            );
        }
        let (carry, product) = (&mut self.dh_carry, &self.dh_gemm);
        dispatch(
            #[inline(always)]
            || match rec_mask {
                Some(mask) => carry
                    .iter_mut()
                    .zip(product)
                    .zip(mask)
                    .for_each(|((c, &g), &m)| *c += g * m),
                None => carry.iter_mut().zip(product).for_each(|(c, &g)| *c += g),
            },
        );
    }
}
