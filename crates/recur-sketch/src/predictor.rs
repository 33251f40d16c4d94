//! [`SketchPredictor`]: a trained sketch classifier, one model or an ensemble, loaded from its
//! directory and asked for the classes of drawings. The command line's `predict` and `eval`
//! call it; a server or a Python module would call the very same functions.

use crate::dataset::{Example, InputSpec};
use crate::evaluate::{evaluate, predict_probabilities, EvalReport};
use crate::input_spec;
use recur_data::quickdraw::{check_strokes, Stroke, MAX_COORDINATE};
use recur_nn::{model_dir, prepare_models, Model, NnError, Precision, Result};
use serde::Serialize;
use std::path::Path;

/// A trained sketch classifier: its models (the members of an ensemble average their
/// probabilities) and how they read drawings.
pub struct SketchPredictor {
    models: Vec<Model<f32>>,
    input: InputSpec,
}

/// One class of a ranking, with its probability.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Guess {
    /// The class name.
    pub class: String,
    /// Its probability (the mean over an ensemble's members).
    pub probability: f64,
}

impl SketchPredictor {
    /// Loads a model directory and, if it holds an ensemble, its other members (`members/1`,
    /// …), checking that they all know the same classes and read drawings the same way.
    pub fn load(dir: &Path) -> Result<Self> {
        let models = model_dir::load_ensemble(dir)?;
        let input = input_spec(models[0].config())?;
        Ok(SketchPredictor { models, input })
    }

    /// Prepares every member for inference at `precision` (see
    /// [`recur_nn::Model::prepare_inference`]); returns the layers that run in fp32.
    pub fn prepare_inference(&mut self, precision: Precision) -> Vec<String> {
        prepare_models(&mut self.models, precision)
    }

    /// The models: one, or an ensemble's members in order.
    pub fn models(&self) -> &[Model<f32>] {
        &self.models
    }

    /// The classes, in the order of the probabilities.
    pub fn classes(&self) -> &[String] {
        &self.models[0].config().classes
    }

    /// How the models read drawings.
    pub fn input(&self) -> &InputSpec {
        &self.input
    }

    /// Every class's probability for each drawing (its strokes, each a list of `[x, y]`
    /// points), in the classes' order; a drawing that
    /// cannot be read (no points, a coordinate out of range) is refused by its index.
    pub fn probabilities(&self, drawings: &[Vec<Stroke>], threads: usize) -> Result<Vec<Vec<f64>>> {
        let examples = drawings
            .iter()
            .enumerate()
            .map(|(i, strokes)| {
                check_strokes(strokes, MAX_COORDINATE).map_err(|e| NnError::Input(format!("drawing {i}: {e}")))?;
                Ok(Example {
                    strokes: strokes.clone(),
                    class: 0,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        predict_probabilities(&self.models, &examples, &self.input, threads.max(1))
    }

    /// The `top` most probable classes of each drawing, most probable first.
    pub fn predict(&self, drawings: &[Vec<Stroke>], top: usize, threads: usize) -> Result<Vec<Vec<Guess>>> {
        Ok(self
            .probabilities(drawings, threads)?
            .iter()
            .map(|p| self.rank(p, top))
            .collect())
    }

    /// The `top` (at least one) most probable classes of one drawing's probabilities (as
    /// [`SketchPredictor::probabilities`] gives them), most probable first.
    pub fn rank(&self, probabilities: &[f64], top: usize) -> Vec<Guess> {
        let classes = self.classes();
        let mut ranked: Vec<usize> = (0..probabilities.len().min(classes.len())).collect();
        ranked.sort_by(|&a, &b| probabilities[b].total_cmp(&probabilities[a]));
        ranked.truncate(top.max(1));
        ranked
            .into_iter()
            .map(|c| Guess {
                class: classes[c].clone(),
                probability: probabilities[c],
            })
            .collect()
    }

    /// Scores the models on labelled examples (classes indexed as [`SketchPredictor::classes`]).
    pub fn evaluate(&self, examples: &[Example], threads: usize) -> Result<EvalReport> {
        evaluate(&self.models, examples, &self.input, threads.max(1))
    }
}
