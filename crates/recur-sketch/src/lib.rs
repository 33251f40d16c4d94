//! recur's sketch classification: Quick, Draw! drawings in, a trained classifier, its scores
//! and predictions out.

pub mod dataset;
pub mod evaluate;
pub mod job;
pub mod predictor;
pub mod presets;
pub mod settings;
pub mod split;

pub use dataset::{examples, part_of, Example, InputSpec, Part};
pub use evaluate::{evaluate, predict_probabilities, EvalReport, PartScores};
pub use predictor::{Guess, SketchPredictor};
pub use settings::TrainSettings;
pub use split::{label_split, split_spec, SplitSpec, TrainingKeys, TRAINING_KEYS_FILE};

use dataset::{bucketed_order, make_batch};
use recur_core::Rng;
use recur_data::quickdraw::strokes::Augmentation;
use recur_nn::{Model, ModelConfig, NnError, Result};
use recur_train::distributed;
use recur_train::ensemble::train_members;
use recur_train::{fit, Clip, FitOptions, FitReport, Goal, Loss, OptimizerConfig, Schedule, TrainConfig, Trainer};
use std::path::PathBuf;

/// The metadata key under which the input spec is stored in the model config.
pub const INPUT_KEY: &str = "sketch_input";

pub use recur_nn::model_dir::{member_dir, MEMBERS_DIR};

/// Training settings.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// How drawings become input.
    pub input: InputSpec,
    /// Most epochs.
    pub epochs: usize,
    /// Epochs without a better validation top-1 before stopping.
    pub patience: usize,
    /// Drawings per batch.
    pub batch_size: usize,
    /// Peak learning rate (Adam, warm-up then cosine decay).
    pub learning_rate: f64,
    /// Label smoothing of the cross-entropy.
    pub label_smoothing: f64,
    /// Distortions of training drawings (none if `None`).
    pub augmentation: Option<Augmentation>,
    /// Seed for initialisation, shuffling, augmentation and dropout.
    pub seed: u64,
    /// Cores.
    pub threads: usize,
    /// Model directory (best model and checkpoint).
    pub out: PathBuf,
    /// Continue the checkpointed run in `out`.
    pub resume: bool,
    /// Where progress goes (epochs, batches, notes).
    pub progress: recur_train::Reporter,
    /// Under MPI, each rank trains on drawings of its own (`train` and `validation` are this
    /// rank's part): a step takes `batch_size / ranks` of them on every rank and the
    /// validation scores are those of all parts together.
    pub rank_local: bool,
}

/// Stores the class names and input spec in a model config.
pub fn label_config(mut config: ModelConfig, classes: &[String], input: &InputSpec) -> Result<ModelConfig> {
    config.classes = classes.to_vec();
    let spec = serde_json::to_value(input).map_err(|e| NnError::Config(e.to_string()))?;
    config.metadata.insert(INPUT_KEY.into(), spec);
    Ok(config)
}

/// Whether `config` is a sketch classifier's: labelled with its input or its split (what
/// `recur train` writes, and the package's `SketchClassifier` too).
pub fn is_sketch_config(config: &ModelConfig) -> bool {
    [INPUT_KEY, split::SPLIT_KEY]
        .iter()
        .any(|k| config.metadata.contains_key(*k))
}

/// The input spec a model was trained with.
pub fn input_spec(config: &ModelConfig) -> Result<InputSpec> {
    match config.metadata.get(INPUT_KEY) {
        Some(v) => serde_json::from_value(v.clone())
            .map_err(|e| NnError::Config(format!("the model's `{INPUT_KEY}` is unreadable: {e}"))),
        None if config.classes.is_empty() => Err(NnError::Config(
            "this model has no class names: it is not a sketch classifier trained by recur".into(),
        )),
        None => Ok(InputSpec::default()),
    }
}

/// Trains `config` (labelled with classes and input) on `train`, choosing the best epoch by
/// top-1 accuracy on `validation`. The best model is saved in `options.out`.
pub fn train(
    config: ModelConfig,
    train: &[Example],
    validation: &[Example],
    options: &TrainOptions,
) -> Result<(Model<f32>, FitReport)> {
    if train.is_empty() || validation.is_empty() {
        return Err(NnError::Input(format!(
            "training needs drawings in both parts of the split ({} training, {} validation)",
            train.len(),
            validation.len()
        )));
    }
    let parts = options.rank_local.then(distributed::group).flatten();
    let (rank, ranks) = parts.as_ref().map_or((0, 1), |g| (g.rank(), g.size()));
    let batch_size = options.batch_size.div_ceil(ranks).max(1);
    let mut steps_per_epoch = train.len().div_ceil(batch_size) as u64;
    if let Some(g) = &parts {
        // The epoch lasts as long as the largest part.
        steps_per_epoch = g.max_u64(steps_per_epoch);
    }
    let mut trainer = sketch_trainer(config, options, steps_per_epoch)?;
    trainer.set_rank_local(parts.is_some());
    let fit_options = FitOptions {
        epochs: options.epochs,
        monitor: "val_top1".into(),
        goal: Goal::Maximize,
        patience: Some(options.patience),
        out: Some(options.out.clone()),
        resume: options.resume,
        progress: options.progress.clone(),
        ..FitOptions::default()
    };
    let report = fit(
        &mut trainer,
        &fit_options,
        |epoch| {
            // Each rank shuffles its own part with a stream of its own (rank 0's is the
            // stream of a single process).
            let mut rng = Rng::derive(options.seed, Rng::shuffle_stream(rank, 1_000_000, epoch));
            let order = bucketed_order(train, batch_size, &mut rng);
            Ok(order
                .iter()
                .map(|idx| {
                    let refs: Vec<&Example> = idx.iter().map(|&i| &train[i]).collect();
                    let aug = options.augmentation.as_ref().map(|a| (a, &mut rng));
                    make_batch(&refs, &options.input, aug)
                })
                .collect())
        },
        |t| {
            let mut r = evaluate(
                std::slice::from_ref(&t.model),
                validation,
                &options.input,
                options.threads,
            )?;
            if let Some(g) = &parts {
                r = r.summed_over(g.as_ref());
            }
            Ok(vec![
                ("val_loss".into(), r.loss),
                ("val_top1".into(), r.top1),
                ("val_top3".into(), r.top3),
            ])
        },
    )?;
    Ok((trainer.model, report))
}

/// The trainer of a sketch classifier: Adam, global-norm clipping at 1, a cosine schedule over
/// the run's steps after a warm-up of an epoch (at most a twentieth of the run).
fn sketch_trainer(config: ModelConfig, options: &TrainOptions, steps_per_epoch: u64) -> Result<Trainer<Model<f32>>> {
    let total = steps_per_epoch * options.epochs as u64;
    Ok(Trainer::new(
        Model::<f32>::new(config, options.seed)?,
        TrainConfig {
            loss: Loss::SoftmaxCrossEntropy {
                label_smoothing: options.label_smoothing,
            },
            optimizer: OptimizerConfig::adam(),
            clip: Some(Clip::GlobalNorm(1.0)),
            schedule: Schedule::Cosine {
                lr: options.learning_rate,
                min_lr: options.learning_rate * 0.01,
                warmup: steps_per_epoch.min(total / 20),
                total,
            },
            threads: options.threads,
            seed: options.seed,
        },
    ))
}

/// Trains an ensemble of `size` models (seeds `options.seed`, +1, …; member 0 in
/// `options.out`, the others in its `members/` folder, each resumed from its own checkpoint
/// where asked and there is one); returns them with member 0's report, which a summary quotes.
pub fn train_ensemble(
    config: &ModelConfig,
    train_set: &[Example],
    validation: &[Example],
    options: &TrainOptions,
    size: usize,
) -> Result<(Vec<Model<f32>>, FitReport)> {
    let out = Some(options.out.as_path());
    let trained = train_members(size, options.seed, out, options.resume, &options.progress, |m| {
        let member = TrainOptions {
            seed: m.seed,
            out: m.out.unwrap_or_else(|| options.out.clone()),
            resume: m.resume,
            ..options.clone()
        };
        train(config.clone(), train_set, validation, &member)
    })?;
    let mut members = Vec::with_capacity(trained.len());
    let mut first = None;
    for (model, report) in trained {
        members.push(model);
        first.get_or_insert(report);
    }
    let report = first.ok_or_else(|| NnError::Config("an ensemble needs a member".into()))?;
    Ok((members, report))
}
