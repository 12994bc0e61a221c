//! The gateway's own probes and request ids, over real HTTP against a real server:
//! `/healthz` is 200 while the gateway serves; `/readyz` follows the server's `readiness` health
//! status (503 when the upstream is unreachable or its database is cut); `x-request-id` is echoed
//! when sane and generated otherwise.

use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use axum::body::Body;
use http_body_util::BodyExt as _;
use identity_gateway::GatewayConfig;
use identity_testkit::{
    Backend, postgres_server_addr, replace_database_addr, spawn_app, spawn_app_with,
    start_tcp_proxy,
};
use reqwest::Client;
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

mod common;

use common::closed_router;

/// How long readiness may take to follow the database (checked every 200 ms in tests).
const FOLLOW_DEADLINE: Duration = Duration::from_secs(15);

async fn get(client: &Client, url: &str) -> Result<(u16, Value)> {
    let resp = client.get(url).send().await.context(url.to_owned())?;
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.context("JSON body")?;
    Ok((status, body))
}

/// Poll `url` until it answers `want`, within [`FOLLOW_DEADLINE`].
async fn wait_status(client: &Client, url: &str, want: u16) -> Result<Value> {
    let start = tokio::time::Instant::now();
    loop {
        let (status, body) = get(client, url).await?;
        if status == want {
            return Ok(body);
        }
        ensure!(
            start.elapsed() < FOLLOW_DEADLINE,
            "{url} still {status} ({body}) after {FOLLOW_DEADLINE:?}, wanted {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_answer_with_the_server_up() -> Result<()> {
    let app = spawn_app(Backend::Sqlite).await;
    let base = format!("http://{}", app.http_addr.context("gateway enabled")?);
    let client = Client::new();
    let (status, body) = get(&client, &format!("{base}/healthz")).await?;
    ensure!(
        status == 200 && body == json!({"status": "ok"}),
        "{status} {body}"
    );
    let body = wait_status(&client, &format!("{base}/readyz"), 200).await?;
    ensure!(body == json!({"status": "ready"}), "{body}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_echoed_when_sane_and_generated_otherwise() -> Result<()> {
    let app = spawn_app(Backend::Sqlite).await;
    let url = format!(
        "http://{}/api/users/admin/check",
        app.http_addr.context("gateway enabled")?
    );
    let client = Client::new();
    let id_of = |resp: &reqwest::Response| {
        resp.headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let mine = "gw-test-0123456789";
    let resp = client.get(&url).header("x-request-id", mine).send().await?;
    ensure!(
        id_of(&resp).as_deref() == Some(mine),
        "{:?}",
        resp.headers()
    );
    // Errors (here Portainer's 404: no administrator yet) carry it too.
    ensure!(resp.status().as_u16() == 404, "{}", resp.status());

    for bad in ["y".repeat(129), "two words".to_owned()] {
        let resp = client.get(&url).header("x-request-id", &bad).send().await?;
        let got = id_of(&resp).context("an id is always returned")?;
        ensure!(got != bad, "an insane id was kept: {got:?}");
        ensure!(uuid::Uuid::parse_str(&got).is_ok(), "{got:?} is not a UUID");
    }
    let a = id_of(&client.get(&url).send().await?).context("generated id")?;
    let b = id_of(&client.get(&url).send().await?).context("generated id")?;
    ensure!(a != b && uuid::Uuid::parse_str(&a).is_ok(), "{a:?} {b:?}");
    Ok(())
}

/// A router whose upstream is a port nobody listens on: alive, not ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_when_the_upstream_is_unreachable() -> Result<()> {
    let app = closed_router(GatewayConfig::default())?;
    let call = |path: &'static str| {
        let app = app.clone();
        async move {
            let req = http::Request::get(path).body(Body::empty())?;
            let started = tokio::time::Instant::now();
            let resp = app.oneshot(req).await?;
            let status = resp.status().as_u16();
            let bytes = resp.into_body().collect().await?.to_bytes();
            let body: Value = serde_json::from_slice(&bytes)?;
            anyhow::Ok((status, body, started.elapsed()))
        }
    };
    let (status, body, _) = call("/healthz").await?;
    ensure!(status == 200 && body["status"] == "ok", "{status} {body}");
    let (status, body, took) = call("/readyz").await?;
    ensure!(
        status == 503 && body["status"] == "not ready",
        "{status} {body}"
    );
    ensure!(took < Duration::from_secs(5), "readyz took {took:?}");
    Ok(())
}

/// Cutting the server's database (through a proxy) makes `/readyz` 503 while `/healthz` stays
/// 200; the failed database pings are counted on `/metrics`; restoring it makes it ready again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_follows_the_servers_database() -> Result<()> {
    let pg = postgres_server_addr().await?;
    let (proxy_addr, proxy) = start_tcp_proxy(pg).await;
    let app = spawn_app_with(Backend::Postgres, |s| {
        s.database_url = replace_database_addr(s.database_url.expose_secret(), proxy_addr).into();
    })
    .await;
    let base = format!("http://{}", app.http_addr.context("gateway enabled")?);
    let metrics = format!(
        "http://{}/metrics",
        app.admin_addr.context("admin enabled")?
    );
    let client = Client::new();
    let db_errors = |text: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with("identity_db_errors_total{kind=\"unavailable\"}"))
            .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
            .sum()
    };
    wait_status(&client, &format!("{base}/readyz"), 200).await?;
    let before = db_errors(&client.get(&metrics).send().await?.text().await?);

    proxy.cut();
    let body = wait_status(&client, &format!("{base}/readyz"), 503).await?;
    ensure!(body["status"] == "not ready", "{body}");
    let (status, _) = get(&client, &format!("{base}/healthz")).await?;
    ensure!(
        status == 200,
        "liveness does not follow the database: {status}"
    );
    let after = db_errors(&client.get(&metrics).send().await?.text().await?);
    ensure!(
        after > before,
        "identity_db_errors_total{{kind=\"unavailable\"}} did not move ({before} → {after})"
    );

    proxy.restore();
    wait_status(&client, &format!("{base}/readyz"), 200).await?;
    Ok(())
}
