//! Forecasting model presets, as model configs, and how to read a model's output.
//!
//! - `linear`: one weight per (day of the window, feature, horizon) — a linear autoregression.
//! - `seq2vec`: an LSTM reads the window; a dense layer maps its last state to all horizons.
//! - `seq2seq`: a GRU with a dense layer on every step, each step forecasting the days after it
//!   (trained on all steps, as Géron's book recommends; forecasts use the last step).
//! - `conv-gru`: a causal Conv1D front end feeding a sequence-to-sequence GRU.
//! - `wavenet`: causal dilated Conv1D layers (rates 1, 2, 4, 8, twice) and a 1×1 output conv.

use crate::features::OutputKind;
use recur_nn::{ModelConfig, NnError, Result};
use serde_json::json;

/// Names of the presets, the default first.
pub const PRESETS: [&str; 5] = ["seq2seq", "linear", "seq2vec", "conv-gru", "wavenet"];

/// The config of a preset for `inputs` features per day.
pub fn preset(name: &str, inputs: usize, window: usize, horizon: usize) -> Result<ModelConfig> {
    let layers = match name {
        "linear" => json!([
            {"type": "conv1d", "filters": horizon, "kernel_size": window, "padding": "valid"},
            {"type": "global_sum_pool"}
        ]),
        "seq2vec" => json!([{"type": "lstm", "units": 64}, {"type": "dense", "units": horizon}]),
        "seq2seq" => json!([
            {"type": "gru", "units": 64, "return_sequences": true},
            {"type": "dense", "units": horizon}
        ]),
        "conv-gru" => json!([
            {"type": "conv1d", "filters": 32, "kernel_size": 4, "padding": "causal", "activation": "relu"},
            {"type": "gru", "units": 64, "return_sequences": true},
            {"type": "dense", "units": horizon}
        ]),
        "wavenet" => {
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

/// Checks that a config fits the features and horizon, and says how to read its output.
pub fn output_kind(config: &ModelConfig, inputs: usize, horizon: usize) -> Result<OutputKind> {
    if config.input_size != inputs {
        return Err(NnError::Config(format!(
            "the model takes {} features per day but the data gives {inputs}",
            config.input_size
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
