//! [`Trainer`]: one optimisation step, data-parallel across cores.
//!
//! The batch is split into one shard per thread; each thread runs its shard's forward and
//! backward on its own replica of the model; the gradients are summed in shard order into the
//! master copy, clipped and applied; the new weights are copied back to the replicas. The
//! result depends on the seed and the thread count only.

use crate::loss::{Loss, Targets};
use crate::optim::{clip_gradients, Clip, Optimizer, OptimizerConfig, Schedule};
use recur_core::parallel::{run_on_workers, shard_ranges};
use recur_core::{Float, Rng, Seq};
use recur_nn::{Ctx, Model, NnError, Result};

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
}

impl<T: Float> Trainer<T> {
    /// Wraps `model` for training.
    pub fn new(model: Model<T>, config: TrainConfig) -> Self {
        let replicas = (0..config.threads.max(1)).map(|_| model.clone()).collect();
        Trainer {
            model,
            replicas,
            optimizer: Optimizer::new(config.optimizer),
            config,
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

    /// One optimisation step on a batch.
    pub fn train_step(&mut self, x: &Seq<T>, targets: &Targets) -> Result<StepStats> {
        self.model.check_input(x)?;
        if self.model.plan().outputs.len() != 1 {
            return Err(NnError::Config(
                "the trainer fits models with one input and one output; this one has several outputs".into(),
            ));
        }
        let shards = shard_ranges(x.batch, self.replicas.len());
        let per_seq = targets_per_sequence(targets, x.batch)?;
        let (loss_cfg, seed, step) = (self.config.loss, self.config.seed, self.optimizer.step);
        let results = run_on_workers(&mut self.replicas[..shards.len()], |i, replica| {
            let range = shards[i].clone();
            let xs = x.slice_batch(range.clone());
            let ts = targets.slice(range, per_seq);
            replica.zero_grad();
            let mut rng = Rng::derive(seed, step * 1024 + i as u64);
            let mut ctx = Ctx {
                training: true,
                rng: &mut rng,
            };
            let (mut ys, tape) = replica.forward_unchecked(vec![xs], &mut ctx)?;
            let y = ys.swap_remove(0);
            let correct = count_correct(&y, &ts);
            // Unscaled here; the summed gradient is divided by the whole batch's count below.
            let (loss, grad) = loss_cfg.evaluate(&y, &ts, 1);
            let count = y.valid_steps();
            replica.backward(tape, vec![grad], false);
            Ok((loss, correct, count))
        })
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
        let out_steps: usize = results.iter().map(|r| r.2).sum();
        let loss = results.iter().map(|r| r.0).sum::<f64>() / out_steps.max(1) as f64;
        if !loss.is_finite() {
            return Err(NnError::Input(format!(
                "the loss became {loss} at step {}: lower the learning rate or clip gradients",
                step + 1
            )));
        }
        self.gather_gradients(shards.len(), T::ONE / T::from_f64(out_steps.max(1) as f64));
        let mut params = self.model.params_mut();
        let grad_norm = clip_gradients(&mut params, self.config.clip);
        self.optimizer.update(params, self.config.schedule.at(step));
        self.sync_replicas();
        Ok(StepStats {
            loss,
            grad_norm,
            correct: results.iter().map(|r| r.1).sum(),
            count: out_steps,
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

    /// Master gradients = `scale` × sum of the replicas' (in shard order); buffers (BatchNorm
    /// running statistics) = mean of the replicas'.
    fn gather_gradients(&mut self, used: usize, scale: T) {
        let (master, replicas) = (&mut self.model, &self.replicas[..used]);
        let mut sources: Vec<_> = replicas.iter().map(|r| r.named_params().into_iter()).collect();
        for dst in master.params_mut() {
            let srcs: Vec<_> = sources
                .iter_mut()
                .map(|s| s.next().expect("replicas match the master").1)
                .collect();
            if dst.trainable {
                dst.grad.copy_from_slice(&srcs[0].grad);
                for s in &srcs[1..] {
                    dst.grad.iter_mut().zip(&s.grad).for_each(|(a, b)| *a += *b);
                }
                dst.grad.iter_mut().for_each(|g| *g *= scale);
            } else {
                let n = T::from_f64(srcs.len() as f64);
                for (j, v) in dst.value.iter_mut().enumerate() {
                    *v = srcs.iter().map(|s| s.value[j]).sum::<T>() / n;
                }
            }
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
