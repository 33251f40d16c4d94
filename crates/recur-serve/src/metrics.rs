//! What the server has done, at `GET /metrics` in Prometheus's text format: requests by route
//! and status, errors, a latency histogram and histograms of the items (drawings, sequences)
//! per inference request and per model call; and, with `--log-requests`, one JSON line per request on stderr.
//!
//! Routes are labelled by their template (`/v2/models/{name}/infer`), never by the path asked
//! for, so that no client can grow the label set (and the memory behind it) without bound.

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Upper bounds of the latency buckets, in seconds (Prometheus's `le`).
const LATENCY_BOUNDS: [f64; 12] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.5,
];

/// Upper bounds of the items-per-inference buckets.
const BATCH_BOUNDS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 1024.0];

/// A cumulative histogram as Prometheus keeps one: counts per upper bound, a sum and a count.
#[derive(Default)]
struct Histogram {
    buckets: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, bounds: &[f64], value: f64) {
        if self.buckets.is_empty() {
            self.buckets = vec![0; bounds.len()];
        }
        for (bucket, &bound) in self.buckets.iter_mut().zip(bounds) {
            if value <= bound {
                *bucket += 1;
            }
        }
        self.sum += value;
        self.count += 1;
    }

    /// The histogram's lines under `name` (`_bucket`, `_sum`, `_count`).
    fn write(&self, out: &mut String, name: &str, help: &str, bounds: &[f64]) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (i, bound) in bounds.iter().enumerate() {
            let n = self.buckets.get(i).copied().unwrap_or(0);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum {}\n{name}_count {}", self.sum, self.count);
    }
}

/// The figures behind `/metrics`.
#[derive(Default)]
struct Figures {
    /// Requests answered by (route template, status).
    requests: BTreeMap<(String, u16), u64>,
    latency: Histogram,
    batch_items: Histogram,
    /// Items per model call, requests arriving together joined.
    model_batch_items: Histogram,
}

/// The server's counters, shared by every request.
#[derive(Default)]
pub struct Metrics {
    figures: Mutex<Figures>,
    /// Whether each request is logged on stderr (`--log-requests`).
    log_requests: bool,
}

impl Metrics {
    /// Counters starting at zero; `log_requests` writes a line per request on stderr.
    pub fn new(log_requests: bool) -> Self {
        Metrics {
            figures: Mutex::default(),
            log_requests,
        }
    }

    fn figures(&self) -> std::sync::MutexGuard<'_, Figures> {
        // A panic while the lock was held leaves counters that are still counters.
        self.figures.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts an inference over `items` drawings or sequences.
    pub fn observe_batch(&self, items: usize) {
        self.figures().batch_items.observe(&BATCH_BOUNDS, items as f64);
    }

    /// Counts a model call over `items` drawings or sequences (one or more requests).
    pub fn observe_model_batch(&self, items: usize) {
        self.figures().model_batch_items.observe(&BATCH_BOUNDS, items as f64);
    }

    fn observe_request(&self, route: &str, status: StatusCode, seconds: f64) {
        let mut figures = self.figures();
        *figures
            .requests
            .entry((route.to_string(), status.as_u16()))
            .or_default() += 1;
        figures.latency.observe(&LATENCY_BOUNDS, seconds);
    }

    /// Everything counted so far, in Prometheus's text format (version 0.0.4).
    pub fn render(&self) -> String {
        let figures = self.figures();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP recur_requests_total Requests answered, by route and status.\n# TYPE recur_requests_total counter"
        );
        for ((route, status), n) in &figures.requests {
            let _ = writeln!(out, "recur_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}");
        }
        let errors: u64 = figures
            .requests
            .iter()
            .filter(|((_, s), _)| *s >= 400)
            .map(|(_, n)| n)
            .sum();
        let _ = writeln!(
            out,
            "# HELP recur_request_errors_total Requests answered with a 4xx or 5xx status.\n\
             # TYPE recur_request_errors_total counter\nrecur_request_errors_total {errors}"
        );
        let latency_help = "Time from a request's arrival to its answer, in seconds.";
        figures.latency.write(
            &mut out,
            "recur_request_duration_seconds",
            latency_help,
            &LATENCY_BOUNDS,
        );
        let batch_help = "Drawings or sequences answered per inference request.";
        figures
            .batch_items
            .write(&mut out, "recur_infer_batch_items", batch_help, &BATCH_BOUNDS);
        let model_help = "Drawings or sequences per model call (the requests arriving together, joined).";
        figures
            .model_batch_items
            .write(&mut out, "recur_model_batch_items", model_help, &BATCH_BOUNDS);
        out
    }
}

/// `GET /metrics`.
pub async fn metrics_page(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        metrics.render(),
    )
}

/// Times every request, counts it, adds a `Server-Timing` header (the page shows it) and, when
/// asked, logs it as one JSON line.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_string();
    let method = request.method().to_string();
    let path = request.uri().path().to_string();
    let mut response = next.run(request).await;
    let seconds = start.elapsed().as_secs_f64();
    let status = response.status();
    metrics.observe_request(&route, status, seconds);
    if let Ok(timing) = HeaderValue::from_str(&format!("app;dur={:.3}", seconds * 1e3)) {
        response.headers_mut().insert("server-timing", timing);
    }
    if metrics.log_requests {
        let line = serde_json::json!({
            "method": method, "path": path, "route": route,
            "status": status.as_u16(), "ms": (seconds * 1e6).round() / 1e3,
        });
        recur_core::stderr_line!("{line}");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_count_requests_errors_latency_and_batches_in_prometheus_text() {
        let metrics = Metrics::new(false);
        metrics.observe_request("/v2/models/{name}/infer", StatusCode::OK, 0.0004);
        metrics.observe_request("/v2/models/{name}/infer", StatusCode::OK, 0.003);
        metrics.observe_request("/v2/models/{name}", StatusCode::NOT_FOUND, 0.00005);
        metrics.observe_batch(3);
        metrics.observe_model_batch(5);
        let text = metrics.render();
        for line in [
            "recur_requests_total{route=\"/v2/models/{name}/infer\",status=\"200\"} 2",
            "recur_requests_total{route=\"/v2/models/{name}\",status=\"404\"} 1",
            "recur_request_errors_total 1",
            "recur_request_duration_seconds_bucket{le=\"0.0005\"} 2",
            "recur_request_duration_seconds_bucket{le=\"+Inf\"} 3",
            "recur_request_duration_seconds_count 3",
            "recur_infer_batch_items_bucket{le=\"2\"} 0",
            "recur_infer_batch_items_bucket{le=\"4\"} 1",
            "recur_infer_batch_items_sum 3",
            "recur_model_batch_items_bucket{le=\"4\"} 0",
            "recur_model_batch_items_bucket{le=\"8\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "no line `{line}` in\n{text}");
        }
    }
}
