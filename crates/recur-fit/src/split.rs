//! Choosing sequences: the seeded, stratified validation split (or a grouped one, which keeps
//! each group, such as the clips cut from one source video, on one side), grouped folds for
//! cross-validation, and the order of each epoch's batches.

use recur_core::Rng;
use recur_data::sequences::{SequenceSet, SequenceTargets};
use recur_nn::{NnError, Result};

/// Indices of `set` for training and for validation: `fraction` of each class (of all
/// sequences, for value targets) held out, at least one per class with two or more members,
/// drawn with `seed`.
pub fn stratified_split(set: &SequenceSet, fraction: f64, seed: u64) -> Result<(Vec<usize>, Vec<usize>)> {
    let groups: Vec<Vec<usize>> = match &set.targets {
        SequenceTargets::Classes { labels, names } => (0..names.len())
            .map(|k| (0..set.len()).filter(|&i| labels[i] == k).collect())
            .collect(),
        _ => vec![(0..set.len()).collect()],
    };
    let mut rng = Rng::derive(seed, 0x5917);
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for mut g in groups {
        rng.shuffle(&mut g);
        let mut take = (g.len() as f64 * fraction).round() as usize;
        if take == 0 && g.len() >= 2 && fraction > 0.0 {
            take = 1;
        }
        let take = take.min(g.len().saturating_sub(1));
        val.extend_from_slice(&g[..take]);
        train.extend_from_slice(&g[take..]);
    }
    train.sort_unstable();
    val.sort_unstable();
    if val.is_empty() || train.is_empty() {
        return Err(NnError::Input(format!(
            "{}: {} sequences are too few to hold out {:.0}% for validation; pass a validation file or val_split 0",
            set.source,
            set.len(),
            fraction * 100.0
        )));
    }
    Ok((train, val))
}

/// Each distinct group's members, the groups in a seeded random order.
fn shuffled_groups(groups: &[String], seed: u64) -> Vec<Vec<usize>> {
    let mut names: Vec<&String> = groups.iter().collect();
    names.sort_unstable();
    names.dedup();
    let mut members: Vec<Vec<usize>> = names
        .iter()
        .map(|n| (0..groups.len()).filter(|&i| &groups[i] == *n).collect())
        .collect();
    Rng::derive(seed, 0x6709).shuffle(&mut members);
    members
}

/// Indices for training and validation with whole groups held out (drawn with `seed`) until
/// about `fraction` of the examples are: no group is on both sides. `source` names the data
/// in errors.
pub fn grouped_split(groups: &[String], fraction: f64, seed: u64, source: &str) -> Result<(Vec<usize>, Vec<usize>)> {
    let members = shuffled_groups(groups, seed);
    let wanted = ((groups.len() as f64 * fraction).round() as usize).max(1);
    let (mut train, mut val) = (Vec::new(), Vec::new());
    for (k, g) in members.iter().enumerate() {
        // The last group always trains, so neither side is empty.
        if val.len() < wanted && k + 1 < members.len() {
            val.extend_from_slice(g);
        } else {
            train.extend_from_slice(g);
        }
    }
    train.sort_unstable();
    val.sort_unstable();
    if val.is_empty() {
        return Err(NnError::Input(format!(
            "{source}: {} group(s) are too few to hold whole groups out for validation; give more groups or val_split 0",
            members.len()
        )));
    }
    Ok((train, val))
}

/// `k` folds of example indices for cross-validation, each group wholly in one fold: the
/// groups, in a seeded order, largest first, each put in the fold with the fewest examples
/// (as scikit-learn's `GroupKFold` balances them).
pub fn grouped_folds(groups: &[String], k: usize, seed: u64, source: &str) -> Result<Vec<Vec<usize>>> {
    let mut members = shuffled_groups(groups, seed);
    if k < 2 || members.len() < k {
        return Err(NnError::Input(format!(
            "{source}: {k}-fold cross-validation needs at least 2 folds and as many groups; the data has {} group(s)",
            members.len()
        )));
    }
    members.sort_by_key(|g| std::cmp::Reverse(g.len()));
    let mut folds: Vec<Vec<usize>> = vec![Vec::new(); k];
    for g in members {
        let smallest = (0..k).min_by_key(|&f| folds[f].len()).unwrap_or(0);
        folds[smallest].extend(g);
    }
    folds.iter_mut().for_each(|f| f.sort_unstable());
    Ok(folds)
}

/// One epoch's batches: sequences shuffled, then sorted by length within windows of 8 batches
/// (less padding), and the batches shuffled again.
pub fn epoch_batches(lengths: &[usize], batch_size: usize, rng: &mut Rng) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    rng.shuffle(&mut order);
    let bs = batch_size.max(1);
    let mut batches: Vec<Vec<usize>> = Vec::new();
    for window in order.chunks_mut(bs * 8) {
        window.sort_by_key(|&i| lengths[i]);
        batches.extend(window.chunks(bs).map(<[usize]>::to_vec));
    }
    rng.shuffle(&mut batches);
    batches
}

/// Batches for inference: in length order, so each is padded little.
pub fn sorted_batches(lengths: &[usize], batch_size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| lengths[i]);
    order.chunks(batch_size.max(1)).map(<[usize]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(labels: Vec<usize>) -> SequenceSet {
        SequenceSet {
            dims: 1,
            series: labels.iter().map(|_| vec![0.0; 3]).collect(),
            targets: SequenceTargets::Classes {
                labels,
                names: vec!["a".into(), "b".into(), "c".into()],
            },
            source: "mem".into(),
            sequential: true,
            more_inputs: Vec::new(),
        }
    }

    #[test]
    fn stratified_split_holds_out_each_class_and_is_seeded() {
        let s = set((0..30).map(|i| i % 3).collect());
        let (train, val) = stratified_split(&s, 0.2, 1).unwrap();
        assert_eq!((train.len(), val.len()), (24, 6));
        let SequenceTargets::Classes { labels, .. } = &s.targets else {
            unreachable!()
        };
        for k in 0..3 {
            assert_eq!(val.iter().filter(|&&i| labels[i] == k).count(), 2);
        }
        assert_eq!(stratified_split(&s, 0.2, 1).unwrap().1, val);
        assert_ne!(stratified_split(&s, 0.2, 2).unwrap().1, val);
        assert!(stratified_split(&set(vec![0]), 0.2, 1).is_err());
    }

    #[test]
    fn grouped_split_and_folds_never_put_a_group_on_both_sides() {
        let groups: Vec<String> = (0..40).map(|i| format!("video{}", i / 4)).collect();
        let (train, val) = grouped_split(&groups, 0.2, 1, "clips").unwrap();
        assert_eq!((train.len(), val.len()), (32, 8));
        assert!(val.iter().all(|&v| train.iter().all(|&t| groups[t] != groups[v])));
        assert_ne!(grouped_split(&groups, 0.2, 2, "clips").unwrap().1, val);
        let folds = grouped_folds(&groups, 5, 1, "clips").unwrap();
        assert!(folds.iter().all(|f| f.len() == 8));
        for (a, fa) in folds.iter().enumerate() {
            for fb in &folds[a + 1..] {
                assert!(fa.iter().all(|&i| fb.iter().all(|&j| groups[i] != groups[j])));
            }
        }
        let e = grouped_folds(&groups[..8], 5, 1, "clips").unwrap_err().to_string();
        assert!(e.contains("the data has 2 group(s)"), "{e}");
        let one: Vec<String> = vec!["a".into(); 5];
        assert!(grouped_split(&one, 0.2, 1, "clips").is_err());
    }

    #[test]
    fn epoch_batches_cover_every_sequence_once() {
        let lengths: Vec<usize> = (0..50).map(|i| (i * 7) % 13 + 1).collect();
        let b = epoch_batches(&lengths, 8, &mut Rng::new(3));
        let mut all: Vec<usize> = b.concat();
        all.sort_unstable();
        assert_eq!(all, (0..50).collect::<Vec<_>>());
        assert_eq!(b, epoch_batches(&lengths, 8, &mut Rng::new(3)));
    }
}
