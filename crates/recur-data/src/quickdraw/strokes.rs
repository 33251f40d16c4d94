//! Drawings as model input: stroke-3 (`dx, dy, pen_lifted`, the pen lifted after a stroke's last
//! point) or stroke-5 (`dx, dy, pen_down, pen_up, end`), with normalisation and augmentation.

use super::{Drawing, Stroke};
use recur_core::Rng;
use serde::{Deserialize, Serialize};

/// How offsets are scaled.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Normalization {
    /// Each drawing shifted to start its bounding box at 0 and scaled so its larger side is 1.
    BoundingBox,
    /// Offsets divided by one number, the training set's standard deviation of offsets
    /// (sketch-rnn's way; keeps the drawings' relative sizes).
    OffsetStd {
        /// The divisor.
        scale: f32,
    },
}

/// Point encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// `dx, dy, pen_lifted`.
    Stroke3,
    /// `dx, dy, pen_down, pen_up, end_of_drawing`.
    Stroke5,
}

impl Encoding {
    /// Features per point.
    pub fn width(self) -> usize {
        match self {
            Encoding::Stroke3 => 3,
            Encoding::Stroke5 => 5,
        }
    }
}

/// Random distortions applied to training drawings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Augmentation {
    /// Each axis is scaled by a factor in `1 ± scale`.
    pub scale: f32,
    /// Rotation in `± degrees`.
    pub rotate_degrees: f32,
    /// Probability of dropping each interior point of a stroke.
    pub drop_points: f32,
}

impl Default for Augmentation {
    fn default() -> Self {
        Augmentation {
            scale: 0.15,
            rotate_degrees: 12.0,
            drop_points: 0.1,
        }
    }
}

/// A randomly distorted copy of the strokes.
pub fn augment(strokes: &[Stroke], a: &Augmentation, rng: &mut Rng) -> Vec<Stroke> {
    let sx = 1.0 + a.scale * rng.uniform_range(-1.0, 1.0) as f32;
    let sy = 1.0 + a.scale * rng.uniform_range(-1.0, 1.0) as f32;
    let angle = (a.rotate_degrees * rng.uniform_range(-1.0, 1.0) as f32).to_radians();
    let (sin, cos) = angle.sin_cos();
    strokes
        .iter()
        .map(|s| {
            s.iter()
                .enumerate()
                .filter(|(i, _)| *i == 0 || *i + 1 == s.len() || rng.uniform() >= a.drop_points as f64)
                .map(|(_, p)| {
                    let (x, y) = (p[0] * sx, p[1] * sy);
                    [x * cos - y * sin, x * sin + y * cos]
                })
                .collect()
        })
        .collect()
}

/// Point offsets of a drawing, normalised: `(dx, dy, pen_lifted)` per point. The first point's
/// offset is from the drawing's origin (the bounding box's corner for `BoundingBox`).
pub fn offsets(strokes: &[Stroke], norm: Normalization) -> Vec<[f32; 3]> {
    let (mut x0, mut y0, mut x1, mut y1) = (f32::INFINITY, f32::INFINITY, f32::NEG_INFINITY, f32::NEG_INFINITY);
    for p in strokes.iter().flatten() {
        (x0, y0, x1, y1) = (x0.min(p[0]), y0.min(p[1]), x1.max(p[0]), y1.max(p[1]));
    }
    let (origin, scale) = match norm {
        Normalization::BoundingBox => ([x0, y0], (x1 - x0).max(y1 - y0).max(1e-6)),
        Normalization::OffsetStd { scale } => ([x0, y0], scale.max(1e-6)),
    };
    let mut out = Vec::with_capacity(strokes.iter().map(Vec::len).sum());
    let mut prev = origin;
    for s in strokes {
        for (i, p) in s.iter().enumerate() {
            let lifted = f32::from(u8::from(i + 1 == s.len()));
            out.push([(p[0] - prev[0]) / scale, (p[1] - prev[1]) / scale, lifted]);
            prev = *p;
        }
    }
    out
}

/// Encodes normalised offsets as model input rows (`width()` values per point).
pub fn encode(offsets: &[[f32; 3]], encoding: Encoding) -> Vec<f32> {
    match encoding {
        Encoding::Stroke3 => offsets.iter().flatten().copied().collect(),
        Encoding::Stroke5 => offsets
            .iter()
            .enumerate()
            .flat_map(|(i, o)| {
                let last = i + 1 == offsets.len();
                let up = o[2] > 0.5 && !last;
                [
                    o[0],
                    o[1],
                    f32::from(u8::from(!up && !last)),
                    f32::from(u8::from(up)),
                    f32::from(u8::from(last)),
                ]
            })
            .collect(),
    }
}

/// The standard deviation of raw offsets over drawings (for [`Normalization::OffsetStd`]).
pub fn offset_std(drawings: &[Drawing]) -> f32 {
    offset_std_of(offset_moments(drawings))
}

/// The count, sum and sum of squares of the raw offsets (x and y alike) over drawings: sums
/// that parts of a data set held apart (one per MPI rank) can add before [`offset_std_of`].
pub fn offset_moments(drawings: &[Drawing]) -> [f64; 3] {
    let (mut n, mut sum, mut sq) = (0f64, 0f64, 0f64);
    for d in drawings {
        for o in offsets(&d.strokes, Normalization::OffsetStd { scale: 1.0 }) {
            for v in [o[0], o[1]] {
                n += 1.0;
                sum += v as f64;
                sq += (v as f64).powi(2);
            }
        }
    }
    [n, sum, sq]
}

/// The standard deviation from [`offset_moments`].
pub fn offset_std_of([n, sum, sq]: [f64; 3]) -> f32 {
    let mean = sum / n.max(1.0);
    ((sq / n.max(1.0) - mean * mean).max(1e-12)).sqrt() as f32
}

/// Strokes back from stroke-3 offsets (for drawing them), starting at the origin.
pub fn strokes_from_offsets(offsets: &[[f32; 3]]) -> Vec<Stroke> {
    let mut strokes = vec![Vec::new()];
    let (mut x, mut y) = (0.0, 0.0);
    for o in offsets {
        x += o[0];
        y += o[1];
        strokes.last_mut().expect("one stroke open").push([x, y]);
        if o[2] > 0.5 {
            strokes.push(Vec::new());
        }
    }
    strokes.retain(|s| !s.is_empty());
    strokes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_encode_and_invert() {
        let strokes = vec![vec![[10.0, 10.0], [20.0, 10.0]], vec![[20.0, 30.0]]];
        let o = offsets(&strokes, Normalization::BoundingBox);
        assert_eq!(o, vec![[0.0, 0.0, 0.0], [0.5, 0.0, 1.0], [0.0, 1.0, 1.0]]);
        let five = encode(&o, Encoding::Stroke5);
        assert_eq!(&five[5..10], &[0.5, 0.0, 0.0, 1.0, 0.0]);
        assert_eq!(&five[10..], &[0.0, 1.0, 0.0, 0.0, 1.0]);
        let back = strokes_from_offsets(&offsets(&strokes, Normalization::OffsetStd { scale: 1.0 }));
        assert_eq!(back, vec![vec![[0.0, 0.0], [10.0, 0.0]], vec![[10.0, 20.0]]]);
    }

    #[test]
    fn augmentation_keeps_stroke_ends() {
        let strokes = vec![(0..20).map(|i| [i as f32, 0.0]).collect::<Vec<_>>()];
        let a = Augmentation {
            drop_points: 0.5,
            ..Augmentation::default()
        };
        let out = augment(&strokes, &a, &mut Rng::new(3));
        assert!(out[0].len() < 20 && out[0].len() >= 2);
    }
}
