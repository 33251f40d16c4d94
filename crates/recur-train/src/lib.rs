//! recur's training: losses, optimisers, gradient clipping, learning-rate schedules and the
//! data-parallel [`Trainer`].

// Kernels index several parallel arrays with one loop variable, as the math is written.
#![allow(clippy::needless_range_loop)]

pub mod loss;
pub mod optim;
pub mod trainer;

pub use loss::{Loss, Targets};
pub use optim::{Clip, Optimizer, OptimizerConfig, Schedule};
pub use trainer::{predict_sharded, StepStats, TrainConfig, Trainer};
