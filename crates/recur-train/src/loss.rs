//! Losses: softmax cross-entropy (with label smoothing), MSE and Huber. Each returns the summed
//! loss and its gradient scaled by `1/count`, where `count` is the number of targets in the
//! whole batch, so gradients from shards on different cores simply add up.

use recur_core::{Float, Seq};
use serde::{Deserialize, Serialize};

/// A training objective.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Loss {
    /// Softmax over the outputs, then cross-entropy against a class index.
    SoftmaxCrossEntropy {
        /// Weight moved from the true class to a uniform distribution.
        label_smoothing: f64,
    },
    /// Mean squared error.
    Mse,
    /// The mean of the outputs themselves (no targets): for benchmarks and sanity checks.
    Mean,
    /// Mean absolute error (L1): its minimiser is the median, so a forecast trained on it
    /// targets the figure MAE scores, and outlying days (a storm, a strike) pull it less.
    Mae,
    /// Huber loss (quadratic within `delta`, linear beyond).
    Huber {
        /// Threshold.
        delta: f64,
    },
}

/// What the outputs are compared with, laid out like the output's `[batch, time]` positions
/// (`time` is 1 for vector outputs): a class index per position, or `features` values per
/// position. Entries at padded positions are ignored.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// Class indices.
    Classes(Vec<usize>),
    /// Real values, one per output value.
    Values(Vec<f32>),
}

impl Targets {
    /// Targets for the sequences in `range` (`per_seq` values each).
    pub fn slice(&self, range: std::ops::Range<usize>, per_seq: usize) -> Targets {
        match self {
            Targets::Classes(c) => Targets::Classes(c[range.start * per_seq..range.end * per_seq].to_vec()),
            Targets::Values(v) => Targets::Values(v[range.start * per_seq..range.end * per_seq].to_vec()),
        }
    }
}

/// Softmax of one row, computed stably.
pub fn softmax<T: Float>(row: &[T]) -> Vec<f64> {
    let max = row.iter().map(|v| v.to_f64()).fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = row.iter().map(|v| (v.to_f64() - max).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

impl Loss {
    /// Summed loss over `output`'s real steps and its gradient divided by `count`.
    pub fn evaluate<T: Float>(&self, output: &Seq<T>, targets: &Targets, count: usize) -> (f64, Seq<T>) {
        let f = output.features;
        let mut grad = Seq::zeros_like(output, f);
        let inv = 1.0 / count.max(1) as f64;
        let mut total = 0.0;
        for b in 0..output.batch {
            for t in 0..output.lengths[b] {
                let k = b * output.time + t;
                let row = output.step(b, t);
                let g = grad.step_mut(b, t);
                match (self, targets) {
                    (Loss::SoftmaxCrossEntropy { label_smoothing }, Targets::Classes(c)) => {
                        let p = softmax(row);
                        let eps = *label_smoothing;
                        for (j, (gj, &pj)) in g.iter_mut().zip(&p).enumerate() {
                            let q = eps / f as f64 + if j == c[k] { 1.0 - eps } else { 0.0 };
                            total -= q * pj.max(1e-300).ln();
                            *gj = T::from_f64((pj - q) * inv);
                        }
                    }
                    (Loss::Mse, Targets::Values(v)) => {
                        for (j, gj) in g.iter_mut().enumerate() {
                            let d = row[j].to_f64() - v[k * f + j] as f64;
                            total += d * d / f as f64;
                            *gj = T::from_f64(2.0 * d / f as f64 * inv);
                        }
                    }
                    (Loss::Mae, Targets::Values(v)) => {
                        for (j, gj) in g.iter_mut().enumerate() {
                            let d = row[j].to_f64() - v[k * f + j] as f64;
                            total += d.abs() / f as f64;
                            // The subgradient 0 at d = 0 (`signum` would give ±1 there).
                            let sign = if d > 0.0 {
                                1.0
                            } else if d < 0.0 {
                                -1.0
                            } else {
                                0.0
                            };
                            *gj = T::from_f64(sign / f as f64 * inv);
                        }
                    }
                    (Loss::Huber { delta }, Targets::Values(v)) => {
                        for (j, gj) in g.iter_mut().enumerate() {
                            let d = row[j].to_f64() - v[k * f + j] as f64;
                            let (l, dl) = if d.abs() <= *delta {
                                (0.5 * d * d, d)
                            } else {
                                (delta * (d.abs() - 0.5 * delta), delta * d.signum())
                            };
                            total += l / f as f64;
                            *gj = T::from_f64(dl / f as f64 * inv);
                        }
                    }
                    (Loss::Mean, _) => {
                        for (gj, v) in g.iter_mut().zip(row) {
                            total += v.to_f64() / f as f64;
                            *gj = T::from_f64(inv / f as f64);
                        }
                    }
                    _ => panic!("loss {self:?} does not take these targets"),
                }
            }
        }
        (total, grad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(loss: Loss, targets: Targets) {
        let out = Seq::vectors(vec![0.3f64, -1.2, 2.0, 0.5, 0.1, -0.4], 2, 3).unwrap();
        let (_, g) = loss.evaluate(&out, &targets, 2);
        for i in 0..out.data.len() {
            let mut p = out.clone();
            p.data[i] += 1e-6;
            let lp = loss.evaluate(&p, &targets, 2).0 / 2.0;
            p.data[i] -= 2e-6;
            let lm = loss.evaluate(&p, &targets, 2).0 / 2.0;
            assert!((g.data[i] - (lp - lm) / 2e-6).abs() < 1e-7, "{loss:?} grad {i}");
        }
    }

    #[test]
    fn mae_is_pytorch_l1_loss() {
        // torch.nn.L1Loss()(out, target) averages |out - target| over every element: 6 / 6 here.
        let out = Seq::vectors(vec![0.5f32, -1.0, 2.0, 0.0, 1.0, -3.0], 2, 3).unwrap();
        let targets = Targets::Values(vec![0.0, 1.0, 2.0, 0.5, 0.0, -1.0]);
        let (total, grad) = Loss::Mae.evaluate(&out, &targets, 2);
        assert!((total / 2.0 - 1.0).abs() < 1e-12);
        let sixth = (1.0f64 / 6.0) as f32;
        assert_eq!(grad.data, vec![sixth, -sixth, 0.0, -sixth, sixth, -sixth]);
    }

    #[test]
    fn gradients_match_finite_differences() {
        check(
            Loss::SoftmaxCrossEntropy { label_smoothing: 0.0 },
            Targets::Classes(vec![2, 0]),
        );
        check(
            Loss::SoftmaxCrossEntropy { label_smoothing: 0.1 },
            Targets::Classes(vec![1, 2]),
        );
        check(Loss::Mse, Targets::Values(vec![0.0, 1.0, 2.0, -1.0, 0.5, 0.0]));
        check(Loss::Mae, Targets::Values(vec![0.0, 1.0, 0.0, -1.0, 0.5, 3.0]));
        check(
            Loss::Huber { delta: 1.0 },
            Targets::Values(vec![0.0, 1.0, 0.0, -1.0, 0.5, 3.0]),
        );
    }
}
