//! Helpers shared by the command-line tests: run the binary, make a scratch folder, check a
//! clean failure.
// Each test file uses its own subset of these.
#![allow(dead_code)]

pub mod server;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the `recur` binary with `args`.
pub fn recur(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recur"))
        .args(args)
        .output()
        .expect("run recur")
}

/// A scratch folder, removed when it goes out of scope unless the test is failing (then it is
/// kept to look at).
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// An empty scratch folder unique to this test process.
pub fn temp_dir(name: &str) -> Scratch {
    let d = std::env::temp_dir().join(format!("recur-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    Scratch(d)
}

/// Asserts a clean failure: non-zero exit, stderr containing `needle`, no panic.
pub fn fails_with(o: Output, needle: &str) {
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "expected failure, got success");
    assert!(e.contains(needle), "stderr lacks {needle:?}: {e}");
    assert!(!e.contains("panicked"), "panicked: {e}");
}

/// Real data beside the checkout (not every test file reads it).
#[allow(unused_imports)]
pub use recur_testdata::shared_data;

/// The standard output of a run that must succeed (its stderr shown when it does not).
pub fn ok(o: Output) -> String {
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "failed: {e}");
    String::from_utf8(o.stdout).unwrap()
}

/// A path as the `&str` a command-line argument takes.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `recur seq2seq train` settings of a small model that trains in seconds.
pub const SEQ2SEQ_SMALL: [&str; 16] = [
    "--batch",
    "32",
    "--embedding",
    "16",
    "--encoder-units",
    "24",
    "--encoder-layers",
    "1",
    "--decoder-units",
    "32",
    "--threads",
    "2",
    "--max-minutes",
    "0",
    "--dropout",
    "0.1",
];

/// `abc<TAB>c b a` pairs: the source's letters reversed, space-separated (a seq2seq task
/// small models learn in seconds).
pub fn reverse_pairs(n: usize, seed: u64) -> String {
    let mut rng = recur_core::Rng::new(seed);
    let mut out = String::new();
    for _ in 0..n {
        let len = 2 + rng.below(4);
        let word: Vec<char> = (0..len).map(|_| (b'a' + rng.below(6) as u8) as char).collect();
        let rev: Vec<String> = word.iter().rev().map(char::to_string).collect();
        out.push_str(&format!("{}\t{}\n", word.iter().collect::<String>(), rev.join(" ")));
    }
    out
}

/// Generated doodles (`per_class` a class) in `d/data` and a one-epoch sketch classifier
/// trained on them in `d/sketch`.
pub fn sketch_model(d: &Path, per_class: usize) -> (PathBuf, PathBuf) {
    let (data, model) = (d.join("data"), d.join("sketch"));
    let per_class = per_class.to_string();
    ok(recur(&["data", "synth", "--out", s(&data), "--per-class", &per_class]));
    ok(recur(&[
        "train",
        "--data",
        s(&data),
        "--out",
        s(&model),
        "--epochs",
        "1",
        "--quiet",
    ]));
    (data, model)
}

/// `n` random walks [n, 12, 1] with lengths 6..=12, their class the sign of their sum, in
/// `d/x.npy`, `d/l.npy`, `d/y.npy`; returns the values and lengths.
pub fn walks(d: &Path, n: usize) -> (Vec<f32>, Vec<i64>) {
    let mut rng = recur_core::Rng::new(7);
    let (mut x, mut lengths, mut y) = (vec![0f32; n * 12], Vec::new(), Vec::new());
    for i in 0..n {
        let len = 6 + rng.below(7);
        for t in 0..len {
            x[i * 12 + t] = rng.normal() as f32 + if i % 2 == 0 { 0.5 } else { -0.5 };
        }
        lengths.push(len as i64);
        y.push((i % 2) as i64);
    }
    let write = |name: &str, descr: &str, shape: &[usize], body: Vec<u8>| {
        std::fs::write(d.join(name), recur_data::npy::npy_bytes(descr, shape, &body)).unwrap();
    };
    write(
        "x.npy",
        "<f4",
        &[n, 12, 1],
        x.iter().flat_map(|v| v.to_le_bytes()).collect(),
    );
    write(
        "l.npy",
        "<i8",
        &[n],
        lengths.iter().flat_map(|v| v.to_le_bytes()).collect(),
    );
    write("y.npy", "<i8", &[n], y.iter().flat_map(|v| v.to_le_bytes()).collect());
    (x, lengths)
}

/// A `recur fit` classifier of the walks in `d/fit`.
pub fn fit_model(d: &Path) -> PathBuf {
    walks(d, 40);
    let model = d.join("fit");
    let (x, l, y) = (d.join("x.npy"), d.join("l.npy"), d.join("y.npy"));
    let args = [
        "fit",
        "--x",
        s(&x),
        "--lengths",
        s(&l),
        "--y",
        s(&y),
        "--out",
        s(&model),
    ];
    ok(recur(&[&args[..], &["--threads", "1", "--quiet"]].concat()));
    model
}
