//! A trained sketch-rnn on disk: `sketch_rnn.json` (architecture, class names, the offset
//! scale and `N_max` of its training data, the training settings for the record) and
//! `model.safetensors` (the PyTorch port's `state_dict` names). Both are written to a
//! temporary name and renamed into place.

use crate::error::{input, Result};
use crate::model::{SketchRnn, SketchRnnConfig};
use crate::train::TrainOptions;
use recur_core::Rng;
use recur_data::quickdraw::word_of_stem;
use recur_nn::model_dir::{read_params, tensors_to_bytes, write_atomic, WEIGHTS_FILE};
use recur_nn::NnError;
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::Path;

/// The settings file of a model directory.
pub const SETTINGS_FILE: &str = "sketch_rnn.json";
/// Metadata key of the architecture inside the weights.
const ARCHITECTURE_METADATA: &str = "recur_sketch_rnn";
/// Largest settings file read (it is a few kilobytes).
const MAX_SETTINGS_BYTES: u64 = 1 << 20;
/// The settings files of recur's other model directories, with what they hold.
const OTHER_KINDS: [(&str, &str); 2] = [
    ("seq2seq.json", "an encoder–decoder (recur seq2seq)"),
    ("config.json", "a classifier or a fitted model (recur train / fit)"),
];

/// What besides the weights a model directory holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The architecture.
    pub model: SketchRnnConfig,
    /// Class names (file stems of the training data), in class-id order.
    pub classes: Vec<String>,
    /// What offsets were divided by in training (the training set's standard deviation).
    pub scale: f32,
    /// The longest drawing trained on, in points (`N_max`): decoding and scoring length.
    pub n_max: usize,
    /// The training settings, for the record.
    pub training: TrainOptions,
}

/// A trained model with what it needs to read and write drawings.
#[derive(Clone)]
pub struct SketchRnnModel {
    /// Classes, scale, `N_max`, architecture.
    pub settings: Settings,
    /// The network.
    pub network: SketchRnn<f32>,
}

impl SketchRnnModel {
    /// Writes the directory (created if needed).
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(NnError::io(dir))?;
        let architecture = serde_json::to_string(&self.settings.model).map_err(|e| input(e.to_string()))?;
        let bytes = tensors_to_bytes(self.network.named_params(), &[(ARCHITECTURE_METADATA, architecture)])?;
        write_atomic(&dir.join(WEIGHTS_FILE), &bytes)?;
        let settings = serde_json::to_vec_pretty(&self.settings).map_err(|e| input(e.to_string()))?;
        write_atomic(&dir.join(SETTINGS_FILE), &settings)?;
        Ok(())
    }

    /// Reads a directory written by [`SketchRnnModel::save`], refusing a directory of another
    /// kind of model, naming what it holds.
    pub fn load(dir: &Path) -> Result<Self> {
        let settings_path = dir.join(SETTINGS_FILE);
        if !settings_path.is_file() {
            if !dir.is_dir() {
                return Err(input(format!("{}: no such model directory", dir.display())));
            }
            let kind = OTHER_KINDS.iter().find(|(file, _)| dir.join(file).is_file());
            return Err(input(match kind {
                Some((_, what)) => format!(
                    "{}: holds {what}, not a sketch-rnn model (no {SETTINGS_FILE})",
                    dir.display()
                ),
                None => format!(
                    "{}: not a sketch-rnn model directory (no {SETTINGS_FILE})",
                    dir.display()
                ),
            }));
        }
        let settings = read_settings(&settings_path)?;
        let mut network = SketchRnn::<f32>::new(settings.model.clone(), &mut Rng::new(0))
            .map_err(|e| input(format!("{}: {e}", settings_path.display())))?;
        let weights = dir.join(WEIGHTS_FILE);
        let bytes = std::fs::read(&weights).map_err(NnError::io(&weights))?;
        let names = network.named_params().into_iter().map(|(n, _)| n).collect();
        read_params(names, network.params_mut(), &bytes, &weights.display().to_string())?;
        Ok(SketchRnnModel { settings, network })
    }

    /// The id of class `name` (as the training data named it, e.g. `alarm-clock`, or as its
    /// word, `alarm clock`), refusing a name the model does not know or a model without classes.
    pub fn class_id(&self, name: &str) -> Result<usize> {
        if !self.settings.model.mode.has_class() {
            return Err(input(format!(
                "this model was trained without classes (mode {:?}); a class needs --mode class or class-only",
                self.settings.model.mode
            )));
        }
        // The file's stem (`alarm-clock`) or its Quick, Draw! word (`alarm clock`), the name
        // the samples' ndjson and recur train give it.
        let word = word_of_stem(name);
        self.settings
            .classes
            .iter()
            .position(|c| word_of_stem(c) == word)
            .ok_or_else(|| {
                input(format!(
                    "class `{name}` is not one this model knows (it draws: {})",
                    self.settings.classes.join(", ")
                ))
            })
    }
}

fn read_settings(path: &Path) -> Result<Settings> {
    let file = std::fs::File::open(path).map_err(NnError::io(path))?;
    let mut text = String::new();
    file.take(MAX_SETTINGS_BYTES)
        .read_to_string(&mut text)
        .map_err(NnError::io(path))?;
    let settings: Settings = serde_json::from_str(&text)
        .map_err(|e| input(format!("{}: not a sketch-rnn settings file ({e})", path.display())))?;
    settings
        .model
        .check()
        .map_err(|e| input(format!("{}: {e}", path.display())))?;
    let scale_ok = settings.scale.is_finite() && settings.scale > 0.0;
    if !scale_ok || settings.n_max == 0 || settings.classes.is_empty() {
        return Err(input(format!(
            "{}: scale, n_max and classes must be positive and present",
            path.display()
        )));
    }
    if settings.model.mode.has_class() && settings.classes.len() != settings.model.classes {
        return Err(input(format!(
            "{}: {} class names for a model of {} classes",
            path.display(),
            settings.classes.len(),
            settings.model.classes
        )));
    }
    Ok(settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sketchrnn_refuses_a_model_directory_of_another_kind() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("seq2seq.json"), "{}").unwrap();
        let e = SketchRnnModel::load(dir.path()).err().unwrap().to_string();
        assert!(
            e.contains("holds an encoder–decoder (recur seq2seq), not a sketch-rnn model"),
            "{e}"
        );
        let e = SketchRnnModel::load(&dir.path().join("nothing"))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("no such model directory"), "{e}");
    }
}
