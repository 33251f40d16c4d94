//! `recur train` and `recur predict` for sketches from Python. A drawing comes as the JSON
//! text of Quick, Draw!'s element form `[[[x…],[y…]], …]` (raw strokes with times too), read
//! by the very parser `recur predict` reads ndjson files with, or as the strokes
//! `read_quickdraw` returns (already in the simplified frame, as `recur train --data` takes
//! them); [`TrainSettings`] gives the settings and their defaults as `recur train`'s flags do,
//! and its [`recur_sketch::job::TrainJob`] trains; [`SketchModel`] answers through the
//! [`SketchPredictor`] `recur predict --model DIR` uses.

use crate::errors::{from_nn, guarded};
use crate::progress::Listener;
use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray2};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use recur_data::quickdraw::ndjson::parse_drawing_text;
use recur_data::quickdraw::{check_strokes, Drawing, Stroke, MAX_COORDINATE};
use recur_nn::model_dir::{read_config, CONFIG_FILE};
use recur_nn::Precision;
use recur_sketch::settings::{RunPlace, TrainSettings};
use recur_sketch::{is_sketch_config, SketchPredictor};
use std::path::{Path, PathBuf};

/// One drawing as the Python side hands it over.
#[derive(FromPyObject)]
pub enum DrawingInput<'py> {
    /// The JSON text of the ndjson element form.
    Json(String),
    /// Absolute points in the simplified frame: a float32 `[points, 2]` array per stroke.
    Strokes(Vec<PyReadonlyArray2<'py, f32>>),
}

/// The strokes of drawing `i`, read and checked; a bad one is refused by its index.
fn strokes_of(i: usize, drawing: &DrawingInput<'_>) -> PyResult<Vec<Stroke>> {
    let strokes = match drawing {
        DrawingInput::Json(text) => parse_drawing_text(text),
        DrawingInput::Strokes(arrays) => {
            let strokes: Vec<Stroke> = arrays
                .iter()
                .map(|a| a.as_array().rows().into_iter().map(|p| [p[0], p[1]]).collect())
                .collect();
            check_strokes(&strokes, MAX_COORDINATE).map(|()| strokes)
        }
    };
    strokes.map_err(|e| PyValueError::new_err(format!("drawings[{i}]: {e}")))
}

/// Every drawing's strokes, in order.
fn all_strokes(drawings: &[DrawingInput<'_>]) -> PyResult<Vec<Vec<Stroke>>> {
    drawings.iter().enumerate().map(|(i, d)| strokes_of(i, d)).collect()
}

/// Trains a sketch classifier on `drawings` labelled `labels` (class names) and saves it into
/// `out` as `recur train --out` does, with `settings` (a JSON object of `recur train`'s
/// settings, `_` for `-`, `augment` for `--no-augment`'s opposite; defaults for those left
/// out). The split into training, validation and test parts goes by `key_ids` (the drawings'
/// indices when not given), as `recur train` splits by the drawings' key_id. Returns a summary
/// of the held-out part's scores.
#[pyfunction]
#[pyo3(signature = (drawings, labels, out, *, key_ids=None, settings="{}", progress=None))]
pub fn fit_sketches(
    py: Python<'_>,
    drawings: Vec<DrawingInput<'_>>,
    labels: Vec<String>,
    out: PathBuf,
    key_ids: Option<Vec<String>>,
    settings: &str,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let settings: TrainSettings =
        serde_json::from_str(settings).map_err(|e| PyValueError::new_err(format!("sketch settings: {e}")))?;
    settings.check(str::to_string).map_err(from_nn)?;
    let keys = key_ids.unwrap_or_else(|| (0..drawings.len()).map(|i| i.to_string()).collect());
    if labels.len() != drawings.len() || keys.len() != drawings.len() {
        return Err(PyValueError::new_err(format!(
            "{} drawings need as many labels and key_ids; got {} and {}",
            drawings.len(),
            labels.len(),
            keys.len()
        )));
    }
    let drawings: Vec<Drawing> = all_strokes(&drawings)?
        .into_iter()
        .zip(labels)
        .zip(keys)
        .map(|((strokes, word), key_id)| Drawing {
            word,
            key_id,
            recognized: true,
            countrycode: String::new(),
            strokes,
        })
        .collect();
    let listener = Listener::new(progress);
    let place = RunPlace {
        out,
        resume: false,
        progress: listener.reporter(),
        rank_local: false,
    };
    let trained = py.detach(|| {
        guarded(|| {
            let job = settings.job(&drawings, place, str::to_string).map_err(from_nn)?;
            let outcome = job.run().map_err(from_nn)?;
            let scores = outcome
                .ok_or_else(|| PyValueError::new_err("training ended without scores (an MPI rank other than 0)"))?
                .scores;
            let r = &scores.report;
            Ok(format!(
                "best epoch {} of {}; {} drawings ({}): top-1 {:.4}  loss {:.4}",
                scores.best_epoch, scores.epochs, r.n, scores.part, r.top1, r.loss
            ))
        })
    });
    listener.outcome(trained)
}

/// Whether `dir` holds a sketch classifier `recur train` wrote (or the package, which writes
/// the same).
#[pyfunction]
pub fn is_sketch_model(dir: PathBuf) -> bool {
    read_config(&dir.join(CONFIG_FILE)).is_ok_and(|config| is_sketch_config(&config))
}

/// A sketch classifier trained by `recur train` (or saved by the package), loaded from its
/// directory with its ensemble members.
#[pyclass(frozen, module = "recur._recur")]
pub struct SketchModel {
    inner: SketchPredictor,
    dir: PathBuf,
}

#[pymethods]
impl SketchModel {
    /// Loads the sketch classifier in `dir`, prepared for inference in fp32 as `recur
    /// predict` prepares it by default (the recurrent layers keep their transposed weights
    /// rather than transposing them for every batch).
    #[new]
    fn new(dir: PathBuf) -> PyResult<Self> {
        let mut inner = SketchPredictor::load(Path::new(&dir)).map_err(from_nn)?;
        // fp32 runs every layer as trained: no layer falls back, so there is nothing to note.
        inner.prepare_inference(Precision::Fp32);
        Ok(SketchModel { inner, dir })
    }

    /// The directory it was loaded from.
    #[getter]
    fn dir(&self) -> PathBuf {
        self.dir.clone()
    }

    /// Class names in the model's order (the order of the probabilities).
    #[getter]
    fn classes(&self) -> Vec<String> {
        self.inner.classes().to_vec()
    }

    /// Ensemble members (1 for one model).
    #[getter]
    fn members(&self) -> usize {
        self.inner.models().len()
    }

    /// Every class's probability for each drawing, `[n, classes]` in the model's class
    /// order: the numbers `recur predict --model DIR --json` prints.
    #[pyo3(signature = (drawings, *, threads=None))]
    fn probabilities<'py>(
        &self,
        py: Python<'py>,
        drawings: Vec<DrawingInput<'py>>,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyArray2<f64>>> {
        let strokes = all_strokes(&drawings)?;
        let threads = threads.unwrap_or_else(recur_core::parallel::default_threads);
        let rows = py.detach(|| guarded(|| self.inner.probabilities(&strokes, threads).map_err(from_nn)))?;
        let width = self.inner.classes().len();
        let values: Vec<f64> = rows.into_iter().flatten().collect();
        let array = Array2::from_shape_vec((values.len() / width.max(1), width), values)
            .map_err(|e| PyValueError::new_err(format!("probabilities of an unexpected shape: {e}")))?;
        Ok(array.into_pyarray(py))
    }
}
