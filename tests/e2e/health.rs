//! Liveness and readiness over gRPC health, and readiness following the database.

use std::time::Duration;

use identity_api::pb;
use identity_server::health::READINESS_SERVICE;
use identity_testkit::{
    Backend, TestApp, postgres_server_addr, replace_database_addr, spawn_app_with, start_tcp_proxy,
};
use secrecy::ExposeSecret as _;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::support::Must as _;

const READY_DEADLINE: Duration = Duration::from_secs(10);

both!(liveness_and_readiness_are_serving, shutdown_is_graceful);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_waits_for_migrations_postgres() {
    readiness_waits_for_migrations(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_waits_for_migrations_sqlite() {
    readiness_waits_for_migrations(Backend::Sqlite).await;
}

/// A replica started before the migration job (auto-migration off, empty database) is alive but
/// not ready, and refuses calls as UNAVAILABLE (not INTERNAL "relation users does not exist");
/// once the migrations are applied by someone else it becomes ready without a restart.
async fn readiness_waits_for_migrations(backend: Backend) {
    let app = spawn_app_with(backend, |s| s.auto_migrate = false).await;
    assert_eq!(
        app.health_status("").await.ok(),
        Some(ServingStatus::Serving),
        "alive"
    );
    // Several readiness intervals (200 ms in tests).
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(
        app.health_status(READINESS_SERVICE).await.ok(),
        Some(ServingStatus::NotServing),
        "ready on an unmigrated database"
    );
    app.auth()
        .get_setup_state(pb::GetSetupStateRequest {})
        .await
        .must_fail(Code::Unavailable);
    // The migration job.
    let db = identity_server::startup::open_database(&app.settings)
        .await
        .unwrap_or_else(|e| panic!("opening the database: {e:#}"));
    identity_store::migrate(&db)
        .await
        .unwrap_or_else(|e| panic!("migrating: {e}"));
    let _ = db.close().await;
    app.wait_for_health(READINESS_SERVICE, ServingStatus::Serving, READY_DEADLINE)
        .await;
    app.auth()
        .get_setup_state(pb::GetSetupStateRequest {})
        .await
        .must();
}

async fn liveness_and_readiness_are_serving(app: TestApp) {
    assert_eq!(
        app.health_status("").await.ok(),
        Some(ServingStatus::Serving)
    );
    app.wait_for_health(READINESS_SERVICE, ServingStatus::Serving, READY_DEADLINE)
        .await;
    // Health needs no credentials; an unknown service is NOT_FOUND.
    let unknown = app.health_status("no.such.Service").await;
    assert_eq!(unknown.err().map(|s| s.code()), Some(Code::NotFound));
    // The server also answers real calls once ready.
    app.auth()
        .get_setup_state(pb::GetSetupStateRequest {})
        .await
        .must();
}

async fn shutdown_is_graceful(mut app: TestApp) {
    let admin = app.init_admin().await;
    // An open, idle connection must not hold the shutdown up until the drain deadline.
    app.auth()
        .who_am_i(identity_testkit::with_auth(pb::WhoAmIRequest {}, &admin))
        .await
        .must();
    let started = tokio::time::Instant::now();
    app.stop()
        .await
        .unwrap_or_else(|e| panic!("the server did not stop cleanly: {e:#}"));
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(app.settings.drain_timeout_secs),
        "stopping took {took:?}: idle connections were not closed"
    );
    // Nothing answers any more.
    let after = tokio::time::timeout(
        Duration::from_secs(10),
        app.auth().get_setup_state(pb::GetSetupStateRequest {}),
    )
    .await
    .unwrap_or_else(|_| panic!("a call to a stopped server hung"));
    after.must_fail(Code::Unavailable);
    assert!(
        app.health_status("").await.is_err(),
        "health does not answer after shutdown"
    );
}

/// Readiness follows Postgres through a proxy the test cuts and restores; liveness does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_database_postgres() {
    let pg = postgres_server_addr()
        .await
        .unwrap_or_else(|e| panic!("locating Postgres: {e:#}"));
    let (proxy_addr, proxy) = start_tcp_proxy(pg).await;
    let app = spawn_app_with(Backend::Postgres, |s| {
        let url = replace_database_addr(s.database_url.expose_secret(), proxy_addr);
        s.database_url = url.into();
    })
    .await;
    assert!(
        app.settings
            .database_url
            .expose_secret()
            .contains(&proxy_addr.to_string()),
        "the server goes through the proxy"
    );
    let admin = app.init_admin().await;
    app.wait_for_health(READINESS_SERVICE, ServingStatus::Serving, READY_DEADLINE)
        .await;

    proxy.cut();
    let took = app
        .wait_for_health(READINESS_SERVICE, ServingStatus::NotServing, READY_DEADLINE)
        .await;
    eprintln!("readiness went NOT_SERVING {took:?} after the cut");
    assert_eq!(
        app.health_status("").await.ok(),
        Some(ServingStatus::Serving),
        "liveness does not depend on the database"
    );
    // Calls that need the database fail while it is away (and the server does not hang).
    let during = tokio::time::timeout(
        Duration::from_secs(15),
        app.auth().get_setup_state(pb::GetSetupStateRequest {}),
    )
    .await;
    let during =
        during.unwrap_or_else(|_| panic!("GetSetupState hung while the database was away"));
    let status =
        during.must_fail_with_any(&[Code::Unavailable, Code::Internal, Code::DeadlineExceeded]);
    assert_eq!(
        status.code(),
        Code::Unavailable,
        "a lost database is UNAVAILABLE (retryable): {status:?}"
    );
    // Still not ready a while later, still alive.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        app.health_status(READINESS_SERVICE).await.ok(),
        Some(ServingStatus::NotServing)
    );
    assert_eq!(
        app.health_status("").await.ok(),
        Some(ServingStatus::Serving)
    );

    proxy.restore();
    app.wait_for_health(READINESS_SERVICE, ServingStatus::Serving, READY_DEADLINE)
        .await;
    // Same server, no restart: the database answers again and the earlier session still works.
    let state = app
        .auth()
        .get_setup_state(pb::GetSetupStateRequest {})
        .await
        .must();
    assert!(state.admin_exists);
    app.auth()
        .who_am_i(identity_testkit::with_auth(pb::WhoAmIRequest {}, &admin))
        .await
        .must();
}
