//! Health: the overall service `""` is liveness (SERVING while the process answers); the named
//! [`READINESS_SERVICE`] and the identity services are SERVING only while the database answers
//! and carries every migration of this build (a replica started before the migration job takes no
//! traffic).

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

/// Shortest wait for a readiness ping (a fresh connection on a busy machine may need it).
pub(crate) const PING_TIMEOUT_MIN: Duration = Duration::from_secs(1);
/// Longest wait for a readiness ping: a database silent for this long counts as down.
pub(crate) const PING_TIMEOUT_MAX: Duration = Duration::from_secs(2);

pub(crate) async fn set_all(reporter: &HealthReporter, status: ServingStatus) {
    for name in READINESS_NAMES {
        reporter.set_service_status(name, status).await;
    }
}

/// What the readiness watcher pings.
pub(crate) struct Probes {
    /// The probe's own connection: decides readiness and the gate.
    pub(crate) probe: identity_store::SeaRepo,
    /// The main pool (through the gate, whose `ping` is never refused).
    pub(crate) pool: Arc<dyn Repo>,
    /// The main pool's size.
    pub(crate) pool_size: u32,
}

/// Ping the database every `interval` until `stop` turns true, reporting the result (and
/// opening or closing `gate`, which makes storage calls fail fast while the database is down).
///
/// While the database is down the main pool is pinged too, and once it is back every pooled
/// connection is pinged before the gate opens: a connection that died in the outage fails its
/// ping and is dropped by the pool (which tests a connection when it is released after an
/// error), so the first requests after the recovery do not land on dead connections.
pub(crate) async fn watch_readiness(
    reporter: HealthReporter,
    probes: Probes,
    gate: DbGate,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let timeout = interval.clamp(PING_TIMEOUT_MIN, PING_TIMEOUT_MAX);
    let ping_pool = || async {
        let _ = tokio::time::timeout(timeout, probes.pool.ping()).await;
    };
    let mut last: Option<bool> = None;
    // Migrations are never undone: once the schema is seen current it is not read again.
    let mut schema_current = false;
    loop {
        if *stop.borrow() {
            return;
        }
        let reachable = matches!(
            tokio::time::timeout(timeout, probes.probe.ping()).await,
            Ok(Ok(()))
        );
        if reachable && !schema_current {
            schema_current = matches!(
                tokio::time::timeout(
                    timeout,
                    identity_store::schema_current(probes.probe.connection())
                )
                .await,
                Ok(Ok(true))
            );
            if !schema_current && last != Some(false) {
                tracing::warn!(
                    "database schema not migrated (run `identity-server migrate`): not ready"
                );
            }
        }
        let ok = reachable && schema_current;
        if !ok {
            ping_pool().await;
        } else if last == Some(false) {
            futures::future::join_all((0..probes.pool_size.max(1)).map(|_| ping_pool())).await;
        }
        gate.set_reachable(ok);
        if last != Some(ok) {
            if ok {
                tracing::info!("database reachable: ready");
            } else if !reachable {
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
