//! Regression tests for what a hostile-input sweep found in the binary: each now ends with a
//! clear `error:` line (or quietly, for a closed pipe), never a panic, a runaway allocation or a
//! write outside the folder asked for.

mod common;

use common::{fails_with, recur, temp_dir};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};

const SMALL: &str = r#"{"input_size": 3, "layers": [{"type": "gru", "units": 8}, {"type": "dense", "units": 12}]}"#;

fn ok(o: std::process::Output) -> String {
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success() && !e.contains("panicked"), "failed: {e}");
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Generated doodles and a small classifier trained on them for one epoch in `out`.
fn small_model(d: &Path, out: &Path) {
    let (data, config) = (d.join("data"), d.join("small.json"));
    std::fs::write(&config, SMALL).unwrap();
    if !data.exists() {
        ok(recur(&["data", "synth", "--out", s(&data), "--per-class", "200"]));
    }
    ok(recur(&[
        "train",
        "--data",
        s(&data),
        "--out",
        s(out),
        "--config",
        s(&config),
        "--epochs",
        "1",
        "--quiet",
        "--force",
    ]));
}

/// Runs recur, reads the first line of its output and closes the pipe, as `| head -1` does;
/// recur must still end successfully and without a panic.
fn read_one_line_then_close(args: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_recur"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let o = child.wait_with_output().unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && !e.contains("panicked"),
        "{args:?}: {:?}: {e}",
        o.status
    );
    first
}

/// `recur train --force` used to delete the whole `--out` folder (`--out .` wiped the folder).
#[test]
fn train_force_removes_only_what_recur_wrote() {
    let d = temp_dir("force");
    std::fs::write(d.join("notes.txt"), "mine").unwrap();
    small_model(&d, &d);
    assert!(d.join("config.json").is_file() && d.join("data/star.ndjson").is_file());
    small_model(&d, &d);
    assert_eq!(std::fs::read_to_string(d.join("notes.txt")).unwrap(), "mine");
    assert!(d.join("data/star.ndjson").is_file(), "the training data survives");
    assert!(d.join("model.safetensors").is_file());
}

/// `recur predict … | head -1` panicked with exit 101; an empty or all-bad input printed
/// nothing and exited 0.
#[test]
fn predict_survives_a_closed_pipe_and_refuses_empty_input() {
    let d = temp_dir("predict");
    small_model(&d, &d);
    let all = d.join("all.ndjson");
    let text: String = ["star", "circle", "house", "arrow", "heart", "square"]
        .iter()
        .map(|c| std::fs::read_to_string(d.join("data").join(format!("{c}.ndjson"))).unwrap())
        .collect();
    std::fs::write(&all, text).unwrap();
    let first = read_one_line_then_close(&["predict", "--model", s(&d), "--input", s(&all), "--json"]);
    assert!(first.contains("predictions"), "{first}");
    let data = d.join("data");
    let first = read_one_line_then_close(&["eval", "--model", s(&d), "--data", s(&data), "--split", "all"]);
    assert!(first.contains("scored: all"), "{first}");

    std::fs::write(d.join("empty.ndjson"), "").unwrap();
    std::fs::write(d.join("bad.ndjson"), "garbage\n{\"word\": 1}\n").unwrap();
    for f in ["empty.ndjson", "bad.ndjson"] {
        let o = recur(&["predict", "--model", s(&d), "--input", s(&d.join(f))]);
        fails_with(o, "no usable drawings to predict");
    }
    // Stroke-3 arrays with NaN or absurd offsets are skipped like bad drawings in other formats.
    let bad = d.join("nan.npy");
    let rows: Vec<u8> = [1.0f32, f32::NAN, 0.0, 1e30, 2.0, 1.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    std::fs::write(&bad, recur_data::npy::npy_bytes("<f4", &[2, 1, 3], &rows)).unwrap();
    let o = recur(&["predict", "--model", s(&d), "--input", s(&bad)]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("absurd coordinate"));
    fails_with(o, "no usable drawings to predict");
}

/// `np.zeros((0, 7, 3), 'f4')` panicked in `recur run`; overflowing shapes panicked too.
#[test]
fn run_refuses_empty_batch_and_overflowing_shapes() {
    let d = temp_dir("run");
    let (config, model) = (d.join("c.json"), d.join("m"));
    std::fs::write(&config, SMALL).unwrap();
    ok(recur(&["init", "--config", s(&config), "--out", s(&model)]));
    let run = |input: &Path| {
        recur(&[
            "run",
            "--model",
            s(&model),
            "--input",
            s(input),
            "--output",
            s(&d.join("y.npy")),
        ])
    };
    let npy = |name: &str, shape: &[usize], body: &[u8]| {
        let p = d.join(name);
        std::fs::write(&p, recur_data::npy::npy_bytes("<f4", shape, body)).unwrap();
        p
    };
    fails_with(run(&npy("empty.npy", &[0, 7, 3], &[])), "empty (shape [0, 7, 3])");
    fails_with(
        run(&npy("huge.npy", &[6148914691236517206, 1, 3], &[0; 8])),
        "too large",
    );
    fails_with(run(&npy("huge2.npy", &[1, 4611686018427387904, 3], &[])), "too large");
    std::fs::write(d.join("short.npy"), b"\x93NUMPY\x02\x00v\x00").unwrap();
    fails_with(run(&d.join("short.npy")), "truncated");
}

/// `--classes '../../escaped'` wrote outside `--out`; an absolute name wrote anywhere.
#[test]
fn download_refuses_class_names_that_are_paths() {
    let d = temp_dir("escape");
    let out = d.join("a/b/out");
    let escaped = d.join("a/escaped.ndjson");
    for class in ["../../escaped", &s(&escaped).replace(".ndjson", ""), "cat,../x"] {
        let o = recur(&[
            "data",
            "download",
            "--classes",
            class,
            "--out",
            s(&out),
            "--base-url",
            "http://127.0.0.1:9/",
            "--retries",
            "0",
        ]);
        fails_with(o, "class name");
    }
    assert!(!d.join("a").exists(), "nothing was written");
}

/// A drawing of 50 strokes × 65,535 points made `render` ask tiny-skia for 1.3 GB.
#[test]
fn render_skips_drawings_with_too_many_points() {
    let d = temp_dir("render");
    let npy = d.join("long.npy");
    let rows: Vec<u8> = (0..60_000)
        .flat_map(|i| [1.0f32, (i % 2) as f32, 0.0])
        .flat_map(f32::to_le_bytes)
        .collect();
    std::fs::write(&npy, recur_data::npy::npy_bytes("<f4", &[1, 60_000, 3], &rows)).unwrap();
    let o = recur(&["render", "--input", s(&npy), "--out", s(&d.join("x.png")), "--grid"]);
    fails_with(o, "more than the 20000 a drawing may have");
}

/// One mistyped date (`01/01/1000`) made `forecast` interpolate 371,817 days.
#[test]
fn forecast_mistyped_date_is_an_error() {
    let d = temp_dir("forecast");
    let csv = d.join("s.csv");
    let mut text = String::from("date,value\n");
    for day in 1..=28 {
        text += &format!("2019-02-{day:02},{day}\n");
    }
    text += "01/01/1000,5\n";
    std::fs::write(&csv, text).unwrap();
    let o = recur(&[
        "forecast",
        "--csv",
        s(&csv),
        "--train-until",
        "2019-02-20",
        "--val-until",
        "2019-02-24",
    ]);
    fails_with(o, "between 1000-01-01 (line 30) and 2019-02-01 (line 2)");
}

/// A stderr whose reader has gone (`recur … 2>&1 | head -1`, a closed log) loses the progress
/// lines but is no reason to fail: the command still does its work and succeeds.
#[test]
fn closed_stderr_is_not_an_error() {
    let d = temp_dir("hostile-stderr");
    let data = d.join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_recur"))
        .args(["data", "synth", "--out", s(&data), "--per-class", "3"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take()); // the reader goes away before recur writes a line
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(data.read_dir().unwrap().count() > 0, "the drawings were written");
    // An error still ends the run with a failing status (its message has nowhere to go).
    let mut child = Command::new(env!("CARGO_BIN_EXE_recur"))
        .args(["eval", "--model", s(&d.join("absent")), "--data", s(&data)])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "an error, not a panic (101)");
}

/// Which of recur's output streams a test closes.
#[derive(Clone, Copy, Debug)]
enum Closed {
    Stdout,
    Stderr,
}

/// Runs recur with `closed` shut before it writes a line (its reader gone, as after `| head`
/// or `2>&-` in a pipeline); the other stream is read. Returns the exit code and what the other
/// stream got.
fn run_with_closed(args: &[&str], closed: Closed) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_recur"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let other: Box<dyn std::io::Read> = match closed {
        Closed::Stdout => {
            drop(child.stdout.take());
            Box::new(child.stderr.take().unwrap())
        }
        Closed::Stderr => {
            drop(child.stderr.take());
            Box::new(child.stdout.take().unwrap())
        }
    };
    let mut text = String::new();
    { other }.read_to_string(&mut text).unwrap();
    (child.wait().unwrap().code(), text)
}

/// `recur run … --labels | head -3` and `recur eval … | head -1` panicked in `println!` when
/// the reader had gone. Every command that prints, with its stdout or its stderr closed, ends
/// as it would have: successfully, without a panic (exit code 101, or a signal: no code).
#[test]
fn every_printing_command_survives_closed_stdout_and_stderr() {
    let d = temp_dir("closed-pipes");
    let mut rng = recur_core::Rng::new(3);
    let x: Vec<u8> = (0..24 * 10 * 2)
        .flat_map(|_| (rng.normal() as f32).to_le_bytes())
        .collect();
    let y: Vec<u8> = (0..24i64).flat_map(|i| (i % 2).to_le_bytes()).collect();
    let (xs, ys, fitted) = (d.join("x.npy"), d.join("y.npy"), d.join("fitted"));
    std::fs::write(&xs, recur_data::npy::npy_bytes("<f4", &[24, 10, 2], &x)).unwrap();
    std::fs::write(&ys, recur_data::npy::npy_bytes("<i8", &[24], &y)).unwrap();
    let (config, plain, sketch) = (d.join("c.json"), d.join("plain"), d.join("sketch"));
    std::fs::write(&config, SMALL).unwrap();
    small_model(&d, &sketch);
    let data = d.join("data");
    let out = |name: &str| d.join(name).to_str().unwrap().to_string();
    let fit = [
        "fit",
        "--x",
        s(&xs),
        "--y",
        s(&ys),
        "--out",
        s(&fitted),
        "--threads",
        "1",
        "--force",
    ];
    let commands: Vec<Vec<String>> = [
        &["data", "synth", "--out", &out("synth"), "--per-class", "2"][..],
        &fit,
        &["init", "--config", s(&config), "--out", s(&plain), "--force"],
        &["summary", "--model", s(&plain)],
        &[
            "run",
            "--model",
            s(&fitted),
            "--input",
            s(&xs),
            "--output",
            &out("p.npy"),
            "--labels",
        ],
        &["eval", "--model", s(&fitted), "--x", s(&xs), "--y", s(&ys)],
        &["eval", "--model", s(&fitted), "--x", s(&xs), "--y", s(&ys), "--json"],
        &["eval", "--model", s(&sketch), "--data", s(&data), "--split", "all"],
        &[
            "predict",
            "--model",
            s(&sketch),
            "--input",
            s(&data.join("star.ndjson")),
        ],
        &["forecast", "--model", "linear", "--epochs", "1", "--horizon", "2"],
    ]
    .iter()
    .map(|c| c.iter().map(|a| a.to_string()).collect())
    .collect();
    for closed in [Closed::Stdout, Closed::Stderr] {
        for args in &commands {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (code, other) = run_with_closed(&args, closed);
            assert_eq!(code, Some(0), "{args:?} with {closed:?} closed: {other}");
            assert!(!other.contains("panicked"), "{args:?} with {closed:?} closed: {other}");
        }
    }
}

/// `units` 2^63 in a bidirectional second layer panicked in `recur init` (index out of bounds
/// in the initialiser): `2 × units` wrapped around to 0 past the size checks.
#[test]
fn init_refuses_huge_units_in_a_second_layer() {
    let d = temp_dir("huge-units");
    let config = d.join("c.json");
    std::fs::write(
        &config,
        r#"{"input_size": 3, "layers": [{"type": "lstm", "units": 8, "return_sequences": true},
            {"type": "lstm", "units": 9223372036854775808, "bidirectional": true}]}"#,
    )
    .unwrap();
    let o = recur(&["init", "--config", s(&config), "--out", s(&d.join("m"))]);
    fails_with(
        o,
        "layers[1] (lstm): units 9223372036854775808 is more than recur allows",
    );
}

/// `render --input DIR --grid` drew the first class only: a folder is read class after class
/// and the grid took its first `--limit` drawings. Each class now shows, in turn.
#[test]
fn render_grid_of_a_folder_shows_every_class() {
    let d = temp_dir("render-grid");
    let (data, grid) = (d.join("data"), d.join("grid.svg"));
    ok(recur(&["data", "synth", "--out", s(&data), "--per-class", "10"]));
    ok(recur(&[
        "render",
        "--input",
        s(&data),
        "--out",
        s(&grid),
        "--grid",
        "--limit",
        "24",
    ]));
    let svg = std::fs::read_to_string(&grid).unwrap();
    for class in data.read_dir().unwrap() {
        let name = class.unwrap().path().file_stem().unwrap().to_string_lossy().to_string();
        assert!(svg.contains(&format!(">{name}<")), "{name} is missing from the grid");
    }
}

/// `eval --model <seq2seq dir>` said only that config.json was missing, `predict --model <fit
/// dir>` talked about features per step and `run --model <sketch dir>` succeeded. Each kind
/// of model directory given to a command that does not serve it names the one that does.
#[test]
fn a_model_given_to_the_wrong_command_says_which_serves_it() {
    let d = temp_dir("wrong-kind");
    let path = |n: &str| d.join(n).to_str().unwrap().to_string();
    let (sketch, fitted, s2s, fc) = (path("sketch"), path("fitted"), path("s2s"), path("fc"));
    small_model(&d, Path::new(&sketch));
    let x: Vec<u8> = (0..8 * 10).flat_map(|i| ((i % 7) as f32).to_le_bytes()).collect();
    let y: Vec<u8> = (0..8i64).flat_map(|i| (i % 2).to_le_bytes()).collect();
    std::fs::write(path("x.npy"), recur_data::npy::npy_bytes("<f4", &[8, 10, 1], &x)).unwrap();
    std::fs::write(path("y.npy"), recur_data::npy::npy_bytes("<i8", &[8], &y)).unwrap();
    ok(recur(&[
        "fit",
        "--x",
        &path("x.npy"),
        "--y",
        &path("y.npy"),
        "--out",
        &fitted,
        "--quiet",
    ]));
    let small = [
        "--embedding",
        "8",
        "--encoder-units",
        "8",
        "--encoder-layers",
        "1",
        "--decoder-units",
        "16",
    ];
    let s2s_args = [
        &["seq2seq", "train", "--out", &s2s, "--dates", "60", "--epochs", "1"][..],
        &small,
    ]
    .concat();
    ok(recur(&s2s_args));
    ok(recur(&["forecast", "--model", "linear", "--epochs", "1", "--out", &fc]));
    let (input, data) = (path("x.npy"), path("data"));
    let cases: [(&[&str], &str); 7] = [
        (
            &["eval", "--model", &s2s, "--data", &data],
            "is a seq2seq model: use `recur seq2seq predict`",
        ),
        (
            &["predict", "--model", &fitted, "--input", &input],
            "trained by `recur fit`: use `recur run`",
        ),
        (
            &["run", "--model", &sketch, "--input", &input, "--output", &input],
            "is a sketch classifier: use `recur predict`",
        ),
        (
            &["run", "--model", &fc, "--input", &input, "--output", &input],
            "use `recur forecast --model DIR`",
        ),
        (
            &["seq2seq", "predict", "--model", &fitted, "--input", &input],
            "use `recur run`",
        ),
        (&["summary", "--model", &s2s], "is a seq2seq model"),
        (&["forecast", "--model", &sketch], "is a sketch classifier"),
    ];
    for (args, message) in cases {
        fails_with(recur(args), message);
    }
    // Each kind still works with the commands that serve it.
    ok(recur(&[
        "run",
        "--model",
        &fitted,
        "--input",
        &input,
        "--output",
        &path("p.npy"),
        "--labels",
    ]));
    ok(recur(&["summary", "--model", &sketch]));
}
