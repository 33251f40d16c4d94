//! The sketch job end to end on generated doodles: data synth → train → eval → predict →
//! render, resuming a run, and clear errors on bad drawings and unknown classes.

mod common;

use common::{fails_with, recur, temp_dir};
use std::path::{Path, PathBuf};
use std::process::Output;

fn ok(o: Output) -> String {
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "failed: {e}");
    assert!(!e.contains("panicked"));
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// `recur predict --json` on `input`: one parsed object per drawing.
fn predict_json(model: &std::path::Path, input: &std::path::Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let (model, input) = (model.to_str().unwrap(), input.to_str().unwrap());
    let base = ["predict", "--model", model, "--input", input, "--json"];
    let lines = ok(recur(&[&base[..], extra].concat()));
    lines.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn synth_train_eval_predict_render_and_resume() {
    let d = temp_dir("flow");
    let (data, model) = (d.join("data"), d.join("model"));
    let (data_s, model_s) = (data.to_str().unwrap(), model.to_str().unwrap());
    ok(recur(&["data", "synth", "--out", data_s, "--per-class", "60"]));
    let train = |epochs: &str, extra: &[&str]| {
        recur(
            &[
                &[
                    "train", "--data", data_s, "--out", model_s, "--epochs", epochs, "--quiet",
                ],
                extra,
            ]
            .concat(),
        )
    };
    let out = ok(train("3", &[]));
    assert!(out.contains("(test): top-1"), "{out}");
    fails_with(train("3", &[]), "already holds a model: pass --resume");
    let out = ok(train("20", &["--resume", "--patience", "100"]));
    assert!(out.contains("of 20"), "the resumed run goes on to 20 epochs: {out}");

    let confusion = d.join("confusion.png");
    let line = ok(recur(&[
        "eval",
        "--model",
        model_s,
        "--data",
        data_s,
        "--json",
        "--split",
        "all",
        "--confusion",
        confusion.to_str().unwrap(),
    ]));
    let r: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(r["n"], 720);
    assert!(r["top1"].as_f64().unwrap() > 0.5, "{r}");
    assert_eq!(r["per_class"].as_object().unwrap().len(), 12);
    assert!(std::fs::read(&confusion).unwrap().starts_with(b"\x89PNG"));

    let stars = data.join("star.ndjson");
    let predictions = predict_json(&model, &stars, &["--top", "2"]);
    assert_eq!(predictions[0]["predictions"].as_array().unwrap().len(), 2);
    assert_eq!(predictions.len(), 60);

    let grid = d.join("grid.svg");
    ok(recur(&[
        "render",
        "--input",
        stars.to_str().unwrap(),
        "--out",
        grid.to_str().unwrap(),
        "--grid",
        "--limit",
        "6",
    ]));
    let svg = std::fs::read_to_string(&grid).unwrap();
    assert_eq!(svg.matches("<path").count(), 6);
    assert_eq!(svg.matches(">star<").count(), 6);
}

#[test]
fn bad_drawings_and_unknown_classes_are_reported() {
    let d = temp_dir("bad");
    let data = d.join("data");
    let data_s = data.to_str().unwrap();
    ok(recur(&["data", "synth", "--out", data_s, "--per-class", "12"]));
    let model = d.join("model");
    ok(recur(&[
        "train",
        "--data",
        data_s,
        "--out",
        model.to_str().unwrap(),
        "--epochs",
        "1",
        "--quiet",
    ]));
    let other = d.join("other.ndjson");
    std::fs::write(
        &other,
        "{\"word\":\"dragon\",\"key_id\":\"9\",\"drawing\":[[[1,2],[3,4]]]}\n{\"word\":\"star\",\"key_id\":\"8\",\"drawing\":[[[1,2],[3]]]}\n{broken\n",
    )
    .unwrap();
    let star = data.join("star.ndjson");
    let (m, o, s) = (model.to_str().unwrap(), other.to_str().unwrap(), star.to_str().unwrap());
    let out = recur(&["eval", "--model", m, "--data", o, s]);
    let e = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{e}");
    assert!(e.contains("skipped 2 bad drawings"), "{e}");
    assert!(e.contains("other.ndjson:2: stroke 0 has 2 x but 1 y values"), "{e}");
    assert!(
        e.contains("1 drawings are of classes the model does not know (dragon)"),
        "{e}"
    );
    fails_with(
        recur(&["eval", "--model", m, "--data", o, s, "--strict"]),
        "other.ndjson:2",
    );
    fails_with(
        recur(&["eval", "--model", m, "--data", o]),
        "none of the drawings is of a class the model knows",
    );
    fails_with(
        recur(&["eval", "--model", data_s, "--data", s]),
        "cannot load the model",
    );
    fails_with(
        recur(&["render", "--input", s, "--out", d.join("x.gif").to_str().unwrap()]),
        "pictures are written as .svg or .png",
    );
}

#[test]
fn an_ensemble_trains_resumes_and_predicts_as_one_model() {
    let d = temp_dir("ensemble");
    let (data, model) = (d.join("data"), d.join("model"));
    let (data_s, model_s) = (data.to_str().unwrap(), model.to_str().unwrap());
    ok(recur(&["data", "synth", "--out", data_s, "--per-class", "30"]));
    let train = |extra: &[&str]| {
        let base = [
            "train",
            "--data",
            data_s,
            "--out",
            model_s,
            "--epochs",
            "2",
            "--ensemble",
            "2",
            "--quiet",
        ];
        recur(&[&base[..], extra].concat())
    };
    let first = ok(train(&[]));
    assert!(model.join("model.safetensors").is_file());
    assert!(model.join("members/1/model.safetensors").is_file());
    // A second member killed before it started is trained afresh by --resume; a finished one is kept.
    std::fs::remove_dir_all(model.join("members/1")).unwrap();
    let resumed = ok(train(&["--resume"]));
    assert_eq!(first, resumed, "same seeds, same members, same scores");

    let line = ok(recur(&[
        "eval", "--model", model_s, "--data", data_s, "--json", "--split", "all",
    ]));
    let r: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(r["n"], 360);
    let p = &predict_json(&model, &data.join("star.ndjson"), &[])[0];
    let total: f64 = p["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["probability"].as_f64().unwrap())
        .sum();
    assert!(total > 0.0 && total <= 1.0 + 1e-9, "{p}");

    // A member that disagrees with the first about the classes is refused by name.
    let config = model.join("members/1/config.json");
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("\"arrow\"", "\"dart\"");
    std::fs::write(&config, text).unwrap();
    fails_with(
        recur(&["eval", "--model", model_s, "--data", data_s]),
        "members/1 differs",
    );
}

/// Generated doodles (`per_class` of each class) in `d/data` and a one-epoch model trained on
/// them in `d/model`; returns the two folders and the training run's output.
fn doodles_and_model(d: &Path, per_class: &str, quiet: bool) -> (PathBuf, PathBuf, Output) {
    let (data, model) = (d.join("data"), d.join("model"));
    let (data_s, model_s) = (data.to_str().unwrap(), model.to_str().unwrap());
    ok(recur(&["data", "synth", "--out", data_s, "--per-class", per_class]));
    let base = ["train", "--data", data_s, "--out", model_s, "--epochs", "1"];
    let quiet: &[&str] = if quiet { &["--quiet"] } else { &[] };
    let trained = recur(&[&base[..], quiet].concat());
    (data, model, trained)
}

/// `recur eval --json` with `extra` arguments, parsed, with its stderr.
fn eval_json(model: &Path, data: &Path, extra: &[&str]) -> (serde_json::Value, String) {
    let base = [
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--json",
    ];
    let out = recur(&[&base[..], extra].concat());
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let line = ok(out);
    assert_eq!(line.lines().count(), 1, "stdout holds the JSON line only: {line}");
    (serde_json::from_str(line.trim()).unwrap(), stderr)
}

#[test]
fn eval_split_defaults_to_test_on_training_data_and_all_on_fresh_data() {
    let d = temp_dir("eval-split");
    let (data, model, trained) = doodles_and_model(&d, "30", true);
    ok(trained);
    assert!(model.join("training_keys.bin").is_file());

    // On the folder it was trained on, eval says how many drawings the model saw and scores
    // only the held-out test part.
    let (r, _) = eval_json(&model, &data, &[]);
    assert_eq!(r["split"], "test", "{r}");
    assert_eq!(r["given"], 360, "{r}");
    let seen = r["trained_on"].as_u64().unwrap();
    let test = r["n"].as_u64().unwrap();
    assert!(seen > 200 && test > 0 && test < 100, "{r}");
    let (v, _) = eval_json(&model, &data, &["--split", "validation"]);
    assert_eq!(v["split"], "validation");
    // The parts of the split cover the drawings once each.
    assert_eq!(seen + test + v["n"].as_u64().unwrap(), 360, "{r} {v}");
    assert_eq!(eval_json(&model, &data, &["--split", "test"]).0["n"], test);
    let (all, warning) = eval_json(&model, &data, &["--split", "all"]);
    assert_eq!((all["split"].as_str(), all["n"].as_u64()), (Some("all"), Some(360)));
    assert!(warning.contains("flatter it"), "{warning}");
    let (m, data_s) = (model.to_str().unwrap(), data.to_str().unwrap());
    let text = ok(recur(&["eval", "--model", m, "--data", data_s]));
    assert!(
        text.contains(&format!(
            "of 360 drawings given, {seen} were in the model's training part; scored: test (by default)"
        )),
        "{text}"
    );
    assert!(text.contains(&format!("{test} drawings (test): top-1")), "{text}");

    // Drawings it never saw are all scored.
    let fresh = d.join("fresh");
    let fresh_s = fresh.to_str().unwrap();
    ok(recur(&[
        "data",
        "synth",
        "--out",
        fresh_s,
        "--per-class",
        "5",
        "--seed",
        "2",
    ]));
    let (r, _) = eval_json(&model, &fresh, &[]);
    assert_eq!((r["split"].as_str(), r["n"].as_u64()), (Some("all"), Some(60)), "{r}");
    assert_eq!(r["trained_on"], 0);

    // A model that does not record what it was trained on is scored on everything, and says so.
    std::fs::remove_file(model.join("training_keys.bin")).unwrap();
    let (r, note) = eval_json(&model, &data, &[]);
    assert_eq!((r["split"].as_str(), r["n"].as_u64()), (Some("all"), Some(360)), "{r}");
    assert!(
        r["trained_on"].is_null() && note.contains("does not record"),
        "{r} {note}"
    );
    fails_with(
        recur(&["eval", "--model", m, "--data", data_s, "--split", "banana"]),
        "invalid value 'banana'",
    );
}

#[test]
fn train_writes_report_md_and_eval_report_writes_one() {
    let d = temp_dir("report");
    let (data, model, trained) = doodles_and_model(&d, "12", true);
    let scores = ok(trained);
    let report = std::fs::read_to_string(model.join("report.md")).unwrap();
    assert!(report.starts_with("# Sketch classifier report"), "{report}");
    assert!(
        report.contains("| drawings (test) |") && report.contains("(best epoch 1 of 1)"),
        "{report}"
    );
    // The report holds the scores train printed.
    let top1 = scores
        .split("top-1 ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    assert!(report.contains(&format!("| {top1} |")), "{top1} {report}");
    for picture in ["confusion.svg", "mistakes.svg"] {
        assert!(report.contains(&format!("]({picture})")), "{report}");
        assert!(std::fs::read_to_string(model.join(picture))
            .unwrap()
            .starts_with("<svg"));
    }

    let dir = d.join("eval-report");
    let (m, data_s, dir_s) = (model.to_str().unwrap(), data.to_str().unwrap(), dir.to_str().unwrap());
    let out = recur(&["eval", "--model", m, "--data", data_s, "--report", dir_s]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("report.md"));
    let printed = ok(out);
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(report.contains("scored: test (by default)"), "{report}");
    assert!(!report.contains("best epoch"), "eval knows no epochs: {report}");
    let top1 = printed
        .split("top-1 ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    assert!(report.contains(&format!("| {top1} |")), "{top1} {report}");
    assert!(dir.join("confusion.svg").is_file() && dir.join("mistakes.svg").is_file());
}

#[test]
fn phase_lines_appear_when_stderr_is_piped() {
    let d = temp_dir("phases");
    let (data, model, trained) = doodles_and_model(&d, "12", false);
    // Tests pipe stderr, as a log or CI does: no progress bar, so every phase says so in a line.
    let log = String::from_utf8_lossy(&trained.stderr).to_string();
    let scores = ok(trained);
    for line in [
        "reading 12 files…",
        "read 144 drawings from 12 files",
        "training on ",
        "epoch 1/1  loss ",
        "evaluating the test part (",
        "report: ",
    ] {
        assert!(log.contains(line), "no {line:?} in {log}");
    }
    assert!(
        !scores.contains("reading") && !scores.contains("epoch 1/1  loss"),
        "{scores}"
    );

    let (r, log) = eval_json(&model, &data, &[]);
    assert_eq!(r["split"], "test");
    for line in ["reading 12 files…", "evaluating "] {
        assert!(log.contains(line), "no {line:?} in {log}");
    }

    let (m, data_s) = (model.to_str().unwrap(), data.to_str().unwrap());
    let base = [
        "train", "--data", data_s, "--out", m, "--epochs", "1", "--force", "--quiet",
    ];
    let quiet = recur(&base);
    assert!(
        quiet.status.success() && quiet.stderr.is_empty(),
        "--quiet prints nothing: {quiet:?}"
    );
}
