//! Test helpers shared by every layer's tests: the f64 finite-difference gradient check, and
//! the variable-length rule (a padded batch behaves exactly like each sequence run alone).

use crate::layer::{Ctx, Layer, Tape};
use recur_core::{Rng, Seq};

/// A random f64 batch with the given lengths (padding zeroed).
pub fn random_seq(batch: usize, time: usize, features: usize, lengths: &[usize], seed: u64) -> Seq<f64> {
    let mut rng = Rng::new(seed);
    let data = (0..batch * time * features)
        .map(|_| rng.uniform_range(-1.0, 1.0))
        .collect();
    Seq::new(data, batch, time, features, lengths.to_vec()).expect("valid test batch")
}

/// A training-mode forward with a fixed dropout stream.
pub fn forward(layer: &dyn Layer<f64>, x: &Seq<f64>) -> (Seq<f64>, Tape) {
    let mut rng = Rng::new(7);
    layer.forward(x.clone(), &mut Ctx::new(true, &mut rng))
}

/// Loss = Σ w·y with fixed random weights w; returns (loss, dy).
pub fn weighted_loss(y: &Seq<f64>, seed: u64) -> (f64, Seq<f64>) {
    let mut rng = Rng::new(seed);
    let mut dy = y.clone();
    dy.data.iter_mut().for_each(|v| *v = rng.uniform_range(-1.0, 1.0));
    dy.zero_padding();
    let loss = y.data.iter().zip(&dy.data).map(|(a, b)| a * b).sum();
    (loss, dy)
}

/// Checks the analytic input and parameter gradients of `layer` at `x` against central
/// differences. Panics with the worst offender when the relative error exceeds `tol`.
pub fn check_gradients(layer: &mut dyn Layer<f64>, x: &Seq<f64>, tol: f64) {
    check_gradients_inner(layer, x, tol, true)
}

/// As [`check_gradients`] but skips the input gradient (for layers whose input is discrete).
pub fn check_param_gradients(layer: &mut dyn Layer<f64>, x: &Seq<f64>, tol: f64) {
    check_gradients_inner(layer, x, tol, false)
}

fn check_gradients_inner(layer: &mut dyn Layer<f64>, x: &Seq<f64>, tol: f64, check_input: bool) {
    let eps = 1e-6;
    let (y, tape) = forward(layer, x);
    let (_, dy) = weighted_loss(&y, 99);
    layer
        .params_mut()
        .into_iter()
        .for_each(|p| p.grad.iter_mut().for_each(|g| *g = 0.0));
    let dx = layer.backward(tape, dy, true);
    let loss_at = |layer: &mut dyn Layer<f64>, x: &Seq<f64>| weighted_loss(&forward(layer, x).0, 99).0;
    let compare = |what: String, analytic: f64, numeric: f64| {
        let err = (analytic - numeric).abs() / (1e-4 + analytic.abs().max(numeric.abs()));
        assert!(
            err < tol,
            "{what}: analytic {analytic:.8e} vs numeric {numeric:.8e} (rel err {err:.2e})"
        );
    };
    if check_input {
        for i in 0..x.data.len() {
            let (b, t) = (i / (x.time * x.features), (i / x.features) % x.time);
            if !x.valid(b, t) {
                assert_eq!(dx.data[i], 0.0, "gradient reached padded input step ({b},{t})");
                continue;
            }
            let mut xp = x.clone();
            xp.data[i] += eps;
            let lp = loss_at(layer, &xp);
            xp.data[i] -= 2.0 * eps;
            let lm = loss_at(layer, &xp);
            compare(format!("input[{i}]"), dx.data[i], (lp - lm) / (2.0 * eps));
        }
    }
    let analytic: Vec<(String, Vec<f64>)> = layer
        .params()
        .iter()
        .filter(|p| p.trainable)
        .map(|p| (p.name.clone(), p.grad.clone()))
        .collect();
    for (name, grads) in analytic {
        for (j, &g) in grads.iter().enumerate() {
            let bump = |layer: &mut dyn Layer<f64>, d: f64| {
                let p = layer.params_mut().into_iter().find(|p| p.name == name).expect("param");
                p.value[j] += d;
            };
            bump(layer, eps);
            let lp = loss_at(layer, x);
            bump(layer, -2.0 * eps);
            let lm = loss_at(layer, x);
            bump(layer, eps);
            compare(format!("{name}[{j}]"), g, (lp - lm) / (2.0 * eps));
        }
    }
}

/// The variable-length rule: outputs, input gradients and parameter gradients of a padded
/// batch equal those of each sequence run alone (batch 1, cropped to its length).
pub fn check_padding_matches_alone(layer: &mut dyn Layer<f64>, x: &Seq<f64>) {
    let (y, tape) = forward(layer, x);
    let (_, dy) = weighted_loss(&y, 5);
    layer
        .params_mut()
        .into_iter()
        .for_each(|p| p.grad.iter_mut().for_each(|g| *g = 0.0));
    let dx = layer.backward(tape, dy.clone(), true);
    let batch_grads: Vec<Vec<f64>> = layer.params().iter().map(|p| p.grad.clone()).collect();
    let mut summed: Vec<Vec<f64>> = batch_grads.iter().map(|g| vec![0.0; g.len()]).collect();
    for b in 0..x.batch {
        let len = x.lengths[b];
        let alone = crop(&x.slice_batch(b..b + 1), len);
        let (y1, tape1) = forward(layer, &alone);
        let out_len = if y.sequential { y1.time } else { 1 };
        for t in 0..out_len {
            assert_close(y1.step(0, t), y.step(b, t), &format!("output of sequence {b} step {t}"));
        }
        let mut dy1 = Seq::zeros_like(&y1, y1.features);
        for t in 0..out_len {
            dy1.step_mut(0, t).copy_from_slice(dy.step(b, t));
        }
        layer
            .params_mut()
            .into_iter()
            .for_each(|p| p.grad.iter_mut().for_each(|g| *g = 0.0));
        let dx1 = layer.backward(tape1, dy1, true);
        for t in 0..len {
            assert_close(
                dx1.step(0, t),
                dx.step(b, t),
                &format!("input grad of sequence {b} step {t}"),
            );
        }
        for (s, p) in summed.iter_mut().zip(layer.params()) {
            s.iter_mut().zip(&p.grad).for_each(|(a, g)| *a += g);
        }
    }
    for ((s, g), p) in summed.iter().zip(&batch_grads).zip(layer.params()) {
        assert_close(s, g, &format!("gradient of {}", p.name));
    }
}

/// The first `len` steps of a one-sequence batch.
pub fn crop(x: &Seq<f64>, len: usize) -> Seq<f64> {
    let data = x.data[..len * x.features].to_vec();
    Seq::new(data, 1, len, x.features, vec![len]).expect("crop")
}

/// Asserts two slices agree to 1e-9 (relative to magnitude).
pub fn assert_close(a: &[f64], b: &[f64], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            (x - y).abs() <= 1e-9 * (1.0 + x.abs().max(y.abs())),
            "{what}[{i}]: {x} vs {y}"
        );
    }
}
