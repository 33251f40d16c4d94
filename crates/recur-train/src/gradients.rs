//! The element-wise passes of a training step over every tensor: adding the shards' gradients,
//! scaling and measuring them, and the optimiser's update copied into the replicas. Each pass
//! shares the tensors out over threads by size; being element-wise (or summed per tensor and
//! then in tensor order), the result does not depend on how they were shared out.

use crate::optim::{Optimizer, TensorStep};
use recur_core::math::dispatch;
use recur_core::parallel::{run_on_workers, split_by_size};
use recur_core::Float;
use recur_nn::Param;

/// What is done to the summed tensors before the update.
#[derive(Clone, Copy)]
pub(crate) struct Finish<T> {
    /// Multiplies every gradient (`None`: left as summed).
    pub grad_scale: Option<T>,
    /// Divides every buffer (running statistics are averaged over the shards).
    pub shards: T,
}

/// One tensor of the master (first) and of each further shard's replica.
type Shards<'a, T> = Vec<&'a mut Param<T>>;

/// Adds the shards' tensors into the master's, pairwise in shard order (`(s0+s1)+(s2+s3)`, the
/// order an all-reduce over two ranks also uses, so 2 ranks × 2 threads give the bits of 1 × 4):
/// gradients of trainable tensors, values of buffers. With `finish` the sums are also finished
/// ([`finish`]) while in cache, and each trainable tensor's sum of squares is returned.
pub(crate) fn gather<T: Float>(
    threads: usize,
    master: Vec<&mut Param<T>>,
    replicas: Vec<Vec<&mut Param<T>>>,
    finish: Option<Finish<T>>,
) -> Vec<f64> {
    let mut tensors: Vec<Shards<T>> = master.into_iter().map(|p| vec![p]).collect();
    for replica in replicas {
        tensors.iter_mut().zip(replica).for_each(|(shards, p)| shards.push(p));
    }
    let mut groups = split_by_size(tensors, |shards| shards[0].value.len(), threads);
    let squares = run_on_workers(&mut groups, |_, group| {
        group
            .iter_mut()
            .map(|shards| {
                dispatch(
                    #[inline(always)]
                    || {
                        add_pairwise(shards);
                        finish.map_or(0.0, |f| finish_tensor(shards[0], f))
                    },
                )
            })
            .collect::<Vec<f64>>()
    });
    squares.into_iter().flatten().collect()
}

/// Scales the master's summed gradients, averages its buffers, and returns each trainable
/// tensor's sum of squares (for a caller that summed across processes after [`gather`]).
pub(crate) fn finish<T: Float>(threads: usize, master: Vec<&mut Param<T>>, finish: Finish<T>) -> Vec<f64> {
    gather(threads, master, Vec::new(), Some(finish))
}

/// Adds one tensor's shards into the first, pairwise in shard order.
#[inline(always)]
fn add_pairwise<T: Float>(shards: &mut [&mut Param<T>]) {
    fold_pairwise(shards, |sum, add| {
        let (sum, add) = if sum.trainable {
            (&mut sum.grad, &add.grad)
        } else {
            (&mut sum.value, &add.value)
        };
        sum.iter_mut().zip(add.iter()).for_each(|(a, b)| *a += *b);
    });
}

/// Adds `items` into the first with `add`, pairwise in order (`(s0+s1)+(s2+s3)`): the order
/// the shards' gradients are summed in, and the shards' losses too, so that a step's loss is
/// the same bits on 2 ranks × 2 threads as on 1 × 4.
#[inline(always)]
pub(crate) fn fold_pairwise<X>(items: &mut [X], mut add: impl FnMut(&mut X, &X)) {
    let (n, mut width) = (items.len(), 1);
    while width < n {
        for i in (0..n).step_by(2 * width).filter(|i| i + width < n) {
            let (head, tail) = items.split_at_mut(i + width);
            add(&mut head[i], &tail[0]);
        }
        width *= 2;
    }
}

/// [`Finish`] for one summed tensor; its sum of squares (0 for a buffer).
#[inline(always)]
fn finish_tensor<T: Float>(p: &mut Param<T>, finish: Finish<T>) -> f64 {
    if !p.trainable {
        p.value.iter_mut().for_each(|v| *v /= finish.shards);
        return 0.0;
    }
    if let Some(s) = finish.grad_scale {
        p.grad.iter_mut().for_each(|g| *g *= s);
    }
    squares(&p.grad)
}

/// The sum of the squares of `values`, in eight running sums (so the additions do not wait on
/// each other) added at the end.
#[inline(always)]
fn squares<T: Float>(values: &[T]) -> f64 {
    let mut lanes = [0.0f64; 8];
    let chunks = values.chunks_exact(8);
    lanes[0] += chunks.remainder().iter().map(|g| g.to_f64().powi(2)).sum::<f64>();
    for chunk in chunks {
        lanes.iter_mut().zip(chunk).for_each(|(l, g)| *l += g.to_f64().powi(2));
    }
    lanes.iter().sum()
}

/// The global L2 norm from each tensor's sum of squares, added in tensor order (so it does not
/// depend on how the tensors were shared out over threads).
pub(crate) fn norm(squares: &[f64]) -> f64 {
    squares.iter().sum::<f64>().sqrt()
}

/// The optimiser's step on the master's gradients times `grad_scale` (a clip's factor), tensor
/// by tensor on `threads` threads, each updated tensor (buffers too) copied into the replicas
/// while it is in cache.
pub(crate) fn update<T: Float>(
    threads: usize,
    optimizer: &mut Optimizer,
    master: Vec<&mut Param<T>>,
    replicas: Vec<Vec<&mut Param<T>>>,
    lr: f64,
    grad_scale: T,
) {
    type Work<'a, T> = (TensorStep<'a, T>, Vec<&'a mut Param<T>>);
    let mut tensors: Vec<Work<T>> = optimizer
        .steps(master, lr)
        .into_iter()
        .map(|step| (step, Vec::new()))
        .collect();
    for replica in replicas {
        tensors
            .iter_mut()
            .zip(replica)
            .for_each(|((_, copies), p)| copies.push(p));
    }
    let mut groups = split_by_size(tensors, |(step, _)| step.size(), threads);
    run_on_workers(&mut groups, |_, group| {
        for (step, copies) in group.drain(..) {
            let p = step.apply(grad_scale);
            copies.into_iter().for_each(|c| c.value.copy_from_slice(&p.value));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shards add pairwise in shard order, buffers average, and the squares are the scaled sums'.
    #[test]
    fn gathering_adds_pairwise_scales_and_averages_buffers() {
        let grad = |g: Vec<f32>| {
            let mut p = Param::new("w", &[2], vec![0.0f32; 2]);
            p.grad = g;
            p
        };
        let mut shards = [grad(vec![1.0, 2.0]), grad(vec![3.0, 4.0]), grad(vec![5.0, 6.0])];
        let mut buffers = [
            Param::buffer("b", &[1], vec![1.0f32]),
            Param::buffer("b", &[1], vec![2.0]),
            Param::buffer("b", &[1], vec![6.0]),
        ];
        let (first, rest) = shards.split_at_mut(1);
        let (bfirst, brest) = buffers.split_at_mut(1);
        let replicas = rest.iter_mut().zip(brest.iter_mut()).map(|(g, b)| vec![g, b]).collect();
        let finish = Finish {
            grad_scale: Some(0.5),
            shards: 3.0,
        };
        let squares = gather(2, vec![&mut first[0], &mut bfirst[0]], replicas, Some(finish));
        assert_eq!(first[0].grad, vec![4.5, 6.0]);
        assert_eq!(bfirst[0].value, vec![3.0]);
        assert_eq!(squares, vec![4.5 * 4.5 + 36.0, 0.0]);
    }
}
