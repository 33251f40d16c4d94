//! Training settings: the `training` section of a config file, overridden by the command
//! line, checked in one place and turned into the trainer's objects.

use crate::supervision::Task;
use recur_nn::{NnError, Result};
use recur_train::{Clip, Goal, Loss, OptimizerConfig, Schedule};
use serde::{Deserialize, Serialize};

/// The objective.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// Cross-entropy for class targets, MSE for values.
    Auto,
    /// Softmax cross-entropy (class targets), with `label_smoothing`.
    CrossEntropy,
    /// Mean squared error (value targets).
    Mse,
    /// Huber loss with `huber_delta` (value targets).
    Huber,
    /// Mean absolute error (value targets).
    Mae,
}

/// The optimiser.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// SGD with `momentum`.
    Sgd,
    /// SGD with Nesterov momentum.
    Nesterov,
    /// Adam (`weight_decay` as an L2 penalty is not applied; use adamw).
    Adam,
    /// AdamW with decoupled `weight_decay`.
    Adamw,
}

/// How the learning rate moves over the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleKind {
    /// `lr` throughout (after the warm-up).
    Constant,
    /// `lr · decay_rate^epoch`.
    Exponential,
    /// Cosine decay from `lr` to `min_lr` over the run.
    Cosine,
}

/// Whether each channel is also (or only) seen standardised within its own sequence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SequenceNorm {
    /// Only the channels standardised over the training set.
    Off,
    /// Those, and each channel standardised within its sequence.
    Append,
    /// Each channel standardised within its sequence, with the sequence's level (its mean,
    /// standardised over the training set) and log scale as two constant channels: the shape
    /// and the size of a sequence apart, for data whose sequences differ wildly in level.
    Only,
}

impl SequenceNorm {
    /// Model inputs per step for `dims` raw channels.
    pub fn width(self, dims: usize) -> usize {
        match self {
            SequenceNorm::Off => dims,
            SequenceNorm::Append => 2 * dims,
            SequenceNorm::Only => 3 * dims,
        }
    }

    /// What the model's input holds for data of `dims` channels, when it is not those channels
    /// alone: the words an error about the input width needs.
    pub fn explain(self, dims: usize) -> Option<String> {
        match self {
            SequenceNorm::Off => None,
            SequenceNorm::Append => Some(format!(
                "its {dims} channels, and each again standardised within its sequence: sequence_norm \
                 `append`, the default; `--sequence-norm off` feeds the {dims} alone"
            )),
            SequenceNorm::Only => Some(format!(
                "its {dims} channels standardised within each sequence, with each one's level and log \
                 scale: sequence_norm `only`; `--sequence-norm off` feeds the {dims} alone"
            )),
        }
    }
}

/// Whether inputs go through `sign(x)·ln(1 + |x|)` first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogInputs {
    /// When the sequences' magnitudes differ by orders: in some channel the 90th percentile of
    /// the per-sequence standard deviations is over 10 times their median.
    Auto,
    /// Always.
    On,
    /// Never.
    Off,
}

/// How inputs reach the model, every setting resolved (see [`Settings::input_encoding`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputEncoding {
    /// Standardise each channel with the training set's statistics.
    pub standardize: bool,
    /// The signed log.
    pub log_inputs: LogInputs,
    /// Per-sequence standardisation.
    pub sequence_norm: SequenceNorm,
}

/// How the model's weights are found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Solver {
    /// `ridge` where it applies (one target per sequence, one process or every rank with the
    /// whole data, at most [`crate::ridge::MAX_SEQUENCES`] training sequences, and a model
    /// whose only weights are its last dense layer: the default classifier, or a config of
    /// that form), `gradient` otherwise.
    Auto,
    /// Mini-batch gradient descent with the optimiser, schedule and early stopping below.
    Gradient,
    /// The last dense layer in closed form by ridge regression (see [`crate::ridge`]).
    Ridge,
}

/// How kernels start: recurrent input projections, dense and convolution weights (fans from
/// their shapes, as Keras and `torch.nn.init` compute them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KernelInit {
    /// Uniform in ±√(6 / (fan_in + fan_out)) (Keras's default).
    GlorotUniform,
    /// Normal with deviation √(2 / (fan_in + fan_out)).
    GlorotNormal,
    /// Uniform in ±√(6 / fan_in), for ReLU layers.
    HeUniform,
    /// Normal with deviation √(2 / fan_in), for ReLU layers.
    HeNormal,
    /// Normal with deviation √(1 / fan_in).
    LecunNormal,
}

/// How recurrent kernels start (each gate's block on its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecurrentInit {
    /// A random orthogonal matrix per gate (Keras's default).
    Orthogonal,
    /// Glorot uniform per gate.
    GlorotUniform,
}

/// Every training knob. Missing fields take the defaults below.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Objective.
    pub loss: LossKind,
    /// Share of the target probability spread over all classes (cross-entropy).
    pub label_smoothing: f64,
    /// Huber threshold, in standardised target units.
    pub huber_delta: f64,
    /// Optimiser.
    pub optimizer: OptimizerKind,
    /// Decoupled weight decay (adamw).
    pub weight_decay: f64,
    /// Momentum (sgd, nesterov).
    pub momentum: f64,
    /// Peak learning rate.
    pub lr: f64,
    /// Learning-rate schedule.
    pub schedule: ScheduleKind,
    /// Final rate of the cosine schedule, as a fraction of `lr`.
    pub min_lr_ratio: f64,
    /// Decay per epoch of the exponential schedule.
    pub decay_rate: f64,
    /// Epochs of linear warm-up (cosine and constant schedules).
    pub warmup_epochs: f64,
    /// Clip the global gradient norm to this.
    pub clip_norm: Option<f64>,
    /// Clip every gradient value to ±this (instead of the norm).
    pub clip_value: Option<f64>,
    /// Sequences per batch.
    pub batch_size: usize,
    /// Epochs; by default about 3000 steps, between 30 and 400 epochs.
    pub epochs: Option<usize>,
    /// Validation metric that picks the best epoch: val_loss, val_accuracy, val_mae, val_rmse.
    pub monitor: Option<String>,
    /// Stop after this many epochs without a better monitored value.
    pub patience: Option<usize>,
    /// Keep the weights of the best epoch (else the last).
    pub keep_best: bool,
    /// Seed for the split, initialisation, shuffling and dropout.
    pub seed: u64,
    /// Cores (default: all).
    pub threads: Option<usize>,
    /// Standardise every input channel with the training set's mean and deviation. Unset:
    /// on, except for the default MiniRocket model (see [`Settings::for_model`]).
    pub standardize: Option<bool>,
    /// Take `sign(x)·ln(1 + |x|)` of every input value first. Unset: `auto`, except for the
    /// default MiniRocket model (`off`).
    pub log_inputs: Option<LogInputs>,
    /// Per-sequence standardisation of the inputs. Unset: `append`, except for the default
    /// MiniRocket model (`off`).
    pub sequence_norm: Option<SequenceNorm>,
    /// How the weights are found.
    pub solver: Solver,
    /// Share of the training file held out (stratified) for validation when no validation
    /// file is given; 0 trains on everything and keeps the last epoch. Unset: 0.2 for the
    /// gradient solver, 0 for ridge (its leave-one-out error needs no held-out part).
    pub val_split: Option<f64>,
    /// Models trained (seeds seed, seed+1, …; each with its own validation split), averaged.
    pub ensemble: usize,
    /// Initialiser of the kernels.
    pub kernel_init: KernelInit,
    /// Initialiser of the recurrent kernels.
    pub recurrent_init: RecurrentInit,
    /// Start every LSTM forget-gate bias at this value (by default the layer's
    /// `unit_forget_bias` decides: 1, or 0 when it is off).
    pub forget_bias: Option<f64>,
    /// Augmentation: deviation of a random factor (around 1) multiplying each training
    /// sequence every epoch (see [`crate::augment`]).
    pub augment_scale: f64,
    /// Augmentation: deviation of Gaussian noise added to every training input value.
    pub augment_jitter: f64,
    /// Augmentation: largest share of a training sequence's steps cut off by seeing it through
    /// a random window.
    pub augment_crop: f64,
    /// Augmentation: chance that a training sequence's step is replaced by its neighbour
    /// (temporal jitter of sampled frames).
    pub augment_time_jitter: f64,
    /// Augmentation: mirror half of the training sequences of frames left to right.
    pub augment_flip: bool,
    /// Augmentation: largest share of each side of a training sequence's frames cut off by a
    /// random window scaled back to the frame size (a random crop and scale).
    pub augment_zoom: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            loss: LossKind::Auto,
            label_smoothing: 0.1,
            huber_delta: 1.0,
            optimizer: OptimizerKind::Adamw,
            weight_decay: 0.01,
            momentum: 0.9,
            lr: 3e-3,
            schedule: ScheduleKind::Cosine,
            min_lr_ratio: 0.01,
            decay_rate: 0.97,
            warmup_epochs: 2.0,
            clip_norm: Some(1.0),
            clip_value: None,
            batch_size: 16,
            epochs: None,
            monitor: None,
            patience: None,
            keep_best: true,
            seed: 1,
            threads: None,
            standardize: None,
            log_inputs: None,
            sequence_norm: None,
            solver: Solver::Auto,
            val_split: None,
            ensemble: 1,
            kernel_init: KernelInit::GlorotUniform,
            recurrent_init: RecurrentInit::Orthogonal,
            forget_bias: None,
            augment_scale: 0.0,
            augment_jitter: 0.0,
            augment_crop: 0.0,
            augment_time_jitter: 0.0,
            augment_flip: false,
            augment_zoom: 0.0,
        }
    }
}

fn bad(message: String) -> NnError {
    NnError::Setting(format!("training: {message}"))
}

impl Settings {
    /// Reads settings from a JSON object (the `training` section with the command line's
    /// values merged in), naming what is wrong.
    pub fn from_json(value: serde_json::Value) -> Result<Self> {
        let s: Settings = serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        s.check()?;
        Ok(s)
    }

    /// These settings with the input encoding filled in where it was left unset: for the
    /// default MiniRocket model (`default_minirocket`) the raw values, as sktime feeds them
    /// (no standardisation, signed log or per-sequence channels: over five seeds their
    /// leave-one-out accuracy on the training files was higher on PickupGestureWiimoteZ and
    /// PLAID and the same on JapaneseVowels); otherwise standardised channels, `auto` signed
    /// log and appended per-sequence channels.
    pub fn for_model(&self, default_minirocket: bool) -> Settings {
        let encoding = self.input_encoding(default_minirocket);
        Settings {
            standardize: Some(encoding.standardize),
            log_inputs: Some(encoding.log_inputs),
            sequence_norm: Some(encoding.sequence_norm),
            ..self.clone()
        }
    }

    /// The input encoding in use: each setting as set, or its default for the model
    /// (`default_minirocket`: the default model of the ridge solver; see
    /// [`Settings::for_model`]).
    pub fn input_encoding(&self, default_minirocket: bool) -> InputEncoding {
        let defaults = match default_minirocket {
            true => InputEncoding {
                standardize: false,
                log_inputs: LogInputs::Off,
                sequence_norm: SequenceNorm::Off,
            },
            false => InputEncoding {
                standardize: true,
                log_inputs: LogInputs::Auto,
                sequence_norm: SequenceNorm::Append,
            },
        };
        InputEncoding {
            standardize: self.standardize.unwrap_or(defaults.standardize),
            log_inputs: self.log_inputs.unwrap_or(defaults.log_inputs),
            sequence_norm: self.sequence_norm.unwrap_or(defaults.sequence_norm),
        }
    }

    /// The settings of gradient training that differ from their defaults (the ridge solver
    /// does not use them).
    pub fn gradient_only_changes(&self) -> Vec<&'static str> {
        let d = Settings::default();
        [
            ("loss", self.loss != d.loss),
            ("label_smoothing", self.label_smoothing != d.label_smoothing),
            ("huber_delta", self.huber_delta != d.huber_delta),
            ("optimizer", self.optimizer != d.optimizer),
            ("weight_decay", self.weight_decay != d.weight_decay),
            ("momentum", self.momentum != d.momentum),
            ("lr", self.lr != d.lr),
            ("schedule", self.schedule != d.schedule),
            ("min_lr_ratio", self.min_lr_ratio != d.min_lr_ratio),
            ("decay_rate", self.decay_rate != d.decay_rate),
            ("warmup_epochs", self.warmup_epochs != d.warmup_epochs),
            ("clip", self.clip_norm != d.clip_norm || self.clip_value != d.clip_value),
            ("batch_size", self.batch_size != d.batch_size),
            ("epochs", self.epochs != d.epochs),
            ("monitor", self.monitor != d.monitor),
            ("patience", self.patience != d.patience),
            ("keep_best", self.keep_best != d.keep_best),
            ("kernel_init", self.kernel_init != d.kernel_init),
            ("recurrent_init", self.recurrent_init != d.recurrent_init),
            ("forget_bias", self.forget_bias != d.forget_bias),
            ("augment_scale", self.augment_scale != d.augment_scale),
            ("augment_jitter", self.augment_jitter != d.augment_jitter),
            ("augment_crop", self.augment_crop != d.augment_crop),
            ("augment_time_jitter", self.augment_time_jitter != d.augment_time_jitter),
            ("augment_flip", self.augment_flip != d.augment_flip),
            ("augment_zoom", self.augment_zoom != d.augment_zoom),
        ]
        .into_iter()
        .filter_map(|(name, changed)| changed.then_some(name))
        .collect()
    }

    /// The share of the training file held out, for the solver in use.
    pub fn val_split_for(&self, ridge: bool) -> f64 {
        self.val_split.unwrap_or(if ridge { 0.0 } else { 0.2 })
    }

    /// Checks every value's range.
    pub fn check(&self) -> Result<()> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(bad(format!("{name} must be a positive number, got {v}")))
            }
        };
        let unit = |name: &str, v: f64| {
            if (0.0..1.0).contains(&v) {
                Ok(())
            } else {
                Err(bad(format!("{name} must be in [0, 1), got {v}")))
            }
        };
        positive("lr", self.lr)?;
        positive("huber_delta", self.huber_delta)?;
        unit("label_smoothing", self.label_smoothing)?;
        unit("momentum", self.momentum)?;
        if let Some(v) = self.val_split {
            unit("val_split", v)?;
        }
        unit("min_lr_ratio", self.min_lr_ratio)?;
        unit("augment_crop", self.augment_crop)?;
        unit("augment_zoom", self.augment_zoom)?;
        if !(0.0..=1.0).contains(&self.augment_time_jitter) {
            return Err(bad(format!(
                "augment_time_jitter is a chance, in [0, 1], got {}",
                self.augment_time_jitter
            )));
        }
        for (name, v) in [
            ("augment_scale", self.augment_scale),
            ("augment_jitter", self.augment_jitter),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err(bad(format!("{name} must be at least 0, got {v}")));
            }
        }
        if !(self.decay_rate > 0.0 && self.decay_rate <= 1.0) {
            return Err(bad(format!("decay_rate must be in (0, 1], got {}", self.decay_rate)));
        }
        if !(self.weight_decay.is_finite() && self.weight_decay >= 0.0) {
            return Err(bad(format!(
                "weight_decay must be at least 0, got {}",
                self.weight_decay
            )));
        }
        if !(self.warmup_epochs.is_finite() && self.warmup_epochs >= 0.0) {
            return Err(bad(format!(
                "warmup_epochs must be at least 0, got {}",
                self.warmup_epochs
            )));
        }
        if let Some(c) = self.clip_norm {
            positive("clip_norm", c)?;
        }
        if let Some(c) = self.clip_value {
            positive("clip_value", c)?;
        }
        if let Some(b) = self.forget_bias.filter(|b| !b.is_finite()) {
            return Err(bad(format!("forget_bias must be a finite number, got {b}")));
        }
        self.check_counts()
    }

    /// Refuses counts of zero (batch size, epochs, patience, threads, ensemble), an ensemble
    /// over 100, and early stopping without keeping the best epoch.
    fn check_counts(&self) -> Result<()> {
        for (name, v) in [
            ("batch_size", Some(self.batch_size)),
            ("epochs", self.epochs),
            ("patience", self.patience),
            ("threads", self.threads),
            ("ensemble", Some(self.ensemble)),
        ] {
            if v == Some(0) {
                return Err(bad(format!("{name} must be at least 1")));
            }
        }
        if self.ensemble > 100 {
            return Err(bad(format!("ensemble must be at most 100, got {}", self.ensemble)));
        }
        if self.patience.is_some() && !self.keep_best {
            return Err(bad(
                "patience (early stopping) needs keep_best: the stopping rule is the best epoch's".into(),
            ));
        }
        Ok(())
    }

    /// The loss for `task`, or an error if the chosen loss does not fit its targets.
    pub fn loss_for(&self, task: Task) -> Result<Loss> {
        let classes = task.is_classification();
        match (self.loss, classes) {
            (LossKind::Auto | LossKind::CrossEntropy, true) => Ok(Loss::SoftmaxCrossEntropy {
                label_smoothing: self.label_smoothing,
            }),
            (LossKind::Auto | LossKind::Mse, false) => Ok(Loss::Mse),
            (LossKind::Huber, false) => Ok(Loss::Huber {
                delta: self.huber_delta,
            }),
            (LossKind::Mae, false) => Ok(Loss::Mae),
            (LossKind::CrossEntropy, false) => Err(bad(format!(
                "loss cross_entropy needs class targets, but the data has values ({})",
                task.describe()
            ))),
            (_, true) => Err(bad(format!(
                "loss {:?} needs value targets, but the data has classes ({}); use cross_entropy",
                self.loss,
                task.describe()
            ))),
        }
    }

    /// The optimiser.
    pub fn optimizer_config(&self) -> OptimizerConfig {
        match self.optimizer {
            OptimizerKind::Sgd | OptimizerKind::Nesterov => OptimizerConfig::Sgd {
                momentum: self.momentum,
                nesterov: self.optimizer == OptimizerKind::Nesterov,
            },
            OptimizerKind::Adam => OptimizerConfig::adam(),
            OptimizerKind::Adamw => OptimizerConfig::AdamW {
                beta1: 0.9,
                beta2: 0.999,
                epsilon: 1e-8,
                weight_decay: self.weight_decay,
            },
        }
    }

    /// Gradient clipping (by value if both are given).
    pub fn clip(&self) -> Option<Clip> {
        self.clip_value
            .map(Clip::Value)
            .or(self.clip_norm.map(Clip::GlobalNorm))
    }

    /// Epochs of the run for `steps_per_epoch` batches an epoch.
    pub fn epochs_for(&self, steps_per_epoch: usize) -> usize {
        self.epochs
            .unwrap_or_else(|| (3000usize.div_ceil(steps_per_epoch.max(1))).clamp(30, 400))
    }

    /// The learning-rate schedule for a run of `epochs` × `steps_per_epoch` steps.
    pub fn schedule(&self, epochs: usize, steps_per_epoch: usize) -> Schedule {
        let total = (epochs * steps_per_epoch) as u64;
        let warmup = ((self.warmup_epochs * steps_per_epoch as f64).round() as u64).min(total / 2);
        match self.schedule {
            ScheduleKind::Constant => Schedule::Cosine {
                lr: self.lr,
                min_lr: self.lr,
                warmup,
                total,
            },
            ScheduleKind::Cosine => Schedule::Cosine {
                lr: self.lr,
                min_lr: self.lr * self.min_lr_ratio,
                warmup,
                total,
            },
            ScheduleKind::Exponential => Schedule::Exponential {
                lr: self.lr,
                rate: self.decay_rate,
                every: steps_per_epoch.max(1) as u64,
            },
        }
    }

    /// The monitored metric and its direction; without validation data (or with `keep_best`
    /// off), the optimiser's step count, which always improves, so the last epoch is kept.
    pub fn monitor_for(&self, task: Task, validating: bool) -> Result<(String, Goal)> {
        // A metric the task never reports is a mistake even where nothing is monitored.
        let name = self.monitor.clone().unwrap_or_else(|| "val_loss".into());
        let known = task.metric_names();
        if !known.contains(&name.as_str()) {
            return Err(bad(format!(
                "cannot monitor `{name}` for {}; choose one of {}",
                task.describe(),
                known.join(", ")
            )));
        }
        if !validating || !self.keep_best {
            return Ok(("steps".into(), Goal::Maximize));
        }
        let goal = if name == "val_accuracy" {
            Goal::Maximize
        } else {
            Goal::Minimize
        };
        Ok((name, goal))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_defaults_parse_and_bad_values_are_named() {
        let s = Settings::from_json(serde_json::json!({})).unwrap();
        assert_eq!(s, Settings::default());
        let err = |v: serde_json::Value| Settings::from_json(v).unwrap_err().to_string();
        assert!(err(serde_json::json!({"lr": -1.0})).contains("lr must be a positive number"));
        assert!(err(serde_json::json!({"optimizer": "adagrad"})).contains("unknown variant `adagrad`"));
        assert!(err(serde_json::json!({"learning_rate": 0.1})).contains("unknown field `learning_rate`"));
        assert!(err(serde_json::json!({"batch_size": 0})).contains("batch_size must be at least 1"));
        assert!(err(serde_json::json!({"val_split": 1.0})).contains("val_split must be in [0, 1)"));
        let mse = Settings {
            loss: LossKind::Mse,
            ..Settings::default()
        };
        assert!(mse
            .loss_for(Task::Classify)
            .unwrap_err()
            .to_string()
            .contains("needs value targets"));
        let mae = Settings::from_json(serde_json::json!({"loss": "mae"})).unwrap();
        assert_eq!(mae.loss_for(Task::Regress).unwrap(), Loss::Mae);
        assert!(mae.loss_for(Task::TagSteps).is_err());
    }

    #[test]
    fn settings_schedule_warms_up_and_decays() {
        let s = Settings::default();
        let sched = s.schedule(10, 5);
        assert!(sched.at(0) < s.lr && (sched.at(9) - s.lr).abs() < 1e-9 && sched.at(49) < s.lr * 0.05);
        assert_eq!(s.epochs_for(10), 300);
        assert_eq!(s.epochs_for(1000), 30);
    }
}
