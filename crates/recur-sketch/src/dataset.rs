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

/// Evaluation batches in length order (fast, deterministic); returns them with the example
/// indices each holds.
pub fn sorted_batches(examples: &[Example], spec: &InputSpec, batch_size: usize) -> Vec<(Vec<usize>, Batch<f32>)> {
    let mut idx: Vec<usize> = (0..examples.len()).collect();
    idx.sort_by_key(|&i| examples[i].strokes.iter().map(Vec::len).sum::<usize>());
    idx.chunks(batch_size.max(1))
        .map(|c| {
            let refs: Vec<&Example> = c.iter().map(|&i| &examples[i]).collect();
            (c.to_vec(), make_batch(&refs, spec, None))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
