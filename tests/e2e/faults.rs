//! Faults and concurrent writes (issue 8): Postgres and Redis taken away through a TCP proxy the
//! test cuts (the machine's own servers are never touched), and bursts of concurrent creates
//! with duplicates. Each test prints its figures (`--no-capture`) for the README's
//! "Reliability" section. The real-binary tests (SIGTERM, SIGKILL) are in
//! `crates/server/tests/faults.rs`.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use identity_api::pb;
use identity_server::health::READINESS_SERVICE;
use identity_testkit::{
    ADMIN_PASSWORD, ADMIN_USERNAME, Backend, TestApp, postgres_server_addr, purge_redis_namespace,
    redis_server_addr, replace_database_addr, spawn_app_with, start_tcp_proxy, test_redis_url,
    with_auth,
};
use secrecy::ExposeSecret as _;
use tonic::{Code, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_types::StatusExt as _;
use uuid::Uuid;

use crate::support::{Must as _, key_request, update_user};

/// How fast a call that needs the lost database must be refused.
const FAIL_FAST: Duration = Duration::from_millis(500);
/// How long readiness may take to follow the database (either way).
const READY_DEADLINE: Duration = Duration::from_secs(10);

both!(
    duplicate_creates_have_one_winner_each,
    primary_key_race_leaves_one_active_primary,
    keys_racing_their_users_deletion_leave_no_orphans,
    portainer_duplicate_creates_have_one_winner_each,
    tyk_duplicate_creates_have_one_winner_each,
    last_two_admins_demoting_each_other_keep_one,
    last_two_owners_demoting_each_other_keep_one,
);

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_else(|e| panic!("building the HTTP client: {e}"))
}

fn base_url(app: &TestApp) -> String {
    let addr = app
        .http_addr
        .unwrap_or_else(|| panic!("the test server runs the gateway in-process"));
    format!("http://{addr}")
}

/// A timed call: its result and how long it took.
async fn timed<T>(call: impl Future<Output = T>) -> (T, Duration) {
    let start = tokio::time::Instant::now();
    let out = tokio::time::timeout(Duration::from_secs(10), call)
        .await
        .unwrap_or_else(|_| panic!("a call hung for 10 s"));
    (out, start.elapsed())
}

/// Assert a gRPC call was refused fast with UNAVAILABLE and a `RetryInfo`.
#[track_caller]
fn assert_unavailable_fast<T: std::fmt::Debug>(
    what: &str,
    result: Result<tonic::Response<T>, Status>,
    took: Duration,
) {
    let status = result.must_fail(Code::Unavailable);
    assert!(
        status.get_details_retry_info().is_some(),
        "{what}: UNAVAILABLE carries RetryInfo: {status:?}"
    );
    assert!(
        took < FAIL_FAST,
        "{what} took {took:?} (limit {FAIL_FAST:?})"
    );
}

/// Postgres cut mid-run: readiness NOT_SERVING within 10 s, liveness SERVING, every call that
/// needs the database refused fast (gRPC UNAVAILABLE + RetryInfo; 503 in the Portainer and
/// OpenAI envelopes), cached key verification still working; all back without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_fails_fast_and_recovers_without_restart() {
    let pg = postgres_server_addr()
        .await
        .unwrap_or_else(|e| panic!("locating Postgres: {e:#}"));
    let (proxy_addr, proxy) = start_tcp_proxy(pg).await;
    let app = spawn_app_with(Backend::Postgres, |s| {
        let url = replace_database_addr(s.database_url.expose_secret(), proxy_addr);
        s.database_url = url.into();
        // Keep the verified key fresh in memory for the whole outage.
        s.cache_fresh_ms = 60_000;
    })
    .await;
    let admin = app.init_admin().await;
    let (_, key) = app.create_api_key(&admin, key_request("ops")).await;
    app.auth()
        .authenticate(pb::AuthenticateRequest {
            credential: key.clone(),
        })
        .await
        .must();
    let http = http_client();
    let base = base_url(&app);
    let portainer_users = || {
        http.get(format!("{base}/api/users"))
            .header("x-api-key", &key)
            .send()
    };
    let openai_users = || {
        http.get(format!("{base}/v1/organization/users"))
            .bearer_auth(&key)
            .send()
    };
    assert_eq!(
        portainer_users()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .status(),
        200
    );
    app.wait_for_health(READINESS_SERVICE, ServingStatus::Serving, READY_DEADLINE)
        .await;

    proxy.cut();
    let not_ready_after = app
        .wait_for_health(READINESS_SERVICE, ServingStatus::NotServing, READY_DEADLINE)
        .await;
    assert_eq!(
        app.health_status("").await.ok(),
        Some(ServingStatus::Serving),
        "liveness stays SERVING"
    );

    let mut refused = 0u32;
    let mut slowest = Duration::ZERO;
    for round in 0..5 {
        let (r, took) = timed(app.auth().get_setup_state(pb::GetSetupStateRequest {})).await;
        assert_unavailable_fast("GetSetupState", r, took);
        slowest = slowest.max(took);
        let (r, took) = timed(
            app.users()
                .list_users(with_auth(pb::ListUsersRequest::default(), &admin)),
        )
        .await;
        assert_unavailable_fast("ListUsers", r, took);
        slowest = slowest.max(took);
        let (r, took) = timed(app.users().create_user(with_auth(
            pb::CreateUserRequest {
                username: format!("during-outage-{round}"),
                password: Some("outage-password-1234".to_owned()),
                ..Default::default()
            },
            &admin,
        )))
        .await;
        assert_unavailable_fast("CreateUser", r, took);
        slowest = slowest.max(took);

        let (r, took) = timed(portainer_users()).await;
        let r = r.unwrap_or_else(|e| panic!("Portainer GET /api/users: {e}"));
        assert_eq!(r.status(), 503, "Portainer answers 503");
        let body: serde_json::Value = r.json().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(body["message"], "Service unavailable", "{body}");
        assert!(took < FAIL_FAST, "Portainer 503 took {took:?}");
        slowest = slowest.max(took);

        let (r, took) = timed(openai_users()).await;
        let r = r.unwrap_or_else(|e| panic!("OpenAI GET users: {e}"));
        assert_eq!(r.status(), 503, "OpenAI answers 503");
        let body: serde_json::Value = r.json().await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(body["error"]["code"], "service_unavailable", "{body}");
        assert_eq!(body["error"]["type"], "server_error", "{body}");
        assert!(took < FAIL_FAST, "OpenAI 503 took {took:?}");
        slowest = slowest.max(took);
        refused += 5;

        // A key verified before the outage still verifies from the cache.
        app.auth()
            .authenticate(pb::AuthenticateRequest {
                credential: key.clone(),
            })
            .await
            .must();
    }
    assert_eq!(
        app.health_status(READINESS_SERVICE).await.ok(),
        Some(ServingStatus::NotServing)
    );

    proxy.restore();
    let ready_after = app
        .wait_for_health(READINESS_SERVICE, ServingStatus::Serving, READY_DEADLINE)
        .await;
    // Same process: the database answers again on every path.
    let state = app
        .auth()
        .get_setup_state(pb::GetSetupStateRequest {})
        .await
        .must();
    assert!(state.admin_exists);
    app.create_user(&admin, "after-outage", "after-outage-password")
        .await;
    assert_eq!(
        portainer_users()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .status(),
        200
    );
    assert_eq!(
        openai_users()
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .status(),
        200
    );
    eprintln!(
        "FAULT postgres-cut: readiness NOT_SERVING after {not_ready_after:?}; {refused} calls \
         refused while down (gRPC UNAVAILABLE + RetryInfo, Portainer/OpenAI 503), slowest \
         {slowest:?}; cached key verified 5/5 times; SERVING again {ready_after:?} after the \
         restore, no restart"
    );
}

/// Redis cut under a steady verification load: no failed request, readiness SERVING throughout,
/// the cache's subscription back within 5 s of the restore.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_under_load_fails_nothing() {
    const TASKS: usize = 4;
    let ns = format!("identity-test-{}", Uuid::new_v4().simple());
    let redis = redis_server_addr()
        .await
        .unwrap_or_else(|e| panic!("locating Redis: {e:#}"));
    let (proxy_addr, proxy) = start_tcp_proxy(redis).await;
    let app = spawn_app_with(Backend::Postgres, |s| {
        s.redis_url = Some(format!("redis://{proxy_addr}").into());
        s.cache_namespace = ns.clone();
        // Short: lookups keep going to Redis (and, when it fails, to the database).
        s.cache_fresh_ms = 100;
    })
    .await;
    // The shared URL is not used: the server goes through the proxy.
    let _ = test_redis_url();
    let start = tokio::time::Instant::now();
    while app.cache_stats().subscriptions == 0 {
        assert!(start.elapsed() < Duration::from_secs(10), "no subscription");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let admin = app.init_admin().await;
    let mut keys = Vec::new();
    for i in 0..4 {
        keys.push(
            app.create_api_key(&admin, key_request(&format!("k{i}")))
                .await
                .1,
        );
    }
    let keys = Arc::new(keys);
    let sent = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut load = Vec::new();
    for t in 0..TASKS {
        let (keys, sent, failed, mut stop) =
            (keys.clone(), sent.clone(), failed.clone(), stop_rx.clone());
        let mut auth = app.auth();
        load.push(tokio::spawn(async move {
            let mut i = t;
            while !*stop.borrow_and_update() {
                let credential = keys[i % keys.len()].clone();
                i += 1;
                sent.fetch_add(1, Ordering::Relaxed);
                if let Err(s) = auth
                    .authenticate(pb::AuthenticateRequest { credential })
                    .await
                {
                    failed.fetch_add(1, Ordering::Relaxed);
                    eprintln!("failed during the Redis fault: {s:?}");
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = app.cache_stats();
    proxy.cut();
    let cut_at = tokio::time::Instant::now();
    while cut_at.elapsed() < Duration::from_millis(2000) {
        assert_eq!(
            app.health_status(READINESS_SERVICE).await.ok(),
            Some(ServingStatus::Serving),
            "readiness does not depend on Redis"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let during = app.cache_stats();
    proxy.restore();
    let restored = tokio::time::Instant::now();
    while app.cache_stats().subscriptions <= during.subscriptions {
        assert!(
            restored.elapsed() < Duration::from_secs(5),
            "no Redis resubscription within 5 s: {:?}",
            app.cache_stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let reconnected = restored.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = stop_tx.send(true);
    for task in load {
        task.await.unwrap_or_else(|e| panic!("load task: {e}"));
    }
    let after = app.cache_stats();
    let (sent, failed) = (sent.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    eprintln!(
        "FAULT redis-cut: {sent} verifications by {TASKS} tasks, {failed} failed; Redis errors or \
         skips during the 2 s cut: {}; database key lookups during the cut: {}; resubscribed \
         {reconnected:?} after the restore; readiness SERVING throughout",
        (during.redis_errors + during.redis_skipped)
            .saturating_sub(before.redis_errors + before.redis_skipped),
        during.db_key_lookups.saturating_sub(before.db_key_lookups),
    );
    assert_eq!(failed, 0, "no verification of a valid key failed");
    assert!(
        during.redis_errors + during.redis_skipped > before.redis_errors + before.redis_skipped,
        "the cut was real: Redis failed or was skipped"
    );
    // With a 100 ms local freshness, the load after the restore is served from Redis again.
    assert!(
        after.redis_hits > during.redis_hits,
        "no Redis hit after the restore: {during:?} -> {after:?}"
    );
    drop(app);
    if let Err(e) = purge_redis_namespace(&ns).await {
        eprintln!("could not purge Redis namespace {ns}: {e:#}");
    }
}

/// Count a burst's outcomes per gRPC code.
fn tally(outcomes: &[Result<(), Code>]) -> BTreeMap<String, usize> {
    let mut map = BTreeMap::new();
    for o in outcomes {
        let k = match o {
            Ok(()) => "OK".to_owned(),
            Err(c) => format!("{c:?}"),
        };
        *map.entry(k).or_insert(0) += 1;
    }
    map
}

/// Every username in the database with `prefix`, through ListUsers.
async fn usernames_with_prefix(app: &TestApp, admin: &str, prefix: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut token = String::new();
    loop {
        let page = app
            .users()
            .list_users(with_auth(
                pb::ListUsersRequest {
                    page_size: 100,
                    page_token: token.clone(),
                    ..Default::default()
                },
                admin,
            ))
            .await
            .must();
        names.extend(
            page.users
                .into_iter()
                .map(|u| u.username)
                .filter(|n| n.starts_with(prefix)),
        );
        if page.next_page_token.is_empty() {
            return names;
        }
        token = page.next_page_token;
    }
}

/// 20 usernames × 5 copies through concurrent CreateUser: one OK per name, the rest
/// ALREADY_EXISTS, and exactly 20 rows.
async fn duplicate_creates_have_one_winner_each(app: TestApp) {
    const NAMES: usize = 20;
    const COPIES: usize = 5;
    let admin = app.init_admin().await;
    let mut tasks = Vec::new();
    for copy in 0..COPIES {
        for n in 0..NAMES {
            let mut users = app.users();
            let admin = admin.clone();
            tasks.push(tokio::spawn(async move {
                let username = format!("dup-{n:02}");
                let r = users
                    .create_user(with_auth(
                        pb::CreateUserRequest {
                            username: username.clone(),
                            // Different e-mails: only the username clashes.
                            email: Some(format!("{username}-{copy}@example.com")),
                            password: Some("duplicate-password-1234".to_owned()),
                            ..Default::default()
                        },
                        &admin,
                    ))
                    .await;
                (username, r.map(|_| ()).map_err(|s| s.code()))
            }));
        }
    }
    let started = tokio::time::Instant::now();
    let mut per_name: HashMap<String, Vec<Result<(), Code>>> = HashMap::new();
    for t in tasks {
        let (name, r) = t.await.unwrap_or_else(|e| panic!("task: {e}"));
        per_name.entry(name).or_default().push(r);
    }
    let took = started.elapsed();
    let all: Vec<_> = per_name.values().flatten().copied().collect();
    for (name, outcomes) in &per_name {
        assert_eq!(
            outcomes.iter().filter(|o| o.is_ok()).count(),
            1,
            "{name}: exactly one winner: {outcomes:?}"
        );
        assert!(
            outcomes
                .iter()
                .all(|o| matches!(o, Ok(()) | Err(Code::AlreadyExists))),
            "{name}: the losers are ALREADY_EXISTS: {outcomes:?}"
        );
    }
    let mut rows = usernames_with_prefix(&app, &admin, "dup-").await;
    rows.sort();
    let mut expected: Vec<String> = (0..NAMES).map(|n| format!("dup-{n:02}")).collect();
    expected.sort();
    assert_eq!(rows, expected, "one row per name, no extra rows");
    eprintln!(
        "WRITES {} concurrent CreateUser ({NAMES} names x {COPIES}) in {took:?}: {:?}; {} rows",
        app.backend,
        tally(&all),
        rows.len()
    );
}

/// 30 concurrent CreateApiKey(primary) for one user: every failure is a clean refusal, every
/// success is a row, and exactly one primary key is active at the end.
async fn primary_key_race_leaves_one_active_primary(app: TestApp) {
    const BURST: usize = 30;
    let admin = app.init_admin().await;
    let mut tasks = Vec::new();
    for i in 0..BURST {
        let mut keys = app.api_keys();
        let admin = admin.clone();
        tasks.push(tokio::spawn(async move {
            keys.create_api_key(with_auth(
                pb::CreateApiKeyRequest {
                    primary: true,
                    ..key_request(&format!("primary-{i}"))
                },
                &admin,
            ))
            .await
            .map(|r| r.into_inner().api_key.map(|k| k.id))
            .map_err(|s| s.code())
        }));
    }
    let mut outcomes = Vec::new();
    let mut created = Vec::new();
    for t in tasks {
        match t.await.unwrap_or_else(|e| panic!("task: {e}")) {
            Ok(id) => {
                created.push(id.unwrap_or_else(|| panic!("no key metadata")));
                outcomes.push(Ok(()));
            }
            Err(code) => outcomes.push(Err(code)),
        }
    }
    assert!(!created.is_empty(), "at least one primary key was created");
    assert!(
        outcomes.iter().all(|o| matches!(
            o,
            Ok(()) | Err(Code::AlreadyExists | Code::Aborted | Code::Unavailable)
        )),
        "failures are retryable refusals, never INTERNAL: {:?}",
        tally(&outcomes)
    );
    let listed = app.all_api_keys(&admin).await;
    let mut listed_ids: Vec<i64> = listed
        .iter()
        .filter(|k| k.name.starts_with("primary-"))
        .map(|k| k.id)
        .collect();
    listed_ids.sort_unstable();
    created.sort_unstable();
    assert_eq!(
        listed_ids, created,
        "one row per success, none for a failure"
    );
    let active: Vec<_> = listed
        .iter()
        .filter(|k| k.primary && k.revoked_at.is_none())
        .collect();
    assert_eq!(active.len(), 1, "exactly one active primary: {active:?}");
    eprintln!(
        "WRITES {} {BURST} concurrent primary CreateApiKey: {:?}; {} rows, 1 active primary",
        app.backend,
        tally(&outcomes),
        listed_ids.len()
    );
}

/// Keys created for users while those users are deleted, all concurrently: every key call is OK
/// or NOT_FOUND, and no key of a deleted user survives (no orphan rows).
async fn keys_racing_their_users_deletion_leave_no_orphans(app: TestApp) {
    const USERS: usize = 8;
    const KEYS_PER_USER: usize = 5;
    let admin = app.init_admin().await;
    let mut ids = Vec::new();
    for u in 0..USERS {
        ids.push(
            app.create_user(&admin, &format!("doomed-{u}"), "doomed-password-1234")
                .await
                .id,
        );
    }
    let mut key_tasks = Vec::new();
    let mut delete_tasks = Vec::new();
    for (u, &id) in ids.iter().enumerate() {
        for k in 0..KEYS_PER_USER {
            let mut keys = app.api_keys();
            let token = admin.clone();
            key_tasks.push(tokio::spawn(async move {
                keys.create_api_key(with_auth(
                    pb::CreateApiKeyRequest {
                        user_id: Some(id),
                        ..key_request(&format!("orphan-{u}-{k}"))
                    },
                    &token,
                ))
                .await
                .map(|r| r.into_inner().plaintext)
                .map_err(|s| s.code())
            }));
            if k == KEYS_PER_USER / 2 {
                let mut users = app.users();
                let admin = admin.clone();
                delete_tasks.push(tokio::spawn(async move {
                    users
                        .delete_user(with_auth(pb::DeleteUserRequest { user_id: id }, &admin))
                        .await
                        .map(|_| ())
                        .map_err(|s| s.code())
                }));
            }
        }
    }
    let mut outcomes = Vec::new();
    let mut plaintexts = Vec::new();
    for t in key_tasks {
        match t.await.unwrap_or_else(|e| panic!("task: {e}")) {
            Ok(p) => {
                plaintexts.push(p);
                outcomes.push(Ok(()));
            }
            Err(c) => outcomes.push(Err(c)),
        }
    }
    for t in delete_tasks {
        let r = t.await.unwrap_or_else(|e| panic!("task: {e}"));
        assert_eq!(r, Ok(()), "every deletion succeeds");
    }
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, Ok(()) | Err(Code::NotFound))),
        "a key for a deleted user is NOT_FOUND: {:?}",
        tally(&outcomes)
    );
    // Every key that was created belonged to a user now deleted: none may still verify.
    for p in &plaintexts {
        app.auth()
            .authenticate(pb::AuthenticateRequest {
                credential: p.clone(),
            })
            .await
            .must_fail(Code::Unauthenticated);
    }
    for id in &ids {
        app.users()
            .get_user(with_auth(crate::support::get_user(*id), &admin))
            .await
            .must_fail(Code::NotFound);
    }
    assert!(
        usernames_with_prefix(&app, &admin, "doomed-")
            .await
            .is_empty()
    );
    // The API cannot see rows whose owner is gone: ask the tables themselves.
    for (table, sql) in [
        (
            "api_keys",
            "SELECT COUNT(*) AS n FROM api_keys WHERE user_id NOT IN (SELECT id FROM users)",
        ),
        (
            "memberships",
            "SELECT COUNT(*) AS n FROM memberships WHERE user_id NOT IN (SELECT id FROM users)",
        ),
        (
            "team_memberships",
            "SELECT COUNT(*) AS n FROM team_memberships \
             WHERE user_id NOT IN (SELECT id FROM users)",
        ),
        (
            "api_keys of the doomed",
            "SELECT COUNT(*) AS n FROM api_keys WHERE name LIKE 'orphan-%'",
        ),
    ] {
        assert_eq!(app.count_rows(sql).await, 0, "orphan rows in {table}");
    }
    eprintln!(
        "WRITES {} {} CreateApiKey racing {USERS} DeleteUser: {:?}; 0 of {} created keys survive",
        app.backend,
        USERS * KEYS_PER_USER,
        tally(&outcomes),
        plaintexts.len()
    );
}

/// One loser's answer in a REST duplicate burst: (status, body) → whether it is the dialect's
/// "already exists" refusal.
type Loser = fn(u16, &serde_json::Value) -> bool;

/// `COPIES` concurrent REST creates of each of `NAMES` usernames through `path` with the
/// administrator's session (`body` builds the request of a name): exactly one `winner` status per name, every other answer the
/// dialect's own clash (`loser`), and exactly `NAMES` rows. Returns the status tally.
async fn rest_duplicate_burst(
    app: &TestApp,
    admin: &str,
    path: &str,
    body: fn(&str) -> serde_json::Value,
    winner: u16,
    loser: Loser,
) -> BTreeMap<u16, usize> {
    const NAMES: usize = 10;
    const COPIES: usize = 4;
    let http = http_client();
    let url = format!("{}{path}", base_url(app));
    let mut tasks = Vec::new();
    for _ in 0..COPIES {
        for n in 0..NAMES {
            let (http, url, token) = (http.clone(), url.clone(), admin.to_owned());
            tasks.push(tokio::spawn(async move {
                let username = format!("rest-{n:02}");
                let r = http
                    .post(&url)
                    .bearer_auth(token)
                    .json(&body(&username))
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("POST {url}: {e}"));
                let status = r.status().as_u16();
                let body: serde_json::Value = r.json().await.unwrap_or_default();
                (username, status, body)
            }));
        }
    }
    let mut per_name: HashMap<String, Vec<u16>> = HashMap::new();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    for t in tasks {
        let (name, status, body) = t.await.unwrap_or_else(|e| panic!("task: {e}"));
        assert!(
            status == winner || loser(status, &body),
            "{name}: {status} {body}"
        );
        per_name.entry(name).or_default().push(status);
        *statuses.entry(status).or_insert(0) += 1;
    }
    assert_eq!(per_name.len(), NAMES);
    for (name, codes) in &per_name {
        assert_eq!(
            codes.iter().filter(|c| **c == winner).count(),
            1,
            "{name}: {codes:?}"
        );
    }
    assert_eq!(
        usernames_with_prefix(app, admin, "rest-").await.len(),
        NAMES
    );
    statuses
}

/// The same through the Portainer dialect: concurrent POST /api/users with duplicates gives one
/// 200 per username and 409 "User already exists" for the rest.
async fn portainer_duplicate_creates_have_one_winner_each(app: TestApp) {
    let admin = app.init_admin().await;
    let statuses = rest_duplicate_burst(
        &app,
        &admin,
        "/api/users",
        |name| serde_json::json!({"username": name, "password": "portainer-password-1234", "role": 2}),
        200,
        |status, body| status == 409 && body["details"] == "User already exists",
    )
    .await;
    eprintln!(
        "WRITES {} 40 concurrent Portainer POST /api/users (10 names x 4): {statuses:?}; 10 rows",
        app.backend,
    );
}

/// The same through the Tyk AI Studio dialect: concurrent POST /api/v1/users with duplicates
/// gives one 201 per e-mail address and Tyk's 400 "Email is already in use" for the rest.
async fn tyk_duplicate_creates_have_one_winner_each(app: TestApp) {
    let admin = app.init_admin().await;
    let statuses = rest_duplicate_burst(
        &app,
        &admin,
        "/api/v1/users",
        |name| {
            serde_json::json!({"data": {"type": "users", "attributes": {
                "email": format!("{name}@example.com"),
                "name": name,
                "password": "tyk-password-1234",
            }}})
        },
        201,
        |status, body| status == 400 && body["errors"][0]["detail"] == "Email is already in use",
    )
    .await;
    eprintln!(
        "WRITES {} 40 concurrent Tyk POST /api/v1/users (10 e-mails x 4): {statuses:?}; 10 rows",
        app.backend,
    );
}

const BOB_PASSWORD: &str = "bob-admin-password";

/// Set `id`'s global role as the holder of `token`; the gRPC code on failure.
async fn set_global_role(
    app: &TestApp,
    token: &str,
    id: i64,
    role: pb::GlobalRole,
) -> Result<(), Code> {
    app.users()
        .update_user(with_auth(
            update_user(
                id,
                pb::UserUpdate {
                    global_role: role as i32,
                    ..Default::default()
                },
                &["global_role"],
            ),
            token,
        ))
        .await
        .map(|_| ())
        .map_err(|s| s.code())
}

/// The two administrators demote each other at the same moment, round after round: the
/// last-administrator rule holds under the race (checked atomically in the store), so there is
/// always an administrator left and never two successes in one round.
async fn last_two_admins_demoting_each_other_keep_one(app: TestApp) {
    const ROUNDS: usize = 12;
    let admin = app.init_admin().await;
    let bob = app
        .create_user_with(
            &admin,
            pb::CreateUserRequest {
                username: "bob".to_owned(),
                password: Some(BOB_PASSWORD.to_owned()),
                global_role: pb::GlobalRole::Administrator as i32,
                ..Default::default()
            },
        )
        .await;
    let mut outcomes = Vec::new();
    for round in 0..ROUNDS {
        let admin_token = app.login(ADMIN_USERNAME, ADMIN_PASSWORD).await;
        let bob_token = app.login("bob", BOB_PASSWORD).await;
        let (a, b) = tokio::join!(
            set_global_role(&app, &admin_token, bob.id, pb::GlobalRole::Standard),
            set_global_role(&app, &bob_token, 1, pb::GlobalRole::Standard),
        );
        outcomes.extend([a, b]);
        for r in [a, b] {
            assert!(
                matches!(
                    r,
                    Ok(())
                        | Err(Code::FailedPrecondition
                            | Code::PermissionDenied
                            | Code::Unauthenticated
                            | Code::Unavailable
                            | Code::Aborted)
                ),
                "round {round}: {r:?}"
            );
        }
        assert!(
            !(a.is_ok() && b.is_ok()),
            "round {round}: both demotions passed: no administrator left"
        );
        // Re-arm: whoever is still an administrator promotes the other back.
        let (holder, holder_password, other) = if a.is_ok() {
            (ADMIN_USERNAME, ADMIN_PASSWORD, bob.id)
        } else if b.is_ok() {
            ("bob", BOB_PASSWORD, 1)
        } else {
            continue;
        };
        let token = app.login(holder, holder_password).await;
        set_global_role(&app, &token, other, pb::GlobalRole::Administrator)
            .await
            .unwrap_or_else(|c| panic!("round {round}: re-promoting failed: {c:?}"));
    }
    // A rule that refused every demotion would pass the checks above: the race must have let
    // demotions through.
    assert!(
        outcomes.iter().any(Result::is_ok),
        "no demotion ever passed: {:?}",
        tally(&outcomes)
    );
    // Still an administrator at the end, whatever happened.
    let token = app.login(ADMIN_USERNAME, ADMIN_PASSWORD).await;
    let admins = app
        .users()
        .list_users(with_auth(pb::ListUsersRequest::default(), &token))
        .await
        .must()
        .users
        .into_iter()
        .filter(|u| u.global_role == pb::GlobalRole::Administrator as i32)
        .count();
    assert!(admins >= 1);
    eprintln!(
        "WRITES {} {ROUNDS} rounds of two administrators demoting each other: {:?}; never 0 \
         administrators",
        app.backend,
        tally(&outcomes)
    );
}

/// The same for the two owners of an organization demoting each other to member.
async fn last_two_owners_demoting_each_other_keep_one(app: TestApp) {
    const ROUNDS: usize = 12;
    let admin = app.init_admin().await;
    let alice = app
        .create_user(&admin, "alice", "alice-owner-password")
        .await;
    let carl = app.create_user(&admin, "carl", "carl-owner-password").await;
    let alice_token = app.login("alice", "alice-owner-password").await;
    let org = app
        .orgs()
        .create_organization(with_auth(
            pb::CreateOrganizationRequest {
                name: "race".to_owned(),
            },
            &alice_token,
        ))
        .await
        .must()
        .organization
        .unwrap_or_else(|| panic!("no organization"))
        .id;
    let set_role = |token: String, user: i64, role: pb::OrganizationRole| {
        let mut orgs = app.orgs();
        let org = org.clone();
        async move {
            orgs.update_member_role(with_auth(
                pb::UpdateMemberRoleRequest {
                    organization_id: org,
                    user_id: user,
                    role: role as i32,
                },
                &token,
            ))
            .await
            .map(|_| ())
            .map_err(|s| s.code())
        }
    };
    // Adding another user needs administrator rights.
    app.orgs()
        .add_member(with_auth(
            pb::AddMemberRequest {
                organization_id: org.clone(),
                user_id: carl.id,
                role: pb::OrganizationRole::Owner as i32,
            },
            &admin,
        ))
        .await
        .must();
    let carl_token = app.login("carl", "carl-owner-password").await;
    let mut outcomes = Vec::new();
    for round in 0..ROUNDS {
        let (a, b) = tokio::join!(
            set_role(alice_token.clone(), carl.id, pb::OrganizationRole::Member),
            set_role(carl_token.clone(), alice.id, pb::OrganizationRole::Member),
        );
        outcomes.extend([a, b]);
        assert!(
            !(a.is_ok() && b.is_ok()),
            "round {round}: both demotions passed: no owner left"
        );
        for r in [a, b] {
            assert!(
                matches!(
                    r,
                    Ok(())
                        | Err(Code::FailedPrecondition
                            | Code::PermissionDenied
                            | Code::Unavailable
                            | Code::Aborted)
                ),
                "round {round}: {r:?}"
            );
        }
        // Re-arm: the remaining owner promotes the other back.
        if a.is_ok() {
            set_role(alice_token.clone(), carl.id, pb::OrganizationRole::Owner)
                .await
                .unwrap_or_else(|c| panic!("round {round}: re-promoting carl: {c:?}"));
        } else if b.is_ok() {
            set_role(carl_token.clone(), alice.id, pb::OrganizationRole::Owner)
                .await
                .unwrap_or_else(|c| panic!("round {round}: re-promoting alice: {c:?}"));
        }
    }
    assert!(
        outcomes.iter().any(Result::is_ok),
        "no demotion ever passed: {:?}",
        tally(&outcomes)
    );
    // An owner remains, as the organization's member list shows its administrator.
    let owners = app
        .orgs()
        .list_members(with_auth(
            pb::ListMembersRequest {
                organization_id: org.clone(),
                page_size: 100,
                ..Default::default()
            },
            &admin,
        ))
        .await
        .must()
        .members
        .into_iter()
        .filter(|m| m.role() == pb::OrganizationRole::Owner)
        .count();
    assert!(owners >= 1, "no owner left");
    eprintln!(
        "WRITES {} {ROUNDS} rounds of two owners demoting each other: {:?}; never 0 owners",
        app.backend,
        tally(&outcomes)
    );
}
