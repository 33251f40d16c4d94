//! Helpers shared by the command-line tests: run the binary, make a scratch folder, check a
//! clean failure.
// Each test file uses its own subset of these.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs the `recur` binary with `args`.
pub fn recur(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_recur"))
        .args(args)
        .output()
        .expect("run recur")
}

/// An empty scratch folder unique to this test process.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("recur-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Asserts a clean failure: non-zero exit, stderr containing `needle`, no panic.
pub fn fails_with(o: Output, needle: &str) {
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "expected failure, got success");
    assert!(e.contains(needle), "stderr lacks {needle:?}: {e}");
    assert!(!e.contains("panicked"), "panicked: {e}");
}
