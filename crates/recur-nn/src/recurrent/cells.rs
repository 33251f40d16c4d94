//! The three recurrent cells as pure, row-wise gate math. Each sees one sequence's row at one
//! step: `gates`, holding its input projection (`b_ih` included) on entry and the activated
//! gates on return, and `hw` (the recurrent projection, `b_hh` included), both `GATES·H` wide
//! in PyTorch's gate order. Cells with [`Cell::FUSED_PROJECTIONS`] get the two already summed
//! in `gates` and an empty `hw`. Activating in place spares a copy of every row: nothing
//! needs the pre-activations after the step. Everything here is
//! `#[inline(always)]` so that the driver's dispatch compiles it for the widest SIMD unit.

use recur_core::Float;

/// The `N` gate blocks (`h` wide each) of a row, as separate slices of known length `h`: with
/// the lengths visible, the gate loops compile without bounds checks into full-width SIMD.
#[inline(always)]
fn blocks<T, const N: usize>(row: &[T], h: usize) -> [&[T]; N] {
    std::array::from_fn(|k| &row[k * h..][..h])
}

/// Mutable twin of [`blocks`].
#[inline(always)]
fn blocks_mut<T, const N: usize>(row: &mut [T], h: usize) -> [&mut [T]; N] {
    let mut rest = &mut row[..N * h];
    std::array::from_fn(|_| {
        let (block, tail) = std::mem::take(&mut rest).split_at_mut(h);
        rest = tail;
        block
    })
}

/// What one step reads besides its pre-activations: its row of the recurrent projection
/// (`hw`: cells that fuse it into the input projection leave it empty) and the state before
/// the step (`c_prev`: empty without a memory cell).
#[derive(Clone, Copy)]
pub struct StepIn<'a, T> {
    /// Recurrent projection, `[gates·h]` (unfused cells).
    pub hw: &'a [T],
    /// `h` before the step.
    pub h_prev: &'a [T],
    /// `c` before the step.
    pub c_prev: &'a [T],
}

/// What one step writes.
pub struct StepOut<'a, T> {
    /// The input projection with biases, `[gates·h]`, on entry (plus the recurrent one for
    /// fused cells); the activated gates, kept for backward, on return.
    pub gates: &'a mut [T],
    /// `h` after the step.
    pub h: &'a mut [T],
    /// `c` after the step (empty without a memory cell).
    pub c: &'a mut [T],
}

/// What one step backward reads: what forward kept, and the gradients reaching the state it
/// wrote.
#[derive(Clone, Copy)]
pub struct StepBack<'a, T> {
    /// The activated gates.
    pub gates: &'a [T],
    /// The recurrent projection (unfused cells).
    pub hw: &'a [T],
    /// `h` before the step.
    pub h_prev: &'a [T],
    /// `c` before the step.
    pub c_prev: &'a [T],
    /// `c` after the step.
    pub c_out: &'a [T],
    /// Gradient reaching `h` after the step.
    pub dh: &'a [T],
    /// Gradient reaching `c` after the step.
    pub dc: &'a [T],
}

/// What one step backward writes.
pub struct StepGrads<'a, T> {
    /// Gradient of the pre-activations as the input projection sees them.
    pub dxw: &'a mut [T],
    /// … as the recurrent projection sees them (unfused cells).
    pub dhw: &'a mut [T],
    /// Gradient of `h` before the step through paths other than the recurrent projection.
    pub dh_prev: &'a mut [T],
    /// Gradient of `c` before the step.
    pub dc_prev: &'a mut [T],
}

/// The gate math of one recurrent cell type.
pub trait Cell: Clone + Send + Sync + 'static {
    /// Type name in configs.
    const KIND: &'static str;
    /// Gate blocks in the projections (LSTM 4, GRU 3, SimpleRNN 1).
    const GATES: usize;
    /// Whether the cell carries a memory cell `c` beside `h` (LSTM).
    const HAS_CELL_STATE: bool;
    /// Gate whose bias starts at 1 with `unit_forget_bias` (LSTM's forget gate).
    const FORGET_GATE: Option<usize>;
    /// Whether the recurrent projection only ever adds to the input projection (LSTM,
    /// SimpleRNN). Then `b_hh` folds into the input projection's bias, each step's GEMM
    /// accumulates straight onto it, and both projections get the same gradient, written once
    /// to `dxw`. GRU's reset gate scales part of the recurrent projection, so it keeps them apart.
    const FUSED_PROJECTIONS: bool;

    /// One step forward of `h` units: activates the gates in place (kept for backward), and
    /// writes `h` and `c`.
    fn forward<T: Float>(h: usize, x: StepIn<T>, out: StepOut<T>);

    /// One step backward. Given the gradient reaching `h_out` (`dh`) and `c_out` (`dc`),
    /// writes the gradients of the pre-activations as seen by the input projection (`dxw`) and
    /// by the recurrent projection (`dhw`; fused cells leave it alone, it equals `dxw`), of
    /// `h_prev` through paths other than the recurrent projection (`dh_prev`), and of `c_prev`.
    fn backward<T: Float>(h: usize, back: StepBack<T>, grads: StepGrads<T>);
}

/// LSTM, gate order i, f, g, o (PyTorch's): c' = f∘c + i∘g, h' = o∘tanh(c').
#[derive(Clone, Debug)]
pub struct LstmCell;

impl Cell for LstmCell {
    const KIND: &'static str = "lstm";
    const GATES: usize = 4;
    const HAS_CELL_STATE: bool = true;
    const FORGET_GATE: Option<usize> = Some(1);
    const FUSED_PROJECTIONS: bool = true;

    #[inline(always)]
    fn forward<T: Float>(h: usize, x: StepIn<T>, out: StepOut<T>) {
        let StepIn { c_prev, .. } = x;
        let StepOut {
            gates,
            h: h_out,
            c: c_out,
        } = out;
        // Gate by gate over whole blocks: every element's activation is independent, so the
        // vector unit overlaps them, where one unit's four gates in a row wait on each other.
        let [gi, gf, gg, go] = blocks_mut(gates, h);
        T::sigmoid_slice(gi);
        T::sigmoid_slice(gf);
        T::tanh_slice(gg);
        T::sigmoid_slice(go);
        let (c_prev, h_out, c_out) = (&c_prev[..h], &mut h_out[..h], &mut c_out[..h]);
        for j in 0..h {
            c_out[j] = gf[j] * c_prev[j] + gi[j] * gg[j];
        }
        h_out.copy_from_slice(c_out);
        T::tanh_slice(h_out);
        h_out.iter_mut().zip(&*go).for_each(|(v, &o)| *v *= o);
    }

    #[inline(always)]
    fn backward<T: Float>(h: usize, back: StepBack<T>, grads: StepGrads<T>) {
        let StepBack {
            gates,
            c_prev,
            c_out,
            dh,
            dc,
            ..
        } = back;
        let StepGrads {
            dxw, dh_prev, dc_prev, ..
        } = grads;
        let [gi, gf, gg, go] = blocks(gates, h);
        let [xi, xf, xg, xo] = blocks_mut(dxw, h);
        let (c_prev, c_out, dh, dc) = (&c_prev[..h], &c_out[..h], &dh[..h], &dc[..h]);
        let (dh_prev, dc_prev) = (&mut dh_prev[..h], &mut dc_prev[..h]);
        for j in 0..h {
            let (i, f, g, o) = (gi[j], gf[j], gg[j], go[j]);
            let tc = c_out[j].tanh();
            let dct = dc[j] + dh[j] * o * (T::ONE - tc * tc);
            let di = dct * g * i * (T::ONE - i);
            let df = dct * c_prev[j] * f * (T::ONE - f);
            let dg = dct * i * (T::ONE - g * g);
            let d_o = dh[j] * tc * o * (T::ONE - o);
            (xi[j], xf[j], xg[j], xo[j]) = (di, df, dg, d_o);
            dc_prev[j] = dct * f;
            dh_prev[j] = T::ZERO;
        }
    }
}

/// GRU in PyTorch's formulation, gate order r, z, n:
/// n = tanh(W_in x + b_in + r∘(W_hn h + b_hn)), h' = (1 − z)∘n + z∘h.
#[derive(Clone, Debug)]
pub struct GruCell;

impl Cell for GruCell {
    const KIND: &'static str = "gru";
    const GATES: usize = 3;
    const HAS_CELL_STATE: bool = false;
    const FORGET_GATE: Option<usize> = None;
    const FUSED_PROJECTIONS: bool = false;

    #[inline(always)]
    fn forward<T: Float>(h: usize, x: StepIn<T>, out: StepOut<T>) {
        let StepIn { hw, h_prev, .. } = x;
        let StepOut { gates, h: h_out, .. } = out;
        let [hr, hz, hn] = blocks(hw, h);
        let [gr, gz, gn] = blocks_mut(gates, h);
        let (h_prev, h_out) = (&h_prev[..h], &mut h_out[..h]);
        // Block by block, as the LSTM: r and z first, then n, which needs r.
        for (g, hw) in [(&mut *gr, hr), (&mut *gz, hz)] {
            g.iter_mut().zip(hw).for_each(|(g, &hw)| *g += hw);
            T::sigmoid_slice(g);
        }
        for j in 0..h {
            gn[j] += gr[j] * hn[j];
        }
        T::tanh_slice(gn);
        for j in 0..h {
            h_out[j] = (T::ONE - gz[j]) * gn[j] + gz[j] * h_prev[j];
        }
    }

    #[inline(always)]
    fn backward<T: Float>(h: usize, back: StepBack<T>, grads: StepGrads<T>) {
        let StepBack {
            gates, hw, h_prev, dh, ..
        } = back;
        let StepGrads { dxw, dhw, dh_prev, .. } = grads;
        let [gr, gz, gn] = blocks(gates, h);
        let [_, _, hn] = blocks(hw, h);
        let [xr, xz, xn] = blocks_mut(dxw, h);
        let [hr, hz, hn_grad] = blocks_mut(dhw, h);
        let (h_prev, dh, dh_prev) = (&h_prev[..h], &dh[..h], &mut dh_prev[..h]);
        for j in 0..h {
            let (r, z, n) = (gr[j], gz[j], gn[j]);
            let dn = dh[j] * (T::ONE - z) * (T::ONE - n * n);
            let dz = dh[j] * (h_prev[j] - n) * z * (T::ONE - z);
            let dr = dn * hn[j] * r * (T::ONE - r);
            (xr[j], xz[j], xn[j]) = (dr, dz, dn);
            (hr[j], hz[j], hn_grad[j]) = (dr, dz, dn * r);
            dh_prev[j] = dh[j] * z;
        }
    }
}

/// Elman RNN with tanh: h' = tanh(W_ih x + b_ih + W_hh h + b_hh).
#[derive(Clone, Debug)]
pub struct SimpleRnnCell;

impl Cell for SimpleRnnCell {
    const KIND: &'static str = "simple_rnn";
    const GATES: usize = 1;
    const HAS_CELL_STATE: bool = false;
    const FORGET_GATE: Option<usize> = None;
    const FUSED_PROJECTIONS: bool = true;

    #[inline(always)]
    fn forward<T: Float>(h: usize, _: StepIn<T>, out: StepOut<T>) {
        let (gates, h_out) = (&mut out.gates[..h], &mut out.h[..h]);
        T::tanh_slice(gates);
        h_out.copy_from_slice(gates);
    }

    #[inline(always)]
    fn backward<T: Float>(h: usize, back: StepBack<T>, grads: StepGrads<T>) {
        let (gates, dh) = (&back.gates[..h], &back.dh[..h]);
        let (dxw, dh_prev) = (&mut grads.dxw[..h], &mut grads.dh_prev[..h]);
        for j in 0..h {
            let d = dh[j] * (T::ONE - gates[j] * gates[j]);
            dxw[j] = d;
            dh_prev[j] = T::ZERO;
        }
    }
}
