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
pub mod augment;
pub mod augment_frames;
pub mod calibrate;
pub mod evaluate;
pub mod history;
pub mod init;
pub mod predictor;
mod request;
pub mod ridge;
pub mod settings;
mod solve;
pub mod split;
pub mod supervision;
pub mod task;

pub use architecture::{
    check_config, config_for_channels, declared_input_specs, default_config, input_names, input_specs,
    minirocket_config, model_config, split_config,
};
pub use evaluate::{predict, score, Outputs, Scores};
pub use predictor::FitPredictor;
pub use request::FitRequest;
pub use settings::{InputEncoding, Settings, Solver};
pub use task::{EncodedInput, Examples, FitMeta, InputMeta, Scaling, Task, META_KEY};

use recur_core::parallel::default_threads;
use recur_core::Rng;
use recur_data::sequences::{SequenceSet, SequenceTargets};
use recur_nn::{Model, ModelConfig, NnError, Result};
use recur_train::distributed::{self, Collective, Fingerprint};
use recur_train::ensemble::train_members;
use recur_train::{fit, FitOptions, FitReport, Reporter, TrainConfig, Trainer};
use std::path::PathBuf;
use std::rc::Rc;

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

/// Checks that `set` gives the inputs a model with `meta` reads, in its order (`names`: the
/// config's names of its inputs): as many, each sequences or vectors as declared, of the
/// channels it was trained on, and no sequence without steps.
pub fn check_inputs(set: &SequenceSet, meta: &FitMeta, names: &[String]) -> Result<()> {
    let inputs = set.inputs();
    let wanted: Vec<&InputMeta> = meta.inputs().collect();
    if inputs.len() != wanted.len() {
        let listed: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        return Err(NnError::Input(format!(
            "{}: the model takes {} inputs ({}, in this order), the data gives {}",
            set.source,
            wanted.len(),
            listed.join(", "),
            inputs.len()
        )));
    }
    let several = wanted.len() > 1 || !meta.first.sequential;
    for (k, (input, m)) in inputs.iter().zip(&wanted).enumerate() {
        let name = names.get(k).map_or("input", String::as_str);
        if !several && input.dims != m.dims && input.sequential {
            return Err(NnError::Input(format!(
                "{}: the model was trained on {} channels per step, the input has {}",
                input.source, m.dims, input.dims
            )));
        }
        if input.dims != m.dims || input.sequential != m.sequential {
            let given = InputMeta {
                dims: input.dims,
                sequential: input.sequential,
                ..(*m).clone()
            };
            return Err(NnError::Input(format!(
                "{}: input `{name}` takes {} ({}), the data gives {}",
                input.source,
                m.describe(),
                m.expected_array(),
                given.describe()
            )));
        }
        if let Some(i) = (0..set.len()).find(|&i| input.steps(i) == 0) {
            return Err(NnError::Input(format!(
                "{}: sequence {} has no steps",
                input.source,
                i + 1
            )));
        }
    }
    Ok(())
}

/// Checks that `set` can be scored by a model with `meta` and `classes` (and inputs named
/// `names`), and maps its class indices to the model's by name (`None` for value targets).
pub fn align(set: &SequenceSet, meta: &FitMeta, classes: &[String], names: &[String]) -> Result<Option<Vec<usize>>> {
    check_inputs(set, meta, names)?;
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
    /// Where progress goes (epochs, batches, notes).
    pub progress: Reporter,
    /// Under MPI, `train` is this rank's own part of the training data (a file per rank), not
    /// the whole set every rank reads: the scalings are measured over all parts, each rank
    /// batches its own part, and `val` (read whole by every rank) is required for validation.
    pub rank_local: bool,
    /// Each training sequence's group (e.g. the source video a clip was cut from): a held-out
    /// validation part then takes whole groups, so no group is on both sides.
    pub groups: Option<&'a [String]>,
}

/// What a training run gives.
pub struct FitOutcome {
    /// The members' models (one unless an ensemble was asked for).
    pub models: Vec<Model<f32>>,
    /// Each member's epochs.
    pub reports: Vec<FitReport>,
    /// The input and target scaling and settings the models carry.
    pub meta: FitMeta,
    /// The models' last layer was fitted in closed form (the ridge solver): each report holds
    /// one record, with the penalty and the leave-one-out figures.
    pub ridge: bool,
    /// An ensemble of ridge classifiers on the same training sequences: the leave-one-out
    /// accuracy of their averaged scores.
    pub ensemble_loo_accuracy: Option<f64>,
}

/// Trains the model (or ensemble) of `job`, saving it in `job.out`.
pub fn fit_sequences(job: &FitJob) -> Result<FitOutcome> {
    let train = job.train;
    check_training_set(job)?;
    let classes = class_names(train).to_vec();
    let parts = job.rank_local.then(distributed::group).flatten();
    let solver = solve::SolverPlan::new(job, parts.is_some());
    let default_minirocket = solver.default_minirocket();
    let settings = job.settings.for_model(default_minirocket);
    let s = &settings;
    let meta = match &parts {
        Some(group) => measure_parts(group.as_ref(), train, s, &classes)?,
        None => FitMeta::measure(train, s),
    };
    let outputs = output_width(train);
    let mut config = match &job.config {
        Some(c) => c.clone(),
        None => built_in_config(job, parts.as_deref(), &meta, default_minirocket)?,
    };
    let inputs: Vec<InputMeta> = meta.inputs().cloned().collect();
    check_config(&config, meta.task, &inputs, outputs)?;
    let names = input_names(&config)?;
    align(train, &meta, &classes, &names)?;
    check_classes(train, meta.task, &classes)?;
    let ridge = solver.uses_ridge(&config, meta.task)?;
    meta.store(&mut config, &classes)?;
    let val_labels = match job.val {
        Some(v) => Some(align(v, &meta, &classes, &names)?),
        None => None,
    };
    let val_split = s.val_split_for(ridge);
    let auto = job.settings.solver == Solver::Auto;
    job.progress.note(&format!(
        "{} on {}",
        solver.describe(ridge, auto, &config),
        describe_data(job)
    ));
    let mut outcome = FitOutcome {
        models: Vec::new(),
        reports: Vec::new(),
        meta: meta.clone(),
        ridge,
        ensemble_loo_accuracy: None,
    };
    let mut member_loo = Vec::new();
    let members = train_members(s.ensemble, s.seed, Some(&job.out), job.resume, &job.progress, |m| {
        let seed = m.seed;
        let (train_ex, val_ex) = member_examples(job, &meta, &val_labels, (val_split, parts.is_some()), seed)?;
        // The default classifier's channel draws follow the member's seed, as sktime's do.
        let member_config = match default_minirocket {
            true => architecture::reseeded(&config, seed),
            false => config.clone(),
        };
        let member = Member {
            parts: parts.clone(),
            config: &member_config,
            meta: &meta,
            train: &train_ex,
            val: val_ex.as_ref(),
            seed,
            resume: m.resume,
            ridge,
            out: m.out.unwrap_or_else(|| job.out.clone()),
            progress: job.progress.clone(),
        };
        member.train()
    })?;
    for fitted in members {
        outcome.models.push(fitted.model);
        outcome.reports.push(fitted.report);
        // Members fitted on the same sequences (no held-out part) can be scored together.
        if val_split == 0.0 {
            member_loo.extend(fitted.leave_one_out);
        }
    }
    outcome.ensemble_loo_accuracy = solve::ensemble_loo_accuracy(&member_loo, outputs);
    Ok(outcome)
}

/// Refuses a classifier of fewer than two classes.
fn check_classes(train: &SequenceSet, task: Task, classes: &[String]) -> Result<()> {
    if task.is_classification() && classes.len() < 2 {
        return Err(NnError::Input(format!(
            "{}: a classifier needs at least two classes, found {}",
            train.source,
            classes.len()
        )));
    }
    Ok(())
}

/// Refuses an empty training set, and groups that are not one per sequence.
fn check_training_set(job: &FitJob) -> Result<()> {
    let train = job.train;
    if train.is_empty() {
        return Err(NnError::Input(format!("{}: no sequences to train on", train.source)));
    }
    if job.groups.is_some_and(|g| g.len() != train.len()) {
        return Err(NnError::Input(format!(
            "{}: {} groups given for {} sequences",
            train.source,
            job.groups.map_or(0, <[String]>::len),
            train.len()
        )));
    }
    Ok(())
}

/// The built-in model when no config is given: MiniRocket's, or the default gradient model,
/// for the longest sequence of all the parts (it sets the default's pooling stride).
fn built_in_config(
    job: &FitJob,
    parts: Option<&dyn Collective>,
    meta: &FitMeta,
    default_minirocket: bool,
) -> Result<ModelConfig> {
    let train = job.train;
    let longest = match parts {
        Some(group) => group.max_u64(train.max_steps() as u64) as usize,
        None => train.max_steps(),
    };
    let (width, outputs) = (meta.first.input_width(), output_width(train));
    if default_minirocket {
        minirocket_config(width, outputs, longest)
    } else {
        default_config(meta.task, width, outputs, longest)
    }
}

/// A member's training and validation examples: `job.val` whole (its classes mapped by
/// `val_labels`), a stratified (or, with `job.groups`, grouped) `val_split` of the training
/// set drawn by `seed`, or none.
/// `per_rank`: each rank holds its own part of the training data.
fn member_examples(
    job: &FitJob,
    meta: &FitMeta,
    val_labels: &Option<Option<Vec<usize>>>,
    (val_split, per_rank): (f64, bool),
    seed: u64,
) -> Result<(Examples, Option<Examples>)> {
    let (train, all) = (job.train, |n: usize| (0..n).collect::<Vec<_>>());
    Ok(match (job.val, val_labels) {
        (Some(v), Some(labels)) => (
            Examples::new(train, meta, &all(train.len()), None),
            Some(Examples::new(v, meta, &all(v.len()), labels.as_deref())),
        ),
        _ if per_rank && val_split > 0.0 => {
            return Err(NnError::Input(
                "with a training file per rank, give the validation sequences whole to every rank \
                 (--val or --val-x/--val-y) or train without validation (--val-split 0)"
                    .into(),
            ))
        }
        _ if val_split > 0.0 => {
            let (t, v) = match job.groups {
                Some(groups) => split::grouped_split(groups, val_split, seed, &train.source)?,
                None => split::stratified_split(train, val_split, seed)?,
            };
            (
                Examples::new(train, meta, &t, None),
                Some(Examples::new(train, meta, &v, None)),
            )
        }
        _ => (Examples::new(train, meta, &all(train.len()), None), None),
    })
}

/// The training (and validation) data in a line: `train.ts: 40 sequences, 3 channels, 10 to
/// 60 steps; validation val.ts: 12` (or `… 200 examples of one vector of 4 values`, `… of 2
/// inputs`).
fn describe_data(job: &FitJob) -> String {
    let train = job.train;
    let shape = match (train.sequential, train.more_inputs.len()) {
        (true, 0) => format!(
            "{} sequences, {} channels, {} to {} steps",
            train.len(),
            train.dims,
            train.min_steps(),
            train.max_steps()
        ),
        (_, 0) => format!("{} examples of one vector of {} values", train.len(), train.dims),
        (_, more) => format!("{} examples of {} inputs", train.len(), more + 1),
    };
    format!(
        "{}{}: {shape}{}",
        if job.rank_local { "rank 0's part " } else { "" },
        train.source,
        job.val
            .map_or(String::new(), |v| format!("; validation {}: {}", v.source, v.len()))
    )
}

/// Checks that the ranks' parts of the training data are alike (task, channels, classes) and
/// measures the scalings over all of them.
fn measure_parts(
    group: &dyn Collective,
    train: &SequenceSet,
    settings: &Settings,
    classes: &[String],
) -> Result<FitMeta> {
    let mut digest = Fingerprint::default();
    digest.text(Task::of(&train.targets).describe()).word(train.dims as u64);
    digest.word(output_width(train) as u64);
    for input in &train.more_inputs {
        digest.word(input.dims as u64).word(u64::from(input.sequential));
    }
    classes.iter().for_each(|c| {
        digest.text(c);
    });
    distributed::agree(
        group,
        "the kind of their training files: task, channels and classes (each rank's file must \
         hold every class)",
        digest.finish(),
    )?;
    Ok(FitMeta::measure_across(train, settings, &mut |v| group.sum_f64(v)))
}

/// One model of a run.
struct Member<'a> {
    /// The ranks holding the other parts of the training data (see [`FitJob::rank_local`]).
    parts: Option<Rc<dyn Collective>>,
    config: &'a ModelConfig,
    meta: &'a FitMeta,
    train: &'a Examples,
    val: Option<&'a Examples>,
    seed: u64,
    out: PathBuf,
    resume: bool,
    /// Fit the last dense layer in closed form (see [`ridge`]).
    ridge: bool,
    /// Where progress goes.
    progress: Reporter,
}

impl Member<'_> {
    /// The model's input step as `[height, width, channels]`, when its steps are frames that
    /// arrive as they are (no channels appended by the input encoding).
    fn frame_shape(&self) -> Option<[usize; 3]> {
        match self.config.input_shape[..] {
            [h, w, c] if h * w * c == self.meta.first.input_width() => Some([h, w, c]),
            _ => None,
        }
    }

    /// This rank, its batch size and the steps an epoch lasts. With a part of the data per
    /// rank, each rank batches its own part with its share of the global batch, and the epoch
    /// lasts as long as the longest part.
    fn batching(&self) -> (usize, usize, usize) {
        let (rank, ranks) = self.parts.as_ref().map_or((0, 1), |g| (g.rank(), g.size()));
        let batch_size = self.meta.training.batch_size.div_ceil(ranks).max(1);
        let mut steps_per_epoch = self.train.len().div_ceil(batch_size);
        if let Some(g) = &self.parts {
            steps_per_epoch = g.max_u64(steps_per_epoch as u64) as usize;
        }
        (rank, batch_size, steps_per_epoch)
    }

    /// Trains the member: its last layer in closed form (ridge), or by gradient epochs scored
    /// on its validation part.
    fn train(&self) -> Result<solve::MemberFit> {
        let s = &self.meta.training;
        let (rank, batch_size, steps_per_epoch) = self.batching();
        let epochs = s.epochs_for(steps_per_epoch);
        let threads = s.threads.unwrap_or_else(default_threads).max(1);
        let (monitor, goal) = s.monitor_for(self.meta.task, self.val.is_some())?;
        let augment = augment::Augment::of(s, self.meta.task, self.train.one_sequence_input(), self.frame_shape())?;
        let loss = s.loss_for(self.meta.task)?;
        let mut model = Model::<f32>::new(self.config.clone(), self.seed)?;
        init::initialise(&mut model, s, self.seed);
        if model.needs_adapt() {
            self.adapt(&mut model)?;
        }
        self.check_output_steps(&model, threads)?;
        if self.ridge {
            return solve::ridge_member(self, model, threads);
        }
        let mut trainer = Trainer::new(
            model,
            TrainConfig {
                loss,
                optimizer: s.optimizer_config(),
                clip: s.clip(),
                schedule: s.schedule(epochs, steps_per_epoch),
                threads,
                seed: self.seed,
            },
        );
        trainer.set_rank_local(self.parts.is_some());
        let options = FitOptions {
            epochs,
            monitor: monitor.clone(),
            goal,
            patience: s.patience,
            out: Some(self.out.clone()),
            resume: self.resume,
            progress: self.progress.clone(),
            ..FitOptions::default()
        };
        let report = fit(
            &mut trainer,
            &options,
            |epoch| {
                // Each rank shuffles its own part with a stream of its own.
                let stream = Rng::shuffle_stream(rank, 1_000_000, epoch);
                let mut rng = Rng::derive(self.seed, stream);
                // Distortions draw from a stream of their own, so the batches stay the same.
                let mut distort = Rng::derive(self.seed, stream + (1 << 32));
                split::epoch_batches(&self.train.lengths, batch_size, &mut rng)
                    .iter()
                    .map(|idx| self.train.batch_with(idx, augment.as_ref().map(|a| (a, &mut distort))))
                    .collect()
            },
            |t| {
                let mut metrics = match self.val {
                    Some(val) => {
                        let out = evaluate::outputs_with(val, self.meta, |xs| t.predict_inputs(xs))?;
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
        Ok(solve::MemberFit {
            model: trainer.model,
            report,
            leave_one_out: None,
        })
    }
}
