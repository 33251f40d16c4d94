//! recur's general sequence learning: labelled sequences in (a [`SequenceSet`] read from `.ts`
//! or `.npy` files), a trained classifier, regressor or per-step tagger out, with its scores.
//!
//! The task follows from the targets ([`Task`]); inputs are standardised per channel with the
//! training set's statistics (missing values become 0, the channel's mean), optionally with
//! each channel standardised within its sequence appended; regression targets are
//! standardised too and scaled back at prediction. All of it is stored in the model's
//! metadata ([`FitMeta`]), so a model directory alone can score new files.

// Kernels index several parallel arrays with one loop variable, as the math is written.
#![allow(clippy::needless_range_loop)]

pub mod architecture;
pub mod evaluate;
pub mod settings;
pub mod split;
pub mod task;

pub use architecture::{check_config, default_config, model_config, split_config};
pub use evaluate::{predict, score, Outputs, Scores};
pub use settings::Settings;
pub use task::{Examples, FitMeta, Scaling, Task, META_KEY};

use recur_core::parallel::default_threads;
use recur_core::Rng;
use recur_data::sequences::{SequenceSet, SequenceTargets};
use recur_nn::{Model, ModelConfig, NnError, Result};
use recur_train::{checkpoint, fit, FitOptions, FitReport, TrainConfig, Trainer};
use std::path::PathBuf;

pub use recur_nn::model_dir::{member_dir, MEMBERS_DIR};

/// Class names (classification) of a set, empty for values.
pub fn class_names(set: &SequenceSet) -> &[String] {
    match &set.targets {
        SequenceTargets::Classes { names, .. } | SequenceTargets::StepClasses { names, .. } => names,
        _ => &[],
    }
}

/// Outputs per position a model of `set`'s task needs: classes, or values per target.
pub fn output_width(set: &SequenceSet) -> usize {
    match &set.targets {
        SequenceTargets::Classes { names, .. } | SequenceTargets::StepClasses { names, .. } => names.len(),
        SequenceTargets::Values { width, .. } | SequenceTargets::StepValues { width, .. } => *width,
    }
}

/// Checks that `set` can be scored by a model with `meta` and `classes`, and maps its class
/// indices to the model's by name (`None` for value targets).
pub fn align(set: &SequenceSet, meta: &FitMeta, classes: &[String]) -> Result<Option<Vec<usize>>> {
    if set.dims != meta.dims {
        return Err(NnError::Input(format!(
            "{}: the model was trained on {} channels per step, this file has {}",
            set.source, meta.dims, set.dims
        )));
    }
    if let Some(i) = (0..set.len()).find(|&i| set.steps(i) == 0) {
        return Err(NnError::Input(format!(
            "{}: sequence {} has no steps",
            set.source,
            i + 1
        )));
    }
    let task = Task::of(&set.targets);
    if task != meta.task {
        return Err(NnError::Input(format!(
            "{}: the file's targets are for {}, the model does {}",
            set.source,
            task.describe(),
            meta.task.describe()
        )));
    }
    if !task.is_classification() {
        let width = output_width(set);
        if width != meta.target.mean.len() {
            return Err(NnError::Input(format!(
                "{}: {width} target values per position, the model predicts {}",
                set.source,
                meta.target.mean.len()
            )));
        }
        return Ok(None);
    }
    let names = class_names(set);
    let mut map = Vec::with_capacity(names.len());
    let mut unknown = Vec::new();
    for n in names {
        match classes.iter().position(|c| c == n) {
            Some(k) => map.push(k),
            None => {
                unknown.push(n.as_str());
                map.push(0);
            }
        }
    }
    if !unknown.is_empty() {
        // Only labels that occur matter: a header may list classes absent from the data.
        let used = |k: usize| match &set.targets {
            SequenceTargets::Classes { labels, .. } => labels.contains(&k),
            SequenceTargets::StepClasses { labels, .. } => labels.iter().any(|l| l.contains(&k)),
            _ => false,
        };
        let used_unknown: Vec<&str> = names
            .iter()
            .enumerate()
            .filter(|(k, n)| unknown.contains(&n.as_str()) && used(*k))
            .map(|(_, n)| n.as_str())
            .collect();
        if !used_unknown.is_empty() {
            return Err(NnError::Input(format!(
                "{}: labels the model does not know: {} (it knows {})",
                set.source,
                used_unknown.join(", "),
                classes.join(", ")
            )));
        }
    }
    Ok(Some(map))
}

/// A training run.
pub struct FitJob<'a> {
    /// Training sequences.
    pub train: &'a SequenceSet,
    /// Validation sequences; without them `settings.val_split` of `train` is held out.
    pub val: Option<&'a SequenceSet>,
    /// The model (from a config file), or `None` for [`default_config`].
    pub config: Option<ModelConfig>,
    /// Training settings.
    pub settings: Settings,
    /// Model directory (best model, checkpoint, ensemble members).
    pub out: PathBuf,
    /// Continue the checkpointed run in `out`.
    pub resume: bool,
    /// Progress bar and a line per epoch on stderr.
    pub verbose: bool,
}

/// What a training run gives.
pub struct FitOutcome {
    /// The members' models (one unless an ensemble was asked for).
    pub models: Vec<Model<f32>>,
    /// Each member's epochs.
    pub reports: Vec<FitReport>,
    /// The input and target scaling and settings the models carry.
    pub meta: FitMeta,
}

/// Trains the model (or ensemble) of `job`, saving it in `job.out`.
pub fn fit_sequences(job: &FitJob) -> Result<FitOutcome> {
    let train = job.train;
    if train.is_empty() {
        return Err(NnError::Input(format!("{}: no sequences to train on", train.source)));
    }
    let meta = FitMeta::measure(train, &job.settings);
    let classes = class_names(train).to_vec();
    align(train, &meta, &classes)?;
    if meta.task.is_classification() && classes.len() < 2 {
        return Err(NnError::Input(format!(
            "{}: a classifier needs at least two classes, found {}",
            train.source,
            classes.len()
        )));
    }
    let outputs = output_width(train);
    let mut config = match &job.config {
        Some(c) => c.clone(),
        None => default_config(meta.task, meta.input_width(), outputs, train.max_steps())?,
    };
    check_config(&config, meta.task, meta.input_width(), outputs)?;
    meta.store(&mut config, &classes)?;
    let val_labels = match job.val {
        Some(v) => Some(align(v, &meta, &classes)?),
        None => None,
    };
    let s = &job.settings;
    let mut outcome = FitOutcome {
        models: Vec::new(),
        reports: Vec::new(),
        meta: meta.clone(),
    };
    for k in 0..s.ensemble {
        let seed = s.seed + k as u64;
        let (train_ex, val_ex) = match (job.val, &val_labels) {
            (Some(v), Some(labels)) => (
                Examples::new(train, &meta, &(0..train.len()).collect::<Vec<_>>(), None),
                Some(Examples::new(
                    v,
                    &meta,
                    &(0..v.len()).collect::<Vec<_>>(),
                    labels.as_deref(),
                )),
            ),
            _ if s.val_split > 0.0 => {
                let (t, v) = split::stratified_split(train, s.val_split, seed)?;
                (
                    Examples::new(train, &meta, &t, None),
                    Some(Examples::new(train, &meta, &v, None)),
                )
            }
            _ => (
                Examples::new(train, &meta, &(0..train.len()).collect::<Vec<_>>(), None),
                None,
            ),
        };
        if s.ensemble > 1 && job.verbose {
            eprintln!("ensemble member {} of {}", k + 1, s.ensemble);
        }
        let out = member_dir(&job.out, k);
        let member = Member {
            config: &config,
            meta: &meta,
            train: &train_ex,
            val: val_ex.as_ref(),
            seed,
            resume: job.resume && checkpoint::exists(&out),
            out,
            verbose: job.verbose,
        };
        let (model, report) = member.train()?;
        outcome.models.push(model);
        outcome.reports.push(report);
    }
    Ok(outcome)
}

/// One model of a run.
struct Member<'a> {
    config: &'a ModelConfig,
    meta: &'a FitMeta,
    train: &'a Examples,
    val: Option<&'a Examples>,
    seed: u64,
    out: PathBuf,
    resume: bool,
    verbose: bool,
}

impl Member<'_> {
    fn train(&self) -> Result<(Model<f32>, FitReport)> {
        let s = &self.meta.training;
        let steps_per_epoch = self.train.len().div_ceil(s.batch_size);
        let epochs = s.epochs_for(steps_per_epoch);
        let threads = s.threads.unwrap_or_else(default_threads).max(1);
        let (monitor, goal) = s.monitor_for(self.meta.task, self.val.is_some())?;
        let mut trainer = Trainer::new(
            Model::<f32>::new(self.config.clone(), self.seed)?,
            TrainConfig {
                loss: s.loss_for(self.meta.task)?,
                optimizer: s.optimizer_config(),
                clip: s.clip(),
                schedule: s.schedule(epochs, steps_per_epoch),
                threads,
                seed: self.seed,
            },
        );
        let options = FitOptions {
            epochs,
            monitor: monitor.clone(),
            goal,
            patience: s.patience,
            out: Some(self.out.clone()),
            resume: self.resume,
            verbose: self.verbose,
        };
        let report = fit(
            &mut trainer,
            &options,
            |epoch| {
                let mut rng = Rng::derive(self.seed, 1_000_000 + epoch as u64);
                split::epoch_batches(&self.train.lengths, s.batch_size, &mut rng)
                    .iter()
                    .map(|idx| self.train.batch(idx))
                    .collect()
            },
            |t| {
                let mut metrics = match self.val {
                    Some(val) => {
                        let out = evaluate::outputs_with(val, self.meta, |x| t.predict(x))?;
                        let width = t.model.output_shape().features;
                        score(&out, val, self.meta, width).metrics()
                    }
                    None => Vec::new(),
                };
                if monitor == "steps" {
                    // Always improving, so the last epoch's weights are kept.
                    metrics.push(("steps".into(), t.step_count() as f64));
                }
                Ok(metrics)
            },
        )?;
        Ok((trainer.model, report))
    }
}
