//! Labelled sequences as the commands take them: a UEA/UCR `.ts` file or `.npy` arrays
//! (`--x`, `--lengths`, `--y`), for `recur fit`, `recur run` and `recur eval`.

use anyhow::{bail, Result};
use clap::Args;
use recur_data::read_ts;
use recur_data::sequences::{read_npy_set, SequenceSet};
use std::path::{Path, PathBuf};

/// Labelled sequences as `.npy` arrays.
#[derive(Args, Clone, Debug, Default)]
pub struct NpyArgs {
    /// float32/float64 array [n, time, features] (or [n, time]) of padded sequences.
    #[arg(long)]
    pub x: Option<PathBuf>,
    /// int array [n] of valid steps per sequence (default: all steps).
    #[arg(long)]
    pub lengths: Option<PathBuf>,
    /// Targets: int [n] classes, float [n] or [n, k] values, int [n, time] per-step classes,
    /// float [n, time, k] per-step values.
    #[arg(long)]
    pub y: Option<PathBuf>,
}

/// Reads a `.ts` file or the `.npy` triple, whichever is given (`what` names it in errors).
pub fn read_set(ts: Option<&Path>, npy: &NpyArgs, what: &str) -> Result<Option<SequenceSet>> {
    match (ts, &npy.x, &npy.y) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            bail!("give the {what} as a .ts file or as --x/--y arrays, not both")
        }
        (Some(path), None, None) => {
            if path.extension().and_then(|e| e.to_str()) == Some("npy") {
                bail!(
                    "{}: .npy arrays are given with --x, --lengths and --y; a single file must be .ts",
                    path.display()
                );
            }
            Ok(Some(read_ts(path)?))
        }
        (None, Some(x), Some(y)) => Ok(Some(read_npy_set(x, npy.lengths.as_deref(), y)?)),
        (None, Some(_), None) => bail!("--x needs --y (the targets)"),
        (None, None, Some(_)) => bail!("--y needs --x (the sequences)"),
        (None, None, None) => {
            if npy.lengths.is_some() {
                bail!("--lengths needs --x and --y");
            }
            Ok(None)
        }
    }
}
