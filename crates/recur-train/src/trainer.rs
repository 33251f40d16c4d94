//! [`Trainer`]: one optimisation step, data-parallel across cores.
//!
//! The batch is split into one shard per thread; each thread runs its shard's forward and
//! backward on its own replica of the model; the gradients are summed in shard order into the
//! master copy, clipped and applied; the new weights are copied back to the replicas. The
//! result depends on the seed and the thread count only.
//!
//! Across processes (a [`Collective`] installed with [`distributed::install`]) the batch is cut
//! into `ranks × threads` shards, each rank runs its own, and the ranks' sums meet in one
//! all-reduce of a contiguous buffer; the result then depends on the total shard count only.
//! Shard sums are added pairwise (`(s0+s1)+(s2+s3)`), the order an all-reduce over two ranks
//! also uses, so 2 processes × 2 threads give the same bits as 1 × 4.

use crate::distributed::{self, Collective};
use crate::loss::{Loss, Targets};
use crate::optim::{clip_gradients, Clip, Optimizer, OptimizerConfig, Schedule};
use recur_core::parallel::{rank_shards, run_on_workers, shard_ranges};
use recur_core::{Float, Rng, Seq};
use recur_nn::{Ctx, Model, NnError, Result};
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
    /// Global gradient norm before clipping.
    pub grad_norm: f64,
    /// Correct top-1 predictions (classification).
    pub correct: usize,
    /// Targets scored.
    pub count: usize,
}

/// A model with its optimiser and per-core replicas.
pub struct Trainer<T: Float> {
    /// The master copy (what gets saved).
    pub model: Model<T>,
    replicas: Vec<Model<T>>,
    /// The optimiser and its state.
    pub optimizer: Optimizer,
    config: TrainConfig,
    /// The processes this one trains with (`None`: alone).
    group: Option<Rc<dyn Collective>>,
    /// One flat buffer per replica: trainable gradients, then buffers (reused every step).
    flat: Vec<Vec<T>>,
    /// Each rank trains on its own data: the batch a rank is handed is its share alone.
    rank_local: bool,
}

/// What one rank's shards of a step add up to.
#[derive(Clone, Copy, Default)]
struct ShardSums {
    loss: f64,
    correct: usize,
    count: usize,
    shards: usize,
}

impl<T: Float> Trainer<T> {
    /// Wraps `model` for training, across the processes of the installed
    /// [`distributed::group`] if there is one.
    pub fn new(model: Model<T>, config: TrainConfig) -> Self {
        let threads = config.threads.max(1);
        let replicas = (0..threads).map(|_| model.clone()).collect();
        Trainer {
            model,
            replicas,
            optimizer: Optimizer::new(config.optimizer),
            config,
            group: distributed::group(),
            flat: vec![Vec::new(); threads],
            rank_local: false,
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

    /// This process's rank among those training together (0 when alone): rank 0 alone prints
    /// and writes.
    pub fn rank(&self) -> usize {
        self.group.as_ref().map_or(0, |g| g.rank())
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
        self.config.schedule.at(self.optimizer.step)
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
            r.copy_values_from(&self.model);
        }
    }

    /// One optimisation step on a batch (the global batch: across processes every rank is
    /// handed the same one and trains on its own shards of it).
    pub fn train_step(&mut self, x: &Seq<T>, targets: &Targets) -> Result<StepStats> {
        let local = self.run_shards(x, targets);
        self.finish_step(local)
    }

    /// Takes part in a step with no data of this rank's own (its share of the epoch ran out
    /// before the other ranks'): it adds nothing but joins the all-reduce and the update.
    pub fn train_step_idle(&mut self) -> Result<StepStats> {
        self.finish_step(Ok(ShardSums::default()))
    }

    /// Sums the step over the ranks and updates the weights.
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
        self.gather_gradients(used, sums);
        let mut params = self.model.params_mut();
        let grad_norm = clip_gradients(&mut params, self.config.clip);
        self.optimizer.update(params, self.config.schedule.at(step));
        self.sync_replicas();
        Ok(StepStats {
            loss,
            grad_norm,
            correct: sums.correct,
            count: sums.count,
        })
    }

    /// Forward and backward of this rank's shards of the batch, each on its replica; returns
    /// the shards' unscaled loss, hits and scored steps.
    fn run_shards(&mut self, x: &Seq<T>, targets: &Targets) -> Result<ShardSums> {
        self.model.check_input(x)?;
        if self.model.plan().outputs.len() != 1 {
            return Err(NnError::Config(
                "the trainer fits models with one input and one output; this one has several outputs".into(),
            ));
        }
        let per_seq = targets_per_sequence(targets, x.batch)?;
        let (rank, ranks) = self.group.as_ref().map_or((0, 1), |g| (g.rank(), g.size()));
        let threads = self.replicas.len();
        let (mine, first) = rank_shards(x.batch, threads, rank, ranks, self.rank_local);
        if mine.is_empty() {
            return Ok(ShardSums::default());
        }
        let (loss_cfg, seed, step) = (self.config.loss, self.config.seed, self.optimizer.step);
        let results = run_on_workers(&mut self.replicas[..mine.len()], |i, replica| {
            let range = mine[i].clone();
            let xs = x.slice_batch(range.clone());
            let ts = targets.slice(range, per_seq);
            replica.zero_grad();
            // Numbered by global shard, so the masks do not depend on which rank runs it.
            let mut rng = Rng::derive(seed, step * 1024 + (first + i) as u64);
            let mut ctx = Ctx {
                training: true,
                rng: &mut rng,
            };
            let (mut ys, tape) = replica.forward_unchecked(vec![xs], &mut ctx)?;
            let y = ys.swap_remove(0);
            let correct = count_correct(&y, &ts);
            // Unscaled here; the summed gradient is divided by the whole batch's count later.
            let (loss, grad) = loss_cfg.evaluate(&y, &ts, 1);
            let count = y.valid_steps();
            replica.backward(tape, vec![grad], false);
            Ok((loss, correct, count))
        });
        let mut sums = ShardSums {
            shards: mine.len(),
            ..ShardSums::default()
        };
        for r in results {
            let (loss, correct, count) = r?;
            sums.loss += loss;
            sums.correct += correct;
            sums.count += count;
        }
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

    /// Inference, split across cores like training.
    pub fn predict(&self, x: &Seq<T>) -> Result<Seq<T>> {
        predict_parallel(&self.model, x, self.replicas.len())
    }

    /// Loss and correct count on a batch without updating anything.
    pub fn evaluate(&self, x: &Seq<T>, targets: &Targets) -> Result<StepStats> {
        let y = self.predict(x)?;
        let count = y.valid_steps();
        let (loss, _) = self.config.loss.evaluate(&y, targets, count);
        Ok(StepStats {
            loss: loss / count.max(1) as f64,
            grad_norm: 0.0,
            correct: count_correct(&y, targets),
            count,
        })
    }

    /// Master gradients = sum of every shard's / scored steps of the batch; buffers (BatchNorm
    /// running statistics) = mean of every shard's. The replicas' values go into flat
    /// buffers, summed pairwise in shard order, then over the group in one all-reduce.
    fn gather_gradients(&mut self, used: usize, total: ShardSums) {
        for (flat, replica) in self.flat.iter_mut().zip(&self.replicas[..used]) {
            flat.clear();
            let params = replica.named_params();
            params
                .iter()
                .filter(|(_, p)| p.trainable)
                .for_each(|(_, p)| flat.extend_from_slice(&p.grad));
            params
                .iter()
                .filter(|(_, p)| !p.trainable)
                .for_each(|(_, p)| flat.extend_from_slice(&p.value));
        }
        let mut width = 1;
        while width < used {
            for i in (0..used).step_by(2 * width).filter(|i| i + width < used) {
                let (head, tail) = self.flat.split_at_mut(i + width);
                head[i].iter_mut().zip(&tail[0]).for_each(|(a, b)| *a += *b);
            }
            width *= 2;
        }
        if used == 0 {
            // This rank ran no shard: it adds zeros.
            let len = self.model.named_params().iter().map(|(_, p)| p.value.len()).sum();
            self.flat[0] = vec![T::ZERO; len];
        }
        if let Some(group) = &self.group {
            distributed::sum_floats(group.as_ref(), &mut self.flat[0]);
        }
        let scale = T::ONE / T::from_f64(total.count.max(1) as f64);
        let shards = T::from_f64(total.shards.max(1) as f64);
        let mut params = self.model.params_mut();
        let mut at = 0;
        for p in params.iter_mut().filter(|p| p.trainable) {
            let n = p.grad.len();
            p.grad
                .iter_mut()
                .zip(&self.flat[0][at..at + n])
                .for_each(|(g, s)| *g = *s * scale);
            at += n;
        }
        for p in params.iter_mut().filter(|p| !p.trainable) {
            let n = p.value.len();
            p.value
                .iter_mut()
                .zip(&self.flat[0][at..at + n])
                .for_each(|(v, s)| *v = *s / shards);
            at += n;
        }
    }
}

/// Inference on a one-input, one-output model with the batch split across `threads` cores,
/// all reading the same weights.
pub fn predict_parallel<T: Float>(model: &Model<T>, x: &Seq<T>, threads: usize) -> Result<Seq<T>> {
    model.check_input(x)?;
    if x.batch == 0 {
        return Err(NnError::Input("the input holds no sequences".into()));
    }
    let mut shards = shard_ranges(x.batch, threads.max(1));
    let outs = run_on_workers(&mut shards, |_, range| {
        let mut rng = Rng::new(0);
        let mut ctx = Ctx {
            training: false,
            rng: &mut rng,
        };
        let (mut ys, _) = model.forward_unchecked(vec![x.slice_batch(range.clone())], &mut ctx)?;
        Ok(ys.swap_remove(0))
    })
    .into_iter()
    .collect::<Result<Vec<_>>>()?;
    Seq::concat_batch(&outs).map_err(|e| NnError::Input(e.to_string()))
}

fn targets_per_sequence(targets: &Targets, batch: usize) -> Result<usize> {
    let n = match targets {
        Targets::Classes(c) => c.len(),
        Targets::Values(v) => v.len(),
    };
    if batch == 0 || n % batch != 0 {
        return Err(NnError::Input(format!(
            "{n} targets cannot be split over a batch of {batch}"
        )));
    }
    Ok(n / batch)
}

/// Top-1 hits of `y` against class targets (0 for value targets).
pub fn count_correct<T: Float>(y: &Seq<T>, targets: &Targets) -> usize {
    let Targets::Classes(c) = targets else { return 0 };
    let mut hits = 0;
    for b in 0..y.batch {
        for t in 0..y.lengths[b] {
            let row = y.step(b, t);
            let best = (0..row.len()).max_by(|&i, &j| row[i].partial_cmp(&row[j]).unwrap_or(std::cmp::Ordering::Equal));
            hits += usize::from(best == Some(c[b * y.time + t]));
        }
    }
    hits
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
