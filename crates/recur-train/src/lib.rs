//! recur's training: losses, optimisers, gradient clipping, learning-rate schedules, the
//! data-parallel [`Trainer`] of any [`Trainable`] model and the resumable [`fit()`] loop.

// Kernels index several parallel arrays with one loop variable, as the math is written.
#![allow(clippy::needless_range_loop)]

pub mod checkpoint;
pub mod distributed;
pub mod ensemble;
pub mod epochs;
pub mod fit;
mod gradients;
pub mod history;
pub mod loss;
pub mod optim;
pub mod progress;
pub mod trainable;
pub mod trainer;

pub use distributed::{Collective, Fingerprint};
pub use epochs::{train_epochs, Curriculum, EpochSteps, FitOptions, FitReport, Plateau, UNTIL_TIME_LIMIT};
pub use fit::{fit, Batch};
pub use history::{EpochRecord, Goal, Metrics};
pub use loss::{Loss, Targets};
pub use optim::{Clip, Optimizer, OptimizerConfig, Schedule};
pub use progress::{Clock, Event, Reporter};
pub use trainable::{count_correct, LossSums, Supervised, Trainable};
pub use trainer::{per_class_accuracy, predict_parallel, predict_parallel_inputs, StepStats, TrainConfig, Trainer};
