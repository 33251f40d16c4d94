//! `recur export`: a model directory (a sketch classifier, a plain model) written as ONNX runs
//! in ONNX Runtime (and, without recurrent layers, in tract where its wheel is installed) with
//! the outputs `recur run` gives on the same padded batch, within 1e-5.
//! The runtime check needs a Python with `onnxruntime` and `numpy` (`RECUR_PYTHON`, else
//! `python3`) and skips, saying so, without one; the refusals need nothing.

mod common;

use common::{fails_with, ok, recur, s, temp_dir};
use recur_data::npy::{npy_bytes, write_npy_f32};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Exports the model in `model` (with `recur export`'s further `flags`) and runs the file in
/// ONNX Runtime and `run_with` (the same model, in a directory `recur run` takes) with `recur
/// run` on one padded batch (`features` per step, sequences of 9, 5 and 2 steps); their
/// outputs must agree within 1e-5.
fn compare_with_onnx_runtime(d: &Path, model: &Path, run_with: &Path, features: usize, flags: &[&str]) {
    let lengths = [9usize, 5, 2];
    let mut x = vec![0.0f32; 3 * 9 * features];
    for (b, &len) in lengths.iter().enumerate() {
        for (i, v) in x[b * 9 * features..(b * 9 + len) * features].iter_mut().enumerate() {
            *v = ((i * 7 + b * 3) % 11) as f32 / 5.0 - 1.0;
        }
    }
    let batch = Batch {
        x,
        shape: [3, 9, features],
        lengths: lengths.to_vec(),
    };
    export_and_compare(d, (model, flags), &[(run_with, "y")], &batch, Tolerance::Absolute);
}

/// A padded batch: `[sequences, time, features]` values, zeros past each length.
struct Batch {
    x: Vec<f32>,
    shape: [usize; 3],
    lengths: Vec<usize>,
}

/// How far ONNX Runtime's outputs may be from recur's.
#[derive(Clone, Copy, PartialEq)]
enum Tolerance {
    /// 1e-5.
    Absolute,
    /// 1e-5 times the largest |output| where that is above 1: a dense layer over MiniRocket's
    /// 39,984 features sums that many float32 products, in another order than recur's, into
    /// outputs whose one float32 step is already near 1e-5 when they reach 100.
    Relative,
}

/// The runtime check of [`export_and_compare`] (arguments: the file, `x.npy`, `lengths.npy`,
/// the output's name, recur's output as `.npy`, `relative` or `absolute`): ONNX Runtime, then
/// tract's own wheel where it is installed and the file has no recurrent operator (tract 0.22
/// takes their sequence_lens only as a constant; tests/onnxruntime.rs in recur-onnx pins
/// that). Over the fit models' 39,984 MiniRocket features tract's scores come 1.3e-5 to 2.2e-5
/// of their largest from recur's (ONNX Runtime's 0.1e-5 to 0.2e-5): its convolutions sum in
/// another order, and a feature counting the steps above a bias moves by 1/length when one
/// step sits within rounding of it. Its bound there is 1e-4 of the largest score, with the
/// same classes.
const RUNTIME_CHECK: &str = r#"
import sys, numpy as np, onnxruntime as ort
model, x, lengths, output, y, relative = sys.argv[1:]
feeds = {"x": np.load(x), "lengths": np.load(lengths).astype(np.int32)}
want = np.load(y)
largest = float(np.abs(want).max())
tolerance = 1e-5 * (max(1.0, largest) if relative == "relative" else 1.0)
def agrees(runtime, got, tolerance):
    assert got.shape == want.shape, (runtime, got.shape, want.shape)
    diff = float(np.abs(got - want).max())
    same_argmax = bool((got.argmax(-1) == want.argmax(-1)).all())
    print(f"{runtime} {output}: max |difference| {diff:.3g}, largest |value| {largest:.3g}, same argmax {same_argmax}")
    return diff <= tolerance and same_argmax
session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
ok = agrees("onnxruntime", session.run([output], feeds)[0], tolerance)
try:
    import onnx, tract
except ImportError:
    tract = None
if tract is not None:
    graph = onnx.load(model).graph
    if any(n.op_type in ("LSTM", "GRU", "RNN") for n in graph.node):
        print("tract: not run (recurrent operators)")
    else:
        runnable = tract.onnx().model_for_path(model)
        for i, name in enumerate(["x", "lengths"]):
            fact = ",".join(str(d) for d in feeds[name].shape) + ("," + ("f32" if name == "x" else "i32"))
            runnable.set_input_fact(i, fact)
        got = runnable.into_optimized().into_runnable().run([feeds["x"], feeds["lengths"]])
        index = [o.name for o in graph.output].index(output)
        tract_tolerance = 1e-4 * max(1.0, largest) if relative == "relative" else tolerance
        ok = agrees("tract", got[index].to_numpy(), tract_tolerance) and ok
sys.exit(0 if ok else 1)
"#;

/// Exports `model` (with `recur export`'s further flags), runs `batch` through each model
/// directory of `runs` with `recur run` and through the file in ONNX Runtime, and compares
/// each run's outputs with the ONNX output it names.
fn export_and_compare(
    d: &Path,
    (model, flags): (&Path, &[&str]),
    runs: &[(&Path, &str)],
    batch: &Batch,
    tolerance: Tolerance,
) {
    let onnx = d.join("model.onnx");
    let export = [&["export", "--model", s(model), "--onnx", s(&onnx)][..], flags].concat();
    let said = ok(recur(&export));
    assert!(said.contains("input lengths: int32 [batch]"), "{said}");
    let Some(python) = onnx_runtime() else {
        return;
    };
    write_npy_f32(&d.join("x.npy"), &batch.shape, &batch.x).unwrap();
    let body: Vec<u8> = batch.lengths.iter().flat_map(|&l| (l as i64).to_le_bytes()).collect();
    std::fs::write(d.join("lengths.npy"), npy_bytes("<i8", &[batch.lengths.len()], &body)).unwrap();
    let (xs, ls) = (d.join("x.npy"), d.join("lengths.npy"));
    for (i, (run_with, output)) in runs.iter().enumerate() {
        let ys = d.join(format!("y{i}.npy"));
        let args = [
            "run",
            "--model",
            s(run_with),
            "--input",
            s(&xs),
            "--lengths",
            s(&ls),
            "--output",
            s(&ys),
        ];
        ok(recur(&args));
        let relative = if tolerance == Tolerance::Relative {
            "relative"
        } else {
            "absolute"
        };
        let run = Command::new(&python)
            .arg("-c")
            .arg(RUNTIME_CHECK)
            .args([s(&onnx), s(&xs), s(&ls), output, s(&ys), relative])
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
    let plain = as_plain_model(&d, &model);
    compare_with_onnx_runtime(&d, &model, &plain, features, &[]);
    // As Scan loops, the form tract runs on padded batches (the check above runs it there).
    compare_with_onnx_runtime(&d, &model, &plain, features, &["--recurrence", "scan"]);
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
    let plain = as_plain_model(&d, &model);
    compare_with_onnx_runtime(&d, &model, &plain, features, &[]);
    // As Scan loops, the form tract runs on padded batches (the check above runs it there).
    compare_with_onnx_runtime(&d, &model, &plain, features, &["--recurrence", "scan"]);
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
    let plain = as_plain_model(&d, &model);
    compare_with_onnx_runtime(&d, &model, &plain, features, &[]);
    let file = std::fs::read(d.join("model.onnx")).unwrap();
    let has = |needle: &[u8]| file.windows(needle.len()).any(|w| w == needle);
    assert!(
        has(b"recur_forecast") && has(b"recur-forecast-1"),
        "forecast.json is not in the metadata"
    );
    // As Scan loops, the form tract runs on padded batches (the check above runs it there).
    compare_with_onnx_runtime(&d, &model, &plain, features, &["--recurrence", "scan"]);
}

/// A seq2seq model exports as its encoder and one decoder step; greedy decoding over them in
/// ONNX Runtime (tools/onnx_seq2seq.py, one source at a time and as one padded batch), and in
/// tract with the encoder written as a Scan loop where tract's wheel is installed, gives
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
    decodes_as(&python, &onnx, &input, &want, "onnxruntime");
    let has_tract = Command::new(&python)
        .args(["-c", "import onnx, tract"])
        .output()
        .is_ok_and(|o| o.status.success());
    if has_tract {
        // tract's recurrent operators take sequence_lens only as a constant: the encoder as a
        // Scan loop.
        let scan = d.join("onnx-scan");
        ok(recur(&[
            "export",
            "--model",
            s(&model),
            "--onnx",
            s(&scan),
            "--recurrence",
            "scan",
        ]));
        decodes_as(&python, &scan, &input, &want, "tract");
    }
}

/// Greedy decoding over the exported `folder` in `runtime` (tools/onnx_seq2seq.py), one source
/// at a time and as one padded batch, gives `want` (`recur seq2seq predict --beam 1 --json`):
/// the same tokens, log-probabilities within 1e-4.
fn decodes_as(python: &str, folder: &Path, input: &Path, want: &str, runtime: &str) {
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/onnx_seq2seq.py");
    for batch in [false, true] {
        let mut cmd = Command::new(python);
        cmd.arg(&tool).args([folder, input]).args(["--runtime", runtime]);
        if batch {
            cmd.arg("--batch");
        }
        let got = ok(cmd.output().unwrap());
        for (g, w) in got.lines().zip(want.lines()) {
            let (g, w): (serde_json::Value, serde_json::Value) =
                (serde_json::from_str(g).unwrap(), serde_json::from_str(w).unwrap());
            let (g, w) = (&g["outputs"][0], &w["outputs"][0]);
            assert_eq!(g["tokens"], w["tokens"], "{runtime}, batch {batch}");
            let gap = (g["log_prob"].as_f64().unwrap() - w["log_prob"].as_f64().unwrap()).abs();
            assert!(
                gap < 1e-4,
                "{runtime}: log-probabilities differ by {gap} (batch {batch})"
            );
        }
        assert_eq!(got.lines().count(), want.lines().count());
        eprintln!(
            "{runtime}: {} sources decoded as recur predicts (batch {batch})",
            got.lines().count()
        );
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
    compare_with_onnx_runtime(&d, &model, &model, 3, &[]);
}

#[test]
fn export_refuses_a_bad_opset_by_name() {
    let d = temp_dir("export-refusals");
    let config = d.join("c.json");
    std::fs::write(
        &config,
        r#"{"input_size": 2, "layers": [{"type": "dense", "units": 3}]}"#,
    )
    .unwrap();
    let model = d.join("model");
    ok(recur(&["init", "--config", s(&config), "--out", s(&model)]));
    let onnx = d.join("m.onnx");
    fails_with(
        recur(&["export", "--model", s(&model), "--onnx", s(&onnx), "--opset", "9"]),
        "opset 9 is not one recur writes",
    );
    assert!(!onnx.exists(), "a refused export leaves no file");
}

/// Trains `recur fit`'s default model on `train` into `model`, on one thread.
fn fit_default(train: &Path, model: &Path) {
    ok(recur(&[
        "fit",
        "--train",
        s(train),
        "--out",
        s(model),
        "--threads",
        "1",
        "--quiet",
    ]));
}

/// `recur fit`'s default model (MiniRocket's features, MultiRocket's pooling, a ridge head)
/// exports: its scores match the bare network's and its `probabilities` what `recur run`
/// gives for the fit model.
#[test]
fn export_default_fit_model_matches_recur_run() {
    let d = temp_dir("export-fit-default");
    let (train, model) = (d.join("train.ts"), d.join("model"));
    std::fs::write(&train, classes_ts()).unwrap();
    fit_default(&train, &model);
    let (lengths, features) = ([12usize, 7, 3], 2);
    let mut x = vec![0.0f32; 3 * 12 * features];
    for (b, &len) in lengths.iter().enumerate() {
        for t in 0..len {
            for c in 0..features {
                x[(b * 12 + t) * features + c] =
                    ((t as f32 * (0.6 + b as f32 * 0.3)).sin() * (1.0 - 2.0 * c as f32)) * 0.97;
            }
        }
    }
    let batch = Batch {
        x,
        shape: [3, 12, features],
        lengths: lengths.to_vec(),
    };
    let plain = as_plain_model(&d, &model);
    let runs = [(plain.as_path(), "y"), (model.as_path(), "probabilities")];
    export_and_compare(&d, (&model, &[]), &runs, &batch, Tolerance::Relative);
}

/// The default fit model of the archive's JapaneseVowels (`shared/data/uea_japanese_vowels`)
/// on 64 sequences of its test file, 7 to 26 steps of 12 channels.
#[test]
fn export_japanese_vowels_fit_model_matches_recur_run() {
    let Some(dir) = common::shared_data("uea_japanese_vowels") else {
        return;
    };
    let d = temp_dir("export-fit-vowels");
    let model = d.join("model");
    let train = dir.join("JapaneseVowels_TRAIN.ts");
    fit_default(&train, &model);
    let test = recur_data::ts::read_ts(&dir.join("JapaneseVowels_TEST.ts")).unwrap();
    let series = &test.series[..64];
    let lengths: Vec<usize> = series.iter().map(|v| v.len() / test.dims).collect();
    let time = *lengths.iter().max().unwrap();
    let mut x = vec![0.0f32; series.len() * time * test.dims];
    for (b, values) in series.iter().enumerate() {
        x[b * time * test.dims..][..values.len()].copy_from_slice(values);
    }
    let batch = Batch {
        x,
        shape: [series.len(), time, test.dims],
        lengths,
    };
    let plain = as_plain_model(&d, &model);
    let runs = [(plain.as_path(), "y"), (model.as_path(), "probabilities")];
    export_and_compare(&d, (&model, &[]), &runs, &batch, Tolerance::Relative);
}
