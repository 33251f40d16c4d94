//! Every layer kind the exporter takes, exported and run in ONNX Runtime on a padded batch of
//! different lengths, whose outputs must equal recur's within 1e-5 (`tools/check_onnx.py`).
//! Needs a Python with `onnxruntime`, `onnx` and `numpy` (`RECUR_PYTHON`, else `python3`);
//! without one each test says so and skips.
//!
//! Where that Python also has tract's wheel (`pip install tract==0.22.4`: tract, the pure-Rust
//! runtime, built by its authors), every file is run in tract too: a file without a recurrent
//! operator must give the same outputs there, and one with an ONNX `LSTM`, `GRU` or `RNN` must
//! be refused for the reason tract 0.22 gives, that it takes `sequence_lens` only as a constant
//! (so a padded batch cannot be fed), which shows here the day a tract lifts it.

mod common;

use common::{
    conv1d_cases, dense_cases, feeds, frame_cases, graph_cases, minirocket_model, opset_case, pooling_cases,
    random_model, recur_outputs, recurrent_cases, Case, Feed, MINIROCKETS, MINIROCKET_LENGTHS,
};
use prost::Message;
use recur_nn::Model;
use recur_onnx::{ExportOptions, Recurrence};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// The Python to run the checker with, or None (and a note) when it lacks ONNX Runtime;
/// asked once, as starting Python with ONNX Runtime takes seconds.
fn python() -> Option<String> {
    static PYTHON: OnceLock<Option<String>> = OnceLock::new();
    let found = PYTHON.get_or_init(|| {
        let python = std::env::var("RECUR_PYTHON").unwrap_or_else(|_| "python3".into());
        let ok = Command::new(&python)
            .args(["-c", "import onnxruntime, onnx, numpy"])
            .output()
            .is_ok_and(|o| o.status.success());
        ok.then_some(python)
    });
    if found.is_none() {
        eprintln!("skipped: no Python with onnxruntime, onnx and numpy (set RECUR_PYTHON to one that has them)");
    }
    found.clone()
}

/// Whether the checker's Python also has tract's wheel; asked once, said once when not.
fn has_tract(python: &str) -> bool {
    static TRACT: OnceLock<bool> = OnceLock::new();
    *TRACT.get_or_init(|| {
        let found = Command::new(python)
            .args(["-c", "import tract"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            eprintln!("tract not checked: {python} has no `tract` module (pip install tract==0.22.4)");
        }
        found
    })
}

/// Runs `tools/check_onnx.py` on the file and case in `runtime`; returns whether it agreed and
/// what it said.
fn run_checker(python: &str, onnx: &Path, case_file: &Path, relative: bool, runtime: &str) -> (bool, String) {
    let checker = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/check_onnx.py");
    let run = Command::new(python)
        .arg(&checker)
        .arg(onnx)
        .arg(case_file)
        .args(relative.then_some("--relative"))
        .args(["--runtime", runtime])
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    (run.status.success(), said)
}

fn tensor(shape: &[usize], dtype: &str, data: Vec<Value>) -> Value {
    json!({"shape": shape, "dtype": dtype, "data": data})
}

fn floats(shape: &[usize], values: &[f32]) -> Value {
    tensor(shape, "float32", values.iter().map(|&v| json!(v)).collect())
}

fn ints(values: &[usize]) -> Value {
    tensor(&[values.len()], "int32", values.iter().map(|&v| json!(v)).collect())
}

/// recur's outputs for `feeds` as the checker's JSON, lengths beside sequences.
fn expected(model: &Model<f32>, feeds: &[Feed]) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    for (name, y) in recur_outputs(model, feeds) {
        if y.sequential {
            out.insert(name.clone(), floats(&[y.batch, y.time, y.features], &y.data));
            out.insert(format!("{name}_lengths"), ints(&y.lengths));
        } else {
            out.insert(name, floats(&[y.batch, y.features], &y.data));
        }
    }
    out
}

/// Exports the case's model (random weights) and checks it in ONNX Runtime.
fn check(case: &Case) {
    check_as(case, Recurrence::Operators);
}

/// [`check`] with the recurrent layers written as `recurrence` says.
fn check_as(case: &Case, recurrence: Recurrence) {
    let model = random_model(&case.config, 7);
    let options = ExportOptions {
        recurrence,
        ..Default::default()
    };
    check_model(&case.name, &model, &case.lengths, case.vocabulary, options, false);
}

/// Exports `model` and checks it in ONNX Runtime on a batch with sequences of `lengths`;
/// `relative` scales the 1e-5 by each output's largest value (see `tools/check_onnx.py`).
fn check_model(
    case: &str,
    model: &Model<f32>,
    lengths: &[usize],
    vocabulary: Option<usize>,
    options: ExportOptions,
    relative: bool,
) {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let onnx = dir.path().join(format!("{case}.onnx"));
    recur_onnx::write(model, options, &onnx).unwrap();
    let feeds = feeds(model, lengths, vocabulary);
    let mut inputs = serde_json::Map::new();
    for f in &feeds {
        inputs.insert(f.name.clone(), floats(&f.shape(), &f.x.data));
        if let Some(lengths_name) = &f.lengths_name {
            inputs.insert(lengths_name.clone(), ints(&f.x.lengths));
        }
    }
    let case_file = dir.path().join(format!("{case}.json"));
    let expected = expected(model, &feeds);
    std::fs::write(&case_file, json!({"inputs": inputs, "expected": expected}).to_string()).unwrap();
    let (agreed, said) = run_checker(&python, &onnx, &case_file, relative, "onnxruntime");
    eprintln!("{case}:\n{said}");
    assert!(agreed, "{case}: ONNX Runtime disagrees with recur:\n{said}");
    if has_tract(&python) {
        check_in_tract(case, &python, &onnx, &case_file, relative);
    }
}

/// Runs the file in tract: the same outputs without a recurrent operator; with one, the refusal
/// of a `sequence_lens` that is not a constant.
fn check_in_tract(case: &str, python: &str, onnx: &Path, case_file: &Path, relative: bool) {
    let graph = recur_onnx::proto::ModelProto::decode(std::fs::read(onnx).unwrap().as_slice())
        .unwrap()
        .graph
        .unwrap();
    let recurrent = graph
        .node
        .iter()
        .any(|n| ["LSTM", "GRU", "RNN"].contains(&n.op_type.as_str()));
    let (agreed, said) = run_checker(python, onnx, case_file, relative, "tract");
    eprintln!("{case} in tract:\n{said}");
    if recurrent {
        assert!(
            !agreed && said.contains("Non constant seq_len is not supported"),
            "{case}: tract was expected to refuse the recurrent layers' sequence_lens:\n{said}"
        );
    } else {
        assert!(agreed, "{case}: tract disagrees with recur:\n{said}");
    }
}

#[test]
fn onnx_dense_and_activations_match_recur() {
    dense_cases().iter().for_each(check);
}

#[test]
fn onnx_conv1d_paddings_strides_and_dilation_match_recur() {
    conv1d_cases().iter().for_each(check);
}

#[test]
fn onnx_norms_dropout_and_pooling_match_recur() {
    pooling_cases().iter().for_each(check);
}

/// Opset 18 moved ReduceMax's axes into an input; the newest opset recur writes runs too.
#[test]
fn onnx_max_pool_in_opsets_18_and_21_matches_recur() {
    let case = opset_case();
    let model = random_model(&case.config, 7);
    for (name, opset) in [("max_pool_opset18", 18), ("max_pool_opset21", 21)] {
        let options = ExportOptions {
            opset,
            ..Default::default()
        };
        check_model(name, &model, &case.lengths, None, options, false);
    }
}

#[test]
fn onnx_embedding_and_recurrent_layers_match_recur() {
    recurrent_cases().iter().for_each(check);
}

/// The recurrent layers written as `Scan` loops over one step of their operator: the same
/// outputs in ONNX Runtime, and in tract, which runs them on padded batches in this form.
#[test]
fn onnx_recurrent_layers_as_scan_loops_match_recur() {
    let frames = frame_cases().into_iter().filter(|c| c.name == "crnn_frames");
    let repeat = graph_cases().into_iter().filter(|c| c.name == "repeat_vector");
    for mut case in recurrent_cases()
        .into_iter()
        .chain(frames)
        .chain(repeat)
        .chain([opset_case()])
    {
        case.name += "_scan";
        check_as(&case, Recurrence::Scan);
    }
}

/// Clips of frames: per-frame layers under `time_distributed` and 3-D layers over each clip.
#[test]
fn onnx_frame_layers_match_recur() {
    frame_cases().iter().for_each(check);
}

#[test]
fn onnx_graph_merges_and_repeat_vector_match_recur() {
    graph_cases().iter().for_each(check);
}

/// MiniRocket (the default of `recur fit`) with its biases set from another batch, so no
/// step of the checked one sits exactly on a bias (where rounding could flip a comparison and
/// move a feature by 1/steps): PPV and MultiRocket's pooling, one channel and several (channel
/// combinations), sequences shorter than the kernel's nine taps, longer than the reference
/// length, and empty. The features must agree within 1e-5; the classifier on them (a dense
/// layer summing 3,360 of them) within 1e-5 of its largest output, as float32 sums of that many
/// terms in ONNX Runtime's order and recur's round apart by that much (1.5e-5 on outputs of 4).
#[test]
fn onnx_minirocket_matches_recur() {
    for (name, channels, pooling) in MINIROCKETS {
        for head in [false, true] {
            let model = minirocket_model(channels, pooling, head);
            check_model(name, &model, &MINIROCKET_LENGTHS, None, ExportOptions::default(), head);
        }
    }
}
