//! The settings of a sketch-training run with their defaults, as `recur train` and the Python
//! package's `SketchClassifier` both take them, their checks, and the [`TrainJob`] they make
//! of a set of drawings: one definition for every front end, so the same settings train the
//! same model from either.

use crate::job::{Scaling, TrainJob};
use crate::{presets, InputSpec, SplitSpec, TrainOptions};
use recur_data::quickdraw::strokes::{Augmentation, Encoding, Normalization};
use recur_data::quickdraw::Drawing;
use recur_nn::model_dir::read_config;
use recur_nn::{NnError, Result};
use recur_train::{distributed, Reporter};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Most epochs unless told.
pub const EPOCHS: usize = 40;
/// Epochs without a better validation top-1 before stopping, unless told.
pub const PATIENCE: usize = 8;
/// Drawings per batch unless told.
pub const BATCH_SIZE: usize = 64;
/// Peak learning rate unless told.
pub const LEARNING_RATE: f64 = 2e-3;
/// Label smoothing unless told.
pub const LABEL_SMOOTHING: f64 = 0.1;
/// Points a drawing is thinned to unless told.
pub const MAX_POINTS: usize = 250;
/// Fewest points a drawing is thinned to (a smaller `max_points` is raised to it, as
/// `recur train` always did).
pub const MIN_POINTS: usize = 8;
/// Percent of drawings (by key_id hash) held out for validation unless told.
pub const VAL_PERCENT: u64 = 10;
/// Percent held out for the final test unless told.
pub const TEST_PERCENT: u64 = 10;
/// The seed unless told.
pub const SEED: u64 = 1;
/// The point encoding unless told.
pub const ENCODING: Encoding = Encoding::Stroke3;
/// The stroke scaling unless told.
pub const SCALING: Scaling = Scaling::BoundingBox;

/// A sketch-training run's settings; read from JSON (the Python package), every field is
/// optional and takes its default. `recur train`'s flags of the same names (`-` for `_`;
/// `--no-augment` for `augment: false`) set them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainSettings {
    /// The architecture: a preset name ([`presets::PRESETS`]), used without `config`.
    pub preset: String,
    /// A model config file instead of a preset (its last layer gives one value per class).
    pub config: Option<PathBuf>,
    /// Most epochs.
    pub epochs: usize,
    /// Models trained (seeds seed, seed+1, …) whose probabilities are averaged.
    pub ensemble: usize,
    /// Epochs without a better validation top-1 before stopping.
    pub patience: usize,
    /// Drawings per batch.
    pub batch_size: usize,
    /// Peak learning rate (Adam; warm-up, then cosine decay).
    pub lr: f64,
    /// Label smoothing of the cross-entropy.
    pub label_smoothing: f64,
    /// Random scaling, rotation and point dropping of training drawings.
    pub augment: bool,
    /// Point encoding.
    pub encoding: Encoding,
    /// Stroke scaling.
    pub normalization: Scaling,
    /// Longer drawings are thinned to this many points (at least [`MIN_POINTS`]).
    pub max_points: usize,
    /// Percent of drawings (by key_id hash) held out for validation.
    pub val_percent: u64,
    /// Percent held out for the final test.
    pub test_percent: u64,
    /// Seed for initialisation, shuffling, augmentation and dropout.
    pub seed: u64,
    /// Cores.
    pub threads: usize,
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            preset: presets::PRESETS[0].to_string(),
            config: None,
            epochs: EPOCHS,
            ensemble: 1,
            patience: PATIENCE,
            batch_size: BATCH_SIZE,
            lr: LEARNING_RATE,
            label_smoothing: LABEL_SMOOTHING,
            augment: true,
            encoding: ENCODING,
            normalization: SCALING,
            max_points: MAX_POINTS,
            val_percent: VAL_PERCENT,
            test_percent: TEST_PERCENT,
            seed: SEED,
            threads: recur_core::parallel::default_threads(),
        }
    }
}

/// Where a job writes and how it reports, beside its settings.
pub struct RunPlace {
    /// Model directory (best model, checkpoint, training keys).
    pub out: PathBuf,
    /// Continue the run checkpointed in `out`.
    pub resume: bool,
    /// Where progress goes.
    pub progress: Reporter,
    /// Under MPI, each rank holds its own part of the drawings.
    pub rank_local: bool,
}

impl TrainSettings {
    /// Refuses settings that cannot train a model; `name` spells a setting as the front end's
    /// user gives it (`label_smoothing` or `--label-smoothing`).
    pub fn check(&self, name: impl Fn(&str) -> String) -> Result<()> {
        let bad = |message: String| Err(NnError::Setting(message));
        if self.epochs == 0 {
            return bad(format!("{} must be at least 1", name("epochs")));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad(format!("{} must be a positive number", name("lr")));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return bad(format!("{} must be in [0, 1)", name("label_smoothing")));
        }
        if self.val_percent.saturating_add(self.test_percent) >= 100 {
            return bad(format!(
                "{} and {} leave no drawings to train on: together they must stay under 100",
                name("val_percent"),
                name("test_percent")
            ));
        }
        Ok(())
    }

    /// The job of training on `drawings` as these settings say, checked (see
    /// [`TrainSettings::check`]), the config file read.
    pub fn job<'a>(
        &self,
        drawings: &'a [Drawing],
        place: RunPlace,
        name: impl Fn(&str) -> String,
    ) -> Result<TrainJob<'a>> {
        self.check(name)?;
        Ok(TrainJob {
            drawings,
            split: SplitSpec {
                val_percent: self.val_percent,
                test_percent: self.test_percent,
            },
            scaling: self.normalization,
            config: self.config.as_deref().map(read_config).transpose()?,
            preset: self.preset.clone(),
            options: TrainOptions {
                input: InputSpec {
                    encoding: self.encoding,
                    // Set from `scaling` by the job, once it has measured the training part.
                    normalization: Normalization::BoundingBox,
                    max_points: self.max_points.max(MIN_POINTS),
                },
                epochs: self.epochs,
                patience: self.patience,
                batch_size: self.batch_size.max(1),
                learning_rate: self.lr,
                label_smoothing: self.label_smoothing,
                augmentation: self.augment.then(Augmentation::default),
                seed: self.seed,
                threads: self.threads.max(1),
                out: place.out,
                resume: place.resume,
                progress: place.progress,
                rank_local: place.rank_local,
            },
            ensemble: self.ensemble,
            parts: place.rank_local.then(distributed::group).flatten(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sketch_settings_from_json_take_the_command_line_defaults() {
        let given: TrainSettings = serde_json::from_str(r#"{"epochs": 2, "normalization": "std"}"#).unwrap();
        let expected = TrainSettings {
            epochs: 2,
            normalization: Scaling::OffsetStd,
            ..TrainSettings::default()
        };
        assert_eq!(given, expected);
        assert_eq!((given.patience, given.seed, given.preset.as_str()), (8, 1, "recur"));
        let unknown = serde_json::from_str::<TrainSettings>(r#"{"epoch": 2}"#).unwrap_err();
        assert!(unknown.to_string().contains("unknown field `epoch`"), "{unknown}");
    }

    #[test]
    fn sketch_settings_checks_name_the_setting_as_the_front_end_spells_it() {
        let bad = TrainSettings {
            label_smoothing: 1.5,
            ..TrainSettings::default()
        };
        let flag = |s: &str| format!("--{}", s.replace('_', "-"));
        let message = bad.check(flag).unwrap_err().to_string();
        assert!(message.contains("--label-smoothing must be in [0, 1)"), "{message}");
        let split = TrainSettings {
            val_percent: 50,
            test_percent: 50,
            ..TrainSettings::default()
        };
        let message = split.check(str::to_string).unwrap_err().to_string();
        assert!(
            message.contains("val_percent and test_percent leave no drawings"),
            "{message}"
        );
    }
}
