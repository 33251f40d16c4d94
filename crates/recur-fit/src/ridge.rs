//! The closed-form solver: a model whose layers before its last dense layer have nothing to
//! train (MiniRocket's features, pooling…) gets that dense layer by ridge regression on the
//! features, as sktime's and the MiniRocket paper's `RidgeClassifierCV` does: features
//! standardised, targets ±1 per class (or the standardised values), an intercept, and the
//! penalty chosen among [`alphas`] by the leave-one-out error over the training sequences,
//! which a kernel form gives exactly for all of them at once. No validation split is needed,
//! so every training sequence is used.

use recur_core::math::dispatch;
use recur_core::parallel::run_on_workers;
use recur_core::{matmul, Seq, Transpose};
use recur_nn::layer::bias_rows;
use recur_nn::{LayerConfig, Model, ModelConfig, NnError, Result};

/// The penalties tried: ten points from 10⁻³ to 10³ on a log scale (sktime's choice), and
/// further steps past the top while the choice lies there.
pub fn alphas() -> Vec<f64> {
    (0..10).map(|i| 10f64.powf(-3.0 + 6.0 * i as f64 / 9.0)).collect()
}

/// Penalties tried past the top of [`alphas`] at most, each a grid step further, while the
/// choice stays at the top (four steps: almost three decades).
const MORE_PENALTIES: usize = 4;

/// Goes on past the top of the penalties tried (`all`, increasing, each with its solution)
/// while the lowest error `mse` lies there: a step of `ratio` at a time, each solved by `solve`,
/// at most [`MORE_PENALTIES`]; a step that cannot be solved ends the search. Not past the
/// bottom: below 10⁻³ the standardised kernel's system nears singular, and a choice there is a
/// separable problem's, which any small penalty fits.
fn extend_past_top<S>(
    all: &mut Vec<(f64, S)>,
    ratio: f64,
    mse: impl Fn(&S) -> f64,
    mut solve: impl FnMut(f64) -> Result<S>,
) {
    for _ in 0..MORE_PENALTIES {
        let lowest = all
            .iter()
            .enumerate()
            .min_by(|a, b| mse(&a.1 .1).total_cmp(&mse(&b.1 .1)))
            .map(|(i, _)| i);
        let Some(top) = all
            .last()
            .map(|(alpha, _)| *alpha)
            .filter(|_| lowest == Some(all.len() - 1))
        else {
            return;
        };
        match solve(top * ratio) {
            Ok(solution) => all.push((top * ratio, solution)),
            Err(_) => return,
        }
    }
}

/// The most training sequences the solver takes by default: its cost grows with their cube
/// (the `n × n` kernel is factored once per penalty): the default classifier takes 24 s on two
/// cores for this many sequences of 100 steps.
pub const MAX_SEQUENCES: usize = 2500;

/// Why `config` cannot be fitted in closed form, or `None` when it can: a stack whose last
/// layer is a linear dense layer on one vector per sequence, after layers with nothing to
/// train (checked on the built layers, so a layer with weights is never left untrained).
pub fn unsuitable(config: &ModelConfig) -> Option<String> {
    let Some(last) = config.layers.last() else {
        return Some("the ridge solver needs a stack of layers (a `layers` list), not a graph".into());
    };
    if !matches!(last, LayerConfig::Dense(recur_nn::DenseConfig { activation, .. }) if *activation == recur_nn::Activation::Linear)
    {
        return Some("the ridge solver fits a last dense layer without activation".into());
    }
    let features = match Model::<f32>::for_loading(features_config(config)) {
        Ok(model) => model,
        Err(e) => return Some(format!("the ridge solver cannot build the layers before the last: {e}")),
    };
    let trainable = features.named_params().into_iter().find(|(_, p)| p.trainable);
    trainable.map(|(name, _)| {
        format!(
            "the ridge solver fits only the last dense layer, but the layers before it have weights to \
             train ({name})"
        )
    })
}

/// The layers of a stack before its last one (the features the ridge solver regresses on),
/// without classes or metadata.
pub fn features_config(config: &ModelConfig) -> ModelConfig {
    let mut head = config.clone();
    head.layers.pop();
    head.classes.clear();
    head.metadata.clear();
    head
}

/// A fitted linear head: `weight [outputs, features]` (PyTorch's layout) and `bias`, with the
/// penalty chosen and its leave-one-out mean squared error.
pub struct RidgeHead {
    /// Weights as a dense layer stores them.
    pub weight: Vec<f64>,
    /// Biases.
    pub bias: Vec<f64>,
    /// The penalty chosen.
    pub alpha: f64,
    /// Leave-one-out mean squared error at that penalty (per target value).
    pub loo_mse: f64,
    /// Leave-one-out predictions at that penalty, `[n, outputs]` (their argmax scores the
    /// classifier without a held-out set).
    pub loo_predictions: Vec<f64>,
    /// The fitted values of the training sequences, `[n, outputs]`.
    pub fitted: Vec<f64>,
}

/// Feature columns standardised and multiplied at a time.
const BLOCK: usize = 2048;

/// Fits `targets [n, outputs]` on `features [n, d]` (f32 rows as a model gives them), solving
/// for the penalties on `threads` cores.
pub fn fit(features: &Seq<f32>, targets: &[f64], outputs: usize, threads: usize) -> Result<RidgeHead> {
    let (n, d) = (features.batch, features.features);
    if n < 2 {
        return Err(NnError::Input(format!(
            "the ridge solver needs at least two training sequences, got {n}"
        )));
    }
    if d == 0 || outputs == 0 || targets.len() != n * outputs {
        return Err(NnError::Input(format!(
            "the ridge solver needs features and {n} × {outputs} targets, got {d} features and {} targets",
            targets.len()
        )));
    }
    let z = Standardised::new(features);
    let mut target_mean = vec![0f64; outputs];
    for row in targets.chunks_exact(outputs) {
        target_mean.iter_mut().zip(row).for_each(|(m, &v)| *m += v);
    }
    target_mean.iter_mut().for_each(|m| *m /= n as f64);
    let centred: Vec<f64> = targets
        .chunks_exact(outputs)
        .flat_map(|row| row.iter().zip(&target_mean).map(|(v, m)| v - m))
        .collect();
    // The kernel Z·Zᵀ: with n far below d, the n × n system is the cheap one.
    let mut kernel = vec![0f64; n * n];
    for cols in z.blocks() {
        let (block, width) = (z.block(&cols), cols.len());
        matmul(
            n,
            n,
            width,
            &block,
            width,
            Transpose::No,
            &block,
            width,
            Transpose::Yes,
            &mut kernel,
            n,
            true,
        );
    }
    let system = Dual {
        kernel: &kernel,
        n,
        centred: &centred,
        outputs,
    };
    let (alpha, loo_mse, dual, residuals) = system.best_penalty(threads)?;
    let loo_predictions = targets.iter().zip(&residuals).map(|(t, r)| t - r).collect();
    // The fitted training values Z·W + ȳ = K·c + ȳ.
    let mut fitted = bias_rows(n, &target_mean);
    matmul(
        n,
        outputs,
        n,
        &kernel,
        n,
        Transpose::No,
        &dual,
        outputs,
        Transpose::No,
        &mut fitted,
        outputs,
        true,
    );
    let (weight, bias) = z.primal(&dual, outputs, &target_mean);
    Ok(RidgeHead {
        weight,
        bias,
        alpha,
        loo_mse,
        loo_predictions,
        fitted,
    })
}

/// The training features standardised per column, formed a block of columns at a time (the
/// whole matrix would be n × d doubles: 170 MB on PLAID).
struct Standardised<'a> {
    features: &'a Seq<f32>,
    mean: Vec<f64>,
    /// Each column's standard deviation; 1 for a column constant over the training set.
    scale: Vec<f64>,
}

impl<'a> Standardised<'a> {
    fn new(features: &'a Seq<f32>) -> Self {
        let (n, d) = (features.batch, features.features);
        let mut mean = vec![0f64; d];
        let mut scale = vec![0f64; d];
        for row in features.data.chunks_exact(d) {
            mean.iter_mut().zip(row).for_each(|(m, &v)| *m += v as f64);
        }
        mean.iter_mut().for_each(|m| *m /= n as f64);
        for row in features.data.chunks_exact(d) {
            for ((s, &m), &v) in scale.iter_mut().zip(&mean).zip(row) {
                *s += (v as f64 - m).powi(2);
            }
        }
        // A feature whose spread is within rounding of its level is constant: dividing by that
        // spread would give the saved f32 weights a cancellation they cannot carry.
        scale.iter_mut().zip(&mean).for_each(|(s, m)| {
            let sd = (*s / n as f64).sqrt();
            *s = if sd > 1e-6 * m.abs().max(1.0) { sd } else { 1.0 };
        });
        Standardised { features, mean, scale }
    }

    /// The column blocks, [`BLOCK`] wide.
    fn blocks(&self) -> impl Iterator<Item = std::ops::Range<usize>> {
        let d = self.features.features;
        (0..d).step_by(BLOCK).map(move |c| c..(c + BLOCK).min(d))
    }

    /// The standardised columns `cols`, `[n, cols.len()]`.
    fn block(&self, cols: &std::ops::Range<usize>) -> Vec<f64> {
        let d = self.features.features;
        let mut z = Vec::with_capacity(self.features.batch * cols.len());
        for row in self.features.data.chunks_exact(d) {
            z.extend(cols.clone().map(|c| (row[c] as f64 - self.mean[c]) / self.scale[c]));
        }
        z
    }

    /// The primal weights `W = Zᵀ·c` of dual coefficients `c` `[n, outputs]`, folded back to
    /// the raw features: the weight `[outputs, d]` and bias of the head.
    fn primal(&self, dual: &[f64], outputs: usize, target_mean: &[f64]) -> (Vec<f64>, Vec<f64>) {
        let (n, d) = (self.features.batch, self.features.features);
        let mut w = vec![0f64; d * outputs];
        for cols in self.blocks() {
            let (z, width) = (self.block(&cols), cols.len());
            let out = &mut w[cols.start * outputs..cols.end * outputs];
            matmul(
                width,
                outputs,
                n,
                &z,
                width,
                Transpose::Yes,
                dual,
                outputs,
                Transpose::No,
                out,
                outputs,
                false,
            );
        }
        let mut weight = vec![0f64; outputs * d];
        let mut bias = target_mean.to_vec();
        for f in 0..d {
            for j in 0..outputs {
                let v = w[f * outputs + j] / self.scale[f];
                weight[j * d + f] = v;
                bias[j] -= self.mean[f] * v;
            }
        }
        (weight, bias)
    }
}

/// The dual ridge system: the kernel of the standardised features and the centred targets.
struct Dual<'a> {
    kernel: &'a [f64],
    n: usize,
    centred: &'a [f64],
    outputs: usize,
}

impl Dual<'_> {
    /// Dual coefficients and leave-one-out residuals at the penalty `alpha`.
    fn solve(&self, alpha: f64) -> Result<(Vec<f64>, Vec<f64>)> {
        leave_one_out(self.kernel, self.n, self.centred, self.outputs, alpha)
    }

    /// The penalty with the lowest leave-one-out error over the grid (extended past its top
    /// while the error still falls), solved on `threads` cores: the penalty, its error, its
    /// dual coefficients and its leave-one-out residuals.
    fn best_penalty(&self, threads: usize) -> Result<(f64, f64, Vec<f64>, Vec<f64>)> {
        // The penalties are independent: each worker solves every `threads`-th of them.
        let penalties = alphas();
        let step = threads.clamp(1, penalties.len());
        let mut workers: Vec<usize> = (0..step).collect();
        let solved = run_on_workers(&mut workers, |w, _| {
            penalties
                .iter()
                .skip(w)
                .step_by(step)
                .map(|&alpha| self.solve(alpha).map(|r| (alpha, r)))
                .collect::<Result<Vec<_>>>()
        });
        let mut all = solved.into_iter().collect::<Result<Vec<_>>>()?.concat();
        all.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mse_of = |residuals: &[f64]| residuals.iter().map(|r| r * r).sum::<f64>() / (self.n * self.outputs) as f64;
        let ratio = penalties[1] / penalties[0];
        extend_past_top(
            &mut all,
            ratio,
            |(_, residuals)| mse_of(residuals),
            |alpha| self.solve(alpha),
        );
        let mut best: Option<(f64, f64, Vec<f64>, Vec<f64>)> = None;
        for (alpha, (dual, residuals)) in all {
            let mse = mse_of(&residuals);
            if best.as_ref().is_none_or(|b| mse < b.1) {
                best = Some((alpha, mse, dual, residuals));
            }
        }
        Ok(best.expect("at least one penalty is tried"))
    }
}

/// Ridge regression with an unpenalised intercept, from the kernel `K = Z·Zᵀ` of centred
/// features and the centred targets `y`: the dual coefficients `c = (K + αI)⁻¹·y` (the
/// weights are `Zᵀ·c`) and the exact leave-one-out residuals, both `[n, outputs]`.
///
/// The fit is a linear smoother with hat matrix `H = 11ᵀ/n + K·(K + αI)⁻¹`, so residual `i` of
/// the model fitted without sequence `i` is `r_i / (1 − H_ii)`, which with `G = (K + αI)⁻¹` is
/// `α·c_i / (α·G_ii − 1/n)`.
fn leave_one_out(kernel: &[f64], n: usize, y: &[f64], outputs: usize, alpha: f64) -> Result<(Vec<f64>, Vec<f64>)> {
    // With M = L⁻¹ for the Cholesky factor L of K + αI, G = Mᵀ·M: c = Mᵀ·(M·y) and G_ii is
    // the squared norm of column i of M, so G itself is never formed.
    let m = inverse_cholesky_factor(kernel, n, alpha)?;
    let mut my = vec![0f64; n * outputs];
    let mut dual = vec![0f64; n * outputs];
    let mut diagonal = vec![0f64; n];
    dispatch(
        #[inline(always)]
        || {
            for i in 0..n {
                let row = &m[i * n..i * n + i + 1];
                for o in 0..outputs {
                    my[i * outputs + o] = row.iter().enumerate().map(|(k, v)| v * y[k * outputs + o]).sum();
                }
                diagonal[..=i].iter_mut().zip(row).for_each(|(d, v)| *d += v * v);
            }
            for i in 0..n {
                let row = &m[i * n..i * n + i + 1];
                for o in 0..outputs {
                    let z = my[i * outputs + o];
                    for (k, v) in row.iter().enumerate() {
                        dual[k * outputs + o] += v * z;
                    }
                }
            }
        },
    );
    let residuals = (0..n * outputs)
        .map(|k| alpha * dual[k] / (alpha * diagonal[k / outputs] - 1.0 / n as f64))
        .collect();
    Ok((dual, residuals))
}

/// The dot product of two equally long slices, in eight lanes so that it vectorises (a plain
/// sum of f64 products must keep its order and cannot).
#[inline(always)]
fn dot(a: &[f64], b: &[f64]) -> f64 {
    let mut lanes = [0f64; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            lanes[k] += x[k] * y[k];
        }
    }
    lanes.iter().sum::<f64>() + tail
}

/// `M = L⁻¹` (lower triangular, row-major) for the Cholesky factor `L` of `K + αI`, a symmetric
/// positive semi-definite `n × n` matrix plus a positive penalty.
fn inverse_cholesky_factor(kernel: &[f64], n: usize, alpha: f64) -> Result<Vec<f64>> {
    let mut l = vec![0f64; n * n];
    let mut m = vec![0f64; n * n];
    let failed = dispatch(
        #[inline(always)]
        || {
            for i in 0..n {
                for j in 0..=i {
                    let v = kernel[i * n + j] - dot(&l[i * n..i * n + j], &l[j * n..j * n + j]);
                    if i == j {
                        let v = v + alpha;
                        if v.is_nan() || v <= 0.0 {
                            return true;
                        }
                        l[i * n + i] = v.sqrt();
                    } else {
                        l[i * n + j] = v / l[j * n + j];
                    }
                }
            }
            // Row i of M: (e_i − Σ_{k<i} L_ik · row k of M) / L_ii, each step a contiguous axpy.
            let mut row = vec![0f64; n];
            for i in 0..n {
                row[..i].iter_mut().for_each(|v| *v = 0.0);
                for k in 0..i {
                    let lik = l[i * n + k];
                    row[..=k]
                        .iter_mut()
                        .zip(&m[k * n..k * n + k + 1])
                        .for_each(|(r, v)| *r -= lik * v);
                }
                row[i] = 1.0;
                let scale = 1.0 / l[i * n + i];
                m[i * n..i * n + i + 1]
                    .iter_mut()
                    .zip(&row[..=i])
                    .for_each(|(o, v)| *o = v * scale);
            }
            false
        },
    );
    if failed {
        return Err(NnError::Input(format!(
            "the ridge system is not positive definite (penalty {alpha}); are the features finite?"
        )));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use recur_core::Rng;

    fn random(n: usize, seed: u64) -> Vec<f64> {
        let mut rng = Rng::new(seed);
        (0..n).map(|_| rng.normal()).collect()
    }

    /// Centred data: each column minus its mean over `rows`.
    fn centred(m: &[f64], width: usize, rows: &[usize]) -> (Vec<f64>, Vec<f64>) {
        let mut mean = vec![0.0; width];
        rows.iter()
            .for_each(|&i| (0..width).for_each(|c| mean[c] += m[i * width + c] / rows.len() as f64));
        let out = rows
            .iter()
            .flat_map(|&i| (0..width).map(|c| m[i * width + c] - mean[c]).collect::<Vec<_>>());
        (out.collect(), mean)
    }

    /// The kernel formula's leave-one-out residuals equal refitting (intercept included)
    /// without each sequence.
    #[test]
    fn leave_one_out_matches_refitting() {
        let (n, d, outputs, alpha) = (9, 14, 2, 0.7);
        let z = random(n * d, 1);
        let y = random(n * outputs, 2);
        let kernel = |zc: &[f64], rows: usize| {
            let mut k = vec![0.0; rows * rows];
            matmul(
                rows,
                rows,
                d,
                zc,
                d,
                Transpose::No,
                zc,
                d,
                Transpose::Yes,
                &mut k,
                rows,
                false,
            );
            k
        };
        let all: Vec<usize> = (0..n).collect();
        let ((zc, _), (yc, _)) = (centred(&z, d, &all), centred(&y, outputs, &all));
        let (_, residuals) = leave_one_out(&kernel(&zc, n), n, &yc, outputs, alpha).unwrap();
        for i in 0..n {
            let rest: Vec<usize> = all.iter().copied().filter(|&j| j != i).collect();
            let ((zr, z_mean), (yr, y_mean)) = (centred(&z, d, &rest), centred(&y, outputs, &rest));
            let (dual, _) = leave_one_out(&kernel(&zr, n - 1), n - 1, &yr, outputs, alpha).unwrap();
            for o in 0..outputs {
                // Prediction y_mean + (z_i − z_mean)·w with w = Zᵀ·c.
                let prediction = y_mean[o]
                    + (0..n - 1)
                        .map(|a| {
                            let dot: f64 = (0..d).map(|f| (z[i * d + f] - z_mean[f]) * zr[a * d + f]).sum();
                            dual[a * outputs + o] * dot
                        })
                        .sum::<f64>();
                let expected = y[i * outputs + o] - prediction;
                assert!(
                    (residuals[i * outputs + o] - expected).abs() < 1e-9,
                    "sequence {i}, output {o}"
                );
            }
        }
    }

    /// The folded weights give, on raw features, the ridge fit on standardised ones: a
    /// perfectly separable problem is fitted with the right signs, and every penalty's
    /// error is finite.
    #[test]
    fn ridge_head_separates_a_linear_problem() {
        let (n, d) = (40, 6);
        let raw = random(n * d, 3);
        let data: Vec<f32> = raw
            .iter()
            .enumerate()
            .map(|(k, v)| (v * 5.0 + (k % d) as f64 * 100.0) as f32)
            .collect();
        let targets: Vec<f64> = (0..n)
            .map(|i| if data[i * d + 2] > 200.0 { 1.0 } else { -1.0 })
            .collect();
        let x = Seq::vectors(data.clone(), n, d).unwrap();
        let head = fit(&x, &targets, 1, 2).unwrap();
        let right = (0..n)
            .filter(|&i| {
                let score = head.bias[0] + (0..d).map(|f| data[i * d + f] as f64 * head.weight[f]).sum::<f64>();
                score.signum() == targets[i]
            })
            .count();
        assert!(right >= n - 2, "{right} of {n} on the right side");
        assert!(head.weight[2] > 0.0 && alphas().contains(&head.alpha) && head.loo_mse.is_finite());
        // (K + I)⁻¹ = Mᵀ·M for K = [[4, 2], [2, 3]].
        let m = inverse_cholesky_factor(&[4.0, 2.0, 2.0, 3.0], 2, 1.0).unwrap();
        let inverse = [m[0] * m[0] + m[2] * m[2], m[2] * m[3], m[2] * m[3], m[3] * m[3]];
        let expected = [4.0 / 16.0, -2.0 / 16.0, -2.0 / 16.0, 5.0 / 16.0];
        inverse
            .iter()
            .zip(expected)
            .for_each(|(a, b)| assert!((a - b).abs() < 1e-12));
    }

    /// A choice at the grid's top goes on upwards while the error falls and stops at the
    /// lowest; at the bottom or inside, nothing more is tried.
    #[test]
    fn ridge_penalty_goes_past_the_grid_top_while_the_error_falls() {
        let grid = alphas();
        let ratio = grid[1] / grid[0];
        let choose = |best_log10: f64| {
            let error = |alpha: f64| (alpha.log10() - best_log10).powi(2);
            let mut all: Vec<(f64, f64)> = grid.iter().map(|&a| (a, error(a))).collect();
            extend_past_top(&mut all, ratio, |e| *e, |a| Ok(error(a)));
            let best = all.iter().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap().0;
            (best, all.len())
        };
        let (best, tried) = choose(4.5);
        assert!((best.log10() - 4.5).abs() < 0.34 && tried == 13, "{best} of {tried}");
        assert_eq!(choose(-4.2).1, 10);
        assert_eq!(choose(0.5).1, 10);
        // Never more than MORE_PENALTIES past the top.
        assert_eq!(choose(40.0).1, 10 + MORE_PENALTIES);
    }
}
