//! `recur seq2seq train|predict|eval` end to end on a small TSV task (reversing letter
//! strings) and on the generated date task, and clean errors for bad pair files, unknown
//! characters with --strict, over-long inputs and a model directory whose parts disagree.

mod common;

use common::{fails_with, recur, temp_dir};
use std::path::Path;
use std::process::Output;

fn ok(o: Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "failed: {err}");
    assert!(!err.contains("panicked"), "{err}");
    String::from_utf8_lossy(&o.stdout).to_string()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `abc<TAB>c b a` pairs: the source's letters reversed, space-separated.
fn reverse_pairs(n: usize, seed: u64) -> String {
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

const SMALL: [&str; 16] = [
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

#[test]
fn seq2seq_trains_predicts_and_evaluates_a_tsv_task() {
    let dir = temp_dir("s2s-tsv");
    let train = dir.join("train.tsv");
    std::fs::write(&train, reverse_pairs(1500, 1)).unwrap();
    let model = dir.join("model");
    let mut args = vec![
        "seq2seq",
        "train",
        "--pairs",
        s(&train),
        "--target-tokens",
        "whitespace",
        "--out",
        s(&model),
        "--epochs",
        "12",
    ];
    args.extend(SMALL);
    ok(recur(&args));
    for f in [
        "seq2seq.json",
        "source_vocab.json",
        "target_vocab.json",
        "model.safetensors",
        "history.json",
    ] {
        assert!(model.join(f).exists(), "{f} missing");
    }
    // A second train into the same folder needs --force.
    fails_with(recur(&args), "--force");

    let test = dir.join("test.tsv");
    std::fs::write(&test, reverse_pairs(200, 2)).unwrap();
    let json = ok(recur(&[
        "seq2seq",
        "eval",
        "--model",
        s(&model),
        "--pairs",
        s(&test),
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    assert!(v["exact_match"].as_f64().unwrap() > 0.5, "{json}");

    let input = dir.join("in.txt");
    std::fs::write(&input, "abc\nfedcba\n").unwrap();
    let map = dir.join("attention.svg");
    let out = ok(recur(&[
        "seq2seq",
        "predict",
        "--model",
        s(&model),
        "--input",
        s(&input),
        "--attention",
        s(&map),
    ]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0], "abc\tc b a", "{out}");
    assert!(std::fs::read_to_string(&map).unwrap().contains("<svg"));
    let nbest = ok(recur(&[
        "seq2seq",
        "predict",
        "--model",
        s(&model),
        "--input",
        s(&input),
        "--beam",
        "4",
        "--nbest",
        "3",
        "--json",
    ]));
    for line in nbest.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let outputs = v["outputs"].as_array().unwrap();
        assert!(!outputs.is_empty() && outputs.len() <= 3);
        assert!(outputs[0]["score"].as_f64().is_some());
    }

    // Unknown characters: read as <unk> and counted, or refused with --strict.
    std::fs::write(&input, "abz\n").unwrap();
    let o = recur(&["seq2seq", "predict", "--model", s(&model), "--input", s(&input)]);
    assert!(String::from_utf8_lossy(&o.stderr).contains("<unk>"));
    ok(o);
    fails_with(
        recur(&[
            "seq2seq",
            "predict",
            "--model",
            s(&model),
            "--input",
            s(&input),
            "--strict",
        ]),
        "in.txt:1: tokens never seen in training: z",
    );
    // Longer than the model accepts (twice the longest training source).
    std::fs::write(&input, format!("ab\n{}\n", "a".repeat(40))).unwrap();
    fails_with(
        recur(&["seq2seq", "predict", "--model", s(&model), "--input", s(&input)]),
        "in.txt:2: 40 tokens, longer than this model accepts",
    );
    // Weights from another architecture beside this settings file.
    let other = dir.join("other");
    let mut args = vec![
        "seq2seq",
        "train",
        "--pairs",
        s(&train),
        "--out",
        s(&other),
        "--epochs",
        "1",
    ];
    args.extend(SMALL);
    args.extend(["--attention", "additive"]);
    ok(recur(&args));
    std::fs::copy(other.join("model.safetensors"), model.join("model.safetensors")).unwrap();
    fails_with(
        recur(&["seq2seq", "eval", "--model", s(&model), "--pairs", s(&test)]),
        "model.safetensors",
    );
}

#[test]
fn seq2seq_bad_pair_files_get_clear_errors() {
    let dir = temp_dir("s2s-bad");
    let out = dir.join("m");
    for (text, needle) in [
        ("abc\tc b a\nno tab here\n", "bad.tsv:2"),
        ("abc\tc b a\n\tx\n", "bad.tsv:2"),
        ("abc\tc b a\nabc\t\n", "bad.tsv:2"),
    ] {
        let f = dir.join("bad.tsv");
        std::fs::write(&f, text).unwrap();
        fails_with(recur(&["seq2seq", "train", "--pairs", s(&f), "--out", s(&out)]), needle);
    }
    fails_with(
        recur(&[
            "seq2seq",
            "train",
            "--pairs",
            s(&dir.join("missing.tsv")),
            "--out",
            s(&out),
        ]),
        "missing.tsv",
    );
    let f = dir.join("bad.dict");
    std::fs::write(&f, "hello HH AH0 L OW1\nworld\n").unwrap();
    fails_with(
        recur(&["seq2seq", "train", "--pairs", s(&f), "--out", s(&out)]),
        "bad.dict:2",
    );
    fails_with(
        recur(&["seq2seq", "train", "--out", s(&out), "--epochs", "0"]),
        "--epochs must be at least 1",
    );
    fails_with(
        recur(&["seq2seq", "train", "--out", s(&out), "--dates", "99999999999"]),
        "--dates must be at most",
    );
    fails_with(
        recur(&["seq2seq", "train", "--out", s(&out), "--scheduled-sampling", "1.5"]),
        "--scheduled-sampling must be in [0, 1]",
    );
    assert!(!out.join("seq2seq.json").exists());
}

/// `recur seq2seq train` on `dates` generated dates for `epochs`, the small model, and `extra`.
fn train_dates(model: &Path, dates: &str, epochs: &str, extra: &[&str]) {
    let mut args = vec![
        "seq2seq",
        "train",
        "--out",
        s(model),
        "--dates",
        dates,
        "--epochs",
        epochs,
    ];
    args.extend(SMALL);
    args.extend(extra);
    ok(recur(&args));
}

/// Scheduled sampling trains (its semantics are checked in the crate's unit tests).
#[test]
fn seq2seq_trains_with_scheduled_sampling() {
    let model = temp_dir("s2s-sampling").join("m");
    train_dates(&model, "400", "3", &["--scheduled-sampling", "0.5"]);
    let settings = std::fs::read_to_string(model.join("seq2seq.json")).unwrap();
    assert!(settings.contains("\"scheduled_sampling\": 0.5"), "{settings}");
}

/// The embedded default: the date task, learnt to a high exact match in a few epochs.
#[test]
fn seq2seq_learns_the_generated_date_task() {
    let dir = temp_dir("s2s-dates");
    let model = dir.join("dates");
    train_dates(&model, "3000", "8", &[]);
    let history: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("history.json")).unwrap()).unwrap();
    let best = history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["val_wer"].as_f64().unwrap())
        .fold(1.0, f64::min);
    assert!(best < 0.5, "validation WER {best}");
    let input = dir.join("in.txt");
    std::fs::write(&input, "April 22, 2019\n").unwrap();
    let out = ok(recur(&[
        "seq2seq",
        "predict",
        "--model",
        s(&model),
        "--input",
        s(&input),
    ]));
    assert!(out.starts_with("April 22, 2019\t"), "{out}");
}
