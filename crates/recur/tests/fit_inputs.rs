//! `recur fit`, `recur run` and `recur eval` on graph models whose inputs are not one
//! sequence: a static vector in and a sequence out (vec→seq, through `repeat_vector`), and a
//! sequence with static features beside it. Each `--x` (and `run --input`) is read as the
//! model's config declares that input, in the order of its `inputs`.

mod common;

use common::{fails_with, recur, temp_dir};
use recur_core::Rng;
use std::path::Path;
use std::process::Output;

fn ok(o: Output) -> String {
    let e = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "failed: {e}");
    assert!(!e.contains("panicked"), "{e}");
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// The path of `name` in `dir`, as an argument.
fn at(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_string()
}

fn npy_f32(path: &Path, shape: &[usize], v: &[f32]) {
    let body: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    std::fs::write(path, recur_data::npy::npy_bytes("<f4", shape, &body)).unwrap();
}

/// The shape and values of a float32 `.npy` file.
fn read_f32(path: &Path) -> (Vec<usize>, Vec<f32>) {
    let a = recur_data::read_npy(path).unwrap();
    let recur_data::npy::NpyData::F32(v) = a.data else {
        panic!("float32 expected")
    };
    (a.shape, v)
}

const QUICK: [&str; 8] = [
    "--threads",
    "1",
    "--quiet",
    "--batch-size",
    "8",
    "--lr",
    "0.01",
    "--seed",
];

/// A vec→seq graph: 4 static values per example → dense → repeated over 10 steps → GRU →
/// one value per step.
const VEC2SEQ: &str = r#"{"inputs": [{"name": "v", "size": 4, "sequential": false}],
 "nodes": [
   {"name": "enc", "type": "dense", "units": 16},
   {"name": "rep", "type": "repeat_vector", "n": 10},
   {"name": "dec", "type": "gru", "units": 16, "return_sequences": true},
   {"name": "out", "type": "dense", "units": 1}],
 "outputs": ["out"]}"#;

/// `n` examples of 4 static values and the 10-step curve they set: a line from v0 with slope
/// v1 plus a small wave of v2's size.
fn curves(n: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut rng = Rng::new(seed);
    let (mut v, mut y) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let row: Vec<f32> = (0..4).map(|_| rng.normal() as f32).collect();
        for t in 0..10 {
            let t = t as f32 / 10.0;
            y.push(row[0] + row[1] * t + 0.3 * row[2] * (6.0 * t).sin());
        }
        v.extend(row);
    }
    (v, y)
}

/// The issue's case: static vectors `[n, 4]` and sequences out `[n, 10, 1]` train with
/// `fit --x --y`, run with `run --input` and score with `eval`.
#[test]
fn fit_run_and_eval_a_vec_to_seq_graph_on_static_vectors() {
    let dir = temp_dir("vec2seq");
    let (v, y) = curves(96, 1);
    npy_f32(&dir.join("v.npy"), &[96, 4], &v);
    npy_f32(&dir.join("y.npy"), &[96, 10, 1], &y);
    let (tv, ty) = curves(32, 2);
    npy_f32(&dir.join("tv.npy"), &[32, 4], &tv);
    npy_f32(&dir.join("ty.npy"), &[32, 10, 1], &ty);
    std::fs::write(dir.join("vec2seq.json"), VEC2SEQ).unwrap();
    let (v, y, config, model) = (
        at(&dir, "v.npy"),
        at(&dir, "y.npy"),
        at(&dir, "vec2seq.json"),
        at(&dir, "model"),
    );
    let mut args = vec!["fit", "--x", &v, "--y", &y, "--config", &config, "--out", &model];
    args.extend(QUICK);
    args.extend(["1", "--epochs", "40", "--val-split", "0"]);
    let line = ok(recur(&args));
    assert!(line.contains("per-step regression"), "{line}");
    let (tv, ty_file, out) = (at(&dir, "tv.npy"), at(&dir, "ty.npy"), at(&dir, "pred.npy"));
    ok(recur(&["run", "--model", &model, "--input", &tv, "--output", &out]));
    let (shape, pred) = read_f32(Path::new(&out));
    assert_eq!(shape, [32, 10, 1]);
    let mae = pred.iter().zip(&ty).map(|(p, t)| (p - t).abs()).sum::<f32>() / ty.len() as f32;
    let mean = ty.iter().sum::<f32>() / ty.len() as f32;
    let spread = ty.iter().map(|t| (t - mean).abs()).sum::<f32>() / ty.len() as f32;
    assert!(mae < 0.5 * spread, "run's MAE {mae} against the mean's {spread}");
    let scored = ok(recur(&[
        "eval", "--model", &model, "--x", &tv, "--y", &ty_file, "--json",
    ]));
    let json: serde_json::Value = serde_json::from_str(scored.trim()).unwrap();
    assert_eq!(json["n"], 320, "{json}");
    let eval_mae = json["mae"].as_f64().unwrap();
    assert!(
        (eval_mae - mae as f64).abs() < 1e-4,
        "eval {eval_mae} against run {mae}"
    );
}

/// An untrained (`recur init`) vec→seq graph runs on static vectors `[n, 4]`, giving
/// `[n, 10, 1]`; a sequence array in their place is refused naming the shape it takes.
#[test]
fn run_feeds_a_static_vector_model() {
    let dir = temp_dir("run-static");
    std::fs::write(dir.join("vec2seq.json"), VEC2SEQ).unwrap();
    let (config, model, out) = (at(&dir, "vec2seq.json"), at(&dir, "m"), at(&dir, "out.npy"));
    ok(recur(&["init", "--config", &config, "--out", &model]));
    let (v, _) = curves(5, 1);
    npy_f32(&dir.join("v.npy"), &[5, 4], &v);
    npy_f32(&dir.join("v3.npy"), &[5, 1, 4], &v);
    ok(recur(&[
        "run",
        "--model",
        &model,
        "--input",
        &at(&dir, "v.npy"),
        "--output",
        &out,
    ]));
    assert_eq!(read_f32(Path::new(&out)).0, [5, 10, 1]);
    fails_with(
        recur(&[
            "run",
            "--model",
            &model,
            "--input",
            &at(&dir, "v3.npy"),
            "--output",
            &out,
        ]),
        "input must be 2-D [batch, features] (one vector per example), found shape [5, 1, 4]",
    );
}

/// A sequence `[n, 12, 1]` with two static features beside it: the class is the sign of the
/// sequence's mean, flipped when the first static feature is positive.
fn sequence_and_static(n: usize, seed: u64) -> (Vec<f32>, Vec<f32>, Vec<i64>) {
    let mut rng = Rng::new(seed);
    let (mut x, mut z, mut y) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let level = rng.normal() as f32;
        x.extend((0..12).map(|_| level + 0.3 * rng.normal() as f32));
        let f = [rng.normal() as f32, rng.normal() as f32];
        z.extend(f);
        y.push(i64::from((level > 0.0) != (f[0] > 0.0)));
    }
    (x, z, y)
}

/// The config of `sequence_and_static`'s model: a GRU over the sequence (2 features per step:
/// its channel and that channel standardised within the sequence), concatenated with the
/// static features.
const TWO_INPUTS: &str = r#"{"inputs": [{"name": "seq", "size": 2}, {"name": "extra", "size": 2, "sequential": false}],
 "nodes": [
   {"name": "rnn", "type": "gru", "units": 16, "inputs": ["seq"]},
   {"name": "both", "type": "concatenate", "inputs": ["rnn", "extra"]},
   {"name": "hidden", "type": "dense", "units": 16, "activation": "relu"},
   {"name": "head", "type": "dense", "units": 2}],
 "outputs": ["head"]}"#;

/// A model of two inputs takes `--x` twice (in the order of its `inputs`), for fit and eval,
/// and `run --input` twice; its per-input scaling is stored so that run reads as fit did.
#[test]
fn fit_run_and_eval_a_sequence_with_static_features_given_x_twice() {
    let dir = temp_dir("two-inputs");
    let i64s = |v: &[i64]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
    for (name, n, seed) in [("train", 160, 3), ("test", 60, 4)] {
        let (x, z, y) = sequence_and_static(n, seed);
        npy_f32(&dir.join(format!("{name}_x.npy")), &[n, 12, 1], &x);
        npy_f32(&dir.join(format!("{name}_z.npy")), &[n, 2], &z);
        let path = dir.join(format!("{name}_y.npy"));
        std::fs::write(path, recur_data::npy::npy_bytes("<i8", &[n], &i64s(&y))).unwrap();
    }
    std::fs::write(dir.join("two.json"), TWO_INPUTS).unwrap();
    let file = |f: &str| at(&dir, f);
    let model = file("model");
    let (x, z, y, config) = (
        file("train_x.npy"),
        file("train_z.npy"),
        file("train_y.npy"),
        file("two.json"),
    );
    let mut args = vec![
        "fit", "--x", &x, "--x", &z, "--y", &y, "--config", &config, "--out", &model,
    ];
    args.extend(QUICK);
    args.extend(["1", "--epochs", "40", "--solver", "gradient"]);
    ok(recur(&args));
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("model/config.json")).unwrap()).unwrap();
    let more = &meta["metadata"]["fit"]["more_inputs"];
    assert_eq!(
        more[0]["sequential"], false,
        "the static input's reading is stored: {more}"
    );
    let (tx, tz, ty) = (file("test_x.npy"), file("test_z.npy"), file("test_y.npy"));
    let scored = ok(recur(&[
        "eval", "--model", &model, "--x", &tx, "--x", &tz, "--y", &ty, "--json",
    ]));
    let json: serde_json::Value = serde_json::from_str(scored.trim()).unwrap();
    let accuracy = json["accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.8, "needs both inputs to beat 0.5: {json}");
    let out = file("probs.npy");
    let run = [
        "run", "--model", &model, "--input", &tx, "--input", &tz, "--output", &out, "--labels",
    ];
    let labels = ok(recur(&run));
    assert_eq!(labels.lines().count(), 60);
    assert_eq!(read_f32(Path::new(&out)).0, [60, 2]);
    // Given once, the model says what it reads.
    fails_with(
        recur(&["run", "--model", &model, "--input", &tx, "--output", &out]),
        "the model reads 2 inputs, `seq` (sequences), `extra` (one vector per example): give an array for each, in this order (1 given)",
    );
}

/// A 2-D `x` is read as the model declares its input, never guessed: for a sequence input
/// of 3 channels, `[n, 3]` is a sequence of one channel and is refused naming the shape it
/// takes; for a static input it is one vector per example (the vec→seq test above).
#[test]
fn fit_reads_a_2d_x_as_the_declared_input_and_refuses_a_mismatch() {
    let dir = temp_dir("2d-x");
    let config = r#"{"inputs": [{"name": "seq", "size": 3}],
      "nodes": [{"name": "rnn", "type": "gru", "units": 4}, {"name": "head", "type": "dense", "units": 1}],
      "outputs": ["head"]}"#;
    std::fs::write(dir.join("seq.json"), config).unwrap();
    npy_f32(&dir.join("x.npy"), &[20, 3], &vec![0.5; 60]);
    npy_f32(&dir.join("y.npy"), &[20], &[1.0; 20]);
    let (x, y, config, model) = (
        at(&dir, "x.npy"),
        at(&dir, "y.npy"),
        at(&dir, "seq.json"),
        at(&dir, "m"),
    );
    let mut args = vec!["fit", "--x", &x, "--y", &y, "--config", &config, "--out", &model];
    args.extend(["--sequence-norm", "off", "--epochs", "1", "--quiet"]);
    fails_with(
        recur(&args),
        "the model's input takes 3 features per step, but the data gives 1: give [n, time, 3] arrays",
    );
}

/// Inputs given in the wrong order, or of the wrong shape, are refused naming the input (by
/// the config's name) and the shape it takes.
#[test]
fn fit_names_the_input_given_in_the_wrong_order_or_shape() {
    let dir = temp_dir("input-order");
    let (x, z, y) = sequence_and_static(24, 5);
    npy_f32(&dir.join("x.npy"), &[24, 12, 1], &x);
    npy_f32(&dir.join("z.npy"), &[24, 2], &z);
    let y: Vec<f32> = y.iter().map(|&k| k as f32).collect();
    npy_f32(&dir.join("y.npy"), &[24], &y);
    npy_f32(&dir.join("z3.npy"), &[24, 3], &[0.0; 72]);
    std::fs::write(dir.join("two.json"), TWO_INPUTS).unwrap();
    let (y, config, model) = (at(&dir, "y.npy"), at(&dir, "two.json"), at(&dir, "m"));
    let fit = |first: &str, second: &str| {
        let mut args = vec!["fit", "--x", first, "--x", second, "--y", &y];
        args.extend(["--config", &config, "--out", &model, "--quiet", "--epochs", "1"]);
        recur(&args)
    };
    let (xs, zs, z3) = (at(&dir, "x.npy"), at(&dir, "z.npy"), at(&dir, "z3.npy"));
    // Swapped: the static array is read as the sequence input `seq`, the sequences as `extra`.
    fails_with(
        fit(&zs, &xs),
        "input `extra`: the model takes one vector per example here, [batch, features], not shape [24, 12, 1]",
    );
    fails_with(
        fit(&xs, &z3),
        "input `extra` takes one vector of 2 values per example, but the data gives one vector of 3 values \
         per example: give [n, 2] arrays",
    );
}
