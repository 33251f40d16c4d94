//! [`Model`]: a stack of layers built from a [`ModelConfig`], with the checks that turn bad
//! input into clear errors before any layer sees it.

use crate::config::ModelConfig;
use crate::error::{NnError, Result};
use crate::layer::{Ctx, Layer, Param};
use recur_core::{Float, Rng, Seq, Shape};

/// A sequential model.
pub struct Model<T> {
    config: ModelConfig,
    shapes: Vec<Shape>,
    layers: Vec<Box<dyn Layer<T>>>,
}

impl<T: Float> Clone for Model<T> {
    fn clone(&self) -> Self {
        Model {
            config: self.config.clone(),
            shapes: self.shapes.clone(),
            layers: self.layers.iter().map(|l| l.clone_box()).collect(),
        }
    }
}

impl<T: Float> Model<T> {
    /// A freshly initialised model; the same seed gives the same weights.
    pub fn new(config: ModelConfig, seed: u64) -> Result<Self> {
        let shapes = config.shapes()?;
        let mut rng = Rng::new(seed);
        let layers = config
            .layers
            .iter()
            .zip(&shapes)
            .map(|(l, &s)| l.build::<T>(s, &mut rng))
            .collect();
        Ok(Model { config, shapes, layers })
    }

    /// The config this model was built from.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Mutable config (e.g. to record class names before saving).
    pub fn config_mut(&mut self) -> &mut ModelConfig {
        &mut self.config
    }

    /// The model's output per sequence.
    pub fn output_shape(&self) -> Shape {
        *self.shapes.last().expect("a model has layers")
    }

    /// Checks that `x` fits the model: feature count, finite values, layer-specific rules.
    pub fn check_input(&self, x: &Seq<T>) -> Result<()> {
        if x.features != self.config.input_size {
            return Err(NnError::Input(format!(
                "the model takes {} features per step, the input has {}",
                self.config.input_size, x.features
            )));
        }
        if let Some((b, t, f)) = x.find_non_finite() {
            return Err(NnError::Input(format!(
                "non-finite value at sequence {b}, step {t}, feature {f}"
            )));
        }
        self.layers[0].check_input(x).map_err(NnError::Input)
    }

    /// Runs every layer after checking the input.
    pub fn forward(&mut self, x: Seq<T>, ctx: &mut Ctx) -> Result<Seq<T>> {
        self.check_input(&x)?;
        Ok(self.forward_unchecked(x, ctx))
    }

    /// Runs every layer; the caller has checked the input.
    pub fn forward_unchecked(&mut self, x: Seq<T>, ctx: &mut Ctx) -> Seq<T> {
        self.layers.iter_mut().fold(x, |h, layer| layer.forward(h, ctx))
    }

    /// Back-propagates through every layer, accumulating parameter gradients; returns the
    /// gradient of the model's input.
    pub fn backward(&mut self, dy: Seq<T>) -> Seq<T> {
        self.layers.iter_mut().rev().fold(dy, |g, layer| layer.backward(g))
    }

    /// Back-propagates for training: the same parameter gradients as [`Model::backward`], but
    /// the input's gradient is not computed (for a first LSTM that is one large GEMM saved).
    pub fn backward_params_only(&mut self, dy: Seq<T>) {
        let Some((first, rest)) = self.layers.split_first_mut() else {
            return;
        };
        let g = rest.iter_mut().rev().fold(dy, |g, layer| layer.backward(g));
        first.backward_params_only(g);
    }

    /// Every tensor with its checkpoint name `layers.{i}.{name}`.
    pub fn named_params(&self) -> Vec<(String, &Param<T>)> {
        self.layers
            .iter()
            .enumerate()
            .flat_map(|(i, l)| {
                l.params()
                    .into_iter()
                    .map(move |p| (format!("layers.{i}.{}", p.name), p))
            })
            .collect()
    }

    /// Every tensor, mutable, in the order of [`Model::named_params`].
    pub fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        self.layers.iter_mut().flat_map(|l| l.params_mut()).collect()
    }

    /// Zeroes every gradient.
    pub fn zero_grad(&mut self) {
        for p in self.params_mut() {
            p.grad.iter_mut().for_each(|g| *g = T::ZERO);
        }
    }

    /// Copies every tensor's values (not gradients) from a model of the same config.
    pub fn copy_values_from(&mut self, other: &Model<T>) {
        for (dst, src) in self.params_mut().into_iter().zip(other.named_params()) {
            dst.value.copy_from_slice(&src.1.value);
        }
    }

    /// Number of trainable scalars.
    pub fn trainable_count(&self) -> usize {
        self.named_params()
            .iter()
            .filter(|(_, p)| p.trainable)
            .map(|(_, p)| p.len())
            .sum()
    }

    /// Approximate forward FLOPs (2 per multiply-add) for one sequence of `length` steps, for
    /// throughput reports. A layer after the time axis is gone (a dense layer on an LSTM's last
    /// state) runs once per sequence, not once per step.
    pub fn forward_flops_per_sequence(&self, length: usize) -> usize {
        self.layers
            .iter()
            .zip(&self.shapes)
            .map(|(layer, input)| layer.forward_flops_per_step() * if input.sequential { length } else { 1 })
            .sum()
    }

    /// A Keras-style table: layer, output shape, parameter count.
    pub fn summary(&self) -> String {
        let mut out = format!("{:<4} {:<21} {:<22} {:>10}\n", "#", "layer", "output shape", "params");
        out.push_str(&"-".repeat(60));
        out.push('\n');
        out.push_str(&format!(
            "{:<4} {:<21} {:<22} {:>10}\n",
            "",
            "input",
            format!("(batch, time, {})", self.config.input_size),
            0
        ));
        for (i, layer) in self.layers.iter().enumerate() {
            let s = self.shapes[i + 1];
            let shape = if s.sequential {
                format!("(batch, time, {})", s.features)
            } else {
                format!("(batch, {})", s.features)
            };
            let n: usize = layer.params().iter().filter(|p| p.trainable).map(|p| p.len()).sum();
            let mut name = layer.kind().to_string();
            if let Some(
                crate::config::LayerConfig::Lstm(o)
                | crate::config::LayerConfig::Gru(o)
                | crate::config::LayerConfig::SimpleRnn(o),
            ) = self.config.layers.get(i)
            {
                if o.bidirectional {
                    name = format!("bidirectional({name})");
                }
            }
            out.push_str(&format!("{i:<4} {name:<21} {shape:<22} {n:>10}\n"));
        }
        out.push_str(&"-".repeat(60));
        let all: usize = self.named_params().iter().map(|(_, p)| p.len()).sum();
        out.push_str(&format!(
            "\ntrainable parameters: {}\nnon-trainable (buffers): {}\n",
            self.trainable_count(),
            all - self.trainable_count()
        ));
        out
    }
}
