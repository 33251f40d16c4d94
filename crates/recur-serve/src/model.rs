//! The models a server holds: each loaded once at start-up by the predictor its command line
//! uses, named, and asked for its metadata and answers.

use crate::error::ApiError;
use crate::kind::Kind;
use crate::tensor::InferRequest;
use crate::{fit, sketch, ServeError};
use recur_fit::FitPredictor;
use recur_sketch::SketchPredictor;
use serde_json::{json, Value};
use std::path::Path;

/// The predictors this server version serves.
enum Predictor {
    /// A sketch classifier (`recur train`), as `recur predict` loads it.
    Sketch(SketchPredictor),
    /// A `recur fit` model, as `recur run` loads it (boxed: its metadata is large).
    Fit(Box<FitPredictor>),
}

/// A loaded model and the name requests call it by.
pub struct ServedModel {
    name: String,
    predictor: Predictor,
}

impl ServedModel {
    /// Loads the model in `dir` under `name`, refusing the kinds this version does not serve.
    pub fn load(name: &str, dir: &Path) -> Result<Self, ServeError> {
        let refuse = |message: String| ServeError::Model {
            name: name.to_string(),
            dir: dir.display().to_string(),
            message,
        };
        let predictor = match Kind::of(dir) {
            Some(Kind::Fit) => Predictor::Fit(Box::new(FitPredictor::load(dir).map_err(|e| refuse(e.to_string()))?)),
            // A sketch classifier from before its metadata reads as a plain model, as in `recur predict`.
            Some(Kind::Sketch | Kind::Plain) | None => {
                Predictor::Sketch(SketchPredictor::load(dir).map_err(|e| refuse(e.to_string()))?)
            }
            Some(other) => {
                return Err(refuse(format!(
                    "it holds a {} model; this server version serves sketch classifiers (`recur train`) and \
                     `recur fit` models",
                    match other {
                        Kind::Forecast => "forecasting",
                        _ => "seq2seq",
                    }
                )))
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
            Predictor::Sketch(p) => sketch::metadata(p),
            Predictor::Fit(p) => fit::metadata(p),
        };
        meta["name"] = json!(self.name);
        meta["versions"] = json!(["1"]);
        meta["platform"] = json!("recur");
        meta
    }

    /// `POST /v2/models/{name}/infer`: reads the body and answers it, with the number of items
    /// (drawings, sequences) answered (runs the model; call it off the async executor).
    pub fn infer(&self, body: &[u8]) -> Result<(Value, usize), ApiError> {
        let request = InferRequest::parse(body)?;
        let outputs = match &self.predictor {
            Predictor::Sketch(p) => sketch::infer(p, &request)?,
            Predictor::Fit(p) => fit::infer(p, &request)?,
        };
        // Every output's first axis counts the request's items.
        let items = outputs.first().and_then(|o| o["shape"][0].as_u64()).unwrap_or(0) as usize;
        let mut answer = json!({"model_name": self.name, "model_version": "1", "outputs": outputs});
        if let Some(id) = &request.id {
            answer["id"] = json!(id);
        }
        Ok((answer, items))
    }
}
