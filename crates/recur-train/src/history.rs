//! What a training run records: each epoch's figures, and which way its monitored metric
//! improves. Shared by the fit loop, its checkpoints and its progress events.

use serde::{Deserialize, Serialize};

/// Named validation figures, in the order they are printed (e.g. `val_loss`, `val_top1`).
pub type Metrics = Vec<(String, f64)>;

/// Whether a monitored metric improves downwards (losses, errors) or upwards (accuracies).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Goal {
    /// Lower is better.
    Minimize,
    /// Higher is better.
    Maximize,
}

/// One epoch's record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss.
    pub loss: f64,
    /// Training top-1 accuracy (classification only).
    pub accuracy: Option<f64>,
    /// Validation figures.
    pub metrics: Metrics,
    /// Learning rate at the epoch's last step.
    pub lr: f64,
    /// Wall time of the epoch in seconds.
    pub seconds: f64,
    /// Seconds of those spent in training steps (validation excluded).
    #[serde(default)]
    pub train_seconds: f64,
    /// Seconds since the run began, counting those before a resume.
    #[serde(default)]
    pub elapsed: f64,
}
