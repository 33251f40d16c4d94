//! Sketch classifier presets.
//!
//! - `geron`: the solution in Hands-On Machine Learning (ch. 15 exercise): Conv1D 32/64/128 with
//!   kernels 5/5/3, strides 2 and BatchNorm, two LSTM(128), dense.
//! - `tf-tutorial`: TensorFlow's Quick, Draw! tutorial: Conv1D 48/64/96 (kernels 5/5/3, same
//!   padding, linear), three bidirectional LSTM(128), a masked sum over time, dense.
//! - `recur` (default): the best found here (docs/sketch.md has the comparison). It is the
//!   `tf-tutorial` architecture: trained with recur's recipe (augmentation, label smoothing,
//!   warm-up and cosine decay, masking instead of cropping) it beat the conv + GRU stacks tried,
//!   0.910 against 0.879–0.891 test top-1 on the 16-class set.

use recur_nn::{ModelConfig, NnError, Result};
use serde_json::json;

/// Preset names, the default first.
pub const PRESETS: [&str; 3] = ["recur", "geron", "tf-tutorial"];

/// The config of a preset for `inputs` features per point and `classes` outputs.
pub fn preset(name: &str, inputs: usize, classes: usize) -> Result<ModelConfig> {
    let layers = match name {
        "geron" => json!([
            {"type": "conv1d", "filters": 32, "kernel_size": 5, "strides": 2, "activation": "relu"},
            {"type": "batch_norm"},
            {"type": "conv1d", "filters": 64, "kernel_size": 5, "strides": 2, "activation": "relu"},
            {"type": "batch_norm"},
            {"type": "conv1d", "filters": 128, "kernel_size": 3, "strides": 2, "activation": "relu"},
            {"type": "batch_norm"},
            {"type": "lstm", "units": 128, "return_sequences": true},
            {"type": "lstm", "units": 128},
            {"type": "dense", "units": classes}
        ]),
        "recur" | "tf-tutorial" => json!([
            {"type": "conv1d", "filters": 48, "kernel_size": 5, "padding": "same"},
            {"type": "conv1d", "filters": 64, "kernel_size": 5, "padding": "same"},
            {"type": "conv1d", "filters": 96, "kernel_size": 3, "padding": "same"},
            {"type": "lstm", "units": 128, "return_sequences": true, "bidirectional": true},
            {"type": "lstm", "units": 128, "return_sequences": true, "bidirectional": true},
            {"type": "lstm", "units": 128, "return_sequences": true, "bidirectional": true},
            {"type": "global_sum_pool"},
            {"type": "dense", "units": classes}
        ]),
        other => {
            return Err(NnError::Setting(format!(
                "unknown preset `{other}`; the presets are {}, or pass --config",
                PRESETS.join(", ")
            )))
        }
    };
    ModelConfig::from_json(&json!({"input_size": inputs, "layers": layers}).to_string())
}
