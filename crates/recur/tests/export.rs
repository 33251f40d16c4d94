//! `recur export`: a model directory (a sketch classifier, a plain model) written as ONNX runs
//! in ONNX Runtime with the outputs `recur run` gives on the same padded batch, within 1e-5.
//! The runtime check needs a Python with `onnxruntime` and `numpy` (`RECUR_PYTHON`, else
//! `python3`) and skips, saying so, without one; the refusals need nothing.

mod common;

use common::{fails_with, ok, recur, s, temp_dir};
use recur_data::npy::{npy_bytes, write_npy_f32};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Exports the model in `model` and runs the file in ONNX Runtime and `run_with` (the same
/// model, in a directory `recur run` takes) with `recur run` on one padded batch (`features`
/// per step, sequences of 9, 5 and 2 steps); their outputs must agree within 1e-5.
fn compare_with_onnx_runtime(d: &Path, model: &Path, run_with: &Path, features: usize) {
    let onnx = d.join("model.onnx");
    let said = ok(recur(&["export", "--model", s(model), "--onnx", s(&onnx)]));
    assert!(said.contains("input lengths: int32 [batch]"), "{said}");
    let Some(python) = onnx_runtime() else {
        return;
    };
    let lengths = [9i64, 5, 2];
    let mut x = vec![0.0f32; 3 * 9 * features];
    for (b, &len) in lengths.iter().enumerate() {
        for (i, v) in x[b * 9 * features..(b * 9 + len as usize) * features]
            .iter_mut()
            .enumerate()
        {
            *v = ((i * 7 + b * 3) % 11) as f32 / 5.0 - 1.0;
        }
    }
    write_npy_f32(&d.join("x.npy"), &[3, 9, features], &x).unwrap();
    let body: Vec<u8> = lengths.iter().flat_map(|l| l.to_le_bytes()).collect();
    std::fs::write(d.join("lengths.npy"), npy_bytes("<i8", &[3], &body)).unwrap();
    let (xs, ls, ys) = (d.join("x.npy"), d.join("lengths.npy"), d.join("y.npy"));
    ok(recur(&[
        "run",
        "--model",
        s(run_with),
        "--input",
        s(&xs),
        "--lengths",
        s(&ls),
        "--output",
        s(&ys),
    ]));
    let script = r#"
import sys, numpy as np, onnxruntime as ort
model, x, lengths, y = sys.argv[1:]
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
got = session.run(["y"], {"x": np.load(x), "lengths": np.load(lengths).astype(np.int32)})[0]
want = np.load(y)
assert got.shape == want.shape, (got.shape, want.shape)
diff = float(np.abs(got - want).max())
print(f"max |difference| {diff:.3g}")
sys.exit(0 if diff <= 1e-5 else 1)
"#;
    let run = Command::new(&python)
        .arg("-c")
        .arg(script)
        .args([&onnx, &xs, &ls, &ys])
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    eprintln!("{said}");
    assert!(run.status.success(), "ONNX Runtime disagrees with recur run: {said}");
}

/// A Python that imports `onnxruntime` and `numpy` (`RECUR_PYTHON`, else `python3`), or None
/// after saying the runtime checks are skipped.
fn onnx_runtime() -> Option<String> {
    let python = std::env::var("RECUR_PYTHON").unwrap_or_else(|_| "python3".into());
    let has_runtime = Command::new(&python)
        .args(["-c", "import onnxruntime, numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_runtime {
        eprintln!("skipped the runtime check: {python} cannot import onnxruntime and numpy (set RECUR_PYTHON to one that can)");
    }
    has_runtime.then_some(python)
}

#[test]
fn export_sketch_classifier_matches_recur_run() {
    let d = temp_dir("export-sketch");
    let (_, model) = common::sketch_model(&d, 4);
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("config.json")).unwrap()).unwrap();
    let features = config["input_size"].as_u64().expect("a sketch model is a stack") as usize;
    compare_with_onnx_runtime(&d, &model, &as_plain_model(&d, &model), features);
}

/// A copy of the model in `model` without its task's metadata, so `recur run` runs the bare
/// network (a sketch or fit model's own commands add the input encoding and scaling, which
/// stay outside the ONNX file); returns the copy's folder.
fn as_plain_model(d: &Path, model: &Path) -> PathBuf {
    let plain = d.join("plain");
    std::fs::create_dir(&plain).unwrap();
    std::fs::copy(model.join("model.safetensors"), plain.join("model.safetensors")).unwrap();
    let text = std::fs::read_to_string(model.join("config.json")).unwrap();
    let mut config: serde_json::Value = serde_json::from_str(&text).unwrap();
    config.as_object_mut().unwrap().remove("metadata");
    std::fs::write(plain.join("config.json"), config.to_string()).unwrap();
    plain
}

/// Two channels of 6 to 12 steps, three classes, in the .ts format.
fn classes_ts() -> String {
    let mut text = String::from(
        "@problemName Synth\n@univariate false\n@dimensions 2\n@equalLength false\n@classLabel true a b c\n@data\n",
    );
    for i in 0..24 {
        let len = 6 + i % 7;
        let channel = |scale: f64| -> Vec<String> {
            (0..len)
                .map(|t| {
                    format!(
                        "{:.3}",
                        scale * ((t * (1 + i % 3)) as f64 * 0.7).sin() + i as f64 * 0.01
                    )
                })
                .collect()
        };
        text += &format!(
            "{}:{}:{}\n",
            channel(1.0).join(","),
            channel(-2.0).join(","),
            ["a", "b", "c"][i % 3]
        );
    }
    text
}

/// A `recur fit` model's network exports as it is (its scaling stays outside the file).
#[test]
fn export_fit_model_matches_its_network() {
    let d = temp_dir("export-fit");
    let (train, config, model) = (d.join("train.ts"), d.join("c.json"), d.join("model"));
    std::fs::write(&train, classes_ts()).unwrap();
    std::fs::write(
        &config,
        r#"{"layers": [{"type": "conv1d", "filters": 6, "kernel_size": 3, "padding": "causal", "activation": "relu"},
            {"type": "layer_norm"}, {"type": "lstm", "units": 5, "bidirectional": true}, {"type": "dropout", "rate": 0.2},
            {"type": "dense", "units": 3}]}"#,
    )
    .unwrap();
    let fit = [
        "fit",
        "--train",
        s(&train),
        "--out",
        s(&model),
        "--config",
        s(&config),
        "--epochs",
        "1",
        "--threads",
        "1",
        "--quiet",
    ];
    ok(recur(&fit));
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("config.json")).unwrap()).unwrap();
    let features = written["input_size"].as_u64().expect("a fit model from a stack config") as usize;
    compare_with_onnx_runtime(&d, &model, &as_plain_model(&d, &model), features);
}

/// A forecaster's network exports as it is, with `forecast.json` (how a series becomes its
/// input windows) in the file's metadata.
#[test]
fn export_forecaster_matches_its_network() {
    let d = temp_dir("export-forecast");
    let (csv, model) = (d.join("s.csv"), d.join("model"));
    let mut text = String::from("day,y\n");
    for i in 0..84 {
        text += &format!("2020-{:02}-{:02},{}\n", 1 + i / 28, 1 + i % 28, 100 + (i * 5) % 7);
    }
    std::fs::write(&csv, &text).unwrap();
    let c = s(&csv);
    let train = [
        "forecast",
        "--csv",
        c,
        "--date-col",
        "day",
        "--value-col",
        "y",
        "--window",
        "14",
        "--epochs",
        "1",
        "--early-stop-days",
        "7",
        "--train-until",
        "2020-02-20",
        "--val-until",
        "2020-03-15",
        "--units",
        "6",
        "--out",
    ];
    ok(recur(&[&train[..], &[s(&model)]].concat()));
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("config.json")).unwrap()).unwrap();
    let features = written["input_size"]
        .as_u64()
        .expect("a forecaster from a stack config") as usize;
    compare_with_onnx_runtime(&d, &model, &as_plain_model(&d, &model), features);
    let file = std::fs::read(d.join("model.onnx")).unwrap();
    let has = |needle: &[u8]| file.windows(needle.len()).any(|w| w == needle);
    assert!(
        has(b"recur_forecast") && has(b"recur-forecast-1"),
        "forecast.json is not in the metadata"
    );
}

/// A seq2seq model exports as its encoder and one decoder step; greedy decoding over them in
/// ONNX Runtime (tools/onnx_seq2seq.py, one source at a time and as one padded batch) gives
/// `recur seq2seq predict --beam 1`'s outputs and log-probabilities.
#[test]
fn export_seq2seq_decodes_as_recur_predicts() {
    check_seq2seq_export("export-seq2seq", &[]);
}

/// The other cell, attention score and no input feeding.
#[test]
fn export_seq2seq_gru_additive_decodes_as_recur_predicts() {
    check_seq2seq_export(
        "export-seq2seq-gru",
        &["--cell", "gru", "--attention", "additive", "--no-input-feeding"],
    );
}

/// Trains a small seq2seq model with `variant`'s flags and checks its export (see above).
fn check_seq2seq_export(name: &str, variant: &[&str]) {
    let d = temp_dir(name);
    let (pairs, model, onnx) = (d.join("train.tsv"), d.join("model"), d.join("onnx"));
    std::fs::write(&pairs, common::reverse_pairs(600, 1)).unwrap();
    let train = [
        "seq2seq",
        "train",
        "--pairs",
        s(&pairs),
        "--target-tokens",
        "whitespace",
        "--out",
        s(&model),
        "--epochs",
        "2",
    ];
    ok(recur(&[&train[..], &common::SEQ2SEQ_SMALL[..], variant].concat()));
    fails_with(
        recur(&["export", "--model", s(&model), "--onnx", s(&d.join("m.onnx"))]),
        "give --onnx a folder",
    );
    let said = ok(recur(&["export", "--model", s(&model), "--onnx", s(&onnx)]));
    assert!(
        said.contains("encoder.onnx") && said.contains("output log_probs: float32 [batch, "),
        "{said}"
    );
    let input = d.join("in.txt");
    std::fs::write(&input, "abc\nfedcba\nb\ncafe\n").unwrap();
    let want = ok(recur(&[
        "seq2seq",
        "predict",
        "--model",
        s(&model),
        "--input",
        s(&input),
        "--beam",
        "1",
        "--json",
    ]));
    let Some(python) = onnx_runtime() else {
        return;
    };
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/onnx_seq2seq.py");
    for batch in [false, true] {
        let mut cmd = Command::new(&python);
        cmd.arg(&tool).args([&onnx, &input]);
        if batch {
            cmd.arg("--batch");
        }
        let got = ok(cmd.output().unwrap());
        for (g, w) in got.lines().zip(want.lines()) {
            let (g, w): (serde_json::Value, serde_json::Value) =
                (serde_json::from_str(g).unwrap(), serde_json::from_str(w).unwrap());
            let (g, w) = (&g["outputs"][0], &w["outputs"][0]);
            assert_eq!(g["tokens"], w["tokens"], "batch {batch}");
            let gap = (g["log_prob"].as_f64().unwrap() - w["log_prob"].as_f64().unwrap()).abs();
            assert!(gap < 1e-4, "log-probabilities differ by {gap} (batch {batch})");
        }
        assert_eq!(got.lines().count(), want.lines().count());
    }
}

#[test]
fn export_plain_model_matches_recur_run() {
    let d = temp_dir("export-plain");
    let config = d.join("c.json");
    std::fs::write(
        &config,
        r#"{"input_size": 3, "layers": [
            {"type": "conv1d", "filters": 8, "kernel_size": 3, "padding": "same", "activation": "relu"},
            {"type": "batch_norm"},
            {"type": "lstm", "units": 6, "bidirectional": true, "return_sequences": true},
            {"type": "gru", "units": 5}, {"type": "dense", "units": 4}]}"#,
    )
    .unwrap();
    let model = d.join("model");
    ok(recur(&[
        "init",
        "--config",
        s(&config),
        "--out",
        s(&model),
        "--seed",
        "3",
    ]));
    compare_with_onnx_runtime(&d, &model, &model, 3);
}

#[test]
fn export_refuses_minirocket_and_bad_opset_by_name() {
    let d = temp_dir("export-refusals");
    let config = d.join("c.json");
    std::fs::write(
        &config,
        r#"{"input_size": 2, "layers": [{"type": "minirocket", "length": 20}, {"type": "dense", "units": 3}]}"#,
    )
    .unwrap();
    let model = d.join("model");
    ok(recur(&["init", "--config", s(&config), "--out", s(&model)]));
    let onnx = d.join("m.onnx");
    fails_with(
        recur(&["export", "--model", s(&model), "--onnx", s(&onnx)]),
        "layers.0 (minirocket) has no ONNX form",
    );
    fails_with(
        recur(&["export", "--model", s(&model), "--onnx", s(&onnx), "--opset", "9"]),
        "opset 9 is not one recur writes",
    );
    assert!(!onnx.exists(), "a refused export leaves no file");
}
