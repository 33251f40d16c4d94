//! Models as data: a JSON config a Keras user would recognise. A stack is a list of layers,
//! `{"input_size": 3, "layers": [{"type": "conv1d", "filters": 32, "kernel_size": 5,
//! "padding": "same", "activation": "relu"}, {"type": "lstm", "units": 128}, {"type": "dense",
//! "units": 345}]}`; any other graph names its inputs and nodes as Keras's functional API does
//! (see [`crate::graph`]): `{"inputs": [{"name": "x", "size": 3}], "nodes": [{"name": "a",
//! "type": "dense", "units": 4, "inputs": ["x"]}, …], "outputs": ["a"]}`.

use crate::activation::ActivationConfig;
use crate::batch_norm::BatchNormConfig;
use crate::conv1d::Conv1dConfig;
use crate::conv2d::Conv2dConfig;
use crate::conv3d::Conv3dConfig;
use crate::dense::DenseConfig;
use crate::dropout::DropoutConfig;
use crate::embedding::EmbeddingConfig;
use crate::gated::GatedActivationConfig;
use crate::layer::Layer;
use crate::layer_norm::LayerNormConfig;
use crate::merge::Merge;
use crate::minirocket::MiniRocketOptions;
use crate::pool2d::{AvgPool2dConfig, GlobalAvgPool2dConfig, GlobalMaxPool2dConfig, MaxPool2dConfig};
use crate::pool3d::{AvgPool3dConfig, GlobalAvgPool3dConfig, GlobalMaxPool3dConfig, MaxPool3dConfig};
use crate::pooling::{GlobalMaxPoolConfig, GlobalMeanPoolConfig, GlobalSumPoolConfig};
use crate::recurrent::{GruConfig, LstmConfig, SimpleRnnConfig};
use crate::repeat_vector::RepeatVectorConfig;
use crate::spec::LayerSpec;
use crate::time_distributed::TimeDistributedConfig;
use recur_core::{Float, Rng, Shape};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A whole model: a stack (`input_size` or `input_shape`, and `layers`) or a graph (`inputs`,
/// `nodes`, `outputs`), and (for classifiers) class names.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// Features per input step of a stack's one input.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub input_size: usize,
    /// A stack's input step as `[height, width, channels]` (a sequence of frames, channels
    /// last as Keras stores them) or `[features]`; instead of `input_size`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_shape: Vec<usize>,
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

fn is_zero(v: &usize) -> bool {
    *v == 0
}

/// One input of a graph model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    /// Name that nodes refer to.
    pub name: String,
    /// Features per step (or per vector).
    pub size: usize,
    /// False for one vector per sequence (static features) instead of a sequence.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub sequential: bool,
}

fn yes() -> bool {
    true
}
fn is_true(v: &bool) -> bool {
    *v
}

/// What a node computes.
#[derive(Clone, Debug, PartialEq)]
pub enum NodeOp {
    /// A layer with its own weights.
    Layer(LayerConfig),
    /// A layer-free combination of several inputs.
    Merge(Merge),
    /// Another node's layer (same weights) applied to this node's inputs.
    Share(String),
}

/// One node of a graph: a name, its inputs and what it computes. In JSON the op's fields sit
/// beside `name`, `inputs` and `share`, as a Keras layer's config sits beside its name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "Value")]
pub struct NodeConfig {
    /// Unique name; the prefix of the node's tensors in checkpoints.
    pub name: String,
    /// Names of the inputs or nodes feeding it (empty: the node before it).
    pub inputs: Vec<String>,
    /// What it computes.
    pub op: NodeOp,
}

impl TryFrom<Value> for NodeConfig {
    type Error = String;

    fn try_from(value: Value) -> std::result::Result<Self, String> {
        let Value::Object(mut fields) = value else {
            return Err("a node must be a JSON object".into());
        };
        let name = match fields.remove("name") {
            Some(Value::String(s)) => s,
            Some(_) => return Err("a node's `name` must be a string".into()),
            None => return Err("a node needs a `name`".into()),
        };
        let at = |e: String| format!("node `{name}`: {e}");
        let inputs = match fields.remove("inputs") {
            None => Vec::new(),
            Some(Value::String(s)) => vec![s],
            Some(v) => serde_json::from_value(v).map_err(|e| at(format!("`inputs`: {e}")))?,
        };
        let op = if let Some(shared) = fields.remove("share") {
            let Value::String(shared) = shared else {
                return Err(at("`share` must name a node".into()));
            };
            if let Some(extra) = fields.keys().next() {
                return Err(at(format!(
                    "a node that shares `{shared}`'s layer takes no settings of its own (found `{extra}`)"
                )));
            }
            NodeOp::Share(shared)
        } else {
            let kind = fields.get("type").and_then(Value::as_str).unwrap_or_default();
            match Merge::from_type(kind, inputs.len()) {
                Some(merge) if fields.len() == 1 => NodeOp::Merge(merge),
                Some(_) => return Err(at(format!("`{kind}` takes no settings besides `inputs`"))),
                None => NodeOp::Layer(serde_json::from_value(Value::Object(fields)).map_err(|e| at(e.to_string()))?),
            }
        };
        Ok(NodeConfig { name, inputs, op })
    }
}

impl From<NodeConfig> for Value {
    fn from(node: NodeConfig) -> Value {
        let mut fields = Map::new();
        fields.insert("name".into(), Value::String(node.name));
        if !node.inputs.is_empty() {
            fields.insert("inputs".into(), node.inputs.into_iter().map(Value::String).collect());
        }
        match node.op {
            NodeOp::Share(other) => {
                fields.insert("share".into(), Value::String(other));
            }
            NodeOp::Merge(m) => {
                fields.insert("type".into(), Value::String(m.kind().into()));
            }
            NodeOp::Layer(layer) => {
                if let Ok(Value::Object(layer_fields)) = serde_json::to_value(layer) {
                    fields.extend(layer_fields);
                }
            }
        }
        Value::Object(fields)
    }
}

/// Declares [`LayerConfig`], the serde tag users write, from the list of layer types and their
/// settings; every method is one line of delegation to the layer's own [`LayerSpec`], so a
/// layer is its own file plus one line here, and no match can miss it.
macro_rules! layer_types {
    ($($(#[$doc:meta])* $variant:ident($settings:ty),)*) => {
        /// One layer's settings; `type` selects the layer.
        #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
        pub enum LayerConfig {
            $($(#[$doc])* $variant($settings),)*
        }

        impl LayerConfig {
            /// The settings of whichever layer this is.
            fn spec_kind(&self) -> &'static str {
                match self {
                    $(LayerConfig::$variant(c) => c.kind(),)*
                }
            }

            fn spec_output_shape(&self, input: Shape) -> std::result::Result<Shape, String> {
                match self {
                    $(LayerConfig::$variant(c) => c.output_shape(input),)*
                }
            }

            /// Scalars the layer will hold (weights and buffers) for this input.
            pub fn parameter_count(&self, input: Shape) -> u64 {
                match self {
                    $(LayerConfig::$variant(c) => c.parameter_count(input),)*
                }
            }

            /// How a model summary names the layer.
            pub fn summary_kind(&self) -> String {
                match self {
                    $(LayerConfig::$variant(c) => c.summary_kind(),)*
                }
            }

            /// True for a layer that takes image frames.
            pub fn takes_frames(&self) -> bool {
                match self {
                    $(LayerConfig::$variant(c) => c.takes_frames(),)*
                }
            }

            /// True for a layer that works on each step on its own.
            pub fn applies_per_step(&self) -> bool {
                match self {
                    $(LayerConfig::$variant(c) => c.applies_per_step(),)*
                }
            }

            /// Builds the layer with fresh weights drawn from `rng`, or (`None`) without
            /// spending time on weights that a checkpoint is about to overwrite.
            pub fn build<T: Float>(&self, input: Shape, rng: Option<&mut Rng>) -> Box<dyn Layer<T>> {
                match (self, rng) {
                    $(
                        (LayerConfig::$variant(c), Some(rng)) => c.build(input, rng),
                        (LayerConfig::$variant(c), None) => c.build_for_loading(input),
                    )*
                }
            }
        }
    };
}

layer_types! {
    /// Fully connected layer.
    Dense(DenseConfig),
    /// 1D convolution over time.
    Conv1d(Conv1dConfig),
    /// 2D convolution over a frame (PyTorch `Conv2d`, Keras `Conv2D`).
    Conv2d(Conv2dConfig),
    /// Max over windows of a frame.
    MaxPool2d(MaxPool2dConfig),
    /// Mean over windows of a frame.
    AvgPool2d(AvgPool2dConfig),
    /// 3D convolution over a clip's time, rows and columns (PyTorch `Conv3d`, Keras `Conv3D`).
    Conv3d(Conv3dConfig),
    /// Max over windows of a clip's time, rows and columns.
    MaxPool3d(MaxPool3dConfig),
    /// Mean over windows of a clip's time, rows and columns.
    AvgPool3d(AvgPool3dConfig),
    /// Mean of each channel over a clip's real steps and pixels.
    GlobalAvgPool3d(GlobalAvgPool3dConfig),
    /// Max of each channel over a clip's real steps and pixels.
    GlobalMaxPool3d(GlobalMaxPool3dConfig),
    /// Mean of each channel over a frame.
    GlobalAvgPool2d(GlobalAvgPool2dConfig),
    /// Max of each channel over a frame.
    GlobalMaxPool2d(GlobalMaxPool2dConfig),
    /// Batch normalisation over features, or over the channels of frames (statistics skip
    /// padding).
    BatchNorm(BatchNormConfig),
    /// Layer normalisation over each step's features.
    LayerNorm(LayerNormConfig),
    /// Dropout on every value.
    Dropout(DropoutConfig),
    /// Token-id lookup table.
    Embedding(EmbeddingConfig),
    /// Stand-alone activation.
    Activation(ActivationConfig),
    /// Masked max over time.
    GlobalMaxPool(GlobalMaxPoolConfig),
    /// Masked mean over time.
    GlobalMeanPool(GlobalMeanPoolConfig),
    /// Masked sum over time.
    GlobalSumPool(GlobalSumPoolConfig),
    /// LSTM layer.
    Lstm(LstmConfig),
    /// GRU layer (PyTorch's formulation).
    Gru(GruConfig),
    /// Elman RNN layer (tanh).
    SimpleRnn(SimpleRnnConfig),
    /// MiniRocket's fixed random-convolution features of a whole sequence (see
    /// [`crate::minirocket`]).
    Minirocket(MiniRocketOptions),
    /// A vector repeated `n` times into a sequence (Keras `RepeatVector`).
    RepeatVector(RepeatVectorConfig),
    /// WaveNet's gate: `tanh(a) · sigmoid(b)` of the two halves `[a, b]` of each step.
    GatedActivation(GatedActivationConfig),
    /// A layer applied to every step on its own (Keras `TimeDistributed`); see
    /// [`crate::time_distributed`].
    TimeDistributed(TimeDistributedConfig),
}

impl LayerConfig {
    /// The config's `type` string (a `time_distributed` layer's is its inner layer's).
    pub fn kind(&self) -> &'static str {
        self.spec_kind()
    }

    /// Validates settings against the input shape and returns the output shape.
    pub fn output_shape(&self, input: Shape) -> std::result::Result<Shape, String> {
        if let (Some(f), false) = (input.frame, self.takes_frames()) {
            return Err(format!(
                "takes a vector per step, but its input is a {}×{}×{} frame: reduce it first (global_avg_pool2d, global_max_pool2d)",
                f.height, f.width, f.channels
            ));
        }
        self.spec_output_shape(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Plan;

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
        assert_eq!(plan.nodes[3].shape, Shape::new(128, false));
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

    /// `units` 2^63 in a bidirectional second layer made `2 × units` wrap around to 0 and
    /// panicked in the initialiser. Every size of every layer, first or later, is refused
    /// beyond recur's limit with its name, before anything is built.
    #[test]
    fn huge_sizes_in_any_layer_are_refused_before_building() {
        let huge = "9223372036854775808";
        let seq = r#"{"type": "gru", "units": 4, "return_sequences": true}"#;
        let vector = r#"{"type": "gru", "units": 4}"#;
        let frames = r#"{"type": "time_distributed", "layer": {"type": "conv2d", "filters": 2, "kernel_size": 1}}"#;
        let per_frame = |layer: String| format!(r#"{{"type": "time_distributed", "layer": {layer}}}"#);
        let cases: [(&str, &str, String); 13] = [
            (
                "sequence",
                seq,
                format!(r#"{{"type": "lstm", "units": {huge}, "bidirectional": true}}"#),
            ),
            (
                "sequence",
                seq,
                format!(r#"{{"type": "gru", "units": {huge}, "return_sequences": true}}"#),
            ),
            (
                "sequence",
                seq,
                format!(r#"{{"type": "simple_rnn", "units": {huge}, "bidirectional": true}}"#),
            ),
            ("sequence", seq, format!(r#"{{"type": "dense", "units": {huge}}}"#)),
            (
                "sequence",
                seq,
                format!(r#"{{"type": "conv1d", "filters": {huge}, "kernel_size": 3}}"#),
            ),
            (
                "sequence",
                seq,
                format!(r#"{{"type": "conv1d", "filters": 2, "kernel_size": {huge}}}"#),
            ),
            (
                "sequence",
                seq,
                format!(r#"{{"type": "conv1d", "filters": 2, "kernel_size": 3, "dilation_rate": {huge}}}"#),
            ),
            (
                "sequence",
                vector,
                format!(r#"{{"type": "repeat_vector", "n": {huge}}}"#),
            ),
            (
                "tokens",
                r#"{"type": "dropout", "rate": 0}"#,
                format!(r#"{{"type": "embedding", "input_dim": {huge}, "output_dim": 2}}"#),
            ),
            (
                "tokens",
                r#"{"type": "dropout", "rate": 0}"#,
                format!(r#"{{"type": "embedding", "input_dim": 5, "output_dim": {huge}}}"#),
            ),
            (
                "frames",
                frames,
                per_frame(format!(r#"{{"type": "conv2d", "filters": {huge}, "kernel_size": 1}}"#)),
            ),
            (
                "frames",
                frames,
                per_frame(format!(
                    r#"{{"type": "conv2d", "filters": 2, "kernel_size": [1, {huge}]}}"#
                )),
            ),
            (
                "frames",
                frames,
                per_frame(format!(r#"{{"type": "max_pool2d", "pool_size": {huge}}}"#)),
            ),
        ];
        for (input, first, second) in cases {
            let input = match input {
                "sequence" => r#""input_size": 3"#,
                "tokens" => r#""input_size": 1"#,
                _ => r#""input_shape": [8, 8, 1]"#,
            };
            let text = format!(r#"{{{input}, "layers": [{first}, {second}]}}"#);
            let err = ModelConfig::from_json(&text).unwrap_err().to_string();
            assert!(
                err.contains(&format!("{huge} is more than recur allows")) && err.contains("layers[1]"),
                "{text}: {err}"
            );
        }
    }
}
