//! Scoring a trained model on drawings in Magenta's convention: `L_R` averaged over `N_max`
//! steps (the offsets left out after a drawing's end, the pen term over every step), `L_KL`
//! averaged over `z`'s dimensions before the `KL_min` floor, both averaged over the drawings.

use crate::data::{self, prepare, Sketch};
use crate::error::{input, Result};
use crate::store::SketchRnnModel;
use crate::train::score;
use recur_data::quickdraw::simplify::fit_to_frame;
use recur_data::quickdraw::strokes::strokes_from_offsets;
use recur_data::quickdraw::{word_of_stem, Drawing};
use serde::Serialize;
use std::path::Path;

/// What `recur sketch-rnn eval` prints.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Evaluation {
    /// Mean `L_R`.
    pub recon_loss: f64,
    /// Mean `L_KL` (0 for a model without a latent).
    pub kl_loss: f64,
    /// Drawings scored.
    pub drawings: usize,
    /// Drawings left out as longer than the `N_max` scored with.
    pub dropped: usize,
}

impl SketchRnnModel {
    /// Scores split `split` of the data at `path` with `N_max` = `max_len` (default: the
    /// model's), on `threads` cores. A class-conditional model maps the data's classes to its
    /// own by name and refuses a class it does not know.
    pub fn evaluate_file(
        &self,
        path: &Path,
        split: &str,
        max_len: Option<usize>,
        threads: usize,
    ) -> Result<Evaluation> {
        let splits = data::load(path)?;
        let sketches = splits.split(split, path)?;
        let n_max = max_len.unwrap_or(self.settings.n_max);
        if n_max < 2 {
            return Err(input(format!("--max-len must be at least 2, got {n_max}")));
        }
        let ids: Vec<usize> = if self.settings.model.mode.has_class() {
            splits.classes.iter().map(|c| self.class_id(c)).collect::<Result<_>>()?
        } else {
            vec![0; splits.classes.len()]
        };
        let relabelled: Vec<Sketch> = sketches
            .iter()
            .map(|s| Sketch {
                class: ids[s.class],
                points: s.points.clone(),
            })
            .collect();
        let prepared = prepare(&relabelled, n_max, self.settings.scale);
        if prepared.sketches.is_empty() {
            return Err(input(format!(
                "{}: no `{split}` drawing has at most {n_max} points",
                path.display()
            )));
        }
        let seed = self.settings.training.seed;
        let batch = self.settings.training.batch;
        let t = score(&self.network, &prepared.sketches, n_max, batch, threads, seed);
        Ok(Evaluation {
            recon_loss: t.recon,
            kl_loss: t.kl,
            drawings: prepared.sketches.len(),
            dropped: prepared.dropped,
        })
    }

    /// Sampled stroke-3 drawings as Quick, Draw! drawings in the 0–255 frame, `word` the class
    /// each was drawn as (the model's only class name for a model without classes), named as
    /// `recur train` names the class of the same file (`alarm-clock.npz` holds `alarm clock`),
    /// so that a classifier trained on the same files scores the samples by their word.
    pub fn as_drawings(&self, drawings: &[Vec<[f32; 3]>], classes: &[usize]) -> Vec<Drawing> {
        drawings
            .iter()
            .zip(classes)
            .enumerate()
            .map(|(i, (points, &c))| Drawing {
                word: self
                    .settings
                    .classes
                    .get(c)
                    .map_or_else(String::new, |stem| word_of_stem(stem)),
                key_id: format!("sample-{}", i + 1),
                recognized: true,
                countrycode: String::new(),
                strokes: fit_to_frame(&strokes_from_offsets(points)),
            })
            .collect()
    }
}
