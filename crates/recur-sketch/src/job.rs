//! A whole sketch-training job, as `recur train` and `recur demo` run it: split the drawings by
//! key_id, measure the input scaling on the training part, label the model with its classes,
//! input settings and split, keep the training part's key_ids beside it, train (an ensemble when
//! asked), and score the test part (the validation part when there is no test part). Under MPI
//! with a part of the data per rank, the scaling, the split counts and the scores cover all the
//! parts; rank 0 alone writes.

use crate::dataset::{examples, Example, InputSpec, Part};
use crate::evaluate::{evaluate, PartScores};
use crate::split::{label_split, SplitSpec, TrainingKeys};
use crate::{label_config, presets, train_ensemble, TrainOptions};
use recur_data::quickdraw::strokes::{offset_moments, offset_std_of, Normalization};
use recur_data::quickdraw::Drawing;
use recur_nn::{ModelConfig, NnError, Result};
use recur_train::distributed::{self, Collective, Fingerprint};
use serde::{Deserialize, Serialize};
use std::rc::Rc;

/// How strokes are scaled (named as `recur train --normalization` names them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scaling {
    /// Each drawing into its bounding box.
    #[serde(rename = "bbox")]
    BoundingBox,
    /// By the standard deviation of the training part's offsets (sketch-rnn's).
    #[serde(rename = "std")]
    OffsetStd,
}

/// What to train on and how.
pub struct TrainJob<'a> {
    /// The drawings (under MPI with `parts`, this rank's part of them).
    pub drawings: &'a [Drawing],
    /// How key_ids split them into train, validation and test.
    pub split: SplitSpec,
    /// How strokes are scaled.
    pub scaling: Scaling,
    /// The model; `None` for the preset named `preset`.
    pub config: Option<ModelConfig>,
    /// The preset used without a config.
    pub preset: String,
    /// Training settings; their input's normalization is set from `scaling`.
    pub options: TrainOptions,
    /// Models trained and averaged.
    pub ensemble: usize,
    /// Under MPI, the ranks holding the other parts of the drawings.
    pub parts: Option<Rc<dyn Collective>>,
}

/// What a finished job gives (on rank 0, or on every rank with parts).
pub struct Outcome {
    /// The scores of the test part (the validation part when the test part is empty), with
    /// member 0's kept epoch and epochs run.
    pub scores: PartScores,
    /// The drawings scored, as examples.
    pub scored: Vec<Example>,
}

impl TrainJob<'_> {
    /// Runs the job; `None` on MPI ranks other than 0 without parts (they only help train).
    pub fn run(self) -> Result<Option<Outcome>> {
        let parts = self.parts.as_deref();
        let lead = distributed::is_leader();
        let progress = self.options.progress.clone();
        let classes = class_names(self.drawings, parts)?;
        let spec = self.split;
        let split = |part| -> Vec<Drawing> {
            self.drawings
                .iter()
                .filter(|d| spec.part(&d.key_id) == part)
                .cloned()
                .collect()
        };
        let (train_d, val_d, test_d) = (split(Part::Train), split(Part::Validation), split(Part::Test));
        let mut options = self.options;
        options.input.normalization = normalization(self.scaling, &train_d, parts);
        let config = labelled_config(self.config, &self.preset, &classes, &options.input, spec)?;
        let mut keys = TrainingKeys::of(&train_d);
        if let Some(g) = parts {
            keys = keys.gathered(g);
        }
        if lead {
            std::fs::create_dir_all(&options.out).map_err(NnError::io(&options.out))?;
            keys.write(&options.out)?;
        }
        let (train_e, _) = examples(&train_d, &classes);
        let (val_e, _) = examples(&val_d, &classes);
        let (test_e, _) = examples(&test_d, &classes);
        // Drawings in each part of the split, over every rank's data.
        let mut counts = [train_e.len(), val_e.len(), test_e.len()].map(|n| n as f64);
        if let Some(g) = parts {
            g.sum_f64(&mut counts);
        }
        let together = parts.map_or(String::new(), |g| format!(" (the {} ranks' parts together)", g.size()));
        progress.note(&format!(
            "{} classes; split by key_id{together}: {} train, {} validation, {} test",
            classes.len(),
            counts[0],
            counts[1],
            counts[2]
        ));
        progress.note(&format!(
            "training on {} drawings (at most {} epochs)…",
            counts[0], options.epochs
        ));
        let (members, report) = train_ensemble(&config, &train_e, &val_e, &options, self.ensemble)?;
        // Every rank scores its own part when each holds one; otherwise rank 0 scores alone.
        if !lead && parts.is_none() {
            return Ok(None);
        }
        let (part, scored, n) = match counts[2] == 0.0 {
            true => ("validation", val_e, counts[1]),
            false => ("test", test_e, counts[2]),
        };
        progress.note(&format!("evaluating the {part} part ({n} drawings)…"));
        let mut eval = evaluate(&members, &scored, &options.input, options.threads)?;
        if let Some(g) = parts {
            // The mistakes drawn in the report stay rank 0's (they are its own drawings).
            eval = eval.summed_over(g);
            if !lead {
                return Ok(None);
            }
        }
        let scores = PartScores {
            part,
            classes,
            report: eval,
            best_epoch: report.best_epoch,
            epochs: report.history.len(),
        };
        Ok(Some(Outcome { scores, scored }))
    }
}

/// How drawings are scaled: each by its own bounding box, or all by the standard deviation of
/// the training part's offsets (over every rank's part).
fn normalization(scaling: Scaling, train: &[Drawing], parts: Option<&dyn Collective>) -> Normalization {
    match scaling {
        Scaling::BoundingBox => Normalization::BoundingBox,
        Scaling::OffsetStd => {
            let mut moments = offset_moments(train);
            if let Some(g) = parts {
                g.sum_f64(&mut moments);
            }
            Normalization::OffsetStd {
                scale: offset_std_of(moments),
            }
        }
    }
}

/// The model's config (given, or the preset) checked against the data and labelled with its
/// classes, input settings and split: the split and the training part's key_ids stay with the
/// model, so `recur eval` can tell which drawings it has seen and score only held-out ones.
fn labelled_config(
    config: Option<ModelConfig>,
    preset: &str,
    classes: &[String],
    input: &InputSpec,
    split: SplitSpec,
) -> Result<ModelConfig> {
    let width = input.encoding.width();
    let config = match config {
        Some(c) => c,
        None => presets::preset(preset, width, classes.len())?,
    };
    let out_width = config.output_shape()?.features;
    if config.input_size != width || out_width != classes.len() {
        return Err(NnError::Config(format!(
            "the model takes {} features and gives {out_width} outputs; the data needs {width} and {} (one per class)",
            config.input_size,
            classes.len()
        )));
    }
    label_split(label_config(config, classes, input)?, split)
}

/// The classes of `drawings`, sorted; at least two. With a part of the data per rank
/// (`parts`), every rank must find the same ones.
fn class_names(drawings: &[Drawing], parts: Option<&dyn Collective>) -> Result<Vec<String>> {
    let mut classes: Vec<String> = drawings.iter().map(|d| d.word.clone()).collect();
    classes.sort();
    classes.dedup();
    if classes.len() < 2 {
        return Err(NnError::Input(format!(
            "training a classifier needs at least two classes; found {}",
            classes.join(", ")
        )));
    }
    if let Some(g) = parts {
        let mut digest = Fingerprint::default();
        classes.iter().for_each(|c| {
            digest.text(c);
        });
        distributed::agree(
            g,
            "the classes of their drawings (each rank's part must hold drawings of every class)",
            digest.finish(),
        )?;
    }
    Ok(classes)
}
