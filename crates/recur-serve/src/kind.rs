//! What kind of model a directory holds, told from the files its training command writes (no
//! marker of its own, so directories written before read the same and no model file changes).
//! The command line uses it to point a model of another kind at the command that serves it, and
//! the server to refuse at start-up the kinds it does not serve.

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
    /// `recur sketch-rnn train`: `sketch_rnn.json`, no `config.json`.
    SketchRnn,
    /// `recur init`, or a sketch classifier from before its metadata: a config and weights.
    Plain,
}

impl Kind {
    /// The kind of model in `dir`; `None` when it holds none (the loading then names the
    /// missing file).
    pub fn of(dir: &Path) -> Option<Kind> {
        if dir.join(recur_seq2seq::store::SETTINGS_FILE).is_file() {
            return Some(Kind::Seq2seq);
        }
        if dir.join(recur_sketchrnn::store::SETTINGS_FILE).is_file() {
            return Some(Kind::SketchRnn);
        }
        if recur_forecast::Forecaster::is_saved(dir) {
            return Some(Kind::Forecast);
        }
        let config = model_dir::read_config(&dir.join(CONFIG_FILE)).ok()?;
        Some(if recur_fit::FitMeta::of(&config).is_some() {
            Kind::Fit
        } else if recur_sketch::is_sketch_config(&config) {
            Kind::Sketch
        } else {
            Kind::Plain
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sketch-rnn directory (no `config.json`) read as no model at all, so commands for other
    /// kinds said only that `config.json` was missing.
    #[test]
    fn a_sketch_rnn_directory_is_its_own_kind() {
        let dir = std::env::temp_dir().join(format!("recur-kind-sketch-rnn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(recur_sketchrnn::store::SETTINGS_FILE), "{}").unwrap();
        assert_eq!(Kind::of(&dir), Some(Kind::SketchRnn));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
