//! `identity-gateway`: serves the REST dialects and calls the identity server over gRPC.
//!
//! Environment: `IDENTITY_HTTP_ADDR` (default 127.0.0.1:8080), `IDENTITY_UPSTREAM` (gRPC URL,
//! default http://127.0.0.1:50051), `IDENTITY_GATEWAY_DEADLINE_MS`, `IDENTITY_GATEWAY_BODY_LIMIT`,
//! `IDENTITY_ADMIN_ADDR` (`GET /metrics`; default 127.0.0.1:9091, `off` disables it),
//! `IDENTITY_HTTP_HEADER_READ_TIMEOUT_MS`, `IDENTITY_HTTP_IDLE_TIMEOUT_MS`,
//! `IDENTITY_HTTP_MAX_CONNECTIONS` (the listener's limits, see [`ServeConfig`]),
//! `IDENTITY_TLS_CERT_FILE` / `IDENTITY_TLS_KEY_FILE` / `IDENTITY_TLS_RELOAD_SECS` (HTTPS),
//! `IDENTITY_LOG_FORMAT` (`text` or `json`), `RUST_LOG`. Starts even when the server is not up
//! yet; stops on SIGTERM or SIGINT.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context as _;
use identity_gateway::{
    DEFAULT_HTTP_ADDR, DEFAULT_UPSTREAM, GatewayConfig, ServeConfig, router, serve_with_tls,
    shutdown_signal,
};
use tokio::sync::watch;
use tonic::transport::Endpoint;

/// Default admin listen address of the standalone binary (next to a server's 9090).
const DEFAULT_ADMIN_ADDR: &str = "127.0.0.1:9091";

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
    let log_format = env_or("IDENTITY_LOG_FORMAT", "text");
    if !matches!(log_format.as_str(), "text" | "json") {
        anyhow::bail!("IDENTITY_LOG_FORMAT must be \"text\" or \"json\"");
    }
    // Colours only on a terminal; logs redirected to files stay plain.
    identity_telemetry::init_logging(&log_format, "info,h2=warn,tower=warn");

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

    let limits = ServeConfig::default();
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    let limits = ServeConfig {
        header_read_timeout: Duration::from_millis(
            env_parse(
                "IDENTITY_HTTP_HEADER_READ_TIMEOUT_MS",
                ms(limits.header_read_timeout),
            )?
            .max(1),
        ),
        idle_timeout: Duration::from_millis(
            env_parse("IDENTITY_HTTP_IDLE_TIMEOUT_MS", ms(limits.idle_timeout))?.max(1),
        ),
        max_connections: env_parse("IDENTITY_HTTP_MAX_CONNECTIONS", limits.max_connections)?.max(1),
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
    let admin_addr = env_or("IDENTITY_ADMIN_ADDR", DEFAULT_ADMIN_ADDR);
    let admin = if matches!(
        admin_addr.to_ascii_lowercase().as_str(),
        "off" | "none" | "disabled"
    ) {
        None
    } else {
        let admin_addr: SocketAddr = admin_addr.parse().context("IDENTITY_ADMIN_ADDR")?;
        identity_telemetry::install_recorder();
        Some(
            tokio::net::TcpListener::bind(admin_addr)
                .await
                .with_context(|| format!("binding the admin listener on {admin_addr}"))?,
        )
    };

    // One shutdown signal for the API and the admin listener.
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = tx.send(true);
    });
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|v| *v).await;
    };
    let admin = match admin {
        Some(l) => {
            tracing::info!(admin = %l.local_addr()?, "admin listening (GET /metrics)");
            Some(tokio::spawn(identity_telemetry::serve_admin(
                l,
                stopped(rx.clone()),
            )))
        }
        None => None,
    };
    // TLS like the server's listeners: both files or neither, reloaded when they change.
    let tls = match (
        std::env::var_os("IDENTITY_TLS_CERT_FILE").filter(|v| !v.is_empty()),
        std::env::var_os("IDENTITY_TLS_KEY_FILE").filter(|v| !v.is_empty()),
    ) {
        (Some(cert), Some(key)) => Some(
            identity_tls::ReloadingTls::start(
                identity_tls::TlsFiles {
                    cert: cert.into(),
                    key: key.into(),
                },
                Duration::from_secs(env_parse("IDENTITY_TLS_RELOAD_SECS", 10_u64)?.clamp(1, 3600)),
                rx.clone(),
            )
            .context("loading the TLS certificate")?,
        ),
        (None, None) => None,
        _ => anyhow::bail!("IDENTITY_TLS_CERT_FILE and IDENTITY_TLS_KEY_FILE go together"),
    };
    tracing::info!(addr = %listener.local_addr()?, upstream = %upstream, tls = tls.is_some(), "identity-gateway listening");
    serve_with_tls(
        listener,
        router(channel, config),
        limits,
        tls.map(|t| t.acceptor()),
        stopped(rx),
    )
    .await?;
    if let Some(admin) = admin {
        admin.abort();
    }
    tracing::info!("identity-gateway stopped");
    Ok(())
}
