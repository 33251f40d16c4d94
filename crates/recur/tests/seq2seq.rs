//! `recur seq2seq train|predict|eval` end to end on a small TSV task (reversing letter
//! strings) and on the generated date task, and clean errors for bad pair files, unknown
//! characters with --strict, over-long inputs and a model directory whose parts disagree.

mod common;

use common::{fails_with, ok, recur, reverse_pairs, s, temp_dir};
use std::path::Path;

use common::SEQ2SEQ_SMALL as SMALL;

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
        "'--epochs <EPOCHS>': must be a whole number, at least 1",
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
    let scratch = temp_dir("s2s-sampling");
    let model = scratch.join("m");
    train_dates(&model, "400", "3", &["--scheduled-sampling", "0.5"]);
    let settings = std::fs::read_to_string(model.join("seq2seq.json")).unwrap();
    assert!(settings.contains("\"scheduled_sampling\": 0.5"), "{settings}");
}

/// The embedded default: the date task, learnt to a high exact match in a few epochs.
/// Character-level outputs print joined, as the date task's docs show (`2019-04-22`); they
/// printed `2 0 1 9 - 0 4 - 2 2`.
#[test]
fn seq2seq_learns_the_date_task_and_prints_character_outputs_joined() {
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
    let predicted = out
        .trim_end()
        .strip_prefix("April 22, 2019\t")
        .unwrap_or_else(|| panic!("{out}"));
    assert!(predicted.len() == 10 && !predicted.contains(' '), "{out}");
}

/// The arguments of [`resumable`].
fn resumable_args<'a>(out: &'a Path, dates: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["seq2seq", "train", "--out", s(out), "--dates", dates];
    // The small model, its time limit left to `extra`.
    args.extend(SMALL.chunks(2).filter(|kv| kv[0] != "--max-minutes").flatten());
    args.extend(extra);
    args
}

/// `seq2seq train` of the small model on `dates` generated dates into `out`, with `extra`
/// (which may hold --epochs, --lr, --max-minutes…); returns stderr.
fn resumable(out: &Path, dates: &str, extra: &[&str]) -> String {
    let o = recur(&resumable_args(out, dates, extra));
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(o.status.success(), "failed: {err}");
    err
}

/// The history of a run without its timings (seconds and pairs per second vary).
fn history(out: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(out.join("history.json")).unwrap();
    let mut epochs: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    for e in &mut epochs {
        let e = e.as_object_mut().unwrap();
        assert!(e.remove("elapsed").is_some() && e.remove("pairs_per_second").is_some());
    }
    epochs
}

/// Two runs ended alike: the same weights (the files, byte for byte), the same history and the
/// same final validation scores.
fn assert_same_run(a: &Path, b: &Path) {
    let bytes = |d: &Path| std::fs::read(d.join("model.safetensors")).unwrap();
    assert!(bytes(a) == bytes(b), "the weights differ");
    assert_eq!(history(a), history(b));
    let scores = |d: &Path| std::fs::read_to_string(d.join("validation.json")).unwrap();
    assert_eq!(scores(a), scores(b));
}

/// 6 epochs, then `--resume --epochs 8`: the model of 8 epochs straight. On this machine the
/// learning rate halves after epochs 6 and 7 (the counters carried across the resume), epoch
/// 5's weights are kept (restored from the checkpoint's best) and patience runs out at 8 (a
/// further resume trains nothing).
#[test]
fn seq2seq_resume_with_more_epochs_matches_a_straight_run() {
    let d = temp_dir("s2s-resume");
    let (straight, resumed) = (d.join("straight"), d.join("resumed"));
    let settings = ["--lr", "0.02", "--patience", "3", "--max-minutes", "0"];
    resumable(&straight, "1000", &[&settings[..], &["--epochs", "8"]].concat());
    resumable(&resumed, "1000", &[&settings[..], &["--epochs", "6"]].concat());
    assert_eq!(history(&resumed).len(), 6);
    let log = resumable(
        &resumed,
        "1000",
        &[&settings[..], &["--epochs", "8", "--resume"]].concat(),
    );
    assert!(log.contains("resuming after epoch 6"), "{log}");
    assert!(!log.contains("epoch  6/8"), "epoch 6 is not trained again: {log}");
    let h = history(&straight);
    assert_eq!(h.len(), 8, "{h:?}");
    // The case this test is for: the learning rate halved after the resume point, from the
    // patience counters carried across it.
    let lr = |e: usize| h[e - 1]["lr"].as_f64().unwrap();
    assert!(lr(7) < lr(6) || lr(8) < lr(7), "{h:?}");
    assert_same_run(&straight, &resumed);
    // The kept epoch (the first with the lowest WER, then PER) is 5 here; if it is 3 or more
    // epochs back, patience ran out and a further resume with more epochs trains nothing.
    let key = |e: &serde_json::Value| (e["val_wer"].as_f64().unwrap(), e["val_per"].as_f64().unwrap());
    let best = (1..=8).fold(1, |b, e| if key(&h[e - 1]) < key(&h[b - 1]) { e } else { b });
    if best <= 5 {
        let log = resumable(
            &resumed,
            "1000",
            &[&settings[..], &["--epochs", "10", "--resume"]].concat(),
        );
        assert!(!log.contains("epoch  9/10"), "{log}");
        assert_same_run(&straight, &resumed);
    }
}

/// A run killed with `kill -9` after a checkpoint resumes to the model of a run never stopped,
/// with scheduled sampling (its ramp depends on the epoch) and a best epoch before the kill.
#[test]
fn seq2seq_resume_after_kill_matches_a_straight_run() {
    let d = temp_dir("s2s-kill");
    let (straight, killed) = (d.join("straight"), d.join("killed"));
    let settings = ["--epochs", "4", "--scheduled-sampling", "0.5", "--max-minutes", "0"];
    resumable(&straight, "1000", &settings);
    let args = resumable_args(&killed, "1000", &settings);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_recur"))
        .args(&args)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let state = killed.join("checkpoint").join("state.json");
    let started = std::time::Instant::now();
    while !state.is_file() {
        assert!(started.elapsed().as_secs() < 120, "no checkpoint written");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // The first epoch is the best so far, and its model was written before its checkpoint.
    let words = d.join("words.txt");
    std::fs::write(&words, "March 3, 2021\n").unwrap();
    let o = recur(&["seq2seq", "predict", "--model", s(&killed), "--input", s(&words)]);
    assert!(
        o.status.success(),
        "the killed run left a usable model: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let log = resumable(&killed, "1000", &[&settings[..], &["--resume"]].concat());
    assert!(log.contains("resuming after epoch"), "{log}");
    assert_same_run(&straight, &killed);
}

/// `--max-minutes` stops a run before an epoch; `--resume` goes on with the remaining ones (the
/// limit counted afresh, and each run trains at least one epoch).
#[test]
fn seq2seq_resume_after_time_limit_goes_on_with_the_remaining_epochs() {
    let d = temp_dir("s2s-limit");
    let (straight, limited) = (d.join("straight"), d.join("limited"));
    resumable(&straight, "400", &["--epochs", "3", "--max-minutes", "0"]);
    // 6 ms: every run trains its first epoch only.
    let limit = ["--epochs", "3", "--max-minutes", "0.0001"];
    resumable(&limited, "400", &limit);
    assert_eq!(history(&limited).len(), 1);
    resumable(&limited, "400", &[&limit[..], &["--resume"]].concat());
    assert_eq!(history(&limited).len(), 2);
    resumable(&limited, "400", &[&limit[..], &["--resume"]].concat());
    assert_same_run(&straight, &limited);
}

/// `--resume` needs a checkpoint made with the same settings and data, and says what differs;
/// a second run into the same folder needs --resume or --force.
#[test]
fn seq2seq_resume_refuses_other_settings_and_a_missing_checkpoint() {
    let d = temp_dir("s2s-refuse");
    let m = d.join("m");
    let train = |out: &Path, extra: &[&str]| {
        let mut args = vec!["seq2seq", "train", "--out", s(out), "--dates", "400"];
        args.extend(SMALL);
        args.extend(extra);
        recur(&args)
    };
    fails_with(
        train(&d.join("none"), &["--epochs", "2", "--resume"]),
        "nothing to resume",
    );
    ok(train(&m, &["--epochs", "1"]));
    fails_with(
        train(&m, &["--epochs", "2"]),
        "pass --resume to continue its training or --force to start over",
    );
    // Only a checkpoint (a run killed before its end) also needs --resume or --force.
    for f in ["seq2seq.json", "model.safetensors", "history.json"] {
        std::fs::remove_file(m.join(f)).unwrap();
    }
    fails_with(train(&m, &["--epochs", "2"]), "--resume");
    for (extra, needle) in [
        (&["--lr", "0.001"][..], "--lr 0.001 (the checkpoint's: --lr 0.002)"),
        (
            &["--attention", "additive"],
            "--attention additive (the checkpoint's: --attention general)",
        ),
        (
            &["--unidirectional"],
            "--unidirectional (the checkpoint's: no --unidirectional)",
        ),
        (&["--seed", "2"], "--seed 2 (the checkpoint's: --seed 1)"),
        (&["--scheduled-sampling", "0.25"], "--scheduled-sampling 0.25"),
        (&["--val-split", "0.1"], "the data: "),
    ] {
        let args = [&["--epochs", "2", "--resume"], extra].concat();
        fails_with(train(&m, &args), needle);
    }
    // The shard count (--threads here, SMALL's 2 being replaced) decides the sums' bits.
    let mut args = vec!["seq2seq", "train", "--out", s(&m), "--dates", "400"];
    args.extend(SMALL.iter().map(|a| if *a == "2" { "3" } else { a }));
    args.extend(["--epochs", "2", "--resume"]);
    fails_with(recur(&args), "3 shards per batch");
    // What may change: epochs, patience, the time limit.
    ok(train(&m, &["--epochs", "2", "--resume", "--patience", "9"]));
    assert_eq!(history(&m).len(), 2);
}

/// `--force` starts over, removing what `seq2seq train` wrote and nothing else.
#[test]
fn seq2seq_force_removes_only_what_it_wrote() {
    let d = temp_dir("s2s-force");
    let m = d.join("m");
    let train = |epochs: &str, extra: &[&str]| {
        let mut args = vec!["seq2seq", "train", "--out", s(&m), "--dates", "400", "--epochs", epochs];
        args.extend(SMALL);
        args.extend(extra);
        recur(&args)
    };
    ok(train("2", &[]));
    std::fs::write(m.join("notes.txt"), "mine").unwrap();
    std::fs::write(m.join("config.json"), "{}").unwrap();
    std::fs::write(m.join("model.tmp-12345"), "left by a killed write").unwrap();
    ok(train("1", &["--force"]));
    assert_eq!(std::fs::read_to_string(m.join("notes.txt")).unwrap(), "mine");
    assert_eq!(std::fs::read_to_string(m.join("config.json")).unwrap(), "{}");
    assert!(!m.join("model.tmp-12345").exists());
    assert_eq!(history(&m).len(), 1, "trained afresh");
    let state = std::fs::read_to_string(m.join("checkpoint").join("state.json")).unwrap();
    assert!(state.contains("\"epochs_done\": 1"), "{state}");
}
