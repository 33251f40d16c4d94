//! `recur train` (a sketch classifier from drawings) and `recur demo` (the whole job on the
//! generated doodles: data, training, evaluation and a report).

use super::data::{load_drawings, write_synthetic, DataArgs};
use super::own_paths_per_rank;
use super::sketch_use::{write_report, EvalSummary};
use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use recur_core::parallel::default_threads;
use recur_data::quickdraw::strokes::{Augmentation, Encoding, Normalization};
use recur_data::quickdraw::Drawing;
use recur_nn::model_dir::{read_config, CONFIG_FILE};
use recur_sketch::job::{Scaling, TrainJob};
use recur_sketch::{presets, Example, InputSpec, SplitSpec, TrainOptions};
use recur_train::distributed::{self, is_leader};
use std::path::PathBuf;

/// Input normalisation choices.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum NormArg {
    /// Per drawing: bounding box scaled to 1.
    Bbox,
    /// Offsets divided by the training set's standard deviation (sketch-rnn).
    Std,
}

/// Arguments of `recur train`.
#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Model directory to write (best model, checkpoint, and report.md with confusion.svg and
    /// mistakes.svg).
    #[arg(long)]
    out: PathBuf,
    /// Architecture: recur (default), geron or tf-tutorial.
    #[arg(long, default_value = presets::PRESETS[0])]
    preset: String,
    /// A model config file instead of a preset (its last layer must output one value per class).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Most epochs.
    #[arg(long, default_value_t = 40, value_parser = super::at_least_one)]
    epochs: usize,
    /// Train this many models (seeds seed, seed+1, …) and average their probabilities. Member 0
    /// is the model directory itself, the others go to its `members/` folder.
    #[arg(long, default_value_t = 1, value_parser = super::whole::<usize>)]
    ensemble: usize,
    /// Stop after this many epochs without a better validation top-1.
    #[arg(long, default_value_t = 8, value_parser = super::whole::<usize>)]
    patience: usize,
    /// Drawings per batch.
    #[arg(long, default_value_t = 64, value_parser = super::whole::<usize>)]
    batch_size: usize,
    /// Peak learning rate (Adam; warm-up, then cosine decay).
    #[arg(long, default_value_t = 2e-3, value_parser = super::positive)]
    lr: f64,
    /// Label smoothing.
    #[arg(long, default_value_t = 0.1, value_parser = super::share)]
    label_smoothing: f64,
    /// Train without random scaling, rotation and point dropping.
    #[arg(long)]
    no_augment: bool,
    /// Point encoding.
    #[arg(long, value_enum, default_value = "stroke3")]
    encoding: EncodingArg,
    /// Offset normalisation.
    #[arg(long, value_enum, default_value = "bbox")]
    normalization: NormArg,
    /// Longer drawings are thinned to this many points.
    #[arg(long, default_value_t = 250, value_parser = super::whole::<usize>)]
    max_points: usize,
    /// Percent of drawings (by key_id hash) held out for validation.
    #[arg(long, default_value_t = 10, value_parser = super::whole::<u64>)]
    val_percent: u64,
    /// Percent held out for the final test.
    #[arg(long, default_value_t = 10, value_parser = super::whole::<u64>)]
    test_percent: u64,
    /// Seed.
    #[arg(long, default_value_t = 1, value_parser = super::whole::<u64>)]
    seed: u64,
    /// Cores.
    #[arg(long, default_value_t = default_threads(), value_parser = super::whole::<usize>)]
    threads: usize,
    /// Continue the run checkpointed in --out.
    #[arg(long)]
    resume: bool,
    /// Replace a model already in --out.
    #[arg(long)]
    force: bool,
    /// No progress bar or per-epoch lines.
    #[arg(long)]
    quiet: bool,
}

/// Point encodings on the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum EncodingArg {
    /// dx, dy, pen lifted.
    Stroke3,
    /// dx, dy, pen down, pen up, end.
    Stroke5,
}

/// Runs `recur train` (under `mpirun`, across the ranks: rank 0 alone prints, writes and
/// evaluates).
pub fn train(mut args: TrainArgs) -> Result<()> {
    args.quiet |= !is_leader();
    let rank_local = own_paths_per_rank(&mut args.data.data, "--data path")?;
    if args.resume {
        recur_train::ensemble::require_checkpoint(&args.out)?;
    }
    let drawings = load_drawings(&args.data, args.quiet)?;
    let Some((summary, scored)) = train_on(&drawings, &args, rank_local)? else {
        return Ok(());
    };
    let report = write_report(&args.out, &summary, &scored, &args.out)?;
    if !args.quiet {
        recur_core::stderr_line!("report: {}", report.display());
    }
    super::write_stdout(|out| summary.print(out))?;
    Ok(())
}

/// Trains as `args` say on `drawings`; returns the scores on the test part (the validation
/// part when the test part is empty) and the drawings scored, or `None` on MPI ranks other
/// than 0 (which only help train). With `rank_local`, each MPI rank's `drawings` are its own
/// part of the data: every part is split by key_id alike, and the scalings, validation and
/// test scores cover all the parts together.
fn train_on(drawings: &[Drawing], args: &TrainArgs, rank_local: bool) -> Result<Option<(EvalSummary, Vec<Example>)>> {
    if args.out.join(CONFIG_FILE).exists() && !args.resume && !args.force {
        bail!(
            "{} already holds a model: pass --resume to continue its training or --force to start over",
            args.out.display()
        );
    }
    if is_leader() && args.force && !args.resume && args.out.is_dir() {
        super::clear_output(&args.out, &[])?;
    }
    let encoding = match args.encoding {
        EncodingArg::Stroke3 => Encoding::Stroke3,
        EncodingArg::Stroke5 => Encoding::Stroke5,
    };
    let job = TrainJob {
        drawings,
        split: SplitSpec {
            val_percent: args.val_percent,
            test_percent: args.test_percent,
        },
        scaling: match args.normalization {
            NormArg::Bbox => Scaling::BoundingBox,
            NormArg::Std => Scaling::OffsetStd,
        },
        config: args.config.as_deref().map(read_config).transpose()?,
        preset: args.preset.clone(),
        options: TrainOptions {
            input: InputSpec {
                encoding,
                normalization: Normalization::BoundingBox,
                max_points: args.max_points.max(8),
            },
            epochs: args.epochs,
            patience: args.patience,
            batch_size: args.batch_size.max(1),
            learning_rate: args.lr,
            label_smoothing: args.label_smoothing,
            augmentation: (!args.no_augment).then(Augmentation::default),
            seed: args.seed,
            threads: args.threads.max(1),
            out: args.out.clone(),
            resume: args.resume,
            progress: crate::progress::reporter(args.quiet),
            rank_local,
        },
        ensemble: args.ensemble,
        parts: rank_local.then(distributed::group).flatten(),
    };
    let Some(outcome) = job.run()? else {
        return Ok(None);
    };
    let summary = EvalSummary {
        scores: outcome.scores,
        coverage: None,
    };
    Ok(Some((summary, outcome.scored)))
}

/// Arguments of `recur demo`.
#[derive(Args)]
pub struct DemoArgs {
    /// Folder for the generated data, the model and the report.
    #[arg(long, default_value = "recur-demo")]
    out: PathBuf,
    /// Generated drawings per class.
    #[arg(long, default_value_t = 200, value_parser = super::whole::<usize>)]
    per_class: usize,
    /// Most epochs.
    #[arg(long, default_value_t = 40, value_parser = super::at_least_one)]
    epochs: usize,
    /// Train this many models (seeds seed, seed+1, …) and average their probabilities. Member 0
    /// is the model directory itself, the others go to its `members/` folder.
    #[arg(long, default_value_t = 1, value_parser = super::whole::<usize>)]
    ensemble: usize,
    /// Cores.
    #[arg(long, default_value_t = default_threads(), value_parser = super::whole::<usize>)]
    threads: usize,
}

/// Runs `recur demo`: generate doodles, train the default model, evaluate, write a report.
pub fn demo(args: DemoArgs) -> Result<()> {
    let data = args.out.join("data");
    let n = write_synthetic(&data, args.per_class, 1)?;
    recur_core::stderr_line!("generated {n} doodles in {}", data.display());
    let model = args.out.join("model");
    let train_args = TrainArgs {
        data: DataArgs {
            data: vec![data.display().to_string()],
            classes: Vec::new(),
            max_per_class: None,
            recognized_only: false,
            strict: false,
        },
        out: model.clone(),
        preset: presets::PRESETS[0].into(),
        config: None,
        epochs: args.epochs,
        ensemble: args.ensemble,
        patience: 10,
        batch_size: 64,
        lr: 2e-3,
        label_smoothing: 0.1,
        no_augment: false,
        encoding: EncodingArg::Stroke3,
        normalization: NormArg::Bbox,
        max_points: 250,
        val_percent: 10,
        test_percent: 10,
        seed: 1,
        threads: args.threads,
        resume: false,
        force: true,
        quiet: false,
    };
    let drawings = load_drawings(&train_args.data, true)?;
    let Some((summary, scored)) = train_on(&drawings, &train_args, false)? else {
        return Ok(());
    };
    super::write_stdout(|out| summary.print(out))?;
    let report = write_report(&args.out, &summary, &scored, &model)?;
    recur_core::stderr_line!("report: {}", report.display());
    Ok(())
}
