//! The models a server holds: each loaded once at start-up by the predictor its command line
//! uses, named, and asked for its metadata and answers.

use crate::batch::{Batcher, Cores, Pending, RunBatch};
use crate::error::ApiError;
use crate::fit::FitExample;
use crate::kind::Kind;
use crate::metrics::Metrics;
use crate::sessions::Sessions;
use crate::tensor::InferRequest;
use crate::{fit, forecast, seq2seq, sketch, ServeError};
use recur_data::quickdraw::ndjson::simplified;
use recur_data::quickdraw::Stroke;
use recur_data::SeriesSpec;
use recur_fit::FitPredictor;
use recur_forecast::ForecastPredictor;
use recur_nn::{fallback_note, kernel_note, Precision};
use recur_seq2seq::Translator;
use recur_sketch::SketchPredictor;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;

/// How requests to a model are run: by how many workers, in batches of how many items.
#[derive(Clone)]
pub struct Batching {
    /// Requests (batches) run at once.
    pub workers: usize,
    /// Most items (drawings) run in one model call.
    pub max_batch: usize,
    /// Most requests waiting; more are refused (503) until some are answered.
    pub queue: usize,
    /// The cores every model's calls share.
    pub cores: Cores,
    /// Where each model call's batch size is counted.
    pub metrics: Arc<Metrics>,
}

/// The predictors this server version serves.
enum Predictor {
    /// A sketch classifier (`recur train`), as `recur predict` loads it, and the queue that
    /// batches the requests arriving together.
    Sketch {
        predictor: Arc<SketchPredictor>,
        batcher: Batcher<Vec<Stroke>, Vec<f64>>,
    },
    /// A `recur fit` model, as `recur run` loads it, and the queue that batches the requests
    /// arriving together.
    Fit {
        predictor: Arc<FitPredictor>,
        batcher: Batcher<FitExample, Vec<f64>>,
    },
    /// A forecaster, as `recur forecast --model` loads it, with the columns it reads.
    Forecast {
        predictor: Box<ForecastPredictor>,
        spec: SeriesSpec,
    },
    /// A seq2seq model, as `recur seq2seq predict` loads it.
    Seq2seq(Box<Translator>),
}

/// Turns the outputs of a queued request's items (each drawing's or sequence's) into its
/// answer's output tensors.
type Answer = Box<dyn FnOnce(&[Vec<f64>]) -> Vec<Value> + Send>;

/// What a request asks of its answer besides the outputs' values.
struct Asked {
    /// The caller's id, echoed.
    id: Option<String>,
    /// The outputs named (every one when `None`).
    outputs: Option<Vec<String>>,
}

/// A request read, and where its outputs come from.
enum Work {
    /// Answered already.
    Done(Vec<Value>),
    /// Queued for a batch: its items' outputs to come, and how they make the answer.
    Queued { pending: Pending<Vec<f64>>, answer: Answer },
}

/// A model's call over a batch of items on at most the given number of threads: each item's
/// outputs (a drawing's probabilities, a sequence's outputs).
type ModelCall<P, I> = fn(&P, Vec<I>, usize) -> Result<Vec<Vec<f64>>, ApiError>;

/// Starts a model's batch workers over `run`, a call over a batch of items.
fn batcher<P, I>(predictor: &Arc<P>, batching: &Batching, run: ModelCall<P, I>) -> Batcher<I, Vec<f64>>
where
    P: Send + Sync + 'static,
    I: Send + 'static,
{
    let model = predictor.clone();
    let run: Arc<RunBatch<I, Vec<f64>>> = Arc::new(move |items: Vec<I>, threads| run(&model, items, threads));
    let (cores, metrics) = (batching.cores.clone(), batching.metrics.clone());
    Batcher::start(
        run,
        batching.workers,
        batching.max_batch,
        batching.queue,
        cores,
        metrics,
    )
}

/// A loaded model and the name requests call it by.
pub struct ServedModel {
    name: String,
    predictor: Predictor,
}

impl ServedModel {
    /// Loads the model in `dir` under `name` for inference at `precision` (printing, once,
    /// which layers run in fp32 instead), refusing the kinds this version does not serve.
    pub fn load(name: &str, dir: &Path, batching: &Batching, precision: Precision) -> Result<Self, ServeError> {
        let refuse = |message: String| ServeError::Model {
            name: name.to_string(),
            dir: dir.display().to_string(),
            message,
        };
        let note = |fallbacks: Vec<String>| {
            for note in [kernel_note(precision), fallback_note(precision, &fallbacks)]
                .into_iter()
                .flatten()
            {
                recur_core::stderr_line!("note: model `{name}`: {note}");
            }
        };
        let predictor = match Kind::of(dir) {
            Some(Kind::Fit) => {
                let mut predictor = FitPredictor::load(dir).map_err(|e| refuse(e.to_string()))?;
                note(predictor.prepare_inference(precision));
                let predictor = Arc::new(predictor);
                let batcher = batcher(&predictor, batching, fit::outputs);
                Predictor::Fit { predictor, batcher }
            }
            // A sketch classifier from before its metadata reads as a plain model, as in `recur predict`.
            Some(Kind::Sketch | Kind::Plain) | None => {
                let mut predictor = SketchPredictor::load(dir).map_err(|e| refuse(e.to_string()))?;
                note(predictor.prepare_inference(precision));
                let predictor = Arc::new(predictor);
                let batcher = batcher(&predictor, batching, sketch::probabilities);
                Predictor::Sketch { predictor, batcher }
            }
            Some(Kind::Forecast) => {
                let mut predictor = ForecastPredictor::load(dir).map_err(|e| refuse(e.to_string()))?;
                note(predictor.forecaster.prepare_inference(precision));
                let spec = predictor.series_spec(false).map_err(|e| refuse(e.to_string()))?;
                Predictor::Forecast {
                    predictor: Box::new(predictor),
                    spec,
                }
            }
            Some(Kind::Seq2seq) => {
                let mut translator = Translator::load(dir).map_err(|e| refuse(e.to_string()))?;
                note(translator.model.prepare_inference(precision));
                Predictor::Seq2seq(Box::new(translator))
            }
            Some(Kind::SketchRnn) => {
                return Err(refuse(
                    "it holds a sketch-rnn model (a generator, used through `recur sketch-rnn`); this server \
                     version serves classifiers, fit models, forecasters and seq2seq models"
                        .into(),
                ))
            }
        };
        Ok(ServedModel {
            name: name.to_string(),
            predictor,
        })
    }

    /// The name requests call it by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `GET /v2/models/{name}`: name, platform, inputs and outputs with datatypes and shapes,
    /// and in `parameters` the kind and the classes.
    pub fn metadata(&self) -> Value {
        let mut meta = match &self.predictor {
            Predictor::Sketch { predictor, .. } => sketch::metadata(predictor),
            Predictor::Fit { predictor, .. } => fit::metadata(predictor),
            Predictor::Forecast { predictor, spec } => forecast::metadata(predictor, spec),
            Predictor::Seq2seq(t) => seq2seq::metadata(t),
        };
        meta["name"] = json!(self.name);
        meta["versions"] = json!(["1"]);
        meta["platform"] = json!("recur");
        meta
    }

    /// `POST /v2/models/{name}/infer`: reads the body (off the async executor) and answers
    /// it, with the number of items (drawings, sequences) answered. A sketch model's drawings
    /// and a `fit` model's sequences join the requests waiting for a batch; the other kinds
    /// run at once, on the body's thread.
    pub async fn infer(self: Arc<Self>, body: axum::body::Bytes) -> Result<(Value, usize), ApiError> {
        let model = self.clone();
        let started = tokio::task::spawn_blocking(move || model.start(&body)).await;
        self.finish(started).await
    }

    /// Whether the model takes drawings in parts (streaming sessions): sketch models.
    pub fn takes_parts(&self) -> bool {
        matches!(self.predictor, Predictor::Sketch { .. })
    }

    /// `POST /v2/models/{name}/sessions/{id}/infer`: adds the request's strokes to session
    /// `id` and answers for the whole drawing so far.
    pub async fn infer_part(
        self: Arc<Self>,
        sessions: Arc<Sessions>,
        id: String,
        body: axum::body::Bytes,
    ) -> Result<(Value, usize), ApiError> {
        let model = self.clone();
        let started = tokio::task::spawn_blocking(move || model.start_part(&sessions, &id, &body)).await;
        self.finish(started).await
    }

    /// The answer to a request started off the executor: its outputs once computed, under the
    /// request's `id`, with the number of items answered.
    async fn finish(
        &self,
        started: Result<Result<(Asked, Work), ApiError>, tokio::task::JoinError>,
    ) -> Result<(Value, usize), ApiError> {
        let (asked, work) = started.map_err(|e| ApiError::internal(format!("the inference failed: {e}")))??;
        let mut outputs = match work {
            Work::Done(outputs) => outputs,
            Work::Queued { pending, answer } => answer(&pending.answers().await?),
        };
        // Every output's first axis counts the request's items.
        let items = outputs.first().and_then(|o| o["shape"][0].as_u64()).unwrap_or(0) as usize;
        if let Some(wanted) = &asked.outputs {
            outputs.retain(|o| wanted.iter().any(|w| o["name"] == w.as_str()));
        }
        let mut answer = json!({"model_name": self.name, "model_version": "1", "outputs": outputs});
        if let Some(id) = asked.id {
            answer["id"] = json!(id);
        }
        Ok((answer, items))
    }

    /// What a request asks of its answer: its `id`, and the outputs it names (checked against
    /// the model's, before any work is done).
    fn asked(&self, request: &InferRequest) -> Result<Asked, ApiError> {
        let outputs = match request.outputs.is_empty() {
            true => None,
            false => {
                let meta = self.metadata();
                let answers: Vec<String> = meta["outputs"]
                    .as_array()
                    .map(|o| o.iter().filter_map(|o| o["name"].as_str().map(String::from)).collect())
                    .unwrap_or_default();
                request.wanted_outputs(&answers)?
            }
        };
        Ok(Asked {
            id: request.id.clone(),
            outputs,
        })
    }

    /// Reads a request and either answers it or queues it: its `id` and the work.
    fn start(&self, body: &[u8]) -> Result<(Asked, Work), ApiError> {
        let request = InferRequest::parse(body)?;
        let asked = self.asked(&request)?;
        let work = match &self.predictor {
            Predictor::Sketch { predictor, batcher } => {
                let (drawings, top) = sketch::read(predictor, &request)?;
                sketch_work(predictor, batcher, drawings, top)?
            }
            Predictor::Fit { predictor, batcher } => {
                let pending = batcher.submit(fit::read(predictor, &request)?)?;
                let predictor = predictor.clone();
                Work::Queued {
                    pending,
                    answer: Box::new(move |outputs| fit::answer(&predictor, outputs)),
                }
            }
            Predictor::Forecast { predictor, spec } => Work::Done(forecast::infer(predictor, spec, &request)?),
            Predictor::Seq2seq(t) => Work::Done(seq2seq::infer(t, &request)?),
        };
        Ok((asked, work))
    }

    /// Reads a part of a session's drawing, adds it, and queues the whole drawing so far.
    fn start_part(&self, sessions: &Sessions, id: &str, body: &[u8]) -> Result<(Asked, Work), ApiError> {
        let request = InferRequest::parse(body)?;
        let asked = self.asked(&request)?;
        let Predictor::Sketch { predictor, batcher } = &self.predictor else {
            return Err(ApiError::bad_request("only sketch models take drawings in parts"));
        };
        let (strokes, raw, top) = sketch::read_part(predictor, &request)?;
        let (whole, raw) = sessions.extend(&self.name, id, strokes, raw)?;
        let drawing = simplified(whole, raw).map_err(|e| ApiError::bad_request(format!("drawing 0: {e}")))?;
        Ok((asked, sketch_work(predictor, batcher, vec![drawing], top)?))
    }
}

/// Drawings queued for a sketch model's batch, answered with the `top` classes of each.
fn sketch_work(
    predictor: &Arc<SketchPredictor>,
    batcher: &Batcher<Vec<Stroke>, Vec<f64>>,
    drawings: Vec<Vec<Stroke>>,
    top: usize,
) -> Result<Work, ApiError> {
    let pending = batcher.submit(drawings)?;
    let predictor = predictor.clone();
    Ok(Work::Queued {
        pending,
        answer: Box::new(move |probabilities| sketch::answer(&predictor, probabilities, top)),
    })
}
