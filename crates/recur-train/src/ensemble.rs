//! Ensembles, the same for every task: members trained one after the other with seeds `seed`,
//! `seed + 1`, …, member 0 in the model directory itself and member `k` in its `members/k`
//! ([`member_dir`]); loaded together by [`recur_nn::model_dir::load_ensemble`]; their
//! outputs averaged by [`add_share`].

use crate::checkpoint;
use crate::progress::Reporter;
use recur_nn::model_dir::member_dir;
use recur_nn::{NnError, Result};
use std::path::{Path, PathBuf};

/// One member to train.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    /// Its place in the ensemble, from 0.
    pub index: usize,
    /// Its seed: the ensemble's plus its index.
    pub seed: u64,
    /// Its directory (`None` when the ensemble is not written as it trains).
    pub out: Option<PathBuf>,
    /// Continue its checkpointed run: asked for, and it has a checkpoint (a killed run may have
    /// stopped before later members began: those start afresh).
    pub resume: bool,
}

/// `Err` unless `out` holds a checkpoint to resume: `--resume` into a folder without one (a
/// mistyped `--out`, a run killed before its first epoch ended) trained from scratch as if
/// asked to. Commands call it before any work; [`train_members`] for member 0.
pub fn require_checkpoint(out: &Path) -> Result<()> {
    if checkpoint::exists(out) {
        return Ok(());
    }
    Err(NnError::Setting(format!(
        "nothing to resume in {}: it holds no checkpoint (start without --resume)",
        out.display()
    )))
}

/// Trains the `size` members of an ensemble (at least one) with `train`, in order, telling
/// `progress` which one starts when there are several; returns what each gave. Resuming needs
/// member 0's checkpoint; a later member without one (the run stopped before it began) starts
/// afresh.
pub fn train_members<R>(
    size: usize,
    seed: u64,
    out: Option<&Path>,
    resume: bool,
    progress: &Reporter,
    mut train: impl FnMut(Member) -> Result<R>,
) -> Result<Vec<R>> {
    let size = size.max(1);
    if let (true, Some(dir)) = (resume, out) {
        require_checkpoint(dir)?;
    }
    (0..size)
        .map(|index| {
            if size > 1 {
                progress.note(&format!("ensemble member {} of {size}", index + 1));
            }
            let out = out.map(|dir| member_dir(dir, index));
            train(Member {
                index,
                seed: seed + index as u64,
                resume: resume && out.as_deref().is_some_and(checkpoint::exists),
                out,
            })
        })
        .collect()
}

/// Adds one member's `values` times `share` (1 / members) into `sum` (which starts empty):
/// an ensemble's output is the mean of its members'.
pub fn add_share(sum: &mut Vec<f64>, values: &[f64], share: f64) {
    sum.resize(values.len(), 0.0);
    sum.iter_mut().zip(values).for_each(|(s, v)| *s += v * share);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ensemble_members_get_successive_seeds_and_their_own_folders() {
        let members = train_members(3, 7, Some(Path::new("m")), false, &Reporter::silent(), Ok).unwrap();
        let seeds: Vec<u64> = members.iter().map(|m| m.seed).collect();
        assert_eq!(seeds, vec![7, 8, 9]);
        assert_eq!(members[0].out.as_deref(), Some(Path::new("m")));
        assert_eq!(members[2].out, Some(member_dir(Path::new("m"), 2)));
        assert!(members.iter().all(|m| !m.resume));
        // `--resume` with nothing to resume is refused, not trained from scratch.
        let e = train_members(3, 7, Some(Path::new("m")), true, &Reporter::silent(), Ok).unwrap_err();
        assert_eq!(
            e.to_string(),
            "nothing to resume in m: it holds no checkpoint (start without --resume)"
        );
        assert_eq!(
            train_members(0, 1, None, false, &Reporter::silent(), Ok).unwrap().len(),
            1
        );
    }

    #[test]
    fn ensemble_mean_adds_each_members_share() {
        let mut sum = Vec::new();
        add_share(&mut sum, &[1.0, 2.0], 0.5);
        add_share(&mut sum, &[3.0, 6.0], 0.5);
        assert_eq!(sum, vec![2.0, 4.0]);
    }
}
