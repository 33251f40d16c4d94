//! The settings of an encoder–decoder's training run and the figures it records per epoch
//! (kept in its checkpoints and written beside the model).

use serde::{Deserialize, Serialize};

/// Training settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainOptions {
    /// Passes over the training pairs at most.
    pub epochs: usize,
    /// Pairs per optimiser step.
    pub batch: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// Label smoothing of the cross-entropy.
    pub label_smoothing: f64,
    /// Global gradient-norm clip.
    pub clip: f64,
    /// Halve the learning rate after this many epochs without a better validation score.
    pub lr_patience: usize,
    /// Stop after this many epochs without a better validation score.
    pub patience: usize,
    /// Stop starting epochs once this many seconds have passed (0: no limit).
    pub max_seconds: f64,
    /// Beam used to score validation (1: greedy, the fastest).
    pub val_beam: usize,
    /// Threads the batch is split across.
    pub threads: usize,
    /// Seed of shuffling and dropout.
    pub seed: u64,
    /// Scheduled sampling: the largest share of decoder inputs replaced by the model's own
    /// predictions, reached at the last epoch from 0 at the first (see [`crate::sampling`]).
    #[serde(default)]
    pub scheduled_sampling: f64,
    /// Under MPI, each rank trains on pairs of its own (`pairs` and `validation` are this
    /// rank's part): it batches them `batch / ranks` a step, an epoch lasts as long as the
    /// largest part, and the validation counts of all parts are added. Not stored: it says how
    /// the data was spread, not how the model was trained.
    #[serde(skip)]
    pub rank_local: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: 30,
            batch: 128,
            lr: 2e-3,
            label_smoothing: 0.1,
            clip: 5.0,
            lr_patience: 1,
            patience: 4,
            max_seconds: 0.0,
            val_beam: 1,
            threads: recur_core::parallel::default_threads(),
            seed: 1,
            scheduled_sampling: 0.0,
            rank_local: false,
        }
    }
}

/// One epoch's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean cross-entropy per target token.
    pub loss: f64,
    /// Share of target tokens predicted right under teacher forcing.
    pub token_accuracy: f64,
    /// Validation word error rate (share of sources with no reference matched).
    pub val_wer: f64,
    /// Validation token error rate against the closest reference.
    pub val_per: f64,
    /// Learning rate used.
    pub lr: f64,
    /// Training pairs per second in this epoch (validation excluded).
    pub pairs_per_second: f64,
    /// Seconds since training started.
    pub elapsed: f64,
}
