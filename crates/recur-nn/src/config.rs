//! Models as data: a JSON config a Keras user would recognise. A stack is a list of layers,
//! `{"input_size": 3, "layers": [{"type": "conv1d", "filters": 32, "kernel_size": 5,
//! "padding": "same", "activation": "relu"}, {"type": "lstm", "units": 128}, {"type": "dense",
//! "units": 345}]}`; any other graph names its inputs and nodes as Keras's functional API does
//! (see [`crate::graph`]): `{"inputs": [{"name": "x", "size": 3}], "nodes": [{"name": "a",
//! "type": "dense", "units": 4, "inputs": ["x"]}, …], "outputs": ["a"]}`.

use crate::activation::{Activation, ActivationLayer};
use crate::conv1d::{Conv1d, ConvGeometry, Padding};
use crate::error::{NnError, Result};
use crate::gated::GatedActivation;
use crate::graph::{InputConfig, NodeConfig, Plan};
use crate::layer::Layer;
use crate::minirocket::{MiniRocket, MiniRocketOptions};
use crate::pooling::{GlobalPool, PoolMode};
use crate::recurrent::{Gru, Lstm, RecurrentOptions, SimpleRnn};
use crate::repeat_vector::RepeatVector;
use crate::{BatchNorm, Dense, Dropout, Embedding, LayerNorm};
use recur_core::{Float, Rng, Shape};
use serde::{Deserialize, Serialize};

/// A whole model: a stack (`input_size` and `layers`) or a graph (`inputs`, `nodes`,
/// `outputs`), and (for classifiers) class names.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Features per input step of a stack's one input.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub input_size: usize,
    /// A stack's layers, applied in order (nodes named `layers.{i}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layers: Vec<LayerConfig>,
    /// A graph's inputs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<InputConfig>,
    /// A graph's nodes, in any order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<NodeConfig>,
    /// The nodes whose values a graph returns (default: its last node).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
    /// Names of the output classes, for classifiers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
    /// What a task needs to feed the model the way it was trained (input encoding,
    /// normalisation, …), kept with the model.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

fn one() -> usize {
    1
}
fn is_zero(v: &usize) -> bool {
    *v == 0
}
fn bn_epsilon() -> f64 {
    1e-5
}
fn bn_momentum() -> f64 {
    0.1
}

/// One layer's settings; `type` selects the layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerConfig {
    /// Fully connected layer.
    Dense {
        /// Output width.
        units: usize,
        /// Fused activation.
        #[serde(default)]
        activation: Activation,
    },
    /// 1D convolution over time.
    Conv1d {
        /// Output channels.
        filters: usize,
        /// Taps.
        kernel_size: usize,
        /// Step between outputs.
        #[serde(default = "one")]
        strides: usize,
        /// Spacing between taps.
        #[serde(default = "one")]
        dilation_rate: usize,
        /// `valid`, `same` or `causal`.
        #[serde(default)]
        padding: Padding,
        /// Fused activation.
        #[serde(default)]
        activation: Activation,
    },
    /// Batch normalisation over features (statistics skip padding).
    BatchNorm {
        /// Added to the variance.
        #[serde(default = "bn_epsilon")]
        epsilon: f64,
        /// Running-statistics update rate (PyTorch's convention).
        #[serde(default = "bn_momentum")]
        momentum: f64,
    },
    /// Layer normalisation over each step's features.
    LayerNorm {
        /// Added to the variance.
        #[serde(default = "bn_epsilon")]
        epsilon: f64,
    },
    /// Dropout on every value.
    Dropout {
        /// Probability of zeroing a value.
        rate: f64,
    },
    /// Token-id lookup table.
    Embedding {
        /// Vocabulary size.
        input_dim: usize,
        /// Vector width.
        output_dim: usize,
    },
    /// Stand-alone activation.
    Activation {
        /// The function.
        activation: Activation,
    },
    /// Masked max over time.
    GlobalMaxPool {},
    /// Masked mean over time.
    GlobalMeanPool {},
    /// Masked sum over time.
    GlobalSumPool {},
    /// LSTM layer.
    Lstm(RecurrentOptions),
    /// GRU layer (PyTorch's formulation).
    Gru(RecurrentOptions),
    /// Elman RNN layer (tanh).
    SimpleRnn(RecurrentOptions),
    /// MiniRocket's fixed random-convolution features of a whole sequence (see
    /// [`crate::minirocket`]).
    Minirocket(MiniRocketOptions),
    /// A vector repeated `n` times into a sequence (Keras `RepeatVector`).
    RepeatVector {
        /// Steps of the output.
        n: usize,
    },
    /// WaveNet's gate: `tanh(a) · sigmoid(b)` of the two halves `[a, b]` of each step.
    GatedActivation {},
    /// A layer applied to every step on its own (Keras `TimeDistributed`): dense, activation,
    /// dropout, layer_norm, batch_norm, gated_activation or embedding, which already work per
    /// step, so the wrapper is the inner layer itself (same tensors, same names).
    TimeDistributed {
        /// The per-step layer.
        layer: Box<LayerConfig>,
    },
}

impl ModelConfig {
    /// Parses a config from JSON text, naming what is wrong.
    pub fn from_json(text: &str) -> Result<Self> {
        let config: ModelConfig = serde_json::from_str(text).map_err(|e| NnError::Config(e.to_string()))?;
        Plan::new(&config)?;
        Ok(config)
    }

    /// The shape of the model's only input, checking the whole config.
    pub fn input_shape(&self) -> Result<Shape> {
        match Plan::new(self)?.inputs.as_slice() {
            [(_, one)] => Ok(*one),
            many => Err(NnError::Config(format!(
                "the model has {} inputs where one is needed",
                many.len()
            ))),
        }
    }

    /// The shape of the model's only output, checking the whole config.
    pub fn output_shape(&self) -> Result<Shape> {
        let plan = Plan::new(self)?;
        match plan.output_shapes().as_slice() {
            [one] => Ok(*one),
            many => Err(NnError::Config(format!(
                "the model has {} outputs where one is needed",
                many.len()
            ))),
        }
    }
}

impl LayerConfig {
    /// The config's `type` string.
    pub fn kind(&self) -> &'static str {
        match self {
            LayerConfig::Dense { .. } => "dense",
            LayerConfig::Conv1d { .. } => "conv1d",
            LayerConfig::BatchNorm { .. } => "batch_norm",
            LayerConfig::LayerNorm { .. } => "layer_norm",
            LayerConfig::Dropout { .. } => "dropout",
            LayerConfig::Embedding { .. } => "embedding",
            LayerConfig::Activation { .. } => "activation",
            LayerConfig::GlobalMaxPool {} => "global_max_pool",
            LayerConfig::GlobalMeanPool {} => "global_mean_pool",
            LayerConfig::GlobalSumPool {} => "global_sum_pool",
            LayerConfig::Lstm(_) => "lstm",
            LayerConfig::Gru(_) => "gru",
            LayerConfig::SimpleRnn(_) => "simple_rnn",
            LayerConfig::Minirocket(_) => "minirocket",
            LayerConfig::RepeatVector { .. } => "repeat_vector",
            LayerConfig::GatedActivation {} => "gated_activation",
            LayerConfig::TimeDistributed { layer } => layer.kind(),
        }
    }

    /// Validates settings against the input shape and returns the output shape.
    pub fn output_shape(&self, input: Shape) -> std::result::Result<Shape, String> {
        let positive = |name: &str, v: usize| {
            if v == 0 {
                Err(format!("{name} must be at least 1"))
            } else {
                Ok(())
            }
        };
        let rate = |name: &str, v: f64| {
            if (0.0..1.0).contains(&v) {
                Ok(())
            } else {
                Err(format!("{name} must be in [0, 1), got {v}"))
            }
        };
        let needs_time = || {
            if input.sequential {
                Ok(())
            } else {
                Err("needs a sequence input, but the previous layer returns one vector per sequence".to_string())
            }
        };
        match self {
            LayerConfig::Dense { units, .. } => {
                positive("units", *units)?;
                Ok(Shape {
                    features: *units,
                    sequential: input.sequential,
                })
            }
            LayerConfig::Conv1d {
                filters,
                kernel_size,
                strides,
                dilation_rate,
                ..
            } => {
                needs_time()?;
                positive("filters", *filters)?;
                positive("kernel_size", *kernel_size)?;
                positive("strides", *strides)?;
                positive("dilation_rate", *dilation_rate)?;
                // Beyond this a convolution's span alone would overflow or run for hours.
                let most = crate::graph::MAX_WIDTH;
                for (name, v) in [
                    ("kernel_size", kernel_size),
                    ("strides", strides),
                    ("dilation_rate", dilation_rate),
                ] {
                    if *v > most {
                        return Err(format!("{name} {v} is more than recur allows ({most})"));
                    }
                }
                Ok(Shape {
                    features: *filters,
                    sequential: true,
                })
            }
            LayerConfig::BatchNorm { epsilon, momentum } => {
                if *epsilon <= 0.0 || !(0.0..=1.0).contains(momentum) {
                    return Err("epsilon must be positive and momentum in [0, 1]".into());
                }
                Ok(input)
            }
            LayerConfig::LayerNorm { epsilon } if *epsilon <= 0.0 => Err("epsilon must be positive".into()),
            LayerConfig::LayerNorm { .. } | LayerConfig::Activation { .. } => Ok(input),
            LayerConfig::Dropout { rate: r } => rate("rate", *r).map(|_| input),
            LayerConfig::Embedding { input_dim, output_dim } => {
                positive("input_dim", *input_dim)?;
                positive("output_dim", *output_dim)?;
                if input.features != 1 {
                    return Err(format!(
                        "takes one token id per step, but its input has {} features",
                        input.features
                    ));
                }
                Ok(Shape {
                    features: *output_dim,
                    sequential: input.sequential,
                })
            }
            LayerConfig::GlobalMaxPool {} | LayerConfig::GlobalMeanPool {} | LayerConfig::GlobalSumPool {} => {
                needs_time()?;
                Ok(Shape {
                    features: input.features,
                    sequential: false,
                })
            }
            LayerConfig::Lstm(o) | LayerConfig::Gru(o) | LayerConfig::SimpleRnn(o) => {
                needs_time()?;
                positive("units", o.units)?;
                rate("dropout", o.dropout)?;
                rate("recurrent_dropout", o.recurrent_dropout)?;
                let dirs = if o.bidirectional { 2 } else { 1 };
                Ok(Shape {
                    features: o.units * dirs,
                    sequential: o.return_sequences,
                })
            }
            LayerConfig::Minirocket(o) => {
                needs_time()?;
                positive("input features", input.features)?;
                o.check()?;
                Ok(Shape {
                    features: o.output_features(),
                    sequential: false,
                })
            }
            LayerConfig::RepeatVector { n } => {
                positive("n", *n)?;
                if *n > crate::graph::MAX_WIDTH {
                    return Err(format!(
                        "n {n} is more steps than recur repeats ({})",
                        crate::graph::MAX_WIDTH
                    ));
                }
                if input.sequential {
                    return Err("repeats one vector per sequence, but its input is a sequence".into());
                }
                Ok(Shape {
                    features: input.features,
                    sequential: true,
                })
            }
            LayerConfig::GatedActivation {} => {
                if !input.features.is_multiple_of(2) {
                    return Err(format!(
                        "splits each step into two halves, but its input has {} features",
                        input.features
                    ));
                }
                Ok(Shape {
                    features: input.features / 2,
                    sequential: input.sequential,
                })
            }
            LayerConfig::TimeDistributed { layer } => match **layer {
                LayerConfig::Dense { .. }
                | LayerConfig::Activation { .. }
                | LayerConfig::Dropout { .. }
                | LayerConfig::LayerNorm { .. }
                | LayerConfig::BatchNorm { .. }
                | LayerConfig::GatedActivation {}
                | LayerConfig::Embedding { .. } => layer.output_shape(input),
                ref other => Err(format!(
                    "time_distributed wraps a per-step layer (dense, activation, dropout, layer_norm, \
                     batch_norm, gated_activation, embedding), not {}",
                    other.kind()
                )),
            },
        }
    }

    /// Builds the layer with fresh weights drawn from `rng`, or (`None`) without spending time
    /// on weights that a checkpoint is about to overwrite.
    pub fn build<T: Float>(&self, input: Shape, rng: Option<&mut Rng>) -> Box<dyn Layer<T>> {
        let Some(rng) = rng else {
            return match self {
                LayerConfig::Lstm(o) => Box::new(Lstm::<T>::zeroed(input, o.clone())),
                LayerConfig::Gru(o) => Box::new(Gru::<T>::zeroed(input, o.clone())),
                LayerConfig::SimpleRnn(o) => Box::new(SimpleRnn::<T>::zeroed(input, o.clone())),
                LayerConfig::TimeDistributed { layer } => layer.build(input, None),
                // The other initialisers are linear in the weights: as cheap as zeroing.
                other => other.build(input, Some(&mut Rng::new(0))),
            };
        };
        match self {
            LayerConfig::Dense { units, activation } => Box::new(Dense::new(input, *units, *activation, rng)),
            LayerConfig::Conv1d {
                filters,
                kernel_size,
                strides,
                dilation_rate,
                padding,
                activation,
            } => {
                let g = ConvGeometry {
                    kernel_size: *kernel_size,
                    strides: *strides,
                    dilation_rate: *dilation_rate,
                    padding: *padding,
                };
                Box::new(Conv1d::new(input, *filters, g, *activation, rng))
            }
            LayerConfig::BatchNorm { epsilon, momentum } => Box::new(BatchNorm::new(input, *epsilon, *momentum)),
            LayerConfig::LayerNorm { epsilon } => Box::new(LayerNorm::new(input, *epsilon)),
            LayerConfig::Dropout { rate } => Box::new(Dropout::new(input, *rate)),
            LayerConfig::Embedding { input_dim, output_dim } => {
                Box::new(Embedding::new(input, *input_dim, *output_dim, rng))
            }
            LayerConfig::Activation { activation } => Box::new(ActivationLayer::new(*activation, input)),
            LayerConfig::GlobalMaxPool {} => Box::new(GlobalPool::new(input, PoolMode::Max)),
            LayerConfig::GlobalMeanPool {} => Box::new(GlobalPool::new(input, PoolMode::Mean)),
            LayerConfig::GlobalSumPool {} => Box::new(GlobalPool::new(input, PoolMode::Sum)),
            LayerConfig::Lstm(o) => Box::new(Lstm::new(input, o.clone(), rng)),
            LayerConfig::Gru(o) => Box::new(Gru::new(input, o.clone(), rng)),
            LayerConfig::SimpleRnn(o) => Box::new(SimpleRnn::new(input, o.clone(), rng)),
            LayerConfig::Minirocket(o) => Box::new(MiniRocket::new(input, o)),
            LayerConfig::RepeatVector { n } => Box::new(RepeatVector::new(input, *n)),
            LayerConfig::GatedActivation {} => Box::new(GatedActivation::new(input)),
            LayerConfig::TimeDistributed { layer } => layer.build(input, Some(rng)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let c = ModelConfig::from_json(
            r#"{"input_size": 3, "layers": [{"type": "conv1d", "filters": 32, "kernel_size": 5, "strides": 1,
            "padding": "same", "activation": "relu"}, {"type": "batch_norm", "epsilon": 1e-5},
            {"type": "lstm", "units": 128, "return_sequences": true}, {"type": "gru", "units": 64,
            "bidirectional": true}, {"type": "dense", "units": 345}]}"#,
        )
        .unwrap();
        let plan = Plan::new(&c).unwrap();
        assert_eq!(
            plan.nodes[3].shape,
            Shape {
                features: 128,
                sequential: false
            }
        );
        assert_eq!(c.output_shape().unwrap().features, 345);
    }

    #[test]
    fn bad_configs_are_named() {
        let err = |s: &str| ModelConfig::from_json(s).unwrap_err().to_string();
        assert!(
            err(r#"{"input_size": 3, "layers": [{"type": "transformer"}]}"#).contains("unknown variant `transformer`")
        );
        assert!(err(r#"{"input_size": 3, "layers": [{"type": "lstm"}]}"#).contains("missing field `units`"));
        assert!(
            err(r#"{"input_size": 3, "layers": [{"type": "lstm", "units": 4, "unit": 3}]}"#)
                .contains("unknown field `unit`")
        );
        assert!(err(r#"{"input_size": 3, "layers": [{"type": "lstm", "units": 4}, {"type": "conv1d", "filters": 2, "kernel_size": 3}]}"#)
            .contains("layers[1] (conv1d): needs a sequence input"));
        assert!(
            err(r#"{"input_size": 3, "layers": [{"type": "dropout", "rate": 1.5}]}"#)
                .contains("rate must be in [0, 1)")
        );
        assert!(err(r#"{"input_size": 3, "layers": []}"#).contains("at least one layer"));
        let minirocket = |options: &str| {
            err(&format!(
                r#"{{"input_size": 3, "layers": [{{"type": "minirocket", {options}}}, {{"type": "dense", "units": 2}}]}}"#
            ))
        };
        assert!(minirocket(r#""length": 10, "features": 50"#).contains("features must be at least 84"));
        assert!(minirocket(r#""length": 0"#).contains("length must be at least 1"));
        assert!(minirocket(r#""length": 99999999999"#).contains("more steps than recur allows"));
        assert!(minirocket(r#""length": 10, "features": 99999999999"#).contains("features 99999999999 is more"));
        assert!(minirocket(r#""length": 10, "pooling": "max""#).contains("unknown variant `max`"));
        assert!(minirocket(r#""features": 84"#).contains("missing field `length`"));
    }
}
