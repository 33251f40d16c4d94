//! The model: the default architecture for a task, or the user's config file (whose optional
//! `training` section holds [`Settings`](crate::Settings) fields), checked against the data.

use crate::task::{InputMeta, Task};
use recur_data::sequences::{InputLayout, InputSpec};
use recur_nn::{Conv1dConfig, LayerConfig, ModelConfig, NnError, Plan, Result};
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
    // The file's name goes before the reason, once: a config error already says "model config".
    ModelConfig::from_json(&model.to_string()).map_err(|e| match e {
        NnError::Config(reason) => NnError::Config(format!("{source}: {reason}")),
        other => NnError::Config(format!("{source}: {other}")),
    })
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

/// The config's names of the model's inputs, in its order (a stack's one input is `input`).
pub fn input_names(config: &ModelConfig) -> Result<Vec<String>> {
    Ok(Plan::new(config)?.inputs.into_iter().map(|(name, _)| name).collect())
}

/// How the data's `.npy` arrays are read for the model of `config`: one [`InputSpec`] per
/// input, in its order, each read as the model declares it (never guessed from the array).
pub fn input_specs(config: &ModelConfig) -> Result<Vec<InputSpec>> {
    let plan = Plan::new(config)?;
    if let [(_, shape)] = &plan.inputs[..] {
        if shape.sequential {
            return Ok(InputSpec::one_sequence());
        }
    }
    let spec = |(name, shape): (String, recur_core::Shape)| InputSpec {
        name: Some(name),
        layout: match shape.sequential {
            true => InputLayout::Sequences,
            false => InputLayout::Vectors,
        },
    };
    Ok(plan.inputs.into_iter().map(spec).collect())
}

/// [`input_specs`] of a config file's model part (see [`split_config`]) and its file name,
/// before the data is
/// read: a stack (or, with no config, the default model) reads one sequence input; a graph's
/// `inputs` say what each reads.
pub fn declared_input_specs(model: Option<(&Value, &str)>) -> Result<Vec<InputSpec>> {
    match model {
        Some((m, source)) if m.get("inputs").is_some() => input_specs(&model_config(m.clone(), 0, source)?),
        _ => Ok(InputSpec::one_sequence()),
    }
}

/// Checks that `config` fits the data: its inputs (how many, each sequences or vectors, and
/// their widths, as `inputs` read the data), output width and whether it keeps steps.
pub fn check_config(config: &ModelConfig, task: Task, inputs: &[InputMeta], outputs: usize) -> Result<()> {
    let plan = Plan::new(config)?;
    let out = config.output_shape()?;
    let mut problems = input_problems(&plan, inputs);
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

/// What does not fit between the model's declared inputs and the data's `inputs`.
fn input_problems(plan: &Plan, inputs: &[InputMeta]) -> Vec<String> {
    let declared = &plan.inputs;
    if declared.len() != inputs.len() {
        let names: Vec<String> = declared.iter().map(|(n, _)| format!("`{n}`")).collect();
        return vec![format!(
            "the model takes {} inputs ({}, in this order), but the data gives {}",
            declared.len(),
            names.join(", "),
            inputs.len()
        )];
    }
    let mut problems = Vec::new();
    for ((name, shape), m) in declared.iter().zip(inputs) {
        let width = m.input_width();
        // A frame input (`input_shape [h, w, c]`) reads `h·w·c` values per step, channels last.
        if shape.features == width && shape.sequential == m.sequential {
            continue;
        }
        let why = m
            .sequence_norm
            .explain(m.dims)
            .map_or(String::new(), |w| format!(" ({w})"));
        // The array the declared input reads: its raw channels, where the width allows.
        let per_channel = m.sequence_norm.width(1).max(1);
        let wanted = match shape.sequential {
            true if shape.features % per_channel == 0 => {
                format!(": give [n, time, {}] arrays", shape.features / per_channel)
            }
            true => String::new(),
            false => format!(": give [n, {}] arrays", shape.features),
        };
        if declared.len() == 1 && m.sequential && shape.sequential {
            problems.push(format!(
                "the model's input takes {} features per step, but the data gives {width}{why}{wanted}",
                shape.features
            ));
            continue;
        }
        let takes = match shape.sequential {
            true => format!("sequences of {} features per step", shape.features),
            false => format!("one vector of {} values per example", shape.features),
        };
        let gives = match m.sequential {
            true => format!("sequences of {width} features per step{why}"),
            false => format!("one vector of {width} values per example"),
        };
        problems.push(format!(
            "input `{name}` takes {takes}, but the data gives {gives}{wanted}"
        ));
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::SequenceNorm;
    use crate::task::Scaling;

    /// How data of `dims` raw channels per step is read, with no per-sequence standardisation.
    fn raw(dims: usize) -> Vec<InputMeta> {
        vec![InputMeta {
            dims,
            input: Scaling::identity(dims),
            sequence_norm: SequenceNorm::Off,
            log_inputs: false,
            sequential: true,
        }]
    }

    #[test]
    fn default_config_fits_every_task() {
        for task in [Task::Classify, Task::Regress, Task::TagSteps, Task::RegressSteps] {
            let c = default_config(task, 3, 4, 1300).unwrap();
            check_config(&c, task, &raw(3), 4).unwrap();
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
        let e = check_config(&c, Task::Classify, &raw(2), 4).unwrap_err().to_string();
        assert!(e.contains("the last layer gives 3 outputs"), "{e}");
        let e = check_config(&c, Task::TagSteps, &raw(2), 3).unwrap_err().to_string();
        assert!(e.contains("needs an output per step"), "{e}");
        let e = split_config("[1]", "c.json").unwrap_err().to_string();
        assert!(e.contains("c.json: a model config is a JSON object"), "{e}");
    }
}
