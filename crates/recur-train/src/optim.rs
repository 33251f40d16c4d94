//! Optimisers (SGD with momentum or Nesterov, Adam, AdamW), gradient clipping and learning-
//! rate schedules. State is kept per tensor in the model's parameter order.

use recur_core::math::dispatch;
use recur_core::Float;
use recur_nn::Param;
use serde::{Deserialize, Serialize};

/// Optimiser settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OptimizerConfig {
    /// Stochastic gradient descent.
    Sgd {
        /// Momentum (0 for plain SGD).
        momentum: f64,
        /// Nesterov's variant of momentum.
        nesterov: bool,
    },
    /// Adam (L2 penalty folded into the gradient, as PyTorch's `weight_decay`).
    Adam {
        /// First-moment decay.
        beta1: f64,
        /// Second-moment decay.
        beta2: f64,
        /// Denominator guard.
        epsilon: f64,
    },
    /// AdamW (decoupled weight decay).
    AdamW {
        /// First-moment decay.
        beta1: f64,
        /// Second-moment decay.
        beta2: f64,
        /// Denominator guard.
        epsilon: f64,
        /// Decoupled decay per step, multiplied by the learning rate.
        weight_decay: f64,
    },
}

impl OptimizerConfig {
    /// Adam with PyTorch's defaults.
    pub fn adam() -> Self {
        OptimizerConfig::Adam {
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
        }
    }
}

/// An optimiser with its per-tensor state.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Optimizer {
    /// Settings.
    pub config: OptimizerConfig,
    /// Steps taken.
    pub step: u64,
    /// First moment (or momentum buffer) per tensor.
    pub m: Vec<Vec<f32>>,
    /// Second moment per tensor (Adam family).
    pub v: Vec<Vec<f32>>,
}

impl Optimizer {
    /// A fresh optimiser.
    pub fn new(config: OptimizerConfig) -> Self {
        Optimizer {
            config,
            step: 0,
            m: Vec::new(),
            v: Vec::new(),
        }
    }

    /// Updates every trainable tensor from its gradient with learning rate `lr`.
    pub fn update<T: Float>(&mut self, params: Vec<&mut Param<T>>, lr: f64) {
        for step in self.steps(params, lr) {
            step.apply(T::ONE);
        }
    }

    /// Takes a step and hands back its work, one [`TensorStep`] per tensor in `params`' order,
    /// for a caller that shares it out over threads of its own (and may do more with each
    /// tensor while it is in cache). Every step must be applied once.
    pub fn steps<'a, T: Float>(&'a mut self, params: Vec<&'a mut Param<T>>, lr: f64) -> Vec<TensorStep<'a, T>> {
        if self.m.is_empty() {
            self.m = params
                .iter()
                .map(|p| vec![0.0; if p.trainable { p.len() } else { 0 }])
                .collect();
            self.v = self.m.clone();
        }
        self.step += 1;
        let (config, t) = (self.config, self.step as f64);
        params
            .into_iter()
            .zip(self.m.iter_mut().zip(self.v.iter_mut()))
            .map(|(param, (m, v))| TensorStep {
                moments: param.trainable.then_some((m, v)),
                param,
                config,
                t,
                lr,
            })
            .collect()
    }
}

/// One tensor's part of an optimiser step: its update from its gradient and moments.
pub struct TensorStep<'a, T> {
    param: &'a mut Param<T>,
    /// The tensor's moment buffers; `None` for a frozen tensor, which the step leaves alone.
    moments: Option<(&'a mut Vec<f32>, &'a mut Vec<f32>)>,
    config: OptimizerConfig,
    /// The step's number, from 1.
    t: f64,
    lr: f64,
}

impl<'a, T: Float> TensorStep<'a, T> {
    /// The elements it updates (none for a frozen tensor), to share steps out by.
    pub fn size(&self) -> usize {
        self.moments.as_ref().map_or(0, |(m, _)| m.len())
    }

    /// Updates the tensor from its gradient times `grad_scale` (a global-norm clip's factor,
    /// [`global_norm_factor`], taken here as [`clip_with_norm`] would take it, so the same
    /// bits, but with the gradient left as it was); returns the tensor.
    pub fn apply(self, grad_scale: T) -> &'a Param<T> {
        if let Some((m, v)) = self.moments {
            let (config, t, lr) = (self.config, self.t, self.lr);
            let p = &mut *self.param;
            // Compiled for the widest vector unit: the f64 divisions and square roots of Adam
            // bound the pass, and the baseline build does them two at a time. The same
            // operations in the same order (no contraction into fused multiply-adds), so the
            // same bits.
            dispatch(
                #[inline(always)]
                || update_elements(config, t, p, m, v, lr, grad_scale),
            );
        }
        self.param
    }
}

/// One tensor's update at step `t` (1-based) from its gradient (times `scale`) and moment
/// buffers.
#[inline(always)]
fn update_elements<T: Float>(
    config: OptimizerConfig,
    t: f64,
    p: &mut Param<T>,
    m: &mut [f32],
    v: &mut [f32],
    lr: f64,
    scale: T,
) {
    match config {
        OptimizerConfig::Sgd { momentum, nesterov } => {
            for ((w, &g), m) in p.value.iter_mut().zip(&p.grad).zip(m.iter_mut()) {
                let g = (g * scale).to_f64();
                let buf = momentum * *m as f64 + g;
                *m = buf as f32;
                let d = if nesterov { g + momentum * buf } else { buf };
                *w -= T::from_f64(lr * d);
            }
        }
        OptimizerConfig::Adam { beta1, beta2, epsilon }
        | OptimizerConfig::AdamW {
            beta1, beta2, epsilon, ..
        } => {
            let decay = if let OptimizerConfig::AdamW { weight_decay, .. } = config {
                weight_decay
            } else {
                0.0
            };
            let (c1, c2) = (1.0 - beta1.powf(t), 1.0 - beta2.powf(t));
            for (((w, &g), m), v) in p.value.iter_mut().zip(&p.grad).zip(m.iter_mut()).zip(v.iter_mut()) {
                let g = (g * scale).to_f64();
                let mn = beta1 * *m as f64 + (1.0 - beta1) * g;
                let vn = beta2 * *v as f64 + (1.0 - beta2) * g * g;
                *m = mn as f32;
                *v = vn as f32;
                let step = lr * (mn / c1) / ((vn / c2).sqrt() + epsilon) + lr * decay * w.to_f64();
                *w -= T::from_f64(step);
            }
        }
    }
}

/// How gradients are clipped before each update.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Clip {
    /// Scale all gradients so their global L2 norm is at most this.
    GlobalNorm(f64),
    /// Clamp each gradient value to ±this.
    Value(f64),
}

/// Clips gradients in place; returns the global norm before clipping.
pub fn clip_gradients<T: Float>(params: &mut [&mut Param<T>], clip: Option<Clip>) -> f64 {
    let norm = params
        .iter()
        .flat_map(|p| p.grad.iter())
        .map(|g| g.to_f64().powi(2))
        .sum::<f64>()
        .sqrt();
    clip_with_norm(params, clip, norm);
    norm
}

/// The factor a global-norm clip to `max` scales gradients of L2 norm `norm` by (1: none).
pub fn global_norm_factor<T: Float>(max: f64, norm: f64) -> T {
    if norm > max {
        T::from_f64(max / norm)
    } else {
        T::ONE
    }
}

/// [`clip_gradients`] given the gradients' global L2 norm, for a caller that has it already
/// (summed while it gathered them).
pub fn clip_with_norm<T: Float>(params: &mut [&mut Param<T>], clip: Option<Clip>, norm: f64) {
    match clip {
        Some(Clip::GlobalNorm(max)) if norm > max => {
            let s = global_norm_factor::<T>(max, norm);
            params.iter_mut().for_each(|p| p.grad.iter_mut().for_each(|g| *g *= s));
        }
        Some(Clip::Value(max)) => {
            let (lo, hi) = (T::from_f64(-max), T::from_f64(max));
            params.iter_mut().for_each(|p| {
                p.grad.iter_mut().for_each(|g| {
                    if *g < lo {
                        *g = lo
                    } else if *g > hi {
                        *g = hi
                    }
                })
            });
        }
        _ => {}
    }
}

/// Learning rate as a function of the step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Schedule {
    /// Always `lr`.
    Constant {
        /// Rate.
        lr: f64,
    },
    /// `lr · rate^⌊step / every⌋`: the base rate for the first `every` steps (an epoch, as
    /// PyTorch's `ExponentialLR` steps once an epoch), then one decay each `every` steps.
    Exponential {
        /// Initial rate.
        lr: f64,
        /// Decay factor.
        rate: f64,
        /// Steps per decay.
        every: u64,
    },
    /// `(lr − min_lr) · rate^step + min_lr`: a decay every step towards a floor (Magenta's
    /// sketch-rnn schedule).
    DecayToFloor {
        /// Initial rate.
        lr: f64,
        /// The rate approached and never passed.
        min_lr: f64,
        /// Decay factor per step.
        rate: f64,
    },
    /// Linear warm-up over `warmup` steps, then cosine decay to `min_lr` at `total`.
    Cosine {
        /// Peak rate.
        lr: f64,
        /// Final rate.
        min_lr: f64,
        /// Warm-up steps.
        warmup: u64,
        /// Steps in the whole run.
        total: u64,
    },
}

impl Schedule {
    /// The rate at `step` (0-based).
    pub fn at(&self, step: u64) -> f64 {
        match *self {
            Schedule::Constant { lr } => lr,
            Schedule::Exponential { lr, rate, every } => lr * rate.powf((step / every.max(1)) as f64),
            Schedule::DecayToFloor { lr, min_lr, rate } => (lr - min_lr) * rate.powf(step as f64) + min_lr,
            Schedule::Cosine {
                lr,
                min_lr,
                warmup,
                total,
            } => {
                if step < warmup {
                    return lr * (step + 1) as f64 / warmup as f64;
                }
                let p = ((step - warmup) as f64 / total.saturating_sub(warmup).max(1) as f64).min(1.0);
                min_lr + 0.5 * (lr - min_lr) * (1.0 + (std::f64::consts::PI * p).cos())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each optimiser reduces a quadratic; Adam's first step has size lr (bias correction).
    #[test]
    fn optimisers_descend() {
        for cfg in [
            OptimizerConfig::Sgd {
                momentum: 0.9,
                nesterov: true,
            },
            OptimizerConfig::adam(),
            OptimizerConfig::AdamW {
                beta1: 0.9,
                beta2: 0.999,
                epsilon: 1e-8,
                weight_decay: 0.01,
            },
        ] {
            let mut p = Param::new("w", &[2], vec![3.0f64, -2.0]);
            let mut opt = Optimizer::new(cfg);
            for _ in 0..200 {
                p.grad = p.value.iter().map(|w| 2.0 * w).collect();
                opt.update(vec![&mut p], 0.05);
            }
            assert!(p.value.iter().all(|w| w.abs() < 0.2), "{cfg:?}: {:?}", p.value);
        }
        let mut p = Param::new("w", &[1], vec![1.0f64]);
        p.grad = vec![123.0];
        Optimizer::new(OptimizerConfig::adam()).update(vec![&mut p], 0.01);
        assert!((p.value[0] - 0.99).abs() < 1e-6);
    }

    #[test]
    fn clipping_and_schedules() {
        let mut p = Param::new("w", &[2], vec![0.0f64, 0.0]);
        p.grad = vec![3.0, 4.0];
        assert_eq!(clip_gradients(&mut [&mut p], Some(Clip::GlobalNorm(1.0))), 5.0);
        assert!((p.grad[0] - 0.6).abs() < 1e-12 && (p.grad[1] - 0.8).abs() < 1e-12);
        p.grad = vec![3.0, -4.0];
        clip_gradients(&mut [&mut p], Some(Clip::Value(1.0)));
        assert_eq!(p.grad, vec![1.0, -1.0]);
        let c = Schedule::Cosine {
            lr: 1.0,
            min_lr: 0.0,
            warmup: 10,
            total: 110,
        };
        assert!((c.at(4) - 0.5).abs() < 1e-12 && (c.at(60) - 0.5).abs() < 1e-12 && c.at(110) < 1e-12);
        assert!(
            (Schedule::Exponential {
                lr: 1.0,
                rate: 0.5,
                every: 10
            }
            .at(20)
                - 0.25)
                .abs()
                < 1e-12
        );
    }

    /// The exponential schedule keeps the base rate through the first epoch, as Keras's and
    /// PyTorch's do, and decays once an epoch after.
    #[test]
    fn decay_to_floor_schedule_is_magentas_sketch_rnn_rate() {
        let s = Schedule::DecayToFloor {
            lr: 1e-3,
            min_lr: 1e-5,
            rate: 0.9999,
        };
        assert_eq!(s.at(0), 1e-3);
        assert!((s.at(10_000) - ((1e-3 - 1e-5) * 0.9999f64.powi(10_000) + 1e-5)).abs() < 1e-15);
        assert!(s.at(10_000_000) >= 1e-5);
    }

    #[test]
    fn exponential_schedule_holds_the_base_rate_through_the_first_epoch() {
        let e = Schedule::Exponential {
            lr: 0.01,
            rate: 0.97,
            every: 25,
        };
        assert_eq!((e.at(0), e.at(24)), (0.01, 0.01));
        assert_eq!((e.at(25), e.at(49)), (0.01 * 0.97, 0.01 * 0.97));
        assert_eq!(e.at(50), 0.01 * 0.97f64.powf(2.0));
    }

    /// A step applied with a clip's factor gives the bits of clipping the gradients in place
    /// and updating, and leaves the gradients as they were.
    #[test]
    fn tensor_steps_scaled_equal_clipping_then_updating() {
        let tensor = || {
            let mut p = Param::new("w", &[3], vec![0.5f32, -1.0, 2.0]);
            p.grad = vec![3.0, -4.0, 12.0];
            p
        };
        let (mut a, mut b) = (tensor(), tensor());
        let (mut oa, mut ob) = (
            Optimizer::new(OptimizerConfig::adam()),
            Optimizer::new(OptimizerConfig::adam()),
        );
        for _ in 0..2 {
            clip_gradients(&mut [&mut a], Some(Clip::GlobalNorm(1.0)));
            oa.update(vec![&mut a], 1e-2);
            a.grad = vec![3.0, -4.0, 12.0];
            for step in ob.steps(vec![&mut b], 1e-2) {
                step.apply(global_norm_factor(1.0, 13.0));
            }
        }
        assert_eq!(a.value, b.value);
        assert_eq!(b.grad, vec![3.0, -4.0, 12.0]);
    }
}
