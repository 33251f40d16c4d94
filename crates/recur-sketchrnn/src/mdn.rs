//! The mixture-density output of sketch-rnn and its loss, forward and backward side by side.
//!
//! An output row holds `6M + 3` values, in Magenta's order: 3 pen logits, then `M` each of the
//! mixture-weight logits, `μx`, `μy`, `log σx`, `log σy` and the correlation before `tanh`.
//! The loss of one step is Magenta's: `−ln(Σ_j π_j N(dx, dy | μ_j, σ_j, ρ_j) + 10⁻⁶)` for the
//! offsets (computed in log space, so that it neither underflows nor differs from Magenta's
//! where Magenta's is finite), left out after the drawing's end, plus the cross-entropy of the
//! three pen states at every step.

use recur_core::Float;

/// Pen logits at the head of every output row.
pub const PEN_STATES: usize = 3;
/// Magenta's floor under the mixture's density before the logarithm.
pub const DENSITY_FLOOR: f64 = 1e-6;
/// `1 − ρ²` is kept above this, so a correlation saturated at ±1 cannot divide by zero.
const MIN_ONE_MINUS_RHO2: f64 = 1e-6;

/// Values per output row for `mixtures` normals.
pub fn row_width(mixtures: usize) -> usize {
    6 * mixtures + PEN_STATES
}

/// One step's loss, split in its two terms.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StepLoss {
    /// The offsets' negative log-density (0 after the drawing's end).
    pub offsets: f64,
    /// The pen states' cross-entropy.
    pub pen: f64,
}

/// One mixture component of a row, activated: `π` is not here (see [`component_logs`]).
#[derive(Clone, Copy, Debug)]
pub struct Normal2 {
    /// Mean of `dx`.
    pub mu_x: f64,
    /// Mean of `dy`.
    pub mu_y: f64,
    /// Standard deviation of `dx`.
    pub sigma_x: f64,
    /// Standard deviation of `dy`.
    pub sigma_y: f64,
    /// Correlation.
    pub rho: f64,
}

/// Component `j` of `row` (of `m` components), activated as Magenta does.
pub fn component<T: Float>(row: &[T], m: usize, j: usize) -> Normal2 {
    let at = |k: usize| row[PEN_STATES + k * m + j].to_f64();
    Normal2 {
        mu_x: at(1),
        mu_y: at(2),
        sigma_x: at(3).exp(),
        sigma_y: at(4).exp(),
        rho: at(5).tanh(),
    }
}

/// `log π_j` of a row's `m` components (a log-softmax of the logits).
pub fn component_logs<T: Float>(row: &[T], m: usize) -> Vec<f64> {
    log_softmax(&row[PEN_STATES..PEN_STATES + m])
}

/// The log-softmax of `logits`, in f64.
pub fn log_softmax<T: Float>(logits: &[T]) -> Vec<f64> {
    let max = logits.iter().map(|v| v.to_f64()).fold(f64::NEG_INFINITY, f64::max);
    let lse = max + logits.iter().map(|v| (v.to_f64() - max).exp()).sum::<f64>().ln();
    logits.iter().map(|v| v.to_f64() - lse).collect()
}

/// The standardised offsets and `1 − ρ²` of a target under one component.
struct Standardised {
    zx: f64,
    zy: f64,
    omega: f64,
    /// `zx² + zy² − 2ρ·zx·zy`.
    quad: f64,
}

fn standardise(n: &Normal2, dx: f64, dy: f64) -> Standardised {
    let zx = (dx - n.mu_x) / n.sigma_x;
    let zy = (dy - n.mu_y) / n.sigma_y;
    let omega = ((1.0 - n.rho) * (1.0 + n.rho)).max(MIN_ONE_MINUS_RHO2);
    Standardised {
        zx,
        zy,
        omega,
        quad: zx * zx + zy * zy - 2.0 * n.rho * zx * zy,
    }
}

/// `ln N(dx, dy)` under a component.
fn log_density(n: &Normal2, s: &Standardised) -> f64 {
    -(2.0 * std::f64::consts::PI).ln() - n.sigma_x.ln() - n.sigma_y.ln() - 0.5 * s.omega.ln() - s.quad / (2.0 * s.omega)
}

/// The loss of one output `row` (`6m + 3` values) against its stroke-5 `target`, and (with
/// `grad`, as long as the row) its gradient times `scale` added into `grad`. The offsets are
/// scored unless the target is past the drawing's end (`p3 = 1`).
pub fn step_loss<T: Float>(row: &[T], target: &[f32], m: usize, scale: f64, grad: Option<&mut [T]>) -> StepLoss {
    let pen_logs = log_softmax(&row[..PEN_STATES]);
    let pen = -(0..PEN_STATES).map(|k| target[2 + k] as f64 * pen_logs[k]).sum::<f64>();
    let scored = target[4] < 0.5;
    let (dx, dy) = (target[0] as f64, target[1] as f64);
    let log_pi = component_logs(row, m);
    let parts: Vec<(Normal2, Standardised)> = (0..m)
        .map(|j| {
            let n = component(row, m, j);
            let s = standardise(&n, dx, dy);
            (n, s)
        })
        .collect();
    let joint: Vec<f64> = parts
        .iter()
        .zip(&log_pi)
        .map(|((n, s), lp)| lp + log_density(n, s))
        .collect();
    let max = joint.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lse = max + joint.iter().map(|l| (l - max).exp()).sum::<f64>().ln();
    let density = lse.exp();
    let offsets = if scored { -(density + DENSITY_FLOOR).ln() } else { 0.0 };
    let Some(grad) = grad else {
        return StepLoss { offsets, pen };
    };
    let sum_pen: f64 = target[2..5].iter().map(|&v| v as f64).sum();
    for k in 0..PEN_STATES {
        let g = pen_logs[k].exp() * sum_pen - target[2 + k] as f64;
        grad[k] += T::from_f64(g * scale);
    }
    if scored {
        // dL/d(ln π_j N_j) = g·γ_j with γ the components' posterior and g = −S/(S + floor).
        let g = -density / (density + DENSITY_FLOOR);
        let at = |k: usize, j: usize| PEN_STATES + k * m + j;
        for (j, ((n, s), l)) in parts.iter().zip(&joint).enumerate() {
            let w = g * (l - lse).exp();
            let (zx, zy, om, rho) = (s.zx, s.zy, s.omega, n.rho);
            let d = [
                w - g * log_pi[j].exp(),
                w * (zx - rho * zy) / (om * n.sigma_x),
                w * (zy - rho * zx) / (om * n.sigma_y),
                w * (zx * (zx - rho * zy) / om - 1.0),
                w * (zy * (zy - rho * zx) / om - 1.0),
                w * (rho + zx * zy - rho * s.quad / om),
            ];
            for (k, v) in d.into_iter().enumerate() {
                grad[at(k, j)] += T::from_f64(v * scale);
            }
        }
    }
    StepLoss { offsets, pen }
}

#[cfg(test)]
mod tests {
    use super::*;
    use recur_core::Rng;

    fn random_row(m: usize, seed: u64) -> Vec<f64> {
        let mut rng = Rng::new(seed);
        (0..row_width(m)).map(|_| rng.uniform_range(-1.0, 1.0)).collect()
    }

    fn total(row: &[f64], target: &[f32], m: usize) -> f64 {
        let l = step_loss(row, target, m, 1.0, None);
        l.offsets + l.pen
    }

    /// Central differences of the loss against its backward, for a scored step and a step past
    /// the drawing's end, in f64.
    #[test]
    fn sketchrnn_mixture_loss_gradient_matches_finite_differences() {
        let m = 4;
        for (seed, target) in [
            (1, [0.3f32, -0.4, 0.0, 1.0, 0.0]),
            (2, [-1.2, 0.7, 1.0, 0.0, 0.0]),
            (3, [0.0, 0.0, 0.0, 0.0, 1.0]),
        ] {
            let row = random_row(m, seed);
            let mut grad = vec![0.0; row.len()];
            step_loss(&row, &target, m, 1.0, Some(&mut grad));
            let eps = 1e-6;
            for i in 0..row.len() {
                let (mut up, mut down) = (row.clone(), row.clone());
                up[i] += eps;
                down[i] -= eps;
                let numeric = (total(&up, &target, m) - total(&down, &target, m)) / (2.0 * eps);
                assert!(
                    (numeric - grad[i]).abs() < 1e-6 * (1.0 + numeric.abs()),
                    "target {target:?}, value {i}: analytic {} numeric {numeric}",
                    grad[i]
                );
            }
        }
    }

    /// With one component the loss is the bivariate normal's negative log-density by its
    /// closed form, plus the pen's cross-entropy.
    #[test]
    fn sketchrnn_mixture_loss_of_one_normal_is_its_density() {
        let row = [0.0, 0.0, 0.0, 5.0, 0.5, -0.5, 0.2f64.ln(), 0.3f64.ln(), 0.5f64.atanh()];
        let (x, y) = (0.7f64, -0.2f64);
        let l = step_loss(&row, &[x as f32, y as f32, 1.0, 0.0, 0.0], 1, 1.0, None);
        let (zx, zy, rho) = ((x as f32 as f64 - 0.5) / 0.2, (y as f32 as f64 + 0.5) / 0.3, 0.5);
        let z = zx * zx + zy * zy - 2.0 * rho * zx * zy;
        let pdf = (-z / (2.0 * (1.0 - rho * rho))).exp()
            / (2.0 * std::f64::consts::PI * 0.2 * 0.3 * (1.0f64 - rho * rho).sqrt());
        assert!((l.offsets + (pdf + DENSITY_FLOOR).ln()).abs() < 1e-9);
        assert!((l.pen - 3.0f64.ln()).abs() < 1e-12);
    }
}
