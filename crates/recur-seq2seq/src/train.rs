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
use crate::search::{search, SearchOptions};
use recur_core::math::dispatch;
use recur_core::parallel::{rank_shards, run_on_workers, shard_ranges, split_by_size};
use recur_core::Rng;
use recur_nn::{NnError, Param};
use recur_train::distributed::{self, Collective, Fingerprint};
use recur_train::optim::{global_norm_factor, Optimizer, OptimizerConfig, TensorStep};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

/// A pair of id sequences (source, target), neither with SOS/EOS.
pub type IdPair = (Vec<u32>, Vec<u32>);

/// A validation item: source ids and every reference target.
pub type Reference = (Vec<u32>, Vec<Vec<u32>>);

/// Training settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainOptions {
    /// Passes over the training pairs at most.
    pub epochs: usize,
    /// Pairs per optimiser step.
    pub batch: usize,
    /// Adam's learning rate.
    pub lr: f64,
    /// Label smoothing of the cross-entropy.
    pub label_smoothing: f64,
    /// Global gradient-norm clip.
    pub clip: f64,
    /// Halve the learning rate after this many epochs without a better validation score.
    pub lr_patience: usize,
    /// Stop after this many epochs without a better validation score.
    pub patience: usize,
    /// Stop starting epochs once this many seconds have passed (0: no limit).
    pub max_seconds: f64,
    /// Beam used to score validation (1: greedy, the fastest).
    pub val_beam: usize,
    /// Threads the batch is split across.
    pub threads: usize,
    /// Seed of shuffling and dropout.
    pub seed: u64,
    /// Scheduled sampling: the largest share of decoder inputs replaced by the model's own
    /// predictions, reached at the last epoch from 0 at the first (see [`crate::sampling`]).
    #[serde(default)]
    pub scheduled_sampling: f64,
    /// Under MPI, each rank trains on pairs of its own (`pairs` and `validation` are this
    /// rank's part): it batches them `batch / ranks` a step, an epoch lasts as long as the
    /// largest part, and the validation counts of all parts are added. Not stored: it says how
    /// the data was spread, not how the model was trained.
    #[serde(skip)]
    pub rank_local: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            epochs: 30,
            batch: 128,
            lr: 2e-3,
            label_smoothing: 0.1,
            clip: 5.0,
            lr_patience: 1,
            patience: 4,
            max_seconds: 0.0,
            val_beam: 1,
            threads: recur_core::parallel::default_threads(),
            seed: 1,
            scheduled_sampling: 0.0,
            rank_local: false,
        }
    }
}

/// One epoch's figures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean cross-entropy per target token.
    pub loss: f64,
    /// Share of target tokens predicted right under teacher forcing.
    pub token_accuracy: f64,
    /// Validation word error rate (share of sources with no reference matched).
    pub val_wer: f64,
    /// Validation token error rate against the closest reference.
    pub val_per: f64,
    /// Learning rate used.
    pub lr: f64,
    /// Training pairs per second in this epoch (validation excluded).
    pub pairs_per_second: f64,
    /// Seconds since training started.
    pub elapsed: f64,
}

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
    let threads = options.threads.max(1);
    let group = Group(distributed::group());
    let rank_local = options.rank_local && group.0.is_some();
    let (rank, ranks) = (group.rank(), group.size());
    // With parts, the data a run is tied to is every rank's: their digests and counts together.
    let (data, pair_count, validation_count) = match (&group.0, rank_local) {
        (Some(g), true) => {
            let mut all = Fingerprint::default();
            g.gather_u64(data_digest(pairs, validation)).into_iter().for_each(|d| {
                all.word(d);
            });
            (all.finish(), group.total(pairs.len()), group.total(validation.len()))
        }
        _ => (data_digest(pairs, validation), pairs.len(), validation.len()),
    };
    let setup = Setup {
        options: options.clone(),
        model: model.config().clone(),
        shards: threads * ranks,
        pairs: pair_count,
        validation: validation_count,
        data,
    };
    let mut optimizer = Optimizer::new(OptimizerConfig::adam());
    let (mut run, mut best) = match (&checkpoints.out, checkpoints.resume) {
        (Some(out), true) => checkpoint::load(out, &setup, model, &mut optimizer)?,
        (None, true) => return Err(NnError::Config("resuming needs an output directory".into())),
        _ => (RunState::new(setup), None),
    };
    group.agree("the model, training settings, data and checkpoint", || {
        fingerprint(model, data, options, &run, &optimizer, best.as_ref())
    })?;
    if checkpoints.resume {
        progress(Progress::Resumed(run.epochs_done));
    }
    // Rank 0 alone writes.
    let out = checkpoints.out.as_deref().filter(|_| rank == 0);
    // The first shard trains on the model itself, each other on a copy: one copy fewer to
    // gather gradients from and to update after each step.
    let mut replicas: Vec<Seq2Seq<f32>> = (1..threads).map(|_| model.clone()).collect();
    let mut flat: Vec<f32> = Vec::new();
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
        if epoch > first_epoch
            && group.leader_decides(options.max_seconds > 0.0 && start.elapsed().as_secs_f64() >= options.max_seconds)
        {
            break;
        }
        let epoch_start = Instant::now();
        let sampling = run.sampling_share(epoch);
        let batches = if rank_local {
            // Each rank shuffles its own part with a stream of its own.
            let rng = Rng::derive(options.seed, Rng::shuffle_stream(rank, 0, epoch));
            epoch_batches(pairs, options.batch.div_ceil(ranks), rng)
        } else {
            epoch_batches(pairs, options.batch, Rng::derive(options.seed, epoch as u64))
        };
        // With parts, ranks step together until the one with most batches is done.
        let steps = if rank_local {
            group.most(batches.len())
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
            group.sum(&mut totals);
        }
        let (mut loss, mut tokens, mut correct) = (0.0, 0usize, 0usize);
        let lr = run.lr;
        for (i, &total) in totals.iter().enumerate() {
            let step = run.step;
            let batch: &[usize] = batches.get(i).map_or(&[], Vec::as_slice);
            let (mine, first) = rank_shards(batch.len(), threads, rank, ranks, rank_local);
            let scale = 1.0 / total.max(1.0);
            let used = mine.len();
            let mut workers: Vec<&mut Seq2Seq<f32>> = std::iter::once(&mut *model)
                .chain(replicas.iter_mut())
                .take(used)
                .collect();
            // Threads started for each phase, not kept: kept threads, asleep between phases,
            // ran half as fast on a loaded 2-core machine (woken onto their partner's core).
            let results = run_on_workers(&mut workers, |w, replica| {
                let chosen: Vec<(&[u32], &[u32])> = batch[mine[w].clone()]
                    .iter()
                    .map(|&p| (pairs[p].0.as_slice(), pairs[p].1.as_slice()))
                    .collect();
                replica.zero_grad();
                let mut b = Batch::new(&chosen)?;
                // Numbered by global shard, so the masks do not depend on which rank runs it.
                let mut rng = Rng::derive(options.seed ^ 0xD20_0000, step * 64 + (first + w) as u64);
                mix_in_predictions(replica, &mut b, sampling, &mut rng)?;
                replica.train_batch(&b, &mut rng, options.label_smoothing, scale)
            });
            let mut local = Ok([0.0; 3]);
            for r in results {
                match (r, &mut local) {
                    (Ok(s), Ok(sums)) => {
                        sums[0] += s.loss;
                        sums[1] += s.tokens as f64;
                        sums[2] += s.correct as f64;
                    }
                    (Err(e), Ok(_)) => local = Err(e),
                    (_, Err(_)) => {}
                }
            }
            let sums = group.sum_step_figures(local.as_ref().ok(), step)?;
            let sums = local.map(|_| sums)?;
            loss += sums[0];
            tokens += sums[1] as usize;
            correct += sums[2] as usize;
            drop(workers);
            if used == 0 {
                // This rank ran no shard of the batch: it adds zeros.
                model.zero_grad();
            }
            let local_norm = gather(threads, model, &mut replicas[..used.saturating_sub(1)]);
            // Across ranks the norm is that of the summed gradients, taken after the sum.
            let norm = group.sum_gradients(model, &mut flat).unwrap_or(local_norm);
            update(
                threads,
                &mut optimizer,
                model,
                &mut replicas,
                lr,
                global_norm_factor(options.clip, norm),
            );
            run.step += 1;
            progress(Progress::Batch(i + 1, steps));
        }
        let train_seconds = epoch_start.elapsed().as_secs_f64();
        let scores = evaluate(model, validation, options.val_beam, threads, rank_local)?;
        let record = EpochRecord {
            epoch,
            loss: loss / tokens.max(1) as f64,
            token_accuracy: correct as f64 / tokens.max(1) as f64,
            val_wer: scores.wer,
            val_per: scores.per,
            lr,
            pairs_per_second: pair_count as f64 / train_seconds,
            elapsed: before + start.elapsed().as_secs_f64(),
        };
        progress(Progress::Epoch(&record));
        run.history.push(record);
        run.epochs_done = epoch;
        // WER first, PER to break ties (early on every word may still be wrong).
        let key = (scores.wer, scores.per);
        let stop = if run.best.is_none_or(|b| key < (b.wer, b.per)) {
            best = Some(model.clone());
            run.best = Some(Best {
                epoch,
                wer: scores.wer,
                per: scores.per,
            });
            (run.since_best, run.since_decay) = (0, 0);
            progress(Progress::Improved(model));
            false
        } else {
            run.since_best += 1;
            run.since_decay += 1;
            let stop = run.since_best >= options.patience.max(1);
            if !stop && run.since_decay >= options.lr_patience.max(1) {
                run.lr *= 0.5;
                run.since_decay = 0;
            }
            stop
        };
        if let Some(out) = out {
            checkpoint::save(out, &run, model, &optimizer, best.as_ref())?;
        }
        if stop {
            break;
        }
    }
    if let Some(m) = best {
        *model = m;
    }
    Ok(run.history)
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
    let group = Group(distributed::group());
    let share = if rank_local {
        0..items.len()
    } else {
        shard_ranges(items.len(), group.size())
            .get(group.rank())
            .cloned()
            .unwrap_or(0..0)
    };
    let local = tally(model, &items[share], beam, threads);
    let mut counts = local.as_ref().map_or([0.0; 4], |t| {
        [t.items as f64, t.wrong as f64, t.edits as f64, t.length as f64]
    });
    // Every rank adds its counts, even one that failed, so none waits for ever.
    group.sum(&mut counts);
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

/// [`search`] over many sources: chunks of similar length, spread over `threads`.
pub fn decode_parallel(
    model: &Seq2Seq<f32>,
    sources: &[Vec<u32>],
    options: &SearchOptions,
    threads: usize,
) -> Result<Vec<Vec<crate::search::Hypothesis>>, NnError> {
    let mut order: Vec<usize> = (0..sources.len()).collect();
    order.sort_by_key(|&i| sources[i].len());
    let chunk = (256 / options.beam.max(1)).max(8);
    let chunks: Vec<&[usize]> = order.chunks(chunk).collect();
    let mut workers: Vec<Vec<(usize, Vec<crate::search::Hypothesis>)>> = vec![Vec::new(); threads.max(1)];
    let results = run_on_workers(&mut workers, |w, out| -> Result<(), NnError> {
        for c in chunks.iter().skip(w).step_by(threads.max(1)) {
            let batch: Vec<Vec<u32>> = c.iter().map(|&i| sources[i].clone()).collect();
            let hyps = search(model, &batch, options)?;
            out.extend(c.iter().copied().zip(hyps));
        }
        Ok(())
    });
    results.into_iter().collect::<Result<Vec<()>, _>>()?;
    let mut all: Vec<Option<Vec<crate::search::Hypothesis>>> = vec![None; sources.len()];
    for (i, h) in workers.into_iter().flatten() {
        all[i] = Some(h);
    }
    Ok(all.into_iter().map(Option::unwrap_or_default).collect())
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

/// Adds the shards' gradients into the first's (the model's; the others are the first
/// replicas'), tensor by tensor on `threads` threads, and returns the global L2 norm of the
/// sums ([`norm`]). Each tensor's are added pairwise in shard order (`(s0+s1)+(s2+s3)`, as the
/// sketch trainer and an all-reduce of two ranks' pairs add them, so 2 ranks × 2 threads give
/// the bits of 1 × 4; each was already scaled by the batch's token count). The replicas'
/// gradients are used up.
fn gather(threads: usize, model: &mut Seq2Seq<f32>, replicas: &mut [Seq2Seq<f32>]) -> f64 {
    let mut tensors: Vec<Vec<&mut Vec<f32>>> = model.params_mut().into_iter().map(|p| vec![&mut p.grad]).collect();
    for replica in replicas {
        for (shards, p) in tensors.iter_mut().zip(replica.params_mut()) {
            shards.push(&mut p.grad);
        }
    }
    let mut groups = split_by_size(tensors, |shards| shards[0].len(), threads);
    let squares = run_on_workers(&mut groups, |_, group| {
        group
            .iter_mut()
            .map(|shards| {
                dispatch(
                    #[inline(always)]
                    || {
                        add_pairwise(shards);
                        squares(shards[0])
                    },
                )
            })
            .collect::<Vec<f64>>()
    });
    norm(squares.into_iter().flatten())
}

/// Adds one tensor's shard gradients into the first, pairwise in shard order.
#[inline(always)]
fn add_pairwise(shards: &mut [&mut Vec<f32>]) {
    let (n, mut width) = (shards.len(), 1);
    while width < n {
        for i in (0..n).step_by(2 * width).filter(|i| i + width < n) {
            let (head, tail) = shards.split_at_mut(i + width);
            head[i].iter_mut().zip(tail[0].iter()).for_each(|(a, b)| *a += *b);
        }
        width *= 2;
    }
}

/// The sum of the squares of `values`, in eight running sums (so the additions do not wait on
/// each other) added at the end.
#[inline(always)]
fn squares(values: &[f32]) -> f64 {
    let mut lanes = [0.0f64; 8];
    let chunks = values.chunks_exact(8);
    lanes[0] += chunks.remainder().iter().map(|&g| f64::from(g).powi(2)).sum::<f64>();
    for chunk in chunks {
        lanes
            .iter_mut()
            .zip(chunk)
            .for_each(|(l, &g)| *l += f64::from(g).powi(2));
    }
    lanes.iter().sum()
}

/// The global L2 norm from each tensor's sum of squares, added in tensor order (so it does not
/// depend on how the tensors were shared out over threads).
fn norm(squares: impl Iterator<Item = f64>) -> f64 {
    squares.sum::<f64>().sqrt()
}

/// The optimiser's step on the model's gradients times `grad_scale` (the clip's factor),
/// tensor by tensor on `threads` threads, each updated tensor copied into the replicas while
/// it is in cache.
fn update(
    threads: usize,
    optimizer: &mut Optimizer,
    model: &mut Seq2Seq<f32>,
    replicas: &mut [Seq2Seq<f32>],
    lr: f64,
    grad_scale: f32,
) {
    type Work<'a> = (TensorStep<'a, f32>, Vec<&'a mut Param<f32>>);
    let mut tensors: Vec<Work> = optimizer
        .steps(model.params_mut(), lr)
        .into_iter()
        .map(|step| (step, Vec::new()))
        .collect();
    for replica in replicas {
        for ((_, copies), p) in tensors.iter_mut().zip(replica.params_mut()) {
            copies.push(p);
        }
    }
    let mut groups = split_by_size(tensors, |(step, _)| step.size(), threads);
    run_on_workers(&mut groups, |_, group| {
        for (step, copies) in group.drain(..) {
            let p = step.apply(grad_scale);
            copies.into_iter().for_each(|c| c.value.copy_from_slice(&p.value));
        }
    });
}

/// The processes training together (`None`: this one alone), through the collective
/// operations of [`recur_train::distributed`].
struct Group(Option<Rc<dyn Collective>>);

impl Group {
    fn rank(&self) -> usize {
        self.0.as_ref().map_or(0, |g| g.rank())
    }

    fn size(&self) -> usize {
        self.0.as_ref().map_or(1, |g| g.size())
    }

    /// Sums `values` over the ranks in place.
    fn sum(&self, values: &mut [f64]) {
        if let Some(g) = &self.0 {
            g.sum_f64(values);
        }
    }

    /// The sum of every rank's `n`.
    fn total(&self, n: usize) -> usize {
        let mut v = [n as f64];
        self.sum(&mut v);
        v[0] as usize
    }

    /// The largest of every rank's `n`.
    fn most(&self, n: usize) -> usize {
        self.0.as_ref().map_or(n, |g| g.max_u64(n as u64) as usize)
    }

    /// Rank 0's `yes`, on every rank.
    fn leader_decides(&self, yes: bool) -> bool {
        let mut v = [f64::from(u8::from(yes && self.rank() == 0))];
        self.sum(&mut v);
        v[0] > 0.0
    }

    /// Fails on every rank unless all computed the same `fingerprint()` of `what`.
    fn agree(&self, what: &str, fingerprint: impl FnOnce() -> u64) -> Result<(), NnError> {
        match &self.0 {
            Some(g) => distributed::agree(g.as_ref(), what, fingerprint()),
            None => Ok(()),
        }
    }

    /// A step's loss, token and hit counts summed over the ranks (`None`: this rank failed).
    fn sum_step_figures(&self, local: Option<&[f64; 3]>, step: u64) -> Result<[f64; 3], NnError> {
        let Some(g) = &self.0 else {
            return Ok(local.copied().unwrap_or_default());
        };
        let v = distributed::sum_step_figures(g.as_ref(), local.map(|l| &l[..]), 3, step)?;
        Ok([v[0], v[1], v[2]])
    }

    /// The master's gradients summed over the ranks, in one all-reduce through `flat`, and
    /// the global L2 norm of the sums (`None` alone: nothing to sum).
    fn sum_gradients(&self, model: &mut Seq2Seq<f32>, flat: &mut Vec<f32>) -> Option<f64> {
        let g = self.0.as_ref()?;
        flat.clear();
        for (_, p) in model.named_params() {
            flat.extend_from_slice(&p.grad);
        }
        g.sum_f32(flat);
        let mut at = 0;
        for p in model.params_mut() {
            let n = p.grad.len();
            p.grad.copy_from_slice(&flat[at..at + n]);
            at += n;
        }
        // Tensor by tensor, as `gather` sums them, so one process gives the same norm.
        Some(norm(model.named_params().into_iter().map(|(_, p)| squares(&p.grad))))
    }
}

/// What every rank must share before training: settings, weights, data and the checkpoint's
/// state, moments and best weights.
fn fingerprint(
    model: &Seq2Seq<f32>,
    data: u64,
    options: &TrainOptions,
    run: &RunState,
    optimizer: &Optimizer,
    best: Option<&Seq2Seq<f32>>,
) -> u64 {
    let mut digest = Fingerprint::default();
    digest.text(&serde_json::to_string(options).unwrap_or_default());
    for (name, p) in model.named_params() {
        digest.text(&name).floats(&p.value);
    }
    digest.word(data);
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
