//! What the runtime checks share: models with random tensors, padded batches for their
//! inputs, and recur's outputs under the names the exported graph gives them.

// Each test binary compiles this module and uses a part of it.
#![allow(dead_code)]

use recur_core::{Rng, Seq};
use recur_nn::layer::Ctx;
use recur_nn::{Model, ModelConfig};

/// A model of `config` whose every tensor is random (biases too, so a gate taken from the
/// wrong block shows), running variances positive.
pub fn random_model(config: &str, seed: u64) -> Model<f32> {
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

/// A padded batch for one input: random values (or token ids below `vocabulary`) on the real
/// steps, zeros after.
pub fn batch(
    features: usize,
    sequential: bool,
    lengths: &[usize],
    vocabulary: Option<usize>,
    rng: &mut Rng,
) -> Seq<f32> {
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

/// One input of the exported graph: its name, the batch fed, and for a sequence the name of
/// its lengths input.
pub struct Feed {
    /// The graph input's name.
    pub name: String,
    /// The values.
    pub x: Seq<f32>,
    /// `lengths` (or `{name}_lengths` with several sequence inputs); None for vectors.
    pub lengths_name: Option<String>,
    /// The shape of one step's values: `[features]`, or a frame's `[height, width, channels]`.
    pub step: Vec<usize>,
}

impl Feed {
    /// The shape the graph input takes: `[batch, (time,) …step]`.
    pub fn shape(&self) -> Vec<usize> {
        let x = &self.x;
        let outer = if x.sequential {
            vec![x.batch, x.time]
        } else {
            vec![x.batch]
        };
        [outer, self.step.clone()].concat()
    }
}

/// A batch for every input of `model` (sequences of `lengths`), named as the graph names them.
pub fn feeds(model: &Model<f32>, lengths: &[usize], vocabulary: Option<usize>) -> Vec<Feed> {
    let mut rng = Rng::new(11);
    let plan = model.plan();
    let sequences = plan.inputs.iter().filter(|(_, s)| s.sequential).count();
    let mut feeds = Vec::new();
    for (name, shape) in &plan.inputs {
        let x = batch(shape.features, shape.sequential, lengths, vocabulary, &mut rng);
        let name = if plan.inputs.len() == 1 { "x" } else { name.as_str() };
        let lengths_name = x.sequential.then(|| match sequences {
            1 => "lengths".to_string(),
            _ => format!("{name}_lengths"),
        });
        let step = match shape.frame {
            Some(f) => vec![f.height, f.width, f.channels],
            None => vec![shape.features],
        };
        feeds.push(Feed {
            name: name.into(),
            x,
            lengths_name,
            step,
        });
    }
    feeds
}

/// recur's outputs for `feeds`, each with the name of the graph output it must equal.
pub fn recur_outputs(model: &Model<f32>, feeds: &[Feed]) -> Vec<(String, Seq<f32>)> {
    let mut rng = Rng::new(0);
    let mut ctx = Ctx::new(false, &mut rng);
    let xs = feeds.iter().map(|f| f.x.clone()).collect();
    let (ys, _) = model.forward(xs, &mut ctx).unwrap();
    let plan = model.plan();
    let name = |o: usize| match plan.outputs.len() {
        1 => "y".to_string(),
        _ => plan.nodes[o].name.clone(),
    };
    plan.outputs.iter().zip(ys).map(|(&o, y)| (name(o), y)).collect()
}

/// One exported model to check: a config (its tensors random), the lengths of the batch's
/// sequences, and for token inputs the vocabulary.
pub struct Case {
    /// Names the case in messages and files.
    pub name: String,
    /// The model's config.
    pub config: String,
    /// The lengths of the padded batch's sequences.
    pub lengths: Vec<usize>,
    /// Token ids below this instead of values in [−1, 1].
    pub vocabulary: Option<usize>,
}

/// The lengths most cases feed.
const LENGTHS: [usize; 3] = [7, 4, 2];

fn case(name: &str, config: &str, lengths: &[usize], vocabulary: Option<usize>) -> Case {
    Case {
        name: name.into(),
        config: config.into(),
        lengths: lengths.to_vec(),
        vocabulary,
    }
}

/// Dense layers with every activation, and a per-step `time_distributed`.
pub fn dense_cases() -> Vec<Case> {
    vec![case(
        "dense",
        r#"{"input_size": 3, "layers": [{"type": "dense", "units": 5, "activation": "relu"},
            {"type": "dense", "units": 4, "activation": "gelu"}, {"type": "activation", "activation": "sigmoid"},
            {"type": "dense", "units": 3, "activation": "tanh"}, {"type": "time_distributed", "layer": {"type": "dense", "units": 2}}]}"#,
        &LENGTHS,
        None,
    )]
}

/// `conv1d` with each padding, strides and dilation.
pub fn conv1d_cases() -> Vec<Case> {
    [
        ("conv_same", r#""kernel_size": 3, "padding": "same", "activation": "relu""#),
        ("conv_same_dilated", r#""kernel_size": 2, "padding": "same", "dilation_rate": 2"#),
        ("conv_causal", r#""kernel_size": 3, "padding": "causal", "dilation_rate": 2"#),
        ("conv_causal_strided", r#""kernel_size": 3, "padding": "causal", "strides": 2"#),
        ("conv_same_strided", r#""kernel_size": 3, "padding": "same", "strides": 2"#),
        (
            "conv_same_strided_dilated",
            r#""kernel_size": 2, "padding": "same", "strides": 3, "dilation_rate": 2"#,
        ),
        (
            "conv_valid_strided",
            r#""kernel_size": 2, "padding": "valid", "strides": 2, "dilation_rate": 2"#,
        ),
    ]
    .into_iter()
    .map(|(name, conv)| {
        let config = format!(
            r#"{{"input_size": 3, "layers": [{{"type": "conv1d", "filters": 4, {conv}}}, {{"type": "dense", "units": 2}}]}}"#
        );
        case(name, &config, &[9, 6, 4, 5], None)
    })
    .collect()
}

/// Both norms, dropout and each pooling over time.
pub fn pooling_cases() -> Vec<Case> {
    ["global_sum_pool", "global_mean_pool", "global_max_pool"]
        .into_iter()
        .map(|pool| {
            let config = format!(
                r#"{{"input_size": 3, "layers": [{{"type": "dense", "units": 4}}, {{"type": "batch_norm"}},
                    {{"type": "dropout", "rate": 0.5}}, {{"type": "layer_norm", "epsilon": 0.001}}, {{"type": "{pool}"}},
                    {{"type": "batch_norm"}}, {{"type": "dense", "units": 2}}]}}"#
            );
            case(pool, &config, &LENGTHS, None)
        })
        .collect()
}

/// A max pool after an LSTM, for the operator sets after the default.
pub fn opset_case() -> Case {
    let config = r#"{"input_size": 3, "layers": [{"type": "dense", "units": 4}, {"type": "layer_norm"},
        {"type": "lstm", "units": 3, "return_sequences": true}, {"type": "global_max_pool"}]}"#;
    case("max_pool_opset", config, &LENGTHS, None)
}

/// Each recurrent layer uni- and bidirectional, every step or the last, and a stack after an
/// embedding.
pub fn recurrent_cases() -> Vec<Case> {
    let mut cases: Vec<Case> = [
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
    ]
    .into_iter()
    .map(|(name, layer)| {
        let config = format!(r#"{{"input_size": 3, "layers": [{layer}, {{"type": "dense", "units": 2}}]}}"#);
        case(name, &config, &LENGTHS, None)
    })
    .collect();
    cases.push(case(
        "embedding_stacked",
        r#"{"input_size": 1, "layers": [{"type": "embedding", "input_dim": 6, "output_dim": 4},
            {"type": "lstm", "units": 4, "return_sequences": true, "bidirectional": true},
            {"type": "gru", "units": 3, "return_sequences": true}, {"type": "lstm", "units": 3}, {"type": "dense", "units": 2}]}"#,
        &LENGTHS,
        Some(6),
    ));
    cases
}

/// A WaveNet-style graph with every merge and two outputs, and `repeat_vector`.
pub fn graph_cases() -> Vec<Case> {
    vec![
        case(
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
        ),
        case(
            "repeat_vector",
            r#"{"input_size": 3, "layers": [{"type": "gru", "units": 4}, {"type": "repeat_vector", "n": 3},
                {"type": "lstm", "units": 2, "return_sequences": true}]}"#,
            &LENGTHS,
            None,
        ),
    ]
}

/// MiniRocket models checked: name, channels (several draw channel combinations), pooling.
pub const MINIROCKETS: [(&str, usize, &str); 4] = [
    ("minirocket_univariate_ppv", 1, "ppv"),
    ("minirocket_multivariate_ppv", 3, "ppv"),
    ("minirocket_univariate_multi", 1, "multi"),
    ("minirocket_multivariate_multi", 4, "multi"),
];

/// Sequences shorter than MiniRocket's nine taps, longer than its reference length (30), and
/// empty.
pub const MINIROCKET_LENGTHS: [usize; 5] = [41, 17, 5, 9, 0];

/// A MiniRocket layer (840 features, reference length 30) over `channels`, alone or with a
/// dense `head`, its biases set from another batch than the checked ones, so no checked step
/// sits exactly on a bias (where rounding could flip a comparison and move a feature by
/// 1/steps). The features must agree within 1e-5; the classifier on them (a dense layer
/// summing 3,360 of them) within 1e-5 of its largest output: float32 sums of that many terms
/// in another order than recur's round apart by about that much (1.9e-5 on outputs of 70,
/// where one float32 step is 7.6e-6).
pub fn minirocket_model(channels: usize, pooling: &str, head: bool) -> Model<f32> {
    let layer =
        format!(r#"{{"type": "minirocket", "length": 30, "features": 840, "pooling": "{pooling}", "seed": 5}}"#);
    let dense = if head { r#", {"type": "dense", "units": 3}"# } else { "" };
    let config = format!(r#"{{"input_size": {channels}, "layers": [{layer}{dense}]}}"#);
    let mut model = random_model(&config, 7);
    let training = batch(channels, true, &[30, 25, 11, 6], None, &mut Rng::new(99));
    model.adapt(&[training], 3).unwrap();
    model
}

/// Clips of 5×6 frames with 2 channels, as video models read them.
pub const FRAMES: &str = r#""input_shape": [5, 6, 2]"#;

/// Clips of 7, 4, 1 and 6 frames.
pub const CLIP_LENGTHS: [usize; 4] = [7, 4, 1, 6];

/// Frame models: a CRNN (`time_distributed` convolutions and pools over each frame, batch
/// normalisation, a GRU) and C3D-style 3-D convolutions and pools over each clip, with the
/// strides, dilations and paddings recur's video presets and configs use.
pub fn frame_cases() -> Vec<Case> {
    let td = |layer: &str| format!(r#"{{"type": "time_distributed", "layer": {layer}}}"#);
    let crnn = [
        td(r#"{"type": "conv2d", "filters": 3, "kernel_size": 3, "padding": "same", "activation": "relu"}"#),
        r#"{"type": "batch_norm"}"#.into(),
        td(r#"{"type": "max_pool2d", "pool_size": 2, "padding": "same"}"#),
        td(r#"{"type": "conv2d", "filters": 4, "kernel_size": [2, 3], "strides": [1, 2], "dilation_rate": 1}"#),
        td(r#"{"type": "avg_pool2d", "pool_size": 2, "strides": 1, "padding": "same"}"#),
        td(r#"{"type": "global_avg_pool2d"}"#),
        r#"{"type": "gru", "units": 3, "return_sequences": true}"#.into(),
        r#"{"type": "global_mean_pool"}"#.into(),
        r#"{"type": "dense", "units": 2}"#.into(),
    ];
    let crnn_max = [
        td(r#"{"type": "conv2d", "filters": 3, "kernel_size": 3, "dilation_rate": 2, "padding": "same"}"#),
        td(r#"{"type": "global_max_pool2d"}"#),
        r#"{"type": "dense", "units": 2}"#.into(),
    ];
    let c3d = [
        r#"{"type": "conv3d", "filters": 3, "kernel_size": 3, "padding": "same", "activation": "relu"}"#,
        r#"{"type": "batch_norm"}"#,
        r#"{"type": "max_pool3d", "pool_size": [1, 2, 2], "padding": "same"}"#,
        r#"{"type": "conv3d", "filters": 4, "kernel_size": [2, 3, 3], "strides": [2, 1, 1], "padding": "same"}"#,
        r#"{"type": "max_pool3d", "pool_size": 2, "padding": "same"}"#,
        r#"{"type": "global_avg_pool3d"}"#,
        r#"{"type": "dense", "units": 2}"#,
    ];
    let c3d_valid = [
        r#"{"type": "conv3d", "filters": 3, "kernel_size": [2, 2, 3], "dilation_rate": [2, 1, 1]}"#,
        r#"{"type": "max_pool3d", "pool_size": [2, 1, 2], "strides": 1}"#,
        r#"{"type": "global_max_pool3d"}"#,
        r#"{"type": "dense", "units": 2}"#,
    ];
    let model = |layers: Vec<String>| format!(r#"{{{FRAMES}, "layers": [{}]}}"#, layers.join(", "));
    let owned = |layers: &[&str]| layers.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    vec![
        case("crnn_frames", &model(crnn.to_vec()), &CLIP_LENGTHS, None),
        case(
            "crnn_dilated_global_max",
            &model(crnn_max.to_vec()),
            &CLIP_LENGTHS,
            None,
        ),
        case("c3d_same", &model(owned(&c3d)), &CLIP_LENGTHS, None),
        case("c3d_valid_dilated", &model(owned(&c3d_valid)), &[7, 4, 4, 6], None),
    ]
}
