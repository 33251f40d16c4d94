//! Labelled sequences as the commands take them: a UEA/UCR `.ts` file or `.npy` arrays
//! (`--x`, given once per model input, `--lengths`, `--y`), for `recur fit`, `recur run` and
//! `recur eval`.

use anyhow::{bail, Result};
use clap::Args;
use recur_data::read_ts;
use recur_data::sequences::{read_npy_inputs, InputFile, InputLayout, InputSpec, SequenceSet};
use std::path::{Path, PathBuf};

/// Labelled sequences as `.npy` arrays.
#[derive(Args, Clone, Debug, Default)]
pub struct NpyArgs {
    /// float32/float64 array of one model input: [n, time, features] (or [n, time]) of padded
    /// sequences, or [n, features] for an input the model declares static
    /// ("sequential": false). Give it once per input, in the order of the config's `inputs`.
    #[arg(long)]
    pub x: Vec<PathBuf>,
    /// int array [n] of valid steps per sequence (default: all steps).
    #[arg(long)]
    pub lengths: Option<PathBuf>,
    /// Targets: int [n] classes, float [n] or [n, k] values, int [n, time] per-step classes,
    /// float [n, time, k] per-step values.
    #[arg(long)]
    pub y: Option<PathBuf>,
}

/// Reads a `.ts` file or the `.npy` arrays, whichever is given (`what` names it in errors);
/// `specs` say how the model reads each of its inputs.
pub fn read_set(ts: Option<&Path>, npy: &NpyArgs, specs: &[InputSpec], what: &str) -> Result<Option<SequenceSet>> {
    match (ts, npy.x.is_empty(), &npy.y) {
        (Some(_), false, _) | (Some(_), _, Some(_)) => {
            bail!("give the {what} as a .ts file or as --x/--y arrays, not both")
        }
        (Some(path), true, None) => {
            if path.extension().and_then(|e| e.to_str()) == Some("npy") {
                bail!(
                    "{}: .npy arrays are given with --x, --lengths and --y; a single file must be .ts",
                    path.display()
                );
            }
            Ok(Some(read_ts(path)?))
        }
        (None, false, Some(y)) => Ok(Some(read_inputs(&npy.x, npy.lengths.as_deref(), Some(y), specs)?)),
        (None, false, None) => bail!("--x needs --y (the targets)"),
        (None, true, Some(_)) => bail!("--y needs --x (the sequences)"),
        (None, true, None) => {
            if npy.lengths.is_some() {
                bail!("--lengths needs --x and --y");
            }
            Ok(None)
        }
    }
}

/// Reads the arrays `xs` of a model's inputs (one per input, in its order, each read as `specs`
/// say) with their optional lengths and targets.
pub fn read_inputs(
    xs: &[PathBuf],
    lengths: Option<&Path>,
    y: Option<&Path>,
    specs: &[InputSpec],
) -> Result<SequenceSet> {
    if xs.len() != specs.len() {
        bail!(
            "the model reads {}: give an array for each, in this order ({} given)",
            describe_inputs(specs),
            xs.len()
        );
    }
    let files: Vec<InputFile> = xs
        .iter()
        .zip(specs)
        .map(|(path, s)| InputFile {
            path,
            layout: s.layout,
            name: s.name.as_deref(),
        })
        .collect();
    Ok(read_npy_inputs(&files, lengths, y)?)
}

/// A model's inputs as messages name them: `2 inputs, `seq` (sequences) and `static` (one
/// vector per example)`.
pub fn describe_inputs(specs: &[InputSpec]) -> String {
    let each: Vec<String> = specs
        .iter()
        .map(|s| {
            let name = s.name.as_deref().unwrap_or("input");
            match s.layout {
                InputLayout::Sequences => format!("`{name}` (sequences)"),
                InputLayout::Vectors => format!("`{name}` (one vector per example)"),
            }
        })
        .collect();
    let count = match specs.len() {
        1 => "1 input".to_string(),
        n => format!("{n} inputs"),
    };
    format!("{count}, {}", each.join(", "))
}
