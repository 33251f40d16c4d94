//! `recur seq2seq` from Python. [`TrainSettings`] gives the settings and their defaults as
//! `recur seq2seq train`'s flags do; [`fit_seq2seq`] cuts the texts into pairs as a TSV file's
//! lines are cut and runs the [`recur_seq2seq::job::TrainJob`] the command line runs, writing
//! the directory it writes; [`Seq2SeqModel`] encodes, searches and decodes through the
//! [`Translator`] `recur seq2seq predict --model DIR` uses.

use crate::errors::{from_nn, guarded};
use crate::progress::Listener;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use recur_nn::Precision;
use recur_seq2seq::store::StoreError;
use recur_seq2seq::{score, text_pairs, PairFormat, SearchOptions, TrainSettings, Translation, Translator};
use std::path::PathBuf;

/// How the pairs given to `fit` are named in messages (`pairs:3: the target is empty`).
const PAIRS_NAME: &str = "pairs";

/// An error of the seq2seq model store as a Python exception.
fn from_store(e: StoreError) -> PyErr {
    match e {
        StoreError::Nn(e) => from_nn(e),
        StoreError::Io { .. } => PyOSError::new_err(e.to_string()),
        _ => PyValueError::new_err(e.to_string()),
    }
}

/// Refuses empty or unequal lists of sources and targets, in `what`'s words (`fit`, `score`).
fn check_lengths(what: &str, sources: usize, targets: usize) -> PyResult<()> {
    if sources == 0 {
        return Err(PyValueError::new_err(format!("{what}: no sources given")));
    }
    if sources != targets {
        return Err(PyValueError::new_err(format!(
            "{what}: {sources} sources but {targets} targets: give one target per source"
        )));
    }
    Ok(())
}

/// Trains an encoder–decoder on the pairs `sources[i]` → `targets[i]` with `settings` (a JSON
/// object of `recur seq2seq train`'s settings, `_` for `-`; defaults for those left out),
/// holding out `val_split` of the sources as the command line does, and writes the model
/// directory `recur seq2seq train --out` writes into `out`. Returns a summary line.
#[pyfunction]
#[pyo3(signature = (sources, targets, out, *, settings="{}", progress=None))]
pub fn fit_seq2seq(
    py: Python<'_>,
    sources: Vec<String>,
    targets: Vec<String>,
    out: PathBuf,
    settings: &str,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let settings: TrainSettings =
        serde_json::from_str(settings).map_err(|e| PyValueError::new_err(format!("seq2seq settings: {e}")))?;
    check_lengths("fit", sources.len(), targets.len())?;
    let (source_tokenizer, target_tokenizer) = settings.tokenizers(PairFormat::Tsv);
    let texts: Vec<(String, String)> = sources.into_iter().zip(targets).collect();
    let pairs = text_pairs(&texts, PAIRS_NAME, source_tokenizer, target_tokenizer)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let listener = Listener::new(progress);
    let reporter = listener.reporter();
    let trained = py.detach(|| {
        guarded(|| {
            // Built here: a job may hold the ranks of an MPI run, which stay on one thread.
            let job = settings
                .job(pairs, PairFormat::Tsv, out, str::to_string)
                .map_err(from_nn)?;
            let prepared = job.prepare().map_err(from_store)?;
            let (pairs, sources) = (prepared.pairs, prepared.sources);
            let outcome = prepared.train(reporter).map_err(from_store)?;
            let epochs = outcome.history.len();
            Ok(format!(
                "trained {epochs} epochs on {pairs} pairs; {} held-out sources: WER {:.2}% with beam {}",
                sources,
                100.0 * outcome.scores.wer,
                outcome.beam
            ))
        })
    });
    listener.outcome(trained)
}

/// A seq2seq model saved by `recur seq2seq train` (or by the package, which writes the same).
#[pyclass(frozen, module = "recur._recur")]
pub struct Seq2SeqModel {
    inner: Translator,
    dir: PathBuf,
}

/// Each source's outputs as `(text, score)`, best first, and how many source tokens were never
/// seen in training.
type NBest = (Vec<Vec<(String, f64)>>, usize);

/// The search settings `predict` and `score` take.
struct Search {
    beam: usize,
    nbest: usize,
    alpha: Option<f64>,
    max_len: Option<usize>,
    strict: bool,
    threads: Option<usize>,
}

impl Seq2SeqModel {
    /// The outputs of `sources`, encoded, searched and decoded as `recur seq2seq predict`
    /// does, with how many of their tokens were never seen in training.
    fn translate(
        &self,
        py: Python<'_>,
        sources: Vec<String>,
        search: Search,
    ) -> PyResult<(Vec<Vec<Translation>>, usize)> {
        let placed = sources
            .into_iter()
            .enumerate()
            .map(|(i, s)| (format!("sources[{i}]"), s));
        let encoded = self.inner.encode_all(placed, search.strict).map_err(from_nn)?;
        let alpha = search.alpha.unwrap_or(SearchOptions::default().alpha);
        let options = self
            .inner
            .search_options(search.beam, search.nbest, alpha, search.max_len, false)
            .map_err(PyValueError::new_err)?;
        let threads = search
            .threads
            .unwrap_or_else(recur_core::parallel::default_threads)
            .max(1);
        let outputs = py.detach(|| {
            guarded(|| {
                self.inner
                    .translate(&encoded.sources, &options, threads)
                    .map_err(from_nn)
            })
        })?;
        Ok((outputs, encoded.unknown))
    }
}

#[pymethods]
impl Seq2SeqModel {
    /// Loads the model saved in `dir`, prepared for fp32 inference as `recur seq2seq predict`
    /// prepares it.
    #[new]
    fn new(dir: PathBuf) -> PyResult<Self> {
        let mut inner = Translator::load(&dir).map_err(from_store)?;
        // fp32 has no fallback to report (other precisions' notes are about them).
        inner.model.prepare_inference(Precision::Fp32);
        Ok(Seq2SeqModel { inner, dir })
    }

    /// The directory it was loaded from.
    #[getter]
    fn dir(&self) -> PathBuf {
        self.dir.clone()
    }

    /// The model's `seq2seq.json` (architecture, tokenizers, limits, training settings), as
    /// JSON text.
    #[getter]
    fn settings(&self) -> PyResult<String> {
        serde_json::to_string(&self.inner.settings).map_err(|e| PyValueError::new_err(e.to_string()))
    }

    /// For each source, its `nbest` best outputs as `(text, score)`, best first, and the
    /// number of source tokens never seen in training (read as `<unk>`, or refused with
    /// `strict`). `alpha` (GNMT length penalty) defaults to `recur seq2seq predict`'s.
    #[pyo3(signature = (sources, *, beam=5, nbest=1, alpha=None, max_len=None, strict=false, threads=None))]
    #[allow(clippy::too_many_arguments)]
    fn predict(
        &self,
        py: Python<'_>,
        sources: Vec<String>,
        beam: usize,
        nbest: usize,
        alpha: Option<f64>,
        max_len: Option<usize>,
        strict: bool,
        threads: Option<usize>,
    ) -> PyResult<NBest> {
        let search = Search {
            beam,
            nbest,
            alpha,
            max_len,
            strict,
            threads,
        };
        let (outputs, unknown) = self.translate(py, sources, search)?;
        let texts = outputs
            .into_iter()
            .map(|hyps| hyps.into_iter().map(|h| (h.text, h.score)).collect())
            .collect();
        Ok((texts, unknown))
    }

    /// Sequence accuracy: the share of sources whose best output is exactly their target
    /// (token for token, as the target tokenizer cuts it), i.e. 1 − WER with one reference
    /// each, scored as `recur seq2seq eval` scores.
    #[pyo3(signature = (sources, targets, *, beam=5, alpha=None, max_len=None, strict=false, threads=None))]
    #[allow(clippy::too_many_arguments)]
    fn score(
        &self,
        py: Python<'_>,
        sources: Vec<String>,
        targets: Vec<String>,
        beam: usize,
        alpha: Option<f64>,
        max_len: Option<usize>,
        strict: bool,
        threads: Option<usize>,
    ) -> PyResult<f64> {
        check_lengths("score", sources.len(), targets.len())?;
        let search = Search {
            beam,
            nbest: 1,
            alpha,
            max_len,
            strict,
            threads,
        };
        let (outputs, _) = self.translate(py, sources, search)?;
        let tokenizer = self.inner.settings.target_tokenizer;
        let scored: Vec<(Vec<String>, Vec<Vec<String>>)> = outputs
            .into_iter()
            .zip(&targets)
            .map(|(hyps, target)| {
                let best = hyps.into_iter().next().map(|h| h.tokens).unwrap_or_default();
                (best, vec![tokenizer.tokenize(target.trim())])
            })
            .collect();
        Ok(score(&scored).exact_match)
    }
}
