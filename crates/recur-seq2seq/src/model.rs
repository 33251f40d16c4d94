//! The encoder–decoder: its config, its parts, and how it is saved.
//!
//! - The encoder is a recur stack: an embedding of the source tokens, then recurrent layers
//!   (bidirectional by default) returning every step, with dropout between them.
//! - The bridge turns each source's final encoder state (the forward direction's last real
//!   step and the backward direction's first) into the decoder's initial `h` (and `c`):
//!   `tanh(W·s + b)`, OpenNMT's bridge, which also fits encoder and decoder of different widths.
//! - The decoder (see [`crate::decoder`]) embeds the previous target token, runs one
//!   recurrent step, attends over the encoder outputs (source padding masked), forms the
//!   attentional state `h̃ = tanh(W_out·[context; h])` (Luong), feeds `h̃` into its next step
//!   (input feeding) and the generator turns `h̃` into log-probabilities over the target vocabulary.
//!
//! Tensor names nest as a PyTorch module with attributes `encoder.layers` (a `ModuleList`),
//! `bridge`, `decoder.embedding`, `decoder.rnn`, `decoder.attention`, `decoder.linear_out`
//! and `generator` would name them, so `load_state_dict(strict=True)` moves weights both ways.

use recur_core::{Float, Rng, Seq, Shape};
use recur_nn::{
    Attention, AttentionKind, Ctx, DropoutConfig, Embedding, EmbeddingConfig, Gru, GruConfig, LayerConfig, Linear,
    Lstm, LstmConfig, Model, ModelConfig, ModelTape, NnError, Param, Precision, RecurrentOptions, Stepping,
};
use serde::{Deserialize, Serialize};

/// Which recurrent cell the encoder and decoder use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellKind {
    /// Long short-term memory.
    Lstm,
    /// Gated recurrent unit.
    Gru,
}

impl std::str::FromStr for CellKind {
    type Err = String;

    /// Parses "lstm" or "gru" (as written on a command line or in Python).
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "lstm" => Ok(CellKind::Lstm),
            "gru" => Ok(CellKind::Gru),
            _ => Err(format!("unknown cell `{s}` (expected lstm or gru)")),
        }
    }
}

impl std::fmt::Display for CellKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CellKind::Lstm => "lstm",
            CellKind::Gru => "gru",
        })
    }
}

/// The architecture of an encoder–decoder (vocabulary sizes included, so weights and config
/// always agree).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seq2SeqConfig {
    /// Source tokens, specials included.
    pub source_vocab: usize,
    /// Target tokens, specials included.
    pub target_vocab: usize,
    /// Width of both embeddings.
    pub embedding: usize,
    /// Recurrent cell of encoder and decoder.
    pub cell: CellKind,
    /// Units per direction of each encoder layer.
    pub encoder_units: usize,
    /// Stacked encoder layers.
    pub encoder_layers: usize,
    /// Whether each encoder layer reads the source both ways.
    pub bidirectional: bool,
    /// Units of the decoder's recurrent layer (and of its attentional state).
    pub decoder_units: usize,
    /// Attention score: `dot`, `general` or `additive`.
    pub attention: String,
    /// Feed each step's attentional state into the next step's input (Luong's input feeding).
    pub input_feeding: bool,
    /// Dropout rate on embeddings, between encoder layers and on the attentional state.
    pub dropout: f64,
}

impl Default for Seq2SeqConfig {
    /// The architecture of the G2P reference: embedding 64, 2-layer BiLSTM 2×128, LSTM(256)
    /// decoder, Luong `general` attention with input feeding.
    fn default() -> Self {
        Seq2SeqConfig {
            source_vocab: 0,
            target_vocab: 0,
            embedding: 64,
            cell: CellKind::Lstm,
            encoder_units: 128,
            encoder_layers: 2,
            bidirectional: true,
            decoder_units: 256,
            attention: "general".into(),
            input_feeding: true,
            dropout: 0.2,
        }
    }
}

/// Largest width or vocabulary a config may ask for: recur-nn's limit on any layer's width,
/// which the encoder and decoder layers are held to anyway.
const MAX_SIZE: usize = recur_nn::spec::MAX_WIDTH;

impl Seq2SeqConfig {
    /// Checks every size and rate, naming the field that is wrong.
    pub fn validate(&self) -> Result<AttentionKind, NnError> {
        let sizes = [
            ("source_vocab", self.source_vocab, 5),
            ("target_vocab", self.target_vocab, 5),
            ("embedding", self.embedding, 1),
            ("encoder_units", self.encoder_units, 1),
            ("encoder_layers", self.encoder_layers, 1),
            ("decoder_units", self.decoder_units, 1),
        ];
        for (name, v, min) in sizes {
            if v < min || v > MAX_SIZE {
                return Err(NnError::Config(format!(
                    "{name} must be in {min}..={MAX_SIZE}, got {v}"
                )));
            }
        }
        if self.encoder_layers > 16 {
            return Err(NnError::Config(format!(
                "encoder_layers must be at most 16, got {}",
                self.encoder_layers
            )));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(NnError::Config(format!(
                "dropout must be in [0, 1), got {}",
                self.dropout
            )));
        }
        let kind = AttentionKind::from_name(&self.attention).ok_or_else(|| {
            NnError::Config(format!(
                "unknown attention `{}` (use dot, general or additive)",
                self.attention
            ))
        })?;
        if kind == AttentionKind::Dot && self.memory_width() != self.decoder_units {
            return Err(NnError::Config(format!(
                "dot attention needs the encoder's output width ({}) to equal decoder_units ({})",
                self.memory_width(),
                self.decoder_units
            )));
        }
        Ok(kind)
    }

    /// Width of the encoder's outputs (the attention memory).
    pub fn memory_width(&self) -> usize {
        self.encoder_units * if self.bidirectional { 2 } else { 1 }
    }

    /// Whether the recurrent state carries a memory cell.
    pub fn has_cell_state(&self) -> bool {
        self.cell == CellKind::Lstm
    }

    /// The decoder step's input width: the embedding, plus the fed attentional state.
    pub fn decoder_input(&self) -> usize {
        self.embedding + if self.input_feeding { self.decoder_units } else { 0 }
    }

    /// The encoder as a recur stack over token ids.
    fn encoder_config(&self) -> ModelConfig {
        let mut layers = vec![LayerConfig::Embedding(EmbeddingConfig {
            input_dim: self.source_vocab,
            output_dim: self.embedding,
        })];
        for _ in 0..self.encoder_layers {
            if self.dropout > 0.0 {
                layers.push(LayerConfig::Dropout(DropoutConfig { rate: self.dropout }));
            }
            let options = RecurrentOptions {
                units: self.encoder_units,
                return_sequences: true,
                bidirectional: self.bidirectional,
                dropout: 0.0,
                recurrent_dropout: 0.0,
                unit_forget_bias: true,
            };
            layers.push(match self.cell {
                CellKind::Lstm => LayerConfig::Lstm(LstmConfig(options)),
                CellKind::Gru => LayerConfig::Gru(GruConfig(options)),
            });
        }
        ModelConfig {
            input_size: 1,
            layers,
            ..ModelConfig::default()
        }
    }
}

/// An encoder–decoder with attention; see the module docs.
#[derive(Clone)]
pub struct Seq2Seq<T: Float> {
    pub(crate) config: Seq2SeqConfig,
    pub(crate) encoder: Model<T>,
    /// `memory_width → k·decoder_units`, k = 2 when the state has a memory cell (h then c).
    pub(crate) bridge: Linear<T>,
    pub(crate) embedding: Embedding<T>,
    pub(crate) rnn: Box<dyn Stepping<T>>,
    pub(crate) attention: Attention<T>,
    /// `memory_width + decoder_units → decoder_units`, bias-free as in OpenNMT.
    pub(crate) linear_out: Linear<T>,
    /// `decoder_units → target_vocab`: the logits.
    pub(crate) generator: Linear<T>,
}

/// What the encoder leaves for the decoder (and, in training, for its own backward).
pub struct Encoded<T> {
    /// Encoder outputs `[batch, src_time, memory_width]`.
    pub memory: Seq<T>,
    /// The decoder's initial state.
    pub initial: recur_nn::RnnState<T>,
    /// Bridge input `[batch, memory_width]` and output (after tanh), kept for backward.
    pub(crate) summary: Vec<T>,
    pub(crate) bridged: Vec<T>,
    pub(crate) tape: Option<ModelTape<T>>,
}

impl<T: Float> Seq2Seq<T> {
    /// Prepares the encoder for inference at `precision` (see
    /// [`recur_nn::Model::prepare_inference`]). The decoder, stepped one token at a time (its
    /// recurrent layer, attention and projections), has no reduced kernel and runs in fp32.
    /// Returns the parts that run in fp32.
    pub fn prepare_inference(&mut self, precision: Precision) -> Vec<String> {
        let mut fallbacks = self.encoder.prepare_inference(precision);
        if precision != Precision::Fp32 {
            fallbacks.push("the decoder (stepped recurrent layer, attention, projections)".to_string());
        }
        fallbacks
    }

    /// A freshly initialised model (Glorot and orthogonal as the layers do; the generator
    /// and bridge Glorot-uniform with zero biases).
    pub fn new(config: Seq2SeqConfig, seed: u64) -> Result<Self, NnError> {
        Self::build(config, Some(seed))
    }

    /// A model of zeros to load weights into (no costly orthogonal initialisation).
    pub fn for_loading(config: Seq2SeqConfig) -> Result<Self, NnError> {
        Self::build(config, None)
    }

    fn build(config: Seq2SeqConfig, seed: Option<u64>) -> Result<Self, NnError> {
        let kind = config.validate()?;
        let encoder = match seed {
            Some(seed) => Model::new(config.encoder_config(), seed)?,
            None => Model::for_loading(config.encoder_config())?,
        };
        let mut rng = Rng::derive(seed.unwrap_or(0), 0x5E02);
        let (hd, mem, v) = (config.decoder_units, config.memory_width(), config.target_vocab);
        let k = if config.has_cell_state() { 2 } else { 1 };
        let bridge = Linear::glorot(mem, k * hd, true, &mut rng);
        let linear_out = Linear::glorot(mem + hd, hd, false, &mut rng);
        let generator = Linear::glorot(hd, v, true, &mut rng);
        let input = Shape::new(1, true);
        let embedding = Embedding::new(input, v, config.embedding, &mut rng);
        let step_input = Shape::new(config.decoder_input(), true);
        let options = RecurrentOptions {
            units: hd,
            return_sequences: true,
            bidirectional: false,
            dropout: 0.0,
            recurrent_dropout: 0.0,
            unit_forget_bias: true,
        };
        let rnn: Box<dyn Stepping<T>> = match (config.cell, seed.is_some()) {
            (CellKind::Lstm, true) => Box::new(Lstm::new(step_input, options, &mut rng)),
            (CellKind::Lstm, false) => Box::new(Lstm::zeroed(step_input, options)),
            (CellKind::Gru, true) => Box::new(Gru::new(step_input, options, &mut rng)),
            (CellKind::Gru, false) => Box::new(Gru::zeroed(step_input, options)),
        };
        let attention = Attention::new(kind, hd, mem, hd, &mut rng)?;
        Ok(Seq2Seq {
            config,
            encoder,
            bridge,
            embedding,
            rnn,
            attention,
            linear_out,
            generator,
        })
    }

    /// The architecture.
    pub fn config(&self) -> &Seq2SeqConfig {
        &self.config
    }

    /// The encoder stack (its tensors named without the `encoder.` prefix), for exporters.
    pub fn encoder(&self) -> &Model<T> {
        &self.encoder
    }

    /// Every tensor with its PyTorch-style name, in a stable order.
    pub fn named_params(&self) -> Vec<(String, &Param<T>)> {
        let mut out: Vec<(String, &Param<T>)> = self
            .encoder
            .named_params()
            .into_iter()
            .map(|(n, p)| (format!("encoder.{n}"), p))
            .collect();
        out.extend(self.bridge.named_params("bridge"));
        use recur_nn::Layer;
        out.extend(
            self.embedding
                .params()
                .into_iter()
                .map(|p| (format!("decoder.embedding.{}", p.name), p)),
        );
        out.extend(
            self.rnn
                .params()
                .into_iter()
                .map(|p| (format!("decoder.rnn.{}", p.name), p)),
        );
        out.extend(
            self.attention
                .params()
                .into_iter()
                .map(|p| (format!("decoder.attention.{}", p.name), p)),
        );
        out.extend(self.linear_out.named_params("decoder.linear_out"));
        out.extend(self.generator.named_params("generator"));
        out
    }

    /// Every tensor, mutable, in the order of [`Seq2Seq::named_params`].
    pub fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        use recur_nn::Layer;
        let mut out = self.encoder.params_mut();
        out.extend(self.bridge.params_mut());
        out.extend(self.embedding.params_mut());
        out.extend(self.rnn.params_mut());
        out.extend(self.attention.params_mut());
        out.extend(self.linear_out.params_mut());
        out.extend(self.generator.params_mut());
        out
    }

    /// Trainable values in all.
    pub fn parameter_count(&self) -> usize {
        self.named_params().iter().map(|(_, p)| p.len()).sum()
    }

    /// Sets every gradient to zero.
    pub fn zero_grad(&mut self) {
        for p in self.params_mut() {
            p.grad.iter_mut().for_each(|g| *g = T::ZERO);
        }
    }

    /// Runs the encoder over a batch of source ids (`[batch, src_time, 1]`) and bridges its
    /// final states into the decoder's initial state.
    pub fn encode(&self, source: Seq<T>, ctx: &mut Ctx) -> Result<Encoded<T>, NnError> {
        let batch = source.batch;
        let (mut outputs, tape) = self.encoder.forward(vec![source], ctx)?;
        let memory = outputs.pop().expect("one encoder output");
        let hd = self.config.decoder_units;
        let summary = self.final_states(&memory);
        let k = self.bridge.outputs();
        let mut bridged = self.bridge.forward(&summary);
        T::tanh_slice(&mut bridged);
        let mut initial = self.rnn.zero_state(batch);
        for b in 0..batch {
            let row = &bridged[b * k..(b + 1) * k];
            initial.h[b * hd..(b + 1) * hd].copy_from_slice(&row[..hd]);
            if self.config.has_cell_state() {
                initial.c[b * hd..(b + 1) * hd].copy_from_slice(&row[hd..]);
            }
        }
        Ok(Encoded {
            memory,
            initial,
            summary,
            bridged,
            tape: ctx.training.then_some(tape),
        })
    }

    /// Each sequence's final encoder state `[batch, memory_width]`: the forward direction at
    /// its last real step, the backward direction at its first.
    fn final_states(&self, memory: &Seq<T>) -> Vec<T> {
        let (mem, units) = (memory.features, self.config.encoder_units);
        let mut summary = vec![T::ZERO; memory.batch * mem];
        for b in 0..memory.batch {
            let len = memory.lengths[b];
            if len == 0 {
                continue;
            }
            let row = &mut summary[b * mem..(b + 1) * mem];
            row[..units].copy_from_slice(&memory.step(b, len - 1)[..units]);
            if self.config.bidirectional {
                row[units..].copy_from_slice(&memory.step(b, 0)[units..]);
            }
        }
        summary
    }

    /// Back-propagates through [`Seq2Seq::encode`] given the gradients reaching the memory
    /// and the decoder's initial state.
    pub fn encode_backward(&mut self, encoded: Encoded<T>, mut d_memory: Seq<T>, d_initial: &recur_nn::RnnState<T>) {
        let Encoded {
            memory,
            summary,
            bridged,
            tape,
            ..
        } = encoded;
        let (batch, mem, hd, units) = (
            memory.batch,
            memory.features,
            self.config.decoder_units,
            self.config.encoder_units,
        );
        let k = self.bridge.outputs();
        // d(tanh) of the bridge, laid out like its output [h | c].
        let mut dz = vec![T::ZERO; batch * k];
        for b in 0..batch {
            for j in 0..k {
                let g = if j < hd {
                    d_initial.h[b * hd + j]
                } else {
                    d_initial.c[b * hd + j - hd]
                };
                let y = bridged[b * k + j];
                dz[b * k + j] = g * (T::ONE - y * y);
            }
        }
        let mut d_summary = vec![T::ZERO; batch * mem];
        self.bridge.backward(&summary, &dz, &mut d_summary);
        for b in 0..batch {
            let len = memory.lengths[b];
            if len == 0 {
                continue;
            }
            let row = &d_summary[b * mem..(b + 1) * mem];
            add(&mut d_memory.step_mut(b, len - 1)[..units], &row[..units]);
            if self.config.bidirectional {
                add(&mut d_memory.step_mut(b, 0)[units..], &row[units..]);
            }
        }
        if let Some(tape) = tape {
            self.encoder.backward(tape, vec![d_memory], false);
        }
    }
}

/// `a += b`, element by element.
pub(crate) fn add<T: Float>(a: &mut [T], b: &[T]) {
    a.iter_mut().zip(b).for_each(|(a, &b)| *a += b);
}
