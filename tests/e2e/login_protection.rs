//! Login protection: per-identifier exponential backoff shared through the database, the
//! per-source limit, and the dummy hash that keeps unknown, wrong and backed-off attempts alike.

use std::time::Duration;

use identity_api::pb;
use identity_testkit::{Backend, TestApp, spawn_app_with, spawn_replica};
use tonic::{Code, Request};
use tonic_types::StatusExt as _;

use crate::support::{Must as _, reason};

const PASSWORD: &str = "correct-horse-battery";
const THRESHOLD: u32 = 3;
/// Long enough that the refused attempts land inside it even on a loaded machine.
const BASE_MS: u64 = 2500;

/// Run a scenario on both backends with test-sized login settings.
macro_rules! both_with_login_settings {
    ($($name:ident),+ $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(identity_testkit::Backend::Postgres).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(identity_testkit::Backend::Sqlite).await;
            }
        }
    )+};
}

both_with_login_settings!(
    backoff_after_repeated_failures_is_per_identifier_and_not_a_lockout,
    unknown_users_back_off_exactly_like_real_ones,
    backoff_is_shared_by_replicas,
    per_source_limit_refuses_a_flooding_address_only,
);

async fn spawn(backend: Backend) -> TestApp {
    spawn_app_with(backend, |s| {
        s.login_backoff_threshold = THRESHOLD;
        s.login_backoff_base_ms = BASE_MS;
        s.login_backoff_max_secs = 60;
        s.login_failure_window_secs = 600;
    })
    .await
}

fn login(identifier: &str, password: &str) -> pb::LoginRequest {
    pb::LoginRequest {
        identifier: identifier.to_owned(),
        password: password.to_owned(),
    }
}

/// Log in and return the status of the refusal, checking that exactly one argon2 computation
/// ran for it (a real verify, or the dummy one).
async fn refused(app: &TestApp, identifier: &str, password: &str, code: Code) -> tonic::Status {
    let before = app.hash_computations();
    let status = app
        .auth()
        .login(login(identifier, password))
        .await
        .must_fail(code);
    assert_eq!(
        app.hash_computations(),
        before + 1,
        "a refused login of {identifier:?} must cost one argon2 verify, like any other"
    );
    status
}

#[track_caller]
fn assert_backoff(status: &tonic::Status) {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_eq!(reason(status).as_deref(), Some("LOGIN_BACKOFF"));
    let retry = status
        .get_details_retry_info()
        .and_then(|r| r.retry_delay)
        .unwrap_or_default();
    assert!(
        retry > Duration::ZERO && retry <= Duration::from_millis(BASE_MS + 1000),
        "RetryInfo {retry:?}"
    );
}

async fn backoff_after_repeated_failures_is_per_identifier_and_not_a_lockout(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.init_admin().await;
    app.create_user(&admin, "alice", PASSWORD).await;
    app.create_user(&admin, "bob", PASSWORD).await;

    for _ in 0..THRESHOLD {
        let s = refused(&app, "alice", "wrong-password-123", Code::Unauthenticated).await;
        assert_eq!(reason(&s).as_deref(), Some("UNAUTHENTICATED"));
    }
    // Backed off: even the right password is refused (after the same work), with a retry delay.
    let s = refused(&app, "alice", PASSWORD, Code::ResourceExhausted).await;
    assert_backoff(&s);
    // Case does not matter: it is the same identifier.
    assert_backoff(&refused(&app, "ALICE", PASSWORD, Code::ResourceExhausted).await);

    // Another account is unaffected.
    app.auth().login(login("bob", PASSWORD)).await.must();

    // Not a lock-out: once the delay has passed, the right password works and resets the count.
    tokio::time::sleep(Duration::from_millis(BASE_MS + 300)).await;
    app.auth().login(login("alice", PASSWORD)).await.must();
    let s = refused(&app, "alice", "wrong-password-123", Code::Unauthenticated).await;
    assert_eq!(reason(&s).as_deref(), Some("UNAUTHENTICATED"));
    app.auth().login(login("alice", PASSWORD)).await.must();
}

async fn unknown_users_back_off_exactly_like_real_ones(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.init_admin().await;
    app.create_user(&admin, "carol", PASSWORD).await;

    // An unknown user and a wrong password: the same code, reason and message, one verify each.
    let unknown = refused(&app, "nobody", PASSWORD, Code::Unauthenticated).await;
    let wrong = refused(&app, "carol", "wrong-password-123", Code::Unauthenticated).await;
    assert_eq!(reason(&unknown), reason(&wrong));
    assert_eq!(unknown.message(), wrong.message());

    for _ in 1..THRESHOLD {
        refused(&app, "nobody", PASSWORD, Code::Unauthenticated).await;
        refused(&app, "carol", "wrong-password-123", Code::Unauthenticated).await;
    }
    // Both are now backed off, alike: the backoff does not tell which accounts exist.
    let unknown = refused(&app, "nobody", PASSWORD, Code::ResourceExhausted).await;
    let real = refused(&app, "carol", PASSWORD, Code::ResourceExhausted).await;
    assert_backoff(&unknown);
    assert_backoff(&real);
    assert_eq!(unknown.message().len(), real.message().len());
}

async fn backoff_is_shared_by_replicas(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.init_admin().await;
    app.create_user(&admin, "dave", PASSWORD).await;
    let replica = spawn_replica(&app, |s| {
        s.login_backoff_threshold = THRESHOLD;
        s.login_backoff_base_ms = BASE_MS;
        s.login_backoff_max_secs = 60;
        s.login_failure_window_secs = 600;
    })
    .await;
    // Failures spread over both replicas add up.
    refused(&app, "dave", "wrong-password-123", Code::Unauthenticated).await;
    for _ in 1..THRESHOLD {
        refused(
            &replica,
            "dave",
            "wrong-password-123",
            Code::Unauthenticated,
        )
        .await;
    }
    assert_backoff(&refused(&app, "dave", PASSWORD, Code::ResourceExhausted).await);
    assert_backoff(&refused(&replica, "dave", PASSWORD, Code::ResourceExhausted).await);
    drop(replica);
}

async fn per_source_limit_refuses_a_flooding_address_only(backend: Backend) {
    const BURST: u32 = 4;
    let app = spawn_app_with(backend, |s| {
        s.login_per_source_burst = BURST;
        s.login_per_source_per_minute = 1;
        // The test client (127.0.0.1) is a configured proxy: it may name the client.
        s.login_trusted_proxies =
            identity_server::proxy_net::parse_list("127.0.0.1").unwrap_or_else(|e| panic!("{e}"));
    })
    .await;
    let _admin = app.init_admin().await; // one login
    for _ in 1..BURST {
        app.auth()
            .login(login("admin", "wrong-password-123"))
            .await
            .must_fail(Code::Unauthenticated);
    }
    let before = app.hash_computations();
    let s = app
        .auth()
        .login(login(
            identity_testkit::ADMIN_USERNAME,
            identity_testkit::ADMIN_PASSWORD,
        ))
        .await
        .must_fail(Code::ResourceExhausted);
    assert_eq!(reason(&s).as_deref(), Some("LOGIN_RATE_LIMITED"));
    assert!(
        s.get_details_retry_info()
            .and_then(|r| r.retry_delay)
            .is_some()
    );
    assert_eq!(
        app.hash_computations(),
        before,
        "a source over its limit is refused before any hashing"
    );

    // Another client behind the trusted proxy has its own bucket.
    let mut req = Request::new(login(
        identity_testkit::ADMIN_USERNAME,
        identity_testkit::ADMIN_PASSWORD,
    ));
    req.metadata_mut().insert(
        "x-forwarded-for",
        tonic::metadata::MetadataValue::from_static("203.0.113.5"),
    );
    app.auth().login(req).await.must();
}

/// Without configured trusted proxies, nothing trusts a client's `x-forwarded-for`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_for_from_an_untrusted_peer_is_ignored() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.login_per_source_burst = 1;
        s.login_per_source_per_minute = 1;
        s.gateway_enabled = false;
    })
    .await;
    let _admin = app.init_admin().await;
    let mut req = Request::new(login(
        identity_testkit::ADMIN_USERNAME,
        identity_testkit::ADMIN_PASSWORD,
    ));
    req.metadata_mut().insert(
        "x-forwarded-for",
        tonic::metadata::MetadataValue::from_static("203.0.113.6"),
    );
    let s = app
        .auth()
        .login(req)
        .await
        .must_fail(Code::ResourceExhausted);
    assert_eq!(reason(&s).as_deref(), Some("LOGIN_RATE_LIMITED"));
}
