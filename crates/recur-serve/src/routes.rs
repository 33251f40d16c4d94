//! The Open Inference Protocol's (KServe v2) HTTP routes over the loaded models.

use crate::error::ApiError;
use crate::metrics::{metrics_page, track, Metrics};
use crate::model::ServedModel;
use crate::sessions::{Sessions, SESSION_IDLE};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::Request;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{middleware, Json, Router};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// What every handler reads: the loaded models by name, the body limit and the counters.
pub struct Served {
    /// The models by name.
    pub models: HashMap<String, Arc<ServedModel>>,
    /// Most bytes a request body may have.
    pub max_body: usize,
    /// What `/metrics` reports.
    pub metrics: Arc<Metrics>,
    /// Drawings being sent in parts.
    pub sessions: Arc<Sessions>,
    /// Longest a request may take, from its arrival (body included) to its answer.
    pub request_timeout: Duration,
}

/// The handlers' shared state.
type Models = Arc<Served>;

/// The routes, with request bodies over `max_body` bytes refused (413) as soon as they pass it,
/// and every request counted for `/metrics`.
pub fn router(served: Served) -> Router {
    let max_body = served.max_body;
    let metrics = served.metrics.clone();
    let timeout = served.request_timeout;
    let counters = Router::new()
        .route("/metrics", get(metrics_page))
        .with_state(metrics.clone());
    Router::new()
        .route("/", get(page))
        .route("/v2", get(server_metadata))
        .route("/v2/repository/index", post(repository_index))
        .route("/v2/health/live", get(|| async { Json(json!({"live": true})) }))
        // Every model is loaded before the server listens, so it is ready once it answers.
        .route("/v2/health/ready", get(|| async { Json(json!({"ready": true})) }))
        .route("/v2/models/{name}", get(model_metadata))
        .route("/v2/models/{name}/ready", get(model_ready))
        .route("/v2/models/{name}/infer", post(infer))
        .route("/v2/models/{name}/sessions", post(open_session))
        .route("/v2/models/{name}/sessions/{id}", delete(end_session))
        .route("/v2/models/{name}/sessions/{id}/infer", post(infer_part))
        .fallback(|| async { ApiError::not_found("no such route; see /v2/models/{name} and its /infer") })
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(Arc::new(served))
        .merge(counters)
        .layer(middleware::from_fn_with_state(timeout, deadline))
        .layer(middleware::from_fn_with_state(metrics, track))
}

/// Answers 408 for a request not answered within `limit` of its arrival: a client that sends
/// its body too slowly (or never finishes it) holds nothing for longer than that.
async fn deadline(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError {
            status: StatusCode::REQUEST_TIMEOUT,
            message: format!(
                "the request was not answered within {} s (--request-timeout): its body came too slowly or its work took too long",
                limit.as_secs_f64()
            ),
        }
        .into_response(),
    }
}

/// The drawing page, embedded in the binary so that it works offline.
const PAGE: &str = include_str!("../page/index.html");

/// `GET /`: a page where one draws and a sketch model guesses after every stroke.
async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// `POST /v2/repository/index` (Triton's model repository extension): every model served,
/// by name, all loaded and ready.
async fn repository_index(State(models): State<Models>) -> Json<Value> {
    let mut names: Vec<&str> = models.models.keys().map(String::as_str).collect();
    names.sort_unstable();
    let index: Vec<Value> = names
        .iter()
        .map(|name| json!({"name": name, "version": "1", "state": "READY"}))
        .collect();
    Json(json!(index))
}

/// `GET /v2`: the server's name, version and protocol extensions (none).
async fn server_metadata() -> Json<Value> {
    Json(json!({"name": "recur", "version": env!("CARGO_PKG_VERSION"), "extensions": []}))
}

/// The model called `name`, or a 404 naming the models there are.
fn find(models: &Models, name: &str) -> Result<Arc<ServedModel>, ApiError> {
    models.models.get(name).cloned().ok_or_else(|| {
        let mut names: Vec<&str> = models.models.keys().map(String::as_str).collect();
        names.sort_unstable();
        ApiError::not_found(format!(
            "no model named `{name}` (this server has {})",
            names.join(", ")
        ))
    })
}

async fn model_metadata(State(models): State<Models>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(find(&models, &name)?.metadata()))
}

async fn model_ready(State(models): State<Models>, Path(name): Path<String>) -> Result<Json<Value>, ApiError> {
    let model = find(&models, &name)?;
    Ok(Json(json!({"name": model.name(), "ready": true})))
}

/// Answers off the async executor, so that a long request leaves it free to answer the others.
async fn infer(
    State(models): State<Models>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let model = find(&models, &name)?;
    let body = read_body(&models, body)?;
    let (answer, items) = model.infer(body).await?;
    models.metrics.observe_batch(items);
    Ok(Json(answer))
}

/// The body, or the error for a body refused or unreadable (413 past `--max-body`).
fn read_body(models: &Models, body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!(
                "the body is over this server's limit of {} bytes (--max-body)",
                models.max_body
            ),
        },
        status => ApiError {
            status,
            message: format!("cannot read the body: {}", e.body_text()),
        },
    })
}

/// `POST /v2/models/{name}/sessions`: opens a session in which a drawing is sent in parts.
async fn open_session(
    State(models): State<Models>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let model = find(&models, &name)?;
    if !model.takes_parts() {
        return Err(ApiError::bad_request(format!(
            "model `{name}` takes whole inputs at /v2/models/{name}/infer; sessions are for sketch models"
        )));
    }
    let id = models.sessions.create(&name)?;
    let answer = json!({"session": id, "idle_expiry_s": SESSION_IDLE.as_secs()});
    Ok((StatusCode::CREATED, Json(answer)))
}

/// `POST /v2/models/{name}/sessions/{id}/infer`: the request's strokes added to the session's
/// drawing, answered for the whole drawing so far.
async fn infer_part(
    State(models): State<Models>,
    Path((name, id)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let model = find(&models, &name)?;
    let body = read_body(&models, body)?;
    let (answer, items) = model.infer_part(models.sessions.clone(), id, body).await?;
    models.metrics.observe_batch(items);
    Ok(Json(answer))
}

/// `DELETE /v2/models/{name}/sessions/{id}`: ends a session (204), or 404 when none is open.
async fn end_session(
    State(models): State<Models>,
    Path((name, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    if models.sessions.end(&name, &id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "no open session `{id}` for model `{name}`"
        )))
    }
}
