//! Drawings as a classification data set: class indices, a deterministic split by `key_id`
//! hash (a drawing is in the same part on every run and machine, so none leaks), and batches
//! bucketed by length so little padding is computed and nothing is cropped.

use recur_core::{Rng, Seq};
use recur_data::quickdraw::strokes::{augment, encode, offsets, Augmentation, Encoding, Normalization};
use recur_data::quickdraw::Drawing;
use recur_train::{Batch, Targets};
use serde::{Deserialize, Serialize};

/// Which part of the split a drawing belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// Training.
    Train,
    /// Validation (early stopping, best epoch).
    Validation,
    /// Test (reported once, never used for choices).
    Test,
}

/// The FNV-1a hash of a `key_id` (stable across runs, machines and versions).
pub fn key_hash(key_id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key_id.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The part of a `key_id`: its hash mod 100, below `val_percent + test_percent` held out.
pub fn part_of(key_id: &str, val_percent: u64, test_percent: u64) -> Part {
    match key_hash(key_id) % 100 {
        x if x < test_percent => Part::Test,
        x if x < test_percent + val_percent => Part::Validation,
        _ => Part::Train,
    }
}

/// How drawings become model input; stored with the model so inference matches training.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputSpec {
    /// Point encoding.
    pub encoding: Encoding,
    /// Offset scaling.
    pub normalization: Normalization,
    /// Drawings longer than this many points are resampled down (bounds memory and time).
    pub max_points: usize,
}

impl Default for InputSpec {
    fn default() -> Self {
        InputSpec {
            encoding: Encoding::Stroke3,
            normalization: Normalization::BoundingBox,
            max_points: 250,
        }
    }
}

impl InputSpec {
    /// One drawing's rows (`encoding.width()` values per point).
    pub fn rows(&self, strokes: &[Vec<[f32; 2]>]) -> Vec<f32> {
        let mut o = offsets(strokes, self.normalization);
        if o.len() > self.max_points {
            o = thin(&o, self.max_points);
        }
        encode(&o, self.encoding)
    }
}

/// Keeps `keep` of the points evenly, merging the offsets of dropped points into the next kept
/// one (so the drawing's shape stays) and keeping pen lifts.
fn thin(o: &[[f32; 3]], keep: usize) -> Vec<[f32; 3]> {
    let mut out: Vec<[f32; 3]> = Vec::with_capacity(keep);
    let mut acc = [0.0f32; 3];
    for (i, p) in o.iter().enumerate() {
        acc = [acc[0] + p[0], acc[1] + p[1], acc[2].max(p[2])];
        let slot = (i + 1) * keep / o.len();
        if slot > out.len() {
            out.push(acc);
            acc = [0.0; 3];
        }
    }
    out
}

/// A labelled drawing.
#[derive(Clone, Debug)]
pub struct Example {
    /// The strokes (0–255 frame).
    pub strokes: Vec<Vec<[f32; 2]>>,
    /// Class index.
    pub class: usize,
}

/// Examples of the known classes; drawings of other words are counted and left out.
pub fn examples(drawings: &[Drawing], classes: &[String]) -> (Vec<Example>, usize) {
    let mut unknown = 0;
    let out = drawings
        .iter()
        .filter_map(|d| match classes.iter().position(|c| *c == d.word) {
            Some(class) => Some(Example {
                strokes: d.strokes.clone(),
                class,
            }),
            None => {
                unknown += 1;
                None
            }
        })
        .collect();
    (out, unknown)
}

/// One batch of the given examples, padded to the longest.
pub fn make_batch(
    examples: &[&Example],
    spec: &InputSpec,
    augmentation: Option<(&Augmentation, &mut Rng)>,
) -> Batch<f32> {
    let width = spec.encoding.width();
    let mut rows: Vec<Vec<f32>> = Vec::with_capacity(examples.len());
    match augmentation {
        Some((a, rng)) => {
            for e in examples {
                rows.push(spec.rows(&augment(&e.strokes, a, rng)));
            }
        }
        None => rows.extend(examples.iter().map(|e| spec.rows(&e.strokes))),
    }
    let lengths: Vec<usize> = rows.iter().map(|r| (r.len() / width).max(1)).collect();
    let time = lengths.iter().copied().max().unwrap_or(1);
    let mut data = vec![0.0; examples.len() * time * width];
    for (b, r) in rows.iter().enumerate() {
        data[b * time * width..b * time * width + r.len()].copy_from_slice(r);
    }
    Batch {
        x: Seq::new(data, examples.len(), time, width, lengths).expect("batch shapes are consistent"),
        targets: Targets::Classes(examples.iter().map(|e| e.class).collect()),
        more_inputs: Vec::new(),
    }
}

/// Batches of about `batch_size` examples of similar lengths, in shuffled order: examples are
/// shuffled, sorted by length within windows of 20 batches, cut into batches, and the batches
/// shuffled. Reproducible from `rng`.
pub fn bucketed_order(examples: &[Example], batch_size: usize, rng: &mut Rng) -> Vec<Vec<usize>> {
    let mut idx: Vec<usize> = (0..examples.len()).collect();
    rng.shuffle(&mut idx);
    let len = |i: &usize| examples[*i].strokes.iter().map(Vec::len).sum::<usize>();
    let mut batches: Vec<Vec<usize>> = Vec::new();
    for window in idx.chunks_mut(batch_size.max(1) * 20) {
        window.sort_by_key(len);
        batches.extend(window.chunks(batch_size.max(1)).map(<[usize]>::to_vec));
    }
    rng.shuffle(&mut batches);
    batches
}

/// Evaluation batches in length order (fast, deterministic), of at most `batch_size` examples,
/// cut where padding would cost more than another batch (see [`padding_cuts`]); returns them
/// with the example indices each holds.
pub fn sorted_batches(examples: &[Example], spec: &InputSpec, batch_size: usize) -> Vec<(Vec<usize>, Batch<f32>)> {
    let points = |i: usize| examples[i].strokes.iter().map(Vec::len).sum::<usize>();
    let mut idx: Vec<usize> = (0..examples.len()).collect();
    idx.sort_by_key(|&i| points(i));
    let lengths: Vec<usize> = idx.iter().map(|&i| points(i)).collect();
    let mut start = 0;
    padding_cuts(&lengths, batch_size.max(1))
        .into_iter()
        .map(|end| {
            let c = &idx[start..end];
            start = end;
            let refs: Vec<&Example> = c.iter().map(|&i| &examples[i]).collect();
            (c.to_vec(), make_batch(&refs, spec, None))
        })
        .collect()
}

/// What a model step costs beyond its sequences, counted in sequences: a step over `n`
/// sequences costs about `n + STEP_OVERHEAD` (each step reads the weights whatever the batch).
/// An estimate, used only to choose where to cut batches.
const STEP_OVERHEAD: usize = 8;

/// What a padded step costs, as a share of a sequence's running step: recurrent layers skip
/// the sequences that have ended (most of a sketch model's work); the layers around them
/// still run the padding.
const PADDED_SHARE: usize = 8;

/// Where to cut `lengths` (ascending) into batches of at most `batch_size`: the ends that make
/// the cost least, each batch costing its sequences' steps, its padded steps at a
/// [`PADDED_SHARE`]th of a step and its longest × [`STEP_OVERHEAD`]. The sequences' steps are
/// the same however the batches are cut, which leaves, counted in padded steps, Σ longest ×
/// (count + [`STEP_OVERHEAD`] · [`PADDED_SHARE`]). Alike lengths stay one batch; a few long
/// drawings among many short ones go apart instead of padding them all (a server's batch of 64
/// random Quick, Draw! drawings, padded to its longest, ran 3× the steps).
fn padding_cuts(lengths: &[usize], batch_size: usize) -> Vec<usize> {
    let n = lengths.len();
    // best[i]: the least cost of the first i; from[i]: where the last batch of those starts.
    let (mut best, mut from) = (vec![0usize; n + 1], vec![0usize; n + 1]);
    for i in 1..=n {
        let longest = lengths[i - 1];
        let cost = |j: usize| best[j].saturating_add(longest.saturating_mul(i - j + STEP_OVERHEAD * PADDED_SHARE));
        let j = (i.saturating_sub(batch_size)..i).min_by_key(|&j| cost(j)).unwrap_or(0);
        (best[i], from[i]) = (cost(j), j);
    }
    let mut ends = Vec::new();
    let mut i = n;
    while i > 0 {
        ends.push(i);
        i = from[i];
    }
    ends.reverse();
    ends
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_batches_cut_long_drawings_apart_from_many_short_ones() {
        // Alike lengths stay one batch, up to the batch size.
        assert_eq!(padding_cuts(&[30; 10], 128), vec![10]);
        assert_eq!(padding_cuts(&[30; 10], 4), vec![2, 6, 10]);
        // Sixty short drawings and four long ones: the long ones go apart.
        let lengths: Vec<usize> = [vec![30; 60], vec![250; 4]].concat();
        assert_eq!(padding_cuts(&lengths, 128), vec![60, 64]);
        // Two unlike drawings: one step over both costs less than two batches.
        assert_eq!(padding_cuts(&[20, 60], 128), vec![2]);
        assert!(padding_cuts(&[], 8).is_empty());
    }

    #[test]
    fn split_is_stable_and_proportional() {
        let parts: Vec<Part> = (0..10_000)
            .map(|i| part_of(&format!("{}", 5_000_000_000u64 + i * 7919), 10, 10))
            .collect();
        let test = parts.iter().filter(|p| **p == Part::Test).count();
        let val = parts.iter().filter(|p| **p == Part::Validation).count();
        assert!(
            (900..1100).contains(&test) && (900..1100).contains(&val),
            "{test} {val}"
        );
        assert_eq!(part_of("5152802093400064", 10, 10), part_of("5152802093400064", 10, 10));
    }

    #[test]
    fn thinning_keeps_shape_and_lifts() {
        let o: Vec<[f32; 3]> = (0..10)
            .map(|i| [1.0, 0.0, f32::from(u8::from(i == 4 || i == 9))])
            .collect();
        let t = thin(&o, 5);
        assert_eq!(t.len(), 5);
        assert_eq!(t.iter().map(|p| p[0]).sum::<f32>(), 10.0);
        assert_eq!(t.iter().filter(|p| p[2] > 0.5).count(), 2);
    }
}
