//! `recur data synth`, and the data options shared by the sketch commands.

use anyhow::{bail, Result};
use clap::Args;
use recur_data::quickdraw::{self, ndjson, synth, Drawing, LoadOptions};
use recur_nn::model_dir::write_atomic;
use std::path::{Path, PathBuf};

/// Where drawings come from and which to use.
#[derive(Args, Clone, Debug)]
pub struct DataArgs {
    /// Drawing files (.ndjson simplified or raw, .bin, .npz), folders or glob patterns.
    #[arg(long, required = true, num_args = 1..)]
    pub data: Vec<String>,
    /// Use only these classes (comma-separated words).
    #[arg(long, value_delimiter = ',')]
    pub classes: Vec<String>,
    /// At most this many drawings per class (the first in file order).
    #[arg(long)]
    pub max_per_class: Option<usize>,
    /// Skip drawings the game did not recognise.
    #[arg(long)]
    pub recognized_only: bool,
    /// Stop at the first bad drawing instead of skipping it.
    #[arg(long)]
    pub strict: bool,
}

/// Loads drawings, printing what was read and skipped.
pub fn load_drawings(args: &DataArgs, quiet: bool) -> Result<Vec<Drawing>> {
    let options = LoadOptions {
        classes: args.classes.clone(),
        max_per_class: args.max_per_class,
        recognized_only: args.recognized_only,
        strict: args.strict,
    };
    let (drawings, report) = quickdraw::load(&args.data, &options)?;
    if !quiet {
        eprintln!("read {} drawings from {} files", report.kept, report.files);
        if report.skipped > 0 {
            eprintln!(
                "skipped {} bad drawings (--strict makes them fatal), e.g.:",
                report.skipped
            );
            for p in report.problems.iter().take(5) {
                eprintln!("  {p}");
            }
        }
    }
    if drawings.is_empty() {
        bail!("no usable drawings in {}", args.data.join(", "));
    }
    Ok(drawings)
}

/// Arguments of `recur data synth`.
#[derive(Args)]
pub struct SynthArgs {
    /// Folder to write one simplified `.ndjson` file per class into.
    #[arg(long)]
    out: PathBuf,
    /// Drawings per class.
    #[arg(long, default_value_t = 200)]
    per_class: usize,
    /// Seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Runs `recur data synth`.
pub fn synth(args: SynthArgs) -> Result<()> {
    let n = write_synthetic(&args.out, args.per_class, args.seed)?;
    eprintln!(
        "wrote {n} drawings of {} classes to {}",
        synth::CLASSES.len(),
        args.out.display()
    );
    Ok(())
}

/// Writes the generated doodles as `DIR/<class>.ndjson`; returns how many.
pub fn write_synthetic(dir: &Path, per_class: usize, seed: u64) -> Result<usize> {
    std::fs::create_dir_all(dir)?;
    let drawings = synth::generate(per_class, seed);
    for class in synth::CLASSES {
        let lines: Vec<String> = drawings
            .iter()
            .filter(|d| d.word == class)
            .map(ndjson::to_line)
            .collect();
        write_atomic(
            &dir.join(format!("{class}.ndjson")),
            (lines.join("\n") + "\n").as_bytes(),
        )?;
    }
    Ok(drawings.len())
}
