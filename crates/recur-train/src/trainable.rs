//! [`Trainable`]: what the [`Trainer`](crate::Trainer) needs of a model — its named
//! parameters, and one shard of a batch's forward and backward returning loss figures. The
//! trainer owns everything else (replicas, gradient sums, all-reduce, clipping, the
//! optimiser), so a new kind of model is trained by implementing this one trait.
//!
//! A graph [`Model`] is trainable on [`Supervised`] batches (inputs and targets under one of
//! the [`Loss`]es); the encoder–decoder of `recur-seq2seq` implements it on its pairs.

use crate::loss::{Loss, Targets};
use recur_core::{Float, Rng, Seq};
use recur_nn::{Ctx, Model, NnError, Param, Result};
use std::ops::Range;

/// What one shard's forward and backward adds up to.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LossSums {
    /// Summed (not mean) loss over the shard's scored targets.
    pub loss: f64,
    /// Targets predicted right (classification; 0 otherwise).
    pub correct: usize,
    /// Targets scored.
    pub count: usize,
}

/// A model the [`Trainer`](crate::Trainer) can train data-parallel.
///
/// Every replica of a model must list the same parameters in the same order: gradients are
/// added, reduced and updated tensor by tensor in that order.
pub trait Trainable: Clone + Send {
    /// The number type of the weights.
    type Float: Float;
    /// One step's global batch, read by every shard's worker at once.
    type Batch<'a>: Sync;

    /// Whether each shard's gradient comes out already divided by the whole batch's target
    /// count (a model that knows the count before the step, as seq2seq knows its batch's
    /// tokens). Otherwise the trainer divides the summed gradient by the count its shards
    /// reported.
    const SHARDS_SCALE_GRADIENTS: bool = false;

    /// The items (sequences, pairs) in `batch`, which the trainer cuts into shards.
    fn batch_size(batch: &Self::Batch<'_>) -> usize;

    /// The parameters with their names (trainable tensors and buffers such as running
    /// statistics), in a fixed order.
    fn named_params(&self) -> Vec<(String, &Param<Self::Float>)>;

    /// The same parameters, mutable, in the same order.
    fn params_mut(&mut self) -> Vec<&mut Param<Self::Float>>;

    /// Forward and backward of the items `shard` of `batch` under `loss`, adding into
    /// gradients the trainer zeroed; `rng` draws dropout masks. Returns the shard's summed
    /// loss and counts.
    fn forward_backward(
        &mut self,
        batch: &Self::Batch<'_>,
        shard: Range<usize>,
        loss: Loss,
        rng: &mut Rng,
    ) -> Result<LossSums>;

    /// The random stream of global shard `shard` at optimiser step `step` (0-based), so masks
    /// do not depend on which thread or rank runs a shard.
    fn dropout_stream(step: u64, shard: usize) -> u64 {
        step * 1024 + shard as u64
    }
}

/// A batch of input sequences with their targets, for a one-output graph [`Model`].
pub struct Supervised<'a, T> {
    /// Every input, in the model's order.
    xs: &'a [Seq<T>],
    targets: &'a Targets,
    per_sequence: usize,
}

impl<'a, T: Float> Supervised<'a, T> {
    /// Pairs `x` with `targets` (a whole number of targets per sequence), refusing a model of
    /// several outputs and input that does not fit it.
    pub fn new(model: &Model<T>, x: &'a Seq<T>, targets: &'a Targets) -> Result<Self> {
        Supervised::with_inputs(model, std::slice::from_ref(x), targets)
    }

    /// [`Supervised::new`] for a model of several inputs, `xs` in its config's order.
    pub fn with_inputs(model: &Model<T>, xs: &'a [Seq<T>], targets: &'a Targets) -> Result<Self> {
        model.check_inputs(xs)?;
        if model.plan().outputs.len() != 1 {
            return Err(NnError::Config(
                "the trainer fits models with one output; this one has several".into(),
            ));
        }
        let x = &xs[0];
        let n = match targets {
            Targets::Classes(c) => c.len(),
            Targets::Values(v) => v.len(),
        };
        if x.batch == 0 || n % x.batch != 0 {
            return Err(NnError::Input(format!(
                "{n} targets cannot be split over a batch of {}",
                x.batch
            )));
        }
        Ok(Supervised {
            xs,
            targets,
            per_sequence: n / x.batch,
        })
    }
}

impl<T: Float> Trainable for Model<T> {
    type Float = T;
    type Batch<'a> = Supervised<'a, T>;

    fn batch_size(batch: &Supervised<'_, T>) -> usize {
        batch.xs[0].batch
    }

    fn named_params(&self) -> Vec<(String, &Param<T>)> {
        Model::named_params(self)
    }

    fn params_mut(&mut self) -> Vec<&mut Param<T>> {
        Model::params_mut(self)
    }

    fn forward_backward(
        &mut self,
        batch: &Supervised<'_, T>,
        shard: Range<usize>,
        loss: Loss,
        rng: &mut Rng,
    ) -> Result<LossSums> {
        let xs = batch.xs.iter().map(|x| x.slice_batch(shard.clone())).collect();
        let ts = batch.targets.slice(shard, batch.per_sequence);
        let mut ctx = Ctx::new(true, rng);
        let (mut ys, tape) = self.forward_unchecked(xs, &mut ctx)?;
        let y = ys.swap_remove(0);
        let correct = count_correct(&y, &ts);
        // Unscaled here; the summed gradient is divided by the whole batch's count later.
        let (loss, grad) = loss.evaluate(&y, &ts, 1);
        let count = y.valid_steps();
        self.backward(tape, vec![grad], false);
        Ok(LossSums { loss, correct, count })
    }
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
