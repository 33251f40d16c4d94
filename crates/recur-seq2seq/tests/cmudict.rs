//! The CMUdict reader on the shared real data (when present): its word, pronunciation and
//! phoneme counts match the data's README, and the split by word keeps each word on one side.

use recur_seq2seq::{group_by_source, read_pairs, split_by_source, PairFormat, Tokenizer, Vocab};
use std::collections::HashSet;

use recur_testdata::shared_data as shared;

#[test]
fn cmudict_shared_train_file_counts_and_split() {
    let Some(path) = shared("cmudict/cmudict-train.dict") else {
        return;
    };
    let pairs = read_pairs(&path, PairFormat::Cmudict, Tokenizer::Chars, Tokenizer::Whitespace).unwrap();
    assert_eq!(pairs.len(), 121_359);
    let groups = group_by_source(&pairs);
    assert_eq!(groups.len(), 113_209);
    let phones = Vocab::build(pairs.iter().map(|p| p.target.as_slice()), 1);
    assert_eq!(phones.len() - Vocab::SPECIALS.len(), 39);
    assert!(phones.tokens().iter().all(|t| !t.ends_with(['0', '1', '2'])));
    let letters = Vocab::build(pairs.iter().map(|p| p.source.as_slice()), 1);
    assert!(letters.tokens().iter().all(|t| t.to_lowercase() == *t));

    let (train, val) = split_by_source(pairs, 0.05, 1);
    let words = |v: &[recur_seq2seq::Pair]| v.iter().map(|p| p.source.concat()).collect::<HashSet<_>>();
    let (tw, vw) = (words(&train), words(&val));
    assert!(tw.is_disjoint(&vw));
    assert_eq!(tw.len() + vw.len(), 113_209);
    assert_eq!(vw.len(), (113_209.0f64 * 0.05).round() as usize);
}
