//! The four kinds of supervision a sequence set can carry, as its targets imply them.

use recur_data::sequences::SequenceTargets;
use serde::{Deserialize, Serialize};

/// The four kinds of supervision a sequence set can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// One class per sequence.
    Classify,
    /// One vector of values per sequence.
    Regress,
    /// One class per step.
    TagSteps,
    /// One vector of values per step.
    RegressSteps,
}

impl Task {
    /// The task the targets imply.
    pub fn of(targets: &SequenceTargets) -> Task {
        match targets {
            SequenceTargets::Classes { .. } => Task::Classify,
            SequenceTargets::Values { .. } => Task::Regress,
            SequenceTargets::StepClasses { .. } => Task::TagSteps,
            SequenceTargets::StepValues { .. } => Task::RegressSteps,
        }
    }

    /// Class targets (as opposed to values).
    pub fn is_classification(self) -> bool {
        matches!(self, Task::Classify | Task::TagSteps)
    }

    /// One output per step (as opposed to per sequence).
    pub fn per_step(self) -> bool {
        matches!(self, Task::TagSteps | Task::RegressSteps)
    }

    /// Words for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Task::Classify => "sequence classification",
            Task::Regress => "sequence regression",
            Task::TagSteps => "per-step tagging",
            Task::RegressSteps => "per-step regression",
        }
    }

    /// The validation metrics reported for this task.
    pub fn metric_names(self) -> &'static [&'static str] {
        if self.is_classification() {
            &["val_loss", "val_accuracy"]
        } else {
            &["val_loss", "val_mae", "val_rmse"]
        }
    }
}
