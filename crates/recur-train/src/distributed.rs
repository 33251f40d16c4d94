//! Data parallelism across processes: the [`Collective`] a [`Trainer`](crate::Trainer) sums its
//! gradients through, and the per-thread group every trainer of the process joins.
//!
//! Every process (a *rank*) holds the whole model and is handed the whole global batch; the
//! batch is cut into `ranks × threads` shards, rank `r` runs shards `r·threads ..` on its
//! threads, and the shards' gradient sums meet in one all-reduce per step. Dropout streams are
//! numbered by global shard, so a run depends on the total shard count, not on how the shards
//! are spread over processes and threads.
//!
//! This crate knows no MPI: the binary implements [`Collective`] over a communicator and
//! [`install`]s it before building trainers, which pick it up in [`Trainer::new`](crate::Trainer::new).

use recur_core::Float;
use recur_nn::{NnError, Result};
use std::any::Any;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// The collective operations data-parallel training needs from a group of processes. Every
/// rank must make the same calls in the same order (as with MPI).
pub trait Collective {
    /// This process's index in the group (0 is the leader: it alone prints and writes).
    fn rank(&self) -> usize;
    /// Processes in the group.
    fn size(&self) -> usize;
    /// Element-wise sum over the group, in place (every rank gets the same result).
    fn sum_f32(&self, values: &mut [f32]);
    /// Element-wise sum over the group, in place (every rank gets the same result).
    fn sum_f64(&self, values: &mut [f64]);
    /// Every rank's `value`, in rank order.
    fn gather_u64(&self, value: u64) -> Vec<u64>;

    /// The largest of every rank's `value`.
    fn max_u64(&self, value: u64) -> u64 {
        self.gather_u64(value).into_iter().max().unwrap_or(value)
    }

    /// Every rank's `values` one after the other, in rank order (the ranks may give different
    /// counts). Built on the sums: each rank writes its words as two 32-bit halves into its own
    /// slots of a zeroed buffer, so every slot's sum is exactly the one nonzero term.
    fn gather_u64s(&self, values: &[u64]) -> Vec<u64> {
        let counts = self.gather_u64(values.len() as u64);
        let start: u64 = counts[..self.rank()].iter().sum();
        let total: u64 = counts.iter().sum();
        let mut halves = vec![0f64; 2 * total as usize];
        for (k, v) in values.iter().enumerate() {
            let slot = 2 * (start as usize + k);
            halves[slot] = (v >> 32) as f64;
            halves[slot + 1] = (v & 0xffff_ffff) as f64;
        }
        self.sum_f64(&mut halves);
        halves
            .chunks_exact(2)
            .map(|h| ((h[0] as u64) << 32) | h[1] as u64)
            .collect()
    }
}

thread_local! {
    // MPI is driven from one thread (the one that initialised it), so the group is that
    // thread's, not the process's.
    static GROUP: RefCell<Option<Rc<dyn Collective>>> = const { RefCell::new(None) };
    static SHARED_FAILURE: Cell<bool> = const { Cell::new(false) };
}

/// True once this thread has returned an error that every rank of the group returned too
/// (ranks that disagree, another rank's failure): rank 0 reports it, the others need not.
pub fn failure_is_shared() -> bool {
    SHARED_FAILURE.with(Cell::get)
}

/// Records that the error being returned is one every rank returns.
pub fn mark_shared_failure() {
    SHARED_FAILURE.with(|f| f.set(true));
}

/// Makes `group` the one every [`Trainer`](crate::Trainer) built later on this thread trains
/// across.
pub fn install(group: Rc<dyn Collective>) {
    GROUP.with(|g| *g.borrow_mut() = Some(group));
}

/// The installed group, if any.
pub fn group() -> Option<Rc<dyn Collective>> {
    GROUP.with(|g| g.borrow().clone())
}

/// This process's rank in the installed group (0 without one).
pub fn rank() -> usize {
    group().map_or(0, |g| g.rank())
}

/// True on the rank that prints and writes: rank 0, or the only process.
pub fn is_leader() -> bool {
    rank() == 0
}

/// Sums `values` over the group; `T` is `f32` or `f64` (the two [`Float`] types).
// A Vec, not a slice: `Any` downcasts sized types only.
#[allow(clippy::ptr_arg)]
pub(crate) fn sum_floats<T: Float>(group: &dyn Collective, values: &mut Vec<T>) {
    let any: &mut dyn Any = values;
    if let Some(v) = any.downcast_mut::<Vec<f32>>() {
        group.sum_f32(v);
    } else if let Some(v) = any.downcast_mut::<Vec<f64>>() {
        group.sum_f64(v);
    } else {
        unreachable!("Float is implemented for f32 and f64 only");
    }
}

/// Sums one step's `figures` (loss, counts: `width` numbers; `None` where this rank's step
/// failed) over the group, with a failure flag, so every rank learns at the same step that one
/// failed and none is left waiting in the next collective. A rank whose step failed must still
/// call this, then return its own error; the others get the shared error naming it.
pub fn sum_step_figures(group: &dyn Collective, figures: Option<&[f64]>, width: usize, step: u64) -> Result<Vec<f64>> {
    let failed = figures.is_none();
    let mut v = vec![0.0; width + 2];
    if let Some(f) = figures {
        v[..width].copy_from_slice(&f[..width]);
    }
    v[width] = f64::from(u8::from(failed));
    v[width + 1] = if failed { group.rank() as f64 } else { 0.0 };
    group.sum_f64(&mut v);
    if v[width] > 0.0 && !failed {
        mark_shared_failure();
        let who = match v[width] as usize {
            1 => format!("rank {}", v[width + 1] as usize),
            n => format!("{n} ranks"),
        };
        return Err(NnError::Input(format!(
            "{who} failed at step {} (the error is that rank's own message)",
            step + 1
        )));
    }
    v.truncate(width);
    Ok(v)
}

/// Checks that every rank computed the same `fingerprint` of `what`; the error (the same on
/// every rank) names the ranks that differ from rank 0.
pub fn agree(group: &dyn Collective, what: &str, fingerprint: u64) -> Result<()> {
    let all = group.gather_u64(fingerprint);
    let differ: Vec<String> = (1..all.len())
        .filter(|&r| all[r] != all[0])
        .map(|r| r.to_string())
        .collect();
    if differ.is_empty() {
        return Ok(());
    }
    mark_shared_failure();
    Err(NnError::Input(format!(
        "the ranks disagree on {what}: rank {} differs from rank 0 (every rank must run the same \
         command, options and recur version on the same files)",
        differ.join(", ")
    )))
}

/// A 64-bit digest of words, strings and floats, for comparing state across ranks (not
/// cryptographic; identical inputs give identical digests on every machine).
#[derive(Clone, Copy, Debug)]
pub struct Fingerprint(u64);

impl Default for Fingerprint {
    fn default() -> Self {
        Fingerprint(0x6a09_e667_f3bc_c908)
    }
}

impl Fingerprint {
    /// Mixes in one word (a multiply–xorshift round, as in splitmix64's finaliser).
    pub fn word(&mut self, w: u64) -> &mut Self {
        let mut z = (self.0 ^ w).wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        self.0 = z ^ (z >> 31);
        self
    }

    /// Mixes in a string (its length, then its bytes eight at a time).
    pub fn text(&mut self, s: &str) -> &mut Self {
        self.word(s.len() as u64);
        for chunk in s.as_bytes().chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.word(u64::from_le_bytes(w));
        }
        self
    }

    /// Mixes in floats by their bit patterns.
    pub fn floats<T: Float>(&mut self, values: &[T]) -> &mut Self {
        self.word(values.len() as u64);
        for v in values {
            self.word(v.to_f64().to_bits());
        }
        self
    }

    /// The digest so far.
    pub fn finish(&self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_separates_order_and_values() {
        let a = Fingerprint::default().floats(&[1.0f32, 2.0]).finish();
        let b = Fingerprint::default().floats(&[2.0f32, 1.0]).finish();
        let c = Fingerprint::default().floats(&[1.0f64, 2.0]).finish();
        assert_ne!(a, b);
        assert_eq!(a, c, "f32 and f64 of the same values digest alike");
        assert_ne!(
            Fingerprint::default().text("ab").finish(),
            Fingerprint::default().text("ba").finish()
        );
    }
}
