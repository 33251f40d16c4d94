//! Where tests find the project's real data: `../shared/data/NAME` beside the checkout, or
//! beside the checkout a worktree of it sits in. The project ships only data it generates, so
//! a test that needs real data skips, saying so, when it is absent.

use std::path::{Path, PathBuf};

/// The folder or file `name` (a path inside the shared data), or `None` after telling stderr
/// that the test's real-data check is skipped.
pub fn shared_data(name: &str) -> Option<PathBuf> {
    // Every crate sits at `<checkout>/crates/NAME`; a worktree may sit one folder deeper.
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let found = ["../../../shared/data", "../../../../shared/data"]
        .iter()
        .map(|up| here.join(up).join(name))
        .find(|p| p.exists());
    if found.is_none() {
        eprintln!("skipped: shared/data/{name} is absent (real-data check)");
    }
    found
}
