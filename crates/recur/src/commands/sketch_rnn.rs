//! `recur sketch-rnn train|eval|sample`: sketch-rnn, a VAE over stroke-5 drawings with a
//! mixture-density LSTM decoder (unconditional, conditional on a drawing's latent, or on a
//! class). Flags are parsed here; everything else is `recur_sketchrnn`.

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use recur_data::quickdraw::ndjson::to_line;
use recur_nn::model_dir::write_atomic;
use recur_nn::Precision;
use recur_sketchrnn::model::Mode;
use recur_sketchrnn::sample::{DrawSettings, SampleRequest};
use recur_sketchrnn::store::SETTINGS_FILE;
use recur_sketchrnn::train::{train, TrainJob, TrainOptions};
use recur_sketchrnn::{SketchRnnConfig, SketchRnnModel};
use recur_train::{checkpoint, EpochRecord};
use recur_viz::sketch::grid_svg;
use recur_viz::write_picture;
use std::path::PathBuf;

/// The `sketch-rnn` subcommands.
#[derive(Subcommand)]
pub enum SketchRnnCommand {
    /// Train on a sketch-rnn .npz (train/valid/test) or a folder of them or of ndjson files
    /// (one file per class, named by the class).
    Train(Box<TrainArgs>),
    /// Score a split: one JSON line {"recon_loss", "kl_loss", "drawings", "dropped"}.
    Eval(EvalArgs),
    /// Draw new sketches as Quick, Draw! ndjson.
    Sample(SampleArgs),
    /// Draw given drawings again from their latent (vae and class models).
    Reconstruct(ReconstructArgs),
    /// Finish drawings from their first points.
    Complete(CompleteArgs),
    /// Morph one drawing into another through the latent space (spherical interpolation).
    Interpolate(InterpolateArgs),
}

/// Runs a `sketch-rnn` subcommand.
pub fn run(command: SketchRnnCommand) -> Result<()> {
    match command {
        SketchRnnCommand::Train(a) => train_command(*a),
        SketchRnnCommand::Eval(a) => eval(a),
        SketchRnnCommand::Sample(a) => sample(a),
        SketchRnnCommand::Reconstruct(a) => reconstruct(a),
        SketchRnnCommand::Complete(a) => complete(a),
        SketchRnnCommand::Interpolate(a) => interpolate(a),
    }
}

/// Arguments of `recur sketch-rnn train`.
#[derive(Args)]
pub struct TrainArgs {
    /// A sketch-rnn .npz, or a folder of .npz or .ndjson files, one per class.
    #[arg(long)]
    data: PathBuf,
    /// Model directory to write (the best model so far, and checkpoint/ after every epoch).
    #[arg(long)]
    out: PathBuf,
    /// unconditional (decoder only), vae (encoder → z → decoder), class (vae plus a class
    /// embedding), or class-only (a class embedding, no encoder).
    #[arg(long, default_value = "vae")]
    mode: String,
    /// Continue the run checkpointed in --out (same data and settings).
    #[arg(long)]
    resume: bool,
    /// Start no epoch after this many minutes (a default, not a cap).
    #[arg(long, default_value_t = 20.0, value_parser = super::positive)]
    max_minutes: f64,
    /// Decoder LSTM units (Magenta: 512).
    #[arg(long, default_value_t = 256, value_parser = super::whole::<usize>)]
    decoder_units: usize,
    /// Encoder LSTM units per direction (Magenta: 256).
    #[arg(long, default_value_t = 128, value_parser = super::whole::<usize>)]
    encoder_units: usize,
    /// Width of the latent z (Magenta: 128).
    #[arg(long, default_value_t = 64, value_parser = super::whole::<usize>)]
    latent: usize,
    /// Width of the class embedding.
    #[arg(long, default_value_t = 32, value_parser = super::whole::<usize>)]
    class_embedding: usize,
    /// Normals in the mixture.
    #[arg(long, default_value_t = 20, value_parser = super::whole::<usize>)]
    mixtures: usize,
    /// Dropout on the decoder's recurrent state.
    #[arg(long, default_value_t = 0.0, value_parser = super::share)]
    recurrent_dropout: f64,
    /// Drawings per step.
    #[arg(long, default_value_t = 100, value_parser = super::whole::<usize>)]
    batch: usize,
    /// Starting learning rate (decayed by 0.9999 a step towards 1e-5).
    #[arg(long, default_value_t = 1e-3, value_parser = super::positive)]
    lr: f64,
    /// Final KL weight (annealed from 0.01).
    #[arg(long, default_value_t = 0.5, value_parser = super::at_least_zero)]
    kl_weight: f64,
    /// KL_min: no KL gradient below it.
    #[arg(long, default_value_t = 0.2, value_parser = super::at_least_zero)]
    kl_min: f64,
    /// Longest drawing kept, in points (N_max is the data's longest up to it).
    #[arg(long, default_value_t = 250, value_parser = super::whole::<usize>)]
    max_len: usize,
    /// Steps between validations and checkpoints.
    #[arg(long, default_value_t = 50, value_parser = super::at_least_one)]
    steps_per_epoch: usize,
    /// Threads (default: the machine's cores).
    #[arg(long, value_parser = super::whole::<usize>)]
    threads: Option<usize>,
    /// Seed of the weights, batches, augmentation and ε.
    #[arg(long, default_value_t = 1, value_parser = super::whole::<u64>)]
    seed: u64,
    /// The matrix products of training: fp32; bf16 (mixed precision: operands rounded to
    /// bfloat16, sums, weights, gradients and gate math in f32); or auto: bf16 where the CPU
    /// has AVX512-BF16 (and Intel's AMX, several times fp32's rate), else fp32. Evaluation and
    /// sampling run in fp32 either way.
    #[arg(long, default_value = "auto", value_parser = training_precision)]
    precision: TrainingPrecision,
}

/// `--precision` for training: `auto` (`None`: the fastest here), fp32 or bf16.
#[derive(Clone, Copy, Debug)]
struct TrainingPrecision(Option<Precision>);

/// Parses `--precision` for training (int8 is for inference).
fn training_precision(s: &str) -> std::result::Result<TrainingPrecision, String> {
    match s {
        "auto" => Ok(TrainingPrecision(None)),
        _ => match s.parse::<Precision>() {
            Ok(Precision::Int8) => Err("training runs at fp32 or bf16 (int8 is for inference)".to_string()),
            Ok(p) => Ok(TrainingPrecision(Some(p))),
            Err(_) => Err(format!("unknown precision `{s}`: expected auto, fp32 or bf16")),
        },
    }
}

fn train_command(args: TrainArgs) -> Result<()> {
    let mode = Mode::parse(&args.mode).map_err(anyhow::Error::msg)?;
    if (args.out.join(SETTINGS_FILE).exists() || checkpoint::exists(&args.out)) && !args.resume {
        bail!(
            "{} already holds a sketch-rnn model or checkpoint: pass --resume to continue its training, or another --out",
            args.out.display()
        );
    }
    if args.resume {
        recur_train::ensemble::require_checkpoint(&args.out)?;
    }
    let threads = args.threads.unwrap_or_else(recur_core::parallel::default_threads);
    let precision = args.precision.0.unwrap_or_else(Precision::fastest_training);
    recur_core::stderr_line!(
        "training products in {precision} ({}{})",
        precision.training_kernel(),
        if precision == Precision::Bf16 {
            "; --precision fp32 for full precision"
        } else {
            ""
        }
    );
    let job = TrainJob {
        data: args.data.clone(),
        model: SketchRnnConfig {
            mode,
            encoder_units: args.encoder_units,
            decoder_units: args.decoder_units,
            latent: args.latent,
            class_embedding: args.class_embedding,
            mixtures: args.mixtures,
            classes: 0,
            recurrent_dropout: args.recurrent_dropout,
        },
        options: TrainOptions {
            batch: args.batch,
            learning_rate: args.lr,
            kl_weight: args.kl_weight,
            kl_floor: args.kl_min,
            max_len: args.max_len,
            steps_per_epoch: args.steps_per_epoch,
            seed: args.seed,
            precision,
            ..TrainOptions::default()
        },
        out: args.out.clone(),
        resume: args.resume,
        max_minutes: args.max_minutes,
        threads,
    };
    let steps_per_epoch = args.steps_per_epoch;
    let progress = crate::progress::on_stderr_with(move |r, _, improved| epoch_line(r, steps_per_epoch, improved));
    let outcome = train(job, progress)?;
    let [train_n, valid_n, dropped] = outcome.counts;
    recur_core::stderr_line!(
        "{train_n} training and {valid_n} validation drawings (N_max {}, {dropped} longer ones left out, offsets / {:.3}); model in {}",
        outcome.n_max,
        outcome.scale,
        args.out.display()
    );
    Ok(())
}

/// One epoch's line: the steps so far and their rate, the training loss, the validation terms
/// and the minutes since training began (the run goes on until its time limit, so no epoch
/// count is shown).
fn epoch_line(r: &EpochRecord, steps_per_epoch: usize, improved: bool) -> String {
    let get = |name: &str| r.metrics.iter().find(|(n, _)| n == name).map_or(f64::NAN, |(_, v)| *v);
    format!(
        "epoch {} (step {}, {:.2} steps/s): loss {:.4}, valid L_R {:.4} L_KL {:.4}, lr {:.2e}, {:.1} min{}",
        r.epoch,
        r.epoch * steps_per_epoch,
        steps_per_epoch as f64 / r.train_seconds,
        r.loss,
        get("val_recon"),
        get("val_kl"),
        r.lr,
        r.elapsed / 60.0,
        if improved { " (best)" } else { "" }
    )
}

/// The sketch-rnn model in `dir`, or an error naming the command that serves the model of
/// another kind found there.
fn load(dir: &std::path::Path) -> Result<SketchRnnModel> {
    super::kind::expect(dir, &[super::kind::Kind::SketchRnn])?;
    Ok(SketchRnnModel::load(dir)?)
}

/// Arguments of `recur sketch-rnn eval`.
#[derive(Args)]
pub struct EvalArgs {
    /// Model directory.
    #[arg(long)]
    model: PathBuf,
    /// A sketch-rnn .npz or a folder of class files.
    #[arg(long)]
    data: PathBuf,
    /// Which split: train, valid or test.
    #[arg(long, default_value = "test")]
    split: String,
    /// Score with this N_max instead of the model's (L_R depends on it).
    #[arg(long, value_parser = super::whole::<usize>)]
    max_len: Option<usize>,
    /// Print one JSON line (the only output form; kept for scripts that pass it).
    #[arg(long)]
    json: bool,
    /// Threads (default: the machine's cores).
    #[arg(long, value_parser = super::whole::<usize>)]
    threads: Option<usize>,
}

fn eval(args: EvalArgs) -> Result<()> {
    let model = load(&args.model)?;
    let threads = args.threads.unwrap_or_else(recur_core::parallel::default_threads);
    let e = model.evaluate_file(&args.data, &args.split, args.max_len, threads)?;
    let line = serde_json::to_string(&e)?;
    super::write_stdout(|out| writeln!(out, "{line}"))
}

/// Where drawings go, and how they are drawn.
#[derive(Args)]
pub struct DrawArgs {
    /// Model directory.
    #[arg(long)]
    model: PathBuf,
    /// Temperature τ (> 0): lower is tidier and less varied.
    #[arg(long, default_value_t = 0.5)]
    temperature: f64,
    /// Seed of z and every draw.
    #[arg(long, default_value_t = 1, value_parser = super::whole::<u64>)]
    seed: u64,
    /// Ndjson file to write.
    #[arg(long)]
    out: PathBuf,
    /// Also draw them as a labelled grid (.svg or .png) through recur's renderer.
    #[arg(long)]
    grid: Option<PathBuf>,
    /// Columns of the grid.
    #[arg(long, default_value_t = 8, value_parser = super::at_least_one)]
    columns: usize,
}

impl DrawArgs {
    fn how(&self) -> DrawSettings {
        DrawSettings {
            temperature: self.temperature,
            seed: self.seed,
        }
    }

    /// Writes `drawings` (each of class `classes[i]`) as ndjson and, if asked, a grid.
    fn write(&self, model: &SketchRnnModel, drawings: &[Vec<[f32; 3]>], classes: &[usize]) -> Result<()> {
        let drawn = model.as_drawings(drawings, classes);
        let mut text = String::new();
        for d in &drawn {
            text.push_str(&to_line(d));
            text.push('\n');
        }
        write_atomic(&self.out, text.as_bytes())?;
        if let Some(grid) = &self.grid {
            let items: Vec<_> = drawn.iter().map(|d| (d.strokes.clone(), d.word.clone())).collect();
            write_picture(grid, &grid_svg(&items, self.columns, 120.0))?;
        }
        let empty = drawings.iter().filter(|d| d.is_empty()).count();
        let note = match empty {
            0 => String::new(),
            n => format!(" ({n} ended before their first point: an undertrained model, or a low --temperature)"),
        };
        recur_core::stderr_line!("{} drawings in {}{note}", drawn.len(), self.out.display());
        Ok(())
    }
}

/// Which drawings of a data file to start from.
#[derive(Args)]
pub struct PickArgs {
    /// A sketch-rnn .npz or a folder of class files.
    #[arg(long)]
    data: PathBuf,
    /// Which split: train, valid or test.
    #[arg(long, default_value = "test")]
    split: String,
    /// Drawings of the split by position (0-based; repeat the flag or separate by commas).
    #[arg(long, value_delimiter = ',', default_value = "0", value_parser = super::whole::<usize>)]
    index: Vec<usize>,
}

/// Arguments of `recur sketch-rnn reconstruct`.
#[derive(Args)]
pub struct ReconstructArgs {
    #[command(flatten)]
    draw: DrawArgs,
    #[command(flatten)]
    pick: PickArgs,
}

fn reconstruct(args: ReconstructArgs) -> Result<()> {
    let model = load(&args.draw.model)?;
    let given = model.pick(&args.pick.data, &args.pick.split, &args.pick.index)?;
    let drawings = model.reconstruct(&given, args.draw.how())?;
    let classes: Vec<usize> = given.iter().map(|s| s.class).collect();
    args.draw.write(&model, &drawings, &classes)
}

/// Arguments of `recur sketch-rnn complete`.
#[derive(Args)]
pub struct CompleteArgs {
    #[command(flatten)]
    draw: DrawArgs,
    #[command(flatten)]
    pick: PickArgs,
    /// Points of each drawing kept as its unfinished start (default: half of them).
    #[arg(long, value_parser = super::at_least_one)]
    points: Option<usize>,
    /// Endings drawn per drawing.
    #[arg(long, default_value_t = 4, value_parser = super::at_least_one)]
    count: usize,
}

fn complete(args: CompleteArgs) -> Result<()> {
    let model = load(&args.draw.model)?;
    let mut given = model.pick(&args.pick.data, &args.pick.split, &args.pick.index)?;
    for s in &mut given {
        let keep = args.points.unwrap_or(s.points.len() / 2).clamp(1, s.points.len());
        s.points.truncate(keep);
    }
    if args.count.saturating_mul(given.len()) > MAX_SAMPLES {
        bail!("--count times the drawings must be at most {MAX_SAMPLES}");
    }
    let drawings = model.complete(&given, args.count, args.draw.how())?;
    let classes: Vec<usize> = given
        .iter()
        .flat_map(|s| std::iter::repeat_n(s.class, args.count))
        .collect();
    args.draw.write(&model, &drawings, &classes)
}

/// Arguments of `recur sketch-rnn interpolate`.
#[derive(Args)]
pub struct InterpolateArgs {
    #[command(flatten)]
    draw: DrawArgs,
    #[command(flatten)]
    pick: PickArgs,
    /// Drawings along the way, both ends included.
    #[arg(long, default_value_t = 8, value_parser = super::whole::<usize>)]
    steps: usize,
}

fn interpolate(args: InterpolateArgs) -> Result<()> {
    let model = load(&args.draw.model)?;
    let [a, b] = &args.pick.index[..] else {
        bail!("interpolate needs two drawings: --index A,B");
    };
    if args.steps > MAX_SAMPLES {
        bail!("--steps must be at most {MAX_SAMPLES}, got {}", args.steps);
    }
    let given = model.pick(&args.pick.data, &args.pick.split, &[*a, *b])?;
    let drawings = model.interpolate(&given[0], &given[1], args.steps, args.draw.how())?;
    let classes: Vec<usize> = (0..drawings.len())
        .map(|k| given[usize::from(2 * k >= drawings.len())].class)
        .collect();
    args.draw.write(&model, &drawings, &classes)
}

/// Arguments of `recur sketch-rnn sample`.
#[derive(Args)]
pub struct SampleArgs {
    #[command(flatten)]
    draw: DrawArgs,
    /// The class to draw, as the training data names it (class-conditional models).
    #[arg(long)]
    class: Option<String>,
    /// Drawings to make.
    #[arg(long, default_value_t = 16, value_parser = super::at_least_one)]
    count: usize,
}

/// Most drawings one call makes.
const MAX_SAMPLES: usize = 100_000;

fn sample(args: SampleArgs) -> Result<()> {
    if args.count > MAX_SAMPLES {
        bail!("--count must be at most {MAX_SAMPLES}, got {}", args.count);
    }
    let model = load(&args.draw.model)?;
    let class = match &args.class {
        Some(name) => model.class_id(name)?,
        None => 0,
    };
    let classes = vec![class; args.count];
    let drawings = model.sample(&SampleRequest::new(classes.clone(), args.draw.how()))?;
    args.draw.write(&model, &drawings, &classes)
}
