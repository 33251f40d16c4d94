//! Scoring a classifier: top-1/3/5, loss, per-class accuracy, the confusion matrix and the
//! most confident mistakes.

use crate::dataset::{sorted_batches, Example, InputSpec};
use recur_core::Seq;
use recur_nn::{Model, Result};
use recur_train::distributed::Collective;
use recur_train::ensemble::add_share;
use recur_train::loss::softmax;
use recur_train::predict_parallel;

/// Evaluation figures.
#[derive(Clone, Debug)]
pub struct EvalReport {
    /// Drawings scored.
    pub n: usize,
    /// Mean cross-entropy.
    pub loss: f64,
    /// Share whose class is the top guess.
    pub top1: f64,
    /// … among the top 3 guesses.
    pub top3: f64,
    /// … among the top 5 guesses.
    pub top5: f64,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
    /// Mistakes as (example index, predicted class, its probability), most confident first.
    pub mistakes: Vec<(usize, usize, f64)>,
}

impl EvalReport {
    /// The top-k accuracies that say something: `(k, share)` for k = 1, 3, 5 where k is below
    /// the number of classes (top-5 of a 4-class model is 1 whatever it learned).
    pub fn top_k(&self) -> Vec<(usize, f64)> {
        [(1, self.top1), (3, self.top3), (5, self.top5)]
            .into_iter()
            .filter(|&(k, _)| k == 1 || k < self.confusion.len())
            .collect()
    }

    /// Accuracy and count per class (`None` accuracy where a class has no drawings).
    pub fn per_class(&self) -> Vec<(Option<f64>, usize)> {
        recur_train::per_class_accuracy(&self.confusion)
    }

    /// The report of every rank's drawings together, when each MPI rank scored a part of its
    /// own: counts, losses and confusion matrices are added. The mistakes stay this rank's (they
    /// point into its own examples).
    pub fn summed_over(self, group: &dyn Collective) -> EvalReport {
        let n = self.n as f64;
        let mut sums = vec![n, self.loss * n, self.top1 * n, self.top3 * n, self.top5 * n];
        sums.extend(self.confusion.iter().flatten().map(|&c| c as f64));
        group.sum_f64(&mut sums);
        let total = sums[0].max(1.0);
        let classes = self.confusion.len();
        let confusion = (0..classes)
            .map(|t| (0..classes).map(|p| sums[5 + t * classes + p] as usize).collect())
            .collect();
        EvalReport {
            n: sums[0] as usize,
            loss: sums[1] / total,
            top1: sums[2] / total,
            top3: sums[3] / total,
            top5: sums[4] / total,
            confusion,
            mistakes: self.mistakes,
        }
    }
}

/// A model's scores on one part of the drawings, with what a summary shows beside them.
pub struct PartScores {
    /// Which drawings were scored ("test", "validation", "all", …).
    pub part: &'static str,
    /// Class names, in output order.
    pub classes: Vec<String>,
    /// The figures.
    pub report: EvalReport,
    /// Best epoch (0 when not from training).
    pub best_epoch: usize,
    /// Epochs trained (0 when not from training).
    pub epochs: usize,
}

/// Class probabilities for every example, in the examples' order: the mean of the models'
/// softmax outputs (one model, or the members of an ensemble).
pub fn predict_probabilities(
    models: &[Model<f32>],
    examples: &[Example],
    spec: &InputSpec,
    threads: usize,
) -> Result<Vec<Vec<f64>>> {
    let mut out: Vec<Vec<f64>> = vec![Vec::new(); examples.len()];
    let share = 1.0 / models.len().max(1) as f64;
    for model in models {
        for (idx, batch) in sorted_batches(examples, spec, 128) {
            let y: Seq<f32> = predict_parallel(model, &batch.x, threads)?;
            for (b, &i) in idx.iter().enumerate() {
                add_share(&mut out[i], &softmax(y.step(b, 0)), share);
            }
        }
    }
    Ok(out)
}

/// Scores a model (or an ensemble's members, averaged) on labelled examples.
pub fn evaluate(models: &[Model<f32>], examples: &[Example], spec: &InputSpec, threads: usize) -> Result<EvalReport> {
    let classes = models.first().map_or(0, |m| m.output_shape().features);
    let probs = predict_probabilities(models, examples, spec, threads)?;
    let mut confusion = vec![vec![0usize; classes]; classes];
    let (mut hits, mut loss, mut mistakes) = ([0usize; 3], 0.0, Vec::new());
    for (i, (e, p)) in examples.iter().zip(&probs).enumerate() {
        let mut ranked: Vec<usize> = (0..p.len()).collect();
        ranked.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
        let rank = ranked.iter().position(|&c| c == e.class).unwrap_or(usize::MAX);
        for (k, top) in [1, 3, 5].iter().enumerate() {
            hits[k] += usize::from(rank < *top);
        }
        loss -= p[e.class].max(1e-12).ln();
        confusion[e.class][ranked[0]] += 1;
        if ranked[0] != e.class {
            mistakes.push((i, ranked[0], p[ranked[0]]));
        }
    }
    mistakes.sort_by(|a, b| b.2.total_cmp(&a.2));
    let n = examples.len().max(1) as f64;
    Ok(EvalReport {
        n: examples.len(),
        loss: loss / n,
        top1: hits[0] as f64 / n,
        top3: hits[1] as f64 / n,
        top5: hits[2] as f64 / n,
        confusion,
        mistakes,
    })
}

#[cfg(test)]
mod tests {
    use super::EvalReport;

    fn report(classes: usize) -> EvalReport {
        EvalReport {
            n: 10,
            loss: 1.0,
            top1: 0.5,
            top3: 0.9,
            top5: 1.0,
            confusion: vec![vec![0; classes]; classes],
            mistakes: Vec::new(),
        }
    }

    /// A 4-class model's top-5 (and a 3-class one's top-3) is 1 whatever it learned: only the
    /// top-k below the class count are reported.
    #[test]
    fn top_k_of_a_four_class_model_leaves_out_top_5() {
        assert_eq!(report(4).top_k(), vec![(1, 0.5), (3, 0.9)]);
        assert_eq!(report(3).top_k(), vec![(1, 0.5)]);
        assert_eq!(report(16).top_k(), vec![(1, 0.5), (3, 0.9), (5, 1.0)]);
    }
}
