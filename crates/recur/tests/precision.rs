//! `--precision` from the command line: bf16 and int8 runs of a model close to its fp32 run,
//! the model directory left as it was, layers without a reduced kernel named once, and an
//! unknown precision refused by every command that runs a trained model.

mod common;
use common::{fails_with, ok, recur, s, temp_dir};
use std::path::Path;
use std::process::Output;

const CONFIG: &str = r#"{"input_size": 2, "layers": [{"type": "conv1d", "filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu"},
  {"type": "lstm", "units": 5, "return_sequences": true, "bidirectional": true}, {"type": "dense", "units": 3}]}"#;

/// Frames through a conv2d (no reduced kernel) into an LSTM.
const FRAMES: &str = r#"{"input_shape": [4, 4, 1], "layers": [
  {"type": "time_distributed", "layer": {"type": "conv2d", "filters": 2, "kernel_size": 3, "padding": "same"}},
  {"type": "time_distributed", "layer": {"type": "global_avg_pool2d"}},
  {"type": "lstm", "units": 3}]}"#;

fn write_f32(path: &Path, shape: &[usize], values: impl Iterator<Item = f32>) {
    let body: Vec<u8> = values.flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, recur_data::npy::npy_bytes("<f4", shape, &body)).unwrap();
}

fn read_f32(path: &Path) -> Vec<f32> {
    match recur_data::npy::read_npy(path).unwrap().data {
        recur_data::npy::NpyData::F32(v) => v,
        other => panic!("float32 output expected, got {other:?}"),
    }
}

fn directory_bytes(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    files
}

/// Writes `config` to `d/c.json` and initialises a model from it in `d/m`.
fn init_model(d: &Path, config: &str) {
    std::fs::write(d.join("c.json"), config).unwrap();
    let (config, out) = (d.join("c.json"), d.join("m"));
    ok(recur(&["init", "--config", s(&config), "--out", s(&out)]));
}

/// `recur run` of the model `d/m` on `d/x.npy` into `out` at `precision`.
fn run_at(d: &Path, out: &Path, precision: &str) -> Output {
    recur(&[
        "run",
        "--model",
        s(&d.join("m")),
        "--input",
        s(&d.join("x.npy")),
        "--output",
        s(out),
        "--precision",
        precision,
    ])
}

#[test]
fn run_at_bf16_and_int8_stays_close_to_fp32_and_writes_nothing_to_the_model() {
    let d = temp_dir("precision-run");
    init_model(&d, CONFIG);
    write_f32(&d.join("x.npy"), &[3, 7, 2], (0..42).map(|i| ((i as f32) * 0.37).sin()));
    let before = directory_bytes(&d.join("m"));
    let run = |precision: &str| {
        let out = d.join(format!("y_{precision}.npy"));
        let o = run_at(&d, &out, precision);
        // (A CPU without the precision's fast instructions may add a note saying so.)
        assert!(
            !String::from_utf8_lossy(&o.stderr).contains("in fp32:"),
            "every layer here has a kernel"
        );
        ok(o);
        read_f32(&out)
    };
    let fp32 = run("fp32");
    let scale = fp32.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    for (precision, bound) in [("bf16", 0.01), ("int8", 0.02)] {
        let reduced = run(precision);
        let worst = reduced
            .iter()
            .zip(&fp32)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max);
        assert!(worst <= bound * scale, "{precision}: {worst}");
    }
    assert_eq!(
        directory_bytes(&d.join("m")),
        before,
        "the model directory must not change"
    );
}

#[test]
fn run_at_int8_names_the_conv2d_precision_fallback_once() {
    let d = temp_dir("precision-fallback");
    init_model(&d, FRAMES);
    write_f32(
        &d.join("x.npy"),
        &[2, 3, 4, 4, 1],
        (0..96).map(|i| (i as f32 * 0.1).cos()),
    );
    let o = run_at(&d, &d.join("y.npy"), "int8");
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    ok(o);
    assert_eq!(err.matches("in fp32:").count(), 1, "{err}");
    assert!(
        err.contains("--precision int8: in fp32: layers.0 (conv2d: no int8 kernel)"),
        "{err}"
    );
}

#[test]
fn precision_nonsense_is_refused_by_every_inference_command() {
    let commands: [&[&str]; 7] = [
        &["run", "--model", "m", "--input", "x.npy", "--output", "y.npy"],
        &["predict", "--model", "m", "--input", "d.ndjson"],
        &["eval", "--model", "m", "--data", "d.ndjson"],
        &["seq2seq", "predict", "--model", "m", "--input", "in.txt"],
        &["seq2seq", "eval", "--model", "m", "--pairs", "p.tsv"],
        &["forecast", "--model", "m", "--csv", "s.csv"],
        &["serve", "--model", "m"],
    ];
    for args in commands {
        let mut args = args.to_vec();
        args.extend(["--precision", "nonsense"]);
        fails_with(
            recur(&args),
            "unknown precision `nonsense`: expected fp32, bf16 or int8",
        );
    }
}

#[test]
fn forecast_training_refuses_a_reduced_precision() {
    fails_with(
        recur(&["forecast", "--csv", "s.csv", "--precision", "int8"]),
        "--precision runs a saved model (--model DIR)",
    );
}
