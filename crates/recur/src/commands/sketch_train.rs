//! `recur train` (a sketch classifier from drawings) and `recur demo` (the whole job on the
//! generated doodles: data, training, evaluation and a report).

use super::data::{load_drawings, write_synthetic, DataArgs};
use super::own_paths_per_rank;
use super::sketch_use::{write_report, EvalSummary};
use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use recur_core::parallel::default_threads;
use recur_data::quickdraw::strokes::Encoding;
use recur_data::quickdraw::Drawing;
use recur_nn::model_dir::CONFIG_FILE;
use recur_sketch::job::Scaling;
use recur_sketch::settings::{self as defaults, RunPlace, TrainSettings};
use recur_sketch::{presets, Example};
use recur_train::distributed::is_leader;
use std::path::PathBuf;

/// Input normalisation choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
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
    #[arg(long, default_value_t = defaults::EPOCHS, value_parser = super::at_least_one)]
    epochs: usize,
    /// Train this many models (seeds seed, seed+1, …) and average their probabilities. Member 0
    /// is the model directory itself, the others go to its `members/` folder.
    #[arg(long, default_value_t = 1, value_parser = super::whole::<usize>)]
    ensemble: usize,
    /// Stop after this many epochs without a better validation top-1.
    #[arg(long, default_value_t = defaults::PATIENCE, value_parser = super::whole::<usize>)]
    patience: usize,
    /// Drawings per batch.
    #[arg(long, default_value_t = defaults::BATCH_SIZE, value_parser = super::whole::<usize>)]
    batch_size: usize,
    /// Peak learning rate (Adam; warm-up, then cosine decay).
    #[arg(long, default_value_t = defaults::LEARNING_RATE, value_parser = super::positive)]
    lr: f64,
    /// Label smoothing.
    #[arg(long, default_value_t = defaults::LABEL_SMOOTHING, value_parser = super::share)]
    label_smoothing: f64,
    /// Train without random scaling, rotation and point dropping.
    #[arg(long)]
    no_augment: bool,
    /// Point encoding.
    #[arg(long, value_enum, default_value_t = EncodingArg::of(defaults::ENCODING))]
    encoding: EncodingArg,
    /// Offset normalisation.
    #[arg(long, value_enum, default_value_t = NormArg::of(defaults::SCALING))]
    normalization: NormArg,
    /// Longer drawings are thinned to this many points.
    #[arg(long, default_value_t = defaults::MAX_POINTS, value_parser = super::whole::<usize>)]
    max_points: usize,
    /// Percent of drawings (by key_id hash) held out for validation.
    #[arg(long, default_value_t = defaults::VAL_PERCENT, value_parser = super::whole::<u64>)]
    val_percent: u64,
    /// Percent held out for the final test.
    #[arg(long, default_value_t = defaults::TEST_PERCENT, value_parser = super::whole::<u64>)]
    test_percent: u64,
    /// Seed.
    #[arg(long, default_value_t = defaults::SEED, value_parser = super::whole::<u64>)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum EncodingArg {
    /// dx, dy, pen lifted.
    Stroke3,
    /// dx, dy, pen down, pen up, end.
    Stroke5,
}

impl EncodingArg {
    /// The flag's value for the library's encoding (its default is the library's).
    fn of(encoding: Encoding) -> Self {
        match encoding {
            Encoding::Stroke3 => EncodingArg::Stroke3,
            Encoding::Stroke5 => EncodingArg::Stroke5,
        }
    }

    /// The library's encoding.
    fn encoding(self) -> Encoding {
        match self {
            EncodingArg::Stroke3 => Encoding::Stroke3,
            EncodingArg::Stroke5 => Encoding::Stroke5,
        }
    }
}

impl NormArg {
    /// The flag's value for the library's scaling (its default is the library's).
    fn of(scaling: Scaling) -> Self {
        match scaling {
            Scaling::BoundingBox => NormArg::Bbox,
            Scaling::OffsetStd => NormArg::Std,
        }
    }

    /// The library's scaling.
    fn scaling(self) -> Scaling {
        match self {
            NormArg::Bbox => Scaling::BoundingBox,
            NormArg::Std => Scaling::OffsetStd,
        }
    }
}

impl TrainArgs {
    /// The training settings the flags give (the library's defaults for those not given).
    fn settings(&self) -> TrainSettings {
        TrainSettings {
            preset: self.preset.clone(),
            config: self.config.clone(),
            epochs: self.epochs,
            ensemble: self.ensemble,
            patience: self.patience,
            batch_size: self.batch_size,
            lr: self.lr,
            label_smoothing: self.label_smoothing,
            augment: !self.no_augment,
            encoding: self.encoding.encoding(),
            normalization: self.normalization.scaling(),
            max_points: self.max_points,
            val_percent: self.val_percent,
            test_percent: self.test_percent,
            seed: self.seed,
            threads: self.threads,
        }
    }
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
    let place = RunPlace {
        out: args.out.clone(),
        resume: args.resume,
        progress: crate::progress::reporter(args.quiet),
        rank_local,
    };
    let Some((summary, scored)) = train_on(&drawings, &args.settings(), place, args.force)? else {
        return Ok(());
    };
    let report = write_report(&args.out, &summary, &scored, &args.out)?;
    if !args.quiet {
        recur_core::stderr_line!("report: {}", report.display());
    }
    super::write_stdout(|out| summary.print(out))?;
    Ok(())
}

/// Trains as `settings` say on `drawings` into `place` (clearing a model already there with
/// `force`); returns the scores on the test part (the validation part when the test part is
/// empty) and the drawings scored, or `None` on MPI ranks other than 0 (which only help
/// train). With `place.rank_local`, each MPI rank's `drawings` are its own part of the data:
/// every part is split by key_id alike, and the scalings, validation and test scores cover all
/// the parts together.
fn train_on(
    drawings: &[Drawing],
    settings: &TrainSettings,
    place: RunPlace,
    force: bool,
) -> Result<Option<(EvalSummary, Vec<Example>)>> {
    if place.out.join(CONFIG_FILE).exists() && !place.resume && !force {
        bail!(
            "{} already holds a model: pass --resume to continue its training or --force to start over",
            place.out.display()
        );
    }
    if is_leader() && force && !place.resume && place.out.is_dir() {
        super::clear_output(&place.out, &[])?;
    }
    let Some(outcome) = settings.job(drawings, place, super::flag_name)?.run()? else {
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
    #[arg(long, default_value_t = defaults::EPOCHS, value_parser = super::at_least_one)]
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
    let data = DataArgs {
        data: vec![data.display().to_string()],
        classes: Vec::new(),
        max_per_class: None,
        recognized_only: false,
        strict: false,
    };
    // The demo waits a little longer for a better epoch than `recur train` does.
    let settings = TrainSettings {
        epochs: args.epochs,
        ensemble: args.ensemble,
        patience: 10,
        threads: args.threads,
        ..TrainSettings::default()
    };
    let place = RunPlace {
        out: model.clone(),
        resume: false,
        progress: crate::progress::reporter(false),
        rank_local: false,
    };
    let drawings = load_drawings(&data, true)?;
    let Some((summary, scored)) = train_on(&drawings, &settings, place, true)? else {
        return Ok(());
    };
    super::write_stdout(|out| summary.print(out))?;
    let report = write_report(&args.out, &summary, &scored, &model)?;
    recur_core::stderr_line!("report: {}", report.display());
    Ok(())
}
