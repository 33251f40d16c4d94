//! [`FitRequest`]: what a front end (the command line, the Python package) asks of a fit
//! before the data are read, turned into the model and settings [`crate::FitJob`] takes, the
//! same way for every front end.

use crate::architecture::{declared_input_specs, model_config};
use crate::settings::Settings;
use recur_data::sequences::{InputSpec, SequenceSet};
use recur_nn::{ModelConfig, Result};
use serde_json::Value;

/// A fit's model config (its layers, if one is given, and where it came from, for messages)
/// and settings.
pub struct FitRequest {
    model: Option<(Value, String)>,
    /// The training settings, checked.
    pub settings: Settings,
}

impl FitRequest {
    /// The request of a config's model part (from [`crate::split_config`], with its source)
    /// and of `training` settings (the config's section with the caller's own laid over it):
    /// a value out of range is refused here, before any data are read.
    pub fn new(model: Option<(Value, String)>, training: Value) -> Result<Self> {
        Ok(FitRequest {
            model,
            settings: Settings::from_json(training)?,
        })
    }

    /// How each of the model's inputs is read from arrays (one sequence input without a
    /// config).
    pub fn input_specs(&self) -> Result<Vec<InputSpec>> {
        declared_input_specs(self.model.as_ref().map(|(m, source)| (m, source.as_str())))
    }

    /// The model for `train`: the config's, its input width the one the settings' encoding
    /// gives `train`'s channels (`sequence_norm` adds some), or `None` for the built-in one.
    pub fn model_config(&self, train: &SequenceSet) -> Result<Option<ModelConfig>> {
        let width = self.settings.input_encoding(false).sequence_norm.width(train.dims);
        self.model
            .as_ref()
            .map(|(model, source)| model_config(model.clone(), width, source))
            .transpose()
    }
}
