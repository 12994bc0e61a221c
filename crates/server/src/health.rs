//! Health: the overall service `""` is liveness (SERVING while the process answers); the named
//! [`READINESS_SERVICE`] and the identity services are SERVING only while the database answers.

use std::{sync::Arc, time::Duration};

use identity_core::ports::Repo;
use tokio::sync::watch;
use tonic_health::{ServingStatus, server::HealthReporter};

use crate::db_gate::DbGate;

/// The service name a readiness probe checks.
pub const READINESS_SERVICE: &str = "readiness";

/// Every name whose status follows the database.
pub const READINESS_NAMES: [&str; 6] = [
    READINESS_SERVICE,
    "identity.v1.UserService",
    "identity.v1.ApiKeyService",
    "identity.v1.AuthService",
    "identity.v1.OrganizationService",
    "identity.v1.TeamService",
];

pub(crate) async fn set_all(reporter: &HealthReporter, status: ServingStatus) {
    for name in READINESS_NAMES {
        reporter.set_service_status(name, status).await;
    }
}

/// Ping the database every `interval` until `stop` turns true, reporting the result (and
/// opening or closing `gate`, which makes storage calls fail fast while the database is down).
pub(crate) async fn watch_readiness(
    reporter: HealthReporter,
    repo: Arc<dyn Repo>,
    gate: DbGate,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let timeout = interval.clamp(Duration::from_millis(100), Duration::from_secs(2));
    let mut last: Option<bool> = None;
    loop {
        if *stop.borrow() {
            return;
        }
        let ok = matches!(tokio::time::timeout(timeout, repo.ping()).await, Ok(Ok(())));
        gate.set_reachable(ok);
        if last != Some(ok) {
            if ok {
                tracing::info!("database reachable: ready");
            } else {
                tracing::warn!("database unreachable: not ready");
            }
            // Re-check: shutdown may have started while we pinged; it must win.
            if *stop.borrow() {
                return;
            }
            set_all(
                &reporter,
                if ok {
                    ServingStatus::Serving
                } else {
                    ServingStatus::NotServing
                },
            )
            .await;
            last = Some(ok);
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
    }
}
