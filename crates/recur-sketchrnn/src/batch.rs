//! Stroke-5 batches as Magenta's `DataLoader.pad_batch` lays them out, and its augmentation.
//!
//! Stroke-5 is `[dx, dy, p1, p2, p3]`: pen down, pen lifted after this point, drawing ended.
//! A batch is `[batch, N_max + 1, 5]`: step 0 the start token `[0, 0, 1, 0, 0]`, then each
//! drawing's points, then `[0, 0, 0, 0, 1]` up to `N_max`. The decoder reads steps `0..N_max`
//! and is scored on steps `1..=N_max`; the encoder reads the drawing's own points.

use crate::data::Sketch;
use recur_core::Rng;
use serde::{Deserialize, Serialize};

/// Values per stroke-5 point.
pub const STROKE5: usize = 5;

/// Magenta's training distortions.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Augmentation {
    /// Each axis is scaled by a factor drawn from `1 ± scale` (`random_scale_factor`).
    pub scale: f32,
    /// Probability of dropping a point inside a stroke (`augment_stroke_prob`); its offset is
    /// added to the point kept before it, so the drawing's shape stays.
    pub drop_points: f32,
}

impl Default for Augmentation {
    /// Magenta's defaults: 0.15 and 0.10.
    fn default() -> Self {
        Augmentation {
            scale: 0.15,
            drop_points: 0.10,
        }
    }
}

/// `points` distorted as Magenta's `random_scale` then `augment_strokes` distort a drawing.
pub fn augment(points: &[[f32; 3]], a: &Augmentation, rng: &mut Rng) -> Vec<[f32; 3]> {
    let sx = ((rng.uniform() - 0.5) * 2.0 * a.scale as f64 + 1.0) as f32;
    let sy = ((rng.uniform() - 0.5) * 2.0 * a.scale as f64 + 1.0) as f32;
    let mut out: Vec<[f32; 3]> = Vec::with_capacity(points.len());
    let mut prev_lifted = true;
    let mut run = 0;
    for p in points {
        let candidate = [p[0] * sx, p[1] * sy, p[2]];
        let lifted = candidate[2] > 0.5;
        // Points since the stroke began: the first few and the last of a stroke always stay.
        run = if lifted || prev_lifted { 0 } else { run + 1 };
        let drop = a.drop_points > 0.0 && !lifted && !prev_lifted && run > 2 && rng.uniform() < a.drop_points as f64;
        match (drop, out.last_mut()) {
            (true, Some(kept)) => {
                kept[0] += candidate[0];
                kept[1] += candidate[1];
            }
            _ => {
                out.push(candidate);
                prev_lifted = lifted;
            }
        }
    }
    out
}

/// A padded stroke-5 batch.
#[derive(Clone, Debug, PartialEq)]
pub struct StrokeBatch {
    /// `[batch, n_max + 1, 5]`.
    pub data: Vec<f32>,
    /// Real points of each drawing (at most `n_max`).
    pub lengths: Vec<usize>,
    /// Each drawing's class.
    pub classes: Vec<usize>,
    /// Steps the decoder runs and is scored on.
    pub n_max: usize,
}

impl StrokeBatch {
    /// Lays `sketches` (each at most `n_max` points) out as stroke-5.
    pub fn new(sketches: &[&Sketch], n_max: usize) -> Self {
        let steps = n_max + 1;
        let mut data = vec![0.0f32; sketches.len() * steps * STROKE5];
        for (b, s) in sketches.iter().enumerate() {
            let rows = &mut data[b * steps * STROKE5..(b + 1) * steps * STROKE5];
            rows[2] = 1.0;
            for t in 1..steps {
                let row = &mut rows[t * STROKE5..(t + 1) * STROKE5];
                match s.points.get(t - 1) {
                    Some(p) => {
                        let lifted = p[2] > 0.5;
                        row.copy_from_slice(&[p[0], p[1], f32::from(!lifted), f32::from(lifted), 0.0]);
                    }
                    None => row[4] = 1.0,
                }
            }
        }
        StrokeBatch {
            data,
            lengths: sketches.iter().map(|s| s.points.len().min(n_max)).collect(),
            classes: sketches.iter().map(|s| s.class).collect(),
            n_max,
        }
    }

    /// Drawings in the batch.
    pub fn len(&self) -> usize {
        self.lengths.len()
    }

    /// True for a batch of no drawings.
    pub fn is_empty(&self) -> bool {
        self.lengths.is_empty()
    }

    /// Drawing `b`'s `n_max + 1` rows.
    pub fn rows(&self, b: usize) -> &[f32] {
        let width = (self.n_max + 1) * STROKE5;
        &self.data[b * width..(b + 1) * width]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sketchrnn_batch_lays_stroke5_out_as_magenta_pads_it() {
        let s = Sketch {
            class: 1,
            points: vec![[1.0, 2.0, 0.0], [3.0, 4.0, 1.0]],
        };
        let batch = StrokeBatch::new(&[&s], 3);
        let expected = [
            [0.0, 0.0, 1.0, 0.0, 0.0],
            [1.0, 2.0, 1.0, 0.0, 0.0],
            [3.0, 4.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 0.0, 1.0],
        ];
        assert_eq!(batch.rows(0), expected.concat().as_slice());
        assert_eq!((batch.lengths[0], batch.classes[0]), (2, 1));
    }

    #[test]
    fn sketchrnn_augmentation_keeps_stroke_ends_and_total_movement() {
        let mut points: Vec<[f32; 3]> = (0..30).map(|_| [1.0, 0.5, 0.0]).collect();
        points[14][2] = 1.0;
        points[29][2] = 1.0;
        let a = Augmentation {
            scale: 0.0,
            drop_points: 0.5,
        };
        let out = augment(&points, &a, &mut Rng::new(4));
        assert!(out.len() < 30 && out.len() >= 8, "{} points kept", out.len());
        assert_eq!(out.iter().filter(|p| p[2] > 0.5).count(), 2, "stroke ends stay");
        let dx: f32 = out.iter().map(|p| p[0]).sum();
        assert!((dx - 30.0).abs() < 1e-4, "dropped offsets move to the kept point: {dx}");
    }
}
