//! What runs outside the gradient loop: the choice of solver, setting data-dependent layers
//! (MiniRocket's biases) before training, and the closed-form ridge solver.

use crate::evaluate::{argmax, outputs_with, score};
use crate::split::sorted_batches;
use crate::task::Target;
use crate::{calibrate, ridge};
use crate::{FitJob, Member, Solver, Task};
use recur_core::{Rng, Seq};
use recur_nn::model_dir::member_dir;
use recur_nn::{model_dir, Model, ModelConfig, NnError, Result};
use recur_train::loss::softmax;
use recur_train::{checkpoint, distributed, predict_parallel_inputs, EpochRecord, FitReport};
use std::time::Instant;

/// Which solver a run uses: the ridge solver needs every training sequence in one process,
/// one target per sequence, and (unless asked for by name) a size whose cubic cost stays in
/// seconds. Classifiers without a config then get MiniRocket's model; regression keeps the
/// gradient-trained default (on a synthetic task, a sine's frequency from 40–120 noisy steps,
/// the conv + BiGRU's error was a third of MiniRocket's), unless ridge is asked for.
pub(crate) struct SolverPlan {
    asked: Solver,
    /// Ridge can run: sequence-level targets, not a file per rank.
    possible: bool,
    /// At most [`ridge::MAX_SEQUENCES`] training sequences: `auto` may pick ridge.
    small: bool,
    /// No config was given and the task is classification.
    default_classifier: bool,
    /// No config was given.
    default_model: bool,
    /// A training file per rank.
    parts: bool,
    /// `--resume` with a checkpoint in the output folder: a gradient run to continue.
    resuming: bool,
    /// The gradient-only settings given (they make `auto` train by gradient).
    gradient_settings: Vec<&'static str>,
}

impl SolverPlan {
    /// The plan for `job`; `parts`: a training file per rank.
    pub(crate) fn new(job: &FitJob, parts: bool) -> Self {
        let task = Task::of(&job.train.targets);
        let resuming = job.resume && checkpoint::exists(&member_dir(&job.out, 0));
        let gradient_settings = job.settings.gradient_only_changes();
        SolverPlan {
            // Only gradient training leaves a checkpoint: resuming one continues it. A user
            // who sets epochs, a rate… means gradient training, which `auto` then is.
            asked: match job.settings.solver {
                Solver::Auto if resuming || !gradient_settings.is_empty() => Solver::Gradient,
                asked => asked,
            },
            possible: !task.per_step() && !parts,
            small: job.train.len() <= ridge::MAX_SEQUENCES,
            default_classifier: job.config.is_none() && task == Task::Classify,
            default_model: job.config.is_none(),
            parts,
            resuming,
            gradient_settings,
        }
    }

    /// The gradient-only settings given, as flags: `--epochs, --lr`.
    fn gradient_flags(&self) -> String {
        let flags: Vec<String> = self
            .gradient_settings
            .iter()
            .map(|n| format!("--{}", n.replace('_', "-")))
            .collect();
        flags.join(", ")
    }

    /// What the first line of a fit says of its solver: which one runs and, where `auto`
    /// chose gradient training for a reason the user gave, that reason (`config`: the model).
    pub(crate) fn describe(&self, ridge: bool, auto: bool, config: &ModelConfig) -> String {
        // Whether `auto` would have fitted this run by ridge but for the gradient settings.
        let ridge_else = self.possible
            && self.small
            && match self.default_model {
                true => self.default_classifier,
                false => ridge::unsuitable(config).is_none(),
            };
        match (ridge, auto) {
            (true, _) if self.default_minirocket() => {
                "ridge solver (MiniRocket features, the last layer in closed form)".into()
            }
            (true, _) => "ridge solver (the last dense layer in closed form)".into(),
            (false, true) if self.resuming => "gradient training (resuming the checkpointed run)".into(),
            (false, true) if ridge_else && !self.gradient_settings.is_empty() => format!(
                "gradient training (as {} asks; without it, `auto` would fit {} by ridge)",
                self.gradient_flags(),
                if self.default_model {
                    "MiniRocket's features"
                } else {
                    "this model"
                }
            ),
            (false, _) => "gradient training".into(),
        }
    }

    /// True when the model is the default MiniRocket one.
    pub(crate) fn default_minirocket(&self) -> bool {
        self.possible
            && match self.asked {
                Solver::Ridge => self.default_model,
                Solver::Auto => self.default_classifier && self.small,
                Solver::Gradient => false,
            }
    }

    /// Whether `config` is fitted by ridge; asking for ridge where it cannot run is an error.
    pub(crate) fn uses_ridge(&self, config: &ModelConfig, task: Task) -> Result<bool> {
        match self.asked {
            Solver::Gradient => Ok(false),
            Solver::Auto => Ok(self.possible && self.small && ridge::unsuitable(config).is_none()),
            Solver::Ridge if !self.possible => Err(NnError::Setting(format!(
                "training: the ridge solver needs one target per sequence and all the training \
                 sequences in one process; {} with {} cannot use it",
                task.describe(),
                if self.parts { "a file per rank" } else { "these targets" }
            ))),
            Solver::Ridge if self.resuming => Err(NnError::Setting(
                "training: --resume continues the gradient run checkpointed in the output folder, and \
                 the ridge solver keeps no checkpoint: resume with --solver gradient, or start over \
                 with --force"
                    .into(),
            )),
            Solver::Ridge => match ridge::unsuitable(config) {
                Some(why) => Err(NnError::Setting(format!("training: {why}"))),
                None if !self.gradient_settings.is_empty() => Err(NnError::Setting(format!(
                    "training: the ridge solver does not use {} (settings of gradient training): drop \
                     them, or train by gradient with --solver gradient",
                    self.gradient_flags()
                ))),
                None => Ok(true),
            },
        }
    }
}

/// The most training sequences a data-dependent layer samples from (MiniRocket draws one per
/// kernel and dilation, so a few thousand are plenty and bound the padded batch's memory).
const ADAPT_SAMPLE: usize = 4096;

/// Sequences per batch when computing features.
const BATCH: usize = 64;

impl Member<'_> {
    /// Checks, for a model whose inputs are all vectors (vec→seq), that its outputs have the
    /// steps of the per-step targets: the steps then come from the model (a `repeat_vector`'s
    /// `n`), not from the data.
    pub(crate) fn check_output_steps(&self, model: &Model<f32>, threads: usize) -> Result<()> {
        let ex = self.train;
        if ex.inputs.iter().any(|x| x.sequential) || !self.meta.task.per_step() || ex.is_empty() {
            return Ok(());
        }
        let y = predict_parallel_inputs(model, &ex.batch(&[0])?.inputs(), threads)?;
        let steps = if y.sequential { y.time } else { 1 };
        for (what, set) in [("training", Some(ex)), ("validation", self.val)] {
            let Some((i, &n)) = set.and_then(|e| e.lengths.iter().enumerate().find(|(_, &n)| n != steps)) else {
                continue;
            };
            return Err(NnError::Input(format!(
                "the model gives {steps} steps per example (its inputs are vectors, so the steps come from \
                 the model, such as a repeat_vector's n), but {what} example {} has {n} per-step targets",
                i + 1
            )));
        }
        Ok(())
    }

    /// Sets the model's data-dependent layers from (a sample of) the training sequences. With
    /// a part of the data per rank, rank 0's values are handed to every rank, so all train
    /// the same model.
    pub(crate) fn adapt(&self, model: &mut Model<f32>) -> Result<()> {
        let mut sample: Vec<usize> = (0..self.train.len()).collect();
        if sample.len() > ADAPT_SAMPLE {
            Rng::derive(self.seed, 7).shuffle(&mut sample);
            sample.truncate(ADAPT_SAMPLE);
            sample.sort_unstable();
        }
        let batch = self.train.batch(&sample)?;
        model.adapt(&batch.inputs(), self.seed)?;
        if let Some(group) = &self.parts {
            for p in model.params_mut().into_iter().filter(|p| !p.trainable) {
                let mut values: Vec<f64> = match group.rank() {
                    0 => p.value.iter().map(|&v| v as f64).collect(),
                    _ => vec![0.0; p.value.len()],
                };
                group.sum_f64(&mut values);
                p.value.iter_mut().zip(values).for_each(|(v, s)| *v = s as f32);
            }
        }
        Ok(())
    }
}

/// Fits a member's last dense layer by ridge regression on the features the layers before it
/// give, and saves the model (rank 0 only): one "epoch" in the report, with the penalty and
/// the leave-one-out scores (and the validation scores, when there is a validation set).
pub(crate) fn ridge_member(member: &Member, mut model: Model<f32>, threads: usize) -> Result<MemberFit> {
    let start = Instant::now();
    let last = member.config.layers.len() - 1;
    let features = ridge_features(member, &model, threads)?;
    // The features are the long part; a stop asked for meanwhile is heard before the solve.
    member.progress.check_stop()?;
    let (n, outputs) = (member.train.len(), model.output_shape().features);
    let (targets, classes) = ridge_targets(member, outputs)?;
    let mut head = ridge::fit(&features, &targets, outputs, threads)?;
    // A classifier's scores become logits at the temperature its leave-one-out scores fit.
    let temperature = (!classes.is_empty()).then(|| calibrate::temperature(&head.loo_predictions, &classes, outputs));
    if let Some(t) = temperature {
        let scaled = head
            .weight
            .iter_mut()
            .chain(&mut head.bias)
            .chain(&mut head.loo_predictions);
        scaled.chain(&mut head.fitted).for_each(|v| *v *= t);
    }
    let prefix = format!("layers.{last}.");
    let names: Vec<String> = model.named_params().into_iter().map(|(name, _)| name).collect();
    for (name, p) in names.iter().zip(model.params_mut()) {
        match name.strip_prefix(&prefix) {
            Some("weight") => p.value = head.weight.iter().map(|&v| v as f32).collect(),
            Some("bias") => p.value = head.bias.iter().map(|&v| v as f32).collect(),
            _ => {}
        }
    }
    let (mut metrics, train_loss, train_accuracy) = ridge_figures(&head, &targets, &classes, temperature);
    if let Some(val) = member.val {
        let out = outputs_with(val, member.meta, |xs| predict_parallel_inputs(&model, xs, threads))?;
        metrics.extend(score(&out, val, member.meta, outputs).metrics());
    }
    let seconds = start.elapsed().as_secs_f64();
    if member.progress.is_listening() {
        let figures: Vec<String> = metrics.iter().map(|(k, v)| format!("{k} {v:.4}")).collect();
        member.progress.note(&format!(
            "ridge on {n} sequences × {} features ({seconds:.1} s): {}",
            features.features,
            figures.join("  ")
        ));
    }
    if distributed::rank() == 0 {
        model_dir::save(&model, &member.out)?;
    }
    let record = EpochRecord {
        epoch: 1,
        loss: train_loss,
        accuracy: train_accuracy,
        metrics,
        lr: 0.0,
        seconds,
        train_seconds: seconds,
        elapsed: seconds,
    };
    Ok(MemberFit {
        model,
        report: FitReport {
            best_value: record.loss,
            history: vec![record],
            best_epoch: 1,
            stopped_early: false,
        },
        leave_one_out: Some(LeaveOneOut {
            predictions: head.loo_predictions,
            classes,
        }),
    })
}

/// A ridge fit's figures: its metrics (penalty, leave-one-out error; for a classifier its
/// leave-one-out accuracy, `temperature` and leave-one-out cross-entropy), its training loss
/// (a classifier's cross-entropy, as gradient training reports it, else the mean squared
/// error) and a classifier's training accuracy.
fn ridge_figures(
    head: &ridge::RidgeHead,
    targets: &[f64],
    classes: &[usize],
    temperature: Option<f64>,
) -> (Vec<(String, f64)>, f64, Option<f64>) {
    let outputs = head.bias.len();
    let share_right = |predictions: &[f64]| {
        let right = predictions
            .chunks_exact(outputs)
            .zip(classes)
            .filter(|(row, &k)| argmax(row) == k)
            .count();
        right as f64 / classes.len().max(1) as f64
    };
    let mut metrics = vec![("alpha".to_string(), head.alpha), ("loo_mse".to_string(), head.loo_mse)];
    let Some(t) = temperature else {
        let mse = head
            .fitted
            .iter()
            .zip(targets)
            .map(|(p, t)| (p - t).powi(2))
            .sum::<f64>()
            / targets.len() as f64;
        return (metrics, mse, None);
    };
    metrics.push(("loo_accuracy".into(), share_right(&head.loo_predictions)));
    metrics.push(("temperature".into(), t));
    let loo_loss = calibrate::cross_entropy(&head.loo_predictions, classes, outputs, 1.0);
    metrics.push(("loo_loss".into(), loo_loss));
    let train_loss = calibrate::cross_entropy(&head.fitted, classes, outputs, 1.0);
    (metrics, train_loss, Some(share_right(&head.fitted)))
}

/// The features the layers before the last give for every training sequence, `[n, d]` in
/// training order.
fn ridge_features(member: &Member, model: &Model<f32>, threads: usize) -> Result<Seq<f32>> {
    let mut features_model = Model::<f32>::for_loading(ridge::features_config(member.config))?;
    // The feature layers' tensors are the first ones of the whole model.
    features_model.copy_values_from(model);
    let (n, d) = (member.train.len(), features_model.output_shape().features);
    let mut rows = vec![0f32; n * d];
    for idx in sorted_batches(&member.train.lengths, BATCH) {
        let y = predict_parallel_inputs(&features_model, &member.train.batch(&idx)?.inputs(), threads)?;
        for (k, &i) in idx.iter().enumerate() {
            rows[i * d..(i + 1) * d].copy_from_slice(&y.data[k * d..(k + 1) * d]);
        }
    }
    Seq::vectors(rows, n, d).map_err(|e| NnError::Input(e.to_string()))
}

/// The ridge targets `[n, outputs]` of the training sequences (RidgeClassifier's ±1 coding
/// for classes: the class's column +1, every other −1) and the classes (empty for values).
fn ridge_targets(member: &Member, outputs: usize) -> Result<(Vec<f64>, Vec<usize>)> {
    let mut targets = vec![0f64; member.train.len() * outputs];
    let mut classes = Vec::with_capacity(member.train.len());
    for (row, target) in targets.chunks_exact_mut(outputs).zip(&member.train.targets) {
        match target {
            Target::Class(k) => {
                row.iter_mut().for_each(|v| *v = -1.0);
                row[*k] = 1.0;
                classes.push(*k);
            }
            Target::Values(v) => row.iter_mut().zip(v).for_each(|(o, &v)| *o = v as f64),
            _ => return Err(NnError::Input("the ridge solver needs one target per sequence".into())),
        }
    }
    Ok((targets, classes))
}

/// What training one member gives.
pub(crate) struct MemberFit {
    /// The kept weights.
    pub(crate) model: Model<f32>,
    /// Its epochs (one record for the ridge solver).
    pub(crate) report: FitReport,
    /// The ridge solver's leave-one-out scores.
    pub(crate) leave_one_out: Option<LeaveOneOut>,
}

/// A ridge fit's leave-one-out scores of its training sequences.
pub(crate) struct LeaveOneOut {
    /// Scores, `[n, outputs]` in training order.
    predictions: Vec<f64>,
    /// Each sequence's class (empty for values).
    classes: Vec<usize>,
}

/// The leave-one-out accuracy of an ensemble of ridge fits on the same training sequences:
/// each sequence's probabilities averaged over the members (each left it out), against its
/// class.
pub(crate) fn ensemble_loo_accuracy(members: &[LeaveOneOut], outputs: usize) -> Option<f64> {
    let classes = &members.first()?.classes;
    let aligned = members.iter().all(|m| m.predictions.len() == classes.len() * outputs);
    if members.len() < 2 || classes.is_empty() || !aligned {
        return None;
    }
    let right = classes
        .iter()
        .enumerate()
        .filter(|&(i, &k)| {
            // The members' probabilities averaged, as an ensemble predicts.
            let mut summed = vec![0f64; outputs];
            for m in members {
                let p = softmax(&m.predictions[i * outputs..(i + 1) * outputs]);
                summed.iter_mut().zip(p).for_each(|(s, p)| *s += p);
            }
            argmax(&summed) == k
        })
        .count();
    Some(right as f64 / classes.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::{ensemble_loo_accuracy, LeaveOneOut};

    /// The members' probabilities are averaged before the argmax: two members each wrong on a
    /// different sequence, but by less than the other is right, make a right ensemble.
    #[test]
    fn ensemble_loo_accuracy_averages_the_members_scores() {
        let member = |predictions: Vec<f64>| LeaveOneOut {
            predictions,
            classes: vec![0, 1],
        };
        let a = || member(vec![0.6, 0.4, 0.55, 0.45]);
        let b = || member(vec![0.45, 0.55, 0.2, 0.8]);
        assert_eq!(ensemble_loo_accuracy(&[a(), b()], 2), Some(1.0));
        assert_eq!(ensemble_loo_accuracy(&[a()], 2), None);
        assert_eq!(ensemble_loo_accuracy(&[b(), member(vec![0.45, 0.55])], 2), None);
    }
}
