//! The exporter's refusals and the gate reordering, checked without a runtime.

use super::*;
use prost::Message;
use recur_nn::ModelConfig;

fn model(config: &str) -> Model<f32> {
    Model::new(ModelConfig::from_json(config).unwrap(), 3).unwrap()
}

fn refusal(config: &str) -> String {
    export(&model(config), ExportOptions::default())
        .unwrap_err()
        .to_string()
}

/// MiniRocket's 84 kernels of a dilation are one `Conv`; MultiRocket's longest run is a `Scan`.
#[test]
fn export_writes_minirocket_as_one_conv_per_dilation() {
    let config = r#"{"input_size": 2, "layers": [{"type": "minirocket", "length": 40, "features": 840, "pooling": "multi"},
        {"type": "dense", "units": 2}]}"#;
    let graph = export(&model(config), ExportOptions::default()).unwrap().graph.unwrap();
    let count = |op: &str| graph.node.iter().filter(|n| n.op_type == op).count();
    let dilations = recur_nn::minirocket::dilations(40, 840, 32).len();
    assert!(dilations > 1);
    assert_eq!(count("Conv"), dilations);
    assert_eq!(count("Scan"), 1);
}

/// A mean over a clip's windows (it counts each window's real frames) and `same` padding over
/// time that depends on each clip's length are refused by name.
#[test]
fn export_refuses_avg_pool3d_and_length_dependent_time_padding_by_name() {
    let err = refusal(
        r#"{"input_shape": [4, 4, 1], "layers": [{"type": "avg_pool3d", "pool_size": 2}, {"type": "global_avg_pool3d"}]}"#,
    );
    assert!(err.contains("layers.0 (avg_pool3d) has no ONNX form"), "{err}");
    let err = refusal(
        r#"{"input_shape": [4, 4, 1], "layers": [{"type": "conv3d", "filters": 2, "kernel_size": 3, "strides": [3, 1, 1],
            "padding": "same"}, {"type": "global_avg_pool3d"}]}"#,
    );
    assert!(
        err.contains("layers.0 (conv3d): `same` padding over time with 3 steps of stride"),
        "{err}"
    );
}

#[test]
fn export_refuses_an_opset_it_does_not_write() {
    let err = export(
        &model(r#"{"input_size": 2, "layers": [{"type": "dense", "units": 2}]}"#),
        ExportOptions {
            opset: 11,
            ..Default::default()
        },
    )
    .unwrap_err()
    .to_string();
    assert_eq!(err, "opset 11 is not one recur writes (use 17 to 21)");
}

/// ONNX's LSTM wants gate blocks i, o, f, c; recur stores PyTorch's i, f, g, o.
#[test]
fn export_writes_lstm_gates_in_onnx_order() {
    let m = model(r#"{"input_size": 2, "layers": [{"type": "lstm", "units": 3}]}"#);
    let bytes = export(&m, ExportOptions::default()).unwrap().encode_to_vec();
    let decoded = ModelProto::decode(bytes.as_slice()).unwrap();
    let graph = decoded.graph.unwrap();
    let w = graph
        .initializer
        .iter()
        .find(|t| t.name.starts_with("layers.0.W"))
        .unwrap();
    assert_eq!(w.dims, [1, 12, 2]);
    let onnx: Vec<f32> = w
        .raw_data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    let params = m.named_params();
    let torch = &params
        .iter()
        .find(|(n, _)| n == "layers.0.weight_ih_l0")
        .unwrap()
        .1
        .value;
    let block = |v: &[f32], k: usize| v[k * 6..(k + 1) * 6].to_vec();
    for (onnx_block, torch_block) in [(0, 0), (1, 3), (2, 1), (3, 2)] {
        assert_eq!(block(&onnx, onnx_block), block(torch, torch_block));
    }
    assert!(graph.node.iter().any(|n| n.op_type == "LSTM"));
}
