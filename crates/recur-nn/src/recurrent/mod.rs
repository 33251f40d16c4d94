//! Recurrent layers: [`Lstm`], [`Gru`] and [`SimpleRnn`], one generic layer over a [`Cell`].
//!
//! Options as Keras has them: `units`, `return_sequences`, `bidirectional` (outputs
//! concatenated, forward first), `dropout` on the inputs and `recurrent_dropout` on the state
//! (one mask per sequence, constant over time), plus an optional initial state and the final
//! state returned, for encoder–decoders. Tensors are named as in PyTorch's `nn.LSTM` etc.

mod cells;
mod direction;
mod step;

pub use cells::{Cell, GruCell, LstmCell, SimpleRnnCell, StepBack, StepGrads, StepIn, StepOut};
use direction::{Direction, DirectionInput, DirectionTape};
pub use step::{StepGradients, StepTape, StepWeights, Stepping};

use crate::dropout::inverted_mask;
use crate::init;
use crate::layer::{Ctx, Layer, Param, Tape};
use crate::precision::{InferencePath, Precision};
use crate::spec::{needs_time, rate, size, LayerSpec};
use recur_core::parallel::join;
use recur_core::{Float, Rng, Seq, Shape};
use serde::{Deserialize, Serialize};
use std::marker::PhantomData;
use std::ops::Deref;

/// The settings of one recurrent layer type: [`RecurrentOptions`] tied to the layer's cell, so
/// that its spec knows the gate count and builds the right layer.
macro_rules! recurrent_config {
    ($(#[$doc:meta])* $name:ident, $cell:ty) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub RecurrentOptions);

        impl Deref for $name {
            type Target = RecurrentOptions;
            fn deref(&self) -> &RecurrentOptions {
                &self.0
            }
        }

        impl LayerSpec for $name {
            fn kind(&self) -> &'static str {
                <$cell>::KIND
            }
            fn summary_kind(&self) -> String {
                match self.bidirectional {
                    true => format!("bidirectional({})", <$cell>::KIND),
                    false => <$cell>::KIND.to_string(),
                }
            }
            fn output_shape(&self, input: Shape) -> Result<Shape, String> {
                self.0.output_shape(input)
            }
            fn parameter_count(&self, input: Shape) -> u64 {
                self.0.parameter_count(input, <$cell>::GATES as u64)
            }
            fn build<T: Float>(&self, input: Shape, rng: &mut Rng) -> Box<dyn Layer<T>> {
                Box::new(Recurrent::<T, $cell>::new(input, self.0.clone(), rng))
            }
            fn build_for_loading<T: Float>(&self, input: Shape) -> Box<dyn Layer<T>> {
                Box::new(Recurrent::<T, $cell>::zeroed(input, self.0.clone()))
            }
        }
    };
}

recurrent_config!(
    /// An LSTM layer's settings.
    LstmConfig,
    LstmCell
);
recurrent_config!(
    /// A GRU layer's settings (PyTorch's formulation).
    GruConfig,
    GruCell
);
recurrent_config!(
    /// An Elman RNN layer's settings (tanh).
    SimpleRnnConfig,
    SimpleRnnCell
);

/// Options shared by every recurrent layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecurrentOptions {
    /// Hidden units per direction.
    pub units: usize,
    /// Output every step (`[batch, time, units]`) instead of the final state (`[batch, units]`).
    #[serde(default)]
    pub return_sequences: bool,
    /// Run a second direction from each sequence's end and concatenate its outputs.
    #[serde(default)]
    pub bidirectional: bool,
    /// Dropout rate on the inputs (training only).
    #[serde(default)]
    pub dropout: f64,
    /// Dropout rate on the recurrent state (training only).
    #[serde(default)]
    pub recurrent_dropout: f64,
    /// Start the LSTM forget-gate bias at 1 (Keras's `unit_forget_bias`).
    #[serde(default = "default_true")]
    pub unit_forget_bias: bool,
}

fn default_true() -> bool {
    true
}

impl RecurrentOptions {
    /// Checks the settings against the input and returns the output shape.
    fn output_shape(&self, input: Shape) -> Result<Shape, String> {
        needs_time(input)?;
        size("units", self.units)?;
        rate("dropout", self.dropout)?;
        rate("recurrent_dropout", self.recurrent_dropout)?;
        Ok(Shape::new(self.units * self.directions(), self.return_sequences))
    }

    /// Weights and biases of a cell with `gates` gates: PyTorch's `weight_ih`, `weight_hh`,
    /// `bias_ih` and `bias_hh` per direction.
    fn parameter_count(&self, input: Shape, gates: u64) -> u64 {
        let h = self.units as u64;
        self.directions() as u64 * gates * h * (input.features as u64 + h + 2)
    }

    fn directions(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }
}

/// The recurrent state a layer starts from or ends in: `h` and (LSTM) `c`, each
/// `[directions, batch, units]` like PyTorch's `h_n`/`c_n`.
#[derive(Clone, Debug, PartialEq)]
pub struct RnnState<T> {
    /// Hidden state.
    pub h: Vec<T>,
    /// Memory cell (empty for GRU and SimpleRNN).
    pub c: Vec<T>,
}

/// A recurrent layer over cell `C`.
pub struct Recurrent<T, C> {
    options: RecurrentOptions,
    input: Shape,
    dirs: Vec<Direction<T>>,
    _cell: PhantomData<C>,
}

/// Long short-term memory layer.
pub type Lstm<T> = Recurrent<T, LstmCell>;
/// Gated recurrent unit layer (PyTorch's formulation).
pub type Gru<T> = Recurrent<T, GruCell>;
/// Elman RNN layer with tanh.
pub type SimpleRnn<T> = Recurrent<T, SimpleRnnCell>;

/// What one direction's forward gives: its states, its final cell state and (training) its
/// tape.
type DirectionRun<T> = (Vec<T>, Vec<T>, Option<DirectionTape<T>>);

/// What backward needs from one forward call: the input's layout, the input-dropout mask and
/// each direction's tape.
struct RecurrentTape<T> {
    lengths: Vec<usize>,
    time: usize,
    input_mask: Option<Vec<T>>,
    dirs: Vec<DirectionTape<T>>,
}

impl<T: Float, C: Cell> Clone for Recurrent<T, C> {
    fn clone(&self) -> Self {
        Recurrent {
            options: self.options.clone(),
            input: self.input,
            dirs: self.dirs.clone(),
            _cell: PhantomData,
        }
    }
}

impl<T: Float, C: Cell> Recurrent<T, C> {
    /// A layer initialised as Keras does: Glorot-uniform input kernels, orthogonal recurrent
    /// kernels (per gate), zero biases except the LSTM forget gate with `unit_forget_bias`.
    pub fn new(input: Shape, options: RecurrentOptions, rng: &mut Rng) -> Self {
        Self::with_weights(input, options, Some(rng))
    }

    /// A layer of zeros, for loading a checkpoint into: orthogonal initialisation is cubic in
    /// the units (an LSTM(3000) took a minute) and the checkpoint overwrites it anyway.
    pub fn zeroed(input: Shape, options: RecurrentOptions) -> Self {
        Self::with_weights(input, options, None)
    }

    fn with_weights(input: Shape, options: RecurrentOptions, mut rng: Option<&mut Rng>) -> Self {
        let (h, n_in, g) = (options.units, input.features, C::GATES);
        let n_dirs = if options.bidirectional { 2 } else { 1 };
        let dirs = (0..n_dirs)
            .map(|d| {
                let suffix = if d == 0 { "" } else { "_reverse" };
                let (w_ih, w_hh): (Vec<T>, Vec<T>) = match rng.as_deref_mut() {
                    Some(rng) => (
                        init::glorot_uniform(g * h, n_in, g * h * n_in, rng),
                        (0..g).flat_map(|_| init::orthogonal::<T>(h, rng)).collect(),
                    ),
                    None => (vec![T::ZERO; g * h * n_in], vec![T::ZERO; g * h * h]),
                };
                let mut b_ih = vec![T::ZERO; g * h];
                if let (Some(f), true) = (C::FORGET_GATE, options.unit_forget_bias) {
                    b_ih[f * h..(f + 1) * h].fill(T::ONE);
                }
                Direction::new(
                    Param::new(&format!("weight_ih_l0{suffix}"), &[g * h, n_in], w_ih),
                    Param::new(&format!("weight_hh_l0{suffix}"), &[g * h, h], w_hh),
                    Param::new(&format!("bias_ih_l0{suffix}"), &[g * h], b_ih),
                    Param::new(&format!("bias_hh_l0{suffix}"), &[g * h], vec![T::ZERO; g * h]),
                )
            })
            .collect();
        Recurrent {
            options,
            input,
            dirs,
            _cell: PhantomData,
        }
    }

    /// The options this layer was built with.
    pub fn options(&self) -> &RecurrentOptions {
        &self.options
    }

    /// Sets the format of the recurrent products in training: fp32, or bf16 operands with f32
    /// sums (mixed precision; see [`Direction::set_training_precision`]).
    pub fn set_training_precision(&mut self, precision: Precision) {
        self.dirs.iter_mut().for_each(|d| d.set_training_precision(precision));
    }

    /// Runs the layer from `init` (zeros when `None`) and returns the output, the final state
    /// and (in training mode) the tape for [`Recurrent::backward_with_state`].
    pub fn forward_with_state(
        &self,
        x: Seq<T>,
        init: Option<&RnnState<T>>,
        ctx: &mut Ctx,
    ) -> (Seq<T>, RnnState<T>, Tape) {
        let (batch, time, h) = (x.batch, x.time, self.options.units);
        let n_dirs = self.dirs.len();
        let bh = batch * h;
        let input_mask = (ctx.training && self.options.dropout > 0.0)
            .then(|| inverted_mask::<T>(batch * x.features, self.options.dropout, ctx.rng));
        let mut x = x;
        if let Some(mask) = &input_mask {
            apply_sequence_mask(&mut x, mask);
        }
        let mut outputs = Vec::with_capacity(n_dirs);
        let mut final_state = RnnState {
            h: vec![T::ZERO; n_dirs * bh],
            c: Vec::new(),
        };
        if C::HAS_CELL_STATE {
            final_state.c = vec![T::ZERO; n_dirs * bh];
        }
        let mut tapes = Vec::with_capacity(n_dirs);
        // Every step's state in training (backward reads them) or when the layer returns
        // sequences; else each direction returns the last alone.
        let every_state = ctx.training || self.options.return_sequences;
        let mut inputs = Vec::with_capacity(n_dirs);
        for d in 0..n_dirs {
            // A lone direction takes the input's values (only its shape and lengths are read
            // afterwards); the forward one of a pair copies them, as the reverse one needs them.
            let xd = match d {
                0 if n_dirs == 1 => std::mem::take(&mut x.data),
                0 => x.data.clone(),
                _ => x.reverse_within_lengths().data,
            };
            let h0 = init.map_or_else(|| vec![T::ZERO; bh], |s| s.h[d * bh..(d + 1) * bh].to_vec());
            let c0 = match init {
                Some(s) if C::HAS_CELL_STATE => s.c[d * bh..(d + 1) * bh].to_vec(),
                _ => vec![T::ZERO; bh],
            };
            let rec_mask = (ctx.training && self.options.recurrent_dropout > 0.0)
                .then(|| inverted_mask::<T>(batch * h, self.options.recurrent_dropout, ctx.rng));
            inputs.push(DirectionInput {
                x: xd,
                lengths: &x.lengths,
                time,
                h0,
                c0,
                rec_mask,
                every_state,
            });
        }
        for (d, (states, c_final, tape)) in self.run_directions(inputs, ctx).into_iter().enumerate() {
            tapes.extend(tape);
            for b in 0..batch {
                let last = if every_state { (b * time + time - 1) * h } else { b * h };
                final_state.h[d * bh + b * h..d * bh + (b + 1) * h].copy_from_slice(&states[last..last + h]);
            }
            if C::HAS_CELL_STATE {
                final_state.c[d * bh..(d + 1) * bh].copy_from_slice(&c_final);
            }
            outputs.push(states);
        }
        let y = self.assemble_output(&x, &outputs, &final_state);
        let tape = Tape::when(ctx.training, || RecurrentTape {
            lengths: x.lengths.clone(),
            time,
            input_mask,
            dirs: tapes,
        });
        (y, final_state, tape)
    }

    /// Runs each direction over its input: at once on two threads when inference may use
    /// them (a lone sequence or a small batch, whose shards would leave cores idle; the second
    /// on the kept-awake helper thread), else one after the other. Either way each direction
    /// computes the same numbers.
    fn run_directions(&self, inputs: Vec<DirectionInput<T>>, ctx: &Ctx) -> Vec<DirectionRun<T>> {
        let training = ctx.training;
        let run = |d: usize, input: DirectionInput<T>| self.dirs[d].forward::<C>(input, training);
        let inputs = match <[_; 2]>::try_from(inputs) {
            Ok([forward, reverse]) if !training && ctx.threads > 1 => {
                let (forward, reverse) = join(|| run(0, forward), || run(1, reverse));
                return vec![forward, reverse];
            }
            Ok(pair) => Vec::from(pair),
            Err(one) => one,
        };
        inputs.into_iter().enumerate().map(|(d, input)| run(d, input)).collect()
    }

    /// Back-propagates `dy` (and `d_final`, the gradient reaching the returned final state)
    /// through the forward call that made `tape`. Returns the input gradient and the gradient
    /// of the initial state; with `input_grad` false the input gradient is neither computed
    /// nor returned (its data is empty), which saves one large GEMM per direction.
    pub fn backward_with_state(
        &mut self,
        tape: Tape,
        dy: Seq<T>,
        d_final: Option<&RnnState<T>>,
        input_grad: bool,
    ) -> (Seq<T>, RnnState<T>) {
        let cache: RecurrentTape<T> = tape.take(C::KIND);
        let (batch, time, h, n_in) = (cache.lengths.len(), cache.time, self.options.units, self.input.features);
        let bh = batch * h;
        let n_dirs = self.dirs.len();
        let like = Seq {
            data: Vec::new(),
            batch,
            time,
            features: n_in,
            lengths: cache.lengths.clone(),
            sequential: true,
        };
        let mut dx = if input_grad {
            Seq::zeros_like(&like, n_in)
        } else {
            like.clone()
        };
        let mut d_init = RnnState {
            h: vec![T::ZERO; n_dirs * bh],
            c: Vec::new(),
        };
        if C::HAS_CELL_STATE {
            d_init.c = vec![T::ZERO; n_dirs * bh];
        }
        for ((d, dir), dir_tape) in self.dirs.iter_mut().enumerate().zip(cache.dirs) {
            let mut d_out = vec![T::ZERO; batch * time * h];
            for b in 0..batch {
                let len = cache.lengths[b];
                if self.options.return_sequences {
                    for t in 0..len {
                        let src = &dy.step(b, t)[d * h..(d + 1) * h];
                        let t_dir = if d == 0 { t } else { len - 1 - t };
                        d_out[(b * time + t_dir) * h..(b * time + t_dir + 1) * h].copy_from_slice(src);
                    }
                } else {
                    let last = (b * time + time - 1) * h;
                    d_out[last..last + h].copy_from_slice(&dy.step(b, 0)[d * h..(d + 1) * h]);
                }
            }
            let dh_final = d_final.map_or_else(|| vec![T::ZERO; bh], |s| s.h[d * bh..(d + 1) * bh].to_vec());
            let dc_final = match d_final {
                Some(s) if C::HAS_CELL_STATE => s.c[d * bh..(d + 1) * bh].to_vec(),
                _ => vec![T::ZERO; bh],
            };
            let (dxd, dh0, dc0) = dir.backward::<C>(dir_tape, &d_out, dh_final, dc_final, input_grad);
            if input_grad {
                let mut dxd = Seq {
                    data: dxd,
                    ..like.clone()
                };
                if d == 1 {
                    dxd = dxd.reverse_within_lengths();
                }
                dx.data.iter_mut().zip(&dxd.data).for_each(|(a, b)| *a += *b);
            }
            d_init.h[d * bh..(d + 1) * bh].copy_from_slice(&dh0);
            if C::HAS_CELL_STATE {
                d_init.c[d * bh..(d + 1) * bh].copy_from_slice(&dc0);
            }
        }
        if input_grad {
            if let Some(mask) = &cache.input_mask {
                apply_sequence_mask(&mut dx, mask);
            }
            dx.zero_padding();
        }
        (dx, d_init)
    }

    /// Lays the directions' states out as the layer's output.
    fn assemble_output(&self, x: &Seq<T>, states: &[Vec<T>], final_state: &RnnState<T>) -> Seq<T> {
        let (batch, time, h) = (x.batch, x.time, self.options.units);
        let width = h * states.len();
        if !self.options.return_sequences {
            let mut data = vec![T::ZERO; batch * width];
            for (d, _) in states.iter().enumerate() {
                for b in 0..batch {
                    let src = &final_state.h[d * batch * h + b * h..d * batch * h + (b + 1) * h];
                    data[b * width + d * h..b * width + (d + 1) * h].copy_from_slice(src);
                }
            }
            return Seq {
                data,
                batch,
                time: 1,
                features: width,
                lengths: vec![1; batch],
                sequential: false,
            };
        }
        let mut y = Seq::zeros_like(x, width);
        for (d, s) in states.iter().enumerate() {
            for b in 0..batch {
                let len = x.lengths[b];
                for t in 0..len {
                    let t_dir = if d == 0 { t } else { len - 1 - t };
                    let src = &s[(b * time + t_dir) * h..(b * time + t_dir + 1) * h];
                    y.step_mut(b, t)[d * h..(d + 1) * h].copy_from_slice(src);
                }
            }
        }
        y
    }
}

/// Multiplies every step of each sequence by that sequence's mask row.
fn apply_sequence_mask<T: Float>(x: &mut Seq<T>, mask: &[T]) {
    let f = x.features;
    for b in 0..x.batch {
        for t in 0..x.time {
            x.step_mut(b, t)
                .iter_mut()
                .zip(&mask[b * f..(b + 1) * f])
                .for_each(|(v, m)| *v *= *m);
        }
    }
}

impl<T: Float, C: Cell> Layer<T> for Recurrent<T, C> {
    fn kind(&self) -> &'static str {
        C::KIND
    }
    fn output_shape(&self) -> Shape {
        Shape::new(self.options.units * self.dirs.len(), self.options.return_sequences)
    }
    fn forward(&self, x: Seq<T>, ctx: &mut Ctx) -> (Seq<T>, Tape) {
        let (y, _, tape) = self.forward_with_state(x, None, ctx);
        (y, tape)
    }
    fn backward(&mut self, tape: Tape, dy: Seq<T>, input_grad: bool) -> Seq<T> {
        self.backward_with_state(tape, dy, None, input_grad).0
    }
    fn params(&self) -> Vec<&Param<T>> {
        self.dirs.iter().flat_map(|d| d.params()).collect()
    }
    fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        self.dirs.iter_mut().flat_map(|d| d.params_mut()).collect()
    }
    fn prepare_inference(&mut self, precision: Precision) -> InferencePath {
        self.dirs.iter_mut().for_each(|d| d.prepare_inference(precision));
        InferencePath::AtPrecision
    }
}

#[cfg(test)]
mod tests;
