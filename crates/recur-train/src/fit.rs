//! [`fit()`]: the epoch loop of [`crate::epochs`] for graph models on supervised batches. The
//! caller says how an epoch's batches are made and how the weights are scored; the best model
//! is written to the output folder as training goes.
//!
//! Ranks with data of their own (see [`Trainer::set_rank_local`]) step together until the one
//! with most batches is done; otherwise every rank must be handed the same batches, which they
//! check on the first epoch of a run.

use crate::distributed::Fingerprint;
use crate::epochs::{train_epochs, Curriculum, EpochSteps, FitOptions, FitReport};
use crate::history::Metrics;
use crate::loss::Targets;
use crate::trainer::Trainer;
use recur_core::{Float, Seq};
use recur_nn::{model_dir, Model, Result};
use serde_json::Value;

/// One batch: inputs and what the outputs should be.
#[derive(Clone, Debug)]
pub struct Batch<T> {
    /// Inputs `[batch, time, features]` with lengths (the model's first input).
    pub x: Seq<T>,
    /// Targets laid out like the outputs.
    pub targets: Targets,
    /// The further inputs of a model with several, in its config's `inputs` order (empty for a
    /// one-input model).
    pub more_inputs: Vec<Seq<T>>,
}

impl<T: Float> Batch<T> {
    /// Every input in the model's order: `x`, then the further ones (a copy only when there
    /// are further ones).
    pub fn inputs(&self) -> std::borrow::Cow<'_, [Seq<T>]> {
        if self.more_inputs.is_empty() {
            return std::borrow::Cow::Borrowed(std::slice::from_ref(&self.x));
        }
        let all = std::iter::once(&self.x).chain(&self.more_inputs).cloned().collect();
        std::borrow::Cow::Owned(all)
    }
}

/// Trains `trainer` for `options.epochs` epochs.
///
/// `train_batches(epoch)` gives the batches of a 0-based epoch (shuffled and augmented as the
/// caller likes, but deterministically in `epoch`); `validate` scores the current weights and
/// must return the monitored metric. On return the trainer's model holds the best weights, which
/// are also in `options.out` (if given) as a model directory.
pub fn fit<T: Float, B, V>(
    trainer: &mut Trainer<Model<T>>,
    options: &FitOptions,
    train_batches: B,
    validate: V,
) -> Result<FitReport>
where
    B: FnMut(usize) -> Result<Vec<Batch<T>>>,
    V: FnMut(&mut Trainer<Model<T>>) -> Result<Metrics>,
{
    let mut job = Supervised {
        train_batches,
        validate,
        out: options.out.clone(),
        first_epoch: None,
        plan: plan_digest(&trainer.model),
    };
    train_epochs(trainer, options, &mut job)
}

/// A graph model's curriculum: the caller's batches and scores.
struct Supervised<B, V> {
    train_batches: B,
    validate: V,
    out: Option<std::path::PathBuf>,
    /// The first epoch this run trains (whose batches the ranks compare).
    first_epoch: Option<usize>,
    /// A digest of the model's layers and shapes.
    plan: u64,
}

impl<T: Float, B, V> Curriculum<Model<T>> for Supervised<B, V>
where
    B: FnMut(usize) -> Result<Vec<Batch<T>>>,
    V: FnMut(&mut Trainer<Model<T>>) -> Result<Metrics>,
{
    fn train_epoch(&mut self, epoch: usize, steps: &mut EpochSteps<'_, Model<T>>) -> Result<()> {
        let batches = (self.train_batches)(epoch)?;
        let first = *self.first_epoch.get_or_insert(epoch);
        // Ranks with data of their own step together until the one with most batches is done;
        // otherwise every rank must have been handed the same batches.
        let count = if steps.trainer.rank_local() {
            steps.trainer.max_over_ranks(batches.len() as u64) as usize
        } else {
            if epoch == first {
                steps
                    .trainer
                    .agree("the training data", || batches_fingerprint(&batches))?;
            }
            batches.len()
        };
        let classes = matches!(batches.first().map(|b| &b.targets), Some(Targets::Classes(_)));
        steps.start(count, classes);
        for done in 0..count {
            match batches.get(done) {
                Some(batch) => steps.train_step(&batch.inputs(), &batch.targets)?,
                None => steps.idle()?,
            }
        }
        Ok(())
    }

    fn validate(&mut self, trainer: &mut Trainer<Model<T>>) -> Result<Metrics> {
        (self.validate)(trainer)
    }

    /// The model's plan: a checkpoint resumes for the same layers and shapes (the training
    /// settings may change).
    fn setup(&self) -> Value {
        Value::from(self.plan)
    }

    fn improved(&mut self, model: &Model<T>) -> Result<()> {
        match &self.out {
            Some(out) => model_dir::save(model, out),
            None => Ok(()),
        }
    }
}

/// A digest of a model's plan: its layers, their shapes and settings.
fn plan_digest<T: Float>(model: &Model<T>) -> u64 {
    Fingerprint::default().text(&format!("{:?}", model.plan())).finish()
}

/// A digest of an epoch's batches: inputs, lengths and targets.
fn batches_fingerprint<T: Float>(batches: &[Batch<T>]) -> u64 {
    let mut digest = Fingerprint::default();
    for b in batches {
        for x in b.inputs().iter() {
            digest.word(x.time as u64).floats(&x.data);
            x.lengths.iter().for_each(|&l| {
                digest.word(l as u64);
            });
        }
        match &b.targets {
            Targets::Classes(c) => c.iter().for_each(|&k| {
                digest.word(k as u64);
            }),
            Targets::Values(v) => {
                digest.floats(v);
            }
        }
    }
    digest.finish()
}
