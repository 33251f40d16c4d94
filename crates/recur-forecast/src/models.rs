//! Forecasting model presets, as model configs, and how to read a model's output.
//!
//! - `linear`: one weight per (day of the window, feature, horizon) — a linear autoregression.
//! - `seq2vec`: an LSTM reads the window; a dense layer maps its last state to all horizons.
//! - `seq2seq`: a GRU (64 units unless told otherwise) with a dense layer on every step, each
//!   step forecasting the days after it (trained on all steps, as Géron's book recommends;
//!   forecasts use the last step).
//! - `conv-gru`: a causal Conv1D front end feeding a sequence-to-sequence GRU.
//! - `wavenet`: WaveNet (van den Oord et al., 2016) as a graph: a 1×1 input conv, then blocks of
//!   gated dilated causal convolutions (rates 1, 2, 4, 8, twice), each with a residual
//!   connection to the next block and a 1×1 skip connection; the skips are summed, then ReLU,
//!   1×1 conv, ReLU, 1×1 conv to the horizon.
//! - `dilated-cnn`: the book's simplified WaveNet, a stack of causal dilated Conv1D layers with
//!   ReLU (rates 1, 2, 4, 8, twice) and a 1×1 output conv.

use crate::features::OutputKind;
use recur_nn::{ModelConfig, NnError, Result};
use serde_json::json;

/// Names of the presets, the default first.
pub const PRESETS: [&str; 6] = ["seq2seq", "linear", "seq2vec", "conv-gru", "wavenet", "dilated-cnn"];

/// The presets with a recurrent layer, whose units can be set.
pub const RECURRENT_PRESETS: [&str; 3] = ["seq2seq", "seq2vec", "conv-gru"];

/// Units of a recurrent preset's LSTM or GRU unless told otherwise.
pub const DEFAULT_UNITS: usize = 64;

/// Channels of the WaveNet preset's residual and skip paths.
const WAVENET_CHANNELS: usize = 32;
/// Dilation rates of its blocks: the receptive field covers 2·15 + 1 = 31 days.
const WAVENET_RATES: [usize; 8] = [1, 2, 4, 8, 1, 2, 4, 8];

/// The config of a preset for `inputs` features per day; `units` sizes the recurrent layer of
/// the [`RECURRENT_PRESETS`] and is refused by the others.
pub fn preset(name: &str, inputs: usize, window: usize, horizon: usize, units: Option<usize>) -> Result<ModelConfig> {
    if units.is_some() && PRESETS.contains(&name) && !RECURRENT_PRESETS.contains(&name) {
        return Err(NnError::Config(format!(
            "the `{name}` preset has no recurrent layer to size; units apply to {}",
            RECURRENT_PRESETS.join(", ")
        )));
    }
    let units = units.unwrap_or(DEFAULT_UNITS);
    let layers = match name {
        "linear" => json!([
            {"type": "conv1d", "filters": horizon, "kernel_size": window, "padding": "valid"},
            {"type": "global_sum_pool"}
        ]),
        "seq2vec" => json!([{"type": "lstm", "units": units}, {"type": "dense", "units": horizon}]),
        "seq2seq" => json!([
            {"type": "gru", "units": units, "return_sequences": true},
            {"type": "dense", "units": horizon}
        ]),
        "conv-gru" => json!([
            {"type": "conv1d", "filters": 32, "kernel_size": 4, "padding": "causal", "activation": "relu"},
            {"type": "gru", "units": units, "return_sequences": true},
            {"type": "dense", "units": horizon}
        ]),
        "wavenet" => return wavenet(inputs, horizon),
        "dilated-cnn" => {
            let mut layers: Vec<serde_json::Value> = [1, 2, 4, 8, 1, 2, 4, 8]
                .iter()
                .map(|rate| {
                    json!({"type": "conv1d", "filters": 32, "kernel_size": 2, "padding": "causal",
                           "dilation_rate": rate, "activation": "relu"})
                })
                .collect();
            layers.push(json!({"type": "conv1d", "filters": horizon, "kernel_size": 1}));
            serde_json::Value::Array(layers)
        }
        other => {
            return Err(NnError::Config(format!(
                "unknown forecasting model `{other}`; the presets are {}, or give a config file",
                PRESETS.join(", ")
            )))
        }
    };
    ModelConfig::from_json(&json!({"input_size": inputs, "layers": layers}).to_string())
}

/// The WaveNet graph. Node names follow a PyTorch module with `input_conv`, a `blocks`
/// ModuleList of (`dilated`, `residual`, `skip`) convolutions and a `head` of two 1×1 convs,
/// so its checkpoint loads into that module. Each block's filter and gate convolutions are one
/// convolution with twice the channels, split by the gated activation.
fn wavenet(inputs: usize, horizon: usize) -> Result<ModelConfig> {
    let r = WAVENET_CHANNELS;
    let mut nodes =
        vec![json!({"name": "input_conv", "type": "conv1d", "filters": r, "kernel_size": 1, "inputs": ["x"]})];
    let mut residual = "input_conv".to_string();
    let mut skips = Vec::new();
    for (i, rate) in WAVENET_RATES.iter().enumerate() {
        let b = format!("blocks.{i}");
        nodes.extend([
            json!({"name": format!("{b}.dilated"), "type": "conv1d", "filters": 2 * r, "kernel_size": 2,
                   "padding": "causal", "dilation_rate": rate, "inputs": [residual]}),
            json!({"name": format!("{b}.gate"), "type": "gated_activation"}),
            json!({"name": format!("{b}.residual"), "type": "conv1d", "filters": r, "kernel_size": 1}),
            json!({"name": format!("{b}.skip"), "type": "conv1d", "filters": r, "kernel_size": 1,
                   "inputs": [format!("{b}.gate")]}),
            json!({"name": format!("{b}.out"), "type": "add", "inputs": [residual, format!("{b}.residual")]}),
        ]);
        residual = format!("{b}.out");
        skips.push(format!("{b}.skip"));
    }
    nodes.extend([
        json!({"name": "skips", "type": "add", "inputs": skips}),
        json!({"name": "head.0", "type": "conv1d", "filters": r, "kernel_size": 1, "activation": "relu",
               "inputs": ["skips_relu"]}),
        json!({"name": "skips_relu", "type": "activation", "activation": "relu", "inputs": ["skips"]}),
        json!({"name": "head.1", "type": "conv1d", "filters": horizon, "kernel_size": 1, "inputs": ["head.0"]}),
    ]);
    let config = json!({"inputs": [{"name": "x", "size": inputs}], "nodes": nodes, "outputs": ["head.1"]});
    ModelConfig::from_json(&config.to_string())
}

/// Checks that a config fits the features and horizon, and says how to read its output.
pub fn output_kind(config: &ModelConfig, inputs: usize, horizon: usize) -> Result<OutputKind> {
    let takes = config.input_shape()?.features;
    if takes != inputs {
        return Err(NnError::Config(format!(
            "the model takes {takes} features per day but the data gives {inputs}"
        )));
    }
    let out = config.output_shape()?;
    if out.features != horizon {
        return Err(NnError::Config(format!(
            "the model outputs {} values per step but the horizon is {horizon}",
            out.features
        )));
    }
    Ok(if out.sequential {
        OutputKind::Sequence
    } else {
        OutputKind::Vector
    })
}
