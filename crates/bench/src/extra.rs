//! Scenarios P4–P6 (logins), G1 (gateway) and P8 (scale), with a generic load driver.

use std::{
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use identity_api::pb::{self, auth_service_client::AuthServiceClient};
use identity_testkit::{TestApp, with_api_key_header};
use sea_orm::{ConnectOptions, ConnectionTrait as _, Database, DatabaseConnection, Statement};
use tonic::transport::Channel;

use crate::Measured;

/// One request of a scenario: `true` when the answer was the expected one.
pub(crate) type Call = Arc<dyn Fn(u64) -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// Bounds of one measured run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    pub(crate) concurrency: usize,
    pub(crate) warmup: Duration,
    pub(crate) duration: Duration,
    pub(crate) max_requests: u64,
}

/// Run `call` from `w.concurrency` tasks for warm-up + duration (or until `max_requests`).
pub(crate) async fn load(w: Window, call: Call) -> anyhow::Result<Measured> {
    let start = Instant::now();
    let warm_end = start + w.warmup;
    let end = warm_end + w.duration;
    let tasks_n = w.concurrency.max(1);
    let per_task = (w.max_requests / tasks_n as u64).max(1);
    let mut tasks = Vec::with_capacity(tasks_n);
    for t in 0..tasks_n {
        let call = call.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let (mut n, mut unexpected) = (0u64, 0u64);
            for sent in 0..per_task {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                let good = call(sent * tasks_n as u64 + t as u64).await;
                if now >= warm_end {
                    n += 1;
                    if !good {
                        unexpected += 1;
                    }
                    let us = u64::try_from(now.elapsed().as_micros()).unwrap_or(u64::MAX);
                    hist.saturating_record(us.max(1));
                }
            }
            anyhow::Ok((hist, n, unexpected))
        }));
    }
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut n, mut unexpected) = (0u64, 0u64);
    for task in tasks {
        let (h, c, u) = task.await??;
        hist.add(h)?;
        n += c;
        unexpected += u;
    }
    let seconds = Instant::now()
        .min(end)
        .saturating_duration_since(warm_end)
        .as_secs_f64()
        .max(1e-9);
    Ok(Measured {
        requests: n,
        unexpected,
        seconds,
        rps: n as f64 / seconds,
        p50_us: hist.value_at_quantile(0.50),
        p99_us: hist.value_at_quantile(0.99),
        max_us: hist.max(),
    })
}

// --- logins ---

/// argon2id verifies per second on every core at once, with the server's parameters: the
/// ceiling of logins per second on this machine.
pub(crate) fn argon2_baseline(params: identity_core::password::Argon2Params, secs: f64) -> f64 {
    use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
    let Ok(p) = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        None,
    ) else {
        return 0.0;
    };
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, p);
    let Ok(phc) = argon
        .hash_password(b"bench-password-1234")
        .map(|h| h.to_string())
    else {
        return 0.0;
    };
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let threads: Vec<_> = (0..cores)
        .map(|_| {
            let argon = argon.clone();
            let phc = phc.clone();
            std::thread::spawn(move || {
                let Ok(parsed) = argon2::PasswordHash::new(&phc) else {
                    return 0u64;
                };
                let mut n = 0u64;
                while Instant::now() < deadline {
                    if argon
                        .verify_password(b"bench-password-1234", &parsed)
                        .is_ok()
                    {
                        n += 1;
                    }
                }
                n
            })
        })
        .collect();
    let total: u64 = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
    total as f64 / started.elapsed().as_secs_f64()
}

/// A login call for user `users[i % n]` with `password`; `expect_ok` tells the expected answer.
pub(crate) fn login_call(
    channel: Channel,
    users: Arc<Vec<String>>,
    password: &'static str,
    expect_ok: bool,
) -> Call {
    Arc::new(move |i| {
        let mut client = AuthServiceClient::new(channel.clone());
        let identifier = users[usize::try_from(i).unwrap_or(0) % users.len()].clone();
        Box::pin(async move {
            let r = client
                .login(pb::LoginRequest {
                    identifier,
                    password: password.to_owned(),
                })
                .await;
            match r {
                Ok(_) => expect_ok,
                Err(s) => !expect_ok && s.code() == tonic::Code::Unauthenticated,
            }
        })
    })
}

/// Median latencies (µs) of one refused login, sequentially, rotating the three kinds so that
/// drift hits them alike: unknown user, wrong password, and an account in backoff.
pub(crate) struct Parity {
    pub(crate) unknown_us: u64,
    pub(crate) wrong_us: u64,
    pub(crate) backed_off_us: u64,
    /// Answers that were not the expected refusal.
    pub(crate) surprises: u64,
}

pub(crate) async fn login_parity(
    channel: Channel,
    users: &[String],
    backed_off: &str,
    rounds: usize,
) -> anyhow::Result<Parity> {
    let mut client = AuthServiceClient::new(channel);
    let mut hists = [
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?,
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?,
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?,
    ];
    let mut surprises = 0u64;
    for r in 0..rounds {
        for (kind, hist) in hists.iter_mut().enumerate() {
            let identifier = match kind {
                0 => format!("nobody-{r}-{}", uuid::Uuid::new_v4().simple()),
                1 => users[r % users.len()].clone(),
                _ => backed_off.to_owned(),
            };
            let t = Instant::now();
            let answer = client
                .login(pb::LoginRequest {
                    identifier,
                    password: "not-the-password-0000".to_owned(),
                })
                .await;
            let us = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX);
            let expected = if kind == 2 {
                tonic::Code::ResourceExhausted
            } else {
                tonic::Code::Unauthenticated
            };
            if !matches!(&answer, Err(s) if s.code() == expected) {
                surprises += 1;
            }
            hist.saturating_record(us.max(1));
        }
    }
    Ok(Parity {
        unknown_us: hists[0].value_at_quantile(0.5),
        wrong_us: hists[1].value_at_quantile(0.5),
        backed_off_us: hists[2].value_at_quantile(0.5),
        surprises,
    })
}

/// Run logins from `concurrency` tasks until the returned flag is set.
pub(crate) fn login_flood(
    call: Call,
    concurrency: usize,
) -> (Arc<AtomicBool>, Vec<tokio::task::JoinHandle<u64>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let tasks = (0..concurrency)
        .map(|t| {
            let call = call.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    call(n * 64 + t as u64).await;
                    n += 1;
                }
                n
            })
        })
        .collect();
    (stop, tasks)
}

// --- gateway ---

/// A GET with a header, expecting 200.
pub(crate) fn http_get_call(
    client: reqwest::Client,
    url: String,
    header: Option<(&'static str, String)>,
) -> Call {
    Arc::new(move |_| {
        let mut req = client.get(&url);
        if let Some((name, value)) = &header {
            req = req.header(*name, value);
        }
        Box::pin(async move {
            match req.send().await {
                Ok(r) => r.status() == reqwest::StatusCode::OK && r.bytes().await.is_ok(),
                Err(_) => false,
            }
        })
    })
}

/// A bare axum server answering `GET /api/users/{id}` with `body` (the gateway's own answer).
pub(crate) async fn bare_axum(
    body: axum::body::Bytes,
) -> anyhow::Result<(SocketAddr, tokio::sync::oneshot::Sender<()>)> {
    use axum::{Router, http::header, routing::get};
    let router = Router::new().route(
        "/api/users/{id}",
        get(move || {
            let body = body.clone();
            async move { ([(header::CONTENT_TYPE, "application/json")], body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Ok((addr, tx))
}

// --- scale ---

/// Connect to the app's database.
pub(crate) async fn database_of(app: &TestApp) -> anyhow::Result<DatabaseConnection> {
    use secrecy::ExposeSecret as _;
    let mut options = ConnectOptions::new(app.settings.database_url.expose_secret().to_owned());
    options.max_connections(2).sqlx_logging(false);
    Ok(Database::connect(options).await?)
}

/// Insert `n` standard users (no password) and one key each (random digests), in bulk, on
/// Postgres. Nothing goes through argon2.
pub(crate) async fn seed(db: &DatabaseConnection, n: u64) -> anyhow::Result<()> {
    db.execute_unprepared(&format!(
        "INSERT INTO users (uid, username, username_key, email, email_key, display_name, \
         global_role, email_verified, password_hash, token_issued_at, preferences, created_at, \
         updated_at) \
         SELECT gen_random_uuid(), 'seed-' || i, 'seed-' || i, 'seed-' || i || '@example.com', \
         'seed-' || i || '@example.com', 'Seed ' || i, 'standard', false, NULL, now(), '{{}}', \
         now(), now() FROM generate_series(1, {n}) AS i"
    ))
    .await
    .context("seeding users")?;
    db.execute_unprepared(&format!(
        "INSERT INTO api_keys (uid, user_id, name, description, prefix, digest, role, scopes, \
         organization_id, dataset_ids, organization_ids, expires_at, last_used_at, revoked_at, \
         is_primary, created_at, updated_at) \
         SELECT gen_random_uuid(), u.id, 'seed', '', 'idk_seed', \
         decode(md5('a' || u.id) || md5('b' || u.id), 'hex'), 'inherit', '[]', NULL, '[]', \
         '[]', NULL, NULL, NULL, false, now(), now() \
         FROM users u WHERE u.username_key LIKE 'seed-%' ORDER BY u.id LIMIT {n}"
    ))
    .await
    .context("seeding keys")?;
    db.execute_unprepared("ANALYZE users; ANALYZE api_keys; ANALYZE memberships;")
        .await?;
    Ok(())
}

/// `EXPLAIN` of a statement, as text.
pub(crate) async fn explain(
    db: &DatabaseConnection,
    sql: &str,
    values: Vec<sea_orm::Value>,
) -> anyhow::Result<String> {
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            format!("EXPLAIN (COSTS OFF) {sql}"),
            values,
        ))
        .await?;
    let mut out = Vec::new();
    for row in rows {
        let line: String = row.try_get_by_index(0)?;
        out.push(line);
    }
    Ok(out.join("\n"))
}

/// Largest user id.
pub(crate) async fn max_user_id(db: &DatabaseConnection) -> anyhow::Result<i64> {
    let row = db
        .query_one_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT max(id) FROM users",
        ))
        .await?
        .context("no row")?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

/// A ListUsers call with the cursor `after` (an id), authenticated by an API key.
pub(crate) fn list_users_call(channel: Channel, key: String, after: i64) -> Call {
    let token = identity_core::pagination::encode(after);
    Arc::new(move |_| {
        let mut client = pb::user_service_client::UserServiceClient::new(channel.clone());
        let req = with_api_key_header(
            pb::ListUsersRequest {
                page_size: 20,
                page_token: token.clone(),
                ..Default::default()
            },
            &key,
        );
        Box::pin(async move {
            client
                .list_users(req)
                .await
                .is_ok_and(|r| !r.into_inner().users.is_empty())
        })
    })
}

/// An Authenticate call cycling through `keys`.
pub(crate) fn verify_call(channel: Channel, keys: Arc<Vec<String>>) -> Call {
    Arc::new(move |i| {
        let mut client = AuthServiceClient::new(channel.clone());
        let credential = keys[usize::try_from(i).unwrap_or(0) % keys.len()].clone();
        Box::pin(async move {
            client
                .authenticate(pb::AuthenticateRequest { credential })
                .await
                .is_ok()
        })
    })
}

/// Peak resident memory of this process (the servers and the load generator), in MiB.
pub(crate) fn peak_rss_mib() -> Option<f64> {
    crate::rss::status_mib("self", "VmHWM:")
}
