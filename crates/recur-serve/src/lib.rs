//! `recur serve`: trained models answered over HTTP in the Open Inference Protocol (KServe v2)
//! — health, model metadata and inference — for sketch classifiers, `recur fit` models,
//! forecasters and seq2seq models, each through the same predictor its command line
//! (`recur predict`, `recur run`, `recur forecast --model`, `recur seq2seq predict`) calls; a
//! drawing page at `/` and Prometheus metrics at `/metrics`.
//!
//! Models are loaded before the server listens; inference runs off the async executor (sketch
//! and `fit` requests arriving together in batches) so that one long request does not hold up the
//! others; SIGINT or SIGTERM ends the server after the requests in flight are answered.

mod batch;
mod error;
mod fit;
mod forecast;
pub mod kind;
mod listen;
mod metrics;
mod model;
mod routes;
mod seq2seq;
mod sessions;
mod sketch;
mod tensor;

pub use batch::Cores;
pub use error::ApiError;
pub use model::{Batching, ServedModel};

use metrics::Metrics;
use routes::Served;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// What the server serves and where.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// The models as (name, directory); names must differ.
    pub models: Vec<(String, PathBuf)>,
    /// The address to listen on (`127.0.0.1`: this machine only).
    pub host: String,
    /// The port (0: any free one, printed when listening).
    pub port: u16,
    /// Cores the model calls share: a model runs one batch of requests at a time, split across
    /// them all (a lone drawing's bidirectional layers run their two directions at once);
    /// calls to different models running together share them out.
    pub threads: usize,
    /// Most drawings or sequences a sketch or `fit` model runs in one call when requests
    /// arrive together.
    pub max_batch: usize,
    /// Most bytes a request body may have.
    pub max_body: usize,
    /// Whether each request is logged as one JSON line on stderr.
    pub log_requests: bool,
    /// Longest a request may take from arrival (body included) to answer; 408 past it.
    pub request_timeout: std::time::Duration,
    /// Longest a connection may take to send a request's head (idle kept-alive ones included)
    /// before it is closed.
    pub header_timeout: std::time::Duration,
    /// The number format every model's weight products run in (converted at load, in memory).
    pub precision: recur_nn::Precision,
}

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A model could not be loaded or is of a kind this version does not serve.
    #[error("model `{name}` ({dir}): {message}")]
    Model {
        /// The name it was to be served under.
        name: String,
        /// Its directory.
        dir: String,
        /// What is wrong.
        message: String,
    },
    /// The options do not work (no model, two models of one name, a bad name).
    #[error("{0}")]
    Options(String),
    /// Listening or serving failed.
    #[error("{what}: {error}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        error: std::io::Error,
    },
}

/// Reads a `--model` value: `NAME=DIR`, or `DIR` named after its last component. A value whose
/// part before `=` could be a path (it holds a separator) is all a path.
pub fn model_spec(text: &str) -> Result<(String, PathBuf), String> {
    let (name, dir) = match text.split_once('=') {
        Some((name, dir)) if !name.contains(['/', '\\']) => (name.to_string(), PathBuf::from(dir)),
        _ => {
            let dir = PathBuf::from(text);
            let name = dir.file_name().map(|n| n.to_string_lossy().into_owned());
            (name.ok_or(format!("{text}: name the model, NAME=DIR"))?, dir)
        }
    };
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._-".contains(c);
    if name.is_empty() || !name.chars().all(allowed) {
        return Err(format!(
            "model name `{name}` must be letters, digits, `.`, `_` or `-` (it goes in URLs); give NAME=DIR"
        ));
    }
    Ok((name, dir))
}

/// Requests that may wait for a model's workers; more are refused (503) until some are answered.
const MAX_WAITING: usize = 1024;

/// Loads every model for inference at `precision`, refusing two of one name.
fn load_models(
    models: &[(String, PathBuf)],
    batching: &Batching,
    precision: recur_nn::Precision,
) -> Result<HashMap<String, Arc<ServedModel>>, ServeError> {
    if models.is_empty() {
        return Err(ServeError::Options("give at least one --model DIR".into()));
    }
    let mut loaded = HashMap::new();
    for (name, dir) in models {
        if loaded.contains_key(name) {
            return Err(ServeError::Options(format!(
                "two models are named `{name}`: name them apart with NAME=DIR"
            )));
        }
        loaded.insert(
            name.clone(),
            Arc::new(ServedModel::load(name, dir, batching, precision)?),
        );
    }
    Ok(loaded)
}

/// Loads the models, listens, prints `listening on http://ADDRESS` on stderr (the port bound
/// when 0 was asked for) and serves until SIGINT or SIGTERM.
pub fn serve(options: &ServeOptions) -> Result<(), ServeError> {
    let metrics = Arc::new(Metrics::new(options.log_requests));
    let batching = Batching {
        // One batch of a model at a time, split across every core: two workers each running
        // a batch on one core answered eight clients' drawings with a longer tail (p99 7.1
        // against 5.6 ms at int8) and no more of them.
        workers: 1,
        cores: Cores::new(options.threads),
        max_batch: options.max_batch.max(1),
        queue: MAX_WAITING,
        metrics: metrics.clone(),
    };
    let models = load_models(&options.models, &batching, options.precision)?;
    let io = |what: &str| {
        let what = what.to_string();
        move |error| ServeError::Io { what, error }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(options.threads.max(1))
        .enable_all()
        .build()
        .map_err(io("cannot start the server's runtime"))?;
    runtime.block_on(async {
        let address = (options.host.as_str(), options.port);
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(io(&format!("cannot listen on {}:{}", options.host, options.port)))?;
        let bound = listener.local_addr().map_err(io("cannot read the bound address"))?;
        let mut names: Vec<&str> = models.keys().map(String::as_str).collect();
        names.sort_unstable();
        recur_core::stderr_line!("serving {}", names.join(", "));
        // Tests and scripts read the port from this line (with --port 0, any free one).
        recur_core::stderr_line!("listening on http://{bound}");
        let app = routes::router(Served {
            models,
            max_body: options.max_body,
            metrics,
            sessions: Arc::default(),
            request_timeout: options.request_timeout,
        });
        listen::serve(listener, app, options.header_timeout, shutdown_signal()).await;
        Ok::<(), ServeError>(())
    })?;
    recur_core::stderr_line!("stopped");
    Ok(())
}

/// Resolves on SIGINT (Ctrl-C) or, on Unix, SIGTERM (what service managers send).
async fn shutdown_signal() {
    let interrupt = async {
        // Without a handler there is no signal to wait for: serve until killed.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    recur_core::stderr_line!("shutting down: answering the requests in flight");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_spec_names_a_folder_after_itself_or_as_given() {
        assert_eq!(
            model_spec("models/doodles"),
            Ok(("doodles".into(), PathBuf::from("models/doodles")))
        );
        assert_eq!(
            model_spec("d=models/x=1"),
            Ok(("d".into(), PathBuf::from("models/x=1")))
        );
        // The part before `=` holds a separator: the whole value is the path, whose name
        // `a=b` cannot go in a URL as it is.
        let e = model_spec("runs/a=b").unwrap_err();
        assert!(e.contains("model name `a=b`"), "{e}");
        let e = model_spec("my model=dir").unwrap_err();
        assert!(e.contains("model name `my model` must be letters"), "{e}");
        assert!(model_spec("=dir").is_err());
    }

    #[test]
    fn serve_refuses_to_start_without_a_model() {
        let batching = Batching {
            workers: 1,
            max_batch: 1,
            queue: 1,
            cores: Cores::new(1),
            metrics: Arc::default(),
        };
        let e = load_models(&[], &batching, recur_nn::Precision::Fp32)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("give at least one --model"), "{e}");
    }
}
