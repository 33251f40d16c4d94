//! `recur sketch-rnn` end to end on a tiny ndjson folder: train, score, sample, and the bad
//! requests each refused with an `error:` line.

mod common;

use common::{fails_with, recur, temp_dir};
use std::path::Path;

fn ok(o: std::process::Output) -> String {
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && !e.contains("panicked"), "failed: {e}");
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Two classes of 40 tiny drawings, one ndjson file each.
fn write_data(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, shift) in [("cat", 0), ("cup", 50)] {
        let lines: Vec<String> = (0..40)
            .map(|i| {
                let x = 10 + i % 9 + shift;
                format!(
                    r#"{{"word":"{name}","key_id":"{i}","drawing":[[[{x},{},90],[20,40,{}]]]}}"#,
                    x + 20,
                    60 + i % 4
                )
            })
            .collect();
        std::fs::write(dir.join(format!("{name}.ndjson")), lines.join("\n")).unwrap();
    }
}

#[test]
fn sketch_rnn_trains_scores_samples_and_refuses_bad_requests() {
    let d = temp_dir("sketch-rnn");
    let (data, model) = (d.join("data"), d.join("model"));
    write_data(&data);
    let small = [
        "--decoder-units",
        "16",
        "--encoder-units",
        "8",
        "--latent",
        "4",
        "--mixtures",
        "3",
        "--batch",
        "16",
        "--steps-per-epoch",
        "2",
        "--max-minutes",
        "0.001",
    ];
    let mut train = vec![
        "sketch-rnn",
        "train",
        "--data",
        s(&data),
        "--out",
        s(&model),
        "--mode",
        "class",
    ];
    train.extend(small);
    ok(recur(&train));
    let line = ok(recur(&[
        "sketch-rnn",
        "eval",
        "--model",
        s(&model),
        "--data",
        s(&data),
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(v["drawings"], 4);
    assert!(v["recon_loss"].as_f64().unwrap().is_finite() && v["kl_loss"].as_f64().unwrap() >= 0.0);
    let out = d.join("cups.ndjson");
    let sample = |extra: &[&str]| {
        let mut a = vec![
            "sketch-rnn",
            "sample",
            "--model",
            s(&model),
            "--count",
            "3",
            "--out",
            s(&out),
        ];
        a.extend_from_slice(extra);
        recur(&a)
    };
    ok(sample(&["--class", "cup", "--seed", "4"]));
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 3);
    assert!(text.lines().all(|l| l.contains(r#""word":"cup""#)), "{text}");
    fails_with(
        sample(&["--class", "dog"]),
        "class `dog` is not one this model knows (it draws: cat, cup)",
    );
    fails_with(
        sample(&["--temperature", "0"]),
        "the temperature must be above 0, got 0",
    );
    fails_with(
        recur(&train),
        "already holds a sketch-rnn model or checkpoint: pass --resume",
    );
    let mut bad_mode = train.clone();
    bad_mode[7] = "gan";
    fails_with(recur(&bad_mode), "unknown mode `gan`");
    // Both training precisions run (bf16 in mixed precision wherever the CPU is; auto, the
    // default, took one of them above); int8 is for inference.
    for (precision, folder) in [("fp32", "model_fp32"), ("bf16", "model_bf16")] {
        let mut run = train.clone();
        let out = d.join(folder);
        run[5] = s(&out);
        run.extend(["--precision", precision]);
        let log = recur(&run);
        let said = format!("training products in {precision}");
        assert!(String::from_utf8_lossy(&log.stderr).contains(&said), "no `{said}`");
        ok(log);
    }
    let mut int8 = train.clone();
    int8.extend(["--precision", "int8"]);
    fails_with(recur(&int8), "training runs at fp32 or bf16 (int8 is for inference)");
    fails_with(
        recur(&["sketch-rnn", "sample", "--model", s(&data), "--out", s(&out)]),
        "not a sketch-rnn model directory (no sketch_rnn.json)",
    );
    fails_with(
        recur(&["predict", "--model", s(&model), "--input", s(&out)]),
        "is a sketch-rnn model: use `recur sketch-rnn sample`",
    );
}
