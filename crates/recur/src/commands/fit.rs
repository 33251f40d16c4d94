//! `recur fit`: train a classifier, regressor or per-step tagger on the user's own labelled
//! sequences (UEA/UCR `.ts` files or `.npy` arrays), with every training setting on the
//! command line or in the config's `training` section.

use super::sequences::{read_set, NpyArgs};
use super::{own_files_per_rank, RANK_PLACEHOLDER};
use anyhow::{bail, Context, Result};
use clap::builder::BoolishValueParser;
use clap::Args;
use recur_fit::history::{summary_line, write_histories, CURVE_FILE, HISTORY_FILE};
use recur_fit::{split_config, FitJob, FitOutcome, FitRequest};
use recur_nn::model_dir::CONFIG_FILE;
use recur_train::distributed::is_leader;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};

/// Arguments of `recur fit`.
#[derive(Args)]
pub struct FitArgs {
    /// Training sequences: a UEA/UCR .ts file (or use --x/--y). Under mpirun, `{rank}` in the
    /// training paths (e.g. `part-{rank}.ts`) gives each rank its own file. Or video clips: a
    /// folder with one subfolder per class, or a CSV of path,label[,group] (needs FFmpeg).
    #[arg(long)]
    train: Option<PathBuf>,
    #[command(flatten)]
    npy: NpyArgs,
    /// Validation sequences (.ts); without them --val-split of the training file is held out.
    #[arg(long)]
    val: Option<PathBuf>,
    /// Validation arrays as .npy, as --x: once per model input, in the config's order.
    #[arg(long)]
    val_x: Vec<PathBuf>,
    /// Validation lengths as .npy.
    #[arg(long)]
    val_lengths: Option<PathBuf>,
    /// Validation targets as .npy.
    #[arg(long)]
    val_y: Option<PathBuf>,
    /// Model directory to write (best model, checkpoint, history.json, learning_curve.png).
    #[arg(long)]
    out: PathBuf,
    /// Model config (JSON, Keras-like layers); its optional `training` object holds settings
    /// with the names of the options below (snake_case). Default: MiniRocket with a ridge head
    /// for one class per sequence (see --solver), else a conv + BiGRU.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Continue the run checkpointed in --out (give the same data and settings); only gradient
    /// training keeps a checkpoint, so resuming one trains by gradient.
    #[arg(long)]
    resume: bool,
    /// Replace a model already in --out.
    #[arg(long)]
    force: bool,
    /// No progress bar or per-epoch lines.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    knobs: Knobs,
    #[command(flatten)]
    video: super::video::VideoArgs,
}

/// Training settings on the command line; each overrides the config's `training` section.
/// Every flag is named as its `training` field, so the ones given serialise straight into it.
#[derive(Args, Default, Serialize)]
pub struct Knobs {
    /// Loss: auto, cross_entropy, mse, huber or mae.
    #[arg(long)]
    loss: Option<String>,
    /// Label smoothing of the cross-entropy [default: 0.1].
    #[arg(long)]
    label_smoothing: Option<f64>,
    /// Huber threshold in standardised target units [default: 1].
    #[arg(long)]
    huber_delta: Option<f64>,
    /// Optimiser: sgd, nesterov, adam or adamw [default: adamw].
    #[arg(long)]
    optimizer: Option<String>,
    /// Decoupled weight decay of adamw [default: 0.01].
    #[arg(long)]
    weight_decay: Option<f64>,
    /// Momentum of sgd and nesterov [default: 0.9].
    #[arg(long)]
    momentum: Option<f64>,
    /// Peak learning rate [default: 0.003].
    #[arg(long)]
    lr: Option<f64>,
    /// Schedule: constant, exponential or cosine [default: cosine].
    #[arg(long)]
    schedule: Option<String>,
    /// Final cosine rate as a fraction of --lr [default: 0.01].
    #[arg(long)]
    min_lr_ratio: Option<f64>,
    /// Per-epoch decay of the exponential schedule [default: 0.97].
    #[arg(long)]
    decay_rate: Option<f64>,
    /// Epochs of linear warm-up [default: 2].
    #[arg(long)]
    warmup_epochs: Option<f64>,
    /// Clip the global gradient norm to this [default: 1].
    #[arg(long)]
    clip_norm: Option<f64>,
    /// Clip each gradient value to ±this instead.
    #[arg(long, conflicts_with = "clip_norm")]
    clip_value: Option<f64>,
    /// No gradient clipping.
    #[arg(long, conflicts_with_all = ["clip_norm", "clip_value"])]
    #[serde(skip)]
    no_clip: bool,
    /// Sequences per batch [default: 16].
    #[arg(long, value_parser = super::whole::<usize>)]
    batch_size: Option<usize>,
    /// Epochs [default: about 3000 steps, 30 to 400 epochs; video: 60].
    #[arg(long, value_parser = super::at_least_one)]
    epochs: Option<usize>,
    /// Metric choosing the best epoch: val_loss, val_accuracy, val_mae, val_rmse [default: val_loss].
    #[arg(long)]
    monitor: Option<String>,
    /// Stop after this many epochs without a better monitored value [default: never].
    #[arg(long, value_parser = super::whole::<usize>)]
    patience: Option<usize>,
    /// Keep the best epoch's weights (true) or the last (false) [default: true].
    #[arg(long, value_parser = BoolishValueParser::new())]
    keep_best: Option<bool>,
    /// Seed for the split, weights, shuffling and dropout [default: 1].
    #[arg(long, value_parser = super::whole::<u64>)]
    seed: Option<u64>,
    /// Cores [default: all].
    #[arg(long, value_parser = super::whole::<usize>)]
    threads: Option<usize>,
    /// Standardise each channel with the training set's mean and deviation (on/off) [default:
    /// on; off for the default MiniRocket model, which reads raw values as sktime does].
    #[arg(long, value_parser = BoolishValueParser::new())]
    standardize: Option<bool>,
    /// Take sign(x)·ln(1 + |x|) of every input value first: auto (when the sequences' sizes
    /// differ by orders of magnitude), on or off [default: auto; off for the default MiniRocket
    /// model].
    #[arg(long)]
    log_inputs: Option<String>,
    /// Per-sequence standardisation: off, append (each channel also standardised within its
    /// sequence) or only (within-sequence shape plus level and log scale) [default: append; off
    /// for the default MiniRocket model].
    #[arg(long)]
    sequence_norm: Option<String>,
    /// How the weights are found: gradient (mini-batches), ridge (the last dense layer in
    /// closed form, after layers with nothing to train, such as minirocket) or auto (ridge
    /// where it applies: one target per sequence, one process, at most 2,500 sequences and
    /// such a model; the default classifier is then MiniRocket's features with a ridge head)
    /// [default: auto].
    #[arg(long)]
    solver: Option<String>,
    /// Share of the training file held out for validation when no --val is given; 0 keeps
    /// the last epoch [default: 0.2 with the gradient solver, 0 with ridge, whose
    /// leave-one-out scores need no held-out part].
    #[arg(long)]
    val_split: Option<f64>,
    /// Train this many models (seeds seed, seed+1, … each with its own split) and average them
    /// [default: 1].
    #[arg(long, value_parser = super::whole::<usize>)]
    ensemble: Option<usize>,
    /// Kernel initialiser (input projections, dense and convolution weights): glorot_uniform,
    /// glorot_normal, he_uniform, he_normal or lecun_normal [default: glorot_uniform].
    #[arg(long)]
    kernel_init: Option<String>,
    /// Recurrent kernel initialiser: orthogonal or glorot_uniform [default: orthogonal].
    #[arg(long)]
    recurrent_init: Option<String>,
    /// Start every LSTM forget-gate bias at this value [default: the layer's unit_forget_bias,
    /// 1].
    #[arg(long)]
    forget_bias: Option<f64>,
    /// Augmentation: deviation of a random factor (around 1) multiplying each training
    /// sequence every epoch [default: 0, off].
    #[arg(long)]
    augment_scale: Option<f64>,
    /// Augmentation: deviation of Gaussian noise added to every training input value, in
    /// standardised units [default: 0, off].
    #[arg(long)]
    augment_jitter: Option<f64>,
    /// Augmentation: largest share of each training sequence's steps cut off by a random
    /// window, in [0, 1) [default: 0, off].
    #[arg(long)]
    augment_crop: Option<f64>,
    /// Augmentation: chance that each step of a training sequence is replaced by its
    /// neighbour (temporal jitter), in [0, 1] [default: 0, off; video: see docs/video.md].
    #[arg(long)]
    augment_time_jitter: Option<f64>,
    /// Augmentation: mirror half of the training clips left to right (true/false) [default:
    /// false; video: true].
    #[arg(long, value_parser = BoolishValueParser::new())]
    augment_flip: Option<bool>,
    /// Augmentation: largest share of each side of a training clip's frames cut off by a
    /// random window scaled back to the frame size, in [0, 1) [default: 0; video: see
    /// docs/video.md].
    #[arg(long)]
    augment_zoom: Option<f64>,
}

impl Knobs {
    /// The options given, as `training` fields laid over `section`.
    fn merge_into(&self, section: Value) -> Value {
        let mut map: Map<String, Value> = match section {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        // Flags not given serialise as null and leave the section's value alone.
        if let Ok(Value::Object(given)) = serde_json::to_value(self) {
            map.extend(given.into_iter().filter(|(_, v)| !v.is_null()));
        }
        if self.no_clip {
            map.insert("clip_norm".into(), Value::Null);
            map.insert("clip_value".into(), Value::Null);
        }
        Value::Object(map)
    }
}

/// Runs `recur fit`.
pub fn fit(mut args: FitArgs) -> Result<()> {
    // Under `mpirun` every rank trains; rank 0 alone prints and writes.
    let lead = is_leader();
    args.quiet |= !lead;
    let rank_local = training_files_per_rank(&mut args)?;
    if args.resume {
        recur_train::ensemble::require_checkpoint(&args.out)?;
    }
    // The settings first: a value out of range is refused before the data are read.
    let (model, section) = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let (model, section) = split_config(&text, &path.display().to_string())?;
            (Some((model, path.display().to_string())), section)
        }
        None => (None, json!({})),
    };
    if let Some(train) = args.train.clone().filter(|t| super::video::is_clip_list(t)) {
        return fit_clips(&args, &train, model, section);
    }
    super::video::refuse_for_sequences(&args.video)?;
    let request = FitRequest::new(model, args.knobs.merge_into(section))?;
    // Each array is read as the model declares its input (a vector or sequences).
    let specs = request.input_specs()?;
    let train = read_set(args.train.as_deref(), &args.npy, &specs, "training sequences")?
        .context("give the training sequences: --train FILE.ts, or --x and --y arrays")?;
    let val_npy = NpyArgs {
        x: args.val_x.clone(),
        lengths: args.val_lengths.clone(),
        y: args.val_y.clone(),
    };
    let val = read_set(args.val.as_deref(), &val_npy, &specs, "validation sequences")?;
    let config = request.model_config(&train)?;
    prepare_out(&args, lead)?;
    let job = FitJob {
        train: &train,
        val: val.as_ref(),
        config,
        settings: request.settings,
        out: args.out.clone(),
        resume: args.resume,
        progress: crate::progress::reporter(args.quiet),
        rank_local,
        groups: None,
    };
    let outcome = recur_fit::fit_sequences(&job)?;
    if !lead {
        return Ok(());
    }
    finish(&args.out, &outcome)
}

/// Refuses to train over a model in `--out` unless resuming or forced; with `--force`, the
/// leading process removes what an earlier fit wrote there (and only that).
fn prepare_out(args: &FitArgs, lead: bool) -> Result<()> {
    if args.out.join(CONFIG_FILE).exists() && !args.resume && !args.force {
        bail!(
            "{} already holds a model: pass --resume to continue its training or --force to start over",
            args.out.display()
        );
    }
    if lead && args.force && !args.resume && args.out.exists() {
        // Only what a fit wrote: `--out . --force` must not wipe the user's folder.
        super::clear_output(&args.out, &[HISTORY_FILE, CURVE_FILE])
            .with_context(|| format!("cannot clear {}", args.out.display()))?;
    }
    Ok(())
}

/// Writes every member's history and prints the summary line.
fn finish(out: &Path, outcome: &FitOutcome) -> Result<()> {
    write_histories(out, outcome)?;
    let line = summary_line(out, outcome);
    super::write_stdout(|o| writeln!(o, "{line}"))
}

/// `recur fit` on video clips (a class folder or a CSV): one model, or with `--cv` the folds'
/// accuracies.
fn fit_clips(args: &FitArgs, train: &Path, model: Option<(Value, String)>, section: Value) -> Result<()> {
    if recur_train::distributed::group().is_some() {
        bail!("video training runs in one process: run it without mpirun");
    }
    prepare_out(args, true)?;
    let training = args.knobs.merge_into(section);
    let progress = crate::progress::reporter(args.quiet);
    let run = (args.out.as_path(), args.resume);
    match super::video::fit(train, &args.video, model, training, run, progress)? {
        super::video::VideoOutcome::Model(outcome) => finish(&args.out, &outcome),
        super::video::VideoOutcome::Folds(accuracies) => {
            let line = super::video::folds_line(&args.out, &accuracies);
            super::write_stdout(|o| writeln!(o, "{line}"))
        }
    }
}

/// Puts this process's rank for `{rank}` in the training paths; true when, under MPI, each
/// rank thus reads its own part of the training data.
fn training_files_per_rank(args: &mut FitArgs) -> Result<bool> {
    let has = |p: &PathBuf| p.to_string_lossy().contains(RANK_PLACEHOLDER);
    let validation = [&args.val, &args.val_lengths, &args.val_y];
    if validation.into_iter().flatten().chain(&args.val_x).any(has) {
        bail!("the validation sequences are read whole by every rank: give them without {RANK_PLACEHOLDER}");
    }
    let training = [&mut args.train, &mut args.npy.lengths, &mut args.npy.y];
    let paths = training.into_iter().flatten().chain(args.npy.x.iter_mut()).collect();
    own_files_per_rank(paths, "training path (--train, or --x, --lengths and --y)")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Flags given override the config's `training` fields of the same name; the others stay.
    #[test]
    fn fit_flags_given_override_the_training_section_by_name() {
        let knobs = Knobs {
            lr: Some(0.2),
            keep_best: Some(false),
            no_clip: true,
            ..Knobs::default()
        };
        let merged = knobs.merge_into(json!({"lr": 0.1, "epochs": 5, "clip_norm": 2.0}));
        let expected = json!({"lr": 0.2, "epochs": 5, "keep_best": false, "clip_norm": null, "clip_value": null});
        assert_eq!(merged, expected);
        assert_eq!(Knobs::default().merge_into(Value::Null), json!({}));
    }
}
