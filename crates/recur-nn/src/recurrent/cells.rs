//! The three recurrent cells as pure, row-wise gate math. Each sees one sequence's row at one
//! step: `xw` (its input projection, `b_ih` included) and `hw` (the recurrent projection,
//! `b_hh` included), both `GATES·H` wide in PyTorch's gate order. Everything here is
//! `#[inline(always)]` so that the driver's dispatch compiles it for the widest SIMD unit.

use recur_core::Float;

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

    /// One step forward: writes the activated gates (kept for backward), `h` and `c`.
    #[allow(clippy::too_many_arguments)]
    fn forward<T: Float>(
        h: usize,
        xw: &[T],
        hw: &[T],
        h_prev: &[T],
        c_prev: &[T],
        gates: &mut [T],
        h_out: &mut [T],
        c_out: &mut [T],
    );

    /// One step backward. Given the gradient reaching `h_out` (`dh`) and `c_out` (`dc`),
    /// writes the gradients of the pre-activations as seen by the input projection (`dxw`) and
    /// by the recurrent projection (`dhw`), of `h_prev` through paths other than the recurrent
    /// projection (`dh_prev`), and of `c_prev`.
    #[allow(clippy::too_many_arguments)]
    fn backward<T: Float>(
        h: usize,
        gates: &[T],
        hw: &[T],
        h_prev: &[T],
        c_prev: &[T],
        c_out: &[T],
        dh: &[T],
        dc: &[T],
        dxw: &mut [T],
        dhw: &mut [T],
        dh_prev: &mut [T],
        dc_prev: &mut [T],
    );
}

/// LSTM, gate order i, f, g, o (PyTorch's): c' = f∘c + i∘g, h' = o∘tanh(c').
#[derive(Clone, Debug)]
pub struct LstmCell;

impl Cell for LstmCell {
    const KIND: &'static str = "lstm";
    const GATES: usize = 4;
    const HAS_CELL_STATE: bool = true;
    const FORGET_GATE: Option<usize> = Some(1);

    #[inline(always)]
    fn forward<T: Float>(
        h: usize,
        xw: &[T],
        hw: &[T],
        _h_prev: &[T],
        c_prev: &[T],
        gates: &mut [T],
        h_out: &mut [T],
        c_out: &mut [T],
    ) {
        let (xw, hw, gates) = (&xw[..4 * h], &hw[..4 * h], &mut gates[..4 * h]);
        let (c_prev, h_out, c_out) = (&c_prev[..h], &mut h_out[..h], &mut c_out[..h]);
        for j in 0..h {
            let i = (xw[j] + hw[j]).sigmoid();
            let f = (xw[h + j] + hw[h + j]).sigmoid();
            let g = (xw[2 * h + j] + hw[2 * h + j]).tanh();
            let o = (xw[3 * h + j] + hw[3 * h + j]).sigmoid();
            let c = f * c_prev[j] + i * g;
            gates[j] = i;
            gates[h + j] = f;
            gates[2 * h + j] = g;
            gates[3 * h + j] = o;
            c_out[j] = c;
            h_out[j] = o * c.tanh();
        }
    }

    #[inline(always)]
    fn backward<T: Float>(
        h: usize,
        gates: &[T],
        _hw: &[T],
        _h_prev: &[T],
        c_prev: &[T],
        c_out: &[T],
        dh: &[T],
        dc: &[T],
        dxw: &mut [T],
        dhw: &mut [T],
        dh_prev: &mut [T],
        dc_prev: &mut [T],
    ) {
        let (gates, dxw, dhw) = (&gates[..4 * h], &mut dxw[..4 * h], &mut dhw[..4 * h]);
        for j in 0..h {
            let (i, f, g, o) = (gates[j], gates[h + j], gates[2 * h + j], gates[3 * h + j]);
            let tc = c_out[j].tanh();
            let dct = dc[j] + dh[j] * o * (T::ONE - tc * tc);
            let di = dct * g * i * (T::ONE - i);
            let df = dct * c_prev[j] * f * (T::ONE - f);
            let dg = dct * i * (T::ONE - g * g);
            let d_o = dh[j] * tc * o * (T::ONE - o);
            dxw[j] = di;
            dxw[h + j] = df;
            dxw[2 * h + j] = dg;
            dxw[3 * h + j] = d_o;
            dhw[j] = di;
            dhw[h + j] = df;
            dhw[2 * h + j] = dg;
            dhw[3 * h + j] = d_o;
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

    #[inline(always)]
    fn forward<T: Float>(
        h: usize,
        xw: &[T],
        hw: &[T],
        h_prev: &[T],
        _c_prev: &[T],
        gates: &mut [T],
        h_out: &mut [T],
        _c_out: &mut [T],
    ) {
        let (xw, hw, gates) = (&xw[..3 * h], &hw[..3 * h], &mut gates[..3 * h]);
        let (h_prev, h_out) = (&h_prev[..h], &mut h_out[..h]);
        for j in 0..h {
            let r = (xw[j] + hw[j]).sigmoid();
            let z = (xw[h + j] + hw[h + j]).sigmoid();
            let n = (xw[2 * h + j] + r * hw[2 * h + j]).tanh();
            gates[j] = r;
            gates[h + j] = z;
            gates[2 * h + j] = n;
            h_out[j] = (T::ONE - z) * n + z * h_prev[j];
        }
    }

    #[inline(always)]
    fn backward<T: Float>(
        h: usize,
        gates: &[T],
        hw: &[T],
        h_prev: &[T],
        _c_prev: &[T],
        _c_out: &[T],
        dh: &[T],
        _dc: &[T],
        dxw: &mut [T],
        dhw: &mut [T],
        dh_prev: &mut [T],
        _dc_prev: &mut [T],
    ) {
        let (gates, hw, dxw, dhw) = (&gates[..3 * h], &hw[..3 * h], &mut dxw[..3 * h], &mut dhw[..3 * h]);
        for j in 0..h {
            let (r, z, n) = (gates[j], gates[h + j], gates[2 * h + j]);
            let dn = dh[j] * (T::ONE - z) * (T::ONE - n * n);
            let dz = dh[j] * (h_prev[j] - n) * z * (T::ONE - z);
            let dr = dn * hw[2 * h + j] * r * (T::ONE - r);
            dxw[j] = dr;
            dxw[h + j] = dz;
            dxw[2 * h + j] = dn;
            dhw[j] = dr;
            dhw[h + j] = dz;
            dhw[2 * h + j] = dn * r;
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

    #[inline(always)]
    fn forward<T: Float>(
        h: usize,
        xw: &[T],
        hw: &[T],
        _h_prev: &[T],
        _c_prev: &[T],
        gates: &mut [T],
        h_out: &mut [T],
        _c_out: &mut [T],
    ) {
        let (xw, hw, gates, h_out) = (&xw[..h], &hw[..h], &mut gates[..h], &mut h_out[..h]);
        for j in 0..h {
            let a = (xw[j] + hw[j]).tanh();
            gates[j] = a;
            h_out[j] = a;
        }
    }

    #[inline(always)]
    fn backward<T: Float>(
        h: usize,
        gates: &[T],
        _hw: &[T],
        _h_prev: &[T],
        _c_prev: &[T],
        _c_out: &[T],
        dh: &[T],
        _dc: &[T],
        dxw: &mut [T],
        dhw: &mut [T],
        dh_prev: &mut [T],
        _dc_prev: &mut [T],
    ) {
        for j in 0..h {
            let d = dh[j] * (T::ONE - gates[j] * gates[j]);
            dxw[j] = d;
            dhw[j] = d;
            dh_prev[j] = T::ZERO;
        }
    }
}
