//! The epoch loop every trainable model goes through: epochs of training steps, a validation
//! pass after each, the best weights kept (on a monitored metric, a second one breaking ties),
//! the learning rate lowered on a plateau, early stopping, a time limit, a checkpoint after
//! every epoch from which a killed run resumes exactly where it stopped, and progress events.
//!
//! What differs between models is a [`Curriculum`]: how one epoch's batches are made and
//! stepped through, how the weights are scored, what a resumed run must agree with, and what
//! to do with a new best model. Graph models go through [`crate::fit()`]; the encoder–decoder
//! of `recur-seq2seq` through its own curriculum.
//!
//! Resuming reproduces an uninterrupted run bit for bit: batches are asked for by epoch number
//! (so their shuffling is a function of the seed and the epoch), dropout masks depend on the step
//! count, and the checkpoint holds the weights, the best weights, the optimiser's moments and
//! the loop's state.
//!
//! Across processes (see [`crate::distributed`]) every rank runs this loop and validates alike;
//! rank 0 alone reports and writes. The ranks check that they agree on the model, settings and
//! checkpoint at the start and on every epoch's validation scores (which steer early stopping),
//! and rank 0's clock decides the time limit, so none runs on alone.

use crate::checkpoint::{self, Best, FitState};
use crate::distributed::Fingerprint;
use crate::history::{EpochRecord, Goal, Metrics};
use crate::loss::Targets;
use crate::progress::{Clock, Event, Reporter};
use crate::trainable::{LossSums, Trainable};
use crate::trainer::{StepStats, Trainer};
use recur_core::{Float, Seq};
use recur_nn::{Model, NnError, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// [`FitOptions::epochs`] of a run that trains until its time limit (`max_seconds`) alone:
/// progress then shows the clock, not an epoch count.
pub const UNTIL_TIME_LIMIT: usize = usize::MAX;

/// How to run the epoch loop.
#[derive(Clone, Debug)]
pub struct FitOptions {
    /// Epochs in the whole run (a resumed run counts the epochs already done), or
    /// [`UNTIL_TIME_LIMIT`] for a run that goes on until `max_seconds`.
    pub epochs: usize,
    /// The validation metric that decides the best epoch and early stopping.
    pub monitor: String,
    /// A second metric that decides between epochs equal on `monitor` (the same direction).
    pub tie_break: Option<String>,
    /// Their direction.
    pub goal: Goal,
    /// Stop after this many epochs without improvement (`None`: never stop early).
    pub patience: Option<usize>,
    /// Lower the learning rate when the monitored metric stops improving (`None`: never).
    pub plateau: Option<Plateau>,
    /// Start no epoch once this many seconds of this run have passed (every run trains one).
    pub max_seconds: Option<f64>,
    /// Where the checkpoint goes (and, for graph models, the best model).
    pub out: Option<PathBuf>,
    /// Continue the run checkpointed in `out`.
    pub resume: bool,
    /// Where the run's progress goes (epochs, batches; heard on rank 0 alone).
    pub progress: Reporter,
}

impl Default for FitOptions {
    /// One epoch monitoring `val_loss`, without early stopping, checkpoints or limits.
    fn default() -> Self {
        FitOptions {
            epochs: 1,
            monitor: "val_loss".into(),
            tie_break: None,
            goal: Goal::Minimize,
            patience: None,
            plateau: None,
            max_seconds: None,
            out: None,
            resume: false,
            progress: Reporter::silent(),
        }
    }
}

/// Lowering the learning rate on a plateau (Keras's `ReduceLROnPlateau`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plateau {
    /// Epochs without improvement (counted from the best or the last reduction) before it.
    pub patience: usize,
    /// What the rate is multiplied by each time.
    pub factor: f64,
}

/// What the epoch loop returns; the trainer's model holds the best epoch's weights.
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

/// What the epoch loop needs to know of a training job besides its trainer.
pub trait Curriculum<M: Trainable> {
    /// Trains epoch `epoch` (0-based): makes its batches (deterministically in `epoch`) and
    /// hands each to `steps`, after telling it how many there are.
    fn train_epoch(&mut self, epoch: usize, steps: &mut EpochSteps<'_, M>) -> Result<()>;

    /// Scores the current weights: named figures, among them the monitored ones.
    fn validate(&mut self, trainer: &mut Trainer<M>) -> Result<Metrics>;

    /// What a run is tied to (settings, architecture, data): kept in checkpoints, and a
    /// resumed run must be tied to the same (see [`Curriculum::resume`]).
    fn setup(&self) -> Value {
        Value::Null
    }

    /// The job's own state between epochs, kept in checkpoints.
    fn state(&self) -> Value {
        Value::Null
    }

    /// Takes up a checkpoint's saved setup and state, or refuses to go on from it (by default
    /// unless its setup is this run's).
    fn resume(&mut self, saved: &Saved) -> Result<()> {
        if *saved.setup == self.setup() {
            return Ok(());
        }
        Err(NnError::Config(format!(
            "the checkpoint in {} is for a different model or settings than the ones asked for",
            saved.dir.display()
        )))
    }

    /// The weights of a new best epoch, on rank 0 alone (a job writes its model as it goes,
    /// so that a killed run leaves one).
    fn improved(&mut self, _model: &M) -> Result<()> {
        Ok(())
    }
}

/// What a checkpoint held of a [`Curriculum`]'s, as [`Curriculum::resume`] is given it.
pub struct Saved<'a> {
    /// The checkpoint's folder.
    pub dir: &'a Path,
    /// The setup it was made with.
    pub setup: &'a Value,
    /// The job's own state.
    pub state: &'a Value,
    /// Epochs it had finished.
    pub epochs_done: usize,
}

/// One epoch's steps as a [`Curriculum`] takes them: each through the trainer, the figures
/// summed and every batch reported.
pub struct EpochSteps<'a, M: Trainable> {
    /// The trainer (a curriculum steps through it, or asks it about the ranks).
    pub trainer: &'a mut Trainer<M>,
    progress: &'a Reporter,
    epoch: usize,
    epochs: Option<usize>,
    /// The run's clock when this epoch began, in a time-limited run.
    clock: Option<Clock>,
    sums: LossSums,
    done: usize,
    lr: f64,
    accuracy: bool,
}

impl<M: Trainable> EpochSteps<'_, M> {
    /// Says that the epoch has `batches` steps, and whether its top-1 accuracy means anything
    /// (classification).
    pub fn start(&mut self, batches: usize, accuracy: bool) {
        self.accuracy = accuracy;
        self.progress.report(Event::EpochStarted {
            epoch: self.epoch + 1,
            epochs: self.epochs,
            batches,
            clock: self.clock,
        });
    }

    /// One optimisation step on `batch`.
    pub fn step(&mut self, batch: &M::Batch<'_>) -> Result<()> {
        self.take(|trainer| trainer.step(batch))
    }

    /// A step with no data of this rank's own (see [`Trainer::train_step_idle`]).
    pub fn idle(&mut self) -> Result<()> {
        self.take(Trainer::train_step_idle)
    }

    /// Takes one step through the trainer, its learning rate read before it, and counts it.
    fn take(&mut self, step: impl FnOnce(&mut Trainer<M>) -> Result<StepStats>) -> Result<()> {
        self.progress.check_stop()?;
        self.lr = self.trainer.learning_rate();
        let stats = step(self.trainer)?;
        self.add(stats);
        Ok(())
    }

    fn add(&mut self, stats: StepStats) {
        self.sums.loss += stats.loss_sum;
        self.sums.count += stats.count;
        self.sums.correct += stats.correct;
        self.done += 1;
        self.progress.report(Event::Batch {
            done: self.done,
            loss: self.sums.loss / self.sums.count.max(1) as f64,
        });
    }
}

impl<T: Float> EpochSteps<'_, Model<T>> {
    /// One step of a graph model on its inputs (in its config's order) and targets (see
    /// [`Trainer::train_step_inputs`]).
    pub fn train_step(&mut self, xs: &[Seq<T>], targets: &Targets) -> Result<()> {
        self.take(|trainer| trainer.train_step_inputs(xs, targets))
    }
}

/// Trains `trainer` for `options.epochs` epochs of `job`; on return the trainer's model holds
/// the best epoch's weights.
pub fn train_epochs<M: Trainable>(
    trainer: &mut Trainer<M>,
    options: &FitOptions,
    job: &mut impl Curriculum<M>,
) -> Result<FitReport> {
    check_epochs(options)?;
    let (mut state, mut best) = begin(trainer, options, job)?;
    // Only rank 0 (or the only process) reports and writes.
    let lead = trainer.rank() == 0;
    let progress = if lead {
        options.progress.clone()
    } else {
        Reporter::silent()
    };
    let out = options.out.as_deref().filter(|_| lead);
    if options.resume {
        if let Some(dir) = &options.out {
            progress.report(Event::Resumed {
                epochs_done: state.epochs_done,
                from: dir,
            });
        }
    }
    // Seconds trained before this run (the records' clock goes on across a resume).
    let before = state.history.last().map_or(0.0, |r| r.elapsed);
    let start = Instant::now();
    let first = state.epochs_done;
    let mut stopped_early = false;
    for epoch in first..options.epochs {
        // A resumed run that had stopped early stays stopped (unless given more patience).
        if options.patience.is_some_and(|p| state.epochs_since_best >= p) {
            stopped_early = true;
            break;
        }
        let out_of_time = options.max_seconds.is_some_and(|s| start.elapsed().as_secs_f64() >= s);
        if epoch > first && leader_decides(trainer, out_of_time) {
            break;
        }
        let run = Run {
            progress: &progress,
            before,
            start,
        };
        let (record, value, tie) = run_epoch(trainer, options, job, &state, epoch, &run)?;
        let improved = state.observe(value, tie, options);
        if improved {
            keep_best(&trainer.model, &mut best);
            if lead {
                job.improved(&trainer.model)?;
            }
        }
        progress.report(Event::EpochEnded {
            record: &record,
            epochs: epoch_count(options),
            improved,
        });
        state.history.push(record);
        state.epochs_done = epoch + 1;
        if let Some(out) = out {
            state.job = job.state();
            checkpoint::save(out, trainer, best.as_ref(), &state)?;
        }
    }
    if let Some(b) = &best {
        copy_weights(&mut trainer.model, b);
        trainer.sync_replicas();
    }
    let (best_epoch, best_value) = state.best.as_ref().map_or((0, f64::NAN), |b| (b.epoch, b.value));
    Ok(FitReport {
        history: state.history,
        best_epoch,
        best_value,
        stopped_early,
    })
}

/// Refuses a run of no epochs, or one until a time limit without a limit.
fn check_epochs(options: &FitOptions) -> Result<()> {
    if options.epochs == 0 {
        return Err(NnError::Setting("epochs must be at least 1".into()));
    }
    if options.epochs == UNTIL_TIME_LIMIT && options.max_seconds.is_none() {
        return Err(NnError::Setting(
            "a run without an epoch count needs a time limit".into(),
        ));
    }
    Ok(())
}

/// Keeps a copy of `model`'s weights in `best` (allocated the first time).
fn keep_best<M: Trainable>(model: &M, best: &mut Option<M>) {
    match best {
        Some(b) => copy_weights(b, model),
        None => *best = Some(model.clone()),
    }
}

/// The run's epochs as progress shows them: `None` for a run until its time limit.
fn epoch_count(options: &FitOptions) -> Option<usize> {
    (options.epochs != UNTIL_TIME_LIMIT).then_some(options.epochs)
}

/// Where an epoch's figures go and what its clock counts from.
struct Run<'a> {
    progress: &'a Reporter,
    /// Seconds trained before this run (the records' clock goes on across a resume).
    before: f64,
    /// When this run began.
    start: Instant,
}

/// Trains and validates epoch `epoch` (0-based); returns its record and its monitored and
/// tie-breaking values, the ranks checked to agree on them.
fn run_epoch<M: Trainable>(
    trainer: &mut Trainer<M>,
    options: &FitOptions,
    job: &mut impl Curriculum<M>,
    state: &FitState,
    epoch: usize,
    run: &Run,
) -> Result<(EpochRecord, f64, Option<f64>)> {
    let epoch_start = Instant::now();
    trainer.set_learning_rate_factor(state.lr_factor);
    let mut steps = EpochSteps {
        trainer,
        progress: run.progress,
        epoch,
        epochs: epoch_count(options),
        clock: options.max_seconds.map(|limit| Clock {
            elapsed: run.start.elapsed().as_secs_f64(),
            limit,
        }),
        sums: LossSums::default(),
        done: 0,
        lr: 0.0,
        accuracy: false,
    };
    job.train_epoch(epoch, &mut steps)?;
    let EpochSteps { sums, lr, accuracy, .. } = steps;
    let train_seconds = epoch_start.elapsed().as_secs_f64();
    let metrics = job.validate(trainer)?;
    trainer.agree(&format!("the validation scores of epoch {}", epoch + 1), || {
        let mut digest = Fingerprint::default();
        metrics.iter().for_each(|(name, value)| {
            digest.text(name).floats(&[*value]);
        });
        digest.finish()
    })?;
    let value = lookup(&metrics, &options.monitor)?;
    let tie = options.tie_break.as_deref().map(|n| lookup(&metrics, n)).transpose()?;
    let record = EpochRecord {
        epoch: epoch + 1,
        loss: sums.loss / sums.count.max(1) as f64,
        accuracy: accuracy.then(|| sums.correct as f64 / sums.count.max(1) as f64),
        metrics,
        lr,
        seconds: epoch_start.elapsed().as_secs_f64(),
        train_seconds,
        elapsed: run.before + run.start.elapsed().as_secs_f64(),
    };
    Ok((record, value, tie))
}

/// The loop's state and best weights to start from: a checkpoint's (resuming), or fresh; the
/// ranks checked to agree on them.
fn begin<M: Trainable>(
    trainer: &mut Trainer<M>,
    options: &FitOptions,
    job: &mut impl Curriculum<M>,
) -> Result<(FitState, Option<M>)> {
    let (state, best) = match (&options.out, options.resume) {
        (Some(out), true) => {
            let dir = checkpoint::find(out)?;
            let state: FitState = checkpoint::read_state(&dir)?;
            job.resume(&Saved {
                dir: &dir,
                setup: &state.setup,
                state: &state.job,
                epochs_done: state.epochs_done,
            })?;
            let best = checkpoint::restore(&dir, trainer, &state)?;
            (state, best)
        }
        (None, true) => return Err(NnError::Setting("resuming needs an output directory".into())),
        _ => (FitState::new(options.goal), None),
    };
    let mut state = state;
    state.setup = job.setup();
    trainer.agree("the model, training settings, data and checkpoint", || {
        setup_fingerprint(trainer, options, &state, best.as_ref())
    })?;
    Ok((state, best))
}

impl FitState {
    /// Records the monitored value (and tie-breaker) of the epoch just finished; true if it is
    /// the best so far. Otherwise counts the epochs since, lowering the learning rate on a
    /// plateau unless the run is about to stop.
    fn observe(&mut self, value: f64, tie: Option<f64>, options: &FitOptions) -> bool {
        let better = |a: f64, b: f64| match self.goal {
            Goal::Minimize => a < b,
            Goal::Maximize => a > b,
        };
        let improved = match &self.best {
            None => !value.is_nan(),
            Some(b) => {
                better(value, b.value) || (value == b.value && tie.zip(b.tie).is_some_and(|(t, bt)| better(t, bt)))
            }
        };
        if improved {
            self.best = Some(Best {
                epoch: self.epochs_done + 1,
                value,
                tie,
            });
            (self.epochs_since_best, self.epochs_since_decay) = (0, 0);
            return true;
        }
        self.epochs_since_best += 1;
        self.epochs_since_decay += 1;
        let stopping = options.patience.is_some_and(|p| self.epochs_since_best >= p);
        if let Some(plateau) = options.plateau.filter(|_| !stopping) {
            if self.epochs_since_decay >= plateau.patience.max(1) {
                self.lr_factor *= plateau.factor;
                self.epochs_since_decay = 0;
            }
        }
        false
    }
}

/// Copies the weights (and buffers) of `from` into `to`, a model of the same architecture.
fn copy_weights<M: Trainable>(to: &mut M, from: &M) {
    for (dst, (_, src)) in to.params_mut().into_iter().zip(from.named_params()) {
        dst.value.copy_from_slice(&src.value);
    }
}

/// Rank 0's `yes`, on every rank.
fn leader_decides<M: Trainable>(trainer: &Trainer<M>, yes: bool) -> bool {
    let mut v = [f64::from(u8::from(yes && trainer.rank() == 0))];
    trainer.sum_over_ranks(&mut v);
    v[0] > 0.0
}

/// A digest of what a run starts from: settings, weights, optimiser and the loop's state.
fn setup_fingerprint<M: Trainable>(
    trainer: &Trainer<M>,
    options: &FitOptions,
    state: &FitState,
    best: Option<&M>,
) -> u64 {
    let mut digest = Fingerprint::default();
    digest
        .text(&format!("{:?}", trainer.config()))
        .text(&options.monitor)
        .text(options.tie_break.as_deref().unwrap_or(""))
        .text(&format!(
            "{:?} {:?} {:?}",
            options.patience, options.plateau, options.max_seconds
        ))
        .word(options.epochs as u64)
        .word(trainer.step_count())
        .text(&serde_json::to_string(state).unwrap_or_default());
    for (name, p) in trainer.model.named_params() {
        digest.text(&name).floats(&p.value);
    }
    for m in trainer.optimizer.m.iter().chain(&trainer.optimizer.v) {
        digest.floats(m);
    }
    for (_, p) in best.map(M::named_params).unwrap_or_default() {
        digest.floats(&p.value);
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
