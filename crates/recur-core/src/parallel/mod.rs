//! Batch sharding across cores. Each core runs a whole shard's forward and backward on its own
//! model replica; the results are combined in shard order, so a run is deterministic for a
//! given thread count. The same split carries data parallelism across machines.

mod helper;

pub use helper::join;

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock};

/// Number of worker threads to use by default: the cores this process may run on.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// Splits `0..n` into at most `parts` contiguous, non-empty ranges of near-equal size.
pub fn shard_ranges(n: usize, parts: usize) -> Vec<Range<usize>> {
    let parts = parts.clamp(1, n.max(1));
    let base = n / parts;
    let extra = n % parts;
    let mut start = 0;
    (0..parts)
        .map(|i| {
            let len = base + usize::from(i < extra);
            let r = start..start + len;
            start += len;
            r
        })
        .filter(|r| !r.is_empty())
        .collect()
}

/// Splits `items` into at most `parts` runs of consecutive items of about equal total `size`
/// (tensors shared out over threads for an element-wise pass).
pub fn split_by_size<I>(items: Vec<I>, size: impl Fn(&I) -> usize, parts: usize) -> Vec<Vec<I>> {
    let total: usize = items.iter().map(&size).sum();
    let share = total.div_ceil(parts.max(1)).max(1);
    let mut groups: Vec<Vec<I>> = vec![Vec::new()];
    let mut filled = 0;
    for item in items {
        if filled >= share {
            groups.push(Vec::new());
            filled = 0;
        }
        filled += size(&item);
        groups.last_mut().expect("one group at least").push(item);
    }
    groups
}

/// This rank's shards of a batch of `n` sequences, and the global index of the first (dropout
/// streams are numbered by it). Either every rank is handed the same global batch, cut into
/// `ranks × threads` shards of which rank `r` runs `r·threads ..` (a batch smaller than that
/// leaves the last ranks fewer shards, or none), or (`own_batch`) the batch is this rank's own,
/// cut across its threads, its shards numbered after the lower ranks'.
pub fn rank_shards(n: usize, threads: usize, rank: usize, ranks: usize, own_batch: bool) -> (Vec<Range<usize>>, usize) {
    if own_batch {
        return (shard_ranges(n, threads), rank * threads);
    }
    let shards = shard_ranges(n, threads * ranks);
    let first = (rank * threads).min(shards.len());
    (shards[first..(first + threads).min(shards.len())].to_vec(), first)
}

/// Runs `work(i, &mut workers[i])` for every worker, each on its own thread (the first on the
/// calling thread, the others on a pool kept for this many workers), and returns the results
/// in worker order (none for no workers: a rank with no share of a step).
///
/// The pool's threads live on from call to call. Threads started afresh for each call cost
/// their start, and each began with an empty allocator heap, so every buffer a worker
/// allocated was faulted in from the OS again: about a tenth of a two-thread LSTM inference.
pub fn run_on_workers<W: Send, R: Send>(workers: &mut [W], work: impl Fn(usize, &mut W) -> R + Sync) -> Vec<R> {
    match workers.len() {
        0 => return Vec::new(),
        1 => return vec![work(0, &mut workers[0])],
        _ => {}
    }
    let mut results: Vec<Option<R>> = workers.iter().map(|_| None).collect();
    let pool = pool_of(workers.len() - 1);
    let (first, rest) = workers.split_at_mut(1);
    let (first_result, rest_results) = results.split_at_mut(1);
    let work = &work;
    // A panic in any worker is raised again here once all have finished.
    pool.in_place_scope(|scope| {
        for (i, (w, slot)) in rest.iter_mut().zip(rest_results.iter_mut()).enumerate() {
            scope.spawn(move |_| *slot = Some(work(i + 1, w)));
        }
        first_result[0] = Some(work(0, &mut first[0]));
    });
    results
        .into_iter()
        .map(|r| r.expect("every worker ran to completion"))
        .collect()
}

/// The pool of `threads` threads, made on first use and kept for the process.
fn pool_of(threads: usize) -> Arc<rayon::ThreadPool> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<rayon::ThreadPool>>>> = OnceLock::new();
    let mut pools = POOLS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    pools
        .entry(threads)
        .or_insert_with(|| {
            let built = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("recur-worker-{i}"))
                .build();
            Arc::new(built.expect("the worker threads could not be started"))
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_everything_once() {
        for n in [0, 1, 5, 64, 65] {
            for p in [1, 2, 3, 8] {
                let r = shard_ranges(n, p);
                assert_eq!(r.iter().map(|r| r.len()).sum::<usize>(), n);
                assert!(r.windows(2).all(|w| w[0].end == w[1].start));
            }
        }
    }

    /// The ranks' shards of one global batch are its `ranks × threads` shards in rank order;
    /// a rank's own batch is cut across its threads and numbered after the lower ranks'.
    #[test]
    fn rank_shards_of_a_global_batch_and_of_an_own_batch() {
        let all = shard_ranges(10, 4);
        let r0 = rank_shards(10, 2, 0, 2, false);
        let r1 = rank_shards(10, 2, 1, 2, false);
        assert_eq!(([r0.0, r1.0].concat(), r0.1, r1.1), (all, 0, 2));
        let (few, first) = rank_shards(3, 2, 1, 2, false);
        assert_eq!(
            (few.len(), few.first(), first),
            (1, Some(&(2..3)), 2),
            "fewer shards than workers"
        );
        assert_eq!(rank_shards(1, 2, 1, 2, false).0.len(), 0, "none left for rank 1");
        assert_eq!(rank_shards(5, 2, 1, 2, true), (vec![0..3, 3..5], 2));
        assert_eq!(rank_shards(0, 2, 1, 2, true).0.len(), 0, "an idle step");
    }

    /// The groups keep every item once, in order, at most `parts` of them, none empty
    /// unless there is nothing to split.
    #[test]
    fn split_by_size_keeps_order_and_balances() {
        let sizes = vec![5, 1, 1, 8, 2, 2, 9, 3];
        for parts in [1, 2, 3, 16] {
            let groups = split_by_size(sizes.clone(), |&s| s, parts);
            assert!(groups.len() <= parts);
            assert!(groups.iter().all(|g| !g.is_empty()));
            assert_eq!(groups.concat(), sizes);
        }
        let halves = split_by_size(sizes.clone(), |&s| s, 2);
        assert_eq!(
            halves.iter().map(|g| g.iter().sum::<usize>()).collect::<Vec<_>>(),
            [17, 14]
        );
        assert_eq!(split_by_size(Vec::<usize>::new(), |&s| s, 2), vec![Vec::<usize>::new()]);
    }
}
