//! [`Trainer`]: one optimisation step of any [`Trainable`] model, data-parallel across cores.
//!
//! The batch is split into one shard per thread; each thread runs its shard's forward and
//! backward on its own replica of the model (the first on the master copy itself); the
//! gradients are summed in shard order into the master, clipped and applied; the new weights
//! are copied back to the replicas. The result depends on the seed and the thread count only.
//!
//! Across processes (a [`Collective`] installed with [`distributed::install`]) the batch is cut
//! into `ranks × threads` shards, each rank runs its own, and the ranks' sums meet in one
//! all-reduce of a contiguous buffer; the result then depends on the total shard count only.
//! Shard sums are added pairwise (`(s0+s1)+(s2+s3)`), the order an all-reduce over two ranks
//! also uses, so 2 processes × 2 threads give the same bits as 1 × 4.

use crate::distributed::{self, Collective};
use crate::gradients::{self, Finish};
use crate::loss::{Loss, Targets};
use crate::optim::{clip_with_norm, global_norm_factor, Clip, Optimizer, OptimizerConfig, Schedule};
use crate::trainable::{count_correct, Supervised, Trainable};
use recur_core::parallel::{rank_shards, run_on_workers, shard_ranges};
use recur_core::{Float, Rng, Seq};
use recur_nn::{Ctx, Model, NnError, Param, Result};
use std::rc::Rc;

/// Everything a [`Trainer`] needs besides the model.
#[derive(Clone, Debug)]
pub struct TrainConfig {
    /// Objective.
    pub loss: Loss,
    /// Optimiser.
    pub optimizer: OptimizerConfig,
    /// Gradient clipping.
    pub clip: Option<Clip>,
    /// Learning rate per step.
    pub schedule: Schedule,
    /// Cores to split each batch across.
    pub threads: usize,
    /// Seed for dropout masks.
    pub seed: u64,
}

/// Figures from one step.
#[derive(Clone, Copy, Debug)]
pub struct StepStats {
    /// Mean loss over the batch.
    pub loss: f64,
    /// Summed loss over the batch (the mean times `count`, without its rounding).
    pub loss_sum: f64,
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Correct top-1 predictions (classification).
    pub correct: usize,
    /// Targets scored.
    pub count: usize,
}

/// A model with its optimiser and per-core replicas.
pub struct Trainer<M: Trainable> {
    /// The master copy (what gets saved); it also runs each step's first shard.
    pub model: M,
    /// Copies for the further shards of a step (one fewer than the threads).
    replicas: Vec<M>,
    /// The optimiser and its state.
    pub optimizer: Optimizer,
    config: TrainConfig,
    /// The processes this one trains with (`None`: alone).
    group: Option<Rc<dyn Collective>>,
    /// The master's gradients and buffers in one buffer for the all-reduce (reused).
    flat: Vec<M::Float>,
    /// Each rank trains on its own data: the batch a rank is handed is its share alone.
    rank_local: bool,
    /// What the schedule's rate is multiplied by (lowered on a plateau by the epoch loop).
    lr_factor: f64,
}

/// What one rank's shards of a step add up to.
#[derive(Clone, Copy, Default)]
struct ShardSums {
    loss: f64,
    correct: usize,
    count: usize,
    shards: usize,
}

impl<M: Trainable> Trainer<M> {
    /// Wraps `model` for training, across the processes of the installed
    /// [`distributed::group`] if there is one.
    pub fn new(model: M, config: TrainConfig) -> Self {
        let threads = config.threads.max(1);
        let replicas = (1..threads).map(|_| model.clone()).collect();
        Trainer {
            model,
            replicas,
            optimizer: Optimizer::new(config.optimizer),
            config,
            group: distributed::group(),
            flat: Vec::new(),
            rank_local: false,
            lr_factor: 1.0,
        }
    }

    /// Makes every rank train on batches of its own data (a file per rank) instead of shards of
    /// one global batch that every rank is handed: a step's batch is then this rank's share,
    /// cut across its threads, and ranks without data for a step call
    /// [`Trainer::train_step_idle`]. Dropout streams stay numbered by global shard.
    pub fn set_rank_local(&mut self, on: bool) {
        self.rank_local = on;
    }

    /// Whether each rank trains on its own data ([`Trainer::set_rank_local`]).
    pub fn rank_local(&self) -> bool {
        self.rank_local && self.group.is_some()
    }

    /// The largest of every rank's `value` (the value itself when alone).
    pub fn max_over_ranks(&self, value: u64) -> u64 {
        match &self.group {
            Some(g) => g.max_u64(value),
            None => value,
        }
    }

    /// Sums `values` over the ranks in place (nothing when alone).
    pub fn sum_over_ranks(&self, values: &mut [f64]) {
        if let Some(g) = &self.group {
            g.sum_f64(values);
        }
    }

    /// This process's rank among those training together (0 when alone): rank 0 alone prints
    /// and writes.
    pub fn rank(&self) -> usize {
        self.group.as_ref().map_or(0, |g| g.rank())
    }

    /// The processes training together (1 when alone).
    pub fn ranks(&self) -> usize {
        self.group.as_ref().map_or(1, |g| g.size())
    }

    /// Checks that every process computed the same `fingerprint()` of `what` (always true, and
    /// nothing computed, when alone): training on different data, weights or settings would
    /// silently diverge.
    pub fn agree(&self, what: &str, fingerprint: impl FnOnce() -> u64) -> Result<()> {
        match &self.group {
            Some(g) => distributed::agree(g.as_ref(), what, fingerprint()),
            None => Ok(()),
        }
    }

    /// The learning rate the next step will use.
    pub fn learning_rate(&self) -> f64 {
        self.config.schedule.at(self.optimizer.step) * self.lr_factor
    }

    /// Multiplies the schedule's rate by `factor` from the next step on (the epoch loop's
    /// reductions on a plateau; 1 leaves the schedule as it is, to the bit).
    pub fn set_learning_rate_factor(&mut self, factor: f64) {
        self.lr_factor = factor;
    }

    /// The settings this trainer was made with.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Steps taken so far.
    pub fn step_count(&self) -> u64 {
        self.optimizer.step
    }

    /// Makes the replicas match the master's weights (after loading or an update).
    pub fn sync_replicas(&mut self) {
        for r in &mut self.replicas {
            for (dst, (_, src)) in r.params_mut().into_iter().zip(self.model.named_params()) {
                dst.value.copy_from_slice(&src.value);
            }
        }
    }

    /// One optimisation step on a batch (the global batch: across processes every rank is
    /// handed the same one and trains on its own shards of it).
    pub fn step(&mut self, batch: &M::Batch<'_>) -> Result<StepStats> {
        let local = self.run_shards(batch);
        self.finish_step(local)
    }

    /// Takes part in a step with no data of this rank's own (its share of the epoch ran out
    /// before the other ranks'): it adds nothing but joins the all-reduce and the update.
    pub fn train_step_idle(&mut self) -> Result<StepStats> {
        self.finish_step(Ok(ShardSums::default()))
    }

    /// Sums the step over the ranks, clips and updates the weights.
    fn finish_step(&mut self, local: Result<ShardSums>) -> Result<StepStats> {
        let step = self.optimizer.step;
        let sums = self.combine_sums(local.as_ref().ok().copied(), step)?;
        let used = local?.shards;
        let loss = sums.loss / sums.count.max(1) as f64;
        if !loss.is_finite() {
            return Err(NnError::Input(format!(
                "the loss became {loss} at step {}: lower the learning rate or clip gradients",
                step + 1
            )));
        }
        let grad_norm = self.gather_gradients(used, sums);
        let grad_scale = match self.config.clip {
            Some(Clip::GlobalNorm(max)) => global_norm_factor(max, grad_norm),
            Some(clip @ Clip::Value(_)) => {
                clip_with_norm(&mut self.model.params_mut(), Some(clip), grad_norm);
                M::Float::ONE
            }
            None => M::Float::ONE,
        };
        let threads = self.config.threads.max(1);
        let lr = self.learning_rate();
        let replicas = self.replicas.iter_mut().map(M::params_mut).collect();
        gradients::update(
            threads,
            &mut self.optimizer,
            self.model.params_mut(),
            replicas,
            lr,
            grad_scale,
        );
        Ok(StepStats {
            loss,
            loss_sum: sums.loss,
            grad_norm,
            correct: sums.correct,
            count: sums.count,
        })
    }

    /// Forward and backward of this rank's shards of the batch, each on its worker (the master
    /// first, then the replicas); returns the shards' unscaled loss, hits and scored targets.
    fn run_shards(&mut self, batch: &M::Batch<'_>) -> Result<ShardSums> {
        let (rank, ranks) = (self.rank(), self.ranks());
        let threads = self.replicas.len() + 1;
        let (mine, first) = rank_shards(M::batch_size(batch), threads, rank, ranks, self.rank_local);
        if mine.is_empty() {
            return Ok(ShardSums::default());
        }
        let (loss, seed, step) = (self.config.loss, self.config.seed, self.optimizer.step);
        let mut workers: Vec<&mut M> = std::iter::once(&mut self.model)
            .chain(self.replicas.iter_mut())
            .take(mine.len())
            .collect();
        // Threads started for each phase, not kept: kept threads, asleep between phases, ran
        // half as fast on a loaded 2-core machine (woken onto their partner's core).
        let results = run_on_workers(&mut workers, |i, worker| {
            zero_gradients(worker.params_mut());
            // Numbered by global shard, so the masks do not depend on which rank runs it.
            let mut rng = Rng::derive(seed, M::dropout_stream(step, first + i));
            worker.forward_backward(batch, mine[i].clone(), loss, &mut rng)
        });
        let mut sums = ShardSums {
            shards: mine.len(),
            ..ShardSums::default()
        };
        let mut losses = Vec::with_capacity(results.len());
        for r in results {
            let r = r?;
            losses.push(r.loss);
            sums.correct += r.correct;
            sums.count += r.count;
        }
        gradients::fold_pairwise(&mut losses, |sum, add| *sum += *add);
        sums.loss = losses.first().copied().unwrap_or(0.0);
        Ok(sums)
    }

    /// The whole batch's sums: this rank's (`None` if its shards failed) added over the group.
    /// Every rank takes part even after a failure, so none is left waiting in a collective.
    fn combine_sums(&self, local: Option<ShardSums>, step: u64) -> Result<ShardSums> {
        let Some(group) = &self.group else {
            return Ok(local.unwrap_or_default());
        };
        let figures = local.map(|s| [s.loss, s.correct as f64, s.count as f64, s.shards as f64]);
        let v = distributed::sum_step_figures(group.as_ref(), figures.as_ref().map(|f| &f[..]), 4, step)?;
        Ok(ShardSums {
            loss: v[0],
            correct: v[1] as usize,
            count: v[2] as usize,
            shards: v[3] as usize,
        })
    }

    /// Master gradients = sum of every shard's, divided by the batch's scored targets (unless
    /// the shards did that); buffers (BatchNorm running statistics) = mean of every shard's.
    /// Summed pairwise in shard order, then over the group in one all-reduce. Returns the
    /// global L2 norm of the gradients.
    fn gather_gradients(&mut self, used: usize, total: ShardSums) -> f64 {
        let one = M::Float::ONE;
        let finish = Finish {
            grad_scale: (!M::SHARDS_SCALE_GRADIENTS).then(|| one / M::Float::from_f64(total.count.max(1) as f64)),
            shards: M::Float::from_f64(total.shards.max(1) as f64),
        };
        let threads = self.config.threads.max(1);
        if used == 0 {
            // This rank ran no shard: it adds zeros.
            for p in self.model.params_mut() {
                let sum = if p.trainable { &mut p.grad } else { &mut p.value };
                sum.iter_mut().for_each(|v| *v = M::Float::ZERO);
            }
        }
        let replicas = self.replicas[..used.saturating_sub(1)]
            .iter_mut()
            .map(M::params_mut)
            .collect();
        let Some(group) = &self.group else {
            return gradients::norm(&gradients::gather(
                threads,
                self.model.params_mut(),
                replicas,
                Some(finish),
            ));
        };
        gradients::gather(threads, self.model.params_mut(), replicas, None);
        let mut params = self.model.params_mut();
        self.flat.clear();
        each_sum(&mut params, |sum| self.flat.extend_from_slice(sum));
        distributed::sum_floats(group.as_ref(), &mut self.flat);
        let mut at = 0;
        each_sum(&mut params, |sum| {
            let n = sum.len();
            sum.copy_from_slice(&self.flat[at..at + n]);
            at += n;
        });
        gradients::norm(&gradients::finish(threads, params, finish))
    }
}

/// Visits what the shards sum of each tensor, as laid out in the all-reduce buffer: the
/// trainable tensors' gradients, then the buffers' values.
fn each_sum<T: Float>(params: &mut [&mut Param<T>], mut visit: impl FnMut(&mut Vec<T>)) {
    params
        .iter_mut()
        .filter(|p| p.trainable)
        .for_each(|p| visit(&mut p.grad));
    params
        .iter_mut()
        .filter(|p| !p.trainable)
        .for_each(|p| visit(&mut p.value));
}

/// Zeroes the gradients of `params` before a shard adds into them.
fn zero_gradients<T: Float>(params: Vec<&mut Param<T>>) {
    for p in params {
        p.grad.iter_mut().for_each(|g| *g = T::ZERO);
    }
}

impl<T: Float> Trainer<Model<T>> {
    /// One optimisation step on a batch of sequences and their targets (the global batch:
    /// across processes every rank is handed the same one and trains on its own shards of it).
    pub fn train_step(&mut self, x: &Seq<T>, targets: &Targets) -> Result<StepStats> {
        self.train_step_inputs(std::slice::from_ref(x), targets)
    }

    /// [`Trainer::train_step`] for a model of several inputs, `xs` in its config's order.
    pub fn train_step_inputs(&mut self, xs: &[Seq<T>], targets: &Targets) -> Result<StepStats> {
        match Supervised::with_inputs(&self.model, xs, targets) {
            Ok(batch) => self.step(&batch),
            // Refused input still joins the step's collectives, so other ranks learn of it.
            Err(e) => self.finish_step(Err(e)),
        }
    }

    /// Inference, split across cores like training.
    pub fn predict(&self, x: &Seq<T>) -> Result<Seq<T>> {
        self.predict_inputs(std::slice::from_ref(x))
    }

    /// [`Trainer::predict`] for a model of several inputs, `xs` in its config's order.
    pub fn predict_inputs(&self, xs: &[Seq<T>]) -> Result<Seq<T>> {
        predict_parallel_inputs(&self.model, xs, self.config.threads)
    }

    /// Loss and correct count on a batch without updating anything.
    pub fn evaluate(&self, x: &Seq<T>, targets: &Targets) -> Result<StepStats> {
        let y = self.predict(x)?;
        let count = y.valid_steps();
        let (loss, _) = self.config.loss.evaluate(&y, targets, count);
        Ok(StepStats {
            loss: loss / count.max(1) as f64,
            loss_sum: loss,
            grad_norm: 0.0,
            correct: count_correct(&y, targets),
            count,
        })
    }
}

/// Inference on a one-input, one-output model with the batch split across `threads` cores,
/// all reading the same weights.
pub fn predict_parallel<T: Float>(model: &Model<T>, x: &Seq<T>, threads: usize) -> Result<Seq<T>> {
    predict_parallel_inputs(model, std::slice::from_ref(x), threads)
}

/// [`predict_parallel`] for a model of several inputs, `xs` in its config's order; the first
/// output.
pub fn predict_parallel_inputs<T: Float>(model: &Model<T>, xs: &[Seq<T>], threads: usize) -> Result<Seq<T>> {
    model.check_inputs(xs)?;
    let batch = xs.first().map_or(0, |x| x.batch);
    if batch == 0 {
        return Err(NnError::Input("the input holds no sequences".into()));
    }
    let mut shards = shard_ranges(batch, threads.max(1));
    // Recurrent layers skip the sequences that have ended, step by step, when a batch runs
    // longest first; dealing the sequences out in turn gives each shard a like share of the
    // long ones. Each sequence's answer does not depend on the others in its batch (to the
    // bit on packed weights; to rounding where the general GEMM blocks by the batch).
    // Each shard gathers its own sequences (one copy, as slicing its range made).
    let order = longest_first_dealt(&xs[0].lengths, &shards);
    // Fewer sequences than threads leave cores over: each shard may use its share of them.
    let per_shard = threads.max(1) / shards.len().max(1);
    let outs = run_on_workers(&mut shards, |_, range| {
        let mut rng = Rng::new(0);
        let mut ctx = Ctx::new(false, &mut rng).with_threads(per_shard);
        let shard = xs
            .iter()
            .map(|x| match &order {
                Some(order) => x.select_batch(&order[range.clone()]),
                None => x.slice_batch(range.clone()),
            })
            .collect();
        let (mut ys, _) = model.forward_unchecked(shard, &mut ctx)?;
        Ok(ys.swap_remove(0))
    })
    .into_iter()
    .collect::<Result<Vec<_>>>()?;
    let y = Seq::concat_batch(&outs).map_err(|e| NnError::Input(e.to_string()))?;
    let Some(order) = order else { return Ok(y) };
    let mut back = vec![0; batch];
    for (at, &b) in order.iter().enumerate() {
        back[b] = at;
    }
    Ok(y.select_batch(&back))
}

/// An order of the batch for `shards` (consecutive ranges covering it, the larger first, as
/// [`shard_ranges`] cuts them): the sequences longest first (ties in batch order), dealt out
/// in turn, so that each shard holds every `shards.len()`-th of them and runs longest first.
/// `None` (the batch as it is) when every sequence has the same length.
fn longest_first_dealt(lengths: &[usize], shards: &[std::ops::Range<usize>]) -> Option<Vec<usize>> {
    if lengths.windows(2).all(|w| w[0] == w[1]) {
        return None;
    }
    let mut longest_first: Vec<usize> = (0..lengths.len()).collect();
    longest_first.sort_by_key(|&b| std::cmp::Reverse(lengths[b]));
    let n = shards.len().max(1);
    shards
        .iter()
        .enumerate()
        .flat_map(|(k, range)| (0..range.len()).map(move |j| k + n * j))
        .map(|i| longest_first[i])
        .collect::<Vec<_>>()
        .into()
}

/// Accuracy and count of each class from a confusion matrix (rows: true class, columns:
/// predicted), `None` where a class has no examples.
pub fn per_class_accuracy(confusion: &[Vec<usize>]) -> Vec<(Option<f64>, usize)> {
    confusion
        .iter()
        .enumerate()
        .map(|(c, row)| {
            let n: usize = row.iter().sum();
            ((n > 0).then(|| row[c] as f64 / n as f64), n)
        })
        .collect()
}
