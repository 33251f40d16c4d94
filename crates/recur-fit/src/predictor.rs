//! [`FitPredictor`]: a model trained by `recur fit` (one model or an ensemble) loaded from its
//! directory, answering labelled sequence sets with scores and unlabelled ones with
//! predictions, each sequence scaled as in training. The command line's `eval` and `run` call
//! it; a server or a Python module would call the very same functions.

use crate::evaluate::{predict, score, Outputs, Scores};
use crate::task::{Examples, FitMeta, Target};
use crate::{align, check_inputs, input_names, input_specs};
use recur_data::sequences::InputSpec;
use recur_data::sequences::SequenceSet;
use recur_nn::{model_dir, prepare_models, Model, NnError, Precision, Result};
use std::path::Path;

/// A model trained by `recur fit`: its members, its metadata (task, channels, scaling) and its
/// class names.
pub struct FitPredictor {
    models: Vec<Model<f32>>,
    meta: FitMeta,
    classes: Vec<String>,
    /// The config's names of its inputs.
    names: Vec<String>,
    /// How it reads each input from arrays.
    specs: Vec<InputSpec>,
}

impl FitPredictor {
    /// Prepares every member for inference at `precision` (see
    /// [`recur_nn::Model::prepare_inference`]); returns the layers that run in fp32.
    pub fn prepare_inference(&mut self, precision: Precision) -> Vec<String> {
        prepare_models(&mut self.models, precision)
    }

    /// Loads `dir` and its ensemble members (`members/k`), refusing a model that `recur fit`
    /// did not train.
    pub fn load(dir: &Path) -> Result<Self> {
        let models = model_dir::load_ensemble(dir)?;
        let config = models[0].config();
        let meta = FitMeta::of(config).ok_or_else(|| {
            NnError::Config(format!(
                "{} was not trained by `recur fit` (its config has no `fit` metadata)",
                dir.display()
            ))
        })??;
        let classes = config.classes.clone();
        let names = input_names(config)?;
        let specs = input_specs(config)?;
        Ok(FitPredictor {
            models,
            meta,
            classes,
            names,
            specs,
        })
    }

    /// The task, the channels it reads and its input scaling.
    pub fn meta(&self) -> &FitMeta {
        &self.meta
    }

    /// The class names (empty for values).
    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// The members (one for a single model).
    pub fn members(&self) -> usize {
        self.models.len()
    }

    /// Outputs per sequence (or per step): class probabilities or values.
    pub fn outputs(&self) -> usize {
        self.models[0].output_shape().features
    }

    /// How the model reads each of its inputs from arrays, in its order (`--x` and `--input`
    /// are given in this order).
    pub fn input_specs(&self) -> &[InputSpec] {
        &self.specs
    }

    /// Checks that the model can read `set` (its inputs' number, channels, layout, and no
    /// empty sequence), as [`FitPredictor::predict`] does first: a server checks each request
    /// on its own before joining it to others in one call.
    pub fn check(&self, set: &SequenceSet) -> Result<()> {
        check_inputs(set, &self.meta, &self.names)
    }

    /// Predictions for every example of `set` (its targets, if any, are ignored):
    /// probabilities or values, per sequence or per step, the members' mean.
    pub fn predict(&self, set: &SequenceSet, threads: usize) -> Result<Outputs> {
        self.check(set)?;
        let all: Vec<usize> = (0..set.len()).collect();
        let mut ex = Examples::new(set, &self.meta, &all, None);
        ex.targets.iter_mut().for_each(|t| *t = Target::None);
        self.predict_examples(&ex, threads)
    }

    /// Scores on a labelled set (its labels matched to the model's classes by name), with the
    /// examples the scores were taken on.
    pub fn score(&self, set: &SequenceSet, threads: usize) -> Result<(Scores, Examples)> {
        let labels = align(set, &self.meta, &self.classes, &self.names)?;
        let all: Vec<usize> = (0..set.len()).collect();
        let ex = Examples::new(set, &self.meta, &all, labels.as_deref());
        let outputs = self.predict_examples(&ex, threads)?;
        Ok((score(&outputs, &ex, &self.meta, self.outputs()), ex))
    }

    /// Predictions as one row-major array, as `recur run` writes them and a server answers:
    /// `[n, k]` per sequence, or `[n, time, k]` per step (time the longest output, zero past a
    /// sequence's end); returns the shape and the values.
    pub fn outputs_array(&self, outputs: &[Vec<f64>]) -> (Vec<usize>, Vec<f32>) {
        let (n, k) = (outputs.len(), self.outputs());
        if !self.meta.task.per_step() {
            let data = outputs.iter().flat_map(|o| o.iter().map(|&v| v as f32)).collect();
            return (vec![n, k], data);
        }
        // The longest output: a sequence input's steps, or the model's own (vec→seq).
        let time = outputs.iter().map(|o| o.len() / k.max(1)).max().unwrap_or(0);
        let mut data = vec![0f32; n * time * k];
        for (i, o) in outputs.iter().enumerate() {
            data[i * time * k..i * time * k + o.len()]
                .iter_mut()
                .zip(o)
                .for_each(|(d, &v)| *d = v as f32);
        }
        (vec![n, time, k], data)
    }

    fn predict_examples(&self, ex: &Examples, threads: usize) -> Result<Outputs> {
        predict(&self.models, ex, &self.meta, threads.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{fit_sequences, FitJob, Settings};
    use recur_data::sequences::SequenceTargets;

    /// Sequences of two channels whose class is the sign of the first channel's trend.
    fn trends(n: usize) -> SequenceSet {
        let mut rng = recur_core::Rng::new(3);
        let (mut series, mut labels) = (Vec::new(), Vec::new());
        for i in 0..n {
            let (class, len) = (i % 2, 12 + i % 5);
            let slope = if class == 0 { 0.3 } else { -0.3 };
            let s: Vec<f32> = (0..len)
                .flat_map(|t| {
                    [
                        slope * t as f32 + rng.uniform_range(-0.2, 0.2) as f32,
                        rng.uniform() as f32,
                    ]
                })
                .collect();
            series.push(s);
            labels.push(class);
        }
        SequenceSet {
            dims: 2,
            series,
            targets: SequenceTargets::Classes {
                labels,
                names: vec!["up".into(), "down".into()],
            },
            source: "trends".into(),
            sequential: true,
            more_inputs: Vec::new(),
        }
    }

    /// A model `fit` trained and saved answers through the predictor loaded from its folder
    /// exactly as the trained model does, with no command line involved.
    #[test]
    fn fit_predictor_loads_a_saved_model_and_answers_as_trained() {
        let dir = tempfile::tempdir().unwrap();
        let train = trends(40);
        let job = FitJob {
            train: &train,
            val: None,
            config: None,
            settings: Settings::default(),
            out: dir.path().join("model"),
            resume: false,
            progress: Default::default(),
            rank_local: false,
            groups: None,
        };
        let outcome = fit_sequences(&job).unwrap();
        let predictor = FitPredictor::load(&job.out).unwrap();
        assert_eq!(predictor.classes(), ["up", "down"]);
        let test = trends(10);
        let loaded = predictor.predict(&test, 1).unwrap();
        let all: Vec<usize> = (0..test.len()).collect();
        let ex = Examples::new(&test, &outcome.meta, &all, None);
        assert_eq!(loaded, predict(&outcome.models, &ex, &outcome.meta, 1).unwrap());
        let (scores, _) = predictor.score(&test, 1).unwrap();
        assert!(scores.accuracy.unwrap() > 0.8, "{:?}", scores.accuracy);
        let wrong = SequenceSet { dims: 3, ..trends(2) };
        let e = predictor.predict(&wrong, 1).unwrap_err().to_string();
        assert!(e.contains("trained on 2 channels per step, the input has 3"), "{e}");
    }
}
