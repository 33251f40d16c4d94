//! Which command serves a model directory of another kind than the one asked for (the kind
//! itself is told by [`recur_serve::kind::Kind`], which the server shares).

use anyhow::{bail, Result};
pub use recur_serve::kind::Kind;
use std::path::Path;

/// What the kind is and the commands that serve it.
fn served_by(kind: Kind) -> &'static str {
    match kind {
        Kind::Sketch => "a sketch classifier: use `recur predict` or `recur eval --data`",
        Kind::Fit => "a model trained by `recur fit`: use `recur run` (with --labels) or `recur eval --test`",
        Kind::Forecast => "a forecasting model: use `recur forecast --model DIR`",
        Kind::Seq2seq => "a seq2seq model: use `recur seq2seq predict` or `recur seq2seq eval`",
        Kind::SketchRnn => "a sketch-rnn model: use `recur sketch-rnn sample` or `recur sketch-rnn eval`",
        Kind::Plain => "a plain model: use `recur run` or `recur summary`",
    }
}

/// `Err` saying which command serves the model in `dir` when it is none of `kinds`, the kinds
/// the calling command serves.
pub fn expect(dir: &Path, kinds: &[Kind]) -> Result<()> {
    match Kind::of(dir) {
        Some(kind) if !kinds.contains(&kind) => bail!("{} is {}", dir.display(), served_by(kind)),
        _ => Ok(()),
    }
}
