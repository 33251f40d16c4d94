//! Sequence-to-sequence scores as grapheme-to-phoneme papers compute them, where a word may have
//! several correct pronunciations: a word is right if it matches any of them, and its phoneme
//! errors are counted against the closest one.

use serde::Serialize;

/// Levenshtein distance: the fewest insertions, deletions and substitutions turning `a` into `b`.
pub fn edit_distance<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    // Two rows of the dynamic programme are enough: row i only reads row i − 1.
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut row = vec![0; b.len() + 1];
    for (i, x) in a.iter().enumerate() {
        row[0] = i + 1;
        for (j, y) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(x != y);
            row[j + 1] = substitute.min(prev[j + 1] + 1).min(row[j] + 1);
        }
        std::mem::swap(&mut prev, &mut row);
    }
    prev[b.len()]
}

/// The scores of a set of hypotheses against their references.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Scores {
    /// Items scored (words, for G2P).
    pub words: usize,
    /// Share of items whose hypothesis equals one of its references: 1 − [`Scores::wer`]. With
    /// one reference per item this is the usual exact-match accuracy.
    pub exact_match: f64,
    /// Equal to [`Scores::per`]: token edits over reference tokens. With one reference per item
    /// this is the usual token error rate.
    pub token_error_rate: f64,
    /// Word error rate: share of items whose hypothesis matches none of its references.
    pub wer: f64,
    /// Phoneme error rate: the sum over items of the edit distance to the closest reference
    /// (the first one on ties), over the sum of those references' lengths.
    pub per: f64,
}

/// Scores `(hypothesis, references)` items. An item without references counts as wrong, with
/// its hypothesis' length as its edits; an empty list scores 0 everywhere (`words` is 0). If
/// every closest reference is empty, PER is the edit count itself (divided by 1, not 0).
pub fn score(items: &[(Vec<String>, Vec<Vec<String>>)]) -> Scores {
    Tally::of(items).scores()
}

/// The counts behind [`Scores`]; tallies of disjoint item sets add up (validation split across
/// processes is summed this way).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tally {
    /// Items scored.
    pub items: usize,
    /// Items matching none of their references.
    pub wrong: usize,
    /// Edits to each item's closest reference, summed.
    pub edits: usize,
    /// Lengths of those closest references, summed.
    pub length: usize,
}

impl Tally {
    /// Counts `(hypothesis, references)` items as [`score`] describes.
    pub fn of(items: &[(Vec<String>, Vec<Vec<String>>)]) -> Tally {
        let mut t = Tally {
            items: items.len(),
            ..Tally::default()
        };
        for (hyp, refs) in items {
            let closest = refs
                .iter()
                .map(|r| (edit_distance(hyp, r), r.len()))
                .min_by_key(|&(d, _)| d)
                .unwrap_or((hyp.len(), 0));
            t.wrong += usize::from(closest.0 != 0 || refs.is_empty());
            t.edits += closest.0;
            t.length += closest.1;
        }
        t
    }

    /// The rates these counts give.
    pub fn scores(&self) -> Scores {
        if self.items == 0 {
            return Scores {
                words: 0,
                exact_match: 0.0,
                token_error_rate: 0.0,
                wer: 0.0,
                per: 0.0,
            };
        }
        let wer = self.wrong as f64 / self.items as f64;
        let per = self.edits as f64 / self.length.max(1) as f64;
        Scores {
            words: self.items,
            exact_match: 1.0 - wer,
            token_error_rate: per,
            wer,
            per,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn metrics_edit_distance_known_cases() {
        let c = |a: &str, b: &str| edit_distance(&a.chars().collect::<Vec<_>>(), &b.chars().collect::<Vec<_>>());
        assert_eq!(c("kitten", "sitting"), 3);
        assert_eq!(c("", "abc"), 3);
        assert_eq!(c("abc", ""), 3);
        assert_eq!(c("flaw", "lawn"), 2);
        assert_eq!(c("same", "same"), 0);
        assert_eq!(edit_distance(&t("HH AH L OW"), &t("HH EH L OW")), 1);
        assert_eq!(edit_distance::<u32>(&[], &[]), 0);
    }

    #[test]
    fn metrics_score_uses_any_reference_for_wer_and_closest_for_per() {
        let items = vec![
            // Matches the second reference: right, no edits.
            (t("HH EH L OW"), vec![t("HH AH L OW"), t("HH EH L OW")]),
            // One substitution from the first (length 3), two from the second.
            (t("K AE T"), vec![t("K AH T"), t("B AH D S")]),
            // One deletion from a 2-phoneme reference.
            (t("AY"), vec![t("AY Z")]),
            // Wrong on both; the ties go to the first reference (length 1).
            (t("Z"), vec![t("Q"), t("X")]),
        ];
        let s = score(&items);
        assert_eq!(s.words, 4);
        assert_eq!(s.wer, 0.75);
        assert_eq!(s.exact_match, 0.25);
        assert_eq!(s.per, 3.0 / 10.0);
        assert_eq!(s.token_error_rate, s.per);
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("\"wer\":0.75"), "{json}");
    }

    #[test]
    fn metrics_score_edge_cases() {
        assert_eq!(score(&[]).words, 0);
        let s = score(&[(t("A B"), vec![])]);
        assert_eq!((s.wer, s.per), (1.0, 2.0));
        let s = score(&[(t("A"), vec![t("A")]), (t("B"), vec![t("B")])]);
        assert_eq!((s.wer, s.per, s.exact_match), (0.0, 0.0, 1.0));
    }
}
