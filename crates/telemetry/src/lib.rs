//! `identity-telemetry`: the observability both binaries share.
//!
//! * [`install_recorder`] installs the process-wide Prometheus recorder of the `metrics` facade
//!   (once; later calls return the same handle, so several servers in one test process share it).
//! * [`serve_admin`] serves `GET /metrics` (Prometheus text format) on its own listener, apart
//!   from the API ports.
//! * [`request_id`] accepts a caller's `x-request-id` when it is sane or makes a new one.
//! * [`init_logging`] installs the text or JSON log subscriber.
//!
//! Metric names (all label values come from closed sets, never from raw paths or user input):
//!
//! | name | type | labels |
//! |---|---|---|
//! | `identity_grpc_requests_total` | counter | `service`, `method`, `code` |
//! | `identity_grpc_request_duration_seconds` | histogram | `service`, `method` |
//! | `identity_http_requests_total` | counter | `route`, `method`, `status` |
//! | `identity_http_request_duration_seconds` | histogram | `route`, `method` |
//! | `identity_login_failures_total` | counter | `reason` |
//! | `identity_auth_failures_total` | counter | `credential` |
//! | `identity_cache_hits_total` | counter | `layer` (`local`, `negative`, `redis`) |
//! | `identity_cache_misses_total` | counter | – (in-process misses) |
//! | `identity_cache_db_lookups_total` | counter | `entity` (`api_key`, `user`, `membership`) |
//! | `identity_redis_errors_total` | counter | – |
//! | `identity_redis_skipped_total` | counter | – (circuit breaker open) |
//! | `identity_cache_invalidations_received_total` | counter | – |
//! | `identity_db_errors_total` | counter | `kind` (`unavailable`, `internal`) |

use std::{future::Future, sync::OnceLock, time::Duration};

use axum::{Router, http::header, response::IntoResponse, routing::get};
use http::HeaderValue;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The header (HTTP) and metadata key (gRPC) that carries a request id.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Longest request id accepted from a caller; longer ones are replaced.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Per-RPC counter.
pub const GRPC_REQUESTS: &str = "identity_grpc_requests_total";
/// Per-RPC latency histogram.
pub const GRPC_DURATION: &str = "identity_grpc_request_duration_seconds";
/// Per-route gateway counter.
pub const HTTP_REQUESTS: &str = "identity_http_requests_total";
/// Per-route gateway latency histogram.
pub const HTTP_DURATION: &str = "identity_http_request_duration_seconds";
/// Failed password logins, by reason.
pub const LOGIN_FAILURES: &str = "identity_login_failures_total";
/// Refused credentials (session tokens and API keys), by kind.
pub const AUTH_FAILURES: &str = "identity_auth_failures_total";

/// Latency buckets in seconds: 0.5 ms to 10 s.
const LATENCY_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// How often histogram samples are folded in when nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Install the Prometheus recorder as the process's `metrics` recorder, once.
///
/// Returns `None` when another recorder was installed first (metrics then go there, and this
/// process's `/metrics` answers 503).
pub fn install_recorder() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = match PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &LATENCY_BUCKETS)
            {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!(error = %e, "metrics: bad bucket configuration");
                    return None;
                }
            };
            match builder.install_recorder() {
                Ok(handle) => {
                    describe();
                    // A plain thread: test processes start and stop many runtimes.
                    let upkeep = handle.clone();
                    let spawned = std::thread::Builder::new()
                        .name("metrics-upkeep".to_owned())
                        .spawn(move || {
                            loop {
                                std::thread::sleep(UPKEEP_INTERVAL);
                                upkeep.run_upkeep();
                            }
                        });
                    if let Err(e) = spawned {
                        tracing::warn!(error = %e, "metrics: no upkeep thread; scrapes do it");
                    }
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: a recorder is already installed");
                    None
                }
            }
        })
        .as_ref()
}

fn describe() {
    use metrics::{describe_counter, describe_histogram};
    describe_counter!(
        GRPC_REQUESTS,
        "gRPC requests by service, method and status code"
    );
    describe_histogram!(
        GRPC_DURATION,
        metrics::Unit::Seconds,
        "gRPC request latency by service and method"
    );
    describe_counter!(
        HTTP_REQUESTS,
        "gateway requests by route, method and HTTP status"
    );
    describe_histogram!(
        HTTP_DURATION,
        metrics::Unit::Seconds,
        "gateway request latency by route and method"
    );
    describe_counter!(LOGIN_FAILURES, "failed password logins by reason");
    describe_counter!(AUTH_FAILURES, "refused credentials by kind");
    describe_counter!(
        "identity_cache_hits_total",
        "key/user lookups answered by a cache layer"
    );
    describe_counter!(
        "identity_cache_misses_total",
        "lookups the in-process cache could not answer"
    );
    describe_counter!(
        "identity_cache_db_lookups_total",
        "cached lookups that reached the database"
    );
    describe_counter!(
        "identity_redis_errors_total",
        "Redis commands that failed or timed out"
    );
    describe_counter!(
        "identity_redis_skipped_total",
        "Redis commands skipped while the circuit breaker was open"
    );
    describe_counter!(
        "identity_cache_invalidations_received_total",
        "cache invalidation messages received over Redis pub/sub"
    );
    describe_counter!(
        "identity_db_errors_total",
        "database failures (unavailable or unexpected)"
    );
}

/// The admin router: `GET /metrics` in the Prometheus text format.
pub fn admin_router() -> Router {
    Router::new().route("/metrics", get(metrics_handler))
}

async fn metrics_handler() -> axum::response::Response {
    match install_recorder() {
        Some(handle) => {
            handle.run_upkeep();
            (
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                )],
                handle.render(),
            )
                .into_response()
        }
        None => (
            http::StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder not installed\n",
        )
            .into_response(),
    }
}

/// Install the recorder and serve the admin router on `listener` until `shutdown` completes.
pub async fn serve_admin(
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    install_recorder();
    axum::serve(listener, admin_router())
        .with_graceful_shutdown(shutdown)
        .await
}

/// Whether a caller's request id may be used as is: 1 to [`MAX_REQUEST_ID_LEN`] visible ASCII
/// characters (no spaces or control characters, so it cannot forge log lines).
pub fn is_sane_request_id(value: &[u8]) -> bool {
    !value.is_empty() && value.len() <= MAX_REQUEST_ID_LEN && value.iter().all(u8::is_ascii_graphic)
}

/// The caller's request id if it is sane, otherwise a new UUID v4.
pub fn request_id(incoming: Option<&HeaderValue>) -> String {
    match incoming {
        Some(v) if is_sane_request_id(v.as_bytes()) => {
            // Visible ASCII is valid UTF-8.
            String::from_utf8_lossy(v.as_bytes()).into_owned()
        }
        _ => new_request_id(),
    }
}

/// A fresh UUID v4 from the thread-local generator (no system call per request).
pub fn new_request_id() -> String {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes[..]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// Install the global log subscriber: `RUST_LOG` or `default_filter`, text or JSON lines
/// (`format` is "json" or anything else for text). JSON lines carry the fields of the current
/// span and of every enclosing span (`span`, `spans`), e.g. `request_id`.
pub fn init_logging(format: &str, default_filter: &str) {
    init_logging_to(format, default_filter, false);
}

/// Like [`init_logging`], on standard error when `stderr` (for commands whose results go to
/// standard output).
pub fn init_logging_to(format: &str, default_filter: &str, stderr: bool) {
    use tracing_subscriber::{EnvFilter, fmt, fmt::writer::BoxMakeWriter};
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let (writer, terminal) = if stderr {
        (
            BoxMakeWriter::new(std::io::stderr),
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
        )
    } else {
        (
            BoxMakeWriter::new(std::io::stdout),
            std::io::IsTerminal::is_terminal(&std::io::stdout()),
        )
    };
    let builder = fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(writer);
    let result = if format == "json" {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init()
    } else {
        builder.with_ansi(terminal).try_init()
    };
    if let Err(e) = result {
        eprintln!("logging already initialised: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_accepted_only_when_sane() {
        let ok = HeaderValue::from_static("abc-123_XYZ.~");
        assert_eq!(request_id(Some(&ok)), "abc-123_XYZ.~");
        let long = HeaderValue::from_str(&"a".repeat(MAX_REQUEST_ID_LEN + 1)).ok();
        let spaced = HeaderValue::from_static("a b");
        let empty = HeaderValue::from_static("");
        for bad in [long.as_ref(), Some(&spaced), Some(&empty), None] {
            let id = request_id(bad);
            assert!(uuid::Uuid::parse_str(&id).is_ok(), "{bad:?} → {id}");
        }
        let fresh = new_request_id();
        assert_eq!(
            uuid::Uuid::parse_str(&fresh)
                .map(|u| u.get_version_num())
                .ok(),
            Some(4)
        );
        assert_ne!(fresh, new_request_id());
        let max = "a".repeat(MAX_REQUEST_ID_LEN);
        assert!(is_sane_request_id(max.as_bytes()));
        assert!(!is_sane_request_id(b"tab\there"));
        assert!(!is_sane_request_id("é".as_bytes()));
    }
}
