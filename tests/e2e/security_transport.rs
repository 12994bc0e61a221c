//! Transport-level attacks on the gRPC server: targeted lock-out of an account by a guesser
//! elsewhere, `x-forwarded-for` from untrusted peers, the SQLite files' modes, a Redis entry
//! copied under another key's digest, connections that never start HTTP/2.
//!
//! Distinct client addresses are real: the test clients bind 127.0.0.2, 127.0.0.3 … (the whole
//! 127.0.0.0/8 is loopback on Linux).

use std::{net::IpAddr, time::Duration};

use identity_api::pb::{self, auth_service_client::AuthServiceClient};
use identity_testkit::{TestApp, redis_get, redis_set, spawn_replica, test_redis_url};
use tonic::{
    Code, Request,
    metadata::MetadataValue,
    transport::{Channel, Endpoint},
};
use tonic_types::StatusExt as _;
use uuid::Uuid;

use crate::support::{Must as _, key_request, reason};

both!(
    targeted_lockout_does_not_refuse_the_correct_password,
    guessing_stays_throttled,
    x_forwarded_for_is_trusted_only_from_configured_proxies,
    redis_entry_copied_under_another_digest_is_not_trusted,
);

const PASSWORD: &str = "correct-horse-battery";
const WRONG: &str = "wrong-password-123";
const THRESHOLD: u32 = 3;
/// Long enough that the refused attempts land inside it even on a loaded machine.
const BASE_MS: u64 = 2500;

/// An AuthService client whose connections come from `local` (a loopback address).
fn auth_from(app: &TestApp, local: [u8; 4]) -> AuthServiceClient<Channel> {
    let channel = Endpoint::from_shared(format!("http://{}", app.grpc_addr))
        .unwrap_or_else(|e| panic!("endpoint: {e}"))
        .local_address(Some(IpAddr::from(local)))
        .connect_timeout(Duration::from_secs(5))
        .connect_lazy();
    AuthServiceClient::new(channel)
}

fn login(identifier: &str, password: &str) -> pb::LoginRequest {
    pb::LoginRequest {
        identifier: identifier.to_owned(),
        password: password.to_owned(),
    }
}

/// A replica of `app` (same database) with test-sized login backoff.
async fn with_backoff(app: &TestApp) -> TestApp {
    spawn_replica(app, |s| {
        s.login_backoff_threshold = THRESHOLD;
        s.login_backoff_base_ms = BASE_MS;
        s.login_backoff_max_secs = 60;
        s.login_failure_window_secs = 600;
    })
    .await
}

/// A login from `client` that must be refused with `code`, costing exactly one argon2 verify
/// (timing parity: unknown user, wrong password and backed-off attempt all cost one).
async fn refused(
    app: &TestApp,
    client: &mut AuthServiceClient<Channel>,
    identifier: &str,
    password: &str,
    code: Code,
) -> tonic::Status {
    let before = app.hash_computations();
    let status = client
        .login(login(identifier, password))
        .await
        .must_fail(code);
    assert_eq!(
        app.hash_computations(),
        before + 1,
        "a refused login of {identifier:?} must cost one argon2 verify"
    );
    status
}

#[track_caller]
fn assert_backoff(status: &tonic::Status) -> Duration {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(reason(status).as_deref(), Some("LOGIN_BACKOFF"));
    status
        .get_details_retry_info()
        .and_then(|r| r.retry_delay)
        .unwrap_or_default()
}

/// The attack that found the hole: a wrong guess every few seconds from one address kept
/// every correct-password login of the owner refused. The owner, elsewhere, must get in.
async fn targeted_lockout_does_not_refuse_the_correct_password(base: TestApp) {
    let admin = base.init_admin().await;
    base.create_user(&admin, "victim", PASSWORD).await;
    let app = with_backoff(&base).await;
    let mut attacker = auth_from(&app, [127, 0, 0, 2]);
    let mut owner = auth_from(&app, [127, 0, 0, 3]);
    for _ in 0..THRESHOLD {
        refused(&app, &mut attacker, "victim", WRONG, Code::Unauthenticated).await;
    }
    let mut logged_in = 0;
    for round in 0..6 {
        // The guesser keeps going; each round takes far less than the delay: backed off.
        refused(
            &app,
            &mut attacker,
            "victim",
            WRONG,
            Code::ResourceExhausted,
        )
        .await;
        let before = app.hash_computations();
        owner
            .login(login("victim", PASSWORD))
            .await
            .unwrap_or_else(|s| panic!("round {round}: the owner was refused: {s:?}"));
        assert_eq!(app.hash_computations(), before + 1);
        logged_in += 1;
    }
    assert_eq!(
        logged_in, 6,
        "every correct-password login of the owner works"
    );
    drop(app);
}

/// Guessing from one source is still backed off, also right after the owner logged in
/// elsewhere (the owner's success does not reset the guesser's count), and once the delay has
/// passed the guesser gets one attempt and a doubled delay. Unknown identifiers back off alike.
async fn guessing_stays_throttled(base: TestApp) {
    let admin = base.init_admin().await;
    base.create_user(&admin, "carol", PASSWORD).await;
    let app = with_backoff(&base).await;
    let mut guesser = auth_from(&app, [127, 0, 0, 4]);
    let mut owner = auth_from(&app, [127, 0, 0, 5]);
    for _ in 0..THRESHOLD {
        refused(&app, &mut guesser, "carol", WRONG, Code::Unauthenticated).await;
        refused(&app, &mut guesser, "nobody", WRONG, Code::Unauthenticated).await;
    }
    // Backed off: even the right password is not looked at from the guesser's address.
    let first = assert_backoff(
        &refused(
            &app,
            &mut guesser,
            "carol",
            PASSWORD,
            Code::ResourceExhausted,
        )
        .await,
    );
    assert!(first > Duration::ZERO && first <= Duration::from_millis(BASE_MS + 1000));
    let unknown = refused(
        &app,
        &mut guesser,
        "nobody",
        PASSWORD,
        Code::ResourceExhausted,
    )
    .await;
    assert_backoff(&unknown);
    // The owner logs in from elsewhere; the guesser is still backed off.
    owner.login(login("carol", PASSWORD)).await.must();
    assert_backoff(&refused(&app, &mut guesser, "carol", WRONG, Code::ResourceExhausted).await);
    // After the delay: one guess, then a longer delay.
    tokio::time::sleep(Duration::from_millis(BASE_MS + 300)).await;
    refused(&app, &mut guesser, "carol", WRONG, Code::Unauthenticated).await;
    let doubled =
        assert_backoff(&refused(&app, &mut guesser, "carol", WRONG, Code::ResourceExhausted).await);
    assert!(
        doubled > Duration::from_millis(BASE_MS),
        "the delay doubles: {doubled:?}"
    );
    drop(app);
}

/// A login carrying `x-forwarded-for: xff`.
fn login_for(xff: &str, password: &str) -> Request<pb::LoginRequest> {
    let mut req = Request::new(login(identity_testkit::ADMIN_USERNAME, password));
    let v = MetadataValue::try_from(xff).unwrap_or_else(|e| panic!("{xff}: {e}"));
    req.metadata_mut().insert("x-forwarded-for", v);
    req
}

/// A loopback caller (the in-process gateway used to be one) cannot name another client to
/// escape the per-source limit; a configured proxy can.
async fn x_forwarded_for_is_trusted_only_from_configured_proxies(base: TestApp) {
    let _admin = base.init_admin().await;
    let app = spawn_replica(&base, |s| {
        s.login_per_source_burst = 1;
        s.login_per_source_per_minute = 1;
        s.gateway_enabled = true;
        s.login_trusted_proxies = identity_server::proxy_net::parse_list("127.0.0.2/32")
            .unwrap_or_else(|e| panic!("{e}"));
    })
    .await;
    // 127.0.0.1: loopback, not configured. Its header is ignored: one bucket, now empty.
    let mut loopback = auth_from(&app, [127, 0, 0, 1]);
    loopback
        .login(login_for("203.0.113.9", WRONG))
        .await
        .must_fail(Code::Unauthenticated);
    let before = app.hash_computations();
    let s = loopback
        .login(login_for("203.0.113.10", WRONG))
        .await
        .must_fail(Code::ResourceExhausted);
    assert_eq!(reason(&s).as_deref(), Some("LOGIN_RATE_LIMITED"));
    assert_eq!(
        app.hash_computations(),
        before,
        "refused before any hashing"
    );

    // 127.0.0.2: a configured proxy. Each client it names has its own bucket.
    let mut proxy = auth_from(&app, [127, 0, 0, 2]);
    for client in ["198.51.100.1", "198.51.100.2"] {
        proxy
            .login(login_for(client, WRONG))
            .await
            .must_fail(Code::Unauthenticated);
    }
    let s = proxy
        .login(login_for("198.51.100.1", WRONG))
        .await
        .must_fail(Code::ResourceExhausted);
    assert_eq!(reason(&s).as_deref(), Some("LOGIN_RATE_LIMITED"));
    drop(app);
}

/// The SQLite data directory the server creates is 0700, the database and its -wal and -shm
/// files 0600 (SQLite-only by nature).
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_files_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let root = std::env::temp_dir().join(format!("identity-private-{}", Uuid::new_v4().simple()));
    let dir = root.join("data");
    let file = dir.join("identity.db");
    let url = format!("sqlite://{}?mode=rwc", file.display());
    let app = identity_testkit::spawn_app_with(identity_testkit::Backend::Sqlite, |s| {
        s.database_url = url.into();
    })
    .await;
    let _admin = app.init_admin().await; // writes: the WAL and shared-memory files exist
    let mode = |p: &std::path::Path| {
        std::fs::metadata(p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .permissions()
            .mode()
            & 0o777
    };
    let wal = dir.join("identity.db-wal");
    let shm = dir.join("identity.db-shm");
    let modes = [
        (root.as_path(), mode(&root), 0o700),
        (dir.as_path(), mode(&dir), 0o700),
        (file.as_path(), mode(&file), 0o600),
        (wal.as_path(), mode(&wal), 0o600),
        (shm.as_path(), mode(&shm), 0o600),
    ];
    drop(app);
    let _ = std::fs::remove_dir_all(&root);
    for (path, got, want) in modes {
        assert_eq!(got, want, "{} is {got:o}, not {want:o}", path.display());
    }
}

fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The Redis name of a key's cached grant.
fn grant_name(namespace: &str, plaintext: &str) -> String {
    let digest = identity_core::keys::parse(plaintext)
        .unwrap_or_else(|| panic!("not a key"))
        .digest();
    format!("{namespace}:grant:{}", hex(&digest))
}

async fn authenticate(app: &TestApp, key: &str) -> Result<pb::Principal, tonic::Status> {
    app.auth()
        .authenticate(pb::AuthenticateRequest {
            credential: key.to_owned(),
        })
        .await
        .map(|r| r.into_inner().principal.unwrap_or_default())
}

/// Someone who can write to Redis copies the administrator's cached grant under the digest of
/// his own key: the server must not take it (a miss, deleted, the database answers).
async fn redis_entry_copied_under_another_digest_is_not_trusted(base: TestApp) {
    let ns = format!("identity-test-{}", Uuid::new_v4().simple());
    let admin = base.init_admin().await;
    base.create_user(&admin, "mallory", PASSWORD).await;
    let mallory = base.login("mallory", PASSWORD).await;
    let (_, admin_key) = base.create_api_key(&admin, key_request("admin key")).await;
    let (_, mallory_key) = base
        .create_api_key(&mallory, key_request("mallory key"))
        .await;
    let redis = |ns: String| {
        move |s: &mut identity_server::Settings| {
            s.redis_url = Some(test_redis_url().into());
            s.cache_namespace = ns;
            s.cache_fresh_ms = 100;
        }
    };
    // Replica A verifies both keys: their grants land in Redis.
    let a = spawn_replica(&base, redis(ns.clone())).await;
    let admin_name = grant_name(&ns, &admin_key);
    let mallory_name = grant_name(&ns, &mallory_key);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let admin_entry = loop {
        assert!(authenticate(&a, &admin_key).await.must_ok().is_admin);
        authenticate(&a, &mallory_key).await.must_ok();
        let got = redis_get(&admin_name)
            .await
            .unwrap_or_else(|e| panic!("{e:#}"));
        if let Some(v) = got
            && redis_get(&mallory_name)
                .await
                .unwrap_or_else(|e| panic!("{e:#}"))
                .is_some()
        {
            break v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the grants never reached Redis"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    };
    // The copy.
    redis_set(&mallory_name, &admin_entry, 30)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    // Replica B, cold, looks mallory's key up: Redis first.
    let b = spawn_replica(&base, redis(ns.clone())).await;
    let p = authenticate(&b, &mallory_key).await.must_ok();
    let after = redis_get(&mallory_name)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    drop(b);
    drop(a);
    let _ = identity_testkit::purge_redis_namespace(&ns).await;
    let user = p.user.unwrap_or_default();
    assert_eq!(user.username, "mallory", "the copied grant was trusted");
    assert!(
        !p.is_admin,
        "the copied grant made mallory's key an admin key"
    );
    assert_ne!(
        after.as_deref(),
        Some(admin_entry.as_slice()),
        "the copied entry is still there"
    );
}

/// `Result<T, Status>` that must be `Ok`.
trait MustOk<T> {
    fn must_ok(self) -> T;
}

impl<T> MustOk<T> for Result<T, tonic::Status> {
    #[track_caller]
    fn must_ok(self) -> T {
        self.unwrap_or_else(|s| panic!("call failed: {s:?}"))
    }
}

/// A connection that never sends the HTTP/2 preface is closed after the handshake timeout
/// (here 300 ms), while calls on proper connections keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_connections_without_a_preface_are_closed_postgres() {
    grpc_connections_without_a_preface_are_closed(identity_testkit::Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_connections_without_a_preface_are_closed_sqlite() {
    grpc_connections_without_a_preface_are_closed(identity_testkit::Backend::Sqlite).await;
}

async fn grpc_connections_without_a_preface_are_closed(backend: identity_testkit::Backend) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let app = identity_testkit::spawn_app_with(backend, |s| {
        s.grpc_handshake_timeout_ms = 300;
    })
    .await;
    let mut idle = Vec::new();
    for i in 0..20 {
        let mut s = tokio::net::TcpStream::connect(app.grpc_addr)
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"));
        if i % 2 == 0 {
            // Half of them start the preface and stop.
            let _ = s.write_all(b"PRI * HTTP/2.0").await;
        }
        idle.push(s);
    }
    let started = tokio::time::Instant::now();
    for mut s in idle {
        let mut buf = [0u8; 256];
        let closed = tokio::time::timeout(Duration::from_secs(3), async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "a connection without a preface is still open"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        app.health_status("").await.is_ok(),
        "the server still answers"
    );
}
