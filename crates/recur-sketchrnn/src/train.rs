//! Training sketch-rnn through recur-train's one [`Trainer`] (data-parallel over the cores)
//! and its epoch loop (checkpoints after every epoch, `--resume`, the time limit, progress
//! events), with Magenta's schedule: the learning rate decayed towards a floor every step, the
//! KL weight annealed from `kl_weight_start` up to `kl_weight`, gradients clipped per element.
//!
//! Magenta draws every batch at random; here an "epoch" is a fixed number of such steps,
//! after which the validation split is scored and the model written if it improved.

use crate::batch::{augment, Augmentation, StrokeBatch};
use crate::data::{self, offset_scale, prepare, Sketch, DEFAULT_MAX_LEN};
use crate::error::{input, Result};
use crate::model::{KlWeight, SketchRnn, SketchRnnConfig, Terms};
use crate::store::{Settings, SketchRnnModel};
use recur_core::Rng;
use recur_nn::{Param, Precision};
use recur_train::epochs::{train_epochs, Curriculum, EpochSteps, FitOptions};
use recur_train::history::{EpochRecord, Metrics};
use recur_train::optim::{Clip, OptimizerConfig, Schedule};
use recur_train::{Loss, LossSums, Reporter, TrainConfig, Trainable, Trainer, UNTIL_TIME_LIMIT};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// How to train: Magenta's `get_default_hparams` where they apply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainOptions {
    /// Drawings per step (`batch_size`).
    pub batch: usize,
    /// Starting learning rate (`learning_rate`).
    pub learning_rate: f64,
    /// Per-step decay of the rate above its floor (`decay_rate`).
    pub decay_rate: f64,
    /// The rate's floor (`min_learning_rate`).
    pub min_learning_rate: f64,
    /// Final KL weight (`kl_weight`).
    pub kl_weight: f64,
    /// KL weight at step 0 (`kl_weight_start`).
    pub kl_weight_start: f64,
    /// Per-step decay of the KL weight's distance to its final value (`kl_decay_rate`).
    pub kl_decay_rate: f64,
    /// `KL_min` (`kl_tolerance`).
    pub kl_floor: f64,
    /// Per-element gradient clip (`grad_clip`).
    pub grad_clip: f64,
    /// Training distortions.
    pub augmentation: Augmentation,
    /// Longest drawing kept, in points (`max_seq_len`); `N_max` is the data's longest up to it.
    pub max_len: usize,
    /// Steps between validations and checkpoints.
    pub steps_per_epoch: usize,
    /// Seed of the weights, the batches, `ε` and the masks.
    pub seed: u64,
    /// The format of the LSTMs' products: fp32, or bf16 operands with f32 sums (mixed
    /// precision; see `recur_nn::Lstm::set_training_precision`). Absent in models trained
    /// before it existed: fp32.
    #[serde(default)]
    pub precision: Precision,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            batch: 100,
            learning_rate: 1e-3,
            decay_rate: 0.9999,
            min_learning_rate: 1e-5,
            kl_weight: 0.5,
            kl_weight_start: 0.01,
            kl_decay_rate: 0.99995,
            kl_floor: 0.2,
            grad_clip: 1.0,
            augmentation: Augmentation::default(),
            max_len: DEFAULT_MAX_LEN,
            steps_per_epoch: 50,
            seed: 1,
            precision: Precision::Fp32,
        }
    }
}

impl TrainOptions {
    /// The KL weight at optimiser step `step` (Magenta's annealing).
    pub fn kl_weight_at(&self, step: u64) -> f64 {
        self.kl_weight - (self.kl_weight - self.kl_weight_start) * self.kl_decay_rate.powf(step as f64)
    }

    fn check(&self) -> Result<()> {
        let bad = |what: &str| Err(input(format!("{what} (training settings)")));
        if self.batch == 0 || self.batch > 100_000 {
            return bad("batch must be in 1..=100000");
        }
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.learning_rate) || !positive(self.grad_clip) {
            return bad("the learning rate and the gradient clip must be positive");
        }
        if self.max_len < 2 || self.steps_per_epoch == 0 {
            return bad("max_len must be at least 2 and steps_per_epoch at least 1");
        }
        if self.precision == Precision::Int8 {
            return bad("training runs at fp32 or bf16 (int8 is for inference)");
        }
        Ok(())
    }
}

/// One training step's batch: the stroke-5 drawings and the KL weight of the step.
pub struct TrainBatch<'a> {
    /// The drawings, augmented and padded.
    pub strokes: &'a StrokeBatch,
    /// `w_KL` and `KL_min`.
    pub kl: KlWeight,
}

impl Trainable for SketchRnn<f32> {
    type Float = f32;
    type Batch<'a> = TrainBatch<'a>;

    fn batch_size(batch: &TrainBatch<'_>) -> usize {
        batch.strokes.len()
    }

    fn named_params(&self) -> Vec<(String, &Param<f32>)> {
        SketchRnn::named_params(self)
    }

    fn params_mut(&mut self) -> Vec<&mut Param<f32>> {
        SketchRnn::params_mut(self)
    }

    fn forward_backward(
        &mut self,
        batch: &TrainBatch<'_>,
        shard: Range<usize>,
        _loss: Loss,
        rng: &mut Rng,
    ) -> recur_nn::Result<LossSums> {
        let count = shard.len();
        let terms = SketchRnn::forward_backward(self, batch.strokes, shard, batch.kl, rng);
        Ok(LossSums {
            loss: terms.loss,
            correct: 0,
            count,
        })
    }
}

/// Mean `L_R` and `L_KL` of `sketches` (already prepared) under `model`, scored `batch`
/// drawings at a time over `threads` cores; `ε` drawn from `seed` per batch.
pub fn score(
    model: &SketchRnn<f32>,
    sketches: &[Sketch],
    n_max: usize,
    batch: usize,
    threads: usize,
    seed: u64,
) -> Terms {
    let chunks: Vec<&[Sketch]> = sketches.chunks(batch.max(1)).collect();
    let threads = threads.clamp(1, chunks.len().max(1));
    let sums: Vec<Terms> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|w| {
                let chunks = &chunks;
                scope.spawn(move || {
                    let mut sum = Terms::default();
                    for (k, chunk) in chunks.iter().enumerate().skip(w).step_by(threads) {
                        let refs: Vec<&Sketch> = chunk.iter().collect();
                        let strokes = StrokeBatch::new(&refs, n_max);
                        let t = model.evaluate(&strokes, 0..refs.len(), &mut Rng::derive(seed, k as u64));
                        sum.recon += t.recon;
                        sum.kl += t.kl;
                    }
                    sum
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|h| h.join().expect("a scoring thread panicked"))
            .collect()
    });
    let n = sketches.len().max(1) as f64;
    let (recon, kl) = sums.iter().fold((0.0, 0.0), |(r, k), t| (r + t.recon, k + t.kl));
    Terms {
        recon: recon / n,
        kl: kl / n,
        loss: (recon + kl) / n,
    }
}

/// A training run: the data, the architecture (its class count taken from the data), the
/// settings and where the model goes.
pub struct TrainJob {
    /// A sketch-rnn `.npz` or a folder of them or of ndjson files.
    pub data: PathBuf,
    /// The architecture.
    pub model: SketchRnnConfig,
    /// The settings.
    pub options: TrainOptions,
    /// The model directory (its checkpoint inside).
    pub out: PathBuf,
    /// Continue the checkpointed run in `out`.
    pub resume: bool,
    /// Start no epoch after this many minutes.
    pub max_minutes: f64,
    /// Cores.
    pub threads: usize,
}

/// What a training run did.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Every epoch's record.
    pub history: Vec<EpochRecord>,
    /// Training, validation drawings kept and drawings dropped as longer than `N_max`.
    pub counts: [usize; 3],
    /// `N_max`.
    pub n_max: usize,
    /// The offset scale.
    pub scale: f32,
}

/// The epoch loop's view of a run.
struct SketchEpochs<'a> {
    options: &'a TrainOptions,
    train: &'a [Sketch],
    valid: &'a [Sketch],
    n_max: usize,
    threads: usize,
    setup: Value,
    best: SketchRnnModel,
    out: &'a Path,
}

impl Curriculum<SketchRnn<f32>> for SketchEpochs<'_> {
    fn train_epoch(&mut self, epoch: usize, steps: &mut EpochSteps<'_, SketchRnn<f32>>) -> recur_nn::Result<()> {
        let o = self.options;
        let mut rng = Rng::derive(o.seed, epoch as u64 + 1);
        steps.start(o.steps_per_epoch, false);
        let mut order: Vec<usize> = (0..self.train.len()).collect();
        for _ in 0..o.steps_per_epoch {
            // Magenta's random_batch: the head of a fresh permutation.
            rng.shuffle(&mut order);
            let drawn: Vec<Sketch> = order[..o.batch.min(order.len())]
                .iter()
                .map(|&i| {
                    let s = &self.train[i];
                    Sketch {
                        class: s.class,
                        points: augment(&s.points, &o.augmentation, &mut rng),
                    }
                })
                .collect();
            let refs: Vec<&Sketch> = drawn.iter().collect();
            let strokes = StrokeBatch::new(&refs, self.n_max);
            let kl = KlWeight {
                weight: o.kl_weight_at(steps.trainer.step_count()),
                floor: o.kl_floor,
            };
            steps.step(&TrainBatch { strokes: &strokes, kl })?;
        }
        Ok(())
    }

    fn validate(&mut self, trainer: &mut Trainer<SketchRnn<f32>>) -> recur_nn::Result<Metrics> {
        let t = score(
            &trainer.model,
            self.valid,
            self.n_max,
            self.options.batch,
            self.threads,
            self.options.seed,
        );
        // Magenta keeps the model of the lowest held-out cost as its evaluation model computes
        // it: L_R + kl_weight_start · max(L_KL, KL_min), close to L_R alone.
        let o = self.options;
        Ok(vec![
            ("val_cost".into(), t.recon + o.kl_weight_start * t.kl.max(o.kl_floor)),
            ("val_recon".into(), t.recon),
            ("val_kl".into(), t.kl),
        ])
    }

    fn setup(&self) -> Value {
        self.setup.clone()
    }

    fn improved(&mut self, model: &SketchRnn<f32>) -> recur_nn::Result<()> {
        self.best.network = model.clone();
        self.best
            .save(self.out)
            .map_err(|e| recur_nn::NnError::Input(e.to_string()))
    }
}

/// Loads the data, prepares it as Magenta does and trains; the best model (on Magenta's
/// held-out cost, `L_R + kl_weight_start · max(L_KL, KL_min)`) is in `job.out` as it goes.
pub fn train(job: TrainJob, progress: Reporter) -> Result<Outcome> {
    job.options.check()?;
    let splits = data::load(&job.data)?;
    let n_max = splits.longest().min(job.options.max_len);
    let kept: Vec<Sketch> = splits
        .train
        .iter()
        .filter(|s| s.points.len() <= n_max)
        .cloned()
        .collect();
    let scale = offset_scale(&kept)?;
    let train = prepare(&splits.train, n_max, scale);
    let valid = prepare(splits.split("valid", &job.data)?, n_max, scale);
    if valid.sketches.is_empty() || train.sketches.is_empty() {
        return Err(input(format!(
            "no drawings of at most {n_max} points to train or validate on"
        )));
    }
    let config = SketchRnnConfig {
        classes: splits.classes.len(),
        ..job.model
    };
    let mut network = SketchRnn::<f32>::new(config.clone(), &mut Rng::new(job.options.seed)).map_err(input)?;
    network.set_training_precision(job.options.precision);
    let settings = Settings {
        model: config,
        classes: splits.classes.clone(),
        scale,
        n_max,
        training: job.options.clone(),
    };
    let setup = serde_json::json!({"settings": settings, "train": train.sketches.len(), "valid": valid.sketches.len()});
    let o = &job.options;
    let mut trainer = Trainer::new(
        network.clone(),
        TrainConfig {
            loss: Loss::Mean,
            optimizer: OptimizerConfig::adam(),
            clip: Some(Clip::Value(o.grad_clip)),
            schedule: Schedule::DecayToFloor {
                lr: o.learning_rate,
                min_lr: o.min_learning_rate,
                rate: o.decay_rate,
            },
            threads: job.threads,
            seed: o.seed,
        },
    );
    let mut epochs = SketchEpochs {
        options: o,
        train: &train.sketches,
        valid: &valid.sketches,
        n_max,
        threads: job.threads,
        setup,
        best: SketchRnnModel { settings, network },
        out: &job.out,
    };
    let fit = FitOptions {
        epochs: UNTIL_TIME_LIMIT,
        monitor: "val_cost".into(),
        max_seconds: Some(job.max_minutes * 60.0),
        out: Some(job.out.clone()),
        resume: job.resume,
        progress,
        ..FitOptions::default()
    };
    let report = train_epochs(&mut trainer, &fit, &mut epochs)?;
    Ok(Outcome {
        history: report.history,
        counts: [
            train.sketches.len(),
            valid.sketches.len(),
            train.dropped + valid.dropped,
        ],
        n_max,
        scale,
    })
}
