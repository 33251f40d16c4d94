//! The fit loop: epochs of training batches, a validation pass after each, early stopping on a
//! monitored metric, the best weights kept, and a checkpoint after every epoch from which a
//! killed run resumes exactly where it stopped.
//!
//! Resuming reproduces an uninterrupted run bit for bit: batches are asked for by epoch number
//! (so their shuffling is a function of the seed and the epoch), dropout masks depend on the step
//! count, and the checkpoint holds the weights, the optimiser's moments and the loop's state.
//!
//! Across processes (see [`crate::distributed`]) every rank runs this loop on the same batches
//! and validates alike; rank 0 alone prints and writes. The ranks check that they agree on the
//! model, settings and checkpoint at the start, on the first epoch's batches, and on every
//! epoch's validation scores (which steer early stopping), so none runs on alone.

use crate::checkpoint::{self, FitState};
use crate::distributed::Fingerprint;
use crate::history::{EpochRecord, Goal, Metrics};
use crate::loss::Targets;
use crate::progress::{Event, Reporter};
use crate::trainer::Trainer;
use recur_core::{Float, Seq};
use recur_nn::{model_dir, Model, NnError, Result};
use std::path::PathBuf;
use std::time::Instant;

/// One batch: inputs and what the outputs should be.
#[derive(Clone, Debug)]
pub struct Batch<T> {
    /// Inputs `[batch, time, features]` with lengths.
    pub x: Seq<T>,
    /// Targets laid out like the outputs.
    pub targets: Targets,
}

/// How to run [`fit`].
#[derive(Clone, Debug)]
pub struct FitOptions {
    /// Epochs in the whole run (a resumed run counts the epochs already done).
    pub epochs: usize,
    /// The validation metric that decides the best epoch and early stopping.
    pub monitor: String,
    /// Its direction.
    pub goal: Goal,
    /// Stop after this many epochs without improvement (`None`: never stop early).
    pub patience: Option<usize>,
    /// Where the best model (`config.json`, `model.safetensors`) and the checkpoint go.
    pub out: Option<PathBuf>,
    /// Continue the run checkpointed in `out`.
    pub resume: bool,
    /// Where the run's progress goes (epochs, batches; heard on rank 0 alone).
    pub progress: Reporter,
}

/// What [`fit`] returns; the trainer's model holds the best epoch's weights.
#[derive(Clone, Debug)]
pub struct FitReport {
    /// Every epoch so far (including those before a resume).
    pub history: Vec<EpochRecord>,
    /// The epoch whose weights were kept (1-based; 0 if none ran).
    pub best_epoch: usize,
    /// The monitored metric at the best epoch.
    pub best_value: f64,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
}

/// Trains `trainer` for `options.epochs` epochs.
///
/// `train_batches(epoch)` gives the batches of a 0-based epoch (shuffled and augmented as the
/// caller likes, but deterministically in `epoch`); `validate` scores the current weights and
/// must return the monitored metric. On return the trainer's model holds the best weights.
pub fn fit<T: Float>(
    trainer: &mut Trainer<Model<T>>,
    options: &FitOptions,
    mut train_batches: impl FnMut(usize) -> Result<Vec<Batch<T>>>,
    mut validate: impl FnMut(&mut Trainer<Model<T>>) -> Result<Metrics>,
) -> Result<FitReport> {
    let mut state = match (&options.out, options.resume) {
        (Some(out), true) => checkpoint::load(out, trainer)?,
        (None, true) => return Err(NnError::Config("resuming needs an output directory".into())),
        _ => FitState::new(options.goal),
    };
    let mut best_model = match (&options.out, state.best_epoch) {
        (Some(out), e) if e > 0 => model_dir::load::<T>(out)?,
        _ => trainer.model.clone(),
    };
    trainer.agree("the model, training settings and checkpoint", || {
        setup_fingerprint(trainer, options, &state)
    })?;
    // Only rank 0 (or the only process) reports and writes.
    let lead = trainer.rank() == 0;
    let progress = if lead {
        options.progress.clone()
    } else {
        Reporter::silent()
    };
    let out = options.out.as_ref().filter(|_| lead);
    let mut stopped_early = false;
    for epoch in state.epochs_done..options.epochs {
        if options.patience.is_some_and(|p| state.epochs_since_best >= p) {
            stopped_early = true;
            break;
        }
        let start = Instant::now();
        let batches = train_batches(epoch)?;
        // Ranks with data of their own step together until the one with most batches is done;
        // otherwise every rank must have been handed the same batches.
        let steps = if trainer.rank_local() {
            trainer.max_over_ranks(batches.len() as u64) as usize
        } else {
            if epoch == state.epochs_done {
                trainer.agree("the training data", || batches_fingerprint(&batches))?;
            }
            batches.len()
        };
        progress.report(Event::EpochStarted {
            epoch: epoch + 1,
            epochs: options.epochs,
            batches: steps,
        });
        let (mut loss_sum, mut count, mut correct, mut lr) = (0.0, 0usize, 0usize, 0.0);
        for done in 0..steps {
            lr = trainer.learning_rate();
            let s = match batches.get(done) {
                Some(batch) => trainer.train_step(&batch.x, &batch.targets)?,
                None => trainer.train_step_idle()?,
            };
            loss_sum += s.loss * s.count as f64;
            count += s.count;
            correct += s.correct;
            progress.report(Event::Batch {
                done: done + 1,
                loss: loss_sum / count.max(1) as f64,
            });
        }
        let metrics = validate(trainer)?;
        trainer.agree(&format!("the validation scores of epoch {}", epoch + 1), || {
            let mut digest = Fingerprint::default();
            metrics.iter().for_each(|(name, value)| {
                digest.text(name).floats(&[*value]);
            });
            digest.finish()
        })?;
        let value = lookup(&metrics, &options.monitor)?;
        let record = EpochRecord {
            epoch: epoch + 1,
            loss: loss_sum / count.max(1) as f64,
            accuracy: matches!(batches.first().map(|b| &b.targets), Some(Targets::Classes(_)))
                .then(|| correct as f64 / count.max(1) as f64),
            metrics,
            lr,
            seconds: start.elapsed().as_secs_f64(),
        };
        let improved = state.observe(value);
        if improved {
            best_model.copy_values_from(&trainer.model);
            if let Some(out) = out {
                model_dir::save(&trainer.model, out)?;
            }
        }
        progress.report(Event::EpochEnded {
            record: &record,
            epochs: options.epochs,
            improved,
        });
        state.history.push(record);
        state.epochs_done = epoch + 1;
        if let Some(out) = out {
            checkpoint::save(out, trainer, &state)?;
        }
    }
    if state.best_epoch > 0 {
        trainer.model.copy_values_from(&best_model);
        trainer.sync_replicas();
    }
    Ok(FitReport {
        history: state.history,
        best_epoch: state.best_epoch,
        best_value: state.best_value,
        stopped_early,
    })
}

/// A digest of what a run starts from: settings, model, weights and the loop's state.
fn setup_fingerprint<T: Float>(trainer: &Trainer<Model<T>>, options: &FitOptions, state: &FitState) -> u64 {
    // The config's debug form: everything it holds, without a fallible serialisation.
    let config = format!("{:?}", trainer.model.config());
    let mut digest = Fingerprint::default();
    digest
        .text(&format!("{:?}", trainer.config()))
        .text(&config)
        .text(&options.monitor)
        .word(options.epochs as u64)
        .word(options.patience.map_or(u64::MAX, |p| p as u64))
        .word(trainer.step_count())
        .word(state.epochs_done as u64);
    for (_, p) in trainer.model.named_params() {
        digest.floats(&p.value);
    }
    digest.finish()
}

/// A digest of an epoch's batches: inputs, lengths and targets.
fn batches_fingerprint<T: Float>(batches: &[Batch<T>]) -> u64 {
    let mut digest = Fingerprint::default();
    for b in batches {
        digest.word(b.x.time as u64).floats(&b.x.data);
        b.x.lengths.iter().for_each(|&l| {
            digest.word(l as u64);
        });
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

/// The value of `name` in `metrics`, or an error listing what there is.
pub fn lookup(metrics: &Metrics, name: &str) -> Result<f64> {
    metrics.iter().find(|(n, _)| n == name).map(|(_, v)| *v).ok_or_else(|| {
        let names: Vec<&str> = metrics.iter().map(|(n, _)| n.as_str()).collect();
        NnError::Config(format!(
            "no metric `{name}` to monitor; there are: {}",
            names.join(", ")
        ))
    })
}
