//! What kind of model a directory holds, told from the files its training command writes (no
//! marker of its own, so directories written before read the same and no model file changes),
//! so that a command given another kind says which command serves it.

use anyhow::{bail, Result};
use recur_nn::model_dir::{self, CONFIG_FILE};
use std::path::Path;

/// The kinds of model directory, by the command that writes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `recur train`: a sketch classifier (its config's `sketch_input` or `sketch_split`).
    Sketch,
    /// `recur fit`: its config's `fit` metadata.
    Fit,
    /// `recur forecast --out`: `forecast.json` beside the model.
    Forecast,
    /// `recur seq2seq train`: `seq2seq.json`, no `config.json`.
    Seq2seq,
    /// `recur init`, or a sketch classifier from before its metadata: a config and weights.
    Plain,
}

impl Kind {
    /// The kind of model in `dir`; `None` when it holds none (the command's own loading then
    /// names the missing file).
    pub fn of(dir: &Path) -> Option<Kind> {
        if dir.join(recur_seq2seq::store::SETTINGS_FILE).is_file() {
            return Some(Kind::Seq2seq);
        }
        if recur_forecast::Forecaster::is_saved(dir) {
            return Some(Kind::Forecast);
        }
        let config = model_dir::read_config(&dir.join(CONFIG_FILE)).ok()?;
        let sketch = [recur_sketch::INPUT_KEY, recur_sketch::split::SPLIT_KEY];
        Some(if recur_fit::FitMeta::of(&config).is_some() {
            Kind::Fit
        } else if sketch.iter().any(|k| config.metadata.contains_key(*k)) {
            Kind::Sketch
        } else {
            Kind::Plain
        })
    }

    /// What the kind is and the commands that serve it.
    fn served_by(self) -> &'static str {
        match self {
            Kind::Sketch => "a sketch classifier: use `recur predict` or `recur eval --data`",
            Kind::Fit => "a model trained by `recur fit`: use `recur run` (with --labels) or `recur eval --test`",
            Kind::Forecast => "a forecasting model: use `recur forecast --model DIR`",
            Kind::Seq2seq => "a seq2seq model: use `recur seq2seq predict` or `recur seq2seq eval`",
            Kind::Plain => "a plain model: use `recur run` or `recur summary`",
        }
    }
}

/// `Err` saying which command serves the model in `dir` when it is none of `kinds`, the kinds
/// the calling command serves.
pub fn expect(dir: &Path, kinds: &[Kind]) -> Result<()> {
    match Kind::of(dir) {
        Some(kind) if !kinds.contains(&kind) => bail!("{} is {}", dir.display(), kind.served_by()),
        _ => Ok(()),
    }
}
