//! Sequences of frames from the command line: `recur init` with an `input_shape` of frames and
//! `time_distributed` image layers, `recur run` on `[batch, time, height, width, channels]`
//! arrays, a padded batch giving what each clip gives alone, and clear errors.

mod common;

use common::{fails_with, recur, temp_dir};
use recur_data::npy::{npy_bytes, read_npy, NpyData};
use std::path::Path;

const CONFIG: &str = r#"{"input_shape": [6, 5, 2], "layers": [
  {"type": "time_distributed", "layer": {"type": "conv2d", "filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu"}},
  {"type": "time_distributed", "layer": {"type": "max_pool2d", "pool_size": 2}},
  {"type": "batch_norm"},
  {"type": "time_distributed", "layer": {"type": "conv2d", "filters": 3, "kernel_size": [2, 1], "strides": 2}},
  {"type": "time_distributed", "layer": {"type": "global_max_pool2d"}},
  {"type": "gru", "units": 5},
  {"type": "dense", "units": 2}]}"#;

const FRAME: usize = 6 * 5 * 2;

fn write_f32(path: &Path, shape: &[usize], values: &[f32]) {
    let body: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, npy_bytes("<f4", shape, &body)).unwrap();
}

fn write_i64(path: &Path, values: &[i64]) {
    let body: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(path, npy_bytes("<i8", &[values.len()], &body)).unwrap();
}

fn run(model: &Path, x: &Path, lengths: Option<&Path>, y: &Path) -> Vec<f32> {
    let mut args = vec![
        "run",
        "--model",
        model.to_str().unwrap(),
        "--input",
        x.to_str().unwrap(),
    ];
    if let Some(l) = lengths {
        args.extend(["--lengths", l.to_str().unwrap()]);
    }
    args.extend(["--output", y.to_str().unwrap()]);
    let o = recur(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let NpyData::F32(values) = read_npy(y).unwrap().data else {
        panic!("float32 output")
    };
    values
}

#[test]
fn frames_run_padded_as_each_clip_alone() {
    let d = temp_dir("frames");
    std::fs::write(d.join("c.json"), CONFIG).unwrap();
    let m = d.join("model");
    let o = recur(&[
        "init",
        "--config",
        d.join("c.json").to_str().unwrap(),
        "--out",
        m.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&recur(&["summary", "--model", m.to_str().unwrap()]).stdout).to_string();
    assert!(
        text.contains("(batch, time, 6, 5, 4)") && text.contains("conv2d"),
        "{text}"
    );

    // Checkpoint tensors as torch.nn.Conv2d and BatchNorm2d name and shape them.
    let model: recur_nn::Model<f32> = recur_nn::model_dir::load(&m).unwrap();
    let shapes: Vec<(String, Vec<usize>)> = model
        .named_params()
        .into_iter()
        .map(|(n, p)| (n, p.shape.clone()))
        .collect();
    assert!(
        shapes.contains(&("layers.0.weight".into(), vec![4, 2, 3, 3])),
        "{shapes:?}"
    );
    assert!(shapes.contains(&("layers.2.running_var".into(), vec![4])), "{shapes:?}");
    assert!(
        shapes.contains(&("layers.3.weight".into(), vec![3, 4, 2, 1])),
        "{shapes:?}"
    );

    let (batch, time, lengths) = (3, 4, [4i64, 1, 3]);
    let mut x: Vec<f32> = (0..batch * time * FRAME)
        .map(|i| ((i * 37 % 101) as f32) / 50.0 - 1.0)
        .collect();
    for (b, &len) in lengths.iter().enumerate() {
        x[(b * time + len as usize) * FRAME..(b + 1) * time * FRAME].fill(0.0);
    }
    write_f32(&d.join("x.npy"), &[batch, time, 6, 5, 2], &x);
    write_i64(&d.join("l.npy"), &lengths);
    let together = run(&m, &d.join("x.npy"), Some(&d.join("l.npy")), &d.join("y.npy"));
    assert_eq!(together.len(), batch * 2);
    for (b, &len) in lengths.iter().enumerate() {
        let len = len as usize;
        let start = b * time * FRAME;
        write_f32(&d.join("one.npy"), &[1, len, 6, 5, 2], &x[start..start + len * FRAME]);
        let alone = run(&m, &d.join("one.npy"), None, &d.join("y1.npy"));
        for (a, t) in alone.iter().zip(&together[b * 2..b * 2 + 2]) {
            assert!(
                (a - t).abs() <= 1e-5 * (1.0 + a.abs()),
                "clip {b}: alone {a} vs padded {t}"
            );
        }
    }

    write_f32(&d.join("wide.npy"), &[1, 2, 6, 4, 2], &vec![0.0; 2 * 48]);
    let bad = |x: &str| {
        recur(&[
            "run",
            "--model",
            m.to_str().unwrap(),
            "--input",
            d.join(x).to_str().unwrap(),
            "--output",
            d.join("bad.npy").to_str().unwrap(),
        ])
    };
    fails_with(
        bad("wide.npy"),
        "takes a 6×5×2 frame per step, the input has a 6×4×2 frame",
    );
    write_f32(&d.join("flat.npy"), &[1, 2, FRAME], &vec![0.0; 2 * FRAME]);
    fails_with(
        bad("flat.npy"),
        "input must be 5-D [batch, time, height, width, channels]",
    );
    assert!(!d.join("bad.npy").exists(), "nothing written on a refused input");
}

/// A frame reaching a layer that reads vectors is refused by name, with the way out.
#[test]
fn frames_into_a_recurrent_layer_are_refused() {
    let d = temp_dir("frames-bad");
    let config = r#"{"input_shape": [4, 4, 1], "layers": [{"type": "lstm", "units": 3}]}"#;
    std::fs::write(d.join("c.json"), config).unwrap();
    let o = recur(&[
        "init",
        "--config",
        d.join("c.json").to_str().unwrap(),
        "--out",
        d.join("m").to_str().unwrap(),
    ]);
    fails_with(
        o,
        "layers[0] (lstm): takes a vector per step, but its input is a 4×4×1 frame",
    );
}

/// `recur bench --config` times a 3D CNN over clips (conv3d, batch norm over clips,
/// max_pool3d, global_avg_pool3d) and reports its training clips/s.
#[test]
fn bench_times_a_3d_cnn_config() {
    let d = temp_dir("bench-c3d");
    let config = d.join("c3d.json");
    std::fs::write(
        &config,
        r#"{"input_shape": [8, 8, 3], "layers": [
  {"type": "conv3d", "filters": 4, "kernel_size": 3, "padding": "same"}, {"type": "batch_norm"},
  {"type": "activation", "activation": "relu"}, {"type": "max_pool3d", "pool_size": 2},
  {"type": "global_avg_pool3d"}, {"type": "dense", "units": 2}]}"#,
    )
    .unwrap();
    let args = [
        "bench",
        "--json",
        "--seconds",
        "0.05",
        "--batch",
        "2",
        "--length",
        "4",
        "--threads",
        "1",
    ];
    let out = recur(&[&args[..], &["--config", config.to_str().unwrap()]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["model"]["train_seq_per_s"].as_f64().unwrap() > 0.0, "{report}");
    // The report names the reduced-precision kernels this CPU ran.
    let kernel = |key: &str| report[key].as_str().unwrap_or_default().to_string();
    assert!(
        ["avx512-bf16", "avx2", "portable"].contains(&kernel("bf16_kernel").as_str()),
        "{report}"
    );
    assert!(
        ["amx-int8", "avx512-vnni", "avx2", "portable"].contains(&kernel("int8_kernel").as_str()),
        "{report}"
    );
}

/// A model giving a sequence cannot be timed as a classifier: `recur bench --config` says so
/// (it panicked in the trainer's accuracy count).
#[test]
fn bench_config_with_a_sequence_output_is_refused() {
    let d = temp_dir("bench-seq");
    let config = d.join("seq.json");
    std::fs::write(
        &config,
        r#"{"input_size": 3, "layers": [{"type": "lstm", "units": 4, "return_sequences": true}]}"#,
    )
    .unwrap();
    let out = recur(&["bench", "--seconds", "0.05", "--config", config.to_str().unwrap()]);
    fails_with(out, "this model gives a sequence");
}
