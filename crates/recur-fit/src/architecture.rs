//! The model: the default architecture for a task, or the user's config file (whose optional
//! `training` section holds [`Settings`](crate::Settings) fields), checked against the data.

use crate::task::Task;
use recur_nn::{Conv1dConfig, LayerConfig, ModelConfig, NnError, Result};
use serde_json::{json, Value};

/// Steps the convolutional front end shortens long sequences to, about.
const TARGET_STEPS: usize = 256;

/// The default model for `task` on `inputs` features per step, `outputs` values (or classes)
/// per sequence or step, and sequences up to `max_steps` long.
///
/// An FCN-like front end (three convolutions with batch normalisation and ReLU; the first one
/// strided to bring long sequences down to about 256 steps) feeds a bidirectional GRU; sequence
/// tasks take the masked mean over time, per-step tasks keep every step (and no stride).
pub fn default_config(task: Task, inputs: usize, outputs: usize, max_steps: usize) -> Result<ModelConfig> {
    let stride = if task.per_step() {
        1
    } else {
        max_steps.div_ceil(TARGET_STEPS).clamp(1, 8)
    };
    let mut layers = vec![
        json!({"type": "conv1d", "filters": 64, "kernel_size": 7.max(stride + 1), "strides": stride, "padding": "same"}),
        json!({"type": "batch_norm"}),
        json!({"type": "activation", "activation": "relu"}),
        json!({"type": "conv1d", "filters": 128, "kernel_size": 5, "padding": "same"}),
        json!({"type": "batch_norm"}),
        json!({"type": "activation", "activation": "relu"}),
        json!({"type": "conv1d", "filters": 64, "kernel_size": 3, "padding": "same"}),
        json!({"type": "batch_norm"}),
        json!({"type": "activation", "activation": "relu"}),
        json!({"type": "gru", "units": 64, "bidirectional": true, "return_sequences": true}),
    ];
    if !task.per_step() {
        layers.push(json!({"type": "global_mean_pool"}));
    }
    layers.push(json!({"type": "dense", "units": outputs}));
    ModelConfig::from_json(&json!({"input_size": inputs, "layers": layers}).to_string())
}

/// The default classifier solved in closed form: MiniRocket's 9,996 convolution and bias
/// pairs (dilations spread over `max_steps`), each giving MultiRocket's four statistics (their
/// leave-one-out accuracy on the training files was higher than the share of steps alone on
/// PickupGestureWiimoteZ and PLAID, slightly lower on JapaneseVowels), and a dense layer that
/// the ridge solver fits (see [`crate::ridge`]).
pub fn minirocket_config(inputs: usize, outputs: usize, max_steps: usize) -> Result<ModelConfig> {
    let layers = [
        json!({"type": "minirocket", "length": max_steps.max(1), "pooling": "multi"}),
        json!({"type": "dense", "units": outputs}),
    ];
    ModelConfig::from_json(&json!({"input_size": inputs, "layers": layers}).to_string())
}

/// `config` with every `minirocket` layer drawing its channels from `seed`.
pub fn reseeded(config: &ModelConfig, seed: u64) -> ModelConfig {
    let mut config = config.clone();
    for layer in &mut config.layers {
        if let LayerConfig::Minirocket(options) = layer {
            options.seed = seed;
        }
    }
    config
}

/// A user's config file split into the model part and its `training` section (an empty
/// object when there is none).
pub fn split_config(text: &str, source: &str) -> Result<(Value, Value)> {
    let err = |m: String| NnError::Config(format!("{source}: {m}"));
    let mut value: Value = serde_json::from_str(text).map_err(|e| err(format!("not valid JSON ({e})")))?;
    let Some(map) = value.as_object_mut() else {
        return Err(err("a model config is a JSON object".into()));
    };
    let training = map.remove("training").unwrap_or_else(|| json!({}));
    if !training.is_object() {
        return Err(err("`training` must be an object of settings".into()));
    }
    Ok((value, training))
}

/// The model part of a config file as a [`ModelConfig`], with a stack's `input_size` filled in
/// from the data when it is missing (a graph names its inputs' sizes itself).
pub fn model_config(mut model: Value, inputs: usize, source: &str) -> Result<ModelConfig> {
    if let Some(map) = model.as_object_mut().filter(|m| !m.contains_key("inputs")) {
        map.entry("input_size").or_insert(json!(inputs));
    }
    ModelConfig::from_json(&model.to_string()).map_err(|e| NnError::Config(format!("{source}: {e}")))
}

/// A `recur fit` config file read as `recur fit` would read it for data of `channels`
/// channels per step: the model (its `input_size`, when missing, the width the input
/// encoding of the file's `training` settings gives) and, when that width is not the channels
/// alone, what the encoding adds (see [`crate::settings::SequenceNorm::explain`]).
pub fn config_for_channels(text: &str, source: &str, channels: usize) -> Result<(ModelConfig, Option<String>)> {
    let (model, training) = split_config(text, source)?;
    let norm = crate::Settings::from_json(training)?
        .input_encoding(false)
        .sequence_norm;
    let config = model_config(model, norm.width(channels), source)?;
    Ok((config, norm.explain(channels)))
}

/// Checks that `config` fits the data: input width, output width and whether it keeps steps.
/// `encoded` says what the `inputs` features per step are when they are not the data's
/// channels alone (see [`crate::settings::SequenceNorm::explain`]).
pub fn check_config(
    config: &ModelConfig,
    task: Task,
    inputs: usize,
    encoded: Option<&str>,
    outputs: usize,
) -> Result<()> {
    let (input, out) = (config.input_shape()?, config.output_shape()?);
    let mut problems = Vec::new();
    if input.features != inputs || !input.sequential {
        let why = encoded.map_or(String::new(), |w| format!(" ({w})"));
        problems.push(format!(
            "the model's input takes {} features per step, but the data gives {inputs}{why}",
            input.features
        ));
    }
    if out.features != outputs {
        let what = if task.is_classification() {
            "one per class"
        } else {
            "one per target value"
        };
        problems.push(format!(
            "the last layer gives {} outputs; {} needs {outputs} ({what})",
            out.features,
            task.describe()
        ));
    }
    if task.per_step() && !out.sequential {
        problems.push(format!(
            "{} needs an output per step: no pooling, and recurrent layers with return_sequences",
            task.describe()
        ));
    }
    if !task.per_step() && out.sequential {
        problems.push(format!(
            "{} needs one output per sequence: end with a pooling layer or a recurrent layer without return_sequences",
            task.describe()
        ));
    }
    if task.per_step() {
        let shortens = config.layers.iter().any(|l| {
            matches!(l, LayerConfig::Conv1d(Conv1dConfig { strides, padding, .. })
                if *strides != 1 || matches!(padding, recur_nn::Padding::Valid))
        });
        if shortens {
            problems.push(
                "per-step targets need every conv1d to keep the length (strides 1, padding same or causal)".into(),
            );
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(NnError::Config(format!(
            "the model does not fit the data: {}",
            problems.join("; ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_fits_every_task() {
        for task in [Task::Classify, Task::Regress, Task::TagSteps, Task::RegressSteps] {
            let c = default_config(task, 3, 4, 1300).unwrap();
            check_config(&c, task, 3, None, 4).unwrap();
        }
        let c = default_config(Task::Classify, 1, 2, 1300).unwrap();
        assert!(matches!(
            c.layers[0],
            LayerConfig::Conv1d(Conv1dConfig { strides: 6, .. })
        ));
    }

    #[test]
    fn split_config_takes_out_training_and_checks_fit() {
        let text =
            r#"{"layers": [{"type": "gru", "units": 8}, {"type": "dense", "units": 3}], "training": {"lr": 0.01}}"#;
        let (m, t) = split_config(text, "c.json").unwrap();
        let c = model_config(m, 2, "c.json").unwrap();
        assert_eq!((c.input_size, t["lr"].as_f64()), (2, Some(0.01)));
        let e = check_config(&c, Task::Classify, 2, None, 4).unwrap_err().to_string();
        assert!(e.contains("the last layer gives 3 outputs"), "{e}");
        let e = check_config(&c, Task::TagSteps, 2, None, 3).unwrap_err().to_string();
        assert!(e.contains("needs an output per step"), "{e}");
        let e = split_config("[1]", "c.json").unwrap_err().to_string();
        assert!(e.contains("c.json: a model config is a JSON object"), "{e}");
    }
}
