//! The observing layer of the gRPC server: a request id, a tracing span, per-RPC metrics and a
//! completion log line for every request.
//!
//! The request id comes from the caller's `x-request-id` metadata when it is sane (see
//! [`identity_telemetry::request_id`]) or is generated; it is returned in the response metadata
//! and is a field of the `grpc` span that encloses every log line of the request.
//!
//! Metric labels are bounded: `service` and `method` come from the set of RPCs this server
//! serves (read from the descriptor sets); any other path is counted as `unknown`/`unknown`. The
//! status code is read from `grpc-status` in the response headers (trailers-only responses, i.e.
//! errors) or in the trailers; a request dropped before it finished (deadline, client gone)
//! counts as `CANCELLED`.

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{Arc, LazyLock, OnceLock},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use futures::future::BoxFuture;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::{Frame, SizeHint};
use identity_telemetry::{GRPC_DURATION, GRPC_REQUESTS, REQUEST_ID_HEADER};
use metrics::{Counter, Histogram};
use prost::Message as _;
use tonic::Code;
use tower::{Layer, Service};
use tracing::{Instrument as _, Span};

/// Number of gRPC status codes (0 OK … 16 UNAUTHENTICATED).
const CODES: usize = 17;

/// The labels and metric handles of one RPC. Handles are registered on first use (so that only
/// series that happened are exported) and then reused, sparing a registry lookup per request.
/// The recorder is installed before the server serves (see `Application::build`).
pub(crate) struct RpcMetrics {
    service: Arc<str>,
    method: Arc<str>,
    duration: OnceLock<Histogram>,
    counts: [OnceLock<Counter>; CODES],
}

impl RpcMetrics {
    fn new(service: Arc<str>, method: Arc<str>) -> Self {
        Self {
            service,
            method,
            duration: OnceLock::new(),
            counts: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    fn record(&self, code: Code, elapsed: Duration) {
        let name = code_name(code);
        if let Some(slot) = self.counts.get(code as usize) {
            slot.get_or_init(|| {
                metrics::counter!(
                    GRPC_REQUESTS,
                    "service" => self.service.clone(),
                    "method" => self.method.clone(),
                    "code" => name,
                )
            })
            .increment(1);
        }
        self.duration
            .get_or_init(|| {
                metrics::histogram!(
                    GRPC_DURATION,
                    "service" => self.service.clone(),
                    "method" => self.method.clone(),
                )
            })
            .record(elapsed.as_secs_f64());
    }
}

/// Every RPC served, keyed by path (`/package.Service/Method`).
static KNOWN_RPCS: LazyLock<HashMap<String, Arc<RpcMetrics>>> = LazyLock::new(|| {
    let mut map = HashMap::new();
    for set in [
        identity_api::FILE_DESCRIPTOR_SET,
        tonic_health::pb::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
        tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
    ] {
        let Ok(fds) = prost_types::FileDescriptorSet::decode(set) else {
            continue;
        };
        for file in fds.file {
            let package = file.package.unwrap_or_default();
            for service in file.service {
                let name = service.name.unwrap_or_default();
                let full: Arc<str> = if package.is_empty() {
                    name.into()
                } else {
                    format!("{package}.{name}").into()
                };
                for method in service.method {
                    let m: Arc<str> = method.name.unwrap_or_default().into();
                    let path = format!("/{full}/{m}");
                    map.insert(path, Arc::new(RpcMetrics::new(full.clone(), m)));
                }
            }
        }
    }
    map
});

static UNKNOWN: LazyLock<Arc<RpcMetrics>> =
    LazyLock::new(|| Arc::new(RpcMetrics::new("unknown".into(), "unknown".into())));

/// The bounded labels (and metric handles) of a request path.
fn rpc_metrics(path: &str) -> Arc<RpcMetrics> {
    KNOWN_RPCS
        .get(path)
        .cloned()
        .unwrap_or_else(|| UNKNOWN.clone())
}

/// The canonical name of a gRPC code (`google.rpc.Code`), used as the `code` label.
pub(crate) fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

fn grpc_status(headers: &HeaderMap) -> Option<Code> {
    headers
        .get("grpc-status")
        .map(|v| Code::from_bytes(v.as_bytes()))
}

/// Layer adding request ids, spans, metrics and completion logs to every request.
#[derive(Debug, Clone, Copy, Default)]
pub struct ObserveLayer;

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Observe { inner }
    }
}

/// The service made by [`ObserveLayer`].
#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
}

/// Records the outcome of one request exactly once: when the code is known, or as CANCELLED
/// when the request is dropped before.
struct Finish {
    rpc: Arc<RpcMetrics>,
    started: Instant,
    span: Span,
    quiet: bool,
    done: bool,
}

impl Finish {
    fn record(&mut self, code: Code) {
        if self.done {
            return;
        }
        self.done = true;
        let elapsed = self.started.elapsed();
        self.rpc.record(code, elapsed);
        let code = code_name(code);
        let latency_ms = elapsed.as_secs_f64() * 1000.0;
        // Inside the span, so that JSON lines list it in `spans` as well as `span`.
        self.span.in_scope(|| {
            if self.quiet {
                tracing::debug!(code, latency_ms, "rpc finished");
            } else {
                tracing::info!(code, latency_ms, "rpc finished");
            }
        });
    }
}

impl Drop for Finish {
    fn drop(&mut self) {
        self.record(Code::Cancelled);
    }
}

/// The response body, watched for the `grpc-status` trailer.
struct ObservedBody {
    inner: tonic::body::Body,
    finish: Finish,
}

type BodyData = <tonic::body::Body as http_body::Body>::Data;
type BodyError = <tonic::body::Body as http_body::Body>::Error;

impl http_body::Body for ObservedBody {
    type Data = BodyData;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(grpc_status) {
                    this.finish.record(code);
                }
            }
            Poll::Ready(Some(Err(_))) | Poll::Ready(None) => this.finish.record(Code::Unknown),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<S, B> Service<Request<B>> for Observe<S>
where
    S: Service<Request<B>, Response = Response<tonic::body::Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);

        let id = identity_telemetry::request_id(req.headers().get(REQUEST_ID_HEADER));
        let id_value = HeaderValue::from_str(&id).ok();
        if let Some(v) = &id_value {
            // Handlers (and anything they call) see the id that is logged.
            req.headers_mut().insert(REQUEST_ID_HEADER, v.clone());
        }
        let rpc = rpc_metrics(req.uri().path());
        let quiet = &*rpc.service == "grpc.health.v1.Health";
        let span = tracing::info_span!(
            "grpc",
            request_id = %id,
            service = %rpc.service,
            method = %rpc.method,
        );
        let mut finish = Finish {
            rpc,
            started: Instant::now(),
            span: span.clone(),
            quiet,
            done: false,
        };
        Box::pin(
            async move {
                match inner.call(req).await {
                    Ok(resp) => {
                        let (mut parts, body) = resp.into_parts();
                        if let Some(v) = id_value {
                            parts.headers.insert(REQUEST_ID_HEADER, v);
                        }
                        // Trailers-only response (an error): the code is in the headers.
                        if let Some(code) = grpc_status(&parts.headers) {
                            finish.record(code);
                            return Ok(Response::from_parts(parts, body));
                        }
                        let body = tonic::body::Body::new(ObservedBody {
                            inner: body,
                            finish,
                        });
                        Ok(Response::from_parts(parts, body))
                    }
                    Err(e) => {
                        finish.record(Code::Unknown);
                        Err(e)
                    }
                }
            }
            .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_served_rpcs_get_their_own_labels() {
        let labels = |path: &str| {
            let m = rpc_metrics(path);
            (m.service.to_string(), m.method.to_string())
        };
        let pair = |s: &str, m: &str| (s.to_owned(), m.to_owned());
        assert_eq!(
            labels("/identity.v1.AuthService/Login"),
            pair("identity.v1.AuthService", "Login")
        );
        assert_eq!(
            labels("/grpc.health.v1.Health/Check"),
            pair("grpc.health.v1.Health", "Check")
        );
        assert_eq!(
            labels("/identity.v1.AuthService/NoSuchMethod-12345"),
            pair("unknown", "unknown")
        );
        assert_eq!(code_name(Code::from_bytes(b"16")), "UNAUTHENTICATED");
        assert_eq!(Code::Unauthenticated as usize, CODES - 1);
    }
}
