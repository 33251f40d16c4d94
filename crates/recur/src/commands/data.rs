//! `recur data synth`, `recur data download`, and the data options shared by the sketch commands.

use anyhow::{bail, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use recur_data::quickdraw::download::{self, DownloadOptions};
use recur_data::quickdraw::{self, ndjson, synth, Drawing, LoadOptions};
use recur_nn::model_dir::write_atomic;
use std::path::{Path, PathBuf};

/// Where drawings come from and which to use.
#[derive(Args, Clone, Debug)]
pub struct DataArgs {
    /// Drawing files (.ndjson simplified or raw, .bin, .npz), folders or glob patterns. For
    /// `recur train` under mpirun, `{rank}` in them (e.g. `part-{rank}`) gives each rank its
    /// own part of the drawings.
    #[arg(long, num_args = 1..)]
    pub data: Vec<String>,
    /// Use only these classes (comma-separated words).
    #[arg(long, value_delimiter = ',')]
    pub classes: Vec<String>,
    /// At most this many drawings per class (the first in file order).
    #[arg(long, value_parser = super::whole::<usize>)]
    pub max_per_class: Option<usize>,
    /// Skip drawings the game did not recognise.
    #[arg(long)]
    pub recognized_only: bool,
    /// Stop at the first bad drawing instead of skipping it.
    #[arg(long)]
    pub strict: bool,
}

/// Loads drawings, printing (unless `quiet`) what is read, then what was read and skipped.
pub fn load_drawings(args: &DataArgs, quiet: bool) -> Result<Vec<Drawing>> {
    if args.data.is_empty() {
        bail!("give the drawings with --data");
    }
    if !quiet {
        // Reading a large folder takes a while: say so first. A pattern that matches nothing is
        // reported by the load itself.
        if let Ok(files) = quickdraw::expand_inputs(&args.data) {
            recur_core::stderr_line!("reading {} files…", files.len());
        }
    }
    let options = LoadOptions {
        classes: args.classes.clone(),
        max_per_class: args.max_per_class,
        recognized_only: args.recognized_only,
        strict: args.strict,
    };
    let (drawings, report) = quickdraw::load(&args.data, &options)?;
    if !quiet {
        recur_core::stderr_line!("read {} drawings from {} files", report.kept, report.files);
        if report.skipped > 0 {
            recur_core::stderr_line!(
                "skipped {} bad drawings (--strict makes them fatal), e.g.:",
                report.skipped
            );
            for p in report.problems.iter().take(5) {
                recur_core::stderr_line!("  {p}");
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
    #[arg(long, default_value_t = 200, value_parser = super::whole::<usize>)]
    per_class: usize,
    /// Seed.
    #[arg(long, default_value_t = 1, value_parser = super::whole::<u64>)]
    seed: u64,
}

/// Runs `recur data synth`.
pub fn synth(args: SynthArgs) -> Result<()> {
    let n = write_synthetic(&args.out, args.per_class, args.seed)?;
    recur_core::stderr_line!(
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

/// Arguments of `recur data download`.
#[derive(Args)]
#[command(after_help = "Files land as DIR/<class>.ndjson. An interrupted download leaves \
DIR/<class>.ndjson.part; running the same command again continues it (HTTP Range) instead of \
starting over, and classes already complete are skipped. Class names are the dataset's words, \
spaces included: --classes 'cat,The Eiffel Tower'.")]
pub struct DownloadArgs {
    /// Classes to fetch (comma-separated words).
    #[arg(long, value_delimiter = ',', required = true)]
    classes: Vec<String>,
    /// Folder to write `<class>.ndjson` files into.
    #[arg(long)]
    out: PathBuf,
    /// Keep only the first N drawings of each class (stops the transfer early).
    #[arg(long, value_parser = super::whole::<usize>)]
    max_per_class: Option<usize>,
    /// Where the `<class>.ndjson` files are served.
    #[arg(long, default_value = download::DEFAULT_BASE_URL)]
    base_url: String,
    /// How often a broken transfer is resumed before giving up.
    #[arg(long, default_value_t = 5, value_parser = super::whole::<u32>)]
    retries: u32,
}

/// Runs `recur data download`.
pub fn download(args: DownloadArgs) -> Result<()> {
    let options = DownloadOptions {
        base_url: args.base_url,
        max_per_class: args.max_per_class,
        retries: args.retries,
    };
    // Every name is checked before anything is fetched or written.
    for class in args.classes.iter().map(|c| c.trim()).filter(|c| !c.is_empty()) {
        download::check_class_name(class)?;
    }
    let mut failed = Vec::new();
    for class in args.classes.iter().map(|c| c.trim()).filter(|c| !c.is_empty()) {
        let bar = ProgressBar::new(0);
        if let Ok(style) =
            ProgressStyle::with_template(&format!("{class:>16} {{bytes}} {{wide_bar}} {{binary_bytes_per_sec}}"))
        {
            bar.set_style(style);
        }
        let capped = options.max_per_class.is_some();
        let result = download::download_class(class, &args.out, &options, &mut |done, total| {
            // With a per-class cap the transfer stops early, so the file's full size means nothing.
            if let (Some(total), false) = (total, capped) {
                bar.set_length(total);
            }
            bar.set_position(done);
        });
        bar.finish_and_clear();
        match result {
            Ok(d) => recur_core::stderr_line!(
                "{class}: {} drawings, {:.1} MB{}",
                d.drawings,
                d.bytes as f64 / 1e6,
                if d.fetched { "" } else { " (already there)" }
            ),
            Err(e) => {
                recur_core::stderr_line!("{class}: {e}");
                failed.push(class.to_string());
            }
        }
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} classes not downloaded: {}",
            failed.len(),
            args.classes.len(),
            failed.join(", ")
        );
    }
    Ok(())
}
