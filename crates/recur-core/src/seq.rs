//! [`Seq`]: a padded batch of variable-length sequences, the value that flows between layers.
//!
//! The invariant every layer keeps: steps at or beyond a sequence's length hold zeros, in
//! activations and in gradients alike. That is what makes a padded batch give the same
//! outputs and gradients as running each sequence alone.

use crate::{CoreError, Float, Result};
use std::ops::Range;

/// One step's value laid out as an image: `[height, width, channels]`, channels last (as Keras
/// stores frames). A step of a frame shape holds `height · width · channels` values in that
/// order, so a [`Seq`] of frames is `[batch, time, height, width, channels]` row-major.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Values per pixel.
    pub channels: usize,
}

impl Frame {
    /// Values in one frame.
    pub fn len(&self) -> usize {
        self.height * self.width * self.channels
    }

    /// Pixels in one frame.
    pub fn pixels(&self) -> usize {
        self.height * self.width
    }

    /// True when the frame holds no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Per-sequence shape information that layers use to infer their outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Values per step (for frames, `height · width · channels`).
    pub features: usize,
    /// True when there is a time axis; false for one value per sequence.
    pub sequential: bool,
    /// The layout of each step's values when they are an image (`None`: a feature vector).
    pub frame: Option<Frame>,
}

impl Shape {
    /// Feature vectors, per step (`sequential`) or one per sequence.
    pub fn new(features: usize, sequential: bool) -> Self {
        Shape {
            features,
            sequential,
            frame: None,
        }
    }

    /// A sequence of feature vectors.
    pub fn sequence(features: usize) -> Self {
        Shape::new(features, true)
    }

    /// One feature vector per sequence.
    pub fn vector(features: usize) -> Self {
        Shape::new(features, false)
    }

    /// Frames, per step (`sequential`) or one per sequence.
    pub fn frames(frame: Frame, sequential: bool) -> Self {
        Shape {
            features: frame.len(),
            sequential,
            frame: Some(frame),
        }
    }

    /// The same values with (`true`) or without a time axis.
    pub fn with_sequential(self, sequential: bool) -> Self {
        Shape { sequential, ..self }
    }
}

/// A batch of sequences stored as `[batch, time, features]`, row-major, with lengths.
#[derive(Clone, Debug, PartialEq)]
pub struct Seq<T> {
    /// The values, `batch * time * features` long.
    pub data: Vec<T>,
    /// Number of sequences.
    pub batch: usize,
    /// Padded length of the time axis (1 when not sequential).
    pub time: usize,
    /// Features per step.
    pub features: usize,
    /// Valid steps of each sequence, each in `1..=time` (or 0 for an empty sequence).
    pub lengths: Vec<usize>,
    /// False when each sequence is a single vector (time is then 1).
    pub sequential: bool,
}

impl<T: Float> Seq<T> {
    /// A sequence batch from raw parts, checking every size and length, zeroing padded steps.
    pub fn new(data: Vec<T>, batch: usize, time: usize, features: usize, lengths: Vec<usize>) -> Result<Self> {
        if data.len() != batch * time * features {
            return Err(CoreError::Shape(format!(
                "{} values cannot be shaped [batch {batch}, time {time}, features {features}]",
                data.len()
            )));
        }
        if lengths.len() != batch {
            return Err(CoreError::Shape(format!(
                "{} lengths given for a batch of {batch}",
                lengths.len()
            )));
        }
        if let Some((i, l)) = lengths.iter().enumerate().find(|(_, &l)| l > time) {
            return Err(CoreError::Value(format!(
                "length {l} of sequence {i} exceeds the time axis ({time})"
            )));
        }
        let mut s = Seq {
            data,
            batch,
            time,
            features,
            lengths,
            sequential: true,
        };
        s.zero_padding();
        Ok(s)
    }

    /// A batch of single vectors `[batch, features]`.
    pub fn vectors(data: Vec<T>, batch: usize, features: usize) -> Result<Self> {
        let mut s = Seq::new(data, batch, 1, features, vec![1; batch])?;
        s.sequential = false;
        Ok(s)
    }

    /// All-zero batch with the same batch, time and lengths as `like`, but `features` wide.
    pub fn zeros_like(like: &Seq<T>, features: usize) -> Self {
        Seq {
            data: vec![T::ZERO; like.batch * like.time * features],
            batch: like.batch,
            time: like.time,
            features,
            lengths: like.lengths.clone(),
            sequential: like.sequential,
        }
    }

    /// The shape layers see.
    pub fn shape(&self) -> Shape {
        Shape::new(self.features, self.sequential)
    }

    /// Whether step `t` of sequence `b` is real (not padding).
    #[inline]
    pub fn valid(&self, b: usize, t: usize) -> bool {
        t < self.lengths[b]
    }

    /// Offset of step `t` of sequence `b` in `data`.
    #[inline]
    pub fn offset(&self, b: usize, t: usize) -> usize {
        (b * self.time + t) * self.features
    }

    /// The features of one step.
    #[inline]
    pub fn step(&self, b: usize, t: usize) -> &[T] {
        let o = self.offset(b, t);
        &self.data[o..o + self.features]
    }

    /// The features of one step, mutable.
    #[inline]
    pub fn step_mut(&mut self, b: usize, t: usize) -> &mut [T] {
        let o = self.offset(b, t);
        let f = self.features;
        &mut self.data[o..o + f]
    }

    /// Number of real steps in the batch.
    pub fn valid_steps(&self) -> usize {
        self.lengths.iter().sum()
    }

    /// Sets every padded step to zero (the invariant layers keep).
    pub fn zero_padding(&mut self) {
        let row = self.time * self.features;
        for (b, &len) in self.lengths.iter().enumerate() {
            self.data[b * row + len * self.features..(b + 1) * row].fill(T::ZERO);
        }
    }

    /// Each sequence reversed within its own length (padding stays at the end). Its own inverse;
    /// this is how a reverse direction starts at each sequence's own end.
    pub fn reverse_within_lengths(&self) -> Self {
        let mut out = Seq::zeros_like(self, self.features);
        for b in 0..self.batch {
            let len = self.lengths[b];
            for t in 0..len {
                out.step_mut(b, t).copy_from_slice(self.step(b, len - 1 - t));
            }
        }
        out
    }

    /// The sequences in `range`, as a new batch.
    pub fn slice_batch(&self, range: Range<usize>) -> Self {
        let row = self.time * self.features;
        Seq {
            data: self.data[range.start * row..range.end * row].to_vec(),
            batch: range.len(),
            time: self.time,
            features: self.features,
            lengths: self.lengths[range].to_vec(),
            sequential: self.sequential,
        }
    }

    /// The sequences at `rows`, in that order, as a new batch (a row may be taken twice).
    ///
    /// # Panics
    /// If a row is outside the batch.
    pub fn select_batch(&self, rows: &[usize]) -> Self {
        let row = self.time * self.features;
        let mut data = Vec::with_capacity(rows.len() * row);
        for &b in rows {
            data.extend_from_slice(&self.data[b * row..(b + 1) * row]);
        }
        Seq {
            data,
            batch: rows.len(),
            time: self.time,
            features: self.features,
            lengths: rows.iter().map(|&b| self.lengths[b]).collect(),
            sequential: self.sequential,
        }
    }

    /// Concatenates batches that share time, features and kind, in order.
    pub fn concat_batch(parts: &[Seq<T>]) -> Result<Self> {
        let first = parts
            .first()
            .ok_or_else(|| CoreError::Shape("nothing to concatenate".into()))?;
        let mut out = Seq {
            data: Vec::with_capacity(parts.iter().map(|p| p.data.len()).sum()),
            batch: 0,
            time: first.time,
            features: first.features,
            lengths: Vec::new(),
            sequential: first.sequential,
        };
        for p in parts {
            if p.time != first.time || p.features != first.features {
                return Err(CoreError::Shape("batches to concatenate differ in shape".into()));
            }
            out.data.extend_from_slice(&p.data);
            out.lengths.extend_from_slice(&p.lengths);
            out.batch += p.batch;
        }
        Ok(out)
    }

    /// The first non-finite value, as (sequence, step, feature), if any.
    pub fn find_non_finite(&self) -> Option<(usize, usize, usize)> {
        // Whole blocks are checked without branching (which vectorises: every inference call
        // checks its input, and a value at a time took 2% of an LSTM's), then the one found is
        // located.
        const BLOCK: usize = 256;
        let block = self
            .data
            .chunks(BLOCK)
            .position(|values| values.iter().fold(false, |any, v| any | !v.is_finite()))?;
        let i = block * BLOCK + self.data[block * BLOCK..].iter().position(|v| !v.is_finite())?;
        let f = i % self.features.max(1);
        let bt = i / self.features.max(1);
        Some((bt / self.time.max(1), bt % self.time.max(1), f))
    }

    /// Converts the element type (f32 ↔ f64).
    pub fn cast<U: Float>(&self) -> Seq<U> {
        Seq {
            data: self.data.iter().map(|v| U::from_f64(v.to_f64())).collect(),
            batch: self.batch,
            time: self.time,
            features: self.features,
            lengths: self.lengths.clone(),
            sequential: self.sequential,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn construction_zeroes_padding_and_rejects_bad_shapes() {
        let s = Seq::new(vec![1.0f32; 2 * 3], 2, 3, 1, vec![3, 1]).unwrap();
        assert_eq!(s.data, vec![1.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
        assert!(Seq::new(vec![1.0f32; 5], 2, 3, 1, vec![3, 1]).is_err());
        assert!(Seq::new(vec![1.0f32; 6], 2, 3, 1, vec![4, 1]).is_err());
        assert!(Seq::new(vec![1.0f32; 6], 2, 3, 1, vec![3]).is_err());
    }

    #[test]
    fn reverse_within_lengths_is_an_involution() {
        let s = Seq::new((0..8).map(|v| v as f64).collect(), 2, 4, 1, vec![4, 2]).unwrap();
        let r = s.reverse_within_lengths();
        assert_eq!(r.data, vec![3.0, 2.0, 1.0, 0.0, 5.0, 4.0, 0.0, 0.0]);
        assert_eq!(r.reverse_within_lengths(), s);
    }

    /// The first non-finite value is named by sequence, step and feature, in the first block
    /// checked or past it.
    #[test]
    fn find_non_finite_names_the_first_one() {
        let (batch, time, features) = (3, 200, 2);
        let clean = Seq::new(
            vec![0.5f32; batch * time * features],
            batch,
            time,
            features,
            vec![time; batch],
        )
        .unwrap();
        assert_eq!(clean.find_non_finite(), None);
        for (at, bad) in [
            (5, f32::NAN),
            (2 * 200 * 2 + 7, f32::INFINITY),
            (641, f32::NEG_INFINITY),
        ] {
            let mut s = clean.clone();
            s.data[at] = bad;
            s.data[batch * time * features - 1] = f32::NAN;
            let (b, t, f) = (at / (time * features), at / features % time, at % features);
            assert_eq!(s.find_non_finite(), Some((b, t, f)), "{at}");
        }
    }
}
