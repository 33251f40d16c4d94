//! Graph models: wiring and config errors, f64 finite-difference gradients through merges and
//! shared layers, the variable-length rule, and nested checkpoint names.

use crate::config::ModelConfig;
use crate::gradcheck::{assert_close, crop, random_seq, weighted_loss};
use crate::layer::Ctx;
use crate::model::Model;
use recur_core::{Rng, Seq};

fn model(json: &str) -> Model<f64> {
    Model::new(ModelConfig::from_json(json).unwrap_or_else(|e| panic!("{e}")), 3).unwrap()
}

fn error(json: &str) -> String {
    ModelConfig::from_json(json).unwrap_err().to_string()
}

fn train_ctx(rng: &mut Rng) -> Ctx<'_> {
    Ctx::new(true, rng)
}

/// Σ over outputs of a fixed random weighting: its gradient is those weights.
fn loss_and_grads(m: &Model<f64>, xs: &[Seq<f64>]) -> (f64, Vec<Seq<f64>>) {
    let (ys, _) = m.forward(xs.to_vec(), &mut train_ctx(&mut Rng::new(1))).unwrap();
    let mut total = 0.0;
    let mut dys = Vec::new();
    for (k, y) in ys.iter().enumerate() {
        let (l, dy) = weighted_loss(y, 40 + k as u64);
        total += l;
        dys.push(dy);
    }
    (total, dys)
}

/// Checks the input and parameter gradients of a whole graph against central differences.
fn check_model_gradients(m: &mut Model<f64>, xs: &[Seq<f64>]) {
    let eps = 1e-6;
    let (ys, tape) = m.forward(xs.to_vec(), &mut train_ctx(&mut Rng::new(1))).unwrap();
    let dys = loss_and_grads(m, xs).1;
    assert_eq!(ys.len(), dys.len());
    m.zero_grad();
    let dxs = m.backward(tape, dys, true);
    let close = |what: &str, a: f64, n: f64| {
        let err = (a - n).abs() / (1e-4 + a.abs().max(n.abs()));
        assert!(err < 1e-5, "{what}: analytic {a:.8e} vs numeric {n:.8e}");
    };
    for (k, x) in xs.iter().enumerate() {
        let dx = dxs[k].as_ref().expect("input gradient");
        for i in 0..x.data.len() {
            let mut xp = xs.to_vec();
            xp[k].data[i] += eps;
            let lp = loss_and_grads(m, &xp).0;
            xp[k].data[i] -= 2.0 * eps;
            let lm = loss_and_grads(m, &xp).0;
            close(&format!("input {k}[{i}]"), dx.data[i], (lp - lm) / (2.0 * eps));
        }
    }
    let analytic: Vec<(String, Vec<f64>)> = m
        .named_params()
        .into_iter()
        .filter(|(_, p)| p.trainable)
        .map(|(n, p)| (n, p.grad.clone()))
        .collect();
    for (idx, (name, grads)) in analytic.iter().enumerate() {
        for (j, &g) in grads.iter().enumerate() {
            let bump = |m: &mut Model<f64>, d: f64| {
                let p = m
                    .params_mut()
                    .into_iter()
                    .filter(|p| p.trainable)
                    .nth(idx)
                    .expect("param");
                p.value[j] += d;
            };
            bump(m, eps);
            let lp = loss_and_grads(m, xs).0;
            bump(m, -2.0 * eps);
            let lm = loss_and_grads(m, xs).0;
            bump(m, eps);
            close(&format!("{name}[{j}]"), g, (lp - lm) / (2.0 * eps));
        }
    }
}

const WAVENET_BLOCK: &str = r#"{"inputs": [{"name": "x", "size": 2}],
  "nodes": [
    {"name": "input_conv", "type": "conv1d", "filters": 4, "kernel_size": 1, "inputs": ["x"]},
    {"name": "blocks.0.filter", "type": "conv1d", "filters": 4, "kernel_size": 2, "dilation_rate": 1, "padding": "causal", "inputs": ["input_conv"]},
    {"name": "blocks.0.gate", "type": "conv1d", "filters": 4, "kernel_size": 2, "dilation_rate": 1, "padding": "causal", "inputs": ["input_conv"]},
    {"name": "blocks.0.wave", "type": "gated_activation", "inputs": ["blocks.0.filter", "blocks.0.gate"]},
    {"name": "blocks.0.residual", "type": "conv1d", "filters": 4, "kernel_size": 1},
    {"name": "blocks.0.out", "type": "add", "inputs": ["input_conv", "blocks.0.residual"]},
    {"name": "blocks.1.conv", "type": "conv1d", "filters": 8, "kernel_size": 2, "dilation_rate": 2, "padding": "causal"},
    {"name": "blocks.1.wave", "type": "gated_activation"},
    {"name": "skips", "type": "concatenate", "inputs": ["blocks.0.wave", "blocks.1.wave"]},
    {"name": "head", "type": "dense", "units": 3, "activation": "tanh"}],
  "outputs": ["head"]}"#;

#[test]
fn graph_wavenet_block_gradients_match_finite_differences() {
    let mut m = model(WAVENET_BLOCK);
    check_model_gradients(&mut m, &[random_seq(2, 5, 2, &[5, 3], 1)]);
}

#[test]
fn graph_padded_batch_matches_each_sequence_alone() {
    let mut m = model(WAVENET_BLOCK);
    let x = random_seq(3, 6, 2, &[6, 2, 4], 2);
    let (ys, tape) = m.forward(vec![x.clone()], &mut train_ctx(&mut Rng::new(1))).unwrap();
    let (_, dy) = weighted_loss(&ys[0], 5);
    m.zero_grad();
    let dx = m.backward(tape, vec![dy.clone()], true).remove(0).unwrap();
    let batch_grads: Vec<Vec<f64>> = m.named_params().iter().map(|(_, p)| p.grad.clone()).collect();
    let mut summed: Vec<Vec<f64>> = batch_grads.iter().map(|g| vec![0.0; g.len()]).collect();
    for b in 0..x.batch {
        let len = x.lengths[b];
        let alone = crop(&x.slice_batch(b..b + 1), len);
        let (y1, tape1) = m.forward(vec![alone], &mut train_ctx(&mut Rng::new(1))).unwrap();
        let mut dy1 = Seq::zeros_like(&y1[0], y1[0].features);
        for t in 0..len {
            assert_close(y1[0].step(0, t), ys[0].step(b, t), &format!("output {b},{t}"));
            dy1.step_mut(0, t).copy_from_slice(dy.step(b, t));
        }
        m.zero_grad();
        let dx1 = m.backward(tape1, vec![dy1], true).remove(0).unwrap();
        for t in 0..len {
            assert_close(dx1.step(0, t), dx.step(b, t), &format!("input grad {b},{t}"));
        }
        for (s, (_, p)) in summed.iter_mut().zip(m.named_params()) {
            s.iter_mut().zip(&p.grad).for_each(|(a, g)| *a += g);
        }
    }
    for (s, g) in summed.iter().zip(&batch_grads) {
        assert_close(s, g, "parameter gradient");
    }
}

/// Two inputs (a sequence and static features), multiply, a shared layer applied twice, a
/// repeated vector, and two outputs.
#[test]
fn graph_two_inputs_shared_layer_and_two_outputs_gradients_match() {
    let mut m = model(
        r#"{"inputs": [{"name": "seq", "size": 3}, {"name": "extra", "size": 2, "sequential": false}],
        "nodes": [
          {"name": "proj", "type": "dense", "units": 4, "activation": "tanh", "inputs": ["seq"]},
          {"name": "proj_again", "share": "proj", "inputs": ["seq"]},
          {"name": "both", "type": "multiply", "inputs": ["proj", "proj_again"]},
          {"name": "rnn", "type": "gru", "units": 3, "inputs": ["both"]},
          {"name": "static", "type": "dense", "units": 3, "inputs": ["extra"]},
          {"name": "joined", "type": "concatenate", "inputs": ["rnn", "static"]},
          {"name": "head", "type": "dense", "units": 2},
          {"name": "again", "type": "repeat_vector", "n": 3, "inputs": ["static"]},
          {"name": "tagger", "type": "time_distributed", "layer": {"type": "dense", "units": 2}}],
        "outputs": ["head", "tagger"]}"#,
    );
    let mut extra = random_seq(2, 1, 2, &[1, 1], 3);
    extra.sequential = false;
    check_model_gradients(&mut m, &[random_seq(2, 4, 3, &[4, 2], 4), extra]);
    let names: Vec<String> = m.named_params().into_iter().map(|(n, _)| n).collect();
    assert!(names.contains(&"proj.weight".to_string()), "{names:?}");
    assert!(names.contains(&"rnn.weight_hh_l0".to_string()), "{names:?}");
    assert!(names.contains(&"tagger.bias".to_string()), "{names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with("proj_again")),
        "a shared layer's tensors appear once"
    );
}

#[test]
fn stack_keeps_its_checkpoint_names() {
    let m = model(r#"{"input_size": 2, "layers": [{"type": "lstm", "units": 3}, {"type": "dense", "units": 2}]}"#);
    let names: Vec<String> = m.named_params().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names[0], "layers.0.weight_ih_l0");
    assert_eq!(names.last().unwrap(), "layers.1.bias");
}

#[test]
fn graph_config_round_trips_through_json() {
    let c = ModelConfig::from_json(WAVENET_BLOCK).unwrap();
    let again = ModelConfig::from_json(&serde_json::to_string(&c).unwrap()).unwrap();
    assert_eq!(c, again);
}

#[test]
fn graph_config_errors_name_the_node() {
    let cases = [
        (
            r#"{"inputs": [{"name": "x", "size": 2}], "nodes": [{"name": "a", "type": "dense", "units": 2, "inputs": ["b"]}, {"name": "b", "type": "dense", "units": 2, "inputs": ["a"]}]}"#,
            "cycle through a, b",
        ),
        (
            r#"{"inputs": [{"name": "x", "size": 2}], "nodes": [{"name": "a", "type": "dense", "units": 2, "inputs": ["nope"]}]}"#,
            "node `a` takes `nope`, which is neither an input nor a node",
        ),
        (
            r#"{"inputs": [{"name": "x", "size": 2}], "nodes": [{"name": "a", "type": "dense", "units": 2}, {"name": "a", "type": "dense", "units": 3}]}"#,
            "the name `a` is used twice",
        ),
        (
            r#"{"inputs": [{"name": "x", "size": 2}], "nodes": [{"name": "a", "type": "dense", "units": 2}, {"name": "b", "type": "dense", "units": 3, "inputs": ["x"]}, {"name": "s", "type": "add", "inputs": ["a", "b"]}]}"#,
            "node `s`: add needs inputs of one width, got 2 and 3 features",
        ),
        (
            r#"{"inputs": [{"name": "x", "size": 2}], "nodes": [{"name": "p", "type": "global_max_pool"}, {"name": "c", "type": "concatenate", "inputs": ["p", "x"]}]}"#,
            "cannot merge a sequence with one vector per sequence",
        ),
        (
            r#"{"inputs": [{"name": "x", "size": 2}], "nodes": [{"name": "a", "type": "dense", "units": 2}], "outputs": ["z"]}"#,
            "output `z` is not a node",
        ),
        (
            r#"{"inputs": [{"name": "x", "size": 2}], "nodes": [{"name": "a", "type": "lstm", "units": 2, "return_sequences": true}, {"name": "b", "share": "a", "inputs": ["x"], "units": 3}]}"#,
            "takes no settings of its own",
        ),
        (
            r#"{"inputs": [{"name": "x", "size": 2}], "nodes": [{"name": "a", "type": "dense", "units": 3}, {"name": "b", "share": "a"}]}"#,
            "node `b`: shares `a`'s layer, so it needs the same input shape ((batch, time, 2))",
        ),
        (
            r#"{"inputs": [{"name": "x", "size": 2}], "nodes": [{"name": "bad name", "type": "dense", "units": 3}]}"#,
            "dotted paths",
        ),
        (
            r#"{"inputs": [{"name": "x", "size": 2}], "nodes": [{"name": "a", "type": "dense", "units": 3000000}]}"#,
            "more than recur allows",
        ),
        (
            r#"{"input_size": 2, "layers": [{"type": "dense", "units": 2}], "inputs": [{"name": "x", "size": 2}]}"#,
            "not both",
        ),
        (
            r#"{"input_size": 3, "layers": [{"type": "gated_activation"}]}"#,
            "layers[0] (gated_activation): splits each step into two halves",
        ),
        (
            r#"{"input_size": 2, "layers": [{"type": "time_distributed", "layer": {"type": "lstm", "units": 2}}]}"#,
            "wraps a per-step layer",
        ),
        (
            r#"{"input_size": 2, "layers": [{"type": "repeat_vector", "n": 3}]}"#,
            "its input is a sequence",
        ),
        (
            r#"{"input_size": 2, "layers": [{"type": "lstm", "units": 100000}]}"#,
            "recur builds models of up to",
        ),
        (
            r#"{"input_size": 1, "layers": [{"type": "embedding", "input_dim": 4611686018427387904, "output_dim": 8}]}"#,
            "input_dim 4611686018427387904 is more than recur allows",
        ),
        (
            r#"{"input_size": 2, "layers": [{"type": "conv1d", "filters": 4, "kernel_size": 4611686018427387904}]}"#,
            "kernel_size 4611686018427387904 is more than recur allows",
        ),
        (
            // A sum of parameter counts once wrapped to a small number: sizes are now refused
            // beyond recur's limit before they are multiplied, and the count of sizes within
            // it against the parameter limit.
            r#"{"input_size": 1, "layers": [{"type": "embedding", "input_dim": 4611686018427387904, "output_dim": 4}, {"type": "dense", "units": 3}]}"#,
            "input_dim 4611686018427387904 is more than recur allows",
        ),
        (
            r#"{"input_size": 1, "layers": [{"type": "embedding", "input_dim": 1048576, "output_dim": 1048576}, {"type": "dense", "units": 3}]}"#,
            "recur builds models of up to",
        ),
        (
            r#"{"input_size": 2, "layers": [{"type": "global_max_pool"}, {"type": "global_max_pool"}]}"#,
            "layers[1]",
        ),
    ];
    for (json, expected) in cases {
        let e = error(json);
        assert!(e.contains(expected), "expected `{expected}` in `{e}`");
    }
}

#[test]
fn merging_sequences_that_do_not_line_up_is_an_input_error() {
    let m = model(
        r#"{"inputs": [{"name": "a", "size": 2}, {"name": "b", "size": 2}],
        "nodes": [{"name": "s", "type": "add", "inputs": ["a", "b"]}]}"#,
    );
    let e = m
        .forward(
            vec![random_seq(1, 4, 2, &[4], 1), random_seq(1, 4, 2, &[3], 2)],
            &mut train_ctx(&mut Rng::new(0)),
        )
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("node `s`: add needs inputs that line up step by step"),
        "{e}"
    );
}

#[test]
fn graph_summary_shows_the_wiring() {
    let s = model(WAVENET_BLOCK).summary();
    assert!(s.contains("blocks.0.out"), "{s}");
    assert!(s.contains("← input_conv, blocks.0.residual"), "{s}");
    assert!(s.contains("outputs: head"), "{s}");
}
