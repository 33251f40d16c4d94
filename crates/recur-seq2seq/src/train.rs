//! Training an encoder–decoder through recur-train's epoch loop: batches of similar source
//! length, teacher forcing with each batch split across threads (the model and a replica for
//! each further thread; their gradients summed in shard order, so a run depends on the seed and
//! thread count only), Adam with gradient clipping, and each epoch scored by decoding the
//! validation words (a held-out part of the training file): the learning rate halves when that
//! score stops improving, and the best epoch's weights are the ones kept. After every epoch a
//! checkpoint lets a killed run resume and end as if never stopped.
//!
//! Under MPI (a group installed in [`recur_train::distributed`]) every rank is handed the
//! same batches and runs its own `threads` of the `ranks × threads` shards; the shard sums
//! meet in one all-reduce per step, and validation is split across the ranks with its counts
//! summed. Shards and dropout streams are numbered globally, so 2 ranks × 1 thread give the
//! model of 1 process × 2 threads. With [`TrainOptions::rank_local`] each rank is instead
//! handed pairs of its own and batches them itself.

use crate::checkpoint::{Ramp, Setup};
use crate::decoder::Batch;
use crate::metrics::{Scores, Tally};
use crate::model::Seq2Seq;
use crate::sampling::mix_in_predictions;
use crate::search::{decode_parallel, SearchOptions};
use recur_core::parallel::shard_ranges;
use recur_core::Rng;
use recur_nn::{NnError, Param};
use recur_train::distributed::{self, Fingerprint};
use recur_train::epochs::{lookup, Saved};
use recur_train::optim::{Clip, OptimizerConfig, Schedule};
use recur_train::{
    train_epochs, Curriculum, EpochSteps, FitOptions, Goal, Loss, LossSums, Metrics, Plateau, Reporter, TrainConfig,
    Trainable, Trainer,
};
use serde_json::Value;
use std::ops::Range;
use std::path::PathBuf;

/// A pair of id sequences (source, target), neither with SOS/EOS.
pub type IdPair = (Vec<u32>, Vec<u32>);

/// A validation item: source ids and every reference target.
pub type Reference = (Vec<u32>, Vec<Vec<u32>>);

pub use crate::options::{EpochRecord, TrainOptions};

/// The validation figures each epoch records: the word error rate, which picks the kept
/// epoch, and the token error rate, which breaks its ties (early on every word may be wrong).
pub const MONITORED: [&str; 2] = ["val_wer", "val_per"];

/// How a training run reports and keeps what it does.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// Folder whose `checkpoint/` is written after every epoch (by rank 0 alone under MPI; see
    /// [`recur_train::checkpoint`]); `None`: no checkpoints.
    pub out: Option<PathBuf>,
    /// Continue the run checkpointed in `out` (every rank reads it).
    pub resume: bool,
    /// Where the epochs' and batches' events go (heard on rank 0 alone).
    pub progress: Reporter,
}

/// Trains `model` and leaves in it the weights of the epoch with the best validation WER (PER
/// breaking ties); `on_best` is handed each new best model on rank 0 (to write it as training
/// goes). Returns every epoch's record, those before a resume included.
///
/// Resumed from a checkpoint with the settings and data it was made with (`epochs`, `patience`
/// and `max_seconds` may change), a run ends with the weights and history of one that was never
/// stopped, to the bit. The time limit counts from the start of each run, and every run trains
/// at least one epoch.
pub fn train(
    model: &mut Seq2Seq<f32>,
    pairs: &[IdPair],
    validation: &[Reference],
    options: &TrainOptions,
    run: &Run,
    on_best: impl FnMut(&Seq2Seq<f32>),
) -> Result<Vec<EpochRecord>, NnError> {
    if pairs.is_empty() {
        return Err(NnError::Input("no training pairs".into()));
    }
    let mut trainer = Trainer::new(model.clone(), train_config(options));
    trainer.set_rank_local(options.rank_local);
    let mut job = PairEpochs {
        setup: setup(&trainer, pairs, validation, options),
        pairs,
        validation,
        options,
        ramp: Ramp::default(),
        on_best,
    };
    let fit_options = FitOptions {
        epochs: options.epochs,
        monitor: MONITORED[0].into(),
        tie_break: Some(MONITORED[1].into()),
        goal: Goal::Minimize,
        patience: Some(options.patience.max(1)),
        plateau: Some(Plateau {
            patience: options.lr_patience.max(1),
            factor: 0.5,
        }),
        max_seconds: (options.max_seconds > 0.0).then_some(options.max_seconds),
        out: run.out.clone(),
        resume: run.resume,
        progress: run.progress.clone(),
    };
    let report = train_epochs(&mut trainer, &fit_options, &mut job)?;
    *model = trainer.model;
    let pairs = job.setup.pairs;
    Ok(report.history.iter().map(|r| record(r, pairs)).collect())
}

/// An epoch's figures as an encoder–decoder's history keeps them, with training throughput
/// over `pairs` (all the parts').
fn record(r: &recur_train::EpochRecord, pairs: usize) -> EpochRecord {
    let metric = |name| lookup(&r.metrics, name).unwrap_or(f64::NAN);
    EpochRecord {
        epoch: r.epoch,
        loss: r.loss,
        token_accuracy: r.accuracy.unwrap_or(0.0),
        val_wer: metric(MONITORED[0]),
        val_per: metric(MONITORED[1]),
        lr: r.lr,
        pairs_per_second: pairs as f64 / r.train_seconds,
        elapsed: r.elapsed,
    }
}

/// The trainer's settings for `options`: Adam, a global-norm clip, the label-smoothed
/// cross-entropy, and dropout streams of their own.
fn train_config(options: &TrainOptions) -> TrainConfig {
    TrainConfig {
        loss: Loss::SoftmaxCrossEntropy {
            label_smoothing: options.label_smoothing,
        },
        optimizer: OptimizerConfig::adam(),
        clip: Some(Clip::GlobalNorm(options.clip)),
        schedule: Schedule::Constant { lr: options.lr },
        threads: options.threads,
        seed: options.seed ^ 0xD20_0000,
    }
}

/// What a run is tied to: its settings, the model's, the shards and the data. With parts
/// (rank-local data) the data is every rank's: their digests and counts together.
fn setup(trainer: &Trainer<Seq2Seq<f32>>, pairs: &[IdPair], validation: &[Reference], options: &TrainOptions) -> Setup {
    let own = data_digest(pairs, validation);
    let (data, pairs, validation) = match distributed::group().filter(|_| trainer.rank_local()) {
        Some(g) => {
            let mut all = Fingerprint::default();
            g.gather_u64(own).into_iter().for_each(|d| {
                all.word(d);
            });
            let mut counts = [pairs.len() as f64, validation.len() as f64];
            trainer.sum_over_ranks(&mut counts);
            (all.finish(), counts[0] as usize, counts[1] as usize)
        }
        None => (own, pairs.len(), validation.len()),
    };
    Setup {
        options: options.clone(),
        model: trainer.model.config().clone(),
        shards: options.threads.max(1) * trainer.ranks(),
        pairs,
        validation,
        data,
    }
}

/// An encoder–decoder's epochs: its pairs batched by source length, scheduled sampling on its
/// ramp, validation by decoding.
struct PairEpochs<'a, F> {
    setup: Setup,
    pairs: &'a [IdPair],
    validation: &'a [Reference],
    options: &'a TrainOptions,
    ramp: Ramp,
    on_best: F,
}

impl<F: FnMut(&Seq2Seq<f32>)> Curriculum<Seq2Seq<f32>> for PairEpochs<'_, F> {
    fn train_epoch(&mut self, epoch: usize, steps: &mut EpochSteps<'_, Seq2Seq<f32>>) -> Result<(), NnError> {
        let (pairs, options) = (self.pairs, self.options);
        // Epochs are numbered from 1 in the shuffle streams and the ramp.
        let epoch = epoch + 1;
        let trainer = &mut *steps.trainer;
        let rank_local = trainer.rank_local();
        let batches = if rank_local {
            // Each rank shuffles its own part with a stream of its own.
            let rng = Rng::derive(options.seed, Rng::shuffle_stream(trainer.rank(), 0, epoch));
            epoch_batches(pairs, options.batch.div_ceil(trainer.ranks()), rng)
        } else {
            epoch_batches(pairs, options.batch, Rng::derive(options.seed, epoch as u64))
        };
        // With parts, ranks step together until the one with most batches is done.
        let count = if rank_local {
            trainer.max_over_ranks(batches.len() as u64) as usize
        } else {
            batches.len()
        };
        // Each step's loss is the mean over its global batch's target tokens; with parts the
        // ranks add their batches' counts, all the epoch's in one sum.
        let mut totals: Vec<f64> = (0..count)
            .map(|i| {
                let batch = batches.get(i).map_or(&[][..], Vec::as_slice);
                batch.iter().map(|&p| pairs[p].1.len() + 1).sum::<usize>() as f64
            })
            .collect();
        if rank_local {
            trainer.sum_over_ranks(&mut totals);
        }
        let sampling = self.ramp.share(options, epoch);
        steps.start(count, true);
        for (i, &total) in totals.iter().enumerate() {
            match batches.get(i) {
                Some(chosen) => steps.step(&PairBatch {
                    pairs,
                    chosen,
                    sampling,
                    scale: 1.0 / total.max(1.0),
                })?,
                None => steps.idle()?,
            }
        }
        Ok(())
    }

    fn validate(&mut self, trainer: &mut Trainer<Seq2Seq<f32>>) -> Result<Metrics, NnError> {
        let (beam, threads) = (self.options.val_beam, self.options.threads.max(1));
        let scores = evaluate(&trainer.model, self.validation, beam, threads, trainer.rank_local())?;
        Ok(vec![
            (MONITORED[0].into(), scores.wer),
            (MONITORED[1].into(), scores.per),
        ])
    }

    fn setup(&self) -> Value {
        serde_json::to_value(&self.setup).unwrap_or_default()
    }

    fn state(&self) -> Value {
        self.ramp.to_state()
    }

    /// Goes on only with the settings and data the checkpoint was made with (naming the flags
    /// that differ), and with its sampling ramp.
    fn resume(&mut self, saved: &Saved) -> Result<(), NnError> {
        let refuse = |message: String| NnError::Checkpoint {
            path: saved.dir.display().to_string(),
            message,
        };
        let old: Setup = serde_json::from_value(saved.setup.clone())
            .map_err(|e| refuse(format!("not a checkpoint of an encoder–decoder ({e})")))?;
        let ramp: Ramp = serde_json::from_value(saved.state.clone())
            .map_err(|e| refuse(format!("not a checkpoint of an encoder–decoder ({e})")))?;
        let differences = old.differences(&self.setup);
        if !differences.is_empty() {
            return Err(refuse(format!(
                "made with other settings or data than these, so it cannot be resumed: {} \
                 (only --epochs, --patience and --max-minutes may change)",
                differences.join("; ")
            )));
        }
        self.ramp = ramp.resumed(&old.options, self.options, saved.epochs_done);
        Ok(())
    }

    fn improved(&mut self, model: &Seq2Seq<f32>) -> Result<(), NnError> {
        (self.on_best)(model);
        Ok(())
    }
}

/// One step's training pairs, as every shard's worker reads them.
pub struct PairBatch<'a> {
    /// Every training pair.
    pairs: &'a [IdPair],
    /// The step's pairs, as indices into `pairs`.
    chosen: &'a [usize],
    /// The share of decoder inputs replaced by the model's own predictions.
    sampling: f64,
    /// One over the global batch's target tokens: each shard's gradient comes out a share of
    /// the batch's mean.
    scale: f64,
}

impl Trainable for Seq2Seq<f32> {
    type Float = f32;
    type Batch<'a> = PairBatch<'a>;
    const SHARDS_SCALE_GRADIENTS: bool = true;

    fn batch_size(batch: &PairBatch<'_>) -> usize {
        batch.chosen.len()
    }

    fn named_params(&self) -> Vec<(String, &Param<f32>)> {
        Seq2Seq::named_params(self)
    }

    fn params_mut(&mut self) -> Vec<&mut Param<f32>> {
        Seq2Seq::params_mut(self)
    }

    /// Teacher forcing on the shard's pairs, scheduled sampling mixed in.
    fn forward_backward(
        &mut self,
        batch: &PairBatch<'_>,
        shard: Range<usize>,
        loss: Loss,
        rng: &mut Rng,
    ) -> Result<LossSums, NnError> {
        let Loss::SoftmaxCrossEntropy { label_smoothing } = loss else {
            return Err(NnError::Config(
                "an encoder–decoder trains on softmax cross-entropy".into(),
            ));
        };
        let chosen: Vec<(&[u32], &[u32])> = batch.chosen[shard]
            .iter()
            .map(|&p| (batch.pairs[p].0.as_slice(), batch.pairs[p].1.as_slice()))
            .collect();
        let mut b = Batch::new(&chosen)?;
        mix_in_predictions(self, &mut b, batch.sampling, rng)?;
        let s = self.train_batch(&b, rng, label_smoothing, batch.scale)?;
        Ok(LossSums {
            loss: s.loss,
            correct: s.correct,
            count: s.tokens,
        })
    }

    /// The numbering seq2seq models have always been trained with.
    fn dropout_stream(step: u64, shard: usize) -> u64 {
        step * 64 + shard as u64
    }
}

/// Scores `model` on `items` by decoding each source with a beam of `beam`, the sources
/// split across `threads`. Under MPI every rank must call this: the ranks split `items`
/// among them, or with `rank_local` (each rank holding items of its own) each scores all of
/// its own; the counts are added.
pub fn evaluate(
    model: &Seq2Seq<f32>,
    items: &[Reference],
    beam: usize,
    threads: usize,
    rank_local: bool,
) -> Result<Scores, NnError> {
    let group = distributed::group();
    let share = match &group {
        Some(g) if !rank_local => shard_ranges(items.len(), g.size())
            .get(g.rank())
            .cloned()
            .unwrap_or(0..0),
        _ => 0..items.len(),
    };
    let local = tally(model, &items[share], beam, threads);
    let mut counts = local.as_ref().map_or([0.0; 4], |t| {
        [t.items as f64, t.wrong as f64, t.edits as f64, t.length as f64]
    });
    // Every rank adds its counts, even one that failed, so none waits for ever.
    if let Some(g) = &group {
        g.sum_f64(&mut counts);
    }
    local?;
    Ok(Tally {
        items: counts[0] as usize,
        wrong: counts[1] as usize,
        edits: counts[2] as usize,
        length: counts[3] as usize,
    }
    .scores())
}

/// The counts of `model`'s outputs on `items`.
fn tally(model: &Seq2Seq<f32>, items: &[Reference], beam: usize, threads: usize) -> Result<Tally, NnError> {
    if items.is_empty() {
        return Ok(Tally::default());
    }
    let sources: Vec<Vec<u32>> = items.iter().map(|(s, _)| s.clone()).collect();
    let options = SearchOptions {
        beam,
        nbest: 1,
        ..SearchOptions::default()
    };
    let outputs = decode_parallel(model, &sources, &options, threads)?;
    let scored: Vec<(Vec<String>, Vec<Vec<String>>)> = outputs
        .iter()
        .zip(items)
        .map(|(hyps, (_, refs))| {
            let words = |ids: &[u32]| ids.iter().map(u32::to_string).collect::<Vec<_>>();
            let best = hyps.first().map(|h| words(&h.tokens)).unwrap_or_default();
            (best, refs.iter().map(|r| words(r)).collect())
        })
        .collect();
    Ok(Tally::of(&scored))
}

/// The epoch's batches as indices into `pairs`: shuffled, then grouped in pools of 50
/// batches sorted by source length so each batch pads little, then the batches shuffled.
fn epoch_batches(pairs: &[IdPair], batch: usize, mut rng: Rng) -> Vec<Vec<usize>> {
    let batch = batch.max(1);
    let mut order: Vec<usize> = (0..pairs.len()).collect();
    rng.shuffle(&mut order);
    let mut batches = Vec::new();
    for pool in order.chunks_mut(batch * 50) {
        pool.sort_by_key(|&i| (pairs[i].0.len(), pairs[i].1.len()));
        batches.extend(pool.chunks(batch).map(<[usize]>::to_vec));
    }
    rng.shuffle(&mut batches);
    batches
}

/// A digest of the training pairs and validation references.
fn data_digest(pairs: &[IdPair], validation: &[Reference]) -> u64 {
    let mut digest = Fingerprint::default();
    let ids = |digest: &mut Fingerprint, ids: &[u32]| {
        digest.word(ids.len() as u64);
        ids.iter().for_each(|&i| {
            digest.word(u64::from(i));
        });
    };
    for (s, t) in pairs {
        ids(&mut digest, s);
        ids(&mut digest, t);
    }
    for (s, refs) in validation {
        ids(&mut digest, s);
        refs.iter().for_each(|r| ids(&mut digest, r));
    }
    digest.finish()
}
