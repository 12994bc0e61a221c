//! `identity-gateway`: the REST edge of the identity service.
//!
//! One HTTP listener serves every product dialect on its native paths (Portainer `/api/users…` and
//! `/api/auth` today). Dispatch is by path only; each dialect parses its own credential headers,
//! builds its own JSON shapes and error envelopes, and turns every call into `identity.v1` gRPC
//! calls through the generated client.
//!
//! The gateway has no privilege of its own: it forwards the caller's credential as gRPC metadata
//! (`authorization: Bearer …` or `x-api-key`) and the server decides what the caller may do.
//! It depends only on the wire contract (`identity-api`), so it can run in the server process
//! ([`router`] + [`serve`]) or as its own binary (`identity-gateway`).

use std::{future::Future, time::Duration};

use axum::Router;
use tonic::transport::Channel;

mod body;
mod credential;
pub mod dialects;
mod idempotency;
pub mod observe;
pub mod openapi;
mod serve;
pub mod standard;
pub mod status;
mod upstream;

pub use serve::{ServeConfig, serve_with, serve_with_tls};
use upstream::Upstream;

/// Default HTTP listen address of the standalone binary (`IDENTITY_HTTP_ADDR`).
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";
/// Default gRPC upstream of the standalone binary (`IDENTITY_UPSTREAM`).
pub const DEFAULT_UPSTREAM: &str = "http://127.0.0.1:50051";

/// Settings of the gateway router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayConfig {
    /// Deadline of every upstream gRPC call (sent as `grpc-timeout` and enforced locally).
    pub upstream_deadline: Duration,
    /// Largest request body accepted, in bytes; larger bodies get the dialect's 413.
    pub body_limit: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            upstream_deadline: Duration::from_secs(10),
            body_limit: 64 * 1024,
        }
    }
}

/// Shared state of every dialect's handlers.
#[derive(Debug, Clone)]
pub(crate) struct AppState {
    pub(crate) upstream: Upstream,
    pub(crate) config: GatewayConfig,
}

/// How the gateway reaches the identity server: any gRPC transport (an HTTP/2 [`Channel`], or the
/// server's own services called in process when the gateway is embedded).
pub type Transport = tower::util::BoxCloneSyncService<
    http::Request<tonic::body::Body>,
    http::Response<tonic::body::Body>,
    TransportError,
>;

/// A failure of the [`Transport`] itself (not a gRPC status): its cause stays reachable through
/// [`std::error::Error::source`], where tonic looks for it to pick the status code.
#[derive(Debug)]
pub struct TransportError(tower::BoxError);

impl TransportError {
    /// Wrap any error.
    pub fn new(e: impl Into<tower::BoxError>) -> Self {
        Self(e.into())
    }
}

impl std::fmt::Display for TransportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.0.as_ref())
    }
}

/// The address of the gateway's HTTP client (its socket peer), attached to the Login request's
/// extensions. An in-process [`Transport`] (the embedded gateway) hands it to the server as the
/// call's peer; over a network channel extensions do not travel, and the server sees the same
/// address only as `x-forwarded-for`, which it believes only from configured trusted proxies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub std::net::IpAddr);

/// A [`Transport`] over an HTTP/2 channel.
pub fn channel_transport(channel: Channel) -> Transport {
    use tower::ServiceExt as _;
    Transport::new(channel.map_err(TransportError::new))
}

/// The gateway: every dialect's routes on one router, calling the identity server over `channel`.
///
/// Build the channel with `Endpoint::connect_lazy()` so that the gateway starts before the server
/// is up; until it is, every route answers 503 in its dialect's envelope.
pub fn router(channel: Channel, config: GatewayConfig) -> Router {
    router_over(channel_transport(channel), config)
}

/// The gateway over any [`Transport`].
pub fn router_over(transport: Transport, config: GatewayConfig) -> Router {
    let state = AppState {
        upstream: Upstream::new(transport, config.upstream_deadline),
        config,
    };
    Router::new()
        .merge(dialects::openai::routes())
        .merge(dialects::portainer::routes())
        .merge(dialects::trieve::routes())
        .merge(dialects::tyk::routes())
        .merge(openapi::routes())
        .merge(standard::routes())
        .merge(observe::routes())
        .fallback(dialects::not_found)
        .with_state(state)
        // Request id, span, per-route metrics (sees the matched route: applied after routing).
        .layer(axum::middleware::from_fn(observe::observe))
}

/// Serve `router` on `listener` with the default [`ServeConfig`] until `shutdown` completes,
/// then drain open connections (see [`serve_with`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, router, ServeConfig::default(), shutdown).await
}

/// Completes on SIGINT or (on Unix) SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
