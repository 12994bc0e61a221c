//! `identity-bench`: measures the identity server against a bare tonic echo, on this machine, in
//! one run, over 127.0.0.1 only.
//!
//! Every scenario is bounded in time (warm-up + measured window) and in count
//! (`--max-requests`). Targets are ratios against figures from the same run (issue 7).
//!
//! Scenarios measured here:
//! - `echo`: a bare tonic server defined below, serving `AuthService/Authenticate` with a canned
//!   response captured from the real server (same codec, same request and response sizes, no
//!   auth layer, no cache, no database).
//! - `P1`: Authenticate with a key held in the in-process cache (server A, fresh TTL 5 s).
//! - `P2`: Authenticate answered by Redis: replica B shares A's Redis namespace and database,
//!   with an in-process fresh TTL of 1 ms, so nearly every key lookup misses locally and hits
//!   Redis. (The user and membership lookups that follow are not in Redis today and reach the
//!   database; the counters in the output show it.)
//! - `P3`: Authenticate answered by Postgres: replica C has no Redis and a 1 ms fresh TTL, so
//!   nearly every lookup reaches the database through SeaORM; compared with
//!   `pgbench -S -M prepared -c 8 -j 2 -T 5` on a scale-1 database created and dropped here.
//! - `P7`: checksum-invalid keys against server A; the cache counters must show 0 Redis and 0 DB
//!   calls during the window.
//!
//! All verify scenarios cycle through `--keys` distinct keys of one user. The hit ratios of P2/P3 are printed from the server's cache counters, so the 1 ms TTL's
//! residual local hits are visible rather than hidden.

mod extra;
mod rss;

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use clap::Parser;
use hdrhistogram::Histogram;
use identity_api::pb::{
    self,
    auth_service_client::AuthServiceClient,
    auth_service_server::{AuthService, AuthServiceServer},
};
use identity_server::CacheCounters;
use identity_testkit::{Backend, TestApp};
use sea_orm::{ConnectOptions, ConnectionTrait as _, Database};
use serde::Serialize;
use tonic::{
    Request, Response, Status,
    transport::{Channel, Endpoint, Server, server::TcpIncoming},
};

/// Command-line options.
#[derive(Debug, Parser)]
#[command(about = "Benchmark Authenticate against a bare tonic echo (127.0.0.1 only)")]
struct Args {
    /// Where to write the JSON results.
    #[arg(long, default_value = "target/bench.json")]
    out: PathBuf,
    /// Requests in flight at once (client tasks).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// HTTP/2 connections the client tasks share.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Measured seconds per scenario.
    #[arg(long, default_value_t = 5)]
    duration_secs: u64,
    /// Warm-up seconds per scenario (not recorded).
    #[arg(long, default_value_t = 1)]
    warmup_secs: u64,
    /// Upper bound on requests per scenario (warm-up included).
    #[arg(long, default_value_t = 2_000_000)]
    max_requests: u64,
    /// Distinct API keys the verify scenarios cycle through (so that a 1 ms local TTL rarely
    /// answers P2/P3 from memory).
    #[arg(long, default_value_t = 256)]
    keys: usize,
    /// Seconds pgbench runs.
    #[arg(long, default_value_t = 5)]
    pgbench_secs: u64,
    /// Users and keys seeded for the scale scenario (P8); 0 skips it.
    #[arg(long, default_value_t = 1_000_000)]
    scale_rows: u64,
    /// Rows of the small database P8 compares with.
    #[arg(long, default_value_t = 1_000)]
    small_rows: u64,
    /// CPU niceness of the server's argon2 threads (`IDENTITY_HASH_NICENESS`); default: the
    /// server's default.
    #[arg(long)]
    hash_niceness: Option<i32>,
    /// The `identity-server` binary for M1 (server-only memory); default: next to this
    /// executable. M1 is skipped when it is not there.
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Run M1 only.
    #[arg(long)]
    memory_only: bool,
}

/// The bare baseline: Authenticate returns a canned response at once.
#[derive(Debug, Clone)]
struct Echo {
    canned: pb::AuthenticateResponse,
}

#[tonic::async_trait]
impl AuthService for Echo {
    async fn login(
        &self,
        _: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        Err(Status::unimplemented("echo"))
    }

    async fn authenticate(
        &self,
        _: Request<pb::AuthenticateRequest>,
    ) -> Result<Response<pb::AuthenticateResponse>, Status> {
        Ok(Response::new(self.canned.clone()))
    }

    async fn who_am_i(
        &self,
        _: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::WhoAmIResponse>, Status> {
        Err(Status::unimplemented("echo"))
    }

    async fn get_setup_state(
        &self,
        _: Request<pb::GetSetupStateRequest>,
    ) -> Result<Response<pb::GetSetupStateResponse>, Status> {
        Err(Status::unimplemented("echo"))
    }

    async fn init_admin(
        &self,
        _: Request<pb::InitAdminRequest>,
    ) -> Result<Response<pb::InitAdminResponse>, Status> {
        Err(Status::unimplemented("echo"))
    }

    async fn get_jwks(
        &self,
        _: Request<pb::GetJwksRequest>,
    ) -> Result<Response<pb::GetJwksResponse>, Status> {
        Err(Status::unimplemented("echo"))
    }

    async fn exchange_api_key(
        &self,
        _: Request<pb::ExchangeApiKeyRequest>,
    ) -> Result<Response<pb::ExchangeApiKeyResponse>, Status> {
        Err(Status::unimplemented("echo"))
    }
}

/// What one scenario measured.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Measured {
    requests: u64,
    /// Answers other than the expected one (OK, or UNAUTHENTICATED for garbage keys).
    unexpected: u64,
    seconds: f64,
    rps: f64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
}

/// Which answer a scenario expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Ok,
    Unauthenticated,
}

/// Open `n` connections to `addr`.
async fn channels(addr: std::net::SocketAddr, n: usize) -> anyhow::Result<Vec<Channel>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n.max(1) {
        let ch = Endpoint::from_shared(format!("http://{addr}"))?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        out.push(ch);
    }
    Ok(out)
}

/// Drive Authenticate with `credentials` (round-robin per task) for warm-up + duration.
async fn drive(
    args: &Args,
    addr: std::net::SocketAddr,
    credentials: Arc<Vec<String>>,
    expect: Expect,
) -> anyhow::Result<Measured> {
    let chans = channels(addr, args.connections).await?;
    let start = Instant::now();
    let warm_end = start + Duration::from_secs(args.warmup_secs);
    let end = warm_end + Duration::from_secs(args.duration_secs);
    let per_task = (args.max_requests / args.concurrency.max(1) as u64).max(1);
    let mut tasks = Vec::with_capacity(args.concurrency);
    for t in 0..args.concurrency.max(1) {
        let mut client = AuthServiceClient::new(chans[t % chans.len()].clone());
        let credentials = credentials.clone();
        tasks.push(tokio::spawn(async move {
            let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let (mut n, mut unexpected, mut sent) = (0u64, 0u64, 0u64);
            let mut i = t;
            while sent < per_task {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                let credential = credentials[i % credentials.len()].clone();
                i = i.wrapping_add(1);
                sent += 1;
                let r = client
                    .authenticate(pb::AuthenticateRequest { credential })
                    .await;
                let elapsed = now.elapsed();
                let good = match (&r, expect) {
                    (Ok(_), Expect::Ok) => true,
                    (Err(s), Expect::Unauthenticated) => s.code() == tonic::Code::Unauthenticated,
                    _ => false,
                };
                if now >= warm_end {
                    n += 1;
                    if !good {
                        unexpected += 1;
                    }
                    let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
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
    let measured_end = Instant::now().min(end);
    let seconds = measured_end
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

/// Counter changes across a scenario.
fn delta(before: CacheCounters, after: CacheCounters) -> serde_json::Value {
    serde_json::json!({
        "db_lookups": after.db_lookups() - before.db_lookups(),
        "db_key_lookups": after.db_key_lookups - before.db_key_lookups,
        "redis_calls": after.redis_calls - before.redis_calls,
        "redis_hits": after.redis_hits - before.redis_hits,
        "local_hits": after.local_hits - before.local_hits,
        "local_misses": after.local_misses - before.local_misses,
        "negative_hits": after.negative_hits - before.negative_hits,
    })
}

/// Well-shaped keys (prefix, 32 random characters, the real key's checksum) whose checksum does
/// not match: they fail at the checksum, after the same parsing work a real key gets.
fn garbage_keys(valid: &str, n: usize) -> Vec<String> {
    let checksum = valid.rsplit('_').next().unwrap_or("AAAAAA");
    (0..n)
        .map(|_| {
            let random = uuid::Uuid::new_v4().simple().to_string();
            format!("idk_{random}_{checksum}")
        })
        .collect()
}

/// pgbench on its own scale-1 database, created and dropped here. `None` when pgbench is absent.
async fn pgbench(secs: u64) -> anyhow::Result<Option<f64>> {
    let Some(bin) = find_pgbench() else {
        return Ok(None);
    };
    let admin_url = identity_testkit::admin_database_url();
    let name = format!("identity_bench_pgbench_{}", uuid::Uuid::new_v4().simple());
    let mut options = ConnectOptions::new(admin_url.clone());
    options.max_connections(1).sqlx_logging(false);
    let admin = Database::connect(options).await?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await?;
    let url = with_database(&admin_url, &name);
    let result = run_pgbench(&bin, &url, secs);
    let dropped = admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await;
    let tps = result?;
    dropped.context("dropping the pgbench database")?;
    Ok(Some(tps))
}

fn run_pgbench(bin: &Path, url: &str, secs: u64) -> anyhow::Result<f64> {
    let init = Command::new(bin)
        .args(["-i", "-s", "1", "-q", url])
        .output()
        .context("running pgbench -i")?;
    anyhow::ensure!(
        init.status.success(),
        "pgbench -i failed: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let run = Command::new(bin)
        .args(["-S", "-M", "prepared", "-c", "8", "-j", "2", "-T"])
        .arg(secs.to_string())
        .arg(url)
        .output()
        .context("running pgbench -S")?;
    anyhow::ensure!(
        run.status.success(),
        "pgbench -S failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let out = String::from_utf8_lossy(&run.stdout);
    out.lines()
        .find_map(|l| {
            let rest = l.trim().strip_prefix("tps = ")?;
            rest.split_whitespace().next()?.parse::<f64>().ok()
        })
        .with_context(|| format!("no tps line in pgbench output: {out}"))
}

fn find_pgbench() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("pgbench"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin/pgbench"))
            .filter(|p| p.is_file())
            .collect();
        found.sort();
        found.pop()
    })
}

/// `url` naming database `name`.
fn with_database(url: &str, name: &str) -> String {
    let (main, query) = url
        .split_once('?')
        .map_or((url, None), |(m, q)| (m, Some(q)));
    let scheme_end = main.find("://").map_or(0, |i| i + 3);
    let authority_end = main[scheme_end..]
        .find('/')
        .map_or(main.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &main[..authority_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// One row of the table.
#[derive(Debug, Serialize)]
struct Row {
    scenario: &'static str,
    measured: Option<Measured>,
    baseline: &'static str,
    ratio: Option<f64>,
    target: &'static str,
    met: Option<bool>,
    note: String,
    counters: Option<serde_json::Value>,
}

fn fmt_opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".to_owned(), |x| format!("{x:.digits$}"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    if args.memory_only {
        let row = memory(&args).await?;
        print_table(&args, std::slice::from_ref(&row));
        return Ok(());
    }
    let namespace = format!("identity-test-bench-{}", uuid::Uuid::new_v4().simple());
    let redis_url = identity_testkit::test_redis_url();

    // Server A: Postgres + Redis, default fresh TTL (5 s).
    eprintln!("starting server A (Postgres + Redis, namespace {namespace})…");
    let ns = namespace.clone();
    let ru = redis_url.clone();
    let niceness = args.hash_niceness;
    let mut a = identity_testkit::spawn_app_with(Backend::Postgres, move |s| {
        s.redis_url = Some(ru.into());
        s.cache_namespace = ns;
        // Real password hashing (the test settings make it cheap) for the login scenarios.
        let real = identity_core::password::Argon2Params::default();
        s.argon2_memory_kib = real.memory_kib;
        s.argon2_iterations = real.iterations;
        s.argon2_parallelism = real.parallelism;
        s.hash_concurrency = 0;
        if let Some(n) = niceness {
            s.hash_niceness = n;
        }
        // P5's backed-off account stays backed off for the whole scenario.
        s.login_backoff_base_ms = 60_000;
    })
    .await;
    let outcome = run(&args, &a).await;
    let purge = identity_testkit::purge_redis_namespace(&namespace).await;
    let stopped = a.stop().await;
    drop(a); // drops the database
    let mut rows = outcome?;
    purge.context("purging the Redis namespace")?;
    stopped.context("stopping server A")?;
    rows.push(memory(&args).await?);

    print_table(&args, &rows);
    let json = serde_json::json!({
        "concurrency": args.concurrency,
        "hash_niceness": args.hash_niceness,
        "connections": args.connections,
        "duration_secs": args.duration_secs,
        "warmup_secs": args.warmup_secs,
        "cpus": std::thread::available_parallelism().map(usize::from).unwrap_or(1),
        "total_secs": started.elapsed().as_secs_f64(),
        "peak_rss_mib": extra::peak_rss_mib(),
        "scenarios": rows,
    });
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&json)?)
        .with_context(|| format!("writing {}", args.out.display()))?;
    eprintln!(
        "wrote {} ({:.0} s in all)",
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn run(args: &Args, a: &TestApp) -> anyhow::Result<Vec<Row>> {
    let admin_token = a.init_admin().await;
    let mut all_keys = Vec::with_capacity(args.keys.clamp(1, 10_000));
    for i in 0..args.keys.clamp(1, 10_000) {
        let (_, k) = a
            .create_api_key(
                &admin_token,
                pb::CreateApiKeyRequest {
                    name: format!("bench-{i}"),
                    ..Default::default()
                },
            )
            .await;
        all_keys.push(k);
    }
    let key = all_keys[0].clone();
    let canned = a
        .auth()
        .authenticate(pb::AuthenticateRequest {
            credential: key.clone(),
        })
        .await
        .context("Authenticate with the new key")?
        .into_inner();

    // The bare echo server.
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    let echo_addr = listener.local_addr()?;
    let (echo_stop, echo_stopped) = tokio::sync::oneshot::channel::<()>();
    let echo = tokio::spawn(
        Server::builder()
            .add_service(AuthServiceServer::new(Echo { canned }))
            .serve_with_incoming_shutdown(
                TcpIncoming::from(listener).with_nodelay(Some(true)),
                async {
                    let _ = echo_stopped.await;
                },
            ),
    );

    let keys = Arc::new(all_keys);
    eprintln!("echo…");
    let echo_m = drive(args, echo_addr, keys.clone(), Expect::Ok).await?;
    let _ = echo_stop.send(());
    let _ = echo.await;

    eprintln!("P1 cached…");
    let before = a.cache_stats();
    let p1 = drive(args, a.grpc_addr, keys.clone(), Expect::Ok).await?;
    let p1_counters = delta(before, a.cache_stats());

    eprintln!("P2 Redis hit (replica B, 1 ms local TTL)…");
    let b = identity_testkit::spawn_replica(a, |s| {
        s.cache_fresh_ms = 1;
        s.gateway_enabled = false;
    })
    .await;
    let before = b.cache_stats();
    let p2 = drive(args, b.grpc_addr, keys.clone(), Expect::Ok).await;
    let p2_counters = delta(before, b.cache_stats());
    let mut b = b;
    b.stop().await?;
    drop(b);
    let p2 = p2?;

    eprintln!("P3 DB hit (replica C, no Redis, 1 ms local TTL)…");
    let c = identity_testkit::spawn_replica(a, |s| {
        s.redis_url = None;
        s.cache_fresh_ms = 1;
        s.gateway_enabled = false;
    })
    .await;
    let before = c.cache_stats();
    let p3 = drive(args, c.grpc_addr, keys.clone(), Expect::Ok).await;
    let p3_counters = delta(before, c.cache_stats());
    let mut c = c;
    c.stop().await?;
    drop(c);
    let p3 = p3?;

    eprintln!("pgbench -S -M prepared -c 8 -j 2 -T {}…", args.pgbench_secs);
    let (pg_tps, pg_note) = match pgbench(args.pgbench_secs).await {
        Ok(Some(tps)) => (Some(tps), format!("pgbench {tps:.0} tps")),
        Ok(None) => (None, "pgbench not found: P3 ratio skipped".to_owned()),
        Err(e) => (None, format!("pgbench failed: {e:#}")),
    };

    eprintln!("P7 garbage keys…");
    let garbage = Arc::new(garbage_keys(&key, 1024));
    let before = a.cache_stats();
    let p7 = drive(args, a.grpc_addr, garbage, Expect::Unauthenticated).await?;
    let after = a.cache_stats();
    let p7_counters = delta(before, after);
    let p7_calls =
        (after.redis_calls - before.redis_calls) + (after.db_lookups() - before.db_lookups());

    let e = echo_m.rps;
    let mut rows = vec![Row {
        scenario: "echo",
        measured: Some(echo_m.clone()),
        baseline: "-",
        ratio: Some(1.0),
        target: "baseline",
        met: None,
        note: "bare tonic, canned Authenticate response".to_owned(),
        counters: None,
    }];
    let r1 = p1.rps / e;
    let p99_ratio = p1.p99_us as f64 / echo_m.p99_us.max(1) as f64;
    rows.push(Row {
        scenario: "P1 cached key",
        ratio: Some(r1),
        baseline: "echo",
        target: ">=0.80 & p99<=2x",
        met: Some(r1 >= 0.80 && p99_ratio <= 2.0 && p1.unexpected == 0),
        note: format!("p99 {p99_ratio:.2}x echo"),
        measured: Some(p1),
        counters: Some(p1_counters),
    });
    let r2 = p2.rps / e;
    rows.push(Row {
        scenario: "P2 Redis hit",
        ratio: Some(r2),
        baseline: "echo",
        target: ">=0.65",
        met: Some(r2 >= 0.65 && p2.unexpected == 0),
        note: format!(
            "replica, local TTL 1 ms; {} Redis hits, {} DB lookups incl. warm-up",
            p2_counters["redis_hits"], p2_counters["db_lookups"]
        ),
        measured: Some(p2),
        counters: Some(p2_counters),
    });
    let r3 = pg_tps.map(|t| p3.rps / t);
    rows.push(Row {
        scenario: "P3 DB hit",
        ratio: r3,
        baseline: "pgbench -S c8",
        target: ">=0.20",
        met: r3.map(|r| r >= 0.20 && p3.unexpected == 0),
        note: format!(
            "{pg_note}; {:.2}x echo; no Redis, local TTL 1 ms; {} DB lookups incl. warm-up",
            p3.rps / e,
            p3_counters["db_lookups"]
        ),
        measured: Some(p3),
        counters: Some(p3_counters),
    });
    let r7 = p7.rps / e;
    rows.push(Row {
        scenario: "P7 garbage keys",
        ratio: Some(r7),
        baseline: "echo",
        target: ">=0.90, 0 Redis/DB",
        met: Some(r7 >= 0.90 && p7_calls == 0 && p7.unexpected == 0),
        note: format!("{p7_calls} Redis/DB calls"),
        measured: Some(p7),
        counters: Some(p7_counters),
    });
    rows.extend(logins(args, a, &admin_token, &keys, &p1_solo(&rows)).await?);
    rows.push(gateway(args, a, &key).await?);
    if args.scale_rows > 0 {
        rows.extend(scale(args).await?);
    }
    Ok(rows)
}

/// M1: the real binary's resident memory, idle and at its peak under verifies + a login flood.
async fn memory(args: &Args) -> anyhow::Result<Row> {
    let Some(bin) = rss::server_binary(args.server_bin.as_deref()) else {
        eprintln!(
            "M1 skipped: no identity-server binary (cargo build --release -p identity-server)"
        );
        return Ok(Row {
            scenario: "M1 server RSS",
            measured: None,
            baseline: "200 MiB",
            ratio: None,
            target: "<=1.0",
            met: None,
            note: "skipped: no identity-server binary next to identity-bench".to_owned(),
            counters: None,
        });
    };
    eprintln!("M1 server memory ({})…", bin.display());
    let m = rss::measure(&bin, window(args, args.concurrency)).await?;
    let ratio = m.peak_mib / rss::TARGET_MIB;
    Ok(Row {
        scenario: "M1 server RSS",
        ratio: Some(ratio),
        baseline: "200 MiB",
        target: "<=1.0",
        met: Some(ratio <= 1.0 && m.verifies.unexpected == 0),
        note: format!(
            "peak {:.0} MiB; started {:.0} MiB, after 17 hashes + 256 keys {:.0} MiB, after 256 verifies {:.0} MiB; {} logins alongside the verifies",
            m.peak_mib, m.started_mib, m.bootstrapped_mib, m.idle_mib, m.logins
        ),
        measured: Some(m.verifies),
        counters: None,
    })
}

fn p1_solo(rows: &[Row]) -> Option<Measured> {
    rows.iter()
        .find(|r| r.scenario.starts_with("P1"))
        .and_then(|r| r.measured.clone())
}

fn window(args: &Args, concurrency: usize) -> extra::Window {
    extra::Window {
        concurrency,
        warmup: Duration::from_secs(args.warmup_secs),
        duration: Duration::from_secs(args.duration_secs),
        max_requests: args.max_requests,
    }
}

const LOGIN_PASSWORD: &str = "bench-login-password-1234";

/// P4 (logins/s against argon2 × cores), P5 (unknown user vs wrong password), P6 (cached
/// verifies while logins saturate hashing).
async fn logins(
    args: &Args,
    a: &TestApp,
    admin: &str,
    keys: &Arc<Vec<String>>,
    p1: &Option<Measured>,
) -> anyhow::Result<Vec<Row>> {
    let mut users = Vec::new();
    for i in 0..16 {
        let name = format!("login-{i}");
        a.create_user(admin, &name, LOGIN_PASSWORD).await;
        users.push(name);
    }
    let users = Arc::new(users);
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    eprintln!("argon2 baseline ({cores} threads)…");
    let argon2 = extra::argon2_baseline(a.settings.argon2(), 3.0);

    eprintln!("P4 Login…");
    let p4 = extra::load(
        window(args, cores * 4),
        extra::login_call(a.channel(), users.clone(), LOGIN_PASSWORD, true),
    )
    .await?;

    eprintln!("P5 login timing parity…");
    // An account in backoff: the threshold's worth of failures (the server's backoff base is
    // a minute in the bench, so it stays backed off for the whole scenario).
    let backed_off = "login-backed-off";
    a.create_user(admin, backed_off, LOGIN_PASSWORD).await;
    let mut auth = AuthServiceClient::new(a.channel());
    for _ in 0..a.settings.login_backoff_threshold.max(1) {
        let _ = auth
            .login(pb::LoginRequest {
                identifier: backed_off.to_owned(),
                password: "not-the-password-0000".to_owned(),
            })
            .await;
    }
    let parity = extra::login_parity(a.channel(), &users, backed_off, 40).await?;
    let ratio_unknown = parity.unknown_us as f64 / parity.wrong_us.max(1) as f64;
    let ratio_backed_off = parity.backed_off_us as f64 / parity.wrong_us.max(1) as f64;

    eprintln!("P6 cached verify under a login flood…");
    let (stop, flood) = extra::login_flood(
        extra::login_call(a.channel(), users.clone(), LOGIN_PASSWORD, true),
        cores * 4,
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let p6 = drive(args, a.grpc_addr, keys.clone(), Expect::Ok).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut flood_logins = 0;
    for t in flood {
        flood_logins += t.await.unwrap_or(0);
    }
    let p6 = p6?;

    let r4 = p4.rps / argon2.max(1e-9);
    let mut rows = vec![Row {
        scenario: "P4 Login",
        ratio: Some(r4),
        baseline: "argon2 x cores",
        target: ">=0.80",
        met: Some(r4 >= 0.80 && p4.unexpected == 0),
        note: format!("argon2id verify {argon2:.1}/s on {cores} threads"),
        measured: Some(p4),
        counters: None,
    }];
    let in_band = |r: f64| (0.9..=1.1).contains(&r);
    rows.push(Row {
        scenario: "P5 login parity",
        ratio: Some(ratio_unknown),
        baseline: "wrong password",
        target: "0.9-1.1",
        met: Some(in_band(ratio_unknown) && in_band(ratio_backed_off) && parity.surprises == 0),
        note: format!(
            "median of 40 sequential each: unknown user {} µs, wrong password {} µs, backed-off account {} µs ({ratio_backed_off:.2}x)",
            parity.unknown_us, parity.wrong_us, parity.backed_off_us
        ),
        measured: None,
        counters: None,
    });
    let r6 = p1.as_ref().map(|p| p6.rps / p.rps);
    rows.push(Row {
        scenario: "P6 verify under login flood",
        ratio: r6,
        baseline: "P1 solo",
        target: ">=0.5 & p99<10ms",
        met: r6.map(|r| r >= 0.5 && p6.p99_us < 10_000 && p6.unexpected == 0),
        note: format!(
            "{flood_logins} logins from {} tasks during the window",
            cores * 4
        ),
        measured: Some(p6),
        counters: None,
    });
    Ok(rows)
}

/// G1: Portainer `GET /api/users/1` through the gateway with a cached key, against a bare axum
/// handler serving the same bytes.
async fn gateway(args: &Args, a: &TestApp, key: &str) -> anyhow::Result<Row> {
    let http = a.http_addr.context("the gateway is enabled on server A")?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency * 2)
        .tcp_nodelay(true)
        .build()?;
    let url = format!("http://{http}/api/users/1");
    let header = Some(("x-api-key", key.to_owned()));
    let first = client.get(&url).header("x-api-key", key).send().await?;
    anyhow::ensure!(
        first.status() == reqwest::StatusCode::OK,
        "gateway answered {}",
        first.status()
    );
    let body = first.bytes().await?;
    let (bare, stop) = extra::bare_axum(body).await?;
    eprintln!("G1 bare axum…");
    let bare_m = extra::load(
        window(args, args.concurrency),
        extra::http_get_call(
            client.clone(),
            format!("http://{bare}/api/users/1"),
            header.clone(),
        ),
    )
    .await?;
    let _ = stop.send(());
    eprintln!("G1 gateway…");
    let g1 = extra::load(
        window(args, args.concurrency),
        extra::http_get_call(client, url, header),
    )
    .await?;
    let r = g1.rps / bare_m.rps.max(1e-9);
    Ok(Row {
        scenario: "G1 gateway GET",
        ratio: Some(r),
        baseline: "bare axum",
        target: ">=0.50",
        met: Some(r >= 0.5 && g1.unexpected == 0),
        note: format!(
            "Portainer GET /api/users/1, X-API-Key; bare axum {:.0} req/s, p99 {} µs",
            bare_m.rps, bare_m.p99_us
        ),
        measured: Some(g1),
        counters: None,
    })
}

/// What P8 measured at one size.
struct ScalePoint {
    verify: Measured,
    list: Measured,
    plans: (String, String),
}

async fn scale_point(args: &Args, rows: u64) -> anyhow::Result<ScalePoint> {
    let mut app = identity_testkit::spawn_app_with(Backend::Postgres, |s| {
        s.redis_url = None;
        s.cache_fresh_ms = 1;
        s.gateway_enabled = false;
    })
    .await;
    let result = async {
        let db = extra::database_of(&app).await?;
        let admin = app.init_admin().await;
        let mut keys = Vec::new();
        for i in 0..64 {
            let (_, k) = app
                .create_api_key(
                    &admin,
                    pb::CreateApiKeyRequest {
                        name: format!("scale-{i}"),
                        ..Default::default()
                    },
                )
                .await;
            keys.push(k);
        }
        let started = Instant::now();
        extra::seed(&db, rows).await?;
        eprintln!(
            "  seeded {rows} users and {rows} keys in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let keys = Arc::new(keys);
        let verify = extra::load(
            window(args, args.concurrency),
            extra::verify_call(app.channel(), keys.clone()),
        )
        .await?;
        let last = extra::max_user_id(&db).await?;
        let list = extra::load(
            window(args, args.concurrency),
            extra::list_users_call(app.channel(), keys[0].clone(), last - 21),
        )
        .await?;
        let digest = identity_core::keys::parse(&keys[0])
            .context("a created key parses")?
            .digest();
        let grant_plan = extra::explain(
            &db,
            identity_store::key_grant_sql(sea_orm::DbBackend::Postgres),
            vec![digest.to_vec().into()],
        )
        .await?;
        let list_plan = extra::explain(
            &db,
            "SELECT * FROM users WHERE id > $1 ORDER BY id ASC LIMIT 21",
            vec![(last - 21).into()],
        )
        .await?;
        db.close().await?;
        anyhow::Ok(ScalePoint {
            verify,
            list,
            plans: (grant_plan, list_plan),
        })
    }
    .await;
    app.stop().await?;
    drop(app);
    result
}

/// P8: a DB-hit verify and a ListUsers page at the end of the table, with `scale_rows` users
/// and keys against `small_rows`.
async fn scale(args: &Args) -> anyhow::Result<Vec<Row>> {
    eprintln!("P8 at {} rows…", args.small_rows);
    let small = scale_point(args, args.small_rows).await?;
    eprintln!("P8 at {} rows…", args.scale_rows);
    let big = scale_point(args, args.scale_rows).await?;
    let verify_ratio = small.verify.rps / big.verify.rps.max(1e-9);
    let list_ratio = small.list.rps / big.list.rps.max(1e-9);
    println!("P8 query plans at {} rows:", args.scale_rows);
    println!("-- grant (key + owner + memberships):\n{}", big.plans.0);
    println!("-- ListUsers page at the end:\n{}", big.plans.1);
    Ok(vec![
        Row {
            scenario: "P8 verify at scale",
            ratio: Some(verify_ratio),
            baseline: "same at 1k rows",
            target: "<=1.5 (time)",
            met: Some(verify_ratio <= 1.5 && big.verify.unexpected == 0),
            note: format!(
                "DB hit (no Redis, 1 ms TTL): {:.0} req/s at {} rows vs {:.0} at {}; plan: {}",
                big.verify.rps,
                args.scale_rows,
                small.verify.rps,
                args.small_rows,
                big.plans.0.replace('\n', " / ")
            ),
            measured: Some(big.verify),
            counters: None,
        },
        Row {
            scenario: "P8 ListUsers last page",
            ratio: Some(list_ratio),
            baseline: "same at 1k rows",
            target: "<=1.5 (time)",
            met: Some(list_ratio <= 1.5 && big.list.unexpected == 0),
            note: format!(
                "cursor at the end: {:.0} req/s at {} rows vs {:.0} at {}; plan: {}",
                big.list.rps,
                args.scale_rows,
                small.list.rps,
                args.small_rows,
                big.plans.1.replace('\n', " / ")
            ),
            measured: Some(big.list),
            counters: None,
        },
    ])
}

fn print_table(args: &Args, rows: &[Row]) {
    println!(
        "identity-bench: concurrency {}, {} connections, {} s + {} s warm-up per scenario, {} CPUs (client and server share them)",
        args.concurrency,
        args.connections,
        args.duration_secs,
        args.warmup_secs,
        std::thread::available_parallelism()
            .map(usize::from)
            .unwrap_or(1)
    );
    println!(
        "{:<28} {:>10} {:>9} {:>9} {:>7} {:>20} {:>5}  note",
        "scenario", "req/s", "p50 µs", "p99 µs", "ratio", "target", "met?"
    );
    for r in rows {
        let (rps, p50, p99) = r.measured.as_ref().map_or_else(
            || ("-".to_owned(), "-".to_owned(), "-".to_owned()),
            |m| {
                (
                    format!("{:.0}", m.rps),
                    m.p50_us.to_string(),
                    m.p99_us.to_string(),
                )
            },
        );
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "-",
        };
        let unexpected = r
            .measured
            .as_ref()
            .filter(|m| m.unexpected > 0)
            .map(|m| format!(" ({} unexpected answers)", m.unexpected))
            .unwrap_or_default();
        println!(
            "{:<28} {:>10} {:>9} {:>9} {:>7} {:>20} {:>5}  {}{}",
            r.scenario,
            rps,
            p50,
            p99,
            fmt_opt(r.ratio, 2),
            r.target,
            met,
            r.note,
            unexpected
        );
    }
}
