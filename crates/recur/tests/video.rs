//! Video from the command line: `recur data squares`, `recur fit` on a class folder, `eval`,
//! `predict` and `run` on clips, and the errors for bad clip lists and a missing FFmpeg. The
//! tests that decode skip, saying so, where FFmpeg is not installed.

mod common;

use common::{fails_with, recur, temp_dir};
use std::process::Command;

fn ffmpeg_installed(test: &str) -> bool {
    let runs = |p: &str| {
        Command::new(p)
            .arg("-version")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let installed = runs("ffmpeg") && runs("ffprobe");
    if !installed {
        eprintln!("skipping {test}: ffmpeg and ffprobe are not installed (apt-get install ffmpeg)");
    }
    installed
}

fn path(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn video_fit_eval_predict_and_run_on_generated_squares() {
    if !ffmpeg_installed("video_fit_eval_predict_and_run_on_generated_squares") {
        return;
    }
    let dir = temp_dir("video-squares");
    let (clips, model) = (dir.join("squares"), dir.join("model"));
    let made = recur(&[
        "data",
        "squares",
        "--out",
        path(&clips),
        "--per-class",
        "4",
        "--frames",
        "6",
        "--side",
        "16",
    ]);
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let fit = recur(&[
        "fit",
        "--train",
        path(&clips),
        "--out",
        path(&model),
        "--frames",
        "6",
        "--size",
        "16",
        "16",
        "--grayscale",
        "--epochs",
        "2",
        "--threads",
        "2",
        "--val-split",
        "0.25",
        "--quiet",
    ]);
    assert!(fit.status.success(), "{}", String::from_utf8_lossy(&fit.stderr));
    let eval = recur(&["eval", "--model", path(&model), "--test", path(&clips), "--json"]);
    let line = String::from_utf8_lossy(&eval.stdout);
    assert!(line.contains("\"accuracy\"") && line.contains("\"n\":16"), "{line}");
    let clip = clips.join("left/0001.mp4");
    let predicted = recur(&["predict", "--model", path(&model), "--input", path(&clip)]);
    let text = String::from_utf8_lossy(&predicted.stdout);
    assert!(text.contains("0001.mp4\t") && text.contains("left "), "{text}");
    let out = dir.join("p.npy");
    let ran = recur(&[
        "run",
        "--model",
        path(&model),
        "--input",
        path(&clip),
        "--output",
        path(&out),
    ]);
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    assert_eq!(recur_data::npy::read_npy(&out).unwrap().shape, vec![1, 4]);
}

#[test]
fn video_fit_without_ffmpeg_says_what_to_install() {
    let dir = temp_dir("video-no-ffmpeg");
    for name in ["a/1.mp4", "b/2.mp4"] {
        std::fs::create_dir_all(dir.join(name).parent().unwrap()).unwrap();
        std::fs::write(dir.join(name), "x").unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_recur"))
        .args(["fit", "--train", path(&dir), "--out", path(&dir.join("m"))])
        .env("RECUR_FFPROBE", "recur-no-such-ffprobe")
        .output()
        .unwrap();
    fails_with(out, "apt-get install ffmpeg");
}

#[test]
fn video_clip_lists_with_one_class_or_missing_files_are_refused() {
    let dir = temp_dir("video-lists");
    std::fs::create_dir_all(dir.join("only/fight")).unwrap();
    std::fs::write(dir.join("only/fight/1.mp4"), "x").unwrap();
    let m = dir.join("m");
    fails_with(
        recur(&["fit", "--train", path(&dir.join("only")), "--out", path(&m)]),
        "are of one class (fight)",
    );
    let csv = dir.join("clips.csv");
    std::fs::write(&csv, "path,label\nonly/fight/1.mp4,fight\nnoFight/gone.mp4,noFight\n").unwrap();
    fails_with(
        recur(&["fit", "--train", path(&csv), "--out", path(&m)]),
        "1 listed clips are missing",
    );
    fails_with(
        recur(&[
            "fit",
            "--train",
            path(&csv),
            "--groups",
            "source_video",
            "--out",
            path(&m),
        ]),
        "no group column `source_video`",
    );
}

#[test]
fn video_flags_are_refused_for_a_sequence_file() {
    let dir = temp_dir("video-flags");
    let out = recur(&[
        "fit",
        "--train",
        path(&dir.join("x.ts")),
        "--frames",
        "8",
        "--out",
        path(&dir.join("m")),
    ]);
    fails_with(out, "are for video");
}
