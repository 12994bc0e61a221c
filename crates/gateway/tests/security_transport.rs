//! Transport-level attacks on the gateway's HTTP listener (slow request heads, idle
//! keep-alive connections, more connections than the cap) and the targeted lock-out of an
//! account through a REST dialect (Portainer `POST /api/auth`).
//!
//! Every connection goes to 127.0.0.1 (or another loopback address the client binds); every
//! limit is configured short, so each test takes a few seconds at most.

use std::{net::IpAddr, time::Duration};

use anyhow::{Context as _, Result, bail, ensure};
use identity_testkit::{Backend, TestApp, spawn_app_with};
use reqwest::{Client, StatusCode};
use serde_json::json;
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::TcpStream,
    time::{Instant, timeout},
};

#[macro_use]
mod common;

use common::gateway_url;

both!(
    targeted_lockout_through_portainer_does_not_refuse_the_correct_password,
    slow_header_connections_are_closed,
    idle_connections_are_closed,
    gateway_connection_cap_holds,
);

const REQUEST: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n";

/// A server on `backend` whose gateway has these limits.
async fn gateway_with(
    backend: Backend,
    header_ms: u64,
    idle_ms: u64,
    max_connections: usize,
) -> TestApp {
    spawn_app_with(backend, |s| {
        s.http_header_read_timeout_ms = header_ms;
        s.http_idle_timeout_ms = idle_ms;
        s.http_max_connections = max_connections;
    })
    .await
}

fn http_addr(app: &TestApp) -> Result<std::net::SocketAddr> {
    app.http_addr.context("no gateway")
}

/// Read one HTTP/1.1 response (head and `content-length` body); the status line.
async fn read_response(s: &mut TcpStream) -> Result<String> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).await?;
                ensure!(n > 0, "connection closed inside a body");
                buf.extend_from_slice(&chunk[..n]);
            }
            return Ok(head.lines().next().unwrap_or("").to_owned());
        }
        let n = s.read(&mut chunk).await?;
        ensure!(n > 0, "connection closed before a response");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Wait until the server closes `s` (EOF or a reset), at most `within`.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut chunk = [0u8; 256];
    timeout(within, async {
        loop {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// 60 connections that send a request head one byte every 50 ms are all closed soon after
/// the header-read timeout (400 ms here), while the gateway keeps answering others.
async fn slow_header_connections_are_closed(backend: Backend) -> Result<()> {
    let app = gateway_with(backend, 400, 10_000, 1024).await;
    let addr = http_addr(&app)?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..60 {
        let mut s = TcpStream::connect(addr).await?;
        tasks.push(tokio::spawn(async move {
            let (mut r, mut w) = s.split();
            let trickle = async {
                let head = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
                for b in head {
                    if w.write_all(&[*b]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                std::future::pending::<()>().await;
            };
            let mut chunk = [0u8; 256];
            let closed = async {
                loop {
                    match r.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
            };
            tokio::select! {
                () = trickle => false,
                () = closed => true,
                () = tokio::time::sleep(Duration::from_secs(3)) => false,
            }
        }));
    }
    // Meanwhile, a proper client is served.
    let r = Client::new()
        .get(format!("{}/healthz", gateway_url(&app)?))
        .send()
        .await?;
    ensure!(r.status() == StatusCode::OK, "healthz: {}", r.status());
    let mut closed = 0;
    for t in tasks {
        if t.await? {
            closed += 1;
        }
    }
    let took = started.elapsed();
    println!("SLOW-HEADER 60 trickling connections: {closed} closed by the server in {took:?}");
    ensure!(
        closed == 60,
        "only {closed} of 60 slow-header connections were closed"
    );
    ensure!(took < Duration::from_secs(3), "took {took:?}");
    Ok(())
}

/// A keep-alive connection with no request for the idle timeout (300 ms here) is closed; one
/// that never sends a request is closed after the header-read timeout.
async fn idle_connections_are_closed(backend: Backend) -> Result<()> {
    let app = gateway_with(backend, 600, 300, 1024).await;
    let addr = http_addr(&app)?;
    let mut kept = TcpStream::connect(addr).await?;
    kept.write_all(REQUEST).await?;
    let status = read_response(&mut kept).await?;
    ensure!(status.contains(" 200 "), "{status}");
    let idle_from = Instant::now();
    ensure!(
        closed_within(&mut kept, Duration::from_secs(2)).await,
        "an idle keep-alive connection was still open after 2 s"
    );
    let idle = idle_from.elapsed();
    ensure!(
        idle >= Duration::from_millis(250),
        "closed too early: {idle:?}"
    );
    let mut silent = TcpStream::connect(addr).await?;
    ensure!(
        closed_within(&mut silent, Duration::from_secs(2)).await,
        "a connection that sent nothing was still open after 2 s"
    );
    Ok(())
}

/// With a cap of 4 connections held open by keep-alive clients, a fifth waits (no answer)
/// while the four are still served; when one closes, the fifth is served.
async fn gateway_connection_cap_holds(backend: Backend) -> Result<()> {
    let app = gateway_with(backend, 5_000, 5_000, 4).await;
    let addr = http_addr(&app)?;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(REQUEST).await?;
        let status = read_response(&mut s).await?;
        ensure!(status.contains(" 200 "), "{status}");
        held.push(s);
    }
    // The fifth connects (the kernel's backlog) but is not served.
    let mut fifth = TcpStream::connect(addr).await?;
    fifth.write_all(REQUEST).await?;
    if let Ok(r) = timeout(Duration::from_millis(700), read_response(&mut fifth)).await {
        bail!("a connection over the cap was served: {r:?}");
    }
    // The held connections are still served.
    for s in &mut held {
        s.write_all(REQUEST).await?;
        let status = timeout(Duration::from_secs(2), read_response(s)).await??;
        ensure!(status.contains(" 200 "), "{status}");
    }
    // One closes: the fifth gets its slot and its answer.
    drop(held.pop());
    let status = timeout(Duration::from_secs(3), read_response(&mut fifth))
        .await
        .context("the waiting connection was not served after a slot freed")??;
    ensure!(status.contains(" 200 "), "{status}");
    Ok(())
}

/// A client of the gateway whose connections come from `local`.
fn client_from(local: [u8; 4]) -> Result<Client> {
    Ok(Client::builder()
        .local_address(IpAddr::from(local))
        .timeout(Duration::from_secs(30))
        .build()?)
}

/// Through Portainer's `/api/auth`: a guesser at one address (who also claims, in a header,
/// to be the owner's address) backs off only himself; the owner at another address logs in
/// every time.
async fn targeted_lockout_through_portainer_does_not_refuse_the_correct_password(
    backend: Backend,
) -> Result<()> {
    const PASSWORD: &str = "correct-horse-battery";
    let app = spawn_app_with(backend, |s| {
        s.login_backoff_threshold = 3;
        s.login_backoff_base_ms = 5_000;
        s.login_backoff_max_secs = 60;
    })
    .await;
    let admin = app.init_admin().await;
    app.create_user(&admin, "victim", PASSWORD).await;
    let url = format!("{}/api/auth", gateway_url(&app)?);
    let attacker = client_from([127, 0, 0, 2])?;
    let owner = client_from([127, 0, 0, 3])?;
    let attempt = |client: &Client, password: &str| {
        client
            .post(&url)
            .header("x-forwarded-for", "127.0.0.3")
            .json(&json!({"username": "victim", "password": password}))
            .send()
    };
    for _ in 0..3 {
        let r = attempt(&attacker, "wrong-password-123").await?;
        ensure!(
            r.status() == StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            r.status()
        );
    }
    for round in 0..4 {
        // The guesser is backed off (Portainer's ban), even with the right password.
        let password = if round == 0 {
            PASSWORD
        } else {
            "wrong-password-123"
        };
        let r = attempt(&attacker, password).await?;
        ensure!(
            r.status() == StatusCode::FORBIDDEN,
            "guesser: {}",
            r.status()
        );
        let r = attempt(&owner, PASSWORD).await?;
        ensure!(
            r.status() == StatusCode::OK,
            "round {round}: the owner was refused: {} {}",
            r.status(),
            r.text().await?
        );
    }
    Ok(())
}
