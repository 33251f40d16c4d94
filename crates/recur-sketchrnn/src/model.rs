//! The sketch-rnn network: a bidirectional LSTM encoder whose final states give `μ` and
//! `log σ²` of the latent `z = μ + σ·ε`; an LSTM decoder started from `tanh(dense(z))` (its
//! `c` first, as Magenta splits it) that reads, each step, the previous stroke-5 point, `z`
//! and a class embedding; and a dense head giving the mixture-density row of [`crate::mdn`].
//!
//! Tensors are named and shaped as the PyTorch port's `state_dict`: `encoder.*` (a
//! bidirectional `nn.LSTM(5, enc)`), `mu.*` and `sigma.*` (`nn.Linear(2·enc, nz)`; `sigma`
//! gives `log σ²`), `init_state.*` (`nn.Linear(nz, 2·dec)`), `class_embedding.weight`,
//! `decoder.*` (`nn.LSTM(5 + nz + emb, dec)`) and `output.*` (`nn.Linear(dec, 6M + 3)`).
//!
//! Both LSTMs run over the whole batch at once through recur-nn's fused kernels; only the
//! mixture-density loss goes row by row.

use crate::batch::{StrokeBatch, STROKE5};
use crate::mdn::{row_width, step_loss};
use recur_core::{Float, Rng, Seq, Shape};
use recur_nn::{Ctx, Layer, Linear, Lstm, Param, Precision, RecurrentOptions, RnnState, Tape};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// What the decoder is conditioned on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The decoder alone, from a zero state (Magenta's `conditional=False`).
    Unconditional,
    /// The VAE: encoder, latent `z`, decoder conditioned on it (Magenta's default).
    Vae,
    /// The VAE with a class embedding on every decoder step besides `z` (the PyTorch port's
    /// `class`): sampled from `z ~ N(0, I)` and a class.
    Class,
    /// A class embedding on every decoder step, from a zero state; no encoder, no `z`.
    ClassOnly,
}

impl Mode {
    /// Reads `unconditional`, `vae`, `class` or `class-only`.
    pub fn parse(name: &str) -> Result<Mode, String> {
        match name {
            "unconditional" => Ok(Mode::Unconditional),
            "vae" => Ok(Mode::Vae),
            "class" => Ok(Mode::Class),
            "class-only" => Ok(Mode::ClassOnly),
            other => Err(format!(
                "unknown mode `{other}`: use unconditional, vae, class or class-only"
            )),
        }
    }

    /// Whether the model encodes drawings into a latent `z`.
    pub fn has_latent(self) -> bool {
        matches!(self, Mode::Vae | Mode::Class)
    }

    /// Whether the decoder reads a class embedding.
    pub fn has_class(self) -> bool {
        matches!(self, Mode::Class | Mode::ClassOnly)
    }
}

/// The architecture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SketchRnnConfig {
    /// What the decoder is conditioned on.
    pub mode: Mode,
    /// Encoder LSTM units per direction (Magenta's `enc_rnn_size`).
    pub encoder_units: usize,
    /// Decoder LSTM units (`dec_rnn_size`).
    pub decoder_units: usize,
    /// Width of `z` (`z_size`).
    pub latent: usize,
    /// Width of the class embedding.
    pub class_embedding: usize,
    /// Normals in the mixture (`num_mixture`).
    pub mixtures: usize,
    /// Classes the embedding holds.
    pub classes: usize,
    /// Dropout on the decoder's recurrent state while training.
    pub recurrent_dropout: f64,
}

/// Largest width of any part, far beyond what trains on a CPU, so that a typo is refused
/// before allocating.
const MAX_WIDTH: usize = 8192;

impl SketchRnnConfig {
    /// Width of `z` when the mode has one, else 0.
    pub fn latent_width(&self) -> usize {
        if self.mode.has_latent() {
            self.latent
        } else {
            0
        }
    }

    /// Width of the class embedding when the mode has one, else 0.
    pub fn embedding_width(&self) -> usize {
        if self.mode.has_class() {
            self.class_embedding
        } else {
            0
        }
    }

    /// Values the decoder reads each step: `[stroke-5, z, class embedding]`.
    pub fn decoder_inputs(&self) -> usize {
        STROKE5 + self.latent_width() + self.embedding_width()
    }

    /// Refuses sizes that cannot build or would not fit, naming the setting.
    pub fn check(&self) -> Result<(), String> {
        let mut sizes = vec![("decoder units", self.decoder_units), ("mixtures", self.mixtures)];
        if self.mode.has_latent() {
            sizes.extend([("encoder units", self.encoder_units), ("latent size", self.latent)]);
        }
        if self.mode.has_class() {
            sizes.extend([("class embedding", self.class_embedding), ("classes", self.classes)]);
        }
        for (name, v) in sizes {
            if v == 0 || v > MAX_WIDTH {
                return Err(format!("{name} must be in 1..={MAX_WIDTH}, got {v}"));
            }
        }
        if !(0.0..1.0).contains(&self.recurrent_dropout) {
            return Err(format!(
                "recurrent dropout must be in [0, 1), got {}",
                self.recurrent_dropout
            ));
        }
        Ok(())
    }
}

/// The encoder and the maps from and to `z`.
#[derive(Clone)]
pub(crate) struct Latent<T: Float> {
    pub(crate) encoder: Lstm<T>,
    pub(crate) mu: Linear<T>,
    pub(crate) sigma: Linear<T>,
    pub(crate) init_state: Linear<T>,
}

/// The network.
#[derive(Clone)]
pub struct SketchRnn<T: Float> {
    /// Its architecture.
    pub config: SketchRnnConfig,
    pub(crate) latent: Option<Latent<T>>,
    pub(crate) class_embedding: Option<Param<T>>,
    pub(crate) decoder: Lstm<T>,
    pub(crate) output: Linear<T>,
    /// The format of training's products (see [`SketchRnn::set_training_precision`]).
    training: Precision,
}

/// KL settings of one training step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KlWeight {
    /// `w_KL` (annealed).
    pub weight: f64,
    /// `KL_min` (Magenta's `kl_tolerance`): below it the KL term has no gradient.
    pub floor: f64,
}

/// Summed figures of a batch (or a shard of one).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Terms {
    /// Σ over drawings of `L_R` (each averaged over the `N_max` steps).
    pub recon: f64,
    /// Σ over drawings of `L_KL` (each averaged over `z`'s dimensions; 0 without a latent).
    pub kl: f64,
    /// What was minimised: `recon + w_KL · drawings · max(kl / drawings, KL_min)`.
    pub loss: f64,
}

/// What the encoder gives: its output (both directions' final `h`), `μ`, `log σ²`, its tape.
struct Encoded<T> {
    encoded: Vec<T>,
    mu: Vec<T>,
    log_var: Vec<T>,
    tape: Tape,
}

/// What backward needs of the latent part of a forward pass.
struct LatentPass<T> {
    tape: Tape,
    encoded: Vec<T>,
    mu: Vec<T>,
    log_var: Vec<T>,
    eps: Vec<T>,
    z: Vec<T>,
    /// `tanh(init_state(z))`, `[batch, 2·dec]`, `c` first.
    init: Vec<T>,
}

/// What backward needs of a forward pass.
struct Pass<T> {
    /// Steps per drawing (`N_max`).
    n: usize,
    /// Each drawing's class.
    classes: Vec<usize>,
    latent: Option<LatentPass<T>>,
    tape: Tape,
    /// The decoder's outputs, `[batch·N_max, dec]`.
    hidden: Vec<T>,
    /// The mixture-density rows, `[batch·N_max, 6M + 3]`.
    out: Vec<T>,
}

/// `N(0, std²)` values.
fn gaussian<T: Float>(n: usize, std: f64, rng: &mut Rng) -> Vec<T> {
    (0..n).map(|_| T::from_f64(rng.normal() * std)).collect()
}

/// A linear map with `N(0, 0.001²)` weights and zero bias, as Magenta starts its `mu`,
/// `presig` and initial-state maps.
fn small_linear<T: Float>(inputs: usize, outputs: usize, rng: &mut Rng) -> Linear<T> {
    Linear {
        weight: Param::new("weight", &[outputs, inputs], gaussian(outputs * inputs, 0.001, rng)),
        bias: Some(Param::new("bias", &[outputs], vec![T::ZERO; outputs])),
    }
}

fn lstm_options(units: usize, bidirectional: bool, recurrent_dropout: f64) -> RecurrentOptions {
    RecurrentOptions {
        units,
        return_sequences: !bidirectional,
        bidirectional,
        dropout: 0.0,
        recurrent_dropout,
        unit_forget_bias: true,
    }
}

/// The decoder's state from `tanh(init_state(z))` rows of `2·dec`: `c` the first half, `h` the
/// second, as Magenta splits its LSTM state.
pub(crate) fn split_state<T: Float>(init: &[T], dec: usize) -> RnnState<T> {
    let (mut h, mut c) = (Vec::with_capacity(init.len() / 2), Vec::with_capacity(init.len() / 2));
    for row in init.chunks_exact(2 * dec) {
        c.extend_from_slice(&row[..dec]);
        h.extend_from_slice(&row[dec..]);
    }
    RnnState { h, c }
}

impl<T: Float> SketchRnn<T> {
    /// A network of `config` with weights drawn from `rng`.
    pub fn new(config: SketchRnnConfig, rng: &mut Rng) -> Result<Self, String> {
        config.check()?;
        let (enc, dec, nz) = (config.encoder_units, config.decoder_units, config.latent);
        let latent = config.mode.has_latent().then(|| Latent {
            encoder: Lstm::new(Shape::sequence(STROKE5), lstm_options(enc, true, 0.0), rng),
            mu: small_linear(2 * enc, nz, rng),
            sigma: small_linear(2 * enc, nz, rng),
            init_state: small_linear(nz, 2 * dec, rng),
        });
        let emb = config.embedding_width();
        let class_embedding = config.mode.has_class().then(|| {
            Param::new(
                "weight",
                &[config.classes, emb],
                gaussian(config.classes * emb, 0.1, rng),
            )
        });
        let decoder = Lstm::new(
            Shape::sequence(config.decoder_inputs()),
            lstm_options(dec, false, config.recurrent_dropout),
            rng,
        );
        let output = Linear::glorot(dec, row_width(config.mixtures), true, rng);
        Ok(SketchRnn {
            config,
            latent,
            class_embedding,
            decoder,
            output,
            training: Precision::Fp32,
        })
    }

    /// Sets the format of the LSTMs' and the mixture head's products in training: fp32, or bf16
    /// operands with f32 sums (see `recur_nn::Lstm::set_training_precision`). Evaluation and
    /// sampling stay fp32.
    pub fn set_training_precision(&mut self, precision: Precision) {
        self.training = precision;
        if let Some(l) = &mut self.latent {
            l.encoder.set_training_precision(precision);
        }
        self.decoder.set_training_precision(precision);
    }

    /// The tensors with their PyTorch names, in a fixed order.
    pub fn named_params(&self) -> Vec<(String, &Param<T>)> {
        let mut out = Vec::new();
        if let Some(l) = &self.latent {
            out.extend(
                l.encoder
                    .params()
                    .into_iter()
                    .map(|p| (format!("encoder.{}", p.name), p)),
            );
            out.extend(l.mu.named_params("mu"));
            out.extend(l.sigma.named_params("sigma"));
            out.extend(l.init_state.named_params("init_state"));
        }
        if let Some(e) = &self.class_embedding {
            out.push(("class_embedding.weight".to_string(), e));
        }
        out.extend(
            self.decoder
                .params()
                .into_iter()
                .map(|p| (format!("decoder.{}", p.name), p)),
        );
        out.extend(self.output.named_params("output"));
        out
    }

    /// The same tensors, mutable, in the same order.
    pub fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        let mut out = Vec::new();
        if let Some(l) = &mut self.latent {
            out.extend(l.encoder.params_mut());
            out.extend(l.mu.params_mut());
            out.extend(l.sigma.params_mut());
            out.extend(l.init_state.params_mut());
        }
        out.extend(self.class_embedding.as_mut());
        out.extend(self.decoder.params_mut());
        out.extend(self.output.params_mut());
        out
    }

    /// The encoder's output, `μ` and `log σ²` of the drawings `range` of `batch` (`[drawings,
    /// nz]` each), with the encoder's tape when training; `None` without a latent.
    fn encode(&self, batch: &StrokeBatch, range: Range<usize>, ctx: &mut Ctx) -> Option<Encoded<T>> {
        let l = self.latent.as_ref()?;
        let n = batch.n_max;
        let mut data = Vec::with_capacity(range.len() * n * STROKE5);
        for b in range.clone() {
            data.extend(batch.rows(b)[STROKE5..].iter().map(|&v| T::from_f64(v as f64)));
        }
        let x = Seq::new(data, range.len(), n, STROKE5, batch.lengths[range].to_vec())
            .expect("a stroke batch lays out whole sequences");
        let (encoded, _, tape) = l.encoder.forward_with_state(x, None, ctx);
        let mu = l.mu.forward(&encoded.data);
        let log_var = l.sigma.forward(&encoded.data);
        Some(Encoded {
            encoded: encoded.data,
            mu,
            log_var,
            tape,
        })
    }

    /// `μ` and `log σ²` of the drawings of `batch`, for reconstruction and interpolation.
    pub fn latent_of(&self, batch: &StrokeBatch) -> Option<(Vec<T>, Vec<T>)> {
        let mut rng = Rng::new(0);
        let mut ctx = Ctx::new(false, &mut rng);
        self.encode(batch, 0..batch.len(), &mut ctx).map(|e| (e.mu, e.log_var))
    }

    /// `tanh(init_state(z))` for `z` (`[drawings, nz]`): per drawing the decoder's initial
    /// `c` then `h` (see [`split_state`]).
    pub(crate) fn initial_values(&self, z: &[T]) -> Option<Vec<T>> {
        let l = self.latent.as_ref()?;
        // On `Wᵀ`, so that a drawing starts the same whichever drawings share its batch.
        let mut init = l.init_state.forward_transposed(z, &l.init_state.transposed_weight());
        T::tanh_slice(&mut init);
        Some(init)
    }

    /// The constant part of a decoder step's input for drawings of `classes`: `[z, class
    /// embedding]` per drawing (`z` empty without a latent).
    pub(crate) fn conditioning(&self, z: &[T], classes: &[usize]) -> Vec<T> {
        let (nz, emb) = (self.config.latent_width(), self.config.embedding_width());
        let mut out = Vec::with_capacity(classes.len() * (nz + emb));
        for (b, &c) in classes.iter().enumerate() {
            out.extend_from_slice(&z[b * nz..(b + 1) * nz]);
            if let Some(e) = &self.class_embedding {
                out.extend_from_slice(&e.value[c * emb..(c + 1) * emb]);
            }
        }
        out
    }

    /// The forward pass of drawings `range` of `batch`, `ε` drawn from `ctx.rng` unless given
    /// (`[drawings, nz]`, for the parity fixtures).
    fn forward(&self, batch: &StrokeBatch, range: Range<usize>, ctx: &mut Ctx, given_eps: Option<&[T]>) -> Pass<T> {
        let (rows, n) = (range.len(), batch.n_max);
        let latent = self.encode(batch, range.clone(), ctx).map(
            |Encoded {
                 encoded,
                 mu,
                 log_var,
                 tape,
             }| {
                let eps: Vec<T> = match given_eps {
                    Some(e) => e.to_vec(),
                    None => gaussian(mu.len(), 1.0, ctx.rng),
                };
                let z = (0..mu.len())
                    .map(|i| mu[i] + (log_var[i] * T::from_f64(0.5)).exp() * eps[i])
                    .collect::<Vec<T>>();
                let init = self.initial_values(&z).unwrap_or_default();
                LatentPass {
                    tape,
                    encoded,
                    mu,
                    log_var,
                    eps,
                    z,
                    init,
                }
            },
        );
        let z = latent.as_ref().map_or(&[][..], |l| &l.z);
        let range_of_classes = range.clone();
        let fixed = self.conditioning(z, &batch.classes[range.clone()]);
        let width = fixed.len() / rows.max(1);
        let mut data = Vec::with_capacity(rows * n * (STROKE5 + width));
        for (i, b) in range.enumerate() {
            for t in 0..n {
                let point = &batch.rows(b)[t * STROKE5..(t + 1) * STROKE5];
                data.extend(point.iter().map(|&v| T::from_f64(v as f64)));
                data.extend_from_slice(&fixed[i * width..(i + 1) * width]);
            }
        }
        let x = Seq::new(data, rows, n, STROKE5 + width, vec![n; rows]).expect("whole decoder steps");
        let init = latent.as_ref().map(|l| split_state(&l.init, self.config.decoder_units));
        let (y, _, tape) = self.decoder.forward_with_state(x, init.as_ref(), ctx);
        let precision = if ctx.training { self.training } else { Precision::Fp32 };
        let out = self.output.forward_at(precision, &y.data);
        Pass {
            n,
            classes: batch.classes[range_of_classes].to_vec(),
            latent,
            tape,
            hidden: y.data,
            out,
        }
    }

    /// Σ over drawings of `L_R` for `pass`'s rows, adding its gradient into `grad` if given.
    fn reconstruction(&self, batch: &StrokeBatch, range: Range<usize>, out: &[T], mut grad: Option<&mut [T]>) -> f64 {
        let (n, w, m) = (batch.n_max, row_width(self.config.mixtures), self.config.mixtures);
        let scale = 1.0 / n as f64;
        let mut total = 0.0;
        for (i, b) in range.enumerate() {
            let targets = batch.rows(b);
            for t in 0..n {
                let r = (i * n + t) * w..(i * n + t + 1) * w;
                let g = grad.as_deref_mut().map(|g| &mut g[r.clone()]);
                let l = step_loss(&out[r], &targets[(t + 1) * STROKE5..(t + 2) * STROKE5], m, scale, g);
                total += (l.offsets + l.pen) * scale;
            }
        }
        total
    }

    /// Σ over drawings of `L_KL` (each the mean over `z`'s dimensions).
    fn kl_sum(&self, mu: &[T], log_var: &[T]) -> f64 {
        let nz = self.config.latent_width() as f64;
        mu.iter()
            .zip(log_var)
            .map(|(m, lv)| {
                let (m, lv) = (m.to_f64(), lv.to_f64());
                -0.5 * (1.0 + lv - m * m - lv.exp()) / nz
            })
            .sum()
    }

    /// `L_R` and `L_KL` summed over the drawings `range` of `batch`, without dropout; `ε` from
    /// `rng` as Magenta's evaluation draws it.
    pub fn evaluate(&self, batch: &StrokeBatch, range: Range<usize>, rng: &mut Rng) -> Terms {
        let mut ctx = Ctx::new(false, rng);
        let pass = self.forward(batch, range.clone(), &mut ctx, None);
        let recon = self.reconstruction(batch, range, &pass.out, None);
        let kl = pass.latent.as_ref().map_or(0.0, |l| self.kl_sum(&l.mu, &l.log_var));
        Terms {
            recon,
            kl,
            loss: recon + kl,
        }
    }

    /// Forward and backward of drawings `range` of `batch`, adding the gradient of
    /// [`Terms::loss`] into the parameters' gradients; `ε` and dropout masks from `rng`. The
    /// KL floor applies to this shard's mean KL (Magenta applies it to the batch's).
    pub fn forward_backward(&mut self, batch: &StrokeBatch, range: Range<usize>, kl: KlWeight, rng: &mut Rng) -> Terms {
        self.forward_backward_with(batch, range, kl, rng, None).0
    }

    /// [`SketchRnn::forward_backward`] with `ε` given or drawn; also returns the output rows.
    fn forward_backward_with(
        &mut self,
        batch: &StrokeBatch,
        range: Range<usize>,
        kl: KlWeight,
        rng: &mut Rng,
        eps: Option<&[T]>,
    ) -> (Terms, Vec<T>) {
        let rows = range.len();
        let mut ctx = Ctx::new(true, rng);
        let pass = self.forward(batch, range.clone(), &mut ctx, eps);
        let mut d_out = vec![T::ZERO; pass.out.len()];
        let recon = self.reconstruction(batch, range, &pass.out, Some(&mut d_out));
        let kl_sum = pass.latent.as_ref().map_or(0.0, |l| self.kl_sum(&l.mu, &l.log_var));
        let above_floor = kl_sum / rows as f64 > kl.floor;
        let loss = recon + kl.weight * rows as f64 * (kl_sum / rows as f64).max(kl.floor);
        let kl_scale = (above_floor && pass.latent.is_some()).then(|| kl.weight / self.config.latent_width() as f64);
        let out = pass.out.clone();
        self.backward(pass, &d_out, kl_scale);
        (
            Terms {
                recon,
                kl: kl_sum,
                loss,
            },
            out,
        )
    }

    /// Back-propagates `d_out` (and the KL term's gradient, `kl_scale` times its per-value
    /// gradient when above the floor) through `pass`.
    fn backward(&mut self, pass: Pass<T>, d_out: &[T], kl_scale: Option<f64>) {
        let (dec, nz, emb) = (
            self.config.decoder_units,
            self.config.latent_width(),
            self.config.embedding_width(),
        );
        let (rows, n) = (pass.classes.len(), pass.n);
        let mut dh = vec![T::ZERO; pass.hidden.len()];
        self.output.backward_at(self.training, &pass.hidden, d_out, &mut dh);
        let dy = Seq::new(dh, rows, n, dec, vec![n; rows]).expect("whole decoder steps");
        let (dx, d_init) = self.decoder.backward_with_state(pass.tape, dy, None, nz + emb > 0);
        // The constant inputs' gradients, summed over the steps: [dz | d_embedding] per drawing.
        let width = nz + emb;
        let mut d_fixed = vec![T::ZERO; rows * width];
        for b in (0..rows).filter(|_| width > 0) {
            for t in 0..n {
                let step = &dx.step(b, t)[STROKE5..];
                d_fixed[b * width..(b + 1) * width]
                    .iter_mut()
                    .zip(step)
                    .for_each(|(a, &g)| *a += g);
            }
        }
        if let Some(e) = &mut self.class_embedding {
            for (b, &c) in pass.classes.iter().enumerate() {
                let g = &d_fixed[b * width + nz..(b + 1) * width];
                e.grad[c * emb..(c + 1) * emb]
                    .iter_mut()
                    .zip(g)
                    .for_each(|(a, &g)| *a += g);
            }
        }
        let (Some(lp), Some(l)) = (pass.latent, self.latent.as_mut()) else {
            return;
        };
        let mut dz: Vec<T> = (0..rows)
            .flat_map(|b| d_fixed[b * width..b * width + nz].to_vec())
            .collect();
        let mut d_init_out = vec![T::ZERO; rows * 2 * dec];
        for b in 0..rows {
            let (c, h) = (&d_init.c[b * dec..(b + 1) * dec], &d_init.h[b * dec..(b + 1) * dec]);
            let row = &mut d_init_out[b * 2 * dec..(b + 1) * 2 * dec];
            for (k, g) in c.iter().chain(h).enumerate() {
                let y = lp.init[b * 2 * dec + k];
                row[k] = *g * (T::ONE - y * y);
            }
        }
        l.init_state.backward(&lp.z, &d_init_out, &mut dz);
        let half = T::from_f64(0.5);
        let kl = kl_scale.map(T::from_f64);
        let mut d_mu = dz.clone();
        let mut d_log_var = vec![T::ZERO; dz.len()];
        for i in 0..dz.len() {
            let sigma = (lp.log_var[i] * half).exp();
            d_log_var[i] = dz[i] * lp.eps[i] * half * sigma;
            if let Some(k) = kl {
                d_mu[i] += k * lp.mu[i];
                d_log_var[i] += k * half * ((lp.log_var[i]).exp() - T::ONE);
            }
        }
        let enc = l.encoder.options().units;
        let mut d_encoded = vec![T::ZERO; rows * 2 * enc];
        l.mu.backward(&lp.encoded, &d_mu, &mut d_encoded);
        l.sigma.backward(&lp.encoded, &d_log_var, &mut d_encoded);
        let dy = Seq::vectors(d_encoded, rows, 2 * enc).expect("one gradient row per drawing");
        l.encoder.backward_with_state(lp.tape, dy, None, false);
    }
}

#[cfg(test)]
mod parity;
#[cfg(test)]
mod tests;
