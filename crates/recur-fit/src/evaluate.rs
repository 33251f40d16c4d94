//! Predictions (class probabilities or values in the data's units, averaged over an ensemble's
//! members) and their scores: loss, accuracy, per-class accuracy and confusion matrix for
//! classes; MAE and RMSE for values.

use crate::split::sorted_batches;
use crate::task::{Examples, FitMeta, Target};
use recur_core::Seq;
use recur_nn::{Model, Result};
use recur_train::ensemble::add_share;
use recur_train::loss::softmax;
use recur_train::predict_parallel_inputs;

/// Sequences per inference batch.
const BATCH: usize = 64;

/// Each sequence's outputs, `[positions, outputs]` flattened (one position per sequence, or
/// one per step): probabilities for classes, values in the data's units otherwise.
pub type Outputs = Vec<Vec<f64>>;

/// Runs `run` over every example (its inputs in the model's order) and converts its raw
/// outputs.
pub fn outputs_with(
    ex: &Examples,
    meta: &FitMeta,
    mut run: impl FnMut(&[Seq<f32>]) -> Result<Seq<f32>>,
) -> Result<Outputs> {
    let mut out: Outputs = vec![Vec::new(); ex.len()];
    for idx in sorted_batches(&ex.lengths, BATCH) {
        let batch = ex.batch(&idx)?;
        let y = run(&batch.inputs())?;
        for (b, &i) in idx.iter().enumerate() {
            let positions = if y.sequential { y.lengths[b] } else { 1 };
            let row = &mut out[i];
            for t in 0..positions {
                let step = y.step(b, t);
                if meta.task.is_classification() {
                    row.extend(softmax(step));
                } else {
                    row.extend(step.iter().enumerate().map(|(c, &v)| meta.target.invert(v, c) as f64));
                }
            }
        }
    }
    Ok(out)
}

/// The mean of the members' outputs.
pub fn predict(models: &[Model<f32>], ex: &Examples, meta: &FitMeta, threads: usize) -> Result<Outputs> {
    let mut sum: Outputs = vec![Vec::new(); ex.len()];
    let share = 1.0 / models.len().max(1) as f64;
    for model in models {
        let outs = outputs_with(ex, meta, |xs| predict_parallel_inputs(model, xs, threads))?;
        for (s, o) in sum.iter_mut().zip(outs) {
            add_share(s, &o, share);
        }
    }
    Ok(sum)
}

/// The index of the largest value (the predicted class of a row of scores; 0 for none).
pub fn argmax(row: &[f64]) -> usize {
    (0..row.len()).max_by(|&a, &b| row[a].total_cmp(&row[b])).unwrap_or(0)
}

/// Scores of predictions against the examples' targets.
#[derive(Clone, Debug, Default)]
pub struct Scores {
    /// Positions scored (sequences, or steps for per-step tasks).
    pub n: usize,
    /// Mean cross-entropy (classes) or mean squared error in standardised units (values).
    pub loss: f64,
    /// Share of positions whose top class is right (classes).
    pub accuracy: Option<f64>,
    /// `confusion[true][predicted]` counts (classes).
    pub confusion: Vec<Vec<usize>>,
    /// Mean absolute error in the data's units (values).
    pub mae: Option<f64>,
    /// Root mean squared error in the data's units (values).
    pub rmse: Option<f64>,
}

impl Scores {
    /// Accuracy and count per class (`None` where a class has no positions).
    pub fn per_class(&self) -> Vec<(Option<f64>, usize)> {
        recur_train::per_class_accuracy(&self.confusion)
    }

    /// The validation metrics of [`Task::metric_names`](crate::Task::metric_names).
    pub fn metrics(&self) -> Vec<(String, f64)> {
        let mut m = vec![("val_loss".to_string(), self.loss)];
        if let Some(a) = self.accuracy {
            m.push(("val_accuracy".into(), a));
        }
        if let (Some(mae), Some(rmse)) = (self.mae, self.rmse) {
            m.push(("val_mae".into(), mae));
            m.push(("val_rmse".into(), rmse));
        }
        m
    }
}

/// Scores `outputs` against `ex`'s targets, with `outputs_per_position` classes or values.
pub fn score(outputs: &Outputs, ex: &Examples, meta: &FitMeta, outputs_per_position: usize) -> Scores {
    let k = outputs_per_position.max(1);
    let mut s = Scores::default();
    if meta.task.is_classification() {
        s.confusion = vec![vec![0; k]; k];
    }
    let (mut loss, mut abs, mut sq, mut values) = (0.0, 0.0, 0.0, 0usize);
    for (out, target) in outputs.iter().zip(&ex.targets) {
        let truth: Vec<usize> = match target {
            Target::Class(c) => vec![*c],
            Target::StepClasses(c) => c.clone(),
            _ => Vec::new(),
        };
        for (p, &c) in out.chunks(k).zip(&truth) {
            let best = argmax(p);
            loss -= p[c].max(1e-12).ln();
            s.confusion[c][best] += 1;
            s.n += 1;
        }
        if let Target::Values(v) | Target::StepValues(v) = target {
            for (j, (&pred, &t)) in out.iter().zip(v).enumerate() {
                let c = j % k;
                let d = pred - meta.target.invert(t, c) as f64;
                let ds = meta.target.apply(pred as f32, c) as f64 - t as f64;
                loss += ds * ds;
                abs += d.abs();
                sq += d * d;
                values += 1;
            }
            s.n += v.len() / k;
        }
    }
    if meta.task.is_classification() {
        let hits: usize = (0..k).map(|c| s.confusion[c][c]).sum();
        s.accuracy = Some(hits as f64 / s.n.max(1) as f64);
        s.loss = loss / s.n.max(1) as f64;
    } else {
        let n = values.max(1) as f64;
        s.loss = loss / n;
        s.mae = Some(abs / n);
        s.rmse = Some((sq / n).sqrt());
    }
    s
}
