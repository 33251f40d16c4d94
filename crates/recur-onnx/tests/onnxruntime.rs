//! Every layer kind the exporter takes, exported and run in ONNX Runtime on a padded batch of
//! different lengths, whose outputs must equal recur's within 1e-5 (`tools/check_onnx.py`).
//! Needs a Python with `onnxruntime`, `onnx` and `numpy` (`RECUR_PYTHON`, else `python3`);
//! without one each test says so and skips.

use recur_core::{Rng, Seq};
use recur_nn::layer::Ctx;
use recur_nn::{Model, ModelConfig};
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

/// A model of `config` whose every tensor is random (biases too, so a gate taken from the
/// wrong block shows), running variances positive.
fn random_model(config: &str, seed: u64) -> Model<f32> {
    let config = ModelConfig::from_json(config).unwrap();
    let mut model = Model::<f32>::new(config, seed).unwrap();
    let names: Vec<String> = model.named_params().into_iter().map(|(n, _)| n).collect();
    let mut rng = Rng::new(seed + 1);
    for (name, p) in names.iter().zip(model.params_mut()) {
        let (lo, hi) = if name.ends_with("running_var") {
            (0.5, 1.5)
        } else {
            (-0.5, 0.5)
        };
        p.value.iter_mut().for_each(|v| *v = rng.uniform_range(lo, hi) as f32);
    }
    model
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

/// A padded batch for one input: random values (or token ids below `vocabulary`) on the real
/// steps, zeros after.
fn batch(features: usize, sequential: bool, lengths: &[usize], vocabulary: Option<usize>, rng: &mut Rng) -> Seq<f32> {
    let time = if sequential { *lengths.iter().max().unwrap() } else { 1 };
    let mut data = vec![0.0f32; lengths.len() * time * features];
    for (b, &len) in lengths.iter().enumerate() {
        let real = if sequential { len } else { 1 };
        for v in &mut data[b * time * features..(b * time + real) * features] {
            *v = match vocabulary {
                Some(n) => (rng.uniform_range(0.0, n as f64).floor() as f32).min(n as f32 - 1.0),
                None => rng.uniform_range(-1.0, 1.0) as f32,
            };
        }
    }
    if sequential {
        Seq::new(data, lengths.len(), time, features, lengths.to_vec()).unwrap()
    } else {
        Seq::vectors(data, lengths.len(), features).unwrap()
    }
}

/// recur's outputs and the ONNX names they go by.
fn expected(model: &Model<f32>, xs: Vec<Seq<f32>>) -> serde_json::Map<String, Value> {
    let mut rng = Rng::new(0);
    let mut ctx = Ctx {
        training: false,
        rng: &mut rng,
    };
    let (ys, _) = model.forward(xs, &mut ctx).unwrap();
    let plan = model.plan();
    let mut out = serde_json::Map::new();
    for (y, &o) in ys.iter().zip(&plan.outputs) {
        let name = if plan.outputs.len() == 1 {
            "y".to_string()
        } else {
            plan.nodes[o].name.clone()
        };
        if y.sequential {
            out.insert(name.clone(), floats(&[y.batch, y.time, y.features], &y.data));
            out.insert(format!("{name}_lengths"), ints(&y.lengths));
        } else {
            out.insert(name, floats(&[y.batch, y.features], &y.data));
        }
    }
    out
}

/// Exports `config` (random weights) and checks it in ONNX Runtime on a batch with sequences
/// of `lengths`; `vocabulary` makes the inputs token ids.
fn check(case: &str, config: &str, lengths: &[usize], vocabulary: Option<usize>) {
    check_in_opset(case, config, lengths, vocabulary, recur_onnx::DEFAULT_OPSET);
}

/// [`check`] in operator set `opset`.
fn check_in_opset(case: &str, config: &str, lengths: &[usize], vocabulary: Option<usize>, opset: i64) {
    let Some(python) = python() else { return };
    let model = random_model(config, 7);
    let dir = tempfile::tempdir().unwrap();
    let onnx = dir.path().join(format!("{case}.onnx"));
    recur_onnx::write(&model, opset, &onnx).unwrap();
    let mut rng = Rng::new(11);
    let plan = model.plan();
    let sequences = plan.inputs.iter().filter(|(_, s)| s.sequential).count();
    let (mut xs, mut feeds) = (Vec::new(), serde_json::Map::new());
    for (name, shape) in &plan.inputs {
        let x = batch(shape.features, shape.sequential, lengths, vocabulary, &mut rng);
        let name = if plan.inputs.len() == 1 { "x" } else { name.as_str() };
        if x.sequential {
            feeds.insert(name.into(), floats(&[x.batch, x.time, x.features], &x.data));
            let lengths_name = if sequences == 1 {
                "lengths".into()
            } else {
                format!("{name}_lengths")
            };
            feeds.insert(lengths_name, ints(&x.lengths));
        } else {
            feeds.insert(name.into(), floats(&[x.batch, x.features], &x.data));
        }
        xs.push(x);
    }
    let case_file = dir.path().join(format!("{case}.json"));
    let expected = expected(&model, xs);
    std::fs::write(&case_file, json!({"inputs": feeds, "expected": expected}).to_string()).unwrap();
    let checker = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/check_onnx.py");
    let run = Command::new(&python)
        .arg(&checker)
        .arg(&onnx)
        .arg(&case_file)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    eprintln!("{case}:\n{said}");
    assert!(
        run.status.success(),
        "{case}: ONNX Runtime disagrees with recur:\n{said}"
    );
}

const LENGTHS: [usize; 3] = [7, 4, 2];

#[test]
fn onnx_dense_and_activations_match_recur() {
    check(
        "dense",
        r#"{"input_size": 3, "layers": [{"type": "dense", "units": 5, "activation": "relu"},
            {"type": "dense", "units": 4, "activation": "gelu"}, {"type": "activation", "activation": "sigmoid"},
            {"type": "dense", "units": 3, "activation": "tanh"}, {"type": "time_distributed", "layer": {"type": "dense", "units": 2}}]}"#,
        &LENGTHS,
        None,
    );
}

#[test]
fn onnx_conv1d_paddings_strides_and_dilation_match_recur() {
    for (case, conv) in [
        (
            "conv_same",
            r#""kernel_size": 3, "padding": "same", "activation": "relu""#,
        ),
        (
            "conv_same_dilated",
            r#""kernel_size": 2, "padding": "same", "dilation_rate": 2"#,
        ),
        (
            "conv_causal",
            r#""kernel_size": 3, "padding": "causal", "dilation_rate": 2"#,
        ),
        (
            "conv_causal_strided",
            r#""kernel_size": 3, "padding": "causal", "strides": 2"#,
        ),
        (
            "conv_same_strided",
            r#""kernel_size": 3, "padding": "same", "strides": 2"#,
        ),
        (
            "conv_same_strided_dilated",
            r#""kernel_size": 2, "padding": "same", "strides": 3, "dilation_rate": 2"#,
        ),
        (
            "conv_valid_strided",
            r#""kernel_size": 2, "padding": "valid", "strides": 2, "dilation_rate": 2"#,
        ),
    ] {
        let config = format!(
            r#"{{"input_size": 3, "layers": [{{"type": "conv1d", "filters": 4, {conv}}}, {{"type": "dense", "units": 2}}]}}"#
        );
        check(case, &config, &[9, 6, 4, 5], None);
    }
}

#[test]
fn onnx_norms_dropout_and_pooling_match_recur() {
    for pool in ["global_sum_pool", "global_mean_pool", "global_max_pool"] {
        let config = format!(
            r#"{{"input_size": 3, "layers": [{{"type": "dense", "units": 4}}, {{"type": "batch_norm"}},
                {{"type": "dropout", "rate": 0.5}}, {{"type": "layer_norm", "epsilon": 0.001}}, {{"type": "{pool}"}},
                {{"type": "batch_norm"}}, {{"type": "dense", "units": 2}}]}}"#
        );
        check(pool, &config, &LENGTHS, None);
    }
}

/// Opset 18 moved ReduceMax's axes into an input; the newest opset recur writes runs too.
#[test]
fn onnx_max_pool_in_opsets_18_and_21_matches_recur() {
    let config = r#"{"input_size": 3, "layers": [{"type": "dense", "units": 4}, {"type": "layer_norm"},
        {"type": "lstm", "units": 3, "return_sequences": true}, {"type": "global_max_pool"}]}"#;
    check_in_opset("max_pool_opset18", config, &LENGTHS, None, 18);
    check_in_opset("max_pool_opset21", config, &LENGTHS, None, 21);
}

#[test]
fn onnx_embedding_and_recurrent_layers_match_recur() {
    let cases = [
        (
            "lstm_sequences",
            r#"{"type": "lstm", "units": 4, "return_sequences": true}"#,
        ),
        (
            "lstm_bidirectional_last",
            r#"{"type": "lstm", "units": 3, "bidirectional": true}"#,
        ),
        ("gru_last", r#"{"type": "gru", "units": 4}"#),
        (
            "gru_bidirectional_sequences",
            r#"{"type": "gru", "units": 3, "bidirectional": true, "return_sequences": true}"#,
        ),
        (
            "simple_rnn_bidirectional_last",
            r#"{"type": "simple_rnn", "units": 3, "bidirectional": true}"#,
        ),
        (
            "simple_rnn_sequences",
            r#"{"type": "simple_rnn", "units": 3, "return_sequences": true}"#,
        ),
    ];
    for (case, layer) in cases {
        let config = format!(r#"{{"input_size": 3, "layers": [{layer}, {{"type": "dense", "units": 2}}]}}"#);
        check(case, &config, &LENGTHS, None);
    }
    check(
        "embedding_stacked",
        r#"{"input_size": 1, "layers": [{"type": "embedding", "input_dim": 6, "output_dim": 4},
            {"type": "lstm", "units": 4, "return_sequences": true, "bidirectional": true},
            {"type": "gru", "units": 3, "return_sequences": true}, {"type": "lstm", "units": 3}, {"type": "dense", "units": 2}]}"#,
        &LENGTHS,
        Some(6),
    );
}

#[test]
fn onnx_graph_merges_and_repeat_vector_match_recur() {
    check(
        "wavenet_graph",
        r#"{"inputs": [{"name": "x", "size": 3}, {"name": "extra", "size": 2, "sequential": false}],
            "nodes": [
              {"name": "conv", "type": "conv1d", "filters": 4, "kernel_size": 2, "padding": "causal", "inputs": ["x"]},
              {"name": "gate", "type": "conv1d", "filters": 4, "kernel_size": 2, "padding": "causal", "inputs": ["x"]},
              {"name": "wave", "type": "gated_activation", "inputs": ["conv", "gate"]},
              {"name": "sum", "type": "add", "inputs": ["conv", "wave"]},
              {"name": "prod", "type": "multiply", "inputs": ["sum", "wave"]},
              {"name": "halves", "type": "gated_activation", "inputs": ["prod"]},
              {"name": "pool", "type": "global_mean_pool"},
              {"name": "both", "type": "concatenate", "inputs": ["pool", "extra"]},
              {"name": "head", "type": "dense", "units": 3}],
            "outputs": ["head", "wave"]}"#,
        &LENGTHS,
        None,
    );
    check(
        "repeat_vector",
        r#"{"input_size": 3, "layers": [{"type": "gru", "units": 4}, {"type": "repeat_vector", "n": 3},
            {"type": "lstm", "units": 2, "return_sequences": true}]}"#,
        &LENGTHS,
        None,
    );
}
