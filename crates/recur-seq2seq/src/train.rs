//! Training an encoder–decoder: batches of similar source length, teacher forcing with each
//! batch split across threads (the model and a replica for each further thread; their
//! gradients summed in shard order, so a run depends on the seed and thread count only),
//! Adam with gradient clipping, and each epoch scored by decoding the validation words (a
//! held-out part of the training file): the learning rate halves when that score stops
//! improving, and the best epoch's weights are the ones kept. After every epoch a checkpoint
//! (see [`crate::checkpoint`]) lets a killed run resume and end as if never stopped.
//!
//! Under MPI (a group installed in [`recur_train::distributed`]) every rank is handed the
//! same batches and runs its own `threads` of the `ranks × threads` shards; the shard sums
//! meet in one all-reduce per step, and validation is split across the ranks with its counts
//! summed. Shards and dropout streams are numbered globally, so 2 ranks × 1 thread give the
//! model of 1 process × 2 threads. With [`TrainOptions::rank_local`] each rank is instead
//! handed pairs of its own and batches them itself.

use crate::checkpoint::{self, Best, RunState, Setup};
use crate::decoder::Batch;
use crate::metrics::{Scores, Tally};
use crate::model::Seq2Seq;
use crate::sampling::mix_in_predictions;
use crate::search::{decode_parallel, SearchOptions};
use recur_core::parallel::shard_ranges;
use recur_core::Rng;
use recur_nn::{NnError, Param};
use recur_train::distributed::{self, Fingerprint};
use recur_train::optim::{Clip, OptimizerConfig, Schedule};
use recur_train::{Loss, LossSums, TrainConfig, Trainable, Trainer};
use std::ops::Range;
use std::path::PathBuf;
use std::time::Instant;

/// A pair of id sequences (source, target), neither with SOS/EOS.
pub type IdPair = (Vec<u32>, Vec<u32>);

/// A validation item: source ids and every reference target.
pub type Reference = (Vec<u32>, Vec<Vec<u32>>);

pub use crate::options::{EpochRecord, TrainOptions};

/// What a caller hears during training.
pub enum Progress<'a> {
    /// A batch finished: batches done and in all, this epoch.
    Batch(usize, usize),
    /// An epoch finished.
    Epoch(&'a EpochRecord),
    /// A checkpoint was read: training goes on after this many epochs.
    Resumed(usize),
    /// The epoch just finished scored best so far: the model holds its weights (reported
    /// before that epoch's checkpoint is written, so a saved model is never behind it).
    Improved(&'a Seq2Seq<f32>),
}

/// Where and whether [`train_with_checkpoints`] keeps a checkpoint.
#[derive(Clone, Debug, Default)]
pub struct Checkpoints {
    /// Folder whose `checkpoint/` is written after every epoch (by rank 0 alone under MPI; see
    /// [`crate::checkpoint`]); `None`: no checkpoints.
    pub out: Option<PathBuf>,
    /// Continue the run checkpointed in `out` (every rank reads it).
    pub resume: bool,
}

/// Trains `model` and leaves in it the weights of the epoch with the best validation WER;
/// returns every epoch's record.
pub fn train(
    model: &mut Seq2Seq<f32>,
    pairs: &[IdPair],
    validation: &[Reference],
    options: &TrainOptions,
    progress: impl FnMut(Progress),
) -> Result<Vec<EpochRecord>, NnError> {
    train_with_checkpoints(model, pairs, validation, options, &Checkpoints::default(), progress)
}

/// [`train`] with a checkpoint after every epoch, and from one: resumed with the settings and
/// data it was made with (`epochs`, `patience` and `max_seconds` may change), a run ends
/// with the weights and history of one that was never stopped, to the bit. The time limit
/// counts from the start of each run, and every run trains at least one epoch. The history
/// returned includes the epochs before a resume.
pub fn train_with_checkpoints(
    model: &mut Seq2Seq<f32>,
    pairs: &[IdPair],
    validation: &[Reference],
    options: &TrainOptions,
    checkpoints: &Checkpoints,
    mut progress: impl FnMut(Progress),
) -> Result<Vec<EpochRecord>, NnError> {
    if pairs.is_empty() {
        return Err(NnError::Input("no training pairs".into()));
    }
    let mut trainer = Trainer::new(model.clone(), train_config(options));
    trainer.set_rank_local(options.rank_local);
    let setup = setup(&trainer, pairs, validation, options);
    let (mut run, mut best) = match (&checkpoints.out, checkpoints.resume) {
        (Some(out), true) => {
            let loaded = checkpoint::load(out, &setup, &mut trainer.model, &mut trainer.optimizer)?;
            trainer.sync_replicas();
            loaded
        }
        (None, true) => return Err(NnError::Config("resuming needs an output directory".into())),
        _ => (RunState::new(setup), None),
    };
    trainer.agree("the model, training settings, data and checkpoint", || {
        fingerprint(&trainer, options, &run, best.as_ref())
    })?;
    if checkpoints.resume {
        progress(Progress::Resumed(run.epochs_done));
    }
    // Rank 0 alone writes.
    let out = checkpoints.out.as_deref().filter(|_| trainer.rank() == 0);
    // Seconds trained before this run (the records' clock goes on across a resume).
    let before = run.history.last().map_or(0.0, |r| r.elapsed);
    let start = Instant::now();
    let first_epoch = run.epochs_done + 1;
    for epoch in first_epoch..=options.epochs {
        // A resumed run that had stopped early stays stopped (unless given more patience).
        if run.since_best >= options.patience.max(1) {
            break;
        }
        // Rank 0's clock decides, so every rank starts the same epochs; each run trains one.
        let out_of_time = options.max_seconds > 0.0 && start.elapsed().as_secs_f64() >= options.max_seconds;
        if epoch > first_epoch && leader_decides(&trainer, out_of_time) {
            break;
        }
        let epoch_start = Instant::now();
        let lr = run.lr;
        let sums = train_epoch(&mut trainer, pairs, options, &mut run, epoch, &mut progress)?;
        let train_seconds = epoch_start.elapsed().as_secs_f64();
        let threads = options.threads.max(1);
        let scores = evaluate(
            &trainer.model,
            validation,
            options.val_beam,
            threads,
            trainer.rank_local(),
        )?;
        let record = EpochRecord {
            epoch,
            loss: sums.loss / sums.count.max(1) as f64,
            token_accuracy: sums.correct as f64 / sums.count.max(1) as f64,
            val_wer: scores.wer,
            val_per: scores.per,
            lr,
            pairs_per_second: run.setup.pairs as f64 / train_seconds,
            elapsed: before + start.elapsed().as_secs_f64(),
        };
        progress(Progress::Epoch(&record));
        run.history.push(record);
        run.epochs_done = epoch;
        let improved = observe(&mut run, epoch, &scores);
        if improved {
            best = Some(trainer.model.clone());
            progress(Progress::Improved(&trainer.model));
        }
        if let Some(out) = out {
            checkpoint::save(out, &run, &trainer.model, &trainer.optimizer, best.as_ref())?;
        }
        if run.since_best >= options.patience.max(1) {
            break;
        }
    }
    *model = best.unwrap_or(trainer.model);
    Ok(run.history)
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

/// Rank 0's `yes`, on every rank.
fn leader_decides(trainer: &Trainer<Seq2Seq<f32>>, yes: bool) -> bool {
    let mut v = [f64::from(u8::from(yes && trainer.rank() == 0))];
    trainer.sum_over_ranks(&mut v);
    v[0] > 0.0
}

/// Records an epoch's validation `scores`: true when they are the best so far (WER first, PER
/// to break ties, as early on every word may still be wrong); otherwise counts the epochs
/// since, halving the learning rate after `lr_patience` of them unless the run stops.
fn observe(run: &mut RunState, epoch: usize, scores: &Scores) -> bool {
    let options = &run.setup.options;
    let key = (scores.wer, scores.per);
    if run.best.is_none_or(|b| key < (b.wer, b.per)) {
        run.best = Some(Best {
            epoch,
            wer: scores.wer,
            per: scores.per,
        });
        (run.since_best, run.since_decay) = (0, 0);
        return true;
    }
    run.since_best += 1;
    run.since_decay += 1;
    let stop = run.since_best >= options.patience.max(1);
    if !stop && run.since_decay >= options.lr_patience.max(1) {
        run.lr *= 0.5;
        run.since_decay = 0;
    }
    false
}

/// One epoch's steps at `run.lr`; returns the summed loss, tokens and hits over every rank.
fn train_epoch(
    trainer: &mut Trainer<Seq2Seq<f32>>,
    pairs: &[IdPair],
    options: &TrainOptions,
    run: &mut RunState,
    epoch: usize,
    progress: &mut impl FnMut(Progress),
) -> Result<LossSums, NnError> {
    let rank_local = trainer.rank_local();
    let batches = if rank_local {
        // Each rank shuffles its own part with a stream of its own.
        let rng = Rng::derive(options.seed, Rng::shuffle_stream(trainer.rank(), 0, epoch));
        epoch_batches(pairs, options.batch.div_ceil(trainer.ranks()), rng)
    } else {
        epoch_batches(pairs, options.batch, Rng::derive(options.seed, epoch as u64))
    };
    // With parts, ranks step together until the one with most batches is done.
    let steps = if rank_local {
        trainer.max_over_ranks(batches.len() as u64) as usize
    } else {
        batches.len()
    };
    // Each step's loss is the mean over its global batch's target tokens; with parts the
    // ranks add their batches' counts, all the epoch's in one sum.
    let mut totals: Vec<f64> = (0..steps)
        .map(|i| {
            let batch = batches.get(i).map_or(&[][..], Vec::as_slice);
            batch.iter().map(|&p| pairs[p].1.len() + 1).sum::<usize>() as f64
        })
        .collect();
    if rank_local {
        trainer.sum_over_ranks(&mut totals);
    }
    trainer.set_learning_rate(run.lr);
    let sampling = run.sampling_share(epoch);
    let mut sums = LossSums::default();
    for (i, &total) in totals.iter().enumerate() {
        let stats = match batches.get(i) {
            Some(chosen) => trainer.step(&PairBatch {
                pairs,
                chosen,
                sampling,
                scale: 1.0 / total.max(1.0),
            })?,
            None => trainer.train_step_idle()?,
        };
        sums.loss += stats.loss_sum;
        sums.count += stats.count;
        sums.correct += stats.correct;
        run.step = trainer.step_count();
        progress(Progress::Batch(i + 1, steps));
    }
    Ok(sums)
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

/// What every rank must share before training: settings, weights, data and the checkpoint's
/// state, moments and best weights.
fn fingerprint(
    trainer: &Trainer<Seq2Seq<f32>>,
    options: &TrainOptions,
    run: &RunState,
    best: Option<&Seq2Seq<f32>>,
) -> u64 {
    let mut digest = Fingerprint::default();
    digest.text(&serde_json::to_string(options).unwrap_or_default());
    for (name, p) in trainer.model.named_params() {
        digest.text(&name).floats(&p.value);
    }
    digest.word(run.setup.data);
    let optimizer = &trainer.optimizer;
    digest.text(&serde_json::to_string(run).unwrap_or_default());
    digest.word(optimizer.step);
    for m in optimizer.m.iter().chain(&optimizer.v) {
        digest.floats(m);
    }
    for (_, p) in best.map(Seq2Seq::named_params).unwrap_or_default() {
        digest.floats(&p.value);
    }
    digest.finish()
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
