//! `identity-gateway`: serves the REST dialects and calls the identity server over gRPC.
//!
//! Environment: `IDENTITY_HTTP_ADDR` (default 127.0.0.1:8080), `IDENTITY_UPSTREAM` (gRPC URL,
//! default http://127.0.0.1:50051), `IDENTITY_GATEWAY_DEADLINE_MS`, `IDENTITY_GATEWAY_BODY_LIMIT`,
//! `RUST_LOG`. Starts even when the server is not up yet; stops on SIGTERM or SIGINT.

use std::{io::IsTerminal as _, net::SocketAddr, time::Duration};

use anyhow::Context as _;
use identity_gateway::{
    DEFAULT_HTTP_ADDR, DEFAULT_UPSTREAM, GatewayConfig, router, serve, shutdown_signal,
};
use tonic::transport::Endpoint;

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn env_parse<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name).ok().filter(|v| !v.is_empty()) {
        Some(v) => v.parse().map_err(|e| anyhow::anyhow!("{name}: {e}")),
        None => Ok(default),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        // Colours only on a terminal; logs redirected to files stay plain.
        .with_ansi(std::io::stdout().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();

    let addr: SocketAddr = env_or("IDENTITY_HTTP_ADDR", DEFAULT_HTTP_ADDR)
        .parse()
        .context("IDENTITY_HTTP_ADDR")?;
    let upstream = env_or("IDENTITY_UPSTREAM", DEFAULT_UPSTREAM);
    let defaults = GatewayConfig::default();
    let deadline_ms = u64::try_from(defaults.upstream_deadline.as_millis()).unwrap_or(u64::MAX);
    let config = GatewayConfig {
        upstream_deadline: Duration::from_millis(
            env_parse("IDENTITY_GATEWAY_DEADLINE_MS", deadline_ms)?.max(1),
        ),
        body_limit: env_parse("IDENTITY_GATEWAY_BODY_LIMIT", defaults.body_limit)?,
    };

    // Lazy: the gateway starts (and answers 503) before the server is reachable.
    let channel = Endpoint::from_shared(upstream.clone())
        .context("IDENTITY_UPSTREAM")?
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
        .connect_lazy();
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    tracing::info!(addr = %listener.local_addr()?, upstream = %upstream, "identity-gateway listening");
    serve(listener, router(channel, config), shutdown_signal()).await?;
    tracing::info!("identity-gateway stopped");
    Ok(())
}
