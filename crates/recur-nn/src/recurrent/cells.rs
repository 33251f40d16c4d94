//! The three recurrent cells as pure, row-wise gate math. Each sees one sequence's row at one
//! step: `xw` (its input projection, `b_ih` included) and `hw` (the recurrent projection,
//! `b_hh` included), both `GATES·H` wide in PyTorch's gate order. Cells with
//! [`Cell::FUSED_PROJECTIONS`] get the two already summed in `xw` and an empty `hw`. Everything here is
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

/// What one step reads: its rows of the input and recurrent projections (`hw`: cells that
/// fuse them leave it empty) and the state before the step (`c_prev`: empty without a memory
/// cell).
#[derive(Clone, Copy)]
pub struct StepIn<'a, T> {
    /// Input projection with biases, `[gates·h]`.
    pub xw: &'a [T],
    /// Recurrent projection, `[gates·h]` (unfused cells).
    pub hw: &'a [T],
    /// `h` before the step.
    pub h_prev: &'a [T],
    /// `c` before the step.
    pub c_prev: &'a [T],
}

/// What one step writes.
pub struct StepOut<'a, T> {
    /// The activated gates, kept for backward.
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

    /// One step forward of `h` units: writes the activated gates (kept for backward), `h`
    /// and `c`.
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
        let StepIn { xw, c_prev, .. } = x;
        let StepOut {
            gates,
            h: h_out,
            c: c_out,
        } = out;
        let [xi, xf, xg, xo] = blocks(xw, h);
        let [gi, gf, gg, go] = blocks_mut(gates, h);
        let (c_prev, h_out, c_out) = (&c_prev[..h], &mut h_out[..h], &mut c_out[..h]);
        for j in 0..h {
            let i = xi[j].sigmoid();
            let f = xf[j].sigmoid();
            let g = xg[j].tanh();
            let o = xo[j].sigmoid();
            let c = f * c_prev[j] + i * g;
            (gi[j], gf[j], gg[j], go[j]) = (i, f, g, o);
            c_out[j] = c;
            h_out[j] = o * c.tanh();
        }
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
        let StepIn { xw, hw, h_prev, .. } = x;
        let StepOut { gates, h: h_out, .. } = out;
        let [xr, xz, xn] = blocks(xw, h);
        let [hr, hz, hn] = blocks(hw, h);
        let [gr, gz, gn] = blocks_mut(gates, h);
        let (h_prev, h_out) = (&h_prev[..h], &mut h_out[..h]);
        for j in 0..h {
            let r = (xr[j] + hr[j]).sigmoid();
            let z = (xz[j] + hz[j]).sigmoid();
            let n = (xn[j] + r * hn[j]).tanh();
            (gr[j], gz[j], gn[j]) = (r, z, n);
            h_out[j] = (T::ONE - z) * n + z * h_prev[j];
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
    fn forward<T: Float>(h: usize, x: StepIn<T>, out: StepOut<T>) {
        let (xw, gates, h_out) = (&x.xw[..h], &mut out.gates[..h], &mut out.h[..h]);
        for j in 0..h {
            let a = xw[j].tanh();
            gates[j] = a;
            h_out[j] = a;
        }
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
