//! What a trained model does with given drawings: reconstruct them from their latent,
//! complete unfinished ones, and morph from one to another through the latent space (spherical
//! interpolation, as Magenta's notebook does). Each is a batch for the sampler.

use crate::batch::StrokeBatch;
use crate::data::{self, prepare, Sketch};
use crate::error::{input, Result};
use crate::sample::{DrawSettings, SampleRequest};
use crate::store::SketchRnnModel;
use recur_core::Rng;
use std::path::Path;

/// `t` of the way from `a` to `b` along the great circle (Magenta's `slerp`); a straight line
/// when they point the same way.
pub fn slerp(a: &[f32], b: &[f32], t: f64) -> Vec<f32> {
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt().max(1e-12);
    let cos = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum::<f64>() / (norm(a) * norm(b));
    let omega = cos.clamp(-1.0, 1.0).acos();
    let so = omega.sin();
    let (wa, wb) = if so.abs() < 1e-6 {
        (1.0 - t, t)
    } else {
        (((1.0 - t) * omega).sin() / so, (t * omega).sin() / so)
    };
    a.iter()
        .zip(b)
        .map(|(x, y)| (wa * *x as f64 + wb * *y as f64) as f32)
        .collect()
}

impl SketchRnnModel {
    /// Drawings `indices` of split `split` of the data at `path`, their classes mapped to the
    /// model's by name (a class-conditional model refuses a class it does not know).
    pub fn pick(&self, path: &Path, split: &str, indices: &[usize]) -> Result<Vec<Sketch>> {
        let splits = data::load(path)?;
        let set = splits.split(split, path)?;
        let mut picked = Vec::with_capacity(indices.len());
        for &i in indices {
            let s = set.get(i).ok_or_else(|| {
                input(format!(
                    "{}: the `{split}` split has {} drawings, no drawing {i}",
                    path.display(),
                    set.len()
                ))
            })?;
            let class = match self.settings.model.mode.has_class() {
                true => self.class_id(&splits.classes[s.class])?,
                false => 0,
            };
            picked.push(Sketch {
                class,
                points: s.points.clone(),
            });
        }
        Ok(picked)
    }

    /// `z = μ + σ·ε` of each drawing (raw stroke-3 in the data's units), `ε` from `seed`;
    /// refuses a model without a latent and drawings longer than its `N_max`.
    pub fn encode(&self, sketches: &[Sketch], seed: u64) -> Result<Vec<f32>> {
        if !self.settings.model.mode.has_latent() {
            return Err(input(format!(
                "this model has no latent (mode {:?}): reconstructing and interpolating need --mode vae or class",
                self.settings.model.mode
            )));
        }
        let n_max = self.settings.n_max;
        let prepared = prepare(sketches, n_max, self.settings.scale);
        if prepared.dropped > 0 {
            return Err(input(format!(
                "{} of the drawings have more than the {n_max} points this model was trained on",
                prepared.dropped
            )));
        }
        let refs: Vec<&Sketch> = prepared.sketches.iter().collect();
        let (mu, log_var) = self
            .network
            .latent_of(&StrokeBatch::new(&refs, n_max))
            .expect("a model with a latent encodes");
        let mut rng = Rng::new(seed);
        Ok(mu
            .iter()
            .zip(&log_var)
            .map(|(m, lv)| m + (lv * 0.5).exp() * rng.normal() as f32)
            .collect())
    }

    /// Each drawing drawn again from its own latent.
    pub fn reconstruct(&self, sketches: &[Sketch], how: DrawSettings) -> Result<Vec<Vec<[f32; 3]>>> {
        let z = self.encode(sketches, how.seed)?;
        self.sample(&SampleRequest {
            z: Some(z),
            ..SampleRequest::new(sketches.iter().map(|s| s.class).collect(), how)
        })
    }

    /// `steps` drawings from the latent of `a` to that of `b` (both included), each drawn with
    /// the same random stream so that only the latent changes along the strip.
    pub fn interpolate(&self, a: &Sketch, b: &Sketch, steps: usize, how: DrawSettings) -> Result<Vec<Vec<[f32; 3]>>> {
        if steps < 2 {
            return Err(input(format!("an interpolation needs at least 2 steps, got {steps}")));
        }
        let z = self.encode(&[a.clone(), b.clone()], how.seed)?;
        let nz = z.len() / 2;
        let mut drawings = Vec::with_capacity(steps);
        for k in 0..steps {
            let t = k as f64 / (steps - 1) as f64;
            let mut one = self.sample(&SampleRequest {
                z: Some(slerp(&z[..nz], &z[nz..], t)),
                ..SampleRequest::new(vec![if t < 0.5 { a.class } else { b.class }], how)
            })?;
            drawings.append(&mut one);
        }
        Ok(drawings)
    }

    /// `count` endings of each unfinished drawing: the decoder reads its points, then draws on
    /// (from `z ~ N(0, I)` for a model with a latent). The results include the given points.
    pub fn complete(&self, sketches: &[Sketch], count: usize, how: DrawSettings) -> Result<Vec<Vec<[f32; 3]>>> {
        let scale = self.settings.scale;
        let mut classes = Vec::new();
        let mut prefixes = Vec::new();
        for s in sketches {
            if s.points.len() >= self.settings.n_max {
                return Err(input(format!(
                    "an unfinished drawing of {} points leaves nothing to draw within this model's {}",
                    s.points.len(),
                    self.settings.n_max
                )));
            }
            let scaled: Vec<[f32; 3]> = s.points.iter().map(|p| [p[0] / scale, p[1] / scale, p[2]]).collect();
            for _ in 0..count {
                classes.push(s.class);
                prefixes.push(scaled.clone());
            }
        }
        self.sample(&SampleRequest {
            prefixes,
            ..SampleRequest::new(classes, how)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sketchrnn_slerp_keeps_ends_and_norm_between_orthogonal_latents() {
        let (a, b) = ([1.0f32, 0.0], [0.0f32, 1.0]);
        assert_eq!(slerp(&a, &b, 0.0), vec![1.0, 0.0]);
        let mid = slerp(&a, &b, 0.5);
        assert!((mid[0] - mid[1]).abs() < 1e-6 && ((mid[0] * mid[0] + mid[1] * mid[1]) - 1.0).abs() < 1e-6);
        let end = slerp(&a, &b, 1.0);
        assert!(end[0].abs() < 1e-6 && (end[1] - 1.0).abs() < 1e-6);
    }
}
