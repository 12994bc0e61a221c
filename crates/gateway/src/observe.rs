//! Request ids, spans, per-route metrics, and the gateway's own probes.
//!
//! Every request gets an id: the client's `x-request-id` when it is sane, otherwise a new UUID v4.
//! The id is echoed on the response, sent upstream as gRPC metadata `x-request-id` (through a
//! task-local read by the upstream clients), and is a field of the `http` span around every log
//! line of the request. Metrics are labelled with the route pattern (axum's [`MatchedPath`],
//! e.g. `/api/users/{id}`), never the raw path, so ids in paths do not multiply series.
//!
//! `/healthz` answers 200 while the process serves; `/readyz` asks the upstream's gRPC health
//! service for the `readiness` service (with a short deadline) and answers 200 only when it is
//! SERVING.

use std::time::{Duration, Instant};

use axum::{
    Json, Router,
    extract::{MatchedPath, Request, State},
    http::{HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use identity_telemetry::{HTTP_DURATION, HTTP_REQUESTS, REQUEST_ID_HEADER};
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tracing::Instrument as _;

use crate::AppState;

/// The gRPC health service name whose status `/readyz` reports.
pub const READINESS_SERVICE: &str = "readiness";
/// Longest time `/readyz` waits for the upstream's answer.
pub const READINESS_DEADLINE: Duration = Duration::from_secs(2);
/// Route label of requests no route matched.
const UNMATCHED: &str = "unmatched";

tokio::task_local! {
    static REQUEST_ID: AsciiMetadataValue;
}

/// The request id of the request being served, as gRPC metadata (none outside a request).
pub(crate) fn current_request_id() -> Option<AsciiMetadataValue> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// A bounded label for the HTTP method.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The middleware: request id, span, metrics and a completion log line.
pub(crate) async fn observe(mut req: Request, next: Next) -> Response {
    let id = identity_telemetry::request_id(req.headers().get(REQUEST_ID_HEADER));
    // A sane id or a UUID: visible ASCII, so both conversions succeed.
    let header = HeaderValue::from_str(&id).ok();
    let metadata = MetadataValue::try_from(id.as_str()).ok();
    if let Some(h) = &header {
        req.headers_mut().insert(REQUEST_ID_HEADER, h.clone());
    }
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |p| p.as_str().to_owned());
    let method = method_label(req.method());
    let quiet = route == "/healthz" || route == "/readyz";
    // The path only, never the query string: Portainer accepts credentials there.
    let span = tracing::info_span!(
        "http",
        request_id = %id,
        method,
        route = %route,
        path = %req.uri().path(),
    );
    let started = Instant::now();
    let fut = next.run(req).instrument(span.clone());
    let mut resp = match metadata {
        Some(m) => REQUEST_ID.scope(m, fut).await,
        None => fut.await,
    };
    let elapsed = started.elapsed();
    let status = resp.status().as_u16();
    metrics::counter!(
        HTTP_REQUESTS,
        "route" => route.clone(),
        "method" => method,
        "status" => status.to_string(),
    )
    .increment(1);
    metrics::histogram!(HTTP_DURATION, "route" => route, "method" => method)
        .record(elapsed.as_secs_f64());
    let latency_ms = elapsed.as_secs_f64() * 1000.0;
    span.in_scope(|| {
        if quiet {
            tracing::debug!(status, latency_ms, "request finished");
        } else {
            tracing::info!(status, latency_ms, "request finished");
        }
    });
    if let Some(h) = header {
        resp.headers_mut().insert(REQUEST_ID_HEADER, h);
    }
    resp
}

/// `/healthz` and `/readyz`.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

async fn healthz() -> Response {
    Json(serde_json::json!({ "status": "ok" })).into_response()
}

async fn readyz(State(state): State<AppState>) -> Response {
    let deadline = state.config.upstream_deadline.min(READINESS_DEADLINE);
    match state.upstream.readiness(READINESS_SERVICE, deadline).await {
        Ok(()) => Json(serde_json::json!({ "status": "ready" })).into_response(),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({ "status": "not ready", "reason": why })),
        )
            .into_response(),
    }
}
