//! The `recur` binary end to end: init → summary → run, and clear errors (never a panic) on
//! bad configs, arrays and checkpoints.

mod common;

use common::{fails_with, recur, temp_dir};
use std::path::Path;
use std::process::Output;

fn npy(path: &Path, descr: &str, shape: &[usize], body: &[u8]) {
    std::fs::write(path, recur_data::npy::npy_bytes(descr, shape, body)).unwrap();
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

const CONFIG: &str = r#"{"input_size": 2, "layers": [{"type": "conv1d", "filters": 4, "kernel_size": 3, "padding": "same", "activation": "relu"},
  {"type": "lstm", "units": 5, "return_sequences": true, "bidirectional": true}, {"type": "dense", "units": 3}]}"#;

#[test]
fn init_summary_run() {
    let d = temp_dir("ok");
    std::fs::write(d.join("c.json"), CONFIG).unwrap();
    let m = d.join("model");
    let o = recur(&[
        "init",
        "--config",
        d.join("c.json").to_str().unwrap(),
        "--out",
        m.to_str().unwrap(),
        "--seed",
        "4",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = recur(&["summary", "--model", m.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("bidirectional(lstm)") && text.contains("(batch, time, 10)"),
        "{text}"
    );

    let x: Vec<u8> = (0..2 * 4 * 2).flat_map(|i| (i as f32 * 0.1).to_le_bytes()).collect();
    npy(&d.join("x.npy"), "<f4", &[2, 4, 2], &x);
    let l: Vec<u8> = [4i64, 2].iter().flat_map(|v| v.to_le_bytes()).collect();
    npy(&d.join("l.npy"), "<i8", &[2], &l);
    let (xs, ls, ys) = (d.join("x.npy"), d.join("l.npy"), d.join("y.npy"));
    let o = recur(&[
        "run",
        "--model",
        m.to_str().unwrap(),
        "--input",
        xs.to_str().unwrap(),
        "--lengths",
        ls.to_str().unwrap(),
        "--output",
        ys.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let y = std::fs::read(&ys).unwrap();
    let body: Vec<f32> = y[y.len() - 2 * 4 * 3 * 4..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert!(body[..12].iter().all(|v| *v != 0.0), "real steps have output");
    assert!(
        body[12 + 6..].iter().all(|v| *v == 0.0),
        "padded steps of sequence 1 are zero"
    );

    // Refuses to overwrite a model without --force.
    fails_with(
        recur(&[
            "init",
            "--config",
            d.join("c.json").to_str().unwrap(),
            "--out",
            m.to_str().unwrap(),
        ]),
        "--force",
    );
}

#[test]
fn bad_input_gets_clear_errors() {
    let d = temp_dir("bad");
    let path = |n: &str| d.join(n).to_str().unwrap().to_string();
    // `recur run` on model `m` with the given input (and lengths), output `y.npy`.
    let run = |input: &str, lengths: Option<&str>| {
        let mut args = vec![
            "run".to_string(),
            "--model".into(),
            path("m"),
            "--input".into(),
            path(input),
        ];
        if let Some(l) = lengths {
            args.extend(["--lengths".into(), path(l)]);
        }
        args.extend(["--output".into(), path("y.npy")]);
        recur(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    std::fs::write(
        d.join("unknown.json"),
        r#"{"input_size": 2, "layers": [{"type": "lstmm", "units": 3}]}"#,
    )
    .unwrap();
    fails_with(
        recur(&["init", "--config", &path("unknown.json"), "--out", &path("m1")]),
        "unknown variant `lstmm`",
    );
    std::fs::write(
        d.join("missing.json"),
        r#"{"input_size": 2, "layers": [{"type": "dense"}]}"#,
    )
    .unwrap();
    fails_with(
        recur(&["summary", "--config", &path("missing.json")]),
        "missing field `units`",
    );
    fails_with(recur(&["summary", "--config", &path("nope.json")]), "nope.json");

    std::fs::write(d.join("c.json"), CONFIG).unwrap();
    assert!(recur(&["init", "--config", &path("c.json"), "--out", &path("m")])
        .status
        .success());
    let x64: Vec<u8> = (0..8).flat_map(|i| (i as f64).to_le_bytes()).collect();
    npy(&d.join("x64.npy"), "<f8", &[1, 4, 2], &x64);
    fails_with(run("x64.npy", None), "input must be float32, found float64");
    let x: Vec<u8> = (0..9).flat_map(|i| (i as f32).to_le_bytes()).collect();
    npy(&d.join("x3.npy"), "<f4", &[1, 3, 3], &x);
    fails_with(run("x3.npy", None), "takes 2 features per step, the input has 3");
    let mut nan: Vec<u8> = (0..8).flat_map(|i| (i as f32).to_le_bytes()).collect();
    nan[4..8].copy_from_slice(&f32::NAN.to_le_bytes());
    npy(&d.join("nan.npy"), "<f4", &[1, 4, 2], &nan);
    fails_with(run("nan.npy", None), "non-finite value");
    let l: Vec<u8> = 9i64.to_le_bytes().to_vec();
    npy(&d.join("l.npy"), "<i8", &[1], &l);
    let ok: Vec<u8> = (0..8).flat_map(|i| (i as f32).to_le_bytes()).collect();
    npy(&d.join("x.npy"), "<f4", &[1, 4, 2], &ok);
    fails_with(run("x.npy", Some("l.npy")), "length 9 of sequence 0");
    assert!(!d.join("y.npy").exists(), "nothing written on failure");

    let w = d.join("m/model.safetensors");
    let bytes = std::fs::read(&w).unwrap();
    std::fs::write(&w, &bytes[..bytes.len() - 10]).unwrap();
    fails_with(run("x.npy", None), "not a readable safetensors file");
}

/// `eval --model DIR` on a folder without `config.json` said "No such file or directory (os
/// error 2)" twice: the I/O errors put the system's reason in their message and also returned
/// it as their source. Each file a command misses is named with the reason once.
#[test]
fn missing_file_says_the_os_reason_once() {
    let d = temp_dir("missing");
    let absent = d.join("absent");
    let absent = absent.to_str().unwrap();
    let reason = "No such file or directory";
    let commands: [&[&str]; 5] = [
        &["eval", "--model", absent, "--data", absent],
        &["summary", "--model", absent],
        &["run", "--model", absent, "--input", absent, "--output", absent],
        &["seq2seq", "predict", "--model", absent, "--input", absent],
        &["summary", "--config", absent],
    ];
    for args in commands {
        let o = recur(args);
        let e = stderr(&o);
        assert_eq!(e.matches(reason).count(), 1, "{args:?}: {e}");
        fails_with(o, reason);
    }
}

/// `--epochs 0` trained nothing: `recur train` exited 0 with a report and no model, `forecast`
/// printed an untrained model's forecasts and `demo` succeeded. Every training command
/// refuses it, the same way, before any work.
#[test]
fn epochs_zero_is_refused_by_every_training_command() {
    let d = temp_dir("epochs-zero");
    let out = d.join("out");
    let out = out.to_str().unwrap();
    let commands: [&[&str]; 5] = [
        &["train", "--data", out, "--out", out],
        &["demo", "--out", out],
        &["forecast", "--model", "linear", "--out", out],
        &["fit", "--train", out, "--out", out],
        &["seq2seq", "train", "--out", out],
    ];
    for args in commands {
        let args = [args, &["--epochs", "0"][..]].concat();
        fails_with(recur(&args), "'--epochs <EPOCHS>': must be a whole number, at least 1");
        assert!(!Path::new(out).exists(), "{args:?} wrote {out}");
    }
}

/// `--lr -1` was clap's "unexpected argument '-1'"; let through, a negative value meets the
/// check that says what the setting takes, in every command.
#[test]
fn negative_lr_is_a_value_error_not_a_parse_error() {
    let d = temp_dir("negative");
    let out = d.join("out");
    let out = out.to_str().unwrap();
    let refused: [(&[&str], &str); 6] = [
        (
            &["fit", "--train", out, "--out", out, "--lr", "-1"],
            "must be a positive number, got -1",
        ),
        (
            &["train", "--data", out, "--out", out, "--lr", "-1"],
            "'--lr <LR>': must be a positive number",
        ),
        (&["forecast", "--lr", "-1"], "'--lr <LR>': must be a positive number"),
        (
            &["seq2seq", "train", "--out", out, "--lr", "-1"],
            "'--lr <LR>': must be a positive number",
        ),
        (
            &["seq2seq", "train", "--out", out, "--clip", "-1"],
            "'--clip <CLIP>': must be a positive number",
        ),
        (
            &["train", "--data", out, "--out", out, "--label-smoothing", "-0.1"],
            "must be in [0, 1)",
        ),
    ];
    for (args, message) in refused {
        let o = recur(args);
        assert!(!stderr(&o).contains("unexpected argument"), "{args:?}: {}", stderr(&o));
        fails_with(o, message);
    }
}

/// `--epochs -1`, `--top -1` or `--ensemble 2.5` were met by Rust's "invalid digit found in
/// string"; every count and seed says what it takes.
#[test]
fn negative_counts_are_told_what_the_option_takes() {
    let cases: [(&[&str], &str); 5] = [
        (
            &["fit", "--train", "x", "--out", "y", "--epochs", "-1"],
            "must be a whole number, at least 1",
        ),
        (
            &["fit", "--train", "x", "--out", "y", "--ensemble", "2.5"],
            "must be a whole number, 0 or more",
        ),
        (
            &["predict", "--model", "m", "--input", "i", "--top", "-1"],
            "must be a whole number, 0 or more",
        ),
        (
            &["forecast", "--batch-size", "-3"],
            "'--batch-size <BATCH_SIZE>': must be a whole number",
        ),
        (&["seq2seq", "train", "--seed", "99999999999999999999"], "is too large"),
    ];
    for (args, message) in cases {
        let o = recur(args);
        assert!(!stderr(&o).contains("invalid digit"), "{args:?}: {}", stderr(&o));
        fails_with(o, message);
    }
}

/// `--clip-norm 1 --clip-value 1` was accepted and one of them silently ignored.
#[test]
fn clip_norm_and_clip_value_conflict() {
    let d = temp_dir("clip");
    let out = d.join("out");
    let out = out.to_str().unwrap();
    for extra in [&["--clip-value", "1"][..], &["--no-clip"]] {
        let args = [&["fit", "--train", out, "--out", out, "--clip-norm", "1"][..], extra].concat();
        fails_with(recur(&args), "cannot be used with");
    }
}

/// Settings out of range (`training.epochs` 0 in a config, `--train-until` outside the data,
/// `holidays:FR`) said "model config:", sending the user to a file that was fine.
#[test]
fn setting_errors_are_not_labelled_model_config() {
    let d = temp_dir("setting-label");
    let path = |n: &str| d.join(n).to_str().unwrap().to_string();
    std::fs::write(
        d.join("c.json"),
        r#"{"layers": [{"type": "gru", "units": 4}, {"type": "dense", "units": 2}], "training": {"epochs": 0}}"#,
    )
    .unwrap();
    let mut ts = String::from("@problemName x\n@univariate true\n@equalLength true\n@classLabel true a b\n@data\n");
    for i in 0..8 {
        ts += &format!("1,2,3,{i}:{}\n", ["a", "b"][i % 2]);
    }
    std::fs::write(d.join("t.ts"), ts).unwrap();
    let mut csv = String::from("date,value\n");
    for day in 1..=28 {
        csv += &format!("2019-02-{day:02},{day}\n");
    }
    std::fs::write(d.join("s.csv"), csv).unwrap();
    let cases: [(Vec<String>, &str); 3] = [
        (
            [
                "fit",
                "--train",
                &path("t.ts"),
                "--out",
                &path("m"),
                "--config",
                &path("c.json"),
            ]
            .map(String::from)
            .to_vec(),
            "training: epochs must be at least 1",
        ),
        (
            [
                "forecast",
                "--csv",
                &path("s.csv"),
                "--train-until",
                "2030-01-01",
                "--test-until",
                "2030-02-01",
            ]
            .map(String::from)
            .to_vec(),
            "--train-until 2030-01-01 is outside the data",
        ),
        (
            ["forecast", "--covariates", "holidays:FR", "--epochs", "1"]
                .map(String::from)
                .to_vec(),
            "no public holidays known for `FR`",
        ),
    ];
    for (args, message) in cases {
        let o = recur(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(!stderr(&o).contains("model config"), "{args:?}: {}", stderr(&o));
        fails_with(o, message);
    }
}

/// The top-level help called `eval` a sketch scorer; it scores `recur fit` models too.
#[test]
fn top_level_help_says_what_eval_scores() {
    let o = recur(&["--help"]);
    let help = String::from_utf8_lossy(&o.stdout);
    let eval = help.lines().find(|l| l.trim_start().starts_with("eval ")).unwrap();
    assert!(
        eval.contains("sketch classifier") && eval.contains("`recur fit` model"),
        "{eval}"
    );
}

/// `recur fit … --out new --resume` trained from scratch without a word; `seq2seq train
/// --resume` refused only after generating its data, as a "model config" error. Each training
/// command refuses it first, before reading any data (here: none exists).
#[test]
fn resume_with_nothing_to_resume_is_refused_first() {
    let d = temp_dir("nothing-to-resume");
    let (out, data) = (d.join("new"), d.join("absent"));
    let (out, data) = (out.to_str().unwrap(), data.to_str().unwrap());
    let commands: [&[&str]; 3] = [
        &["fit", "--train", data, "--out", out, "--resume"],
        &["train", "--data", data, "--out", out, "--resume"],
        &["seq2seq", "train", "--out", out, "--resume"],
    ];
    for args in commands {
        let o = recur(args);
        let e = stderr(&o);
        assert!(
            !e.contains("model config") && !e.contains("date pairs"),
            "{args:?}: {e}"
        );
        fails_with(o, &format!("nothing to resume in {out}: it holds no checkpoint"));
        assert!(!Path::new(out).exists(), "{args:?} wrote {out}");
    }
}
