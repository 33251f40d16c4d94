//! `recur fit`, `recur eval --test` and `recur run` on fitted models, end to end on small
//! generated data: a separable 3-class problem (.ts), a regression and a per-step tagging
//! (.npy); resuming; and clean errors for bad files and settings. One real-data check on
//! JapaneseVowels runs when the data set is present.

mod common;

use common::{fails_with, recur, shared_data, temp_dir};
use recur_core::Rng;
use std::fmt::Write;
use std::path::Path;
use std::process::Output;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "failed: {}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Two channels, 8–20 steps; class 0 a slow sine, 1 a fast sine, 2 a ramp; noisy.
fn classes_ts(n_per_class: usize, seed: u64, labels: [&str; 3]) -> String {
    let mut rng = Rng::new(seed);
    let mut text = format!(
        "# generated\n@problemName Synth\n@univariate false\n@dimensions 2\n@equalLength false\n@classLabel true {}\n@data\n",
        labels.join(" ")
    );
    for i in 0..3 * n_per_class {
        let c = i % 3;
        let len = 8 + rng.below(13);
        let phase = rng.uniform() * 6.0;
        let value = |t: usize| match c {
            0 => (t as f64 * 0.3 + phase).sin(),
            1 => (t as f64 * 1.7 + phase).sin(),
            _ => t as f64 / len as f64 * 2.0 - 1.0,
        };
        let chan = |rng: &mut Rng, scale: f64| -> String {
            (0..len)
                .map(|t| format!("{:.4}", 5.0 + scale * value(t) + 0.1 * rng.normal()))
                .collect::<Vec<_>>()
                .join(",")
        };
        let (a, b) = (chan(&mut rng, 3.0), chan(&mut rng, -1.0));
        let _ = writeln!(text, "{a}:{b}:{}", labels[c]);
    }
    text
}

fn npy(path: &Path, descr: &str, shape: &[usize], body: Vec<u8>) {
    std::fs::write(path, recur_data::npy::npy_bytes(descr, shape, &body)).unwrap();
}

fn f32s(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn i64s(v: &[i64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// `n` random walks [n, 12, 1] with lengths 6..=12; returns (x, lengths).
fn walks(n: usize, seed: u64) -> (Vec<f32>, Vec<i64>) {
    let mut rng = Rng::new(seed);
    let (mut x, mut lengths) = (vec![0f32; n * 12], Vec::new());
    for i in 0..n {
        let len = 6 + rng.below(7);
        for t in 0..len {
            x[i * 12 + t] = rng.normal() as f32;
        }
        lengths.push(len as i64);
    }
    (x, lengths)
}

fn json_of(stdout: &str) -> serde_json::Value {
    assert_eq!(stdout.trim().lines().count(), 1, "one line of JSON: {stdout}");
    serde_json::from_str(stdout.trim()).unwrap()
}

const QUICK: [&str; 6] = ["--threads", "1", "--quiet", "--batch-size", "8", "--lr"];

fn fit(args: &[&str], epochs: &str) -> Output {
    let mut all = vec!["fit"];
    all.extend_from_slice(args);
    all.extend_from_slice(&QUICK);
    all.extend_from_slice(&["0.01", "--epochs", epochs]);
    recur(&all)
}

/// `recur fit` with the defaults' training settings (`auto` then picks the ridge solver for
/// a classifier), on one thread.
fn fit_default(args: &[&str]) -> Output {
    recur(&[&["fit"][..], args, &["--threads", "1", "--quiet"]].concat())
}

#[test]
fn fit_classifier_from_ts_learns_evaluates_and_runs() {
    let d = temp_dir("fit-classes");
    let (train, test, m) = (d.join("train.ts"), d.join("test.ts"), d.join("m"));
    std::fs::write(&train, classes_ts(20, 1, ["slow", "fast", "ramp"])).unwrap();
    // The test file lists its classes in another order: they are matched by name.
    std::fs::write(
        &test,
        classes_ts(10, 2, ["slow", "fast", "ramp"]).replace("true slow fast ramp", "true ramp slow fast"),
    )
    .unwrap();
    let out = ok(fit_default(&["--train", s(&train), "--out", s(&m)]));
    for f in ["config.json", "model.safetensors", "history.json"] {
        assert!(m.join(f).is_file(), "{f} missing");
    }
    // The default classifier is fitted in closed form: one record, the leave-one-out figures,
    // no learning curve to draw.
    assert!(
        out.contains("ridge fitted in closed form") && out.contains("loo_accuracy"),
        "{out}"
    );
    assert!(!m.join("learning_curve.png").exists());
    // An ensemble of ridge fits is scored by leave-one-out as a whole.
    let out = ok(fit_default(&[
        "--train",
        s(&train),
        "--out",
        s(&d.join("ens")),
        "--ensemble",
        "2",
    ]));
    assert!(out.contains("member 1 of 2; the ensemble's loo_accuracy"), "{out}");
    // Distorted training sequences still learn the classes.
    let augmented = d.join("augmented");
    let args = [
        "--train",
        s(&train),
        "--out",
        s(&augmented),
        "--solver",
        "gradient",
        "--augment-crop",
        "0.2",
    ];
    ok(fit(
        &[&args[..], &["--augment-scale", "0.1", "--augment-jitter", "0.05"]].concat(),
        "12",
    ));
    let e = json_of(&ok(recur(&[
        "eval",
        "--model",
        s(&augmented),
        "--test",
        s(&test),
        "--json",
    ])));
    let acc = e["accuracy"].as_f64().unwrap();
    assert!(acc > 0.9, "test accuracy with augmentation {acc}");
    let e = json_of(&ok(recur(&[
        "eval",
        "--model",
        s(&m),
        "--test",
        s(&test),
        "--json",
        "--confusion",
        s(&d.join("c.png")),
    ])));
    let acc = e["accuracy"].as_f64().unwrap();
    assert!(acc > 0.9, "test accuracy {acc}");
    // The ridge scores are calibrated: right guesses are confident ones, while a softmax of
    // raw scores near ±1 gives the right class about e / (e + 2/e) = 0.79, 0.24 nats, at best.
    let loss = e["loss"].as_f64().unwrap();
    assert!(loss < 0.2, "ridge classifier's test cross-entropy {loss}");
    assert_eq!(e["n"], 30);
    assert!(e["per_class"]["ramp"].as_f64().is_some() && d.join("c.png").is_file());

    let out = ok(recur(&[
        "run",
        "--model",
        s(&m),
        "--input",
        s(&test),
        "--output",
        s(&d.join("p.npy")),
        "--labels",
    ]));
    let labels: Vec<&str> = out.lines().collect();
    assert_eq!(labels.len(), 30);
    assert!(labels.iter().all(|l| ["slow", "fast", "ramp"].contains(l)), "{out}");
    let p = recur_data::npy::read_npy(&d.join("p.npy")).unwrap();
    assert_eq!(p.shape, vec![30, 3]);

    // Unknown test labels are refused by name.
    let bad = d.join("bad.ts");
    std::fs::write(&bad, classes_ts(2, 3, ["slow", "fast", "wiggle"])).unwrap();
    fails_with(
        recur(&["eval", "--model", s(&m), "--test", s(&bad)]),
        "labels the model does not know: wiggle",
    );
    // A second run into the same folder needs --resume or --force.
    fails_with(
        fit(&["--train", s(&train), "--out", s(&m)], "2"),
        "already holds a model",
    );
}

#[test]
fn fit_regression_and_tagging_from_npy() {
    let d = temp_dir("fit-npy");
    let (x, lengths) = walks(160, 5);
    let (xp, lp) = (d.join("x.npy"), d.join("l.npy"));
    npy(&xp, "<f4", &[160, 12, 1], f32s(&x));
    npy(&lp, "<i8", &[160], i64s(&lengths));
    // Regression: 10 + 3 × the mean of the walk's steps.
    let y: Vec<f32> = (0..160)
        .map(|i| {
            let l = lengths[i] as usize;
            10.0 + 3.0 * x[i * 12..i * 12 + l].iter().sum::<f32>() / l as f32
        })
        .collect();
    npy(&d.join("y.npy"), "<f4", &[160], f32s(&y));
    let (m, yp) = (d.join("reg"), d.join("y.npy"));
    let data = ["--x", s(&xp), "--lengths", s(&lp), "--y", s(&yp)];
    ok(fit(&[&data[..], &["--out", s(&m)]].concat(), "25"));
    let e = json_of(&ok(recur(
        &[&["eval", "--model", s(&m), "--json"][..], &data[..]].concat(),
    )));
    let spread = {
        let mean = y.iter().sum::<f32>() / y.len() as f32;
        (y.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / y.len() as f32).sqrt() as f64
    };
    let rmse = e["rmse"].as_f64().unwrap();
    assert!(
        e["mae"].as_f64().is_some() && rmse < 0.6 * spread,
        "rmse {rmse}, spread {spread}"
    );

    // Per-step tagging: is the walk above zero at this step.
    let tags: Vec<i64> = x.iter().map(|&v| i64::from(v > 0.0)).collect();
    npy(&d.join("t.npy"), "<i8", &[160, 12], i64s(&tags));
    let (m, tp) = (d.join("tag"), d.join("t.npy"));
    let data = ["--x", s(&xp), "--lengths", s(&lp), "--y", s(&tp)];
    ok(fit(&[&data[..], &["--out", s(&m)]].concat(), "10"));
    let e = json_of(&ok(recur(
        &[&["eval", "--model", s(&m), "--json"][..], &data[..]].concat(),
    )));
    let acc = e["accuracy"].as_f64().unwrap();
    assert!(acc > 0.85, "per-step accuracy {acc}");
    assert_eq!(e["n"], lengths.iter().sum::<i64>());
    // Per-step targets cannot be cut with their sequences.
    fails_with(
        fit(
            &[&data[..], &["--out", s(&d.join("cut")), "--augment-crop", "0.1"]].concat(),
            "1",
        ),
        "augment_crop and augment_time_jitter move steps",
    );
    fails_with(
        fit(
            &[&data[..], &["--out", s(&d.join("ridge")), "--solver", "ridge"]].concat(),
            "1",
        ),
        "the ridge solver needs one target per sequence",
    );

    // Labels outside the model's classes.
    let mut far = tags.clone();
    far[0] = 7;
    npy(&d.join("far.npy"), "<i8", &[160, 12], i64s(&far));
    fails_with(
        recur(&[
            "eval",
            "--model",
            s(&m),
            "--x",
            s(&xp),
            "--lengths",
            s(&lp),
            "--y",
            s(&d.join("far.npy")),
        ]),
        "labels the model does not know: 7",
    );
}

#[test]
fn fit_resume_continues_the_history() {
    let d = temp_dir("fit-resume");
    let (train, m) = (d.join("train.ts"), d.join("m"));
    std::fs::write(&train, classes_ts(8, 4, ["a", "b", "c"])).unwrap();
    ok(fit(
        &["--train", s(&train), "--out", s(&m), "--solver", "gradient"],
        "2",
    ));
    // A ridge fit keeps no checkpoint: --resume continues the gradient run whatever the default
    // solver, and refuses --solver ridge.
    fails_with(
        fit(
            &["--train", s(&train), "--out", s(&m), "--resume", "--solver", "ridge"],
            "4",
        ),
        "the ridge solver keeps no checkpoint",
    );
    ok(fit(&["--train", s(&train), "--out", s(&m), "--resume"], "4"));
    let h: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(m.join("history.json")).unwrap()).unwrap();
    let epochs: Vec<u64> = h["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["epoch"].as_u64().unwrap())
        .collect();
    assert_eq!(epochs, vec![1, 2, 3, 4]);

    // The initialisers are training knobs, recorded with the model.
    let init = d.join("init");
    let knobs = [
        "--kernel-init",
        "he_normal",
        "--recurrent-init",
        "glorot_uniform",
        "--forget-bias",
        "2",
    ];
    ok(fit(
        &[
            &["--train", s(&train), "--out", s(&init), "--solver", "gradient"],
            &knobs[..],
        ]
        .concat(),
        "1",
    ));
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(init.join("config.json")).unwrap()).unwrap();
    let training = &config["metadata"]["fit"]["training"];
    assert_eq!(training["kernel_init"], "he_normal", "{config}");
    assert_eq!(training["forget_bias"], 2.0);

    // Without a validation part the last epoch is kept.
    let all = d.join("all");
    ok(fit(
        &[
            "--train",
            s(&train),
            "--out",
            s(&all),
            "--val-split",
            "0",
            "--solver",
            "gradient",
        ],
        "3",
    ));
    let h: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(all.join("history.json")).unwrap()).unwrap();
    assert_eq!(h["best_epoch"], 3);

    // --force starts over, removing only what a fit wrote: the user's own files stay.
    std::fs::write(m.join("notes.txt"), "mine").unwrap();
    ok(fit(
        &["--train", s(&train), "--out", s(&m), "--force", "--solver", "gradient"],
        "1",
    ));
    assert_eq!(std::fs::read_to_string(m.join("notes.txt")).unwrap(), "mine");
    let h: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(m.join("history.json")).unwrap()).unwrap();
    assert_eq!(h["epochs"].as_array().unwrap().len(), 1, "a forced run starts afresh");
}

#[test]
fn fit_bad_input_and_settings_are_clear_errors() {
    let d = temp_dir("fit-bad");
    let (train, m) = (d.join("train.ts"), d.join("m"));
    std::fs::write(&train, classes_ts(4, 6, ["a", "b", "c"])).unwrap();
    let bad = d.join("bad.ts");
    std::fs::write(&bad, "@problemName x\n@classLabel true a b\n@data\n1,2,x:a\n").unwrap();
    fails_with(fit(&["--train", s(&bad), "--out", s(&m)], "1"), "line 4");
    // Settings out of range or unknown, each named.
    let refused: [(&[&str], &str); 7] = [
        (&["--optimizer", "adagrad"], "unknown variant `adagrad`"),
        (&["--val-split", "1.5"], "val_split must be in [0, 1)"),
        (&["--kernel-init", "zeros"], "unknown variant `zeros`"),
        (&["--augment-crop", "1"], "augment_crop must be in [0, 1)"),
        (&["--augment-jitter=-0.1"], "augment_jitter must be at least 0"),
        (&["--loss", "mse"], "needs value targets"),
        (&["--monitor", "val_mae"], "cannot monitor `val_mae`"),
    ];
    for (option, message) in refused {
        let args = [&["--train", s(&train), "--out", s(&m)][..], option].concat();
        fails_with(fit(&args, "1"), message);
    }
    let config = d.join("c.json");
    std::fs::write(
        &config,
        r#"{"layers": [{"type": "gru", "units": 4}, {"type": "dense", "units": 5}], "training": {"learning_rate": 1}}"#,
    )
    .unwrap();
    fails_with(
        fit(&["--train", s(&train), "--out", s(&m), "--config", s(&config)], "1"),
        "unknown field `learning_rate`",
    );
    std::fs::write(
        &config,
        r#"{"layers": [{"type": "gru", "units": 4}, {"type": "dense", "units": 5}]}"#,
    )
    .unwrap();
    fails_with(
        fit(&["--train", s(&train), "--out", s(&m), "--config", s(&config)], "1"),
        "the last layer gives 5 outputs",
    );
    // The ridge solver fits a last dense layer after layers with nothing to train.
    let gru = d.join("gru.json");
    std::fs::write(
        &gru,
        r#"{"layers": [{"type": "gru", "units": 4}, {"type": "dense", "units": 3}]}"#,
    )
    .unwrap();
    fails_with(
        fit(
            &[
                "--train",
                s(&train),
                "--out",
                s(&m),
                "--config",
                s(&gru),
                "--solver",
                "ridge",
            ],
            "1",
        ),
        "the layers before it have weights to train",
    );
    // x must be floating point.
    npy(&d.join("x.npy"), "<i8", &[2, 3], i64s(&[1, 2, 3, 4, 5, 6]));
    npy(&d.join("y.npy"), "<i8", &[2], i64s(&[0, 1]));
    fails_with(
        fit(
            &["--x", s(&d.join("x.npy")), "--y", s(&d.join("y.npy")), "--out", s(&m)],
            "1",
        ),
        "x.npy",
    );
    fails_with(fit(&["--x", s(&d.join("x.npy")), "--out", s(&m)], "1"), "--x needs --y");
    // A negative class label.
    npy(&d.join("xf.npy"), "<f4", &[2, 3], f32s(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
    npy(&d.join("neg.npy"), "<i8", &[2], i64s(&[0, -1]));
    fails_with(
        fit(
            &[
                "--x",
                s(&d.join("xf.npy")),
                "--y",
                s(&d.join("neg.npy")),
                "--out",
                s(&m),
            ],
            "1",
        ),
        "neg.npy",
    );
    assert!(!m.join("config.json").exists());
}

/// `recur fit` with only `--train` and `--out` (MiniRocket's kernels with a ridge head) comes
/// within 3 points of MiniRocket on the archive sets' official test files (the issue's bars),
/// on the mean of three seeds: one test series more or less moves a single score by 2 points
/// on PickupGestureWiimoteZ.
#[test]
fn fit_default_on_archive_sets_is_within_three_points_of_minirocket() {
    let sets = [
        ("uea_japanese_vowels", "JapaneseVowels", 0.957),
        ("ucr_pickup_gesture_wiimote_z", "PickupGestureWiimoteZ", 0.837),
        ("ucr_plaid", "PLAID", 0.925),
    ];
    for (folder, name, bar) in sets {
        let Some(dir) = shared_data(folder) else {
            continue;
        };
        let (train, test) = (
            dir.join(format!("{name}_TRAIN.ts")),
            dir.join(format!("{name}_TEST.ts")),
        );
        let mut sum = 0.0;
        for seed in ["1", "2", "3"] {
            let scratch = temp_dir(&format!("fit-{name}-{seed}"));
            let m = scratch.join("m");
            let args = [
                "fit",
                "--train",
                s(&train),
                "--out",
                s(&m),
                "--seed",
                seed,
                "--threads",
                "2",
                "--quiet",
            ];
            ok(recur(&args));
            let e = json_of(&ok(recur(&["eval", "--model", s(&m), "--test", s(&test), "--json"])));
            sum += e["accuracy"].as_f64().unwrap();
        }
        let mean = sum / 3.0;
        assert!(mean >= bar, "{name} mean test accuracy {mean} below {bar}");
    }
}

/// A config sized for the data's raw channels is told that the per-sequence standardisation
/// doubles them, and which flag feeds them alone; with that flag it trains.
#[test]
fn fit_config_for_raw_channels_is_told_what_sequence_norm_adds() {
    let d = temp_dir("fit-seqnorm");
    let (train, m, config) = (d.join("train.ts"), d.join("m"), d.join("c.json"));
    std::fs::write(&train, classes_ts(4, 6, ["a", "b", "c"])).unwrap();
    std::fs::write(
        &config,
        r#"{"input_size": 2, "layers": [{"type": "gru", "units": 4}, {"type": "dense", "units": 3}]}"#,
    )
    .unwrap();
    let args = ["--train", s(&train), "--out", s(&m), "--config", s(&config)];
    fails_with(
        fit(&args, "1"),
        "takes 2 features per step, but the data gives 4 (its 2 channels, and each again standardised within its sequence",
    );
    fails_with(fit(&args, "1"), "`--sequence-norm off` feeds the 2 alone");
    ok(fit(&[&args[..], &["--sequence-norm", "off"]].concat(), "1"));
}

/// `--epochs` (or any setting of gradient training) means gradient training: `auto` trains by
/// gradient and says so first, while `--solver ridge` with it is refused naming the flags.
#[test]
fn fit_epochs_with_the_auto_solver_trains_by_gradient_and_says_so() {
    let d = temp_dir("fit-solver-choice");
    let (train, m) = (d.join("train.ts"), d.join("m"));
    std::fs::write(&train, classes_ts(6, 8, ["a", "b", "c"])).unwrap();
    let first_line = |o: &Output| stderr(o).lines().next().unwrap_or_default().to_string();
    let args = ["fit", "--train", s(&train), "--out", s(&m), "--threads", "1"];
    let chosen = recur(&[&args[..], &["--epochs", "2", "--lr", "0.01"]].concat());
    let line = first_line(&chosen);
    ok(chosen);
    assert!(
        line.starts_with(
            "gradient training (as --lr, --epochs asks; without it, `auto` would fit MiniRocket's features by ridge)"
        ),
        "{line}"
    );
    assert!(line.contains("train.ts: 18 sequences, 2 channels"), "{line}");
    let history = std::fs::read_to_string(m.join("history.json")).unwrap();
    let history: serde_json::Value = serde_json::from_str(&history).unwrap();
    assert_eq!(history["epochs"].as_array().map(Vec::len), Some(2), "{history}");
    let ridge = recur(&[&args[..], &["--force"]].concat());
    let line = first_line(&ridge);
    ok(ridge);
    assert!(line.starts_with("ridge solver (MiniRocket features"), "{line}");
    fails_with(
        recur(&[&args[..], &["--force", "--solver", "ridge", "--epochs", "2"]].concat()),
        "the ridge solver does not use --epochs (settings of gradient training): drop them, or train by \
         gradient with --solver gradient",
    );
}

/// `summary` showed 24 inputs for 12-channel data without saying why, and `summary --config`
/// could not read a fit config (no `input_size`): both now say what the encoding adds.
#[test]
fn summary_of_a_fit_model_and_config_says_what_the_encoding_adds() {
    let d = temp_dir("fit-summary");
    let (train, m, config) = (d.join("train.ts"), d.join("m"), d.join("c.json"));
    std::fs::write(&train, classes_ts(4, 9, ["a", "b", "c"])).unwrap();
    std::fs::write(
        &config,
        r#"{"layers": [{"type": "gru", "units": 4}, {"type": "dense", "units": 3}], "training": {"epochs": 1}}"#,
    )
    .unwrap();
    ok(fit(
        &["--train", s(&train), "--out", s(&m), "--config", s(&config)],
        "1",
    ));
    let said = "input: 4 features per step: its 2 channels, and each again standardised within its sequence";
    let out = ok(recur(&["summary", "--model", s(&m)]));
    assert!(out.contains("(batch, time, 4)") && out.contains(said), "{out}");
    fails_with(
        recur(&["summary", "--config", s(&config)]),
        "has no input_size: a `recur fit` config takes it from the data; give --channels N",
    );
    // A bad channel count names the file once, with one "model config:" before it.
    let zero = recur(&["summary", "--config", s(&config), "--channels", "0"]);
    assert!(
        !stderr(&zero).contains("model config: model config"),
        "{}",
        stderr(&zero)
    );
    fails_with(zero, "c.json: input_size must be at least 1");
    let out = ok(recur(&["summary", "--config", s(&config), "--channels", "2"]));
    assert!(out.contains(said), "{out}");
}
