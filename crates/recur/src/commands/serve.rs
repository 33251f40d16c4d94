//! `recur serve`: the flags, handed to [`recur_serve::serve`].

use anyhow::Result;
use clap::Args;
use recur_core::parallel::default_threads;
use std::path::PathBuf;

/// Arguments of `recur serve`.
#[derive(Args)]
pub struct ServeArgs {
    /// A model to serve: DIR (named after the folder) or NAME=DIR; give it once per model.
    /// Sketch classifiers (`recur train`), `recur fit` models, forecasters (`recur forecast
    /// --out`) and seq2seq models.
    #[arg(long = "model", required = true, value_parser = recur_serve::model_spec)]
    models: Vec<(String, PathBuf)>,
    /// Address to listen on; the default answers this machine only.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port (0: any free port; the address is printed on stderr).
    #[arg(long, default_value_t = 8080, value_parser = super::whole::<u16>)]
    port: u16,
    /// Cores the model calls share: a model runs one batch of requests at a time, split across
    /// them all (a lone drawing's bidirectional layers run their two directions at once);
    /// calls to different models running together share them out.
    #[arg(long, default_value_t = default_threads(), value_parser = super::at_least_one)]
    threads: usize,
    /// Most drawings (sketch models) or sequences (fit models) run in one call: requests
    /// arriving while the model is busy are answered together, in one batch (a request
    /// arriving alone is answered at once).
    #[arg(long, default_value_t = 64, value_parser = super::at_least_one)]
    max_batch: usize,
    /// Largest request body in bytes; a larger one is refused (413).
    #[arg(long, default_value_t = 16 << 20, value_parser = super::at_least_one)]
    max_body: usize,
    /// Seconds a request may take from its arrival (body included) to its answer: a client
    /// sending its body too slowly, or never finishing it, gets 408 after that.
    #[arg(long, default_value_t = 60.0, value_parser = seconds)]
    request_timeout: f64,
    /// Seconds a connection may take to send a request's head, an idle kept-alive connection
    /// included, before it is closed (so that silent connections are not held forever).
    #[arg(long, default_value_t = 30.0, value_parser = seconds)]
    header_timeout: f64,
    /// Log every request as one JSON line on stderr (method, path, route, status, ms).
    #[arg(long)]
    log_requests: bool,
    #[command(flatten)]
    precision: super::PrecisionArg,
}

/// Runs `recur serve` until SIGINT or SIGTERM.
pub fn serve(args: ServeArgs) -> Result<()> {
    Ok(recur_serve::serve(&recur_serve::ServeOptions {
        models: args.models,
        host: args.host,
        port: args.port,
        threads: args.threads,
        max_batch: args.max_batch,
        max_body: args.max_body,
        log_requests: args.log_requests,
        request_timeout: std::time::Duration::from_secs_f64(args.request_timeout),
        header_timeout: std::time::Duration::from_secs_f64(args.header_timeout),
        precision: args.precision.precision,
    })?)
}

/// A positive, finite number of seconds (at most a day).
fn seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 86_400.0 => Ok(s),
        _ => Err(format!("`{text}` is not a number of seconds in (0, 86400]")),
    }
}
